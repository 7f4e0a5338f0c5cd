"""Figures of the grokking chapter (book/06_grokking.ipynb), drawn from a finished run."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from emergence.run import Run
from emergence.figures.common import COLORS, chain_health_panel, llc_panel, log_steps, mark


def fourier_measure_name(run: Run) -> str:
    """The Fourier progress measure that fits the model: the global sparsity of the
    embedding spectrum for the transformer (few key frequencies), the per-neuron
    concentration for the MLP (which spreads its neurons over many frequencies)."""
    return "fourier_gini" if run.config["model"] == "transformer" else "neuron_concentration"


def plot_accuracy_and_loss(run: Run):
    """Train/test accuracy and loss on a log-epoch axis, every headline seed."""
    h, s = run.history, run.summary
    epoch = h["epoch"].numpy()
    seeds = [i for i, m in enumerate(s["members"]) if m["role"] == "headline"]
    fig, (acc_ax, loss_ax) = plt.subplots(1, 2, figsize=(10, 3.6))
    for i in seeds:
        style = dict(lw=2.0, alpha=1.0) if i == 0 else dict(lw=1.0, alpha=0.45)  # bold: first seed
        for ax, metric in ((acc_ax, "acc"), (loss_ax, "loss")):
            for split in ("train", "test"):
                ax.plot(epoch, h[f"{split}_{metric}"][:, i], color=COLORS["train" if split == "train" else "task"],
                        label=split if i == 0 else None, **style)
    for ax in (acc_ax, loss_ax):
        log_steps(ax, epoch)
        ax.set_xlabel("epoch (full-batch step)")
        mark(ax, s["memorize_epoch"], "memorised")
        mark(ax, s["grok_epoch"], "grokked")
    acc_ax.set_ylabel("accuracy")
    loss_ax.set_ylabel("cross-entropy")
    loss_ax.set_yscale("log")
    acc_ax.legend(loc="center left")
    acc_ax.set_title(f"{len(seeds)} seeds (bold: seed {s['seeds'][0]['seed']})")
    return fig


def plot_progress_measures(run: Run):
    """Test accuracy beside the progress measures of the first seed, x50 of each marked."""
    h, s = run.history, run.summary
    epoch, ck = h["epoch"].numpy(), h["checkpoint_epoch"].numpy()
    fourier = fourier_measure_name(run)
    fig, axes = plt.subplots(2, 2, figsize=(10, 6.4), sharex=True)
    (acc_ax, loss_ax), (fourier_ax, norm_ax) = axes
    acc_ax.plot(epoch, h["test_acc"][:, 0], color=COLORS["task"], label="test accuracy")
    acc_ax.plot(epoch, h["train_acc"][:, 0], color=COLORS["train"], label="train accuracy")
    acc_ax.set_title("the task metric")
    loss_ax.plot(ck, h["restricted_loss"], color=COLORS["measure"], lw=2, label="restricted loss")
    loss_ax.plot(ck, h["excluded_loss"], color=COLORS["other"], lw=2, label="excluded loss (train)")
    loss_ax.plot(epoch, h["test_loss"][:, 0], color=COLORS["task"], lw=1, label="test loss")
    loss_ax.plot(epoch, h["train_loss"][:, 0], color=COLORS["train"], lw=1, label="train loss")
    loss_ax.set_yscale("log")
    loss_ax.set_title(f"key frequencies {s['key_frequencies'][:8]}{' ...' if len(s['key_frequencies']) > 8 else ''}")
    label = {"fourier_gini": "Gini of the embedding's Fourier norms",
             "neuron_concentration": "neurons' share in their top frequency"}
    fourier_ax.plot(epoch, h[fourier][:, 0], color=COLORS["measure"], lw=2, label=label[fourier])
    fourier_ax.set_title("Fourier sparsity")
    norm_ax.plot(epoch, h["weight_norm"][:, 0], color=COLORS["grey"], lw=2, label="sum of squared weights")
    norm_ax.set_title("weight norm")
    for ax, name in ((loss_ax, "restricted_loss"), (fourier_ax, fourier), (norm_ax, "weight_norm")):
        mark(ax, s["x50"][name], "x50", color=COLORS["measure"])
    plateau = s.get("x50_after_memorization", {}).get("restricted_loss")
    mark(loss_ax, plateau, "x50 after E_mem", color=COLORS["measure"])
    for ax in axes.flat:
        mark(ax, s["test_acc_50_epoch"], "test acc 50 %", color=COLORS["task"])
        ax.legend(fontsize=8, loc="best")
    for ax in axes[1]:
        ax.set_xlabel("epoch")
    return fig


def plot_spectrum(run: Run):
    """The embedding's Fourier norms over training: which frequencies the model comes to use."""
    h, s = run.history, run.summary
    spectrum = h["frequency_norms"].numpy()
    ck = h["checkpoint_epoch"].numpy()
    fig, (heat_ax, final_ax) = plt.subplots(1, 2, figsize=(10, 3.6), width_ratios=[2.2, 1])
    image = heat_ax.imshow((spectrum / spectrum.max(1, keepdims=True)).T, aspect="auto", origin="lower",
                           cmap="viridis", extent=(ck[0], ck[-1], 0.5, spectrum.shape[1] + 0.5),
                           interpolation="nearest")
    fig.colorbar(image, ax=heat_ax, label="norm / max at that epoch")
    heat_ax.set_xlabel("epoch")
    heat_ax.set_ylabel("frequency k")
    mark(heat_ax, s["grok_epoch"], "grokked", color="white")
    k = np.arange(1, spectrum.shape[1] + 1)
    keys = set(s["key_frequencies"])
    final_ax.bar(k, spectrum[-1], color=["#009E73" if j in keys else "#bbbbbb" for j in k])
    final_ax.set_xlabel("frequency k")
    final_ax.set_title(f"final epoch: {len(keys)} key frequencies (green)")
    return fig


def plot_weight_decay_sweep(run: Run):
    """Test accuracy of the first seed at each weight decay."""
    h, s = run.history, run.summary
    epoch = h["epoch"].numpy()
    order = sorted((m["weight_decay"], i) for i, m in enumerate(s["members"]) if m["seed"] == s["config"]["seed"])
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(order)))
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for color, (wd, i) in zip(colors, order):
        ax.plot(epoch, h["test_acc"][:, i], color=color, lw=2, label=f"wd = {wd:g}")
    log_steps(ax, epoch)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy")
    ax.legend(title="weight decay", loc="upper left")
    return fig


def plot_llc(run: Run):
    """λ̂ of the first seed over training (mean ± spread over chains; hollow: unhealthy chains)
    beside its test accuracy and losses, and the chains' excess loss at every SGLD step."""
    h, s, llc = run.history, run.summary, run.summary["llc"]
    epoch = h["epoch"].numpy()
    fig, (llc_ax, loss_ax, trace_ax) = plt.subplots(1, 3, figsize=(14, 4.2), width_ratios=[1.3, 1.2, 1])
    llc_panel(llc_ax, h)
    llc_ax.set_ylabel("λ̂ (first seed)")
    acc_ax = llc_ax.twinx()
    acc_ax.plot(epoch, h["test_acc"][:, 0], color=COLORS["task"], lw=1, label="test accuracy")
    acc_ax.plot(epoch, h["train_acc"][:, 0], color=COLORS["train"], lw=1, label="train accuracy")
    acc_ax.set_ylim(0, 1.02)
    acc_ax.set_ylabel("accuracy")
    acc_ax.grid(False)
    acc_ax.spines["right"].set_visible(True)
    handles = [a.get_legend_handles_labels() for a in (llc_ax, acc_ax)]
    llc_ax.legend(handles[0][0] + handles[1][0], handles[0][1] + handles[1][1], fontsize=8,
                  loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    llc_ax.set_title(f"peak at epoch {llc['argmax_epoch']}; final / peak = {llc['final_over_peak']:.2f}")
    loss_ax.plot(epoch, h["test_loss"][:, 0], color=COLORS["task"], lw=1.5, label="test loss")
    loss_ax.plot(epoch, h["train_loss"][:, 0], color=COLORS["train"], lw=1.5, label="train loss")
    loss_ax.set_yscale("log")
    loss_ax.set_ylabel("cross-entropy")
    loss_ax.legend(fontsize=8, loc="center right")
    loss_ax.set_title(f"Spearman(λ̂, test loss) = {llc['spearman_test_loss']:.2f}")
    for ax in (llc_ax, loss_ax):
        ax.set_xlabel("epoch")
        mark(ax, s["memorize_epoch"], "memorised")
        mark(ax, s["test_acc_50_epoch"], "test acc 50 %", color=COLORS["task"])
        mark(ax, s["grok_epoch"], "grokked")
    chain_health_panel(trace_ax, h, llc["settings"]["burnin"], unit="epoch")
    return fig


def plot_calibration(run: Run):
    """The SGLD calibration at λ̂'s peak: the ε × nβ grid (colour: MALA acceptance; text: λ̂;
    a cross: unhealthy chains; a box: the chapter's settings), then λ̂ and the acceptance along
    the γ axis and the minibatch axis through the chosen point."""
    from emergence.measures.llc_calibration import ACCEPTANCE_MIN
    cal = run.summary["llc"]["calibration"]
    rows, chosen = cal["settings"], cal["chosen"]
    grid = [r for r in rows if r["axis"] == "epsilon x nbeta"]
    eps, nbs = sorted({r["epsilon"] for r in grid}), sorted({r["nbeta"] for r in grid})
    fig, (grid_ax, gamma_ax, batch_ax) = plt.subplots(1, 3, figsize=(14, 4.0), width_ratios=[1.2, 1, 1])
    acc = np.full((len(nbs), len(eps)), np.nan)
    for r in grid:
        i, j = nbs.index(r["nbeta"]), eps.index(r["epsilon"])
        acc[i, j] = r["acceptance"]
        grid_ax.text(j, i, f"{r['llc_mean']:.0f}" if np.isfinite(r["llc_mean"]) else "diverged", ha="center",
                     va="center", fontsize=9, color="black" if r["acceptance"] > 0.35 else "white")
        if not r["healthy"]:
            grid_ax.plot(j, i, marker="x", color="#d55e00", ms=26, mew=1.5, alpha=0.7)
        if r["epsilon"] == chosen["epsilon"] and r["nbeta"] == chosen["nbeta"]:
            grid_ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, lw=2.5, ec="black"))
    image = grid_ax.imshow(acc, origin="lower", cmap="viridis", vmin=0, vmax=1, aspect="auto")
    fig.colorbar(image, ax=grid_ax, label="MALA acceptance")
    grid_ax.set_xticks(range(len(eps)), [f"{e:.0e}" for e in eps])
    grid_ax.set_yticks(range(len(nbs)), [f"{nb:.0f}" for nb in nbs])
    grid_ax.set_xlabel("step size ε")
    grid_ax.set_ylabel("nβ")
    grid_ax.set_title(f"λ̂ at epoch {cal['epoch']} (peak), γ = {chosen['gamma']:g}")
    for ax, key, label in ((gamma_ax, "gamma", "localisation γ"), (batch_ax, "batch_size", "minibatch size")):
        line = sorted([r for r in rows if r["axis"] == key.replace("_", " ")
                       or (r["axis"] == "epsilon x nbeta" and r["epsilon"] == chosen["epsilon"]
                           and r["nbeta"] == chosen["nbeta"])], key=lambda r: r[key])
        x = [r[key] for r in line]
        ax.plot(x, [r["llc_mean"] for r in line], "o-", color=COLORS["measure"], label="λ̂")
        for r in line:
            if not r["healthy"]:
                ax.plot(r[key], r["llc_mean"], "o", mfc="white", color=COLORS["measure"])
        ax.set_xscale("log")
        ax.set_xticks(x, [f"{v:g}" for v in x])
        ax.minorticks_off()
        ax.set_xlabel(label)
        ax.set_ylabel("λ̂ (hollow: unhealthy chains)")
        twin = ax.twinx()
        twin.plot(x, [r["acceptance"] for r in line], "s--", color=COLORS["other"], label="MALA acceptance")
        twin.axhline(ACCEPTANCE_MIN, color=COLORS["other"], lw=0.8, ls=":")
        twin.set_ylim(0, 1.02)
        twin.set_ylabel("MALA acceptance")
        twin.grid(False)
        ax.axvline(chosen[key] or max(x), color="black", lw=0.8, ls=":")
        ax.set_title(f"{label} (chosen: {chosen[key] or 'full batch'})")
    return fig
