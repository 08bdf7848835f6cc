"""Band energy, band correlation, gain interpolation and DCT (spec sections 3-4), for either
generation's bands.

Each function takes a :class:`BandLayout`: v0.1's 22 bands (:data:`BANDS`, the default) or
0.2's 32 folded bands (:data:`rnnoise_kit.dsp.v02.BANDS`). Band sums use RNNoise's sequential
float32 order (bit-exact); ``band_weight_matrix`` in :mod:`rnnoise_kit.dsp.tables` gives v0.1's
weights as a matrix for non-exact uses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rnnoise_kit.dsp import _kernels as K
from rnnoise_kit.dsp.constants import FREQ_SIZE, NB_BANDS


@dataclass(frozen=True)
class BandLayout:
    """One generation's bands: how many, and its kernels over rows of frames.

    Spectra are float32 re/im views (n, 962); band rows are float32 (n, nb_bands). Each kernel
    returns a new array.

    Attributes
    ----------
    nb_bands : int
    energy : callable
        ``energy(xf) -> (n, nb)``: ``compute_band_energy``.
    corr : callable
        ``corr(xf, pf) -> (n, nb)``: ``compute_band_corr``, Re(X conj P) per band.
    interp : callable
        ``interp(g) -> (n, 481)``: ``interp_band_gain`` (bins past the last band are 0).
    dct : callable
        ``dct(v) -> (n, nb)``: the generation's ``dct``.
    pitch_filter : callable
        ``pitch_filter(xf, pf, ex, ep, exp_, g) -> (n, 962)``: ``pitch_filter``.
    """

    nb_bands: int
    energy: Callable[[np.ndarray], np.ndarray]
    corr: Callable[[np.ndarray, np.ndarray], np.ndarray]
    interp: Callable[[np.ndarray], np.ndarray]
    dct: Callable[[np.ndarray], np.ndarray]
    pitch_filter: Callable[..., np.ndarray]


def _interp01(g: np.ndarray) -> np.ndarray:
    out = np.empty((g.shape[0], FREQ_SIZE), dtype=np.float32)
    for t in range(g.shape[0]):
        K.interp_band_gain_1(g[t], out[t])
    return out


def _dct01(v: np.ndarray) -> np.ndarray:
    out = np.empty_like(v)
    for t in range(v.shape[0]):
        K.dct_1(v[t], out[t])
    return out


BANDS = BandLayout(
    NB_BANDS, K.band_energy_batch, K.band_corr_batch, _interp01, _dct01, K.pitch_filter_batch
)
"""v0.1's 22 bands (``eband5ms``, the two end triangles doubled)."""


def _rows(a: np.ndarray, dtype, width: int, n: int | None, what: str) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=dtype)
    if a.shape[-1:] != (width,) or (n is not None and a.shape != (n, width)):
        want = f"({n}, {width})" if n is not None else f"(..., {width})"
        raise ValueError(f"{what} must have shape {want}, got {a.shape}")
    return a.reshape(-1, width)


def spectra_rows(X: np.ndarray, n: int | None = None, what: str = "spectra") -> np.ndarray:
    """``X`` (..., 481) as contiguous complex64 rows (m, 481); with ``n``, X must be (n, 481).
    ValueError for another shape."""
    return _rows(X, np.complex64, FREQ_SIZE, n, what)


def band_rows(v: np.ndarray, nb: int, n: int | None = None, what: str = "values") -> np.ndarray:
    """``v`` (..., nb) as contiguous float32 rows (m, nb); with ``n``, v must be (n, nb).
    ValueError for another shape."""
    return _rows(v, np.float32, nb, n, what)


def band_energy(X: np.ndarray, layout: BandLayout = BANDS) -> np.ndarray:
    """Triangular band energies, ``compute_band_energy``.

    Parameters
    ----------
    X : np.ndarray, complex64, shape (..., 481)
    layout : BandLayout
        The generation's bands (v0.1's by default).

    Returns
    -------
    np.ndarray, float32, shape (..., nb_bands)
    """
    out = layout.energy(spectra_rows(X).view(np.float32))
    return out.reshape(*np.shape(X)[:-1], layout.nb_bands)


def band_corr(X: np.ndarray, P: np.ndarray, layout: BandLayout = BANDS) -> np.ndarray:
    """Triangular band correlations, ``compute_band_corr`` (Re(X conj P) per band).

    Parameters
    ----------
    X, P : np.ndarray, complex64, shape (..., 481)
        Of the same shape.
    layout : BandLayout
        The generation's bands (v0.1's by default).

    Returns
    -------
    np.ndarray, float32, shape (..., nb_bands)
    """
    if np.shape(X) != np.shape(P):
        raise ValueError(f"X and P differ in shape: {np.shape(X)} vs {np.shape(P)}")
    xf = spectra_rows(X, what="X").view(np.float32)
    out = layout.corr(xf, spectra_rows(P, what="P").view(np.float32))
    return out.reshape(*np.shape(X)[:-1], layout.nb_bands)


def interp_band_gain(g: np.ndarray, layout: BandLayout = BANDS) -> np.ndarray:
    """Interpolate band gains to 481 bins (bins 400..480 are 0), float32.

    Parameters
    ----------
    g : np.ndarray, shape (..., nb_bands)
    layout : BandLayout
        The generation's bands (v0.1's by default).

    Returns
    -------
    np.ndarray, float32, shape (..., 481)
    """
    out = layout.interp(band_rows(g, layout.nb_bands, what="gains"))
    return out.reshape(*np.shape(g)[:-1], FREQ_SIZE)


def dct(v: np.ndarray, layout: BandLayout = BANDS) -> np.ndarray:
    """RNNoise's ``dct`` of nb_bands values (sequential float32 sums; v0.1's is the orthonormal
    DCT-II, 0.2's keeps v0.1's 22-band scale).

    Parameters
    ----------
    v : np.ndarray, shape (..., nb_bands)
    layout : BandLayout
        The generation's bands (v0.1's by default).

    Returns
    -------
    np.ndarray, float32, shape (..., nb_bands)
    """
    return layout.dct(band_rows(v, layout.nb_bands)).reshape(np.shape(v))
