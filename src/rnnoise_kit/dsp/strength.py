"""How strongly the denoiser acts: an attenuation limit on the band gains, and a dry/wet mix.

Both are generic to the RNNoise family (any band count, any network): the limit is a floor
under the band gains the spectrum is multiplied by, the mix a per-sample blend of the
denoised output with the input it came from. Where each sits in the v0.1 frame, and why, is
in ``docs/denoising.md``.

* :func:`attenuation_floor`: ``--max-attenuation DB`` as the linear gain floor ``10^(-DB/20)``;
  :func:`floor_gains` applies it to the network's band gains.
* :func:`mix_dry_wet`: FFmpeg ``arnndn``'s ``mix`` option, sample for sample.
"""

from __future__ import annotations

import math

import numpy as np

MIX_RANGE = (-1.0, 1.0)
"""Values ``mix`` may take, as FFmpeg's ``arnndn`` accepts them (1: denoised only)."""


def attenuation_floor(max_attenuation_db: float | None) -> float:
    """The smallest band gain that keeps every band within ``max_attenuation_db`` of its input.

    Parameters
    ----------
    max_attenuation_db : float or None
        Largest attenuation of any band, in dB (>= 0); ``None`` for no limit.

    Returns
    -------
    float
        ``10 ** (-max_attenuation_db / 20)`` (an amplitude gain in (0, 1]); 0.0 without a limit,
        which leaves every gain as the network gave it.
    """
    if max_attenuation_db is None:
        return 0.0
    return float(np.float32(10.0 ** (-float(max_attenuation_db) / 20.0)))


def floor_gains(gains: np.ndarray, floor: float) -> np.ndarray:
    """The band gains raised to at least ``floor`` (the attenuation limit).

    Applied to the network's output, before anything else uses the gains: the pitch filter
    then filters only as strongly as the floored gain asks (its strength is computed from the
    gain), and the ``lastg`` smoothing and the interpolation over the bins only ever raise
    gains, so every band's gain in the end is at least ``floor``.

    Parameters
    ----------
    gains : np.ndarray, float32, shape (n, bands)
        Network gains in [0, 1].
    floor : float
        From :func:`attenuation_floor`; 0 returns ``gains`` itself (unchanged, not copied).

    Returns
    -------
    np.ndarray, float32, shape (n, bands)
        ``max(gains, floor)`` element by element (gains at or above the floor keep their bits).
    """
    if floor <= 0.0:
        return gains
    return np.maximum(gains, np.float32(floor))


def is_valid_attenuation(max_attenuation_db: float | None) -> bool:
    """True for ``None`` or a finite number of dB >= 0."""
    if max_attenuation_db is None:
        return True
    try:
        db = float(max_attenuation_db)
    except (TypeError, ValueError):
        return False
    return math.isfinite(db) and db >= 0.0


def is_valid_mix(mix: float) -> bool:
    """True for a number within :data:`MIX_RANGE`."""
    try:
        m = float(mix)
    except (TypeError, ValueError):
        return False
    return MIX_RANGE[0] <= m <= MIX_RANGE[1]


def mix_dry_wet(wet: np.ndarray, dry: np.ndarray, mix: float) -> np.ndarray:
    """FFmpeg ``arnndn``'s output blend: ``wet * mix + dry * (1 - max(mix, 0))``, in float32.

    ``mix`` = 1 is the denoised signal alone, 0 the input alone, 0.5 half of each; a negative
    ``mix`` keeps the whole input and subtracts ``|mix|`` times the denoised signal, so -1
    leaves what the denoiser removed (the input minus the denoised signal).

    Parameters
    ----------
    wet : np.ndarray, float32, any shape
        Denoised samples.
    dry : np.ndarray, same shape
        The input samples they came from, delayed like ``wet`` (FFmpeg mixes the raw input,
        before the high-pass filter, 480 samples late like the denoised frame).
    mix : float
        Within :data:`MIX_RANGE`; rounded to float32 first, as FFmpeg stores the option.

    Returns
    -------
    np.ndarray, float32
        The blend, computed term by term in float32 as FFmpeg does (``a * m + b * im``).
    """
    m = np.float32(mix)
    dry_gain = np.float32(1.0) - max(m, np.float32(0.0))
    w = np.asarray(wet, dtype=np.float32)
    d = np.asarray(dry, dtype=np.float32)
    return (w * m + d * dry_gain).astype(np.float32, copy=False)
