"""Figures of the scaling-laws chapter (book/01_scaling_laws.ipynb), drawn from a finished run."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FixedLocator, NullFormatter, ScalarFormatter

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


def _loss_ticks(*axes) -> None:
    """Plain tick labels on a log loss axis that spans less than a decade (0.2, 0.3, ...)."""
    for ax in axes:
        ax.yaxis.set_major_locator(FixedLocator([0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0]))
        ax.yaxis.set_major_formatter(ScalarFormatter())
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
    first = s["approach_1"]
    if first["a"] is not None:
        right.step(first["C"], first["N_opt"], where="mid", color="#0072B2", lw=1.2,
                   label=f"Approach 1 (lowest loss at each C): a = {first['a']:.2f}")
    used = [sl for sl in iso["slices"] if sl["vertex_N"] and sl["interior_minimum"]]
    right.plot([sl["C"] for sl in used], [sl["vertex_N"] for sl in used], "s", color="black",
               label=f"Approach 2 (parabola vertices): a = {iso['a']:.2f}" if iso["a"] is not None else "Approach 2")
    right.plot(frontier["C"], frontier["N_opt"], color="#D55E00", lw=2,
               label=f"Approach 3 (fit): a = {frontier['a']:.2f}" + (f" [{frontier['a_interval'][0]:.2f}, {frontier['a_interval'][1]:.2f}]"
                                                                 if frontier.get("a_interval") else ""))
    right.plot([sl["C"] for sl in iso["slices"] if sl["argmin_N"]],
               [sl["argmin_N"] for sl in iso["slices"] if sl["argmin_N"]], "x", color="grey",
               label="best width on the grid")
    right.set(xscale="log", yscale="log", xlabel="compute C (FLOPs)", ylabel="N_opt",
              title="the compute-optimal frontier N_opt ∝ C^a")
    right.legend(fontsize=8)
    _plain_log_ticks(left, right)
    _loss_ticks(left)
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


def plot_quanta(run: Run):
    """The quantization model's mechanism.  Left: the step at which each skill is learned (the
    widest models, every seed) against its frequency, with the fitted slope and the predicted -1.
    Right: how many skills each width has learned by the end, against N."""
    s = run.summary
    q, law = s["quanta"], s["quanta"]["learning_step"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    p, t = np.array(law["p"]), np.array(law["step"])
    left.plot(p, t, "o", color="#0072B2", ms=4, alpha=0.8,
              label=f"a skill reaches {law['threshold']:.0%} accuracy (width {s['widths'][-1]}, every seed)")
    if law["slope"] is not None:
        p_fine = np.geomspace(p.min(), p.max(), 50)
        lo, hi = law["interval"]
        left.plot(p_fine, np.exp(law["intercept"]) * p_fine ** law["slope"], color="#D55E00", lw=2,
                  label=f"fit: slope {law['slope']:.2f} (95 % interval {lo:.2f} to {hi:.2f})")
        middle = np.exp(np.mean(np.log(t))) * (p_fine / np.exp(np.mean(np.log(p)))) ** -1.0
        left.plot(p_fine, middle, color="grey", ls="--", lw=1, label="quantization model: slope -1")
    left.set(xscale="log", yscale="log", xlabel="skill frequency p_i", ylabel="step at which it is learned",
             title=f"rare skills are learned late ({law['n_censored']} of "
                   f"{law['n_censored'] + law['n_learned']} never, within the run)")
    N, learned = np.array(s["N"]), np.array(q["skills_learned"])
    right.plot(N, learned, "s-", color="black", label="skills at >= 90 % accuracy at the end (mean over seeds)")
    if q["skills_vs_N"]:
        fit = q["skills_vs_N"]
        right.plot(N, np.exp(fit["intercept"]) * N ** fit["slope"], color="#D55E00", lw=1.5,
                   label=f"fit: skills ∝ N^{fit['slope']:.2f}")
    right.set(xscale="log", yscale="log", xlabel="N (parameters)", ylabel="skills learned",
              title="bigger models hold more skills")
    for ax in (left, right):
        ax.legend(fontsize=8)
    _plain_log_ticks(left, right)
    return fig


def plot_loss_vs_compute(run: Run):
    """Kaplan's picture: every width's loss against compute C = 6 N D, and their lower envelope,
    the compute-efficient frontier (Approach 1 reads the best width off it at each C)."""
    s = run.summary
    fig, ax = plt.subplots(figsize=(7, 4.2))
    D, N = np.array(s["D"]), np.array(s["N"])
    for color, w, n, row in zip(_width_colors(len(N)), s["widths"], N, np.array(s["loss_table"])):
        ax.plot(6 * n * D, row, color=color, lw=1.3, label=f"width {w}")
    first = s["approach_1"]
    ax.plot(first["C"], first["L"], color="black", lw=3, alpha=0.5,
            label=f"envelope: L ∝ C^{first['L_exponent']:.2f}" if first["L_exponent"] else "envelope")
    ax.axhline(s["loss_floor"], color="grey", ls=":", lw=1)
    ax.set(xscale="log", yscale="log", xlabel="compute C = 6ND (FLOPs)", ylabel="test loss",
           title="loss against compute: the lower envelope is the frontier")
    ax.legend(fontsize=8)
    _plain_log_ticks(ax)
    _loss_ticks(ax)
    return fig


def plot_schedules(run: Run):
    """The same widths at the same budgets under two rules.  Left: loss against D (constant
    learning rate read off one run, dashed; one cosine run per budget, solid).  Right: the
    compute-optimal frontier each rule's Approach-3 fit implies."""
    s, schedules = run.summary, run.summary["schedules"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    D = np.array(schedules["D"])
    for color, w, const, cos in zip(_width_colors(len(s["N"])), s["widths"], schedules["constant"]["loss_table"],
                                    schedules["cosine"]["loss_table"]):
        left.plot(D, const, "--", color=color, lw=1)
        left.plot(D, cos, "o-", color=color, lw=1.5, ms=4, label=f"width {w}")
    left.set(xscale="log", yscale="log", xlabel="D (training examples)", ylabel="test loss",
             title="dashed: one constant-lr run; solid: a cosine run per budget")
    left.legend(fontsize=8)
    C = np.geomspace(6 * s["N"][0] * D[0], 6 * s["N"][-1] * D[-1], 50)
    for name, color in (("constant", "#0072B2"), ("cosine", "#D55E00")):
        fit = schedules[name]["fit"]
        if fit:
            f = compute_optimal(C, **{k: fit[k] for k in ("E", "A", "B", "alpha", "beta")})
            right.plot(C, f["N_opt"], color=color, lw=2, label=f"{name}: N_opt ∝ C^{f['a']:.2f}")
    right.set(xscale="log", yscale="log", xlabel="compute C (FLOPs)", ylabel="N_opt",
              title="the frontier each rule implies (Approach 3)")
    right.legend(fontsize=8)
    _plain_log_ticks(left, right)
    _loss_ticks(left)
    return fig
