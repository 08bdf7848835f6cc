"""The benchmarks' own input: synthetic 48 kHz speech-like audio and noise (no ../shared needed).

One generator for every benchmark, so their figures are measured on the same kind of signal:
a harmonic voice (24 partials) with a wandering pitch, a syllable-rate envelope and pauses, and
a coloured noise (white plus a high-passed random walk). Values are in int16 units.
"""

from __future__ import annotations

import numpy as np

from rnnoise_kit.audio.io import round_to_int

RATE = 48000


def voiced_speech(seconds: float, seed: int = 0) -> np.ndarray:
    """Voiced, syllabic speech-like signal with pauses, float64 in int16 units, shape (n,)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    f0 = 120 + 50 * np.sin(2 * np.pi * 0.35 * t) + 15 * np.sin(2 * np.pi * 2.1 * t)
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    voiced = sum(np.sin(k * phase) / k**1.2 for k in range(1, 25))
    syllables = 0.4 + 0.6 * np.abs(np.sin(2 * np.pi * 4 * t))
    pauses = np.sin(2 * np.pi * 0.3 * t) > -0.4
    return 5000 * voiced * syllables * pauses + 20 * rng.standard_normal(n)


def coloured_noise(seconds: float, seed: int = 1) -> np.ndarray:
    """White noise plus a high-passed random walk, float64 in int16 units, shape (n,)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    white = rng.standard_normal(n)
    walk = np.cumsum(white)
    walk -= np.convolve(walk, np.ones(2000) / 2000, mode="same")
    return 1500 * white + 40 * walk


def noisy_speech(seconds: float, seed: int = 0) -> np.ndarray:
    """:func:`voiced_speech` plus :func:`coloured_noise` at about 8 dB SNR, int16, shape (n,)."""
    return round_to_int(voiced_speech(seconds, seed) + 0.6 * coloured_noise(seconds, seed + 1))
