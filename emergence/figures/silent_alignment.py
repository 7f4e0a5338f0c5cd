"""Figures of the silent alignment chapter (book/03_silent_alignment.ipynb), drawn from a
finished run."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from emergence.run import Run
from emergence.measures.saxe import saxe_mode_strength
from emergence.figures.common import COLORS, mark


def _first_seed_members(run: Run) -> list[tuple[int, dict]]:
    seed = run.summary["config"]["seed"]
    return [(i, m) for i, m in enumerate(run.summary["members"]) if m["seed"] == seed]


def _sigma_colors(sigmas):
    return dict(zip(sorted(sigmas, reverse=True), plt.cm.viridis(np.linspace(0.0, 0.8, len(sigmas)))))


def plot_dynamics(run: Run, control: bool = False):
    """Loss, kernel-target alignment and kernel scale against (log) step for every init of the
    first seed: each small init aligns first, then grows its kernel and learns; the large
    init (dashed) learns without changing its kernel.  Dotted lines: the headline run's
    t_align and t_loss.  With `control`: the headline run against the same init on
    unwhitened inputs (dash-dotted), and the control's t_align and t_loss."""
    h, s = run.history, run.summary
    step, kstep = h["step"].numpy(), h["kernel_step"].numpy()
    members = _first_seed_members(run)
    colors = _sigma_colors([m["sigma"] for _, m in members if m["regime"] == "rich"])
    shown = {"rich", "control"} if control else {"rich", "lazy"}
    fig, axes = plt.subplots(3, 1, figsize=(7.5, 7.5), sharex=True)
    loss_ax, align_ax, norm_ax = axes
    for i, m in members:
        headline = m["regime"] == "rich" and m["sigma"] == s["sigma"]
        if m["regime"] not in shown or (control and m["regime"] == "rich" and not headline):
            continue
        color = {"lazy": COLORS["red"], "control": COLORS["other"]}.get(m["regime"])
        style = dict(color=color if color else colors[m["sigma"]],
                     ls={"lazy": "--", "control": "-."}.get(m["regime"], "-"),
                     lw=2.2 if headline or control else 1.3, zorder=3 if headline else 2)
        label = f"sigma = {m['sigma']:g}" + {"lazy": f" (lazy, lr {m['lr']:g})",
                                             "control": ", unwhitened inputs"}.get(m["regime"], "")
        loss = h["train_loss"][:, i].numpy()
        norm = h["kernel_norm"][:, i].numpy()
        loss_ax.plot(step[1:], loss[1:] / loss[0], label=label, **style)
        align_ax.plot(kstep[1:], h["alignment"][1:, i].numpy(), **style)
        norm_ax.plot(kstep[1:], norm[1:] / norm[-1], **style)
    marked = s["control"] if control else s
    for ax in axes:
        mark(ax, marked["t_align"], "t_align", color=COLORS["measure"])
        mark(ax, marked["t_loss"], "t_loss", color=COLORS["task"])
    loss_ax.set_ylabel("train loss / initial loss")
    align_ax.set_ylabel("kernel-target alignment A(K, yy^T)")
    norm_ax.set_ylabel("||K(t)||_F / ||K(final)||_F")
    norm_ax.set_yscale("log")
    norm_ax.set_xscale("log")
    norm_ax.set_xlabel("gradient-descent step")
    loss_ax.legend(fontsize=8, loc="lower left")
    loss_ax.set_title("unwhitened control (dotted lines: its t_align, t_loss)" if control else
                      f"{s['dataset']}: the kernel aligns first (bold: sigma = {s['sigma']:g})")
    return fig


def plot_init_scaling(run: Run):
    """t_loss and t_align against ln(1/sigma): the loss waits longer the smaller the init, by a
    fixed number of steps per e-fold, while the alignment happens at the same time."""
    s = run.summary
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for rank, row in enumerate(s["init_scaling"]):
        x = np.log(1 / np.array(row["sigmas"]))
        first = rank == 0
        ax.plot(x, row["t_loss"], "o", color=COLORS["task"], alpha=1 if first else 0.4,
                label="t_loss (loss half-way down)" if first else None)
        ax.plot(x, row["t_align"], "s", color=COLORS["measure"], alpha=1 if first else 0.4,
                label="t_align (alignment 90 % up)" if first else None)
        if row["steps_per_e_fold"] is not None:
            grid = np.linspace(x.min(), x.max(), 2)
            ax.plot(grid, row["intercept"] + row["steps_per_e_fold"] * grid, color=COLORS["task"],
                    lw=1, alpha=1 if first else 0.4,
                    label=f"fit: {row['steps_per_e_fold']:.0f} steps per e-fold, R^2 = {row['r2']:.4f}"
                    if first else None)
    row = s["init_scaling"][0]
    if row["steps_per_e_fold"] is not None:   # the theory's slopes, through the fit's middle
        x = np.log(1 / np.array(row["sigmas"]))
        grid = np.linspace(x.min(), x.max(), 2)
        middle = row["intercept"] + row["steps_per_e_fold"] * x.mean()
        for key, ls, text in (("relu_unit_steps_per_e_fold", "--", "ReLU unit on one class, 2 / (lr s)"),
                              ("linear_net_steps_per_e_fold", ":", "linear net (Saxe), 1 / (lr s)")):
            ax.plot(grid, middle + s[key] * (grid - x.mean()), color=COLORS["grey"], ls=ls, lw=1.2,
                    label=f"slope of a {text} = {s[key]:.0f}")
    ax.set_xlabel("ln(1 / sigma)")
    ax.set_ylabel("step")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    return fig


def plot_kernel_predictions(run: Run):
    """Kernel regression with the final NTK (green) and the initial NTK (grey) against the
    trained network's outputs on the test images: whitened headline run, then the control."""
    h, s = run.history, run.summary
    members = _first_seed_members(run)
    panels = [(i, m) for i, m in members if m["regime"] == "rich" and m["sigma"] == s["sigma"]]
    panels += [(i, m) for i, m in members if m["regime"] == "control"]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.0), squeeze=False)
    for ax, (i, m) in zip(axes[0], panels):
        row = next(r for r in s["runs"] if r["seed"] == m["seed"] and r["regime"] == m["regime"]
                   and r["sigma"] == m["sigma"])
        network = h["test_network"][i].numpy()
        for when, color in (("initial", COLORS["grey"]), ("final", COLORS["measure"])):
            fit = row["kernel"][f"{when}_ntk"]
            ax.scatter(network, h[f"test_kernel_{when}"][i].numpy(), s=14, color=color, alpha=0.8,
                       label=f"{when} NTK: R^2 = {fit['r2']:.3f}, rel. error {fit['relative_error']:.3f}")
        lim = np.abs(network).max() * 1.3
        ax.plot([-lim, lim], [-lim, lim], color=COLORS["grey"], lw=0.8)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_xlabel("trained network f(x) - f0(x)")
        ax.set_ylabel("kernel regression")
        ax.set_title(f"{m['inputs']} inputs, sigma = {m['sigma']:g}")
        ax.legend(fontsize=7, loc="upper left")
    return fig


def plot_kernel_snapshots(run: Run):
    """The headline kernel, K / ||K||_F, at init, when aligned, half-way down the loss and at
    the end, with the training points sorted by label; last panel: the target y y^T.  The
    colour scale is clipped at the 99th percentile of the off-diagonal entries, so the large
    diagonal (each point with itself) does not hide the structure between points."""
    h, s = run.history, run.summary
    order = torch.argsort(h["y_train"], descending=True, stable=True)
    y = h["y_train"][order]
    kernels = [k[order][:, order] for k in h["kernel_snapshots"]] + [torch.outer(y, y).float()]
    kstep = h["kernel_step"].numpy()
    headline = next(i for i, m in _first_seed_members(run)
                    if m["regime"] == "rich" and m["sigma"] == s["sigma"])
    norm = h["kernel_norm"][:, headline].numpy()
    titles = []
    for name, t in zip(("init", "aligned", "half-learned", "final"), h["snapshot_step"].tolist()):
        row = int(np.argmax(kstep == t))
        titles.append(f"{name}: step {t}\nA = {h['alignment'][row, headline]:.2f}, "
                      f"|K| = {norm[row] / norm[-1]:.0e} x final")
    titles.append("target y y^T")
    fig, axes = plt.subplots(1, len(kernels), figsize=(2.3 * len(kernels), 2.8))
    for ax, k, title in zip(axes, kernels, titles):
        k = (k / k.norm()).numpy()
        bound = np.percentile(np.abs(k[~np.eye(len(k), dtype=bool)]), 99)
        ax.imshow(k, cmap="RdBu_r", vmin=-bound, vmax=bound, interpolation="nearest")
        ax.set_title(title, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
    return fig


def plot_saxe(run: Run):
    """Each mode's strength u_k(t) / s_k in the deep linear networks (thin: every seed) and
    Saxe et al.'s closed form from the first seed's balanced initial strength (dashed)."""
    h, s = run.history, run.summary["saxe"]
    step = h["saxe_step"].numpy()
    strength = h["saxe_mode_strength"].numpy()
    colors = plt.cm.viridis(np.linspace(0.0, 0.8, len(s["singular_values"])))
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for k, (sv, color) in enumerate(zip(s["singular_values"], colors)):
        for e in range(strength.shape[1]):
            ax.plot(step, strength[:, e, k] / sv, color=color, lw=2 if e == 0 else 0.8,
                    alpha=1 if e == 0 else 0.5, label=f"mode {k + 1}: s = {sv:g}" if e == 0 else None)
        u0 = s["seeds"][0]["initial_strength"][k]
        ax.plot(step, saxe_mode_strength(step, sv, u0, s["lr"]) / sv, color=COLORS["grey"], ls="--", lw=1.2,
                label="Saxe et al., closed form" if k == 0 else None)
    ax.set_xlabel("gradient-descent step")
    ax.set_ylabel("mode strength u_k / s_k")
    ax.legend(fontsize=8, loc="lower right")
    return fig
