"""Losses of ``training/rnn_train.py`` (spec section 13).

* ``mymask(y) = min(y + 1, 1)``: 0 for masked (-1) targets, 1 for targets in [0, 1];
* gain loss ``mean(mask * (10 (sqrt(p) - sqrt(y))^4 + (sqrt(p) - sqrt(y))^2 + 0.01 BCE))``;
* VAD loss ``mean(2 |y - 0.5| BCE)``;
* total ``10 * gain + 0.5 * vad``.

``undershoot`` (0 in ``rnn_train.py``) weighs the gain cost of every band whose predicted gain
is below its target by ``1 + undershoot``: errors that remove speech cost more than errors that
leave noise (see :func:`gain_loss`).

``sqrt`` clamps its argument at 0 as Keras 2's ``K.sqrt`` does, so -1 targets give 0 instead of
NaN. The BCE comes in two flavours:

``"swapped"`` (default)
    What ``K.binary_crossentropy(y_pred, y_true)`` computes under Keras >= 2.0.7, whose signature
    is ``(target, output)``: the *target* is clipped to ``[1e-7, 1 - 1e-7]`` and used as the
    probability, ``-[p ln c + (1 - p) ln(1 - c)]`` with ``c = clip(y)``.
``"textbook"``
    The intended ``-[y ln c + (1 - y) ln(1 - c)]`` with ``c = clip(p, 1e-7, 1 - 1e-7)``.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch

__all__ = [
    "EPSILON",
    "GAIN_WEIGHT",
    "VAD_WEIGHT",
    "BCEMode",
    "LossParts",
    "anchor_targets",
    "binary_crossentropy",
    "gain_loss",
    "mask",
    "msse",
    "rnnoise_loss",
    "vad_loss",
]

BCEMode = Literal["swapped", "textbook"]

EPSILON = 1e-7
"""Keras' ``K.epsilon()``."""
GAIN_WEIGHT = 10.0
VAD_WEIGHT = 0.5
_SQRT_FLOOR = 1e-12  # predictions below this get a zero sqrt gradient instead of inf


class LossParts(NamedTuple):
    """Weighted total and the two unweighted parts of the RNNoise loss."""

    total: torch.Tensor
    gain: torch.Tensor
    vad: torch.Tensor


def mask(target: torch.Tensor) -> torch.Tensor:
    """``min(y + 1, 1)``."""
    return torch.clamp(target + 1, max=1)


def binary_crossentropy(
    pred: torch.Tensor, target: torch.Tensor, mode: BCEMode = "swapped"
) -> torch.Tensor:
    """Element-wise binary cross-entropy as ``rnn_train.py`` gets it.

    Parameters
    ----------
    pred, target : Tensor
        Predictions ``p`` and targets ``y`` of the same shape.
    mode : {"swapped", "textbook"}
        See the module docstring.

    Returns
    -------
    Tensor
        Element-wise loss, finite for any ``y`` (also -1) and ``p`` in [0, 1].
    """
    if mode == "swapped":
        c = torch.clamp(target, EPSILON, 1 - EPSILON)
        return -(pred * torch.log(c) + (1 - pred) * torch.log1p(-c))
    if mode == "textbook":
        c = torch.clamp(pred, EPSILON, 1 - EPSILON)
        return -(target * torch.log(c) + (1 - target) * torch.log1p(-c))
    raise ValueError(f"unknown BCE mode {mode!r}")


def _sqrt_pred(pred: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(torch.clamp(pred, min=_SQRT_FLOOR))


def _sqrt_target(target: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(torch.clamp(target, min=0))


def _weight(pred: torch.Tensor, target: torch.Tensor, undershoot: float) -> torch.Tensor:
    """``mask(y)``, times ``1 + undershoot`` where ``p < y``."""
    m = mask(target)
    if undershoot:
        m = m * (1 + undershoot * (pred < target).to(m.dtype))
    return m


def _gain_cost(pred: torch.Tensor, target: torch.Tensor, bce: BCEMode,
               undershoot: float = 0.0) -> torch.Tensor:
    """Element-wise weighted gain cost through plain autograd ops (reference path)."""
    d = _sqrt_pred(pred) - _sqrt_target(target)
    d2 = d * d
    cost = 10 * d2 * d2 + d2 + 0.01 * binary_crossentropy(pred, target, bce)
    return _weight(pred.detach(), target, undershoot) * cost


class _GainLoss(torch.autograd.Function):
    """``mean(mycost)`` with its gradient computed in the forward pass (about half the ops)."""

    @staticmethod
    def forward(ctx, pred, target, bce: str, undershoot: float):  # noqa: D102
        with torch.no_grad():
            n = pred.numel()
            m = _weight(pred, target, undershoot)
            s = torch.sqrt(torch.clamp_min(pred, _SQRT_FLOOR))
            d = s - torch.sqrt(torch.clamp_min(target, 0))
            d2 = d * d
            if bce == "swapped":
                c = torch.clamp(target, EPSILON, 1 - EPSILON)
                l1c = torch.log1p(-c)
                ld = torch.log(c).sub_(l1c)  # d bce / d pred = -ld
                bce_val = torch.addcmul(l1c, pred, ld).neg_()
                dbce = ld.neg_()
            elif bce == "textbook":
                c = torch.clamp(pred, EPSILON, 1 - EPSILON)
                lc, l1c = torch.log(c), torch.log1p(-c)
                bce_val = torch.addcmul(l1c, target, lc - l1c).neg_()
                dbce = ((1 - target) / (1 - c)).sub_(target / c)
                dbce.mul_((pred >= EPSILON) & (pred <= 1 - EPSILON))
            else:
                raise ValueError(f"unknown BCE mode {bce!r}")
            cost = torch.addcmul(d2, d2, d2, value=10).add_(bce_val, alpha=0.01)
            total = torch.dot(m.reshape(-1), cost.reshape(-1)) / n
            if ctx.needs_input_grad[0]:
                # d cost / d pred = (40 d^3 + 2 d) * 0.5 / s + 0.01 dbce, zero below the floor
                g = d.mul_(torch.addcmul(torch.ones_like(d2), d2, d2.new_tensor(20.0)))
                g.div_(s).mul_(pred >= _SQRT_FLOOR).add_(dbce, alpha=0.01).mul_(m).div_(n)
                ctx.save_for_backward(g)
        return total

    @staticmethod
    def backward(ctx, grad_out):  # noqa: D102
        (g,) = ctx.saved_tensors
        return g * grad_out, None, None, None


def gain_loss(pred: torch.Tensor, target: torch.Tensor, bce: BCEMode = "swapped",
              undershoot: float = 0.0) -> torch.Tensor:
    """``mycost``: mean over all elements of the masked gain cost.

    Parameters
    ----------
    pred : Tensor, shape (..., 22)
        Predicted gains in [0, 1].
    target : Tensor, shape (..., 22)
        Target gains in [0, 1], or -1 where masked.
    bce : {"swapped", "textbook"}
    undershoot : float
        Extra weight of the elements whose prediction is below the target (0: ``mycost``).

    Returns
    -------
    Tensor
        Scalar. Computed by a fused forward that also produces the gradient with respect to
        ``pred`` (targets that require a gradient take the plain autograd path).
    """
    if target.requires_grad:
        return _gain_cost(pred, target, bce, undershoot).mean()
    return _GainLoss.apply(pred, target, bce, float(undershoot))


def vad_loss(pred: torch.Tensor, target: torch.Tensor, bce: BCEMode = "swapped") -> torch.Tensor:
    """``my_crossentropy``: ``mean(2 |y - 0.5| BCE)`` (targets 0.5 get weight 0).

    Parameters
    ----------
    pred, target : Tensor, shape (..., 1)
    bce : {"swapped", "textbook"}

    Returns
    -------
    Tensor
        Scalar.
    """
    return (2 * torch.abs(target - 0.5) * binary_crossentropy(pred, target, bce)).mean()


def msse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Metric ``mean(mask (sqrt(p) - sqrt(y))^2)``."""
    d = _sqrt_pred(pred) - _sqrt_target(target)
    return (mask(target) * d * d).mean()


def anchor_targets(gains_target: torch.Tensor, vad_target: torch.Tensor,
                   anchor_gains: torch.Tensor, share: float) -> torch.Tensor:
    """Target gains pulled towards a reference network's gains in the frames with speech.

    ``y + share * (g - y)`` for the bands with a target (``y >= 0``) in the frames whose VAD
    target is not 0; the pauses and the ignored bands (-1) keep ``y``. Fine-tuning with the
    model it starts from as ``g`` keeps that model's treatment of the voice where the data's
    own targets would take more of it, and learns the pauses from the data.

    Parameters
    ----------
    gains_target : Tensor, shape (B, T, 22)
    vad_target : Tensor, shape (B, T, 1)
    anchor_gains : Tensor, shape (B, T, 22)
        The reference network's gains on the same frames (no gradient flows into them).
    share : float
        In [0, 1]: 0 leaves the targets, 1 replaces them with ``anchor_gains`` in speech.

    Returns
    -------
    Tensor, shape (B, T, 22)
    """
    pulled = gains_target + share * (anchor_gains.detach() - gains_target)
    return torch.where((gains_target >= 0) & (vad_target != 0), pulled, gains_target)


def rnnoise_loss(
    gains: torch.Tensor,
    gains_target: torch.Tensor,
    vad: torch.Tensor,
    vad_target: torch.Tensor,
    bce: BCEMode = "swapped",
    gain_weight: float = GAIN_WEIGHT,
    vad_weight: float = VAD_WEIGHT,
    undershoot: float = 0.0,
) -> LossParts:
    """Total training loss ``10 * gain_loss + 0.5 * vad_loss``.

    Parameters
    ----------
    gains, gains_target : Tensor, shape (B, T, 22)
    vad, vad_target : Tensor, shape (B, T, 1)
    bce : {"swapped", "textbook"}
    gain_weight, vad_weight : float
        Keras ``loss_weights``.
    undershoot : float
        See :func:`gain_loss`.

    Returns
    -------
    LossParts
        ``(total, gain, vad)``; ``gain`` and ``vad`` are unweighted. The L2 weight penalty is
        not included (see :meth:`RNNoiseNet.regularization_loss`).
    """
    g = gain_loss(gains, gains_target, bce, undershoot)
    v = vad_loss(vad, vad_target, bce)
    return LossParts(gain_weight * g + vad_weight * v, g, v)
