"""The one-dimensional system of the ghost-points chapter (Dinc et al. 2025), every member of an
ensemble at once:

    dx/dt = z + x²,   x(0) = x0,   output  ŷ(t) = σ(β (x(t) − x_th)),

integrated with Euler steps of dt = T / steps_per_delay over the window [0, 2T], where T is the
member's delay (`tasks.delayed_activation`).  z is the trained parameter; x0 is trainable too in
the chapter's "redundant parameter" variant, and β is the output's confidence.

`delayed_activation` returns each member's loss and its exact gradients, carried forward through
the Euler steps next to x (forward-mode: two extra numbers per member and step, no graph kept).
It is numpy on the CPU, not torch: a member is one scalar ODE, so the cost is the per-operation
overhead, about five times smaller in numpy; a GPU would only add launches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emergence.tasks.delayed_activation import target

X_THRESHOLD = 10.0   # the output switches on as x passes this value ...
X_CLIP = 1e3         # ... and x, which blows up in finite time when z > 0, is frozen here


@dataclass
class Pass:
    """One forward pass of every member, arrays of shape (members,)."""

    loss: np.ndarray        # mean over the window of (ŷ − y)²
    grad_z: np.ndarray      # ∂loss/∂z
    grad_x0: np.ndarray     # ∂loss/∂x0
    min_speed: np.ndarray   # min over the window of |dx/dt|: small = a strong ghost


def delayed_activation(z, x0, delay, confidence, steps_per_delay: int) -> Pass:
    """Loss, gradients and ghost strength of members (z, x0, T = delay, β = confidence).
    The book shows this code in 09_ghost_points.ipynb."""
    z, x0, delay, confidence = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64)
                                                     for v in (z, x0, delay, confidence)))
    dt, n = delay / steps_per_delay, 2 * steps_per_delay
    x, tangents = x0.copy(), np.stack([np.zeros_like(z), np.ones_like(z)])   # ∂x/∂z, ∂x/∂x0
    xs, tangent_path = np.empty((n,) + z.shape), np.empty((n, 2) + z.shape)
    for i in range(n):
        tangents *= 1 + 2 * dt * x                   # ∂x_{i+1}/∂x_i
        tangents[0] += dt                            # ... plus ∂x_{i+1}/∂z
        x = x + dt * (z + x * x)
        np.minimum(x, X_CLIP, out=x)
        tangents *= x < X_CLIP                       # a frozen x no longer depends on z or x0
        xs[i], tangent_path[i] = x, tangents
    min_speed = np.minimum(np.abs(z + x0 * x0), np.abs(z + xs * xs).min(axis=0))
    y = target(steps_per_delay).reshape((n,) + (1,) * z.ndim)
    out = 0.5 * (1 + np.tanh(0.5 * confidence * (xs - X_THRESHOLD)))     # σ, without overflow
    error = out - y
    weight = 2 * error * out * (1 - out) * confidence / n
    grad_z, grad_x0 = (weight[:, None] * tangent_path).sum(axis=0)
    return Pass(loss=(error * error).mean(axis=0), grad_z=grad_z, grad_x0=grad_x0, min_speed=min_speed)
