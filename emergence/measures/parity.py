"""Measures of the sparse-parity chapter (Barak et al. 2022): how far each input's weights moved,
that movement read against random decoy subsets (a null band), the first step from which the k
most-moved inputs are the secret ones, censored fits of the time to solve against n, and the sin
neuron's exact population gradient (the Fourier gap).  numpy/scipy on float64, except
`input_movement`, which reads a model's weights during training.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.optimize import minimize
from scipy.stats import norm


def input_movement(weights: torch.Tensor, start: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
    """m_i = max_j |W[i, j] - W0[i, j]| for every input i, per member: (E, n); 0 on padding."""
    return (weights.detach() - start).abs().amax(-1) * active


# --- the movement ratio against chance ---------------------------------------------------------

def decoy_ratios(movement: np.ndarray, support: np.ndarray, decoys: int, rng: np.random.Generator) -> np.ndarray:
    """The relevant / irrelevant movement ratio for random decoys: (decoys, T).

    `movement` (T, n) is one member's m_i over time (its n inputs, no padding).  A decoy D is k irrelevant inputs drawn at
    random (k = |S|); its ratio is the mean of m over D over the mean over the other irrelevant
    inputs, the same statistic the chapter computes for S, in a world where S does not exist.
    The book shows this code in 04_sparse_parity.ipynb.
    """
    irrelevant = np.flatnonzero(~support)
    k = int(support.sum())
    if len(irrelevant) < 2 * k:
        raise ValueError(f"{len(irrelevant)} irrelevant inputs are too few for decoys of k={k}: need 2k")
    picks = np.stack([rng.choice(irrelevant, k, replace=False) for _ in range(decoys)])   # (D, k)
    inside = movement[:, picks].sum(-1)                                     # (T, D)
    outside = (movement[:, irrelevant].sum(-1, keepdims=True) - inside) / (len(irrelevant) - k)
    return (inside / k / np.clip(outside, 1e-12, None)).T


def top_k_is_support_step(steps: np.ndarray, movement: np.ndarray, support: np.ndarray) -> float | None:
    """First logged step from which the k inputs whose weights moved most are exactly S, at that
    evaluation and every later one; None if they are not S at the end.  The measure ranks the
    inputs without knowing S: S is used only to score the ranking."""
    k = int(support.sum())
    ranked = np.argsort(-movement, axis=-1, kind="stable")[:, :k]
    hit = support[ranked].all(-1)                                           # (T,)
    if not hit[-1]:
        return None
    misses = np.flatnonzero(~hit)
    return float(steps[0 if len(misses) == 0 else misses[-1] + 1])


def progress_against_chance(steps: np.ndarray, movement: np.ndarray, support: np.ndarray,
                            plateau: np.ndarray, decoys: int, seed: int) -> dict:
    """One member's hidden progress read against chance: the largest relevant / irrelevant ratio
    on the plateau that random decoys reach (median, 95th percentile, share of decoys reaching
    1.5), and the step from which the k most-moved inputs are S (`top_k_is_support_step`).
    The decoy numbers are left out with no plateau, or fewer than 2k irrelevant inputs."""
    out = {"top_k_is_support_step": top_k_is_support_step(steps, movement, support)}
    if plateau.any() and (~support).sum() >= 2 * support.sum():     # room for decoys
        peaks = decoy_ratios(movement, support, decoys, np.random.default_rng(seed))[:, plateau].max(-1)
        out.update(decoy_ratio_on_plateau_median=float(np.median(peaks)),
                   decoy_ratio_on_plateau_p95=float(np.quantile(peaks, 0.95)),
                   decoy_share_reaching_1_5=float(np.mean(peaks >= 1.5)))
    return out


# --- time to solve against n, with runs that did not solve --------------------------------------

def log_log_slope(times_by_n: dict, rng: np.random.Generator, resamples: int = 1000) -> tuple:
    """The pooled log-log slope of the solved runs' times against n, and its standard deviation
    over `resamples` bootstrap resamples of the runs at each n; (None, None) if fewer than two n
    have a solved run."""
    fit_n = [n for n, times in times_by_n.items() if times]
    if len(fit_n) < 2:
        return None, None
    xs = np.log([n for n in fit_n for _ in times_by_n[n]])
    slope = lambda times: float(np.polyfit(xs, np.log(times), 1)[0])
    boot = [slope([t for n in fit_n for t in rng.choice(times_by_n[n], len(times_by_n[n]))]) for _ in range(resamples)]
    return slope([t for n in fit_n for t in times_by_n[n]]), float(np.std(boot, ddof=1))


def censored_line_fit(x, log_t, censored) -> dict:
    """Maximum-likelihood line log t = a + b x + N(0, s^2) where some t are only known to exceed
    their value (right-censored: runs stopped at the step budget unsolved), a Tobit model.
    Returns intercept, slope, sigma, the log-likelihood and the RMS residual of the solved runs."""
    x, y, cens = (np.asarray(v, dtype=float) for v in (x, log_t, censored))
    cens = cens.astype(bool)
    if (~cens).sum() < 3 or len(np.unique(x[~cens])) < 2:
        return {"intercept": None, "slope": None, "sigma": None, "loglik": None, "rms_residual": None}
    slope, intercept = np.polyfit(x[~cens], y[~cens], 1)
    spread = max(np.std(y[~cens] - intercept - slope * x[~cens]), 1e-3)

    def negative_loglik(theta):
        a, b, log_s = theta
        z = (y - a - b * x) / math.exp(log_s)
        return -(norm.logpdf(z[~cens]).sum() - (~cens).sum() * log_s + norm.logsf(z[cens]).sum())

    fit = minimize(negative_loglik, [intercept, slope, math.log(spread)], method="Nelder-Mead",
                   options=dict(xatol=1e-8, fatol=1e-10, maxiter=20000))
    a, b, log_s = fit.x
    residual = y[~cens] - a - b * x[~cens]
    return {"intercept": float(a), "slope": float(b), "sigma": float(math.exp(log_s)),
            "loglik": float(-fit.fun), "rms_residual": float(np.sqrt(np.mean(residual ** 2)))}


def power_or_exponential(n, steps, censored) -> dict:
    """t = C n^c (a line in log t against log n) or t = C e^{c n} (against n), both fitted with
    censoring.  Same number of parameters, so the larger log-likelihood is the better fit;
    `log_likelihood_ratio` is power minus exponential (positive: the data prefer the power law)."""
    log_t = np.log(np.asarray(steps, dtype=float))
    power = censored_line_fit(np.log(np.asarray(n, dtype=float)), log_t, censored)
    exponential = censored_line_fit(np.asarray(n, dtype=float), log_t, censored)
    ratio = None if power["loglik"] is None else power["loglik"] - exponential["loglik"]
    return {"power": power, "exponential": exponential, "log_likelihood_ratio": ratio,
            "preferred": None if ratio is None else ("power" if ratio > 0 else "exponential")}


def censored_scaling(times_by_n: dict, unsolved_by_n: dict, stopped_at: float) -> dict:
    """Both growth laws fitted to every run, the unsolved ones censored at the step training
    stopped, and the Kaplan-Meier median time to solve at each n."""
    rows = [(n, t, False) for n, times in times_by_n.items() for t in times]
    rows += [(n, stopped_at, True) for n, count in unsolved_by_n.items() for _ in range(count)]
    n, t, censored = zip(*rows) if rows else ((), (), ())
    return {**power_or_exponential(n, t, censored),
            "km_median": [kaplan_meier_median([t for m, t, _ in rows if m == key], [c for m, _, c in rows if m == key])
                          for key in times_by_n]}


def kaplan_meier_median(times, censored) -> float | None:
    """The median time to solve with unsolved runs counted as 'not before their stop': the first
    time at which the Kaplan-Meier estimate of P(still unsolved) falls to 1/2 or below; None
    if it never does (more than half the runs may never solve)."""
    times, cens = np.asarray(times, dtype=float), np.asarray(censored, dtype=bool)
    surviving = 1.0
    for t in np.unique(times[~cens]):
        at_risk = (times >= t).sum()
        surviving *= 1 - ((times == t) & ~cens).sum() / at_risk
        if surviving <= 0.5:
            return float(t)
    return None


# --- the sin neuron's population gradient: the Fourier gap -------------------------------------

GAP_DRAWS = 400   # initialisations drawn per (k, n) in `fourier_gap_scaling`


def sin_correlation_gradient(w: np.ndarray, support: np.ndarray, b: float = 0.0) -> np.ndarray:
    """d/dw of E_x[chi_S(x) sin(w.x + b)] for x uniform on {-1, +1}^n, exactly, for each row of w.

    E[chi_S(x) sin(w.x + b)] = sin(b + k pi / 2) prod_{j in S} sin w_j prod_{j not in S} cos w_j,
    so its derivative in w_i swaps the i-th factor for its derivative: cos w_i (i in S), -sin w_i
    (i not in S).  `w`: (..., n), `support`: (n,) bool."""
    w = np.asarray(w, dtype=float)
    factors = np.where(support, np.sin(w), np.cos(w))
    slopes = np.where(support, np.cos(w), -np.sin(w))
    # products of all factors but the i-th, without dividing (a factor may be 0)
    before = np.cumprod(np.concatenate([np.ones_like(w[..., :1]), factors[..., :-1]], -1), -1)
    after = np.flip(np.cumprod(np.concatenate([np.ones_like(w[..., :1]), np.flip(factors, -1)[..., :-1]], -1), -1), -1)
    return math.sin(b + support.sum() * math.pi / 2) * slopes * before * after


def fourier_gap_scaling(n_values, k_values, draws: int = GAP_DRAWS, seed: int = 0) -> dict:
    """At the sin neuron's initialisation (w_i ~ U(+-1/sqrt(n)), b = 0, odd k), the median over
    `draws` initialisations of the mean |population gradient| on the relevant and on the irrelevant
    weights, per (k, n), and the log-log slopes against n (theory: -(k-1)/2 and -(k+1)/2)."""
    rng = np.random.default_rng(seed)
    out = {}
    for k in k_values:
        if k % 2 == 0:
            raise ValueError(f"k={k} is not allowed: the sin neuron with b = 0 needs an odd k")
        rows = {"relevant": [], "irrelevant": []}
        for n in n_values:
            support = np.arange(n) < k
            w = rng.uniform(-1, 1, (draws, n)) / math.sqrt(n)
            grad = np.abs(sin_correlation_gradient(w, support))
            rows["relevant"].append(float(np.median(grad[:, support].mean(-1))))
            rows["irrelevant"].append(float(np.median(grad[:, ~support].mean(-1))))
        slopes = {name: float(np.polyfit(np.log(n_values), np.log(v), 1)[0]) for name, v in rows.items()}
        out[str(k)] = {"n": list(n_values), **rows, "slope_relevant": slopes["relevant"],
                       "slope_irrelevant": slopes["irrelevant"]}
    return out
