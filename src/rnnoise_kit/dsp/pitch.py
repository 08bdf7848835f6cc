"""Pitch analysis of RNNoise v0.1.1 (spec section 6), float32 as the C float build.

The kernels live in :mod:`rnnoise_kit.dsp._kernels`; these wrappers take and return arrays.
"""

from __future__ import annotations

import numpy as np

from rnnoise_kit.dsp import _kernels as K
from rnnoise_kit.dsp.constants import PITCH_BUF_SIZE, PITCH_MAX_PERIOD


def pitch_downsample(pitch_buf: np.ndarray) -> np.ndarray:
    """Downsample a pitch buffer to 24 kHz and whiten it (order-4 LPC + zero at -0.8).

    Parameters
    ----------
    pitch_buf : np.ndarray, shape (1728,)

    Returns
    -------
    np.ndarray, float32, shape (864,)
    """
    buf = np.ascontiguousarray(pitch_buf, dtype=np.float32)
    if buf.shape != (PITCH_BUF_SIZE,):
        raise ValueError(f"pitch_buf must have shape (1728,), got {buf.shape}")
    lp = np.empty(PITCH_BUF_SIZE // 2, dtype=np.float32)
    K.pitch_downsample(buf, lp)
    return lp


def find_best_pitch(xc: np.ndarray, y: np.ndarray, length: int, max_pitch: int) -> tuple[int, int]:
    """The two lags with the best normalised correlation (best first).

    Parameters
    ----------
    xc : np.ndarray, float32, shape (>= max_pitch,)
        Correlation per lag.
    y : np.ndarray, float32, shape (>= length + max_pitch,)
        The signal the lags index into (for the running energy).
    """
    b0, b1 = K.find_best_pitch(
        np.ascontiguousarray(xc, dtype=np.float32),
        np.ascontiguousarray(y, dtype=np.float32),
        int(length),
        int(max_pitch),
    )
    return int(b0), int(b1)


def pitch_search(lp: np.ndarray) -> int:
    """Coarse (12 kHz) then fine (24 kHz) search on the whitened buffer.

    Parameters
    ----------
    lp : np.ndarray, float32, shape (864,)

    Returns
    -------
    int
        Lag at 48 kHz, 0..586; the pitch index is ``768 - lag``.
    """
    return int(K.pitch_search(np.ascontiguousarray(lp, dtype=np.float32)))


def remove_doubling(
    lp: np.ndarray, pitch_index: int, prev_period: int, prev_gain: float
) -> tuple[int, np.float32]:
    """Check sub-multiples of the pitch (``rnn_remove_doubling``, maxperiod 768, N 960).

    Returns
    -------
    period : int
        60..767
    gain : np.float32
    """
    period, gain = K.remove_doubling(
        np.ascontiguousarray(lp, dtype=np.float32),
        int(pitch_index),
        int(prev_period),
        np.float32(prev_gain),
    )
    return int(period), np.float32(gain)


def frame_pitch(
    pitch_buf: np.ndarray, prev_period: int, prev_gain: float
) -> tuple[int, np.float32]:
    """Pitch period and gain of one frame from its 1728-sample pitch buffer."""
    lp = pitch_downsample(pitch_buf)
    return remove_doubling(lp, PITCH_MAX_PERIOD - pitch_search(lp), prev_period, prev_gain)
