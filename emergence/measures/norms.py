"""Weight norms and distances, per ensemble member."""

from __future__ import annotations

import torch


def weight_norm(params: dict[str, torch.Tensor], ensemble: bool = True) -> torch.Tensor:
    """Sum of squared weights, sum_theta ||theta||^2: (E,) if `ensemble`, else a scalar."""
    if ensemble:
        return sum(p.detach().pow(2).flatten(1).sum(1) for p in params.values())
    return sum(p.detach().pow(2).sum() for p in params.values())


def weight_distance(params: dict[str, torch.Tensor], start: dict[str, torch.Tensor],
                    ord: float = 2.0) -> torch.Tensor:
    """||theta - theta_0|| over all parameters, per member (first dimension): (E,)."""
    diffs = torch.cat([(params[n].detach() - start[n].detach()).flatten(1) for n in params], dim=1)
    return torch.linalg.vector_norm(diffs, ord=ord, dim=1)
