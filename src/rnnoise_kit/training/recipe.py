"""The training recipe: :class:`TrainConfig`, the named recipes (:data:`RECIPES`) that fill in
its optimiser, schedule and quantisation-aware settings, and what each setting accepts
(:data:`RECIPE_RULES`).

``"seed"`` is ``training/rnn_train.py`` exactly (Adam, Keras L2, no gradient clipping, no
quantisation-aware phase); ``"modern"`` (the default) is AdamW, gradient-norm clipping, and a
last quantisation-aware phase, so that the int8 model that is exported is the model that was
trained. A warm-up and cosine schedule is available (``schedule``, ``warmup``) but not in the
default: it trained worse in the ablation of docs/training.md.

The one source of the ``train`` and ``pipeline`` defaults and rules: the pipeline's
configuration checks the keys it shares against the same rules, and the command line reads
the defaults from here while it builds its parser. Light on purpose (no torch, numpy or numba
at import).
"""

from __future__ import annotations

import math
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


def unit_count_texts(sizes):
    """Sizes given as numbers (``[24, 24, 62, 128]``) as the strings that
    ``RECIPE_RULES["sizes"]`` checks (their digits); any other value unchanged."""
    if isinstance(sizes, (list, tuple)):
        return [str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in sizes]
    return sizes


OPTIMIZERS = ("adam", "adamw")
"""``adam``: Adam with the L2 penalty in the loss (Keras); ``adamw``: decoupled weight decay."""
SCHEDULES = ("constant", "cosine")
"""Learning-rate schedules (see :func:`learning_rate`)."""

DEFAULT_RECIPE = "modern"
RECIPES: dict[str, dict] = {
    "seed": {"lr": 1e-3, "l2": 1e-6, "optimizer": "adam", "weight_decay": 0.0,
             "schedule": "constant", "warmup": 0.0, "grad_clip": 0.0, "qat_fraction": 0.0,
             "undershoot": 0.0, "anchor": 0.0},
    "modern": {"lr": 1e-3, "l2": 0.0, "optimizer": "adamw", "weight_decay": 1e-2,
               "schedule": "constant", "warmup": 0.0, "grad_clip": 1.0, "qat_fraction": 0.15,
               "undershoot": 0.0, "anchor": 0.0},
}
"""The settings each named recipe gives the :class:`TrainConfig` fields left unset (None)."""

RECIPE_RULES: dict[str, Rule] = {
    "epochs": Rule(int, minimum=0),
    "batch_size": Rule(int, minimum=1),
    "window": Rule(int, minimum=1),
    "recipe": Rule(str, choices=tuple(RECIPES)),
    "lr": Rule(float, above=0),
    "eps": Rule(float, above=0),
    "clip": Rule(float, above=0, maximum=0.5),  # so that every weight fits int8 / 256
    "l2": Rule(float, minimum=0),
    "gain_weight": Rule(float, minimum=0),
    "vad_weight": Rule(float, minimum=0),
    "undershoot": Rule(float, minimum=0),
    "anchor": Rule(float, minimum=0, maximum=1),
    "bce": Rule(str, choices=BCE_MODES),
    "activations": Rule(list, choices=ACTIVATIONS, length=3, separator=","),
    "sizes": Rule(list, length=4, separator=",", check=_unit_counts),
    "val_split": Rule(float, minimum=0, below=1),
    "seed": Rule(int, minimum=0),
    "optimizer": Rule(str, choices=OPTIMIZERS),
    "weight_decay": Rule(float, minimum=0),
    "schedule": Rule(str, choices=SCHEDULES),
    "warmup": Rule(float, minimum=0, below=1),
    "grad_clip": Rule(float, minimum=0),
    "qat_fraction": Rule(float, minimum=0, maximum=1),
}
"""Type and range of every :class:`TrainConfig` field (floats must also be finite)."""


@dataclass(frozen=True)
class TrainConfig:
    """The training recipe.

    The fields left None take the values of the named ``recipe`` (:data:`RECIPES`); the others
    default to ``rnn_train.py``'s values in both recipes. ``TrainConfig(recipe="seed")`` is
    ``rnn_train.py`` exactly.

    Attributes
    ----------
    recipe : {"modern", "seed"}
        The named recipe the unset fields come from (default ``"modern"``).
    epochs : int
        Total epochs of the run (120).
    batch_size : int
        Sequences per batch (32).
    window : int
        Frames per sequence (2000).
    lr : float
        (Peak) learning rate (1e-3 in both recipes).
    eps : float
        Adam epsilon (1e-7, Keras).
    clip : float
        Every weight and bias clipped to ``[-clip, clip]`` after each step (0.499), so that it
        quantises into int8 / 256.
    l2 : float
        L2 factor on the GRU kernels and recurrent kernels, added to the loss (seed 1e-6,
        modern 0).
    gain_weight, vad_weight : float
        Loss weights (10, 0.5).
    undershoot : float
        Extra weight of the gain errors that remove speech (prediction below target) in the
        loss (:func:`rnnoise_kit.training.loss.gain_loss`; 0 in both recipes).
    anchor : float
        When fine-tuning (``init``): in the frames with speech, each target gain is pulled
        towards the gain the ``init`` model itself gives by this share, in [0, 1]
        (:func:`rnnoise_kit.training.loss.anchor_targets`; 0 in both recipes).
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
    optimizer : {"adam", "adamw"}
        Adam (seed) or AdamW with decoupled ``weight_decay`` (modern).
    weight_decay : float
        AdamW's decoupled weight decay (seed 0, modern 0.01; ignored by Adam).
    schedule : {"constant", "cosine"}
        Learning rate over the run (:func:`learning_rate`; constant in both recipes).
    warmup : float
        Share of the run's steps with a linear warm-up (0 in both recipes).
    grad_clip : float
        Largest gradient norm per step, 0 for none (seed 0, modern 1).
    qat_fraction : float
        Share of the epochs (rounded up) at the end trained with weights quantised as the
        exported model has them, with straight-through gradients (seed 0, modern 0.15; see
        :func:`qat_epochs`).
    """

    recipe: str = DEFAULT_RECIPE
    epochs: int = 120
    batch_size: int = 32
    window: int = 2000
    lr: float | None = None
    eps: float = 1e-7
    clip: float = 0.499
    l2: float | None = None
    gain_weight: float = 10.0
    vad_weight: float = 0.5
    undershoot: float | None = None
    anchor: float | None = None
    bce: str = "swapped"
    activations: tuple[str, str, str] = ("tanh", "relu", "tanh")
    sizes: tuple[int, int, int, int] = (24, 24, 48, 96)
    val_split: float = 0.1
    seed: int = 0
    optimizer: str | None = None
    weight_decay: float | None = None
    schedule: str | None = None
    warmup: float | None = None
    grad_clip: float | None = None
    qat_fraction: float | None = None

    def __post_init__(self) -> None:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values = check_settings({"recipe": values["recipe"]}, RECIPE_RULES) | {
            k: v for k, v in values.items() if k != "recipe"}
        for name, value in RECIPES[values["recipe"]].items():
            if values[name] is None:
                values[name] = value
        # one table of types and ranges (RECIPE_RULES), shared with the pipeline's settings
        values = check_settings(values | {"sizes": unit_count_texts(values["sizes"])},
                                RECIPE_RULES)
        values["activations"] = tuple(values["activations"])
        values["sizes"] = tuple(int(v) for v in values["sizes"])
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def recipe_settings(self) -> dict:
        """Every field but ``epochs`` (what a resumed run must share), JSON-ready."""
        d = asdict(self)
        d.pop("epochs")
        d["activations"] = list(self.activations)
        d["sizes"] = list(self.sizes)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """Inverse of :func:`dataclasses.asdict` (unknown keys ignored). A dict without
        ``recipe`` (a checkpoint written before there were named recipes) is the seed recipe."""
        names = {f.name for f in fields(cls)}
        return cls(**{"recipe": "seed"} | {k: (tuple(v) if k in ("activations", "sizes") else v)
                                           for k, v in d.items() if k in names})


def qat_epochs(config: TrainConfig) -> int:
    """How many epochs at the end of the run are quantisation-aware:
    ``ceil(qat_fraction * epochs)`` (at most ``epochs``)."""
    return min(config.epochs, math.ceil(config.qat_fraction * config.epochs - 1e-9))


def learning_rate(config: TrainConfig, step: int, total_steps: int) -> float:
    """The learning rate of optimiser step ``step`` (0-based) of ``total_steps``.

    A linear warm-up from ``lr / W`` to ``lr`` over the first ``W = int(warmup * total_steps)``
    steps, then ``lr`` (``"constant"``) or a cosine decay from ``lr`` to ``lr / 100`` at the
    last step (``"cosine"``).
    """
    lr = config.lr
    warm = int(config.warmup * total_steps)
    if step < warm:
        return lr * (step + 1) / warm
    if config.schedule == "constant":
        return lr
    span = max(1, total_steps - warm - 1)
    t = min(1.0, (step - warm) / span)
    floor = lr / 100
    return floor + 0.5 * (lr - floor) * (1 + math.cos(math.pi * t))
