"""Where does a curve change?  The book's shared language for transitions.

x50(curve): the first step at which a curve has completed 50 % of its own total change
(last value minus first value); w10_90: the distance between its 10 % and 90 % points;
lag = x50(task metric) - x50(progress measure): positive when the measure moves first.
"""

from __future__ import annotations

import numpy as np


def _as_arrays(steps, values) -> tuple[np.ndarray, np.ndarray]:
    steps, values = np.asarray(steps, dtype=float), np.asarray(values, dtype=float)
    if steps.shape != values.shape or steps.ndim != 1 or len(steps) < 2:
        raise ValueError("steps and values must be 1-D arrays of the same length (>= 2)")
    return steps, values


def fraction_point(steps, values, fraction: float) -> float:
    """First step at which (value - first) has reached `fraction` of (last - first).

    NaN if the curve does not change.  Direction-agnostic: works for rising and falling curves.
    """
    steps, values = _as_arrays(steps, values)
    total = values[-1] - values[0]
    if total == 0 or not np.isfinite(total):
        return float("nan")
    done = (values - values[0]) / total
    return float(steps[np.argmax(done >= fraction)])


def x50(steps, values, start: float | None = None) -> float:
    """First step at which the curve has completed half of its total change.

    With `start`, only the part of the curve from step `start` on counts: "half of the
    change that is still to come" (e.g. after memorisation, during a plateau)."""
    if start is not None:
        steps, values = _as_arrays(steps, values)
        keep = steps >= start
        steps, values = steps[keep], values[keep]
    return fraction_point(steps, values, 0.5)


def w10_90(steps, values) -> float:
    return fraction_point(steps, values, 0.9) - fraction_point(steps, values, 0.1)


def lag(steps, task_metric, progress_measure) -> float:
    """x50(task metric) - x50(progress measure); > 0 means the measure moved first."""
    return x50(steps, task_metric) - x50(steps, progress_measure)


def first_crossing(steps, values, threshold: float, above: bool = True,
                   interpolate: bool = False) -> float | None:
    """First step with value >= threshold (or <= if not `above`); None if never.  With
    `interpolate`, the step where the line between that logged value and the one before it
    meets the threshold (the first logged step itself if the curve starts there)."""
    steps, values = _as_arrays(steps, values)
    hit = values >= threshold if above else values <= threshold
    if not hit.any():
        return None
    i = int(np.argmax(hit))
    if not interpolate or i == 0:
        return float(steps[i])
    before, after = values[i - 1], values[i]
    return float(steps[i - 1] + (steps[i] - steps[i - 1]) * (threshold - before) / (after - before))


def fastest_fall(steps, values, factor: float = 0.5) -> tuple[float, float] | None:
    """The shortest window [a, b] of logged steps with values[b] <= factor * values[a]
    (the earliest one if several are equally short); None if the curve never falls that far."""
    steps, values = _as_arrays(steps, values)
    best = None
    for i in range(len(steps)):
        reached = np.nonzero(values[i + 1:] <= factor * values[i])[0]
        if len(reached):
            j = i + 1 + reached[0]
            if best is None or steps[j] - steps[i] < best[1] - best[0]:
                best = (float(steps[i]), float(steps[j]))
    return best


def stable_before(steps, values, step: float, tolerance: float = 0.1) -> float:
    """How long, up to `step`, the curve stayed within `tolerance` (relative) of its value
    at `step`: step - c for the earliest c such that every value in [c, step] is within it."""
    steps, values = _as_arrays(steps, values)
    at = int(np.argmin(np.abs(steps - step)))
    ref = values[at]
    outside = np.nonzero(np.abs(values[:at + 1] - ref) > tolerance * abs(ref))[0]
    start = steps[outside[-1] + 1] if len(outside) else steps[0]
    return float(steps[at] - start)


def plateau_then_drop(steps, loss, max_window: float, drop: float, plateau: float) -> tuple[float, float] | None:
    """The shortest window [a, b] of logged steps, b - a <= max_window, in which the loss
    falls to `drop` of its value (loss[b] <= drop * loss[a]) AND before which it stayed within
    `plateau` (relative) of loss[a] for at least b - a steps: the induction-heads chapter's
    criterion, read as written.  None if no window qualifies.  (The fastest halving alone can start inside the
    fall, where the loss is already moving; this finds the drop that follows a plateau.)"""
    steps, loss = np.asarray(steps, dtype=float), np.asarray(loss, dtype=float)
    best = None
    for i in range(len(steps)):
        later = np.nonzero((loss[i + 1:] <= drop * loss[i])
                           & (steps[i + 1:] - steps[i] <= max_window))[0]
        if not len(later):
            continue
        window = steps[i + 1 + later[0]] - steps[i]
        if (stable_before(steps, loss, steps[i], plateau) >= window
                and (best is None or window < best[1] - best[0])):
            best = (float(steps[i]), float(steps[i] + window))
    return best


def spearman(a, b) -> float:
    """Spearman's rank correlation of two curves sampled at the same steps (no ties expected:
    ranks by order of appearance)."""
    rank = lambda v: np.argsort(np.argsort(v)).astype(float)  # noqa: E731
    return float(np.corrcoef(rank(np.asarray(a)), rank(np.asarray(b)))[0, 1])
