"""Scaling laws: Chinchilla's parametric fit, IsoFLOP slices and the compute-optimal frontier.

    L(N, D) = E + A / N^alpha + B / D^beta           (Hoffmann et al. 2022, Approach 3)

is fitted as Chinchilla did: in log space, log L = LSE(a - alpha log N, b - beta log D, e) with
A = e^a, B = e^b, E = e^e, minimising the summed Huber loss (delta = 1e-3) of the residuals with
L-BFGS from a grid of starting points, keeping the best.  Approach 2 fits a parabola to each
IsoFLOP slice L(log N) at fixed compute C = 6 N D and regresses the vertices N*(C) on C.
Everything is numpy/scipy on float64: no torch, nothing trains here.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from scipy.optimize import minimize

# Published Approach-3 constants.  Chinchilla's as printed (rounded) in Hoffmann et al. 2022,
# and the refit of the same data by Besiroglu, Erdil, Barnett and You 2024, who found the
# printed fit inconsistent with the paper's own data points.
PUBLISHED = {
    "chinchilla": dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28),
    "besiroglu2024": dict(E=1.82, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658),
}
CHINCHILLA_FLOPS = 5.76e23  # the compute budget of the Chinchilla model itself

# Chinchilla's grid of initialisations (Hoffmann et al. 2022, App. D.2): 5 x 5 x 5 x 6 x 6 = 4500.
CHINCHILLA_GRID = dict(alpha=np.arange(0, 2.01, 0.5), beta=np.arange(0, 2.01, 0.5),
                       e=np.arange(-1, 1.01, 0.5), a=np.arange(0, 25.1, 5), b=np.arange(0, 25.1, 5))


def chinchilla_loss(N, D, E: float, A: float, B: float, alpha: float, beta: float):
    return E + A / np.asarray(N, dtype=float) ** alpha + B / np.asarray(D, dtype=float) ** beta


def huber(r: np.ndarray, delta: float) -> np.ndarray:
    small = np.abs(r) <= delta
    return np.where(small, 0.5 * r * r, delta * (np.abs(r) - 0.5 * delta))


def _objective(theta: np.ndarray, log_n, log_d, log_l, delta: float, fixed_e: float | None):
    """Summed Huber loss of the log residuals and its analytic gradient (softmax weights of the
    log-sum-exp).  theta = (a, b, e, alpha, beta), or (a, b, alpha, beta) when E is fixed."""
    if fixed_e is None:
        a, b, e, alpha, beta = theta
    else:
        (a, b, alpha, beta), e = theta, fixed_e
    terms = np.stack([a - alpha * log_n, b - beta * log_d, np.full_like(log_n, e)])
    top = terms.max(0)
    weights = np.exp(terms - top)
    total = weights.sum(0)
    r = top + np.log(total) - log_l
    weights /= total
    slope = np.clip(r, -delta, delta)                  # Huber'(r)
    grad = [np.sum(slope * weights[0]), np.sum(slope * weights[1])]
    if fixed_e is None:
        grad.append(np.sum(slope * weights[2]))
    grad += [-np.sum(slope * weights[0] * log_n), -np.sum(slope * weights[1] * log_d)]
    return float(huber(r, delta).sum()), np.array(grad)


def fit_chinchilla(N, D, L, delta: float = 1e-3, grid: dict | None = None,
                   fixed_E: float | None = None, max_iter: int = 1000) -> dict:
    """Approach 3: fit (E, A, B, alpha, beta) to losses L at (N, D).

    `grid` maps 'a', 'b', 'e', 'alpha', 'beta' to starting values (default: Chinchilla's 4500);
    with `fixed_E` the constant is held at that value and 'e' is not searched.  Returns the
    constants, the best objective, the RMSE of log L, the winning start, and how many starts
    ended within 1 % of the best objective (a measure of how fragile the fit is).
    """
    log_n, log_d, log_l = (np.log(np.asarray(v, dtype=float)) for v in (N, D, L))
    if not (log_n.shape == log_d.shape == log_l.shape) or log_n.size < 5:
        raise ValueError("N, D and L must be arrays of the same length (>= 5 points)")
    grid = CHINCHILLA_GRID if grid is None else grid
    names = ["a", "b", "alpha", "beta"] if fixed_E is not None else ["a", "b", "e", "alpha", "beta"]
    fixed_e = None if fixed_E is None else math.log(fixed_E)
    results = []
    for start in itertools.product(*(grid[name] for name in names)):
        res = minimize(_objective, np.array(start, dtype=float), jac=True, method="L-BFGS-B",
                       args=(log_n, log_d, log_l, delta, fixed_e),
                       options=dict(maxiter=max_iter, gtol=1e-12, ftol=1e-14))
        results.append((res.fun, res.x, start))
    objectives = np.array([r[0] for r in results])
    best_value, best_x, best_start = results[int(np.argmin(objectives))]
    values = dict(zip(names, best_x))
    e = values["e"] if fixed_E is None else fixed_e
    constants = dict(E=math.exp(e), A=math.exp(values["a"]), B=math.exp(values["b"]),
                     alpha=float(values["alpha"]), beta=float(values["beta"]))
    predicted = chinchilla_loss(N, D, **constants)
    return {**constants, "objective": float(best_value),
            "rmse_log": float(np.sqrt(np.mean((np.log(predicted) - log_l) ** 2))),
            "best_start": dict(zip(names, map(float, best_start))), "n_starts": len(results),
            "n_within_1pct": int(np.sum(objectives <= best_value * 1.01 + 1e-15)),
            "fixed_E": fixed_E is not None, "n_points": int(log_n.size)}


def compute_optimal(C, E: float, A: float, B: float, alpha: float, beta: float, **_) -> dict:
    """Minimise L(N, D) subject to 6 N D = C: N_opt = G (C/6)^a, D_opt = (C/6)^b / G with
    G = (alpha A / (beta B))^(1 / (alpha + beta)), a = beta / (alpha + beta), b = alpha / (alpha + beta).
    E does not move the frontier.
    The book shows this code in 01_scaling_laws.ipynb."""
    C = np.asarray(C, dtype=float)
    G = (alpha * A / (beta * B)) ** (1 / (alpha + beta))
    a, b = beta / (alpha + beta), alpha / (alpha + beta)
    return {"N_opt": G * (C / 6) ** a, "D_opt": (C / 6) ** b / G, "G": G, "a": a, "b": b}


def isoflop_slice(N, D_logged, L_table, C: float) -> tuple[np.ndarray, np.ndarray]:
    """The losses of every model at compute C = 6 N D: model i's curve L_table[i] (over the
    data sizes D_logged[i]) interpolated linearly in log-log at D = C / (6 N_i).  Models whose
    logged range does not contain that D are left out (no extrapolation).
    Returns (N of the models in the slice, their losses)."""
    sizes, losses = [], []
    for n, d, l in zip(N, D_logged, L_table):
        d, l = np.asarray(d, dtype=float), np.asarray(l, dtype=float)
        target = C / (6 * n)
        if len(d) and d.min() <= target <= d.max():   # a width with no usable loss has no point
            sizes.append(n)
            losses.append(math.exp(np.interp(math.log(target), np.log(d), np.log(l))))
    return np.array(sizes, dtype=float), np.array(losses)


def parabola_vertex(N, L) -> float | None:
    """Approach 2: the N at the vertex of a parabola fitted to log L against log N (None when
    the parabola opens downwards or there are fewer than 3 points)."""
    if len(N) < 3:
        return None
    c2, c1, _ = np.polyfit(np.log(N), np.log(L), 2)
    return None if c2 <= 0 else float(math.exp(-c1 / (2 * c2)))


def interior_minimum(N, L) -> bool:
    """Is the smallest loss of the slice at neither end of the sizes it contains?"""
    return len(N) >= 3 and 0 < int(np.argmin(L)) < len(N) - 1


def power_law_exponent(x, y) -> float:
    """The slope of log y against log x (least squares)."""
    return float(np.polyfit(np.log(np.asarray(x, dtype=float)), np.log(np.asarray(y, dtype=float)), 1)[0])


def compute_budgets(N: list[float], D: np.ndarray, n_budgets: int, min_models: int = 3) -> np.ndarray:
    """n_budgets log-spaced compute budgets spanning the range in which at least `min_models`
    sizes have a logged data budget D = C / (6 N) (so a slice can show an interior minimum)."""
    D = np.asarray(D, dtype=float)
    grid = np.geomspace(6 * min(N) * D.min(), 6 * max(N) * D.max(), 400)
    count = np.array([sum(D.min() <= c / (6 * n) <= D.max() for n in N) for c in grid])
    usable = grid[count >= min(min_models, len(N))]
    return np.geomspace(usable.min(), usable.max(), n_budgets + 2)[1:-1]


def isoflop_approach(N: list[float], D: np.ndarray, table: np.ndarray, max_loss: float, n_budgets: int) -> dict:
    """Hoffmann et al.'s Approach 2 on a loss table (widths x logged data budgets D): IsoFLOP
    slices at `n_budgets` compute budgets, each slice's parabola vertex, and the exponents a, b of
    N* ∝ C^a, D* ∝ C^b over the slices with an interior minimum.  Only losses below `max_loss`
    count, so a plateau before learning starts is not read as a slice."""
    past_plateau = table.min(0) < max_loss
    budgets = compute_budgets(N, D[past_plateau] if past_plateau.sum() >= 2 else D, n_budgets)
    slices = []
    for C in budgets:
        keep = [table[i] < max_loss for i in range(len(N))]
        sizes, losses = isoflop_slice(N, [D[k] if k.sum() >= 2 else D[:0] for k in keep],
                                      [table[i][k] for i, k in enumerate(keep)], C)
        slices.append({"C": float(C), "N": sizes.tolist(), "L": losses.tolist(),
                       "argmin_N": float(sizes[np.argmin(losses)]) if len(sizes) else None,
                       "vertex_N": parabola_vertex(sizes, losses),
                       "interior_minimum": interior_minimum(sizes, losses)})
    with_vertex = [s for s in slices if s["vertex_N"] is not None and s["interior_minimum"]]
    a2 = b2 = None
    if len(with_vertex) >= 2:
        C = [s["C"] for s in with_vertex]
        N_star = [s["vertex_N"] for s in with_vertex]
        a2 = power_law_exponent(C, N_star)
        b2 = power_law_exponent(C, [c / (6 * n) for c, n in zip(C, N_star)])
    return {"slices": slices, "n_interior": sum(s["interior_minimum"] for s in slices),
            "a": a2, "b": b2, "n_used": len(with_vertex)}


def bootstrap_frontier_exponent(N, D, L, fit: dict, n_boot: int = 200, seed: int = 0,
                                level: float = 0.9) -> dict:
    """A percentile interval on the frontier exponent a = beta / (alpha + beta) of an Approach-3
    fit: resample the (N, D, L) points with replacement and refit, each refit started from the
    full fit's optimum (as Besiroglu et al. 2024 bootstrapped Chinchilla's points)."""
    N, D, L = (np.asarray(v, dtype=float) for v in (N, D, L))
    start = {"a": [math.log(fit["A"])], "b": [math.log(fit["B"])], "e": [math.log(fit["E"])],
             "alpha": [fit["alpha"]], "beta": [fit["beta"]]}
    rng = np.random.default_rng(seed)
    exponents = []
    for _ in range(n_boot):
        pick = rng.integers(0, len(N), len(N))
        if len(np.unique(N[pick])) < 2 or len(np.unique(D[pick])) < 2:
            continue                                   # a resample with one size or budget fits nothing
        try:
            refit = fit_chinchilla(N[pick], D[pick], L[pick], grid=start, fixed_E=fit["E"] if fit["fixed_E"] else None)
        except OverflowError:                          # a degenerate resample ran a constant off to infinity
            continue
        exponents.append(refit["beta"] / (refit["alpha"] + refit["beta"]))
    if not exponents:
        return {"a": fit["beta"] / (fit["alpha"] + fit["beta"]), "level": level, "n_boot": 0, "interval": None}
    tail = 50 * (1 - level)
    return {"a": fit["beta"] / (fit["alpha"] + fit["beta"]), "level": level, "n_boot": len(exponents),
            "interval": [float(np.percentile(exponents, tail)), float(np.percentile(exponents, 100 - tail))]}


def approach_1(N: list[float], D: np.ndarray, table: np.ndarray, max_loss: float, n_points: int = 40) -> dict:
    """Kaplan's L(C) plot and Hoffmann et al.'s Approach 1: every width's loss as a function of
    compute C = 6 N D, their lower envelope (the compute-efficient frontier), and at each C the
    width on that envelope, N_opt(C) ∝ C^a fitted over the budgets where the envelope is below
    `max_loss` and at least two widths are logged."""
    keep = [row < max_loss for row in table]
    D_logged = [D[k] if k.sum() >= 2 else D[:0] for k in keep]
    curves = [row[k] if k.sum() >= 2 else row[:0] for row, k in zip(table, keep)]
    budgets = compute_budgets(N, D[table.min(0) < max_loss], n_points, min_models=2)
    C, L_env, N_opt = [], [], []
    for c in budgets:
        sizes, losses = isoflop_slice(N, D_logged, curves, c)
        if len(sizes) >= 2:
            C.append(float(c))
            L_env.append(float(losses.min()))
            N_opt.append(float(sizes[np.argmin(losses)]))
    a = power_law_exponent(C, N_opt) if len(set(N_opt)) >= 2 else None
    return {"C": C, "L": L_env, "N_opt": N_opt, "a": a, "L_exponent": power_law_exponent(C, L_env) if C else None}
