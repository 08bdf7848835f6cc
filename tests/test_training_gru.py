"""The fused GRU recurrence and the RNNoise network against plain autograd references."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from rnnoise_kit.training.gru import (  # noqa: E402
    GRU,
    gru_recurrence,
    naive_gru,
    numba_available,
    triton_available,
)
from rnnoise_kit.training.network import LAYER_NAMES, RNNoiseNet  # noqa: E402

ACTS = ("tanh", "relu", "sigmoid")
HAS_TRITON = importlib.util.find_spec("triton") is not None
# without a GPU, conftest.py puts Triton in interpreter mode, which runs these kernels on CPU
# tensors: the same kernel source that compiles for CUDA, checked here on every machine
TRITON_CPU = HAS_TRITON and not torch.cuda.is_available()
BACKENDS = ["torch"] + (["numba"] if numba_available() else []) + (["triton"] if TRITON_CPU else [])


def _rel(a: torch.Tensor, ref: torch.Tensor) -> float:
    a, ref = a.detach(), ref.detach()
    return float((a - ref).abs().max() / ref.abs().max().clamp_min(1e-30))


def _problem(dtype, b=3, t=9, m=5, n=8, seed=0):
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape, scale=1.0):
        return (torch.randn(*shape, generator=g, dtype=dtype) * scale).requires_grad_()

    return (
        rnd(b, t, m),
        rnd(m, 3 * n, scale=0.5),
        rnd(n, 3 * n, scale=0.5),
        rnd(3 * n, scale=0.3),
        rnd(b, n, scale=0.5),
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize(("dtype", "tol"), [(torch.float64, 1e-9), (torch.float32, 1e-4)])
def test_fused_matches_autograd(backend, act, dtype, tol):
    x, w, u, b, h0 = _problem(dtype)
    leaves = (x, w, u, b, h0)
    ref = naive_gru(x, w, u, b, act, h0)
    grad_out = torch.randn(ref.shape, generator=torch.Generator().manual_seed(1), dtype=dtype)
    ref_grads = torch.autograd.grad(ref, leaves, grad_out)
    out = gru_recurrence(
        torch.addmm(b, x.reshape(-1, x.shape[-1]), w).reshape(3, 9, -1), u, act, h0, backend
    )
    grads = torch.autograd.grad(out, leaves, grad_out)
    assert _rel(out, ref) < tol
    for name, gr, gref in zip("x W U b h0".split(), grads, ref_grads, strict=True):
        assert _rel(gr, gref) < tol, name


# the interpreted Triton kernels are too slow for gradcheck's hundreds of forward passes; the
# float64 comparison with autograd above checks their gradients to 1e-9 instead
@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "triton"])
@pytest.mark.parametrize("act", ACTS)
def test_gradcheck_float64(backend, act):
    x, w, u, b, h0 = _problem(torch.float64, b=2, t=4, m=3, n=4)

    def f(x, w, u, b, h0):
        return gru_recurrence(x @ w + b, u, act, h0, backend)

    # relu is not differentiable at 0; the random pre-activations stay away from it
    assert torch.autograd.gradcheck(f, (x, w, u, b, h0), eps=1e-6, atol=1e-8, rtol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_zero_initial_state_and_odd_sizes(backend):
    # N not a multiple of 8, batch 1 and odd batch split over threads
    for bsz in (1, 5):
        x, w, u, b, _ = _problem(torch.float64, b=bsz, t=6, m=7, n=5, seed=3)
        ref = naive_gru(x, w, u, b, "tanh")
        out = gru_recurrence(x @ w + b, u, "tanh", None, backend)
        assert _rel(out, ref) < 1e-12
        gref = torch.autograd.grad(ref.square().sum(), (w, u, b))
        gout = torch.autograd.grad(out.square().sum(), (w, u, b))
        for a, r in zip(gout, gref, strict=True):
            assert _rel(a, r) < 1e-10


def test_gru_module_keras_layout():
    layer = GRU(6, 4, "relu")
    assert tuple(layer.kernel.shape) == (6, 12)
    assert tuple(layer.recurrent_kernel.shape) == (4, 12)
    assert tuple(layer.bias.shape) == (12,)
    assert torch.count_nonzero(layer.bias) == 0
    uu = layer.recurrent_kernel.detach() @ layer.recurrent_kernel.detach().T
    assert torch.allclose(uu, torch.eye(4), atol=1e-5)  # orthogonal rows
    x = torch.randn(2, 5, 6)
    ref = naive_gru(x, layer.kernel, layer.recurrent_kernel, layer.bias, "relu")
    assert torch.allclose(layer(x), ref, atol=1e-5)
    # list input == concatenation
    parts = [x[..., :2], x[..., 2:]]
    assert torch.allclose(layer(parts), layer(x), atol=1e-6)


def test_librnnoise_equations_numpy():
    """One step in NumPy straight from spec 10.3 (reset applied before the recurrent product)."""
    rng = np.random.default_rng(5)
    m, n = 4, 3
    w = rng.normal(size=(m, 3 * n))
    u = rng.normal(size=(n, 3 * n))
    b = rng.normal(size=3 * n)
    x = rng.normal(size=m)
    h = rng.normal(size=n)

    def sig(v):
        return 1 / (1 + np.exp(-v))

    z = np.array([sig(b[i] + x @ w[:, i] + h @ u[:, i]) for i in range(n)])
    r = np.array([sig(b[n + i] + x @ w[:, n + i] + h @ u[:, n + i]) for i in range(n)])
    c = np.array(
        [np.tanh(b[2 * n + i] + x @ w[:, 2 * n + i] + (u[:, 2 * n + i] * h) @ r) for i in range(n)]
    )
    # NB (u*h)@r above is sum_j U[j,2N+i]*h[j]*r[j]
    expect = z * h + (1 - z) * c
    for backend in BACKENDS:
        out = gru_recurrence(
            torch.tensor(x @ w + b).reshape(1, 1, -1),
            torch.tensor(u),
            "tanh",
            torch.tensor(h).reshape(1, -1),
            backend,
        )
        np.testing.assert_allclose(out.detach().numpy().ravel(), expect, rtol=1e-12)


def test_network_shapes_weights_roundtrip():
    torch.manual_seed(0)
    net = RNNoiseNet()
    x = torch.randn(2, 7, 42)
    gains, vad = net(x)
    assert gains.shape == (2, 7, 22) and vad.shape == (2, 7, 1)
    assert ((gains > 0) & (gains < 1)).all() and ((vad > 0) & (vad < 1)).all()
    w = net.get_weights()
    assert list(w) == list(LAYER_NAMES)
    shapes = {k: [a.shape for a in v] for k, v in w.items()}
    assert shapes == {
        "input_dense": [(42, 24), (24,)],
        "vad_gru": [(24, 72), (24, 72), (72,)],
        "noise_gru": [(90, 144), (48, 144), (144,)],
        "denoise_gru": [(114, 288), (96, 288), (288,)],
        "denoise_output": [(96, 22), (22,)],
        "vad_output": [(24, 1), (1,)],
    }
    assert sum(a.size for v in w.values() for a in v) == 87503
    assert all(a.dtype == np.float32 for v in w.values() for a in v)
    other = RNNoiseNet(activations=("relu", "relu", "relu"))
    other.set_weights(w)
    assert other.vad_gru.activation == "relu"
    assert torch.equal(other.denoise_gru.kernel, net.denoise_gru.kernel)
    same = RNNoiseNet()
    same.set_weights({k: [a.ravel() for a in v] for k, v in w.items()})  # flat arrays reshape
    g3, v3 = same(x)
    assert torch.equal(g3, gains) and torch.equal(v3, vad)
    info = net.layer_info()
    assert [i.name for i in info] == list(LAYER_NAMES)
    assert [i.activation_code for i in info] == [0, 0, 2, 0, 1, 1]
    with pytest.raises(KeyError):
        same.set_weights({"input_dense": w["input_dense"]})


def test_network_matches_naive_composition():
    torch.manual_seed(1)
    net = RNNoiseNet(activations=("relu", "relu", "relu"))
    x = torch.randn(2, 6, 42, dtype=torch.float64)
    net = net.double()
    gains, vad = net(x)
    d = torch.tanh(x @ net.input_dense.kernel + net.input_dense.bias)

    def g(layer, inp):
        return naive_gru(inp, layer.kernel, layer.recurrent_kernel, layer.bias, layer.activation)

    vh = g(net.vad_gru, d)
    nh = g(net.noise_gru, torch.cat([d, vh, x], -1))
    dh = g(net.denoise_gru, torch.cat([vh, nh, x], -1))
    ref_g = torch.sigmoid(dh @ net.denoise_output.kernel + net.denoise_output.bias)
    ref_v = torch.sigmoid(vh @ net.vad_output.kernel + net.vad_output.bias)
    assert _rel(gains, ref_g) < 1e-12 and _rel(vad, ref_v) < 1e-12


def test_clip_weights():
    net = RNNoiseNet()
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(10).add_(0.3)
    net.clip_weights_(0.499)
    assert max(float(p.detach().abs().max()) for p in net.parameters()) <= 0.499 + 1e-7
    assert float(net.regularization_loss().detach()) > 0


CUDA_BACKENDS = ["auto", "torch"] + (["triton"] if HAS_TRITON else [])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("backend", CUDA_BACKENDS)
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize(("dtype", "tol"), [(torch.float64, 1e-9), (torch.float32, 1e-4)])
def test_cuda_backend_matches_naive(backend, act, dtype, tol):
    dev = torch.device("cuda")
    x, w, u, b, h0 = (t.detach().to(dev).requires_grad_() for t in _problem(dtype))
    leaves = (x, w, u, b, h0)
    ref = naive_gru(x, w, u, b, act, h0)
    g = torch.randn_like(ref)
    ref_grads = torch.autograd.grad(ref, leaves, g)
    out = gru_recurrence(x @ w + b, u, act, h0, backend)
    grads = torch.autograd.grad(out, leaves, g)
    assert _rel(out, ref) < tol
    for gr, gref in zip(grads, ref_grads, strict=True):
        assert _rel(gr, gref) < tol


@pytest.mark.skipif(not (torch.cuda.is_available() and HAS_TRITON), reason="needs CUDA, triton")
@pytest.mark.parametrize(("act", "n"), [("tanh", 24), ("relu", 48), ("tanh", 96)])
def test_cuda_triton_rnnoise_sizes_long_sequence(act, n):
    """The network's sizes over a full 2000-step window, Triton against the torch-op loop
    (float32, 1e-4 relative: the same float32 recurrence, summed in another order)."""
    dev = torch.device("cuda")
    g = torch.Generator(device="cpu").manual_seed(n)
    xp = torch.randn(4, 2000, 3 * n, generator=g).to(dev).requires_grad_()
    u = (torch.randn(n, 3 * n, generator=g) * 0.3).to(dev).requires_grad_()
    grad_out = torch.randn(4, 2000, n, generator=g).to(dev)
    res = {}
    for backend in ("triton", "torch"):
        out = gru_recurrence(xp, u, act, None, backend)
        res[backend] = (out, *torch.autograd.grad(out, (xp, u), grad_out))
    for got, want in zip(res["triton"], res["torch"], strict=True):
        assert _rel(got, want) < 1e-4
    net = RNNoiseNet().to(dev)
    gains, vad = net(torch.randn(2, 5, 42, device=dev))
    assert gains.shape == (2, 5, 22) and vad.device.type == "cuda"


@pytest.mark.skipif(not TRITON_CPU, reason="needs triton and no GPU (interpreter mode)")
@pytest.mark.parametrize(("act", "n"), [("tanh", 24), ("relu", 48), ("tanh", 96)])
def test_triton_rnnoise_sizes_match_numba(act, n):
    """The network's GRU sizes, padded to 32/64/128 lanes, against the Numba kernels.

    float32 with tolerance 1e-5 relative: both compute in float32 over 40 steps; the
    reductions sum in different orders.
    """
    g = torch.Generator().manual_seed(n)
    xp = torch.randn(2, 40, 3 * n, generator=g)
    u = (torch.randn(n, 3 * n, generator=g) * 0.3).requires_grad_()
    xp.requires_grad_()
    grad_out = torch.randn(2, 40, n, generator=g)
    outs = {}
    for backend in ("triton", "numba" if numba_available() else "torch"):
        out = gru_recurrence(xp, u, act, None, backend)
        outs[backend] = (out, *torch.autograd.grad(out, (xp, u), grad_out))
    ref = outs.pop("triton")
    for got, want in zip(ref, outs.popitem()[1], strict=True):
        assert _rel(got, want) < 1e-5


@pytest.mark.skipif(not TRITON_CPU, reason="needs triton and no GPU (interpreter mode)")
def test_triton_self_check_passes_and_catches_a_wrong_kernel(monkeypatch):
    from rnnoise_kit.training import gru

    probe = torch.empty(0, dtype=torch.float32)
    monkeypatch.setattr(gru, "_triton_checked", {})
    assert gru._triton_self_check(probe, 5, 0)

    def off_by_a_little(*args):
        h, hprev, gates, rh = gru._forward_torch(*args)
        return h * 1.01, hprev, gates, rh

    monkeypatch.setattr(gru, "_triton_checked", {})
    monkeypatch.setattr(gru, "_forward_triton", off_by_a_little)
    with pytest.warns(RuntimeWarning, match="disagrees"):
        assert not gru._triton_self_check(probe, 5, 0)

    def broken(*args):
        raise RuntimeError("PTX assembly aborted")

    monkeypatch.setattr(gru, "_triton_checked", {})
    monkeypatch.setattr(gru, "_forward_triton", broken)
    with pytest.warns(RuntimeWarning, match="PTX assembly aborted"):
        assert not gru._triton_self_check(probe, 5, 0)


def test_triton_backend_refuses_wrong_mode():
    if not HAS_TRITON:
        with pytest.raises(RuntimeError, match="unavailable"):
            gru_recurrence(torch.zeros(1, 2, 6), torch.zeros(2, 6), backend="triton")
    elif TRITON_CPU:
        assert triton_available("cpu") and not triton_available("cuda")
    else:  # compiled mode on a GPU machine: CPU tensors need the interpreter
        with pytest.raises(ValueError, match="interpreter"):
            gru_recurrence(torch.zeros(1, 2, 6), torch.zeros(2, 6), backend="triton")


_COMPILE_FOR_HOPPER = textwrap.dedent(
    """
    import os, subprocess, sys, tempfile
    import torch, triton
    from triton.backends.compiler import GPUTarget
    from rnnoise_kit.training import _triton_kernels as K
    from rnnoise_kit.training.gru import _triton_launch_args

    ptrs = {
        K.gru_forward_kernel: ["xp", "u", "h0", "h", "hprev", "gates", "rh"],
        K.gru_backward_kernel: ["dh", "hprev", "gates", "ut", "dgates", "dh0"],
    }
    cuobjdump = os.path.join(os.path.dirname(triton.__file__), "backends/nvidia/bin/cuobjdump")
    tmp = tempfile.mkdtemp()
    for dtype in ("fp32", "fp64"):
        for n in (24, 48, 96):
            tdtype = torch.float32 if dtype == "fp32" else torch.float64
            kw = _triton_launch_args(n, torch.device("cuda"), tdtype)
            options = {"num_warps": kw["num_warps"], "enable_fp_fusion": kw["enable_fp_fusion"]}
            for fn, names in ptrs.items():
                sig = {p + "_ptr": "*" + dtype for p in names}
                sig.update(T="i32", N="constexpr", BN="constexpr", ACT="constexpr")
                src = triton.compiler.ASTSource(
                    fn=fn, signature=sig, constexprs={"N": n, "BN": kw["BN"], "ACT": 0}
                )
                ck = triton.compile(src, target=GPUTarget("cuda", 90, 32), options=options)
                path = os.path.join(tmp, "k.cubin")
                with open(path, "wb") as f:
                    f.write(ck.asm["cubin"])
                usage = subprocess.run(
                    [cuobjdump, "-res-usage", path], capture_output=True, text=True, check=True
                ).stdout
                line = [ln for ln in usage.splitlines() if "REG:" in ln][0].split()
                print(dtype, n, fn.__name__, *line)
    """
)


@pytest.mark.skipif(not HAS_TRITON, reason="needs triton")
def test_triton_kernels_compile_for_hopper_without_spills():
    """Compile both kernels for sm_90 (H100) with the launch options the backend uses.

    No GPU is needed to compile, so CI checks what the interpreter cannot: that the kernels
    lower for a real GPU, and that the recurrent kernel's blocks fit in registers (a spill to
    local memory would put a memory round trip into every one of the 2000 dependent steps).
    """
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["TRITON_DEFAULT_FP_FUSION"] = "1"
    out = subprocess.run(
        [sys.executable, "-c", _COMPILE_FOR_HOPPER], capture_output=True, text=True, env=env,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    rows = [ln.split() for ln in out.stdout.splitlines()]
    assert len(rows) == 12
    for row in rows:
        fields = dict(f.split(":") for f in row[3:] if ":" in f)
        # float64 (tests only) of N=96 cannot fit: 3 x 128 x 128 doubles are 384 KiB, more than
        # an SM's 256 KiB register file, so only float32, the training dtype, must not spill
        if row[0] == "fp32":
            assert fields["LOCAL"] == "0" and fields["STACK"] == "0", row
