"""Metrics that make (or unmake) a mirage (Schaeffer, Miranda and Koyejo 2023).

The same model outputs scored two ways: a continuous metric (cross-entropy, Brier score, token
edit distance) that moves smoothly with scale, and a discontinuous one (exact match of L tokens,
all-of-L-images correct, multiple-choice grade) that multiplies or thresholds per-token
successes and so can look like a sudden jump.
"""

from __future__ import annotations

import numpy as np

from emergence.measures.transitions import lag, w10_90, x50

FINE = 400   # points of the log-scale grid on which curves are interpolated before x50


def exact_match(p_token, length: int):
    """Probability that all `length` tokens are right when each is right with p (independent)."""
    return np.asarray(p_token, dtype=float) ** length


def token_edit_distance(p_token, length: int):
    """Expected number of wrong tokens in a `length`-token answer (Hamming / substitution edits)."""
    return length * (1 - np.asarray(p_token, dtype=float))


def multiple_choice(p_correct, n_options: int) -> tuple[np.ndarray, np.ndarray]:
    """Per item: (grade, Brier score) when the right option gets p and the n_options - 1 wrong
    ones share 1 - p equally.  Grade = 1[right option ranks first] = 1[p > 1/K] (a step);
    Brier = sum_k (q_k - 1[k = right])^2 = K/(K-1) (1 - p)^2 (smooth)."""
    p = np.asarray(p_correct, dtype=float)
    return (p > 1 / n_options).astype(float), n_options / (n_options - 1) * (1 - p) ** 2


def brier_score(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Mean over items of sum_k (q_k - 1[k = label])^2.  probs (..., M, K), labels (M,) -> (...)."""
    target = np.eye(probs.shape[-1])[labels]
    return ((probs - target) ** 2).sum(-1).mean(-1)


def subset_accuracy(correct: np.ndarray, length: int, partitions: int = 100, seed: int = 0) -> np.ndarray:
    """Schaeffer's vision metric: the fraction of disjoint `length`-tuples of test items that are
    all classified correctly, averaged over `partitions` random partitions of the test set (one
    partition alone has resolution 1 / (M // length)).  correct (..., M) bool -> (...)."""
    correct = np.asarray(correct, dtype=bool)
    M = correct.shape[-1]
    tuples = M // length
    if tuples < 1:
        raise ValueError(f"length={length} is longer than the {M} test items")
    rng = np.random.default_rng(seed)
    scores = []
    for _ in range(partitions):
        order = rng.permutation(M)[:tuples * length]
        groups = correct[..., order].reshape(*correct.shape[:-1], tuples, length)
        scores.append(groups.all(-1).mean(-1))
    return np.mean(scores, axis=0)


def emergence_score(scale, values) -> float:
    """Srivastava et al.'s emergence score as Schaeffer et al. use it: for points sorted by scale,
    sign(argmax - argmin) (max - min) / sqrt(median of squared successive differences)."""
    order = np.argsort(np.asarray(scale, dtype=float))
    y = np.asarray(values, dtype=float)[order]
    steps = np.diff(y) ** 2
    spread = np.sqrt(np.median(steps))
    sign = np.sign(int(np.argmax(y)) - int(np.argmin(y)))
    return float("inf") * sign if spread == 0 else float(sign * (y.max() - y.min()) / spread)


def token_probability(N, ce_scale: float, ce_exponent: float):
    """p(N) = exp(-(N / c)^alpha): the per-token success of Schaeffer et al.'s toy."""
    return np.exp(-(np.asarray(N, dtype=float) / ce_scale) ** ce_exponent)


def log_lag(scale, discrete, continuous) -> dict:
    """x50 of both curves on a log10 scale axis, after linear interpolation onto a fine grid
    (so the answer does not snap to the measured scales), and their lag in decades."""
    x = np.log10(np.asarray(scale, dtype=float))
    fine = np.linspace(x[0], x[-1], FINE)
    d, c = np.interp(fine, x, discrete), np.interp(fine, x, continuous)
    return {"x50_discrete": x50(fine, d), "x50_continuous": x50(fine, c), "lag": lag(fine, d, c)}


def log_width(scale, values) -> float:
    """w10-90 in decades of scale, on the interpolated curve."""
    x = np.log10(np.asarray(scale, dtype=float))
    fine = np.linspace(x[0], x[-1], FINE)
    return w10_90(fine, np.interp(fine, x, values))
