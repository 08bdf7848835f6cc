"""Time alignment of a processed signal to its clean reference.

RNNoise delays its output by one 480-sample frame (10 ms at 48 kHz). The denoiser is run
with ``compensate_delay=True``; any delay left (another tool, a resampler's group delay) is
found here by cross-correlation over a bounded lag range and removed before intrusive
metrics are computed.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import fftconvolve

DEFAULT_MAX_LAG_S = 0.05
"""Largest delay searched, in seconds (either direction)."""


def estimate_delay(reference: np.ndarray, signal: np.ndarray, max_lag: int) -> int:
    """Delay of ``signal`` relative to ``reference``, in samples, by cross-correlation.

    Parameters
    ----------
    reference, signal : np.ndarray, shape (n,)
        Mono signals at the same rate (lengths may differ).
    max_lag : int
        Only lags in ``[-max_lag, max_lag]`` are considered.

    Returns
    -------
    int
        ``d`` such that ``signal[t + d]`` best matches ``reference[t]`` (positive: the
        signal lags). 0 when either signal is silent.
    """
    ref = np.asarray(reference, dtype=np.float64)
    sig = np.asarray(signal, dtype=np.float64)
    if ref.size == 0 or sig.size == 0 or not np.any(ref) or not np.any(sig):
        return 0
    max_lag = int(max(0, max_lag))
    # corr[k] = sum_t sig[t] * ref[t - (k - (len(ref) - 1))]
    corr = fftconvolve(sig, ref[::-1], mode="full")
    zero = ref.size - 1
    lo, hi = max(0, zero - max_lag), min(corr.size, zero + max_lag + 1)
    window = np.abs(corr[lo:hi])
    return int(lo + int(np.argmax(window)) - zero)


def shift(signal: np.ndarray, delay: int, length: int) -> np.ndarray:
    """Remove ``delay`` samples of delay and return exactly ``length`` samples.

    Parameters
    ----------
    signal : np.ndarray, shape (n,)
    delay : int
        As returned by :func:`estimate_delay`: positive drops the first ``delay`` samples,
        negative prepends zeros.
    length : int
        Output length (zero-padded or cut at the end).

    Returns
    -------
    np.ndarray, shape (length,)
    """
    x = np.asarray(signal, dtype=np.float64)
    x = x[delay:] if delay >= 0 else np.concatenate([np.zeros(-delay), x])
    out = np.zeros(length)
    n = min(length, x.size)
    out[:n] = x[:n]
    return out


def align(reference: np.ndarray, signal: np.ndarray, max_lag: int) -> tuple[np.ndarray, int]:
    """Align ``signal`` to ``reference`` (bounded cross-correlation search).

    Parameters
    ----------
    reference, signal : np.ndarray, shape (n,)
    max_lag : int
        Largest delay searched, in samples.

    Returns
    -------
    aligned : np.ndarray, shape (len(reference),)
    delay : int
        The delay removed, in samples.
    """
    delay = estimate_delay(reference, signal, max_lag)
    return shift(signal, delay, len(reference)), delay
