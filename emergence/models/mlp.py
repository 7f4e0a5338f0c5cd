"""A one-hidden-layer MLP on one-hot (a, b) pairs, for modular arithmetic (Gromov 2023)."""

from __future__ import annotations

import torch
from torch import nn

from emergence.models.ensemble import EnsembleModule


class ModularMLP(EnsembleModule):
    """logits = act(onehot(a) W_a + onehot(b) W_b) W_out, for E members at once.

    The one-hot input layer is stored as two embedding tables (`embed_a`, `embed_b`,
    each (E, p, width)); `forward` multiplies the one-hot matrix by them with `bmm`, which
    on a CPU is faster than a gather and gives the same numbers.  The activation is x**2
    (Gromov's choice: it makes the Fourier solution exact) or ReLU.
    """

    def __init__(self, p: int, width: int, seeds: list[int], activation: str = "quadratic",
                 init_scale: float = 1.0):
        super().__init__(seeds)
        if activation not in ("quadratic", "relu"):
            raise ValueError(f"activation={activation!r} is not allowed: 'quadratic' or 'relu'")
        self.p, self.width, self.activation = p, width, activation
        self.embed_a = self._stack_init((p, width), init_scale / (2 * p) ** 0.5)
        self.embed_b = self._stack_init((p, width), init_scale / (2 * p) ** 0.5)
        self.unembed = self._stack_init((width, p), 1 / width ** 0.5)

    def hidden(self, onehot_ab: torch.Tensor) -> torch.Tensor:
        """Hidden activations (E, N, width) for a (N, 2p) one-hot matrix of pairs."""
        w_in = torch.cat([self.embed_a, self.embed_b], dim=1)  # (E, 2p, width)
        pre = torch.bmm(onehot_ab.expand(self.n_models, *onehot_ab.shape), w_in)
        return pre * pre if self.activation == "quadratic" else torch.relu(pre)

    def forward(self, onehot_ab: torch.Tensor) -> torch.Tensor:
        return torch.bmm(self.hidden(onehot_ab), self.unembed)

    def embeddings(self) -> torch.Tensor:
        """The input embedding of each residue, (E, p, 2*width): the map Fourier measures read."""
        return torch.cat([self.embed_a, self.embed_b], dim=2).detach()
