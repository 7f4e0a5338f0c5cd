"""A finite mixture of Markov chains: the in-context-learning task of Park, Lubana, Pres and
Tanaka (2025), read in the chapter "In-context learning as competing algorithms".

`chains` transition matrices over `states` states are drawn once, each row from a flat
Dirichlet (uniform on the simplex, as in the authors' code).  A training sequence picks one of
them uniformly at random (the authors draw unequal weights; equal ones keep the retrieval
posterior's prior out of the way), starts from its stationary distribution and walks
`seq_len` steps.  Fresh chains from the same Dirichlet give the out-of-distribution sequences:
no memorised chain helps there, only what the context itself says.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


def dirichlet_chains(count: int, states: int, rng: np.random.Generator) -> torch.Tensor:
    """(count, states, states) transition matrices, every row uniform on the simplex, in float64 on
    the host (the model's device never sees them: the data are walked and the algorithms computed
    on the CPU)."""
    return torch.as_tensor(rng.dirichlet(np.ones(states), size=(count, states)), device="cpu")


def stationary(transitions: torch.Tensor) -> torch.Tensor:
    """(..., k) stationary distribution of each (..., k, k) row-stochastic matrix: the
    eigenvector of T^T for eigenvalue 1, found as the solution of (T^T - I) pi = 0, sum pi = 1."""
    k = transitions.shape[-1]
    eye = torch.eye(k, dtype=transitions.dtype)
    system = torch.cat([transitions.transpose(-1, -2) - eye, torch.ones(*transitions.shape[:-2], 1, k,
                                                                        dtype=transitions.dtype)], dim=-2)
    target = torch.zeros(*transitions.shape[:-2], k + 1, 1, dtype=transitions.dtype)
    target[..., -1, 0] = 1
    return torch.linalg.lstsq(system, target).solution[..., 0].clamp_min(0)


def walk(transitions: torch.Tensor, chain: torch.Tensor, length: int,
         generator: torch.Generator) -> torch.Tensor:
    """(B, length) state sequences: sequence b walks chain `chain[b]` of `transitions`
    (N, k, k), starting from that chain's stationary distribution."""
    pi = stationary(transitions)[chain]                                  # (B, k)
    cumulative = transitions.cumsum(-1)
    u = torch.rand(length, len(chain), 1, generator=generator, dtype=transitions.dtype)
    out = torch.empty(len(chain), length, dtype=torch.long)
    k = transitions.shape[-1]
    out[:, 0] = torch.searchsorted(pi.cumsum(-1), u[0]).squeeze(1).clamp_max(k - 1)
    for t in range(1, length):
        rows = cumulative[chain, out[:, t - 1]]                          # (B, k)
        out[:, t] = torch.searchsorted(rows, u[t]).squeeze(1).clamp_max(k - 1)
    return out


@dataclass(frozen=True)
class MarkovMixture:
    states: int = 10
    chains: int = 16
    seq_len: int = 128
    seed: int = 0                 # draws the training chains

    def __post_init__(self):
        if self.states < 2 or self.chains < 1 or self.seq_len < 2:
            raise ValueError(f"states={self.states}, chains={self.chains}, seq_len={self.seq_len} are not "
                             "allowed: need states >= 2, chains >= 1, seq_len >= 2")

    def transitions(self) -> torch.Tensor:
        """(chains, states, states): the training chains, fixed by `seed`."""
        return dirichlet_chains(self.chains, self.states, np.random.default_rng([self.seed, self.chains]))

    def fresh(self, batch: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(sequences, chains): `batch` sequences, each from its own new chain (out of distribution)."""
        T = dirichlet_chains(batch, self.states, np.random.default_rng([seed, 7919]))
        g = torch.Generator().manual_seed(seed)
        return walk(T, torch.arange(batch), self.seq_len, g), T
