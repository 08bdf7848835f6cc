"""Numba kernels of the RNNoise 0.2 analysis and post-filter: only what differs from v0.1.

The band layout (34 triangle tops, the 2/3 end folding, the 32-band gain interpolation), the
65 features and the decay cap live here; everything else is v0.1's kernel, called with 0.2's
tables: KISS FFT and window (:mod:`rnnoise_kit.dsp._kissfft`), pitch
(:func:`~rnnoise_kit.dsp._kernels.pitch_frames`), the triangular sums
(:func:`~rnnoise_kit.dsp._kernels.triangle_all`), the Ly flooring
(:func:`~rnnoise_kit.dsp._kernels.log_spectrum`), the DCT and the pitch-filter formulas.
The float32/double rules are those of :mod:`rnnoise_kit.dsp._kernels` (explicit
``np.float64`` promotions, ``np.float32`` constants), so each kernel's ``py_func`` computes
the same bits.

Kernels that call kernels of another file are built as closures over a hash of those files
(:func:`rnnoise_kit.dsp._block.deps_key`, see there): numba's cache keys a function on its own
file only. Complex spectra are float32 views ``(n, 962)``, ``[2k]`` real and ``[2k+1]``
imaginary part of bin k.
"""

from __future__ import annotations

import sys

import numpy as np
from numba import njit

from rnnoise_kit.dsp._block import block_spectra, deps_key
from rnnoise_kit.dsp._kernels import (
    dct_into,
    log_spectrum,
    normalise_corr,
    pitch_filter_norm,
    pitch_filter_ratio,
    pitch_frames,
    triangle_all,
    triangle_energy,
)
from rnnoise_kit.dsp.v02.constants import (
    BIN_FRAC,
    BIN_FRAC_LO,
    DCT_SCALE,
    DCT_TABLE,
    EBAND_20MS,
    GAIN_DECAY,
    GAIN_ENERGY_EPS,
    NB_BANDS,
    NB_FEATURES,
    NB_TRIANGLE_SUMS,
    PITCH_FEATURE,
    SILENCE_ENERGY,
    TRAINING_SILENCE_ENERGY,
)

_JIT = {"cache": True, "error_model": "numpy", "nogil": True}
_FREQ = 481


# ----------------------------------------------------------------------------- leaf kernels
# (no call into another file: numba's per-file cache key covers them)


@njit(**_JIT)
def fold_ends(sums, out):
    """34 triangular sums -> 32 band values: ``out[k] = sums[k+1]``, except
    ``out[0] = (sums[0] + sums[1])*2/3`` and ``out[31] = (sums[32] + sums[33])*2/3``
    (float32, the multiply by 2 before the division by 3, as C writes it)."""
    nb = out.shape[0]
    for k in range(1, nb - 1):
        out[k] = sums[k + 1]
    out[0] = ((sums[0] + sums[1]) * np.float32(2)) / np.float32(3)
    out[nb - 1] = ((sums[nb] + sums[nb + 1]) * np.float32(2)) / np.float32(3)


@njit(**_JIT)
def interp_band_gain_1(g, edges, frac, frac_lo, out):
    """32 band gains -> ``out`` (481,) per-bin gains, 0.2's ``interp_band_gain``.

    Bins of triangle i = 1..31: ``(1-frac)*g[i-1] + frac*g[i]`` (float32); bins below
    ``edges[1]`` take g[0], bins of the last triangle g[31]; bins from ``edges[-1]`` (400) on
    are 0 (C's callers zero-initialise; its ``memset`` clears bytes, not floats)."""
    nb = g.shape[0]
    for i in range(1, nb):
        a = g[i - 1]
        b = g[i]
        for k in range(edges[i], edges[i + 1]):
            out[k] = frac_lo[k] * a + frac[k] * b
    for k in range(edges[1]):
        out[k] = g[0]
    for k in range(edges[nb], edges[nb + 1]):
        out[k] = g[nb - 1]
    for k in range(edges[nb + 1], out.shape[0]):
        out[k] = np.float32(0)


@njit(**_JIT)
def apply_gains_frames(xf, g, silence, edges, frac, frac_lo):
    """Step 6 of spec §2 over n frames: every bin of ``xf`` (n, 962) times
    :func:`interp_band_gain_1` of ``g[t]`` (32,), in place; silent frames untouched."""
    gf = np.empty(_FREQ, dtype=np.float32)
    for t in range(xf.shape[0]):
        if silence[t]:
            continue
        interp_band_gain_1(g[t], edges, frac, frac_lo, gf)
        x = xf[t]
        for k in range(_FREQ):
            x[2 * k] = x[2 * k] * gf[k]
            x[2 * k + 1] = x[2 * k + 1] * gf[k]


# ----------------------------------------------------------------------------- composite kernels


def _deps() -> int:
    return deps_key(sys.modules[__name__], sys.modules["rnnoise_kit.dsp.v02.constants"])


def _build_cap_gains(deps: int):
    @njit(**_JIT)
    def cap_gains_frames(g, ex_delayed, ex_current, silence, lastg, out):
        """Step 5 of spec §2 (HEAD) over n frames, sequential through ``lastg`` (32,).

        Per non-silent frame t and band b, as C: ``out = g > a ? g : a`` with
        ``a = .6f*lastg`` (float32), then ``lastg = MIN16(1.f, out*(ex_delayed + 1e-3)/
        (ex_current + 1e-3))`` (the ``1e-3`` literals make it double, rounded once to float32).
        Silent frames: ``out[t] = g[t]`` and ``lastg`` is left alone (C skips the step)."""
        eps = GAIN_ENERGY_EPS
        for t in range(g.shape[0] + 0 * deps):
            if silence[t]:
                for b in range(g.shape[1]):
                    out[t, b] = g[t, b]
                continue
            for b in range(g.shape[1]):
                a = GAIN_DECAY * lastg[b]
                v = g[t, b]
                c = v if v > a else a
                out[t, b] = c
                d = (np.float64(c) * (np.float64(ex_delayed[t, b]) + eps)) / (
                    np.float64(ex_current[t, b]) + eps
                )
                lastg[b] = np.float32(1) if 1.0 < d else np.float32(d)

    return cap_gains_frames


def _build_band_sums(deps: int):
    @njit(**_JIT)
    def band_sums_batch(xf, pf, mode, out):
        """0.2's ``compute_band_energy`` (mode 0, X only) or ``compute_band_corr`` (mode 1,
        Re(X conj P)) of n spectra (n, 962) -> ``out`` (n, 32)."""
        sx = np.empty(NB_TRIANGLE_SUMS + 0 * deps, dtype=np.float32)
        sp = np.empty(NB_TRIANGLE_SUMS, dtype=np.float32)
        sc = np.empty(NB_TRIANGLE_SUMS, dtype=np.float32)
        for t in range(xf.shape[0]):
            if mode == 0:
                triangle_energy(xf[t], EBAND_20MS, BIN_FRAC, BIN_FRAC_LO, sx)
                fold_ends(sx, out[t])
            else:
                triangle_all(xf[t], pf[t], EBAND_20MS, BIN_FRAC, BIN_FRAC_LO, sx, sp, sc)
                fold_ends(sc, out[t])

    return band_sums_batch


def _build_dct(deps: int):
    @njit(**_JIT)
    def dct_batch(v, out):
        """0.2's ``dct`` of each row of ``v`` (n, 32) into ``out`` (n, 32)."""
        for t in range(v.shape[0] + 0 * deps):
            dct_into(v[t], DCT_TABLE, DCT_SCALE, out[t])

    return dct_batch


def _build_features(deps: int):
    @njit(**_JIT)
    def features_frames(xf, pf, periods, training, features, silence, ex, ep, exp_, energy):
        """Spec §3 for n frames from their spectra ``xf``/``pf`` (n, 962) and pitch periods:
        writes ``ex``, ``ep``, ``exp_`` (n, 32; Exp normalised), ``features`` (n, 65),
        ``silence`` (n,) and ``energy`` (n,) (E, the float32 sum of Ex)."""
        sx = np.empty(NB_TRIANGLE_SUMS + 0 * deps, dtype=np.float32)
        sp = np.empty(NB_TRIANGLE_SUMS, dtype=np.float32)
        sc = np.empty(NB_TRIANGLE_SUMS, dtype=np.float32)
        ly = np.empty(NB_BANDS, dtype=np.float32)
        for t in range(xf.shape[0]):
            f = features[t]
            exr = ex[t]
            epr = ep[t]
            xpr = exp_[t]
            triangle_all(xf[t], pf[t], EBAND_20MS, BIN_FRAC, BIN_FRAC_LO, sx, sp, sc)
            fold_ends(sx, exr)
            fold_ends(sp, epr)
            fold_ends(sc, xpr)
            normalise_corr(exr, epr, xpr)
            dct_into(xpr, DCT_TABLE, DCT_SCALE, f[NB_BANDS : 2 * NB_BANDS])
            f[PITCH_FEATURE] = np.float32(0.01 * np.float64(periods[t] - 300))
            e = log_spectrum(exr, ly)
            energy[t] = e
            if training:
                silence[t] = np.float64(e) < TRAINING_SILENCE_ENERGY
            else:
                silent = np.float64(e) < SILENCE_ENERGY
                silence[t] = silent
                if silent:
                    for i in range(NB_FEATURES):
                        f[i] = np.float32(0)
                    continue
            dct_into(ly, DCT_TABLE, DCT_SCALE, f[:NB_BANDS])
            f[0] = f[0] - np.float32(12)
            f[1] = f[1] - np.float32(4)

    return features_frames


def _build_block(deps: int):
    @njit(**_JIT)
    def analyse_block(
        xp, n, last_period, last_gain, training, lowpass,
        xf, pf, ex, ep, exp_, feats, silence, periods, gains, energy,
    ):  # fmt: skip
        """Analyse n frames of ``xp`` (1728 + 480 n,) = previous pitch buffer ++ new samples:
        pitch (v0.1's kernel), X and P (v0.1's), then the 0.2 bands and features. Outputs go
        to the preallocated arrays. Returns (last_period, last_gain)."""
        last_period, last_gain = pitch_frames(
            xp, n + 0 * deps, last_period, last_gain, periods, gains
        )
        block_spectra(xp, periods, lowpass, xf, pf)
        features_frames(xf, pf, periods, training, feats, silence, ex, ep, exp_, energy)
        return last_period, last_gain

    return analyse_block


def _build_pitch_filter(deps: int):
    @njit(**_JIT)
    def pitch_filter_batch(xf, pf, ex, ep, exp_, g, out):
        """0.2's ``rnn_pitch_filter`` on n frames: ``out`` (n, 962) = the filtered ``xf``
        (inputs untouched). Per frame: r = ratio (v0.1's formula, 32 bands), interpolated;
        ``X + rf*P``; its 0.2 band energies; the energy-restoring norm, interpolated; times."""
        r = np.empty(NB_BANDS + 0 * deps, dtype=np.float32)
        rf = np.empty(_FREQ, dtype=np.float32)
        sums = np.empty(NB_TRIANGLE_SUMS, dtype=np.float32)
        newe = np.empty(NB_BANDS, dtype=np.float32)
        for t in range(xf.shape[0]):
            pitch_filter_ratio(ex[t], ep[t], exp_[t], g[t], r)
            interp_band_gain_1(r, EBAND_20MS, BIN_FRAC, BIN_FRAC_LO, rf)
            o = out[t]
            x = xf[t]
            p = pf[t]
            for k in range(_FREQ):
                o[2 * k] = x[2 * k] + rf[k] * p[2 * k]
                o[2 * k + 1] = x[2 * k + 1] + rf[k] * p[2 * k + 1]
            triangle_energy(o, EBAND_20MS, BIN_FRAC, BIN_FRAC_LO, sums)
            fold_ends(sums, newe)
            pitch_filter_norm(ex[t], newe, r)
            interp_band_gain_1(r, EBAND_20MS, BIN_FRAC, BIN_FRAC_LO, rf)
            for k in range(_FREQ):
                o[2 * k] = o[2 * k] * rf[k]
                o[2 * k + 1] = o[2 * k + 1] * rf[k]

    return pitch_filter_batch


def _build_postfilter(deps: int):
    @njit(**_JIT)
    def postfilter_frames(xf, pf, ex, ep, exp_, silence, g, dxf, dpf, dex, dep, dexp, lastg,
                          out):
        """Steps 4-6 of spec §2 over n frames, one frame at a time as C: ``out[t]`` (962,) is
        the stored (delayed) frame's spectrum, pitch-filtered with ``g[t]``, then scaled by the
        capped gains (:func:`cap_gains_frames`, :func:`apply_gains_frames`); silent frames pass
        the stored spectrum unchanged. The stored frame ``dxf, dpf`` (962,), ``dex, dep, dexp``
        (32,) then becomes frame t; it and ``lastg`` are updated in place. Same calls, in the
        same order, as the block functions of ``postfilter.py``: same bits."""
        bx = np.empty((1, 2 * _FREQ + 0 * deps), dtype=np.float32)
        bp = np.empty((1, 2 * _FREQ), dtype=np.float32)
        bex = np.empty((1, NB_BANDS), dtype=np.float32)
        bep = np.empty((1, NB_BANDS), dtype=np.float32)
        bexp = np.empty((1, NB_BANDS), dtype=np.float32)
        gg = np.empty((1, NB_BANDS), dtype=np.float32)
        cur = np.empty((1, NB_BANDS), dtype=np.float32)
        capped = np.empty((1, NB_BANDS), dtype=np.float32)
        one = np.zeros(1, dtype=np.bool_)
        for t in range(xf.shape[0]):
            if silence[t]:
                out[t, :] = dxf
            else:
                bx[0, :] = dxf
                bp[0, :] = dpf
                bex[0, :] = dex
                bep[0, :] = dep
                bexp[0, :] = dexp
                gg[0, :] = g[t]
                cur[0, :] = ex[t]
                pitch_filter_batch(bx, bp, bex, bep, bexp, gg, out[t : t + 1])
                cap_gains_frames(gg, bex, cur, one, lastg, capped)
                apply_gains_frames(out[t : t + 1], capped, one, EBAND_20MS, BIN_FRAC,
                                   BIN_FRAC_LO)
            dxf[:] = xf[t]
            dpf[:] = pf[t]
            dex[:] = ex[t]
            dep[:] = ep[t]
            dexp[:] = exp_[t]

    return postfilter_frames


_DEPS = _deps()
band_sums_batch = _build_band_sums(_DEPS)
dct_batch = _build_dct(_DEPS)
features_frames = _build_features(_DEPS)
analyse_block = _build_block(_DEPS)
pitch_filter_batch = _build_pitch_filter(_DEPS)
cap_gains_frames = _build_cap_gains(_DEPS)
postfilter_frames = _build_postfilter(_DEPS)
