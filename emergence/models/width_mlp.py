"""One-hidden-layer MLPs of different widths trained as one batched model.

Every member is padded to the largest width; a fixed 0/1 mask on the hidden units switches the
padding off, so member e computes exactly what a standalone MLP of width widths[e] would, and
its padded weights never receive a gradient.  A grid of model sizes costs one `bmm` per layer.
"""

from __future__ import annotations

import torch

from emergence.models.ensemble import EnsembleModule
from emergence.models.mlp import _padded_uniform


class WidthMLP(EnsembleModule):
    """logits = W2 relu(W1 x + b1) + b2, member e with widths[e] hidden units (nn.Linear's init).

    Parameters: W1 (E, n_in, w_max), b1 (E, w_max), W2 (E, w_max, n_out), b2 (E, n_out).
    Inputs: (N, n_in) shared by every member, or (E, N, n_in); outputs (E, N, n_out).
    """

    def __init__(self, n_in: int, widths: list[int], n_out: int, seeds: list[int]):
        super().__init__(seeds)
        if len(widths) != len(seeds) or min(widths) < 1:
            raise ValueError(f"widths {widths} must be positive, one per seed ({len(seeds)})")
        self.n_in, self.n_out, self.widths = n_in, n_out, [int(w) for w in widths]
        w_max = max(self.widths)
        W1, b1, W2, b2 = [], [], [], []
        for g, w in zip(self._generators, self.widths):
            W1.append(_padded_uniform(g, w, w_max, (n_in,), 1 / n_in ** 0.5).T)
            b1.append(_padded_uniform(g, w, w_max, (), 1 / n_in ** 0.5))
            W2.append(_padded_uniform(g, w, w_max, (n_out,), 1 / w ** 0.5))
            b2.append(_padded_uniform(g, n_out, n_out, (), 1 / w ** 0.5))
        self.W1, self.b1, self.W2, self.b2 = (torch.nn.Parameter(torch.stack(t).contiguous())
                                              for t in (W1, b1, W2, b2))
        mask = torch.arange(w_max)[None, :] < torch.tensor(self.widths)[:, None]
        self.register_buffer("mask", mask.float()[:, None, :])

    def n_params(self) -> list[int]:
        """Each member's own parameter count (no padding): (n_in + 1) w + (w + 1) n_out."""
        return [(self.n_in + 1) * w + (w + 1) * self.n_out for w in self.widths]

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            x = x.expand(self.n_models, *x.shape)
        return torch.relu(torch.baddbmm(self.b1[:, None, :], x, self.W1)) * self.mask

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.b2[:, None, :], self.hidden(x), self.W2)
