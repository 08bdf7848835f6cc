"""Intrusive speech-quality metrics: PESQ (wideband), STOI, eSTOI, SI-SDR, segmental SNR.

All of them compare a processed signal with its clean reference. :func:`intrusive_metrics`
aligns the processed signal first (:mod:`rnnoise_kit.evaluation.align`), resamples both to
16 kHz (the rate PESQ wideband is defined at) and computes every metric there.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from rnnoise_kit.audio.io import resample
from rnnoise_kit.evaluation._deps import require
from rnnoise_kit.evaluation.align import DEFAULT_MAX_LAG_S, align

METRIC_RATE = 16000
"""Rate every intrusive metric is computed at."""

SEGSNR_RANGE = (-10.0, 35.0)
"""Per-frame SNRs are clamped to this range (dB) before averaging."""


def _as_mono(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2:
        x = x.mean(axis=1)
    return x


def pesq_wb(reference: np.ndarray, degraded: np.ndarray, rate: int = METRIC_RATE) -> float:
    """PESQ wideband (ITU-T P.862.2) MOS-LQO, about 1.0 (bad) to 4.64 (identical).

    Parameters
    ----------
    reference, degraded : np.ndarray, shape (n,)
        Float signals; resampled to 16 kHz when ``rate`` differs.
    rate : int

    Returns
    -------
    float
        NaN when PESQ cannot score the pair (e.g. no speech found in the reference).
    """
    pesq = require("pesq")
    ref, deg = _as_mono(reference), _as_mono(degraded)
    if rate != METRIC_RATE:
        ref, deg = resample(ref, rate, METRIC_RATE), resample(deg, rate, METRIC_RATE)
    n = min(ref.size, deg.size)
    if n < METRIC_RATE // 4 or not np.any(ref[:n]):
        return math.nan
    try:
        return float(pesq.pesq(METRIC_RATE, ref[:n], deg[:n], "wb"))
    except Exception:  # pesq raises its own errors for silent or too-short input
        return math.nan


def stoi(reference: np.ndarray, degraded: np.ndarray, rate: int = METRIC_RATE,
         extended: bool = False) -> float:
    """STOI (or eSTOI when ``extended``), 0 to 1: predicted intelligibility.

    Parameters
    ----------
    reference, degraded : np.ndarray, shape (n,)
    rate : int
    extended : bool
        Compute eSTOI (Jensen & Taal 2016), which also handles modulated noise.

    Returns
    -------
    float
        NaN when the reference holds no speech-level frames.
    """
    pystoi = require("pystoi")
    ref, deg = _as_mono(reference), _as_mono(degraded)
    n = min(ref.size, deg.size)
    if n == 0 or not np.any(ref[:n]):
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = float(pystoi.stoi(ref[:n], deg[:n], rate, extended=extended))
    return value if np.isfinite(value) else math.nan


def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant signal-to-distortion ratio in dB (Le Roux et al. 2019).

    Both signals are made zero-mean; the estimate is projected on the reference, so any
    gain applied to the estimate leaves the value unchanged.

    Parameters
    ----------
    reference, estimate : np.ndarray, shape (n,)

    Returns
    -------
    float
        ``inf`` for an exact scaled copy, NaN for a silent reference.
    """
    ref, est = _as_mono(reference), _as_mono(estimate)
    n = min(ref.size, est.size)
    ref, est = ref[:n] - ref[:n].mean(), est[:n] - est[:n].mean()
    energy = float(np.dot(ref, ref))
    if n == 0 or energy == 0.0:
        return math.nan
    target = (np.dot(est, ref) / energy) * ref
    noise = est - target
    t, e = float(np.dot(target, target)), float(np.dot(noise, noise))
    if e == 0.0:
        return math.inf
    if t == 0.0:
        return -math.inf
    return 10.0 * math.log10(t / e)


def segmental_snr(reference: np.ndarray, estimate: np.ndarray, rate: int = METRIC_RATE,
                  frame_s: float = 0.02, clamp: tuple[float, float] = SEGSNR_RANGE) -> float:
    """Segmental SNR in dB: the mean of per-frame SNRs, each clamped to ``clamp``.

    Frames are ``frame_s`` long with 50 % overlap; frames where the reference is digital
    silence are skipped.

    Parameters
    ----------
    reference, estimate : np.ndarray, shape (n,)
    rate : int
    frame_s : float
    clamp : (float, float)

    Returns
    -------
    float
        NaN when no frame has reference energy.
    """
    ref, est = _as_mono(reference), _as_mono(estimate)
    n = min(ref.size, est.size)
    frame = max(2, int(round(frame_s * rate)))
    hop = frame // 2
    if n < frame:
        return math.nan
    starts = np.arange(0, n - frame + 1, hop)
    idx = starts[:, None] + np.arange(frame)[None, :]
    r, e = ref[:n][idx], est[:n][idx]
    p_sig = np.sum(r**2, axis=1)
    p_err = np.sum((r - e) ** 2, axis=1)
    keep = p_sig > 0
    if not np.any(keep):
        return math.nan
    with np.errstate(divide="ignore"):
        snr = 10.0 * np.log10(p_sig[keep] / np.maximum(p_err[keep], 1e-20))
    return float(np.mean(np.clip(snr, *clamp)))


def intrusive_metrics(reference: np.ndarray, processed: np.ndarray, rate: int,
                      max_lag_s: float = DEFAULT_MAX_LAG_S) -> dict[str, float]:
    """Align ``processed`` to ``reference`` and compute every intrusive metric.

    Parameters
    ----------
    reference, processed : np.ndarray, shape (n,) or (n, ch)
        Float signals in [-1, 1] at ``rate`` (channels are averaged).
    rate : int
    max_lag_s : float
        Largest delay searched by the alignment, in seconds.

    Returns
    -------
    dict
        ``pesq``, ``stoi``, ``estoi``, ``si_sdr``, ``segsnr`` and ``delay`` (samples at
        ``rate`` removed from ``processed``).
    """
    ref, proc = _as_mono(reference), _as_mono(processed)
    aligned, delay = align(ref, proc, int(round(max_lag_s * rate)))
    ref16 = resample(ref, rate, METRIC_RATE) if rate != METRIC_RATE else ref
    deg16 = resample(aligned, rate, METRIC_RATE) if rate != METRIC_RATE else aligned
    return {
        "pesq": pesq_wb(ref16, deg16),
        "stoi": stoi(ref16, deg16, METRIC_RATE),
        "estoi": stoi(ref16, deg16, METRIC_RATE, extended=True),
        "si_sdr": si_sdr(ref16, deg16),
        "segsnr": segmental_snr(ref16, deg16),
        "delay": float(delay),
    }
