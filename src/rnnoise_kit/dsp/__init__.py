"""RNNoise v0.1.1 DSP: window, transforms, bands, biquad, pitch, features, pitch filter, synthesis.

Bit-exact with the C reference (x86-64, no FMA): every float32/double step follows
``shared/spec/rnnoise-v0.1-dsp.md``, the FFT included (a numba emulation of KISS FFT).

Main entry points:

* :func:`analyse` (offline, any number of whole frames, state carried in an
  :class:`AnalysisState`) -> :class:`FrameAnalysis`;
* :class:`StreamingAnalyzer` (one 480-sample frame per call, same results);
* :func:`frame_analysis` (X and Ex only) and :func:`frame_band_energy` (Ex only, what
  training uses for speech and noise);
* :func:`pitch_filter`, :func:`apply_band_gains` and :func:`synthesize` for the denoiser.
"""

from rnnoise_kit.dsp.bands import band_corr, band_energy, dct, interp_band_gain
from rnnoise_kit.dsp.biquad import A_HP, B_HP, biquad, highpass
from rnnoise_kit.dsp.features import (
    AnalysisState,
    FrameAnalysis,
    FrameResult,
    StreamingAnalyzer,
    analyse,
    apply_band_gains,
    dump_features,
    features_table,
    frame_analysis,
    frame_band_energy,
    pitch_filter,
)
from rnnoise_kit.dsp.pitch import (
    find_best_pitch,
    frame_pitch,
    pitch_downsample,
    pitch_search,
    remove_doubling,
)
from rnnoise_kit.dsp.tables import HALF_WINDOW, WINDOW
from rnnoise_kit.dsp.transform import apply_window, forward_transform, inverse_transform, synthesize

__all__ = [
    "A_HP",
    "B_HP",
    "HALF_WINDOW",
    "WINDOW",
    "AnalysisState",
    "FrameAnalysis",
    "FrameResult",
    "StreamingAnalyzer",
    "analyse",
    "apply_band_gains",
    "apply_window",
    "band_corr",
    "band_energy",
    "biquad",
    "dct",
    "dump_features",
    "features_table",
    "find_best_pitch",
    "forward_transform",
    "frame_analysis",
    "frame_band_energy",
    "frame_pitch",
    "highpass",
    "interp_band_gain",
    "inverse_transform",
    "pitch_downsample",
    "pitch_filter",
    "pitch_search",
    "remove_doubling",
    "synthesize",
]
