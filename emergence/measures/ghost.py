"""The ghost-points chapter's theory and measures (Dinc et al. 2025), for the system
dx/dt = z + x², x(0) = 0, output σ(β (x − x_th)), target 0 before the delay T and 1 after it,
loss the mean squared error over the window [0, 2T] (`emergence.models.ghost`).

For z > 0 there is no fixed point and x(t) = √z tan(√z t) crosses x_th at
    t_c(z) = arctan(x_th / √z) / √z  ≈  π / (2√z) − 1 / x_th,
slowly at first: near x = 0 it creeps at speed ≈ z past the "ghost" of the fixed points that
z < 0 would have.  For a sharp output the loss is ≈ |t_c − T| / (2T) while t_c < 2T, and 1/2,
flat, once the crossing leaves the window (z < z*/4, and every z ≤ 0, where x stops at −√(−z)):
the no-learning zone.  Its minimum z*, t_c(z*) = T, is a kink, not a bowl: the oscillatory
minimum.  One gradient step from just above z* jumps by η |∂L/∂z| ≈ η T² / π²; it lands in the
no-learning zone once that exceeds 3z*/4, hence the critical learning rate 3π⁴ / (16 T⁴).
"""

from __future__ import annotations

import math

import numpy as np

from emergence.models.ghost import X_THRESHOLD


def crossing_time(z: float, threshold: float = X_THRESHOLD) -> float:
    """t_c: when x(t) = √z tan(√z t), started at 0, reaches the threshold (∞ for z <= 0)."""
    return math.atan(threshold / math.sqrt(z)) / math.sqrt(z) if z > 0 else math.inf


def optimum(delay: float, threshold: float = X_THRESHOLD) -> float:
    """z* with t_c(z*) = T exactly, by fixed-point iteration on √z T = arctan(x_th / √z).
    The book shows this code in 09_ghost_points.ipynb."""
    root = math.pi / (2 * delay)
    for _ in range(200):
        root = math.atan(threshold / root) / delay
    return root * root


def optimum_approx(delay: float) -> float:
    """z* ≈ π² / (4 T²): the crossing time π / (2√z) of an infinitely high threshold."""
    return math.pi ** 2 / (4 * delay ** 2)


def critical_lr(delay: float) -> float:
    """η_c ≈ 3π⁴ / (16 T⁴): the step from z* that reaches the no-learning zone's edge z*/4.
    The book shows this code in 09_ghost_points.ipynb."""
    return 3 * math.pi ** 4 / (16 * delay ** 4)


def success(loss_tail: np.ndarray, z_end: np.ndarray, tolerance: float) -> np.ndarray:
    """A run succeeded if its median loss over the last steps is at most `tolerance` (the
    crossing within 2 · tolerance · T of the delay) and it ends with z > 0."""
    return (np.median(loss_tail, axis=0) <= tolerance) & (z_end > 0)


def critical_lr_measured(lrs: np.ndarray, success_fraction: np.ndarray, band: float = 0.9) -> float | None:
    """The learning rate at which the success fraction falls through 1/2 above the successful
    band (the rates where at least `band` of the runs succeed), interpolated in log η between the
    two grid rates around the crossing; None without such a band or crossing."""
    lrs, f = np.asarray(lrs, dtype=float), np.asarray(success_fraction, dtype=float)
    good = np.flatnonzero(f >= band)
    if not len(good):
        return None
    below = np.flatnonzero((np.arange(len(f)) > good[-1]) & (f < 0.5))
    if not len(below):
        return None
    j = below[0]
    i = j - 1                                    # f[i] >= 1/2 > f[j]
    t = (f[i] - 0.5) / (f[i] - f[j])
    return float(np.exp(np.log(lrs[i]) + t * (np.log(lrs[j]) - np.log(lrs[i]))))


def half_change_step(values: np.ndarray, end: float | None = None) -> int:
    """First index at which a curve has made half of its change from its start to `end`
    (default its last value; pass e.g. the median of a noisy tail)."""
    values = np.asarray(values, dtype=float)
    start = values[0]
    end = values[-1] if end is None else end
    if start == end:
        return 0
    return int(np.argmax((values - start) / (end - start) >= 0.5))
