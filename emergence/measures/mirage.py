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


# --- yardsticks ------------------------------------------------------------------------------

# The 10-90 % width of a plain exponential relaxation 1 - exp(-t / tau) on a log10 t axis:
# t10 = tau ln(10/9), t90 = tau ln 10, so w10-90 = log10(ln 10 / ln(10/9)) ~ 1.34 decades, whatever
# tau is.  A curve on a log axis that is no narrower than this is no sharper than an exponential.
EXPONENTIAL_W10_90 = float(np.log10(np.log(10) / np.log(10 / 9)))


def log_spacing(scale, at: float | None = None) -> float:
    """Distance in decades between measured scales: the largest one, or with `at` (a log10
    scale) that of the two measured scales around it, the finest lag the grid can resolve there."""
    x = np.log10(np.asarray(scale, dtype=float))
    if at is None or not np.isfinite(at):
        return float(np.diff(x).max())
    i = int(np.clip(np.searchsorted(x, at), 1, len(x) - 1))
    return float(x[i] - x[i - 1])


def verdict(scale, discrete, continuous, sharp: float = EXPONENTIAL_W10_90) -> dict:
    """The chapter's rule, on a log scale axis: 'mirage' when the continuous metric completes half
    its change more than one measured spacing before the discrete one (lag > resolution);
    otherwise 'genuine' when the continuous metric is itself sharp (w10-90 below `sharp`, by
    default a plain exponential's), and 'smooth' when it is not (nothing abrupt to explain).
    The book shows this code in 02_mirage.ipynb."""
    timing = log_lag(scale, discrete, continuous)
    resolution = log_spacing(scale, timing["x50_discrete"])
    width = log_width(scale, continuous)
    name = "mirage" if timing["lag"] > resolution else "genuine" if width <= sharp else "smooth"
    return {**timing, "resolution": resolution, "w10_90_continuous": width, "verdict": name}


# --- one answer of several tokens --------------------------------------------------------------

def answer_tokens(probs: np.ndarray, labels: np.ndarray, code: np.ndarray) -> dict:
    """Score a classifier's outputs as a multi-token answer: class k is written as the tokens
    code[k] (K, L) of 0/1, and token j's probability of being 1 is the summed probability of the
    classes whose code has a 1 there.  probs (..., M, K), labels (..., M) -> per member (...):

    exact_match: the fraction of items with every token right (each token decided on its own);
    token_accuracy (..., L) and its mean; product_of_accuracies: prod_j acc_j, what exact match
    would be if the tokens' errors were independent; joint_probability: mean of the model's
    probability of the whole right answer; product_of_probabilities: mean over items of
    prod_j p_j, the product of the per-token probabilities of the right tokens.
    The book shows this code in 02_mirage.ipynb."""
    p_one = probs @ code                                           # (..., M, L)
    target = code[labels]                                          # (..., M, L)
    p_right = np.where(target == 1, p_one, 1 - p_one)
    right = p_right > 0.5
    token_accuracy = right.mean(-2)
    return {"exact_match": right.all(-1).mean(-1), "token_accuracy": token_accuracy,
            "mean_token_accuracy": token_accuracy.mean(-1),
            "product_of_accuracies": token_accuracy.prod(-1),
            "joint_probability": np.take_along_axis(probs, labels[..., None], -1)[..., 0].mean(-1),
            "product_of_probabilities": p_right.prod(-1).mean(-1)}


def skills_across_scale(scale, accuracy, loss, below: float = 0.75, learned: float = 0.9) -> list[dict]:
    """Per-skill curves across model sizes (Wei et al.'s picture on our own models): accuracy and
    loss (seeds, sizes, skills) at the end of training.  A skill counts when its transition lies
    inside the measured sizes: the smallest model's accuracy below `below` (nearer chance, 0.5,
    than mastery) and the largest's at least `learned`.  Each such (seed, skill) gets the rule's
    verdict on loss and on log loss as the continuous metric."""
    rows = []
    for s, t in zip(*np.nonzero((accuracy[:, 0] < below) & (accuracy[:, -1] >= learned))):
        acc, ce = accuracy[s, :, t], loss[s, :, t]
        rows.append({"seed_index": int(s), "task": int(t), **verdict(scale, acc, ce),
                     "log_loss": verdict(scale, acc, np.log(ce)), "accuracy": acc.tolist()})
    return rows
