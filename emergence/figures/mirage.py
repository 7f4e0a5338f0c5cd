"""Figures of the mirage chapter (book/02_mirage.ipynb), drawn from a finished run."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from emergence.run import Run


def _normalised(values):
    v = np.asarray(values, dtype=float)
    return (v - v[0]) / (v[-1] - v[0])


def plot_analytic(run: Run):
    """Panel A: the toy.  Top: what the model does (CE, p).  Bottom: four ways to score it."""
    h, s = run.history, run.summary["analytic"]
    N = h["analytic_N"].numpy()
    lengths = run.config["lengths"]
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.5))
    axes[0, 0].plot(N, h["analytic_ce"], color="#0072B2")
    axes[0, 0].set(yscale="log", ylabel="per-token cross-entropy", title="the model: a smooth power law")
    axes[0, 1].plot(N, h["analytic_p"], color="#0072B2")
    axes[0, 1].set(ylabel="p(token right) = exp(-CE)", title="per-token success")
    colors = plt.cm.viridis(np.linspace(0.05, 0.9, len(lengths)))
    for color, L, em, ted in zip(colors, lengths, h["analytic_exact_match"], h["analytic_edit_distance"]):
        axes[1, 0].plot(N, em, color=color, label=f"L = {L}")
        axes[1, 1].plot(N, ted, color=color, label=f"L = {L}")
    axes[1, 0].set(ylabel="exact match = p^L", title="discontinuous: looks emergent")
    axes[1, 1].set(ylabel="token edit distance = L(1 - p)", title="continuous: smooth")
    axes[1, 0].legend(fontsize=7)
    axes[0, 2].plot(N, h["analytic_mc_grade"], color="#D55E00")
    axes[0, 2].set(ylabel="multiple-choice grade", title=f"{run.config['n_options']}-way multiple choice")
    axes[1, 2].plot(N, h["analytic_brier"], color="#009E73")
    axes[1, 2].set(ylabel="Brier score", title="the same items, Brier")
    for ax in axes.flat:
        ax.set_xscale("log")
        ax.set_xlabel("model size N")
    for ax in (axes[1, 0], axes[1, 1]):
        ax.axvline(10 ** s["x50_discrete"], color="#D55E00", ls=":", lw=1)
        ax.axvline(10 ** s["x50_continuous"], color="#009E73", ls=":", lw=1)
    return fig


def plot_lag_by_length(run: Run):
    """How far exact match trails edit distance, for every target length."""
    rows = run.summary["analytic"]["per_length"]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot([r["length"] for r in rows], [r["lag"] for r in rows], "o-", color="#D55E00")
    ax.set(xlabel="target length L", ylabel="lag (decades of N)",
           title="x50(exact match) - x50(edit distance)")
    return fig


def plot_digits(run: Run):
    """Panel B: every metric against training-set size, and subset accuracy against acc^L."""
    h, s = run.history, run.summary["digits"]
    n = h["digits_n"].numpy()
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    for name, color, label in (("cross_entropy", "#0072B2", "cross-entropy"), ("brier", "#009E73", "Brier"),
                               ("accuracy", "#E69F00", "accuracy")):
        v = h[f"digits_{name}"].numpy()
        axes[0].plot(n, _normalised(v.mean(1)), "o-", color=color, label=label)
    L = s["subset_length"]
    axes[0].plot(n, _normalised(h[f"digits_subset_{L}"].numpy().mean(1)), "s-", color="#D55E00",
                 label=f"subset accuracy, L = {L}")
    axes[0].set(xscale="log", xlabel="training images n", ylabel="fraction of total change",
                title="same models, four metrics")
    axes[0].legend(fontsize=7)
    colors = plt.cm.viridis(np.linspace(0.05, 0.85, len(run.config["subset_lengths"])))
    for ax, yscale in ((axes[1], "linear"), (axes[2], "log")):
        for color, k in zip(colors, run.config["subset_lengths"]):
            v = h[f"digits_subset_{k}"].numpy()
            ax.plot(n, v.mean(1), "o", color=color, label=f"measured, L = {k}")
            ax.plot(n, h[f"digits_predicted_subset_{k}"], "-", color=color, lw=1, label=f"acc^{k}")
        ax.set(xscale="log", yscale=yscale, xlabel="training images n", ylabel="subset accuracy")
    axes[1].set_title("subset accuracy and acc^L")
    axes[2].set_title("the same, log y: small n is not zero")
    axes[1].legend(fontsize=7)
    return fig


def plot_skills(run: Run, n_tasks: int = 8):
    """Panel C: per-skill loss and accuracy against D, and the aggregate loss."""
    h, s = run.history, run.summary["skills"]
    D = h["skills_D"].numpy()
    loss, acc = h["skills_task_loss"].numpy(), h["skills_task_accuracy"].numpy()
    fig, (ax_loss, ax_acc, ax_all) = plt.subplots(1, 3, figsize=(12, 3.8))
    colors = plt.cm.viridis(np.linspace(0.05, 0.9, n_tasks))
    for t, color in enumerate(colors):
        ax_loss.plot(D, loss[:, t], color=color, label=f"skill {t + 1}")
        ax_acc.plot(D, acc[:, t], color=color)
    ax_all.plot(D, h["skills_aggregate_loss"], color="black", lw=2, label="aggregate (p-weighted)")
    ax_loss.set(ylabel="test loss of the skill (nats)", title="continuous metric: sharp too")
    ax_acc.set(ylabel="accuracy of the skill", title="discontinuous metric")
    ax_all.set(ylabel="aggregate test loss", yscale="log", title=f"width {s['width']} (first seed): the sum is smooth")
    ax_loss.legend(fontsize=7)
    for ax in (ax_loss, ax_acc, ax_all):
        ax.set(xscale="log", xlabel="D (training examples)")
    return fig


def plot_compare(run: Run):
    """One figure per panel: the headline discrete and continuous metrics, each normalised to its
    own total change, against log scale.  A mirage: the continuous curve is far ahead.  Genuine:
    they move together."""
    h, s = run.history, run.summary
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    i = run.config["lengths"].index(run.config["length"])
    L = run.config["subset_length"]
    panels = [
        (h["analytic_N"].numpy(), h["analytic_exact_match"][i].numpy(), h["analytic_edit_distance"][i].numpy(),
         f"A: exact match vs edit distance (L = {run.config['length']})", "N", s["analytic"]["lag"]),
        (h["digits_n"].numpy(), h[f"digits_subset_{L}"].numpy().mean(1), h["digits_cross_entropy"].numpy().mean(1),
         f"B: subset accuracy (L = {L}) vs CE", "training images n", s["digits"]["lag"]),
        (h["skills_D"].numpy(), h["skills_task_accuracy"][:, 0].numpy(), h["skills_task_loss"][:, 0].numpy(),
         "C: skill 1, accuracy vs loss", "D", s["skills"]["skills"][0]["lag"]),
    ]
    for ax, (x, discrete, continuous, title, xlabel, gap) in zip(axes, panels):
        ax.plot(x, _normalised(discrete), color="#D55E00", lw=2, label="discrete")
        ax.plot(x, _normalised(continuous), color="#009E73", lw=2, label="continuous")
        ax.axhline(0.5, color="grey", lw=0.6, ls=":")
        ax.set(xscale="log", xlabel=xlabel, ylabel="fraction of total change",
               title=f"{title}\nlag {gap:+.2f} decades")
        ax.legend(fontsize=7)
    return fig


def plot_answer(run: Run):
    """Panel B, the tokens of one answer: the digit's 4-bit code scored token by token, its exact
    match against the product of the per-token accuracies (what independent errors would give)."""
    h, s = run.history, run.summary["digits"]["answer"]
    n = h["digits_n"].numpy()
    mean = lambda name: h[f"digits_{name}"].numpy().mean(1)
    fig, (ax, ax_gap) = plt.subplots(1, 2, figsize=(11, 3.8))
    ax.plot(n, mean("accuracy"), "o-", color="#E69F00", label="digit accuracy (one token)")
    ax.plot(n, mean("answer_exact_match"), "s-", color="#D55E00", label=f"exact match of the {s['length']}-bit code")
    ax.plot(n, mean("answer_product_of_accuracies"), "--", color="#0072B2",
            label="product of the per-bit accuracies (independent errors)")
    ax.plot(n, mean("answer_mean_token_accuracy"), ":", color="#009E73", label="mean per-bit accuracy")
    ax.set(xscale="log", xlabel="training images n", ylabel="score on the test images",
           title="one answer of several tokens")
    ax.legend(fontsize=7)
    gap = h["digits_answer_exact_match"].numpy() - h["digits_answer_product_of_accuracies"].numpy()
    for j in range(gap.shape[1]):
        ax_gap.plot(n, gap[:, j], "o", color="#D55E00", alpha=0.5, ms=4, label="one seed" if j == 0 else None)
    ax_gap.plot(n, gap.mean(1), "-", color="#D55E00", label="mean over seeds")
    ax_gap.axhline(0, color="grey", lw=0.8)
    ax_gap.set(xscale="log", xlabel="training images n", ylabel="exact match - product of accuracies",
               title="errors shared by the tokens of one answer")
    ax_gap.legend(fontsize=7)
    return fig


def plot_skills_vs_scale(run: Run, n_skills: int = 4):
    """Panel C against scale, Wei et al.'s Figure 2 from our own models.  Top: a skill's accuracy
    against training compute C = 6 N D, one line per model size over training, its last
    evaluation a dot.  Bottom: the first seed's accuracy and loss at the end against N, each
    normalised to its own change, with the rule's verdict."""
    h, c = run.history, run.summary["skills"]
    N, D = h["skills_N"].numpy(), h["skills_D"].numpy()
    acc, loss = h["skills_grid_accuracy"].numpy(), h["skills_grid_loss"].numpy()   # (points, seeds, widths, tasks)
    rows = [r for r in c["by_N"]["skills"] if r["seed_index"] == 0][:n_skills]
    fig, axes = plt.subplots(2, max(1, len(rows)), figsize=(3 * max(1, len(rows)), 6), squeeze=False)
    colors = plt.cm.viridis(np.linspace(0.05, 0.9, len(N)))
    for col, r in enumerate(rows):
        t, top, bottom = r["task"], axes[0, col], axes[1, col]
        for w, color in enumerate(colors):
            top.plot(6 * N[w] * D, acc[:, 0, w, t], color=color, lw=1, alpha=0.7,
                     label=f"N = {N[w]:,.0f}" if col == 0 else None)
            top.plot(6 * N[w] * D[-1], acc[-1, 0, w, t], "o", color=color)
        top.set(xscale="log", ylim=(0.4, 1.02), xlabel="training compute C = 6ND", title=f"skill {t + 1}")
        bottom.plot(N, _normalised(acc[-1, 0, :, t]), "o-", color="#D55E00", label="accuracy")
        bottom.plot(N, _normalised(loss[-1, 0, :, t]), "s-", color="#009E73", label="loss")
        bottom.set_xscale("log")
        bottom.set_xticks(N, [f"{n:,.0f}" for n in N], rotation=45, fontsize=7)
        bottom.minorticks_off()
        bottom.set(xlabel="model size N (end of training)",
                   title=f"lag {r['lag']:+.2f} dec (grid {r['resolution']:.2f}): {r['verdict']}")
    axes[0, 0].set_ylabel("accuracy of the skill")
    axes[1, 0].set_ylabel("fraction of total change")
    axes[0, 0].legend(fontsize=6)
    axes[1, 0].legend(fontsize=7)
    return fig
