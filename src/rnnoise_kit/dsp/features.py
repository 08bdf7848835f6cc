"""Frame analysis and the 42 RNNoise features (spec sections 2.2, 7, 8), offline and streaming.

Offline: :func:`analyse` takes any number of whole 480-sample frames and an
:class:`AnalysisState`, and returns a :class:`FrameAnalysis` with per-frame arrays. The state is
updated in place, so a long signal can be processed in consecutive blocks; the results are
identical to one call on the whole signal. Streaming: :class:`StreamingAnalyzer` feeds one frame
at a time through the same kernels, so both paths agree bit for bit.

How the offline path is organised (all sums in RNNoise's sequential float32 order):

1. high-pass biquad over the block (numba, sequential);
2. windowed frames -> batched float32 ``scipy.fft.rfft`` -> X;
3. pitch per frame (numba): downsample + LPC whitening, coarse/fine search, remove_doubling
   (sequential through the previous period/gain);
4. pitch-delayed frames -> batched rfft -> P;
5. band energies/correlations, Exp normalisation, DCTs, log spectrum, silence rule, cepstral
   ring, deltas and spectral variability (numba, sequential through the ring).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from rnnoise_kit.dsp import _kernels as K
from rnnoise_kit.dsp import _kissfft as KF
from rnnoise_kit.dsp._block import analyse_block, band_energy_windowed
from rnnoise_kit.dsp.biquad import A_HP, B_HP
from rnnoise_kit.dsp.constants import (
    CEPS_MEM,
    FRAME_SIZE,
    FREQ_SIZE,
    NB_BANDS,
    NB_FEATURES,
    PITCH_BUF_SIZE,
)
from rnnoise_kit.dsp.tables import WINDOW
from rnnoise_kit.errors import AudioError

__all__ = [
    "AnalysisState",
    "FrameAnalysis",
    "FrameResult",
    "StreamingAnalyzer",
    "analyse",
    "frame_analysis",
    "frame_spectra",
    "pitch_filter",
    "features_table",
    "dump_features",
    "dump_features_file",
]

_F32 = np.float32


def _zeros(*shape: int) -> np.ndarray:
    return np.zeros(shape, dtype=np.float32)


@dataclass
class AnalysisState:
    """State carried from frame to frame by ``compute_frame_features`` (and the high-pass).

    Attributes
    ----------
    hp_mem : (2,) float32
        High-pass biquad memory (used only when analysing with ``highpass=True``).
    pitch_buf : (1728,) float32
        Last 1728 analysed samples; its last 480 are C's ``analysis_mem``.
    last_period : int
    last_gain : np.float32
    cepstral_mem : (8, 22) float32
    memid : int
    """

    hp_mem: np.ndarray = field(default_factory=lambda: _zeros(2))
    pitch_buf: np.ndarray = field(default_factory=lambda: _zeros(PITCH_BUF_SIZE))
    last_period: int = 0
    last_gain: np.float32 = field(default_factory=lambda: _F32(0))
    cepstral_mem: np.ndarray = field(default_factory=lambda: _zeros(CEPS_MEM, NB_BANDS))
    memid: int = 0

    def copy(self) -> AnalysisState:
        """A deep copy (arrays copied)."""
        return AnalysisState(
            self.hp_mem.copy(),
            self.pitch_buf.copy(),
            int(self.last_period),
            _F32(self.last_gain),
            self.cepstral_mem.copy(),
            int(self.memid),
        )

    @property
    def analysis_mem(self) -> np.ndarray:
        """(480,) float32 view: the previous frame (first half of the next analysis window)."""
        return self.pitch_buf[PITCH_BUF_SIZE - FRAME_SIZE :]


@dataclass
class FrameAnalysis:
    """Per-frame results of :func:`analyse` for n frames.

    Attributes
    ----------
    X : (n, 481) complex64
        Spectrum of the windowed analysis buffer (training: bins >= lowpass zeroed).
    P : (n, 481) complex64
        Spectrum of the windowed pitch-delayed buffer.
    Ex, Ep : (n, 22) float32
        Band energies of X and P.
    Exp : (n, 22) float32
        Normalised band correlation ``corr(X, P)/sqrt(0.001 + Ex*Ep)`` (what pitch_filter takes).
    features : (n, 42) float32
        Zero on silent frames (inference mode).
    silence : (n,) bool
        Inference: ``float(E) < 0.04``; training: ``float(E) < 0.1``; E = sum of Ex.
    pitch_period : (n,) int32
        Period after remove_doubling, 60..767.
    pitch_gain : (n,) float32
    energy : (n,) float32
        E, the sequential float32 sum of Ex.
    """

    X: np.ndarray
    P: np.ndarray
    Ex: np.ndarray
    Ep: np.ndarray
    Exp: np.ndarray
    features: np.ndarray
    silence: np.ndarray
    pitch_period: np.ndarray
    pitch_gain: np.ndarray
    energy: np.ndarray

    def __len__(self) -> int:
        return int(self.features.shape[0])

    def frame(self, t: int) -> FrameResult:
        """The results of frame t as a :class:`FrameResult`."""
        return FrameResult(
            self.X[t],
            self.P[t],
            self.Ex[t],
            self.Ep[t],
            self.Exp[t],
            self.features[t],
            bool(self.silence[t]),
            int(self.pitch_period[t]),
            _F32(self.pitch_gain[t]),
            _F32(self.energy[t]),
        )


@dataclass
class FrameResult:
    """One frame of :class:`FrameAnalysis` (arrays without the leading n axis)."""

    X: np.ndarray
    P: np.ndarray
    Ex: np.ndarray
    Ep: np.ndarray
    Exp: np.ndarray
    features: np.ndarray
    silence: bool
    pitch_period: int
    pitch_gain: np.float32
    energy: np.float32


def _as_frames(x: np.ndarray) -> tuple[np.ndarray, int]:
    x = np.ascontiguousarray(x, dtype=np.float32).reshape(-1)
    if x.shape[0] % FRAME_SIZE:
        raise ValueError(f"expected whole 480-sample frames, got {x.shape[0]} samples")
    return x, x.shape[0] // FRAME_SIZE


def _spectra(buf: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """(n, 481) complex64 spectra of the windowed ``buf[starts[t] : starts[t] + 960]``."""
    out = np.empty((starts.shape[0], 2 * FREQ_SIZE), dtype=np.float32)
    # same bits either way; 16 frames per SIMD pass from a few frames on
    fwd = KF.forward_windowed_lanes if starts.shape[0] >= 4 else KF.forward_windowed
    fwd(buf, starts.astype(np.int64), WINDOW, out)
    return out.view(np.complex64)


def _lowpass_array(lowpass, n: int) -> np.ndarray | None:
    if lowpass is None:
        return None
    lp = np.broadcast_to(np.asarray(lowpass, dtype=np.int64), (n,))
    if np.any(lp < 0):
        raise ValueError("lowpass must be >= 0")
    return lp


def _zero_above(X: np.ndarray, lowpass: np.ndarray | None) -> None:
    if lowpass is None:
        return
    mask = np.arange(FREQ_SIZE)[None, :] >= lowpass[:, None]
    X[mask] = 0


def analyse(
    x: np.ndarray,
    state: AnalysisState | None = None,
    *,
    highpass: bool = True,
    training: bool = False,
    lowpass: np.ndarray | int | None = None,
) -> FrameAnalysis:
    """Analyse consecutive frames: ``compute_frame_features`` for each (offline, vectorised).

    Parameters
    ----------
    x : np.ndarray, shape (480 n,)
        Samples in int16 scale (float32). Must hold whole frames.
    state : AnalysisState, optional
        Updated in place (a fresh state when omitted), so the next block continues the signal.
    highpass : bool
        Run the input high-pass first (``rnnoise_process_frame``); False for the training
        generator, which high-passes itself.
    training : bool
        TRAINING build: no silence early return (``silence = float(E) < 0.1``, features kept).
    lowpass : int or np.ndarray of int, shape (n,), optional
        TRAINING build: ``X[lowpass:481] = 0`` per frame, before Ex (affects X, Ex, Exp and the
        cepstrum, not P). None or 481 means no low-pass.

    Returns
    -------
    FrameAnalysis
    """
    st = AnalysisState() if state is None else state
    x, n = _as_frames(x)
    lp = _lowpass_array(lowpass, n)
    # xp = previous pitch buffer ++ (high-passed) new samples, filtered in place
    xp = np.empty(PITCH_BUF_SIZE + x.shape[0], dtype=np.float32)
    xp[:PITCH_BUF_SIZE] = st.pitch_buf
    if highpass:
        K.biquad_into(x, st.hp_mem, B_HP[0], B_HP[1], A_HP[0], A_HP[1], xp[PITCH_BUF_SIZE:])
    else:
        xp[PITCH_BUF_SIZE:] = x
    lpa = np.full(n, FREQ_SIZE, dtype=np.int64) if lp is None else np.minimum(lp, FREQ_SIZE)
    xf = np.empty((n, 2 * FREQ_SIZE), dtype=np.float32)
    pf = np.empty((n, 2 * FREQ_SIZE), dtype=np.float32)
    Ex = np.empty((n, NB_BANDS), dtype=np.float32)
    Ep = np.empty_like(Ex)
    Exp = np.empty_like(Ex)
    feats = np.empty((n, NB_FEATURES), dtype=np.float32)
    silence = np.empty(n, dtype=np.bool_)
    periods = np.empty(n, dtype=np.int32)
    gains = np.empty(n, dtype=np.float32)
    energy = np.empty(n, dtype=np.float32)
    last_period, last_gain, memid = analyse_block(
        xp, n, int(st.last_period), _F32(st.last_gain), bool(training), lpa,
        st.cepstral_mem, int(st.memid),
        xf, pf, Ex, Ep, Exp, feats, silence, periods, gains, energy,
    )  # fmt: skip
    st.pitch_buf = xp[xp.shape[0] - PITCH_BUF_SIZE :].copy()
    st.last_period = int(last_period)
    st.last_gain = _F32(last_gain)
    st.memid = int(memid)
    X = xf.view(np.complex64)
    P = pf.view(np.complex64)
    return FrameAnalysis(X, P, Ex, Ep, Exp, feats, silence, periods, gains, energy)


def frame_spectra(
    x: np.ndarray,
    analysis_mem: np.ndarray | None = None,
    lowpass: np.ndarray | int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The spectra of ``frame_analysis`` (both generations): window, KISS FFT, low-pass.

    Parameters
    ----------
    x : np.ndarray, shape (480 n,)
    analysis_mem : np.ndarray, float32, shape (480,), optional
        The previous frame (zeros at the start). Not modified.
    lowpass : int or (n,) int array, optional
        ``X[lowpass:481] = 0`` per frame.

    Returns
    -------
    X : (n, 481) complex64
    analysis_mem : (480,) float32
        The state for the next block.
    """
    x, n = _as_frames(x)
    mem = _zeros(FRAME_SIZE) if analysis_mem is None else np.asarray(analysis_mem, np.float32)
    buf = np.concatenate([mem, x])
    X = _spectra(buf, FRAME_SIZE * np.arange(n))
    _zero_above(X, _lowpass_array(lowpass, n))
    return X, buf[buf.shape[0] - FRAME_SIZE :].copy()


def frame_analysis(
    x: np.ndarray,
    analysis_mem: np.ndarray | None = None,
    lowpass: np.ndarray | int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``frame_analysis`` alone (no pitch, no features): what training does for speech and noise.

    Parameters
    ----------
    x : np.ndarray, shape (480 n,)
    analysis_mem : np.ndarray, float32, shape (480,), optional
        The previous frame (zeros at the start). Not modified.
    lowpass : int or (n,) int array, optional
        ``X[lowpass:481] = 0`` per frame, before the band energies.

    Returns
    -------
    X : (n, 481) complex64
    Ex : (n, 22) float32
    analysis_mem : (480,) float32
        The state for the next block.
    """
    X, mem = frame_spectra(x, analysis_mem, lowpass)
    Ex = K.band_energy_batch(X.view(np.float32))
    return X, Ex, mem


def frame_band_energy(
    x: np.ndarray,
    analysis_mem: np.ndarray | None = None,
    lowpass: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The band energies of :func:`frame_analysis` without the spectra (faster, same bits).

    What the training generator needs for its speech and noise states (``Ey``, ``En``).

    Parameters
    ----------
    x : np.ndarray, shape (480 n,)
    analysis_mem : np.ndarray, float32, shape (480,), optional
        The previous frame (zeros at the start). Not modified.
    lowpass : int, optional
        Bins >= lowpass count as zero (the TRAINING build's ``X[lowpass:481] = 0``), the same
        for every frame of the call.

    Returns
    -------
    Ex : (n, 22) float32
    analysis_mem : (480,) float32
        The state for the next block.
    """
    x, n = _as_frames(x)
    buf = np.empty(FRAME_SIZE + x.shape[0], dtype=np.float32)
    buf[:FRAME_SIZE] = 0 if analysis_mem is None else analysis_mem
    buf[FRAME_SIZE:] = x
    ex = np.empty((n, NB_BANDS), dtype=np.float32)
    band_energy_windowed(buf, FREQ_SIZE if lowpass is None else int(lowpass), ex)
    return ex, buf[buf.shape[0] - FRAME_SIZE :].copy()


def pitch_filter(
    X: np.ndarray,
    P: np.ndarray,
    Ex: np.ndarray,
    Ep: np.ndarray,
    Exp: np.ndarray,
    g: np.ndarray,
) -> np.ndarray:
    """RNNoise's ``pitch_filter`` (§8) on n frames; returns the new spectra (inputs untouched).

    Parameters
    ----------
    X, P : (n, 481) complex64
    Ex, Ep, Exp : (n, 22) float32
        Exp normalised, as :func:`analyse` returns it.
    g : (n, 22) float32
        Raw network gains (before the ``lastg`` smoothing).

    Returns
    -------
    np.ndarray, complex64, shape (n, 481)
        Bins 400..480 are zero.
    """
    X = np.ascontiguousarray(X, dtype=np.complex64)
    n = X.shape[0]
    P = np.ascontiguousarray(P, dtype=np.complex64)

    def f(a):
        return np.ascontiguousarray(a, dtype=np.float32).reshape(n, NB_BANDS)

    out = K.pitch_filter_batch(X.view(np.float32), P.view(np.float32), f(Ex), f(Ep), f(Exp), f(g))
    return out.view(np.complex64)


def apply_band_gains(
    X: np.ndarray, g: np.ndarray, silence: np.ndarray, lastg: np.ndarray
) -> None:
    """The ``lastg`` smoothing and the band gains of ``rnnoise_process_frame`` (spec section 9).

    Parameters
    ----------
    X : (n, 481) complex64, C-contiguous
        Spectra (after :func:`pitch_filter`), scaled in place; bins 400..480 become 0.
    g : (n, 22) float32
        Raw network gains.
    silence : (n,) bool
        Silent frames: left untouched, and ``lastg`` is not updated.
    lastg : (22,) float32
        The smoothing memory, updated in place (carried from block to block).
    """
    if X.dtype != np.complex64 or not X.flags.c_contiguous:
        raise ValueError("X must be a C-contiguous complex64 array")
    K.smooth_and_apply_gains(
        X.view(np.float32), np.ascontiguousarray(g, dtype=np.float32),
        np.ascontiguousarray(silence, dtype=np.bool_), lastg,
    )  # fmt: skip


class StreamingAnalyzer:
    """Frame-by-frame analysis with carried state; same results as :func:`analyse`.

    Parameters
    ----------
    highpass : bool
        High-pass each frame first (inference path); False if frames are already filtered.
    training : bool
        See :func:`analyse`.
    state : AnalysisState, optional
    """

    def __init__(
        self, *, highpass: bool = True, training: bool = False, state: AnalysisState | None = None
    ):
        self.highpass = highpass
        self.training = training
        self.state = AnalysisState() if state is None else state

    def process(self, frame: np.ndarray, lowpass: int | None = None) -> FrameResult:
        """Analyse one 480-sample frame and return its results."""
        frame = np.asarray(frame, dtype=np.float32).reshape(-1)
        if frame.shape[0] != FRAME_SIZE:
            raise ValueError(f"a frame has 480 samples, got {frame.shape[0]}")
        res = analyse(
            frame,
            self.state,
            highpass=self.highpass,
            training=self.training,
            lowpass=lowpass,
        )
        return res.frame(0)


# ----------------------------------------------------------------------------- dump-features

DUMP_COLUMNS = NB_FEATURES + 2 + NB_BANDS  # 66


def features_table(res: FrameAnalysis) -> np.ndarray:
    """(n, 66) float32: features, silence flag (1.0 silent), pitch period, Ex."""
    n = len(res)
    out = np.empty((n, DUMP_COLUMNS), dtype=np.float32)
    out[:, :NB_FEATURES] = res.features
    out[:, NB_FEATURES] = res.silence
    out[:, NB_FEATURES + 1] = res.pitch_period
    out[:, NB_FEATURES + 2 :] = res.Ex
    return out


def dump_features(audio: np.ndarray, block_frames: int = 4096) -> np.ndarray:
    """Features table (:func:`features_table`) of int16-scale 48 kHz audio, inference path.

    A trailing partial frame is dropped. Processed in blocks of ``block_frames``.
    """
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    n = audio.shape[0] // FRAME_SIZE
    st = AnalysisState()
    parts = []
    for t0 in range(0, n, block_frames):
        t1 = min(n, t0 + block_frames)
        parts.append(features_table(analyse(audio[t0 * FRAME_SIZE : t1 * FRAME_SIZE], st)))
    if not parts:
        return np.empty((0, DUMP_COLUMNS), dtype=np.float32)
    return np.concatenate(parts)


def dump_features_file(
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    *,
    notes: list[str] | None = None,
    generation: str = "0.1",
) -> tuple[int, int]:
    """``rnnoise-kit dump-features``: write the per-frame float32 table as ``.npy``.

    Parameters
    ----------
    generation : str
        ``"0.1"``: :func:`dump_features`, (n_frames, 66); ``"0.2"``:
        :func:`rnnoise_kit.dsp.v02.dump_features_v02`, (n_frames, 99).

    Raises
    ------
    AudioError
        Missing, unreadable, empty or non-finite input, or shorter than one frame.
    OutputError
        The output is the input, does not end in ``.npy``, or cannot be written.

    Returns
    -------
    (int, int)
        Frames and columns written.
    """
    from rnnoise_kit.audio.io import read_mono_48k
    from rnnoise_kit.fileio import atomic_path, check_outputs, check_suffix

    if generation not in ("0.1", "0.2"):
        raise ValueError(f"unknown RNNoise generation {generation!r}")
    check_outputs([output_path], [input_path])
    check_suffix(output_path, (".npy",), "a NumPy array")
    audio = read_mono_48k(input_path, notes=notes)
    if audio.shape[0] < FRAME_SIZE:
        raise AudioError(
            input_path,
            f"shorter than one frame ({audio.shape[0]} < {FRAME_SIZE} samples at 48 kHz)",
        )
    if generation == "0.1":
        table = dump_features(audio)
    else:
        from rnnoise_kit.dsp.v02 import dump_features_v02

        table = dump_features_v02(audio)
    with atomic_path(output_path, inputs=[input_path]) as tmp, open(tmp, "wb") as fh:
        np.save(fh, table)
    return int(table.shape[0]), int(table.shape[1])
