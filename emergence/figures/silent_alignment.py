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


def _headline_index(run: Run) -> int:
    s = run.summary
    return next(i for i, m in _first_seed_members(run) if m["regime"] == "rich" and m["sigma"] == s["sigma"])


def plot_mechanism(run: Run):
    """The headline run's phase I, on a log step axis with its t_align and t_loss.  Top: the
    centred kernel's five largest eigenvalues over its trace (the largest bold) and, dashed on the
    right axis, how much of the labels lies along the top eigenvector.  Middle: the hidden units'
    |cos(w_i, beta)| with the task direction (median, and the band from the 10th to the 90th
    percentile) and the first layer's task power |b^T W|^2 / ||W||^2; the large init (red) for
    contrast.  Bottom: the loss.  Right: histograms of |cos(w_i, beta)| at the four moments of
    the kernel snapshots."""
    h, s = run.history, run.summary
    i = _headline_index(run)
    lazy = next(j for j, m in _first_seed_members(run) if m["regime"] == "lazy")
    step, kstep = h["step"].numpy(), h["kernel_step"].numpy()
    fig = plt.figure(figsize=(11, 7.5))
    grid = fig.add_gridspec(3, 2, width_ratios=(2.2, 1))
    spec_ax = fig.add_subplot(grid[0, 0])
    cos_ax = fig.add_subplot(grid[1, 0], sharex=spec_ax)
    loss_ax = fig.add_subplot(grid[2, 0], sharex=spec_ax)
    hist_ax = fig.add_subplot(grid[:, 1])
    k = slice(1, None)                                       # log axis: step 0 is off it
    spectrum = h["kernel_spectrum"][:, i].numpy()
    for j in range(spectrum.shape[1]):
        spec_ax.plot(kstep[k], spectrum[k, j], color=COLORS["task"], lw=2.2 if j == 0 else 0.8,
                     alpha=1 if j == 0 else 0.6, label="largest eigenvalue / trace" if j == 0 else
                     ("next four" if j == 1 else None))
    spec_ax.set_ylabel("eigenvalue / trace\n(centred kernel)")
    overlap_ax = spec_ax.twinx()
    overlap_ax.plot(kstep[k], h["eigenvector_overlap"][k, i, 0].numpy(), color=COLORS["measure"], ls="--",
                    label="labels along the top eigenvector, (v1.y)^2 / |y|^2")
    overlap_ax.set_ylim(0, 1)
    overlap_ax.set_ylabel("(v1 . y)^2 / |y|^2", color=COLORS["measure"])
    overlap_ax.grid(False)
    lines = spec_ax.get_legend_handles_labels()[0] + overlap_ax.get_legend_handles_labels()[0]
    spec_ax.legend(lines, [line.get_label() for line in lines], fontsize=8, loc="upper left")
    spec_ax.set_title(f"sigma = {s['sigma']:g}: the kernel's top eigenvector turns to the labels, "
                      "then the weights turn to beta", fontsize=9)
    for member, color, label in ((i, COLORS["task"], f"sigma = {s['sigma']:g}"),
                                 (lazy, COLORS["red"], f"sigma = {s['lazy']['sigma']:g} (lazy)")):
        q = h["unit_cosines"][:, member].numpy()
        cos_ax.fill_between(kstep[k], q[k, 0], q[k, -1], color=color, alpha=0.15, lw=0)
        cos_ax.plot(kstep[k], q[k, 1], color=color, lw=1.8, label=f"{label}: median |cos(w_i, beta)|")
        cos_ax.plot(kstep[k], h["task_power"][k, member].numpy(), color=color, ls="--", lw=1.2,
                    label=f"{label}: task power |b^T W|^2 / ||W||^2")
    cos_ax.set_ylim(0, 1)
    cos_ax.set_ylabel("first-layer weights\nagainst beta")
    cos_ax.legend(fontsize=7, loc="upper left")
    loss = h["train_loss"][:, i].numpy()
    loss_ax.plot(step[1:], loss[1:] / loss[0], color=COLORS["task"], lw=2)
    loss_ax.set_ylabel("train loss / initial")
    loss_ax.set_xscale("log")
    loss_ax.set_xlabel("gradient-descent step")
    for ax in (spec_ax, cos_ax, loss_ax):
        mark(ax, s["t_align"], "t_align", color=COLORS["measure"])
        mark(ax, s["t_loss"], "t_loss", color=COLORS["task"])
    names = ("init", "aligned", "half-learned", "final")
    colors = plt.cm.viridis(np.linspace(0.0, 0.85, len(names)))
    bins = np.linspace(0, 1, 26)
    for name, t, cos, color in zip(names, h["snapshot_step"].tolist(), h["cosine_snapshots"], colors):
        hist_ax.hist(cos.numpy(), bins=bins, histtype="step", lw=1.8, color=color, label=f"{name} (step {t})")
    hist_ax.set_xlabel("|cos(w_i, beta)| over the hidden units")
    hist_ax.set_ylabel("units")
    hist_ax.legend(fontsize=8, loc="upper center")
    return fig


def plot_phase_diagram(run: Run):
    """The init scale sigma from the rich to the lazy regime (first seed; filled: the small
    inits, open: the sweep, red: the large init).  Kernel growth ||K_final|| / ||K_0||; how far
    kernel regression with the final (green) and the initial (grey) kernel is from the trained
    network (relative error on the test images); the alignment time over the loss time; the
    final kernel's alignment over the linear network's reference kernel."""
    s = run.summary
    d = s["phase_diagram"][0]
    sigma = np.array(d["sigma"])
    crossover = d["crossover_sigma"]
    fig, axes = plt.subplots(2, 2, figsize=(9.5, 6.5), sharex=True)
    (growth_ax, error_ax), (time_ax, ref_ax) = axes

    def points(ax, values, color, label=None, ls="-"):
        ax.plot(sigma, values, color=color, ls=ls, lw=1.2, label=label)
        for x, v, regime in zip(sigma, values, d["regime"]):
            face = {"rich": color, "lazy": COLORS["red"]}.get(regime, "white")
            ax.plot([x], [v], "o", color=color, mfc=face, ms=6)

    points(growth_ax, d["kernel_growth"], COLORS["task"])
    growth_ax.axhline(1, color=COLORS["grey"], lw=0.8)
    growth_ax.set_yscale("log")
    growth_ax.set_ylabel("kernel growth ||K_final|| / ||K_0||")
    points(error_ax, d["final_error"], COLORS["measure"], "final NTK")
    points(error_ax, d["initial_error"], COLORS["grey"], "initial NTK")
    error_ax.set_ylabel("kernel regression vs network:\nrelative error (test)")
    error_ax.set_ylim(bottom=0)
    error_ax.legend(fontsize=8)
    points(time_ax, [v if v else np.nan for v in d["align_over_loss_time"]], COLORS["other"])  # 0: never rose
    time_ax.axhline(1, color=COLORS["grey"], lw=0.8)
    time_ax.set_yscale("log")
    time_ax.set_ylabel("t_align / t_loss")
    points(ref_ax, d["final_alignment_over_reference"], COLORS["measure"])
    ref_ax.axhline(1, color=COLORS["grey"], lw=0.8, ls="--")
    ref_ax.set_ylim(0, 1.1)
    ref_ax.set_ylabel("final alignment / linear reference")
    for ax in axes.flat:
        ax.set_xscale("log")
        if crossover is not None:
            ax.axvline(crossover, color=COLORS["grey"], ls=":", lw=1)
    for ax in axes[1]:
        ax.set_xlabel("init scale sigma")
    growth_ax.set_title("rich (left) to lazy (right); dotted: kernel growth = 2", fontsize=9)
    return fig
