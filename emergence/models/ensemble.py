"""The base of every ensemble model: per-member seeded init, and member extraction."""

from __future__ import annotations

import torch
from torch import nn


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
        return {name: p.detach()[index].clone() for name, p in self.named_parameters()}

