"""Multitask sparse parity (Michaud, Liu, Girit and Tegmark 2023): many skills of power-law frequency.

An input is a one-hot task code (n_tasks) followed by n_bits random bits in {0, 1}; the label is
the parity of that task's own secret k bits.  Task i (i = 1, 2, ...) is drawn with probability
p_i proportional to i^(-rank_exponent), so frequent skills are learned first and a model of
fixed size learns only the most frequent ones: the aggregate loss falls as a smooth power law
while every single skill switches on abruptly (the "quantization model" of scaling).

Labels can be flipped with probability `label_noise` so the irreducible loss is known,
H(label_noise) nats; evaluation uses clean labels and the *expected* noisy-label loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from emergence.tasks.sparse_parity import secret_support


def binary_entropy(p: float) -> float:
    """H(p) in nats: the loss floor of labels flipped with probability p."""
    return 0.0 if p in (0.0, 1.0) else -(p * math.log(p) + (1 - p) * math.log(1 - p))


def task_probabilities(n_tasks: int, rank_exponent: float) -> torch.Tensor:
    """p_i proportional to i^(-rank_exponent), i = 1..n_tasks (float64, sums to 1)."""
    ranks = torch.arange(1, n_tasks + 1, dtype=torch.float64)
    weights = ranks ** (-rank_exponent)
    return weights / weights.sum()


@dataclass
class MultitaskParity:
    """The data source: `sample` for training batches, `eval_set` for a fixed per-task test set."""

    n_tasks: int
    n_bits: int
    k: int
    rank_exponent: float
    label_noise: float
    supports: torch.Tensor       # (n_tasks, n_bits) bool: each task's secret bits
    probabilities: torch.Tensor  # (n_tasks,) float64

    @classmethod
    def make(cls, n_tasks: int, n_bits: int, k: int, rank_exponent: float, label_noise: float = 0.0,
             seed: int = 0) -> "MultitaskParity":
        """Task t's support is `secret_support(n_bits, k, seed * 100003 + t)`; distinct tasks may
        share a support only by chance (as in Michaud's code)."""
        supports = torch.zeros(n_tasks, n_bits, dtype=torch.bool)
        for t in range(n_tasks):
            supports[t, secret_support(n_bits, k, seed * 100_003 + t)] = True
        return cls(n_tasks, n_bits, k, rank_exponent, label_noise, supports,
                   task_probabilities(n_tasks, rank_exponent))

    @property
    def n_inputs(self) -> int:
        return self.n_tasks + self.n_bits

    @property
    def loss_floor(self) -> float:
        return binary_entropy(self.label_noise)

    def encode(self, tasks: torch.Tensor, bits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs (B, n_tasks + n_bits) and clean labels (B,) in {0, 1} for given tasks and bits."""
        onehot = torch.nn.functional.one_hot(tasks, self.n_tasks).to(bits.dtype)
        support = self.supports.to(bits.device)[tasks]
        labels = ((bits * support).sum(-1) % 2).long()
        return torch.cat([onehot, bits], dim=-1), labels

    def sample(self, batch: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """A fresh training batch: inputs (batch, n_inputs) and (noisy) labels (batch,)."""
        device = generator.device
        tasks = torch.multinomial(self.probabilities.to(device), batch, replacement=True,
                                  generator=generator)
        bits = torch.randint(0, 2, (batch, self.n_bits), generator=generator, device=device).float()
        x, y = self.encode(tasks, bits)
        if self.label_noise > 0:
            flip = torch.rand(batch, generator=generator, device=device) < self.label_noise
            y = y ^ flip.long()
        return x, y

    def eval_set(self, per_task: int, seed: int, device="cpu") -> tuple[torch.Tensor, torch.Tensor,
                                                                        torch.Tensor]:
        """`per_task` clean examples of every task: inputs, clean labels and task ids, task-major."""
        generator = torch.Generator().manual_seed(seed)
        tasks = torch.arange(self.n_tasks).repeat_interleave(per_task)
        bits = torch.randint(0, 2, (len(tasks), self.n_bits), generator=generator).float()
        x, y = self.encode(tasks, bits)
        return x.to(device), y.to(device), tasks.to(device)


def expected_noisy_loss(logits: torch.Tensor, clean_labels: torch.Tensor, label_noise: float) -> torch.Tensor:
    """Cross-entropy against labels flipped with probability `label_noise`, in expectation:
    (1 - eta) CE(clean) + eta CE(flipped).  logits (..., 2), labels (...)."""
    logp = torch.log_softmax(logits, dim=-1)
    right = logp.gather(-1, clean_labels[..., None]).squeeze(-1)
    wrong = logp.gather(-1, (1 - clean_labels)[..., None]).squeeze(-1)
    return -((1 - label_noise) * right + label_noise * wrong)
