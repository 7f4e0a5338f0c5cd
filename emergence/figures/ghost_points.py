"""Figures of the ghost-points chapter, drawn from a finished `ghost_points` run."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from emergence.figures.common import COLORS
from emergence.run import Run

DELAY_COLORS = (COLORS["task"], COLORS["train"], COLORS["measure"], COLORS["other"], COLORS["red"],
                COLORS["sky"], COLORS["grey"], COLORS["yellow"], "black")


def _column(run: Run, variant: int, delay: int, lr: int, init: int = 0) -> int:
    """The history column of one member (variant x delay x learning rate x init, C order)."""
    s = run.summary
    n_lr, n_init = len(s["lrs"][0]), run.config["inits"]
    return ((variant * len(s["delays"]) + delay) * n_lr + lr) * n_init + init


def plot_landscape(run: Run):
    """L(z) and |∂L/∂z| against z / z*, each delay, sharp and less confident output: the
    no-learning zone (z < z*/4, flat), the kink at z* and the steep wall just below it."""
    s, land = run.summary, run.summary["landscape"]
    ratio = np.array(land["z_over_opt"])
    betas = (run.config["confidence"], run.config["low_confidence"])
    fig, (loss_ax, grad_ax) = plt.subplots(1, 2, figsize=(10, 3.8))
    for d, T in enumerate(s["delays"]):
        for beta, style in zip(betas, ("-", ":")):
            curve = land[f"{beta:g}/{T:g}"]
            label = f"T = {T:g}" if style == "-" else None
            loss_ax.plot(ratio, curve["loss"], style, color=DELAY_COLORS[d], lw=1.4, label=label)
            grad_ax.plot(ratio, np.maximum(curve["grad"], 1e-12) * np.pi ** 2 / T ** 2, style,
                         color=DELAY_COLORS[d], lw=1.2)
    for ax in (loss_ax, grad_ax):
        ax.axvspan(ratio[0], 0.25, color=COLORS["grey"], alpha=0.12)
        ax.axvline(1, color="black", lw=0.8, ls="--")
        ax.set_xlabel("z / z*  (shaded: no-learning zone, z < z*/4)")
    loss_ax.set_ylabel("loss L(z)")
    loss_ax.set_title(f"solid: β = {betas[0]:g}; dotted: β = {betas[1]:g}")
    grad_ax.set_yscale("log")
    grad_ax.set_ylim(1e-8, 1e2)
    grad_ax.set_ylabel("|∂L/∂z| / (T²/π²)")
    grad_ax.set_title("the gradient vanishes in the zone, peaks just below z*")
    loss_ax.legend(fontsize=8)
    return fig


def plot_loss_curves(run: Run):
    """Loss and z / z* over training at the smallest learning rate at which every init of the
    delay succeeded (the longest plateau; all inits drawn, bold: the first)."""
    s, h = run.summary, run.history
    step = h["step"].numpy()
    fig, (loss_ax, z_ax) = plt.subplots(1, 2, figsize=(10, 3.8))
    fraction = np.array(s["success_fraction"])[0]
    for d, T in enumerate(s["delays"]):
        full = np.flatnonzero(fraction[d] >= 1.0)
        if not len(full):
            continue
        k = int(full[0])
        for init in range(run.config["inits"]):
            col = _column(run, 0, d, k, init)
            style = dict(lw=1.8, alpha=1.0) if init == 0 else dict(lw=0.8, alpha=0.35)
            label = f"T = {T:g}, η = {s['lrs'][d][k]:.2g}" if init == 0 else None
            loss_ax.plot(step, h["loss"][:, col], color=DELAY_COLORS[d], label=label, **style)
            z_ax.plot(step, h["z"][:, col] / s["theory"]["z_opt"][d], color=DELAY_COLORS[d], **style)
    loss_ax.set_ylabel("loss")
    z_ax.set_ylabel("z / z*")
    z_ax.axhline(1, color="black", lw=0.8, ls="--")
    z_ax.axhline(0.25, color=COLORS["grey"], lw=0.8, ls=":")
    for ax in (loss_ax, z_ax):
        ax.set_xlabel("gradient-descent step")
    loss_ax.legend(fontsize=8)
    loss_ax.set_title("a plateau, then the drop")
    z_ax.set_title("z falls slowly, then fast, then bounces around the kink")
    return fig


def plot_phase_diagram(run: Run):
    """Success fraction over (learning rate, delay) for the plain system, with the measured η_c
    per delay, its power-law fit, and the predicted 3π⁴/(16 T⁴)."""
    s = run.summary
    delays, lrs = np.array(s["delays"]), np.array(s["lrs"])
    fraction = np.array(s["success_fraction"])[0]
    fig, (grid_ax, fit_ax) = plt.subplots(1, 2, figsize=(10, 3.8))
    edges = np.sqrt(lrs[:, 1:] * lrs[:, :-1])
    for d in range(len(delays)):
        bounds = np.concatenate([[lrs[d, 0] ** 2 / edges[d, 0]], edges[d], [lrs[d, -1] ** 2 / edges[d, -1]]])
        grid_ax.pcolormesh(bounds, [d - 0.45, d + 0.45], fraction[d][None, :], cmap="Blues", vmin=0, vmax=1)
        eta = s["critical_lr"]["plain"][d]
        if eta is not None:
            grid_ax.plot([eta, eta], [d - 0.45, d + 0.45], color=COLORS["red"], lw=2)
    grid_ax.set_xscale("log")
    grid_ax.set_yticks(range(len(delays)), [f"T = {T:g}" for T in delays])
    grid_ax.set_xlabel("learning rate η (blue: fraction of inits that learn; red: measured η_c)")
    grid_ax.set_title("where learning succeeds")
    fit = s["critical_lr_fit"]["plain"]
    eta_c = np.array([np.nan if v is None else v for v in s["critical_lr"]["plain"]])
    fit_ax.loglog(delays, eta_c, "o", color=COLORS["red"], label="measured η_c")
    if fit is not None:
        fit_ax.loglog(delays, np.exp(fit["intercept"]) * delays ** fit["slope"], color=COLORS["red"], lw=1,
                      label=f"fit: slope {fit['slope']:.2f} (R² = {fit['r2']:.4f})")
    fit_ax.loglog(delays, s["theory"]["critical_lr"], "--", color="black", lw=1, label="3π⁴ / (16 T⁴)")
    low = s["critical_lr"]["low_confidence"]
    if None not in low:
        fit_ax.loglog(delays, low, "s", mfc="none", color=COLORS["task"], label=f"β = {run.config['low_confidence']:g}")
    fit_ax.set_xlabel("delay T")
    fit_ax.set_ylabel("critical learning rate")
    fit_ax.legend(fontsize=8)
    fit_ax.set_title("η_c falls as a power of the delay")
    return fig


def plot_ghost_lead(run: Run, delay: int = 1):
    """For one delay's successful runs at the largest all-successful rate: the ghost strength
    min |dx/dt| and the loss over training, each as the fraction of its change made so far."""
    s, h = run.summary, run.history
    step = h["step"].numpy()
    fraction = np.array(s["success_fraction"])[0][delay]
    k = int(np.flatnonzero(fraction >= 1.0)[-1])
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for init in range(run.config["inits"]):
        col = _column(run, 0, delay, k, init)
        for name, color, label in (("min_speed", COLORS["measure"], "ghost strength min |dx/dt|"),
                                   ("loss", COLORS["task"], "loss")):
            v = h[name][:, col].numpy()
            end = np.median(v[step >= step[-1] - run.config["tail"]])
            done = (v - v[0]) / (end - v[0])
            ax.plot(step, done, color=color, lw=1.5 if init == 0 else 0.7, alpha=1 if init == 0 else 0.4,
                    label=label if init == 0 else None)
    ax.axhline(0.5, color=COLORS["grey"], lw=0.8, ls=":")
    ax.set_ylim(-0.1, 1.3)
    ax.set_xlabel("gradient-descent step")
    ax.set_ylabel("fraction of the total change")
    ax.set_title(f"T = {s['delays'][delay]:g}, η = {s['lrs'][delay][k]:.2g}: the ghost moves first")
    ax.legend(fontsize=8, loc="upper left")
    return fig


def plot_remedies(run: Run):
    """Success fraction against η / η_c(plain) for the three variants, pooled over delays."""
    s = run.summary
    fraction, lrs = np.array(s["success_fraction"]), np.array(s["lrs"])
    eta_c = s["critical_lr"]["plain"]
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    names = {"plain": "as it is", "low_confidence": f"β = {run.config['low_confidence']:g} (less confident)",
             "redundant": "x0 trainable (a redundant parameter)"}
    for i, (variant, color) in enumerate(zip(s["variants"], (COLORS["grey"], COLORS["task"], COLORS["measure"]))):
        for d in range(len(s["delays"])):
            if eta_c[d] is None:
                continue
            ax.plot(lrs[d] / eta_c[d], fraction[i, d], "o-", color=color, lw=1, ms=3, alpha=0.8,
                    label=names[variant] if d == 0 else None)
    ax.axvline(1, color="black", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_xlabel("η / η_c of the plain system (each delay)")
    ax.set_ylabel("fraction of inits that learn")
    ax.set_title("both remedies keep learning above η_c")
    ax.legend(fontsize=8)
    return fig
