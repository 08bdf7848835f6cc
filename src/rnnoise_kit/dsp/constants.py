"""RNNoise v0.1.1 constants, named as in ``src/denoise.c`` and ``src/rnn.h`` (spec section 1)."""

from __future__ import annotations

import numpy as np

FRAME_SIZE_SHIFT = 2
FRAME_SIZE = 480
"""Hop size: 10 ms at 48 kHz."""
WINDOW_SIZE = 960
FREQ_SIZE = 481
PITCH_MIN_PERIOD = 60
PITCH_MAX_PERIOD = 768
PITCH_FRAME_SIZE = 960
PITCH_BUF_SIZE = PITCH_MAX_PERIOD + PITCH_FRAME_SIZE  # 1728
NB_BANDS = 22
CEPS_MEM = 8
NB_DELTA_CEPS = 6
NB_FEATURES = NB_BANDS + 3 * NB_DELTA_CEPS + 2  # 42
MAX_NEURONS = 128
WEIGHTS_SCALE = np.float32(1.0 / 256)
SAMPLE_RATE = 48000

EBAND5MS = np.array(
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 34, 40, 48, 60, 78, 100], dtype=np.int64
)
"""Band edges in units of 4 bins (200 Hz)."""
EDGE = EBAND5MS << FRAME_SIZE_SHIFT
"""Band edges in FFT bins (bin k = k * 50 Hz)."""

SILENCE_ENERGY = 0.04
"""``compute_frame_features`` treats a frame as silent when the sum of Ex is below this."""
