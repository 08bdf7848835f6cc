"""The 0.2 training loss (upstream ``train_rnnoise.py`` at the main branch, spec rnnoise-v0.2
sections 10 and 12)::

    t    = max(g, 0) * tanh(sharpness * max(g, 0))^2          target gain shaping
    gain = mean((1 + boost * v) * min(g + 1, 1) * (p^gamma - t^gamma)^2)
    vad  = mean(|2v - 1| * (-v log(0.01 + q) - (1 - v) log(1.01 - q)))
    loss = gain + vad_weight * vad

over the targets ``[3:-1]`` of each sequence (the two valid convolutions' delay); ``g = -1``
marks a band to ignore (mask 0).
"""

from __future__ import annotations

import torch

from rnnoise_kit.training.loss import LossParts, mask

__all__ = ["rnnoise02_loss"]


def rnnoise02_loss(
    pred_gain: torch.Tensor,
    gain: torch.Tensor,
    pred_vad: torch.Tensor,
    vad: torch.Tensor,
    gamma: float = 0.25,
    sharpness: float = 8.0,
    vad_boost: float = 5.0,
    vad_weight: float = 0.001,
) -> LossParts:
    """The loss of predictions against aligned targets.

    Parameters
    ----------
    pred_gain : tensor (B, T, 32)
    gain : tensor (B, T, 32)
        Target gains (-1: ignore), already aligned (``[3:-1]`` of the rows).
    pred_vad, vad : tensors (B, T, 1)

    Returns
    -------
    LossParts
        ``total``, ``gain`` and ``vad`` (the last two unweighted).
    """
    target = torch.clamp(gain, min=0)
    target = target * torch.tanh(sharpness * target) ** 2
    err = pred_gain ** gamma - target ** gamma
    gain_part = torch.mean((1 + vad_boost * vad) * mask(gain) * err ** 2)
    vad_part = torch.mean(torch.abs(2 * vad - 1) * (-vad * torch.log(0.01 + pred_vad)
                                                    - (1 - vad) * torch.log(1.01 - pred_vad)))
    return LossParts(gain_part + vad_weight * vad_part, gain_part, vad_part)
