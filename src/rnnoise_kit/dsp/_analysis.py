"""The frame analysis both RNNoise generations share, parameterised by an :class:`AnalysisSpec`.

v0.1 (:mod:`rnnoise_kit.dsp.features`) and 0.2 (:mod:`rnnoise_kit.dsp.v02.analysis`) run the
same high-pass, pitch buffer, KISS FFT and pitch; they differ in the bands, the features and
what else the state carries (v0.1's cepstral ring). Each generation is an :class:`AnalysisSpec`
(its sizes, its state and result classes, and its fused numba block kernel) on top of the one
offline driver :func:`analyse_frames` and the one :class:`StreamingAnalyzerBase`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from rnnoise_kit.dsp import _kernels as K
from rnnoise_kit.dsp.biquad import A_HP, B_HP
from rnnoise_kit.dsp.constants import FRAME_SIZE, FREQ_SIZE, PITCH_BUF_SIZE

_F32 = np.float32


def as_frames(x: np.ndarray) -> tuple[np.ndarray, int]:
    """``x`` as contiguous float32 (480 n,) samples and n; ValueError unless whole frames."""
    x = np.ascontiguousarray(x, dtype=np.float32).reshape(-1)
    if x.shape[0] % FRAME_SIZE:
        raise ValueError(f"expected whole {FRAME_SIZE}-sample frames, got {x.shape[0]} samples")
    return x, x.shape[0] // FRAME_SIZE


def lowpass_array(lowpass: np.ndarray | int | None, n: int) -> np.ndarray | None:
    """The TRAINING build's per-frame low-pass bins as (n,) int64 (None: no low-pass)."""
    if lowpass is None:
        return None
    lp = np.broadcast_to(np.asarray(lowpass, dtype=np.int64), (n,))
    if np.any(lp < 0):
        raise ValueError("lowpass must be >= 0")
    return lp


@dataclass
class AnalysisStateBase:
    """What the analysis of every generation carries from frame to frame (and the high-pass).

    Attributes
    ----------
    hp_mem : (2,) float32
        High-pass biquad memory (used only when analysing with ``highpass=True``).
    pitch_buf : (1728,) float32
        The last 1728 analysed samples; its last 480 are C's ``analysis_mem``.
    last_period : int
        Pitch period of the previous frame (``remove_doubling``'s memory).
    last_gain : np.float32
        Pitch gain of the previous frame.
    """

    hp_mem: np.ndarray = field(default_factory=lambda: np.zeros(2, np.float32))
    pitch_buf: np.ndarray = field(default_factory=lambda: np.zeros(PITCH_BUF_SIZE, np.float32))
    last_period: int = 0
    last_gain: np.float32 = field(default_factory=lambda: _F32(0))

    def copy(self):
        """A deep copy (arrays copied)."""
        return type(self)(**{
            f.name: v.copy() if isinstance(v, np.ndarray) else v
            for f in dataclasses.fields(self)
            for v in (getattr(self, f.name),)
        })  # fmt: skip

    @property
    def analysis_mem(self) -> np.ndarray:
        """(480,) float32 view: the previous frame (first half of the next analysis window)."""
        return self.pitch_buf[PITCH_BUF_SIZE - FRAME_SIZE :]


@dataclass
class FrameResultBase:
    """One frame of a :class:`FrameAnalysisBase` (arrays without the leading n axis)."""

    # FrameAnalysisBase's field names again, typed for one frame (bool, int, scalars)
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


@dataclass
class FrameAnalysisBase:
    """Per-frame analysis results of n frames (nb bands and nf features: the generation's).

    Attributes
    ----------
    X : (n, 481) complex64
        Spectrum of the windowed analysis buffer (TRAINING: bins >= lowpass zeroed).
    P : (n, 481) complex64
        Spectrum of the windowed buffer delayed by the pitch period.
    Ex, Ep : (n, nb) float32
        Band energies of X and P.
    Exp : (n, nb) float32
        Normalised band correlation ``corr(X, P)/sqrt(0.001 + Ex*Ep)`` (what the pitch filter
        takes).
    features : (n, nf) float32
        Zero on silent frames (inference).
    silence : (n,) bool
        Inference: ``E < 0.04``; TRAINING: ``E < 0.1``; E = sum of Ex.
    pitch_period : (n,) int32
        Period after remove_doubling, 60..767.
    pitch_gain : (n,) float32
    energy : (n,) float32
        E, the sequential float32 sum of Ex.
    """

    result_type: ClassVar[type[FrameResultBase]] = FrameResultBase

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

    def frame(self, t: int) -> FrameResultBase:
        """The results of frame t (the generation's frame result class)."""
        return self.result_type(
            self.X[t], self.P[t], self.Ex[t], self.Ep[t], self.Exp[t], self.features[t],
            bool(self.silence[t]), int(self.pitch_period[t]), _F32(self.pitch_gain[t]),
            _F32(self.energy[t]),
        )  # fmt: skip


BlockKernel = Callable[[np.ndarray, int, AnalysisStateBase, bool, np.ndarray, FrameAnalysisBase],
                       tuple[int, float]]
"""``block(xp, n, state, training, lowpass, out) -> (last_period, last_gain)``: analyse the n
frames of ``xp`` = previous pitch buffer ++ new samples into the preallocated ``out``, update
the generation's own state (beyond the pitch buffer and the pitch memory) in place."""


@dataclass(frozen=True)
class AnalysisSpec:
    """One generation's frame analysis: its sizes, classes and fused block kernel.

    Attributes
    ----------
    nb_bands, nb_features : int
    state_type : type of AnalysisStateBase
    frames_type : type of FrameAnalysisBase
    block : BlockKernel
    """

    nb_bands: int
    nb_features: int
    state_type: type[AnalysisStateBase]
    frames_type: type[FrameAnalysisBase]
    block: BlockKernel

    @property
    def dump_columns(self) -> int:
        """Columns of :func:`features_table`: features, silence flag, pitch period, Ex."""
        return self.nb_features + 2 + self.nb_bands


def analyse_frames(
    spec: AnalysisSpec,
    x: np.ndarray,
    state: AnalysisStateBase | None = None,
    *,
    highpass: bool = True,
    training: bool = False,
    lowpass: np.ndarray | int | None = None,
) -> FrameAnalysisBase:
    """Analyse consecutive frames with ``spec``'s generation (offline, one block kernel call).

    Parameters
    ----------
    spec : AnalysisSpec
    x : np.ndarray, shape (480 n,)
        Samples in int16 scale (converted to float32). Must hold whole frames.
    state : spec.state_type, optional
        Updated in place (a fresh state when omitted), so the next block continues the signal.
    highpass : bool
        Run the input high-pass first, as ``rnnoise_process_frame`` does; False for a training
        generator that filters the signal itself.
    training : bool
        The TRAINING build: silence is ``E < 0.1`` and the features are kept on silent frames.
    lowpass : int or np.ndarray of int, shape (n,), optional
        TRAINING build: ``X[lowpass:481] = 0`` per frame before Ex (affects X, Ex, Exp and the
        features, not P). None or >= 481: no low-pass.

    Returns
    -------
    spec.frames_type
    """
    st = spec.state_type() if state is None else state
    x, n = as_frames(x)
    lp = lowpass_array(lowpass, n)
    # xp = previous pitch buffer ++ (high-passed) new samples
    xp = np.empty(PITCH_BUF_SIZE + x.shape[0], dtype=np.float32)
    xp[:PITCH_BUF_SIZE] = st.pitch_buf
    if highpass:
        K.biquad_into(x, st.hp_mem, B_HP[0], B_HP[1], A_HP[0], A_HP[1], xp[PITCH_BUF_SIZE:])
    else:
        xp[PITCH_BUF_SIZE:] = x
    lpa = np.full(n, FREQ_SIZE, dtype=np.int64) if lp is None else np.minimum(lp, FREQ_SIZE)
    spectra, bands = (n, FREQ_SIZE), (n, spec.nb_bands)
    out = spec.frames_type(
        np.empty(spectra, np.complex64), np.empty(spectra, np.complex64),
        np.empty(bands, np.float32), np.empty(bands, np.float32), np.empty(bands, np.float32),
        np.empty((n, spec.nb_features), np.float32), np.empty(n, np.bool_),
        np.empty(n, np.int32), np.empty(n, np.float32), np.empty(n, np.float32),
    )  # fmt: skip
    last_period, last_gain = spec.block(xp, n, st, bool(training), lpa, out)
    st.pitch_buf = xp[xp.shape[0] - PITCH_BUF_SIZE :].copy()
    st.last_period = int(last_period)
    st.last_gain = _F32(last_gain)
    return out


class StreamingAnalyzerBase:
    """Frame-by-frame analysis with carried state: one frame through :func:`analyse_frames`,
    so the results equal the offline ones bit for bit. Subclasses set ``spec``.

    Parameters
    ----------
    highpass : bool
        High-pass each frame first (inference path); False if frames are already filtered.
    training : bool
        See :func:`analyse_frames`.
    state : spec.state_type, optional
    """

    spec: ClassVar[AnalysisSpec]

    def __init__(
        self,
        *,
        highpass: bool = True,
        training: bool = False,
        state: AnalysisStateBase | None = None,
    ):
        self.highpass = highpass
        self.training = training
        self.state = self.spec.state_type() if state is None else state

    def process(self, frame: np.ndarray, lowpass: int | None = None) -> FrameResultBase:
        """Analyse one 480-sample frame and return its results."""
        frame = np.asarray(frame, dtype=np.float32).reshape(-1)
        if frame.shape[0] != FRAME_SIZE:
            raise ValueError(f"a frame has {FRAME_SIZE} samples, got {frame.shape[0]}")
        res = analyse_frames(
            self.spec, frame, self.state, highpass=self.highpass, training=self.training,
            lowpass=lowpass,
        )  # fmt: skip
        return res.frame(0)


def features_table(res: FrameAnalysisBase) -> np.ndarray:
    """(n, nf + 2 + nb) float32: features, silence flag (1.0 silent), pitch period, Ex.

    v0.1: (n, 66); 0.2: (n, 99), the columns of the 0.2 reference vectors' [0:65], [98], [99],
    [100:132]."""
    n, nf = res.features.shape
    out = np.empty((n, nf + 2 + res.Ex.shape[1]), dtype=np.float32)
    out[:, :nf] = res.features
    out[:, nf] = res.silence
    out[:, nf + 1] = res.pitch_period
    out[:, nf + 2 :] = res.Ex
    return out


def dump_table(spec: AnalysisSpec, audio: np.ndarray, block_frames: int = 4096) -> np.ndarray:
    """:func:`features_table` of int16-scale 48 kHz audio, inference path (high-pass on, as
    ``rnnoise_process_frame``), analysed in blocks of ``block_frames``; a trailing partial frame
    is dropped. Returns (n_frames, ``spec.dump_columns``) float32."""
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    n = audio.shape[0] // FRAME_SIZE
    st = spec.state_type()
    parts = [
        features_table(
            analyse_frames(spec, audio[t0 * FRAME_SIZE : min(n, t0 + block_frames) * FRAME_SIZE],
                           st)
        )
        for t0 in range(0, n, block_frames)
    ]
    return np.concatenate(parts) if parts else np.empty((0, spec.dump_columns), np.float32)
