"""Band energy, band correlation, gain interpolation and DCT (spec sections 3-4).

Band sums use RNNoise's sequential float32 order (bit-exact); ``band_weight_matrix`` in
:mod:`rnnoise_kit.dsp.tables` gives the same weights as a matrix for non-exact uses.
"""

from __future__ import annotations

import numpy as np

from rnnoise_kit.dsp import _kernels as K
from rnnoise_kit.dsp.constants import FREQ_SIZE, NB_BANDS


def _spec_view(X: np.ndarray) -> np.ndarray:
    X = np.ascontiguousarray(X, dtype=np.complex64)
    if X.shape[-1] != FREQ_SIZE:
        raise ValueError(f"spectra must have {FREQ_SIZE} bins, got shape {X.shape}")
    return X.reshape(-1, FREQ_SIZE).view(np.float32)


def band_energy(X: np.ndarray) -> np.ndarray:
    """Triangular band energies ``compute_band_energy``.

    Parameters
    ----------
    X : np.ndarray, complex64, shape (..., 481)

    Returns
    -------
    np.ndarray, float32, shape (..., 22)
    """
    out = K.band_energy_batch(_spec_view(X))
    return out.reshape(*np.shape(X)[:-1], NB_BANDS)


def band_corr(X: np.ndarray, P: np.ndarray) -> np.ndarray:
    """Triangular band correlations ``compute_band_corr`` (Re(X conj P) per band).

    Parameters
    ----------
    X, P : np.ndarray, complex64, shape (..., 481)

    Returns
    -------
    np.ndarray, float32, shape (..., 22)
    """
    out = K.band_corr_batch(_spec_view(X), _spec_view(P))
    return out.reshape(*np.shape(X)[:-1], NB_BANDS)


def interp_band_gain(g: np.ndarray) -> np.ndarray:
    """Interpolate 22 band gains to 481 bins (bins 400..480 are 0), float32.

    Parameters
    ----------
    g : np.ndarray, shape (..., 22)

    Returns
    -------
    np.ndarray, float32, shape (..., 481)
    """
    g = np.ascontiguousarray(g, dtype=np.float32)
    flat = g.reshape(-1, NB_BANDS)
    out = np.empty((flat.shape[0], FREQ_SIZE), dtype=np.float32)
    for t in range(flat.shape[0]):
        K.interp_band_gain_1(flat[t], out[t])
    return out.reshape(*g.shape[:-1], FREQ_SIZE)


def dct(v: np.ndarray) -> np.ndarray:
    """Orthonormal DCT-II of 22 values, RNNoise's ``dct`` (sequential float32 sums).

    Parameters
    ----------
    v : np.ndarray, shape (..., 22)

    Returns
    -------
    np.ndarray, float32, shape (..., 22)
    """
    v = np.ascontiguousarray(v, dtype=np.float32)
    flat = v.reshape(-1, NB_BANDS)
    out = np.empty_like(flat)
    for t in range(flat.shape[0]):
        K.dct_1(flat[t], out[t])
    return out.reshape(v.shape)
