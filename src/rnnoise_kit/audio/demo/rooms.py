"""Demo rooms: reverberation with the random rooms of :mod:`rnnoise_kit.audio.rir`."""

from __future__ import annotations

import numpy as np
from scipy import signal

from rnnoise_kit.audio.demo._common import rms
from rnnoise_kit.audio.rir import room_impulse_response


def reverberate(x: np.ndarray, rng: np.random.Generator, *, rt60: float | None = None
                ) -> tuple[np.ndarray, dict]:
    """Convolve ``x`` with :func:`room_impulse_response`; same length, RMS preserved."""
    rir, info = room_impulse_response(rng, rt60=rt60)
    y = signal.fftconvolve(x, rir)[: x.size]
    y *= (rms(x) / rms(y)) if rms(y) > 0 else 1.0
    return y, info
