"""RNNoise 0.2 frame analysis and its 65 features (spec ``rnnoise-v0.2.md`` sections 1-3),
offline and streaming, bit-exact with the plain C build.

:func:`analyse_v02` takes any number of whole 480-sample frames and an
:class:`AnalysisState02` (updated in place, so consecutive blocks give exactly the result of one
call on the whole signal) and returns a :class:`FrameAnalysis02`; :class:`StreamingAnalyzer02`
runs the same fused kernel one frame at a time. The high-pass, KISS FFT, window and pitch are
v0.1's (the same code); the 32 bands, their end folding and the features are 0.2's
(:mod:`rnnoise_kit.dsp.v02._kernels`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rnnoise_kit.dsp import _kernels as K
from rnnoise_kit.dsp.biquad import A_HP, B_HP
from rnnoise_kit.dsp.constants import FRAME_SIZE, FREQ_SIZE, PITCH_BUF_SIZE
from rnnoise_kit.dsp.features import _as_frames, _lowpass_array, frame_spectra
from rnnoise_kit.dsp.v02 import _kernels as K2
from rnnoise_kit.dsp.v02.constants import (
    BIN_FRAC,
    BIN_FRAC_LO,
    DUMP_COLUMNS,
    EBAND_20MS,
    NB_BANDS,
    NB_FEATURES,
)

__all__ = [
    "AnalysisState02",
    "FrameAnalysis02",
    "FrameResult02",
    "StreamingAnalyzer02",
    "analyse_v02",
    "band_corr",
    "band_energy",
    "dct",
    "dump_features_v02",
    "features_table_v02",
    "frame_analysis_v02",
    "interp_band_gain",
]

_F32 = np.float32


@dataclass
class AnalysisState02:
    """What ``rnn_compute_frame_features`` (and the input high-pass) carry between frames.

    ``logMax``/``follow`` of the Ly flooring restart at -2 every frame in C: no memory.

    Attributes
    ----------
    hp_mem : (2,) float32
        High-pass biquad memory (used when analysing with ``highpass=True``).
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

    def copy(self) -> AnalysisState02:
        """A deep copy (arrays copied)."""
        return AnalysisState02(
            self.hp_mem.copy(), self.pitch_buf.copy(), int(self.last_period), _F32(self.last_gain)
        )

    @property
    def analysis_mem(self) -> np.ndarray:
        """(480,) float32 view: the previous frame (first half of the next analysis window)."""
        return self.pitch_buf[PITCH_BUF_SIZE - FRAME_SIZE :]


@dataclass
class FrameAnalysis02:
    """Per-frame results of :func:`analyse_v02` for n frames.

    Attributes
    ----------
    X : (n, 481) complex64
        Spectrum of the windowed analysis buffer (TRAINING: bins >= lowpass zeroed).
    P : (n, 481) complex64
        Spectrum of the windowed buffer delayed by the pitch period.
    Ex, Ep : (n, 32) float32
        0.2 band energies of X and P.
    Exp : (n, 32) float32
        Normalised band correlation ``corr(X, P)/sqrt(.001 + Ex*Ep)`` (what the pitch filter
        takes).
    features : (n, 65) float32
        DCT of the floored log energies (minus 12 and 4 on the first two), DCT of Exp,
        ``.01*(period - 300)``; zero on silent frames (inference).
    silence : (n,) bool
        Inference: ``E < 0.04``; TRAINING: ``E < 0.1`` (E in double, as C compares).
    pitch_period : (n,) int32
        C's ``last_period`` after the frame, 60..767.
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

    def frame(self, t: int) -> FrameResult02:
        """The results of frame t as a :class:`FrameResult02`."""
        return FrameResult02(
            self.X[t], self.P[t], self.Ex[t], self.Ep[t], self.Exp[t], self.features[t],
            bool(self.silence[t]), int(self.pitch_period[t]), _F32(self.pitch_gain[t]),
            _F32(self.energy[t]),
        )  # fmt: skip


@dataclass
class FrameResult02:
    """One frame of :class:`FrameAnalysis02` (arrays without the leading n axis)."""

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


def analyse_v02(
    x: np.ndarray,
    state: AnalysisState02 | None = None,
    *,
    highpass: bool = True,
    training: bool = False,
    lowpass: np.ndarray | int | None = None,
) -> FrameAnalysis02:
    """Analyse consecutive frames: 0.2's ``rnn_compute_frame_features`` for each.

    Parameters
    ----------
    x : np.ndarray, shape (480 n,)
        Samples in int16 scale (converted to float32). Must hold whole frames.
    state : AnalysisState02, optional
        Updated in place (a fresh state when omitted): the next block continues the signal.
    highpass : bool
        Run the input high-pass first, as ``rnnoise_process_frame`` does before the analysis;
        False for a training generator that filters the signal itself.
    training : bool
        The TRAINING build (``dump_features``): silence is ``E < 0.1`` and the features are
        kept on silent frames.
    lowpass : int or np.ndarray of int, shape (n,), optional
        TRAINING build: ``X[lowpass:481] = 0`` per frame before Ex (affects X, Ex, Exp and the
        features, not P). None or >= 481: no low-pass.

    Returns
    -------
    FrameAnalysis02
    """
    st = AnalysisState02() if state is None else state
    x, n = _as_frames(x)
    lp = _lowpass_array(lowpass, n)
    # xp = previous pitch buffer ++ (high-passed) new samples
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
    last_period, last_gain = K2.analyse_block(
        xp, n, int(st.last_period), _F32(st.last_gain), bool(training), lpa,
        xf, pf, Ex, Ep, Exp, feats, silence, periods, gains, energy,
    )  # fmt: skip
    st.pitch_buf = xp[xp.shape[0] - PITCH_BUF_SIZE :].copy()
    st.last_period = int(last_period)
    st.last_gain = _F32(last_gain)
    return FrameAnalysis02(
        xf.view(np.complex64), pf.view(np.complex64), Ex, Ep, Exp, feats, silence, periods,
        gains, energy,
    )  # fmt: skip


class StreamingAnalyzer02:
    """Frame-by-frame 0.2 analysis with carried state; same bits as :func:`analyse_v02`.

    Parameters
    ----------
    highpass, training : bool
        See :func:`analyse_v02`.
    state : AnalysisState02, optional
    """

    def __init__(
        self,
        *,
        highpass: bool = True,
        training: bool = False,
        state: AnalysisState02 | None = None,
    ):
        self.highpass = highpass
        self.training = training
        self.state = AnalysisState02() if state is None else state

    def process(self, frame: np.ndarray, lowpass: int | None = None) -> FrameResult02:
        """Analyse one 480-sample frame and return its results."""
        frame = np.asarray(frame, dtype=np.float32).reshape(-1)
        if frame.shape[0] != FRAME_SIZE:
            raise ValueError(f"a frame has {FRAME_SIZE} samples, got {frame.shape[0]}")
        res = analyse_v02(
            frame, self.state, highpass=self.highpass, training=self.training, lowpass=lowpass
        )
        return res.frame(0)


def features_table_v02(res: FrameAnalysis02) -> np.ndarray:
    """(n, 99) float32: features (65), silence flag (1.0 silent), pitch period, Ex (32).

    The columns of the reference vectors' [0:65], [98], [99], [100:132]."""
    n = len(res)
    out = np.empty((n, DUMP_COLUMNS), dtype=np.float32)
    out[:, :NB_FEATURES] = res.features
    out[:, NB_FEATURES] = res.silence
    out[:, NB_FEATURES + 1] = res.pitch_period
    out[:, NB_FEATURES + 2 :] = res.Ex
    return out


def dump_features_v02(audio: np.ndarray, block_frames: int = 4096) -> np.ndarray:
    """:func:`features_table_v02` of int16-scale 48 kHz audio (inference path, high-pass on,
    as ``rnnoise_process_frame``), in blocks of ``block_frames``; a trailing partial frame is
    dropped. Returns (n_frames, 99) float32."""
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    n = audio.shape[0] // FRAME_SIZE
    st = AnalysisState02()
    parts = [
        features_table_v02(
            analyse_v02(audio[t0 * FRAME_SIZE : min(n, t0 + block_frames) * FRAME_SIZE], st)
        )
        for t0 in range(0, n, block_frames)
    ]
    return np.concatenate(parts) if parts else np.empty((0, DUMP_COLUMNS), dtype=np.float32)


def frame_analysis_v02(
    x: np.ndarray,
    analysis_mem: np.ndarray | None = None,
    lowpass: np.ndarray | int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """0.2's ``rnn_frame_analysis`` alone (no pitch, no features): X and its 0.2 band energies,
    what a training generator computes for the clean speech.

    Parameters
    ----------
    x : np.ndarray, shape (480 n,)
    analysis_mem : np.ndarray, float32, shape (480,), optional
        The previous frame (zeros at the start). Not modified.
    lowpass : int or (n,) int array, optional
        TRAINING build: ``X[lowpass:481] = 0`` per frame, before the band energies.

    Returns
    -------
    X : (n, 481) complex64
    Ex : (n, 32) float32
    analysis_mem : (480,) float32
        The state for the next block.
    """
    X, mem = frame_spectra(x, analysis_mem, lowpass)
    return X, band_energy(X), mem


# ----------------------------------------------------------------------------- building blocks


def _spec_rows(X: np.ndarray) -> np.ndarray:
    X = np.ascontiguousarray(X, dtype=np.complex64)
    if X.shape[-1] != FREQ_SIZE:
        raise ValueError(f"spectra must have {FREQ_SIZE} bins, got shape {X.shape}")
    return X.reshape(-1, FREQ_SIZE).view(np.float32)


def _band_rows(v: np.ndarray, what: str) -> np.ndarray:
    v = np.ascontiguousarray(v, dtype=np.float32)
    if v.shape[-1] != NB_BANDS:
        raise ValueError(f"{what} must have {NB_BANDS} bands, got shape {v.shape}")
    return v.reshape(-1, NB_BANDS)


def band_energy(X: np.ndarray) -> np.ndarray:
    """0.2's ``compute_band_energy``: 34 triangular sums, the two end pairs folded (x 2/3).

    Parameters
    ----------
    X : np.ndarray, complex64, shape (..., 481)

    Returns
    -------
    np.ndarray, float32, shape (..., 32)
    """
    xf = _spec_rows(X)
    out = np.empty((xf.shape[0], NB_BANDS), dtype=np.float32)
    K2.band_sums_batch(xf, xf, 0, out)
    return out.reshape(*np.shape(X)[:-1], NB_BANDS)


def band_corr(X: np.ndarray, P: np.ndarray) -> np.ndarray:
    """0.2's ``compute_band_corr`` (Re(X conj P) per band, same triangles and folding).

    Parameters
    ----------
    X, P : np.ndarray, complex64, shape (..., 481)

    Returns
    -------
    np.ndarray, float32, shape (..., 32)
    """
    xf = _spec_rows(X)
    pf = _spec_rows(P)
    if pf.shape != xf.shape:
        raise ValueError(f"X and P differ in shape: {np.shape(X)} vs {np.shape(P)}")
    out = np.empty((xf.shape[0], NB_BANDS), dtype=np.float32)
    K2.band_sums_batch(xf, pf, 1, out)
    return out.reshape(*np.shape(X)[:-1], NB_BANDS)


def interp_band_gain(g: np.ndarray) -> np.ndarray:
    """0.2's ``interp_band_gain``: 32 band gains to 481 bins (bins 400..480 are 0).

    Parameters
    ----------
    g : np.ndarray, shape (..., 32)

    Returns
    -------
    np.ndarray, float32, shape (..., 481)
    """
    flat = _band_rows(g, "gains")
    out = np.empty((flat.shape[0], FREQ_SIZE), dtype=np.float32)
    for t in range(flat.shape[0]):
        K2.interp_band_gain_1(flat[t], EBAND_20MS, BIN_FRAC, BIN_FRAC_LO, out[t])
    return out.reshape(*np.shape(g)[:-1], FREQ_SIZE)


def dct(v: np.ndarray) -> np.ndarray:
    """0.2's ``dct`` of 32 values: sequential float32 sums, then x sqrt(2/22) in double.

    Parameters
    ----------
    v : np.ndarray, shape (..., 32)

    Returns
    -------
    np.ndarray, float32, shape (..., 32)
    """
    flat = _band_rows(v, "values")
    out = np.empty_like(flat)
    K2.dct_batch(flat, out)
    return out.reshape(np.shape(v))
