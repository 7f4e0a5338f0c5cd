"""Measures of a fine-tuning update: how it moves (Turner et al. 2025) and how robust and
efficient it is (Soligo et al. 2025).  Plain functions of tensors; nothing here trains.

Trajectory measures take `trajectory`: (T, D), one flattened adapter vector (e.g. a rank-1
LoRA's B) per checkpoint, oldest first.
"""

from __future__ import annotations

import numpy as np
import torch

from emergence.measures.transitions import first_crossing, x50


def local_cosine_similarity(trajectory: torch.Tensor, k: int, min_step: float = 0.0) -> torch.Tensor:
    """lcs_k(t) = cos(v_{t-k} - v_t, v_{t+k} - v_t), (T,), NaN where t - k or t + k is missing or
    either difference is shorter than `min_step`.  -1: the path runs straight through v_t; a rise
    towards 0 or above marks a turn (Turner et al.'s signature of a direction change)."""
    v = trajectory.double()
    out = torch.full((len(v),), float("nan"), dtype=torch.float64)
    if k < 1 or len(v) <= 2 * k:
        return out
    back, ahead = v[:-2 * k] - v[k:-k], v[2 * k:] - v[k:-k]
    nb, na = back.norm(dim=1), ahead.norm(dim=1)
    cos = (back * ahead).sum(1) / (nb * na).clamp_min(1e-30)
    cos[(nb <= min_step) | (na <= min_step)] = float("nan")
    out[k:-k] = cos
    return out


def comp_score(trajectory: torch.Tensor, final: torch.Tensor | None = None, demean: bool = False) -> torch.Tensor:
    """||B_t^T B_T||_F / (||B_t||_F ||B_T||_F) for each checkpoint t against the final one, (T,).

    `trajectory`: (T, d, r) adapter matrices (or (T, d) vectors, r = 1, where it is |cos|).
    With `demean`, the trajectory's mean is removed first (Turner et al.'s option)."""
    b = trajectory.double()
    b = b[..., None] if b.dim() == 2 else b
    if demean:
        b = b - b.mean(0, keepdim=True)
    last = b[-1] if final is None else final.double().reshape(b.shape[1:])
    overlap = torch.matmul(b.transpose(1, 2), last).flatten(1).norm(dim=1)
    return overlap / (b.flatten(1).norm(dim=1) * last.norm()).clamp_min(1e-30)


def trajectory_pca(trajectory: torch.Tensor, components: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """The trajectory projected on its first principal components, (T, components), and the
    fraction of the variance each explains, (components,)."""
    v = trajectory.double()
    centred = v - v.mean(0, keepdim=True)
    _, s, vh = torch.linalg.svd(centred, full_matrices=False)
    explained = s ** 2 / (s ** 2).sum().clamp_min(1e-30)
    return centred @ vh[:components].T, explained[:components]


def orthogonal_perturbation(x: torch.Tensor, epsilon: float, generator: torch.Generator) -> torch.Tensor:
    """sqrt(1 - eps^2) x + eps y with y a random direction orthogonal to x and ||y|| = ||x||, per
    member (first dimension; the rest is flattened): the norm is kept, the direction turned by
    arcsin(eps).  eps = 1 replaces x by an unrelated vector of the same length."""
    flat = x.detach().flatten(1).double()
    noise = torch.randn(flat.shape, generator=generator, dtype=torch.float64).to(flat.device)
    unit = flat / flat.norm(dim=1, keepdim=True).clamp_min(1e-30)
    noise = noise - (noise * unit).sum(1, keepdim=True) * unit
    noise = noise / noise.norm(dim=1, keepdim=True).clamp_min(1e-30) * flat.norm(dim=1, keepdim=True)
    out = (1 - epsilon ** 2) ** 0.5 * flat + epsilon * noise
    return out.to(x.dtype).reshape(x.shape)


def relative_loss_increase(perturbed: torch.Tensor, original: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
    """R = (L_perturbed - L_original) / (L_base - L_original) x 100 %: the share of the
    fine-tuning gain that a perturbation undoes (0 %: none, 100 %: back to the base model)."""
    return 100 * (perturbed - original) / (base - original)


def turn_steps(steps, lcs, level: float = -0.5, skip: int = 0) -> list[float]:
    """Logged steps (after the first `skip`) at which a local-cosine curve peaks above `level`:
    the candidate direction changes."""
    steps, lcs = np.asarray(steps, dtype=float), np.asarray(lcs, dtype=float)
    out = []
    for i in range(max(skip, 1), len(lcs) - 1):
        if np.isfinite(lcs[i]) and lcs[i] > level and lcs[i] >= np.nan_to_num(lcs[i - 1], nan=-2) \
                and lcs[i] >= np.nan_to_num(lcs[i + 1], nan=-2):
            out.append(float(steps[i]))
    return out


def cosine(x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    return (x @ u) / (x.norm(dim=-1) * u.norm()).clamp_min(1e-30)


def kl_to_base(logits: torch.Tensor, base_logits: torch.Tensor) -> torch.Tensor:
    """KL(p_base || p_fine-tuned), mean over rows: (E,)."""
    base = torch.log_softmax(base_logits, -1)
    return (base.exp() * (base - torch.log_softmax(logits, -1))).sum(-1).mean(-1)


def turner_measures(steps, A: torch.Tensor, B: torch.Tensor, mis_out, log_every: int,
                    ks=(10, 20), skip_steps: int = 0) -> dict:
    """Norms, PCA, local cosine similarity (k in steps) and comp score of one rank-1 LoRA's
    trajectory; where lcs peaks above -0.5 and where mis_out crosses 0.25.  A, B: (T, d)."""
    steps = np.asarray(steps)
    moved = (B[1:] - B[:-1]).norm(dim=1)
    min_step = 1e-3 * float(B.norm(dim=1).max())
    lcs = {k: local_cosine_similarity(B, max(k // log_every, 1), min_step=min_step).numpy() for k in ks}
    pcs, explained = trajectory_pca(B, 2)
    comp = comp_score(B).numpy()
    # the first 2k steps start from B = 0: a turn there is the start, not a rotation
    skip = int(np.searchsorted(steps, max(skip_steps, 2 * max(ks))))
    peaks = {k: turn_steps(steps, lcs[k], -0.5, skip=skip) for k in ks}
    crossing = first_crossing(steps, np.asarray(mis_out), 0.25)
    return {
        "a_norm": A.norm(dim=1).numpy(), "b_norm": B.norm(dim=1).numpy(), "pcs": pcs.numpy(),
        "explained": explained.numpy(), "comp": comp, "lcs": lcs, "peaks": peaks, "mis_cross_025": crossing,
        "comp_x50": x50(steps, comp), "mis_x50": x50(steps, np.asarray(mis_out)),
        "largest_step": float(moved.max()) if len(moved) else 0.0,
    }
