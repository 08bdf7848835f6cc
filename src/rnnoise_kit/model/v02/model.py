"""An RNNoise 0.2 model: its named weight arrays, validated the way ``init_rnnoise`` does.

librnnoise 0.2 binds a model by calling upstream's ``linear_init`` once per layer with the
names of up to seven arrays (spec rnnoise-v0.2 sections 5, 6 and 8)::

    linear_init(layer, arrays, bias, subias, weights_int8, weights_float, weights_idx,
                weights_diag, scale, nb_inputs, nb_outputs)

looking each array up by name and checking its size. :class:`RNNoise02Model` does the same
for every layer, with the layer sizes taken from the arrays themselves (C compiles them in):

* ``conv1`` (unquantised): 3 x 65 inputs (kernel 3 over time) -> C1 outputs (C1 from
  ``conv1_bias``; 128 in every published model);
* ``conv2`` (int8, dense 8x4 tiles): 3 x C1 -> G (G from ``conv2_bias``; 384 in pyrnnoise);
* ``gruN_input`` / ``gruN_recurrent`` (int8, sparse 8x4 blocks; the recurrent ones with a
  separate diagonal): G -> 3G, gates z, r, h;
* ``dense_out`` (32 gains) and ``vad_dense`` (1), unquantised, reading either 4G inputs
  (cat(conv2, gru1, gru2, gru3): the skip-connection network of RNNoise's main branch, which
  pyrnnoise ships) or G (GRU3 only: the v0.2 tag's network). The sizes say which.

Quantised layers may carry their unquantised float twin (``*_weights_float``); C computes
with the float weights whenever they are present and with int8 otherwise (spec 6.2).
:meth:`RNNoise02Model.without_float` drops the twins, giving what upstream's build with
``DISABLE_DEBUG_FLOAT`` runs.

Weight layouts (spec 6.4), for a layer with ``n_in`` inputs and ``n_out`` outputs:

* float, dense: ``w[j * n_out + i]`` (input j, output i);
* int8, dense: 8x4 tiles ordered [n_out/8][n_in/4], tile element ``[r * 4 + k]`` is output
  ``8 t + r``, input ``4 b + k``;
* sparse (``weights_idx``): per group of 8 outputs, a count n then n input offsets
  (multiples of 4); each listed block holds 32 weights, float ``[k * 8 + r]``, int8
  ``[r * 4 + k]``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from rnnoise_kit.dsp.v02.constants import NB_BANDS, NB_FEATURES
from rnnoise_kit.errors import ModelFormatError
from rnnoise_kit.model.v02.blob import WeightRecord, WeightType

__all__ = [
    "CONV_KERNEL",
    "INPUT_SIZE",
    "GAIN_SIZE",
    "LAYER_NAMES",
    "SKIP_HEADS",
    "SPARSE_BLOCK",
    "TAG_HEADS",
    "LayerSpec",
    "LinearLayer",
    "RNNoise02Model",
    "canonical_order",
    "linear_records",
    "model_from_float_layers",
    "random_model",
]

INPUT_SIZE = NB_FEATURES
"""Features per frame the 0.2 network reads (65: the 0.2 analysis' features, spec section 3)."""
GAIN_SIZE = NB_BANDS
"""Band gains the 0.2 network outputs (32: one per band of the 0.2 DSP, spec section 1)."""
CONV_KERNEL = 3
"""Frames each convolution reads (kernel 3 over time); its state keeps the previous 2 inputs."""
SPARSE_BLOCK = (8, 4)
"""(outputs, inputs) of one block of the 8x4 layouts (``sparse_sgemv8x4``, ``cgemv8x4``)."""

SKIP_HEADS = "skip"
"""Variant whose output heads read cat(conv2, gru1, gru2, gru3): RNNoise's main branch."""
TAG_HEADS = "tag"
"""Variant whose output heads read GRU3 only: the v0.2 tag."""

GRU_NAMES = ("gru1", "gru2", "gru3")

PathLike = str | os.PathLike


@dataclass(frozen=True)
class LayerSpec:
    """What ``init_rnnoise`` passes to ``linear_init`` for one layer (sizes aside).

    Attributes
    ----------
    name : str
        Layer name; array names are ``<name>_bias``, ``<name>_weights_int8``, ...
    quantized : bool
        Has int8 weights, ``subias`` and ``scale`` (the float weights are then optional).
    sparse : bool
        Weights stored as 8x4 blocks listed in ``<name>_weights_idx``.
    diag : bool
        Has ``<name>_weights_diag`` (recurrent matrices keep their diagonal apart).
    """

    name: str
    quantized: bool
    sparse: bool = False
    diag: bool = False

    def array_names(self) -> dict[str, str]:
        """Role (``LinearLayer`` field) -> array name, for the arrays this layer uses."""
        n = self.name
        roles = {"bias": f"{n}_bias", "float_weights": f"{n}_weights_float"}
        if self.quantized:
            roles |= {"subias": f"{n}_subias", "weights": f"{n}_weights_int8",
                      "scale": f"{n}_scale"}
        if self.sparse:
            roles["weights_idx"] = f"{n}_weights_idx"
        if self.diag:
            roles["diag"] = f"{n}_weights_diag"
        return roles


LAYER_SPECS: tuple[LayerSpec, ...] = (
    LayerSpec("conv1", quantized=False),
    LayerSpec("conv2", quantized=True),
    *(
        spec
        for g in GRU_NAMES
        for spec in (
            LayerSpec(f"{g}_input", quantized=True, sparse=True),
            LayerSpec(f"{g}_recurrent", quantized=True, sparse=True, diag=True),
        )
    ),
    LayerSpec("dense_out", quantized=False),
    LayerSpec("vad_dense", quantized=False),
)
LAYER_NAMES = tuple(s.name for s in LAYER_SPECS)

_ROLE_TYPE = {
    "bias": WeightType.FLOAT,
    "subias": WeightType.FLOAT,
    "weights": WeightType.INT8,
    "float_weights": WeightType.FLOAT,
    "weights_idx": WeightType.INT,
    "diag": WeightType.FLOAT,
    "scale": WeightType.FLOAT,
}
_ROLE_ORDER = ("weights", "float_weights", "weights_idx", "subias", "scale", "bias")
"""Array order within a layer in upstream's export (diag first when present)."""


def canonical_order(names: Iterable[str]) -> list[str]:
    """Array names in the order upstream's export writes them (spec section 8)."""
    rank = {}
    for li, spec in enumerate(LAYER_SPECS):
        roles = spec.array_names()
        order = (["diag"] if spec.diag else []) + list(_ROLE_ORDER)
        for ri, role in enumerate(order):
            if role in roles:
                rank[roles[role]] = (li, ri)
    return sorted(names, key=lambda n: rank.get(n, (len(LAYER_SPECS), 0)))


@dataclass(frozen=True, eq=False)
class LinearLayer:
    """One layer as ``linear_init`` leaves it (upstream's ``LinearLayer``).

    Arrays are read-only views of the model's records; absent ones are ``None``.

    Attributes
    ----------
    bias : np.ndarray, float32, (nb_outputs,)
    subias : np.ndarray, float32, (nb_outputs,) or None
        ``bias - sum_in(w_q) * scale * 127``: the bias for unsigned-input int8 kernels.
    weights : np.ndarray, int8, or None
        Dense: (nb_inputs * nb_outputs,) in 8x4 tiles; sparse: (32 * n_blocks,).
    float_weights : np.ndarray, float32, or None
        Dense: (nb_inputs * nb_outputs,) input-major; sparse: (32 * n_blocks,).
    weights_idx : np.ndarray, int32, or None
        Sparse block index (see the module docstring).
    diag : np.ndarray, float32, (nb_outputs,) or None
        Recurrent diagonal: ``out[i + g N] += diag[i + g N] * x[i]`` for gate g.
    scale : np.ndarray, float32, (nb_outputs,) or None
        Per-output factor of the int8 product.
    nb_inputs, nb_outputs : int
    """

    bias: np.ndarray | None
    subias: np.ndarray | None
    weights: np.ndarray | None
    float_weights: np.ndarray | None
    weights_idx: np.ndarray | None
    diag: np.ndarray | None
    scale: np.ndarray | None
    nb_inputs: int
    nb_outputs: int

    @property
    def is_sparse(self) -> bool:
        return self.weights_idx is not None

    @property
    def runs_float(self) -> bool:
        """Whether C computes this layer with float weights (present) or int8."""
        return self.float_weights is not None

    def blocks(self) -> list[np.ndarray]:
        """Sparse layers: for each group of 8 outputs, the input offsets of its blocks."""
        if self.weights_idx is None:
            raise ValueError("not a sparse layer")
        out, pos = [], 0
        idx = self.weights_idx
        for _ in range(self.nb_outputs // SPARSE_BLOCK[0]):
            n = int(idx[pos])
            out.append(idx[pos + 1: pos + 1 + n])
            pos += 1 + n
        return out

    @property
    def n_blocks(self) -> int:
        """8x4 blocks stored (all of them for a dense layer)."""
        if self.weights_idx is None:
            rows, cols = SPARSE_BLOCK
            return (self.nb_inputs // cols) * (self.nb_outputs // rows)
        return sum(b.size for b in self.blocks())

    @property
    def n_weights(self) -> int:
        """Weights stored (the float twin of an int8 layer is not counted again)."""
        w = self.weights if self.weights is not None else self.float_weights
        return 0 if w is None else int(w.size)

    def dense_float(self) -> np.ndarray:
        """The float weights as a (nb_inputs, nb_outputs) float32 matrix (no diagonal)."""
        if self.float_weights is None:
            raise ValueError("this layer has no float weights")
        if self.weights_idx is None:
            return self.float_weights.reshape(self.nb_inputs, self.nb_outputs).copy()
        rows, cols = SPARSE_BLOCK
        # float block element [k * 8 + r]: input pos + k, output 8 g + r
        return self._scatter(self.float_weights.reshape(-1, cols, rows))

    def dense_int8(self) -> np.ndarray:
        """The int8 weights as a (nb_inputs, nb_outputs) int8 matrix (no diagonal)."""
        if self.weights is None:
            raise ValueError("this layer has no int8 weights")
        rows, cols = SPARSE_BLOCK
        if self.weights_idx is None:
            n_in, n_out = self.nb_inputs, self.nb_outputs
            tiles = self.weights.reshape(n_out // rows, n_in // cols, rows, cols)
            return np.ascontiguousarray(
                tiles.transpose(1, 3, 0, 2).reshape(self.nb_inputs, self.nb_outputs)
            )
        # int8 block element [r * 4 + k]
        return self._scatter(self.weights.reshape(-1, rows, cols).transpose(0, 2, 1))

    def _scatter(self, blocks: np.ndarray) -> np.ndarray:
        """(nb_inputs, nb_outputs) matrix from the sparse blocks, (n_blocks, 4 in, 8 out).

        Absent blocks are zeros; blocks listed twice add up (C sums them both).
        """
        rows, cols = SPARSE_BLOCK
        groups = self.blocks()
        offsets = np.concatenate([np.zeros(0, np.int64), *groups]).astype(np.int64)
        per_row = self.nb_inputs // cols
        if offsets.size == per_row * len(groups) and np.array_equal(
                offsets, np.tile(np.arange(0, self.nb_inputs, cols), len(groups))):
            # every block present, in order (the published weights): one transpose
            tiles = blocks.reshape(len(groups), per_row, cols, rows).transpose(1, 2, 0, 3)
            return np.ascontiguousarray(tiles.reshape(self.nb_inputs, self.nb_outputs))
        out = np.zeros((self.nb_inputs, self.nb_outputs), dtype=blocks.dtype)
        group = np.repeat(np.arange(len(groups)), [g.size for g in groups])
        in_idx = offsets[:, None, None] + np.arange(cols)[None, :, None]
        out_idx = rows * group[:, None, None] + np.arange(rows)[None, None, :]
        np.add.at(out, (in_idx, out_idx), blocks)
        return out


def _fail(path: PathLike | None, name: str, problem: str) -> ModelFormatError:
    return ModelFormatError(path, problem, f"array {name!r}")


def _check_idx(path, name: str, idx: np.ndarray, nb_in: int, nb_out: int) -> int:
    """Validate a sparse index like ``find_idx_check`` (stricter: no negative values).

    Returns the number of blocks.
    """
    rows, cols = SPARSE_BLOCK
    groups = nb_out // rows
    vals = idx.astype(np.int64)
    pos = total = 0
    for g in range(groups):
        if pos >= vals.size:
            raise _fail(path, name, f"ends after {g} of {groups} groups of 8 outputs")
        n = int(vals[pos])
        if not 0 <= n <= nb_in // cols:
            raise _fail(
                path, name, f"group {g}: block count {n}, expected 0..{nb_in // cols} "
                            f"({nb_in} inputs)")
        if pos + 1 + n > vals.size:
            raise _fail(path, name, f"group {g}: {n} blocks announced, the array ends first")
        offs = vals[pos + 1: pos + 1 + n]
        bad = np.flatnonzero((offs % cols != 0) | (offs < 0) | (offs + cols > nb_in))
        if bad.size:
            off = int(offs[bad[0]])
            why = (f"is not a multiple of {cols}" if off % cols
                   else f"is outside 0..{nb_in - cols}")
            raise _fail(path, name, f"group {g}: input offset {off} {why}")
        pos += 1 + n
        total += n
    if pos != vals.size:
        raise _fail(path, name, f"{vals.size - pos} values left after the {groups} groups")
    return total


def _layer_sizes(name: str, conv1: int, gru: int, head_in: int) -> tuple[int, int]:
    if name == "conv1":
        return CONV_KERNEL * INPUT_SIZE, conv1
    if name == "conv2":
        return CONV_KERNEL * conv1, gru
    if name.startswith("gru"):
        return gru, 3 * gru
    return head_in, GAIN_SIZE if name == "dense_out" else 1


@dataclass(frozen=True, eq=False)
class RNNoise02Model:
    """An RNNoise 0.2 model: its weight records (file order) and the layers they form.

    Build one with :meth:`from_records` (it validates); the readers in
    :mod:`rnnoise_kit.model.formats` and :mod:`rnnoise_kit.model.v02` return it.

    Attributes
    ----------
    records : tuple of WeightRecord
        The arrays in file order (written back in this order, so round trips are exact).
    layers : dict of str -> LinearLayer
        In network order: conv1, conv2, gru1_input, gru1_recurrent, ..., dense_out,
        vad_dense.
    variant : str
        :data:`SKIP_HEADS` (heads read 4G inputs) or :data:`TAG_HEADS` (G inputs).
    conv1_size, gru_size : int
        C1 and G.
    """

    records: tuple[WeightRecord, ...]
    layers: dict[str, LinearLayer] = field(repr=False)
    variant: str
    conv1_size: int
    gru_size: int

    generation = "0.2"

    # ------------------------------------------------------------------ building

    @classmethod
    def from_records(
        cls, records: Sequence[WeightRecord], path: PathLike | None = None
    ) -> RNNoise02Model:
        """Validate named arrays as ``init_rnnoise`` would, and build the model.

        Parameters
        ----------
        records : sequence of WeightRecord
            The arrays, in the order they should be written back.
        path : path-like, optional
            Named in error messages.

        Raises
        ------
        ModelFormatError
            An unknown, duplicated or missing array, a wrong type or size, a bad sparse
            index, inconsistent head sizes; one line naming the file and the array.
        """
        by_name: dict[str, WeightRecord] = {}
        known = {n: (s, role) for s in LAYER_SPECS for role, n in s.array_names().items()}
        for rec in records:
            if rec.name in by_name:
                raise _fail(path, rec.name, "duplicate array name")
            if rec.name not in known:
                raise _fail(path, rec.name, "unknown array (not used by the RNNoise 0.2 network)")
            spec, role = known[rec.name]
            want = _ROLE_TYPE[role]
            if rec.type != want:
                raise _fail(path, rec.name,
                            f"type {rec.type.name.lower()}, expected {want.name.lower()}")
            by_name[rec.name] = rec

        def size_of(name: str) -> int:
            if name not in by_name:
                raise _fail(path, name, "missing (librnnoise needs it)")
            return int(by_name[name].data.size)

        conv1 = size_of("conv1_bias")
        gru = size_of("conv2_bias")
        rows, cols = SPARSE_BLOCK
        if conv1 % cols:
            raise _fail(path, "conv1_bias",
                        f"{conv1} outputs; conv2's int8 tiles need a multiple of {cols}")
        if gru % rows:
            raise _fail(path, "conv2_bias",
                        f"{gru} outputs (GRU size); the 8x4 blocks need a multiple of {rows}")
        head = size_of("dense_out_weights_float")
        if head == 4 * gru * GAIN_SIZE:
            variant, head_in = SKIP_HEADS, 4 * gru
        elif head == gru * GAIN_SIZE:
            variant, head_in = TAG_HEADS, gru
        else:
            raise _fail(
                path, "dense_out_weights_float",
                f"{head} values: neither {4 * gru} x {GAIN_SIZE} (skip-connection heads) nor "
                f"{gru} x {GAIN_SIZE} (v0.2 tag) for GRU size {gru}")

        layers: dict[str, LinearLayer] = {}
        for spec in LAYER_SPECS:
            nb_in, nb_out = _layer_sizes(spec.name, conv1, gru, head_in)
            layers[spec.name] = cls._layer(spec, by_name, nb_in, nb_out, path)
        return cls(tuple(records), layers, variant, conv1, gru)

    @staticmethod
    def _layer(spec: LayerSpec, by_name: Mapping[str, WeightRecord], nb_in: int, nb_out: int,
               path) -> LinearLayer:
        names = spec.array_names()
        arrays: dict[str, np.ndarray | None] = dict.fromkeys(_ROLE_TYPE)

        def get(role: str, size: int | None, required: bool) -> None:
            name = names[role]
            rec = by_name.get(name)
            if rec is None:
                if required:
                    raise _fail(path, name, "missing (librnnoise needs it)")
                return
            if size is not None and rec.data.size != size:
                raise _fail(path, name, f"{rec.data.size} values, expected {size} "
                                        f"({spec.name}: {nb_in} inputs, {nb_out} outputs)")
            arr = rec.data.view()
            arr.flags.writeable = False
            arrays[role] = arr

        get("bias", nb_out, True)
        if spec.quantized:
            get("subias", nb_out, True)
        if spec.sparse:
            get("weights_idx", None, True)
            n_w = 32 * _check_idx(path, names["weights_idx"], arrays["weights_idx"], nb_in, nb_out)
        else:
            if spec.quantized and (nb_in % SPARSE_BLOCK[1] or nb_out % SPARSE_BLOCK[0]):
                raise _fail(path, names["weights"],
                            f"{nb_in} x {nb_out} does not split into 8x4 tiles")
            n_w = nb_in * nb_out
        if spec.quantized:
            get("weights", n_w, True)
        get("float_weights", n_w, not spec.quantized)
        if spec.diag:
            get("diag", nb_out, True)
        if spec.quantized:
            get("scale", nb_out, True)
        return LinearLayer(**arrays, nb_inputs=nb_in, nb_outputs=nb_out)

    @classmethod
    def from_arrays(
        cls, arrays: Mapping[str, np.ndarray], path: PathLike | None = None
    ) -> RNNoise02Model:
        """:meth:`from_records` for named arrays, each record's type taken from its dtype.

        Parameters
        ----------
        arrays : mapping of str -> np.ndarray
            Array name -> 1-D float32, int32 or int8 values.
        path : path-like, optional
            Named in error messages.

        Raises
        ------
        ModelFormatError
            A dtype that no record type stores, or anything :meth:`from_records` refuses.
        """
        types = {wt.dtype: wt for wt in (WeightType.FLOAT, WeightType.INT, WeightType.INT8)}
        records = []
        for name, values in arrays.items():
            data = np.asarray(values).reshape(-1)
            wtype = types.get(data.dtype.newbyteorder("<"))
            if wtype is None:
                raise _fail(path, name, f"dtype {data.dtype}, expected float32, int32 or int8")
            records.append(WeightRecord(name, wtype, data.astype(wtype.dtype, copy=False)))
        return cls.from_records(records, path)

    # ------------------------------------------------------------------ derived

    def without_float(self) -> RNNoise02Model:
        """The int8-only model: the float twins of the int8 layers removed.

        This is what upstream's build with ``DISABLE_DEBUG_FLOAT`` (the autotools default
        with built-in weights) has, and what ``extract_blob --int8-only`` writes; C then
        computes those layers in int8.
        """
        twins = {s.array_names()["float_weights"] for s in LAYER_SPECS if s.quantized}
        return type(self).from_records([r for r in self.records if r.name not in twins])

    def float_layers(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The float weights and biases per layer, in the form :func:`model_from_float_layers`
        takes (input-major matrices, each GRU recurrent diagonal folded back in): exporting
        them again gives this model's arrays.

        Raises
        ------
        ValueError
            A layer has no float weights (an int8-only model).
        """
        return {name: (self._with_diag(lay, lay.dense_float()), np.array(lay.bias, np.float32))
                for name, lay in self.layers.items()}

    def dequantized_layers(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """:meth:`float_layers` with the int8 layers' weights taken from their int8 values
        (``w_q * scale * 127``, what the int8 path computes with), float twins or not; the
        recurrent diagonals and the unquantised layers are float in both."""
        layers = {}
        for name, lay in self.layers.items():
            if lay.weights is None:
                w = lay.dense_float()
            else:
                w = lay.dense_int8().astype(np.float32) * (lay.scale * np.float32(127))
            layers[name] = (self._with_diag(lay, w.astype(np.float32)),
                            np.array(lay.bias, np.float32))
        return layers

    @staticmethod
    def _with_diag(lay: LinearLayer, w: np.ndarray) -> np.ndarray:
        if lay.diag is not None:
            n = lay.nb_inputs
            for gate in range(3):
                w[np.arange(n), gate * n + np.arange(n)] += lay.diag[gate * n:(gate + 1) * n]
        return w

    def array(self, name: str) -> np.ndarray:
        """One array by name (KeyError if absent)."""
        for rec in self.records:
            if rec.name == name:
                return rec.data
        raise KeyError(name)

    @property
    def precision(self) -> str:
        """``"float"``, ``"int8"`` or ``"mixed"``: what C computes the int8 layers with."""
        quant = [self.layers[s.name].runs_float for s in LAYER_SPECS if s.quantized]
        return "float" if all(quant) else ("int8" if not any(quant) else "mixed")

    @property
    def head_inputs(self) -> int:
        """Inputs of dense_out and vad_dense (4G skip heads, G for the v0.2 tag)."""
        return self.layers["dense_out"].nb_inputs

    @property
    def description(self) -> str:
        """One line naming the generation and the network variant."""
        if self.variant == SKIP_HEADS:
            return "RNNoise 0.2 (main-branch network, skip heads)"
        return "RNNoise 0.2 (v0.2-tag network, heads read GRU3 only)"

    @property
    def n_parameters(self) -> int:
        """Weights, biases and diagonals (an int8 layer's float twin not counted again)."""
        total = 0
        for lay in self.layers.values():
            total += lay.n_weights + lay.nb_outputs
            if lay.diag is not None:
                total += lay.diag.size
        return total

    @property
    def block_density(self) -> float:
        """Fraction of the sparse layers' 8x4 blocks that are stored (1.0: no pruning)."""
        stored = full = 0
        for lay in self.layers.values():
            if lay.is_sparse:
                stored += lay.n_blocks
                full += (lay.nb_inputs // SPARSE_BLOCK[1]) * (lay.nb_outputs // SPARSE_BLOCK[0])
        return stored / full if full else 1.0


# ============================================================================ export


def _block_mask(w: np.ndarray) -> np.ndarray:
    """(n_in/4, n_out/8) bool: which 8x4 blocks hold a weight (upstream: sum |w| > 1e-10)."""
    n_in, n_out = w.shape
    mags = np.abs(w.astype(np.float64)).reshape(n_in // 4, 4, n_out // 8, 8).sum(axis=(1, 3))
    return mags > 1e-10


def _quantize(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """wexchange's int8 quantisation: per-output scale s, w_q = round(w / s), in float32.

    s = max(max|w| / 127, max|w_2k + w_2k+1| / 129) keeps the pairwise sums the x86 kernels
    form within int16 range (spec 6.1). The arithmetic is float32 like the export's (the
    weights come from torch as float32), so that ties round the same way.
    Returns (w_q as int64 (n_in, n_out), s float32 (n_out,)).
    """
    w32 = np.asarray(w, dtype=np.float32)
    s = np.maximum(np.abs(w32).max(axis=0) / np.float32(127),
                   np.abs(w32[0::2] + w32[1::2]).max(axis=0) / np.float32(129))
    q = np.round(w32 / (s + np.float32(1e-30))).astype(np.int64)
    if q.max(initial=0) > 127 or q.min(initial=0) <= -128:  # pragma: no cover - by construction
        raise ValueError("quantised weight out of range")
    return q, s


def linear_records(
    name: str,
    weights: np.ndarray,
    bias: np.ndarray,
    quantize: bool,
    sparse: bool = False,
    diag: bool = False,
    float_twin: bool = True,
) -> list[WeightRecord]:
    """One layer's arrays the way upstream's weight export writes them (``print_linear_layer``).

    Parameters
    ----------
    name : str
        Layer name (``conv2``, ``gru1_recurrent``, ...).
    weights : np.ndarray, (n_in, n_out)
        Input-major float weights (``y = x @ weights + bias``); for GRUs the three gates
        z, r, h side by side (3N outputs).
    bias : np.ndarray, (n_out,)
    quantize : bool
        Write int8 weights, ``subias`` and ``scale`` (conv2 and the GRUs).
    sparse : bool
        Store only the nonzero 8x4 blocks with an index (the GRUs).
    diag : bool
        With ``sparse``: the diagonal of each N x N gate block is stored apart (recurrent).
    float_twin : bool
        With ``quantize``: also write the float weights (``*_weights_float``).

    Returns
    -------
    list of WeightRecord
        In upstream's order: [diag,] [int8,] float, [idx,] [subias, scale,] bias.
    """
    w = np.array(weights, dtype=np.float32)
    n_in, n_out = w.shape
    out: list[WeightRecord] = []

    def rec(suffix: str, wtype: WeightType, data) -> None:
        out.append(WeightRecord(f"{name}_{suffix}", wtype, np.asarray(data, dtype=wtype.dtype)))

    if quantize:
        s = _quantize(w)[1]  # upstream scales the whole matrix, diagonal included
    if diag:
        n = n_in
        d = np.concatenate([np.diag(w[:, g * n:(g + 1) * n]).copy() for g in range(n_out // n)])
        for g in range(n_out // n):
            w[:, g * n:(g + 1) * n] -= np.diag(np.diag(w[:, g * n:(g + 1) * n]))
        rec("weights_diag", WeightType.FLOAT, d)
    if quantize:
        q = np.round(w / (s + np.float32(1e-30))).astype(np.int64)
    if sparse:
        mask = _block_mask(w)
        idx: list[int] = []
        fblocks, qblocks = [], []
        for g in range(n_out // 8):
            rows = np.flatnonzero(mask[:, g])
            idx.append(rows.size)
            for b in rows.tolist():
                idx.append(4 * b)
                fblocks.append(w[4 * b: 4 * b + 4, 8 * g: 8 * g + 8].reshape(-1))
                if quantize:
                    qblocks.append(q[4 * b: 4 * b + 4, 8 * g: 8 * g + 8].T.reshape(-1))
        flat_f = np.concatenate(fblocks) if fblocks else np.zeros(0, np.float32)
        if quantize:
            rec("weights_int8", WeightType.INT8, np.concatenate(qblocks))
        if not quantize or float_twin:
            rec("weights_float", WeightType.FLOAT, flat_f)
        rec("weights_idx", WeightType.INT, idx)
    else:
        if quantize:
            tiles = q.reshape(n_in // 4, 4, n_out // 8, 8).transpose(2, 0, 3, 1)
            rec("weights_int8", WeightType.INT8, tiles.reshape(-1))
        if not quantize or float_twin:
            rec("weights_float", WeightType.FLOAT, w.reshape(-1))
    if quantize:
        # upstream sums a column-major matrix (torch's transposed GRU input weights) with
        # numpy's pairwise summation and a row-major one (conv2, recurrent after the
        # diagonal's removal) row by row: the layout decides the float rounding.
        prod = q * s.astype(np.float64)
        if sparse and not diag:
            prod = np.asfortranarray(prod)
        rec("subias", WeightType.FLOAT, np.asarray(bias, np.float32) - prod.sum(axis=0))
        rec("scale", WeightType.FLOAT, s / np.float32(127))
    rec("bias", WeightType.FLOAT, bias)
    return out


def model_from_float_layers(
    layers: Mapping[str, tuple[np.ndarray, np.ndarray]], float_twins: bool = True
) -> RNNoise02Model:
    """Export float weights as an RNNoise 0.2 model, as upstream's export does.

    Parameters
    ----------
    layers : mapping of layer name -> (weights (n_in, n_out), bias (n_out,))
        All of :data:`LAYER_NAMES`, input-major float weights: conv1 (3 x 65 -> C1; row
        ``k * 65 + c`` reads frame t-2+k), conv2, ``gruN_input`` / ``gruN_recurrent``
        (gates z, r, h side by side; the recurrent diagonal included), dense_out,
        vad_dense. Blocks of 8x4 that are all zero are left out of the sparse GRU layers.
    float_twins : bool
        Keep the float copies of the int8 layers (what upstream's blobs and pyrnnoise
        carry; C then computes in float).

    Returns
    -------
    RNNoise02Model
        Its arrays equal upstream's ``dump_rnnoise_weights.py --quantize`` output for the
        same float32 weights (checked bit for bit against the pyrnnoise blob).
    """
    records: list[WeightRecord] = []
    for spec in LAYER_SPECS:
        w, b = layers[spec.name]
        records += linear_records(spec.name, w, b, spec.quantized, spec.sparse, spec.diag,
                                  float_twin=float_twins)
    return RNNoise02Model.from_records(records)


def random_model(
    seed: int = 0,
    conv1_size: int = 8,
    gru_size: int = 16,
    variant: str = SKIP_HEADS,
    density: float = 0.5,
    float_twins: bool = True,
) -> RNNoise02Model:
    """A small valid 0.2 model with random weights, for tests and benchmarks.

    ``density`` is the fraction of the GRUs' 8x4 blocks kept (at least one per group is
    not guaranteed: empty groups are valid).
    """
    rng = np.random.default_rng(seed)
    g = gru_size
    head_in = 4 * g if variant == SKIP_HEADS else g
    layers = {}
    for spec in LAYER_SPECS:
        n_in, n_out = _layer_sizes(spec.name, conv1_size, g, head_in)
        w = rng.uniform(-0.5, 0.5, (n_in, n_out)).astype(np.float32)
        if spec.sparse:
            keep = rng.random((n_in // 4, n_out // 8)) < density
            w *= np.repeat(np.repeat(keep, 4, axis=0), 8, axis=1)
        layers[spec.name] = (w, rng.uniform(-0.2, 0.2, n_out).astype(np.float32))
    return model_from_float_layers(layers, float_twins=float_twins)
