"""The RNNoise 0.2 network as a ``torch.nn.Module`` (spec rnnoise-v0.2 sections 0, 5 and 12).

Upstream's ``torch/rnnoise/rnnoise.py``, with the layer names of the C model::

    conv1      Conv1d(65 -> C, kernel 3, tanh)        on the features
    conv2      Conv1d(C -> G, kernel 3, tanh)         on conv1
    gru1..3    torch.nn.GRU(G -> G), chained          on conv2, gru1, gru2
    dense_out  Linear(H -> 32, sigmoid)               gains
    vad_dense  Linear(H -> 1, sigmoid)                VAD

with H = 4G, the heads reading ``cat(conv2, gru1, gru2, gru3)`` (the skip-connection network of
RNNoise's main branch, which pyrnnoise ships) or H = G (GRU3 only, the v0.2 tag). PyTorch's GRU
is 0.2's GRU (the reset gate multiplies the recurrent product after its bias), so the fast
library kernels (MKL-DNN on the CPU, cuDNN on CUDA) train it.

Weights are exchanged with :mod:`rnnoise_kit.model.v02` in the form of
:func:`~rnnoise_kit.model.v02.model.model_from_float_layers`: per layer an input-major matrix
(n_in, n_out) and a bias; conv rows ``k * C_in + c`` (frame t-2+k), GRU gates z, r, h side by
side (torch keeps r, z, n), the input layer carrying ``bias_ih``, the recurrent one ``bias_hh``.

Training runs the convolutions "valid" (as upstream: a 2000-frame sequence gives 1996 outputs,
aligned with targets ``[3:-1]``); ``causal=True`` instead starts every convolution from a zero
state, as ``rnnoise_init`` does, so the outputs match the C network frame for frame.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - torch's own convention
from torch import nn

from rnnoise_kit.model.v02.model import (
    CONV_KERNEL,
    GAIN_SIZE,
    GRU_NAMES,
    INPUT_SIZE,
    LAYER_NAMES,
    SKIP_HEADS,
    SPARSE_BLOCK,
    TAG_HEADS,
    RNNoise02Model,
)
from rnnoise_kit.training.v02.recipe import SIZES

__all__ = ["SIZES", "RNNoise02Net", "fake_quantize", "quantize_inputs"]


_TORCH_TO_C_GATES = (1, 0, 2)
"""torch's gate blocks are (r, z, n); 0.2's are (z, r, h): C gate g is torch block [g]."""


def _c_gates(w: torch.Tensor, n: int) -> torch.Tensor:
    """torch (3N, ...) gate blocks r, z, n reordered as z, r, h."""
    return torch.cat([w[g * n:(g + 1) * n] for g in _TORCH_TO_C_GATES])


def _torch_gates(w: np.ndarray, n: int) -> np.ndarray:
    """The inverse of :func:`_c_gates` on the output axis of an (n_in, 3N) matrix or (3N,)."""
    parts = np.split(np.asarray(w), 3, axis=-1)
    back = [parts[_TORCH_TO_C_GATES.index(g)] for g in range(3)]
    return np.concatenate(back, axis=-1)


def fake_quantize(w: torch.Tensor, keep_diagonal: bool = False) -> torch.Tensor:
    """Weights (n_out, n_in) as the int8 export rounds them, with a straight-through gradient.

    Per output row: s = max(max|w| / 127, max|w[2k] + w[2k+1]| / 129) (spec 6.1), weights
    rounded to multiples of s. ``keep_diagonal``: the square gate blocks' diagonals stay
    float (0.2 stores the recurrent diagonal apart, unquantised) while still counting in s.
    """
    with torch.no_grad():
        a = w.detach()
        s = torch.maximum(a.abs().amax(dim=1) / 127,
                          (a[:, 0::2] + a[:, 1::2]).abs().amax(dim=1) / 129)
        s = s.clamp_min(1e-30)[:, None]
        q = torch.round(a / s) * s
        if keep_diagonal:
            n = a.shape[1]
            eye = torch.eye(n, dtype=torch.bool, device=a.device).repeat(a.shape[0] // n, 1)
            q = torch.where(eye, a, q)
    return w + (q - w).detach()


def quantize_inputs(x: torch.Tensor) -> torch.Tensor:
    """Inputs of an int8 layer as C rounds them (``floor(.5 + 127 x) / 127``), straight-through."""
    return x + (torch.floor(0.5 + 127 * x.detach()) / 127 - x.detach())


class RNNoise02Net(nn.Module):
    """The 0.2 network.

    Parameters
    ----------
    conv1_size, gru_size : int
        C (a multiple of 4) and G (a multiple of 8): the 8x4 int8 tiles need them.
    variant : {"skip", "tag"}
        :data:`~rnnoise_kit.model.v02.model.SKIP_HEADS` (main branch) or ``TAG_HEADS``.
    """

    def __init__(self, conv1_size: int = 128, gru_size: int = 384, variant: str = SKIP_HEADS):
        super().__init__()
        rows, cols = SPARSE_BLOCK
        if conv1_size < cols or conv1_size % cols:
            raise ValueError(f"conv1 size must be a positive multiple of {cols} (got {conv1_size})")
        if gru_size < rows or gru_size % rows:
            raise ValueError(f"GRU size must be a positive multiple of {rows} (got {gru_size})")
        if variant not in (SKIP_HEADS, TAG_HEADS):
            raise ValueError(f"variant must be {SKIP_HEADS!r} or {TAG_HEADS!r} (got {variant!r})")
        self.conv1_size, self.gru_size, self.variant = int(conv1_size), int(gru_size), variant
        g = self.gru_size
        self.conv1 = nn.Conv1d(INPUT_SIZE, conv1_size, CONV_KERNEL)
        self.conv2 = nn.Conv1d(conv1_size, g, CONV_KERNEL)
        self.gru1 = nn.GRU(g, g, batch_first=True)
        self.gru2 = nn.GRU(g, g, batch_first=True)
        self.gru3 = nn.GRU(g, g, batch_first=True)
        heads = 4 * g if variant == SKIP_HEADS else g
        self.dense_out = nn.Linear(heads, GAIN_SIZE)
        self.vad_dense = nn.Linear(heads, 1)
        for gru in self.grus():
            # upstream's init_weights: orthogonal recurrent matrices
            nn.init.orthogonal_(gru.weight_hh_l0)
        self.quantize = False
        """Quantisation-aware mode: conv2 and the GRUs see their int8-rounded weights and
        inputs (straight-through gradients), as the int8 export computes them."""

    def grus(self) -> tuple[nn.GRU, nn.GRU, nn.GRU]:
        return self.gru1, self.gru2, self.gru3

    @property
    def topology(self) -> dict:
        """Sizes and variant (what a checkpoint records)."""
        return {"conv1_size": self.conv1_size, "gru_size": self.gru_size,
                "variant": self.variant, "input_size": INPUT_SIZE, "gains": GAIN_SIZE}

    def quantized_conv2(self) -> torch.Tensor:
        """conv2's weights (out, in, k) int8-rounded over the exported input order k * in + c
        (the order of the pairs the scale looks at), straight-through."""
        w = self.conv2.weight.permute(0, 2, 1)  # (out, k, in)
        return fake_quantize(w.reshape(w.shape[0], -1)).view_as(w).permute(0, 2, 1)

    def zero_states(self, batch: int, device=None) -> list[torch.Tensor]:
        """Zero GRU states for ``batch`` sequences, each (1, batch, G)."""
        return [torch.zeros(1, batch, self.gru_size, device=device) for _ in range(3)]

    def _gru(self, gru: nn.GRU, x: torch.Tensor, h: torch.Tensor):
        if not self.quantize:
            return gru(x, h)
        w = {"weight_ih_l0": fake_quantize(gru.weight_ih_l0),
             "weight_hh_l0": fake_quantize(gru.weight_hh_l0, keep_diagonal=True)}
        return torch.func.functional_call(gru, w, (quantize_inputs(x), h))

    def forward(
        self,
        features: torch.Tensor,
        states: list[torch.Tensor] | None = None,
        causal: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """Gains and VAD of a batch of sequences.

        Parameters
        ----------
        features : tensor (B, T, 65)
        states : list of 3 tensors (1, B, G), optional
            GRU states to start from (zeros when omitted).
        causal : bool
            Start each convolution from a zero state (C's start): T outputs. Default: valid
            convolutions as upstream trains, T - 4 outputs, output t reading frames t..t+4.

        Returns
        -------
        gains : tensor (B, T', 32)
        vad : tensor (B, T', 1)
        states : list of 3 tensors (1, B, G)
            The GRU states after the last frame.
        """
        if states is None:
            states = self.zero_states(features.shape[0], features.device)
        pad = (CONV_KERNEL - 1, 0) if causal else (0, 0)
        x = torch.tanh(self.conv1(F.pad(features.transpose(1, 2), pad)))
        x = F.pad(x, pad)
        if self.quantize:
            x = torch.tanh(F.conv1d(quantize_inputs(x), self.quantized_conv2(),
                                    self.conv2.bias))
        else:
            x = torch.tanh(self.conv2(x))
        x = x.transpose(1, 2)
        outs, new_states = [x], []
        for gru, h in zip(self.grus(), states, strict=True):
            y, h = self._gru(gru, outs[-1], h)
            outs.append(y)
            new_states.append(h)
        heads = torch.cat(outs, dim=-1) if self.variant == SKIP_HEADS else outs[-1]
        return (torch.sigmoid(self.dense_out(heads)), torch.sigmoid(self.vad_dense(heads)),
                new_states)

    # ---------------------------------------------------------------- weight exchange

    @torch.no_grad()
    def float_layers(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The weights as :func:`~rnnoise_kit.model.v02.model.model_from_float_layers` takes
        them (input-major float32 matrices, C's gate order)."""
        def arr(t: torch.Tensor) -> np.ndarray:
            return np.ascontiguousarray(t.detach().cpu().numpy(), dtype=np.float32)

        out = {}
        for name in ("conv1", "conv2"):
            conv = getattr(self, name)
            w = conv.weight  # (out, in, k) -> row k * in + c
            out[name] = (arr(w.permute(2, 1, 0).reshape(-1, w.shape[0])), arr(conv.bias))
        g = self.gru_size
        for name, gru in zip(GRU_NAMES, self.grus(), strict=True):
            out[f"{name}_input"] = (arr(_c_gates(gru.weight_ih_l0, g).T),
                                    arr(_c_gates(gru.bias_ih_l0, g)))
            out[f"{name}_recurrent"] = (arr(_c_gates(gru.weight_hh_l0, g).T),
                                        arr(_c_gates(gru.bias_hh_l0, g)))
        for name in ("dense_out", "vad_dense"):
            lin = getattr(self, name)
            out[name] = (arr(lin.weight.T), arr(lin.bias))
        return out

    @torch.no_grad()
    def load_float_layers(self, layers: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> None:
        """Set the weights from :meth:`float_layers`' form (the inverse).

        Raises
        ------
        ValueError
            A layer is missing or has another shape than this network's.
        """
        def put(param: torch.Tensor, value: np.ndarray, what: str) -> None:
            t = torch.as_tensor(np.ascontiguousarray(value, dtype=np.float32))
            if tuple(t.shape) != tuple(param.shape):
                raise ValueError(f"{what} is {tuple(t.shape)}, this network has "
                                 f"{tuple(param.shape)}")
            param.copy_(t)

        missing = [n for n in LAYER_NAMES if n not in layers]
        if missing:
            raise ValueError(f"no {missing[0]} weights")
        for name in ("conv1", "conv2"):
            conv = getattr(self, name)
            w, b = layers[name]
            c_out, c_in, k = conv.weight.shape
            w = np.asarray(w)
            if w.shape != (k * c_in, c_out):
                raise ValueError(f"{name} weights are {w.shape}, this network has "
                                 f"{(k * c_in, c_out)}")
            put(conv.weight, w.reshape(k, c_in, c_out).transpose(2, 1, 0), name)
            put(conv.bias, b, f"{name} bias")
        g = self.gru_size
        for name, gru in zip(GRU_NAMES, self.grus(), strict=True):
            for part, wname, bname in (("input", "weight_ih_l0", "bias_ih_l0"),
                                       ("recurrent", "weight_hh_l0", "bias_hh_l0")):
                w, b = layers[f"{name}_{part}"]
                put(getattr(gru, wname), _torch_gates(w, g).T, f"{name}_{part}")
                put(getattr(gru, bname), _torch_gates(b, g), f"{name}_{part} bias")
        for name in ("dense_out", "vad_dense"):
            lin = getattr(self, name)
            w, b = layers[name]
            put(lin.weight, np.asarray(w).T, name)
            put(lin.bias, b, f"{name} bias")

    @classmethod
    def from_model(cls, model: RNNoise02Model, dequantize: bool | None = None) -> RNNoise02Net:
        """A network holding a 0.2 model's weights.

        Parameters
        ----------
        model : RNNoise02Model
        dequantize : bool, optional
            Take the int8 layers' int8 weights (times their scale) rather than their float
            twins. Default: the float twins when the model has them (what C computes with),
            the int8 weights otherwise.
        """
        net = cls(model.conv1_size, model.gru_size, model.variant)
        if dequantize is None:
            dequantize = model.precision != "float"
        net.load_float_layers(model.dequantized_layers() if dequantize else model.float_layers())
        return net
