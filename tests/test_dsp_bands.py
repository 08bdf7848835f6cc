"""Band energy/correlation, gain interpolation, DCT: against plain-Python spec loops."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnnoise_kit.dsp import _kernels as K
from rnnoise_kit.dsp.bands import band_corr, band_energy, dct, interp_band_gain
from rnnoise_kit.dsp.constants import EDGE
from rnnoise_kit.dsp.tables import DCT_TABLE, band_weight_matrix

f32 = np.float32
RNG = np.random.default_rng(7)


def _spectra(n=3):
    return (RNG.standard_normal((n, 481)) + 1j * RNG.standard_normal((n, 481))).astype(
        np.complex64
    ) * np.float32(300)


def _band_sum(t):
    s = [f32(0)] * 22
    for b in range(21):
        n = int(EDGE[b + 1] - EDGE[b])
        for j in range(n):
            frac = f32(j) / f32(n)
            v = t(int(EDGE[b]) + j)
            s[b] = s[b] + (f32(1) - frac) * v
            s[b + 1] = s[b + 1] + frac * v
    s[0] = s[0] * f32(2)
    s[21] = s[21] * f32(2)
    return np.array(s, dtype=np.float32)


def test_band_energy_and_corr_bit_exact_vs_spec_loop():
    X, P = _spectra(), _spectra()
    E = band_energy(X)
    C = band_corr(X, P)
    for t in range(X.shape[0]):
        xr, xi = X[t].real, X[t].imag
        pr, pi = P[t].real, P[t].imag
        energy = [xr[k] * xr[k] + xi[k] * xi[k] for k in range(481)]
        corr = [xr[k] * pr[k] + xi[k] * pi[k] for k in range(481)]
        assert np.array_equal(E[t], _band_sum(energy.__getitem__))
        assert np.array_equal(C[t], _band_sum(corr.__getitem__))


def test_band_kernels_numba_vs_python():
    X, P = _spectra(1), _spectra(1)
    xf, pf = X[0].view(np.float32), P[0].view(np.float32)
    a, b = np.empty(22, np.float32), np.empty(22, np.float32)
    K.band_energy_1(xf, a)
    K.band_energy_1.py_func(xf, b)
    assert np.array_equal(a, b)
    K.band_corr_1(xf, pf, a)
    K.band_corr_1.py_func(xf, pf, b)
    assert np.array_equal(a, b)


def test_band_energy_register_form_same_bits():
    # band by band with register sums (pitch_filter, frame_analysis) = the per-bin scatter form
    X = _spectra(6)
    X[1, 30:60] = 0
    X[2] *= np.float32(1e-20)  # tiny values: rounding differs by order if it ever changed
    for t in range(X.shape[0]):
        xf = X[t].view(np.float32)
        a, b, c = (np.empty(22, np.float32) for _ in range(3))
        K.band_energy_1(xf, a)
        K.band_energy_reg(xf, b)
        K.band_energy_reg.py_func(xf, c)
        assert np.array_equal(a.view(np.uint32), b.view(np.uint32))
        assert np.array_equal(a.view(np.uint32), c.view(np.uint32))


def test_matrix_form_is_close_but_not_the_reference_order():
    # the (481, 22) weight matrix gives the same sums in another order: equal to ~1e-6 relative
    X = _spectra()
    e_mat = (np.abs(X.astype(np.complex128)) ** 2) @ band_weight_matrix().astype(np.float64)
    assert np.allclose(band_energy(X), e_mat, rtol=1e-5)


def test_interp_band_gain():
    g = RNG.random((2, 22)).astype(np.float32)
    out = interp_band_gain(g)
    assert out.shape == (2, 481) and np.all(out[:, 400:] == 0)
    for b in range(21):
        n = int(EDGE[b + 1] - EDGE[b])
        for j in range(n):
            frac = f32(j) / f32(n)
            want = (f32(1) - frac) * g[0, b] + frac * g[0, b + 1]
            assert out[0, int(EDGE[b]) + j] == want
    a, p = np.empty(481, np.float32), np.empty(481, np.float32)
    K.interp_band_gain_1(g[1], a)
    K.interp_band_gain_1.py_func(g[1], p)
    assert np.array_equal(a, p)


def test_dct_table_and_orthonormal():
    assert DCT_TABLE[5, 0] == f32(math.sqrt(0.5))
    m = DCT_TABLE.astype(np.float64) * math.sqrt(2 / 22)
    # orthonormal up to the float32 rounding of the table entries
    assert np.abs(m.T @ m - np.eye(22)).max() < 1e-6


def test_dct_bit_exact_vs_spec_loop():
    v = RNG.standard_normal((3, 22)).astype(np.float32)
    out = dct(v)
    for r in range(3):
        for i in range(22):
            s = f32(0)
            for j in range(22):
                s = s + v[r, j] * DCT_TABLE[j, i]
            assert out[r, i] == f32(float(s) * math.sqrt(2.0 / 22))
    a, p = np.empty(22, np.float32), np.empty(22, np.float32)
    K.dct_1(v[0], a)
    K.dct_1.py_func(v[0], p)
    assert np.array_equal(a, p)


@pytest.mark.parametrize("n", [1, 5, 16, 33])
@pytest.mark.parametrize("lowpass", [None, 400, 300, 61, 37])
def test_frame_band_energy_equals_frame_analysis(n, lowpass):
    """The fused band-energy kernel (no spectra stored) gives frame_analysis's Ex bit for bit."""
    from rnnoise_kit.dsp import frame_analysis, frame_band_energy

    rng = np.random.default_rng(n * 1000 + (lowpass or 0))
    x = (rng.standard_normal(480 * n) * 1000).astype(np.float32)
    mem = (rng.standard_normal(480) * 1000).astype(np.float32)
    _, want, want_mem = frame_analysis(x, mem, lowpass)
    got, got_mem = frame_band_energy(x, mem, lowpass)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got_mem, want_mem)


def test_apply_band_gains_is_smoothing_then_interpolated_gains():
    """``apply_band_gains`` = C's ``lastg`` smoothing, then X times interp_band_gain (float32)."""
    from rnnoise_kit.dsp import apply_band_gains

    rng = np.random.default_rng(3)
    n = 6
    X = (rng.standard_normal((n, 481)) + 1j * rng.standard_normal((n, 481))).astype(np.complex64)
    g = rng.uniform(0, 1, (n, 22)).astype(np.float32)
    silence = np.array([False, True, False, False, True, False])
    lastg = rng.uniform(0, 1, 22).astype(np.float32)
    want, mem = X.copy(), lastg.copy()
    for t in range(n):
        if silence[t]:
            continue
        a = np.float32(0.6) * mem
        mem = np.where(g[t] > a, g[t], a).astype(np.float32)
        gf = interp_band_gain(mem)
        want[t] = (want[t].real * gf) + 1j * (want[t].imag * gf)
    apply_band_gains(X, g, silence, lastg)
    np.testing.assert_array_equal(X, want)
    np.testing.assert_array_equal(lastg, mem)
