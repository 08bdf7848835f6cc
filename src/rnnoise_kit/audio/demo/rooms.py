"""Demo rooms: random shoebox impulse responses (pyroomacoustics) and reverberation."""

from __future__ import annotations

import math

import numpy as np
from scipy import signal

from rnnoise_kit.audio.demo._common import rms
from rnnoise_kit.audio.io import SAMPLE_RATE

_MAX_ISM_ORDER = 17


def room_impulse_response(rng: np.random.Generator, *, rt60: float | None = None
                          ) -> tuple[np.ndarray, dict]:
    """A random shoebox-room impulse response at 48 kHz (pyroomacoustics image method).

    The room is 3-10 x 3-8 x 2.4-4 m with source and microphone at least 0.5 m from the walls
    and 0.7 m apart, and wall absorption from Sabine's formula for the target RT60. The
    image-source model is run to order 17 (cost grows with the cube of the order); from the
    time that order stops covering every direction, the response continues as exponentially
    decaying noise at the target RT60, level-matched to the image-source part (a hybrid
    early/late model).

    Parameters
    ----------
    rng : numpy.random.Generator
    rt60 : float, optional
        Reverberation time in seconds; default uniform in [0.2, 0.8].

    Returns
    -------
    rir : np.ndarray, float64
        Starts 1 ms before the direct path; normalised so the direct path peaks at 1.
    info : dict
        ``rt60`` (s), ``room`` (m), ``distance`` (m).
    """
    import pyroomacoustics as pra

    if rt60 is None:
        rt60 = float(rng.uniform(0.2, 0.8))
    dims = rng.uniform([3.0, 3.0, 2.4], [10.0, 8.0, 4.0])
    absorption, order = pra.inverse_sabine(rt60, dims)
    order = int(min(order, _MAX_ISM_ORDER))
    room = pra.ShoeBox(dims, fs=SAMPLE_RATE, materials=pra.Material(float(absorption)),
                       max_order=order, air_absorption=False)
    src = rng.uniform(0.5, dims - 0.5)
    for _ in range(100):  # a talker at least 0.7 m from the microphone
        mic = rng.uniform(0.5, dims - 0.5)
        if np.linalg.norm(src - mic) >= 0.7:
            break
    room.add_source(src)
    room.add_microphone(mic)
    room.compute_rir()
    rir = np.asarray(room.rir[0][0], dtype=np.float64)
    c = 343.0
    # time up to which the images of order <= `order` cover every direction: the octahedron
    # |i| + |j| + |k| <= order of image cells holds a sphere of radius order / sqrt(3) cells
    t_cover = order * float(dims.min()) / (math.sqrt(3.0) * c)
    start = int(max(np.argmax(np.abs(rir)) - 0.001 * SAMPLE_RATE, 0))
    cross = start + int(t_cover * SAMPLE_RATE)
    length = cross + int(rt60 * SAMPLE_RATE)
    if cross < rir.size:
        win = int(0.02 * SAMPLE_RATE)
        level = rms(rir[max(cross - win, start): cross]) or 1e-6
        k = np.arange(length - cross)
        tail = rng.standard_normal(k.size) * level * 10 ** (-3.0 * k / (rt60 * SAMPLE_RATE))
        fade = min(int(0.005 * SAMPLE_RATE), k.size)
        out = np.zeros(length)
        head = rir[:cross]
        out[: head.size] = head
        ramp = np.linspace(0.0, 1.0, fade)
        seg = rir[cross: cross + fade]
        mixed = tail[:fade].copy() * ramp
        mixed[: seg.size] += seg * (1 - ramp[: seg.size])
        out[cross: cross + fade] = mixed
        out[cross + fade:] = tail[fade:]
        rir = out
    rir = rir[start:]
    rir /= np.max(np.abs(rir)) or 1.0
    info = {"rt60": round(rt60, 3), "room": [round(float(d), 2) for d in dims],
            "distance": round(float(np.linalg.norm(src - mic)), 2)}
    return rir, info


def reverberate(x: np.ndarray, rng: np.random.Generator, *, rt60: float | None = None
                ) -> tuple[np.ndarray, dict]:
    """Convolve ``x`` with :func:`room_impulse_response`; same length, RMS preserved."""
    rir, info = room_impulse_response(rng, rt60=rt60)
    y = signal.fftconvolve(x, rir)[: x.size]
    y *= (rms(x) / rms(y)) if rms(y) > 0 else 1.0
    return y, info
