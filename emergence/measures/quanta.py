"""The quantization model of scaling (Michaud et al. 2023), measured on per-skill curves.

A skill ("quantum") i is used with frequency p_i ∝ i^-(alpha + 1).  A model that has learned the
n most frequent skills still pays chance loss on the rest, so L - E ∝ sum_{i > n} p_i ∝ n^-alpha.
If every skill costs the same number of parameters, n ∝ N and L ∝ N^-alpha; if skill i is learned
once it has been seen a fixed number of times, it is learned after D_i ∝ 1 / p_i examples, so
n(D) ∝ D^(1 / (alpha + 1)) and L ∝ D^-(alpha / (alpha + 1)).  Nothing here trains.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from emergence.measures.transitions import first_crossing


def predicted_exponents(rank_exponent: float) -> dict:
    """The quantization model's exponents for skill frequencies p_i ∝ i^-rank_exponent
    (rank_exponent = alpha + 1): L ∝ N^-alpha_N with alpha_N = alpha, and L ∝ D^-alpha_D with
    alpha_D = alpha / (alpha + 1); and a skill's learning time ∝ p_i^-1."""
    alpha = rank_exponent - 1
    return {"alpha_N": alpha, "alpha_D": alpha / (alpha + 1), "learning_step_vs_p": -1.0}


def log_log_slope(x, y, level: float = 0.95) -> dict:
    """Least-squares slope of log y on log x with its `level` t-interval (None below 3 points)."""
    x, y = np.log(np.asarray(x, dtype=float)), np.log(np.asarray(y, dtype=float))
    if len(x) < 3 or np.ptp(x) == 0:
        return {"slope": None, "interval": None, "n": int(len(x))}
    fit = stats.linregress(x, y)
    half = stats.t.ppf(0.5 + level / 2, len(x) - 2) * fit.stderr
    return {"slope": float(fit.slope), "interval": [float(fit.slope - half), float(fit.slope + half)],
            "intercept": float(fit.intercept), "n": int(len(x))}


def learning_steps(steps, accuracy, threshold: float = 0.75) -> list[float | None]:
    """The step at which each skill's clean accuracy first reaches `threshold` (halfway from
    chance 0.5 to 1 by default), interpolated in log step; None for a skill never learned.
    `accuracy`: (points, skills)."""
    log_steps = np.log(np.asarray(steps, dtype=float))
    found = [first_crossing(log_steps, column, threshold, interpolate=True) for column in np.asarray(accuracy).T]
    return [None if t is None else math.exp(t) for t in found]


def learning_step_law(steps, accuracy, probability, threshold: float = 0.75) -> dict:
    """Pool the skills learned by several models of one size (accuracy: (points, models, skills))
    and fit log(learning step) against log(p_i): the quantization model predicts slope -1.
    Skills a model never learned in the run are counted, not fitted (they are censored)."""
    p, t, model_of = [], [], []
    for m in range(accuracy.shape[1]):
        for i, step in enumerate(learning_steps(steps, accuracy[:, m], threshold)):
            if step is not None and step > steps[0]:          # learned after the first evaluation
                p.append(float(probability[i]))
                t.append(step)
                model_of.append(m)
    return {"p": p, "step": t, "model": model_of, "threshold": threshold,
            "n_learned": len(t), "n_censored": int(accuracy.shape[1] * accuracy.shape[2] - len(t)),
            **log_log_slope(p, t)}


def skills_learned(final_accuracy, threshold: float = 0.9) -> np.ndarray:
    """How many skills each model ends with clean accuracy >= threshold; final_accuracy: (models, skills)."""
    return (np.asarray(final_accuracy) >= threshold).sum(-1)


def direct_exponents(N, D, table, floor: float, max_loss: float) -> dict:
    """The exponents read straight off the loss table (widths x budgets), above the known floor:
    alpha_N from L - floor against N at the largest budget, alpha_D from L - floor against D for
    the widest model over the budgets where its loss is below `max_loss` (past the plateau)."""
    table = np.asarray(table, dtype=float)
    widest = table[-1]
    past = widest < max_loss
    over_N = log_log_slope(N, table[:, -1] - floor)
    over_D = log_log_slope(np.asarray(D)[past], widest[past] - floor)
    flip = lambda fit: None if fit["slope"] is None else -fit["slope"]   # noqa: E731  L ∝ x^-exponent
    return {"alpha_N": flip(over_N), "alpha_D": flip(over_D), "n_budgets_for_alpha_D": int(past.sum())}


def loss_from_skills(final_accuracy, probability, floor: float, threshold: float = 0.9) -> np.ndarray:
    """The quantization model's loss of each model from the skills it has: the floor on every skill
    it has learned (accuracy >= threshold), chance (ln 2) on the others, weighted by frequency.
    final_accuracy: (models, skills).
    The book shows this code in 01_scaling_laws.ipynb."""
    missing = np.asarray(final_accuracy) < threshold
    return floor + (math.log(2) - floor) * (missing * np.asarray(probability)).sum(-1)


def untruncated_alpha_N(N, skills, rank_exponent: float, n_terms: int = 1_000_000) -> float | None:
    """The size exponent the same skill counts would give if the frequency law went on forever
    (p_i ∝ i^-rank_exponent for all i): the slope of the infinite tail sum_{i > n} p_i against N."""
    pairs = [(n, s) for n, s in zip(N, skills) if s > 0]
    if len(pairs) < 2:
        return None
    p = np.arange(1, n_terms + 1, dtype=float) ** -rank_exponent
    tail = np.cumsum(p[::-1])[::-1] / p.sum()                 # tail[j] = sum_{i >= j + 1} p_i
    counts = np.array([s for _, s in pairs])
    beyond = np.interp(counts, np.arange(len(tail)), tail)   # fractional mean counts: interpolated
    return -log_log_slope([n for n, _ in pairs], beyond)["slope"] if len(pairs) >= 3 else None
