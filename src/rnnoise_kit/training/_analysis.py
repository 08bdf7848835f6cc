"""Thin adapter between the generator and :mod:`rnnoise_kit.dsp` (block analysis states).

The generator needs two kinds of analysis state, each fed whole blocks of consecutive frames
whose low-pass (``X[lowpass:481] = 0``, the TRAINING build of ``frame_analysis``) is constant
over the block:

* :class:`SpectralState` (``st`` and ``noise_state`` of ``denoise_training``):
  ``frame_analysis`` only, of which only the band energies (n, 22) are used, so it calls
  :func:`~rnnoise_kit.dsp.frame_band_energy` (same bits, no spectra stored);
* :class:`FeatureState` (``noisy``): ``compute_frame_features`` of the TRAINING build (no
  silence early-return, no high-pass inside), returns the features (n, 42), the band energies
  Ex (n, 22) and the silence flags ``float(sum Ex) < 0.1`` (n,).

Both use the DSP's bit-exact offline path, in compat and default mode alike. (A float32
``scipy.fft`` transform for speech and noise was measured 0.7 us a frame faster per state, not
worth a second path.)
"""

from __future__ import annotations

import numpy as np

from rnnoise_kit.dsp import AnalysisState, analyse, frame_band_energy
from rnnoise_kit.dsp.constants import FRAME_SIZE, FREQ_SIZE


class SpectralState:
    """``frame_analysis`` state (``analysis_mem``) over blocks of frames."""

    def __init__(self) -> None:
        self.mem = np.zeros(FRAME_SIZE, np.float32)

    def band_energy(self, x: np.ndarray, lowpass: int = FREQ_SIZE) -> np.ndarray:
        """Band energies (n, 22) float32 of frames ``x`` (n, 480), X zeroed from ``lowpass``."""
        lp = None if lowpass >= FREQ_SIZE else int(lowpass)
        x = np.ascontiguousarray(x, dtype=np.float32).reshape(-1)
        ex, self.mem = frame_band_energy(x, self.mem, lp)
        return ex


class FeatureState:
    """``compute_frame_features`` state of the TRAINING build over blocks of frames."""

    def __init__(self) -> None:
        self.state = AnalysisState()

    def features(self, x: np.ndarray, lowpass: int = FREQ_SIZE):
        """Features (n, 42), Ex (n, 22) and silence flags (n,) of frames ``x`` (n, 480)."""
        lp = None if lowpass >= FREQ_SIZE else int(lowpass)
        res = analyse(x.reshape(-1), self.state, highpass=False, training=True, lowpass=lp)
        return res.features, res.Ex, res.silence
