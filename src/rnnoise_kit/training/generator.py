"""The training-matrix generator: RNNoise v0.1's ``denoise_training`` (spec section 12).

Each row of the matrix is 87 float32: the 42 features of a noisy frame (0-41), the 22 target
band gains (42-63, -1 = ignore), the 22 noise band log-energies ``log10(0.01 + En)`` (64-85)
and the VAD target (86). See ``docs/training-matrix.md``.

Algorithm
---------
Speech ``x`` and noise ``n`` are read frame by frame (480 samples, rewinding at end of file,
a partial last frame discarded), scaled by random gains, high-passed, coloured by random
second-order filters and summed; the noisy sum goes through the full feature analysis, the
clean speech and the noise through ``frame_analysis`` only (three analysis states). Every
2822 rows the gains, the random filters and the low-pass are drawn again. Between two draws
every parameter is constant, so the generator works on whole **segments** of up to 2822 rows:
one read, one filter run and one batched call of the DSP per state and segment.

Two modes
---------
``compat``
    glibc ``rand()`` with seed 1 drives every draw exactly as C; the noise starts after 150
    frames, the speech at 0, the first 2821 rows use unit gains, identity filters and no
    low-pass. One process. Reproduces ``denoise_training speech.raw noise.raw N``.
default
    The run is cut into shards of :data:`SHARD_ROWS` rows (a multiple of 2822). Shard ``i``
    has its own NumPy generator ``SeedSequence(seed, spawn_key=(i,))``, its own random start
    offsets into speech and noise and fresh analysis states, and draws new parameters for
    each of its segments (the first included). The output depends on ``seed`` only, not on
    ``jobs``: shards are spread over processes and written in order.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numba import njit

from rnnoise_kit import capacity
from rnnoise_kit.dsp._block import deps_key
from rnnoise_kit.dsp.biquad import A_HP, B_HP, biquad_step
from rnnoise_kit.dsp.constants import EDGE, FRAME_SIZE, FREQ_SIZE, NB_BANDS
from rnnoise_kit.errors import InputError, OutputError, SettingError
from rnnoise_kit.parallel import check_scheduler, open_executor, start_cluster
from rnnoise_kit.training import _analysis
from rnnoise_kit.training.augment import (
    NO_AUGMENTATION,
    Augmentation,
    Augmenter,
    BandLimits,
    Reverb,
    RoomBank,
    SegmentAugment,
    distort,
    render_foreground,
    response_bank,
)
from rnnoise_kit.training.augment import describe as describe_augmentation
from rnnoise_kit.training.glibc_rand import RAND_MAX, GlibcRand
from rnnoise_kit.training.layout import (
    DESCRIPTION,
    FEATURES,
    GAINS,
    NOISE,
    ROW,
    TARGET_GAIN_EPS,
    VAD_COL,
)
from rnnoise_kit.training.sharded import (
    INDEX_NAME,
    ShardedRun,
    shard_path,
    wants_folder,
    write_shard,
)
from rnnoise_kit.training.sources import Source, open_source
from rnnoise_kit.training.teacher import ResolvedTeacher, Teacher, check_teacher

f32 = np.float32

GAIN_PERIOD = 2822
"""Rows between two random draws (``gain_change_count > 2821``)."""
NOISE_SKIP_FRAMES = 150
SHARD_ROWS = GAIN_PERIOD * 8
"""Rows per shard in default mode (22,576): fixed, so the output does not depend on --jobs."""
BLOCK_FRAMES = 1024
"""Frames per DSP call (memory bound). The analyses do not depend on it (their states carry
over), but the reverberation's transforms start at each block, so its rounding does: changing
it changes the bytes of augmented matrices."""


# ----------------------------------------------------------------------------- parameters


@dataclass
class SegmentParams:
    """What stays constant between two draws."""

    speech_gain: np.float32 = f32(1)
    noise_gain: np.float32 = f32(1)
    a_noise: np.ndarray = field(default_factory=lambda: np.zeros(2, np.float32))
    b_noise: np.ndarray = field(default_factory=lambda: np.zeros(2, np.float32))
    a_sig: np.ndarray = field(default_factory=lambda: np.zeros(2, np.float32))
    b_sig: np.ndarray = field(default_factory=lambda: np.zeros(2, np.float32))
    lowpass: int = FREQ_SIZE
    band_lp: int = NB_BANDS
    aug: SegmentAugment | None = None
    """Default mode's augmentation draws (:mod:`rnnoise_kit.training.augment`); None: none."""


def draw_params(rand: Callable[[], int], band_lp_prev: int) -> SegmentParams:
    """One draw of ``denoise_training``, in C's exact order, from a ``rand()``-like source.

    ``rand`` returns integers in [0, RAND_MAX] ``band_lp`` keeps its previous value when
    the low-pass is at or above bin 400 (spec section 16.6).
    """
    speech_gain = f32(math.pow(10.0, (-40 + rand() % 60) / 20.0))
    noise_gain = f32(math.pow(10.0, (-30 + rand() % 50) / 20.0))
    if rand() % 10 == 0:
        noise_gain = f32(0)
    noise_gain = f32(noise_gain * speech_gain)
    if rand() % 10 == 0:
        speech_gain = f32(0)

    def uni() -> np.float32:
        return f32(rand() / float(RAND_MAX) - 0.5)

    def resp() -> tuple[np.ndarray, np.ndarray]:
        v = [f32(0.75 * float(uni())) for _ in range(4)]
        return np.array(v[:2], np.float32), np.array(v[2:], np.float32)

    a_noise, b_noise = resp()
    a_sig, b_sig = resp()
    lowpass = int(FREQ_SIZE * 3000.0 / 24000.0 * math.pow(50.0, rand() / float(RAND_MAX)))
    band_lp = band_lp_prev
    for b in range(NB_BANDS):
        if EDGE[b] > lowpass:
            band_lp = b
            break
    return SegmentParams(speech_gain, noise_gain, a_noise, b_noise, a_sig, b_sig, lowpass,
                         band_lp)


# ----------------------------------------------------------------------------- kernels


@njit(cache=True, nogil=True)
def _frame_energy(s):
    """Sequential float32 sum of squares of each int16 frame (the VAD energy)."""
    n = s.shape[0]
    out = np.empty(n, dtype=np.float32)
    for t in range(n):
        e = np.float32(0)
        for i in range(s.shape[1]):
            v = np.float32(s[t, i])
            e = e + v * v
        out[t] = e
    return out


def _build_scale_filter(deps: int):
    # inlines the DSP's biquad step: a closure over the hash of the DSP kernels' sources
    # (rnnoise_kit.dsp._block.deps_key), so that numba's cache follows a change there
    @njit(cache=True, nogil=True)
    def _scale_filter(s, gain, mem_hp, mem_r, b_r, a_r, out, energy, s2, gain2, mem_hp2,
                      mem_r2, b_r2, a_r2, out2):
        """Two independent streams at once (speech and noise, for instruction-level
        parallelism): ``out = biquad(biquad(gain*s, hp), random)``, float32 states updated in
        place. ``s`` (n, 480) int16, or zero rows for silence (then the input is 0).
        ``energy`` (n,) receives :func:`_frame_energy` of ``s`` (0 for silence): its
        sequential sums ride in the latency shadow of the filters' recurrences, for free.

        Note: numba's ``float()`` of a float32 stays float32; ``np.float64()`` promotes.
        """
        d = np.float64
        hb0, hb1, ha0, ha1 = d(B_HP[0]), d(B_HP[1]), d(A_HP[0]), d(A_HP[1])
        rb0, rb1, ra0, ra1 = d(b_r[0]), d(b_r[1]), d(a_r[0]), d(a_r[1])
        qb0, qb1, qa0, qa1 = d(b_r2[0]), d(b_r2[1]), d(a_r2[0]), d(a_r2[1])
        h0, h1, r0, r1 = mem_hp[0], mem_hp[1], mem_r[0], mem_r[1]
        g0, g1, q0, q1 = mem_hp2[0], mem_hp2[1], mem_r2[0], mem_r2[1]
        silent = s.shape[0] == 0 * deps
        silent2 = s2.shape[0] == 0
        zero = np.float32(0)
        for t in range(out.shape[0]):
            e = zero
            for i in range(out.shape[1]):
                v = zero if silent else np.float32(s[t, i])
                e = e + v * v
                x = gain * v
                x2 = zero if silent2 else gain2 * np.float32(s2[t, i])
                y, h0, h1 = biquad_step(x, h0, h1, hb0, hb1, ha0, ha1)
                y2, g0, g1 = biquad_step(x2, g0, g1, hb0, hb1, ha0, ha1)
                z, r0, r1 = biquad_step(y, r0, r1, rb0, rb1, ra0, ra1)
                z2, q0, q1 = biquad_step(y2, q0, q1, qb0, qb1, qa0, qa1)
                out[t, i] = z
                out2[t, i] = z2
            energy[t] = e
        mem_hp[0], mem_hp[1], mem_r[0], mem_r[1] = h0, h1, r0, r1
        mem_hp2[0], mem_hp2[1], mem_r2[0], mem_r2[1] = g0, g1, q0, q1

    return _scale_filter


_scale_filter = _build_scale_filter(deps_key())


@njit(cache=True, nogil=True)
def _vad(energy, cnt, out):
    """VAD target of each frame from the raw speech energy; returns the new counter."""
    for t in range(energy.shape[0]):
        e = energy[t]
        if e > np.float32(1e9):
            cnt = 0
        elif e > np.float32(1e8):
            cnt -= 5
        elif e > np.float32(1e7):
            cnt += 1
        else:
            cnt += 2
        if cnt < 0:
            cnt = 0
        if cnt > 15:
            cnt = 15
        if cnt >= 10:
            out[t] = np.float32(0)
        elif cnt > 0:
            out[t] = np.float32(0.5)
        else:
            out[t] = np.float32(1)
    return cnt


@njit(cache=True, nogil=True)
def _rows(features, ey, ex, en, silence, vad, band_lp, no_noise, rows):
    """Assemble the rows (spec section 12, steps 8-9): features, target gains with the -1
    rules, ``log10(0.01 + En)`` and the VAD target. Double where C promotes. ``band_lp`` (n,):
    the last band of each frame with a target."""
    d = np.float64
    for t in range(rows.shape[0]):
        r = rows[t]
        for i in range(FEATURES.stop):
            r[FEATURES.start + i] = features[t, i]
        ignore_all = silence[t] or (no_noise and vad[t] == np.float32(0))
        for b in range(NB_BANDS):
            fy = d(ey[t, b])
            fx = d(ex[t, b])
            g = np.float32(math.sqrt((fy + TARGET_GAIN_EPS) / (fx + TARGET_GAIN_EPS)))
            if g > np.float32(1):
                g = np.float32(1)
            if ignore_all or b > band_lp[t] or (fy < 0.05 and fx < 0.05):
                g = np.float32(-1)
            r[GAINS.start + b] = g
            r[NOISE.start + b] = np.float32(math.log10(0.01 + d(en[t, b])))
        r[VAD_COL] = vad[t]


# ----------------------------------------------------------------------------- one stream


def _read_frames(src: Source, pos: int, n: int, starts: np.ndarray | None = None
                 ) -> tuple[np.ndarray, int]:
    """``n`` frames from ``pos`` with C's rewind rule: a frame that would not fit entirely
    before the end makes the reader start again at 0 (the partial frame is discarded).
    ``starts`` (n,), if given, receives each frame's position in the source."""
    out = np.empty((n, FRAME_SIZE), dtype=np.int16)
    done = 0
    length = src.length
    while done < n:
        if length - pos < FRAME_SIZE:
            pos = 0
        m = min(n - done, (length - pos) // FRAME_SIZE)
        out[done : done + m] = src.read(pos, m * FRAME_SIZE).reshape(m, FRAME_SIZE)
        if starts is not None:
            starts[done : done + m] = pos + FRAME_SIZE * np.arange(m)
        done += m
        pos += m * FRAME_SIZE
    return out, pos


@dataclass
class AugmentKit:
    """What the augmentation of a run needs besides its draws: the settings, the impulse
    responses (made once per run) and the foreground source."""

    aug: Augmentation
    bank: RoomBank | list[np.ndarray]
    foreground: Source | None = None
    band_limits: BandLimits | None = None
    """The speech's band limits, measured once per process (shared by its shards)."""
    teacher: ResolvedTeacher | None = None
    """Teacher targets blended into the oracle ones (:mod:`rnnoise_kit.training.teacher`)."""


class Stream:
    """The state of one ``denoise_training`` run (one shard in default mode)."""

    def __init__(self, speech: Source, noise: Source, speech_pos: int, noise_pos: int,
                 kit: AugmentKit | None = None):
        self.speech, self.noise = speech, noise
        self.speech_pos, self.noise_pos = speech_pos, noise_pos
        self.mem_hp_x = np.zeros(2, np.float32)
        self.mem_resp_x = np.zeros(2, np.float32)
        self.mem_hp_n = np.zeros(2, np.float32)
        self.mem_resp_n = np.zeros(2, np.float32)
        self.vad_cnt = 0
        self.st = _analysis.SpectralState()
        self.noise_state = _analysis.SpectralState()
        self.noisy = _analysis.FeatureState()
        self._buf: np.ndarray | None = None  # reused work arrays (fresh pages cost faults)
        self.kit = kit
        aug = kit.aug if kit is not None else NO_AUGMENTATION
        self.reverb = Reverb(kit.bank) if aug.reverb else None
        self.band_limits = None
        if aug.band_limit:
            if kit.band_limits is None or kit.band_limits.source is not speech:
                kit.band_limits = BandLimits(speech)
            self.band_limits = kit.band_limits
        self._foreground: np.ndarray | None = None  # the current segment's track
        self.teacher = (kit.teacher.stream() if kit is not None and kit.teacher is not None
                        else None)

    def segment(self, p: SegmentParams, n: int, out: np.ndarray | None = None) -> np.ndarray:
        """``n`` rows (n, 87) float32 with constant parameters ``p`` (into ``out`` if given).

        Worked in sub-blocks of at most :data:`BLOCK_FRAMES` frames to bound memory; every
        state carries over, so the rows do not depend on the sub-block size.
        """
        rows = np.empty((n, ROW), np.float32) if out is None else out
        self._foreground = None
        if p.aug is not None and self.kit is not None and self.kit.foreground is not None:
            self._foreground = render_foreground(p.aug, self.kit.foreground, n * FRAME_SIZE)
        for a in range(0, n, BLOCK_FRAMES):
            b = min(n, a + BLOCK_FRAMES)
            self._block(p, b - a, rows[a:b], a)
        return rows

    def _block(self, p: SegmentParams, n: int, rows: np.ndarray, first: int = 0) -> None:
        if self._buf is None or self._buf.shape[1] < n:
            self._buf = np.empty((3, max(n, BLOCK_FRAMES), FRAME_SIZE), np.float32)
        x, noise, xn = self._buf[0, :n], self._buf[1, :n], self._buf[2, :n]
        starts = np.zeros(n, np.int64) if self.band_limits is not None else None
        if p.speech_gain != 0:
            s, self.speech_pos = _read_frames(self.speech, self.speech_pos, n, starts)
        else:
            s = np.empty((0, FRAME_SIZE), np.int16)
        if p.noise_gain != 0:
            s2, self.noise_pos = _read_frames(self.noise, self.noise_pos, n)
        else:
            s2 = np.empty((0, FRAME_SIZE), np.int16)
        energy = np.empty(n, np.float32)
        _scale_filter(s, f32(p.speech_gain), self.mem_hp_x, self.mem_resp_x, p.b_sig,
                      p.a_sig, x, energy, s2, f32(p.noise_gain), self.mem_hp_n,
                      self.mem_resp_n, p.b_noise, p.a_noise, noise)
        vad = np.empty(n, np.float32)
        self.vad_cnt = int(_vad(energy, self.vad_cnt, vad))
        lowpass = p.lowpass
        band_lp = np.full(n, p.band_lp, np.int64)
        no_noise = p.noise_gain == 0
        if p.aug is None:
            target = x
            np.add(x, noise, out=xn)
        else:
            seg = p.aug
            target = x
            reverberant = x
            if self.reverb is not None:
                full, early = self.reverb.process(x.reshape(-1), seg.rir)
                reverberant, target = full.reshape(n, FRAME_SIZE), early.reshape(n, FRAME_SIZE)
            if self._foreground is not None:
                fg = self._foreground[first * FRAME_SIZE:(first + n) * FRAME_SIZE]
                noise += fg.reshape(n, FRAME_SIZE)
                no_noise = False
            np.add(reverberant, noise, out=xn)
            distort(xn, seg)
            if self.band_limits is not None and p.speech_gain != 0:
                # only where the speech may be active: without speech, every band's target
                # is to remove the noise, whatever the speech's bandwidth
                limited = np.minimum(band_lp, self.band_limits.of_frames(starts))
                band_lp = np.where(vad != 0, limited, band_lp)
        ey = self.st.band_energy(target, lowpass)
        en = self.noise_state.band_energy(noise, lowpass)
        features, ex, silence = self.noisy.features(xn, lowpass)

        _rows(features, ey, ex, en, silence, vad, band_lp, no_noise, rows)
        if self.teacher is not None:
            self.teacher.blend(xn, rows)


# ----------------------------------------------------------------------------- plans


def compat_blocks(speech: Source, noise: Source, frames: int) -> Iterator[np.ndarray]:
    """Rows of ``denoise_training speech noise frames``, one block per segment."""
    rng = GlibcRand(1)
    stream = Stream(speech, noise, 0, min(NOISE_SKIP_FRAMES * FRAME_SIZE, noise.length))
    p = SegmentParams()
    done = 0
    seg = GAIN_PERIOD - 1  # the first draw happens at row 2821
    while done < frames:
        n = min(seg, frames - done)
        yield stream.segment(p, n)
        done += n
        if done < frames:
            p = draw_params(rng.rand, p.band_lp)
            seg = GAIN_PERIOD


def shard_rows(seed: int, index: int, rows: int, speech: Source, noise: Source,
               kit: AugmentKit | None = None) -> np.ndarray:
    """Rows of default-mode shard ``index`` (``rows`` <= SHARD_ROWS), from ``seed`` alone.

    With ``kit``, each segment is augmented (:mod:`rnnoise_kit.training.augment`) by draws
    of their own generators, after the v0.1 draw, which they leave unchanged."""
    ss = np.random.SeedSequence(int(seed), spawn_key=(int(index),))
    rng = np.random.Generator(np.random.PCG64(ss))

    def rand() -> int:
        return int(rng.integers(0, RAND_MAX + 1))

    stream = Stream(speech, noise, int(rng.integers(0, speech.length)),
                    int(rng.integers(0, noise.length)), kit)
    augmenter = None
    if kit is not None and kit.aug.active:
        fg_length = kit.foreground.length if kit.foreground is not None else 0
        augmenter = Augmenter(kit.aug, seed, index, len(kit.bank), fg_length)
    out = np.empty((rows, ROW), np.float32)
    band_lp = NB_BANDS
    done = 0
    while done < rows:
        p = draw_params(rand, band_lp)
        band_lp = p.band_lp
        n = min(GAIN_PERIOD, rows - done)
        if augmenter is not None:
            p = augmenter.draw(p, n)
        stream.segment(p, n, out[done : done + n])
        done += n
    return out


def shard_tasks(frames: int, first_shard: int = 0) -> list[tuple[int, int]]:
    """(shard number, rows) of every default-mode shard of a ``frames``-row run, from
    ``first_shard`` on."""
    return [(i, min(SHARD_ROWS, frames - i * SHARD_ROWS))
            for i in range(int(first_shard), (frames + SHARD_ROWS - 1) // SHARD_ROWS)]


def _guarded(context: tuple[Callable, tuple], task: tuple) -> np.ndarray | tuple:
    """Executor job: ``run_shard(shared, task)``, an InputError sent back as its parts (its
    constructor does not survive pickling)."""
    run_shard, shared = context
    try:
        return run_shard(shared, task)
    except InputError as exc:  # its constructor does not survive pickling: send the parts
        return (exc.path, exc.problem)


def _shard_file_job(context: tuple[Callable, tuple], task: tuple[tuple, str]
                    ) -> tuple[int, str] | tuple[str | None, str]:
    """Executor job: one shard written to its file by the worker itself: (rows, sha256)."""
    shard_task, path = task
    block = _guarded(context, shard_task)
    if isinstance(block, tuple):
        return block
    try:
        return write_shard(path, block)
    except OutputError as exc:
        return (exc.path, "output: " + exc.problem)


def _job_failed(result: tuple) -> BaseException:
    path, problem = result
    if problem.startswith("output: "):
        return OutputError(path, problem[len("output: "):])
    return InputError(path, problem)


def _run_shards(job: Callable, context: tuple, tasks: list, jobs: int,
                sources: tuple[Source, ...], warm_up: Callable[[], object] | None,
                scheduler: str | None) -> Iterator:
    """``job(context, task)`` for every task, in order (:mod:`rnnoise_kit.parallel`)."""
    jobs = max(1, min(int(jobs), len(tasks)))
    if warm_up and scheduler is None and jobs > 1:
        # load the compiled kernels (and the room simulator) once here: the forked workers
        # share those pages, and none of them imports pyroomacoustics again. Not before a
        # local:N cluster's jobs: there it held both worker threads up (measured), while
        # without it one worker computes as the other loads
        warm_up()
    executor = open_executor(jobs, scheduler, start_method="fork")
    if executor.workers > 1 or scheduler is not None:
        for src in sources:
            src.close()  # workers must not share open file handles (and their offsets)
    with executor:
        for result in executor.map(job, tasks, context):
            if isinstance(result, tuple) and not isinstance(result[0], int):
                raise _job_failed(result)
            yield result


def shard_pool(
    run_shard: Callable[[tuple, tuple], np.ndarray],
    context: tuple,
    tasks: list[tuple],
    jobs: int = 1,
    sources: tuple[Source, ...] = (),
    warm_up: Callable[[], object] | None = None,
    scheduler: str | None = None,
) -> Iterator[np.ndarray]:
    """Rows of independent shards, in task order, computed by up to ``jobs`` processes or on
    the Dask ``scheduler`` (:mod:`rnnoise_kit.parallel`).

    Parameters
    ----------
    run_shard : callable
        ``run_shard(context, task) -> rows``, a module-level function (picklable): each shard
        depends on its task (its index, hence its own seed) and the shared ``context`` only,
        so the output does not depend on ``jobs`` or ``scheduler``.
    context : tuple
        What every shard shares (seed, sources, settings), sent once to each worker.
    tasks : list of tuple
    jobs : int
    sources : tuple of Source
        Closed before the workers start (workers must not share open file handles).
    warm_up : callable, optional
        Run once in the parent before forking, to load the compiled kernels there: the forked
        workers then share those pages.
    scheduler : str, optional
        ``"local:N"`` or a Dask scheduler address instead of ``jobs`` processes.
    """
    if not tasks:
        return
    yield from _run_shards(_guarded, (run_shard, context), tasks, jobs, sources, warm_up,
                           scheduler)


def _shard(context: tuple, task: tuple[int, int]) -> np.ndarray:
    seed, speech, noise, kit = context
    index, rows = task
    if kit is None:
        return shard_rows(seed, index, rows, speech, noise)
    return shard_rows(seed, index, rows, speech, noise, kit)


def default_blocks(
    speech: Source, noise: Source, frames: int, seed: int, jobs: int = 1, first_shard: int = 0,
    kit: AugmentKit | None = None, scheduler: str | None = None,
) -> Iterator[np.ndarray]:
    """Rows of the default mode, one block per shard, in order (from shard ``first_shard``:
    each shard depends on the seed and its index only, so a run can resume at any shard).
    ``kit``: the augmentation (None: none); ``scheduler``: Dask instead of ``jobs``."""
    tasks = shard_tasks(frames, first_shard)
    sources = (speech, noise)
    if kit is not None and kit.foreground is not None:
        sources = (*sources, kit.foreground)
    yield from shard_pool(_shard, (seed, speech, noise, kit), tasks, jobs, sources,
                          lambda: _warm_up(speech, noise, kit), scheduler)


def _warm_up(speech: Source, noise: Source, kit: AugmentKit | None = None) -> None:
    Stream(speech, noise, 0, 0).segment(SegmentParams(), 1)
    if kit is not None and kit.aug.reverb and len(kit.bank):
        kit.bank[0]  # generated rooms: imports the simulator (a second) and makes room 0
    if kit is not None and kit.teacher is not None:
        kit.teacher.stream()  # loads the 0.2 network once, before the workers fork


# ----------------------------------------------------------------------------- front end


@dataclass
class GenerateResult:
    """What :func:`generate` wrote."""

    output: Path
    rows: int
    seconds: float
    skipped: list[tuple[str, str]]
    attrs: dict
    resumed_rows: int = 0
    """Rows taken over from an interrupted run of the same command (0 for a fresh run)."""


def generate(
    speech: str | os.PathLike,
    noise: str | os.PathLike,
    frames: int,
    output: str | os.PathLike,
    *,
    compat: bool = False,
    seed: int = 0,
    jobs: int = 1,
    progress: bool = True,
    hashes: bool = True,
    augment: Augmentation | None = None,
    scheduler: str | None = None,
    teacher: Teacher | None = None,
) -> GenerateResult:
    """Write a training matrix of ``frames`` rows x 87 to ``output`` (``.f32``, ``.h5`` or a
    folder of shards).

    Parameters
    ----------
    speech, noise : path-like
        A ``.raw`` file (48 kHz s16 mono), an audio file or a folder of audio files.
    frames : int
        Number of rows.
    output : path-like
        ``.f32`` (raw rows, as ``denoise_training``'s stdout) or ``.h5`` (dataset ``/data``).
        Written to a hidden temporary file renamed at the end. In default mode an
        interrupted run (Ctrl-C, SIGTERM, SIGKILL, a full disk) leaves its completed shards
        there, and the same call continues from them (``resumed_rows``); compat mode starts
        over. A path ending in ``/`` (or an existing folder) gets a sharded matrix
        (:mod:`rnnoise_kit.training.sharded`): one ``.f32`` file per generator shard, written
        by the workers themselves, and ``index.json`` last.
    compat : bool
        Reproduce C's ``denoise_training`` (glibc ``rand()``, one process); ``seed`` and
        ``jobs`` are then ignored.
    seed : int
        Default mode: the seed of every random choice.
    jobs : int
        Default mode: worker processes. The output does not depend on it.
    progress : bool
        Show a progress bar on a terminal.
    hashes : bool
        Record the inputs' sha256 in the ``.h5`` attributes (and a sharded index).
    augment : Augmentation, optional
        Default mode: the augmentation (:mod:`rnnoise_kit.training.augment`); default every
        step on, generated rooms, no foreground noise. ``NO_AUGMENTATION`` gives the rows of
        the plain v0.1 draws. Ignored in compat mode.
    scheduler : str, optional
        Default mode: run the shards on a Dask cluster instead of ``jobs`` processes
        (``"local:N"`` or a scheduler address; :mod:`rnnoise_kit.parallel`). The output does
        not depend on it.
    teacher : Teacher, optional
        Default mode: blend an RNNoise 0.2 model's gains into the target gains
        (:mod:`rnnoise_kit.training.teacher`); default none (oracle targets only).

    Returns
    -------
    GenerateResult

    Raises
    ------
    InputError
        Bad sources (missing, unreadable, empty, shorter than a frame, all-silent speech,
        NaN or infinite samples), a bad ``frames`` or output suffix, or more rows than the
        output's disk can hold (checked before any work).
    """
    from rnnoise_kit.fileio import check_outputs
    from rnnoise_kit.progress import progress_bar
    from rnnoise_kit.training.matrix import MatrixWriter, check_matrix_room, matrix_bytes

    frames = int(frames)
    if frames <= 0:
        raise SettingError("frames", f"must be a positive number of rows, not {frames}")
    if jobs < 1:
        raise SettingError("jobs", f"must be at least 1, not {jobs}")
    if seed < 0:
        raise SettingError("seed", f"must be a non-negative integer, not {seed}")
    check_teacher(teacher, compat)
    if compat:  # one sequential stream: a scheduler is ignored, but still checked
        check_scheduler(scheduler)
    else:  # a local:N cluster starts while the sources are opened and the rooms made
        start_cluster(scheduler)
    sharded = wants_folder(output)
    out = Path(output)
    if sharded:
        check_outputs([out / INDEX_NAME], [speech, noise])
        capacity.check_disk(out, matrix_bytes(frames), f"{frames} rows x {ROW} float32")
    else:
        MatrixWriter.check_suffix(out)
        check_outputs([out], [speech, noise])
        check_matrix_room(out, frames)
    aug = NO_AUGMENTATION if compat else (Augmentation() if augment is None else augment)
    sp = open_source(speech, "speech")
    no = open_source(noise, "noise")
    fg = (open_source(aug.foreground, "foreground noise") if aug.foreground is not None
          else None)
    sources = (sp, no) if fg is None else (sp, no, fg)
    inputs = [e.path for src in sources for e in src.entries]
    check_outputs([out / INDEX_NAME if sharded else out], inputs)
    if not sp.any_nonzero():
        raise InputError(speech, "speech source is all digital silence")
    attrs = {
        "generator": "rnnoise-kit features (RNNoise v0.1 denoise_training)",
        "mode": "compat" if compat else "default",
        "seed": "glibc rand() seed 1" if compat else int(seed),
        "rows": frames,
        "columns": ROW,
        "gain_period": GAIN_PERIOD,
        "shard_rows": 0 if compat else SHARD_ROWS,
        "noise_skip_frames": NOISE_SKIP_FRAMES if compat else 0,
        "layout": DESCRIPTION,
    }
    kit = None
    resolved = teacher.resolve() if teacher is not None else None
    if aug.active or resolved is not None:
        bank, bank_info = response_bank(aug, seed) if aug.reverb else ([], None)
        kit = AugmentKit(aug, bank, fg, teacher=resolved)
        attrs.update(describe_augmentation(aug, bank_info))
    elif not compat:
        attrs.update(describe_augmentation(aug, None))
    if resolved is not None:
        attrs.update(resolved.describe())
    if sharded or out.suffix.lower() in (".h5", ".hdf5"):
        roles = ("speech", "noise", "foreground")
        for role, src in zip(roles, sources, strict=False):
            for k, v in src.describe(hashes=hashes).items():
                attrs[f"{role}_{k}"] = v
    skipped = [(p, r) for src in sources for p, r in src.skipped]
    t0 = time.perf_counter()
    # default mode resumes from its completed shards; compat mode is one sequential stream
    key = None if compat else _resume_key(attrs, sources)
    if sharded:
        resumed = _generate_sharded(sp, no, frames, out, attrs, key, compat=compat, seed=seed,
                                    jobs=jobs, scheduler=scheduler, progress=progress, kit=kit)
        return GenerateResult(out, frames, time.perf_counter() - t0, skipped, attrs,
                              resumed_rows=resumed)
    with (MatrixWriter(out, frames, attrs, resume_key=key, inputs=inputs) as w,
          progress_bar(frames, "features", enabled=progress) as bar):
        if compat:
            blocks = compat_blocks(sp, no, frames)
        else:
            blocks = default_blocks(sp, no, frames, seed, jobs,
                                    first_shard=w.start_row // SHARD_ROWS, kit=kit,
                                    scheduler=scheduler)
        written = write_blocks(w, bar, blocks)
    if written != frames:  # pragma: no cover - a bug
        raise RuntimeError(f"wrote {written} rows instead of {frames}")
    return GenerateResult(out, frames, time.perf_counter() - t0, skipped, attrs,
                          resumed_rows=w.start_row)


def write_blocks(writer, bar, blocks: Iterator[np.ndarray]) -> int:
    """Write row blocks in order to a :class:`~rnnoise_kit.training.matrix.MatrixWriter`,
    checkpointing after each (the unit a resumed run restarts from) and advancing the progress
    bar; the block generator is closed on any exit (stopping its workers). Returns the rows
    the output then holds, those of an interrupted run included."""
    written = writer.start_row
    bar.advance(written)
    try:
        for block in blocks:
            writer.write(block)
            writer.checkpoint()
            written += block.shape[0]
            bar.advance(block.shape[0])
    finally:
        close = getattr(blocks, "close", None)
        if close is not None:
            close()
    return written


def _generate_sharded(speech: Source, noise: Source, frames: int, folder: Path, attrs: dict,
                      key: str | None, *, compat: bool, seed: int, jobs: int,
                      scheduler: str | None, progress: bool,
                      kit: AugmentKit | None = None) -> int:
    """Write the shards of ``folder`` and its index; return the rows a killed run had done.

    Default mode: each generator shard is one file, written by the worker that made it; a
    rerun makes only the missing ones. Compat mode is one stream, cut into files of
    :data:`SHARD_ROWS` rows here, and starts over.
    """
    from rnnoise_kit.progress import progress_bar

    if compat:
        plan = [(i, min(SHARD_ROWS, frames - i * SHARD_ROWS))
                for i in range((frames + SHARD_ROWS - 1) // SHARD_ROWS)]
    else:
        plan = shard_tasks(frames)
    run = ShardedRun(folder, frames, ROW, key)
    run.start(dict(plan))
    resumed = sum(e["rows"] for e in run.done.values())
    with progress_bar(frames, "features", enabled=progress) as bar:
        bar.advance(resumed)
        if compat:
            pending = np.empty((0, ROW), np.float32)
            shard = 0
            for block in compat_blocks(speech, noise, frames):
                pending = np.concatenate([pending, block])
                while pending.shape[0] >= SHARD_ROWS or (
                        shard < len(plan) and pending.shape[0] == plan[shard][1]):
                    n = plan[shard][1]
                    run.add(shard, *write_shard(shard_path(folder, shard), pending[:n]))
                    pending = pending[n:]
                    bar.advance(n)
                    shard += 1
        else:
            todo = [((i, rows), str(shard_path(folder, i))) for i, rows in plan
                    if i not in run.done]
            sources = (speech, noise)
            if kit is not None and kit.foreground is not None:
                sources = (*sources, kit.foreground)
            results = _run_shards(_shard_file_job, (_shard, (seed, speech, noise, kit)), todo,
                                  jobs, sources, lambda: _warm_up(speech, noise, kit),
                                  scheduler)
            for ((i, rows), _), (done_rows, sha) in zip(todo, results, strict=True):
                run.add(i, done_rows, sha)
                bar.advance(rows)
    if not compat:
        attrs = {**attrs, "shard_seed": "numpy SeedSequence(seed, spawn_key=(shard,))"}
    run.finish(attrs)
    return resumed


def _resume_key(attrs: dict, sources: tuple[Source, ...]) -> str:
    """What a resumed run must share with the interrupted one: every attribute (mode, seed,
    rows, shard size, inputs' digests when recorded) and each input file's size and time."""
    import hashlib
    import json

    files = []
    for src in sources:
        for e in src.entries:
            st = os.stat(e.path)
            files.append([e.path, e.kind, e.length, st.st_size, st.st_mtime_ns])
    text = json.dumps({"attrs": attrs, "files": files}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
