"""The base of every ensemble model: per-member seeded init, and member extraction."""

from __future__ import annotations

import copy

import torch
from torch import nn


def member_of(state: dict[str, torch.Tensor], index: int) -> dict[str, torch.Tensor]:
    """One member's weights from an ensemble's state dict (or checkpoint), without the ensemble
    dimension."""
    return {name: tensor.detach()[index].clone() for name, tensor in state.items()}


def member_generators(seeds: list[int]) -> list[torch.Generator]:
    """One CPU generator per member, so member i's init depends only on seeds[i]."""
    return [torch.Generator().manual_seed(int(s)) for s in seeds]


class EnsembleModule(nn.Module):
    """E models in one module: every parameter has shape (E, ...).

    Subclasses build each member's initial weights with `_stack_init`, drawing from that
    member's own generator, so an ensemble initialised with seeds [s0, s1, ...] starts from
    exactly the weights that separate models with seeds s0, s1, ... would.
    """

    def __init__(self, seeds: list[int]):
        super().__init__()
        if len(seeds) == 0:
            raise ValueError("an ensemble needs at least one seed")
        self.seeds = [int(s) for s in seeds]
        self._generators = member_generators(self.seeds)

    @property
    def n_models(self) -> int:
        return len(self.seeds)

    def _stack_init(self, shape: tuple[int, ...], std: float) -> nn.Parameter:
        """A parameter (E, *shape), member e drawn N(0, std^2) from its own generator."""
        members = [torch.randn(shape, generator=g) * std for g in self._generators]
        return nn.Parameter(torch.stack(members))

    def _zeros(self, shape: tuple[int, ...]) -> nn.Parameter:
        return nn.Parameter(torch.zeros((self.n_models, *shape)))

    def member_state(self, index: int) -> dict[str, torch.Tensor]:
        """The weights of one member, without the ensemble dimension."""
        return member_of(dict(self.named_parameters()), index)

    def member(self, index: int) -> "EnsembleModule":
        """Member `index` as an ensemble of one (E = 1), frozen: e.g. a pre-trained base to
        fine-tune adapters on."""
        generators, self._generators = self._generators, []     # generators are not copied
        try:
            one = copy.deepcopy(self)
        finally:
            self._generators = generators
        one.seeds = [self.seeds[index]]
        one._generators = member_generators(one.seeds)
        for parameter in one.parameters():
            parameter.data = parameter.data[index:index + 1].clone()
            parameter.requires_grad_(False)
        return one

