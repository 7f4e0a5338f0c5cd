"""Figures of the scaling-laws chapter (book/01_scaling_laws.ipynb), drawn from a finished run."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import NullFormatter

from emergence.run import Run
from emergence.measures.scaling import chinchilla_loss, compute_optimal


def _width_colors(n: int):
    return plt.cm.viridis(np.linspace(0.05, 0.9, n))


def plot_loss_surface(run: Run):
    """Left: L(D) for every width.  Right: L(N) at a few data budgets.  The floor H(noise) dotted."""
    s = run.summary
    D, table, N = np.array(s["D"]), np.array(s["loss_table"]), np.array(s["N"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for color, w, n, row in zip(_width_colors(len(N)), s["widths"], N, table):
        left.plot(D, row, color=color, lw=1.8, label=f"width {w} (N = {n:,})")
    picks = np.unique(np.linspace(np.argmax(table.min(0) < 0.69), len(D) - 1, 5).round().astype(int))
    for color, t in zip(plt.cm.magma(np.linspace(0.15, 0.8, len(picks))), picks):
        right.plot(N, table[:, t], "o-", color=color, label=f"D = {D[t]:.2g}")
    for ax, label in ((left, "D (training examples seen)"), (right, "N (parameters)")):
        ax.axhline(s["loss_floor"], color="grey", ls=":", lw=1)
        ax.set(xscale="log", yscale="log", xlabel=label, ylabel="test loss (nats)")
        ax.legend(fontsize=8)
    _plain_log_ticks(right)
    left.set_title("every width: loss against data")
    right.set_title("every data budget: loss against size")
    return fig


def plot_fit(run: Run):
    """Measured loss against the Approach-3 fit (log-log) and the held-out width's curve."""
    s = run.summary
    fit = s["fit"]
    D, table, N = np.array(s["D"]), np.array(s["loss_table"]), np.array(s["N"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    constants = {k: fit[k] for k in ("E", "A", "B", "alpha", "beta")}
    limit = s["config"]["fit_max_loss"]
    for color, n, row in zip(_width_colors(len(N)), N, table):
        left.plot(D, row, "o", color=color, ms=3)
        fitted = D[np.argmax(row < limit)] if (row < limit).any() else D.max()   # the fitted range only
        d_fine = np.geomspace(fitted, D.max(), 100)
        left.plot(d_fine, chinchilla_loss(n, d_fine, **constants), color=color, lw=1)
    left.axhline(s["config"]["fit_max_loss"], color="grey", lw=0.8, ls="--")
    left.set(xscale="log", yscale="log", xlabel="D", ylabel="test loss",
             title=f"Approach 3: E={fit['E']:.3f}, A={fit['A']:.3g}, B={fit['B']:.3g}, "
                   f"α={fit['alpha']:.2f}, β={fit['beta']:.2f}")
    held = s["heldout"]
    if held:
        right.plot(held["D"], held["measured"], "o", color="black", ms=4, label=f"measured, width {held['width']}")
        right.plot(held["D"], held["predicted"], color="#D55E00", lw=2,
                   label=f"predicted from the other widths (log-RMSE {held['rmse_log']:.3f})")
        right.set(xscale="log", yscale="log", xlabel="D", ylabel="test loss",
                  title="a width the fit never saw")
        right.legend(fontsize=8)
    return fig


def _plain_log_ticks(*axes) -> None:
    """No minor tick labels on log axes (they collide on short ranges)."""
    for ax in axes:
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.yaxis.set_minor_formatter(NullFormatter())


def plot_isoflops(run: Run):
    """Left: IsoFLOP slices with their parabolas; right: N* against C for both approaches."""
    s = run.summary
    iso, frontier = s["isoflop"], s["frontier"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = plt.cm.plasma(np.linspace(0.1, 0.85, len(iso["slices"])))
    for color, sl in zip(colors, iso["slices"]):
        if len(sl["N"]) < 2:
            continue
        left.plot(sl["N"], sl["L"], "o", color=color, label=f"C = {sl['C']:.2g}")
        if len(sl["N"]) >= 3:
            coef = np.polyfit(np.log(sl["N"]), np.log(sl["L"]), 2)
            n_fine = np.geomspace(min(sl["N"]), max(sl["N"]), 100)
            left.plot(n_fine, np.exp(np.polyval(coef, np.log(n_fine))), color=color, lw=1)
        if sl["vertex_N"] and sl["interior_minimum"]:
            left.axvline(sl["vertex_N"], color=color, lw=0.6, ls=":")
    left.set(xscale="log", yscale="log", xlabel="N (parameters)", ylabel="test loss",
             title="IsoFLOP slices: loss at fixed compute C = 6ND")
    left.legend(fontsize=7)
    used = [sl for sl in iso["slices"] if sl["vertex_N"] and sl["interior_minimum"]]
    right.plot([sl["C"] for sl in used], [sl["vertex_N"] for sl in used], "s", color="black",
               label=f"Approach 2 (parabola vertices): a = {iso['a']:.2f}" if iso["a"] is not None else "Approach 2")
    right.plot(frontier["C"], frontier["N_opt"], color="#D55E00", lw=2,
               label=f"Approach 3 (fit): a = {frontier['a']:.2f}")
    right.plot([sl["C"] for sl in iso["slices"] if sl["argmin_N"]],
               [sl["argmin_N"] for sl in iso["slices"] if sl["argmin_N"]], "x", color="grey",
               label="best width on the grid")
    right.set(xscale="log", yscale="log", xlabel="compute C (FLOPs)", ylabel="N_opt",
              title="the compute-optimal frontier N_opt ∝ C^a")
    right.legend(fontsize=8)
    _plain_log_ticks(left, right)
    return fig


def plot_published(run: Run):
    """The frontiers implied by Chinchilla's printed constants and by Besiroglu et al.'s refit
    of the same data, from 1e18 to 1e26 FLOPs, with Chinchilla itself (70B params, 1.4T tokens)."""
    s = run.summary
    C = np.geomspace(1e18, 1e26, 100)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for (name, constants), color in zip(s["published"].items(), ("#0072B2", "#D55E00")):
        f = compute_optimal(C, **{k: constants[k] for k in ("E", "A", "B", "alpha", "beta")})
        left.plot(C, f["N_opt"], color=color, label=f"{name}: a = {f['a']:.3f}")
        right.plot(C, f["D_opt"] / f["N_opt"], color=color,
                   label=f"{name}: {constants['D_opt'] / constants['N_opt']:.0f} tokens/param at 5.76e23")
        left.plot([s["chinchilla_flops"]], [constants["N_opt"]], "o", color=color)
    left.plot([s["chinchilla_flops"]], [70e9], "*", color="black", ms=12, label="Chinchilla (70B)")
    right.axhline(1.4e12 / 70e9, color="black", ls=":", lw=1, label="Chinchilla: 20 tokens/param")
    left.set(xscale="log", yscale="log", xlabel="compute (FLOPs)", ylabel="N_opt (parameters)",
             title="same data, two fits")
    right.set(xscale="log", yscale="log", xlabel="compute (FLOPs)", ylabel="D_opt / N_opt")
    for ax in (left, right):
        ax.legend(fontsize=8)
    return fig
