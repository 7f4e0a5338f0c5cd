"""Saxe, McClelland and Ganguli's (2014) exact learning dynamics of a two-layer linear network:
each input-output mode's strength follows a sigmoid in time whose delay grows as its singular
value shrinks.  The theory curve and the initial strength it should start from."""

from __future__ import annotations

import math

import numpy as np
import torch

from emergence.models.linear import DeepLinear


def saxe_mode_strength(t, s: float, u0: float, lr: float):
    """Saxe et al.'s mode strength u(t) = s e^(2 s t / tau) / (e^(2 s t / tau) - 1 + s / u0),
    tau = 1 / lr: gradient flow of a 2-layer linear net from a balanced initial strength u0."""
    growth = np.exp(2 * s * lr * np.asarray(t, dtype=float))
    return s * growth / (growth - 1 + s / u0)


def saxe_half_time(s: float, u0: float, lr: float) -> float:
    """The step at which saxe_mode_strength reaches s / 2: (tau / 2s) ln(s / u0 - 1)."""
    return math.log(s / u0 - 1) / (2 * s * lr)


def balanced_initial_strength(model: DeepLinear, input_modes: torch.Tensor,
                              output_modes: torch.Tensor) -> torch.Tensor:
    """The initial strength Saxe's formula should be given for a random (unbalanced) init.

    Early on, while W1 W2 is tiny, mode k's hidden vectors alpha = W1^T v_k and beta = W2 u_k
    obey alpha' = lr s beta, beta' = lr s alpha: their sum grows as e^(lr s t) and their
    difference dies away, so the strength alpha . beta grows like |(alpha0 + beta0) / 2|^2
    e^(2 lr s t), exactly as Saxe's balanced solution does from u0 = |(alpha0 + beta0) / 2|^2.
    Returns (E, modes).
    """
    first, second = (w.detach() for w in model.weights)
    alpha = torch.einsum("dk,edh->ekh", input_modes, first)
    beta = torch.einsum("ok,eho->ekh", output_modes, second)
    return ((alpha + beta) / 2).pow(2).sum(-1)
