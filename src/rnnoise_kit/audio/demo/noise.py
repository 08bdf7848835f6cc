"""Demo noise: white, pink, brown, mains hum, babble, clicks and fan noise at 48 kHz."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import fft as sp_fft
from scipy import signal

from rnnoise_kit.audio.demo._common import butter_sos, rms, rng_for
from rnnoise_kit.audio.demo.speech import (
    available_variants,
    draw_voice,
    extend_high_band,
    talk,
    to_48k,
)
from rnnoise_kit.audio.demo.text import BABBLE_EXTRA_LANGUAGES
from rnnoise_kit.audio.io import SAMPLE_RATE
from rnnoise_kit.errors import InputError

NOISE_TYPES: tuple[str, ...] = ("white", "pink", "brown", "hum", "babble", "clicks", "fan")
"""Noise kinds :func:`make_noise` generates."""


def _colored(n: int, rng: np.random.Generator, exponent: float) -> np.ndarray:
    """Gaussian noise with power spectrum ~ 1/f**exponent (flat below 20 Hz, no DC)."""
    m = sp_fft.next_fast_len(n, real=True)  # an awkward n can make the FFT 100x slower
    spec = sp_fft.rfft(rng.standard_normal(m))
    f = sp_fft.rfftfreq(m, 1.0 / SAMPLE_RATE)
    shape = np.maximum(f, 20.0) ** (-exponent / 2.0)
    shape[0] = 0.0
    y = sp_fft.irfft(spec * shape, m)[:n]
    return y / (rms(y) or 1.0)


def _hum(n: int, rng: np.random.Generator, info: dict) -> np.ndarray:
    f0 = float(rng.choice([50.0, 60.0]))
    info["mains_hz"] = f0
    t = np.arange(n) / SAMPLE_RATE
    # slow drift of the mains frequency (+-0.05 Hz) and a slight level flicker
    drift = 0.05 * np.sin(2 * np.pi * rng.uniform(0.05, 0.2) * t + rng.uniform(0, 2 * np.pi))
    phase = 2 * np.pi * np.cumsum(f0 + drift) / SAMPLE_RATE
    alpha = rng.uniform(0.6, 1.4)
    n_harm = int(min(4000.0 // f0, 60))
    y = np.zeros(n)
    base = np.exp(1j * phase)  # harmonics by complex powers: cheaper than n_harm sines
    z = np.ones(n, dtype=np.complex128)
    for k in range(1, n_harm + 1):
        amp = k ** (-alpha) * (rng.uniform(1.0, 2.5) if k % 2 else rng.uniform(0.3, 1.0))
        z *= base
        y += amp * (z * np.exp(1j * rng.uniform(0, 2 * np.pi))).imag
    y *= 1.0 + 0.03 * np.sin(2 * np.pi * rng.uniform(0.2, 1.0) * t)
    y /= rms(y) or 1.0
    return y + 10 ** (-45 / 20) * rng.standard_normal(n)


def _decaying_burst(rng: np.random.Generator, dur: float, tau: float,
                    bands: list[tuple[float, float]]) -> np.ndarray:
    m = max(int(dur * SAMPLE_RATE), 8)
    burst = rng.standard_normal(m) * np.exp(-np.arange(m) / (tau * SAMPLE_RATE))
    if not bands:
        return burst
    out = np.zeros(m)
    for lo, hi in bands:
        out += signal.sosfilt(butter_sos(2, (lo, hi), "bandpass"), burst)
    return out / (np.max(np.abs(out)) or 1.0)


def _clicks(n: int, rng: np.random.Generator, info: dict) -> np.ndarray:
    y = 10 ** (-65 / 20) * rng.standard_normal(n)
    rate = rng.uniform(2.0, 8.0)  # events per second
    info["events_per_s"] = round(float(rate), 2)
    t = rng.exponential(1.0 / rate) * 0.5
    while t < n / SAMPLE_RATE:
        start = int(t * SAMPLE_RATE)
        gain = 10 ** (rng.uniform(-12.0, 0.0) / 20)
        if rng.random() < 0.65:  # keyboard-like: key down, key up 40-150 ms later
            centre = rng.uniform(1500.0, 6000.0)
            bands = [(centre / 1.4, min(centre * 1.4, 20000.0)),
                     (rng.uniform(300.0, 800.0), rng.uniform(1000.0, 1400.0))]
            events = [(start, gain), (start + int(rng.uniform(0.04, 0.15) * SAMPLE_RATE),
                                      gain * rng.uniform(0.3, 0.7))]
            for s, g in events:
                b = _decaying_burst(rng, 0.05, rng.uniform(0.003, 0.012), bands) * g
                e = min(n, s + b.size)
                if s < n:
                    y[s:e] += b[: e - s]
        else:  # sharp click: broadband, very short
            b = _decaying_burst(rng, 0.01, rng.uniform(0.0003, 0.002), []) * gain
            b /= np.max(np.abs(b)) or 1.0
            e = min(n, start + b.size)
            y[start:e] += b[: e - start] * gain
        t += rng.exponential(1.0 / rate) + 0.02
    return y


def _fan(n: int, rng: np.random.Generator, info: dict) -> np.ndarray:
    t = np.arange(n) / SAMPLE_RATE
    lo, hi = rng.uniform(60.0, 250.0), rng.uniform(900.0, 4000.0)
    base = signal.sosfilt(butter_sos(2, (lo, hi), "bandpass"), rng.standard_normal(n))
    base /= rms(base) or 1.0
    base += 10 ** (rng.uniform(-25.0, -15.0) / 20) * _colored(n, rng, 1.0)  # broadband hiss
    am_hz, depth = rng.uniform(0.1, 1.5), rng.uniform(0.05, 0.3)
    am = 1.0 + depth * np.sin(2 * np.pi * am_hz * t + rng.uniform(0, 2 * np.pi))
    y = base * am
    bpf = rng.uniform(40.0, 250.0)  # blade-pass frequency
    wobble = 1.0 + 0.004 * np.sin(2 * np.pi * rng.uniform(0.05, 0.3) * t)
    tones = [(bpf * k, rng.uniform(-14.0, -6.0) - 4 * (k - 1)) for k in (1, 2, 3)]
    tones.append((rng.uniform(500.0, 3000.0), rng.uniform(-28.0, -18.0)))  # motor whine
    for freq, db in tones:
        phase = 2 * np.pi * np.cumsum(freq * wobble) / SAMPLE_RATE
        y += 10 ** (db / 20) * math.sqrt(2) * np.sin(phase + rng.uniform(0, 2 * np.pi))
    info.update(band_hz=[round(float(lo)), round(float(hi))], blade_pass_hz=round(float(bpf), 1),
                am_hz=round(float(am_hz), 2))
    return y


def _babble(n: int, rng: np.random.Generator, info: dict, languages: Sequence[str],
            hf_extension: bool) -> np.ndarray:
    talkers = int(rng.integers(3, 7))
    variants = [None, *available_variants()]
    y = np.zeros(n)
    used = []
    for _ in range(talkers):
        voice = draw_voice(str(rng.choice(list(languages))), rng, variants)
        native, sr, _ = talk(voice, n / SAMPLE_RATE + 1.0, rng, pause=(0.05, 0.3))
        x = to_48k(native, sr)
        if hf_extension:
            x = extend_high_band(x, rng)
        off = int(rng.integers(0, max(1, x.size - n)))
        x = x[off: off + n]
        x = np.pad(x, (0, n - x.size))
        y += x / (rms(x) or 1.0) * 10 ** (rng.uniform(-10.0, 0.0) / 20)
        used.append(voice.name)
    info.update(talkers=talkers, voices=used, languages=sorted(languages))
    return y


def make_noise(kind: str, seconds: float, seed: int = 0, *,
               languages: Sequence[str] | None = None, hf_extension: bool = True,
               info: dict | None = None) -> np.ndarray:
    """Generate ``seconds`` of one kind of noise at 48 kHz.

    Parameters
    ----------
    kind : str
        One of :data:`NOISE_TYPES`:

        * ``white``, ``pink`` (-3 dB/octave), ``brown`` (-6 dB/octave, flat below 20 Hz);
        * ``hum``: 50 or 60 Hz mains (drawn from the seed) with harmonics up to 4 kHz, odd
          ones stronger, slight frequency drift, plus a -45 dB noise floor;
        * ``babble``: 3-6 espeak-ng talkers (random languages from ``languages``, voices,
          rates), each at a random level within 10 dB, summed;
        * ``clicks``: keyboard-like double transients (resonant decaying bursts) and sharp
          broadband clicks at random (Poisson) times, over a -65 dB floor;
        * ``fan``: band-passed noise with slow amplitude modulation, blade-pass tones and
          a motor whine.
    seconds : float
        Duration (> 0).
    seed : int
        Same seed, same samples.
    languages : sequence of str, optional
        Talker languages for ``babble`` (default: :data:`BABBLE_EXTRA_LANGUAGES`).
    hf_extension : bool
        For ``babble``: extend each talker above 9.5 kHz (see :func:`extend_high_band`).
    info : dict, optional
        Filled with what was drawn (mains frequency, talkers, ...), for manifests.

    Returns
    -------
    np.ndarray, float32, shape (round(seconds * 48000),)
        In [-1, 1]; RMS -20 dBFS for steady kinds (``clicks``: peak -1 dBFS), peak <= 0.95.

    Raises
    ------
    InputError
        Unknown ``kind`` or non-positive ``seconds``.
    """
    if kind not in NOISE_TYPES:
        raise InputError(None, f"unknown noise type {kind!r} (choose from "
                               f"{', '.join(NOISE_TYPES)})")
    if not seconds > 0:
        raise InputError(None, f"noise duration must be positive, got {seconds}")
    n = int(round(seconds * SAMPLE_RATE))
    rng = rng_for(seed, "noise", kind)
    info = {} if info is None else info
    if kind == "white":
        y = rng.standard_normal(n)
    elif kind == "pink":
        y = _colored(n, rng, 1.0)
    elif kind == "brown":
        y = _colored(n, rng, 2.0)
    elif kind == "hum":
        y = _hum(n, rng, info)
    elif kind == "clicks":
        y = _clicks(n, rng, info)
    elif kind == "fan":
        y = _fan(n, rng, info)
    else:
        y = _babble(n, rng, info, tuple(languages or BABBLE_EXTRA_LANGUAGES), hf_extension)
    if kind == "clicks":
        y *= 10 ** (-1 / 20) / (np.max(np.abs(y)) or 1.0)
    else:
        y *= 0.1 / (rms(y) or 1.0)
        p = float(np.max(np.abs(y)))
        if p > 0.95:
            y *= 0.95 / p
    return y.astype(np.float32)
