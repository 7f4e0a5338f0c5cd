"""Figures of the chapter on in-context learning as competing algorithms, drawn from a finished
`icl_competition` run."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap

from emergence.figures.common import COLORS, log_steps
from emergence.measures.icl_algorithms import ALGORITHMS, LABELS
from emergence.run import Run

ALGO_COLORS = {"uni_ret": COLORS["sky"], "bi_ret": COLORS["task"], "uni_inf": COLORS["yellow"],
               "bi_inf": COLORS["red"]}
SIZE_COLORS = (COLORS["task"], COLORS["train"], COLORS["measure"], COLORS["other"], COLORS["red"], COLORS["grey"])


def _members(run: Run) -> list[tuple[int, int, int]]:
    """(column, N, replicate) of every member."""
    return [(e, m["chains"], m["replicate"]) for e, m in enumerate(run.summary["members"])]


def plot_phase_diagram(run: Run):
    """Which algorithm is closest to each member (rows: N and replicate) at each checkpoint, on
    contexts from its training chains (top) and from fresh chains (bottom)."""
    s = run.summary
    steps = np.array(s["eval_steps"], dtype=float)
    edges = np.concatenate([[steps[1] / 2], np.sqrt(steps[1:-1] * steps[2:]), [steps[-1] * 1.2]])
    cmap = ListedColormap([ALGO_COLORS[a] for a in ALGORITHMS])
    rows = len(s["members"])
    fig, axes = plt.subplots(2, 1, figsize=(9, 1.6 + 0.8 * rows), sharex=True)
    labels = [f"N = {n}" + (f" ({r + 1})" if run.config["replicates"] > 1 else "") for _, n, r in _members(run)]
    for ax, key, title in zip(axes, ("phases", "fresh_phases"),
                              ("contexts from the model's training chains", "contexts from fresh chains")):
        grid = np.array([[ALGORITHMS.index(a) for a in m[key]] for m in s["members"]])
        ax.pcolormesh(edges, np.arange(rows + 1), grid[:, 1:], cmap=cmap, vmin=-0.5, vmax=len(ALGORITHMS) - 0.5)
        ax.set_xscale("log")
        ax.set_yticks(np.arange(rows) + 0.5, labels)
        ax.grid(False)
        ax.set_title(f"the algorithm closest to the model (least KL): {title}")
    axes[-1].set_xlabel("training step (log)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=ALGO_COLORS[a]) for a in ALGORITHMS]
    axes[-1].legend(handles, [LABELS[a] for a in ALGORITHMS], ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.45))
    return fig


def plot_losses(run: Run):
    """Excess loss over the generating chain, in distribution and on fresh chains, per N."""
    h, steps = run.history, run.history["step"].numpy()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for ax, split, title in zip(axes, ("id", "ood"), ("training chains (in distribution)", "fresh chains (out of distribution)")):
        for e, n, r in _members(run):
            color = SIZE_COLORS[run.summary["chains"].index(n) % len(SIZE_COLORS)]
            ax.plot(steps[1:], h[f"excess_{split}"][1:, e].numpy(), color=color, lw=1.4, alpha=1 if r == 0 else 0.5,
                    label=f"N = {n}" if r == 0 else None)
        log_steps(ax, steps)
        ax.set_yscale("log")
        ax.set_xlabel("training step")
        ax.set_title(title)
    axes[0].set_ylabel("loss − the true chain's loss (nats)")
    axes[1].legend()
    return fig


def plot_weights(run: Run, replicate: int = 0):
    """The convex mixture of the four algorithms that fits each member best, over training."""
    h, steps = run.history, run.history["step"].numpy()
    members = [(e, n) for e, n, r in _members(run) if r == replicate]
    fig, axes = plt.subplots(1, len(members), figsize=(3.2 * len(members), 3), sharey=True)
    for ax, (e, n) in zip(np.atleast_1d(axes), members):
        w = h["weights"][1:, e].numpy()
        ax.stackplot(steps[1:], w.T, colors=[ALGO_COLORS[a] for a in ALGORITHMS], labels=[LABELS[a] for a in ALGORITHMS])
        log_steps(ax, steps)
        ax.set_ylim(0, 1)
        ax.set_title(f"N = {n}")
        ax.set_xlabel("training step")
    np.atleast_1d(axes)[0].set_ylabel("mixture weight")
    np.atleast_1d(axes)[-1].legend(loc="center left", bbox_to_anchor=(1, 0.5))
    return fig


def plot_context_length(run: Run, step: int | None = None, replicate: int = 0):
    """KL from each algorithm to the model by context length, at one checkpoint (default: the
    largest N's out-of-distribution best), for the smallest and the largest N."""
    s, h = run.summary, run.history
    largest = next(m for m in s["members"] if m["chains"] == s["chains"][-1] and m["replicate"] == replicate)
    step = largest["ood_min_step"] if step is None else step
    i = s["eval_steps"].index(step)
    columns = [(e, n) for e, n, r in _members(run) if r == replicate and n in (s["chains"][0], s["chains"][-1])]
    fig, axes = plt.subplots(1, len(columns), figsize=(10, 3.4), sharey=True)
    for ax, (e, n) in zip(axes, columns):
        curves = h["kl_id_by_position"][i, e].numpy()
        for a, curve in zip(ALGORITHMS, curves):
            ax.plot(np.arange(1, len(curve) + 1), curve, color=ALGO_COLORS[a], lw=1.5, label=LABELS[a])
        ax.set_yscale("log")
        ax.set_xlabel("context length (states seen)")
        ax.set_title(f"N = {n}, step {step:,}")
    axes[0].set_ylabel("KL(algorithm ‖ model) (nats)")
    axes[-1].legend()
    return fig
