"""Precomputed tables of RNNoise v0.1.1 (spec sections 2.1, 3, 4), float32 as C stores them.

All tables are computed in double and rounded once to float32, as ``check_init`` does. The
builders :func:`dct_table` and :func:`triangle_tables` take the size / band edges, so the 0.2
series (:mod:`rnnoise_kit.dsp.v02`) builds its own tables with them: 0.2's precomputed
``rnn_half_window``, ``rnn_dct_table`` and KISS twiddles are the same double formulas printed
with 9 significant digits, which round-trip float32 exactly.
"""

from __future__ import annotations

import math

import numpy as np

from rnnoise_kit.dsp.constants import EDGE, FRAME_SIZE, NB_BANDS, WINDOW_SIZE

f32 = np.float32


def _half_window() -> np.ndarray:
    hw = np.empty(FRAME_SIZE, dtype=np.float32)
    for i in range(FRAME_SIZE):
        s = math.sin(0.5 * math.pi * (i + 0.5) / FRAME_SIZE)
        hw[i] = f32(math.sin(0.5 * math.pi * s * s))
    return hw


HALF_WINDOW: np.ndarray = _half_window()
"""(480,) float32: the rising half of the Vorbis window (``half_window``)."""

WINDOW: np.ndarray = np.concatenate([HALF_WINDOW, HALF_WINDOW[::-1]]).astype(np.float32)
"""(960,) float32: the full analysis/synthesis window (``apply_window`` multiplies by it)."""


def dct_table(size: int) -> np.ndarray:
    """(size, size) float32 DCT-II table ``T[j, i] = cos((j + .5) i pi / size)``, column 0
    times sqrt(.5) (the float32 cosine times the double sqrt(.5), rounded again, as C)."""
    t = np.empty((size, size), dtype=np.float32)
    for j in range(size):
        for i in range(size):
            v = math.cos((((j + 0.5) * i) * math.pi) / size)
            if i == 0:
                v = float(f32(v)) * math.sqrt(0.5)
            t[j, i] = f32(v)
    return t


DCT_TABLE: np.ndarray = dct_table(NB_BANDS)
"""(22, 22) float32 ``T[j, i]``: input index j, output index i (C's ``dct_table[j*22+i]``)."""

DCT_SCALE = math.sqrt(2.0 / NB_BANDS)
"""The double factor applied to each DCT output sum."""

NB_BAND_BINS = int(EDGE[-1])  # 400: bins >= 400 belong to no band


def triangle_tables(edges: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-bin tables of the triangular band sums over the bin ``edges`` (m points).

    Returns
    -------
    band : (edges[-1],) int64
        The triangle rising from ``edges[band[k]]`` that bin k belongs to (0..m-2).
    frac, frac_lo : (edges[-1],) float32
        ``j/n`` (float32 division; j = k - edges[b], n = edges[b+1] - edges[b]) and
        ``1 - frac`` (float32). Bin k adds ``frac_lo[k]*v`` to sum b and ``frac[k]*v`` to b+1.
    """
    edges = np.asarray(edges, dtype=np.int64)
    nbins = int(edges[-1])
    band = np.empty(nbins, dtype=np.int64)
    frac = np.empty(nbins, dtype=np.float32)
    for b in range(edges.shape[0] - 1):
        n = int(edges[b + 1] - edges[b])
        for j in range(n):
            k = int(edges[b]) + j
            band[k] = b
            frac[k] = f32(j) / f32(n)
    return band, frac, (f32(1) - frac).astype(np.float32)


BIN_BAND, BIN_FRAC, BIN_FRAC_LO = triangle_tables(EDGE)
"""(400,) each: band b of bin k (the triangle rising from EDGE[b]), ``frac = j/n`` (float32
division) and ``1 - frac`` (float32). Bin k adds ``BIN_FRAC_LO[k]*v`` to band b and
``BIN_FRAC[k]*v`` to band b+1."""


def band_weight_matrix() -> np.ndarray:
    """(481, 22) float32 matrix W with ``band_sum(t) ~= t @ W`` (not bit-exact: other sum order).

    Includes the x2 of the half triangles at bands 0 and 21. For analysis and plotting only;
    the DSP uses the sequential kernels.
    """
    w = np.zeros((WINDOW_SIZE // 2 + 1, NB_BANDS), dtype=np.float32)
    for k in range(NB_BAND_BINS):
        w[k, BIN_BAND[k]] += BIN_FRAC_LO[k]
        w[k, BIN_BAND[k] + 1] += BIN_FRAC[k]
    w[:, 0] *= 2
    w[:, NB_BANDS - 1] *= 2
    return w
