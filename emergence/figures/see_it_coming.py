"""Figures of the closing chapter: every chapter's lead, predictions against measurements, the
finite-size study and the yardsticks, each drawn from the `see_it_coming` run's summary."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import NullFormatter, ScalarFormatter

from emergence.figures.common import COLORS

VERDICT_COLORS = {"predicts": COLORS["measure"], "detects": COLORS["task"], "lags": COLORS["red"]}
MARKERS = ["o", "s", "^", "D", "v", "P"]


def _rows(run) -> list[dict]:
    return [r for r in run.summary["lead_table"] if r["runs"]]


def _label(row: dict) -> str:
    return f"{row['chapter'].replace('_', ' ')}: {row['measure']}"


def plot_lead_table(run, figsize=(8.5, 6.5)):
    """Each (chapter, measure): the lead as a fraction of the plateau, median (dot) and range over
    runs (bar), coloured by the verdict; the symmetric-log axis is linear within ±1."""
    rows = _rows(run)
    fig, ax = plt.subplots(figsize=figsize)
    y = np.arange(len(rows))[::-1]
    for yi, row in zip(y, rows):
        f = row["lead_fraction"]
        if f["median"] is None:
            continue
        color = VERDICT_COLORS[row["verdict"]]
        ax.plot([f["min"], f["max"]], [yi, yi], color=color, lw=2, alpha=0.5)
        ax.scatter([f["median"]], [yi], color=color, s=30, zorder=3)
        ax.annotate(f"{row['agreeing']}/{row['runs']}", (1.0, yi), xycoords=("axes fraction", "data"),
                    ha="left", va="center", fontsize=8, color=color)
    ax.axvline(0, color=COLORS["grey"], lw=1)
    ax.set_xscale("symlog", linthresh=1)
    ax.set_yticks(y, [_label(r) for r in rows], fontsize=8)
    ax.set_xlabel("lead / plateau  (x50 of the task metric minus x50 of the measure, over the plateau)")
    for verdict, color in VERDICT_COLORS.items():
        ax.scatter([], [], color=color, label=verdict)
    ax.legend(loc="upper center", bbox_to_anchor=(0.4, -0.09), ncol=3, fontsize=8, title="verdict (median run)",
              title_fontsize=8)
    ax.set_title("Who moves first?  Right of 0: the measure is half-way before the task metric")
    return fig


def plot_yardsticks(run, figsize=(8.5, 6.5)):
    """The same lead fractions under the other yardsticks: the task metric through its logarithm,
    the other time axis, and both."""
    rows = _rows(run)
    fig, ax = plt.subplots(figsize=figsize)
    y = np.arange(len(rows))[::-1]
    readings = [("as read", lambda r: r["lead_fraction"]["median"]),
                ("log of the metric", lambda r: r["hygiene"]["log_metric"]),
                ("other time axis", lambda r: r["hygiene"]["other_axis"]),
                ("both", lambda r: r["hygiene"]["log_metric_other_axis"])]
    colors = [COLORS["task"], COLORS["train"], COLORS["other"], COLORS["grey"]]
    for k, ((name, read), color) in enumerate(zip(readings, colors)):
        values = [read(r) for r in rows]
        ok = [v is not None for v in values]
        ax.scatter([v for v, o in zip(values, ok) if o], (y - 0.18 * (k - 1.5))[ok], s=22, marker=MARKERS[k],
                   color=color, label=name, zorder=3)
    ax.axvline(0, color=COLORS["grey"], lw=1)
    ax.set_xscale("symlog", linthresh=1)
    ax.set_yticks(y, [_label(r) for r in rows], fontsize=8)
    ax.set_xlabel("lead / plateau (median over runs)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.4, -0.09), ncol=4, fontsize=8)
    ax.set_title("The same leads under four yardsticks")
    return fig


def plot_predictions(run, figsize=(6.5, 5.5)):
    """Measured against predicted transition times, one marker per prediction, on log-log axes;
    hollow markers where the chapter fits the formula's constant (only the shape is tested)."""
    fig, ax = plt.subplots(figsize=figsize)
    every = []
    for k, p in enumerate(run.summary["predictions"]):
        pred, meas = np.array(p["predicted"]), np.array(p["measured"])
        every += [*pred, *meas]
        face = "none" if p["fitted_constant"] else None
        ax.scatter(pred, meas, marker=MARKERS[k % len(MARKERS)], facecolors=face, s=34,
                   edgecolors=list(COLORS.values())[k], color=list(COLORS.values())[k],
                   label=f"{p['name']}  (ratio {p['ratio']['median']:.2f}, {p['compares']})")
    lo, hi = min(every) / 1.5, max(every) * 1.5
    ax.plot([lo, hi], [lo, hi], color=COLORS["grey"], lw=1, ls="--")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("predicted time (each in its chapter's unit)")
    ax.set_ylabel("measured time")
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title("Formulas for when the jump happens, against the runs")
    return fig


def plot_finite_size(run, figsize=(9, 6.5)):
    """Per study: every run's width (log axis of the control variable) against the system's size,
    the median (line) and the fitted slope with its interval."""
    studies = run.summary["finite_size"]
    columns = 2
    fig, axes = plt.subplots(-(-len(studies) // columns), columns, figsize=figsize, squeeze=False, sharey=True)
    for ax in axes.flat[len(studies):]:
        ax.set_visible(False)
    for ax, study in zip(axes.flat, studies):
        for size, widths in zip(study["sizes"], study["widths"]):
            ax.scatter([size] * len(widths), widths, color=COLORS["task"], s=14, alpha=0.6)
        ax.plot(study["sizes"], study["median_width"], color=COLORS["task"], lw=1.5)
        if "predicted_from_accuracy" in study:
            ax.plot(study["sizes"], study["predicted_from_accuracy"], color=COLORS["red"], ls="--", lw=1.2,
                    label="from the per-digit accuracy alone")
            ax.legend(fontsize=7)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(study["sizes"], [f"{v:g}" for v in study["sizes"]])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.yaxis.set_major_formatter(ScalarFormatter())
        ax.yaxis.set_minor_formatter(NullFormatter())
        low, high = study["interval"]
        interval = "exact" if study.get("exact") else f"{study['level']:.0%}: {low:.2f} to {high:.2f}"
        ax.set_title(f"{study['phenomenon']}\nslope {study['slope']:.2f} ({interval})", fontsize=8)
        ax.set_xlabel(study["size"])
    for ax in axes[:, 0]:
        ax.set_ylabel("width of the jump (log axis)")
    return fig


def plot_reading(run, figsize=(10, 3.6)):
    """The reading of one curve, step by step, on the EXAMPLES pairs' first runs: the task metric
    and the measure as the fraction of their change made so far, the plateau (grey), the
    transition (blue band) and the measure's x50 (green line)."""
    rows = {(r["chapter"], r["measure"]): r for r in run.summary["lead_table"]}
    shown = [i for i in range(len(run.summary["examples"])) if f"example{i}_task" in run.history]
    fig, axes = plt.subplots(1, len(shown), figsize=figsize, squeeze=False)
    for ax, i in zip(axes.flat, shown):
        chapter, measure = run.summary["examples"][i]
        row = rows[(chapter, measure)]
        reading = row["per_run"][0]
        h = {k: run.history[f"example{i}_{k}"].numpy() for k in ("steps", "task", "measure_steps", "measure")}
        for steps, curve, label, color in ((h["steps"], h["task"], row["task_metric"], COLORS["task"]),
                                           (h["measure_steps"], h["measure"], measure, COLORS["measure"])):
            done = (curve - curve[0]) / (curve[-1] - curve[0])
            ax.plot(steps, done, color=color, lw=1.6, label=f"{label} (fraction of its change)")
        ax.axvspan(h["steps"][0], reading["start"], color=COLORS["grey"], alpha=0.12, lw=0, label="plateau")
        ax.axvspan(reading["start"], reading["end"], color=COLORS["sky"], alpha=0.25, lw=0, label="transition (10–90 %)")
        ax.axvline(reading["mid"], color=COLORS["task"], ls="--", lw=1, label="x50 of the task metric")
        ax.axvline(reading["measure_x50"], color=COLORS["measure"], ls="--", lw=1, label="x50 of the measure")
        ax.axhline(0.5, color=COLORS["grey"], lw=0.8, ls=":")
        ax.set_title(f"{chapter.replace('_', ' ')}: {reading['verdict']}, lead / plateau "
                     f"{reading['lead_fraction']:.2f}", fontsize=9)
        ax.set_xlabel(row["axis"])
        ax.set_xlim(h["steps"][0], min(h["steps"][-1], reading["end"] + (reading["end"] - h["steps"][0])))
        ax.set_ylim(-0.1, 1.3)
    axes.flat[0].set_ylabel("fraction of the total change")
    axes.flat[-1].legend(fontsize=7, loc="lower right")
    return fig
