"""Window, transforms (bit-exact KISS FFT emulation) and synthesis."""

from __future__ import annotations

import numpy as np
import pytest

from rnnoise_kit.dsp import _kissfft as KF
from rnnoise_kit.dsp.tables import HALF_WINDOW, WINDOW
from rnnoise_kit.dsp.transform import (
    apply_window,
    forward_transform,
    inverse_transform,
    synthesize,
)

RNG = np.random.default_rng(1234)


def _frames(n: int = 8) -> np.ndarray:
    return (RNG.standard_normal((n, 960)) * 3000).astype(np.float32)


def test_window_power_complementary():
    # hw[i]^2 + hw[479-i]^2 = 1 up to float32 rounding of hw (|err| <= a few ulp)
    s = HALF_WINDOW.astype(np.float64) ** 2 + HALF_WINDOW[::-1].astype(np.float64) ** 2
    assert np.abs(s - 1).max() < 3e-7
    assert WINDOW.dtype == np.float32 and WINDOW.shape == (960,)
    assert np.array_equal(WINDOW[:480], WINDOW[::-1][:480])


def test_forward_matches_float64_dft():
    # KISS float32 vs the exact DFT: ~1e-7 of the largest bin (float32 rounding only)
    x = _frames()
    X = forward_transform(x)
    ref = np.fft.rfft(x.astype(np.float64), axis=-1) / 960
    assert X.dtype == np.complex64 and X.shape == (8, 481)
    assert np.abs(X - ref).max() / np.abs(ref).max() < 1e-6


def test_scipy_backend_close_to_exact():
    x = _frames()
    a = forward_transform(x)
    b = forward_transform(x, exact=False)
    assert np.abs(a - b).max() / np.abs(a).max() < 1e-6


def test_round_trip():
    # inverse(forward(x)) == x up to float32 rounding (3000-scale data: ~1e-3 absolute)
    x = _frames()
    for exact in (True, False):
        y = inverse_transform(forward_transform(x, exact), exact)
        assert np.abs(y - x).max() < 1e-5 * np.abs(x).max()


def test_batch_equals_single_frame():
    x = _frames(5)
    X = forward_transform(x)
    for t in range(5):
        assert np.array_equal(forward_transform(x[t]), X[t])
    y = inverse_transform(X)
    assert np.array_equal(inverse_transform(X[2]), y[2])


def test_fft960_numba_matches_python():
    # the compiled kernel against its plain-Python body (same float32 operations)
    zr = _frames(1)[0]
    zi = _frames(1)[0]
    out_n = (np.empty(960, np.float32), np.empty(960, np.float32))
    out_p = (np.empty(960, np.float32), np.empty(960, np.float32))
    KF.fft960(zr, zi, *out_n)
    KF.fft960.py_func(zr, zi, *out_p)
    assert np.array_equal(out_n[0], out_p[0]) and np.array_equal(out_n[1], out_p[1])
    r4 = [a.copy() for a in out_n]
    r4p = [a.copy() for a in out_n]
    KF._radix4(*r4, 4, 60, 16, 60)
    KF._radix4.py_func(*r4p, 4, 60, 16, 60)
    assert np.array_equal(r4[0], r4p[0]) and np.array_equal(r4[1], r4p[1])


def test_apply_window():
    x = _frames(2)
    assert np.array_equal(apply_window(x), x * WINDOW)


def test_synthesis_reconstructs_delayed_input():
    # analysis (window, forward) then synthesis (inverse, window, overlap-add) returns the
    # input delayed by one frame: the window is power complementary (tolerance: float32)
    x = (RNG.standard_normal(480 * 10) * 1000).astype(np.float32)
    buf = np.concatenate([np.zeros(480, np.float32), x])
    frames = np.stack([buf[480 * t : 480 * t + 960] for t in range(10)])
    X = forward_transform(apply_window(frames))
    out, mem = synthesize(X)
    assert out.shape == (4800,) and mem.shape == (480,)
    assert np.abs(out[480:] - x[:-480]).max() < 2e-3
    # block-wise with the carried state gives the same samples
    o1, m1 = synthesize(X[:4])
    o2, m2 = synthesize(X[4:], m1)
    assert np.array_equal(np.concatenate([o1, o2]), out) and np.array_equal(m2, mem)


def test_synthesize_shape_check():
    with pytest.raises(ValueError):
        synthesize(np.zeros((3, 480), np.complex64))


def test_lanes_fft_equals_scalar_fft():
    # the frames-as-SIMD-lanes FFT runs the same float32 operations per frame
    from rnnoise_kit.dsp.tables import WINDOW as W

    buf = (RNG.standard_normal(480 * 40) * 3000).astype(np.float32)
    for n in (1, 5, 16, 37):
        starts = (480 * np.arange(n)).astype(np.int64)
        a = np.empty((n, 962), np.float32)
        b = np.empty((n, 962), np.float32)
        KF.forward_windowed(buf, starts, W, a)
        KF.forward_windowed_lanes(buf, starts, W, b)
        assert np.array_equal(a, b)
        assert np.array_equal(
            a.view(np.complex64),
            forward_transform(apply_window(np.stack([buf[s : s + 960] for s in starts]))),
        )


def _bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).view(np.uint32)


def test_lanes_batch_transforms_equal_scalar():
    # forward/inverse batch kernels, 16 frames per SIMD pass, bit for bit (signed zeros too)
    for n in (1, 3, 4, 16, 17, 40):
        x = (RNG.standard_normal((n, 960)) * 3000).astype(np.float32)
        x[0, :100] = 0
        a = np.empty((n, 962), np.float32)
        b = np.empty((n, 962), np.float32)
        KF.forward_batch(x, a)
        KF.forward_batch_lanes(x, b)
        assert np.array_equal(_bits(a), _bits(b))
        # arbitrary spectra, with non-zero imaginary parts in bins 0 and 480
        s = (RNG.standard_normal((n, 962)) * 100).astype(np.float32)
        s[0, 10:20] = -0.0
        ya = np.empty((n, 960), np.float32)
        yb = np.empty((n, 960), np.float32)
        KF.inverse_batch(s, ya)
        KF.inverse_batch_lanes(s, yb)
        assert np.array_equal(_bits(ya), _bits(yb))


def test_synthesize_fused_equals_steps():
    # synthesize = inverse (scalar KISS) * window, then overlap-add, bit for bit, over any
    # block split (lane groups of 16 frames)
    n = 37
    s = (RNG.standard_normal((n, 962)) * 100).astype(np.float32)
    X = s.view(np.complex64)
    y = np.empty((n, 960), np.float32)
    KF.inverse_batch(s, y)
    y = y * WINDOW
    mem = (RNG.standard_normal(480) * 10).astype(np.float32)
    ref = np.empty(480 * n, np.float32)
    m = mem.copy()
    for t in range(n):
        ref[480 * t : 480 * t + 480] = y[t, :480] + m
        m = y[t, 480:].copy()
    out, mem2 = synthesize(X, mem)
    assert np.array_equal(_bits(out), _bits(ref)) and np.array_equal(_bits(mem2), _bits(m))
    o1, m1 = synthesize(X[:5], mem)
    o2, m2 = synthesize(X[5:], m1)
    assert np.array_equal(_bits(np.concatenate([o1, o2])), _bits(ref))
    assert np.array_equal(_bits(m2), _bits(m))
