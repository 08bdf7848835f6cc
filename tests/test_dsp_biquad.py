"""The biquad: float32 state, double update (spec section 5)."""

from __future__ import annotations

import numpy as np
import scipy.signal

from rnnoise_kit.dsp import _kernels as K
from rnnoise_kit.dsp.biquad import A_HP, B_HP, biquad, highpass

f32 = np.float32


def _spec_loop(x, b, a):
    """The spec's loop with Python floats as C doubles (independent of the kernel)."""
    b0, b1, a0, a1 = (float(f32(v)) for v in (b[0], b[1], a[0], a[1]))
    m0 = m1 = 0.0
    out = []
    for xi in x.tolist():
        yi = float(f32(xi + m0))  # float32 add (exact sum of two floats, rounded once)
        new0 = float(f32(m1 + (b0 * xi - a0 * yi)))
        m1 = float(f32(b1 * xi - a1 * yi))
        m0 = new0
        out.append(yi)
    return np.array(out, dtype=np.float32)


def _signal(n=6000, seed=3):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    x = 8000 * np.sin(2 * np.pi * 90 * t / 48000) + 3000 * rng.standard_normal(n) + 500
    return np.round(x).astype(np.float32)


def test_highpass_bit_exact_vs_spec_loop():
    x = _signal()
    y, _ = highpass(x)
    assert np.array_equal(y, _spec_loop(x, B_HP, A_HP))


def test_random_filter_and_state_carry():
    x = _signal(3000, 5)
    b, a = (0.31, -0.2), (-0.12, 0.27)
    y, mem = biquad(x, None, b, a)
    assert np.array_equal(y, _spec_loop(x, b, a))
    y1, m1 = biquad(x[:1234], None, b, a)
    y2, m2 = biquad(x[1234:], m1, b, a)
    assert np.array_equal(np.concatenate([y1, y2]), y) and np.array_equal(m2, mem)


def test_numba_vs_python():
    x = _signal(2000)
    m_n, m_p = np.zeros(2, np.float32), np.zeros(2, np.float32)
    args = (f32(-2), f32(1), f32(-1.99599), f32(0.996))
    assert np.array_equal(K.biquad(x, m_n, *args), K.biquad.py_func(x, m_p, *args))
    assert np.array_equal(m_n, m_p)


def test_float64_lfilter_is_not_the_reference():
    # why the float32 state matters: a float64 filter drifts from the reference arithmetic
    x = _signal()
    y, _ = highpass(x)
    z = scipy.signal.lfilter([1, -2, 1], [1, float(A_HP[0]), float(A_HP[1])], x.astype(float))
    assert not np.array_equal(y, z.astype(np.float32))
