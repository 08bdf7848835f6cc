"""Constants and tables of the RNNoise 0.2 series (``src/denoise.h``, ``src/denoise.c``, spec
``rnnoise-v0.2.md`` sections 1-3); what 0.2 shares with v0.1 is imported from
:mod:`rnnoise_kit.dsp.constants` and :mod:`rnnoise_kit.dsp.tables`, not restated.
"""

from __future__ import annotations

import numpy as np

from rnnoise_kit.dsp.tables import DCT_SCALE as _V01_DCT_SCALE
from rnnoise_kit.dsp.tables import dct_table, triangle_tables

NB_BANDS = 32
"""Band gains the 0.2 network outputs (ERB-like bands, 0-20 kHz)."""
NB_FEATURES = 2 * NB_BANDS + 1  # 65
"""32 cepstral coefficients of the log band energies, 32 of the pitch correlation, pitch period."""

EBAND_20MS = np.array(
    [0, 2, 4, 6, 8, 10, 12, 15, 18, 21, 24, 28, 32, 36, 41, 47, 53, 60, 68, 77, 87, 98, 110,
     124, 140, 157, 176, 198, 223, 251, 282, 317, 356, 400],
    dtype=np.int64,
)  # fmt: skip
"""``eband20ms``: the NB_BANDS + 2 = 34 triangle tops, in FFT bins (bin k = k * 50 Hz)."""
NB_TRIANGLE_SUMS = EBAND_20MS.shape[0]  # 34
"""Triangular sums before the end folding: sum 0 and 33 fold into bands 0 and 31."""

BIN_BAND, BIN_FRAC, BIN_FRAC_LO = triangle_tables(EBAND_20MS)
"""(400,) each, see :func:`rnnoise_kit.dsp.tables.triangle_tables`."""

DCT_TABLE = dct_table(NB_BANDS)
"""(32, 32) float32 ``T[j, i]`` (C's ``rnn_dct_table[j*32+i]``)."""
DCT_SCALE = _V01_DCT_SCALE
"""0.2's ``dct`` still scales by ``sqrt(2./22)``: v0.1's 22-band factor, left unchanged
upstream (so the 32-point DCT is not orthonormal)."""

PITCH_FEATURE = 2 * NB_BANDS  # 64
"""Index of the pitch feature ``.01*(period - 300)``."""

SILENCE_ENERGY = 0.04
"""Inference: a frame is silent (features zeroed, network not run) when sum(Ex) < this."""
TRAINING_SILENCE_ENERGY = 0.1
"""TRAINING build: the silence flag is sum(Ex) < this, and features are kept."""

GAIN_DECAY = np.float32(0.6)
"""Decay cap: a band gain falls at most to 0.6 of its last value per frame (RT60 135 ms)."""
GAIN_ENERGY_EPS = 1e-3
"""The (double) offset of HEAD's energy-compensated ``lastg`` update."""
