"""Homogeneous networks with an init-scale knob: a deep linear net and a bias-free ReLU MLP.

Both are homogeneous in their weights: scaling every weight by c scales the output by c^L
(L layers) and the tangent kernel by c^(2L-2).  So one number, the init scale sigma, decides
where training starts: near the origin (small sigma, "rich" feature learning: the kernel
changes a lot) or far from it (large sigma, "lazy": the kernel barely moves).

E members in one module (leading ensemble dimension).  Each member has a seed and its own
sigma; members with the same seed start from the same directions at different scales.
"""

from __future__ import annotations

import torch
from torch import nn

from emergence.models.ensemble import EnsembleModule


def _check_scales(seeds: list[int], init_scales: list[float]) -> None:
    if len(init_scales) != len(seeds) or not all(s > 0 for s in init_scales):
        raise ValueError(f"init_scales={init_scales!r} is not allowed: one positive number per "
                         f"member ({len(seeds)} seeds)")


class _ScaledInit(EnsembleModule):
    """Per-member init N(0, (sigma_e * gain)^2), drawn from member e's own generator."""

    def __init__(self, seeds: list[int], init_scales: list[float], dtype: torch.dtype):
        super().__init__(seeds)
        _check_scales(self.seeds, init_scales)
        self.init_scales = [float(s) for s in init_scales]
        self.init_dtype = dtype

    def _scaled_normal(self, shape: tuple[int, ...], gain: float) -> nn.Parameter:
        members = [torch.randn(shape, generator=g, dtype=self.init_dtype) * (sigma * gain)
                   for g, sigma in zip(self._generators, self.init_scales)]
        return nn.Parameter(torch.stack(members))

    def _batched(self, x: torch.Tensor) -> torch.Tensor:
        """Inputs (N, d) shared by every member, or (E, N, d) one set per member."""
        return x.expand(self.n_models, *x.shape) if x.dim() == 2 else x


class HomogeneousMLP(_ScaledInit):
    """f(x) = sum_i a_i relu(w_i . x): one hidden ReLU layer, no biases, one output.

    w_i ~ N(0, sigma^2 / d I) and a_i ~ N(0, sigma^2 / width) (Atanasov et al.'s model), so
    f is 2-homogeneous: at init it is O(sigma^2) and its NTK O(sigma^2).
    `W` is (E, d, width), `a` is (E, width); forward maps (N, d) or (E, N, d) to (E, N).
    """

    def __init__(self, d: int, width: int, seeds: list[int], init_scales: list[float],
                 dtype: torch.dtype = torch.float32):
        super().__init__(seeds, init_scales, dtype)
        self.d, self.width = d, width
        self.W = self._scaled_normal((d, width), d ** -0.5)
        self.a = self._scaled_normal((width,), width ** -0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = torch.relu(torch.bmm(self._batched(x), self.W))
        return torch.bmm(hidden, self.a.unsqueeze(-1)).squeeze(-1)

    @torch.no_grad()
    def tangent_kernel(self, x1: torch.Tensor, x2: torch.Tensor | None = None) -> torch.Tensor:
        """Every member's exact empirical NTK in closed form, (E, N1, N2): the gradients with
        respect to a_i and to w_i give
        K(x, x') = sum_i relu(w_i.x) relu(w_i.x') + (x.x') sum_i a_i^2 1[w_i.x > 0] 1[w_i.x' > 0].
        The same as measures.kernels.ensemble_ntk (per-example Jacobians), at a fraction of its cost."""
        x1 = self._batched(x1)
        x2 = x1 if x2 is None else self._batched(x2)
        pre1, pre2 = torch.bmm(x1, self.W), torch.bmm(x2, self.W)
        features = torch.bmm(torch.relu(pre1), torch.relu(pre2).transpose(1, 2))
        gates = torch.bmm((pre1 > 0).to(pre1.dtype) * self.a.unsqueeze(1) ** 2,
                          (pre2 > 0).to(pre2.dtype).transpose(1, 2))
        return features + torch.bmm(x1, x2.transpose(1, 2)) * gates


class DeepLinear(_ScaledInit):
    """f(x) = x W_1 W_2 ... W_L (rows are examples): a deep linear network, no biases.

    `dims` = (d_in, hidden..., d_out); layer l is (E, d_{l-1}, d_l), entries
    N(0, sigma^2 / d_{l-1}).  Forward maps (N, d_in) or (E, N, d_in) to (E, N, d_out).
    The function it computes is the product `end_to_end()`, (E, d_in, d_out).
    """

    def __init__(self, dims: list[int], seeds: list[int], init_scales: list[float],
                 dtype: torch.dtype = torch.float32):
        super().__init__(seeds, init_scales, dtype)
        if len(dims) < 2 or not all(int(d) >= 1 for d in dims):
            raise ValueError(f"dims={dims!r} is not allowed: at least (d_in, d_out), all >= 1")
        self.dims = [int(d) for d in dims]
        self.weights = nn.ParameterList(self._scaled_normal((d_in, d_out), d_in ** -0.5)
                                        for d_in, d_out in zip(self.dims, self.dims[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._batched(x)
        for weight in self.weights:
            x = torch.bmm(x, weight)
        return x

    def end_to_end(self) -> torch.Tensor:
        product = self.weights[0]
        for weight in self.weights[1:]:
            product = torch.bmm(product, weight)
        return product
