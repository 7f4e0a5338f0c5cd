"""Low-rank adapters and steering vectors for E models at once (Hu et al.'s LoRA).

A LoRA adapter adds a trainable low-rank update to a frozen linear map: for an input x,

    delta(x) = scale * (x A^T) B^T,      A: (rank, d_in),  B: (d_out, rank),

so the frozen map W becomes W + scale * B A.  As in PEFT, B starts at zero (the adapted model
starts as the base model) and A at random; `scale` is alpha / rank (or alpha / sqrt(rank) for
rank-stabilised LoRA).  A steering vector is the rank-0 cousin: a trainable vector added to
the activations.  Both carry a leading ensemble dimension E, like every model in this package,
so E seeds or hyperparameters train as one module; a base model with E = 1 broadcasts against
them.
"""

from __future__ import annotations

import math

import torch

from emergence.models.ensemble import EnsembleModule


class LowRankAdapter(EnsembleModule):
    """delta(x) = scale * (x A^T) B^T for E members: A (E, rank, d_in), B (E, d_out, rank)."""

    def __init__(self, d_in: int, d_out: int, rank: int, seeds: list[int], alpha: float | None = None,
                 init_std: float | None = None, rank_stabilised: bool = False, b_init_std: float = 0.0):
        super().__init__(seeds)
        if rank < 1:
            raise ValueError(f"rank={rank} is not allowed: an integer >= 1")
        self.d_in, self.d_out, self.rank = d_in, d_out, rank
        alpha = float(rank if alpha is None else alpha)
        self.scale = alpha / math.sqrt(rank) if rank_stabilised else alpha / rank
        # PEFT's default draws A from a Kaiming-uniform; a Gaussian of the same scale reads easier.
        self.A = self._stack_init((rank, d_in), 1 / math.sqrt(d_in) if init_std is None else init_std)
        self.B = self._stack_init((d_out, rank), b_init_std) if b_init_std > 0 else self._zeros((d_out, rank))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (E, N, d_in) or (1, N, d_in) -> the update (E, N, d_out)."""
        return self.scale * torch.matmul(torch.matmul(x, self.A.transpose(1, 2)), self.B.transpose(1, 2))

    def delta_weight(self) -> torch.Tensor:
        """(E, d_out, d_in): the update scale * B A that the adapter adds to the frozen weight."""
        return self.scale * torch.bmm(self.B, self.A)

    def norm(self) -> torch.Tensor:
        """(E,): the Frobenius norm of the update, ||scale * B A||_F (= scale |a| |b| at rank 1)."""
        return self.delta_weight().flatten(1).norm(dim=1)


class SteeringVector(EnsembleModule):
    """x + v for E members: v (E, d), zero at the start unless `init_std` > 0."""

    def __init__(self, d: int, seeds: list[int], init_std: float = 0.0):
        super().__init__(seeds)
        self.v = self._stack_init((d,), init_std) if init_std > 0 else self._zeros((d,))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The update (E, 1, d), to be added to activations (E or 1, N, d)."""
        return self.v[:, None, :]

    def norm(self) -> torch.Tensor:
        return self.v.detach().norm(dim=1)


def lora_parameter_count(d_in: int, d_out: int, rank: int) -> int:
    return rank * (d_in + d_out)
