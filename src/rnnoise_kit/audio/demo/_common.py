"""Helpers every part of the demo data shares: seeded random streams, RMS, Butterworth."""

from __future__ import annotations

import zlib

import numpy as np
from scipy import signal

from rnnoise_kit.audio.io import SAMPLE_RATE, rms  # noqa: F401  (the demo's modules import it from here)


def _key(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def rng_for(seed: int, *keys: str | int) -> np.random.Generator:
    """An independent random stream for (seed, keys...), stable across runs and versions."""
    entropy = [int(seed) % (1 << 63)] + [k if isinstance(k, int) else _key(k) for k in keys]
    return np.random.default_rng(np.random.SeedSequence(entropy))


def butter_sos(order: int, freq, btype: str) -> np.ndarray:
    """A Butterworth filter at 48 kHz as second-order sections (``scipy.signal.butter``)."""
    return signal.butter(order, freq, btype=btype, fs=SAMPLE_RATE, output="sos")
