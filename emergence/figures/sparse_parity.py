"""Figures of the sparse parity chapter (book/04_sparse_parity.ipynb), drawn from a finished run."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from emergence.run import Run
from emergence.experiments.sparse_parity import PLATEAU_ERROR
from emergence.figures.common import COLORS, mark


def plot_hidden_progress(run: Run, title: str = ""):
    """Test error of the headline seeds above; below, how far the weights of the relevant
    and irrelevant inputs have moved (bold: first seed), and the raw ||W - W0||_inf."""
    h, s = run.history, run.summary
    step = h["step"].numpy()
    heads = [i for i, m in enumerate(s["members"]) if (m["n"], m["k"]) == (s["n"], s["k"])]
    fig, (err_ax, move_ax) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    curves = ((err_ax, 1 - h["test_acc"], COLORS["task"], "test error"),
              (err_ax, h["test_loss"], COLORS["train"], "test hinge loss"),
              (move_ax, h["movement_relevant"], COLORS["measure"], "relevant inputs (mean over S)"),
              (move_ax, h["movement_irrelevant"], COLORS["grey"], "irrelevant inputs (mean)"))
    for rank, i in enumerate(heads):
        style = dict(lw=2.0, alpha=1.0) if rank == 0 else dict(lw=1.0, alpha=0.35)  # bold: first seed
        for ax, values, color, label in curves:
            ax.plot(step, values[:, i], color=color, label=label if rank == 0 else None, **style)
    move_ax.plot(step, h["movement_max"][:, heads[0]], color=COLORS["red"], lw=1, ls="--",
                 label="raw ||W - W0||_inf (all inputs)")
    first = s["seeds"][0]
    for ax in (err_ax, move_ax):
        mark(ax, first["ratio_1_5_step"], "relevant = 1.5 x irrelevant", color=COLORS["measure"])
        mark(ax, first["plateau_end"], "plateau ends", color=COLORS["task"])
    err_ax.axhline(PLATEAU_ERROR, color=COLORS["grey"], lw=0.8)
    err_ax.set_ylabel("test error / loss")
    move_ax.set_ylabel("max_j |W[i, j] - W0[i, j]|")
    move_ax.set_yscale("log")
    move_ax.set_xlabel("SGD step (one fresh batch each)")
    err_ax.legend(loc="lower left")
    move_ax.legend(loc="upper left", fontsize=8)
    err_ax.set_title(title or f"(n, k) = ({s['n']}, {s['k']}), {len(heads)} seeds (bold: seed {first['seed']})")
    return fig


def plot_against_chance(run: Run, title: str = ""):
    """Left: per headline seed, the largest relevant / irrelevant movement ratio on the plateau
    (dot) against the same number for 1000 random decoy subsets of irrelevant inputs (bar: median
    to 95th percentile).  Right: when each seed's signals came, in steps: the ratio passing 1.5,
    the k most-moved inputs becoming S for good, the plateau's end, and solved."""
    seeds = run.summary["seeds"]
    fig, (null_ax, time_ax) = plt.subplots(1, 2, figsize=(10, 3.6))
    y = np.arange(len(seeds))
    for row, r in zip(y, seeds):
        if r.get("decoy_ratio_on_plateau_p95") is not None:
            null_ax.plot([r["decoy_ratio_on_plateau_median"], r["decoy_ratio_on_plateau_p95"]], [row, row],
                         color=COLORS["grey"], lw=6, alpha=0.5, solid_capstyle="butt",
                         label="decoys: median to 95th percentile" if row == 0 else None)
        if r["movement_ratio_on_plateau"] is not None:
            null_ax.scatter(r["movement_ratio_on_plateau"], row, color=COLORS["measure"], zorder=3,
                            label="the secret inputs S" if row == 0 else None)
    null_ax.axvline(1.5, color=COLORS["red"], ls=":", lw=1.2, label="1.5 x")
    null_ax.set_xlabel("largest relevant / irrelevant movement on the plateau")
    events = (("ratio_1_5_step", "ratio passes 1.5", COLORS["red"], "x"),
              ("top_k_is_support_step", "top-k moved = S, for good", COLORS["measure"], "o"),
              ("plateau_end", "plateau ends", COLORS["task"], "|"),
              ("steps_to_solve", "solved (99 %)", "black", "s"))
    for key, label, color, marker in events:
        points = [(r[key], row) for row, r in zip(y, seeds) if r[key] is not None]
        if points:
            time_ax.scatter(*zip(*points), color=color, marker=marker, s=36, label=label, zorder=3)
    time_ax.set_xlabel("SGD step")
    for ax in (null_ax, time_ax):
        ax.set_yticks(y, [f"seed {r['seed']}" for r in seeds])
        ax.legend(fontsize=8, loc="lower right")
    null_ax.set_title(title or "the movement ratio against chance")
    time_ax.set_title("when each signal came")
    return fig


def _fit_line(ax, ns, fit, log_x: bool, color, label):
    if fit["slope"] is None:
        return
    x = np.log(ns) if log_x else ns
    ax.plot(ns, np.exp(fit["intercept"] + fit["slope"] * x), color=color, lw=1.8, ls="-" if log_x else "--",
            label=label)


def plot_scaling(run: Run):
    """Steps to solve against n, every run shown (unsolved ones as open triangles at the step
    where training stopped: lower bounds), on log-log axes (left: a power law n^c is straight)
    and semilog axes (right: an exponential e^{cn} is straight).  Each panel draws both fits per
    k, with the unsolved runs censored (solid: power law; dashed: exponential); 2^n for scale."""
    s = run.summary
    stopped = s["steps_trained"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True)
    colors = plt.cm.viridis(np.linspace(0.1, 0.85, len(s["scaling"])))
    all_n = np.array(sorted({n for row in s["scaling"].values() for n in row["n"]}), dtype=float)
    ns = np.linspace(all_n.min(), all_n.max(), 60)
    for ax, log_x in zip(axes, (True, False)):
        for color, (k, row) in zip(colors, s["scaling"].items()):
            for n, values in row["steps"].items():
                ax.scatter([int(n)] * len(values), values, color=color, s=14, alpha=0.7)
                if row["unsolved"][n]:
                    ax.scatter([int(n)] * row["unsolved"][n], [stopped] * row["unsolved"][n],
                               facecolors="none", edgecolors=color, marker="^", s=30)
            if row.get("power", {}).get("slope") is None:
                ax.plot([], [], color=color, label=f"k = {k}: no fit (too few solved runs)")
                continue
            power, expo = row["power"], row["exponential"]
            _fit_line(ax, ns, power, True, color, f"k = {k}: n^{power['slope']:.2f}, RMS {power['rms_residual']:.2f}")
            _fit_line(ax, ns, expo, False, color,
                      f"k = {k}: e^({expo['slope']:.3f} n), RMS {expo['rms_residual']:.2f}")
        medians = [m for row in s["scaling"].values() for m in row["median_steps"] if m is not None]
        if medians:
            blind = 2.0 ** ns
            ax.plot(ns, blind * min(medians) / blind[0], color="#7f7f7f", ls=":", label="2^n, scaled")
            top = max(max(medians), stopped if any(sum(r["unsolved"].values()) for r in s["scaling"].values()) else 0)
            ax.set_ylim(0.5 * min(v for row in s["scaling"].values() for vals in row["steps"].values()
                                  for v in vals), 3 * top)
        ax.set_yscale("log")
        if log_x:
            ax.set_xscale("log")
            ax.set_xticks(all_n, [f"{n:.0f}" for n in all_n])
            ax.minorticks_off()
        ax.set_xlabel("n (input bits)" + (", log scale" if log_x else ", linear scale"))
        ax.legend(fontsize=7, loc="upper left")
    axes[0].set_ylabel("SGD steps to 99 % test accuracy")
    axes[0].set_title("log-log: a power law is straight")
    axes[1].set_title("semilog: an exponential is straight")
    return fig


def plot_fourier_gap(run: Run):
    """The sin neuron at initialisation: the median |population gradient| on the relevant and on
    the irrelevant weights against n (log-log), per odd k, with the fitted slopes."""
    gap = run.summary["fourier_gap"]
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    colors = plt.cm.viridis(np.linspace(0.1, 0.85, len(gap)))
    for color, (k, row) in zip(colors, gap.items()):
        ax.plot(row["n"], row["relevant"], color=color, marker="o", lw=1.8,
                label=f"k = {k}, relevant: slope {row['slope_relevant']:.2f}")
        ax.plot(row["n"], row["irrelevant"], color=color, marker="o", lw=1.2, ls="--", mfc="none",
                label=f"k = {k}, irrelevant: slope {row['slope_irrelevant']:.2f}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ns = next(iter(gap.values()))["n"]
    ax.set_xticks(ns, [str(n) for n in ns])
    ax.minorticks_off()
    ax.set_xlabel("n (input bits)")
    ax.set_ylabel("median |dE[y f] / dw_i| at initialisation")
    ax.legend(fontsize=7, loc="lower left", ncol=2)
    return fig
