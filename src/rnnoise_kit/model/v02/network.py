"""The RNNoise 0.2 network (``compute_rnn``), float32-exact to the plain scalar C build.

Topology (spec rnnoise-v0.2 sections 0, 5, 6), all sizes those of the validated
:class:`~rnnoise_kit.model.v02.model.RNNoise02Model`::

    features (F = 65) -> conv1 (3 taps, F -> C = 128, tanh) -> conv2 (3 taps, C -> G, tanh)
      -> GRU1 (G) -> GRU2 (G) -> GRU3 (G)
      -> dense_out (H -> 32, sigmoid) and vad_dense (H -> 1, sigmoid)

with H = 4G, the heads reading ``[conv2, GRU1, GRU2, GRU3]`` (upstream's main branch after
v0.2, what pyrnnoise ships), or H = G, the heads reading GRU3 only (tag v0.2). Each linear layer
runs the way ``compute_linear`` chooses: its float weights (``*_weights_float``) when present,
else its int8 weights with per-output scale (the scalar, non-``USE_SU_BIAS`` path, which adds
``*_bias``, not ``*_subias``).

Offline, the network runs layer by layer over a block of frames: the convolutions and every GRU's
input projection are matrix-matrix products (weights read once per block) and only the GRUs'
recurrent products go frame by frame. Each output keeps C's summation order, so a block gives
the same bits as one frame at a time. Silent frames (the DSP's silence flag) are skipped as in
``rnnoise_process_frame``: no state change, gains and VAD 0.

>>> from rnnoise_kit.model import load_model
>>> net = Network02(load_model("weights.bin"))                        # doctest: +SKIP
>>> gains, vad = net.process(features, silence)                         # doctest: +SKIP
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from rnnoise_kit.errors import ModelFormatError
from rnnoise_kit.model.v02 import _kernels as k
from rnnoise_kit.model.v02.blob import WeightRecord
from rnnoise_kit.model.v02.model import (
    CONV_KERNEL,
    GAIN_SIZE,
    GRU_NAMES,
    INPUT_SIZE,
    LAYER_SPECS,
    SKIP_HEADS,
    SPARSE_BLOCK,
    RNNoise02Model,
)

__all__ = [
    "NetworkLayers02",
    "NetworkState02",
    "Network02",
    "layers_from_arrays",
]

_INT8_EXACT_INPUTS = (1 << 24) // (127 * 127)
"""Widest integer layer whose sums (|w|, |x| <= 127) stay below 2**24, i.e. exact in float32."""
_BLOCK_FRAMES = 256
"""Frames per pass of the offline path: bounds the work buffers (about 6 MB at G = 384)."""
_SLOT_ORDER = ("conv1", "conv2", *(f"{g}_input" for g in GRU_NAMES),
               *(f"{g}_recurrent" for g in GRU_NAMES), "dense_out", "vad_dense")
"""Layer names in the slot order of :func:`_kernels.network_block`."""
assert len(_SLOT_ORDER) == k.NB_SLOTS

_EMPTY = np.zeros(0, np.float32)

ModelSource = RNNoise02Model | Mapping[str, np.ndarray] | Iterable[WeightRecord]
"""What a network can be built from: a validated model, or the named arrays of one."""


def _as_model(source: ModelSource, path: str | os.PathLike | None) -> RNNoise02Model:
    if isinstance(source, RNNoise02Model):
        return source
    if isinstance(source, Mapping):
        return RNNoise02Model.from_arrays(source, path)
    return RNNoise02Model.from_records(list(source), path)


def _float32(values: np.ndarray | None) -> np.ndarray:
    """A writable, contiguous float32 copy (one array type for every kernel argument)."""
    return _EMPTY if values is None else np.array(values, dtype=np.float32)


@dataclass(frozen=True, eq=False)
class NetworkLayers02:
    """A validated model's layers in the form the kernels take; shared by any number of networks.

    Attributes
    ----------
    model : RNNoise02Model
        The model (its ``layers`` say which run int8: those without float weights).
    weights : dict of str -> float32 array (n_in, n_out)
        Per layer name: ``weights[j, i]`` multiplies input j into output i; each output sums its
        inputs in row order, which is C's order. Float layers hold the float weights (zeros where
        a sparse block is absent); integer layers hold the int8 values, converted exactly. All
        in one buffer (:func:`side_by_side`).
    biases, scales, diags : dict of str -> float32 array
        Per layer name: bias (n_out,); scale (n_out,) of a layer run in int8, empty for float
        ones; recurrent diagonal (n_out,), empty where there is none.
    """

    model: RNNoise02Model
    weights: dict[str, np.ndarray]
    biases: dict[str, np.ndarray]
    scales: dict[str, np.ndarray]
    diags: dict[str, np.ndarray]
    nb_features: ClassVar[int] = INPUT_SIZE
    """Network inputs per frame (65)."""
    nb_bands: ClassVar[int] = GAIN_SIZE
    """Gains per frame (32)."""

    @classmethod
    def from_model(
        cls, model: RNNoise02Model, path: str | os.PathLike | None = None
    ) -> NetworkLayers02:
        """Lay out a validated model for the kernels.

        Raises
        ------
        ModelFormatError
            What C runs but these kernels cannot reproduce bit for bit: a sparse index whose
            blocks overlap or descend within a group of 8 outputs, or an integer layer whose
            sums could pass 2**24; the message names the array.
        """
        weights, biases, scales, diags = {}, {}, {}, {}
        for spec in LAYER_SPECS:
            layer = model.layers[spec.name]
            names = spec.array_names()
            if layer.is_sparse:
                _check_block_order(layer.blocks(), names["weights_idx"], path)
            if layer.runs_float:
                weights[spec.name] = layer.dense_float()
            else:
                if layer.nb_inputs > _INT8_EXACT_INPUTS:
                    raise ModelFormatError(
                        path, f"{layer.nb_inputs} inputs: integer sums could exceed 2**24 "
                        "(not emulated exactly)", f"array {names['weights']!r}")
                weights[spec.name] = layer.dense_int8().astype(np.float32)
            biases[spec.name] = _float32(layer.bias)
            scales[spec.name] = _EMPTY if layer.runs_float else _float32(layer.scale)
            diags[spec.name] = _float32(layer.diag)
        # one buffer, in the order a frame reads them
        order = ["conv1", "conv2", *(f"{g}_{part}" for g in GRU_NAMES
                                     for part in ("input", "recurrent")), "dense_out", "vad_dense"]
        weights = dict(zip(order, side_by_side([weights[n] for n in order]), strict=True))
        return cls(model, weights, biases, scales, diags)

    def packed(self) -> tuple[tuple[np.ndarray, ...], ...]:
        """(weights, biases, scales, diags), each a tuple in the kernels' slot order."""
        return tuple(tuple(part[name] for name in _SLOT_ORDER)
                     for part in (self.weights, self.biases, self.scales, self.diags))

    @property
    def skip_heads(self) -> bool:
        """True: the heads read ``[conv2, GRU1, GRU2, GRU3]`` (main branch); False: GRU3 only."""
        return self.model.variant == SKIP_HEADS

    @property
    def quantized(self) -> bool:
        """True when any layer runs int8 weights (a blob without the float twins)."""
        return self.model.precision != "float"

    @property
    def conv1_size(self) -> int:
        return self.model.conv1_size

    @property
    def gru_size(self) -> int:
        """G: units of each GRU (and outputs of conv2)."""
        return self.model.gru_size



_HUGE_PAGE = 2 << 20
"""Bytes of a transparent huge page (x86-64, and arm64 with 4 KiB base pages)."""


def side_by_side(arrays: list[np.ndarray]) -> list[np.ndarray]:
    """Copies of ``arrays``, one after another (64-byte aligned) in a single buffer, backed by
    transparent huge pages where the system grants them (Linux ``MADV_HUGEPAGE``).

    One frame streams every weight once (11.5 MB at G = 384): in 4 KiB pages that is a TLB miss
    every 4 KiB, which measured about 20% of a single frame's network time on a shared machine;
    2 MiB pages remove nearly all of them. Below one huge page, or where the system has no
    ``madvise``, the buffer is ordinary memory (same values, same kernels).
    """
    sizes = [-(-a.nbytes // 64) * 64 for a in arrays]
    total = sum(sizes)
    buf = None
    if total >= _HUGE_PAGE and hasattr(mmap, "MADV_HUGEPAGE") and hasattr(mmap, "MAP_PRIVATE"):
        length = -(-total // _HUGE_PAGE) * _HUGE_PAGE + _HUGE_PAGE  # room to align the start
        try:
            region = mmap.mmap(-1, length, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
            raw = np.frombuffer(region, np.uint8)
            start = -raw.ctypes.data % _HUGE_PAGE
            region.madvise(mmap.MADV_HUGEPAGE, start, length - start)
            buf = raw[start:]
        except (OSError, ValueError):  # no anonymous mappings or no THP here: plain memory
            buf = None
    if buf is None:
        raw = np.empty(total + 64, np.uint8)
        buf = raw[-raw.ctypes.data % 64 :]
    out, offset = [], 0
    for a, size in zip(arrays, sizes, strict=True):
        view = buf[offset : offset + a.nbytes].view(a.dtype).reshape(a.shape)
        view[...] = a
        out.append(view)
        offset += size
    return out


def _check_block_order(groups: list[np.ndarray], name: str, path) -> None:
    """Refuse blocks that overlap or descend within a group of 8 outputs.

    They would make an output sum an input twice or out of order; upstream's exporter never
    writes them, and the dense (n_in, n_out) form cannot keep C's order for them.
    """
    for g, offsets in enumerate(groups):
        if offsets.size > 1 and np.any(np.diff(offsets.astype(np.int64)) < SPARSE_BLOCK[1]):
            raise ModelFormatError(
                path, f"group {g}: block offsets not ascending by >= {SPARSE_BLOCK[1]} "
                "(unsupported)", f"array {name!r}")


def layers_from_arrays(
    source: ModelSource, path: str | os.PathLike | None = None
) -> NetworkLayers02:
    """The kernel form of a model, or of named arrays validated as one.

    Parameters
    ----------
    source : RNNoise02Model, mapping name -> 1-D array, or iterable of WeightRecord
        Arrays are validated by :meth:`RNNoise02Model.from_arrays` / ``from_records``
        (float arrays float32, ``*_weights_int8`` int8, ``*_weights_idx`` int32).
    path : path-like, optional
        Named in error messages.

    Raises
    ------
    ModelFormatError
        Anything the model refuses, or what :meth:`NetworkLayers02.from_model` refuses; one
        line naming the array.
    """
    return NetworkLayers02.from_model(_as_model(source, path), path)


# --- state and inference ------------------------------------------------------------------


@dataclass
class NetworkState02:
    """The state ``compute_rnn`` carries (``RNNState`` of 0.2): all zero after ``rnnoise_init``.

    Attributes
    ----------
    conv1_mem : float32 (2, F)
        The previous two network inputs, oldest first.
    conv2_mem : float32 (2, C)
        The previous two conv1 outputs.
    gru : float32 (3, G)
        GRU1..3 states.
    """

    conv1_mem: np.ndarray
    conv2_mem: np.ndarray
    gru: np.ndarray

    @classmethod
    def zeros(cls, nb_features: int, conv1_size: int, gru_size: int) -> NetworkState02:
        taps = CONV_KERNEL - 1
        return cls(np.zeros((taps, nb_features), np.float32),
                   np.zeros((taps, conv1_size), np.float32),
                   np.zeros((3, gru_size), np.float32))

    def copy(self) -> NetworkState02:
        return NetworkState02(self.conv1_mem.copy(), self.conv2_mem.copy(), self.gru.copy())

    def reset(self) -> None:
        """Zero the state in place."""
        self.conv1_mem[:] = 0
        self.conv2_mem[:] = 0
        self.gru[:] = 0


class Network02:
    """A 0.2 model ready for inference.

    Parameters
    ----------
    model : RNNoise02Model, NetworkLayers02, mapping name -> array, or iterable of WeightRecord
        The model; anything but prepared layers goes through :func:`layers_from_arrays`
        (named arrays are validated as an :class:`RNNoise02Model` first).

    Attributes
    ----------
    layers : NetworkLayers02
        The model in kernel form (``layers.model`` is the :class:`RNNoise02Model`).

    Notes
    -----
    One instance serves any number of states (streams), but keeps its work buffers between
    calls: use one instance per thread (instances built from the same ``NetworkLayers02``
    share its weights).
    """

    def __init__(self, model: NetworkLayers02 | ModelSource):
        layers = model if isinstance(model, NetworkLayers02) else layers_from_arrays(model)
        self.layers = layers
        self._packed = layers.packed()
        self._work_buffers: tuple[np.ndarray, ...] | None = None

    @property
    def model(self) -> RNNoise02Model:
        return self.layers.model

    @property
    def packed(self) -> tuple[tuple[np.ndarray, ...], ...]:
        """(weights, biases, scales, diags) in the kernels' slot order (``layers.packed()``,
        kept), what :func:`_kernels.network_block` takes."""
        return self._packed

    nb_features = NetworkLayers02.nb_features
    nb_bands = NetworkLayers02.nb_bands

    def new_state(self) -> NetworkState02:
        """A zero state (as after ``rnnoise_init``)."""
        lay = self.layers
        return NetworkState02.zeros(lay.nb_features, lay.conv1_size, lay.gru_size)

    def _check_state(self, state: NetworkState02) -> None:
        lay = self.layers
        taps = CONV_KERNEL - 1
        shapes = {"conv1_mem": (taps, lay.nb_features), "conv2_mem": (taps, lay.conv1_size),
                  "gru": (3, lay.gru_size)}
        for field, shape in shapes.items():
            have = getattr(state, field)
            if have.shape != shape or have.dtype != np.float32:
                raise ValueError(f"state.{field} is {have.dtype}{have.shape}, this model needs "
                                 f"float32{shape}")

    def _work(self, n: int) -> tuple[np.ndarray, ...]:
        """Work buffers for blocks of up to ``n`` frames (kept between calls)."""
        buf = self._work_buffers
        if buf is None or buf[3].shape[0] < n:
            lay = self.layers
            taps = CONV_KERNEL - 1
            g = lay.gru_size
            buf = (
                np.zeros((n + taps, lay.nb_features), np.float32),  # conv1 input window
                np.zeros((n + taps, lay.conv1_size), np.float32),   # conv1 out = conv2 input window
                np.zeros((n + taps) * max(lay.conv1_size, 4 * g), np.float32),  # quantised inputs
                np.zeros((n, 4 * g), np.float32),                   # [conv2, GRU1, GRU2, GRU3]
                np.zeros((n, 3 * g), np.float32),                   # GRU input projections
                np.zeros(3 * g, np.float32),                        # recurrent product
                np.zeros(g, np.float32),                            # quantised state
            )
            self._work_buffers = buf
        return buf

    def _run_block(self, x: np.ndarray, state: NetworkState02, gains: np.ndarray,
                   vad: np.ndarray) -> None:
        """Run ``len(x)`` consecutive non-silent frames; write gains (n, B) and vad (n, 1)."""
        k.network_block(x, x.shape[0], state.conv1_mem, state.conv2_mem, state.gru,
                        *self._packed, self.layers.skip_heads, *self._work(x.shape[0]), gains, vad)

    def process(
        self,
        features: np.ndarray,
        silence: np.ndarray | None = None,
        state: NetworkState02 | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Run the network over consecutive frames, carrying ``state``.

        Parameters
        ----------
        features : array (n, F)
            Network inputs (F = 65), converted to float32.
        silence : bool array (n,), optional
            Frames the DSP found silent: the network is not run for them (gains 0, VAD 0, state
            untouched), as in ``rnnoise_process_frame``.
        state : NetworkState02, optional
            Updated in place; a zero state when omitted. One frame at a time (n = 1) and whole
            blocks give identical results.

        Returns
        -------
        gains : float32 array (n, 32)
        vad : float32 array (n,)
        """
        x = np.ascontiguousarray(features, dtype=np.float32)
        nf = self.nb_features
        if x.ndim != 2 or x.shape[1] != nf:
            raise ValueError(f"features must have shape (n, {nf}), got {x.shape}")
        n = x.shape[0]
        mask = None
        if silence is not None:
            mask = np.asarray(silence, dtype=np.bool_).reshape(-1)
            if mask.size != n:
                raise ValueError(f"silence has {mask.size} values for {n} frames")
        if state is None:
            state = self.new_state()
        self._check_state(state)
        gains = np.zeros((n, self.nb_bands), np.float32)
        vad = np.zeros(n, np.float32)
        if mask is None or not mask.any():
            # every frame runs (streaming's common case): straight into the outputs
            self._run_blocks(x, state, gains, vad.reshape(n, 1))
            return gains, vad
        active = np.flatnonzero(~mask)
        if active.size == 0:
            return gains, vad
        ga = np.empty((active.size, self.nb_bands), np.float32)
        va = np.empty((active.size, 1), np.float32)
        self._run_blocks(x[active], state, ga, va)
        gains[active] = ga
        vad[active] = va[:, 0]
        return gains, vad

    def _run_blocks(self, x: np.ndarray, state: NetworkState02, gains: np.ndarray,
                    vad: np.ndarray) -> None:
        """Run consecutive non-silent frames in blocks of at most ``_BLOCK_FRAMES``."""
        n = x.shape[0]
        block = min(_BLOCK_FRAMES, n)
        for s in range(0, n, block):
            e = min(s + block, n)
            self._run_block(x[s:e], state, gains[s:e], vad[s:e])
