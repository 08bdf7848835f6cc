"""Block sparsification of the GRU matrices (upstream's ``GRUSparsifier``, spec rnnoise-v0.2
sections 10 and 12).

Each of the six gate matrices of every GRU (input and recurrent, gates r, z, n; N x N) is cut
into blocks of 8 outputs x 4 inputs, the blocks of the 0.2 sparse format (spec 6.4). From step
``start`` to ``stop``, every ``interval`` steps, the blocks with the smallest energy (sum of
squared weights) are set to zero so that a share ``d(step)`` of them stays::

    d(step) = a + (1 - a) * density,   a = ((stop - step) / (stop - start)) ** exponent

falling from 1 to the target density (r .3, z .2, n .5, for the input and the recurrent
matrices). From ``stop`` on, every step keeps the target density. A recurrent matrix keeps
its diagonal (0.2 stores it apart, outside the blocks): it neither counts in a block's energy
nor is pruned. The exporter then leaves the all-zero blocks out of the blob.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rnnoise_kit.model.v02.model import SPARSE_BLOCK

__all__ = ["DENSITIES", "SparsifySchedule", "sparsify_grus", "sparsify_matrix"]

DENSITIES: dict[str, float] = {"r": 0.3, "z": 0.2, "n": 0.5}
"""Target share of 8x4 blocks kept per gate (upstream, input and recurrent alike)."""
_TORCH_GATES = ("r", "z", "n")
"""Gate order of torch's GRU weight blocks."""


@dataclass(frozen=True)
class SparsifySchedule:
    """When the blocks are pruned (optimizer steps, 0-based, counted over the whole run).

    Defaults: upstream's main branch (``--sparse``): 6000 to 20000 every 100, exponent 3.
    """

    start: int = 6000
    stop: int = 20000
    interval: int = 100
    exponent: float = 3.0

    def density_factor(self, step: int) -> float | None:
        """``a`` of the module docstring at ``step``, or None when nothing is pruned there."""
        if step < self.start:
            return None
        if step >= self.stop:
            return 0.0
        if (step - self.start) % self.interval:
            return None
        return ((self.stop - step) / (self.stop - self.start)) ** self.exponent


def sparsify_matrix(w: torch.Tensor, density: float, keep_diagonal: bool = False) -> None:
    """Zero the lowest-energy 8x4 blocks of ``w`` (n_out, n_in) in place, keeping ``density``.

    Blocks are ranked by energy, ties by position (so the result is deterministic); the
    number kept is ``round(density * blocks)``.
    """
    rows, cols = SPARSE_BLOCK
    n_out, n_in = w.shape
    diag = None
    if keep_diagonal:
        diag = torch.diagonal(w).clone()
        w.fill_diagonal_(0.0)
    energy = (w.reshape(n_out // rows, rows, n_in // cols, cols) ** 2).sum(dim=(1, 3))
    n_blocks = energy.numel()
    keep = round(density * n_blocks)
    if keep < n_blocks:
        order = torch.argsort(energy.flatten(), descending=True, stable=True)
        mask = torch.zeros(n_blocks, dtype=torch.bool, device=w.device)
        mask[order[:keep]] = True
        mask = mask.view(n_out // rows, 1, n_in // cols, 1).expand(-1, rows, -1, cols)
        w.mul_(mask.reshape(n_out, n_in).to(w.dtype))
    if diag is not None:
        w.diagonal().copy_(diag)


@torch.no_grad()
def sparsify_grus(grus, step: int, schedule: SparsifySchedule) -> bool:
    """Prune every GRU's six gate matrices for optimizer step ``step``; True if it did."""
    a = schedule.density_factor(step)
    if a is None:
        return False
    for gru in grus:
        n = gru.hidden_size
        for weight, diagonal in ((gru.weight_ih_l0, False), (gru.weight_hh_l0, True)):
            for g, gate in enumerate(_TORCH_GATES):
                density = a + (1.0 - a) * DENSITIES[gate]
                sparsify_matrix(weight.data[g * n:(g + 1) * n], density, diagonal)
    return True
