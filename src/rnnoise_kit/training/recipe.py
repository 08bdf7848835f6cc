"""The training recipe's settings and what each accepts (no torch needed).

:class:`~rnnoise_kit.training.trainer.TrainConfig` checks its fields against
:data:`RECIPE_RULES`, and so does the pipeline's configuration for the keys it shares, before
any data stage runs.
"""

from __future__ import annotations

from rnnoise_kit.settings import Rule

ACTIVATIONS = ("tanh", "sigmoid", "relu")
"""GRU activations the trainer implements."""

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
    "bce": Rule(str, choices=("swapped", "textbook")),
    "activations": Rule(list, choices=ACTIVATIONS, length=3, separator=","),
    "val_split": Rule(float, minimum=0, below=1),
    "seed": Rule(int, minimum=0),
}
"""Type and range of every :class:`TrainConfig` field (floats must also be finite)."""
