"""The delayed-activation task (Dinc et al. 2025): stay off for a delay T, then switch on.

Time runs over the window [0, 2T] in 2 · steps_per_delay Euler steps; the target of step i
(the state after it, at time (i + 1) T / steps_per_delay) is 0 until T and 1 after.  The model
that learns it is `emergence.models.ghost`.
"""

from __future__ import annotations

import numpy as np


def target(steps_per_delay: int) -> np.ndarray:
    """The target after each of the window's 2 · steps_per_delay steps: 0 up to T, then 1."""
    return (np.arange(1, 2 * steps_per_delay + 1) > steps_per_delay).astype(np.float64)
