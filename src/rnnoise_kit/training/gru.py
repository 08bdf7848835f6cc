"""Keras ``reset_after=False`` GRU (the librnnoise GRU): fused, hand-differentiated recurrence.

Equations, with gate column blocks ``[z | r | h]`` in the kernel ``W`` (M, 3N), the recurrent
kernel ``U`` (N, 3N) and the bias ``b`` (3N,)::

    z  = sigmoid(x Wz + h Uz + bz)
    r  = sigmoid(x Wr + h Ur + br)
    c  = act(x Wh + (r * h) Uh + bh)
    h' = z * h + (1 - z) * c

:class:`GRU` computes the input projections ``x W + b`` of the whole sequence with one matmul
(torch autograd), then runs the recurrence with :class:`GRURecurrence`, a
``torch.autograd.Function`` whose forward and backward time loops are Numba kernels (CPU,
float32/float64), persistent Triton kernels (CUDA; one launch per layer and direction) or torch
ops (any device; a Python loop of small kernels, the fallback). The recurrent-kernel gradient is
computed after the backward loop as two big matrix products over all ``B*T`` steps.

``torch.nn.GRU`` is not used: it swaps ``z``/``1 - z`` and applies the reset gate after the
recurrent product (``reset_after=True``).
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import numpy as np
import torch
from torch import nn

from rnnoise_kit.model.core import Activation as ModelActivation

Activation = Literal["tanh", "sigmoid", "relu"]
Backend = Literal["auto", "numba", "triton", "torch"]

ACTIVATION_CODES: dict[str, int] = {a.label: int(a) for a in ModelActivation}
"""Activation name -> code of the ``.rnnn`` / ``rnn.h`` format."""

__all__ = [
    "ACTIVATION_CODES",
    "GRU",
    "GRURecurrence",
    "gru_recurrence",
    "naive_gru",
    "numba_available",
    "keep_freed_memory",
    "triton_available",
    "resolved_backend",
]


# --------------------------------------------------------------------------------------------
# Numba backend plumbing
# --------------------------------------------------------------------------------------------
_kernels = None
_kernels_error: Exception | None = None
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()


def _get_kernels():
    global _kernels, _kernels_error
    if _kernels is None and _kernels_error is None:
        try:
            from . import _kernels as k

            _kernels = k
        except Exception as exc:  # pragma: no cover - numba missing or broken
            _kernels_error = exc
    return _kernels


def numba_available() -> bool:
    """Return whether the Numba kernels can be imported."""
    return _get_kernels() is not None


def keep_freed_memory() -> bool:
    """Make glibc ``malloc`` keep freed memory in the process instead of unmapping it.

    Every training step allocates and frees a few hundred MB of large tensors (projections,
    saved gates, gradients). glibc serves blocks over 32 MB with ``mmap`` and unmaps them on
    ``free``, so each step page-faults all of that memory in again (kernel page zeroing: 20 % of
    a step's time on one test machine). This sets ``M_MMAP_MAX = 0`` and a 1 GiB
    ``M_TRIM_THRESHOLD`` so the memory is reused. It is process-wide; call it once at the start
    of a training run.

    Returns
    -------
    bool
        Whether the settings were applied (False where the C library is not glibc).
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_max = -1, -4
    return bool(mallopt(m_mmap_max, 0)) and bool(mallopt(m_trim_threshold, 1 << 30))


def _n_blocks(batch: int) -> int:
    env = os.environ.get("RNNOISE_KIT_GRU_THREADS")
    n = int(env) if env else torch.get_num_threads()
    return max(1, min(batch, n))


def _run_blocks(fn, batch: int, *args) -> None:
    """Run ``fn(*args, b0, b1)`` over row blocks: one on this thread, the others on a pool."""
    global _pool, _pool_size
    nblk = _n_blocks(batch)
    bounds = [(i * batch // nblk, (i + 1) * batch // nblk) for i in range(nblk)]
    if nblk == 1:
        fn(*args, 0, batch)
        return
    with _pool_lock:
        if _pool is None or _pool_size < nblk - 1:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(max_workers=nblk - 1, thread_name_prefix="rnnoise-gru")
            _pool_size = nblk - 1
        pool = _pool
    futures = [pool.submit(fn, *args, b0, b1) for b0, b1 in bounds[:-1]]
    try:
        fn(*args, *bounds[-1])
    finally:
        for f in futures:
            f.result()


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy()


def _forward_numba(xp, u, h0, act: int):
    k = _get_kernels()
    b, t, n3 = xp.shape
    n = n3 // 3
    h = torch.empty((b, t, n), dtype=xp.dtype)
    hprev = torch.empty_like(h)
    rh = torch.empty_like(h)
    gates = torch.empty((b, t, n3), dtype=xp.dtype)
    fast = xp.dtype == torch.float32
    xa, h0a = _np(xp), _np(h0)
    uzr, uh = _np(u[:, : 2 * n].contiguous()), _np(u[:, 2 * n :].contiguous())
    ha, hpa, ga, rha = _np(h), _np(hprev), _np(gates), _np(rh)

    def fn(b0: int, b1: int) -> None:
        k.gru_forward_block(xa, uzr, uh, h0a, act, fast, b0, b1, ha, hpa, ga, rha)

    _run_blocks(fn, b)
    return h, hprev, gates, rh


def _backward_numba(dh, hprev, gates, u, act: int):
    k = _get_kernels()
    b = gates.shape[0]
    n = u.shape[0]
    dgates = torch.empty_like(gates)
    dh0 = torch.empty((b, n), dtype=gates.dtype)
    utzr = _np(u[:, : 2 * n].t().contiguous())
    uth = _np(u[:, 2 * n :].t().contiguous())
    da, hpa, ga = _np(dh), _np(hprev), _np(gates)
    dga, dh0a = _np(dgates), _np(dh0)

    def fn(b0: int, b1: int) -> None:
        k.gru_backward_block(da, hpa, ga, utzr, uth, act, b0, b1, dga, dh0a)

    _run_blocks(fn, b)
    return dgates, dh0


# --------------------------------------------------------------------------------------------
# torch-op backend (any device; used on CUDA)
# --------------------------------------------------------------------------------------------
def _act_fwd(a: torch.Tensor, act: int) -> torch.Tensor:
    if act == 2:
        return torch.relu(a)
    if act == 1:
        return torch.sigmoid(a)
    return torch.tanh(a)


def _act_grad(c: torch.Tensor, act: int) -> torch.Tensor:
    """Derivative of the activation expressed through its output ``c``."""
    if act == 2:
        return (c > 0).to(c.dtype)
    if act == 1:
        return c * (1 - c)
    return 1 - c * c


def _forward_torch(xp, u, h0, act: int):
    n = u.shape[0]
    u_zr, u_h = u[:, : 2 * n], u[:, 2 * n :]
    h = h0
    hs, hps, gs, rhs = [], [], [], []
    for a in xp.unbind(1):
        zr = torch.sigmoid(torch.addmm(a[:, : 2 * n], h, u_zr))
        z, r = zr[:, :n], zr[:, n:]
        rh = r * h
        c = _act_fwd(torch.addmm(a[:, 2 * n :], rh, u_h), act)
        hps.append(h)
        h = z * h + (1 - z) * c
        hs.append(h)
        gs.append(torch.cat([zr, c], 1))
        rhs.append(rh)
    return torch.stack(hs, 1), torch.stack(hps, 1), torch.stack(gs, 1), torch.stack(rhs, 1)


def _backward_torch(dh_out, hprev, gates, u, act: int):
    n = u.shape[0]
    ut_zr = u[:, : 2 * n].t()
    ut_h = u[:, 2 * n :].t()
    dh = torch.zeros_like(hprev[:, 0])
    seq = gates.shape[1]
    dgs: list[torch.Tensor] = [dh] * seq
    dho = dh_out.unbind(1)
    gl = gates.unbind(1)
    hpl = hprev.unbind(1)
    for t in range(seq - 1, -1, -1):
        g = gl[t]
        z, r, c = g[:, :n], g[:, n : 2 * n], g[:, 2 * n :]
        hp = hpl[t]
        d = dh + dho[t]
        da_h = d * (1 - z) * _act_grad(c, act)
        drh = da_h @ ut_h
        da_z = d * (hp - c) * z * (1 - z)
        da_r = drh * hp * r * (1 - r)
        da_zr = torch.cat([da_z, da_r], 1)
        dh = torch.addmm(d * z + drh * r, da_zr, ut_zr)
        dgs[t] = torch.cat([da_zr, da_h], 1)
    return torch.stack(dgs, 1), dh


# --------------------------------------------------------------------------------------------
# Triton backend (CUDA; CPU tensors run through Triton's interpreter, for tests)
# --------------------------------------------------------------------------------------------
_triton_kernels = None
_triton_error: Exception | None = None
_triton_checked: dict[tuple, bool] = {}


def _get_triton():
    """The Triton kernels module, or None where Triton is missing or broken."""
    global _triton_kernels, _triton_error
    if _triton_kernels is None and _triton_error is None:
        try:
            from . import _triton_kernels as k

            _triton_kernels = k
        except Exception as exc:  # triton missing or broken
            _triton_error = exc
    return _triton_kernels


def _triton_interpreting() -> bool:
    """Whether the kernels run in Triton's interpreter (``TRITON_INTERPRET=1`` at import)."""
    return type(_get_triton().gru_forward_kernel).__name__ == "InterpretedFunction"


def triton_available(device: str = "cuda") -> bool:
    """Return whether the Triton kernels can run tensors of ``device`` ("cuda" or "cpu").

    Triton compiles for CUDA, and runs CPU tensors only in its interpreter, a process-wide mode
    chosen when ``triton`` is first imported (environment variable ``TRITON_INTERPRET=1``).
    """
    if _get_triton() is None:
        return False
    return _triton_interpreting() == (device == "cpu")


def _triton_launch_args(n: int, device: torch.device, dtype: torch.dtype) -> dict:
    """Block size and compile options: BN = N rounded up to a power of two (at least 8).

    Warps scale with the block (twice as many for float64) so the three (BN, BN) blocks of
    ``U`` stay in registers without spilling (checked by compiling for sm_90 in the tests).
    """
    bn = 1 << max(3, (n - 1).bit_length())
    kw: dict = {"N": n, "BN": bn}
    if device.type == "cuda":
        warps = max(1, bn // 16) * (2 if dtype == torch.float64 else 1)
        kw.update(num_warps=min(16, warps), enable_fp_fusion=True)
    return kw


def _on(device: torch.device):
    """Make ``device`` current for a launch (Triton launches on the current CUDA device)."""
    return torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext()


def _forward_triton(xp, u, h0, act: int):
    k = _get_triton()
    b, t, n3 = xp.shape
    n = n3 // 3
    h = xp.new_empty((b, t, n))
    hprev = torch.empty_like(h)
    rh = torch.empty_like(h)
    gates = torch.empty_like(xp)
    kw = _triton_launch_args(n, xp.device, xp.dtype)
    with _on(xp.device):
        k.gru_forward_kernel[(b,)](xp, u, h0, h, hprev, gates, rh, t, ACT=act, **kw)
    return h, hprev, gates, rh


def _backward_triton(dh, hprev, gates, u, act: int):
    k = _get_triton()
    b, t, n3 = gates.shape
    n = n3 // 3
    dgates = torch.empty_like(gates)
    dh0 = gates.new_empty((b, n))
    kw = _triton_launch_args(n, dh.device, dh.dtype)
    ut = u.t().contiguous()
    with _on(dh.device):
        k.gru_backward_kernel[(b,)](dh, hprev, gates, ut, dgates, dh0, t, ACT=act, **kw)
    return dgates, dh0


def _triton_self_check(xp: torch.Tensor, n: int, act: int) -> bool:
    """Compare the Triton kernels with the torch-op loop once per (device, dtype, N, act).

    A kernel that fails to compile or disagrees on this device makes ``auto`` fall back to the
    torch-op loop (slow, but correct) with a warning instead of training on wrong gradients.
    """
    key = (str(xp.device), xp.dtype, n, act)
    if key not in _triton_checked:
        g = torch.Generator(device="cpu").manual_seed(1234)

        def rnd(*shape):
            return (torch.randn(*shape, generator=g, dtype=torch.float64) * 0.5).to(xp)

        b, t = 3, 7
        x, uu, h0, dho = rnd(b, t, 3 * n), rnd(n, 3 * n), rnd(b, n), rnd(b, t, n)
        tol = 1e-9 if xp.dtype == torch.float64 else 1e-4
        try:
            with torch.no_grad():
                got = _forward_triton(x, uu, h0, act)
                ref = _forward_torch(x, uu, h0, act)
                got += _backward_triton(dho, got[1], got[2], uu, act)
                ref += _backward_torch(dho, ref[1], ref[2], uu, act)
            ok = all(
                float((a - r).abs().max()) <= tol * max(1.0, float(r.abs().max()))
                for a, r in zip(got, ref, strict=True)
            )
            problem = "disagrees with the reference loop"
        except Exception as exc:  # compilation or launch failure on this device
            ok, problem = False, f"failed ({type(exc).__name__}: {exc})"
        if not ok:
            warnings.warn(
                f"Triton GRU kernel {problem} on {xp.device} ({xp.dtype}, N={n}); "
                "using the slower torch-op recurrence",
                RuntimeWarning,
                stacklevel=3,
            )
        _triton_checked[key] = ok
    return _triton_checked[key]


# --------------------------------------------------------------------------------------------
# autograd.Function
# --------------------------------------------------------------------------------------------
_FLOATS = (torch.float32, torch.float64)


def _resolve_backend(backend: str, t: torch.Tensor, n: int, act: int) -> str:
    if backend == "auto":
        if t.device.type == "cpu":
            return "numba" if t.dtype in _FLOATS and numba_available() else "torch"
        if (
            t.device.type == "cuda"
            and t.dtype in _FLOATS
            and triton_available("cuda")
            and _triton_self_check(t, n, act)
        ):
            return "triton"
        return "torch"
    if backend not in ("numba", "triton", "torch"):
        raise ValueError(f"unknown GRU backend {backend!r}")
    if backend == "numba" and t.device.type != "cpu":
        raise ValueError("the numba GRU backend runs on CPU tensors only")
    if backend == "triton":
        if t.device.type not in ("cpu", "cuda") or t.dtype not in _FLOATS:
            raise ValueError("the triton GRU backend runs float32/float64 CUDA (or CPU) tensors")
        if _get_triton() is None:
            raise RuntimeError(f"the triton GRU backend is unavailable: {_triton_error}")
        if not triton_available(t.device.type):
            raise ValueError(
                "the triton GRU backend runs CPU tensors only in Triton's interpreter and CUDA "
                "tensors only outside it (TRITON_INTERPRET=1 must be set before triton is "
                "imported for CPU tensors, and unset for CUDA)"
            )
    return backend


def resolved_backend(
    backend: Backend = "auto",
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    hidden_size: int = 96,
    activation: Activation = "tanh",
) -> str:
    """The recurrence implementation ``backend`` stands for on ``device`` ("numba", ...).

    On CUDA, ``"auto"`` runs the one-time Triton self-check for this size and activation.
    """
    probe = torch.empty(0, device=device, dtype=dtype)
    return _resolve_backend(backend, probe, hidden_size, ACTIVATION_CODES[activation])


class GRURecurrence(torch.autograd.Function):
    """Fused GRU recurrence on projected inputs, with a hand-written backward pass.

    ``apply(xp, u, h0, act, backend)`` with ``xp`` (B, T, 3N) = ``x @ W + b``, ``u`` (N, 3N),
    ``h0`` (B, N), ``act`` an activation code and ``backend`` ``"numba"``, ``"triton"`` or
    ``"torch"``;
    returns the states (B, T, N). Gradients flow to ``xp``, ``u`` and ``h0``.
    """

    @staticmethod
    def forward(ctx, xp, u, h0, act: int, backend: str):  # noqa: D102
        xp = xp.contiguous()
        u = u.contiguous()
        h0 = h0.contiguous()
        with torch.no_grad():
            if backend == "numba":
                h, hprev, gates, rh = _forward_numba(xp, u, h0, act)
            elif backend == "triton":
                h, hprev, gates, rh = _forward_triton(xp, u, h0, act)
            else:
                h, hprev, gates, rh = _forward_torch(xp, u, h0, act)
        ctx.save_for_backward(u, hprev, gates, rh)
        ctx.act = act
        ctx.backend = backend
        return h

    @staticmethod
    def backward(ctx, dh):  # noqa: D102
        u, hprev, gates, rh = ctx.saved_tensors
        dh = dh.contiguous()
        with torch.no_grad():
            if ctx.backend == "numba":
                dgates, dh0 = _backward_numba(dh, hprev, gates, u, ctx.act)
            elif ctx.backend == "triton":
                dgates, dh0 = _backward_triton(dh, hprev, gates, u, ctx.act)
            else:
                dgates, dh0 = _backward_torch(dh, hprev, gates, u, ctx.act)
            du = None
            if ctx.needs_input_grad[1]:
                n = u.shape[0]
                dg2 = dgates.reshape(-1, 3 * n)
                du = torch.cat(
                    [
                        hprev.reshape(-1, n).t() @ dg2[:, : 2 * n],
                        rh.reshape(-1, n).t() @ dg2[:, 2 * n :],
                    ],
                    1,
                )
        return dgates, du, dh0, None, None


def gru_recurrence(
    xp: torch.Tensor,
    recurrent_kernel: torch.Tensor,
    activation: Activation = "tanh",
    h0: torch.Tensor | None = None,
    backend: Backend = "auto",
) -> torch.Tensor:
    """Run the GRU recurrence on input projections.

    Parameters
    ----------
    xp : Tensor, shape (B, T, 3N)
        ``x @ kernel + bias`` with gate blocks ``[z | r | h]``.
    recurrent_kernel : Tensor, shape (N, 3N)
        Keras recurrent kernel.
    activation : {"tanh", "sigmoid", "relu"}
        Candidate activation.
    h0 : Tensor, shape (B, N), optional
        Initial state (zeros when omitted).
    backend : {"auto", "numba", "triton", "torch"}
        ``"auto"`` picks the Numba kernels for CPU float32/float64 tensors and the Triton kernels
        for CUDA float32/float64 tensors (after a one-time check against the torch-op loop on
        that device), torch ops otherwise. The Numba kernels split the batch rows over
        ``torch.get_num_threads()`` threads (override with the environment variable
        ``RNNOISE_KIT_GRU_THREADS``). ``"triton"`` on CPU tensors runs Triton's interpreter
        (slow; for tests on machines without a GPU).

    Returns
    -------
    Tensor, shape (B, T, N)
        The states ``h_1 .. h_T``.
    """
    n = recurrent_kernel.shape[0]
    if xp.dim() != 3 or xp.shape[2] != 3 * n or recurrent_kernel.shape[1] != 3 * n:
        raise ValueError(f"shape mismatch: xp {tuple(xp.shape)}, U {tuple(recurrent_kernel.shape)}")
    if h0 is None:
        h0 = xp.new_zeros((xp.shape[0], n))
    act = ACTIVATION_CODES[activation]
    return GRURecurrence.apply(xp, recurrent_kernel, h0, act, _resolve_backend(backend, xp, n, act))


def naive_gru(
    x: torch.Tensor,
    kernel: torch.Tensor,
    recurrent_kernel: torch.Tensor,
    bias: torch.Tensor,
    activation: Activation = "tanh",
    h0: torch.Tensor | None = None,
) -> torch.Tensor:
    """Reference GRU: a plain autograd loop of the Keras equations (slow; for tests).

    Parameters
    ----------
    x : Tensor, shape (B, T, M)
    kernel : Tensor, shape (M, 3N)
    recurrent_kernel : Tensor, shape (N, 3N)
    bias : Tensor, shape (3N,)
    activation : {"tanh", "sigmoid", "relu"}
    h0 : Tensor, shape (B, N), optional

    Returns
    -------
    Tensor, shape (B, T, N)
    """
    n = recurrent_kernel.shape[0]
    wz, wr, wh = kernel.split(n, 1)
    uz, ur, uh = recurrent_kernel.split(n, 1)
    bz, br, bh = bias.split(n)
    act = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu}[activation]
    h = x.new_zeros((x.shape[0], n)) if h0 is None else h0
    out = []
    for xt in x.unbind(1):
        z = torch.sigmoid(xt @ wz + h @ uz + bz)
        r = torch.sigmoid(xt @ wr + h @ ur + br)
        c = act(xt @ wh + (r * h) @ uh + bh)
        h = z * h + (1 - z) * c
        out.append(h)
    return torch.stack(out, 1)


def _glorot_uniform_(w: torch.Tensor) -> None:
    fan_in, fan_out = w.shape
    lim = math.sqrt(6.0 / (fan_in + fan_out))
    with torch.no_grad():
        w.uniform_(-lim, lim)


def _orthogonal_(u: torch.Tensor) -> None:
    """Keras ``Orthogonal`` on the whole (N, 3N) recurrent kernel: orthonormal rows."""
    with torch.no_grad():
        nn.init.orthogonal_(u)


class GRU(nn.Module):
    """Keras-2 ``GRU(reset_after=False, recurrent_activation='sigmoid', return_sequences=True)``.

    Parameters
    ----------
    input_size : int
        ``M``, features per step.
    hidden_size : int
        ``N``, units.
    activation : {"tanh", "sigmoid", "relu"}
        Candidate activation.
    backend : {"auto", "numba", "triton", "torch"}
        Recurrence implementation (see :func:`gru_recurrence`).

    Attributes
    ----------
    kernel : Parameter, shape (M, 3N)
    recurrent_kernel : Parameter, shape (N, 3N)
    bias : Parameter, shape (3N,)
        Keras layouts, gate column blocks ``[z | r | h]``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        activation: Activation = "tanh",
        backend: Backend = "auto",
    ) -> None:
        super().__init__()
        if activation not in ACTIVATION_CODES:
            raise ValueError(f"unknown activation {activation!r}")
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.activation: Activation = activation
        self.backend: Backend = backend
        n3 = 3 * self.hidden_size
        self.kernel = nn.Parameter(torch.empty(self.input_size, n3))
        self.recurrent_kernel = nn.Parameter(torch.empty(self.hidden_size, n3))
        self.bias = nn.Parameter(torch.zeros(n3))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Keras defaults: glorot-uniform kernel, orthogonal recurrent kernel, zero bias."""
        _glorot_uniform_(self.kernel)
        _orthogonal_(self.recurrent_kernel)
        with torch.no_grad():
            self.bias.zero_()

    def project(self, x: torch.Tensor | list[torch.Tensor] | tuple[torch.Tensor, ...]):
        """Input projections ``x @ kernel + bias`` of a whole batch of sequences.

        ``x`` may be a list of tensors meaning their concatenation on the last axis. Adjacent
        parts that need a gradient are concatenated and projected with one matmul; parts that
        need none (raw features) get their own matmul, so no input gradient is computed for them.
        """
        parts = [x] if isinstance(x, torch.Tensor) else list(x)
        b, t = parts[0].shape[:2]
        groups: list[list[torch.Tensor]] = []
        for p in parts:
            if groups and groups[-1][0].requires_grad == p.requires_grad:
                groups[-1].append(p)
            else:
                groups.append([p])
        out = None
        row = 0
        for grp in groups:
            g = grp[0] if len(grp) == 1 else torch.cat(grp, -1)
            m = g.shape[-1]
            w = self.kernel[row : row + m]
            g2 = g.reshape(b * t, m)
            # in place after the first group: addmm's backward needs g2 and w, not its output
            out = torch.addmm(self.bias, g2, w) if out is None else out.addmm_(g2, w)
            row += m
        if row != self.input_size:
            raise ValueError(f"GRU expects {self.input_size} input features, got {row}")
        return out.reshape(b, t, 3 * self.hidden_size)

    def forward(
        self,
        x: torch.Tensor | list[torch.Tensor] | tuple[torch.Tensor, ...],
        h0: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Run the layer.

        Parameters
        ----------
        x : Tensor (B, T, M) or list of Tensors (B, T, m_i) with sum(m_i) = M
            Input sequence (a list means the concatenation of its parts).
        h0 : Tensor (B, N), optional
            Initial state, zeros when omitted.

        Returns
        -------
        Tensor, shape (B, T, N)
        """
        xp = self.project(x)
        return gru_recurrence(xp, self.recurrent_kernel, self.activation, h0, self.backend)

    def extra_repr(self) -> str:  # noqa: D102
        return f"{self.input_size}, {self.hidden_size}, activation={self.activation!r}"
