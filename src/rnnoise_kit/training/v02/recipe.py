"""The 0.2 training recipe: :class:`TrainConfig02`, its defaults (upstream's
``torch/rnnoise/train_rnnoise.py`` at the main branch, spec rnnoise-v0.2 section 12) and what
each setting accepts (:data:`RECIPE_RULES02`). Light on purpose (no torch at import).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from rnnoise_kit.settings import Rule, check_settings
from rnnoise_kit.training.v02.layout import SEQUENCE

__all__ = ["RECIPE_RULES02", "SIZES", "SIZE_NAMES", "VARIANTS", "TrainConfig02"]

SIZES: dict[str, tuple[int, int]] = {"default": (128, 384), "small": (32, 64)}
"""Named (conv1 size C, GRU size G): ``default`` = upstream's ``--cond-size 128 --gru-size
384`` (the shipped model), ``small`` = a network that trains on a laptop CPU in minutes."""
SIZE_NAMES = tuple(SIZES)
"""The names of :data:`SIZES`."""
VARIANTS = ("skip", "tag")
"""Head variants: cat(conv2, gru1..3) (main branch, default) or GRU3 only (v0.2 tag)."""

RECIPE_RULES02: dict[str, Rule] = {
    "epochs": Rule(int, minimum=0),
    "batch_size": Rule(int, minimum=1),
    "window": Rule(int, minimum=5),  # two valid convolutions eat 4 frames
    "lr": Rule(float, above=0),
    "lr_decay": Rule(float, minimum=0),
    "beta1": Rule(float, minimum=0, below=1),
    "beta2": Rule(float, minimum=0, below=1),
    "eps": Rule(float, above=0),
    "weight_decay": Rule(float, minimum=0),
    "gamma": Rule(float, above=0),
    "gain_sharpness": Rule(float, above=0),
    "vad_boost": Rule(float, minimum=0),
    "vad_weight": Rule(float, minimum=0),
    "sparse_start": Rule(int, minimum=0),
    "sparse_stop": Rule(int, minimum=1),
    "sparse_interval": Rule(int, minimum=1),
    "sparse_exponent": Rule(float, above=0),
    "qat_share": Rule(float, minimum=0, maximum=1),
    "val_split": Rule(float, minimum=0, below=1),
    "seed": Rule(int, minimum=0),
    "conv1_size": Rule(int, minimum=4, check=lambda v: "a multiple of 4" if v % 4 else None),
    "gru_size": Rule(int, minimum=8, check=lambda v: "a multiple of 8" if v % 8 else None),
    "variant": Rule(str, choices=VARIANTS),
}
"""Type and range of every non-boolean :class:`TrainConfig02` field."""
_FLAGS = ("carry_states", "sparse")


@dataclass(frozen=True)
class TrainConfig02:
    """The 0.2 recipe (defaults: upstream's main branch, the shipped model's).

    Attributes
    ----------
    epochs : int
        Total epochs (200).
    batch_size, window : int
        Sequences per batch (128) of ``window`` frames (2000, ``dump_features``' sequence).
    lr, lr_decay : float
        AdamW learning rate 1e-3, divided by ``1 + lr_decay * step`` (5e-5) at optimizer step
        ``step`` (upstream's LambdaLR).
    beta1, beta2, eps, weight_decay : float
        AdamW's (0.8, 0.98, 1e-8, and torch's default decay 0.01, which upstream keeps).
    gamma, gain_sharpness, vad_boost, vad_weight : float
        Loss: ``mean((1 + vad_boost v) m (p^gamma - t^gamma)^2) + vad_weight * BCE`` with the
        target ``t = g tanh(gain_sharpness g)^2``; 0.25, 8, 5, 0.001 (section 12).
    carry_states : bool
        Start each batch's GRUs from the previous batch's final states, detached (upstream's
        main branch); zeros when the batch size changes (the last, smaller batch).
    sparse : bool
        Block-sparsify the GRU matrices (upstream ``--sparse``; off by default as upstream).
    sparse_start, sparse_stop, sparse_interval, sparse_exponent :
        Its schedule in optimizer steps (6000, 20000, 100, 3; the v0.2 tag: 2500, 8000, 50).
    qat_share : float
        Share of the epochs (the last ones, at least one when > 0) trained quantisation-aware:
        conv2 and the GRUs see int8-rounded weights and inputs (0.1).
    val_split : float
        Share of the sequences held out at the end for validation (0.1).
    seed : int
        Initial weights and per-epoch shuffles.
    conv1_size, gru_size : int
        C and G: 128 and 384 (``--cond-size``, ``--gru-size`` of the shipped model).
    variant : {"skip", "tag"}
        Heads on cat(conv2, gru1, gru2, gru3) (main branch) or on GRU3 (v0.2 tag).
    """

    epochs: int = 200
    batch_size: int = 128
    window: int = SEQUENCE
    lr: float = 1e-3
    lr_decay: float = 5e-5
    beta1: float = 0.8
    beta2: float = 0.98
    eps: float = 1e-8
    weight_decay: float = 0.01
    gamma: float = 0.25
    gain_sharpness: float = 8.0
    vad_boost: float = 5.0
    vad_weight: float = 0.001
    carry_states: bool = True
    sparse: bool = False
    sparse_start: int = 6000
    sparse_stop: int = 20000
    sparse_interval: int = 100
    sparse_exponent: float = 3.0
    qat_share: float = 0.1
    val_split: float = 0.1
    seed: int = 0
    conv1_size: int = 128
    gru_size: int = 384
    variant: str = "skip"

    def __post_init__(self) -> None:
        values = check_settings({n: getattr(self, n) for n in RECIPE_RULES02}, RECIPE_RULES02)
        for name in _FLAGS:
            if not isinstance(getattr(self, name), bool):
                from rnnoise_kit.errors import SettingError

                raise SettingError(name, f"must be true or false (got {getattr(self, name)!r})")
        if values["sparse_stop"] <= values["sparse_start"]:
            from rnnoise_kit.errors import SettingError

            raise SettingError("sparse_stop", f"must be after sparse_start "
                                              f"({values['sparse_start']})")
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def recipe(self) -> dict:
        """Every field but ``epochs`` (what a resumed run must share), JSON-ready."""
        d = asdict(self)
        d.pop("epochs")
        return d

    def qat_from(self) -> int:
        """First quantisation-aware epoch (0-based); ``epochs`` when there is none."""
        if self.qat_share <= 0:
            return self.epochs
        return self.epochs - max(1, round(self.epochs * self.qat_share))

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig02:
        """Inverse of :func:`dataclasses.asdict` (unknown keys ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})
