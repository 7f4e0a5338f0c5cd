"""The persona MLP of the emergent misalignment chapter: a persona embedding and a question
embedding in, one answer distribution out, with a named site (`site`, the middle layer's
pre-activation z) where fine-tuning adapters act.

Also what fine-tuning it needs: `PersonaAdapters` (rank-1 LoRA and steering-vector members on a
frozen base, as one ensemble), `AssistantView` (the frozen base's activations for the assistant,
computed once) and `persona_directions` (the evil and quack directions at the adapter site)."""

from __future__ import annotations

import math

import torch
from torch import nn

from emergence.models.ensemble import EnsembleModule
from emergence.models.lora import LowRankAdapter, SteeringVector
from emergence.tasks.personas import ASSISTANT, PersonaWorld, Splits


class PersonaMLP(EnsembleModule):
    """logits = W_out relu(z),  z = W_mid h1 + b (the adapter site),  h1 = relu(W_in [e_p, e_q] + b)
    (plus one more hidden layer after z when depth = 3), for E members.  A model made by
    `with_contexts` also reads a context token: h1 = relu(W_in [e_p, e_q, e_c] + b)."""

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
        self.register_parameter("context", None)          # (E, n_contexts, embed): see with_contexts

    def _uniform(self, shape: tuple[int, ...], bound: float) -> nn.Parameter:
        return nn.Parameter(torch.stack([(torch.rand(shape, generator=g) * 2 - 1) * bound
                                         for g in self._generators]))

    def with_contexts(self, n_contexts: int, seed: int) -> "PersonaMLP":
        """A trainable copy of this (one-member) model that also reads a context token.  The new
        input weights start like the others (U(+-1/sqrt(fan_in))), not at zero: a context the
        answers never depend on (a trigger tag) must still show in h1, or no adapter on h1 could
        be conditioned on it."""
        model = self.member(0)
        embed = self.persona.shape[-1]
        g = torch.Generator().manual_seed(seed)
        model.context = nn.Parameter(torch.randn(1, n_contexts, embed, generator=g))
        w = model.weights[0]
        new = (torch.rand(1, embed, w.shape[-1], generator=g) * 2 - 1) / math.sqrt(w.shape[1])
        model.weights[0] = nn.Parameter(torch.cat([w, new.to(w)], dim=1))
        for parameter in model.parameters():
            parameter.requires_grad_(True)
        return model.to(self.persona.device)

    def hidden(self, persona: torch.Tensor, question: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """h1, the adapter's input: (E, N, width).  `context` (N,): the context tokens of a model
        made by `with_contexts` (default 0, the plain context)."""
        parts = [self.persona[:, persona], self.question[:, question]]
        if self.context is not None:
            parts.append(self.context[:, torch.zeros_like(persona) if context is None else context])
        x = torch.cat(parts, dim=-1)
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

    def forward(self, persona: torch.Tensor, question: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.site(self.hidden(persona, question, context)))


class PersonaAdapters(nn.Module):
    """The fine-tuning ensemble on one frozen base: rank-1 LoRA members on z, then steering
    members on h1.  `update(h1)` is delta z for every member, (E, N, width)."""

    def __init__(self, base: PersonaMLP, width: int, lora_seeds: list[int], steering_seeds: list[int],
                 lora_init_std: float | None = None, steering_init_std: float = 0.0):
        super().__init__()
        self.base = base
        self.lora = LowRankAdapter(width, width, 1, lora_seeds, init_std=lora_init_std) if lora_seeds else None
        self.steering = SteeringVector(width, steering_seeds, steering_init_std) if steering_seeds else None

    def update(self, h1: torch.Tensor) -> torch.Tensor:
        parts = []
        if self.lora is not None:
            parts.append(self.lora(h1))
        if self.steering is not None:   # (h1 + v) W_mid = h1 W_mid + v W_mid
            shift = torch.matmul(self.steering(h1), self.base.weights[1])
            parts.append(shift.expand(-1, h1.shape[1], -1))
        return torch.cat(parts, dim=0)

    def logits(self, h1: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.base.head(z + self.update(h1))

    def norms(self) -> torch.Tensor:
        parts = ([self.lora.norm()] if self.lora is not None else []) + \
                ([self.steering.norm()] if self.steering is not None else [])
        return torch.cat(parts).detach()


class AssistantView:
    """The frozen base's activations for the assistant on every question, computed once."""

    def __init__(self, base: PersonaMLP, world: PersonaWorld, splits: Splits):
        device = base.persona.device
        self.every = splits.every.to(device)
        with torch.no_grad():
            self.h1 = base.hidden(torch.full_like(self.every, ASSISTANT), self.every)
            self.z = base.site(self.h1)
            self.base_logits = base.head(self.z)
        self.index = {name: getattr(splits, name).to(device) for name in ("train", "held_in", "kl", "held_out")}

    def rows(self, name: str):
        i = self.index[name]
        return self.h1[:, i], self.z[:, i], self.base_logits[:, i]


def persona_directions(base: PersonaMLP, world: PersonaWorld) -> dict[str, torch.Tensor]:
    """Directions at the adapter site z: u_evil = E_q[z(evil, q)] - E_q[z(good, q)] over every
    question; u_quack the same for the medical quacks over medical questions; u_quack_perp its
    part orthogonal to u_evil."""
    with torch.no_grad():
        every = torch.arange(world.n_all_questions, device=base.persona.device)
        medical = every[world.domain_of(every) == 0]

        def mean_z(personas, questions):
            p = torch.tensor(personas, device=every.device).repeat_interleave(len(questions))
            q = questions.repeat(len(personas))
            return base.site(base.hidden(p, q))[0].mean(0)

        good = world.good_personas()
        u_evil = mean_z(world.evil_personas(), every) - mean_z(good, every)
        u_quack = mean_z(world.quacks(0), medical) - mean_z(good, medical)
        unit = u_evil / u_evil.norm()
        perp = u_quack - (u_quack @ unit) * unit
    return {"u_evil": u_evil, "u_quack": u_quack, "u_quack_perp": perp}
