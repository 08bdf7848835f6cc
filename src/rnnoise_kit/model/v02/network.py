"""The RNNoise 0.2 network (``compute_rnn``), float32-exact to the plain scalar C build.

Topology (spec rnnoise-v0.2 sections 0, 5, 6), all sizes read from the arrays::

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

>>> from rnnoise_kit.model.v02 import parse_blob
>>> net = Network02(parse_blob(open("weights.bin", "rb").read()))      # doctest: +SKIP
>>> gains, vad = net.process(features, silence)                         # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from rnnoise_kit.errors import ModelFormatError
from rnnoise_kit.model.v02 import _kernels as k
from rnnoise_kit.model.v02.blob import WeightRecord

__all__ = [
    "CONV_TAPS",
    "SPARSE_BLOCK",
    "LinearLayer02",
    "NetworkLayers02",
    "NetworkState02",
    "Network02",
    "layers_from_arrays",
]

CONV_TAPS = 3
"""Kernel size (frames) of conv1 and conv2; their state is the previous ``CONV_TAPS - 1`` inputs."""
SPARSE_BLOCK = (8, 4)
"""Outputs x inputs of one weight block of the 8x4 formats (``sparse_sgemv8x4``, ``cgemv8x4``)."""
_INT8_EXACT_INPUTS = (1 << 24) // (127 * 127)
"""Widest integer layer whose sums (|w|, |x| <= 127) stay below 2**24, i.e. exact in float32."""
_BLOCK_FRAMES = 256
"""Frames per pass of the offline path: bounds the work buffers (about 6 MB at G = 384)."""

_EMPTY = np.zeros(0, np.float32)


@dataclass(frozen=True)
class LinearLayer02:
    """One ``LinearLayer`` as the network runs it.

    Attributes
    ----------
    name : str
        Array-name prefix (``"conv2"``, ``"gru1_recurrent"``...).
    weights : float32 array (n_in, n_out)
        ``weights[j, i]`` multiplies input j into output i; each output sums its inputs in row
        order, which is C's order. Float layers hold the float weights (zeros where a sparse
        block is absent); integer layers hold the int8 values, converted exactly.
    bias : float32 array (n_out,)
    scale : float32 array (n_out,) or None
        Per-output scale of an integer layer (None: float layer).
    diag : float32 array (n_out,) or None
        Separate diagonal of a GRU recurrent matrix (n_out = 3 n_in).
    """

    name: str
    weights: np.ndarray
    bias: np.ndarray
    scale: np.ndarray | None = None
    diag: np.ndarray | None = None

    @property
    def n_in(self) -> int:
        return int(self.weights.shape[0])

    @property
    def n_out(self) -> int:
        return int(self.weights.shape[1])

    @property
    def quantized(self) -> bool:
        """True when the layer runs its int8 weights."""
        return self.scale is not None


@dataclass(frozen=True)
class NetworkLayers02:
    """The layers of a 0.2 network (what ``init_rnnoise`` sets up), ready for the kernels.

    Attributes
    ----------
    conv1, conv2, dense_out, vad_dense : LinearLayer02
    gru_input, gru_recurrent : tuple of three LinearLayer02
        GRU1..3.
    skip_heads : bool
        True: the heads read ``[conv2, GRU1, GRU2, GRU3]`` (main branch); False: GRU3 only
        (tag v0.2).
    """

    conv1: LinearLayer02
    conv2: LinearLayer02
    gru_input: tuple[LinearLayer02, LinearLayer02, LinearLayer02]
    gru_recurrent: tuple[LinearLayer02, LinearLayer02, LinearLayer02]
    dense_out: LinearLayer02
    vad_dense: LinearLayer02
    skip_heads: bool

    @property
    def nb_features(self) -> int:
        """Network inputs per frame (65)."""
        return self.conv1.n_in // CONV_TAPS

    @property
    def conv1_size(self) -> int:
        return self.conv1.n_out

    @property
    def gru_size(self) -> int:
        """G: units of each GRU (and outputs of conv2)."""
        return self.conv2.n_out

    @property
    def nb_bands(self) -> int:
        """Gains per frame (32)."""
        return self.dense_out.n_out

    @property
    def quantized(self) -> bool:
        """True when any layer runs int8 weights (a blob without the float twins)."""
        return any(lay.quantized for lay in self._all())

    def _all(self) -> tuple[LinearLayer02, ...]:
        return (self.conv1, self.conv2, *self.gru_input, *self.gru_recurrent,
                self.dense_out, self.vad_dense)


# --- building the layers from named arrays ------------------------------------------------


class _Arrays:
    def __init__(self, arrays: Mapping[str, np.ndarray], path):
        self.arrays = arrays
        self.path = path

    def fail(self, name: str, problem: str) -> ModelFormatError:
        return ModelFormatError(self.path, problem, f"array {name!r}")

    def get(self, name: str, dtype, size: int | None = None, required: bool = True):
        arr = self.arrays.get(name)
        if arr is None:
            if required:
                raise self.fail(name, "missing")
            return None
        arr = np.asarray(arr).reshape(-1)
        if arr.dtype != np.dtype(dtype):
            raise self.fail(name, f"has type {arr.dtype}, expected {np.dtype(dtype)}")
        if size is not None and arr.size != size:
            raise self.fail(name, f"has {arr.size} values, expected {size}")
        return arr

    def size_of(self, name: str) -> int:
        return int(self.get(name, np.float32).size)


def _sparse_blocks(a: _Arrays, name: str, n_in: int, n_out: int) -> list[np.ndarray]:
    """Per group of 8 outputs, its ascending block offsets (checked like ``find_idx_check``)."""
    idx = a.get(name, np.int32)
    groups: list[np.ndarray] = []
    pos = 0
    for g in range(n_out // SPARSE_BLOCK[0]):
        if pos >= idx.size:
            raise a.fail(name, f"ends before output group {g} of {n_out // SPARSE_BLOCK[0]}")
        count = int(idx[pos])
        pos += 1
        if count < 0 or pos + count > idx.size:
            raise a.fail(name, f"output group {g}: block count {count} runs past the array")
        offsets = idx[pos : pos + count].astype(np.int64)
        pos += count
        if count and (offsets.min() < 0 or offsets.max() + SPARSE_BLOCK[1] > n_in):
            last = n_in - SPARSE_BLOCK[1]
            raise a.fail(name, f"output group {g}: block offset outside 0..{last}")
        if count > 1 and np.any(np.diff(offsets) < SPARSE_BLOCK[1]):
            # Overlapping or descending blocks would make an output sum an input twice or out of
            # order; upstream's exporter never writes them, and the dense form cannot keep it.
            raise a.fail(name, f"output group {g}: block offsets not ascending by >= 4 "
                         "(unsupported)")
        groups.append(offsets)
    if pos != idx.size:
        raise a.fail(name, f"has {idx.size - pos} values after the last output group")
    return groups


def _dense_from_sparse(groups: list[np.ndarray], blocks: np.ndarray, n_in: int, n_out: int,
                       order: str) -> np.ndarray:
    """(n_in, n_out) matrix from 8x4 blocks.

    ``order`` "kr": block element ``w[k*8 + r]`` (float weights), "rk": ``w[r*4 + k]`` (int8).

    Absent blocks become zeros: adding ``0*x`` to a sum that started at +0 changes no bit.
    """
    rows, cols = SPARSE_BLOCK
    w = np.zeros((n_in, n_out), np.float32)
    group = np.repeat(np.arange(len(groups)), [g.size for g in groups])
    if group.size == 0:
        return w
    offset = np.concatenate(groups)
    tiles = blocks.astype(np.float32)
    if order == "kr":
        tiles = tiles.reshape(-1, cols, rows)
    else:
        tiles = tiles.reshape(-1, rows, cols).transpose(0, 2, 1)
    full = np.tile(np.arange(0, n_in, cols), len(groups))
    if np.array_equal(offset, full):
        # every block present (no pruning, as in the pyrnnoise weights): one transpose
        tiles = tiles.reshape(len(groups), n_in // cols, cols, rows).transpose(1, 2, 0, 3)
        return np.ascontiguousarray(tiles.reshape(n_in, n_out))
    # blocks do not overlap (checked), so each weight lands in its own cell
    r_idx = offset[:, None, None] + np.arange(cols)[None, :, None]
    c_idx = rows * group[:, None, None] + np.arange(rows)[None, None, :]
    w[r_idx, c_idx] = tiles
    return w


def _linear(a: _Arrays, name: str, n_in: int, n_out: int, sparse: bool = False,
            diag: bool = False) -> LinearLayer02:
    rows, cols = SPARSE_BLOCK
    bias = a.get(f"{name}_bias", np.float32, n_out)
    diag_arr = a.get(f"{name}_weights_diag", np.float32, n_out, required=diag) if diag else None
    has_float = f"{name}_weights_float" in a.arrays
    has_int8 = f"{name}_weights_int8" in a.arrays
    if not (has_float or has_int8):
        raise a.fail(f"{name}_weights_float", "missing (and no int8 weights either)")
    groups = None
    nblocks = 0
    if sparse:
        if n_out % rows:
            raise a.fail(f"{name}_weights_idx", f"{n_out} outputs are not whole groups of {rows}")
        groups = _sparse_blocks(a, f"{name}_weights_idx", n_in, n_out)
        nblocks = sum(g.size for g in groups)
    if has_float:
        size = nblocks * rows * cols if sparse else n_in * n_out
        flt = a.get(f"{name}_weights_float", np.float32, size)
        if sparse:
            w = _dense_from_sparse(groups, flt.reshape(-1, rows * cols), n_in, n_out, "kr")
        else:
            w = flt.reshape(n_in, n_out).astype(np.float32, copy=True)
        return LinearLayer02(name, w, bias.copy(), None,
                             None if diag_arr is None else diag_arr.copy())
    if n_in > _INT8_EXACT_INPUTS:
        raise a.fail(f"{name}_weights_int8", f"{n_in} inputs: integer sums could exceed 2**24 "
                     "(not emulated exactly)")
    scale = a.get(f"{name}_scale", np.float32, n_out)
    if sparse:
        q = a.get(f"{name}_weights_int8", np.int8, nblocks * rows * cols)
        w = _dense_from_sparse(groups, q.reshape(-1, rows * cols), n_in, n_out, "rk")
    else:
        if n_in % cols or n_out % rows:
            raise a.fail(f"{name}_weights_int8", f"{n_in}x{n_out} is not whole 8x4 blocks")
        q = a.get(f"{name}_weights_int8", np.int8, n_in * n_out)
        # cgemv8x4: tiles ordered [output/8][input/4], each w[r*4 + k]
        tiles = q.reshape(n_out // rows, n_in // cols, rows, cols).astype(np.float32)
        w = np.ascontiguousarray(tiles.transpose(1, 3, 0, 2).reshape(n_in, n_out))
    return LinearLayer02(name, w, bias.copy(), scale.copy(),
                         None if diag_arr is None else diag_arr.copy())


def layers_from_arrays(
    arrays: Mapping[str, np.ndarray] | Iterable[WeightRecord],
    path: str | os.PathLike | None = None,
) -> NetworkLayers02:
    """Build the network from its named arrays (blob record names, spec section 8).

    Parameters
    ----------
    arrays : mapping name -> 1-D array, or iterable of WeightRecord
        Float arrays float32, ``*_weights_int8`` int8, ``*_weights_idx`` int32.
    path : path-like, optional
        Named in error messages.

    Returns
    -------
    NetworkLayers02

    Raises
    ------
    ModelFormatError
        A missing array, a size that does not fit the others, bad sparse indices, or a network
        this module cannot run (heads reading neither G nor 4G inputs); the message names the array.
    """
    if not isinstance(arrays, Mapping):
        arrays = {rec.name: rec.data for rec in arrays}
    a = _Arrays(arrays, path)
    conv1_size = a.size_of("conv1_bias")
    conv1_w = a.size_of("conv1_weights_float") if "conv1_weights_float" in arrays else (
        int(np.asarray(arrays.get("conv1_weights_int8", _EMPTY)).size))
    if conv1_w == 0 or conv1_w % (CONV_TAPS * conv1_size):
        raise a.fail("conv1_weights_float",
                     f"has {conv1_w} values, not {CONV_TAPS} x inputs x {conv1_size}")
    n_feat = conv1_w // (CONV_TAPS * conv1_size)
    g = a.size_of("conv2_bias")
    conv1 = _linear(a, "conv1", CONV_TAPS * n_feat, conv1_size)
    conv2 = _linear(a, "conv2", CONV_TAPS * conv1_size, g)
    gru_in = tuple(_linear(a, f"gru{i}_input", g, 3 * g, sparse=True) for i in (1, 2, 3))
    gru_rec = tuple(_linear(a, f"gru{i}_recurrent", g, 3 * g, sparse=True, diag=True)
                    for i in (1, 2, 3))
    bands = a.size_of("dense_out_bias")
    head_w = a.size_of("dense_out_weights_float") if "dense_out_weights_float" in arrays else (
        int(np.asarray(arrays.get("dense_out_weights_int8", _EMPTY)).size))
    if head_w == 4 * g * bands:
        skip = True
    elif head_w == g * bands:
        skip = False
    else:
        raise a.fail("dense_out_weights_float",
                     f"has {head_w} values: neither {4 * g}x{bands} (main-branch skip heads) "
                     f"nor {g}x{bands} (tag v0.2) for G = {g}")
    head_in = 4 * g if skip else g
    dense_out = _linear(a, "dense_out", head_in, bands)
    vad_dense = _linear(a, "vad_dense", head_in, 1)
    return NetworkLayers02(conv1, conv2, gru_in, gru_rec, dense_out, vad_dense, skip)


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
        taps = CONV_TAPS - 1
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


def _scale(layer: LinearLayer02) -> np.ndarray:
    return _EMPTY if layer.scale is None else layer.scale


def _diag(layer: LinearLayer02) -> np.ndarray:
    return _EMPTY if layer.diag is None else layer.diag


class Network02:
    """A 0.2 model ready for inference.

    Parameters
    ----------
    layers : NetworkLayers02, mapping name -> array, or iterable of WeightRecord
        The model; arrays are turned into layers with :func:`layers_from_arrays`.

    Notes
    -----
    One instance serves any number of states (streams), but keeps its work buffers between
    calls: use one instance per thread.
    """

    def __init__(self, layers: NetworkLayers02 | Mapping[str, np.ndarray] | Iterable[WeightRecord]):
        if not isinstance(layers, NetworkLayers02):
            layers = layers_from_arrays(layers)
        self.layers = layers
        order = (layers.conv1, layers.conv2, *layers.gru_input, *layers.gru_recurrent,
                 layers.dense_out, layers.vad_dense)
        self._packed = (
            tuple(lay.weights for lay in order),
            tuple(lay.bias for lay in order),
            tuple(_scale(lay) for lay in order),
            tuple(_diag(lay) for lay in order),
        )
        self._work_buffers: tuple[np.ndarray, ...] | None = None

    @property
    def nb_features(self) -> int:
        return self.layers.nb_features

    @property
    def nb_bands(self) -> int:
        return self.layers.nb_bands

    def new_state(self) -> NetworkState02:
        """A zero state (as after ``rnnoise_init``)."""
        lay = self.layers
        return NetworkState02.zeros(lay.nb_features, lay.conv1_size, lay.gru_size)

    def _check_state(self, state: NetworkState02) -> None:
        want = self.new_state()
        for field in ("conv1_mem", "conv2_mem", "gru"):
            have = getattr(state, field)
            ref = getattr(want, field)
            if have.shape != ref.shape or have.dtype != np.float32:
                raise ValueError(f"state.{field} is {have.dtype}{have.shape}, this model needs "
                                 f"float32{ref.shape}")

    def _work(self, n: int) -> tuple[np.ndarray, ...]:
        """Work buffers for blocks of up to ``n`` frames (kept between calls)."""
        buf = self._work_buffers
        if buf is None or buf[3].shape[0] < n:
            lay = self.layers
            taps = CONV_TAPS - 1
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
        if silence is None:
            active = np.arange(n)
        else:
            mask = np.asarray(silence, dtype=np.bool_).reshape(-1)
            if mask.size != n:
                raise ValueError(f"silence has {mask.size} values for {n} frames")
            active = np.flatnonzero(~mask)
        if state is None:
            state = self.new_state()
        self._check_state(state)
        gains = np.zeros((n, self.nb_bands), np.float32)
        vad = np.zeros(n, np.float32)
        if active.size == 0:
            return gains, vad
        xa = x[active] if active.size != n else x
        ga = np.empty((active.size, self.nb_bands), np.float32)
        va = np.empty((active.size, 1), np.float32)
        block = min(_BLOCK_FRAMES, active.size)
        for s in range(0, active.size, block):
            e = min(s + block, active.size)
            self._run_block(xa[s:e], state, ga[s:e], va[s:e])
        gains[active] = ga
        vad[active] = va[:, 0]
        return gains, vad
