"""Test support: the 0.2 network with the arithmetic of an SSE2 build of librnnoise (what
pyrnnoise ships), to prove where its output departs from the plain scalar build's.

What differs between the two builds (upstream ``vec.h`` vs ``vec_avx.h``'s SSE branch, read
through the search tool; no text copied): the activations, and the input quantisation of int8
layers. The float matrix products (``sgemv``, ``sparse_sgemv8x4``) keep one accumulator per
output, summed over the inputs in ascending order, and SSE2 has no FMA (``_mm256_fmadd_ps`` is
emulated as a multiply then an add), so they give the scalar build's bits. What differs:

* tanh: the same rational function, but ``num*x`` is multiplied by ``rcpps(den)``, the CPU's
  12-bit approximate reciprocal, where the scalar build divides exactly;
* sigmoid: its own rational function (tanh's coefficients scaled to ``x/2``),
  ``0.5 + (num*x) * rcpps(den)`` clamped to [0, 1], where the scalar build computes
  ``0.5 + 0.5*tanh_approx(0.5*x)``;
* int8 layers (blobs without float weights): ``vec_avx.h`` defines ``USE_SU_BIAS``, so the input
  is quantised unsigned, ``(unsigned char)(127 + (int)floor(.5 + 127*x))`` (the scalar build:
  signed, without the 127), and the layer adds ``subias`` (= bias - 127 * scale * column sum)
  instead of ``bias``. The integer sums are exact on both sides (SSE2's ``_mm_madd_epi16``
  pairs do not saturate; below 2**24 they are exact in the kernels' float32 too, which
  :class:`~rnnoise_kit.model.v02.NetworkLayers02` checks for the signed range and
  :class:`Sse2Network02` for the unsigned one).

``rcpps`` is the CPU's instruction itself (LLVM's ``llvm.x86.sse.rcp.ps``), so the emulation
matches the library on whatever x86 CPU runs both (Intel and AMD tables differ).

The emulated kernels are the production kernels of :mod:`rnnoise_kit.model.v02._kernels`
recompiled (uncached) with these two activations and the unsigned quantisation bound in place of
the scalar ones, and ``subias`` passed for ``bias``; nothing else changes.
"""

from __future__ import annotations

import types

import numba
import numpy as np
from llvmlite import ir
from numba import types as nbtypes
from numba.core import cgutils
from numba.core.registry import CPUDispatcher
from numba.extending import intrinsic

from rnnoise_kit.denoise import FrameProcessor02
from rnnoise_kit.model.v02 import Network02
from rnnoise_kit.model.v02 import _kernels as scalar_kernels
from rnnoise_kit.model.v02.network import _SLOT_ORDER

_F0 = np.float32(0.0)
_F1 = np.float32(1.0)
_FM1 = np.float32(-1.0)
_F05 = np.float32(0.5)
_F127 = np.float32(127.0)
# tanh: the scalar build's coefficients
_TN0, _TN1, _TN2 = scalar_kernels._N0, scalar_kernels._N1, scalar_kernels._N2
_TD0, _TD1, _TD2 = scalar_kernels._D0, scalar_kernels._D1, scalar_kernels._D2
# sigmoid: vec_avx.h's own set (the tanh ones divided by powers of two, for x/2)
_SN0 = np.float32(238.13200378)
_SN1 = np.float32(6.02452230)
_SN2 = np.float32(0.00950985)
_SD0 = np.float32(952.72399902)
_SD1 = np.float32(103.34200287)
_SD2 = np.float32(0.74287558)


@intrinsic
def rcpps(typingctx, x):
    """The CPU's ``rcpps`` on one float32 (lane 0 of a 4-lane vector)."""
    if x != nbtypes.float32:
        return None

    def codegen(context, builder, signature, args):
        vec = ir.VectorType(ir.FloatType(), 4)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vec, [vec]),
                                            "llvm.x86.sse.rcp.ps")
        lane0 = ir.Constant(ir.IntType(32), 0)
        v = builder.insert_element(ir.Constant(vec, None), args[0], lane0)
        return builder.extract_element(builder.call(fn, [v]), lane0)

    return nbtypes.float32(nbtypes.float32), codegen


@numba.njit(inline="always")
def tanh_sse2(x):
    """``tanh4_approx`` of ``vec_avx.h``'s SSE branch, one lane."""
    x2 = x * x
    num = (_TN2 * x2 + _TN1) * x2 + _TN0
    den = (_TD2 * x2 + _TD1) * x2 + _TD0
    y = (num * x) * rcpps(den)
    y = _F1 if _F1 < y else y
    return _FM1 if _FM1 > y else y


@numba.njit(inline="always")
def sigmoid_sse2(x):
    """``sigmoid4_approx`` of ``vec_avx.h``'s SSE branch, one lane."""
    x2 = x * x
    num = (_SN2 * x2 + _SN1) * x2 + _SN0
    den = (_SD2 * x2 + _SD1) * x2 + _SD0
    y = (num * x) * rcpps(den) + _F05
    y = _F1 if _F1 < y else y
    return _F0 if _F0 > y else y


@numba.njit
def quantize_unsigned_into(x, out):
    """``vector_ps_to_epi8`` of the SSE2 build: ``127 + (int)floor(.5 + 127*x)`` (the product in
    float32, the rest in double), stored into an ``unsigned char`` (modulo 256), as float32."""
    for i in range(x.size):
        q = np.int64(np.floor(0.5 + np.float64(_F127 * x[i])))
        out[i] = np.float32((q + 127) & 255)


def rebound_kernels(module: types.ModuleType, **replace) -> types.SimpleNamespace:
    """``module``'s numba kernels recompiled (not cached) with some globals replaced.

    Every dispatcher of the module is rebuilt from its Python function over one shared copy of
    the module's globals, so kernels calling each other (inlined or not) see the replacements.
    """
    ns = dict(vars(module))
    ns.update(replace)
    for name, obj in vars(module).items():
        if isinstance(obj, CPUDispatcher) and name not in replace:
            f = obj.py_func
            fresh = types.FunctionType(f.__code__, ns, f.__name__, f.__defaults__, f.__closure__)
            fresh.__doc__ = f.__doc__
            options = {k: v for k, v in obj.targetoptions.items() if k != "nopython"}
            ns[name] = numba.njit(**options)(fresh)
    return types.SimpleNamespace(**ns)


_kernels = None


def sse2_kernels() -> types.SimpleNamespace:
    """The 0.2 network kernels with the SSE2 build's activations and int8 input quantisation
    (compiled on first use: about a minute)."""
    global _kernels
    if _kernels is None:
        _kernels = rebound_kernels(scalar_kernels, tanh_approx=tanh_sse2,
                                   sigmoid_approx=sigmoid_sse2,
                                   quantize_into=quantize_unsigned_into)
    return _kernels


_UNSIGNED_EXACT_INPUTS = (1 << 24) // (128 * 255)
"""Widest int8 layer whose unsigned-input sums stay below 2**24 (exact in float32)."""


class Sse2Network02(Network02):
    """:class:`Network02` computing what an SSE2 build of librnnoise computes: float layers as
    the scalar build with the SSE2 activations; int8 layers with unsigned inputs and ``subias``.
    """

    def __init__(self, model):
        super().__init__(model)
        weights, biases, scales, diags = self._packed
        layers = self.layers.model.layers
        su = []
        for name, w, bias, scale in zip(_SLOT_ORDER, weights, biases, scales, strict=True):
            if scale.size:
                assert w.shape[0] <= _UNSIGNED_EXACT_INPUTS, (name, w.shape)
                bias = np.array(layers[name].subias, dtype=np.float32)
            su.append(bias)
        self._packed = (weights, tuple(su), scales, diags)

    def _run_block(self, x, state, gains, vad) -> None:
        sse2_kernels().network_block(
            x, x.shape[0], state.conv1_mem, state.conv2_mem, state.gru, *self.packed,
            self.layers.skip_heads, *self._work(x.shape[0]), gains, vad)


class Sse2FrameProcessor02(FrameProcessor02):
    """The 0.2 denoiser (our DSP, bit-exact with both C builds) around :class:`Sse2Network02`.

    Only whole blocks go through it (the fused 10 ms path is the scalar network's)."""

    network_class = Sse2Network02

    def denoise(self, x16: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Whole frames of int16-scale audio (more than 3 frames: the block path) from a fresh
        state: float output in int16 scale (every frame kept, as C writes it) and VAD."""
        x = np.ascontiguousarray(x16, dtype=np.float32)
        assert x.shape[0] > 3 * 480 and x.shape[0] % 480 == 0
        return self.process(x, self.new_state())
