"""The persona MLP of the emergent misalignment chapter: a persona embedding and a question
embedding in, one answer distribution out, with a named site (`site`, the middle layer's
pre-activation z) where fine-tuning adapters act."""

from __future__ import annotations

import math

import torch
from torch import nn

from emergence.models.ensemble import EnsembleModule


class PersonaMLP(EnsembleModule):
    """logits = W_out relu(z),  z = W_mid h1 + b (the adapter site),  h1 = relu(W_in [e_p, e_q] + b)
    (plus one more hidden layer after z when depth = 3), for E members."""

    def __init__(self, n_personas: int, n_questions: int, n_answers: int, embed: int, width: int, depth: int,
                 seeds: list[int]):
        super().__init__(seeds)
        self.persona = self._stack_init((n_personas, embed), 1.0)
        self.question = self._stack_init((n_questions, embed), 1.0)
        dims = [2 * embed] + [width] * depth + [n_answers]
        # PyTorch's nn.Linear init, U(+-1/sqrt(fan_in)) for weights and biases: the random biases
        # give every hidden unit a share that does not depend on the input
        self.weights = nn.ParameterList([self._uniform((a, b), 1 / math.sqrt(a)) for a, b in zip(dims, dims[1:])])
        self.biases = nn.ParameterList([self._uniform((1, b), 1 / math.sqrt(a)) for a, b in zip(dims, dims[1:])])

    def _uniform(self, shape: tuple[int, ...], bound: float) -> nn.Parameter:
        return nn.Parameter(torch.stack([(torch.rand(shape, generator=g) * 2 - 1) * bound
                                         for g in self._generators]))

    def hidden(self, persona: torch.Tensor, question: torch.Tensor) -> torch.Tensor:
        """h1, the adapter's input: (E, N, width)."""
        x = torch.cat([self.persona[:, persona], self.question[:, question]], dim=-1)
        return torch.relu(torch.baddbmm(self.biases[0], x, self.weights[0]))

    def site(self, h1: torch.Tensor) -> torch.Tensor:
        """z = W_mid h1 + b, the adapted pre-activation (before any update)."""
        return torch.matmul(h1, self.weights[1]) + self.biases[1]

    def head(self, z: torch.Tensor) -> torch.Tensor:
        """From the (possibly adapted) pre-activation z to the logits; broadcasts E."""
        h = torch.relu(z)
        for w, b in zip(self.weights[2:], self.biases[2:]):
            h = torch.matmul(h, w) + b
            if w is not self.weights[-1]:
                h = torch.relu(h)
        return h

    def forward(self, persona: torch.Tensor, question: torch.Tensor) -> torch.Tensor:
        return self.head(self.site(self.hidden(persona, question)))
