"""Numba kernels of the RNNoise v0.1.1 analysis, written to the float32/double rules of the spec.

Every kernel is written so that its plain-Python body (``kernel.py_func``, NumPy scalars under
NEP 50) computes the same bits as the compiled version: every constant is an explicit
``np.float32``, every double promotion is an explicit ``np.float64()``, and no int meets a float32.
The tests compare the two.

Complex spectra are passed as float32 views: a (n, 481) complex64 array ``X`` is handed over as
``X.view(np.float32)`` of shape (n, 962), with ``[2k]`` the real and ``[2k+1]`` the imaginary
part of bin k.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from rnnoise_kit.dsp.constants import EDGE, NB_BANDS
from rnnoise_kit.dsp.tables import (
    BIN_BAND,
    BIN_FRAC,
    BIN_FRAC_LO,
    DCT_SCALE,
    DCT_TABLE,
    NB_BAND_BINS,
)

_JIT = {"cache": True, "error_model": "numpy", "nogil": True}

BAND_START = np.asarray(EDGE, dtype=np.int64)
_PITCH_CHUNK = 32
SECOND_CHECK = np.array([0, 0, 3, 2, 3, 2, 5, 2, 3, 2, 3, 2, 5, 2, 3, 2], dtype=np.int64)


# ----------------------------------------------------------------------------- biquad (§5)


@njit(**_JIT)
def biquad(x, mem, b0, b1, a0, a1):
    """Filter float32 ``x`` (n,); ``mem`` (2,) float32 is updated in place. Returns y (n,)."""
    y = np.empty(x.shape[0], dtype=np.float32)
    biquad_into(x, mem, b0, b1, a0, a1, y)
    return y


@njit(inline="always", **_JIT)
def biquad_step(x, m0, m1, b0, b1, a0, a1):
    """One sample of the biquad: float32 ``x`` and state ``m0, m1``, coefficients already
    promoted to double. Returns ``(y, m0, m1)``: ``y`` float32, the state updated in double
    and rounded to float32."""
    y = x + m0
    fx = np.float64(x)
    fy = np.float64(y)
    return y, np.float32(np.float64(m1) + (b0 * fx - a0 * fy)), np.float32(b1 * fx - a1 * fy)


@njit(**_JIT)
def biquad_into(x, mem, b0, b1, a0, a1, y):
    """:func:`biquad` writing into ``y`` (n,) float32 (may be a view of a larger buffer)."""
    m0 = mem[0]
    m1 = mem[1]
    fb0 = np.float64(b0)
    fb1 = np.float64(b1)
    fa0 = np.float64(a0)
    fa1 = np.float64(a1)
    for i in range(x.shape[0]):
        yi, m0, m1 = biquad_step(x[i], m0, m1, fb0, fb1, fa0, fa1)
        y[i] = yi
    mem[0] = m0
    mem[1] = m1


# ----------------------------------------------------------------------------- bands (§3)


@njit(**_JIT)
def band_energy_1(xf, out):
    """Band energies of one spectrum: ``xf`` (962,) float32 re/im pairs -> ``out`` (22,)."""
    for b in range(NB_BANDS):
        out[b] = np.float32(0)
    for k in range(NB_BAND_BINS):
        b = BIN_BAND[k]
        re = xf[2 * k]
        im = xf[2 * k + 1]
        v = re * re + im * im
        out[b] = out[b] + BIN_FRAC_LO[k] * v
        out[b + 1] = out[b + 1] + BIN_FRAC[k] * v
    out[0] = out[0] * np.float32(2)
    out[NB_BANDS - 1] = out[NB_BANDS - 1] * np.float32(2)


@njit(**_JIT)
def triangle_energy(xf, edges, frac, frac_lo, out):
    """Triangular energy sums of one spectrum over the m bin ``edges`` (any band layout).

    ``xf`` (962,) float32 re/im pairs; ``frac``/``frac_lo`` the per-bin tables of
    :func:`rnnoise_kit.dsp.tables.triangle_tables`; ``out`` (m,) receives the m sums: sum b
    gets the ``frac`` terms of triangle b-1's bins, then the ``frac_lo`` terms of its own, each
    float32 ``+=`` in bin order, as C's ``sum[i] += (1-frac)*tmp; sum[i+1] += frac*tmp``. The
    running sums stay in registers. The caller applies the layout's end rule."""
    m = edges.shape[0]
    cx = np.float32(0)
    for b in range(m - 1):
        nx = np.float32(0)
        for k in range(edges[b], edges[b + 1]):
            re = xf[2 * k]
            im = xf[2 * k + 1]
            v = re * re + im * im
            cx = cx + frac_lo[k] * v
            nx = nx + frac[k] * v
        out[b] = cx
        cx = nx
    out[m - 1] = cx


@njit(**_JIT)
def band_energy_reg(xf, out):
    """:func:`band_energy_1` with the running sums in registers (:func:`triangle_energy`):
    the same per-band order, so the same bits, without the store-to-load chain through
    ``out``."""
    triangle_energy(xf, BAND_START, BIN_FRAC, BIN_FRAC_LO, out)
    out[0] = out[0] * np.float32(2)
    out[NB_BANDS - 1] = out[NB_BANDS - 1] * np.float32(2)


@njit(**_JIT)
def band_corr_1(xf, pf, out):
    """Band correlations of two spectra (962,) float32 re/im pairs -> ``out`` (22,)."""
    for b in range(NB_BANDS):
        out[b] = np.float32(0)
    for k in range(NB_BAND_BINS):
        b = BIN_BAND[k]
        v = xf[2 * k] * pf[2 * k] + xf[2 * k + 1] * pf[2 * k + 1]
        out[b] = out[b] + BIN_FRAC_LO[k] * v
        out[b + 1] = out[b + 1] + BIN_FRAC[k] * v
    out[0] = out[0] * np.float32(2)
    out[NB_BANDS - 1] = out[NB_BANDS - 1] * np.float32(2)


@njit(**_JIT)
def band_energy_batch(xf):
    """(n, 962) float32 re/im -> (n, 22) float32 band energies."""
    n = xf.shape[0]
    out = np.empty((n, NB_BANDS), dtype=np.float32)
    for t in range(n):
        band_energy_reg(xf[t], out[t])
    return out


@njit(**_JIT)
def band_corr_batch(xf, pf):
    """(n, 962) x (n, 962) float32 re/im -> (n, 22) float32 band correlations."""
    n = xf.shape[0]
    out = np.empty((n, NB_BANDS), dtype=np.float32)
    for t in range(n):
        band_corr_1(xf[t], pf[t], out[t])
    return out


@njit(**_JIT)
def interp_band_gain_1(g, out):
    """22 band gains -> ``out`` (481,) per-bin gains; bins 400..480 are set to 0."""
    for k in range(NB_BAND_BINS):
        b = BIN_BAND[k]
        out[k] = BIN_FRAC_LO[k] * g[b] + BIN_FRAC[k] * g[b + 1]
    for k in range(NB_BAND_BINS, out.shape[0]):
        out[k] = np.float32(0)


@njit(**_JIT)
def dct_into(v, table, scale, out):
    """DCT of n float32 values with ``table`` (n, n) ``T[j, i]`` into ``out`` (n,) (not ``v``):
    ``out[i] = float(double(sum_j v[j] T[j, i]) * scale)``, each sum sequential in j."""
    n = table.shape[0]
    acc = np.zeros(n, dtype=np.float32)
    for j in range(n):
        vj = v[j]
        for i in range(n):
            acc[i] = acc[i] + vj * table[j, i]
    for i in range(n):
        out[i] = np.float32(np.float64(acc[i]) * scale)


@njit(**_JIT)
def dct_1(v, out):
    """Orthonormal DCT-II of 22 float32 values into ``out`` (22,) (``out`` must not be ``v``)."""
    dct_into(v, DCT_TABLE, DCT_SCALE, out)


@njit(**_JIT)
def log_spectrum(ex, ly):
    """The floored log band energies of ``compute_frame_features`` (both generations).

    ``ly[b] = max(logMax - 7, max(follow - 1.5, float(log10(.01 + ex[b]))))`` with the running
    ``logMax = max(logMax, ly[b])`` and ``follow = max(follow - 1.5, ly[b])`` from -2 (float32
    state, double comparisons as C's MAX16 of float and double). Returns E, the sequential
    float32 sum of ``ex``."""
    log_max = np.float32(-2)
    follow = np.float32(-2)
    e = np.float32(0)
    for b in range(ex.shape[0]):
        v = math.log10(0.01 + np.float64(ex[b]))
        fm = np.float64(follow) - 1.5
        if not fm > v:
            fm = v
        lm = np.float64(log_max - np.float32(7))
        if not lm > fm:
            lm = fm
        y = np.float32(lm)
        ly[b] = y
        if not log_max > y:
            log_max = y
        fo = np.float64(follow) - 1.5
        if not fo > np.float64(y):
            fo = np.float64(y)
        follow = np.float32(fo)
        e = e + ex[b]
    return e


@njit(**_JIT)
def normalise_corr(ex, ep, exp_):
    """``exp_[b] /= sqrt(.001 + ex[b]*ep[b])`` in place (the product float32, the rest double)."""
    for b in range(exp_.shape[0]):
        den = math.sqrt(0.001 + np.float64(ex[b] * ep[b]))
        exp_[b] = np.float32(np.float64(exp_[b]) / den)


@njit(**_JIT)
def pitch_filter_ratio(ex, ep, exp_, g, r):
    """Per-band pitch-filter strength ``r`` of ``pitch_filter`` (both generations, spec §8):
    1 where ``Exp > g``, else ``Exp²(1-g²)/(.001 + g²(1-Exp²))`` clamped to [0, 1]; its square
    root; times ``sqrt(Ex/(1e-8 + Ep))``. Float32 products, double division and square roots."""
    for b in range(r.shape[0]):
        e = exp_[b]
        gb = g[b]
        if e > gb:
            rb = np.float32(1)
        else:
            e2 = e * e
            g2 = gb * gb
            num = np.float64(e2 * (np.float32(1) - g2))
            rb = np.float32(num / (0.001 + np.float64(g2 * (np.float32(1) - e2))))
        if np.float32(0) > rb:
            rb = np.float32(0)
        if np.float32(1) < rb:
            rb = np.float32(1)
        rb = np.float32(math.sqrt(np.float64(rb)))
        scale = math.sqrt(np.float64(ex[b]) / (1e-8 + np.float64(ep[b])))
        r[b] = np.float32(np.float64(rb) * scale)


@njit(**_JIT)
def pitch_filter_norm(ex, newe, r):
    """``r[b] = sqrt(ex[b] / (1e-8 + newe[b]))`` (double), the energy restoring gain of
    ``pitch_filter`` after the pitch component was added."""
    for b in range(r.shape[0]):
        r[b] = np.float32(math.sqrt(np.float64(ex[b]) / (1e-8 + np.float64(newe[b]))))


@njit(**_JIT)
def smooth_and_apply_gains(xf, g, silence, lastg):
    """The end of ``rnnoise_process_frame`` for consecutive frames (spec section 9).

    ``xf`` (n, 962) float32 re/im spectra, scaled in place; ``g`` (n, 22) raw network gains;
    ``silence`` (n,) frames left untouched; ``lastg`` (22,) updated in place. Per non-silent
    frame, in float32 as C: ``g = max(g, .6f*lastg)`` (C's ``g > a ? g : a``), ``lastg = g``,
    then every bin times :func:`interp_band_gain_1` of it (bins 400..480 become 0).
    """
    six = np.float32(0.6)
    gs = np.empty(NB_BANDS, dtype=np.float32)
    gf = np.empty(xf.shape[1] // 2, dtype=np.float32)
    for t in range(xf.shape[0]):
        if silence[t]:
            continue
        for b in range(NB_BANDS):
            a = six * lastg[b]
            v = g[t, b]
            gs[b] = v if v > a else a
            lastg[b] = gs[b]
        interp_band_gain_1(gs, gf)
        for k in range(gf.shape[0]):
            xf[t, 2 * k] = xf[t, 2 * k] * gf[k]
            xf[t, 2 * k + 1] = xf[t, 2 * k + 1] * gf[k]


@njit(**_JIT)
def triangle_all(xf, pf, edges, frac, frac_lo, ex, ep, exy):
    """:func:`triangle_energy` of X and P and the triangular sums of Re(X conj P), in one pass
    over the bins (each of the three with its own sequential per-sum order, as C's three
    functions); ``ex``, ``ep``, ``exy`` (m,) for m ``edges``."""
    m = edges.shape[0]
    cx = np.float32(0)
    cp = np.float32(0)
    cc = np.float32(0)
    for b in range(m - 1):
        nx = np.float32(0)
        np_ = np.float32(0)
        nc = np.float32(0)
        for k in range(edges[b], edges[b + 1]):
            xr = xf[2 * k]
            xi = xf[2 * k + 1]
            pr = pf[2 * k]
            pi = pf[2 * k + 1]
            lo = frac_lo[k]
            hi = frac[k]
            vx = xr * xr + xi * xi
            vp = pr * pr + pi * pi
            vc = xr * pr + xi * pi
            cx = cx + lo * vx
            nx = nx + hi * vx
            cp = cp + lo * vp
            np_ = np_ + hi * vp
            cc = cc + lo * vc
            nc = nc + hi * vc
        ex[b] = cx
        ep[b] = cp
        exy[b] = cc
        cx = nx
        cp = np_
        cc = nc
    ex[m - 1] = cx
    ep[m - 1] = cp
    exy[m - 1] = cc


@njit(**_JIT)
def band_all_1(xf, pf, ex, ep, exy):
    """Ex, Ep and corr(X, P) of one frame in one pass, same bits as the three kernels above
    (:func:`triangle_all` over the 22 edges, then v0.1's doubled end bands)."""
    triangle_all(xf, pf, BAND_START, BIN_FRAC, BIN_FRAC_LO, ex, ep, exy)
    ex[0] = ex[0] * np.float32(2)
    ep[0] = ep[0] * np.float32(2)
    exy[0] = exy[0] * np.float32(2)
    ex[NB_BANDS - 1] = ex[NB_BANDS - 1] * np.float32(2)
    ep[NB_BANDS - 1] = ep[NB_BANDS - 1] * np.float32(2)
    exy[NB_BANDS - 1] = exy[NB_BANDS - 1] * np.float32(2)


# ----------------------------------------------------------------------------- pitch (§6)


@njit(**_JIT)
def pitch_downsample(buf, lp):
    """§6.1: ``buf`` (1728,) float32 -> whitened half-rate ``lp`` (864,) float32."""
    h = np.float32(0.5)
    n = lp.shape[0]
    raw = np.empty(n, dtype=np.float32)
    raw[0] = h * (h * buf[1] + buf[0])
    for i in range(1, n):
        raw[i] = h * (h * (buf[2 * i - 1] + buf[2 * i + 1]) + buf[2 * i])
    # autocorrelation, lags 0..4: a sequential sum over n-4 terms, then the tail
    ac = np.zeros(5, dtype=np.float32)
    fast = n - 4
    a0 = np.float32(0)  # five sequential sums, kept in registers
    a1 = np.float32(0)
    a2 = np.float32(0)
    a3 = np.float32(0)
    a4 = np.float32(0)
    for j in range(fast):
        xj = raw[j]
        a0 = a0 + xj * raw[j]
        a1 = a1 + xj * raw[j + 1]
        a2 = a2 + xj * raw[j + 2]
        a3 = a3 + xj * raw[j + 3]
        a4 = a4 + xj * raw[j + 4]
    ac[0] = a0
    ac[1] = a1
    ac[2] = a2
    ac[3] = a3
    ac[4] = a4
    for k in range(5):
        d = np.float32(0)
        for i in range(fast + k, n):
            d = d + raw[i] * raw[i - k]
        ac[k] = ac[k] + d
    ac[0] = ac[0] * np.float32(1.0001)
    for i in range(1, 5):
        c = np.float32(0.008) * np.float32(i)
        ac[i] = ac[i] - (ac[i] * c) * c
    # Levinson-Durbin, order 4
    lpc = np.zeros(4, dtype=np.float32)
    err = ac[0]
    if ac[0] != np.float32(0):
        for i in range(4):
            rr = np.float32(0)
            for j in range(i):
                rr = rr + lpc[j] * ac[i - j]
            rr = rr + ac[i + 1]
            r = -rr / err
            lpc[i] = r
            for j in range((i + 1) // 2):
                t1 = lpc[j]
                t2 = lpc[i - 1 - j]
                lpc[j] = t1 + r * t2
                lpc[i - 1 - j] = t2 + r * t1
            err = err - (r * r) * err
            if err < np.float32(0.001) * ac[0]:
                break
    t = np.float32(1)
    for i in range(4):
        t = np.float32(0.9) * t
        lpc[i] = lpc[i] * t
    c1 = np.float32(0.8)
    h0 = lpc[0] + c1
    h1 = lpc[1] + c1 * lpc[0]
    h2 = lpc[2] + c1 * lpc[1]
    h3 = lpc[3] + c1 * lpc[2]
    h4 = c1 * lpc[3]
    z = np.float32(0)
    for i in range(n):
        x1 = raw[i - 1] if i >= 1 else z
        x2 = raw[i - 2] if i >= 2 else z
        x3 = raw[i - 3] if i >= 3 else z
        x4 = raw[i - 4] if i >= 4 else z
        x5 = raw[i - 5] if i >= 5 else z
        lp[i] = ((((raw[i] + h0 * x1) + h1 * x2) + h2 * x3) + h3 * x4) + h4 * x5


@njit(**_JIT)
def find_best_pitch(xc, y, length, max_pitch):
    """§6.2: the two best lags (best, second) by normalised correlation."""
    syy = np.float32(1)
    for j in range(length):
        syy = syy + y[j] * y[j]
    return _best_pitch(xc, y, length, max_pitch, syy)


@njit(**_JIT)
def _best_pitch(xc, y, length, max_pitch, syy):
    """:func:`find_best_pitch` after its initial sum ``syy = 1 + y[:length]·y[:length]``."""
    num0 = np.float32(-1)
    num1 = np.float32(-1)
    den0 = np.float32(0)
    den1 = np.float32(0)
    best0 = 0
    best1 = 1
    yl = y[length : length + max_pitch]  # yl[i] = y[i + length], no wraparound check
    for i in range(max_pitch):
        # branch-free form of RNNoise's nested ifs (noisy xc signs mispredict): nn is
        # computed for every lag, but only used where xc[i] > 0, as in C
        xi = xc[i]
        t = xi * np.float32(1e-12)
        nn = t * t
        c0 = (xi > np.float32(0)) & (nn * den1 > num1 * syy)
        c1 = c0 & (nn * den0 > num0 * syy)
        n1 = num0 if c1 else (nn if c0 else num1)
        d1 = den0 if c1 else (syy if c0 else den1)
        b1 = best0 if c1 else (i if c0 else best1)
        num0 = nn if c1 else num0
        den0 = syy if c1 else den0
        best0 = i if c1 else best0
        num1 = n1
        den1 = d1
        best1 = b1
        syy = syy + (yl[i] * yl[i] - y[i] * y[i])
        syy = np.float32(1) if np.float32(1) > syy else syy
    return best0, best1


@njit(**_JIT)
def coarse_xcorr(lp, xc):
    """Coarse correlation at 12 kHz: xc[i] = dot(lp[384::2][:240], lp[2i::2][:240]), i < 147.

    j outer, lags inner: each lag's sum stays sequential and the lag loop vectorises."""
    x4 = np.empty(240, dtype=np.float32)
    y4 = np.empty(387, dtype=np.float32)
    for j in range(240):
        x4[j] = lp[384 + 2 * j]
    for j in range(387):
        y4[j] = lp[2 * j]
    for i in range(147):
        xc[i] = np.float32(0)
    # eight j per pass, written out in sequential order: one load/store of xc per 8 terms
    for j in range(0, 240, 8):
        x0 = x4[j]
        x1 = x4[j + 1]
        x2 = x4[j + 2]
        x3 = x4[j + 3]
        x5 = x4[j + 4]
        x6 = x4[j + 5]
        x7 = x4[j + 6]
        x8 = x4[j + 7]
        y = y4[j:]
        for i in range(147):
            s = (((xc[i] + x0 * y[i]) + x1 * y[i + 1]) + x2 * y[i + 2]) + x3 * y[i + 3]
            xc[i] = (((s + x5 * y[i + 4]) + x6 * y[i + 5]) + x7 * y[i + 6]) + x8 * y[i + 7]


@njit(**_JIT)
def pitch_search_fine(lp, coarse):
    """§6.2 after the coarse correlation ``coarse`` (147,): returns the 48 kHz lag."""
    return _pitch_search_fine(lp, coarse)[0]


@njit(**_JIT)
def _pitch_search_fine(lp, coarse):
    """:func:`pitch_search_fine`, also returning xx = lp[384:864]·lp[384:864] (the first sum of
    remove_doubling, computed here in a spare accumulator of the fine pass)."""
    xc = np.zeros(294, dtype=np.float32)
    for i in range(147):
        xc[i] = coarse[i]
    y4 = np.empty(387, dtype=np.float32)
    for j in range(387):
        y4[j] = lp[2 * j]
    b0, b1 = find_best_pitch(xc, y4, 240, 147)
    # fine: only lags within 2 of 2*b0 or 2*b1, at 24 kHz, plus offset 384 (xx)
    lags = np.empty(16, dtype=np.int64)
    nl = 0
    for i in range(294):
        if abs(i - 2 * b0) <= 2 or abs(i - 2 * b1) <= 2:
            lags[nl] = i
            nl += 1
    lags[nl] = 384
    nl += 1
    for m in range(nl, 16):
        lags[m] = 384
    acc = np.zeros(16, dtype=np.float32)
    multi_dot(lp[384:], lp, lags, nl, 480, acc)
    xx = acc[nl - 1]
    for i in range(294):
        xc[i] = np.float32(0)
    for m in range(nl - 1):
        s = acc[m]
        xc[lags[m]] = np.float32(-1) if np.float32(-1) > s else s
    b0, b1 = find_best_pitch(xc, lp, 480, 294)
    off = 0
    if b0 > 0 and b0 < 293:
        a = xc[b0 - 1]
        b = xc[b0]
        c = xc[b0 + 1]
        if (c - a) > np.float32(0.7) * (b - a):
            off = 1
        elif (a - c) > np.float32(0.7) * (b - c):
            off = -1
    return 2 * b0 - off, xx


@njit(**_JIT)
def pitch_search(lp):
    """§6.2 on the whitened ``lp`` (864,): returns the 48 kHz lag (0..586)."""
    coarse = np.empty(147, dtype=np.float32)
    coarse_xcorr(lp, coarse)
    return pitch_search_fine(lp, coarse)


@njit(**_JIT)
def _pitch_gain(xy, xx, yy):
    return np.float32(np.float64(xy) / math.sqrt(np.float64(np.float32(1) + xx * yy)))


@njit(**_JIT)
def _dots8(x, y, offs, out, m0, nl, length):
    """out[m] = dot(x[0:length], y[offs[m] : offs[m]+length]) for m in m0..min(m0+8, nl)-1.

    Eight independent sequential sums in registers (the unrolled ``xcorr_kernel`` idea);
    missing slots repeat the first offset and are not stored."""
    o0 = offs[m0]
    o1 = offs[m0 + 1] if m0 + 1 < nl else o0
    o2 = offs[m0 + 2] if m0 + 2 < nl else o0
    o3 = offs[m0 + 3] if m0 + 3 < nl else o0
    o4 = offs[m0 + 4] if m0 + 4 < nl else o0
    o5 = offs[m0 + 5] if m0 + 5 < nl else o0
    o6 = offs[m0 + 6] if m0 + 6 < nl else o0
    o7 = offs[m0 + 7] if m0 + 7 < nl else o0
    # one slice per offset: y0[j] with j from range() needs no negative-index wraparound
    y0 = y[o0 : o0 + length]
    y1 = y[o1 : o1 + length]
    y2 = y[o2 : o2 + length]
    y3 = y[o3 : o3 + length]
    y4 = y[o4 : o4 + length]
    y5 = y[o5 : o5 + length]
    y6 = y[o6 : o6 + length]
    y7 = y[o7 : o7 + length]
    a0 = np.float32(0)
    a1 = np.float32(0)
    a2 = np.float32(0)
    a3 = np.float32(0)
    a4 = np.float32(0)
    a5 = np.float32(0)
    a6 = np.float32(0)
    a7 = np.float32(0)
    for j in range(length):
        xj = x[j]
        a0 = a0 + xj * y0[j]
        a1 = a1 + xj * y1[j]
        a2 = a2 + xj * y2[j]
        a3 = a3 + xj * y3[j]
        a4 = a4 + xj * y4[j]
        a5 = a5 + xj * y5[j]
        a6 = a6 + xj * y6[j]
        a7 = a7 + xj * y7[j]
    out[m0] = a0
    if m0 + 1 < nl:
        out[m0 + 1] = a1
    if m0 + 2 < nl:
        out[m0 + 2] = a2
    if m0 + 3 < nl:
        out[m0 + 3] = a3
    if m0 + 4 < nl:
        out[m0 + 4] = a4
    if m0 + 5 < nl:
        out[m0 + 5] = a5
    if m0 + 6 < nl:
        out[m0 + 6] = a6
    if m0 + 7 < nl:
        out[m0 + 7] = a7


@njit(**_JIT)
def _dots4(x, y, offs, out, m0, nl, length):
    """As :func:`_dots8` with four accumulators (for the last few lags)."""
    o0 = offs[m0]
    o1 = offs[m0 + 1] if m0 + 1 < nl else o0
    o2 = offs[m0 + 2] if m0 + 2 < nl else o0
    o3 = offs[m0 + 3] if m0 + 3 < nl else o0
    y0 = y[o0 : o0 + length]
    y1 = y[o1 : o1 + length]
    y2 = y[o2 : o2 + length]
    y3 = y[o3 : o3 + length]
    a0 = np.float32(0)
    a1 = np.float32(0)
    a2 = np.float32(0)
    a3 = np.float32(0)
    for j in range(length):
        xj = x[j]
        a0 = a0 + xj * y0[j]
        a1 = a1 + xj * y1[j]
        a2 = a2 + xj * y2[j]
        a3 = a3 + xj * y3[j]
    out[m0] = a0
    if m0 + 1 < nl:
        out[m0 + 1] = a1
    if m0 + 2 < nl:
        out[m0 + 2] = a2
    if m0 + 3 < nl:
        out[m0 + 3] = a3


@njit(**_JIT)
def _dots8_yy(x, y, offs, out, nl, lp, yyl, xx):
    """:func:`_dots8` for slots 0..7, fused with remove_doubling's running energy
    ``yyl[i]`` (i = 0..384, a sequential chain from ``xx``), which has no data dependence
    on the dot products: the chain's latency hides under their throughput."""
    o0 = offs[0]
    o1 = offs[1] if 1 < nl else o0
    o2 = offs[2] if 2 < nl else o0
    o3 = offs[3] if 3 < nl else o0
    o4 = offs[4] if 4 < nl else o0
    o5 = offs[5] if 5 < nl else o0
    o6 = offs[6] if 6 < nl else o0
    o7 = offs[7] if 7 < nl else o0
    y0 = y[o0 : o0 + 480]
    y1 = y[o1 : o1 + 480]
    y2 = y[o2 : o2 + 480]
    y3 = y[o3 : o3 + 480]
    y4 = y[o4 : o4 + 480]
    y5 = y[o5 : o5 + 480]
    y6 = y[o6 : o6 + 480]
    y7 = y[o7 : o7 + 480]
    # yyl[i] uses lp[384 - i] and lp[864 - i], i = j + 1
    lo = lp[:384]
    hi = lp[480:864]
    a0 = np.float32(0)
    a1 = np.float32(0)
    a2 = np.float32(0)
    a3 = np.float32(0)
    a4 = np.float32(0)
    a5 = np.float32(0)
    a6 = np.float32(0)
    a7 = np.float32(0)
    yyl[0] = xx
    yy = xx
    for j in range(384):
        xj = x[j]
        a0 = a0 + xj * y0[j]
        a1 = a1 + xj * y1[j]
        a2 = a2 + xj * y2[j]
        a3 = a3 + xj * y3[j]
        a4 = a4 + xj * y4[j]
        a5 = a5 + xj * y5[j]
        a6 = a6 + xj * y6[j]
        a7 = a7 + xj * y7[j]
        u = lo[383 - j]
        v = hi[383 - j]
        yy = (yy + u * u) - v * v
        yyl[j + 1] = np.float32(0) if np.float32(0) > yy else yy
    for j in range(384, 480):
        xj = x[j]
        a0 = a0 + xj * y0[j]
        a1 = a1 + xj * y1[j]
        a2 = a2 + xj * y2[j]
        a3 = a3 + xj * y3[j]
        a4 = a4 + xj * y4[j]
        a5 = a5 + xj * y5[j]
        a6 = a6 + xj * y6[j]
        a7 = a7 + xj * y7[j]
    out[0] = a0
    if 1 < nl:
        out[1] = a1
    if 2 < nl:
        out[2] = a2
    if 3 < nl:
        out[3] = a3
    if 4 < nl:
        out[4] = a4
    if 5 < nl:
        out[5] = a5
    if 6 < nl:
        out[6] = a6
    if 7 < nl:
        out[7] = a7


@njit(**_JIT)
def multi_dot(x, y, offs, nl, length, out):
    """out[m] = dot(x[:length], y[offs[m]:][:length]) for m < nl, each sum sequential."""
    m0 = 0
    while m0 < nl:
        if nl - m0 > 4:
            _dots8(x, y, offs, out, m0, nl, length)
            m0 += 8
        else:
            _dots4(x, y, offs, out, m0, nl, length)
            m0 += 4


@njit(**_JIT)
def _multi_dot(lp, lags, nl, acc):
    """acc[m] = dot(lp[384:864], lp[384-lags[m] : 864-lags[m]]), each sum sequential."""
    offs = np.empty(nl, dtype=np.int64)
    for m in range(nl):
        offs[m] = 384 - lags[m]
    multi_dot(lp[384:], lp, offs, nl, 480, acc)


@njit(**_JIT)
def remove_doubling(lp, t0_in, prev_period, prev_gain):
    """§6.3 with maxperiod 768, minperiod 60, N 960. Returns (period, gain)."""
    lags = np.zeros(1, dtype=np.int64)
    acc = np.empty(1, dtype=np.float32)
    _multi_dot(lp, lags, 1, acc)
    return _remove_doubling(lp, t0_in, prev_period, prev_gain, acc[0])


@njit(**_JIT)
def _remove_doubling(lp, t0_in, prev_period, prev_gain, xx):
    """:func:`remove_doubling` given xx = lp[384:864]·lp[384:864] (sequential sum)."""
    t0 = t0_in // 2
    prev = prev_period // 2
    if t0 >= 384:
        t0 = 383
    # all the lags the search may look at depend on t0 only: correlate them in one pass
    lags = np.empty(32, dtype=np.int64)
    lags[0] = t0
    nl = 1
    kmax = 1
    for k in range(2, 16):
        t1 = (2 * t0 + k) // (2 * k)
        if t1 < 30:
            break
        if k == 2:
            t1b = t0 if t1 + t0 > 384 else t0 + t1
        else:
            t1b = (2 * SECOND_CHECK[k] * t0 + k) // (2 * k)
        lags[nl] = t1
        lags[nl + 1] = t1b
        nl += 2
        kmax = k
    # many second-check lags repeat others (t1b(k) = t1(k/2) for even k, t1b(3) = t0, ...):
    # correlate each distinct lag once (the same sequential sum, so the same bits)
    slot = np.empty(32, dtype=np.int64)
    offs = np.empty(32, dtype=np.int64)
    nu = 0
    for m in range(nl):
        u = 0
        while u < nu and offs[u] != 384 - lags[m]:
            u += 1
        if u == nu:
            offs[nu] = 384 - lags[m]
            nu += 1
        slot[m] = u
    dots = np.empty(32, dtype=np.float32)
    yyl = np.empty(385, dtype=np.float32)
    x = lp[384:]
    _dots8_yy(x, lp, offs, dots, nu, lp, yyl, xx)
    m0 = 8
    while m0 < nu:
        if nu - m0 > 4:
            _dots8(x, lp, offs, dots, m0, nu, 480)
            m0 += 8
        else:
            _dots4(x, lp, offs, dots, m0, nu, 480)
            m0 += 4
    acc = np.empty(32, dtype=np.float32)
    for m in range(nl):
        acc[m] = dots[slot[m]]
    xy = acc[0]
    yy = yyl[t0]
    best_xy = xy
    best_yy = yy
    g0 = _pitch_gain(xy, xx, yy)
    g = g0
    t = t0
    for k in range(2, kmax + 1):
        m = 2 * k - 3
        t1 = lags[m]
        t1b = lags[m + 1]
        xy1 = np.float32(0.5) * (acc[m] + acc[m + 1])
        yy1 = np.float32(0.5) * (yyl[t1] + yyl[t1b])
        g1 = _pitch_gain(xy1, xx, yy1)
        if abs(t1 - prev) <= 1:
            cont = prev_gain
        elif abs(t1 - prev) <= 2 and 5 * k * k < t0:
            cont = np.float32(0.5) * prev_gain
        else:
            cont = np.float32(0)
        a = np.float32(0.7) * g0 - cont
        thresh = np.float32(0.3) if np.float32(0.3) > a else a
        if t1 < 90:
            a = np.float32(0.85) * g0 - cont
            thresh = np.float32(0.4) if np.float32(0.4) > a else a
        if g1 > thresh:
            best_xy = xy1
            best_yy = yy1
            t = t1
            g = g1
    if np.float32(0) > best_xy:
        best_xy = np.float32(0)
    if best_yy <= best_xy:
        pg = np.float32(1)
    else:
        pg = best_xy / (best_yy + np.float32(1))
    lags[0] = t - 1
    lags[1] = t
    lags[2] = t + 1
    _multi_dot(lp, lags, 3, acc)
    c0 = acc[0]
    c1 = acc[1]
    c2 = acc[2]
    if (c2 - c0) > np.float32(0.7) * (c1 - c0):
        off = 1
    elif (c0 - c2) > np.float32(0.7) * (c1 - c2):
        off = -1
    else:
        off = 0
    if pg > g:
        pg = g
    period = 2 * t + off
    if period < 60:
        period = 60
    return period, pg


@njit(**_JIT)
def pitch_frames(xp, n, last_period, last_gain, periods, gains):
    """Pitch of ``n`` consecutive frames. ``xp`` (1728 + 480 n,) is the previous pitch buffer
    followed by the new (high-passed) samples; frame t's buffer is ``xp[480(t+1):][:1728]``.
    Writes ``periods`` and ``gains``; returns the final (last_period, last_gain)."""
    # chunks of _PITCH_CHUNK frames: the whitened buffers stay in cache, and no (n, 864)
    # temporary is allocated (fresh pages cost about as much as the work on them)
    lps = np.empty((_PITCH_CHUNK, 864), dtype=np.float32)
    coarse = np.empty((_PITCH_CHUNK, 147), dtype=np.float32)
    for c0 in range(0, n, _PITCH_CHUNK):
        m = min(_PITCH_CHUNK, n - c0)
        # independent per frame: whitening and the coarse search
        for t in range(m):
            s = 480 * (c0 + t + 1)
            pitch_downsample(xp[s : s + 1728], lps[t])
        for t in range(m):
            coarse_xcorr(lps[t], coarse[t])
        # sequential through the previous period and gain
        for t in range(m):
            lp = lps[t]
            lag, xx = _pitch_search_fine(lp, coarse[t])
            period, gain = _remove_doubling(lp, 768 - lag, last_period, last_gain, xx)
            last_period = period
            last_gain = gain
            periods[c0 + t] = period
            gains[c0 + t] = gain
    return last_period, last_gain


# ----------------------------------------------------------------------------- features (§7)


@njit(**_JIT)
def features_frames(
    xf, pf, periods, training, cmem, memid, features, silence, ex, ep, exp_, energy
):
    """Steps 4-12 of §7 for n frames. ``xf``/``pf`` (n, 962) spectra; ``cmem`` (8, 22) is
    updated in place; outputs are written into the (n, ...) arrays. Returns the new memid."""
    n = xf.shape[0]
    ly = np.empty(NB_BANDS, dtype=np.float32)
    tmp = np.empty(NB_BANDS, dtype=np.float32)
    dist = np.zeros((8, 8), dtype=np.float32)
    dist_ok = False
    for t in range(n):
        f = features[t]
        exr = ex[t]
        epr = ep[t]
        xpr = exp_[t]
        band_all_1(xf[t], pf[t], exr, epr, xpr)
        normalise_corr(exr, epr, xpr)
        dct_1(xpr, tmp)
        for i in range(6):
            f[34 + i] = tmp[i]
        f[34] = np.float32(np.float64(f[34]) - 1.3)
        f[35] = np.float32(np.float64(f[35]) - 0.9)
        f[40] = np.float32(0.01 * np.float64(periods[t] - 300))
        e = log_spectrum(exr, ly)
        energy[t] = e
        if training:
            silence[t] = np.float64(e) < 0.1
        else:
            silent = np.float64(e) < 0.04
            silence[t] = silent
            if silent:
                for i in range(42):
                    f[i] = np.float32(0)
                continue
        dct_1(ly, tmp)
        for i in range(NB_BANDS):
            f[i] = tmp[i]
        f[0] = f[0] - np.float32(12)
        f[1] = f[1] - np.float32(4)
        row = memid
        c0 = cmem[memid]
        c1 = cmem[(memid + 7) % 8]
        c2 = cmem[(memid + 6) % 8]
        for i in range(NB_BANDS):
            c0[i] = f[i]
        memid += 1
        for i in range(6):
            f[i] = (c0[i] + c1[i]) + c2[i]
            f[22 + i] = c0[i] - c2[i]
            f[28 + i] = (c0[i] - np.float32(2) * c1[i]) + c2[i]
        if memid == 8:
            memid = 0
        # spectral variability: the 8x8 distances of the ring are kept across the frames of
        # the block; a frame changes one row, so only its 2 x 7 distances are recomputed
        # (each the same sequential sum as a full recomputation would give)
        for i in range(8):
            if dist_ok and i != row:
                continue
            for j in range(8):
                if j != i:
                    d = np.float32(0)
                    for k in range(NB_BANDS):
                        tt = cmem[i, k] - cmem[j, k]
                        d = d + tt * tt
                    dist[i, j] = d
                    d = np.float32(0)
                    for k in range(NB_BANDS):
                        tt = cmem[j, k] - cmem[i, k]
                        d = d + tt * tt
                    dist[j, i] = d
        dist_ok = True
        sv = np.float32(0)
        for i in range(8):
            md = np.float32(1e15)
            for j in range(8):
                if j != i:
                    d = dist[i, j]
                    md = md if md < d else d
            sv = sv + md
        f[41] = np.float32(np.float64(sv / np.float32(8)) - 2.1)
    return memid


# ----------------------------------------------------------------------------- pitch filter (§8)


@njit(**_JIT)
def pitch_filter_batch(xf, pf, ex, ep, exp_, g):
    """§8 on n frames: returns the filtered spectra (n, 962) float32 re/im (inputs untouched)."""
    n = xf.shape[0]
    out = np.empty_like(xf)
    r = np.empty(NB_BANDS, dtype=np.float32)
    rf = np.empty(481, dtype=np.float32)
    newe = np.empty(NB_BANDS, dtype=np.float32)
    for t in range(n):
        pitch_filter_ratio(ex[t], ep[t], exp_[t], g[t], r)
        interp_band_gain_1(r, rf)
        o = out[t]
        x = xf[t]
        p = pf[t]
        for k in range(481):
            o[2 * k] = x[2 * k] + rf[k] * p[2 * k]
            o[2 * k + 1] = x[2 * k + 1] + rf[k] * p[2 * k + 1]
        band_energy_reg(o, newe)
        pitch_filter_norm(ex[t], newe, r)
        interp_band_gain_1(r, rf)
        for k in range(481):
            o[2 * k] = o[2 * k] * rf[k]
            o[2 * k + 1] = o[2 * k + 1] * rf[k]
    return out


@njit(**_JIT)
def overlap_add(y, mem):
    """Windowed inverse frames ``y`` (n, 960) float32 -> (480 n,) samples; ``mem`` (480,) is
    the previous frame's second half, updated in place."""
    n = y.shape[0]
    out = np.empty(480 * n, dtype=np.float32)
    for t in range(n):
        for i in range(480):
            out[480 * t + i] = y[t, i] + mem[i]
        for i in range(480):
            mem[i] = y[t, 480 + i]
    return out
