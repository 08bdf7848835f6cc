"""The training recipe: :class:`TrainConfig`, its defaults (those of ``training/rnn_train.py``)
and what each setting accepts (:data:`RECIPE_RULES`).

The one source of the ``train`` and ``pipeline`` defaults and rules: the pipeline's
configuration checks the keys it shares against the same rules, and the command line reads
the defaults from here while it builds its parser. Light on purpose (no torch, numpy or numba
at import).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from rnnoise_kit.settings import Rule, check_settings

ACTIVATIONS = ("tanh", "sigmoid", "relu")
"""GRU activations the trainer implements: the names of
:class:`rnnoise_kit.model.core.Activation`, in code order (restated here so that this module
imports without numpy; a test keeps the two equal)."""
BCE_MODES = ("swapped", "textbook")
"""Binary cross-entropy flavours (see :mod:`rnnoise_kit.training.loss`)."""
MAX_UNITS = 1024
"""The most units a layer may have: :data:`rnnoise_kit.model.core.MAX_LAYER_SIZE`, restated
so that this module imports without numpy (a test keeps the two equal)."""


def _unit_counts(values: list[str]) -> str | None:
    ok = all(v.isdecimal() and 1 <= int(v) <= MAX_UNITS for v in values)
    return None if ok else f"4 unit counts, each 1..{MAX_UNITS} (e.g. 24,24,48,96)"

RECIPE_RULES: dict[str, Rule] = {
    "epochs": Rule(int, minimum=0),
    "batch_size": Rule(int, minimum=1),
    "window": Rule(int, minimum=1),
    "lr": Rule(float, above=0),
    "eps": Rule(float, above=0),
    "clip": Rule(float, above=0, maximum=0.5),  # so that every weight fits int8 / 256
    "l2": Rule(float, minimum=0),
    "gain_weight": Rule(float, minimum=0),
    "vad_weight": Rule(float, minimum=0),
    "bce": Rule(str, choices=BCE_MODES),
    "activations": Rule(list, choices=ACTIVATIONS, length=3, separator=","),
    "sizes": Rule(list, length=4, separator=",", check=_unit_counts),
    "val_split": Rule(float, minimum=0, below=1),
    "seed": Rule(int, minimum=0),
}
"""Type and range of every :class:`TrainConfig` field (floats must also be finite)."""


@dataclass(frozen=True)
class TrainConfig:
    """The training recipe (defaults: ``rnn_train.py``).

    Attributes
    ----------
    epochs : int
        Total epochs of the run (120).
    batch_size : int
        Sequences per batch (32).
    window : int
        Frames per sequence (2000).
    lr, eps : float
        Adam learning rate (1e-3) and epsilon (1e-7, Keras).
    clip : float
        Every weight and bias clipped to ``[-clip, clip]`` after each step (0.499).
    l2 : float
        L2 factor on the GRU kernels and recurrent kernels (1e-6).
    gain_weight, vad_weight : float
        Loss weights (10, 0.5).
    bce : {"swapped", "textbook"}
        Binary cross-entropy flavour (see :mod:`rnnoise_kit.training.loss`).
    activations : tuple of 3 str
        ``(vad_gru, noise_gru, denoise_gru)`` activations; ``("relu", "relu", "relu")`` is the
        configuration of the released default model.
    sizes : tuple of 4 int
        Units of ``(input_dense, vad_gru, noise_gru, denoise_gru)``: ``(24, 24, 48, 96)``, the
        classic network (:data:`rnnoise_kit.model.core.CLASSIC_SIZES`). FFmpeg ``arnndn`` and
        librnnoise v0.1.1 load a model only when every layer has at most 128 inputs and units
        (:func:`rnnoise_kit.model.core.reader_problem`); :func:`~rnnoise_kit.training.trainer.train`
        checks that.
    val_split : float
        Share of the sequences held out at the end (0.1).
    seed : int
        Seed of the initial weights and of the per-epoch shuffles.
    """

    epochs: int = 120
    batch_size: int = 32
    window: int = 2000
    lr: float = 1e-3
    eps: float = 1e-7
    clip: float = 0.499
    l2: float = 1e-6
    gain_weight: float = 10.0
    vad_weight: float = 0.5
    bce: str = "swapped"
    activations: tuple[str, str, str] = ("tanh", "relu", "tanh")
    sizes: tuple[int, int, int, int] = (24, 24, 48, 96)
    val_split: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        # one table of types and ranges (RECIPE_RULES), shared with the pipeline's settings
        given = {f.name: getattr(self, f.name) for f in fields(self)}
        if isinstance(given["sizes"], (list, tuple)):  # numbers: checked as their digits
            given["sizes"] = [str(v) if isinstance(v, int) and not isinstance(v, bool) else v
                              for v in given["sizes"]]
        values = check_settings(given, RECIPE_RULES)
        values["activations"] = tuple(values["activations"])
        values["sizes"] = tuple(int(v) for v in values["sizes"])
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def recipe(self) -> dict:
        """Every field but ``epochs`` (what a resumed run must share), JSON-ready."""
        d = asdict(self)
        d.pop("epochs")
        d["activations"] = list(self.activations)
        d["sizes"] = list(self.sizes)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """Inverse of :func:`dataclasses.asdict` (unknown keys ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: (tuple(v) if k in ("activations", "sizes") else v)
                      for k, v in d.items() if k in names})
