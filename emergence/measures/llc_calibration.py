"""Calibrating the SGLD behind λ̂ the way devinterp users do, on a real checkpoint (06_grokking).

λ̂ depends on the sampler's settings: the step size ε, the inverse temperature nβ, the
localisation γ and the minibatch size b.  A calibration runs the sampler over a grid of them at
one checkpoint and reads, for every setting,

- λ̂ (mean and spread over chains): a plateau over a range of ε says the estimate does not
  depend on the discretisation;
- the chains' health as `measures/llc.py` defines it (few draws below L_n(w*), no drift
  between the halves of the draws);
- the MALA acceptance: each SGLD step w -> w' is a Langevin proposal for the localised,
  tempered posterior  p(w) ∝ exp(-U(w)),  U(w) = nβ L(w) + (γ/2)|w - w*|², and the
  Metropolis-Hastings probability of accepting it,
      α = min(1, exp(U(w) - U(w') + log q(w | w') - log q(w' | w))),
      q(w' | w) ∝ exp(-|w' - w + (ε/2) ∇U(w)|² / (2ε)),
  is 1 for an exact Langevin diffusion and falls as ε grows: it measures the discretisation
  error that SGLD, which never rejects, carries into λ̂.  devinterp's MalaAcceptanceCalculator
  computes the same quantity; here U is evaluated at both ends of a step on the step's own
  minibatch, so the acceptance measures the step size alone (the gradient noise of small
  batches is the batch-size axis's business).

`sgld_with_acceptance` is `estimate_llc`'s batched sampler (same update, same random numbers for
the same seed: tested) with ε, nβ and γ per setting and the acceptance of every step; `calibrate`
runs a grid of settings at one checkpoint, one batched run per batch size.
"""

from __future__ import annotations

import math
import time
from typing import Callable, Sequence

import numpy as np
import torch

from emergence.measures.llc import LLCResult, _LossOf, _per_sample_losses, _summarise, stack_params

ACCEPTANCE_MIN = 0.5    # usable: healthy chains that an exact (MALA) sampler would accept at least half the time
# multiples of the chosen ε, nβ and γ and the batch sizes (0 = full batch) a calibration tries,
# and its chains per setting: `small` for a CPU-minutes profile, `large` for a GPU
GRIDS = {"small": dict(epsilon=(1 / 3, 3), nbeta=(1 / 3, 3), gamma=(0.3, 3), batch_size=(32, 0), chains=2),
         "large": dict(epsilon=(0.1, 1 / 3, 3, 10), nbeta=(0.1, 1 / 3, 3, 10), gamma=(0.1, 0.3, 3, 10),
                       batch_size=(32, 64, 512, 0), chains=4)}


def mala_acceptance(w: dict, w_next: dict, potential: torch.Tensor, potential_next: torch.Tensor,
                    grad: dict, grad_next: dict, epsilon: torch.Tensor) -> torch.Tensor:
    """(B,) Metropolis-Hastings acceptance probability of the Langevin steps w -> w_next, one per
    row: `potential` is U at w, `grad` its gradient ∇U (dicts of (B, ...) tensors), `_next` the
    same at w_next, `epsilon` the (B,) step sizes.  Computed in float64."""
    forward = backward = 0.0
    for k in w:
        shape = (-1,) + (1,) * (w[k].dim() - 1)
        half = (epsilon / 2).view(shape)
        step = (w_next[k] - w[k]).double()
        forward = forward + (step + half * grad[k].double()).pow(2).flatten(1).sum(1)
        backward = backward + (-step + half * grad_next[k].double()).pow(2).flatten(1).sum(1)
    log_ratio = potential.double() - potential_next.double() + (forward - backward) / (2 * epsilon)
    return log_ratio.clamp(max=0).exp().nan_to_num(0.0)


def sgld_with_acceptance(rows_loss: Callable, params: dict[str, torch.Tensor], data: tuple[torch.Tensor, ...], *,
                         epsilon, nbeta, gamma, chains: int, draws: int, burnin: int,
                         batch_size: int | None = None, seed: int = 0,
                         mean_loss: bool = False) -> tuple[LLCResult, np.ndarray]:
    """`estimate_llc(..., batched=True)` with one ε, nβ and γ per setting (K settings: `params`
    stacked along a leading dimension, e.g. K copies of one checkpoint) and the MALA acceptance
    of every step.  Returns the `LLCResult` (λ̂ and health, as `estimate_llc` computes them) and
    the acceptance, shape (K, chains, burnin + draws).  Each step costs one extra forward and
    backward pass (U and ∇U at the proposal, on the step's batch)."""
    n = data[0].shape[0]
    K = next(iter(params.values())).shape[0]
    B = K * chains
    settings = {name: np.broadcast_to(np.asarray(value, dtype=float), (K,))
                for name, value in (("epsilon", epsilon), ("nbeta", nbeta), ("gamma", gamma))}
    for name, values in settings.items():
        low = 0.0 if name == "gamma" else np.nextafter(0, 1)      # γ may be 0, ε and nβ may not
        if not (values >= low).all():
            raise ValueError(f"{name}={values.tolist()!r} is not allowed: {'>= 0' if name == 'gamma' else '> 0'}")
    if chains < 2 or draws < 4 or burnin < 0:
        raise ValueError(f"chains={chains}, draws={draws}, burnin={burnin}: need chains >= 2, draws >= 4, burnin >= 0")
    full_batch = batch_size is None or batch_size >= n
    star = {k: v.detach().repeat_interleave(chains, dim=0) for k, v in params.items()}
    w = {k: v.clone() for k, v in star.items()}
    gen = torch.Generator(device=next(iter(star.values())).device).manual_seed(seed)
    with torch.no_grad():
        init_loss = rows_loss(star, data).detach()[::chains].clone()
    init_rows = init_loss.repeat_interleave(chains)
    star_table = _per_sample_losses(rows_loss, star, data, K, chains) if mean_loss and not full_batch else None
    per_row = lambda a: torch.as_tensor(np.repeat(a, chains), dtype=init_loss.dtype, device=init_loss.device)  # noqa: E731
    eps, nb, gam = (per_row(settings[s]) for s in ("epsilon", "nbeta", "gamma"))
    half_eps, root_eps = eps / 2, eps.sqrt()

    def potential_and_grad(w, batch):
        """U = nβ L_b + (γ/2)|w - w*|² per row, its gradient, and L_b itself."""
        w = {k: v.detach().requires_grad_(True) for k, v in w.items()}
        loss = rows_loss(w, batch)
        grads = dict(zip(w, torch.autograd.grad(loss.sum(), list(w.values()))))
        with torch.no_grad():
            u, du = nb * loss.detach(), {}
            for k in w:
                shape = (B,) + (1,) * (w[k].dim() - 1)
                offset = w[k].detach() - star[k]
                u = u + gam / 2 * offset.double().pow(2).flatten(1).sum(1)
                du[k] = torch.sub(w[k].detach(), star[k]).mul_(gam.view(shape)).addcmul_(grads[k], nb.view(shape))
        return loss.detach(), u, du

    traces = torch.empty(B, burnin + draws, dtype=init_loss.dtype, device=init_loss.device)
    accept = torch.empty(B, burnin + draws, dtype=torch.float64, device=init_loss.device)
    for t in range(burnin + draws):
        if full_batch:
            batch = data
        else:   # each chain draws its own minibatch (the same random numbers as estimate_llc)
            idx = torch.randint(n, (B, batch_size), generator=gen, device=data[0].device)
            batch = tuple(x[idx] for x in data)
        loss, u, du = potential_and_grad(w, batch)
        if full_batch:
            traces[:, t] = loss
        else:   # L_b(w) - L_b(w*) + L_n(w*), as estimate_llc records it
            with torch.no_grad():
                star_batch = (rows_loss(star, batch) if star_table is None
                              else star_table.gather(1, idx).mean(1).to(loss.dtype))
            traces[:, t] = loss - star_batch + init_rows
        with torch.no_grad():
            proposal = {}
            for k in w:
                noise = torch.randn(w[k].shape, generator=gen, dtype=w[k].dtype, device=w[k].device)
                shape = (B,) + (1,) * (w[k].dim() - 1)
                proposal[k] = w[k] - half_eps.view(shape) * du[k] + root_eps.view(shape) * noise
        _, u_next, du_next = potential_and_grad(proposal, batch)
        accept[:, t] = mala_acceptance(w, proposal, u, u_next, du, du_next, eps)
        w = proposal    # SGLD never rejects: the acceptance is a diagnostic only
    result = _summarise(traces.reshape(K, chains, -1).cpu().double().numpy(),
                        init_loss.cpu().double().numpy(), burnin, settings["nbeta"].copy(), warn=False)
    return result, accept.reshape(K, chains, -1).cpu().numpy()


def calibration_grid(chosen: dict, epsilons: Sequence[float], nbetas: Sequence[float],
                     gammas: Sequence[float], batch_sizes: Sequence[int]) -> list[dict]:
    """The settings a calibration runs: the ε × nβ grid at the chosen γ and batch size, then the
    γ axis and the batch-size axis through the chosen ε and nβ.  `chosen` holds the chapter's
    `epsilon`, `nbeta`, `gamma` and `batch_size` (0 = full batch); it is in every axis, once."""
    rows = [dict(chosen, epsilon=float(e), nbeta=float(nb), axis="epsilon x nbeta")
            for e in sorted({*epsilons, chosen["epsilon"]}) for nb in sorted({*nbetas, chosen["nbeta"]})]
    rows += [dict(chosen, gamma=float(g), axis="gamma") for g in sorted(set(gammas) - {chosen["gamma"]})]
    rows += [dict(chosen, batch_size=int(b), axis="batch size")
             for b in sorted(set(batch_sizes) - {chosen["batch_size"]})]
    return rows


def scaled_grid(chosen: dict, size: str) -> list[dict]:
    """`calibration_grid` around `chosen` with the multiples and batch sizes of GRIDS[size]."""
    g = GRIDS[size]
    return calibration_grid(chosen, *([chosen[s] * f for f in g[s]] for s in ("epsilon", "nbeta", "gamma")),
                            g["batch_size"])


def calibrate(params: dict[str, torch.Tensor], build: Callable[[int], torch.nn.Module], loss: Callable,
              data: tuple[torch.Tensor, ...], grid: list[dict], *, chains: int, draws: int, burnin: int,
              seed: int = 0, mean_loss: bool = False) -> list[dict]:
    """λ̂, health and MALA acceptance of ONE checkpoint (`params`: one model's state dict) at
    every setting of `grid` (`calibration_grid`).  `build(rows)` makes the package's ensemble
    model with `rows` members and `loss(model, batch)` returns one loss per member, as in
    `llc_over_training`.  One batched run per batch size; returns one dict per setting, in
    `grid`'s order, with `usable` = healthy and mean acceptance >= ACCEPTANCE_MIN."""
    device = next(iter(data)).device
    n = len(data[0])
    started = time.perf_counter()
    out: list[dict | None] = [None] * len(grid)
    for b in sorted({row["batch_size"] for row in grid}):
        members = [i for i, row in enumerate(grid) if row["batch_size"] == b]
        module = _LossOf(build(len(members) * chains), loss).to(device)
        stacked = stack_params([{f"model.{k}": v.to(device) for k, v in params.items()}] * len(members))
        rows_loss = lambda rows, batch: torch.func.functional_call(module, rows, (batch,))  # noqa: E731
        result, accept = sgld_with_acceptance(
            rows_loss, stacked, data, chains=chains, draws=draws, burnin=burnin, seed=seed,
            batch_size=b or None, mean_loss=mean_loss,
            **{s: [grid[i][s] for i in members] for s in ("epsilon", "nbeta", "gamma")})
        for j, i in enumerate(members):
            acceptance = float(accept[j, :, burnin:].mean())
            out[i] = {**grid[i], "batch_size": b or n, "llc_mean": float(result.llc_mean[j]),
                      "llc_std": float(result.llc_std[j]), "healthy": bool(result.healthy[j]),
                      "below_init": float(result.below_init[j]), "drift": float(result.drift[j]),
                      "acceptance": acceptance if math.isfinite(acceptance) else 0.0,
                      "usable": bool(result.healthy[j]) and acceptance >= ACCEPTANCE_MIN}
    for row in out:    # the whole grid's time, on every row
        row["seconds"] = round(time.perf_counter() - started, 2)
    return out
