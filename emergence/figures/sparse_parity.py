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


def plot_scaling(run: Run):
    """Steps to solve against n, log-log, every run shown (unsolved ones as open triangles at
    the step budget: lower bounds), one fitted line per k; and 2^n for scale."""
    s = run.summary
    budget = s["config"]["max_steps"]
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    colors = plt.cm.viridis(np.linspace(0.1, 0.85, len(s["scaling"])))
    for color, (k, row) in zip(colors, s["scaling"].items()):
        for n, values in row["steps"].items():
            ax.scatter([int(n)] * len(values), values, color=color, s=14, alpha=0.7)
            if row["unsolved"][n]:
                ax.scatter([int(n)] * row["unsolved"][n], [budget] * row["unsolved"][n],
                           facecolors="none", edgecolors=color, marker="^", s=30)
        solved = [(n, m) for n, m in zip(row["n"], row["median_steps"]) if m is not None]
        label = f"k = {k}: no fit (solved at < 2 values of n)"
        if row["slope"] is not None:
            ns, medians = (np.array(v, dtype=float) for v in zip(*solved))
            intercept = np.mean(np.log(medians) - row["slope"] * np.log(ns))
            label = f"k = {k}: slope {row['slope']:.2f} ± {row['slope_std']:.2f} (bootstrap)"
            ax.plot(ns, np.exp(intercept) * ns ** row["slope"], color=color, lw=2, label=label)
        else:
            ax.plot([], [], color=color, label=label)
    ns = np.array(sorted({n for row in s["scaling"].values() for n in row["n"]}), dtype=float)
    medians = [m for row in s["scaling"].values() for m in row["median_steps"] if m is not None]
    if medians:
        blind = 2.0 ** ns
        ax.plot(ns, blind * min(medians) / blind[0], color="#7f7f7f", ls="--",
                label="2^n (the slide's random-search scale), scaled")
        ax.set_ylim(0.5 * min(medians), 1e3 * max(max(medians), budget if any(
            sum(r["unsolved"].values()) for r in s["scaling"].values()) else 0))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("n (input bits)")
    ax.set_ylabel("SGD steps to 99 % test accuracy")
    ax.legend(fontsize=8, loc="upper left")
    return fig
