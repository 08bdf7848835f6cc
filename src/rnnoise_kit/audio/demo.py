"""Built-in demo data: multilingual espeak-ng speech and generated noise, made offline.

``rnnoise-kit demo`` needs clean speech and noise without downloading or shipping audio. This
module synthesises both at run time:

* **speech**: pseudo-sentences from small built-in word lists in 16 languages, spoken by the
  espeak-ng library bundled with ``espeakng-loader`` (driven through ctypes, see
  :mod:`rnnoise_kit.audio._espeak`; no system espeak-ng is used) with random voice variants
  (``+m1``..``+m7``, ``+f1``..``+f4``, klatt), rates, pitches and pitch ranges, resampled
  22050 -> 48 kHz with soxr;
* **high-band extension**: espeak-ng output stops near 10 kHz (22050 Hz sampling). A model
  trained on such "clean" speech mixed with full-band noise would learn that the top RNNoise
  bands (up to 20 kHz) never hold speech and erase them. With ``hf_extension=True`` (the
  default) every utterance gets synthetic content above ~9.5 kHz that follows the speech: a
  mix of a full-wave-rectified copy of its 3-8 kHz band (keeps voicing periodicity) and noise
  shaped by the 4-8 kHz envelope (fricative-like), high-passed, gently tilted and set
  20-30 dB below the utterance's level (see ``docs/demo-data.md``);
* **noise**: white, pink, brown, mains hum (50/60 Hz with harmonics), babble (3-6 espeak
  talkers in other languages), clicks/keyboard transients and fan noise (band-passed, slowly
  modulated, with tonal components);
* optional **reverberation**: pyroomacoustics shoebox rooms (RT60 0.2-0.8 s).

Everything is seeded: the same arguments give byte-identical files. Each file draws from its
own random stream (seed, kind, label, index), so adding a language does not change the others.

Examples
--------
>>> ds = make_demo_dataset("demo-data", speech_seconds=60, noise_seconds=60)  # doctest: +SKIP
>>> ds.speech_dir, ds.noise_dir  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import math
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soxr
from scipy import fft as sp_fft
from scipy import signal

from rnnoise_kit.audio import _espeak
from rnnoise_kit.audio.io import SAMPLE_RATE, write_audio
from rnnoise_kit.errors import InputError
from rnnoise_kit.fileio import atomic_write_text
from rnnoise_kit.progress import progress_bar

__all__ = [
    "BABBLE_EXTRA_LANGUAGES",
    "DEFAULT_LANGUAGES",
    "NOISE_TYPES",
    "VOICE_VARIANTS",
    "WORDS",
    "DemoDataset",
    "DemoFile",
    "available_languages",
    "available_variants",
    "extend_high_band",
    "make_demo_dataset",
    "make_noise",
    "pseudo_sentence",
    "reverberate",
    "room_impulse_response",
    "synth_speech",
]

MANIFEST_VERSION = 1

# ----------------------------------------------------------------------------------------
# Built-in text material: ~40 frequent words per language, combined into pseudo-sentences.
# ----------------------------------------------------------------------------------------

WORDS: dict[str, tuple[str, ...]] = {
    "en": tuple(
        "the a and is not house water time children always never quickly today tomorrow "
        "evening street window garden speak going coming see beautiful little big friend "
        "city station summer winter maybe really together bread table question answer "
        "music light train river morning yellow".split()
    ),
    "de": tuple(
        "der die das und ist nicht Haus Wasser Zeit Kinder immer nie schnell heute morgen "
        "Abend Straße Fenster Garten sprechen gehen kommen sehen schön klein groß Freund "
        "Stadt Bahnhof Sommer Winter vielleicht wirklich zusammen Brot Tisch Frage Antwort "
        "Musik Licht Zug Fluss".split()
    ),
    "fr": tuple(
        "le la les et est pas maison eau temps enfants toujours jamais vite aujourd'hui "
        "demain soir rue fenêtre jardin parler aller venir voir beau petit grand ami ville "
        "gare été hiver peut-être vraiment ensemble pain table question réponse musique "
        "lumière train rivière".split()
    ),
    "es": tuple(
        "el la los y es no casa agua tiempo niños siempre nunca rápido hoy mañana noche "
        "calle ventana jardín hablar ir venir ver bonito pequeño grande amigo ciudad "
        "estación verano invierno quizás realmente juntos pan mesa pregunta respuesta "
        "música luz tren río".split()
    ),
    "it": tuple(
        "il la gli e è non casa acqua tempo bambini sempre mai presto oggi domani sera "
        "strada finestra giardino parlare andare venire vedere bello piccolo grande amico "
        "città stazione estate inverno forse davvero insieme pane tavolo domanda risposta "
        "musica luce treno fiume".split()
    ),
    "pt": tuple(
        "o a os e é não casa água tempo crianças sempre nunca depressa hoje amanhã noite "
        "rua janela jardim falar ir vir ver bonito pequeno grande amigo cidade estação "
        "verão inverno talvez realmente juntos pão mesa pergunta resposta música luz "
        "comboio rio".split()
    ),
    "nl": tuple(
        "de het een en is niet huis water tijd kinderen altijd nooit snel vandaag morgen "
        "avond straat raam tuin praten gaan komen zien mooi klein groot vriend stad "
        "station zomer winter misschien echt samen brood tafel vraag antwoord muziek licht "
        "trein rivier".split()
    ),
    "sv": tuple(
        "en ett och är inte huset vatten tid barn alltid aldrig snabbt idag imorgon kväll "
        "gata fönster trädgård prata gå komma se vacker liten stor vän stad station "
        "sommar vinter kanske verkligen tillsammans bröd bord fråga svar musik ljus tåg "
        "älven".split()
    ),
    "pl": tuple(
        "i jest nie to dom woda czas dzieci zawsze nigdy szybko dzisiaj jutro wieczór "
        "ulica okno ogród mówić iść przyjść widzieć piękny mały duży przyjaciel miasto "
        "dworzec lato zima może naprawdę razem chleb stół pytanie odpowiedź muzyka "
        "światło pociąg rzeka szczęście".split()
    ),
    "cs": tuple(
        "a je není to dům voda čas děti vždycky nikdy rychle dnes zítra večer ulice okno "
        "zahrada mluvit jít přijít vidět krásný malý velký přítel město nádraží léto "
        "zima možná opravdu spolu chléb stůl otázka odpověď hudba světlo vlak řeka".split()
    ),
    "ru": tuple(
        "и это не дом вода время дети всегда никогда быстро сегодня завтра вечер улица "
        "окно сад говорить идти прийти видеть красивый маленький большой друг город "
        "вокзал лето зима может правда вместе хлеб стол вопрос ответ музыка свет поезд "
        "река солнце".split()
    ),
    "tr": tuple(
        "ve bir bu değil ev su zaman çocuklar hep asla hızlı bugün yarın akşam sokak "
        "pencere bahçe konuşmak gitmek gelmek görmek güzel küçük büyük arkadaş şehir "
        "istasyon yaz kış belki gerçekten birlikte ekmek masa soru cevap müzik ışık tren "
        "deniz".split()
    ),
    "fi": tuple(
        "ja on ei se talo vesi aika lapset aina koskaan nopeasti tänään huomenna ilta "
        "katu ikkuna puutarha puhua mennä tulla nähdä kaunis pieni suuri ystävä kaupunki "
        "asema kesä talvi ehkä todella yhdessä leipä pöytä kysymys vastaus musiikki valo "
        "juna järvi".split()
    ),
    "hu": tuple(
        "és egy az nem ház víz idő gyerekek mindig soha gyorsan ma holnap este utca "
        "ablak kert beszélni menni jönni látni szép kicsi nagy barát város állomás nyár "
        "tél talán tényleg együtt kenyér asztal kérdés válasz zene fény vonat folyó".split()
    ),
    "da": tuple(
        "en et og er ikke hus vand tid børn altid aldrig hurtigt idag imorgen aften gade "
        "vindue have tale gå komme se smuk lille stor ven by station sommer vinter måske "
        "virkelig sammen brød bord spørgsmål svar musik lys tog å".split()
    ),
    "ro": tuple(
        "și este nu un casa apa timpul copiii mereu niciodată repede azi mâine seara "
        "strada fereastra grădina vorbim merge vine vede frumos mic mare prieten oraș "
        "gara vara iarna poate chiar împreună pâine masa întrebare răspuns muzică lumină "
        "trenul râul".split()
    ),
}
"""Built-in word lists (frequent everyday words) per espeak-ng language."""

DEFAULT_LANGUAGES: tuple[str, ...] = (
    "en", "de", "fr", "es", "it", "pt", "nl", "sv", "pl", "cs", "ru", "tr",
)
"""Languages of the clean speech when none are given (12)."""

BABBLE_EXTRA_LANGUAGES: tuple[str, ...] = ("fi", "hu", "da", "ro")
"""Built-in languages left out of the default speech, so babble talks in other languages."""

VOICE_VARIANTS: tuple[str | None, ...] = (
    None, "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4",
    "klatt", "klatt2", "klatt3",
)
"""espeak-ng voice variants drawn from (``None``: the language's default voice)."""

NOISE_TYPES: tuple[str, ...] = ("white", "pink", "brown", "hum", "babble", "clicks", "fan")
"""Noise kinds :func:`make_noise` generates."""

_SYLLABLE_ONSETS = ("", "p", "t", "k", "b", "d", "g", "m", "n", "l", "r", "s", "f", "v", "h",
                    "st", "pr", "tr", "kl", "sk")
_SYLLABLE_NUCLEI = ("a", "e", "i", "o", "u", "a", "e", "ai", "ou")
_SYLLABLE_CODAS = ("", "", "", "n", "m", "s", "r", "l", "t", "k")


def _key(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def _rng(seed: int, *keys: str | int) -> np.random.Generator:
    """An independent random stream for (seed, keys...), stable across runs and versions."""
    entropy = [int(seed) % (1 << 63)] + [k if isinstance(k, int) else _key(k) for k in keys]
    return np.random.default_rng(np.random.SeedSequence(entropy))


def available_languages() -> list[str]:
    """espeak-ng languages in the bundled data that have a built-in word list."""
    have = _espeak.available_languages()
    return [lang for lang in WORDS if lang in have]


def available_variants() -> list[str]:
    """The entries of :data:`VOICE_VARIANTS` present in the bundled data."""
    have = set(_espeak.available_variants())
    return [v for v in VOICE_VARIANTS if v is not None and v in have]


def pseudo_sentence(lang: str, rng: np.random.Generator, words: tuple[int, int] = (4, 11)) -> str:
    """A plausible pseudo-sentence: random words of ``lang`` (random syllables if unknown).

    Parameters
    ----------
    lang : str
        espeak-ng language code. Languages without a built-in word list get Latin-letter
        pseudo-words, which espeak-ng reads with that language's rules.
    rng : numpy.random.Generator
    words : (int, int)
        Inclusive range of the number of words.

    Returns
    -------
    str
        Capitalised, with occasional commas and a final ``.``, ``?`` or ``!``.
    """
    n = int(rng.integers(words[0], words[1] + 1))
    vocab = WORDS.get(lang)
    out = []
    for i in range(n):
        if vocab is not None:
            w = vocab[int(rng.integers(len(vocab)))]
        else:
            w = "".join(
                _SYLLABLE_ONSETS[int(rng.integers(len(_SYLLABLE_ONSETS)))]
                + _SYLLABLE_NUCLEI[int(rng.integers(len(_SYLLABLE_NUCLEI)))]
                + _SYLLABLE_CODAS[int(rng.integers(len(_SYLLABLE_CODAS)))]
                for _ in range(int(rng.integers(1, 4)))
            )
        if 0 < i < n - 1 and rng.random() < 0.12:
            w += ","
        out.append(w)
    text = " ".join(out)
    text = text[:1].upper() + text[1:]
    return text + str(rng.choice([".", ".", ".", "?", "!"]))


# ----------------------------------------------------------------------------------------
# Speech
# ----------------------------------------------------------------------------------------


def _voice_name(lang: str, variant: str | None) -> str:
    return lang if not variant else f"{lang}+{variant}"


def _trim_native(x: np.ndarray, rate: int, margin_s: float = 0.02) -> np.ndarray:
    """Cut espeak's leading and trailing silence (below -55 dB of the peak)."""
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


def _native(text: str, lang: str, variant: str | None, rate: int, pitch: int,
            pitch_range: int, seed: int) -> tuple[np.ndarray, int]:
    samples, sr = _espeak.synthesize(text, _voice_name(lang, variant), rate=rate, pitch=pitch,
                                     pitch_range=pitch_range, seed=seed)
    _native_rates.add(sr)
    return _trim_native(samples, sr), sr


def _to_48k(x16: np.ndarray, rate: int) -> np.ndarray:
    x = x16.astype(np.float64) / 32768.0
    if rate != SAMPLE_RATE:
        x = soxr.resample(x, rate, SAMPLE_RATE, quality="HQ")
    return np.asarray(x, dtype=np.float64)


def _sos(order: int, freq, btype: str) -> np.ndarray:
    return signal.butter(order, freq, btype=btype, fs=SAMPLE_RATE, output="sos")


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


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
    mid = signal.sosfilt(_sos(4, (3000.0, 8000.0), "bandpass"), x)
    env_band = signal.sosfilt(_sos(4, (4000.0, 8000.0), "bandpass"), x)
    # envelope: rectify and smooth over ~2 ms (fricative bursts are short)
    env = signal.sosfilt(_sos(2, 500.0, "lowpass"), np.abs(env_band))
    env = np.maximum(env, 0.0)
    noise = rng.standard_normal(x.size) * env
    rect = np.abs(mid)
    hp = _sos(8, cutoff, "highpass")
    tilt = _sos(1, 14000.0, "lowpass")
    parts = []
    for part in (rect, noise):
        p = signal.sosfilt(tilt, signal.sosfilt(hp, part))
        r = _rms(p)
        parts.append(p / r if r > 0 else p)
    hf = math.sqrt(1.0 - noise_share) * parts[0] + math.sqrt(noise_share) * parts[1]
    r = _rms(hf)
    if r == 0:
        return x.copy()
    hf *= _rms(x) * 10 ** (level_db / 20.0) / r
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
    x = _to_48k(native, sr)
    if hf_extension:
        x = extend_high_band(x, _rng(seed, "hf"))
    return np.clip(x, -1.0, 1.0).astype(np.float32), SAMPLE_RATE


@dataclass(frozen=True)
class _Voice:
    lang: str
    variant: str | None
    rate: int
    pitch: int
    pitch_range: int

    @property
    def name(self) -> str:
        return _voice_name(self.lang, self.variant)


def _draw_voice(lang: str, rng: np.random.Generator, variants: Sequence[str | None]) -> _Voice:
    return _Voice(lang, variants[int(rng.integers(len(variants)))], int(rng.integers(130, 211)),
                  int(rng.integers(25, 76)), int(rng.integers(30, 81)))


def _talk(voice: _Voice, seconds: float, rng: np.random.Generator, *,
          pause: tuple[float, float], exact: bool = False) -> tuple[np.ndarray, int, list[str]]:
    """Native-rate int16 speech of about ``seconds``: sentences joined by pauses.

    With ``exact``, sentences that would overshoot ``seconds`` by more than 10 % are
    replaced by shorter ones (up to 3 tries), so the result mostly lies within
    [0.9, 1.1] x ``seconds`` (it always holds at least one sentence).
    """
    pieces: list[np.ndarray] = []
    texts: list[str] = []
    total, sr, tries = 0.0, 0, 0
    while total < (0.9 * seconds if exact else seconds):
        lang = voice.lang
        text = pseudo_sentence(lang, rng, ((4, 11), (2, 5), (1, 3), (1, 2))[min(tries, 3)])
        seg, sr = _native(text, lang, voice.variant, voice.rate, voice.pitch,
                          voice.pitch_range, int(rng.integers(1 << 31)))
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


def _normalize_active(x: np.ndarray, level_db: float, peak: float = 0.95) -> np.ndarray:
    """Scale so the active (non-pause) speech level is ``level_db`` dBFS, peak <= ``peak``."""
    frame = 480
    n = x.size // frame * frame
    if n == 0:
        return x
    e = np.mean(np.square(x[:n].reshape(-1, frame)), axis=1)
    active = e[e > e.max() * 10 ** (-4.0)]  # frames within 40 dB of the loudest
    rms = math.sqrt(float(active.mean())) if active.size else _rms(x)
    if rms <= 0:
        return x
    y = x * (10 ** (level_db / 20.0) / rms)
    p = float(np.max(np.abs(y)))
    return y * (peak / p) if p > peak else y


# ----------------------------------------------------------------------------------------
# Noise
# ----------------------------------------------------------------------------------------


def _colored(n: int, rng: np.random.Generator, exponent: float) -> np.ndarray:
    """Gaussian noise with power spectrum ~ 1/f**exponent (flat below 20 Hz, no DC)."""
    m = sp_fft.next_fast_len(n, real=True)  # an awkward n can make the FFT 100x slower
    spec = sp_fft.rfft(rng.standard_normal(m))
    f = sp_fft.rfftfreq(m, 1.0 / SAMPLE_RATE)
    shape = np.maximum(f, 20.0) ** (-exponent / 2.0)
    shape[0] = 0.0
    y = sp_fft.irfft(spec * shape, m)[:n]
    return y / (_rms(y) or 1.0)


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
    y /= _rms(y) or 1.0
    return y + 10 ** (-45 / 20) * rng.standard_normal(n)


def _decaying_burst(rng: np.random.Generator, dur: float, tau: float,
                    bands: list[tuple[float, float]]) -> np.ndarray:
    m = max(int(dur * SAMPLE_RATE), 8)
    burst = rng.standard_normal(m) * np.exp(-np.arange(m) / (tau * SAMPLE_RATE))
    if not bands:
        return burst
    out = np.zeros(m)
    for lo, hi in bands:
        out += signal.sosfilt(_sos(2, (lo, hi), "bandpass"), burst)
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
    base = signal.sosfilt(_sos(2, (lo, hi), "bandpass"), rng.standard_normal(n))
    base /= _rms(base) or 1.0
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
        voice = _draw_voice(str(rng.choice(list(languages))), rng, variants)
        native, sr, _ = _talk(voice, n / SAMPLE_RATE + 1.0, rng, pause=(0.05, 0.3))
        x = _to_48k(native, sr)
        if hf_extension:
            x = extend_high_band(x, rng)
        off = int(rng.integers(0, max(1, x.size - n)))
        x = x[off: off + n]
        x = np.pad(x, (0, n - x.size))
        y += x / (_rms(x) or 1.0) * 10 ** (rng.uniform(-10.0, 0.0) / 20)
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
    rng = _rng(seed, "noise", kind)
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
        y *= 0.1 / (_rms(y) or 1.0)
        p = float(np.max(np.abs(y)))
        if p > 0.95:
            y *= 0.95 / p
    return y.astype(np.float32)


# ----------------------------------------------------------------------------------------
# Reverberation
# ----------------------------------------------------------------------------------------

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
        level = _rms(rir[max(cross - win, start): cross]) or 1e-6
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
    y *= (_rms(x) / _rms(y)) if _rms(y) > 0 else 1.0
    return y, info


# ----------------------------------------------------------------------------------------
# The dataset
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoFile:
    """One generated file (``path`` relative to the dataset root)."""

    path: str
    kind: str  # "speech" | "noise"
    label: str  # language or noise type
    seconds: float
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class DemoDataset:
    """What :func:`make_demo_dataset` made.

    Attributes
    ----------
    root, speech_dir, noise_dir, manifest : Path
        The output folder, its ``speech`` and ``noise`` folders and ``demo.json``.
    languages, voices, noise_types : tuple of str
        Speech languages, espeak voices used (``"de+m3"``), noise types.
    files : tuple of DemoFile
    seed : int
    speech_seconds, noise_seconds : float
        Total durations actually written.
    elapsed : float
        Seconds taken (0 when an identical earlier build was reused).
    reused : bool
        True when ``demo.json`` already described this exact build and nothing was written.
    """

    root: Path
    speech_dir: Path
    noise_dir: Path
    manifest: Path
    languages: tuple[str, ...]
    voices: tuple[str, ...]
    noise_types: tuple[str, ...]
    files: tuple[DemoFile, ...]
    seed: int
    speech_seconds: float
    noise_seconds: float
    elapsed: float = 0.0
    reused: bool = False

    def speech_files(self) -> list[Path]:
        """Absolute paths of the speech files."""
        return [self.root / f.path for f in self.files if f.kind == "speech"]

    def noise_files(self) -> list[Path]:
        """Absolute paths of the noise files."""
        return [self.root / f.path for f in self.files if f.kind == "noise"]


def _split(total: float, target: float) -> list[float]:
    """Split ``total`` seconds into files of about ``target`` seconds."""
    if total <= 0:
        return []
    count = max(1, int(round(total / target)))
    return [total / count] * count


def _params(speech_seconds, noise_seconds, languages, babble, seed, reverb, hf_extension,
            noise_types) -> dict:
    return {"speech_seconds": float(speech_seconds), "noise_seconds": float(noise_seconds),
            "languages": list(languages), "babble_languages": list(babble),
            "noise_types": list(noise_types), "seed": int(seed), "reverb": float(reverb),
            "hf_extension": bool(hf_extension)}


def _reusable(root: Path, manifest: Path, params: dict) -> dict | None:
    try:
        old = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if old.get("version") != MANIFEST_VERSION or old.get("params") != params:
        return None
    for entry in old.get("speech", []) + old.get("noise", []):
        p = root / entry["path"]
        if not p.is_file() or p.stat().st_size != entry.get("bytes"):
            return None
    return old


def _remove_stale(root: Path, manifest: Path, keep: set[str]) -> None:
    """Delete files an earlier build listed in ``demo.json`` that this build did not make."""
    try:
        old = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    for entry in old.get("speech", []) + old.get("noise", []):
        rel = str(entry.get("path", ""))
        if rel and rel not in keep and ".." not in Path(rel).parts:
            p = root / rel
            if p.is_file():
                p.unlink()
            for d in (p.parent, p.parent.parent):
                if d != root and d.is_dir() and not any(d.iterdir()):
                    d.rmdir()


def _check_folder(root: Path, manifest: Path) -> None:
    if manifest.is_file():
        return
    for sub in ("speech", "noise"):
        d = root / sub
        if d.is_dir() and any(d.iterdir()):
            raise InputError(root, f"holds a non-empty {sub}/ folder but no demo.json: not a "
                                   "demo-data folder, refusing to write into it")


def _dataset_from(root: Path, manifest: Path, data: dict, elapsed: float,
                  reused: bool) -> DemoDataset:
    files = tuple(
        DemoFile(e["path"], kind, e["language"] if kind == "speech" else e["type"],
                 e["seconds"], {k: v for k, v in e.items()
                                if k not in ("path", "language", "type", "seconds")})
        for kind in ("speech", "noise") for e in data[kind]
    )
    return DemoDataset(root, root / "speech", root / "noise", manifest,
                       tuple(data["languages"]), tuple(data["voices"]),
                       tuple(data["noise_types"]), files, int(data["seed"]),
                       float(data["speech_seconds"]), float(data["noise_seconds"]),
                       elapsed, reused)


_NOT_REVERBERATED = ("white", "pink", "brown", "hum")


def make_demo_dataset(out_dir, *, speech_seconds: float = 180.0, noise_seconds: float = 180.0,
                      languages: Sequence[str] | None = None, seed: int = 0,
                      reverb: float = 0.0, hf_extension: bool = True,
                      noise_types: Sequence[str] | None = None, file_seconds: float = 4.5,
                      progress: bool = True) -> DemoDataset:
    """Synthesise a small speech + noise dataset for training demos, fully offline.

    Writes ``out_dir/speech/<lang>/<lang>_NNN.wav``, ``out_dir/noise/<type>/<type>_NNN.wav``
    (48 kHz mono 16-bit WAV, a few seconds each, written atomically) and
    ``out_dir/demo.json`` describing everything (languages, voices, texts, durations, noise
    parameters, rooms, seed).

    Parameters
    ----------
    out_dir : path-like
        Created if needed. An earlier build there (``demo.json``) is replaced, or reused as
        is when it was made with the same arguments and its files are intact; a folder with
        foreign ``speech/`` or ``noise/`` content is refused.
    speech_seconds, noise_seconds : float
        Total durations; speech is split evenly over the languages, noise over the types.
    languages : sequence of str, optional
        espeak-ng languages (default :data:`DEFAULT_LANGUAGES`, 12). Languages without a
        built-in word list speak Latin-letter pseudo-words. Babble talks in the built-in
        languages not used for speech (all of them when fewer than 3 are left).
    seed : int
        Same seed and arguments, byte-identical files.
    reverb : float
        Probability (0-1) that a speech file, and independently an acoustic noise file
        (babble, clicks, fan), is rendered in a random shoebox room (RT60 0.2-0.8 s). The
        reverberant speech *is* the clean target: RNNoise v0.1 training mixes independent
        speech and noise files and learns to keep whatever the speech files hold, so this
        teaches it to keep room sound rather than to dereverberate (see docs/demo-data.md).
    hf_extension : bool
        Give speech (and babble) synthetic speech-correlated content above 9.5 kHz, so that
        a model trained on it does not learn to erase RNNoise's top bands.
    noise_types : sequence of str, optional
        Subset of :data:`NOISE_TYPES` (default: all).
    file_seconds : float
        Approximate length of each file.
    progress : bool
        Show a progress bar on a terminal.

    Returns
    -------
    DemoDataset

    Raises
    ------
    InputError
        Bad arguments, a language espeak-ng does not have, or a foreign output folder.
    """
    t0 = time.perf_counter()
    root = Path(out_dir)
    manifest = root / "demo.json"
    if speech_seconds < 0 or noise_seconds < 0 or speech_seconds + noise_seconds <= 0:
        raise InputError(None, "speech_seconds and noise_seconds must be >= 0, not both 0")
    if not 0.0 <= reverb <= 1.0:
        raise InputError(None, f"reverb is a probability in [0, 1], got {reverb}")
    if not file_seconds >= 1.0:
        raise InputError(None, f"file_seconds must be at least 1, got {file_seconds}")
    langs = tuple(DEFAULT_LANGUAGES if languages is None else dict.fromkeys(languages))
    if not langs:
        raise InputError(None, "no languages given")
    known = _espeak.available_languages()
    missing = [lang for lang in langs if lang not in known]
    if missing:
        raise InputError(None, f"espeak-ng has no language {', '.join(missing)} (available: "
                               f"{', '.join(sorted(known))})")
    types = tuple(NOISE_TYPES if noise_types is None else dict.fromkeys(noise_types))
    bad = [t for t in types if t not in NOISE_TYPES]
    if bad or not types:
        raise InputError(None, f"unknown noise type(s) {', '.join(bad) or '(none)'} (choose "
                               f"from {', '.join(NOISE_TYPES)})")
    builtin = available_languages()
    babble = [lang for lang in builtin if lang not in langs]
    if len(babble) < 3:
        babble = builtin
    params = _params(speech_seconds, noise_seconds, langs, babble, seed, reverb, hf_extension,
                     types)

    old = _reusable(root, manifest, params)
    if old is not None:
        return _dataset_from(root, manifest, old, 0.0, True)
    _check_folder(root, manifest)

    variants = [None, *available_variants()]
    speech_plan = [(lang, i, secs) for lang in langs
                   for i, secs in enumerate(_split(speech_seconds / len(langs), file_seconds))]
    noise_plan = [(kind, i, secs) for kind in types
                  for i, secs in enumerate(_split(noise_seconds / len(types), file_seconds))]
    speech_entries, noise_entries = [], []
    total = len(speech_plan) + len(noise_plan)
    bar_cm = progress_bar(total, "demo data") if progress else contextlib.nullcontext(_NoBar())
    with bar_cm as bar:
        made: dict[str, float] = {}  # seconds written per language so far
        for lang, i, secs in speech_plan:
            bar.update(info=f"speech {lang}")
            rng = _rng(seed, "speech", lang, i)
            voice = _draw_voice(lang, rng, variants)
            lead_s, tail_s = rng.uniform(0.1, 0.3, size=2)
            # files end at sentence boundaries: carry the language's shortfall forward
            target = max(secs * (i + 1) - made.get(lang, 0.0), 0.5 * secs)
            native, sr, texts = _talk(voice, target - lead_s - tail_s, rng, pause=(0.2, 0.6),
                                      exact=True)
            x = _to_48k(native, sr)
            if hf_extension:
                x = extend_high_band(x, rng)
            lead = np.zeros(int(lead_s * SAMPLE_RATE))
            tail = np.zeros(int(tail_s * SAMPLE_RATE))
            x = np.concatenate([lead, x, tail])
            room = None
            if reverb > 0 and rng.random() < reverb:
                x, room = reverberate(x, rng)
            x = _normalize_active(x, float(rng.uniform(-30.0, -20.0)))
            made[lang] = made.get(lang, 0.0) + x.size / SAMPLE_RATE
            rel = f"speech/{lang}/{lang}_{i:03d}.wav"
            write_audio(root / rel, x.astype(np.float32), SAMPLE_RATE, "PCM_16")
            speech_entries.append({
                "path": rel, "language": lang, "voice": voice.name, "rate": voice.rate,
                "pitch": voice.pitch, "range": voice.pitch_range,
                "seconds": round(x.size / SAMPLE_RATE, 3), "room": room,
                "bytes": (root / rel).stat().st_size, "text": " ".join(texts),
            })
            bar.advance()
        for kind, i, secs in noise_plan:
            bar.update(info=f"noise {kind}")
            rng = _rng(seed, "noise-file", kind, i)
            info: dict = {}
            y = make_noise(kind, secs, int(rng.integers(1 << 62)), languages=babble,
                           hf_extension=hf_extension, info=info).astype(np.float64)
            room = None
            if reverb > 0 and kind not in _NOT_REVERBERATED and rng.random() < reverb:
                y, room = reverberate(y, rng)
                p = float(np.max(np.abs(y)))
                if p > 0.95:
                    y *= 0.95 / p
            rel = f"noise/{kind}/{kind}_{i:03d}.wav"
            write_audio(root / rel, y.astype(np.float32), SAMPLE_RATE, "PCM_16")
            noise_entries.append({"path": rel, "type": kind,
                                  "seconds": round(y.size / SAMPLE_RATE, 3), "room": room,
                                  "bytes": (root / rel).stat().st_size, **info})
            bar.advance()

    data = {
        "format": "rnnoise-kit demo data",
        "version": MANIFEST_VERSION,
        "params": params,
        "seed": int(seed),
        "sample_rate": SAMPLE_RATE,
        "languages": list(langs),
        "babble_languages": list(babble),
        "voices": sorted({e["voice"] for e in speech_entries}),
        "noise_types": list(types),
        "hf_extension": bool(hf_extension),
        "reverb": float(reverb),
        "speech_seconds": round(sum(e["seconds"] for e in speech_entries), 3),
        "noise_seconds": round(sum(e["seconds"] for e in noise_entries), 3),
        "speech": speech_entries,
        "noise": noise_entries,
        "generator": _generator_info(),
    }
    _remove_stale(root, manifest, {e["path"] for e in speech_entries + noise_entries})
    atomic_write_text(manifest, json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    return _dataset_from(root, manifest, data, time.perf_counter() - t0, False)


class _NoBar:
    def advance(self, n: float = 1) -> None:
        pass

    def update(self, **fields) -> None:
        pass


def _generator_info() -> dict:
    from importlib import metadata

    out: dict = {"espeak_rates": sorted(_native_rates)}
    for pkg in ("espeakng-loader", "pyroomacoustics", "soxr"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out
