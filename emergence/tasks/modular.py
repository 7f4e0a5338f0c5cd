"""Modular addition (a + b) mod p, the grokking task of Power et al. 2022 and Nanda et al. 2023."""

from __future__ import annotations

from dataclasses import dataclass

import torch


def is_prime(n: int) -> bool:
    return n >= 2 and all(n % d for d in range(2, int(n ** 0.5) + 1))


def all_pairs(p: int) -> torch.Tensor:
    """Every (a, b) pair, a-major: row a * p + b is (a, b).  Shape (p*p, 2)."""
    values = torch.arange(p)
    return torch.cartesian_prod(values, values)


@dataclass
class ModularData:
    p: int
    train_pairs: torch.Tensor   # (N_train, 2)
    test_pairs: torch.Tensor    # (N_test, 2)
    is_train: torch.Tensor      # (p*p,) bool, in all_pairs order

    @property
    def train_labels(self) -> torch.Tensor:
        return self.train_pairs.sum(1) % self.p

    @property
    def test_labels(self) -> torch.Tensor:
        return self.test_pairs.sum(1) % self.p

    def to(self, device) -> "ModularData":
        return ModularData(self.p, self.train_pairs.to(device), self.test_pairs.to(device),
                           self.is_train.to(device))


def modular_addition(p: int, train_frac: float, seed: int = 0) -> ModularData:
    """All p^2 pairs, a random `train_frac` of them for training (the split depends on seed)."""
    if not is_prime(p):
        raise ValueError(f"p={p} is not allowed: p must be a prime")
    if not 0 < train_frac < 1:
        raise ValueError(f"train_frac={train_frac} is not allowed: it must lie in (0, 1)")
    pairs = all_pairs(p)
    order = torch.randperm(p * p, generator=torch.Generator().manual_seed(seed))
    n_train = round(train_frac * p * p)
    is_train = torch.zeros(p * p, dtype=torch.bool)
    is_train[order[:n_train]] = True
    return ModularData(p, pairs[order[:n_train]], pairs[order[n_train:]], is_train)


def one_hot_pairs(pairs: torch.Tensor, p: int) -> torch.Tensor:
    """(N, 2p) float: one-hot of a in the first p columns, of b in the last p."""
    out = torch.zeros(len(pairs), 2 * p, device=pairs.device)
    rows = torch.arange(len(pairs), device=pairs.device)
    out[rows, pairs[:, 0]] = 1.0
    out[rows, p + pairs[:, 1]] = 1.0
    return out


def pair_tokens(pairs: torch.Tensor, p: int) -> torch.Tensor:
    """(N, 3) token sequences `a b =`, with `=` the token p (Nanda et al.)."""
    equals = torch.full((len(pairs), 1), p, dtype=pairs.dtype, device=pairs.device)
    return torch.cat([pairs, equals], dim=1)
