"""Triton kernels of the GRU recurrence: one persistent program per batch row.

Each program loads the recurrent kernel once (three ``BN x BN`` blocks ``Uz, Ur, Uh``,
zero-padded to ``BN``, a power of two, held in registers) and walks the whole sequence in a
single launch, so a training step costs one launch per layer and direction instead of a dozen
small kernels per time step. The inputs of step ``t + 1`` are loaded while step ``t`` computes
(they do not depend on the state), hiding the memory latency behind the dependent chain.

The forward pass stores what the backward pass of :mod:`rnnoise_kit.training.gru` needs:
``hprev`` (state before the step), ``gates`` (``[z | r | c]``) and ``rh`` (``r * hprev``).
Padded lanes load zeros and are never stored; their ``U`` rows are zero, so they never reach a
real unit.

The same functions run on CPU tensors through Triton's interpreter (the tests use that path on
machines without a GPU).
"""

from __future__ import annotations

import triton
import triton.language as tl

from rnnoise_kit.model.core import Activation

# Triton kernels read only constexpr globals
_RELU = tl.constexpr(int(Activation.RELU))
_SIGMOID = tl.constexpr(int(Activation.SIGMOID))


@triton.jit
def _activation(a, ACT: tl.constexpr):
    if ACT == _RELU:
        return tl.maximum(a, 0.0)
    elif ACT == _SIGMOID:
        return tl.sigmoid(a)
    else:
        # tanh from exp(-2|a|): no overflow for large |a|, sign restored afterwards
        e = tl.exp(-2.0 * tl.abs(a))
        t = (1.0 - e) / (1.0 + e)
        return tl.where(a < 0, -t, t)


@triton.jit
def _activation_grad(c, ACT: tl.constexpr):
    """Derivative of the activation, written through its output ``c``."""
    if ACT == _RELU:
        return tl.where(c > 0, 1.0, 0.0)
    elif ACT == _SIGMOID:
        return c * (1.0 - c)
    else:
        return 1.0 - c * c


@triton.jit
def _load_gate_blocks(
    ptr, N: tl.constexpr, BN: tl.constexpr, ROW: tl.constexpr, GATE: tl.constexpr
):
    """Three (BN, BN) blocks: element ``[a, b]`` of block ``g`` is ``ptr[g*GATE + a*ROW + b]``.

    The forward pass reads ``U`` (N, 3N) as ``[k, j]`` blocks (ROW = 3N, GATE = N), the backward
    pass reads ``U.T`` (3N, N) as ``[j, k]`` blocks (ROW = N, GATE = N*N). Both then reduce over
    axis 0, the strided one, which Triton lays out mostly inside each thread: the same fast
    layout for both passes.
    """
    a = tl.arange(0, BN)[:, None]
    b = tl.arange(0, BN)[None, :]
    mask = (a < N) & (b < N)
    base = ptr + a * ROW + b
    g0 = tl.load(base, mask=mask, other=0.0)
    g1 = tl.load(base + GATE, mask=mask, other=0.0)
    g2 = tl.load(base + 2 * GATE, mask=mask, other=0.0)
    return g0, g1, g2


@triton.jit
def gru_forward_kernel(
    xp_ptr,
    u_ptr,
    h0_ptr,
    h_ptr,
    hprev_ptr,
    gates_ptr,
    rh_ptr,
    T,
    N: tl.constexpr,
    BN: tl.constexpr,
    ACT: tl.constexpr,
):
    """Forward recurrence of batch row ``program_id(0)``; xp, gates (B, T, 3N), h0 (B, N)."""
    row = tl.program_id(0).to(tl.int64)
    j = tl.arange(0, BN)
    mj = j < N
    uz, ur, uh = _load_gate_blocks(u_ptr, N, BN, 3 * N, N)
    h = tl.load(h0_ptr + row * N + j, mask=mj, other=0.0)

    x3 = xp_ptr + row * T * (3 * N) + j
    az = tl.load(x3, mask=mj, other=0.0)
    ar = tl.load(x3 + N, mask=mj, other=0.0)
    ah = tl.load(x3 + 2 * N, mask=mj, other=0.0)
    for t in range(T):
        off = (row * T + t) * N + j
        off3 = (row * T + t) * (3 * N) + j
        nxt = mj & (j * 0 + t + 1 < T)  # a block-shaped mask (the interpreter needs one)
        az_next = tl.load(xp_ptr + off3 + 3 * N, mask=nxt, other=0.0)
        ar_next = tl.load(xp_ptr + off3 + 4 * N, mask=nxt, other=0.0)
        ah_next = tl.load(xp_ptr + off3 + 5 * N, mask=nxt, other=0.0)

        z = tl.sigmoid(az + tl.sum(uz * h[:, None], axis=0))
        r = tl.sigmoid(ar + tl.sum(ur * h[:, None], axis=0))
        rh = r * h
        c = _activation(ah + tl.sum(uh * rh[:, None], axis=0), ACT)
        h_new = z * h + (1.0 - z) * c

        tl.store(hprev_ptr + off, h, mask=mj)
        tl.store(rh_ptr + off, rh, mask=mj)
        tl.store(gates_ptr + off3, z, mask=mj)
        tl.store(gates_ptr + off3 + N, r, mask=mj)
        tl.store(gates_ptr + off3 + 2 * N, c, mask=mj)
        tl.store(h_ptr + off, h_new, mask=mj)
        h = h_new
        az, ar, ah = az_next, ar_next, ah_next


@triton.jit
def gru_backward_kernel(
    dh_ptr,
    hprev_ptr,
    gates_ptr,
    ut_ptr,
    dgates_ptr,
    dh0_ptr,
    T,
    N: tl.constexpr,
    BN: tl.constexpr,
    ACT: tl.constexpr,
):
    """Backward recurrence of batch row ``program_id(0)``.

    ``ut`` is ``U.T`` (3N, N), contiguous. ``dh`` (B, T, N) is the gradient of the loss with
    respect to the outputs; writes the
    gradients of the gate pre-activations ``dgates`` (B, T, 3N) and of the initial state
    ``dh0`` (B, N).
    """
    row = tl.program_id(0).to(tl.int64)
    j = tl.arange(0, BN)
    mj = j < N
    uzt, urt, uht = _load_gate_blocks(ut_ptr, N, BN, N, N * N)
    dh = tl.zeros([BN], dtype=dh0_ptr.dtype.element_ty)

    last = row * T + T - 1
    g_out = tl.load(dh_ptr + last * N + j, mask=mj, other=0.0)
    hp = tl.load(hprev_ptr + last * N + j, mask=mj, other=0.0)
    z = tl.load(gates_ptr + last * (3 * N) + j, mask=mj, other=0.0)
    r = tl.load(gates_ptr + last * (3 * N) + N + j, mask=mj, other=0.0)
    c = tl.load(gates_ptr + last * (3 * N) + 2 * N + j, mask=mj, other=0.0)
    for i in range(T):
        step = last - i
        off = step * N + j
        off3 = step * (3 * N) + j
        prv = mj & (j * 0 + i + 1 < T)
        g_out_next = tl.load(dh_ptr + off - N, mask=prv, other=0.0)
        hp_next = tl.load(hprev_ptr + off - N, mask=prv, other=0.0)
        z_next = tl.load(gates_ptr + off3 - 3 * N, mask=prv, other=0.0)
        r_next = tl.load(gates_ptr + off3 - 2 * N, mask=prv, other=0.0)
        c_next = tl.load(gates_ptr + off3 - N, mask=prv, other=0.0)

        d = dh + g_out
        da_h = d * (1.0 - z) * _activation_grad(c, ACT)
        drh = tl.sum(uht * da_h[:, None], axis=0)
        da_z = d * (hp - c) * z * (1.0 - z)
        da_r = drh * hp * r * (1.0 - r)
        dh = (
            d * z
            + drh * r
            + tl.sum(uzt * da_z[:, None], axis=0)
            + tl.sum(urt * da_r[:, None], axis=0)
        )

        tl.store(dgates_ptr + off3, da_z, mask=mj)
        tl.store(dgates_ptr + off3 + N, da_r, mask=mj)
        tl.store(dgates_ptr + off3 + 2 * N, da_h, mask=mj)
        g_out, hp, z, r, c = g_out_next, hp_next, z_next, r_next, c_next
    tl.store(dh0_ptr + row * N + j, dh, mask=mj)
