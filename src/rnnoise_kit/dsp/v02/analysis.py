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

from dataclasses import dataclass

import numpy as np

from rnnoise_kit.dsp import bands as _bands
from rnnoise_kit.dsp._analysis import (
    AnalysisSpec,
    AnalysisStateBase,
    FrameAnalysisBase,
    FrameResultBase,
    StreamingAnalyzerBase,
    analyse_frames,
    dump_table,
    features_table,
)
from rnnoise_kit.dsp.bands import BandLayout
from rnnoise_kit.dsp.constants import FREQ_SIZE
from rnnoise_kit.dsp.features import frame_analysis
from rnnoise_kit.dsp.v02 import _kernels as K2
from rnnoise_kit.dsp.v02.constants import (
    BIN_FRAC,
    BIN_FRAC_LO,
    EBAND_20MS,
    NB_BANDS,
    NB_FEATURES,
)

__all__ = [
    "BANDS",
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
class AnalysisState02(AnalysisStateBase):
    """What ``rnn_compute_frame_features`` (and the input high-pass) carry between frames: the
    shared fields of :class:`~rnnoise_kit.dsp._analysis.AnalysisStateBase`, nothing more.

    ``logMax``/``follow`` of the Ly flooring restart at -2 every frame in C: no memory.
    """


@dataclass
class FrameResult02(FrameResultBase):
    """One frame of :class:`FrameAnalysis02` (arrays without the leading n axis)."""


@dataclass
class FrameAnalysis02(FrameAnalysisBase):
    """Per-frame results of :func:`analyse_v02` for n frames: 0.2's 32 bands (Ex, Ep, Exp
    (n, 32)) and 65 features (n, 65): DCT of the floored log energies (minus 12 and 4 on the
    first two), DCT of Exp, ``.01*(period - 300)``; silence compares E in double, as C does.
    Fields as :class:`~rnnoise_kit.dsp._analysis.FrameAnalysisBase`."""

    result_type = FrameResult02


def _block(xp, n, st, training, lowpass, out):
    """0.2's :data:`~rnnoise_kit.dsp._analysis.BlockKernel` (no state beyond the shared)."""
    return K2.analyse_block(
        xp, n, int(st.last_period), _F32(st.last_gain), training, lowpass,
        out.X.view(np.float32), out.P.view(np.float32), out.Ex, out.Ep, out.Exp, out.features,
        out.silence, out.pitch_period, out.pitch_gain, out.energy,
    )  # fmt: skip


ANALYSIS = AnalysisSpec(NB_BANDS, NB_FEATURES, AnalysisState02, FrameAnalysis02, _block)
"""0.2's analysis for the shared driver (:mod:`rnnoise_kit.dsp._analysis`)."""


def analyse_v02(
    x: np.ndarray,
    state: AnalysisState02 | None = None,
    *,
    highpass: bool = True,
    training: bool = False,
    lowpass: np.ndarray | int | None = None,
) -> FrameAnalysis02:
    """Analyse consecutive frames: 0.2's ``rnn_compute_frame_features`` for each.

    :func:`~rnnoise_kit.dsp._analysis.analyse_frames` with 0.2's :data:`ANALYSIS` (same
    parameters); ``training=True`` is the TRAINING build of ``dump_features``.

    Returns
    -------
    FrameAnalysis02
    """
    return analyse_frames(ANALYSIS, x, state, highpass=highpass, training=training,
                          lowpass=lowpass)


class StreamingAnalyzer02(StreamingAnalyzerBase):
    """Frame-by-frame 0.2 analysis with carried state; same bits as :func:`analyse_v02`
    (parameters: :class:`~rnnoise_kit.dsp._analysis.StreamingAnalyzerBase`)."""

    spec = ANALYSIS


features_table_v02 = features_table


def dump_features_v02(audio: np.ndarray, block_frames: int = 4096) -> np.ndarray:
    """:func:`features_table_v02` of int16-scale 48 kHz audio, (n_frames, 99) float32; see
    :func:`~rnnoise_kit.dsp._analysis.dump_table`."""
    return dump_table(ANALYSIS, audio, block_frames)


def frame_analysis_v02(
    x: np.ndarray,
    analysis_mem: np.ndarray | None = None,
    lowpass: np.ndarray | int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """0.2's ``rnn_frame_analysis`` alone (no pitch, no features), what a training generator
    computes for the clean speech: :func:`rnnoise_kit.dsp.frame_analysis` over 0.2's
    :data:`BANDS`, Ex (n, 32)."""
    return frame_analysis(x, analysis_mem, lowpass, BANDS)


# ----------------------------------------------------------------------------- building blocks
# v0.1's functions (:mod:`rnnoise_kit.dsp.bands`) over 0.2's bands


def _band_sums(mode: int):
    def sums(xf: np.ndarray, pf: np.ndarray | None = None) -> np.ndarray:
        out = np.empty((xf.shape[0], NB_BANDS), dtype=np.float32)
        K2.band_sums_batch(xf, xf if pf is None else pf, mode, out)
        return out

    return sums


def _interp(g: np.ndarray) -> np.ndarray:
    out = np.empty((g.shape[0], FREQ_SIZE), dtype=np.float32)
    for t in range(g.shape[0]):
        K2.interp_band_gain_1(g[t], EBAND_20MS, BIN_FRAC, BIN_FRAC_LO, out[t])
    return out


def _dct(v: np.ndarray) -> np.ndarray:
    out = np.empty_like(v)
    K2.dct_batch(v, out)
    return out


def _pitch_filter(xf, pf, ex, ep, exp_, g):
    out = np.empty_like(xf)
    K2.pitch_filter_batch(xf, pf, ex, ep, exp_, g, out)
    return out


BANDS = BandLayout(NB_BANDS, _band_sums(0), _band_sums(1), _interp, _dct, _pitch_filter)
"""0.2's 32 bands: 34 triangle tops (``eband20ms``), the two end pairs folded (x 2/3)."""


def band_energy(X: np.ndarray) -> np.ndarray:
    """0.2's ``compute_band_energy``, (..., 481) -> (..., 32): :func:`rnnoise_kit.dsp.band_energy`
    over :data:`BANDS`."""
    return _bands.band_energy(X, BANDS)


def band_corr(X: np.ndarray, P: np.ndarray) -> np.ndarray:
    """0.2's ``compute_band_corr``, (..., 481) twice -> (..., 32):
    :func:`rnnoise_kit.dsp.band_corr` over :data:`BANDS`."""
    return _bands.band_corr(X, P, BANDS)


def interp_band_gain(g: np.ndarray) -> np.ndarray:
    """0.2's ``interp_band_gain``, (..., 32) -> (..., 481), bins 400..480 are 0:
    :func:`rnnoise_kit.dsp.interp_band_gain` over :data:`BANDS`."""
    return _bands.interp_band_gain(g, BANDS)


def dct(v: np.ndarray) -> np.ndarray:
    """0.2's ``dct`` of 32 values (x sqrt(2/22) in double, v0.1's scale), (..., 32) ->
    (..., 32): :func:`rnnoise_kit.dsp.dct` over :data:`BANDS`."""
    return _bands.dct(v, BANDS)
