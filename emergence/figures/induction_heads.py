"""Figures of the induction heads chapter (book/05_induction_heads.ipynb), drawn from a finished run."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from emergence.run import Run
from emergence.figures.common import COLORS, llc_panel


def _shade_drop(ax, s: dict) -> None:
    if s.get("drop_start") is not None:
        ax.axvspan(s["drop_start"], s["drop_end"], color=COLORS["grey"], alpha=0.15, lw=0)


def plot_phase_change(run: Run):
    """Top: in-context loss of every seed and of the control; middle: the ICL score;
    bottom: the best previous-token (layer 1) and prefix-matching (last layer) scores."""
    h, s = run.history, run.summary
    steps = h["step"].numpy()
    fig, axes = plt.subplots(3, 1, figsize=(7.5, 7.2), sharex=True)
    for e, seed in enumerate(s["seeds"]):
        bold = dict(lw=2.0, alpha=1.0) if e == 0 else dict(lw=1.0, alpha=0.45)
        label = (lambda text: text if e == 0 else None)
        axes[0].plot(steps, h["loss_repeat"][:, e], color=COLORS["task"], **bold,
                     label=label(f"{run.config['n_layers']}-layer, copied tokens"))
        axes[0].plot(steps, h["loss_other"][:, e], color=COLORS["other"], **bold,
                     label=label("other tokens"))
        if "control_loss_repeat" in h:
            axes[0].plot(steps, h["control_loss_repeat"][:, e], color=COLORS["train"], **bold,
                         label=label(f"{run.config['control_layers']}-layer control, copied tokens"))
        axes[1].plot(steps, h["icl_score"][:, e], color=COLORS["task"], **bold,
                     label=label(f"{run.config['n_layers']}-layer"))
        if "control_icl_score" in h:
            axes[1].plot(steps, h["control_icl_score"][:, e], color=COLORS["train"], **bold,
                         label=label(f"{run.config['control_layers']}-layer control"))
        prev_head, prefix_head = seed["best_prev_token_head"], seed["best_prefix_matching_head"]
        axes[2].plot(steps, h["prev_token"][:, e, 0, prev_head], color=COLORS["measure"], **bold,
                     label=label("previous-token score, best layer-1 head"))
        axes[2].plot(steps, h["prefix_matching"][:, e, -1, prefix_head], color=COLORS["red"], **bold,
                     label=label("prefix-matching score, best last-layer head"))
    axes[0].axhline(np.log(run.config["vocab"]), color=COLORS["grey"], ls="--", lw=1)
    axes[0].set_ylabel("loss (nats)")
    axes[0].set_title("bold: seed %d; faint: the other seeds; shaded: its drop" % s["seed"])
    axes[1].axhline(0, color=COLORS["grey"], lw=1)
    axes[1].set_ylabel("ICL score (nats)\nlate − early")
    axes[2].set_ylabel("attention score")
    axes[2].set_xlabel("training step")
    for ax in axes:
        _shade_drop(ax, s)
        ax.legend(fontsize=8, loc="best")
    return fig


def plot_every_head(run: Run, member: int = 0):
    """Each head's three scores over training, one panel per layer (one member)."""
    h, s = run.history, run.summary["seeds"][member]
    steps = h["step"].numpy()
    n_layers, n_heads = h["prev_token"].shape[2:]
    fig, axes = plt.subplots(1, n_layers, figsize=(4.2 * n_layers, 3.4), sharey=True, squeeze=False)
    styles = {"prev_token": ("previous-token", COLORS["measure"]),
              "prefix_matching": ("prefix-matching", COLORS["red"]),
              "copying": ("copying (OV eigenvalues)", COLORS["sky"])}
    for layer, ax in enumerate(axes[0]):
        for name, (label, color) in styles.items():
            for head in range(n_heads):
                ax.plot(steps, h[name][:, member, layer, head], color=color,
                        ls=["-", "--", ":", "-."][head % 4], lw=1.4,
                        label=f"{label}, head {head}")
        _shade_drop(ax, s)
        ax.set_title(f"layer {layer + 1} (blocks.{layer})")
        ax.set_xlabel("training step")
    axes[0][0].set_ylabel("score")
    axes[0][-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return fig


def frame_indices(run: Run, n: int = 6) -> list[int]:
    """Checkpoints worth showing: init, the plateau, the drop's start, midpoint and end, last."""
    ck = run.history["checkpoint_step"].numpy()
    s = run.summary
    wanted = [0, ck[-1]]
    if s.get("drop_start") is not None:
        wanted += [s["drop_start"] / 2, s["drop_start"], s["drop_midpoint"], s["drop_end"]]
    return sorted({int(np.argmin(np.abs(ck - w))) for w in wanted})[:n]


def plot_attention(run: Run, index: int, ax_row=None, heads: tuple[int, int] | None = None):
    """The best previous-token head (layer 1) and the best prefix-matching head (last layer)
    of the headline seed at checkpoint `index`, on the probe: BOS + a random block repeated."""
    h, s = run.history, run.summary
    heads = heads or (s["best_prev_token_head"], s["best_prefix_matching_head"])
    frame = h["attention_frames"][index]
    if ax_row is None:
        fig, ax_row = plt.subplots(1, 2, figsize=(7, 3.4))
    else:
        fig = ax_row[0].figure
    step = int(h["checkpoint_step"][index])
    for ax, layer, head in ((ax_row[0], 0, heads[0]), (ax_row[1], -1, heads[1])):
        ax.imshow(frame[layer, head].numpy(), cmap="magma_r", vmin=0, vmax=1, interpolation="nearest")
        name = f"L{layer % frame.shape[0] + 1}H{head}"
        ax.set_title(f"step {step}: {name}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


def plot_attention_grid(run: Run):
    """Small multiples: columns are checkpoints through the phase change, rows the two heads."""
    picks = frame_indices(run)
    fig, axes = plt.subplots(2, len(picks), figsize=(2.2 * len(picks), 4.6), squeeze=False)
    for col, index in enumerate(picks):
        plot_attention(run, index, ax_row=axes[:, col])
    axes[0][0].set_ylabel("previous-token head\n(query ↓, key →)", fontsize=8)
    axes[1][0].set_ylabel("induction head", fontsize=8)
    return fig


def plot_position_loss(run: Run, member: int = 0):
    """Loss at each position of the held-out sequences, at a few steps through the drop."""
    h, s = run.history, run.summary["seeds"][member]
    steps = h["step"].numpy()
    wanted = [steps[1], steps[-1]]
    if s.get("drop_start") is not None:
        wanted[1:1] = [s["drop_start"], s["drop_midpoint"], s["drop_end"]]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(wanted)))
    for color, step in zip(colors, wanted):
        row = int(np.argmin(np.abs(steps - step)))
        ax.plot(h["position_loss"][row, member], color=color, label=f"step {int(steps[row])}")
    for name, color in (("icl_early", COLORS["grey"]), ("icl_late", COLORS["grey"])):
        a, b = run.config[name]
        ax.axvspan(a, b - 1, color=color, alpha=0.12, lw=0)
    ax.set_xlabel("position in the sequence (shaded: the ICL score's early and late positions)")
    ax.set_ylabel("loss (nats)")
    ax.legend(fontsize=8)
    return fig


def plot_ablation(run: Run, member: int = 0):
    """In-context loss with each head zeroed, patterns frozen and free, against the clean
    model, the model with every last-layer head zeroed, and the plateau it came down from."""
    h, s = run.history, run.summary["seeds"][member]
    ablation = h["ablation"][member]                   # (L, H, 2)
    L, H, _ = ablation.shape
    names = [f"L{l + 1}H{k}" for l in range(L) for k in range(H)]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    ax.bar(x - 0.2, ablation[..., 0].flatten(), 0.4, color=COLORS["task"], label="patterns frozen")
    ax.bar(x + 0.2, ablation[..., 1].flatten(), 0.4, color=COLORS["train"], label="patterns free")
    ax.axhline(s["final_loss_repeat"], color=COLORS["measure"], lw=1.5, label="no ablation")
    if s.get("ablated_last_layer_loss_repeat") is not None:
        ax.axhline(s["ablated_last_layer_loss_repeat"], color=COLORS["red"], ls=":", lw=1.5,
                   label=f"every layer-{L} head zeroed")
    if s.get("loss_repeat_at_drop_start") is not None:
        ax.axhline(s["loss_repeat_at_drop_start"], color=COLORS["grey"], ls="--", lw=1,
                   label="before the drop")
    ax.set_xticks(x, names)
    ax.set_ylabel("loss on copied tokens")
    ax.legend(fontsize=8)
    return fig


def plot_llc(run: Run):
    """Top: λ̂ of the headline seed ± its spread over chains (hollow: unhealthy chains);
    middle: its copied-token and overall loss; bottom: its best heads' scores.  Shaded: the
    windows over which Δλ̂ is reported (see `emergence.measures.induction_heads.llc_window_indices`)."""
    h, s = run.history, run.summary
    llc = s["llc"]
    steps = h["step"].numpy()
    fig, axes = plt.subplots(3, 1, figsize=(7.5, 7.0), sharex=True)
    llc_panel(axes[0], h)
    axes[0].set_ylabel("LLC λ̂")
    axes[1].plot(steps, h["loss_repeat"][:, 0], color=COLORS["task"], label="copied tokens")
    axes[1].plot(steps, h["loss"][:, 0], color=COLORS["other"], label="all tokens (the LLC's loss)")
    axes[1].set_ylabel("held-out loss (nats)")
    prev_head, prefix_head = s["best_prev_token_head"], s["best_prefix_matching_head"]
    axes[2].plot(steps, h["prev_token"][:, 0, 0, prev_head], color=COLORS["measure"],
                 label=f"previous-token score, L1H{prev_head}")
    axes[2].plot(steps, h["prefix_matching"][:, 0, -1, prefix_head], color=COLORS["red"],
                 label=f"prefix-matching score, L{run.config['n_layers']}H{prefix_head}")
    axes[2].set_ylabel("attention score")
    axes[2].set_xlabel("training step")
    for ax in axes:
        _shade_drop(ax, s)
        for window, color in (("plateau", COLORS["sky"]), ("sag", COLORS["yellow"])):
            if llc.get(window):
                ax.axvspan(*llc[window]["window"], color=color, alpha=0.2, lw=0)
        ax.legend(fontsize=8, loc="best")
    axes[0].set_title(f"seed {s['seed']}; shaded: the flat plateau (blue), the sag (yellow), the drop (grey)",
                      fontsize=9)
    return fig


ORDER_COLORS = {"previous-token first": COLORS["measure"], "induction first or together": COLORS["red"],
                "no induction head": COLORS["grey"]}


def plot_head_order(run: Run):
    """Left: for each skip-bigram strength k and seed, the previous-token score when prefix
    matching begins (its onset), coloured by which score completed half its rise first (grey at
    the bottom: no induction head within the schedule); right: the drop's depth against ln k."""
    order = run.summary["head_order"]
    rows = order["members"]
    ks = sorted({r["k"] for r in rows})
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 3.6))
    jitter = {r["seed"]: 0.08 * (i - 2) for i, r in enumerate(sorted(rows, key=lambda r: r["seed"])[::len(ks)])}
    for r in rows:
        x = np.log(r["k"]) + jitter.get(r["seed"], 0) / 2
        formed = r["order"] != "no induction head"
        left.scatter(x, r["prev_token_at_prefix_onset"] if formed else 0.0, s=30,
                     marker="o" if formed else "x", color=ORDER_COLORS[r["order"]], zorder=3)
        if formed:
            right.scatter(x, r["depth"], s=30, color=ORDER_COLORS[r["order"]], zorder=3)
    for name, color in ORDER_COLORS.items():
        left.scatter([], [], color=color, marker="x" if name == "no induction head" else "o", label=name)
    left.set_ylabel("previous-token score\nat the prefix-matching onset")
    left.set_title("half-way first (colour); one mark per seed", fontsize=9)
    left.legend(fontsize=7, loc="upper right")
    right.set_ylabel("depth of the drop (nats)")
    right.set_title(f"{order['steps']} steps of {order['batch_size']} sequences, lr {order['lr']:g}", fontsize=9)
    for ax in (left, right):
        ax.set_xticks(np.log(ks), [f"k = {k}" for k in ks])
        ax.set_xlabel("skip-bigram strength (ln k: the loss the statistic alone allows)")
    return fig
