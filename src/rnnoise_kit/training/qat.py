"""Quantisation-aware training: the forward pass sees the weights the exported model will have.

The v0.1 formats store every weight and bias as ``int8 / 256``
(:func:`rnnoise_kit.model.core.quantize`). Inside :func:`fake_quantised` the network's
parameters hold those values; the gradient computed there is applied to the float weights
restored on exit (the straight-through estimator: rounding is taken as the identity in the
backward pass). A model trained this way to the end is, once exported, the model whose loss the
last epochs measured.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from rnnoise_kit.model.core import quantize

__all__ = ["fake_quantised", "quantised"]


def quantised(weights: torch.Tensor) -> torch.Tensor:
    """The values ``weights`` take once exported: ``quantize(weights) / 256``, same dtype and
    device (the rounding of :func:`~rnnoise_kit.model.core.quantize`, computed in float64)."""
    q = quantize(weights.detach().cpu().numpy()).astype(np.float32) / np.float32(256)
    return torch.from_numpy(q).to(device=weights.device, dtype=weights.dtype)


@contextmanager
def fake_quantised(net: torch.nn.Module, enabled: bool = True,
                   clip: float | None = None) -> Iterator[None]:
    """Hold the quantised weights in ``net``'s parameters for the duration of the block.

    The float weights come back on exit, with whatever gradient the block accumulated in
    ``.grad`` (computed at the quantised weights: straight-through). ``enabled=False`` does
    nothing, so that one code path serves both phases. ``clip``: the weights are clipped to
    +-clip before quantising, as the trainer clips them after every step (a run whose
    quantisation-aware phase starts with its first step would otherwise quantise initial
    weights that were never clipped and may lie outside int8's range).
    """
    if not enabled:
        yield
        return
    params = list(net.parameters())
    floats = [p.detach().clone() for p in params]
    with torch.no_grad():
        for p in params:
            p.copy_(quantised(p if clip is None else p.clamp(-clip, clip)))
    try:
        yield
    finally:
        with torch.no_grad():
            for p, f in zip(params, floats, strict=True):
                p.copy_(f)
