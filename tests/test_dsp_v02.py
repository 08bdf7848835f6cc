"""RNNoise 0.2 DSP (dsp.v02) without reference data: the band layout, interpolation and DCT
against plain-Python loops written from the spec, offline/blocks/streaming agreement, the
TRAINING variant, and each post-filter step (delay, pitch filter, decay cap, gains)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import (
    blocks_and_streaming_cases,
    check_blocks_and_streaming,
    check_training_variant,
    voiced_audio,
)
from rnnoise_kit.dsp import _kernels as K
from rnnoise_kit.dsp.v02 import (
    AnalysisState02,
    FrameAnalysis02,
    PostFilterState02,
    StreamingAnalyzer02,
    analyse_v02,
    apply_gains,
    band_corr,
    band_energy,
    cap_gains,
    dct,
    delayed_frames,
    features_table_v02,
    interp_band_gain,
    pitch_filter,
    postfilter_v02,
)
from rnnoise_kit.dsp.v02 import _kernels as K2
from rnnoise_kit.dsp.v02.constants import DCT_TABLE, EBAND_20MS, NB_BANDS

f32 = np.float32
E = [int(e) for e in EBAND_20MS]
FIELDS = (
    "X", "P", "Ex", "Ep", "Exp", "features", "silence", "pitch_period", "pitch_gain", "energy",
)  # fmt: skip
RNG = np.random.default_rng(11)


def _spectra(n=3, scale=300.0):
    z = RNG.standard_normal((n, 481)) + 1j * RNG.standard_normal((n, 481))
    return z.astype(np.complex64) * f32(scale)


def _audio(n_frames, seed=0, silent_frames=()):
    return voiced_audio(n_frames, seed, silent_frames, f0=(140, 50, 0.9), gate=(2.5, -0.4),
                        levels=(5000, 1200))


# ----------------------------------------------------------------------------- spec loops


def _band_sums(v):
    """``compute_band_energy``/``compute_band_corr`` of 0.2 as C writes it (spec section 1)."""
    s = [f32(0)] * 34
    for i in range(33):
        size = E[i + 1] - E[i]
        for j in range(size):
            frac = f32(j) / f32(size)
            tmp = v[E[i] + j]
            s[i] = s[i] + (f32(1) - frac) * tmp
            s[i + 1] = s[i + 1] + frac * tmp
    s[1] = ((s[0] + s[1]) * f32(2)) / f32(3)
    s[32] = ((s[32] + s[33]) * f32(2)) / f32(3)
    return np.array(s[1:33], dtype=np.float32)


def _interp(g):
    out = np.zeros(481, dtype=np.float32)
    for i in range(1, 32):
        size = E[i + 1] - E[i]
        for j in range(size):
            frac = f32(j) / f32(size)
            out[E[i] + j] = (f32(1) - frac) * g[i - 1] + frac * g[i]
    out[: E[1]] = g[0]
    out[E[32] : E[33]] = g[31]
    return out


def _dct(v):
    out = np.empty(32, dtype=np.float32)
    for i in range(32):
        s = f32(0)
        for j in range(32):
            c = f32(math.cos((j + 0.5) * i * math.pi / 32))
            if i == 0:
                c = f32(float(c) * math.sqrt(0.5))
            s = s + v[j] * c
        out[i] = f32(float(s) * math.sqrt(2.0 / 22))
    return out


# ----------------------------------------------------------------------------- building blocks


def test_band_energy_and_corr_bit_exact_vs_spec_loop():
    X, P = _spectra(), _spectra()
    Eb, C = band_energy(X), band_corr(X, P)
    assert Eb.shape == (3, NB_BANDS) and Eb.dtype == np.float32
    for t in range(3):
        xr, xi, pr, pi = X[t].real, X[t].imag, P[t].real, P[t].imag
        assert np.array_equal(
            Eb[t], _band_sums([xr[k] * xr[k] + xi[k] * xi[k] for k in range(481)])
        )
        assert np.array_equal(C[t], _band_sums([xr[k] * pr[k] + xi[k] * pi[k] for k in range(481)]))
    assert np.array_equal(band_corr(X, X), Eb)
    # bins 400..480 belong to no band
    Y = X.copy()
    Y[:, 400:] = 0
    assert np.array_equal(band_energy(Y), Eb)


def test_band_end_folding():
    # energy 1 in bin 0 only: sum[0] = 1, folded into band 0 as (1 + 0)*2/3
    X = np.zeros(481, np.complex64)
    X[0] = 1
    e = band_energy(X)
    assert e[0] == f32(2) / f32(3) and not e[1:].any()
    # bin 2 (top of triangle 1): all of it in sum[1], folded with sum[0] = 0
    X[:] = 0
    X[2] = 1
    e = band_energy(X)
    assert e[0] == f32(2) / f32(3) and not e[1:].any()
    # bin 4 (top of sum[2] = band 1): not folded
    X[:] = 0
    X[4] = 1
    e = band_energy(X)
    assert e[1] == 1 and not np.delete(e, 1).any()
    # the last triangle (bins 356..399) folds into band 31
    X[:] = 0
    X[399] = 1
    e = band_energy(X)
    frac = f32(43) / f32(44)
    assert e[31] == (((f32(1) - frac) + frac) * f32(2)) / f32(3)
    assert not e[:31].any()


def test_interp_band_gain_vs_spec_loop_and_ends():
    g = RNG.random((4, NB_BANDS)).astype(np.float32)
    gf = interp_band_gain(g)
    assert gf.shape == (4, 481) and gf.dtype == np.float32
    for t in range(4):
        assert np.array_equal(gf[t], _interp(g[t]))
    assert np.all(gf[:, 0] == g[:, 0]) and np.all(gf[:, 1] == g[:, 0])
    assert np.all(gf[:, 356:400] == g[:, 31:32])
    assert not gf[:, 400:].any()
    # band i's triangle starts at its own gain... of band i-1: bin e[i] = g[i-1]
    assert np.all(gf[:, 2] == g[:, 0]) and np.all(gf[:, 4] == g[:, 1])


def test_dct_vs_spec_loop_and_scale():
    v = (RNG.standard_normal((3, 32)) * 3).astype(np.float32)
    out = dct(v)
    for t in range(3):
        assert np.array_equal(out[t], _dct(v[t]))
    assert DCT_TABLE.shape == (32, 32) and DCT_TABLE[7, 0] == f32(math.sqrt(0.5))
    # the scale is still sqrt(2/22): dct(ones)[0] = 32 sqrt(.5) sqrt(2/22), not orthonormal
    assert math.isclose(
        float(dct(np.ones(32, np.float32))[0]), 32 * math.sqrt(0.5 / 11), rel_tol=1e-6
    )
    with pytest.raises(ValueError):
        dct(np.ones(22, np.float32))


def test_leaf_kernels_numba_vs_python():
    sums = RNG.random(34).astype(np.float32)
    a, b = np.empty(32, np.float32), np.empty(32, np.float32)
    K2.fold_ends(sums, a)
    K2.fold_ends.py_func(sums, b)
    assert np.array_equal(a, b) and np.array_equal(a[1:31], sums[2:32])
    g = RNG.random(32).astype(np.float32)
    a, b = np.full(481, 7, np.float32), np.full(481, 7, np.float32)
    K2.interp_band_gain_1(g, EBAND_20MS, K2.BIN_FRAC, K2.BIN_FRAC_LO, a)
    K2.interp_band_gain_1.py_func(g, EBAND_20MS, K2.BIN_FRAC, K2.BIN_FRAC_LO, b)
    assert np.array_equal(a, b) and not a[400:].any()


# ----------------------------------------------------------------------------- analysis


def test_shapes_and_types():
    r = analyse_v02(_audio(12))
    assert r.X.shape == (12, 481) and r.X.dtype == np.complex64
    assert r.P.shape == (12, 481) and r.Ex.shape == (12, 32) and r.Exp.shape == (12, 32)
    assert r.features.shape == (12, 65) and r.features.dtype == np.float32
    assert r.silence.dtype == np.bool_ and r.pitch_period.dtype == np.int32
    assert len(r) == 12
    tab = features_table_v02(r)
    assert tab.shape == (12, 99)
    assert np.array_equal(tab[:, 66], r.pitch_period.astype(np.float32))
    with pytest.raises(ValueError):
        analyse_v02(np.zeros(1000, np.float32))
    with pytest.raises(ValueError):
        StreamingAnalyzer02().process(np.zeros(479, np.float32))


@blocks_and_streaming_cases(max_examples=12)
def test_offline_blocks_and_streaming_agree(seed, n, cuts, gain, highpass):
    x = _audio(n, seed, silent_frames=range(0, n, 7)) * np.float32(gain)
    check_blocks_and_streaming(analyse_v02, AnalysisState02, StreamingAnalyzer02, x, cuts,
                               highpass)


def test_state_copy_is_deep():
    s = AnalysisState02()
    analyse_v02(_audio(5), s)
    c = s.copy()
    analyse_v02(_audio(5, 1), s)
    assert not np.array_equal(c.pitch_buf, s.pitch_buf)
    assert np.array_equal(c.analysis_mem, c.pitch_buf[-480:])


def test_silence_rule_and_features():
    x = _audio(30, 1, silent_frames=range(10, 20))
    r = analyse_v02(x, highpass=False)
    assert r.silence[11:20].all() and not r.silence[:10].any()
    assert np.array_equal(r.silence, r.energy.astype(np.float64) < 0.04)
    assert np.all(r.features[r.silence] == 0)
    assert np.all(r.pitch_period >= 60)
    # the features of a voiced frame from their definition (spec section 3)
    t = 5
    ly = np.empty(32, np.float32)
    e = K.log_spectrum.py_func(r.Ex[t], ly)
    assert e == r.energy[t]
    f = np.concatenate([_dct(ly), _dct(r.Exp[t]), [f32(0.01 * (int(r.pitch_period[t]) - 300))]])
    f[0] -= f32(12)
    f[1] -= f32(4)
    assert np.array_equal(r.features[t], f.astype(np.float32))
    # Exp is normalised: |Exp| <= 1 up to rounding
    assert np.all(np.abs(r.Exp) <= 1.0001)


def test_training_variant():
    x = _audio(20, 2, silent_frames=range(5, 12))
    lowpass = np.array([481] * 10 + [100] * 10)
    r, inf = check_training_variant(analyse_v02, x, lowpass)
    # no cepstral ring in 0.2: frames before the low-pass have the inference features
    assert np.array_equal(r.features[~inf.silence & (np.arange(20) < 10)],
                          inf.features[~inf.silence & (np.arange(20) < 10)])  # fmt: skip
    assert np.array_equal(r.Ex[10:], band_energy(r.X[10:]))


def test_fused_kernel_equals_step_by_step_composition():
    x = _audio(16, 3, silent_frames=[9])
    r = analyse_v02(x)
    assert np.array_equal(r.Ex, band_energy(r.X)) and np.array_equal(r.Ep, band_energy(r.P))
    corr = band_corr(r.X, r.P).astype(np.float64)
    exp_ = (corr / np.sqrt(0.001 + (r.Ex * r.Ep).astype(np.float64))).astype(np.float32)
    assert np.array_equal(r.Exp, exp_)
    assert np.array_equal(r.features[~r.silence, 32:64], dct(r.Exp[~r.silence]))
    # the 0.2 analysis runs v0.1's high-pass, FFT and pitch: same X, P and periods
    from rnnoise_kit.dsp.features import analyse

    v1 = analyse(x)
    assert np.array_equal(v1.X, r.X) and np.array_equal(v1.P, r.P)
    assert np.array_equal(v1.pitch_period, r.pitch_period)


# ----------------------------------------------------------------------------- post-filter


def _pitch_filter_spec(X, P, Ex, Ep, Exp, g):
    """``rnn_pitch_filter`` of one frame written from the C (float32 / double as C)."""
    r = np.empty(32, np.float32)
    for i in range(32):
        if Exp[i] > g[i]:
            ri = f32(1)
        else:
            e2, g2 = Exp[i] * Exp[i], g[i] * g[i]
            ri = f32(float(e2 * (f32(1) - g2)) / (0.001 + float(g2 * (f32(1) - e2))))
        ri = f32(math.sqrt(float(min(f32(1), max(f32(0), ri)))))
        r[i] = f32(float(ri) * math.sqrt(float(Ex[i]) / (1e-8 + float(Ep[i]))))
    rf = _interp(r)
    Y = np.empty(481, np.complex64)
    Y.real = X.real + rf * P.real
    Y.imag = X.imag + rf * P.imag
    v = Y.real * Y.real + Y.imag * Y.imag
    newe = _band_sums(v)
    norm = np.array(
        [f32(math.sqrt(float(Ex[i]) / (1e-8 + float(newe[i])))) for i in range(32)], np.float32
    )
    nf = _interp(norm)
    Y.real *= nf
    Y.imag *= nf
    return Y


def test_pitch_filter_vs_spec_and_properties():
    r = analyse_v02(_audio(6, 5))
    g = RNG.random((6, 32)).astype(np.float32)
    Y = pitch_filter(r.X, r.P, r.Ex, r.Ep, r.Exp, g)
    assert Y.shape == (6, 481) and Y.dtype == np.complex64
    assert not Y[:, 400:].any()
    for t in range(6):
        assert np.array_equal(
            Y[t], _pitch_filter_spec(r.X[t], r.P[t], r.Ex[t], r.Ep[t], r.Exp[t], g[t])
        )
    # inputs untouched, frames independent
    assert np.array_equal(
        pitch_filter(r.X[2:3], r.P[2:3], r.Ex[2:3], r.Ep[2:3], r.Exp[2:3], g[2:3]), Y[2:3]
    )
    # where every Exp > g, r = sqrt(Ex/Ep): the pitch component is added at full strength
    g0 = np.full((6, 32), -1, np.float32)
    Y0 = pitch_filter(r.X, r.P, r.Ex, r.Ep, r.Exp, g0)
    assert not np.array_equal(Y0, Y)
    with pytest.raises(ValueError):
        pitch_filter(r.X, r.P, r.Ex, r.Ep, r.Exp, g[:, :22])


def test_cap_gains_decay_and_energy_compensation():
    n = 5
    g = np.array([[0.9] * 32, [0.1] * 32, [0.1] * 32, [0.5] * 32, [0.0] * 32], np.float32)
    exd = np.full((n, 32), 10.0, np.float32)
    exc = np.full((n, 32), 10.0, np.float32)
    exc[2] = 1.0  # energy falls: the memory would exceed 1 and is clamped
    sil = np.array([False, False, False, True, False])
    lastg = np.zeros(32, np.float32)
    out = cap_gains(g, exd, exc, sil, lastg)
    ref_last = np.float32(0)
    for t in range(n):
        if sil[t]:
            assert np.array_equal(out[t], g[t])
            continue
        a = f32(0.6) * ref_last
        c = g[t, 0] if g[t, 0] > a else a
        assert np.all(out[t] == c)
        d = float(c) * (float(exd[t, 0]) + 1e-3) / (float(exc[t, 0]) + 1e-3)
        ref_last = f32(1) if 1.0 < d else f32(d)
    assert np.all(lastg == ref_last)
    # frame 1: 0.1 < .6*0.9 -> capped at 0.54 (float32)
    assert np.all(out[1] == f32(0.6) * f32(0.9))
    # C's 1e-3 is a double: the update is computed in double, rounded once; here float32
    # arithmetic would give a different value
    c, a, b = f32(0.61), f32(7.3), f32(5.4)
    dbl = f32(float(c) * (float(a) + 1e-3) / (float(b) + 1e-3))
    assert dbl != (c * (a + f32(1e-3))) / (b + f32(1e-3))
    lg = np.zeros(32, np.float32)
    cap_gains(np.full((1, 32), c), np.full((1, 32), a), np.full((1, 32), b), [False], lg)
    assert np.all(lg == dbl)
    # numba and Python agree
    lg1, lg2 = np.zeros(32, np.float32), np.zeros(32, np.float32)
    gr = RNG.random((7, 32)).astype(np.float32)
    e1 = (RNG.random((7, 32)) * 100).astype(np.float32)
    e2 = (RNG.random((7, 32)) * 100).astype(np.float32)
    s = np.zeros(7, np.bool_)
    o1, o2 = np.empty_like(gr), np.empty_like(gr)
    K2.cap_gains_frames(gr, e1, e2, s, lg1, o1)
    K2.cap_gains_frames.py_func(gr, e1, e2, s, lg2, o2)
    assert np.array_equal(o1, o2) and np.array_equal(lg1, lg2)


def test_apply_gains():
    Y = _spectra(4)
    g = RNG.random((4, 32)).astype(np.float32)
    sil = np.array([False, True, False, False])
    Z = Y.copy()
    apply_gains(Z, g, sil)
    gf = interp_band_gain(g)
    for t in (0, 2, 3):
        assert np.array_equal(Z[t].real, Y[t].real * gf[t])
        assert np.array_equal(Z[t].imag, Y[t].imag * gf[t])
    assert np.array_equal(Z[1], Y[1])
    assert not Z[0, 400:].any()
    with pytest.raises(ValueError):
        apply_gains(Y[:, ::2], g, sil)


def test_delayed_frames():
    r = analyse_v02(_audio(4, 6))
    st0 = PostFilterState02()
    d = delayed_frames(r, st0)
    assert not d.X[0].any() and not d.Ex[0].any()
    assert np.array_equal(d.X[1:], r.X[:3]) and np.array_equal(d.Exp[1:], r.Exp[:3])
    assert np.array_equal(st0.X, r.X[3]) and np.array_equal(st0.Ep, r.Ep[3])
    d2 = delayed_frames(analyse_v02(_audio(2, 7)), st0)
    assert np.array_equal(d2.X[0], r.X[3]) and np.array_equal(d2.P[0], r.P[3])


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**16), n=st.integers(1, 30), cuts=st.lists(st.integers(0, 30), max_size=3)
)
def test_postfilter_blocks_and_frames_agree(seed, n, cuts):
    # pairs of zero frames: the second one's window is all zero, a silent frame
    x = _audio(n, seed, silent_frames=[f for f in range(n) if f % 8 in (3, 4)])
    rng = np.random.default_rng(seed)
    gains = rng.random((n, 32)).astype(np.float32)
    res = analyse_v02(x, highpass=False)
    whole_st = PostFilterState02()
    whole = postfilter_v02(res, gains, whole_st)
    bounds = sorted({0, n, *[c for c in cuts if c <= n]})
    bst, parts = PostFilterState02(), []
    for a, b in zip(bounds, bounds[1:], strict=False):
        sub = FrameAnalysis02(*(getattr(res, f)[a:b] for f in FIELDS))
        parts.append(postfilter_v02(sub, gains[a:b], bst))
    assert np.array_equal(np.concatenate(parts), whole)
    for f in ("X", "P", "Ex", "Ep", "Exp", "lastg"):
        assert np.array_equal(getattr(bst, f), getattr(whole_st, f))
    # composition of the single steps
    st2 = PostFilterState02()
    d = delayed_frames(res, st2)
    run = ~res.silence
    Y = d.X.copy()
    for t in np.flatnonzero(run):
        Y[t] = pitch_filter(d.X[t : t + 1], d.P[t : t + 1], d.Ex[t : t + 1], d.Ep[t : t + 1],
                            d.Exp[t : t + 1], gains[t : t + 1])[0]  # fmt: skip
    capped = cap_gains(gains, d.Ex, res.Ex, res.silence, st2.lastg)
    apply_gains(Y, capped, res.silence)
    assert np.array_equal(Y, whole)
    # silent frames pass the delayed spectrum through unchanged
    assert np.array_equal(whole[res.silence], d.X[res.silence])


def test_composite_kernels_numba_vs_python():
    r = analyse_v02(_audio(10, 8, silent_frames=[4, 5]), highpass=False)
    xf, pf = r.X.view(np.float32), r.P.view(np.float32)
    n = len(r)
    for training in (False, True):
        outs = []
        for fn in (K2.features_frames, K2.features_frames.py_func):
            arrs = (
                [np.empty((n, 65), np.float32), np.empty(n, np.bool_)]
                + [np.empty((n, 32), np.float32) for _ in range(3)]
                + [np.empty(n, np.float32)]
            )
            fn(xf, pf, r.pitch_period, training, *arrs)
            outs.append(arrs)
        for a, b in zip(*outs, strict=True):
            assert np.array_equal(a, b)
    g = RNG.random((n, 32)).astype(np.float32)
    o1, o2 = np.empty_like(xf), np.empty_like(xf)
    K2.pitch_filter_batch(xf, pf, r.Ex, r.Ep, r.Exp, g, o1)
    K2.pitch_filter_batch.py_func(xf, pf, r.Ex, r.Ep, r.Exp, g, o2)
    assert np.array_equal(o1, o2)
