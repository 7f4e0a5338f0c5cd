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


def coordinate_movement(weights: torch.Tensor, start: torch.Tensor, relevant: torch.Tensor,
                        active: torch.Tensor) -> dict[str, torch.Tensor]:
    """How far each input coordinate's outgoing weights have moved, split by relevance.

    `weights`, `start`: (E, n, width), one row per input.  m_i = max_j |W[i, j] - W0[i, j]|
    (the infinity norm of row i's change).  Returns, per member (E,): the mean of m_i over the
    relevant coordinates and over the irrelevant (active) ones; the overall ||W - W0||_inf;
    and whether that overall max sits on a relevant coordinate (1.0) or not (0.0).  With many
    irrelevant coordinates random-walking under SGD noise, the overall max usually sits on one
    of them, which is why the raw ||W - W0||_inf hides the progress on the relevant ones.
    The book shows this code in 04_sparse_parity.ipynb.
    """
    moved = (weights.detach() - start).abs().amax(-1) * active          # (E, n)
    irrelevant = active & ~relevant
    mean = lambda mask: (moved * mask).sum(-1) / mask.sum(-1).clamp_min(1)
    top = moved.argmax(-1, keepdim=True)
    return {"movement_relevant": mean(relevant), "movement_irrelevant": mean(irrelevant),
            "movement_max": moved.amax(-1),
            "movement_max_is_relevant": relevant.gather(-1, top).squeeze(-1).float()}
