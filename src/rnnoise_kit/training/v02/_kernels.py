"""Numba kernels of the 0.2 training generator (HEAD ``dump_features``, spec ``rnnoise-v0.2.md``
section 11), with C's float32/double rules: ``np.float32`` constants where C writes ``f``
literals or float variables, explicit ``np.float64`` where C promotes (a double literal or a
libm call), so that each kernel gives C's bits.

* :func:`viterbi_vad`, :func:`clear_vad`: the VAD target and the speech gating;
* :func:`filter_three`: the high-pass, the colouring filters and the weighted rms (loudness);
* :class:`KissPlan`, :func:`kiss_forward`, :func:`kiss_inverse`, :func:`rir_filter`: C's
  65536-point KISS FFT (all radix 4) and its overlap-save convolution, bit for bit;
* :func:`target_rows`: the 98-column rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from rnnoise_kit.dsp._block import deps_key
from rnnoise_kit.dsp._kissfft import radix4_first, radix4_stage
from rnnoise_kit.dsp.biquad import biquad_step
from rnnoise_kit.dsp.constants import FRAME_SIZE
from rnnoise_kit.dsp.v02.constants import NB_BANDS, NB_FEATURES
from rnnoise_kit.training.v02.layout import GAINS, VAD_COL

_JIT = {"cache": True, "error_model": "numpy", "nogil": True}
_F32 = np.float32

TARGET_ENERGY_EPS = 1e-3
"""The (double) offset of the target gain ``sqrt((Ey + eps) / (Ex + eps))``, as C's training."""
TARGET_MIN_ENERGY = 0.05
"""A band whose clean and noisy energies are both below this gets no target (-1)."""

VAD_STAY = _F32(0.99)
"""Viterbi VAD: probability of staying in a state from one frame to the next."""
VAD_SWITCH = _F32(0.01)
"""Viterbi VAD: probability of switching state."""
WEIGHTING_B = (_F32(-2.0), _F32(1.0))
"""Loudness weighting numerator (1 - 2 z^-1 + z^-2): a double zero at DC."""
WEIGHTING_A = (_F32(-1.89), _F32(0.895))
"""Loudness weighting denominator (1 - 1.89 z^-1 + 0.895 z^-2): a resonant high-pass."""
WEIGHTING_GAIN = 0.9506
"""Scale of the weighted rms (double, as C)."""


# ----------------------------------------------------------------------------- VAD


@njit(**_JIT)
def viterbi_vad(E, vad):
    """HEAD's ``viterbi_vad``: 0/1 speech activity (n,) int8 from raw speech frame energies
    E (n,) float32 (two-state Viterbi on a soft likelihood, then a one-frame dilation)."""
    n = E.shape[0]
    d = np.float64
    esig = _F32(1e-30)
    enoise = _F32(1e-30)
    for i in range(n):
        esig = esig + E[i] * E[i]
    esig = _F32(math.sqrt(d(esig / _F32(n))))
    for i in range(n):
        enoise = _F32(d(enoise) + 1.0 / (1e-8 * d(esig) * d(esig) + d(E[i] * E[i])))
    enoise = _F32(1.0 / math.sqrt(d(enoise / _F32(n))))
    log_noise = math.log(d(enoise))
    span = 0.01 + math.log(d(esig)) - log_noise
    back = np.empty((n, 2), np.int8)
    one = _F32(1)
    curr = _F32(0.5)
    for i in range(n):
        p0 = _F32((math.log(1e-15 + d(E[i])) - log_noise) / span)
        p0 = _F32(0.1) if _F32(0.1) > p0 else p0
        p0 = _F32(0.9) if _F32(0.9) < p0 else p0
        p0 = _F32(1.0 / (1.0 + math.pow(d((one - p0) / p0), 0.5)))
        a = curr * VAD_STAY
        b = (one - curr) * VAD_SWITCH
        if a > b:
            back[i, 1] = 1
            prior = a
        else:
            back[i, 1] = 0
            prior = b
        pspeech = prior * p0
        a = (one - curr) * VAD_STAY
        b = curr * VAD_SWITCH
        if a > b:
            back[i, 0] = 0
            prior = a
        else:
            back[i, 0] = 1
            prior = b
        pnoise = prior * (one - p0)
        curr = pspeech / (pspeech + pnoise)
    vad[n - 1] = 1 if curr > _F32(0.5) else 0
    for i in range(n - 2, -1, -1):
        vad[i] = back[i + 1, 1] if vad[i + 1] else back[i + 1, 0]
    for i in range(n - 1):  # in place and in this order, as C: a one-frame dilation each way
        if vad[i + 1]:
            vad[i] = 1
    for i in range(n - 1, 0, -1):
        if vad[i - 1]:
            vad[i] = 1


@njit(**_JIT)
def clear_vad(x, vad):
    """HEAD's ``clear_vad``: silence the speech ``x`` (480 n,) float32 outside the VAD, in place
    (a frame before an onset fades in, the second inactive frame after speech fades out)."""
    n = vad.shape[0]
    active = vad[0] != 0
    one = _F32(1)
    size = _F32(FRAME_SIZE)
    for i in range(n):
        base = i * FRAME_SIZE
        if not active:
            if i < n - 1 and vad[i + 1]:
                for j in range(FRAME_SIZE):
                    x[base + j] *= _F32(j) / size
                active = True
            else:
                for j in range(FRAME_SIZE):
                    x[base + j] = _F32(0)
        elif i >= 1 and vad[i] == 0 and vad[i - 1] == 0:
            for j in range(FRAME_SIZE):
                x[base + j] *= one - _F32(j) / size
            active = False


# ----------------------------------------------------------------------------- filters


def _build_filter_three(deps: int):
    # inlines the DSP's biquad step: a closure over the hash of the DSP kernels' sources
    @njit(**_JIT)
    def filter_three(s, coefs, active, out, rms):
        """Steps 8-9 for the three signals of a sequence side by side (independent recurrences
        the CPU overlaps): int16 ``s`` (3, n) to float32, then C's two in-place
        ``rnn_biquad`` passes (the fixed high-pass, then the signal's random filter, each from
        a zero state) into ``out`` (3, n), and ``weighted_rms`` (``0.9506 sqrt(mse/n)`` of the
        weighted signal, mse a float sum from 1e-15) into ``rms`` (3,). ``coefs`` (3, 8)
        float32: high-pass b, a, then the random b, a. A signal whose ``active`` is False is
        skipped (``out`` zeros, rms 1): default mode, for a noise whose gain is 0."""
        d = np.float64
        n = s.shape[1]
        c = np.empty((3, 8), np.float64)
        for k in range(3):
            for j in range(8):
                c[k, j] = d(coefs[k, j])
        w0, w1 = d(WEIGHTING_B[0]), d(WEIGHTING_B[1])
        v0, v1 = d(WEIGHTING_A[0]), d(WEIGHTING_A[1])
        st = np.zeros((3, 6), np.float32)  # per signal: high-pass, random, weighting states
        mse = np.full(3, _F32(1e-15), np.float32)
        # an all-zero random filter is the identity (y = x + 0, its state stays 0): skipped
        filt = np.empty(3, np.bool_)
        for k in range(3):
            filt[k] = coefs[k, 4:].any() or deps == 0
        for i in range(n):
            for k in range(3):
                if active[k]:
                    y, st[k, 0], st[k, 1] = biquad_step(_F32(s[k, i]), st[k, 0], st[k, 1],
                                                        c[k, 0], c[k, 1], c[k, 2], c[k, 3])
                    if filt[k]:
                        y, st[k, 2], st[k, 3] = biquad_step(y, st[k, 2], st[k, 3], c[k, 4],
                                                            c[k, 5], c[k, 6], c[k, 7])
                    out[k, i] = y
                    w, st[k, 4], st[k, 5] = biquad_step(y, st[k, 4], st[k, 5], w0, w1, v0, v1)
                    mse[k] += w * w
        for k in range(3):
            if active[k]:
                rms[k] = _F32(WEIGHTING_GAIN * math.sqrt(d(mse[k] / _F32(n))))
            else:
                rms[k] = _F32(1)
                out[k, :] = _F32(0)

    return filter_three


filter_three = _build_filter_three(deps_key())


# ----------------------------------------------------------------------------- KISS FFT


@dataclass(frozen=True)
class KissPlan:
    """A float KISS FFT of ``nfft`` = 4^k points as RNNoise allocates it at run time
    (``rnn_fft_alloc_twiddles``): twiddles ``(float)cos/sin((-2 pi/nfft) i)`` from doubles,
    the radix-4 factor list and the digit-reversal table."""

    nfft: int
    radix: np.ndarray  # (stages,) int64: p of each stage
    span: np.ndarray  # (stages,) int64: m of each stage
    tw_r: np.ndarray
    tw_i: np.ndarray
    bitrev: np.ndarray
    scale: np.float32

    @classmethod
    def make(cls, nfft: int) -> KissPlan:
        stages = 0
        n = nfft
        while n > 1 and n % 4 == 0:
            n //= 4
            stages += 1
        if n != 1:
            raise ValueError(f"only powers of 4 are supported, not {nfft}")
        radix = np.full(stages, 4, np.int64)
        span = np.array([nfft // 4 ** (s + 1) for s in range(stages)], np.int64)
        pi = 3.14159265358979323846264338327
        step = -2 * pi / nfft
        tw_r = np.array([math.cos(step * i) for i in range(nfft)], np.float32)
        tw_i = np.array([math.sin(step * i) for i in range(nfft)], np.float32)
        # compute_bitrev_table: input i goes to the base-4 digit reversal of i
        bitrev = np.zeros(nfft, np.int64)
        idx = np.arange(nfft, dtype=np.int64)
        for _ in range(stages):
            bitrev = bitrev * 4 + idx % 4
            idx //= 4
        return cls(nfft, radix, span, tw_r, tw_i, bitrev, _F32(1.0 / nfft))


def _build_fft(deps: int):
    # calls the radix-4 stages of rnnoise_kit.dsp._kissfft: a closure over the hash of the
    # DSP kernels' sources, so that numba's cache follows a change there (dsp._block)
    @njit(**_JIT)
    def fft_impl(ar, ai, radix, span, tw_r, tw_i):
        """``rnn_fft_impl`` on digit-reversed data, in place (radix-4 stages only)."""
        stages = radix.shape[0] + 0 * deps
        fstride = np.empty(stages + 1, np.int64)
        fstride[0] = 1
        for s in range(stages):
            fstride[s + 1] = fstride[s] * radix[s]
        for s in range(stages - 1, -1, -1):
            m = span[s]
            if m == 1:
                radix4_first(ar, ai, fstride[s])
            else:
                radix4_stage(ar, ai, m, fstride[s], span[s - 1] if s else 1, fstride[s],
                             tw_r, tw_i)

    @njit(**_JIT)
    def kiss_forward(xr, xi, radix, span, tw_r, tw_i, bitrev, scale, ar, ai):
        """``rnn_fft_c``: the forward transform of (xr, xi), scaled by ``scale`` = 1/nfft,
        into (ar, ai)."""
        for i in range(xr.shape[0]):
            k = bitrev[i]
            ar[k] = scale * xr[i]
            ai[k] = scale * xi[i]
        fft_impl(ar, ai, radix, span, tw_r, tw_i)

    @njit(**_JIT)
    def kiss_inverse(xr, xi, radix, span, tw_r, tw_i, bitrev, ar, ai):
        """``rnn_ifft_c``: the unscaled inverse transform of (xr, xi) into (ar, ai)."""
        for i in range(xr.shape[0]):
            k = bitrev[i]
            ar[k] = xr[i]
            ai[k] = -xi[i]
        fft_impl(ar, ai, radix, span, tw_r, tw_i)
        for i in range(ar.shape[0]):
            ai[i] = -ai[i]

    @njit(**_JIT)
    def rir_filter(audio, yr, yi, radix, span, tw_r, tw_i, bitrev, scale):
        """``rir_filter_sequence``: ``audio`` (n,) float32 convolved in place with the
        response whose (forward, 1/N-scaled) spectrum is (yr, yi): overlap-save in blocks of
        N/2, history zero at the start, the product times N/2, so the result is 0.5 x the
        convolution."""
        nfft = yr.shape[0]
        half = nfft // 2
        xr = np.zeros(nfft, np.float32)
        xi = np.zeros(nfft, np.float32)
        fr = np.empty(nfft, np.float32)
        fi = np.empty(nfft, np.float32)
        out_r = np.empty(nfft, np.float32)
        out_i = np.empty(nfft, np.float32)
        big = _F32(nfft)
        two = _F32(2)
        total = audio.shape[0]
        i = 0
        while i < total:
            for j in range(half):
                xr[j] = xr[half + j]
            cnt = min(total - i, half)
            for j in range(cnt):
                xr[half + j] = audio[i + j]
            for j in range(cnt, half):
                xr[half + j] = _F32(0)
            kiss_forward(xr, xi, radix, span, tw_r, tw_i, bitrev, scale, fr, fi)
            for j in range(nfft):
                tr = fr[j] * yr[j] - fi[j] * yi[j]
                ti = fr[j] * yi[j] + fi[j] * yr[j]
                fr[j] = tr * big / two
                fi[j] = ti * big / two
            kiss_inverse(fr, fi, radix, span, tw_r, tw_i, bitrev, out_r, out_i)
            for j in range(cnt):
                audio[i + j] = out_r[half + j]
            i += half

    return kiss_forward, kiss_inverse, rir_filter


kiss_forward, kiss_inverse, rir_filter = _build_fft(deps_key())


# ----------------------------------------------------------------------------- rows


@njit(**_JIT)
def target_rows(features, ey, ex, silence, vad, band_lp, no_noise, rows):
    """The rows (n, 98): features, target gains ``min(1, sqrt((Ey+1e-3)/(Ex+1e-3)))`` with
    -1 for a silent frame, a band above ``band_lp``, Ey and Ex both below 0.05, or an inactive
    frame when both noises are off; the 0/1 VAD target."""
    d = np.float64
    for t in range(rows.shape[0]):
        r = rows[t]
        for i in range(NB_FEATURES):
            r[i] = features[t, i]
        ignore = silence[t] or (no_noise and vad[t] == 0)
        for b in range(NB_BANDS):
            fy = d(ey[t, b])
            fx = d(ex[t, b])
            g = _F32(math.sqrt((fy + TARGET_ENERGY_EPS) / (fx + TARGET_ENERGY_EPS)))
            if g > _F32(1):
                g = _F32(1)
            if ignore or b > band_lp or (fy < TARGET_MIN_ENERGY and fx < TARGET_MIN_ENERGY):
                g = _F32(-1)
            r[GAINS.start + b] = g
        r[VAD_COL] = _F32(vad[t])
