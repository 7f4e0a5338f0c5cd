"""(n, k)-sparse parity (Barak et al. 2022): x uniform in {-1, +1}^n, y = prod_{j in S} x_j, |S| = k.

Several (n, k) problems share one batched model: inputs are padded with zeros to the largest
n (a zero input never moves its weights), and each member has its own secret support S.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def secret_support(n: int, k: int, seed: int) -> list[int]:
    """The k relevant coordinates of a problem, drawn from `seed`."""
    if not 1 <= k <= n:
        raise ValueError(f"k={k} is not allowed: need 1 <= k <= n={n}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return sorted(order[:k].tolist())


@dataclass
class ParityProblems:
    """E sparse-parity problems, padded to n_max inputs."""

    n: torch.Tensor          # (E,) number of inputs of each problem
    support: torch.Tensor    # (E, n_max) bool: the secret coordinates
    active: torch.Tensor     # (E, n_max) bool: coordinates < n

    @classmethod
    def make(cls, problems: list[tuple[int, int, int]], device="cpu") -> "ParityProblems":
        """problems: (n, k, seed) for each member."""
        n_max = max(n for n, _, _ in problems)
        support = torch.zeros(len(problems), n_max, dtype=torch.bool)
        for row, (n, k, seed) in enumerate(problems):
            support[row, secret_support(n, k, seed)] = True
        n = torch.tensor([n for n, _, _ in problems])
        active = torch.arange(n_max)[None, :] < n[:, None]
        return cls(n.to(device), support.to(device), active.to(device))

    def sample(self, batch: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Fresh inputs (E, batch, n_max) in {-1, +1} (0 where padded) and labels (E, batch)."""
        E, n_max = self.active.shape
        bits = torch.randint(0, 2, (E, batch, n_max), generator=generator,
                             device=generator.device).to(torch.float32)
        x = (2 * bits - 1) * self.active[:, None, :]
        y = torch.where(self.support[:, None, :], x, torch.ones_like(x)).prod(-1)
        return x, y
