"""The RNNoise v0.1 network as data: six layers of int8 weights plus an activation each.

Layouts follow spec section 10.2 (the flat C arrays of ``rnn_data.c``):

* Dense (M inputs, N units): ``input_weights[j*N + i]`` is Keras ``kernel[j][i]``, ``bias[i]``.
* GRU (M inputs, N units): ``input_weights[j*3N + g*N + i]``,
  ``recurrent_weights[j*3N + g*N + i]``, ``bias[g*N + i]`` with gate blocks g = 0 update (z),
  1 reset (r), 2 candidate (h).

The real weight is ``int8 / 256``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

import numpy as np

from rnnoise_kit.dsp.constants import MAX_NEURONS, NB_BANDS, NB_FEATURES

__all__ = [
    "Activation",
    "Layer",
    "RNNoiseModel",
    "LAYER_NAMES",
    "GRU_LAYERS",
    "STANDARD_SIZES",
    "CLASSIC_SIZES",
    "HIDDEN_LAYERS",
    "MAX_LAYER_SIZE",
    "READER_MAX_SIZE",
    "COMPILED_MAX_INPUTS",
    "TopologyError",
    "layer_sizes",
    "reader_problem",
    "compiled_problem",
    "quantize",
]


class Activation(enum.IntEnum):
    """Activation codes of ``src/rnn.h`` (``ACTIVATION_TANH/SIGMOID/RELU``)."""

    TANH = 0
    SIGMOID = 1
    RELU = 2

    @classmethod
    def parse(cls, value: Activation | int | str) -> Activation:
        """Accept an :class:`Activation`, its code (0/1/2) or its name (``"relu"``)."""
        if isinstance(value, Activation):
            return value
        if isinstance(value, str):
            try:
                return cls[value.strip().upper()]
            except KeyError:
                raise ValueError(
                    f"unknown activation {value!r} (expected tanh, sigmoid or relu)"
                ) from None
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            return cls(int(value))
        raise ValueError(f"unknown activation {value!r}")

    @property
    def label(self) -> str:
        return self.name.lower()


LAYER_NAMES: tuple[str, ...] = (
    "input_dense",
    "vad_gru",
    "noise_gru",
    "denoise_gru",
    "denoise_output",
    "vad_output",
)
"""The six layers, in file order (``.rnnn``, ``rnn_data.c``, ``dump_rnn.py``)."""

GRU_LAYERS: tuple[str, ...] = tuple(n for n in LAYER_NAMES if n.endswith("_gru"))
"""The three GRU layers, in file order: the order of a trainer's three GRU activations."""

HIDDEN_LAYERS: tuple[str, ...] = ("input_dense", "vad_gru", "noise_gru", "denoise_gru")
"""The layers whose width a trainer chooses (``train --sizes``), in this order."""

CLASSIC_SIZES: tuple[int, int, int, int] = (24, 24, 48, 96)
"""Units of :data:`HIDDEN_LAYERS` in the RNNoise v0.1 network (``rnn_train.py``)."""

MAX_LAYER_SIZE = 1024
"""rnnoise-kit's own bound on any layer's inputs and units (a sanity bound against damaged
files; models this large run in rnnoise-kit only, see :data:`READER_MAX_SIZE`)."""

READER_MAX_SIZE = MAX_NEURONS
"""The most inputs and units any layer may have for the ``.rnnn`` readers of FFmpeg
``arnndn`` and librnnoise v0.1.1 (``rnnoise_model_from_file``): both refuse a file with a
larger count (measured)."""

COMPILED_MAX_INPUTS = 3 * MAX_NEURONS
"""The most inputs a layer may have in a librnnoise v0.1.1 build that compiles the model in
(``rnn_data.c``): ``compute_rnn`` gathers the GRU inputs in buffers of ``3 * MAX_NEURONS``
floats (and every layer's units in buffers of ``MAX_NEURONS``)."""

_INPUT_WHY = {
    "input_dense": "the 42 features",
    "vad_gru": "input_dense units",
    "noise_gru": "input_dense + vad_gru units + 42 features",
    "denoise_gru": "vad_gru + noise_gru units + 42 features",
    "denoise_output": "denoise_gru units",
    "vad_output": "vad_gru units",
}


def layer_sizes(hidden: Sequence[int]) -> dict[str, tuple[int, int]]:
    """(nb_inputs, nb_neurons) of every layer, given the units of :data:`HIDDEN_LAYERS`.

    Parameters
    ----------
    hidden : sequence of 4 int
        Units of input_dense, vad_gru, noise_gru and denoise_gru (e.g. :data:`CLASSIC_SIZES`).

    Returns
    -------
    dict
        ``{layer: (nb_inputs, nb_neurons)}`` in :data:`LAYER_NAMES` order.
    """
    d, v, n, g = (int(x) for x in hidden)
    return {
        "input_dense": (NB_FEATURES, d),
        "vad_gru": (d, v),
        "noise_gru": (d + v + NB_FEATURES, n),
        "denoise_gru": (v + n + NB_FEATURES, g),
        "denoise_output": (g, NB_BANDS),
        "vad_output": (v, 1),
    }


def _over(sizes: Mapping[str, tuple[int, int]], max_inputs: int, max_units: int) -> str | None:
    for name, (n_in, n_out) in sizes.items():
        if n_in > max_inputs:
            return (f"{name} reads {n_in} inputs ({_INPUT_WHY[name]}), more than "
                    f"{max_inputs}")
        if n_out > max_units:
            return f"{name} has {n_out} units, more than {max_units}"
    return None


def reader_problem(sizes: Mapping[str, tuple[int, int]]) -> str | None:
    """Why FFmpeg ``arnndn`` and librnnoise v0.1.1 cannot load these layer sizes from a
    ``.rnnn`` file, or None when they can.

    The loadable family: every layer's inputs and units at most :data:`READER_MAX_SIZE` (128),
    i.e. dense + VAD <= 86 and VAD + noise <= 86 units, and each layer <= 128 units.

    Parameters
    ----------
    sizes : mapping
        ``{layer: (nb_inputs, nb_neurons)}`` (:func:`layer_sizes`).
    """
    problem = _over(sizes, READER_MAX_SIZE, READER_MAX_SIZE)
    if problem is None:
        return None
    return (f"{problem}: FFmpeg arnndn and librnnoise v0.1.1 read at most {READER_MAX_SIZE} "
            "inputs and units per layer from a .rnnn file")


def refuse_unloadable(hidden: Sequence[int]) -> None:
    """Refuse hidden sizes outside the loadable family (:func:`reader_problem`).

    Parameters
    ----------
    hidden : sequence of 4 int
        Units of input_dense, vad_gru, noise_gru, denoise_gru.

    Raises
    ------
    SettingError
        ``sizes``: FFmpeg ``arnndn`` and librnnoise v0.1.1 cannot load such a model (one line,
        naming the layer and its count).
    """
    problem = reader_problem(layer_sizes(hidden))
    if problem:
        from rnnoise_kit.errors import SettingError

        raise SettingError("sizes", f"{','.join(map(str, hidden))} make a model that FFmpeg "
                                    f"arnndn and librnnoise v0.1.1 cannot load ({problem})")


def compiled_problem(sizes: Mapping[str, tuple[int, int]]) -> str | None:
    """Why a librnnoise v0.1.1 build cannot run these layer sizes compiled in from
    ``rnn_data.c`` (at most :data:`MAX_NEURONS` units and :data:`COMPILED_MAX_INPUTS`
    inputs per layer, its fixed buffers), or None when it can."""
    problem = _over(sizes, COMPILED_MAX_INPUTS, MAX_NEURONS)
    if problem is None:
        return None
    return (f"{problem}: a librnnoise v0.1.1 build holds at most {MAX_NEURONS} units and "
            f"{COMPILED_MAX_INPUTS} inputs per layer in its buffers")


STANDARD_SIZES: dict[str, tuple[int, int]] = layer_sizes(CLASSIC_SIZES)
"""(nb_inputs, nb_neurons) of every layer in the RNNoise v0.1 topology."""


class TopologyError(ValueError):
    """A model whose layer sizes or arrays do not fit the RNNoise v0.1 network.

    ``layer`` names the offending layer.
    """

    def __init__(self, layer: str, problem: str):
        self.layer = layer
        self.problem = problem
        super().__init__(f"{layer}: {problem}")


@dataclass(frozen=True, eq=False)
class Layer:
    """One dense or GRU layer with int8 weights in the flat C layout.

    Parameters
    ----------
    nb_inputs, nb_neurons : int
        Input and output sizes.
    activation : Activation
        The output activation (for a GRU: the candidate's; gates always use sigmoid).
    input_weights : numpy.ndarray
        int8, ``nb_inputs * nb_neurons`` (dense) or ``3 * nb_inputs * nb_neurons`` (GRU).
    bias : numpy.ndarray
        int8, ``nb_neurons`` (dense) or ``3 * nb_neurons`` (GRU).
    recurrent_weights : numpy.ndarray or None
        int8, ``3 * nb_neurons * nb_neurons`` for a GRU, None for a dense layer.
    """

    nb_inputs: int
    nb_neurons: int
    activation: Activation
    input_weights: np.ndarray
    bias: np.ndarray
    recurrent_weights: np.ndarray | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "activation", Activation.parse(self.activation))
        for name in ("input_weights", "bias", "recurrent_weights"):
            arr = getattr(self, name)
            if arr is None:
                continue
            arr = np.ascontiguousarray(arr)
            if arr.dtype != np.int8:
                raise TypeError(f"{name} must be int8, got {arr.dtype}")
            arr = arr.reshape(-1).copy()
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    @property
    def is_gru(self) -> bool:
        return self.recurrent_weights is not None

    @property
    def gates(self) -> int:
        """3 for a GRU, 1 for a dense layer."""
        return 3 if self.is_gru else 1

    def arrays(self) -> list[tuple[str, np.ndarray]]:
        """The arrays in file order: input weights, [recurrent weights,] bias."""
        out = [("weights", self.input_weights)]
        if self.recurrent_weights is not None:
            out.append(("recurrent_weights", self.recurrent_weights))
        out.append(("bias", self.bias))
        return out

    @property
    def n_parameters(self) -> int:
        return sum(a.size for _, a in self.arrays())

    def equals(self, other: Layer) -> bool:
        """Same sizes, activation and weights."""
        if (self.nb_inputs, self.nb_neurons, self.activation, self.is_gru) != (
            other.nb_inputs,
            other.nb_neurons,
            other.activation,
            other.is_gru,
        ):
            return False
        return all(
            np.array_equal(a, b)
            for (_, a), (_, b) in zip(self.arrays(), other.arrays(), strict=True)
        )


def _round_half_away(x: np.ndarray) -> np.ndarray:
    return np.where(x >= 0, np.floor(x + 0.5), -np.floor(0.5 - x))


def quantize(w: np.ndarray, layer: str = "?", what: str = "weights") -> np.ndarray:
    """Quantise float weights as ``dump_rnn.py`` under Python 2 did.

    ``q = min(127, round_half_away_from_zero(256 * w))`` with no lower clamp. The value is
    computed exactly (``256 * float32`` is exact in float64).

    Raises
    ------
    TopologyError
        When a value is not finite or ``q < -128`` (``w < -0.5``): ``dump_rnn.py`` would
        write it and C would wrap it modulo 256 into a wrong weight.
    """
    x = np.asarray(w, dtype=np.float64) * 256.0
    if not np.all(np.isfinite(x)):
        raise TopologyError(layer, f"{what} contain NaN or infinite values")
    q = np.minimum(127.0, _round_half_away(x))
    if q.size and q.min() < -128:
        k = int(np.argmin(q))
        raise TopologyError(
            layer,
            f"{what}[{k}] = {float(np.ravel(w)[k]):.6g} quantises to {int(q.flat[k])}, below "
            "-128 (weights must be >= -0.5; RNNoise would wrap it modulo 256)",
        )
    return q.astype(np.int8)


@dataclass(frozen=True, eq=False)
class RNNoiseModel:
    """An RNNoise v0.1 model: the six layers of ``struct RNNModel``.

    Sizes are validated on construction: every ``nb_inputs``/``nb_neurons`` in
    1..:data:`MAX_LAYER_SIZE` (FFmpeg and librnnoise load only up to 128:
    :meth:`reader_problem`), array lengths matching the sizes, and
    the connections of ``compute_rnn`` (input_dense 42 inputs; vad_gru fed by input_dense;
    noise_gru by input_dense + vad_gru + 42 features; denoise_gru by vad_gru + noise_gru + 42;
    denoise_output 22 gains from denoise_gru; vad_output 1 unit from vad_gru). The standard
    topology is 42->24, 24->24, 90->48, 114->96, 96->22, 24->1 (:data:`STANDARD_SIZES`).

    Raises
    ------
    TopologyError
        Naming the layer and what was expected.
    """

    input_dense: Layer
    vad_gru: Layer
    noise_gru: Layer
    denoise_gru: Layer
    denoise_output: Layer
    vad_output: Layer

    generation = "0.1"
    """Which RNNoise series runs this model (:class:`~rnnoise_kit.model.v02.RNNoise02Model`:
    ``"0.2"``)."""

    def __post_init__(self) -> None:
        self.validate()

    # ------------------------------------------------------------------ structure
    def layers(self) -> list[tuple[str, Layer]]:
        """``(name, layer)`` pairs in file order."""
        return [(f.name, getattr(self, f.name)) for f in fields(self)]

    @property
    def hidden_sizes(self) -> tuple[int, int, int, int]:
        """Units of :data:`HIDDEN_LAYERS` (``(24, 24, 48, 96)`` for the classic network)."""
        return tuple(getattr(self, n).nb_neurons for n in HIDDEN_LAYERS)  # type: ignore[return-value]

    def expected_sizes(self) -> dict[str, tuple[int, int]]:
        """The (nb_inputs, nb_neurons) each layer must have, given the hidden sizes."""
        return layer_sizes(self.hidden_sizes)

    def sizes(self) -> dict[str, tuple[int, int]]:
        """The (nb_inputs, nb_neurons) of every layer."""
        return {name: (lay.nb_inputs, lay.nb_neurons) for name, lay in self.layers()}

    def reader_problem(self) -> str | None:
        """Why FFmpeg ``arnndn`` / librnnoise v0.1.1 cannot load it as ``.rnnn`` (or None)."""
        return reader_problem(self.sizes())

    def compiled_problem(self) -> str | None:
        """Why a librnnoise v0.1.1 build cannot compile it in from ``rnn_data.c`` (or None)."""
        return compiled_problem(self.sizes())

    @property
    def is_standard(self) -> bool:
        """True when every layer has the RNNoise v0.1 default sizes."""
        return all(
            (lay.nb_inputs, lay.nb_neurons) == STANDARD_SIZES[name] for name, lay in self.layers()
        )

    def validate(self) -> None:
        """Check sizes and array lengths; raise :class:`TopologyError` on the first problem."""
        for name, lay in self.layers():
            if not isinstance(lay, Layer):
                raise TopologyError(name, f"expected a Layer, got {type(lay).__name__}")
            want_gru = name in GRU_LAYERS
            if lay.is_gru != want_gru:
                raise TopologyError(name, f"expected a {'GRU' if want_gru else 'dense'} layer")
            for what, v in (("nb_inputs", lay.nb_inputs), ("nb_neurons", lay.nb_neurons)):
                if not 1 <= v <= MAX_LAYER_SIZE:
                    raise TopologyError(
                        name, f"{what} = {v}, expected 1..{MAX_LAYER_SIZE} (FFmpeg and "
                        f"librnnoise load up to {READER_MAX_SIZE})"
                    )
        exp = self.expected_sizes()
        why = _INPUT_WHY | {"denoise_output": "denoise_gru units in, 22 band gains out",
                            "vad_output": "vad_gru units in, 1 VAD unit out"}
        for name, lay in self.layers():
            got = (lay.nb_inputs, lay.nb_neurons)
            if got != exp[name]:
                raise TopologyError(
                    name,
                    f"sizes {got[0]}->{got[1]}, expected {exp[name][0]}->{exp[name][1]} "
                    f"({why[name]}; v0.1 topology {STANDARD_SIZES[name][0]}->"
                    f"{STANDARD_SIZES[name][1]})",
                )
            k, m, n = lay.gates, lay.nb_inputs, lay.nb_neurons
            want = {"weights": k * m * n, "recurrent_weights": k * n * n, "bias": k * n}
            for what, arr in lay.arrays():
                if arr.size != want[what]:
                    raise TopologyError(
                        name, f"{what} has {arr.size} values, expected {want[what]}"
                    )

    @property
    def n_parameters(self) -> int:
        """Number of int8 parameters (87,503 for the v0.1 topology)."""
        return sum(lay.n_parameters for _, lay in self.layers())

    @property
    def activations(self) -> dict[str, Activation]:
        return {name: lay.activation for name, lay in self.layers()}

    def equals(self, other: RNNoiseModel) -> bool:
        """Same layers, sizes, activations and weights."""
        return all(
            a.equals(b) for (_, a), (_, b) in zip(self.layers(), other.layers(), strict=True)
        )

    # ------------------------------------------------------------------ float access
    def to_float_arrays(self) -> dict[str, dict[str, np.ndarray]]:
        """Float32 weights (int8 / 256) in Keras shapes, for a trainer.

        Returns
        -------
        dict
            ``{layer: {"kernel": (M, k*N), ["recurrent_kernel": (N, 3N),] "bias": (k*N,)}}``
            with k = 3 for GRUs (column blocks [z | r | h], Keras ``reset_after=False``).
        """
        out: dict[str, dict[str, np.ndarray]] = {}
        for name, lay in self.layers():
            cols = lay.gates * lay.nb_neurons
            d = {"kernel": lay.input_weights.reshape(lay.nb_inputs, cols).astype(np.float32)}
            if lay.recurrent_weights is not None:
                d["recurrent_kernel"] = lay.recurrent_weights.reshape(lay.nb_neurons, cols).astype(
                    np.float32
                )
            d["bias"] = lay.bias.astype(np.float32)
            out[name] = {k: v / np.float32(256) for k, v in d.items()}
        return out

    @classmethod
    def from_float_arrays(
        cls,
        arrays: Mapping[str, Mapping[str, np.ndarray]],
        activations: Mapping[str, Activation | int | str] | Sequence[Activation | int | str],
    ) -> RNNoiseModel:
        """Build a model from float weights in Keras shapes (see :meth:`to_float_arrays`).

        Parameters
        ----------
        arrays : mapping
            ``{layer: {"kernel", ["recurrent_kernel",] "bias"}}`` for the six layers.
        activations : mapping or sequence
            Per-layer activation (name, code or :class:`Activation`), as a mapping by layer
            name or a sequence in :data:`LAYER_NAMES` order. Never assumed.

        Raises
        ------
        TopologyError
            Missing arrays, wrong shapes, or weights that do not quantise into int8.
        """
        if isinstance(activations, Mapping):
            acts = dict(activations)
        else:
            seq = list(activations)
            if len(seq) != len(LAYER_NAMES):
                raise TopologyError("model", f"{len(seq)} activations given, expected 6")
            acts = dict(zip(LAYER_NAMES, seq, strict=True))
        layers = {}
        for name in LAYER_NAMES:
            if name not in arrays:
                raise TopologyError(name, "missing from the weight arrays")
            if name not in acts:
                raise TopologyError(name, "no activation given")
            try:
                act = Activation.parse(acts[name])
            except ValueError as exc:
                raise TopologyError(name, str(exc)) from None
            d = arrays[name]
            gru = name in GRU_LAYERS
            need = ["kernel", "recurrent_kernel", "bias"] if gru else ["kernel", "bias"]
            for k in need:
                if k not in d:
                    raise TopologyError(name, f"missing {k}")
            kernel = np.asarray(d["kernel"])
            if kernel.ndim != 2 or kernel.shape[1] % (3 if gru else 1):
                raise TopologyError(name, f"kernel has shape {kernel.shape}")
            m, cols = kernel.shape
            n = cols // (3 if gru else 1)
            bias = np.asarray(d["bias"])
            if bias.shape != (cols,):
                raise TopologyError(name, f"bias has shape {bias.shape}, expected ({cols},)")
            rec = None
            if gru:
                rk = np.asarray(d["recurrent_kernel"])
                if rk.shape != (n, cols):
                    raise TopologyError(
                        name, f"recurrent_kernel has shape {rk.shape}, expected ({n}, {cols})"
                    )
                rec = quantize(rk.reshape(-1), name, "recurrent_kernel")
            layers[name] = Layer(
                nb_inputs=m,
                nb_neurons=n,
                activation=act,
                input_weights=quantize(kernel.reshape(-1), name, "kernel"),
                bias=quantize(bias, name, "bias"),
                recurrent_weights=rec,
            )
        return cls(**layers)


def random_model(
    seed: int = 0,
    activations: Sequence[Activation | int | str] = (
        "tanh", "relu", "relu", "tanh", "sigmoid", "sigmoid",
    ),
    scale: float = 0.3,
    sizes: Sequence[int] = CLASSIC_SIZES,
) -> RNNoiseModel:
    """A v0.1-shaped model with uniform random weights in ``[-scale, scale]`` (biases a third).

    For tests and benchmarks that need a model without any file. ``activations`` are in
    :data:`LAYER_NAMES` order; ``sizes`` are the units of :data:`HIDDEN_LAYERS`.
    """
    rng = np.random.default_rng(seed)
    arrays: dict[str, dict[str, np.ndarray]] = {}
    for name, (n_in, n_out) in layer_sizes(sizes).items():
        gates = 3 if name in GRU_LAYERS else 1
        layer = {
            "kernel": rng.uniform(-scale, scale, (n_in, gates * n_out)),
            "bias": rng.uniform(-scale / 3, scale / 3, gates * n_out),
        }
        if gates == 3:
            layer["recurrent_kernel"] = rng.uniform(-scale, scale, (n_out, 3 * n_out))
        arrays[name] = layer
    return RNNoiseModel.from_float_arrays(arrays, activations)
