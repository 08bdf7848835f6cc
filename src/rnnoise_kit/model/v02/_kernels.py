"""numba kernels of the 0.2 network, float32-exact to the plain scalar C build (``vec.h``).

What "exact" rests on (spec rnnoise-v0.2 sections 5-6; upstream ``nnet.c``, ``nnet_arch.h``,
``vec.h``):

* Every linear layer computes, per output, one float32 accumulator that starts at +0 and adds
  ``w[j] * x[j]`` for its inputs in ascending order (``sgemv``, ``sparse_sgemv8x4`` with
  ascending block offsets), then adds the bias, then (GRU recurrent layers) ``diag * x``.
  The kernels here keep exactly that order per output and vectorise across outputs and frames
  only; numba never contracts ``a*b + c`` into an FMA while ``fastmath`` is off.
* Integer layers (``cgemv8x4``/``sparse_cgemv8x4`` of the scalar build): the input is quantised
  as ``(int8)floor(.5 + (double)(127.f * x))``; the products and every partial sum are integers
  below 2**24 (checked when the layer is built), so they are exact in float32 whatever the order
  and the same float kernel gives C's sum; then ``sum * scale`` and ``+ bias`` in float32.
* ``tanh``/``sigmoid`` are ``vec.h``'s rational approximation, operation by operation.
"""

from __future__ import annotations

import numba
import numpy as np

_F0 = np.float32(0.0)
_F1 = np.float32(1.0)
_FM1 = np.float32(-1.0)
_F05 = np.float32(0.5)
_F127 = np.float32(127.0)
_N0 = np.float32(952.52801514)
_N1 = np.float32(96.39235687)
_N2 = np.float32(0.60863042)
_D0 = np.float32(952.72399902)
_D1 = np.float32(413.36801147)
_D2 = np.float32(11.88600922)

@numba.njit(cache=True, inline="always")
def tanh_approx(x):
    """``tanh_approx`` of the scalar ``vec.h`` on a float32 value (clamped to [-1, 1])."""
    x2 = x * x
    num = (_N2 * x2 + _N1) * x2 + _N0
    den = (_D2 * x2 + _D1) * x2 + _D0
    y = num * x / den
    y = _F1 if _F1 < y else y
    return _FM1 if _FM1 > y else y


@numba.njit(cache=True, inline="always")
def sigmoid_approx(x):
    """``sigmoid_approx`` of the scalar ``vec.h``: ``.5 + .5*tanh_approx(.5*x)`` in float32."""
    return _F05 + _F05 * tanh_approx(_F05 * x)


@numba.njit(cache=True)
def quantize_into(x, out):
    """``out = (int8)floor(.5 + 127*x)`` as float32 (the product in float32, the rest in double).

    Inputs of integer layers are tanh/GRU outputs in [-1, 1]; outside that range the value wraps
    modulo 256 as gcc's store into ``opus_int8`` does.
    """
    for i in range(x.size):
        q = np.int64(np.floor(0.5 + np.float64(_F127 * x[i])))
        out[i] = np.float32(((q + 128) & 255) - 128)


@numba.njit(cache=True)
def linear_vec(x, w, out):
    """One input vector: ``out[i] = sum_j w[j, i] * x[j]`` (same order as :func:`linear_rows`).

    Kept apart from :func:`linear_rows`' four-row body on purpose: running one frame through
    that body (three phantom rows) does four times the arithmetic for the same weight reads and
    measured 1.5-2x slower, and one frame at a time is what 10 ms streaming and the GRUs'
    recurrent products run.
    """
    n_in = w.shape[0]
    n_out = w.shape[1]
    for i in range(n_out):
        out[i] = _F0
    j = 0
    while j + 4 <= n_in:
        x0 = x[j]
        x1 = x[j + 1]
        x2 = x[j + 2]
        x3 = x[j + 3]
        w0 = w[j]
        w1 = w[j + 1]
        w2 = w[j + 2]
        w3 = w[j + 3]
        for i in range(n_out):
            out[i] = (((out[i] + w0[i] * x0) + w1[i] * x1) + w2[i] * x2) + w3[i] * x3
        j += 4
    while j < n_in:
        xj = x[j]
        w0 = w[j]
        for i in range(n_out):
            out[i] += w0[i] * xj
        j += 1


@numba.njit(cache=True)
def linear_rows(x, x_start, x_stride, n_rows, w, out):
    """``out[t, i] = sum_j w[j, i] * x[x_start + t*x_stride + j]`` for t < n_rows.

    Each sum is one float32 accumulator, from +0, over j ascending (C's ``sgemv`` order).
    Four frames share each pass over the weights: every weight row is loaded once for four
    accumulator rows, which halves the memory traffic of one frame at a time.

    Parameters
    ----------
    x : float32[:]
        Flat input; row t is ``x[x_start + t*x_stride : ... + n_in]`` (rows may overlap: the
        convolutions read a sliding window this way).
    w : float32[:, :]
        (n_in, n_out), weights in summation order.
    out : float32[:, :]
        (>= n_rows, n_out), overwritten.
    """
    n_in = w.shape[0]
    n_out = w.shape[1]
    t = 0
    while t + 4 <= n_rows:
        o0 = out[t]
        o1 = out[t + 1]
        o2 = out[t + 2]
        o3 = out[t + 3]
        b0 = x_start + t * x_stride
        b1 = b0 + x_stride
        b2 = b1 + x_stride
        b3 = b2 + x_stride
        for i in range(n_out):
            o0[i] = _F0
            o1[i] = _F0
            o2[i] = _F0
            o3[i] = _F0
        j = 0
        while j + 4 <= n_in:
            w0 = w[j]
            w1 = w[j + 1]
            w2 = w[j + 2]
            w3 = w[j + 3]
            a0, a1, a2, a3 = x[b0 + j], x[b0 + j + 1], x[b0 + j + 2], x[b0 + j + 3]
            c0, c1, c2, c3 = x[b1 + j], x[b1 + j + 1], x[b1 + j + 2], x[b1 + j + 3]
            d0, d1, d2, d3 = x[b2 + j], x[b2 + j + 1], x[b2 + j + 2], x[b2 + j + 3]
            e0, e1, e2, e3 = x[b3 + j], x[b3 + j + 1], x[b3 + j + 2], x[b3 + j + 3]
            for i in range(n_out):
                v0 = w0[i]
                v1 = w1[i]
                v2 = w2[i]
                v3 = w3[i]
                o0[i] = (((o0[i] + v0 * a0) + v1 * a1) + v2 * a2) + v3 * a3
                o1[i] = (((o1[i] + v0 * c0) + v1 * c1) + v2 * c2) + v3 * c3
                o2[i] = (((o2[i] + v0 * d0) + v1 * d1) + v2 * d2) + v3 * d3
                o3[i] = (((o3[i] + v0 * e0) + v1 * e1) + v2 * e2) + v3 * e3
            j += 4
        while j < n_in:
            w0 = w[j]
            a0, c0, d0, e0 = x[b0 + j], x[b1 + j], x[b2 + j], x[b3 + j]
            for i in range(n_out):
                v0 = w0[i]
                o0[i] += v0 * a0
                o1[i] += v0 * c0
                o2[i] += v0 * d0
                o3[i] += v0 * e0
            j += 1
        t += 4
    while t < n_rows:
        linear_vec(x[x_start + t * x_stride :], w, out[t])
        t += 1


@numba.njit(cache=True)
def finish_rows(y, n_rows, scale, bias, act):
    """``y = act(y*scale + bias)`` in place on rows < n_rows (no scale when ``scale`` is empty).

    ``act``: 0 none, 1 tanh, 2 sigmoid.
    """
    n = y.shape[1]
    scaled = scale.size > 0
    for t in range(n_rows):
        row = y[t]
        if scaled:
            for i in range(n):
                row[i] = row[i] * scale[i]
        for i in range(n):
            row[i] = row[i] + bias[i]
        if act == 1:
            for i in range(n):
                row[i] = tanh_approx(row[i])
        elif act == 2:
            for i in range(n):
                row[i] = sigmoid_approx(row[i])


@numba.njit(cache=True)
def gru_sequence(proj, n_rows, w_rec, scale, bias, diag, state, out, out_col, quantized, rec, xq):
    """Run a GRU over ``n_rows`` frames whose input projections are already computed.

    Parameters
    ----------
    proj : float32[:, :]
        (>= n_rows, 3N): ``W x + b`` per frame (gate order z, r, h), as ``compute_linear`` gives.
    w_rec, scale, bias, diag : float32 arrays
        Recurrent layer: (N, 3N) weights, (3N,) scale (empty on the float path), (3N,) bias,
        (3N,) diagonal (empty when absent).
    state : float32[:]
        (N,) GRU state, updated in place (ends as the last frame's output).
    out : float32[:, :]
        Frame t's new state is written to ``out[t, out_col:out_col + N]``.
    quantized : bool
        Integer recurrent weights: the state is quantised before the product.
    rec, xq : float32[:]
        Scratch of 3N and N floats.
    """
    n = state.size
    n2 = 2 * n
    has_diag = diag.size > 0
    for t in range(n_rows):
        if quantized:
            quantize_into(state, xq)
            linear_vec(xq, w_rec, rec)
            for i in range(3 * n):
                rec[i] = rec[i] * scale[i]
        else:
            linear_vec(state, w_rec, rec)
        for i in range(3 * n):
            rec[i] = rec[i] + bias[i]
        if has_diag:
            for i in range(n):
                s = state[i]
                rec[i] = rec[i] + diag[i] * s
                rec[i + n] = rec[i + n] + diag[i + n] * s
                rec[i + n2] = rec[i + n2] + diag[i + n2] * s
        p = proj[t]
        o = out[t, out_col : out_col + n]
        for i in range(n):
            z = sigmoid_approx(p[i] + rec[i])
            r = sigmoid_approx(p[n + i] + rec[n + i])
            h = tanh_approx(p[n2 + i] + rec[n2 + i] * r)
            s = z * state[i] + (_F1 - z) * h
            o[i] = s
        for i in range(n):
            state[i] = o[i]


# Layer slots in the weight tuples of :func:`network_block`.
CONV1, CONV2, GRU_IN, GRU_REC, DENSE_OUT, VAD_DENSE = 0, 1, 2, 5, 8, 9
NB_SLOTS = 10
_ACT_NONE, _ACT_TANH, _ACT_SIGMOID = 0, 1, 2


@numba.njit(cache=True)
def _layer(w, bias, scale, x, start, stride, n, out, qbuf, act):
    """``out[:n] = act(layer(row t))`` with row t = ``x[start + t*stride :][:n_in]``."""
    if scale.size > 0:
        span = (n - 1) * stride + w.shape[0]
        quantize_into(x[start : start + span], qbuf)
        linear_rows(qbuf, 0, stride, n, w, out)
    else:
        linear_rows(x, start, stride, n, w, out)
    finish_rows(out, n, scale, bias, act)


@numba.njit(cache=True)
def network_block(x, n, conv1_mem, conv2_mem, gru_state, weights, biases, scales, diags,
                  skip_heads, win1, win2, qbuf, cat, proj, rec, sq, gains, vad):
    """``compute_rnn`` over ``n`` consecutive (non-silent) frames, layer by layer.

    Parameters
    ----------
    x : float32[:, :]
        (>= n, F) network inputs.
    conv1_mem, conv2_mem : float32[:, :]
        (2, F) and (2, C): previous inputs of the convolutions, oldest first; updated.
    gru_state : float32[:, :]
        (3, G), updated.
    weights, biases, scales, diags : tuples of NB_SLOTS float32 arrays
        Per layer slot: (n_in, n_out) weights, bias, scale (empty: float layer), diag (empty: none).
    skip_heads : bool
        Heads read [conv2, GRU1, GRU2, GRU3] (else GRU3 only).
    win1, win2, qbuf, cat, proj, rec, sq : float32 work arrays
        (>= n+2, F), (>= n+2, C), flat (>= (n+2) * max(C, 4G)), (>= n, 4G), (>= n, 3G), (3G,), (G,).
    gains, vad : float32[:, :]
        (>= n, B) and (>= n, 1) outputs.
    """
    taps = conv1_mem.shape[0]
    nf = win1.shape[1]
    nc = win2.shape[1]
    g = gru_state.shape[1]
    for t in range(taps):
        win1[t] = conv1_mem[t]
        win2[t] = conv2_mem[t]
    for t in range(n):
        win1[taps + t] = x[t]
    _layer(weights[CONV1], biases[CONV1], scales[CONV1], win1.reshape(-1), 0, nf, n,
           win2[taps:], qbuf, _ACT_TANH)
    for t in range(taps):
        conv1_mem[t] = win1[n + t]
        conv2_mem[t] = win2[n + t]
    flat = cat.reshape(-1)
    width = cat.shape[1]
    _layer(weights[CONV2], biases[CONV2], scales[CONV2], win2.reshape(-1), 0, nc, n, cat,
           qbuf, _ACT_TANH)
    for i in range(3):
        # GRU1 reads conv2's output cat[:, 0:G]; GRU i+1 reads GRU i's, cat[:, iG:(i+1)G]
        s = GRU_IN + i
        _layer(weights[s], biases[s], scales[s], flat, i * g, width, n, proj, qbuf, _ACT_NONE)
        s = GRU_REC + i
        gru_sequence(proj, n, weights[s], scales[s], biases[s], diags[s], gru_state[i], cat,
                     (i + 1) * g, scales[s].size > 0, rec, sq)
    start = 0 if skip_heads else 3 * g
    _layer(weights[DENSE_OUT], biases[DENSE_OUT], scales[DENSE_OUT], flat, start, width, n,
           gains, qbuf, _ACT_SIGMOID)
    _layer(weights[VAD_DENSE], biases[VAD_DENSE], scales[VAD_DENSE], flat, start, width, n,
           vad, qbuf, _ACT_SIGMOID)
