"""Pitch analysis kernels: compiled vs plain Python, and known behaviour."""

from __future__ import annotations

import numpy as np

from rnnoise_kit.dsp import _kernels as K
from rnnoise_kit.dsp.pitch import frame_pitch, pitch_downsample, pitch_search, remove_doubling

f32 = np.float32


def _voiced_buf(seed=0, period=190):
    rng = np.random.default_rng(seed)
    t = np.arange(1728)
    pulses = (t % period < 8).astype(np.float64) * 6000
    x = pulses + 800 * np.sin(2 * np.pi * t / period) + 300 * rng.standard_normal(1728)
    return x.astype(np.float32)


def test_downsample_numba_vs_python():
    for seed in range(3):
        buf = _voiced_buf(seed)
        a = np.empty(864, np.float32)
        b = np.empty(864, np.float32)
        K.pitch_downsample(buf, a)
        K.pitch_downsample.py_func(buf, b)
        assert np.array_equal(a, b)


def test_search_and_doubling_numba_vs_python():
    for seed, period in [(0, 190), (1, 333), (2, 97)]:
        lp = pitch_downsample(_voiced_buf(seed, period))
        assert K.pitch_search(lp) == K.pitch_search.py_func(lp)
        xc = np.abs(np.random.default_rng(seed).standard_normal(294)).astype(np.float32)
        assert K.find_best_pitch(xc, lp, 480, 294) == K.find_best_pitch.py_func(xc, lp, 480, 294)
        idx = 768 - pitch_search(lp)
        for prev in [(0, f32(0)), (idx, f32(0.8)), (idx // 2 + 1, f32(0.5))]:
            got = K.remove_doubling(lp, idx, prev[0], prev[1])
            want = K.remove_doubling.py_func(lp, idx, prev[0], prev[1])
            assert got[0] == want[0] and got[1] == want[1]


def test_finds_a_clear_period():
    period, gain = frame_pitch(_voiced_buf(0, 190), 0, 0.0)
    assert abs(period - 190) <= 2 and gain > 0.5


def test_all_zero_buffer():
    # spec 6.4: an all-zero buffer gives period 766, gain 0
    period, gain = frame_pitch(np.zeros(1728, np.float32), 0, 0.0)
    assert period == 766 and gain == 0


def test_remove_doubling_wrapper_types():
    lp = pitch_downsample(_voiced_buf(1, 300))
    p, g = remove_doubling(lp, 600, 300, 0.7)
    assert isinstance(p, int) and isinstance(g, np.float32) and 60 <= p <= 767


def test_multi_dot_and_coarse_numba_vs_python():
    lp = pitch_downsample(_voiced_buf(4, 250))
    for nl in (1, 3, 5, 10, 13):
        offs = np.arange(nl, dtype=np.int64) * 7
        a = np.empty(nl, np.float32)
        b = np.empty(nl, np.float32)
        K.multi_dot(lp[384:], lp, offs, nl, 480, a)
        K.multi_dot.py_func(lp[384:], lp, offs, nl, 480, b)
        assert np.array_equal(a, b)
        for m in range(nl):  # each sum sequential
            s = f32(0)
            for j in range(480):
                s = s + lp[384 + j] * lp[offs[m] + j]
            assert a[m] == s
    c1 = np.empty(147, np.float32)
    c2 = np.empty(147, np.float32)
    K.coarse_xcorr(lp, c1)
    K.coarse_xcorr.py_func(lp, c2)
    assert np.array_equal(c1, c2)


def test_fused_doubling_pass_sequential_sums():
    # _dots8_yy: 8 sequential dot products fused with remove_doubling's running energy yyl
    lp = pitch_downsample(_voiced_buf(5, 211))
    x = lp[384:]
    xx = f32(0)
    for j in range(480):
        xx = xx + x[j] * x[j]
    yyl_ref = np.empty(385, np.float32)
    yyl_ref[0] = yy = xx
    for i in range(1, 385):
        yy = (yy + lp[384 - i] * lp[384 - i]) - lp[864 - i] * lp[864 - i]
        yyl_ref[i] = max(f32(0), yy)
    for nl in (1, 3, 8, 11):
        offs = np.zeros(32, np.int64)
        offs[:nl] = 384 - np.array([100, 51, 150, 34, 200, 40, 90, 120, 30, 60, 70])[:nl]
        out = np.full(32, np.nan, np.float32)
        yyl = np.empty(385, np.float32)
        K._dots8_yy(x, lp, offs, out, nl, lp, yyl, xx)
        assert np.array_equal(yyl.view(np.uint32), yyl_ref.view(np.uint32))
        for m in range(min(nl, 8)):
            s = f32(0)
            for j in range(480):
                s = s + x[j] * lp[offs[m] + j]
            assert out[m] == s
        assert np.all(np.isnan(out[min(nl, 8) :]))


def test_fine_search_xx_is_the_doubling_energy():
    for seed, period in [(6, 140), (7, 420)]:
        lp = pitch_downsample(_voiced_buf(seed, period))
        coarse = np.empty(147, np.float32)
        K.coarse_xcorr(lp, coarse)
        lag, xx = K._pitch_search_fine(lp, coarse)
        assert lag == K.pitch_search(lp)
        s = f32(0)
        for j in range(480):
            s = s + lp[384 + j] * lp[384 + j]
        assert xx == s
