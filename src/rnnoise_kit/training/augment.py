"""Data augmentation for the default mode of the v0.1 training-matrix generator.

Each step is a switch of :class:`Augmentation`, drawn per segment (2822 rows) from its own
seeded generator (``SeedSequence(seed, spawn_key=(shard, step))``), so turning one step off
leaves the draws of every other step, and of the v0.1 parameters, unchanged. With every step
off the default mode writes the rows it wrote before augmentation existed. ``--compat`` never
augments.

Steps (``docs/training.md``, section "Augmentation"):

``reverb``
    Half of the segments convolve the speech with a room impulse response: the user's
    (``rir``) or one of :data:`ROOM_COUNT` shoebox rooms from the seed (:class:`RoomBank`).
    The noisy input gets the full response, the clean target only its early part
    (:func:`rnnoise_kit.audio.rir.early_response`: direct path and the first 10 ms of
    reflections, faded out over 5 ms). The noise stays dry.
``filters``
    The random second-order colouring of speech and noise is RNNoise 0.2's pole/zero draw
    (spec ``rnnoise-v0.2.md`` section 11 step 5: tilt and resonances, all roots inside radius
    0.7) instead of v0.1's four uniform coefficients in +-0.375.
``gains``
    Continuous levels over a wide range: speech -45...+20 dB, noise -30...+25 dB relative to
    the speech, both noises x 0.03 on 1 segment in 12 (v0.1: integer dB, -40...+19 and
    -30...+19). v0.1's silent-speech and noise-free segments (1 in 10 each) are kept.
``clipping``
    The noisy input is clamped to +-32767 on 1 segment in 4 and rounded to integers (16-bit
    quantisation) on 1 in 2 (0.2's steps 13 and 14); the target is untouched.
``band-limit``
    Each speech file's effective bandwidth (:func:`rnnoise_kit.audio.bandwidth.effective_bandwidth`,
    per region of at most :data:`BANDWIDTH_REGION` samples) marks the target gains of the
    bands above it -1 ("no target") on the frames whose VAD target is not 0 (where there is
    no speech, every band is still taught to remove the noise).
noise offset
    ``noise_offset_db`` shifts every segment's noise level (after the draws above, whichever
    are on): -20 makes every SNR 20 dB higher. The ``gains`` range is relative to the sources'
    own levels, so a noise source louder than the speech source moves every SNR down; the
    offset moves it back, or trains a model for cleaner (or noisier) input than the sources
    give.
foreground noise
    With a ``foreground`` source, half of the segments get transients: excerpts of 50 ms to
    1.5 s of that source at random times (one every 2 s on average), each high-passed,
    coloured, faded in and out over 5 ms, at -20...+20 dB relative to the speech.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import scipy.fft

from rnnoise_kit.audio.bandwidth import effective_bandwidth
from rnnoise_kit.audio.rir import (
    MAX_RIR_SAMPLES,
    early_response,
    load_rirs,
    prepare_response,
    seeded_room,
)
from rnnoise_kit.dsp.biquad import A_HP, B_HP, biquad
from rnnoise_kit.dsp.constants import EDGE, FRAME_SIZE, NB_BANDS
from rnnoise_kit.errors import SettingError

f32 = np.float32

STEPS = ("reverb", "filters", "gains", "clipping", "band-limit")
"""The switchable steps, in the order of their generators' spawn keys (1, 2, ...)."""
_FOREGROUND_KEY = len(STEPS) + 1

ROOM_COUNT = 24
"""Shoebox rooms generated per run when no responses are given."""
ROOM_BANK_KEY = 0xFFFFFFFF
"""Spawn key of the rooms' generator (``SeedSequence(seed, spawn_key=(ROOM_BANK_KEY,))``);
shards use their index, which never gets there."""
REVERB_PROBABILITY = 0.5
FOREGROUND_PROBABILITY = 0.5
CLIP_PROBABILITY = 0.25
QUANTISE_PROBABILITY = 0.5
LOW_NOISE_PROBABILITY = 1 / 12
LOW_NOISE_GAIN = 0.03
FOREGROUND_RATE = 0.5
"""Foreground events per second, on average (Poisson)."""
FOREGROUND_SECONDS = (0.05, 1.5)
"""Shortest and longest foreground event (log-uniform)."""
FADE_SAMPLES = 240
"""Fade in and out of a foreground event (5 ms)."""
CONV_FFT = 131072
"""FFT size of the overlap-save convolution (98,305 new samples per transform)."""
MAX_NOISE_OFFSET_DB = 60.0
"""The largest noise offset either way."""
BANDWIDTH_REGION = 30 * 48000
"""Samples of a speech file whose bandwidth is measured as one (longer files: per region)."""


# ----------------------------------------------------------------------------- settings


def noise_offset_problem(value: float) -> str | None:
    """What a noise offset must be (completing "must be ..."), or None when ``value`` is one."""
    v = float(value)
    if math.isfinite(v) and abs(v) <= MAX_NOISE_OFFSET_DB:
        return None
    return f"within +-{MAX_NOISE_OFFSET_DB:g} dB"


@dataclass(frozen=True)
class Augmentation:
    """Which augmentation steps the default mode applies, and their sources.

    Parameters
    ----------
    reverb, filters, gains, clipping, band_limit : bool
        The steps (module docstring).
    rir : path-like, optional
        Room impulse responses (folder of audio files or list of raw float32 files, see
        :func:`rnnoise_kit.audio.rir.load_rirs`); default: generated rooms.
    foreground : path-like, optional
        Foreground (transient) noise source, as the speech and noise sources; default: none.
    noise_offset_db : float
        Shift of every segment's noise level, in dB within +-:data:`MAX_NOISE_OFFSET_DB`
        (module docstring); default 0.
    """

    reverb: bool = True
    filters: bool = True
    gains: bool = True
    clipping: bool = True
    band_limit: bool = True
    rir: str | None = None
    foreground: str | None = None
    noise_offset_db: float = 0.0

    def __post_init__(self) -> None:
        problem = noise_offset_problem(self.noise_offset_db)
        if problem is not None:
            raise SettingError("noise_offset", f"must be {problem}, not {self.noise_offset_db}")

    @classmethod
    def from_steps(cls, steps: str | list[str], *, rir: str | os.PathLike | None = None,
                   foreground: str | os.PathLike | None = None,
                   noise_offset_db: float = 0.0) -> Augmentation:
        """From a comma-separated list of :data:`STEPS` (or ``"all"``, ``"none"``)."""
        names = [s.strip() for s in steps.split(",")] if isinstance(steps, str) else list(steps)
        names = [s for s in names if s]
        if names == ["all"]:
            names = list(STEPS)
        elif names == ["none"]:
            names = []
        unknown = [s for s in names if s not in STEPS]
        if unknown:
            raise SettingError("augment", f"has unknown step {unknown[0]!r} (steps: "
                                          f"{', '.join(STEPS)}, or all, or none)")
        on = {s.replace("-", "_"): (s in names) for s in STEPS}
        return cls(**on, rir=None if rir is None else str(rir),
                   foreground=None if foreground is None else str(foreground),
                   noise_offset_db=float(noise_offset_db))

    @property
    def steps(self) -> list[str]:
        """The steps switched on, in :data:`STEPS` order."""
        return [s for s in STEPS if getattr(self, s.replace("-", "_"))]

    @property
    def active(self) -> bool:
        """Whether anything is applied at all."""
        return bool(self.steps) or self.foreground is not None or self.noise_offset_db != 0


NO_AUGMENTATION = Augmentation(False, False, False, False, False)
"""Every step off: the default mode as before augmentation."""


# ----------------------------------------------------------------------------- responses


def response_bank(aug: Augmentation, seed: int) -> tuple[RoomBank | list[np.ndarray], dict]:
    """The responses of a run and their description for the matrix attributes.

    The user's (``aug.rir``, read now), or a :class:`RoomBank` of :data:`ROOM_COUNT` rooms
    from ``seed``.
    """
    if aug.rir is not None:
        rirs, paths, _ = load_rirs(aug.rir)
        return [prepare_response(r) for r in rirs], {"rir": str(aug.rir), "rir_count": len(rirs)}
    return RoomBank(int(seed)), {"rir": f"{ROOM_COUNT} generated shoebox rooms (RT60 0.2-0.8 s)",
                                 "rir_count": ROOM_COUNT}


_ROOMS: dict[tuple[int, int], np.ndarray] = {}
"""Rooms made by this process, by (seed, index): the image method takes tens of milliseconds a
room (the 24 of seed 0: 1.5 s here), so each is made once, when a segment first draws it (a
short run makes only those); the worker threads of a ``local:N`` cluster share them."""


class RoomBank:
    """:data:`ROOM_COUNT` shoebox rooms (:func:`rnnoise_kit.audio.rir.room_impulse_response`);
    room ``k`` depends on the seed and ``k`` only: ``SeedSequence(seed, spawn_key=
    (ROOM_BANK_KEY, k))``. Indexable like a list; each room is made when first used."""

    def __init__(self, seed: int, count: int | None = None) -> None:
        self.seed = int(seed)
        self.count = ROOM_COUNT if count is None else int(count)

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, k: int) -> np.ndarray:
        if not 0 <= k < self.count:
            raise IndexError(k)
        key = (self.seed, int(k))
        if key not in _ROOMS:
            _ROOMS[key] = seeded_room(self.seed, (ROOM_BANK_KEY, int(k)))[0]
        return _ROOMS[key]


class Reverb:
    """Overlap-save convolution of one stream with a response of the bank, giving the full
    (reverberant input) and the early (target) convolution at once.

    The dry input of earlier calls is kept (:data:`MAX_RIR_SAMPLES` - 1 samples), so a stream
    cut into blocks gives the same output as a whole up to rounding (the transforms start at
    each call, so the bits depend on the cut), and a new response starts from the stream's
    history (a segment that changes room does not start from silence).
    """

    def __init__(self, bank: RoomBank | list[np.ndarray]) -> None:
        self.bank = bank
        self.history = np.zeros(MAX_RIR_SAMPLES - 1, np.float32)
        self._spectra: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def _spectrum(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if index not in self._spectra:
            rir = self.bank[index]
            self._spectra[index] = (scipy.fft.rfft(rir, CONV_FFT),
                                    scipy.fft.rfft(early_response(rir), CONV_FFT))
        return self._spectra[index]

    def process(self, x: np.ndarray, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Full and early convolution of ``x`` (m,) float32 with response ``index``
        (``-1``: none, both are ``x``).

        The hops of a call start at its first sample, every ``CONV_FFT - MAX_RIR_SAMPLES + 1``
        samples. All of them go through one batched forward transform and the full and early
        products through one batched inverse: pocketfft then runs several rows at once in
        SIMD lanes (about twice as fast as one call per hop) with the same bits per row.
        """
        lead = self.history.size
        history = self.history
        self.history = np.concatenate([history, x[max(x.size - lead, 0):]])[-lead:]
        if index < 0:
            return x, x
        full_h, early_h = self._spectrum(index)
        hop = CONV_FFT - lead
        hops = -(-x.size // hop)
        # hop i reads (history ++ x)[i hop : i hop + CONV_FFT], zero-padded past its end
        padded = np.empty((hops - 1) * hop + CONV_FFT, np.float32)
        padded[:lead] = history
        padded[lead:lead + x.size] = x
        padded[lead + x.size:] = 0
        windows = np.lib.stride_tricks.as_strided(
            padded, (hops, CONV_FFT), (hop * padded.itemsize, padded.itemsize), writeable=False)
        spec = scipy.fft.rfft(windows, axis=-1)
        products = np.empty((2, *spec.shape), spec.dtype)
        np.multiply(spec, full_h, out=products[0])
        np.multiply(spec, early_h, out=products[1])
        del spec
        y = scipy.fft.irfft(products, CONV_FFT, axis=-1, overwrite_x=True)[:, :, lead:]
        full = y[0].reshape(-1)[:x.size]
        early = y[1].reshape(-1)[:x.size]
        return full, early


# ----------------------------------------------------------------------------- draws


def pole_zero_filter(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """RNNoise 0.2's random colouring filter (spec ``rnnoise-v0.2.md`` section 11 step 5).

    Poles, then zeros, each: none with probability 2/3, else a complex pair of radius
    ``0.7 U^2`` and angle ``pi U^2`` or two real roots ``1.4 (U - 0.5)`` (one half each).

    Returns
    -------
    a, b : np.ndarray, float32, shape (2,)
        Denominator and numerator of ``(1 + b0 z^-1 + b1 z^-2) / (1 + a0 z^-1 + a1 z^-2)``.
    """

    def roots() -> np.ndarray:
        if rng.integers(3) != 0:
            return np.zeros(2, np.float32)
        if rng.random() - 0.5 > 0:
            r = 0.7 * rng.random() ** 2
            theta = math.pi * rng.random() ** 2
            return np.array([-2 * r * math.cos(theta), r * r], np.float32)
        r0, r1 = 1.4 * (rng.random() - 0.5), 1.4 * (rng.random() - 0.5)
        return np.array([-(r0 + r1), r0 * r1], np.float32)

    a = roots()
    return a, roots()


def _db(value: float) -> float:
    return math.pow(10.0, value / 20.0)


@dataclass
class ForegroundEvent:
    """One transient: ``length`` samples of the foreground source from ``source_pos``, at
    sample ``start`` of the segment, scaled by ``gain``."""

    start: int
    length: int
    source_pos: int
    gain: float


@dataclass
class SegmentAugment:
    """The augmentation draws of one segment."""

    rir: int = -1
    clip: bool = False
    quantise: bool = False
    foreground: list[ForegroundEvent] = field(default_factory=list)
    fg_a: np.ndarray = field(default_factory=lambda: np.zeros(2, np.float32))
    fg_b: np.ndarray = field(default_factory=lambda: np.zeros(2, np.float32))


class Augmenter:
    """The per-shard draws of every step, each from its own generator."""

    def __init__(self, aug: Augmentation, seed: int, shard: int, rir_count: int,
                 foreground_length: int) -> None:
        self.aug = aug
        self.rir_count = rir_count
        self.fg_length = foreground_length
        self.rng = {k: np.random.Generator(np.random.PCG64(
            np.random.SeedSequence(int(seed), spawn_key=(int(shard), i + 1))))
            for i, k in enumerate((*STEPS, "foreground"))}

    def draw(self, p, rows: int):
        """Apply this segment's draws to the v0.1 parameters ``p`` (a
        :class:`~rnnoise_kit.training.generator.SegmentParams`); returns the new ones."""
        a = self.aug
        seg = SegmentAugment()
        speech_level = 1.0
        if a.gains:
            g = self.rng["gains"]
            speech_level = _db(-45 + 45 * g.random() + 20 * g.random())
            noise = _db(-30 + 40 * g.random() + 15 * g.random()) * speech_level
            if g.random() < LOW_NOISE_PROBABILITY:
                noise *= LOW_NOISE_GAIN
            p = replace(p, speech_gain=f32(0) if p.speech_gain == 0 else f32(speech_level),
                        noise_gain=f32(0) if p.noise_gain == 0 else f32(noise))
        else:
            speech_level = float(p.speech_gain) or float(p.noise_gain) or 1.0
        if a.filters:
            r = self.rng["filters"]
            a_n, b_n = pole_zero_filter(r)
            a_s, b_s = pole_zero_filter(r)
            seg.fg_a, seg.fg_b = pole_zero_filter(r)
            p = replace(p, a_noise=a_n, b_noise=b_n, a_sig=a_s, b_sig=b_s)
        if a.reverb:
            r = self.rng["reverb"]
            if r.random() < REVERB_PROBABILITY:
                seg.rir = int(r.integers(self.rir_count))
        if a.clipping:
            r = self.rng["clipping"]
            seg.clip = bool(r.random() < CLIP_PROBABILITY)
            seg.quantise = bool(r.random() < QUANTISE_PROBABILITY)
        if a.foreground is not None:
            seg.foreground = self._events(rows, speech_level)
        if a.noise_offset_db:
            p = replace(p, noise_gain=f32(p.noise_gain * f32(_db(a.noise_offset_db))))
        return replace(p, aug=seg)

    def _events(self, rows: int, speech_level: float) -> list[ForegroundEvent]:
        r = self.rng["foreground"]
        if r.random() >= FOREGROUND_PROBABILITY:
            return []
        total = rows * FRAME_SIZE
        level = -20 + 40 * r.random()
        events = []
        t = r.exponential(48000 / FOREGROUND_RATE)
        lo, hi = (math.log(s * 48000) for s in FOREGROUND_SECONDS)
        while t < total:
            length = min(int(math.exp(lo + (hi - lo) * r.random())), self.fg_length)
            pos = int(r.integers(0, self.fg_length - length + 1))
            gain = _db(level + 12 * (r.random() - 0.5)) * speech_level
            events.append(ForegroundEvent(int(t), length, pos, gain))
            t += length + r.exponential(48000 / FOREGROUND_RATE)
        return events


# ----------------------------------------------------------------------------- rendering


def render_foreground(seg: SegmentAugment, source, samples: int) -> np.ndarray | None:
    """The foreground track of a segment, (samples,) float32, or None when it has none.

    Each event is read from ``source`` (a :class:`~rnnoise_kit.training.sources.Source`),
    scaled, high-passed and coloured (fresh filter states: events are separate sounds) and
    faded in and out.
    """
    if not seg.foreground:
        return None
    out = np.zeros(samples, np.float32)
    for ev in seg.foreground:
        n = min(ev.length, samples - ev.start)
        if n <= 0:
            continue
        x = source.read(ev.source_pos, n).astype(np.float32) * f32(ev.gain)
        x, _ = biquad(x, None, B_HP, A_HP)
        x, _ = biquad(x, None, tuple(seg.fg_b), tuple(seg.fg_a))
        fade = min(FADE_SAMPLES, n // 2)
        if fade:
            ramp = (np.arange(fade, dtype=np.float32) + f32(0.5)) / f32(fade)
            x[:fade] *= ramp
            x[n - fade:] *= ramp[::-1]
        out[ev.start:ev.start + n] += x
    return out


def distort(xn: np.ndarray, seg: SegmentAugment) -> None:
    """Clamp to +-32767 and round, in place, as ``seg`` says (the input only)."""
    if seg.clip:
        np.clip(xn, f32(-32767), f32(32767), out=xn)
    if seg.quantise:
        np.floor(xn + f32(0.5), out=xn)


def band_of_frequency(hz: float | None) -> int:
    """The last band that keeps a target below a band limit of ``hz``: bands above it get -1
    (the rule of v0.1's low-pass: the first band whose centre is above the limit still has one).
    :data:`NB_BANDS` (no band marked) for ``None`` or a limit above every band centre."""
    if hz is None:
        return NB_BANDS
    limit = hz / 50.0  # bins of 50 Hz, the unit of EDGE
    for b in range(NB_BANDS):
        if EDGE[b] > limit:
            return b
    return NB_BANDS


class BandLimits:
    """The band limit of every region of a speech source, measured when first needed."""

    def __init__(self, source) -> None:
        self.source = source
        self._bands: dict[tuple[int, int], int] = {}

    def of_frames(self, starts: np.ndarray) -> np.ndarray:
        """Band limit (int64, (n,)) of the frames starting at source positions ``starts``."""
        src = self.source
        offsets = np.asarray(src.offsets, np.int64)
        files = np.searchsorted(offsets, starts, side="right") - 1
        regions = (starts - offsets[files]) // BANDWIDTH_REGION
        keys = files * (src.length // BANDWIDTH_REGION + 1) + regions
        out = np.empty(starts.size, np.int64)
        for key in np.unique(keys).tolist():
            at = keys == key
            i = int(files[at][0])
            region = int(regions[at][0])
            band = self._bands.get((i, region))
            if band is None:
                a = src.offsets[i] + region * BANDWIDTH_REGION
                n = min(BANDWIDTH_REGION, src.offsets[i + 1] - a)
                band = band_of_frequency(effective_bandwidth(src.read(a, n)))
                self._bands[(i, region)] = band
            out[at] = band
        return out


def describe(aug: Augmentation, bank_info: dict | None) -> dict:
    """The matrix attributes of an augmentation."""
    d: dict = {"augment": ",".join(aug.steps) or "none"}
    if aug.reverb and bank_info:
        d.update({f"augment_{k}": v for k, v in bank_info.items()})
        d["augment_reverb_probability"] = REVERB_PROBABILITY
        d["augment_early_window"] = "0-479 kept, 480-719 faded linearly (RNNoise 0.2)"
    if aug.clipping:
        d["augment_clip_probability"] = CLIP_PROBABILITY
        d["augment_quantise_probability"] = QUANTISE_PROBABILITY
    if aug.band_limit:
        from rnnoise_kit.audio import bandwidth

        d["augment_band_limit_rule"] = (f"long-term spectrum within {bandwidth.DROP_DB:g} dB "
                                        f"of the loudest level below, per file or "
                                        f"{BANDWIDTH_REGION // 48000} s region")
    if aug.noise_offset_db:
        d["augment_noise_offset_db"] = float(aug.noise_offset_db)
    d["augment_foreground"] = str(Path(aug.foreground)) if aug.foreground else "none"
    if aug.foreground:
        d["augment_foreground_probability"] = FOREGROUND_PROBABILITY
    return d
