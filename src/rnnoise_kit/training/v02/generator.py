"""The RNNoise 0.2 training-data generator: HEAD's ``dump_features`` (spec ``rnnoise-v0.2.md``
section 11), the generator behind the shipped 0.2 model.

Each row is 98 float32 (:mod:`rnnoise_kit.training.v02.layout`): the 65 features of a noisy
frame, the 32 target band gains (-1 = ignore) and the 0/1 VAD target. Rows come in sequences
of 2000 frames (20 s); each sequence draws its own augmentation:

1. a 20 s excerpt of speech, background noise and foreground noise each;
2. leading silence (1/4 of sequences, exponential, mean 1000 samples: VAD cleared there);
3. levels: speech -45..+10 dB, each noise -30..+25 dB relative to it; background off 1/8,
   foreground on 1/8, both noises x0.03 1/12;
4. a random pole/zero colouring filter for each of the three signals (each half 1/3 of the time);
5. a band limit (low-pass 3-150 kHz x 481/24000 bins, effective about half the time);
6. a Viterbi VAD on the raw speech energies; speech zeroed outside it (faded at the edges);
7. loudness normalisation by a weighted rms; mixing;
8. reverberation (1/2 when responses are given): the mixture through the full response, the
   target speech through its first 10-15 ms only (direct path and early reflections);
9. input clipping to +-32767 (1/4) and rounding to integers (1/2);
10. the TRAINING analysis: features of the mixture, band energies of the target, gains.

Two modes
---------
``compat``
    glibc ``rand()`` seeded with ``seed`` (C's ``srand(getpid())``, ``RNN_SEED`` in the
    reference build) and C's 32-bit LCG for the file positions; one process; analysis states
    carried across sequences; the RIR convolution with C's own 65536-point KISS FFT
    (:mod:`rnnoise_kit.training.v02._kernels`). Reproduces ``dump_features [-rir_list LIST]
    speech noise fg_noise out COUNT`` byte for byte.
default
    Shards of :data:`SHARD_SEQUENCES` sequences, each with its own NumPy generator
    ``SeedSequence(seed, spawn_key=(i,))``, fresh analysis states and uniform random
    excerpts of each source (which may be shorter than 20 s: read around the end). The same
    draws and augmentation as C; the convolution uses ``scipy.fft`` (float32, the same 0.5
    scale as C, not C's bits). Without ``rir``, :data:`DEFAULT_ROOMS` rooms are simulated
    from the seed (:func:`rnnoise_kit.audio.rir.room_impulse_response`); without a foreground
    source, the foreground noise is off. Output depends on ``seed`` only, not on ``jobs``.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rnnoise_kit.audio.rir import (
    MAX_RIR_SAMPLES,
    early_response,
    load_rirs,
    room_impulse_response,
)
from rnnoise_kit.dsp.biquad import A_HP, B_HP
from rnnoise_kit.dsp.constants import FRAME_SIZE, FREQ_SIZE
from rnnoise_kit.dsp.v02 import AnalysisState02, analyse_v02, frame_analysis_v02
from rnnoise_kit.dsp.v02.constants import EBAND_20MS, NB_BANDS
from rnnoise_kit.errors import InputError, SettingError
from rnnoise_kit.training.generator import (
    GenerateResult,
    _frame_energy,
    _resume_key,
    shard_pool,
    write_blocks,
)
from rnnoise_kit.training.glibc_rand import RAND_MAX, GlibcRand
from rnnoise_kit.training.sources import Source, open_source
from rnnoise_kit.training.v02 import _kernels as K
from rnnoise_kit.training.v02.layout import DESCRIPTION, ROW, SEQUENCE

f32 = np.float32

SEQUENCE_SAMPLES = SEQUENCE * FRAME_SIZE
"""Samples of one sequence (960,000: 20 s)."""
RIR_FFT_SIZE = 2 * MAX_RIR_SAMPLES
"""C's convolution FFT (65536 points, blocks of 32768 samples)."""
LCG_SCALE = 2.3283e-10
"""C's ``rand_lcg() * 2.3283e-10``: the LCG as a fraction (a little under 2^-32)."""
SHARD_SEQUENCES = 5
"""Sequences per shard in default mode (10,000 rows): fixed, so the output does not depend
on --jobs; the analysis states carry across the sequences of a shard, as in C."""
DEFAULT_ROOMS = 16
"""Rooms simulated from the seed when default mode is given no responses: enough variety
(RT60 0.2-0.8 s, 3-10 m rooms, 0.7 m and more to the talker) for half the sequences, cheap
to make (a second or so) and the same for every shard."""
_ROOMS_KEY = (0, 1)
"""SeedSequence spawn key of the rooms (shards use (i,))."""
_HP_B = np.array(B_HP, np.float32)
_HP_A = np.array(A_HP, np.float32)
_ZERO = np.zeros(2, np.float32)


# ----------------------------------------------------------------------------- draws


@dataclass
class SequenceParams:
    """Everything one sequence draws, in C's types (float32 gains and coefficients).

    Filters are (a, b) pairs: ``(1 + b0 z^-1 + b1 z^-2) / (1 + a0 z^-1 + a1 z^-2)``.
    """

    start_pos: int = 0
    speech_gain: np.float32 = f32(1)
    noise_gain: np.float32 = f32(1)
    fg_gain: np.float32 = f32(1)
    noise_filter: tuple[np.ndarray, np.ndarray] = (_ZERO, _ZERO)
    fg_filter: tuple[np.ndarray, np.ndarray] = (_ZERO, _ZERO)
    speech_filter: tuple[np.ndarray, np.ndarray] = (_ZERO, _ZERO)
    lowpass: int = FREQ_SIZE
    band_lp: int = NB_BANDS
    rir: int | None = None
    clip: bool = False
    quantize: bool = False
    extra: dict = field(default_factory=dict)

    def describe(self) -> dict:
        """A plain summary (dB levels, filter kinds) for tests and logs."""
        return {"start_pos": self.start_pos, "speech_gain": float(self.speech_gain),
                "noise_gain": float(self.noise_gain), "fg_gain": float(self.fg_gain),
                "lowpass": self.lowpass, "band_lp": self.band_lp, "rir": self.rir,
                "clip": self.clip, "quantize": self.quantize}


def _uni(rand: Callable[[], int]) -> np.float32:
    return f32(rand() / float(RAND_MAX) - 0.5)


def _randf(rand: Callable[[], int], scale: float) -> np.float32:
    # f*rand(): the int converted to float and multiplied in float; then / (double)RAND_MAX
    return f32(float(f32(scale) * f32(rand())) / RAND_MAX)


def _level_db(rand: Callable[[], int], base: int, a: float, b: float) -> np.float32:
    """``base + randf(a) + randf(b)`` (float, left to right as gcc evaluates it) -> gain."""
    db = f32(base) + _randf(rand, a)
    db = f32(db + _randf(rand, b))
    return f32(math.pow(10.0, float(db) / 20.0))


def _rand_filt(rand: Callable[[], int]) -> np.ndarray:
    """``rand_filt``: no root (2/3), a complex pair or two real roots inside radius 0.7."""
    if rand() % 3 != 0:
        return _ZERO
    if _uni(rand) > 0:
        r = f32(rand() / float(RAND_MAX))
        r = f32(0.7 * float(r) * float(r))
        theta = f32(rand() / float(RAND_MAX))
        theta = f32(math.pi * float(theta) * float(theta))
        return np.array([float(f32(-2) * r) * math.cos(float(theta)), r * r], np.float32)
    r0 = f32(1.4 * float(_uni(rand)))
    r1 = f32(1.4 * float(_uni(rand)))
    return np.array([-r0 - r1, r0 * r1], np.float32)


def _rand_resp(rand: Callable[[], int]) -> tuple[np.ndarray, np.ndarray]:
    a = _rand_filt(rand)
    return a, _rand_filt(rand)


def draw_sequence(rand: Callable[[], int], band_lp: int, n_rirs: int) -> SequenceParams:
    """One sequence's draws in C's exact order (spec section 11, steps 2-6 and 12-14).

    Parameters
    ----------
    rand : callable
        ``rand()``: integers in [0, RAND_MAX].
    band_lp : int
        The previous sequence's band limit (kept when the low-pass is above band 31's edge).
    n_rirs : int
        Responses available (0: no reverberation draw at all, as C without ``-rir_list``).
    """
    p = SequenceParams()
    if rand() % 4:
        start = 0
    else:
        u = rand()
        frac = f32(u) / f32(RAND_MAX)  # (float) division in C
        start = -int(1000.0 * math.log(float(frac))) if u else SEQUENCE_SAMPLES
    p.start_pos = min(start, SEQUENCE_SAMPLES)
    p.speech_gain = _level_db(rand, -45, 45.0, 10.0)
    noise_gain = _level_db(rand, -30, 40.0, 15.0)
    fg_gain = _level_db(rand, -30, 40.0, 15.0)
    if rand() % 8 == 0:
        noise_gain = f32(0)
    if rand() % 8 != 0:
        fg_gain = f32(0)
    if rand() % 12 == 0:
        noise_gain = f32(float(noise_gain) * 0.03)
        fg_gain = f32(float(fg_gain) * 0.03)
    p.noise_gain = f32(noise_gain * p.speech_gain)
    p.fg_gain = f32(fg_gain * p.speech_gain)
    p.noise_filter = _rand_resp(rand)
    p.fg_filter = _rand_resp(rand)
    p.speech_filter = _rand_resp(rand)
    p.lowpass = int(FREQ_SIZE * 3000.0 / 24000.0 * math.pow(50.0, rand() / float(RAND_MAX)))
    p.band_lp = band_lp
    for b in range(NB_BANDS):
        if EBAND_20MS[b] > p.lowpass:
            p.band_lp = b
            break
    if n_rirs and rand() % 2 == 0:
        p.rir = rand() % n_rirs
    p.clip = rand() % 4 == 0
    p.quantize = rand() % 2 == 0
    return p


# ----------------------------------------------------------------------------- responses


class RirBank:
    """Impulse responses ready for the convolution of step 12.

    ``exact=True`` (compat): C's spectra, the 65536-point KISS FFT of each response and of
    its early part (:func:`rnnoise_kit.audio.rir.early_response`), for :func:`K.rir_filter`.
    Otherwise the float32 responses for a ``scipy.fft`` convolution (times 0.5, as C).
    """

    def __init__(self, rirs: list[np.ndarray], exact: bool):
        self.exact = exact
        self.full = [np.ascontiguousarray(r[:MAX_RIR_SAMPLES], np.float32) for r in rirs]
        self.early = [early_response(r) for r in self.full]
        self.plan = K.KissPlan.make(RIR_FFT_SIZE) if exact else None
        self._spectra: dict[tuple[int, bool], tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.full)

    def _spectrum(self, index: int, early: bool) -> tuple[np.ndarray, np.ndarray]:
        key = (index, early)
        if key not in self._spectra:
            pl = self.plan
            h = (self.early if early else self.full)[index]
            xr = np.zeros(pl.nfft, np.float32)
            xr[: h.size] = h
            yr = np.empty(pl.nfft, np.float32)
            yi = np.empty(pl.nfft, np.float32)
            K.kiss_forward(xr, np.zeros(pl.nfft, np.float32), pl.radix, pl.span, pl.tw_r,
                           pl.tw_i, pl.bitrev, pl.scale, yr, yi)
            self._spectra[key] = (yr, yi)
        return self._spectra[key]

    def apply(self, audio: np.ndarray, index: int, early: bool) -> None:
        """Convolve ``audio`` (n,) float32 in place with response ``index`` (its early part
        when ``early``), scaled by 0.5 and cut to n samples as C does."""
        if self.exact:
            yr, yi = self._spectrum(index, early)
            pl = self.plan
            K.rir_filter(audio, yr, yi, pl.radix, pl.span, pl.tw_r, pl.tw_i, pl.bitrev,
                         pl.scale)
            return
        import scipy.fft as sfft

        h, spec = self._fast_spectrum(index, early)
        m, size = h.size, (spec.shape[0] - 1) * 2
        hop = size - m + 1
        n = audio.shape[0]
        blocks = -(-n // hop)
        # overlap-save: block b reads padded[b hop : b hop + size] and keeps its last hop
        padded = np.zeros((blocks - 1) * hop + size, np.float32)
        padded[m - 1 : m - 1 + n] = audio
        frames = np.lib.stride_tricks.as_strided(padded, (blocks, size), (hop * 4, 4),
                                                 writeable=False)
        y = sfft.irfft(sfft.rfft(frames, axis=1) * spec, size, axis=1)[:, m - 1 :]
        np.multiply(y.reshape(-1)[:n], f32(0.5), out=audio)

    def _fast_spectrum(self, index: int, early: bool) -> tuple[np.ndarray, np.ndarray]:
        """The response (trailing zeros cut) and its rfft at the block size of the default
        mode's overlap-save: a power of two >= 4 x its length (>= 4096), which keeps the
        cost per sample near its minimum."""
        import scipy.fft as sfft

        key = (index, early)
        if key not in self._spectra:
            h = (self.early if early else self.full)[index]
            nz = np.flatnonzero(h)
            h = h[: int(nz[-1]) + 1] if nz.size else h[:1]
            size = max(4096, 1 << int(4 * h.size - 1).bit_length())
            self._spectra[key] = (h, sfft.rfft(h, size).astype(np.complex64))
        return self._spectra[key]


def generated_rooms(seed: int, count: int = DEFAULT_ROOMS) -> tuple[list[np.ndarray], list]:
    """``count`` simulated rooms from ``seed`` (float32, at most 32768 samples each) and their
    descriptions (RT60, size, distance)."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(seed),
                                                                     spawn_key=_ROOMS_KEY)))
    rirs, infos = [], []
    for _ in range(int(count)):
        rir, info = room_impulse_response(rng)
        rirs.append(np.asarray(rir[:MAX_RIR_SAMPLES], np.float32))
        infos.append(info)
    return rirs, infos


# ----------------------------------------------------------------------------- one sequence


@dataclass
class GeneratorState:
    """What carries from sequence to sequence: the clean analysis memory (``st``) and the
    noisy analysis state (``noisy``)."""

    clean_mem: np.ndarray = field(default_factory=lambda: np.zeros(FRAME_SIZE, np.float32))
    noisy: AnalysisState02 = field(default_factory=AnalysisState02)


def sequence_rows(p: SequenceParams, speech: np.ndarray, noise: np.ndarray, fg: np.ndarray,
                  rirs: RirBank | None, state: GeneratorState,
                  out: np.ndarray | None = None, exact: bool = True) -> np.ndarray:
    """The 2000 rows (2000, 98) of one sequence (spec section 11, steps 7-15).

    Parameters
    ----------
    p : SequenceParams
    speech, noise, fg : (960000,) int16
        The three excerpts (``fg`` is ignored when ``p.fg_gain`` is 0 and may then be zeros).
    rirs : RirBank, optional
        Needed when ``p.rir`` is set.
    state : GeneratorState
        Updated in place.
    out : (2000, 98) float32, optional
    exact : bool
        Compute as C does, bit for bit (compat); False skips the filtering of a noise whose
        gain is 0 (default mode; the rows differ at most in the sign of zero samples).
    """
    energy = _frame_energy(speech.reshape(SEQUENCE, FRAME_SIZE))
    vad = np.empty(SEQUENCE, np.int8)
    K.viterbi_vad(energy, vad)
    signals = np.stack([speech, noise, fg])
    coefs = np.empty((3, 8), np.float32)
    for k, (a, b) in enumerate((p.speech_filter, p.noise_filter, p.fg_filter)):
        coefs[k] = np.concatenate([_HP_B, _HP_A, b, a])
    gains = np.array([p.speech_gain, p.noise_gain, p.fg_gain], np.float32)
    # C filters every signal; a signal whose gain is 0 then contributes (+-)0 only, which
    # default mode skips (compat keeps C's zero signs)
    active = np.ones(3, np.bool_) if exact else gains != 0
    filtered = np.empty((3, SEQUENCE_SAMPLES), np.float32)
    rms = np.empty(3, np.float32)
    K.filter_three(signals, coefs, active, filtered, rms)
    gains = gains * (f32(3000) / (f32(1) + rms))
    x, n, fn = filtered
    vad[: p.start_pos // FRAME_SIZE] = 0
    K.clear_vad(x, vad)
    gs, gn, gf = (f32(g) for g in gains)
    x *= gs
    xn = x.copy()
    if active[1]:
        n *= gn
        xn += n
    if active[2]:
        fn *= gf
        xn += fn
    if p.rir is not None:
        rirs.apply(x, p.rir, early=True)
        rirs.apply(xn, p.rir, early=False)
    if p.clip:
        np.clip(xn, f32(-32767), f32(32767), out=xn)
    if p.quantize:
        xn += f32(0.5)
        np.floor(xn, out=xn)
    lowpass = None if p.lowpass >= FREQ_SIZE else p.lowpass
    _, ey, state.clean_mem = frame_analysis_v02(x, state.clean_mem, lowpass)
    res = analyse_v02(xn, state.noisy, highpass=False, training=True, lowpass=lowpass)
    rows = np.empty((SEQUENCE, ROW), np.float32) if out is None else out
    K.target_rows(res.features, ey, res.Ex, res.silence, vad, p.band_lp,
                  bool(gn == 0 and gf == 0), rows)
    return rows


# ----------------------------------------------------------------------------- plans


def _read_wrapped(src: Source, pos: int, n: int) -> np.ndarray:
    """``n`` samples from ``pos``, going around to the start of a shorter source."""
    out = np.empty(n, np.int16)
    done = 0
    pos %= src.length
    while done < n:
        take = min(n - done, src.length - pos)
        out[done : done + take] = src.read(pos, take)
        done += take
        pos = 0
    return out


def source_bytes(src: Source) -> int:
    """The byte length C sees: the file size of a single headerless file, else 2 x samples."""
    if len(src.entries) == 1 and src.entries[0].kind == "raw":
        return os.stat(src.entries[0].path).st_size
    return 2 * src.length


def lcg_positions(lcg: int, lengths: list[int]) -> tuple[int, list[int]]:
    """C's excerpt positions (step 1): one LCG draw per source, in bytes, clamped so that a
    whole sequence fits, made even. Returns the new LCG state and the byte positions."""
    positions = []
    for length in lengths:
        lcg = (1664525 * lcg + 1013904223) & 0xFFFFFFFF
        pos = int((lcg * LCG_SCALE) * length)
        pos = min(pos, length - 2 * SEQUENCE_SAMPLES)
        positions.append(pos - (pos & 1))
    return lcg, positions


def compat_blocks(speech: Source, noise: Source, fg: Source, rirs: RirBank | None,
                  sequences: int, seed: int) -> Iterator[np.ndarray]:
    """Rows of ``RNN_SEED=seed dump_features [-rir_list] speech noise fg out sequences``, one
    sequence per block."""
    rng = GlibcRand(seed)
    lcg = int(seed) & 0xFFFFFFFF
    sources = (speech, noise, fg)
    lengths = [source_bytes(s) for s in sources]
    state = GeneratorState()
    band_lp = NB_BANDS
    n_rirs = 0 if rirs is None else len(rirs)
    for _ in range(sequences):
        lcg, positions = lcg_positions(lcg, lengths)
        excerpts = [src.read(pos // 2, SEQUENCE_SAMPLES)
                    for src, pos in zip(sources, positions, strict=True)]
        p = draw_sequence(rng.rand, band_lp, n_rirs)
        band_lp = p.band_lp
        yield sequence_rows(p, *excerpts, rirs, state)


def shard_rows(seed: int, index: int, sequences: int, speech: Source, noise: Source,
               fg: Source | None, rirs: RirBank | None) -> np.ndarray:
    """Rows of default-mode shard ``index`` (``sequences`` sequences), from ``seed`` alone."""
    ss = np.random.SeedSequence(int(seed), spawn_key=(int(index),))
    rng = np.random.Generator(np.random.PCG64(ss))

    def rand() -> int:
        return int(rng.integers(0, RAND_MAX + 1))

    state = GeneratorState()
    out = np.empty((sequences * SEQUENCE, ROW), np.float32)
    band_lp = NB_BANDS
    n_rirs = 0 if rirs is None else len(rirs)
    silent = np.zeros(SEQUENCE_SAMPLES, np.int16)
    for s in range(sequences):
        excerpts = []
        for src in (speech, noise, fg):
            if src is None:
                excerpts.append(silent)
                continue
            pos = int(rng.integers(0, max(1, src.length - SEQUENCE_SAMPLES + 1)))
            excerpts.append(_read_wrapped(src, pos, SEQUENCE_SAMPLES))
        p = draw_sequence(rand, band_lp, n_rirs)
        band_lp = p.band_lp
        if fg is None:
            p.fg_gain = f32(0)
        sequence_rows(p, *excerpts, rirs, state, out[s * SEQUENCE : (s + 1) * SEQUENCE],
                      exact=False)
    return out


def _shard(context: tuple, task: tuple[int, int]) -> np.ndarray:
    seed, speech, noise, fg, rirs = context
    index, sequences = task
    return shard_rows(seed, index, sequences, speech, noise, fg, rirs)


def default_blocks(speech: Source, noise: Source, fg: Source | None, rirs: RirBank | None,
                   sequences: int, seed: int, jobs: int = 1, first_shard: int = 0
                   ) -> Iterator[np.ndarray]:
    """Rows of the default mode, one block per shard, in order, from shard ``first_shard``."""
    tasks = [(i, min(SHARD_SEQUENCES, sequences - i * SHARD_SEQUENCES))
             for i in range(int(first_shard), -(-sequences // SHARD_SEQUENCES))]
    srcs = tuple(s for s in (speech, noise, fg) if s is not None)

    def warm_up() -> None:
        z = np.zeros(SEQUENCE_SAMPLES, np.int16)
        sequence_rows(SequenceParams(), z, z, z, None, GeneratorState())

    yield from shard_pool(_shard, (seed, speech, noise, fg, rirs), tasks, jobs, srcs, warm_up)


# ----------------------------------------------------------------------------- front end


def generate_v02(
    speech: str | os.PathLike,
    noise: str | os.PathLike,
    frames: int,
    output: str | os.PathLike,
    *,
    foreground_noise: str | os.PathLike | None = None,
    rir: str | os.PathLike | None = None,
    rooms: int = DEFAULT_ROOMS,
    compat: bool = False,
    seed: int = 0,
    jobs: int = 1,
    progress: bool = True,
    hashes: bool = True,
) -> GenerateResult:
    """Write a 0.2 training matrix of ``frames`` rows x 98 to ``output`` (``.f32`` or ``.h5``).

    Parameters
    ----------
    speech, noise : path-like
        Clean speech and background noise: a headerless 48 kHz s16 file (``.raw``/``.sw``),
        an audio file or a folder of audio files.
    frames : int
        Rows: a whole number of 2000-row sequences (anything else is refused).
    output : path-like
        ``.f32`` (raw rows, as ``dump_features`` writes them) or ``.h5`` (dataset ``/data``),
        written to a temporary name and renamed; default mode resumes an interrupted run.
    foreground_noise : path-like, optional
        Transient foreground noise (C's third input). Required in compat mode; in default
        mode, absent means no foreground noise.
    rir : path-like, optional
        Room impulse responses: a folder of audio files, or a text list of raw float32
        files (:func:`rnnoise_kit.audio.load_rirs`). Compat: absent means no reverberation
        (C without ``-rir_list``). Default: absent means ``rooms`` simulated rooms.
    rooms : int
        Default mode without ``rir``: rooms to simulate from the seed (0: no reverberation).
    compat : bool
        Reproduce C's ``dump_features`` with ``RNN_SEED=seed`` (one process).
    seed : int
        Compat: glibc ``srand`` seed; default: the seed of every random choice.
    jobs : int
        Default mode: worker processes; the output does not depend on it.
    progress, hashes : bool
        Progress bar on a terminal; inputs' sha256 in the ``.h5`` attributes.

    Returns
    -------
    GenerateResult

    Raises
    ------
    InputError, SettingError
        Bad sources or responses, frames not a positive multiple of 2000, a bad output.
    """
    from rnnoise_kit.fileio import check_outputs
    from rnnoise_kit.progress import progress_bar
    from rnnoise_kit.training.matrix import MatrixWriter, check_matrix_room

    frames = int(frames)
    if frames <= 0 or frames % SEQUENCE:
        raise SettingError("frames", f"must be a positive multiple of {SEQUENCE} (whole "
                                     f"sequences), not {frames}")
    if jobs < 1:
        raise SettingError("jobs", f"must be at least 1, not {jobs}")
    if seed < 0:
        raise SettingError("seed", f"must be a non-negative integer, not {seed}")
    if rooms < 0:
        raise SettingError("rooms", f"must be 0 or more, not {rooms}")
    if compat and foreground_noise is None:
        raise SettingError("foreground_noise", "is required in compat mode (C reads three "
                                               "inputs)")
    out = Path(output)
    MatrixWriter.check_suffix(out)
    given = [s for s in (speech, noise, foreground_noise) if s is not None]
    check_outputs([out], given)
    check_matrix_room(out, frames, ROW)
    sp = open_source(speech, "speech")
    no = open_source(noise, "noise")
    fg = None if foreground_noise is None else open_source(foreground_noise, "foreground noise")
    srcs = [s for s in (sp, no, fg) if s is not None]
    if compat:
        for role, src in (("speech", sp), ("noise", no), ("foreground noise", fg)):
            if src.length < SEQUENCE_SAMPLES:
                raise InputError(src.path, f"{role} source: {src.length} samples; compat mode "
                                           f"needs at least {SEQUENCE_SAMPLES} (20 s), as C")
    if not sp.any_nonzero():
        raise InputError(speech, "speech source is all digital silence")
    rir_paths: list[str] = []
    room_info: list = []
    skipped = [(p, r) for s in srcs for p, r in s.skipped]
    if rir is not None:
        responses, paths, rir_skipped = load_rirs(rir)
        rir_paths = [str(p) for p in paths]
        skipped += [(str(s.path), s.reason) for s in rir_skipped]
    elif not compat and rooms > 0:
        responses, room_info = generated_rooms(seed, rooms)
    else:
        responses = []
    bank = RirBank(responses, exact=compat) if responses else None
    inputs = [e.path for s in srcs for e in s.entries] + rir_paths
    check_outputs([out], inputs)
    sequences = frames // SEQUENCE
    attrs = {
        "generator": "rnnoise-kit features --arch 0.2 (RNNoise HEAD dump_features)",
        "arch": "0.2",
        "mode": "compat" if compat else "default",
        "seed": int(seed),
        "random": "glibc srand/rand and C's LCG" if compat else "numpy SeedSequence per shard",
        "rows": frames,
        "columns": ROW,
        "sequence_rows": SEQUENCE,
        "shard_sequences": 0 if compat else SHARD_SEQUENCES,
        "layout": DESCRIPTION,
        "augmentation": ("levels speech -45..+10 dB, noises -30..+25 dB; background off 1/8, "
                         "foreground on 1/8, x0.03 1/12; pole/zero filters; low-pass; "
                         "Viterbi VAD; weighted rms; reverberation 1/2 (early target); "
                         "clipping 1/4; rounding 1/2"),
        "foreground_noise": "none" if fg is None else str(fg.path),
        "reverberation": ("none" if bank is None else
                          f"{len(rir_paths)} responses from {rir}" if rir is not None else
                          f"{len(room_info)} simulated rooms"),
    }
    if room_info:
        import json

        attrs["rooms"] = json.dumps(room_info)
    if out.suffix.lower() in (".h5", ".hdf5"):
        for role, src in (("speech", sp), ("noise", no), ("foreground", fg)):
            if src is not None:
                for k, v in src.describe(hashes=hashes).items():
                    attrs[f"{role}_{k}"] = v
        if rir_paths:
            attrs["rir_files"] = "\n".join(rir_paths)
    t0 = time.perf_counter()
    key = None if compat else _resume_key(attrs, tuple(srcs))
    with (MatrixWriter(out, frames, attrs, resume_key=key, inputs=inputs, columns=ROW) as w,
          progress_bar(frames, "features", enabled=progress) as bar):
        if compat:
            blocks = compat_blocks(sp, no, fg, bank, sequences, seed)
        else:
            blocks = default_blocks(sp, no, fg, bank, sequences, seed, jobs,
                                    first_shard=w.start_row // (SHARD_SEQUENCES * SEQUENCE))
        written = write_blocks(w, bar, blocks)
    if written != frames:  # pragma: no cover - a bug
        raise RuntimeError(f"wrote {written} rows instead of {frames}")
    return GenerateResult(out, frames, time.perf_counter() - t0, skipped, attrs,
                            resumed_rows=w.start_row)
