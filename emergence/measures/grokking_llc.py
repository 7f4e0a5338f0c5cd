"""Reading the LLC over a grokking run (06_grokking): which checkpoints resolve the jump, and
λ̂'s changes between the checkpoints the chapter compares, each with a t-interval from fresh chains.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from emergence.measures.llc import change_interval, llc_over_training

# the changes of λ̂ the chapter asserts: (name, from, to), the points named as in `powered_changes`
COMPARED = (("rise", "initialisation", "after_initialisation"), ("peak_to_test_acc_50", "peak", "test_acc_50"),
            ("test_acc_50_to_grok", "test_acc_50", "grok"), ("peak_to_final", "peak", "final"))


def jump_checkpoints(saved: list[int], start: int | None, end: int | None, count: int) -> list[int]:
    """`count` saved epochs spread evenly from half a jump before `start` to half a jump after
    `end` (the nearest saved one to each point; none when the seed has not jumped)."""
    if not count or start is None or end is None:
        return []
    half = (end - start) / 2
    saved_ = np.asarray(saved)
    targets = np.linspace(start - half, end + half, count)
    return sorted({int(saved_[np.argmin(np.abs(saved_ - t))]) for t in targets})


def spacing_over(steps: list[int], start: int | None, end: int | None) -> int | None:
    """The widest gap between consecutive LLC checkpoints from the last one at or before `start`
    to the first at or after `end`: how finely the checkpoints resolve that interval."""
    if start is None or end is None:
        return None
    e = np.asarray(steps)
    first = max(int(np.searchsorted(e, start, side="right")) - 1, 0)
    last = min(int(np.searchsorted(e, end, side="left")), len(e) - 1)
    return int(np.diff(e[first:last + 1]).max()) if last > first else None


def powered_changes(config, checkpoints: dict, points: dict[str, int], build: Callable, loss: Callable,
                    data: tuple, *, chains: int, seed: int) -> dict:
    """λ̂'s change between the checkpoints the chapter compares (`COMPARED`), from `chains` FRESH
    chains per checkpoint (a new SGLD seed, so the chains that located the peak do not also
    measure it: no winner's curse), each change with `change_interval`'s Welch t-interval and
    its sign (0 when the interval contains 0).  `points` maps the names in `COMPARED` to saved
    epochs; the sampler's settings are the curve's (`config.llc_*`)."""
    started = time.perf_counter()
    steps = sorted(set(points.values()))
    chosen, r = llc_over_training(
        {s: checkpoints[s] for s in steps}, build, loss, data, count=len(steps), chains=chains,
        epsilon=config.llc_epsilon, gamma=config.llc_gamma, nbeta=config.llc_nbeta or None,
        draws=config.llc_draws, burnin=config.llc_burnin, batch_size=config.llc_batch_size or None,
        seed=seed, mean_loss=True, warn=False)
    row = {s: i for i, s in enumerate(chosen)}
    out = {"chains": chains, "points": dict(points),
           "mean": {name: float(r.llc_mean[row[s]]) for name, s in points.items()},
           "healthy": {name: bool(r.healthy[row[s]]) for name, s in points.items()}}
    for name, before, after in COMPARED:
        out[name] = {"from": before, "to": after, "epochs": [points[before], points[after]],
                     **change_interval(r.llc_chains[row[points[before]]], r.llc_chains[row[points[after]]])}
    out["seconds"] = round(time.perf_counter() - started, 2)
    return out
