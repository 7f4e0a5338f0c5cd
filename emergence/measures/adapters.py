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
    towards 0 or above marks a turn (Turner et al.'s signature of a direction change).
    The book shows this code in 07_emergent_misalignment.ipynb."""
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


def efficiency_and_stability_rows(loss_of, x: torch.Tensor, y: torch.Tensor | None, norm: torch.Tensor,
                                  matched_norm: torch.Tensor, base_loss: float, factors, epsilons,
                                  noise_seeds: int) -> dict:
    """Soligo et al.'s efficiency and stability of one fine-tuned solution per seed (first dim).

    The solution is (x, y): a rank-1 LoRA's A and B, or a steering vector and None; `loss_of(x, y)`
    is its fine-tuning loss per seed and `norm` its norm.  Efficiency: the loss when the solution
    is rescaled to `factor` x `matched_norm` (for a LoRA, B only: the norm of B A scales with it).
    Stability: R(eps), the share of the fine-tuning gain over `base_loss` undone by orthogonal noise
    of relative size eps, averaged over `noise_seeds` draws."""
    original = loss_of(x, y)
    losses = []
    for f in factors:
        ratio = (f * matched_norm / norm).view(-1, *([1] * (x.dim() - 1)))
        losses.append(loss_of(x, y * ratio) if y is not None else loss_of(x * ratio, None))
    R = []
    for eps in epsilons:
        draws = []
        for k in range(noise_seeds):
            g = torch.Generator().manual_seed(10_000 + k)
            xp = orthogonal_perturbation(x.cpu(), eps, g).to(x.device)
            yp = orthogonal_perturbation(y.cpu(), eps, g).to(x.device) if y is not None else None
            draws.append(relative_loss_increase(loss_of(xp, yp), original, torch.tensor(base_loss)))
        R.append(torch.stack(draws))                                    # (noise, seeds)
    return {"norm": norm.tolist(), "loss": original.tolist(),
            "matched_loss": torch.stack(losses).T.tolist(),             # (seeds, factors)
            "R": torch.stack(R).mean(1).T.tolist(),                    # (seeds, eps), mean over noise
            "R_mean": torch.stack(R).mean((1, 2)).tolist()}             # (eps,)


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
    after = {k: (float(np.nanmax(v[skip:])) if np.isfinite(v[skip:]).any() else None) for k, v in lcs.items()}
    return {"max_lcs_after_start": after,
        "a_norm": A.norm(dim=1).numpy(), "b_norm": B.norm(dim=1).numpy(), "pcs": pcs.numpy(),
        "explained": explained.numpy(), "comp": comp, "lcs": lcs, "peaks": peaks, "mis_cross_025": crossing,
        "comp_x50": x50(steps, comp), "mis_x50": x50(steps, np.asarray(mis_out)),
        "largest_step": float(moved.max()) if len(moved) else 0.0,
    }


def turner_summary(t: dict) -> dict:
    """The plain numbers of `turner_measures` for a run's summary: the local-cosine peaks (turns),
    when the first came relative to the behavioural switch, and the norms and PCA at the end."""
    turns = sorted({step for v in t["peaks"].values() for step in v})
    crossing = t["mis_cross_025"]
    return {"lcs_peaks": {str(k): v for k, v in t["peaks"].items()},
            "rotation_seen": bool(turns), "first_turn_step": turns[0] if turns else None,
            # Turner's signature is a turn at the behavioural switch: > 0 means the turn came after
            "turn_minus_crossing": (turns[0] - crossing) if turns and crossing is not None else None,
            "max_lcs": {str(k): (float(np.nanmax(v)) if np.isfinite(v).any() else None) for k, v in t["lcs"].items()},
            "max_lcs_after_start": {str(k): v for k, v in t["max_lcs_after_start"].items()},
            "mis_out_crosses_025": t["mis_cross_025"], "comp_x50": t["comp_x50"],
            "pca_explained": [float(x) for x in t["explained"]],
            "b_norm_end": float(t["b_norm"][-1]), "a_norm_end": float(t["a_norm"][-1])}
