"""Reading transitions side by side: the measures of the "Can we see it coming?" chapter.

A *transition* of a task metric is read on its own curve: `start`, the last logged step before
the jump at which it had done less than 10 % of its total change (the last, so that noise on the
plateau does not start it early), `mid`, its x50, and `end`, the first step at 90 %.  A progress
measure's `lead` is mid - x50(measure); its lead *fraction* divides that by the plateau,
start - origin.  The verdict places the measure's x50 against the task's transition:

    x50(measure) < start          -> "predicts" (half-way before the task metric starts to move)
    start <= x50(measure) <= end  -> "detects"  (moves with the jump)
    x50(measure) > end            -> "lags"
"""

from __future__ import annotations

import numpy as np

from emergence.measures.transitions import fraction_point

VERDICTS = ("predicts", "detects", "lags")


def transition(steps, values) -> dict | None:
    """start / mid / end / width of a curve's change (module docstring); None if it never changes.
    The book shows this code in 10_see_it_coming.ipynb."""
    steps, values = np.asarray(steps, dtype=float), np.asarray(values, dtype=float)
    total = values[-1] - values[0]
    if total == 0 or not np.isfinite(total):
        return None
    done = (values - values[0]) / total
    i_end = int(np.argmax(done >= 0.9))
    before = np.nonzero(done[:i_end + 1] < 0.1)[0]
    start = float(steps[before[-1]]) if len(before) else float(steps[0])
    mid, end = fraction_point(steps, values, 0.5), float(steps[i_end])
    return {"start": start, "mid": mid, "end": end, "width": end - start}


def log_width(t: dict, origin: float = 0.0) -> float:
    """The transition's width on a log axis of (step - origin): log10 of end over start, the
    width in units of its position (for a narrow jump, about width / position / ln 10)."""
    start = max(t["start"] - origin, 1e-12)
    return float(np.log10((t["end"] - origin) / start))


def verdict(measure_x50: float, t: dict) -> str:
    """Where a measure's x50 falls against the task metric's transition `t` (shown in
    10_see_it_coming.ipynb)."""
    if measure_x50 < t["start"]:
        return "predicts"
    return "detects" if measure_x50 <= t["end"] else "lags"


def lead_row(t: dict, measure_x50: float, origin: float = 0.0) -> dict:
    """One run's reading of one measure against its task metric's transition `t`."""
    plateau = t["start"] - origin
    lead = t["mid"] - measure_x50
    return {**t, "measure_x50": float(measure_x50), "lead": float(lead), "plateau": float(plateau),
            "lead_fraction": float(lead / plateau) if plateau > 0 else None,
            "lead_over_width": float(lead / t["width"]) if t["width"] > 0 else None,
            "verdict": verdict(measure_x50, t)}


def combine(runs: list[dict]) -> dict:
    """Per-run readings -> the table's row: the lead fraction's median and range over runs, and
    the verdict of the median run (the verdict of the median x50 against the median transition)
    with how many runs share it."""
    median_t = {k: float(np.median([r[k] for r in runs])) for k in ("start", "mid", "end")}
    median_verdict = verdict(float(np.median([r["measure_x50"] for r in runs])), median_t)
    return {"runs": len(runs), "lead_fraction": spread([r["lead_fraction"] for r in runs]),
            "lead_over_width": spread([r["lead_over_width"] for r in runs]),
            "verdict": median_verdict,
            "agreeing": sum(r["verdict"] == median_verdict for r in runs),
            "verdicts": {v: sum(r["verdict"] == v for r in runs) for v in VERDICTS}}


def spread(values) -> dict:
    """Median, min and max of the values that exist (None where none do)."""
    values = [v for v in values if v is not None]
    if not values:
        return {"median": None, "min": None, "max": None}
    return {"median": float(np.median(values)), "min": float(min(values)), "max": float(max(values))}


def sharpening(sizes, widths_per_size, draws: int = 2000, seed: int = 0, level: float = 0.9) -> dict:
    """Does a transition's (log-axis) width shrink as the system grows?  The slope of
    log10(width) against log10(size), fitted to every run, with a bootstrap interval that
    resamples the runs within each size.  `widths_per_size[i]` lists the runs at `sizes[i]`."""
    sizes = np.asarray(sizes, dtype=float)
    groups = [np.asarray(w, dtype=float) for w in widths_per_size]
    if len(sizes) < 3 or any(len(g) == 0 or (g <= 0).any() for g in groups):
        raise ValueError("sharpening needs >= 3 sizes, each with >= 1 positive width")

    def slope(gs):
        x = np.concatenate([np.full(len(g), np.log10(s)) for s, g in zip(sizes, gs)])
        return float(np.polyfit(x, np.log10(np.concatenate(gs)), 1)[0])

    rng = np.random.default_rng(seed)
    boot = [slope([rng.choice(g, len(g)) for g in groups]) for _ in range(draws)]
    low, high = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    return {"sizes": sizes.tolist(), "median_width": [float(np.median(g)) for g in groups],
            "widths": [g.tolist() for g in groups], "slope": slope(groups),
            "interval": [float(low), float(high)], "level": level,
            "shrinks": bool(high < 0), "grows": bool(low > 0)}
