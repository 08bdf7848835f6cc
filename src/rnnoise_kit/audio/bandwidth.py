"""The effective bandwidth of a recording, from its long-term spectrum.

Speech that was recorded or stored at a low sample rate (telephone speech at 8 kHz, a 22.05 kHz
synthesiser, a lossy file cut at 16 kHz) and resampled to 48 kHz holds nothing above its
original band but resampler leakage and rounding noise. The training-matrix generator uses
:func:`effective_bandwidth` to mark the target gains above that frequency as "no target"
instead of teaching the model that speech never has energy there.

Rule
----
The long-term power spectrum ``P(f)`` is the mean, over 2048-sample Hann-windowed frames
(hop 2048, 23.4 Hz bins at 48 kHz), of the squared magnitude, smoothed over 9 bins (211 Hz).
With ``L(f) = 10 log10 P(f)`` and ``M(f)`` the highest ``L`` between :data:`FLOOR_HZ` and
``f``, the effective bandwidth is the highest ``f`` with ``L(f) >= M(f) - DROP_DB``: the top
of the band whose level is within :data:`DROP_DB` dB of the loudest level below it.

Why 60 dB: a resampled 16-bit source falls 80-100 dB below its loudest speech bins above its
band (resampler stop band, then int16 rounding noise), while natural wide-band speech stays
within 40-60 dB of its peak up to 16-20 kHz, and any recording with a noise floor counts as
full band (that noise is in the band).
"""

from __future__ import annotations

import numpy as np

from rnnoise_kit.audio.io import SAMPLE_RATE

FFT_SIZE = 2048
"""Samples per frame of the long-term spectrum."""
SMOOTH_BINS = 9
"""Bins over which the power spectrum is averaged (about 211 Hz at 48 kHz)."""
DROP_DB = 60.0
"""Drop below the loudest lower level that ends the band."""
FLOOR_HZ = 100.0
"""Below this frequency the level does not count as the reference (DC, hum)."""


def effective_bandwidth(x: np.ndarray, rate: int = SAMPLE_RATE) -> float | None:
    """The highest frequency (Hz) with energy within :data:`DROP_DB` dB of the level below it.

    Parameters
    ----------
    x : np.ndarray, shape (n,)
        Samples of one recording (any scale; int16 or float).
    rate : int
        Sample rate of ``x``.

    Returns
    -------
    float or None
        The effective bandwidth, at most ``rate / 2``; ``None`` when ``x`` is shorter than a
        frame or digitally silent (no estimate).
    """
    n = x.size // FFT_SIZE
    if n == 0:
        return None
    frames = np.asarray(x[: n * FFT_SIZE], dtype=np.float64).reshape(n, FFT_SIZE)
    active = np.any(frames != 0, axis=1)
    if not active.any():
        return None
    spec = np.fft.rfft(frames[active] * np.hanning(FFT_SIZE), axis=1)
    power = np.mean(spec.real ** 2 + spec.imag ** 2, axis=0)
    power = np.convolve(power, np.ones(SMOOTH_BINS) / SMOOTH_BINS, mode="same")
    level = 10.0 * np.log10(power + 1e-30)
    first = int(np.ceil(FLOOR_HZ * FFT_SIZE / rate))
    reference = np.maximum.accumulate(level[first:])
    inside = np.flatnonzero(level[first:] >= reference - DROP_DB)
    top = first + int(inside[-1])
    return min(rate / 2.0, (top + 0.5) * rate / FFT_SIZE)
