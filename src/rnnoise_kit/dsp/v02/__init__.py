"""RNNoise 0.2-series DSP (librnnoise 0.2 and its main branch, as in pyrnnoise), bit-exact with
the plain C build on ``shared/reference/v0.2``. Spec: ``shared/spec/rnnoise-v0.2.md``.

0.2 keeps v0.1's high-pass, window, KISS FFT, pitch analysis and pitch-filter formula (the
same code here, :mod:`rnnoise_kit.dsp`); it differs in the bands (32, ERB-like, the two end
triangles folded), the 65 features and the post-filter (one more frame of delay, HEAD's
energy-compensated decay cap).

* :func:`analyse_v02` / :class:`StreamingAnalyzer02` -> :class:`FrameAnalysis02`: features
  (n, 65), X and P, Ex/Ep/Exp (n, 32), silence, pitch; state in :class:`AnalysisState02`;
  ``training=True`` (and ``lowpass``) for the TRAINING build of ``dump_features``.
* :func:`postfilter_v02` (state :class:`PostFilterState02`) with its parts
  :func:`delayed_frames`, :func:`pitch_filter`, :func:`cap_gains`, :func:`apply_gains`; then
  :func:`rnnoise_kit.dsp.synthesize`.
* :func:`dump_features_v02` (the (n, 99) table: features, silence, pitch, Ex) and
  :func:`frame_analysis_v02` (X and Ex only, for a training generator's clean signal).
* Building blocks: :func:`band_energy`, :func:`band_corr`, :func:`interp_band_gain`,
  :func:`dct` (v0.1's :mod:`rnnoise_kit.dsp.bands` over 0.2's :data:`BANDS`); constants in
  :mod:`rnnoise_kit.dsp.v02.constants`.
"""

from rnnoise_kit.dsp.v02.analysis import (
    BANDS,
    AnalysisState02,
    FrameAnalysis02,
    FrameResult02,
    StreamingAnalyzer02,
    analyse_v02,
    band_corr,
    band_energy,
    dct,
    dump_features_v02,
    features_table_v02,
    frame_analysis_v02,
    interp_band_gain,
)
from rnnoise_kit.dsp.v02.constants import EBAND_20MS, NB_BANDS, NB_FEATURES
from rnnoise_kit.dsp.v02.postfilter import (
    DelayedFrames,
    PostFilterState02,
    apply_gains,
    cap_gains,
    delayed_frames,
    pitch_filter,
    postfilter_v02,
)

__all__ = [
    "BANDS",
    "EBAND_20MS",
    "NB_BANDS",
    "NB_FEATURES",
    "AnalysisState02",
    "DelayedFrames",
    "FrameAnalysis02",
    "FrameResult02",
    "PostFilterState02",
    "StreamingAnalyzer02",
    "analyse_v02",
    "apply_gains",
    "band_corr",
    "band_energy",
    "cap_gains",
    "dct",
    "delayed_frames",
    "dump_features_v02",
    "features_table_v02",
    "frame_analysis_v02",
    "interp_band_gain",
    "pitch_filter",
    "postfilter_v02",
]
