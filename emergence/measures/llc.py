"""The local learning coefficient (LLC) by SGLD, every chain of every checkpoint at once.
(Lau, Furman, Wang, Murfet and Wei 2023; devinterp's estimator, vectorised.)

At a checkpoint w*, sample the localised, tempered posterior
    p(w) ∝ exp(-nβ L_n(w) - (γ/2) |w - w*|²)
with stochastic-gradient Langevin dynamics,
    Δw = -(ε/2) [nβ ∇L_batch(w) + γ (w - w*)] + √ε N(0, I),
and report  λ̂ = nβ (E[L_n(w)] - L_n(w*)).

`estimate_llc(loss_fn, params, data, ...)` takes the loss of ONE parameter set (a function of
a dict of tensors and a batch) and parameters stacked along a leading checkpoint dimension; it
copies each checkpoint `chains` times and runs all checkpoints × chains as one `torch.func.vmap`
computation: one batched forward and one backward per SGLD step for all of them.  With
`batched=True` the loss function instead takes parameters stacked along a leading row dimension
(checkpoint × chain: row k * chains + c) and returns one loss per row, e.g. one of the package's
ensemble models built with that many members, whose batched matmuls are faster than vmap.  With
`batch_size=None` each draw records the full-batch L_n before the step; with minibatches it records
L_b(w) - L_b(w*) + L_n(w*) on the chain's own batch (an extra forward pass): the same expectation
as devinterp's minibatch loss, without most of its noise, so the draws can be compared with
L_n(w*) (always full batch); `mean_loss=True` reads L_b(w*) from a per-sample table instead of that
extra forward pass (benchmarks/llc_speed.py times this path against devinterp).
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from torch.func import functional_call, vmap

LossFn = Callable[[dict, tuple], torch.Tensor]

BELOW_INIT_MAX = 0.2    # health: at most this fraction of draws below the initial loss ...
DRIFT_MAX = 0.1         # ... and the second half's mean λ̂ within 10 % of the first half's


class LLCWarning(UserWarning):
    """The chains are not at equilibrium, or sit below the initial loss: λ̂ is not trustworthy."""


@dataclass
class LLCResult:
    """λ̂ per checkpoint (mean and spread over chains) and what is needed to judge it."""

    llc_mean: np.ndarray        # (K,)  mean over chains of each chain's post-burn-in λ̂
    llc_std: np.ndarray         # (K,)  spread over chains (not a standard error)
    llc_chains: np.ndarray      # (K, C)
    init_loss: np.ndarray       # (K,)  full-batch L_n(w*)
    traces: np.ndarray          # (K, C, burnin + draws)  the loss each step recorded
    burnin: int
    nbeta: np.ndarray           # (K,)
    below_init: np.ndarray      # (K,)  fraction of post-burn-in draws below L_n(w*)
    drift: np.ndarray           # (K,)  |second-half mean - first half's| / |first half's|
    healthy: np.ndarray         # (K,)  bool: few draws below L_n(w*), no significant drift, finite

    def to_dict(self) -> dict:
        """The JSON-friendly numbers (no traces)."""
        return {"llc_mean": self.llc_mean.tolist(), "llc_std": self.llc_std.tolist(),
                "init_loss": self.init_loss.tolist(), "below_init": self.below_init.tolist(),
                "drift": self.drift.tolist(), "healthy": self.healthy.tolist(), "nbeta": self.nbeta.tolist()}


def default_nbeta(n: int) -> float:
    """Lau et al.'s optimal inverse temperature: nβ* = n / log n."""
    return n / math.log(n)


def stack_params(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Checkpoints (state dicts of one model) -> one dict with a leading checkpoint dimension."""
    return {k: torch.stack([s[k] for s in states]) for k in states[0]}


def model_loss(model: torch.nn.Module, criterion: Callable) -> LossFn:
    """A `loss_fn` for `estimate_llc` from a module (its parameters replaced by the sample's)
    and a criterion(output, target): batch = (inputs, targets)."""
    def loss_fn(params, batch):
        inputs, targets = batch
        return criterion(functional_call(model, params, (inputs,)), targets)
    return loss_fn


def estimate_llc(loss_fn: LossFn, params: dict[str, torch.Tensor], data: tuple[torch.Tensor, ...], *,
                 epsilon, gamma: float, nbeta=None, chains: int = 4,
                 draws: int = 500, burnin: int = 100, batch_size: int | None = None, seed: int = 0,
                 warn: bool = True, batched: bool = False, mean_loss: bool = False) -> LLCResult:
    """λ̂ for K checkpoints at once.  `params[name]` has shape (K, *shape); `data` is a tuple of
    tensors whose first dimension is the n samples.  nβ defaults to n / log n.  `epsilon` and
    `nbeta` may also be one value per checkpoint (a calibration sweep is one batched run).
    `batched=True`: `loss_fn(rows, batch)` takes every row's parameters at once, shape
    (K * chains, *shape), and returns (K * chains,) losses; `batch` is the shared data (full
    batch) or, with minibatches, each row's own batch: tensors of shape (K * chains, batch_size, ...).
    `mean_loss=True` declares the loss a plain mean of per-sample losses (cross-entropy, MSE): with
    minibatches L_b(w*) is then read from a table of the n per-sample losses at w* (computed once)
    instead of a second forward pass every step: the same numbers up to rounding, one forward pass
    fewer per step (14 % faster on the grokking trajectory, benchmarks/README.md)."""
    n = data[0].shape[0]
    K = next(iter(params.values())).shape[0]
    B = K * chains
    nbeta = default_nbeta(n) if nbeta is None else nbeta
    eps_k = np.broadcast_to(np.asarray(epsilon, dtype=float), (K,))
    nbeta_k = np.broadcast_to(np.asarray(nbeta, dtype=float), (K,))
    for name, ok, value, allowed in [
            ("epsilon", (eps_k > 0).all(), epsilon, "> 0 (one value, or one per checkpoint)"),
            ("nbeta", (nbeta_k > 0).all(), nbeta, "> 0 (one value, or one per checkpoint)"),
            ("gamma", gamma >= 0, gamma, ">= 0"), ("chains", chains >= 1, chains, ">= 1"),
            ("draws", draws >= 4, draws, ">= 4"), ("burnin", burnin >= 0, burnin, ">= 0")]:
        if not ok:
            raise ValueError(f"{name}={value!r} is not allowed: {allowed}")
    full_batch = batch_size is None or batch_size >= n
    # (K, ...) -> (K * chains, ...): chain c of checkpoint k is row k * chains + c
    star = {k: v.detach().repeat_interleave(chains, dim=0) for k, v in params.items()}
    w = {k: v.clone() for k, v in star.items()}
    gen = torch.Generator(device=next(iter(star.values())).device).manual_seed(seed)

    # one forward for all rows (vmap), one backward of the summed loss: each row's gradient is
    # its own, since rows do not interact (a little cheaper than vmap(grad) for small models)
    loss_shared = loss_fn if batched else vmap(loss_fn, in_dims=(0, None))
    loss_own = loss_fn if batched else vmap(loss_fn, in_dims=(0, 0))
    with torch.no_grad():   # L_n(w*) of each checkpoint: the first chain's row
        init_loss = loss_shared(star, data).detach()[::chains].clone()       # (K,)

    init_rows = init_loss.repeat_interleave(chains)
    star_table = _per_sample_losses(loss_own, star, data, K, chains) if mean_loss and not full_batch else None
    traces = torch.empty(B, burnin + draws, dtype=init_loss.dtype, device=init_loss.device)
    per_row = lambda a: torch.as_tensor(np.repeat(a, chains), dtype=init_loss.dtype, device=init_loss.device)
    half_eps, root_eps, nb = per_row(eps_k / 2), per_row(np.sqrt(eps_k)), per_row(nbeta_k)
    for t in range(burnin + draws):
        w = {k: v.detach().requires_grad_(True) for k, v in w.items()}
        if full_batch:
            loss = loss_shared(w, data)
        else:   # each chain draws its own minibatch
            idx = torch.randint(n, (B, batch_size), generator=gen, device=data[0].device)
            batch = tuple(x[idx] for x in data)
            loss = loss_own(w, batch)
        grads = dict(zip(w, torch.autograd.grad(loss.sum(), list(w.values()))))
        if full_batch:
            traces[:, t] = loss.detach()
        else:   # L_b(w) - L_b(w*) + L_n(w*): unbiased, and free of most of the minibatch noise
            with torch.no_grad():
                star_batch = (loss_own(star, batch) if star_table is None
                              else star_table.gather(1, idx).mean(1).to(loss.dtype))
                traces[:, t] = loss.detach() - star_batch + init_rows
        with torch.no_grad():   # in place: two temporaries per tensor instead of six
            for k in w:
                noise = torch.randn(w[k].shape, generator=gen, dtype=w[k].dtype, device=w[k].device)
                shape = (B,) + (1,) * (w[k].dim() - 1)
                drift = torch.sub(w[k], star[k]).mul_(gamma).addcmul_(grads[k], nb.view(shape))
                w[k] = w[k].detach().sub_(drift.mul_(half_eps.view(shape))).add_(noise.mul_(root_eps.view(shape)))
    return _summarise(traces.reshape(K, chains, -1).cpu().double().numpy(),
                      init_loss.cpu().double().numpy(), burnin, nbeta_k.copy(), warn)


def _per_sample_losses(loss_own: Callable, star: dict, data: tuple, K: int, chains: int) -> torch.Tensor:
    """(K * chains, n): each sample's loss at each row's w*, as batches of one sample per row; the
    `chains` rows of a checkpoint are copies, so they take different samples (n / chains calls)."""
    n = data[0].shape[0]
    device = data[0].device
    calls = -(-n // chains)
    table = None
    with torch.no_grad():
        for j in range(calls):
            sample = (j * chains + torch.arange(chains, device=device)).clamp(max=n - 1).repeat(K)   # (B,)
            out = loss_own(star, tuple(x[sample][:, None] for x in data))                           # (B,)
            if table is None:
                table = torch.empty(K, calls * chains, dtype=out.dtype, device=device)
            table[:, j * chains:(j + 1) * chains] = out.view(K, chains)
    return table[:, :n].repeat_interleave(chains, dim=0)


def _summarise(traces: np.ndarray, init_loss: np.ndarray, burnin: int, nbeta: np.ndarray,
               warn: bool) -> LLCResult:
    post = traces[:, :, burnin:]                                      # (K, C, draws)
    nb = nbeta[:, None]
    per_chain = nb * (post.mean(axis=2) - init_loss[:, None])         # (K, C)
    below = (post < init_loss[:, None, None]).mean(axis=(1, 2))
    # drift: the second half of the draws against the first, counted only when it exceeds both
    # DRIFT_MAX of the level and 2 standard errors of the difference (chain-to-chain)
    h = post.shape[2] // 2
    last = nb * (post[:, :, h:].mean(axis=2) - init_loss[:, None])             # (K, C)
    before = nb * (post[:, :, :h].mean(axis=2) - init_loss[:, None])
    diff = (last - before).mean(axis=1)
    drift = np.abs(diff) / np.maximum(np.abs(before.mean(axis=1)), 1e-12)
    se = ((last - before).std(axis=1, ddof=1) / np.sqrt(last.shape[1]) if last.shape[1] > 1
          else np.zeros(len(diff)))
    drifting = (drift > DRIFT_MAX) & (np.abs(diff) > 2 * se)
    healthy = (below <= BELOW_INIT_MAX) & ~drifting & np.isfinite(per_chain).all(axis=1)
    result = LLCResult(llc_mean=per_chain.mean(axis=1), llc_std=per_chain.std(axis=1, ddof=1)
                       if per_chain.shape[1] > 1 else np.zeros(len(per_chain)),
                       llc_chains=per_chain, init_loss=init_loss, traces=traces, burnin=burnin,
                       nbeta=nbeta, below_init=below, drift=drift, healthy=healthy)
    if warn and not healthy.all():
        bad = np.flatnonzero(~healthy)
        warnings.warn(
            f"LLC chains unhealthy at {len(bad)} of {len(healthy)} checkpoint(s) (first: index {bad[0]}, "
            f"{100 * below[bad[0]]:.0f}% of draws below the initial loss, drift between the halves "
            f"{100 * drift[bad[0]]:.0f}%): the chains are not at equilibrium or descend below L_n(w*), "
            "which gives low or negative estimates. Lower epsilon, raise gamma, or start from a minimum.",
            LLCWarning, stacklevel=2)
    return result


def change_interval(before: np.ndarray, after: np.ndarray, level: float = 0.95) -> dict:
    """Δλ̂ between two checkpoints from the per-chain estimates at each (independent chains): the
    difference of the means with a Welch t-interval, whose degrees of freedom come from the chain
    counts (Welch-Satterthwaite).  With few chains the t quantile is large (12.7 at one degree of
    freedom for 95 %), so a sign is only claimed when the chains can carry it."""
    from scipy import stats
    before, after = np.asarray(before, float), np.asarray(after, float)
    if min(len(before), len(after)) < 2:
        raise ValueError(f"change_interval needs at least 2 chains per checkpoint, got {len(before)} and {len(after)}")
    va, vb = before.var(ddof=1) / len(before), after.var(ddof=1) / len(after)
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / max(va ** 2 / (len(before) - 1) + vb ** 2 / (len(after) - 1), 1e-300)
    delta = float(after.mean() - before.mean())
    half = float(stats.t.ppf(0.5 + level / 2, df)) * se
    return {"delta": delta, "se": se, "df": float(df), "level": level, "chains": [len(before), len(after)],
            "interval": [delta - half, delta + half],
            "sign": int(np.sign(delta)) if abs(delta) > half else 0}


class _LossOf(torch.nn.Module):
    """`loss(model, batch)` as a module, so that `functional_call` can swap in every row's weights."""

    def __init__(self, model: torch.nn.Module, loss: Callable):
        super().__init__()
        self.model, self.loss = model, loss

    def forward(self, batch):
        return self.loss(self.model, batch)


def llc_over_training(checkpoints: dict[int, dict[str, torch.Tensor]], build: Callable[[int], torch.nn.Module],
                      loss: Callable, data: tuple[torch.Tensor, ...], *, count: int, chains: int,
                      extra: Sequence[int] = (), **settings) -> tuple[list[int], LLCResult]:
    """λ̂ at `count` evenly spaced checkpoints of one training run, plus the saved steps in `extra`
    (e.g. dense around a transition), every chain of every one in a single batched computation.
    `checkpoints` maps step -> one model's state dict; `build(rows)` makes the package's ensemble
    model with `rows` members; `loss(model, batch)` returns one loss per member.  Other keyword
    arguments go to `estimate_llc`.  Returns (steps, result), steps sorted."""
    steps = sorted(checkpoints)
    if not 2 <= count <= len(steps):
        raise ValueError(f"count={count!r} is not allowed: 2 to the {len(steps)} saved checkpoints")
    unsaved = sorted(set(extra) - set(steps))
    if unsaved:
        raise ValueError(f"extra={unsaved!r} are not saved checkpoints (saved: {steps[0]} to {steps[-1]})")
    evenly = [steps[i] for i in np.linspace(0, len(steps) - 1, count).round().astype(int)]
    chosen = sorted(set(evenly) | set(extra))
    device = next(iter(data)).device
    module = _LossOf(build(len(chosen) * chains), loss).to(device)
    params = stack_params([{f"model.{k}": v.to(device) for k, v in checkpoints[s].items()} for s in chosen])
    rows_loss = lambda rows, batch: functional_call(module, rows, (batch,))  # noqa: E731
    return chosen, estimate_llc(rows_loss, params, data, chains=chains, batched=True, **settings)


def llc_trajectory(config, checkpoints: dict[int, dict[str, torch.Tensor]], build: Callable[[int], torch.nn.Module],
                   loss: Callable, data: tuple[torch.Tensor, ...], *, extra: Sequence[int] = (),
                   mean_loss: bool = False) -> tuple[dict, dict, LLCResult]:
    """λ̂ of one training run at its saved checkpoints: the one path every chapter's LLC over
    training takes, with one key scheme.

    `config` is the chapter's Config and supplies the settings: `llc_checkpoints` evenly spaced
    checkpoints plus the saved steps in `extra`, `llc_chains`, `llc_burnin`, `llc_draws`,
    `llc_epsilon`, `llc_gamma`, `llc_nbeta` (0: n / log n), `llc_batch_size` (0: full batch) and
    `seed`.  `checkpoints`, `build` and `loss` are as in `llc_over_training`; `data` is the LLC's
    dataset, n = its length.  Returns

    - history tensors: `llc_step`, `llc_mean`, `llc_std`, `llc_chains`, `llc_healthy` and
      `llc_excess_trace`, each checkpoint's nβ (L(w) - L(w*)) at every SGLD step, mean of its
      chains (flat after burn-in when the chains are healthy);
    - summary numbers: `steps`, `mean`, `std`, `healthy`, `n_healthy`, `below_init`, `drift`,
      `init_loss`, the resolved `settings` and `seconds`;
    - the `LLCResult`, for the chapter's own measures on it.

    Health is reported per checkpoint (the summary, hollow markers in the figures), not warned.
    In a full-batch chapter (grokking) a step is an epoch.  Any object with those attributes will
    do as `config`."""
    started = time.perf_counter()
    n = len(data[0])
    nbeta = config.llc_nbeta or default_nbeta(n)
    steps, r = llc_over_training(
        checkpoints, build, loss, data, count=config.llc_checkpoints, extra=extra, chains=config.llc_chains,
        epsilon=config.llc_epsilon, gamma=config.llc_gamma, nbeta=nbeta, draws=config.llc_draws,
        burnin=config.llc_burnin, batch_size=config.llc_batch_size or None, seed=config.seed,
        mean_loss=mean_loss, warn=False)
    excess = r.nbeta[:, None] * (r.traces.mean(axis=1) - r.init_loss[:, None])
    history = {"llc_step": torch.tensor(steps), "llc_mean": torch.tensor(r.llc_mean),
               "llc_std": torch.tensor(r.llc_std), "llc_chains": torch.tensor(r.llc_chains),
               "llc_healthy": torch.tensor(r.healthy), "llc_excess_trace": torch.tensor(excess)}
    summary = {
        "steps": steps, "mean": r.llc_mean.tolist(), "std": r.llc_std.tolist(),
        "healthy": r.healthy.tolist(), "n_healthy": int(r.healthy.sum()),
        "below_init": r.below_init.tolist(), "drift": r.drift.tolist(), "init_loss": r.init_loss.tolist(),
        "settings": {"chains": config.llc_chains, "burnin": config.llc_burnin, "draws": config.llc_draws,
                     "epsilon": config.llc_epsilon, "gamma": config.llc_gamma, "nbeta": nbeta,
                     "batch_size": config.llc_batch_size or n, "n": n},
        "seconds": round(time.perf_counter() - started, 2)}
    return history, summary, r


def sequential_sgld_llc(loss_fn: LossFn, params: dict[str, torch.Tensor], data: tuple[torch.Tensor, ...], *,
                        epsilon: float, gamma: float, nbeta: float, draws: int, burnin: int,
                        seed: int = 0, batch_size: int | None = None) -> float:
    """One chain of ONE checkpoint (unstacked params), a plain loop with autograd: the reference
    the batched estimator is checked and timed against.  Full batch by default; with `batch_size`
    each step draws a minibatch (with replacement) and records its loss before the step, as
    devinterp does; L_n(w*) is always full batch.
    The book shows this code in 08_llc.ipynb."""
    torch.manual_seed(seed)
    n = data[0].shape[0]
    star = {k: v.detach() for k, v in params.items()}
    w = {k: v.clone().requires_grad_(True) for k, v in star.items()}
    with torch.no_grad():
        init = loss_fn(star, data).item()
    losses = []
    for _ in range(burnin + draws):
        if batch_size is None or batch_size >= n:
            loss = loss_fn(w, data)
        else:
            idx = torch.randint(n, (batch_size,), device=data[0].device)
            loss = loss_fn(w, tuple(x[idx] for x in data))
        grads = torch.autograd.grad(loss, list(w.values()))
        losses.append(loss.item())
        with torch.no_grad():
            for (k, v), g in zip(w.items(), grads):
                v -= epsilon / 2 * (nbeta * g + gamma * (v - star[k]))
                v += math.sqrt(epsilon) * torch.randn_like(v)
    return nbeta * (float(np.mean(losses[burnin:])) - init)


# --- models whose learning coefficient is known in closed form --------------------------------


def exact_regular(h: torch.Tensor, nbeta: float, gamma: float) -> float:
    """λ_γ = ½ Σ nβ h / (nβ h + γ): the exact expectation for a quadratic loss (tends to d/2)."""
    return 0.5 * float((nbeta * h / (nbeta * h + gamma)).sum())


def exact_crossing(a: int, b: int, nbeta: float, gamma: float, s: float = 1.0) -> float:
    """λ_γ for the normal crossing: E_p[nβ (L_n(w) - L_n(0))] under p(w) ∝ exp(-nβ L_n(w) - γ|w|²/2),
    where nβ (L_n(w) - L_n(0)) = nβ s w₁^{2a} w₂^{2b} / 2 (s = mean x², the labels orthogonal to x).
    Exact up to quadrature error (< 1e-6 relative): Gauss-Legendre nodes on geometric intervals,
    which resolve the posterior's narrow ridge along each axis.  Tends to 1 / (2 max(a, b)) as
    nβ / γ^{a+b} grows, slowly: at nβ = 145, γ = 1 it is 18-19 % below that for (a, b) = (1, 2),
    (1, 3), (1, 4), at nβ = 1086 11-12 %."""
    unit, weight = np.polynomial.legendre.leggauss(16)
    edges = np.concatenate([[0.0], np.geomspace(1e-9, 1.0, 64)]) * 12 / math.sqrt(gamma)
    lo, hi = edges[:-1, None], edges[1:, None]
    x = ((hi - lo) / 2 * unit + (hi + lo) / 2).ravel()       # nodes on [0, 12 / √γ]: both signs alike
    wx = ((hi - lo) / 2 * weight).ravel() * np.exp(-gamma * x ** 2 / 2)
    if a == 0:                                               # w₁ does not enter the loss
        k = nbeta * s / 2 * x ** (2 * b)
        p = wx * np.exp(-k)
    else:
        k = nbeta * s / 2 * np.outer(x ** (2 * a), x ** (2 * b))
        p = np.outer(wx, wx) * np.exp(-k)
    return float((k * p).sum() / p.sum())


def aoyagi_rrr(M: int, H: int, N: int, r: int) -> float:
    """The learning coefficient of reduced-rank regression y = B A x (A: H×N, B: M×H), true rank r
    (Aoyagi and Watanabe 2005): the two-layer deep linear network (`aoyagi_dln` at any depth)."""
    if N + r <= M + H and M + r <= N + H and H + r <= M + N:
        s = 2 * (H + r) * (M + N) - (M - N) ** 2 - (H + r) ** 2
        return (s + ((M + H + N + r) % 2)) / 8
    if M + H < N + r:
        return (H * M - H * r + N * r) / 2
    if N + H < M + r:
        return (H * N - H * r + M * r) / 2
    return M * N / 2


def aoyagi_dln(widths: Sequence[int], r: int) -> float:
    """The learning coefficient of a deep linear network x -> W_L ... W_1 x whose layer widths are
    `widths` = (input N, hidden H_1, ..., H_{L-1}, output M), at a true product of rank r
    (Aoyagi 2024, Theorem 1; depth 2 is `aoyagi_rrr`).  With M_j = widths[j] - r, take S, the
    ℓ + 1 smallest M_j for the smallest ℓ >= 1 such that

        max S < min of the rest,   Σ S >= ℓ max S,   Σ S < ℓ min of the rest

    (the rest may be empty); the branch is ℓ.  Then with m = ⌈Σ S / ℓ⌉ and a = Σ S - (m - 1) ℓ,

        λ = r (N + M - r) / 2 + a (ℓ - a) / (4 ℓ) - (ℓ - 1) (Σ S)² / (4 ℓ) + ½ Σ_{i<j in S} M_i M_j.

    The book shows this code in 08_llc.ipynb."""
    from fractions import Fraction
    if len(widths) < 3 or not 0 <= r <= min(widths):
        raise ValueError(f"widths={tuple(widths)!r}, r={r!r} are not allowed: at least 3 widths, 0 <= r <= min(widths)")
    s = _aoyagi_subset(widths, r)
    ell, total = len(s) - 1, sum(s)
    m = -(-total // ell)
    a = total - (m - 1) * ell
    pairs = sum(s[i] * s[j] for i in range(len(s)) for j in range(i + 1, len(s)))
    lam = (Fraction(r * (widths[0] + widths[-1] - r), 2) + Fraction(a * (ell - a), 4 * ell)
           - Fraction((ell - 1) * total * total, 4 * ell) + Fraction(pairs, 2))
    return float(lam)


def aoyagi_branch(widths: Sequence[int], r: int) -> int:
    """ℓ, the branch of Aoyagi's formula that `aoyagi_dln` uses (the ℓ + 1 narrowest layers enter)."""
    return len(_aoyagi_subset(widths, r)) - 1


def _aoyagi_subset(widths: Sequence[int], r: int) -> list[int]:
    """S of `aoyagi_dln`: the shortest prefix (two or more) of the sorted M_j = widths[j] - r that
    meets Aoyagi's three conditions (Aoyagi shows that one exists)."""
    m_all = sorted(w - r for w in widths)
    for size in range(2, len(m_all) + 1):
        s, rest, ell = m_all[:size], m_all[size:], size - 1
        if sum(s) >= ell * s[-1] and (not rest or (s[-1] < rest[0] and sum(s) < ell * rest[0])):
            return s
    raise RuntimeError(f"no subset S for widths={tuple(widths)}, r={r}")
