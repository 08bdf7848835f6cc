"""Numba kernels for the Keras ``reset_after=False`` GRU recurrence (forward and backward).

The kernels work on the *projected* inputs ``xp = x @ W + b`` of a whole batch of sequences and
run the time loop for a contiguous block of batch rows ``[b0, b1)``. They release the GIL, so the
caller can run several row blocks on several threads at once (see :mod:`.gru`). Each block keeps
its rows' state in small scratch matrices; per time step the recurrent products are
``(rows x N) @ (N x 2N)`` and ``(rows x N) @ (N x N)`` written as row-axpy loops that LLVM
vectorises (every row of ``U`` is loaded once per step and reused by all rows of the block).

Gate layout everywhere: column blocks ``[z | r | h]`` of width ``N`` (Keras and librnnoise order).

Activation codes are those of :class:`rnnoise_kit.model.core.Activation` (the ``rnn.h`` codes).

Everything here is NumPy + Numba only (no torch), float32 or float64 arrays, C-contiguous.
With ``fast=True`` (used for float32) tanh and sigmoid are a vectorisable rational approximation
(|error| < 3e-7) instead of scalar libm calls, which would otherwise dominate the forward pass.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from rnnoise_kit.model.core import Activation

_ONE = np.float32(1.0)  # exact in both dtypes: keeps float32 arithmetic float32
_ZERO = np.float32(0.0)


@njit(cache=True, fastmath=True, nogil=True, error_model="numpy")
def _tanh_fast(x):
    """Rational tanh approximation (Eigen's float32 kernel), vectorisable; |error| ~ 1e-7."""
    x = min(max(x, np.float32(-7.90531110763549805)), np.float32(7.90531110763549805))
    x2 = x * x
    p = x2 * np.float32(-2.76076847742355e-16) + np.float32(2.00018790482477e-13)
    p = x2 * p + np.float32(-8.60467152213735e-11)
    p = x2 * p + np.float32(5.12229709037114e-08)
    p = x2 * p + np.float32(1.48572235717979e-05)
    p = x2 * p + np.float32(6.37261928875436e-04)
    p = x2 * p + np.float32(4.89352455891786e-03)
    p = x * p
    q = x2 * np.float32(1.19825839466702e-06) + np.float32(1.18534705686654e-04)
    q = x2 * q + np.float32(2.26843463243900e-03)
    q = x2 * q + np.float32(4.89352518554385e-03)
    return p / q


@njit(cache=True, fastmath=True, nogil=True, error_model="numpy")
def _sigmoid_fast(x):
    """``0.5 + 0.5 * tanh(x / 2)`` with :func:`_tanh_fast`."""
    h = np.float32(0.5)
    return h + h * _tanh_fast(h * x)


@njit(cache=True, fastmath=True, nogil=True, error_model="numpy")
def _sigmoid(x):
    """Exact logistic function."""
    return _ONE / (_ONE + np.exp(-x))


@njit(cache=True, fastmath=True, nogil=True, error_model="numpy")
def _gemm_acc(out, x, w):
    """``out += x @ w`` for small C-contiguous matrices (rows of ``out``/``x`` = batch rows).

    The reduction axis is unrolled 8 times, so each ``out`` row is loaded and stored once per
    8 multiply-adds, and each ``w`` row is reused from L1 by all rows of the block. Indices are
    plain loop counters (no offsets) so Numba emits no wrap-around selects and LLVM vectorises
    the inner loop.
    """
    nb = out.shape[0]
    kk = x.shape[1]
    jj = out.shape[1]
    k8 = kk - kk % 8
    for k in range(0, k8, 8):
        for b in range(nb):
            a0 = x[b, k]
            a1 = x[b, k + 1]
            a2 = x[b, k + 2]
            a3 = x[b, k + 3]
            a4 = x[b, k + 4]
            a5 = x[b, k + 5]
            a6 = x[b, k + 6]
            a7 = x[b, k + 7]
            for j in range(jj):
                out[b, j] += (
                    a0 * w[k, j] + a1 * w[k + 1, j] + a2 * w[k + 2, j] + a3 * w[k + 3, j]
                ) + (a4 * w[k + 4, j] + a5 * w[k + 5, j] + a6 * w[k + 6, j] + a7 * w[k + 7, j])
    for k in range(k8, kk):
        for b in range(nb):
            a0 = x[b, k]
            for j in range(jj):
                out[b, j] += a0 * w[k, j]


@njit(cache=True, fastmath=True, nogil=True, error_model="numpy")
def gru_forward_block(xp, u_zr, u_h, h0, act, fast, b0, b1, h_out, hprev_out, gates_out, rh_out):
    """Run the GRU recurrence over all time steps for batch rows ``b0:b1``.

    Parameters
    ----------
    xp : ndarray, shape (B, T, 3N)
        Input projections ``x @ W + b`` (gate blocks ``[z | r | h]``).
    u_zr : ndarray, shape (N, 2N)
        ``U[:, :2N]`` (C-contiguous copy).
    u_h : ndarray, shape (N, N)
        ``U[:, 2N:]`` (C-contiguous copy).
    h0 : ndarray, shape (B, N)
        Initial states.
    act : int
        Candidate activation code (:class:`~rnnoise_kit.model.core.Activation`).
    fast : bool
        Use the vectorisable rational tanh/sigmoid approximations (|error| ~ 1e-7, meant for
        float32) instead of ``exp``/``tanh`` from libm.
    b0, b1 : int
        Row block.
    h_out, hprev_out : ndarray, shape (B, T, N)
        Written: new states ``h_t`` and previous states ``h_{t-1}``.
    gates_out : ndarray, shape (B, T, 3N)
        Written: ``[z | r | c]`` after their activations.
    rh_out : ndarray, shape (B, T, N)
        Written: ``r * h_{t-1}``.
    """
    nb = b1 - b0
    seq = xp.shape[1]
    n = u_h.shape[0]
    n2 = 2 * n
    h = np.empty((nb, n), dtype=xp.dtype)
    azr = np.empty((nb, n2), dtype=xp.dtype)
    ah = np.empty((nb, n), dtype=xp.dtype)
    rh = np.empty((nb, n), dtype=xp.dtype)
    for b in range(nb):
        for j in range(n):
            h[b, j] = h0[b0 + b, j]
    for t in range(seq):
        for b in range(nb):
            xr = xp[b0 + b, t]
            hpr = hprev_out[b0 + b, t]
            for j in range(n2):
                azr[b, j] = xr[j]
            for j in range(n):
                ah[b, j] = xr[n2 + j]
                hpr[j] = h[b, j]
        _gemm_acc(azr, h, u_zr)
        if fast:
            for b in range(nb):
                for j in range(n2):
                    azr[b, j] = _sigmoid_fast(azr[b, j])
        else:
            for b in range(nb):
                for j in range(n2):
                    azr[b, j] = _sigmoid(azr[b, j])
        for b in range(nb):
            for j in range(n):
                rh[b, j] = azr[b, n + j] * h[b, j]
        _gemm_acc(ah, rh, u_h)
        if act == Activation.RELU:
            for b in range(nb):
                for j in range(n):
                    ah[b, j] = max(ah[b, j], _ZERO)
        elif act == Activation.SIGMOID:
            if fast:
                for b in range(nb):
                    for j in range(n):
                        ah[b, j] = _sigmoid_fast(ah[b, j])
            else:
                for b in range(nb):
                    for j in range(n):
                        ah[b, j] = _sigmoid(ah[b, j])
        elif fast:
            for b in range(nb):
                for j in range(n):
                    ah[b, j] = _tanh_fast(ah[b, j])
        else:
            for b in range(nb):
                for j in range(n):
                    ah[b, j] = np.tanh(ah[b, j])
        for b in range(nb):
            gr = gates_out[b0 + b, t]
            rr = rh_out[b0 + b, t]
            hr = h_out[b0 + b, t]
            for j in range(n2):
                gr[j] = azr[b, j]
            for j in range(n):
                z = azr[b, j]
                c = ah[b, j]
                gr[n2 + j] = c
                rr[j] = rh[b, j]
                hn = z * h[b, j] + (_ONE - z) * c
                h[b, j] = hn
                hr[j] = hn


@njit(cache=True, fastmath=True, nogil=True, error_model="numpy")
def gru_backward_block(dh_out, hprev, gates, ut_zr, ut_h, act, b0, b1, dgates, dh0):
    """Backward pass of :func:`gru_forward_block` for batch rows ``b0:b1``.

    Parameters
    ----------
    dh_out : ndarray, shape (B, T, N)
        Gradient of the loss with respect to the output states ``h_t``.
    hprev : ndarray, shape (B, T, N)
        Previous states saved by the forward pass.
    gates : ndarray, shape (B, T, 3N)
        ``[z | r | c]`` saved by the forward pass.
    ut_zr : ndarray, shape (2N, N)
        ``U[:, :2N].T`` (C-contiguous).
    ut_h : ndarray, shape (N, N)
        ``U[:, 2N:].T`` (C-contiguous).
    act : int
        Candidate activation code.
    b0, b1 : int
        Row block.
    dgates : ndarray, shape (B, T, 3N)
        Written: gradient with respect to the gate pre-activations, which is also the gradient
        with respect to the input projections ``xp``.
    dh0 : ndarray, shape (B, N)
        Written: gradient with respect to the initial state.
    """
    nb = b1 - b0
    seq = gates.shape[1]
    n = ut_h.shape[0]
    n2 = 2 * n
    dh = np.zeros((nb, n), dtype=gates.dtype)
    dhn = np.empty((nb, n), dtype=gates.dtype)
    drh = np.empty((nb, n), dtype=gates.dtype)
    dzr = np.empty((nb, n2), dtype=gates.dtype)
    dah = np.empty((nb, n), dtype=gates.dtype)
    for t in range(seq - 1, -1, -1):
        for b in range(nb):
            gr = gates[b0 + b, t]
            hpr = hprev[b0 + b, t]
            dor = dh_out[b0 + b, t]
            for j in range(n):
                d = dh[b, j] + dor[j]
                z = gr[j]
                c = gr[n2 + j]
                dc = d * (_ONE - z)
                if act == Activation.RELU:
                    da = dc if c > _ZERO else _ZERO
                elif act == Activation.SIGMOID:
                    da = dc * c * (_ONE - c)
                else:
                    da = dc * (_ONE - c * c)
                dah[b, j] = da
                dzr[b, j] = d * (hpr[j] - c) * z * (_ONE - z)
                dhn[b, j] = d * z
                drh[b, j] = _ZERO
        _gemm_acc(drh, dah, ut_h)  # d(r*h) = da_h @ U_h^T
        for b in range(nb):
            gr = gates[b0 + b, t]
            hpr = hprev[b0 + b, t]
            for k in range(n):
                r = gr[n + k]
                dzr[b, n + k] = drh[b, k] * hpr[k] * r * (_ONE - r)
                dhn[b, k] += drh[b, k] * r
        _gemm_acc(dhn, dzr, ut_zr)  # dh_prev += [da_z | da_r] @ [U_z | U_r]^T
        for b in range(nb):
            dgr = dgates[b0 + b, t]
            for j in range(n2):
                dgr[j] = dzr[b, j]
            for j in range(n):
                dgr[n2 + j] = dah[b, j]
                dh[b, j] = dhn[b, j]
    for b in range(nb):
        for j in range(n):
            dh0[b0 + b, j] = dh[b, j]
