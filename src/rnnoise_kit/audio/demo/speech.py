"""Demo speech: espeak-ng utterances at 48 kHz with a synthetic high band, and talkers."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import soxr
from scipy import signal

from rnnoise_kit.audio import _espeak
from rnnoise_kit.audio.demo._common import butter_sos, rms, rng_for
from rnnoise_kit.audio.demo.text import pseudo_sentence
from rnnoise_kit.audio.io import SAMPLE_RATE

VOICE_VARIANTS: tuple[str | None, ...] = (
    None, "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4",
    "klatt", "klatt2", "klatt3",
)
"""espeak-ng voice variants drawn from (``None``: the language's default voice)."""


def available_variants() -> list[str]:
    """The entries of :data:`VOICE_VARIANTS` present in the bundled data."""
    have = set(_espeak.available_variants())
    return [v for v in VOICE_VARIANTS if v is not None and v in have]



def _voice_name(lang: str, variant: str | None) -> str:
    return lang if not variant else f"{lang}+{variant}"


def trim_silence(x: np.ndarray, rate: int, margin_s: float = 0.02) -> np.ndarray:
    """Cut an utterance's leading and trailing silence (below -55 dB of the peak).

    ``x`` is int16 at ``rate``; ``margin_s`` of the silence is kept at each end.
    """
    if x.size == 0:
        return x
    a = np.abs(x.astype(np.float32))
    thr = max(a.max() * 10 ** (-55 / 20), 1.0)
    idx = np.flatnonzero(a > thr)
    if idx.size == 0:
        return x[:0]
    m = int(margin_s * rate)
    return x[max(0, idx[0] - m): idx[-1] + m + 1]


_native_rates: set[int] = set()


def espeak_rates_used() -> list[int]:
    """The native sample rates espeak-ng has produced in this process (for manifests)."""
    return sorted(_native_rates)


def _native(text: str, lang: str, variant: str | None, rate: int, pitch: int,
            pitch_range: int, seed: int) -> tuple[np.ndarray, int]:
    samples, sr = _espeak.synthesize(text, _voice_name(lang, variant), rate=rate, pitch=pitch,
                                     pitch_range=pitch_range, seed=seed)
    _native_rates.add(sr)
    return trim_silence(samples, sr), sr


def to_48k(x16: np.ndarray, rate: int) -> np.ndarray:
    """int16 samples at ``rate`` as float64 in [-1, 1] at 48 kHz (soxr HQ)."""
    x = x16.astype(np.float64) / 32768.0
    if rate != SAMPLE_RATE:
        x = soxr.resample(x, rate, SAMPLE_RATE, quality="HQ")
    return np.asarray(x, dtype=np.float64)


def extend_high_band(x: np.ndarray, rng: np.random.Generator, *,
                     level_db: float | None = None, cutoff: float = 9500.0) -> np.ndarray:
    """Add speech-correlated content above ``cutoff`` to band-limited 48 kHz speech.

    espeak-ng synthesises at 22050 Hz, so its speech holds nothing above ~10 kHz, while
    RNNoise's bands reach 20 kHz. The extension is the sum of

    * a full-wave-rectified copy of the 3-8 kHz band (a nonlinear excitation that spreads
      the harmonic/voicing structure upwards, like spectral band replication), and
    * white noise whose envelope follows the 4-8 kHz band (fricative-like, strong on /s/),

    high-passed at ``cutoff`` (8th-order Butterworth, so the original band is untouched),
    tilted by a first-order low-pass at 14 kHz, and scaled to ``level_db`` below the input's
    energy. Silence stays silent.

    Parameters
    ----------
    x : np.ndarray
        Speech at 48 kHz, float in [-1, 1], shape (n,).
    rng : numpy.random.Generator
        Draws the noise, the rectified/noise mix (noise share 50-90 %) and, when
        ``level_db`` is None, the level.
    level_db : float, optional
        Energy of the added band relative to the whole input, in dB; default uniform in
        [-30, -20].
    cutoff : float
        Lower edge of the added band in Hz.

    Returns
    -------
    np.ndarray, float64
        ``x`` plus the extension.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.size < 64 or not np.any(x):
        return x.copy()
    if level_db is None:
        level_db = float(rng.uniform(-30.0, -20.0))
    noise_share = float(rng.uniform(0.5, 0.9))
    mid = signal.sosfilt(butter_sos(4, (3000.0, 8000.0), "bandpass"), x)
    env_band = signal.sosfilt(butter_sos(4, (4000.0, 8000.0), "bandpass"), x)
    # envelope: rectify and smooth over ~2 ms (fricative bursts are short)
    env = signal.sosfilt(butter_sos(2, 500.0, "lowpass"), np.abs(env_band))
    env = np.maximum(env, 0.0)
    noise = rng.standard_normal(x.size) * env
    rect = np.abs(mid)
    hp = butter_sos(8, cutoff, "highpass")
    tilt = butter_sos(1, 14000.0, "lowpass")
    parts = []
    for part in (rect, noise):
        p = signal.sosfilt(tilt, signal.sosfilt(hp, part))
        r = rms(p)
        parts.append(p / r if r > 0 else p)
    hf = math.sqrt(1.0 - noise_share) * parts[0] + math.sqrt(noise_share) * parts[1]
    r = rms(hf)
    if r == 0:
        return x.copy()
    hf *= rms(x) * 10 ** (level_db / 20.0) / r
    return x + hf


def synth_speech(text: str, lang: str, *, voice_variant: str | None = None, rate: int = 175,
                 pitch: int = 50, pitch_range: int = 50, hf_extension: bool = True,
                 seed: int = 0) -> tuple[np.ndarray, int]:
    """Speak ``text`` with espeak-ng and return 48 kHz float32 audio.

    Parameters
    ----------
    text : str
        UTF-8 text in ``lang``.
    lang : str
        espeak-ng language (``"en"``, ``"de"``, ``"pt-BR"``, ...).
    voice_variant : str, optional
        espeak-ng variant (``"m3"``, ``"f2"``, ``"klatt"``); None: the default voice.
    rate : int
        Words per minute (80-450).
    pitch, pitch_range : int
        0-100; 50 is the voice's default.
    hf_extension : bool
        Add speech-correlated content above 9.5 kHz (:func:`extend_high_band`).
    seed : int
        Seeds espeak's noise sources and the extension.

    Returns
    -------
    audio : np.ndarray, float32, shape (n,)
        Samples in [-1, 1] at 48 kHz (leading/trailing silence trimmed to ~20 ms).
    sample_rate : int
        48000.

    Raises
    ------
    rnnoise_kit.audio._espeak.EspeakError
        The bundled library cannot be used or has no such voice.
    """
    native, sr = _native(text, lang, voice_variant, int(rate), int(pitch), int(pitch_range),
                         seed)
    x = to_48k(native, sr)
    if hf_extension:
        x = extend_high_band(x, rng_for(seed, "hf"))
    return np.clip(x, -1.0, 1.0).astype(np.float32), SAMPLE_RATE


@dataclass(frozen=True)
class Voice:
    """One talker: an espeak-ng voice with its rate (words/min), pitch and pitch range."""

    lang: str
    variant: str | None
    rate: int
    pitch: int
    pitch_range: int

    @property
    def name(self) -> str:
        return _voice_name(self.lang, self.variant)


def draw_voice(lang: str, rng: np.random.Generator, variants: Sequence[str | None]) -> Voice:
    """A random talker of ``lang``: one of ``variants``, 130-210 words/min, pitch 25-75."""
    return Voice(lang, variants[int(rng.integers(len(variants)))], int(rng.integers(130, 211)),
                 int(rng.integers(25, 76)), int(rng.integers(30, 81)))


def talk(voice: Voice, seconds: float, rng: np.random.Generator, *,
         pause: tuple[float, float], exact: bool = False) -> tuple[np.ndarray, int, list[str]]:
    """Native-rate int16 speech of about ``seconds``: sentences joined by pauses.

    With ``exact``, sentences that would overshoot ``seconds`` by more than 10 % are
    replaced by shorter ones (up to 3 tries), so the result mostly lies within
    [0.9, 1.1] x ``seconds`` (it always holds at least one sentence).
    """
    def speak(text: str) -> tuple[np.ndarray, int]:
        return _native(text, voice.lang, voice.variant, voice.rate, voice.pitch,
                       voice.pitch_range, int(rng.integers(1 << 31)))

    return join_sentences(speak, voice.lang, seconds, rng, pause=pause, exact=exact)


def join_sentences(speak: Callable[[str], tuple[np.ndarray, int]], lang: str, seconds: float,
                   rng: np.random.Generator, *, pause: tuple[float, float],
                   exact: bool = False) -> tuple[np.ndarray, int, list[str]]:
    """Pseudo-sentences of ``lang`` spoken by ``speak`` and joined by pauses (:func:`talk`).

    Parameters
    ----------
    speak : callable
        ``speak(text) -> (int16 samples, sample rate)``, silence trimmed; the engine hook
        (espeak-ng here, Piper in :mod:`rnnoise_kit.audio.demo.piper`).
    lang : str
        Language of the word list (:func:`~rnnoise_kit.audio.demo.text.pseudo_sentence`).
    seconds, rng, pause, exact
        As for :func:`talk`.

    Returns
    -------
    samples : np.ndarray, int16, shape (n,)
    sample_rate : int
    texts : list of str
    """
    pieces: list[np.ndarray] = []
    texts: list[str] = []
    total, sr, tries = 0.0, 0, 0
    while not texts or total < (0.9 * seconds if exact else seconds):
        text = pseudo_sentence(lang, rng, ((4, 11), (2, 5), (1, 3), (1, 2))[min(tries, 3)])
        seg, sr = speak(text)
        if seg.size == 0:
            continue
        if exact and total + seg.size / sr > 1.1 * seconds:
            if tries < 3:
                tries += 1
                continue
            if pieces:
                break
        gap = np.zeros(int(rng.uniform(*pause) * sr), dtype=np.int16)
        pieces += [seg, gap]
        texts.append(text)
        total += (seg.size + gap.size) / sr
    return np.concatenate(pieces[:-1]), sr, texts


def normalize_active(x: np.ndarray, level_db: float, peak: float = 0.95) -> np.ndarray:
    """Scale so the active (non-pause) speech level is ``level_db`` dBFS, peak <= ``peak``."""
    frame = 480
    n = x.size // frame * frame
    if n == 0:
        return x
    e = np.mean(np.square(x[:n].reshape(-1, frame)), axis=1)
    active = e[e > e.max() * 10 ** (-4.0)]  # frames within 40 dB of the loudest
    active_rms = math.sqrt(float(active.mean())) if active.size else rms(x)
    if active_rms <= 0:
        return x
    y = x * (10 ** (level_db / 20.0) / active_rms)
    p = float(np.max(np.abs(y)))
    return y * (peak / p) if p > peak else y
