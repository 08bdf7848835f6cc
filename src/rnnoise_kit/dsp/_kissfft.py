"""Bit-exact float32 emulation of RNNoise's 960-point KISS FFT (spec section 2.5), in numba.

``fft960(re, im, out_re, out_im)`` transforms one frame (the input is scaled by f32(1/960)
first, as RNNoise's ``forward_transform`` does). The batch kernels below give RNNoise's forward
(real -> 481 bins) and inverse (481 bins -> 960 real, times 960) transforms.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_JIT = {"cache": True, "error_model": "numpy", "nogil": True}
N = 960


def _twiddles() -> tuple[np.ndarray, np.ndarray]:
    p = np.array([(-2 * 3.14159265358979323846 / N) * k for k in range(N)])
    return (
        np.array([np.float32(math.cos(v)) for v in p], dtype=np.float32),
        np.array([np.float32(math.sin(v)) for v in p], dtype=np.float32),
    )


TW_R, TW_I = _twiddles()


def _perm() -> np.ndarray:
    perm = np.empty(N, dtype=np.int64)
    for n0 in range(5):
        for n1 in range(3):
            for n2 in range(4):
                for n3 in range(4):
                    for n4 in range(4):
                        pos = 192 * n0 + 64 * n1 + 16 * n2 + 4 * n3 + n4
                        perm[pos] = n0 + 5 * n1 + 15 * n2 + 60 * n3 + 240 * n4
    return perm


PERM = _perm()
"""PERM[pos] = input index stored at position pos before the butterflies."""
PERM_U = PERM.astype(np.uint64)  # unsigned: numba indexes without a wraparound check
SCALE = np.float32(1.0 / 960)


@njit(**_JIT)
def radix4_stage(ar, ai, m, ngroups, mm, fs, tw_r, tw_i):
    """KISS ``kf_bfly4`` for m > 1 on an FFT of any size: ``ngroups`` groups ``mm`` apart of m
    radix-4 butterflies, twiddle stride ``fs`` into the size's twiddles (tw_r, tw_i)."""
    for g in range(ngroups):
        base = g * mm
        for u in range(m):
            i0 = base + u
            i1 = i0 + m
            i2 = i1 + m
            i3 = i2 + m
            w1 = u * fs
            w2 = 2 * u * fs
            w3 = 3 * u * fs
            f0r = ar[i0]
            f0i = ai[i0]
            t1r = ar[i1] * tw_r[w1] - ai[i1] * tw_i[w1]
            t1i = ar[i1] * tw_i[w1] + ai[i1] * tw_r[w1]
            t2r = ar[i2] * tw_r[w2] - ai[i2] * tw_i[w2]
            t2i = ar[i2] * tw_i[w2] + ai[i2] * tw_r[w2]
            t3r = ar[i3] * tw_r[w3] - ai[i3] * tw_i[w3]
            t3i = ar[i3] * tw_i[w3] + ai[i3] * tw_r[w3]
            s5r = f0r - t2r
            s5i = f0i - t2i
            a_r = f0r + t2r
            a_i = f0i + t2i
            s3r = t1r + t3r
            s3i = t1i + t3i
            s4r = t1r - t3r
            s4i = t1i - t3i
            ar[i0] = a_r + s3r
            ai[i0] = a_i + s3i
            ar[i2] = a_r - s3r
            ai[i2] = a_i - s3i
            ar[i1] = s5r + s4i
            ai[i1] = s5i - s4r
            ar[i3] = s5r - s4i
            ai[i3] = s5i + s4r


@njit(**_JIT)
def radix4_first(ar, ai, ngroups):
    """KISS ``kf_bfly4`` for m = 1 (the first stage, ``ngroups`` groups of 4): all twiddles
    are tw[0], and C skips the multiplications there, as this does."""
    for g in range(ngroups):
        i0 = 4 * g
        f0r = ar[i0]
        f0i = ai[i0]
        t1r = ar[i0 + 1]
        t1i = ai[i0 + 1]
        t2r = ar[i0 + 2]
        t2i = ai[i0 + 2]
        t3r = ar[i0 + 3]
        t3i = ai[i0 + 3]
        s5r = f0r - t2r
        s5i = f0i - t2i
        a_r = f0r + t2r
        a_i = f0i + t2i
        s3r = t1r + t3r
        s3i = t1i + t3i
        s4r = t1r - t3r
        s4i = t1i - t3i
        ar[i0] = a_r + s3r
        ai[i0] = a_i + s3i
        ar[i0 + 2] = a_r - s3r
        ai[i0 + 2] = a_i - s3i
        ar[i0 + 1] = s5r + s4i
        ai[i0 + 1] = s5i - s4r
        ar[i0 + 3] = s5r - s4i
        ai[i0 + 3] = s5i + s4r


@njit(**_JIT)
def _radix4(ar, ai, m, ngroups, mm, fs):
    radix4_stage(ar, ai, m, ngroups, mm, fs, TW_R, TW_I)


@njit(**_JIT)
def _radix4_m1(ar, ai):
    """The first radix-4 stage of the 960-point FFT (m = 1, 240 groups)."""
    radix4_first(ar, ai, 240)


@njit(**_JIT)
def _radix3(ar, ai, m, ngroups, mm, fs):
    e = TW_I[fs * m]
    half = np.float32(0.5)
    for g in range(ngroups):
        base = g * mm
        for u in range(m):
            i0 = base + u
            i1 = i0 + m
            i2 = i1 + m
            w1 = u * fs
            w2 = 2 * u * fs
            f0r = ar[i0]
            f0i = ai[i0]
            t1r = ar[i1] * TW_R[w1] - ai[i1] * TW_I[w1]
            t1i = ar[i1] * TW_I[w1] + ai[i1] * TW_R[w1]
            t2r = ar[i2] * TW_R[w2] - ai[i2] * TW_I[w2]
            t2i = ar[i2] * TW_I[w2] + ai[i2] * TW_R[w2]
            s3r = t1r + t2r
            s3i = t1i + t2i
            s0r = t1r - t2r
            s0i = t1i - t2i
            mr = f0r - s3r * half
            mi = f0i - s3i * half
            s0r = s0r * e
            s0i = s0i * e
            ar[i0] = f0r + s3r
            ai[i0] = f0i + s3i
            ar[i2] = mr + s0i
            ai[i2] = mi - s0r
            ar[i1] = mr - s0i
            ai[i1] = mi + s0r


@njit(**_JIT)
def _radix5(ar, ai, m, fs):
    yar = TW_R[fs * m]
    yai = TW_I[fs * m]
    ybr = TW_R[2 * fs * m]
    ybi = TW_I[2 * fs * m]
    for u in range(m):
        i0 = u
        i1 = u + m
        i2 = u + 2 * m
        i3 = u + 3 * m
        i4 = u + 4 * m
        w1 = u * fs
        w2 = 2 * u * fs
        w3 = 3 * u * fs
        w4 = 4 * u * fs
        f0r = ar[i0]
        f0i = ai[i0]
        t1r = ar[i1] * TW_R[w1] - ai[i1] * TW_I[w1]
        t1i = ar[i1] * TW_I[w1] + ai[i1] * TW_R[w1]
        t2r = ar[i2] * TW_R[w2] - ai[i2] * TW_I[w2]
        t2i = ar[i2] * TW_I[w2] + ai[i2] * TW_R[w2]
        t3r = ar[i3] * TW_R[w3] - ai[i3] * TW_I[w3]
        t3i = ar[i3] * TW_I[w3] + ai[i3] * TW_R[w3]
        t4r = ar[i4] * TW_R[w4] - ai[i4] * TW_I[w4]
        t4i = ar[i4] * TW_I[w4] + ai[i4] * TW_R[w4]
        s7r = t1r + t4r
        s7i = t1i + t4i
        s10r = t1r - t4r
        s10i = t1i - t4i
        s8r = t2r + t3r
        s8i = t2i + t3i
        s9r = t2r - t3r
        s9i = t2i - t3i
        ar[i0] = f0r + (s7r + s8r)
        ai[i0] = f0i + (s7i + s8i)
        s5r = f0r + (s7r * yar + s8r * ybr)
        s5i = f0i + (s7i * yar + s8i * ybr)
        s6r = s10i * yai + s9i * ybi
        s6i = -(s10r * yai + s9r * ybi)
        ar[i1] = s5r - s6r
        ai[i1] = s5i - s6i
        ar[i4] = s5r + s6r
        ai[i4] = s5i + s6i
        s11r = f0r + (s7r * ybr + s8r * yar)
        s11i = f0i + (s7i * ybr + s8i * yar)
        s12r = s9i * yai - s10i * ybi
        s12i = s10r * ybi - s9r * yai
        ar[i2] = s11r + s12r
        ai[i2] = s11i + s12i
        ar[i3] = s11r - s12r
        ai[i3] = s11i - s12i


@njit(**_JIT)
def fft960(zr, zi, ar, ai):
    """KISS forward FFT of (zr + i zi) (960,) scaled by f32(1/960), into ``ar``/``ai``."""
    for pos in range(N):
        src = PERM[pos]
        ar[pos] = zr[src] * SCALE
        ai[pos] = zi[src] * SCALE
    _radix4_m1(ar, ai)
    _radix4(ar, ai, 4, 60, 16, 60)
    _radix4(ar, ai, 16, 15, 64, 15)
    _radix3(ar, ai, 64, 5, 192, 5)
    _radix5(ar, ai, 192, 1)


@njit(**_JIT)
def forward_batch(x, out):
    """x (n, 960) float32 windowed frames -> out (n, 962) float32 re/im pairs of bins 0..480."""
    n = x.shape[0]
    zi = np.zeros(N, dtype=np.float32)
    ar = np.empty(N, dtype=np.float32)
    ai = np.empty(N, dtype=np.float32)
    for t in range(n):
        fft960(x[t], zi, ar, ai)
        o = out[t]
        for k in range(481):
            o[2 * k] = ar[k]
            o[2 * k + 1] = ai[k]


@njit(**_JIT)
def inverse_batch(xf, out):
    """xf (n, 962) float32 re/im of bins 0..480 -> out (n, 960) float32, ``irfft*960``."""
    n = xf.shape[0]
    zr = np.empty(N, dtype=np.float32)
    zi = np.empty(N, dtype=np.float32)
    ar = np.empty(N, dtype=np.float32)
    ai = np.empty(N, dtype=np.float32)
    big = np.float32(960)
    for t in range(n):
        x = xf[t]
        for k in range(481):
            zr[k] = x[2 * k]
            zi[k] = x[2 * k + 1]
        for k in range(481, N):
            zr[k] = x[2 * (N - k)]
            zi[k] = -x[2 * (N - k) + 1]
        fft960(zr, zi, ar, ai)
        o = out[t]
        o[0] = big * ar[0]
        for i in range(1, N):
            o[i] = big * ar[N - i]


@njit(**_JIT)
def forward_windowed(buf, starts, window, out):
    """For each t: FFT of ``buf[starts[t] : starts[t] + 960] * window`` (float32 products)
    into ``out[t]`` (962,) re/im pairs of bins 0..480. Same bits as windowing then
    :func:`forward_batch`."""
    n = starts.shape[0]
    zr = np.empty(N, dtype=np.float32)
    zi = np.zeros(N, dtype=np.float32)
    ar = np.empty(N, dtype=np.float32)
    ai = np.empty(N, dtype=np.float32)
    for t in range(n):
        s = starts[t]
        for i in range(N):
            zr[i] = buf[s + i] * window[i]
        fft960(zr, zi, ar, ai)
        o = out[t]
        for k in range(481):
            o[2 * k] = ar[k]
            o[2 * k + 1] = ai[k]


# ------------------------------------------------------------------ frames-as-lanes variant
# The same butterflies on B frames at once, stored (960, B): the innermost loop runs over the
# frames, so it vectorises while every frame sees exactly the scalar operations above.

_LANES = 16


@njit(**_JIT)
def _m_radix4_m1(ar, ai):
    for g in range(240):
        i0 = 4 * g
        for f in range(_LANES):
            f0r = ar[i0, f]
            f0i = ai[i0, f]
            t1r = ar[i0 + 1, f]
            t1i = ai[i0 + 1, f]
            t2r = ar[i0 + 2, f]
            t2i = ai[i0 + 2, f]
            t3r = ar[i0 + 3, f]
            t3i = ai[i0 + 3, f]
            s5r = f0r - t2r
            s5i = f0i - t2i
            a_r = f0r + t2r
            a_i = f0i + t2i
            s3r = t1r + t3r
            s3i = t1i + t3i
            s4r = t1r - t3r
            s4i = t1i - t3i
            ar[i0, f] = a_r + s3r
            ai[i0, f] = a_i + s3i
            ar[i0 + 2, f] = a_r - s3r
            ai[i0 + 2, f] = a_i - s3i
            ar[i0 + 1, f] = s5r + s4i
            ai[i0 + 1, f] = s5i - s4r
            ar[i0 + 3, f] = s5r - s4i
            ai[i0 + 3, f] = s5i + s4r


@njit(**_JIT)
def _m_radix4(ar, ai, m, ngroups, mm, fs):
    for g in range(ngroups):
        base = g * mm
        for u in range(m):
            i0 = base + u
            i1 = i0 + m
            i2 = i1 + m
            i3 = i2 + m
            w1r = TW_R[u * fs]
            w1i = TW_I[u * fs]
            w2r = TW_R[2 * u * fs]
            w2i = TW_I[2 * u * fs]
            w3r = TW_R[3 * u * fs]
            w3i = TW_I[3 * u * fs]
            for f in range(_LANES):
                f0r = ar[i0, f]
                f0i = ai[i0, f]
                t1r = ar[i1, f] * w1r - ai[i1, f] * w1i
                t1i = ar[i1, f] * w1i + ai[i1, f] * w1r
                t2r = ar[i2, f] * w2r - ai[i2, f] * w2i
                t2i = ar[i2, f] * w2i + ai[i2, f] * w2r
                t3r = ar[i3, f] * w3r - ai[i3, f] * w3i
                t3i = ar[i3, f] * w3i + ai[i3, f] * w3r
                s5r = f0r - t2r
                s5i = f0i - t2i
                a_r = f0r + t2r
                a_i = f0i + t2i
                s3r = t1r + t3r
                s3i = t1i + t3i
                s4r = t1r - t3r
                s4i = t1i - t3i
                ar[i0, f] = a_r + s3r
                ai[i0, f] = a_i + s3i
                ar[i2, f] = a_r - s3r
                ai[i2, f] = a_i - s3i
                ar[i1, f] = s5r + s4i
                ai[i1, f] = s5i - s4r
                ar[i3, f] = s5r - s4i
                ai[i3, f] = s5i + s4r


@njit(**_JIT)
def _m_radix3(ar, ai, m, ngroups, mm, fs):
    e = TW_I[fs * m]
    half = np.float32(0.5)
    for g in range(ngroups):
        base = g * mm
        for u in range(m):
            i0 = base + u
            i1 = i0 + m
            i2 = i1 + m
            w1r = TW_R[u * fs]
            w1i = TW_I[u * fs]
            w2r = TW_R[2 * u * fs]
            w2i = TW_I[2 * u * fs]
            for f in range(_LANES):
                f0r = ar[i0, f]
                f0i = ai[i0, f]
                t1r = ar[i1, f] * w1r - ai[i1, f] * w1i
                t1i = ar[i1, f] * w1i + ai[i1, f] * w1r
                t2r = ar[i2, f] * w2r - ai[i2, f] * w2i
                t2i = ar[i2, f] * w2i + ai[i2, f] * w2r
                s3r = t1r + t2r
                s3i = t1i + t2i
                s0r = t1r - t2r
                s0i = t1i - t2i
                mr = f0r - s3r * half
                mi = f0i - s3i * half
                s0r = s0r * e
                s0i = s0i * e
                ar[i0, f] = f0r + s3r
                ai[i0, f] = f0i + s3i
                ar[i2, f] = mr + s0i
                ai[i2, f] = mi - s0r
                ar[i1, f] = mr - s0i
                ai[i1, f] = mi + s0r


@njit(**_JIT)
def _m_radix5(ar, ai, m, fs):
    yar = TW_R[fs * m]
    yai = TW_I[fs * m]
    ybr = TW_R[2 * fs * m]
    ybi = TW_I[2 * fs * m]
    for u in range(m):
        i0 = u
        i1 = u + m
        i2 = u + 2 * m
        i3 = u + 3 * m
        i4 = u + 4 * m
        w1r = TW_R[u * fs]
        w1i = TW_I[u * fs]
        w2r = TW_R[2 * u * fs]
        w2i = TW_I[2 * u * fs]
        w3r = TW_R[3 * u * fs]
        w3i = TW_I[3 * u * fs]
        w4r = TW_R[4 * u * fs]
        w4i = TW_I[4 * u * fs]
        for f in range(_LANES):
            f0r = ar[i0, f]
            f0i = ai[i0, f]
            t1r = ar[i1, f] * w1r - ai[i1, f] * w1i
            t1i = ar[i1, f] * w1i + ai[i1, f] * w1r
            t2r = ar[i2, f] * w2r - ai[i2, f] * w2i
            t2i = ar[i2, f] * w2i + ai[i2, f] * w2r
            t3r = ar[i3, f] * w3r - ai[i3, f] * w3i
            t3i = ar[i3, f] * w3i + ai[i3, f] * w3r
            t4r = ar[i4, f] * w4r - ai[i4, f] * w4i
            t4i = ar[i4, f] * w4i + ai[i4, f] * w4r
            s7r = t1r + t4r
            s7i = t1i + t4i
            s10r = t1r - t4r
            s10i = t1i - t4i
            s8r = t2r + t3r
            s8i = t2i + t3i
            s9r = t2r - t3r
            s9i = t2i - t3i
            ar[i0, f] = f0r + (s7r + s8r)
            ai[i0, f] = f0i + (s7i + s8i)
            s5r = f0r + (s7r * yar + s8r * ybr)
            s5i = f0i + (s7i * yar + s8i * ybr)
            s6r = s10i * yai + s9i * ybi
            s6i = -(s10r * yai + s9r * ybi)
            ar[i1, f] = s5r - s6r
            ai[i1, f] = s5i - s6i
            ar[i4, f] = s5r + s6r
            ai[i4, f] = s5i + s6i
            s11r = f0r + (s7r * ybr + s8r * yar)
            s11i = f0i + (s7i * ybr + s8i * yar)
            s12r = s9i * yai - s10i * ybi
            s12i = s10r * ybi - s9r * yai
            ar[i2, f] = s11r + s12r
            ai[i2, f] = s11i + s12i
            ar[i3, f] = s11r - s12r
            ai[i3, f] = s11i - s12i


@njit(**_JIT)
def _lanes_fft(ar, ai):
    """The butterflies of :func:`fft960` on (960, 16) lanes already permuted and scaled."""
    _m_radix4_m1(ar, ai)
    _m_radix4(ar, ai, 4, 60, 16, 60)
    _m_radix4(ar, ai, 16, 15, 64, 15)
    _m_radix3(ar, ai, 64, 5, 192, 5)
    _m_radix5(ar, ai, 192, 1)


@njit(**_JIT)
def _lanes_out(ar, ai, out, t0, nb):
    # bins 0..480 of lanes 0..nb-1 into out[t0 + f] (re/im pairs); lanes inner, so the
    # reads of ar/ai are contiguous
    o = out[t0 : t0 + nb]
    for k in range(481):
        for f in range(nb):
            o[f, 2 * k] = ar[k, f]
            o[f, 2 * k + 1] = ai[k, f]


@njit(**_JIT)
def _lanes_in(wf, ar, ai):
    # (16, 960) frames (already windowed and scaled) -> permuted (960, 16) lanes
    for pos in range(N):
        src = PERM_U[pos]
        for f in range(_LANES):
            ar[pos, f] = wf[f, src]
            ai[pos, f] = np.float32(0) * SCALE


@njit(**_JIT)
def forward_windowed_lanes(buf, starts, window, out):
    """Same result as :func:`forward_windowed`, computed 16 frames at a time as SIMD lanes
    (all 16 lanes always run, so the lane loops have a constant trip count; unused lanes
    hold zeros). Each input sample is ``(buf * window) * SCALE`` as in :func:`fft960`."""
    n = starts.shape[0]
    ar = np.empty((N, _LANES), dtype=np.float32)
    ai = np.empty((N, _LANES), dtype=np.float32)
    wf = np.zeros((_LANES, N), dtype=np.float32)
    for t0 in range(0, n, _LANES):
        nb = min(_LANES, n - t0)
        for f in range(nb):
            s = starts[t0 + f]
            seg = buf[s : s + N]
            w = wf[f]
            for i in range(N):
                w[i] = (seg[i] * window[i]) * SCALE
        for f in range(nb, _LANES):
            for i in range(N):
                wf[f, i] = np.float32(0)
        _lanes_in(wf, ar, ai)
        _lanes_fft(ar, ai)
        _lanes_out(ar, ai, out, t0, nb)


@njit(**_JIT)
def forward_batch_lanes(x, out):
    """Same result as :func:`forward_batch` (x (n, 960) windowed frames), 16 frames per pass."""
    n = x.shape[0]
    ar = np.empty((N, _LANES), dtype=np.float32)
    ai = np.empty((N, _LANES), dtype=np.float32)
    wf = np.zeros((_LANES, N), dtype=np.float32)
    for t0 in range(0, n, _LANES):
        nb = min(_LANES, n - t0)
        for f in range(nb):
            xr = x[t0 + f]
            w = wf[f]
            for i in range(N):
                w[i] = xr[i] * SCALE
        for f in range(nb, _LANES):
            for i in range(N):
                wf[f, i] = np.float32(0)
        _lanes_in(wf, ar, ai)
        _lanes_fft(ar, ai)
        _lanes_out(ar, ai, out, t0, nb)


@njit(**_JIT)
def _inverse_lanes_core(xf, t0, nb, ar, ai):
    # the Hermitian extension of frames t0..t0+nb-1, permuted and scaled as fft960 does
    for pos in range(N):
        src = PERM[pos]
        if src < 481:
            for f in range(nb):
                ar[pos, f] = xf[t0 + f, 2 * src] * SCALE
                ai[pos, f] = xf[t0 + f, 2 * src + 1] * SCALE
        else:
            for f in range(nb):
                ar[pos, f] = xf[t0 + f, 2 * (N - src)] * SCALE
                ai[pos, f] = -xf[t0 + f, 2 * (N - src) + 1] * SCALE
        for f in range(nb, _LANES):
            ar[pos, f] = np.float32(0)
            ai[pos, f] = np.float32(0)
    _lanes_fft(ar, ai)


@njit(**_JIT)
def inverse_batch_lanes(xf, out):
    """Same result as :func:`inverse_batch`, 16 frames per pass."""
    n = xf.shape[0]
    ar = np.empty((N, _LANES), dtype=np.float32)
    ai = np.empty((N, _LANES), dtype=np.float32)
    big = np.float32(960)
    for t0 in range(0, n, _LANES):
        nb = min(_LANES, n - t0)
        _inverse_lanes_core(xf, t0, nb, ar, ai)
        o = out[t0 : t0 + nb]
        for f in range(nb):
            o[f, 0] = big * ar[0, f]
        for i in range(1, N):
            for f in range(nb):
                o[f, i] = big * ar[N - i, f]


@njit(**_JIT)
def synthesize_lanes(xf, window, mem, out):
    """Inverse transform, window and overlap-add of n frames (§2.4) into ``out`` (480 n,);
    ``mem`` (480,) is updated in place. Same bits as ``inverse_batch`` * window + overlap."""
    n = xf.shape[0]
    ar = np.empty((N, _LANES), dtype=np.float32)
    ai = np.empty((N, _LANES), dtype=np.float32)
    big = np.float32(960)
    ys = np.empty((_LANES, N), dtype=np.float32)
    for t0 in range(0, n, _LANES):
        nb = min(_LANES, n - t0)
        _inverse_lanes_core(xf, t0, nb, ar, ai)
        for f in range(nb):
            ys[f, 0] = (big * ar[0, f]) * window[0]
        for i in range(1, N):
            w = window[i]
            for f in range(nb):
                ys[f, i] = (big * ar[N - i, f]) * w
        for f in range(nb):
            y = ys[f]
            base = 480 * (t0 + f)
            for i in range(480):
                out[base + i] = y[i] + mem[i]
            for i in range(480):
                mem[i] = y[480 + i]
