"""The mechanism of silent alignment, measured: the kernel's spectrum, the first-layer weights'
directions, the linear network's aligned kernel as a reference, and the init-scale sweep from
the rich to the lazy regime (Atanasov, Bordelon and Pehlevan 2022).

    spectrum:   the top eigenvalues of K as fractions of its trace; a low-rank spike appears
                while the kernel aligns (phase I), before the loss moves;
    directions: |cos(w_i, beta)| of every hidden unit's input weights with the task direction
                beta = (X^T X)^+ X^T y, the least-squares (min-norm) linear solution;
    reference:  the final tangent kernel of a two-layer LINEAR network trained from a small init,
                K = |beta| (X X^T + (X b)(X b)^T), b = beta / |beta| (its weights end rank one and
                balanced), whose alignment with y y^T the paper draws as the maximal one.
"""

from __future__ import annotations

import numpy as np
import torch

from emergence.measures.kernels import kernel_alignment
from emergence.measures.transitions import first_crossing

COSINE_QUANTILES = (0.1, 0.5, 0.9)   # of |cos(w_i, beta)| over the hidden units, recorded over time


def kernel_spectrum(kernel: torch.Tensor, targets: torch.Tensor, k: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    """The k largest eigenvalues of each CENTRED kernel H K H (H = I - 11^T / N: the constant mode,
    the mean of the ReLU features, removed) over its trace, largest first, (..., k), and how much
    of the targets lies along each of those eigenvectors, (v_j . y)^2 / |y|^2, (..., k).
    One eigen-solve per matrix (see kernel_regression on batched float64 LAPACK).
    The book shows this code in 03_silent_alignment.ipynb."""
    n = kernel.shape[-1]
    centring = torch.eye(n, dtype=torch.float64, device=kernel.device) - 1 / n
    flat = centring @ kernel.double().reshape(-1, n, n) @ centring
    y = targets.double() / targets.double().norm()
    values, overlaps = [], []
    for m in flat:
        eigenvalues, vectors = torch.linalg.eigh(m)
        values.append(eigenvalues.flip(0)[:k] / eigenvalues.sum())
        overlaps.append((vectors.flip(1)[:, :k].T @ y) ** 2)
    shape = (*kernel.shape[:-2], -1)
    return torch.stack(values).view(shape), torch.stack(overlaps).view(shape)


def task_power(weights: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """The fraction of the first layer's squared weight that lies along `direction`,
    |b^T W|^2 / ||W||_F^2 with b = beta / |beta|, for weights (..., d, width): 1 / d for random
    weights, 1 when every unit looks along the task direction (or against it)."""
    b = direction.double() / direction.double().norm()
    return (b @ weights.double()).pow(2).sum(-1) / weights.double().pow(2).sum((-2, -1))


def task_direction(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """beta = (X^T X)^+ X^T y, the min-norm least-squares linear fit (on whitened inputs,
    (1/P) X^T y)."""
    return torch.linalg.pinv(x.double()) @ y.double()


def unit_cosines(weights: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """|cos(w_i, beta)| of every hidden unit's input weights (..., d, width) with `direction` (d,),
    (..., width): 1 = the unit looks along the task direction (or against it), about
    sqrt(2 / (pi d)) for a random direction in d dimensions."""
    w = weights.double()
    return ((direction.double() @ w).abs() / (w.norm(dim=-2) * direction.norm()).clamp_min(1e-300))


def linear_reference_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The final tangent kernel of a two-layer linear network trained from a small init to the
    least-squares fit beta: its weights end rank one and balanced, w_i = a_i b with
    sum_i a_i^2 = |beta|, so K = sum_i (w_i.x)(w_i.x') + |a|^2 x.x' = |beta| ((b.x)(b.x') + x.x')."""
    x = x.double()
    beta = task_direction(x, y)
    projected = x @ (beta / beta.norm())
    return beta.norm() * (torch.outer(projected, projected) + x @ x.T)


def reference_alignment(x: torch.Tensor, y: torch.Tensor) -> float:
    """The linear network's final alignment A(K_ref, y y^T), the paper's reference line."""
    return float(kernel_alignment(linear_reference_kernel(x, y), y))


def fraction_rise_time(steps: np.ndarray, values: np.ndarray, fraction: float) -> float | None:
    """The first step at which `values` has made `fraction` of its rise from its first value to
    its maximum, interpolated; None if it never rises."""
    if values.max() <= values[0]:
        return None
    return first_crossing(steps, values, values[0] + fraction * (values.max() - values[0]), interpolate=True)


def crossover_sigma(sigmas, growth, level: float = 2.0) -> float | None:
    """Where the kernel growth ||K_final|| / ||K_0|| falls through `level` as sigma rises,
    interpolated in log-log; None if it never does."""
    order = np.argsort(sigmas)
    s, g = np.log(np.asarray(sigmas, float)[order]), np.log(np.asarray(growth, float)[order])
    for i in range(len(s) - 1):
        if g[i] >= np.log(level) > g[i + 1]:
            return float(np.exp(np.interp(np.log(level), [g[i + 1], g[i]], [s[i + 1], s[i]])))
    return None


def phase_one(steps, loss, kernel_steps, spectrum, overlap, cosine_median, power,
              t_align: float | None, t_loss: float | None) -> dict:
    """What the kernel and the weights did by t_align and by t_loss: the centred kernel's top
    eigenvalue over its trace and over the second one (`spectrum`: (T, k)), its top eigenvector's
    overlap with the labels (`overlap`: (T,)), the median unit's |cos(w_i, beta)| and the first
    layer's task power;
    t_weights, when the task power has made half its rise, and the loss then (over its initial value)."""
    def moments(values):
        at = lambda t: None if t is None else float(np.interp(t, kernel_steps, values))  # noqa: E731
        return {"initial": float(values[0]), "at_align": at(t_align), "at_loss": at(t_loss),
                "final": float(values[-1]), "max": float(values.max())}
    t_weights = fraction_rise_time(kernel_steps, power, 0.5)
    return {"top_eigenvalue": moments(spectrum[:, 0]), "eigenvalue_gap": moments(spectrum[:, 0] / spectrum[:, 1]),
            "top_eigenvector_overlap": moments(overlap),
            "cosine_median": moments(cosine_median), "task_power": moments(power),
            "t_weights": t_weights,
            "loss_at_weights": None if t_weights is None else float(np.interp(t_weights, steps, loss) / loss[0])}


def phase_diagram(rows: list[dict], reference: float) -> dict:
    """One seed's whitened runs from the smallest init scale to the largest: how much the kernel
    grew, how well kernel regression with the final / initial kernel predicts the network, the
    alignment time over the loss time, and the final alignment over the linear reference."""
    rows = sorted(rows, key=lambda r: r["sigma"])
    agreement = lambda when, key: [r["kernel"][f"{when}_ntk"][key] for r in rows]  # noqa: E731
    growth = [r["kernel_growth"] for r in rows]
    return {"sigma": [r["sigma"] for r in rows], "lr": [r["lr"] for r in rows],
            "regime": [r["regime"] for r in rows], "kernel_growth": growth,
            "final_r2": agreement("final", "r2"), "initial_r2": agreement("initial", "r2"),
            "final_error": agreement("final", "relative_error"),
            "initial_error": agreement("initial", "relative_error"),
            "align_over_loss_time": [r["align_over_loss_time"] for r in rows],
            "alignment_rise": [r["alignment_max"] - r["alignment_initial"] for r in rows],
            "final_alignment_over_reference": [r["alignment_final"] / reference for r in rows],
            "crossover_sigma": crossover_sigma([r["sigma"] for r in rows], growth)}
