"""The RNNoise v0.1 network (spec sections 10 and 13) as a ``torch.nn.Module``.

Layers (Keras names, in the order of the C model / ``.rnnn`` file), with the classic sizes
(``sizes`` chooses the units of the dense layer and the three GRUs, the rest follows)::

    input_dense     Dense(42 -> 24, tanh)        on the features
    vad_gru         GRU(24 -> 24)                 on input_dense
    noise_gru       GRU(90 -> 48)                 on [input_dense, vad_gru, features]
    denoise_gru     GRU(114 -> 96)                on [vad_gru, noise_gru, features]
    denoise_output  Dense(96 -> 22, sigmoid)      on denoise_gru  -> gains
    vad_output      Dense(24 -> 1, sigmoid)       on vad_gru      -> VAD

Weights are exchanged as NumPy arrays in the Keras layouts: Dense ``[kernel (M, N), bias (N,)]``,
GRU ``[kernel (M, 3N), recurrent_kernel (N, 3N), bias (3N,)]`` with gate blocks ``[z | r | h]``,
which flatten row-major to the ``.rnnn`` / C arrays (spec 10.2).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn

from rnnoise_kit.dsp.constants import NB_FEATURES
from rnnoise_kit.model.core import CLASSIC_SIZES, HIDDEN_LAYERS, LAYER_NAMES, layer_sizes

from .gru import ACTIVATION_CODES, GRU, Activation, Backend

__all__ = [
    "INPUT_SIZE",
    "LAYER_NAMES",
    "Dense",
    "LayerInfo",
    "RNNoiseNet",
]

INPUT_SIZE = NB_FEATURES
"""Features per frame."""

_ACTS = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu}


@dataclass(frozen=True)
class LayerInfo:
    """Shape and activation of one layer.

    Attributes
    ----------
    name : str
    kind : {"dense", "gru"}
    nb_inputs : int
    nb_neurons : int
    activation : {"tanh", "sigmoid", "relu"}
    activation_code : int
        ``.rnnn`` code: 0 tanh, 1 sigmoid, 2 relu.
    """

    name: str
    kind: Literal["dense", "gru"]
    nb_inputs: int
    nb_neurons: int
    activation: Activation
    activation_code: int


class Dense(nn.Module):
    """Keras ``Dense`` with a (M, N) kernel.

    Parameters
    ----------
    input_size, units : int
    activation : {"tanh", "sigmoid", "relu"}
    """

    def __init__(self, input_size: int, units: int, activation: Activation) -> None:
        super().__init__()
        if activation not in _ACTS:
            raise ValueError(f"unknown activation {activation!r}")
        self.input_size = int(input_size)
        self.units = int(units)
        self.activation: Activation = activation
        self.kernel = nn.Parameter(torch.empty(self.input_size, self.units))
        self.bias = nn.Parameter(torch.zeros(self.units))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Glorot-uniform kernel, zero bias (Keras defaults)."""
        lim = math.sqrt(6.0 / (self.input_size + self.units))
        with torch.no_grad():
            self.kernel.uniform_(-lim, lim)
            self.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply ``act(x @ kernel + bias)`` on the last axis of ``x`` (..., M)."""
        lead = x.shape[:-1]
        y = torch.addmm(self.bias, x.reshape(-1, self.input_size), self.kernel)
        return _ACTS[self.activation](y).reshape(*lead, self.units)

    def extra_repr(self) -> str:  # noqa: D102
        return f"{self.input_size}, {self.units}, activation={self.activation!r}"


class RNNoiseNet(nn.Module):
    """RNNoise v0.1 network.

    Parameters
    ----------
    activations : sequence of 3 str
        Candidate activations of ``(vad_gru, noise_gru, denoise_gru)``. The default
        ``("tanh", "relu", "tanh")`` is ``rnn_train.py``; the shipped model uses
        ``("relu", "relu", "relu")``.
    backend : {"auto", "numba", "triton", "torch"}
        GRU recurrence implementation (see :func:`rnnoise_kit.training.gru.gru_recurrence`).
    sizes : sequence of 4 int
        Units of ``(input_dense, vad_gru, noise_gru, denoise_gru)``; default the classic
        ``(24, 24, 48, 96)`` (:data:`~rnnoise_kit.model.core.CLASSIC_SIZES`).

    Notes
    -----
    ``forward(x)`` takes features (B, T, 42) and returns ``(gains (B, T, 22), vad (B, T, 1))``;
    every sequence starts from a zero GRU state.
    """

    def __init__(
        self,
        activations: Sequence[Activation] = ("tanh", "relu", "tanh"),
        backend: Backend = "auto",
        sizes: Sequence[int] = CLASSIC_SIZES,
    ) -> None:
        super().__init__()
        acts = tuple(activations)
        if len(acts) != 3 or any(a not in ACTIVATION_CODES for a in acts):
            raise ValueError(f"activations must be 3 of {sorted(ACTIVATION_CODES)}, got {acts}")
        hidden = tuple(int(n) for n in sizes)
        if len(hidden) != 4 or min(hidden) < 1:
            raise ValueError(f"sizes must be 4 positive unit counts, got {tuple(sizes)}")
        shape = layer_sizes(hidden)
        self.input_dense = Dense(*shape["input_dense"], "tanh")
        self.vad_gru = GRU(*shape["vad_gru"], acts[0], backend)
        self.vad_output = Dense(*shape["vad_output"], "sigmoid")
        self.noise_gru = GRU(*shape["noise_gru"], acts[1], backend)
        self.denoise_gru = GRU(*shape["denoise_gru"], acts[2], backend)
        self.denoise_output = Dense(*shape["denoise_output"], "sigmoid")

    @property
    def sizes(self) -> tuple[int, int, int, int]:
        """Units of ``(input_dense, vad_gru, noise_gru, denoise_gru)``."""
        return tuple(self.layer_info()[LAYER_NAMES.index(n)].nb_neurons  # type: ignore[return-value]
                     for n in HIDDEN_LAYERS)

    @property
    def activations(self) -> tuple[Activation, Activation, Activation]:
        """Candidate activations of ``(vad_gru, noise_gru, denoise_gru)``."""
        return (self.vad_gru.activation, self.noise_gru.activation, self.denoise_gru.activation)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the network.

        Parameters
        ----------
        x : Tensor, shape (B, T, 42)

        Returns
        -------
        gains : Tensor, shape (B, T, 22)
        vad : Tensor, shape (B, T, 1)
        """
        if x.dim() != 3 or x.shape[-1] != INPUT_SIZE:
            raise ValueError(f"expected (B, T, {INPUT_SIZE}) features, got {tuple(x.shape)}")
        x = x.contiguous()  # one copy here instead of one per layer that reads the features
        dense = self.input_dense(x)
        vad_h = self.vad_gru(dense)
        vad = self.vad_output(vad_h)
        noise_h = self.noise_gru([dense, vad_h, x])
        denoise_h = self.denoise_gru([vad_h, noise_h, x])
        gains = self.denoise_output(denoise_h)
        return gains, vad

    # ---------------------------------------------------------------- weights
    def layer(self, name: str) -> Dense | GRU:
        """Return the layer module called ``name`` (one of :data:`LAYER_NAMES`)."""
        if name not in LAYER_NAMES:
            raise KeyError(f"unknown layer {name!r}; expected one of {LAYER_NAMES}")
        return getattr(self, name)

    def layer_info(self) -> list[LayerInfo]:
        """Shapes and activations of the six layers, in :data:`LAYER_NAMES` order."""
        out = []
        for name in LAYER_NAMES:
            lay = self.layer(name)
            if isinstance(lay, GRU):
                out.append(
                    LayerInfo(
                        name,
                        "gru",
                        lay.input_size,
                        lay.hidden_size,
                        lay.activation,
                        ACTIVATION_CODES[lay.activation],
                    )
                )
            else:
                out.append(
                    LayerInfo(
                        name,
                        "dense",
                        lay.input_size,
                        lay.units,
                        lay.activation,
                        ACTIVATION_CODES[lay.activation],
                    )
                )
        return out

    def get_weights(self) -> dict[str, list[np.ndarray]]:
        """Weights as float32 NumPy copies in Keras layouts, keyed by layer name.

        Returns
        -------
        dict
            ``{name: [kernel (M, N), bias (N,)]}`` for Dense layers and
            ``{name: [kernel (M, 3N), recurrent_kernel (N, 3N), bias (3N,)]}`` for GRUs, in
            :data:`LAYER_NAMES` order (gate blocks ``[z | r | h]``).
        """
        out: dict[str, list[np.ndarray]] = {}
        for name in LAYER_NAMES:
            lay = self.layer(name)
            params = (
                [lay.kernel, lay.recurrent_kernel, lay.bias]
                if isinstance(lay, GRU)
                else [lay.kernel, lay.bias]
            )
            out[name] = [p.detach().cpu().numpy().astype(np.float32, copy=True) for p in params]
        return out

    def set_weights(self, weights: Mapping[str, Sequence[np.ndarray]], strict: bool = True) -> None:
        """Load weights in the format of :meth:`get_weights`.

        Parameters
        ----------
        weights : mapping
            Layer name -> list of arrays (any float dtype; also accepts array-likes of the right
            size, which are reshaped, e.g. flattened ``.rnnn`` arrays divided by 256).
        strict : bool
            Require all six layers.
        """
        missing = [n for n in LAYER_NAMES if n not in weights]
        if strict and missing:
            raise KeyError(f"missing layers: {missing}")
        unknown = [n for n in weights if n not in LAYER_NAMES]
        if unknown:
            raise KeyError(f"unknown layers: {unknown}")
        for name, arrays in weights.items():
            lay = self.layer(name)
            params = (
                [lay.kernel, lay.recurrent_kernel, lay.bias]
                if isinstance(lay, GRU)
                else [lay.kernel, lay.bias]
            )
            if len(arrays) != len(params):
                raise ValueError(f"{name}: expected {len(params)} arrays, got {len(arrays)}")
            for p, a in zip(params, arrays, strict=True):
                arr = np.asarray(a, dtype=np.float64)
                if arr.size != p.numel():
                    raise ValueError(
                        f"{name}: array of shape {arr.shape} does not fit {tuple(p.shape)}"
                    )
                with torch.no_grad():
                    p.copy_(torch.from_numpy(arr.reshape(tuple(p.shape))).to(p))

    # ---------------------------------------------------------------- constraints
    @torch.no_grad()
    def clip_weights_(self, limit: float = 0.499) -> None:
        """Clip every weight to ``[-limit, limit]`` in place (Keras ``WeightClip``)."""
        for p in self.parameters():
            p.clamp_(-limit, limit)

    def regularization_loss(self, l2: float = 1e-6) -> torch.Tensor:
        """Keras ``L2(l2)`` penalty of the GRU kernels and recurrent kernels (``rnn_train.py``)."""
        total = None
        for lay in (self.vad_gru, self.noise_gru, self.denoise_gru):
            for p in (lay.kernel, lay.recurrent_kernel):
                s = p.square().sum()
                total = s if total is None else total + s
        return l2 * total
