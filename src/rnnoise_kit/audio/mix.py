"""``rnnoise-kit mix``: synthesize noisy/clean test sets, like the DNS Challenge synthesizer.

For each item, a random clip of speech and one of noise, ``seconds`` long, are drawn: a
random file is chosen and, for the first piece, a random start in it; while the clip is
short, further random files (the same one again, looping, when there is only one) are
appended from their start. Clips are mono, 48 kHz, float in [-1, 1].

Levels and SNR (the *documented rule*, :func:`active_power`):

* the speech clip is cut into 20 ms frames (960 samples); a frame is *active* when its
  mean square is within 40 dB of the loudest frame's (and not zero); the speech power is
  the mean square over the active frames;
* the noise power is the mean square of the whole noise clip;
* ``snr = 10 log10(speech power / noise power)``, measured on the written files;
* ``level`` is the speech power in dBFS, ``10 log10(speech power)`` with full scale = 1.0
  (so a full-scale square wave is 0 dBFS, a full-scale sine -3 dBFS);
* the clean clip is scaled to the drawn level, the noise to the drawn SNR; if a peak of the
  clean, noise or noisy signal would exceed 0.99, the three are scaled down together (the
  SNR is kept, the level written to ``mix.csv`` is the one measured after that).

Clean and noise are rounded to int16 and the noisy file is their exact sum, so
``noisy == clean + noise`` holds sample by sample in the written files.

Reverberation (``reverb``; off by default, and then nothing above changes): a share of the
triplets (``reverb_share``, default all) convolve their speech clip with a room impulse
response, the user's (``rir``: a folder of audio files or a list of raw float32 files,
:func:`rnnoise_kit.audio.rir.load_rirs`, one drawn per triplet) or a room generated for the
triplet (:func:`rnnoise_kit.audio.rir.seeded_room`: a shoebox room with RT60 0.2-0.8 s, other
rooms than the training generator's for the same seed). Each response is aligned and scaled
by :func:`rnnoise_kit.audio.rir.prepare_response` (direct path 1 ms in, early part of unit
energy). Then

* the **clean** file is the speech convolved with the response's early part only
  (:func:`rnnoise_kit.audio.rir.early_response`: direct path and the first 10 ms of
  reflections), the target the training generator teaches, so scores judge what the model is
  asked to do;
* the **noisy** file is the speech convolved with the full response, plus the noise (dry):
  ``noisy == reverberant speech + noise`` exactly, so ``noisy - noise`` is the reverberant
  speech;
* level and SNR are set and measured on the clean (early) speech as above; the reverberant
  speech gets the same gain;
* the convolutions start from silence (no reverberation from before the clip) and are cut to
  the clip's length (the tail after it is dropped).

The draws of clips, levels and SNRs come from the seed as without reverberation (the
responses have generators of their own), so a reverberant set and a dry set of the same seed
and sources hold the same speech and noise at the same targets. ``mix.csv`` then has two more
columns: ``response`` (the user's file, or ``room_NNNN (WxDxH m, D m)``: the generated room,
its size and the talker's distance; empty for a dry triplet) and ``rt60_s`` (the generated
room's design RT60; empty when unknown).

Outputs: ``DIR/clean/``, ``DIR/noise/``, ``DIR/noisy/`` with the same names
(``mix_0001.wav``, ...; 48 kHz mono s16 WAV) and ``DIR/mix.csv``. ``DIR`` must be empty or
absent (nothing is overwritten). The same seed and sources give the same files.
"""

from __future__ import annotations

import csv
import io
import os
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from rnnoise_kit.audio.io import INT16_SCALE, SAMPLE_RATE, read_mono_48k, round_to_int
from rnnoise_kit.audio.rir import early_response, load_rirs, prepare_response, seeded_room
from rnnoise_kit.audio.scan import SkippedFile, scan_audio
from rnnoise_kit.capacity import check_disk, check_memory
from rnnoise_kit.errors import InputError, OutputError, SettingError
from rnnoise_kit.fileio import atomic_tree, write_problem
from rnnoise_kit.progress import progress_bar

FRAME = 960
"""Frame length of the activity rule: 20 ms at 48 kHz."""
ACTIVITY_RANGE_DB = 40.0
"""Frames more than this far below the loudest frame are inactive."""
PEAK_LIMIT = 0.99
"""No written signal peaks above this (linear, full scale 1.0)."""
MIN_SECONDS = FRAME / SAMPLE_RATE
"""Shortest clip: one activity frame."""
MEMORY_PER_SAMPLE = 64
"""Bytes of memory one sample of a clip costs while its triplet is made (measured: about
61, the clips, their scaled copies, the int16 and int32 versions and the measurements)."""
REVERB_MEMORY_PER_SAMPLE = 48
"""Bytes one sample of a clip costs on top of :data:`MEMORY_PER_SAMPLE` when its speech is
convolved (measured on a 30 s clip: about 41, the FFT buffers of the convolutions and the
reverberant copy)."""
WAV_HEADER = 44
REVERB_KEY = 0xFFFFFFFD
"""Spawn key of the generator that draws which triplets reverberate and with which of the
user's responses (``SeedSequence(seed, spawn_key=(REVERB_KEY,))``)."""
ROOM_KEY = 0xFFFFFFFE
"""First spawn key of the generated rooms: triplet ``i`` (0-based) has room
``seeded_room(seed, (ROOM_KEY, i))`` (the training generator's rooms use another key)."""


def active_power(speech: np.ndarray, frame: int = FRAME,
                 range_db: float = ACTIVITY_RANGE_DB) -> float:
    """Mean square of ``speech`` over its active frames (the module's rule).

    Parameters
    ----------
    speech : np.ndarray, shape (n,)
        Any scale; the result is in that scale squared.
    frame : int
        Frame length in samples (a shorter last frame counts as a frame).
    range_db : float
        Frames whose mean square is more than this below the loudest frame's are inactive.

    Returns
    -------
    float
        0.0 for silence.
    """
    x = np.asarray(speech, dtype=np.float64)
    if x.size == 0:
        return 0.0
    n_frames = -(-x.size // frame)
    padded = np.zeros(n_frames * frame)
    padded[: x.size] = x
    sq = padded.reshape(n_frames, frame) ** 2
    lengths = np.full(n_frames, frame, dtype=np.float64)
    lengths[-1] = x.size - (n_frames - 1) * frame
    energy = sq.sum(axis=1) / lengths
    peak = energy.max()
    if peak <= 0:
        return 0.0
    active = (energy > 0) & (energy >= peak * 10 ** (-range_db / 10))
    return float(sq[active].sum() / lengths[active].sum())


def measure_snr(clean: np.ndarray, noise: np.ndarray) -> float:
    """SNR in dB by the module's rule: active speech power over whole-clip noise power."""
    p_noise = float(np.mean(np.asarray(noise, dtype=np.float64) ** 2))
    p_speech = active_power(clean)
    if p_noise <= 0:
        return float("inf")
    if p_speech <= 0:
        return float("-inf")
    return 10 * np.log10(p_speech / p_noise)


def measure_level(clean: np.ndarray) -> float:
    """Active speech level in dBFS (full scale 1.0) by the module's rule."""
    p = active_power(clean)
    return 10 * np.log10(p) if p > 0 else float("-inf")


@dataclass(frozen=True)
class Piece:
    """A part of a source file used in a clip."""

    path: Path
    start: float
    """Seconds into the source (48 kHz)."""
    duration: float

    def __str__(self) -> str:
        return f"{self.path}@{self.start:.3f}+{self.duration:.3f}"


@dataclass(frozen=True)
class MixItem:
    """One written triplet."""

    name: str
    snr: float
    """Measured on the written files, dB."""
    level: float
    """Active speech level of the written clean file, dBFS."""
    target_snr: float
    target_level: float
    gain: float
    """Scaling applied to avoid clipping, dB (0 when none)."""
    speech: tuple[Piece, ...]
    noise: tuple[Piece, ...]
    response: str = ""
    """The impulse response the speech was convolved with ("" when dry)."""
    rt60: float | None = None
    """RT60 of that response in seconds, when known."""


@dataclass
class MixReport:
    """What :func:`mix` wrote."""

    output: Path
    items: list[MixItem] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    csv_path: Path | None = None


class _Pool:
    """The usable files of one kind, read on demand (a few kept in memory)."""

    def __init__(self, kind: str, files: list[Path], skipped: list[SkippedFile], keep: int = 8):
        self.kind, self.files, self.skipped = kind, list(files), skipped
        self._cache: OrderedDict[Path, np.ndarray] = OrderedDict()
        self._keep = keep

    def _load(self, path: Path) -> np.ndarray | None:
        if path in self._cache:
            self._cache.move_to_end(path)
            return self._cache[path]
        try:
            audio = read_mono_48k(path).astype(np.float64) / INT16_SCALE
            if audio.size == 0:
                raise InputError(path, "contains no samples")
        except InputError as exc:
            self.skipped.append(SkippedFile(path, exc.problem))
            self.files.remove(path)
            return None
        self._cache[path] = audio
        if len(self._cache) > self._keep:
            self._cache.popitem(last=False)
        return audio

    def draw(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, tuple[Piece, ...]]:
        """A clip of ``n`` samples and the pieces it is made of."""
        out = np.empty(n)
        pieces: list[Piece] = []
        have = 0
        while have < n:
            if not self.files:
                raise InputError(None, f"no usable {self.kind} files left"
                                       + _dropped(self.skipped))
            path = self.files[int(rng.integers(len(self.files)))]
            audio = self._load(path)
            if audio is None:
                continue
            start = 0
            if have == 0 and audio.size > n:
                start = int(rng.integers(audio.size - n + 1))
            take = min(n - have, audio.size - start)
            out[have: have + take] = audio[start: start + take]
            pieces.append(Piece(path, start / SAMPLE_RATE, take / SAMPLE_RATE))
            have += take
        return out, tuple(pieces)


def _dropped(skipped: list[SkippedFile]) -> str:
    """The files left out, for an error that would otherwise hide them (one line)."""
    if not skipped:
        return ""
    more = f" and {len(skipped) - 1} more" if len(skipped) > 1 else ""
    return f" (left out: {skipped[0]}{more})"


def parse_range(value: str | Sequence[float] | float, what: str) -> tuple[float, float]:
    """``"LO:HI"``, ``(lo, hi)`` or one number as a (lo, hi) pair of finite dB values.

    Raises
    ------
    SettingError
        Not two finite numbers with LO <= HI (``what`` names the setting).
    """
    if isinstance(value, str):
        parts = value.split(":")
        try:
            nums = [float(p) for p in parts]
        except ValueError:
            raise SettingError(what, f"must be LO:HI in dB (got {value!r})") from None
    elif isinstance(value, (int, float)):
        nums = [float(value)]
    else:
        nums = [float(v) for v in value]
    if len(nums) == 1:
        nums = nums * 2
    if len(nums) != 2 or not all(np.isfinite(nums)) or nums[0] > nums[1]:
        raise SettingError(what, f"must be LO:HI with LO <= HI (got {value!r})")
    return nums[0], nums[1]


def check_mix_room(output: str | os.PathLike, count: int, seconds: float,
                   reverb: bool = False) -> None:
    """Refuse (InputError, with the size) a test set that memory or the disk cannot hold.

    Each triplet is made in memory (:data:`MEMORY_PER_SAMPLE` per sample, and
    :data:`REVERB_MEMORY_PER_SAMPLE` more with ``reverb``) and written as three 16-bit WAV
    files.
    """
    n = int(round(seconds * SAMPLE_RATE))
    per_sample = MEMORY_PER_SAMPLE + (REVERB_MEMORY_PER_SAMPLE if reverb else 0)
    check_memory(n * per_sample, f"a {seconds:g} s clip")
    check_disk(output, int(count) * 3 * (2 * n + WAV_HEADER),
               f"{count} triplet(s) of {seconds:g} s (16-bit WAV)")


def mix(
    speech: Sequence[str | os.PathLike],
    noise: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    count: int,
    seconds: float = 10.0,
    snr: str | Sequence[float] = (0.0, 20.0),
    level: str | Sequence[float] = (-35.0, -15.0),
    seed: int = 0,
    reverb: bool = False,
    rir: str | os.PathLike | None = None,
    reverb_share: float = 1.0,
) -> MixReport:
    """Write ``count`` clean/noise/noisy triplets of ``seconds`` each.

    Parameters
    ----------
    speech, noise : sequence of path-like
        Audio files and folders (scanned recursively).
    output : path-like
        Folder to create (must be empty or absent).
    count : int
        Number of triplets.
    seconds : float
        Length of each.
    snr, level : "LO:HI" or (lo, hi)
        Uniform ranges for the SNR (dB) and the active speech level (dBFS).
    seed : int
        Seed of every random draw.
    reverb : bool
        Convolve the speech of ``reverb_share`` of the triplets with a room impulse response
        (module docstring): the noisy file gets the full response, the clean file its early
        part, and the level and SNR are those of the clean (early) speech.
    rir : path-like, optional
        With ``reverb``: the user's responses (folder of audio files or list of raw float32
        files, :func:`rnnoise_kit.audio.rir.load_rirs`); default: a generated room per triplet.
    reverb_share : float
        With ``reverb``: the probability that a triplet reverberates, in [0, 1] (default 1).

    Returns
    -------
    MixReport

    Raises
    ------
    InputError
        Bad arguments, a missing source, no usable speech or noise, a non-empty output, or
        clips larger than the memory or the disk can hold (checked before any work); an
        unreadable response.
    """
    snr_lo, snr_hi = parse_range(snr, "snr")
    lvl_lo, lvl_hi = parse_range(level, "level")
    if count < 1:
        raise SettingError("count", f"must be at least 1 (got {count})")
    n = int(round(seconds * SAMPLE_RATE)) if np.isfinite(seconds) else 0
    if n < FRAME:
        raise SettingError("seconds", f"must be at least {MIN_SECONDS} (got {seconds})")
    if lvl_hi >= 0:
        raise SettingError("level", f"must be below 0 dBFS (got {lvl_lo:g}:{lvl_hi:g})")
    if not reverb and rir is not None:
        raise SettingError("rir", "is used only with reverb")
    if not reverb and reverb_share != 1.0:
        raise SettingError("reverb_share", "is used only with reverb")
    if not 0.0 <= reverb_share <= 1.0:  # also refuses NaN
        raise SettingError("reverb_share", f"must be in [0, 1] (got {reverb_share})")
    output = Path(output)
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise InputError(output, "exists and is not an empty folder; choose a new one")
    check_mix_room(output, count, seconds, reverb)

    report = MixReport(output)
    responses = _Responses(rir, seed, reverb_share, report.skipped) if reverb else None
    pools = []
    for kind, sources in (("speech", speech), ("noise", noise)):
        if not sources:
            raise InputError(None, f"no {kind} sources given")
        files, skipped = scan_audio(sources)
        report.skipped.extend(skipped)
        if not files:
            raise InputError(None, f"no usable {kind} files in "
                             + ", ".join(str(s) for s in sources) + _dropped(skipped))
        pools.append(_Pool(kind, files, report.skipped))
    speech_pool, noise_pool = pools

    rng = np.random.default_rng(seed)
    width = max(4, len(str(count)))
    # all or nothing: the set is made in a staging folder beside the output and moved in last
    with atomic_tree(output) as stage, progress_bar(count, "mix") as bar:
        for i in range(1, count + 1):
            response = responses.draw(i - 1) if responses is not None else None
            item, signals = _make_item(rng, speech_pool, noise_pool, n, f"mix_{i:0{width}d}",
                                       (snr_lo, snr_hi), (lvl_lo, lvl_hi), response)
            for kind, pcm in signals.items():
                dest = stage / kind / f"{item.name}.wav"
                dest.parent.mkdir(exist_ok=True)
                try:
                    sf.write(str(dest), pcm, SAMPLE_RATE, subtype="PCM_16", format="WAV")
                except sf.LibsndfileError as exc:  # no errno: a full disk reads "System error"
                    raise OutputError(output, write_problem(exc, output)) from exc
            report.items.append(item)
            bar.advance(1)
        (stage / "mix.csv").write_text(_csv_text(report.items, reverb), encoding="utf-8")
    report.csv_path = output / "mix.csv"
    return report


@dataclass(frozen=True)
class _Response:
    """The impulse response of one triplet."""

    rir: np.ndarray
    """Prepared (:func:`rnnoise_kit.audio.rir.prepare_response`), float32."""
    name: str
    rt60: float | None


class _Responses:
    """Which triplets reverberate, and with which response (module docstring)."""

    def __init__(self, rir: str | os.PathLike | None, seed: int, share: float,
                 skipped: list[SkippedFile]) -> None:
        self.seed, self.share = int(seed), float(share)
        self.rng = np.random.Generator(np.random.PCG64(
            np.random.SeedSequence(self.seed, spawn_key=(REVERB_KEY,))))
        self.user: list[_Response] = []
        if rir is not None:
            rirs, paths, dropped = load_rirs(rir)
            skipped.extend(dropped)
            self.user = [_Response(prepare_response(r), str(p), None)
                         for r, p in zip(rirs, paths, strict=True)]

    def draw(self, index: int) -> _Response | None:
        """The response of triplet ``index`` (0-based), None when it stays dry."""
        reverberates = self.rng.random() < self.share
        pick = int(self.rng.integers(len(self.user))) if self.user else index
        if not reverberates:
            return None
        if self.user:
            return self.user[pick]
        rir, info = seeded_room(self.seed, (ROOM_KEY, index))
        size = "x".join(f"{d:.2f}" for d in info["room"])
        return _Response(rir, f"room_{index + 1:04d} ({size} m, {info['distance']:.2f} m)",
                         float(info["rt60"]))


def _convolve(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """The first ``x.size`` samples of ``x * h`` (float64)."""
    from scipy.signal import fftconvolve  # only reverberant sets pay for importing it

    return fftconvolve(x, np.asarray(h, dtype=np.float64))[: x.size]


def _make_item(rng, speech_pool: _Pool, noise_pool: _Pool, n: int, name: str,
               snr_range: tuple[float, float], level_range: tuple[float, float],
               response: _Response | None = None,
               tries: int = 20) -> tuple[MixItem, dict[str, np.ndarray]]:
    silent: set[Path] = set()
    for _ in range(tries):
        clean, s_pieces = speech_pool.draw(rng, n)
        noise, n_pieces = noise_pool.draw(rng, n)
        target_snr = float(rng.uniform(*snr_range))
        target_level = float(rng.uniform(*level_range))
        reverberant = None
        if response is not None:  # the clean target keeps the early reflections only
            reverberant = _convolve(clean, response.rir)
            clean = _convolve(clean, early_response(response.rir))
        p_speech, p_noise = active_power(clean), float(np.mean(noise**2))
        if p_speech <= 0 or p_noise <= 0:  # a silent clip: draw again
            silent.update(p.path for p in (s_pieces if p_speech <= 0 else n_pieces))
            continue
        scale = np.sqrt(10 ** (target_level / 10) / p_speech)
        clean = clean * scale
        reverberant = clean if reverberant is None else reverberant * scale
        p_speech = 10 ** (target_level / 10)
        noise = noise * np.sqrt(p_speech / 10 ** (target_snr / 10) / p_noise)
        peak = max(np.abs(clean).max(), np.abs(noise).max(), np.abs(reverberant + noise).max())
        gain = min(1.0, PEAK_LIMIT / peak)
        # int32, so that noisy = speech + noise exactly (the peak limit keeps all in int16)
        clean_q = round_to_int(clean * gain * INT16_SCALE, np.int32)
        noise_q = round_to_int(noise * gain * INT16_SCALE, np.int32)
        speech_q = (clean_q if response is None else
                    round_to_int(reverberant * gain * INT16_SCALE, np.int32))
        noisy_q = speech_q + noise_q
        if not (np.any(clean_q) and np.any(noise_q)):
            continue  # too quiet to survive int16
        item = MixItem(
            name=name,
            snr=float(measure_snr(clean_q, noise_q)),
            level=float(measure_level(clean_q / INT16_SCALE)),
            target_snr=target_snr,
            target_level=target_level,
            gain=float(20 * np.log10(gain)),
            speech=s_pieces,
            noise=n_pieces,
            response="" if response is None else response.name,
            rt60=None if response is None else response.rt60,
        )
        signals = {k: v.astype(np.int16) for k, v in
                   (("clean", clean_q), ("noise", noise_q), ("noisy", noisy_q))}
        return item, signals
    names = ", ".join(str(p) for p in sorted(silent)[:3]) + (", ..." if len(silent) > 3 else "")
    raise InputError(None, f"{name}: drew only silent speech or noise clips in {tries} tries "
                           f"(silent: {names})")


def _csv_text(items: list[MixItem], reverb: bool = False) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["file", "snr_db", "level_dbfs", "target_snr_db", "target_level_dbfs",
                "clip_gain_db", "speech_sources", "noise_sources"]
               + (["response", "rt60_s"] if reverb else []))
    for it in items:
        w.writerow([f"{it.name}.wav", f"{it.snr:.3f}", f"{it.level:.3f}",
                    f"{it.target_snr:.3f}", f"{it.target_level:.3f}", f"{it.gain:.3f}",
                    ";".join(str(p) for p in it.speech), ";".join(str(p) for p in it.noise)]
                   + ([it.response, "" if it.rt60 is None else f"{it.rt60:.3f}"]
                      if reverb else []))
    return buf.getvalue()
