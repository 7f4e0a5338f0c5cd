"""The local learning coefficient: the estimator against closed forms, and how to set it.
(Lau et al. 2023; Aoyagi and Watanabe 2005; Aoyagi 2024.)

`run(config)` estimates λ̂ with `emergence.measures.llc.estimate_llc` on models whose learning
coefficient is known exactly, each at an exact minimum w* of L_n:
  * regular: linear regression at its least-squares fit, λ = d/2 (at finite nβ and γ exactly
    λ_γ = ½ Σ nβ h_i / (nβ h_i + γ) over the Hessian's eigenvalues h_i);
  * normal crossings y = x w₁^a w₂^b + noise at w* = 0 (labels orthogonal to x), λ = 1 / (2 max(a, b));
    λ̂ is checked against λ_γ, the exact value at the run's nβ and γ (`exact_crossing`);
  * deep linear networks y = W_L ... W_1 x of depth 3 and 4 (up to 340 parameters, three branches
    of Aoyagi's formula) at the reduced-rank-regression optimum, a global minimum of L_n whose
    Hessian is checked for negative eigenvalues.
The crossings and deep linear networks sample L_n from the data's second moments (the same numbers,
at a cost that does not grow with n).  Then a calibration sweep over ε × nβ on the regular model
(all settings in ONE batched run) with the chain diagnostics, and one deliberately bad start.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from emergence.config import ExperimentConfig, require, require_int, require_number
from emergence.experiments.base import Experiment, Run
from emergence.measures.llc import (DRIFT_MAX, LLCWarning, aoyagi_branch, aoyagi_dln, default_nbeta, estimate_llc,
                                    exact_crossing, exact_regular)
from emergence.tasks.known_llc import (DTYPE, crossing_case, crossing_moment_loss, dln_case, dln_minimum_report,
                                       dln_moment_loss, regression_loss, regular_case, second_moments)

NAME = "llc_validation"


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Defaults are the `fast` profile (seconds per case on one CPU thread); `full` runs longer
    chains and more of them."""

    USES_FLOAT64 = True                             # every case is computed in DTYPE = float64
    n: int = 1000                                   # samples; nβ = n / log n
    gamma: float = 1.0                              # localisation
    chains: int = 16                                # cheap when batched: more chains, smaller error
    burnin: int = 1000
    draws: int = 3000
    regular_dims: tuple[int, ...] = (10, 50)        # linear regression sizes d
    regular_epsilon: float = 1e-4
    crossing_a: tuple[int, ...] = (1, 1, 1)         # normal crossings y = x w1^a w2^b
    crossing_b: tuple[int, ...] = (2, 3, 4)
    # nβ s w₂^{2b} is the w₁ curvature where the chain is: ε = 1.25e-3 keeps ε κ < 4 (stable) out
    # to |w₂| ≈ 1.5 (no chain of 200,000 diverged) and the discretisation bias at about 2 % (7e-3
    # diverged when a chain wandered past |w₂| ≈ 1.2, and read 10-13 % high); a crossing's λ̂ is
    # noisier than the other cases' (one χ²-like direction carries it), hence more chains: a
    # standard error of about 2 % with 512 chains (cheap: the loss is a few operations per chain)
    crossing_epsilon: float = 1.25e-3
    crossing_chains: int = 512
    dln_cases: tuple[str, ...] = ("10x6x7x10:5", "10x7x8x9x10:6", "12x10x10x12:8")   # widths (input first):r
    dln_noise: float = 0.1                          # label noise: keeps nβ s_{r+1}² ≪ γ (the chapter says why)
    dln_chains: int = 32
    # εκ <= 0.08 at w*, and κ grows as chains wander along the layers' symmetry to less balanced
    # points (1e-4 read 10 % high at depth 4 and rising, 3e-4 28-47 % high), hence the longer burn-in
    dln_epsilon: float = 5e-5
    dln_burnin: int = 2000
    dln_draws: int = 3000
    calib_epsilons: tuple[float, ...] = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2)
    calib_nbeta_factors: tuple[float, ...] = (0.1, 1.0, 10.0)   # × n / log n
    calib_dim: int = 10
    seed: int = 0
    threads: int = 1

    # full: 10x the data (nβ 7.5x larger, so ε 10x smaller at the same εκ), longer and more chains
    PRESETS = {"fast": {},
               "full": dict(n=10000, chains=64, burnin=5000, draws=20000, regular_dims=(10, 50, 200),
                            regular_epsilon=1e-5, crossing_epsilon=1.25e-4,
                            crossing_chains=4096, dln_chains=64, dln_epsilon=5e-6,
                            dln_burnin=20000, dln_draws=40000)}

    def check(self) -> None:
        require_int(self, "n", 100, 10_000_000)
        require(0 < self.gamma <= 1e4, "gamma", self.gamma, "a number in (0, 10^4]")
        require_int(self, "chains", 2, 1000)
        require_int(self, "crossing_chains", 2, 100_000)
        require_int(self, "dln_chains", 2, 1000)
        require_int(self, ("burnin", "dln_burnin"), 0, 1_000_000)
        require_int(self, ("draws", "dln_draws"), 40, 1_000_000)
        require(all(1 <= d <= 2000 for d in self.regular_dims), "regular_dims", self.regular_dims,
                "integers from 1 to 2000")
        require(len(self.crossing_a) == len(self.crossing_b) and
                all(0 <= a <= 6 and 1 <= b <= 6 for a, b in zip(self.crossing_a, self.crossing_b)),
                "crossing_a", (self.crossing_a, self.crossing_b),
                "crossing_a and crossing_b: equally long lists, a in 0..6, b in 1..6")
        for case in self.dln_cases:
            widths, _, r = case.partition(":")
            ok = r.isdigit() and all(w.isdigit() and int(w) >= 1 for w in widths.split("x"))
            require(ok and widths.count("x") >= 2 and int(r) <= min(int(w) for w in widths.split("x")), "dln_cases",
                    case, "strings 'NxH1x...xM:r' (three or more widths, input first) with r <= every width")
        require_number(self, ("regular_epsilon", "crossing_epsilon", "dln_epsilon", "dln_noise"), 0, 1)
        require(len(self.calib_epsilons) >= 1 and all(0 < e <= 1 for e in self.calib_epsilons),
                "calib_epsilons", self.calib_epsilons, "one or more numbers in (0, 1]")
        require(len(self.calib_nbeta_factors) >= 1 and all(0 < f <= 1e3 for f in self.calib_nbeta_factors),
                "calib_nbeta_factors", self.calib_nbeta_factors, "one or more numbers in (0, 1000]")
        require_int(self, "calib_dim", 1, 2000)


# --- the run ------------------------------------------------------------------------------------


def _row(model, case, n_params, true, result, tolerance, seconds, reference=None, **extra) -> dict:
    """One validation case.  `rel_error` and `within` are against `reference`, the value the
    estimator targets at the run's nβ and γ where that differs from the asymptotic `true` by more
    than the Monte Carlo error (the normal crossings: their exact λ_γ), else against `true`."""
    est, std = float(result.llc_mean[0]), float(result.llc_std[0])
    ref = true if reference is None else reference
    return dict(model=model, case=case, n_params=n_params, true=true, estimate=est, std=std,
                rel_error=(est - ref) / ref, tolerance=tolerance,
                within=abs(est - ref) <= tolerance * ref, healthy=bool(result.healthy[0]),
                below_init=float(result.below_init[0]), drift=float(result.drift[0]),
                drift_excess_se=_drift_excess_se(result), seconds=seconds, **extra)


def _drift_excess_se(result) -> float:
    """How far the drift between the halves of the draws (`estimate_llc`'s) exceeds DRIFT_MAX of
    the level, in standard errors of the difference (chain to chain); negative: within it, NaN if a
    chain diverged.  Above 2, the drift is significantly larger than DRIFT_MAX.  The estimator's own
    flag asks instead whether a drift larger than DRIFT_MAX differs from zero by 2 standard errors,
    which, when the standard error is larger than DRIFT_MAX / 2 of the level, flags about 5 % of
    runs at equilibrium."""
    post = result.traces[0, :, result.burnin:]
    half = post.shape[1] // 2
    nb, init = float(result.nbeta[0]), float(result.init_loss[0])
    before = nb * (post[:, :half].mean(axis=1) - init)
    diff = nb * (post[:, half:].mean(axis=1) - init) - before
    se = diff.std(ddof=1) / math.sqrt(len(diff))
    with np.errstate(all="ignore"):
        return float((abs(diff.mean()) - DRIFT_MAX * abs(before.mean())) / se)


REGULAR_TOL = 0.10    # the criterion: |λ̂ - d/2| <= 10 % of d/2
CROSSING_TOL = 0.10   # of the exact λ_γ (Monte Carlo error ~2 %, discretisation +2 %); and ±3.5 chain-std
DLN_TOL = 0.15        # of Aoyagi's λ; devinterp's rrr_test allows 0.4


def _validate(config: Config, device: torch.device) -> Run:
    start = time.time()
    gen = torch.Generator().manual_seed(config.seed)
    nbeta = default_nbeta(config.n)
    common = dict(gamma=config.gamma, chains=config.chains, burnin=config.burnin, draws=config.draws,
                  seed=config.seed, warn=False)
    rows, history = [], {}

    for d in config.regular_dims:
        t = time.time()
        params, data, h = regular_case(d, config.n, gen, device)
        res = estimate_llc(regression_loss, params, data, epsilon=config.regular_epsilon, **common)
        rows.append(_row("regular", f"d={d}", d, d / 2, res, REGULAR_TOL, time.time() - t,
                         exact_finite=exact_regular(h.cpu(), nbeta, config.gamma)))

    crossing = dict(common, chains=config.crossing_chains, nbeta=nbeta)   # n is not the moments' length
    for a, b in zip(config.crossing_a, config.crossing_b):
        t = time.time()
        params, data = crossing_case(config.n, gen, device)
        res = estimate_llc(crossing_moment_loss(a, b), params, second_moments(*data), epsilon=config.crossing_epsilon,
                           **crossing)
        exact = exact_crossing(a, b, nbeta, config.gamma, float((data[0] ** 2).mean()))
        rows.append(_row("normal crossing", f"a={a}, b={b}", 2, 1 / (2 * max(a, b)), res, CROSSING_TOL,
                         time.time() - t, reference=exact, exact_finite=exact))

    for case in config.dln_cases:
        t = time.time()
        widths, r = tuple(int(w) for w in case.split(":")[0].split("x")), int(case.split(":")[1])
        params, data, singular = dln_case(widths, r, config.n, gen, device, noise=config.dln_noise)
        moments = second_moments(*data)
        res = estimate_llc(dln_moment_loss, params, moments, epsilon=config.dln_epsilon,
                           **dict(common, chains=config.dln_chains, burnin=config.dln_burnin,
                                  draws=config.dln_draws, nbeta=nbeta))
        fitted = min(widths)        # the rank of w*'s product: the noise fills the ranks above r
        rows.append(_row("deep linear", case, sum(a * b for a, b in zip(widths, widths[1:])),
                         aoyagi_dln(widths, r), res, DLN_TOL, time.time() - t, depth=len(widths) - 1,
                         branch=aoyagi_branch(widths, r), true_at_fitted_rank=aoyagi_dln(widths, fitted),
                         noise_curvature=nbeta * float(singular[r]) ** 2 if r < fitted else 0.0,
                         **dln_minimum_report(dln_moment_loss, params, moments)))

    # how slowly a crossing's exact value approaches λ as nβ grows (γ fixed): the formula alone
    gap = [dict(nbeta=nb, **{f"b={b}": exact_crossing(1, b, nb, config.gamma) * 2 * b for b in (2, 3, 4)})
           for nb in (nbeta, 1e3, 1e4, 1e5, 1e6, 1e8)]
    calibration, history = _calibration(config, gen, device, common)
    off = _off_minimum(config, gen, device, common)
    summary = dict(validation=rows, calibration=calibration, off_minimum=off, nbeta=nbeta, crossing_gap=gap,
                   seconds=time.time() - start,
                   tolerances=dict(regular=REGULAR_TOL, crossing=CROSSING_TOL, dln=DLN_TOL))
    return Run(NAME, config.to_dict(), summary, history)


def _calibration(config: Config, gen, device, common) -> tuple[list, dict]:
    """Every (ε, nβ) pair on one regular model, as one batched estimate."""
    params, data, h = regular_case(config.calib_dim, config.n, gen, device)
    grid = [(e, f) for f in config.calib_nbeta_factors for e in config.calib_epsilons]
    base = default_nbeta(config.n)
    stacked = {k: v.repeat(len(grid), *([1] * (v.dim() - 1))) for k, v in params.items()}
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", LLCWarning)
        res = estimate_llc(regression_loss, stacked, data, epsilon=[e for e, _ in grid],
                           nbeta=[f * base for _, f in grid], **common)
    h_max = float(h.max())
    rows = []
    for i, (e, f) in enumerate(grid):
        est = float(res.llc_mean[i])
        rows.append(dict(epsilon=e, nbeta_factor=f, nbeta=f * base,
                         exact=exact_regular(h.cpu(), f * base, config.gamma),
                         estimate=est if math.isfinite(est) else None,
                         eps_kappa=e * (f * base * h_max + config.gamma),
                         healthy=bool(res.healthy[i]), below_init=float(res.below_init[i]),
                         drift=float(res.drift[i]) if math.isfinite(res.drift[i]) else None))
    # traces relative to the initial loss, scaled by nβ: what a calibration plot shows
    every = max(1, res.traces.shape[2] // 400)
    rel = res.nbeta[:, None, None] * (res.traces[:, :, ::every] - res.init_loss[:, None, None])
    history = {"calibration_traces": torch.tensor(np.nan_to_num(rel, nan=np.inf), dtype=torch.float32),
               "calibration_step": torch.arange(0, res.traces.shape[2], every)}
    return rows, history


def _off_minimum(config: Config, gen, device, common) -> dict:
    """A 'checkpoint' that is not a minimum: the chains fall below L_n(w*) and λ̂ turns negative."""
    params, data, _ = regular_case(config.calib_dim, config.n, gen, device)
    moved = {"w": params["w"] + 0.3 * torch.randn(params["w"].shape, generator=gen, dtype=DTYPE).to(device)}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LLCWarning)
        res = estimate_llc(regression_loss, moved, data, epsilon=config.regular_epsilon,
                           **{**common, "warn": True})
    return dict(estimate=float(res.llc_mean[0]), true=config.calib_dim / 2,
                below_init=float(res.below_init[0]), healthy=bool(res.healthy[0]),
                warned=any(issubclass(w.category, LLCWarning) for w in caught))


# --- the contract (experiments/base.py: Experiment) ------------------------------------------

EXPERIMENT = Experiment(NAME, Config, _validate, about=__doc__.strip().splitlines()[0])
run = EXPERIMENT.run
