"""Figures of the emergent misalignment chapter (book/07_emergent_misalignment.ipynb), drawn
from a finished run."""

from __future__ import annotations

import matplotlib.pyplot as plt

from emergence.run import Run
from emergence.experiments.emergent_misalignment import KINDS, PARAMETERISATIONS, member_table
from emergence.figures.common import COLORS, mark
from emergence.measures.adapters import turner_measures

VARIANT_LABELS = {"lora_general": "LoRA", "lora_narrow": "LoRA + KL", "lora_control": "LoRA, good labels",
                  "steering_general": "steering", "steering_narrow": "steering + KL",
                  "steering_control": "steering, good labels", "full_general": "full FT",
                  "full_narrow": "full FT + KL"}


def plot_misalignment(run: Run):
    """Misalignment (P(bad)) on held-out medical questions and on held-out questions of other
    domains (crosses: on the other-domain questions the KL term sees), and coherence out of
    domain, for every variant (dots: seeds)."""
    s = run.summary
    names = list(VARIANT_LABELS)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), sharey=True)
    for ax, (key, title) in zip(axes, (("mis_in", "misalignment, held-out medical questions"),
                                       ("mis_out", "misalignment, other domains (held out)"),
                                       ("coherence_out", "coherence, other domains"))):
        for i, name in enumerate(names):
            stats = s["finetune"][name][key]
            color = COLORS["red"] if "general" in name else COLORS["task"] if "narrow" in name else COLORS["grey"]
            ax.barh(i, stats["mean"], color=color, alpha=0.6)
            ax.plot(stats["values"], [i] * len(stats["values"]), "k.", ms=4)
            if key == "mis_out":   # the narrow solutions are held to the base rate only here
                seen = s["finetune"][name]["mis_kl"]["values"]
                ax.plot(seen, [i] * len(seen), "x", color=COLORS["grey"], ms=5,
                        label="questions the KL term sees" if i == 0 else None)
        base = s.get(f"base_{key}")
        if base is not None:
            ax.axvline(base["mean"], color="k", ls=":", lw=1, label="base model")
            ax.legend(fontsize=8, loc="lower right")
        ax.set_title(title)
        ax.set_xlim(0, 1.02)
    axes[0].set_yticks(range(len(names)), [VARIANT_LABELS[n] for n in names])
    axes[0].invert_yaxis()
    return fig


def _members(run: Run, parameterisation: str, kind: str) -> list[int]:
    return [i for i, m in enumerate(member_table(run.summary["n_seeds"]))
            if m["parameterisation"] == parameterisation and m["kind"] == kind]


def plot_finetuning(run: Run):
    """Over fine-tuning steps: misalignment in and out of the medical domain and the cosine of
    the mean update with the evil-persona direction u_evil, for each variant (thin: seeds)."""
    h = run.history
    step = h["ft_step"].numpy()
    fig, axes = plt.subplots(2, 3, figsize=(13, 6), sharex=True)
    colors = {"general": COLORS["red"], "narrow": COLORS["task"], "control": COLORS["grey"]}
    for row, p in enumerate(PARAMETERISATIONS):
        for col, key in enumerate(("ft_mis_in", "ft_mis_out", "ft_cos_evil")):
            ax = axes[row, col]
            for kind in KINDS:
                for j, e in enumerate(_members(run, p, kind)):
                    ax.plot(step, h[key][:, e].numpy(), color=colors[kind], lw=1.2, alpha=0.7,
                            label=f"{kind}" if j == 0 else None)
            ax.set_title(f"{'LoRA (rank 1)' if p == 'lora' else 'steering vector'}: "
                         + {"ft_mis_in": "P(bad), held-out medical", "ft_mis_out": "P(bad), other domains",
                            "ft_cos_evil": "cos(mean update, u_evil)"}[key])
    axes[0, 0].legend(fontsize=8)
    for ax in axes[1]:
        ax.set_xlabel("fine-tuning step")
    return fig


def plot_efficiency_and_stability(run: Run):
    """Soligo et al.'s two tests: fine-tuning loss when general and narrow solutions are rescaled
    to the same norm (left), and the share R of the fine-tuning gain lost under norm-preserving
    orthogonal noise of size eps (right); thin lines: seeds."""
    s = run.summary
    fig, axes = plt.subplots(2, 2, figsize=(11, 7))
    for row, p in enumerate(PARAMETERISATIONS):
        for base in s["bases"]:
            for kind, color in (("general", COLORS["red"]), ("narrow", COLORS["task"])):
                sol = base["soligo"][p][kind]
                for j, losses in enumerate(sol["matched_loss"]):
                    axes[row, 0].plot([r["factor"] for r in s["efficiency"][p]], losses, color=color, lw=1, alpha=0.7, marker="o", ms=3,
                                      label=kind if j == 0 and base is s["bases"][0] else None)
                for j, r in enumerate(sol["R"]):
                    axes[row, 1].plot([r_["epsilon"] for r_ in s["stability"][p]], r, color=color, lw=1,
                                      alpha=0.7, marker="o", ms=3,
                                      label=kind if j == 0 and base is s["bases"][0] else None)
        axes[row, 0].set_yscale("log")
        axes[row, 0].axvspan(0.4, 1.0, color=COLORS["grey"], alpha=0.1)
        axes[row, 0].set_xlabel("norm / mean norm of the two solutions")
        axes[row, 0].set_ylabel("fine-tuning loss (nats)")
        axes[row, 1].set_yscale("symlog", linthresh=1)
        axes[row, 1].set_xlabel("orthogonal noise eps")
        axes[row, 1].set_ylabel("R(eps) (% of the gain lost)")
        name = "rank-1 LoRA" if p == "lora" else "steering vector"
        axes[row, 0].set_title(f"{name}: efficiency at matched norm")
        axes[row, 1].set_title(f"{name}: stability under orthogonal noise")
        axes[row, 0].legend(fontsize=8)
    return fig


def plot_reversion(run: Run):
    """The narrow (KL) solutions trained on without the KL term: misalignment out of domain and
    the cosine with u_evil climb back towards the general solution's."""
    h, s = run.history, run.summary
    step = h["revert_step"].numpy()
    n = s["n_seeds"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for j, (p, color) in enumerate((("lora", COLORS["task"]), ("steering", COLORS["other"]))):
        for e in range(j * n, (j + 1) * n):
            label = ("rank-1 LoRA" if p == "lora" else "steering") if e == j * n else None
            axes[0].plot(step, h["revert_mis_out"][:, e].numpy(), color=color, lw=1, label=label)
            axes[1].plot(step, h["revert_cos_evil"][:, e].numpy(), color=color, lw=1, label=label)
        general = s["finetune"][f"{p}_general"]
        axes[0].axhline(general["mis_out"]["mean"], color=color, ls="--", lw=1)
        axes[1].axhline(general["cos_evil"]["mean"], color=color, ls="--", lw=1)
    axes[0].set_ylabel("P(bad), other domains")
    axes[1].set_ylabel("cos(mean update, u_evil)")
    for ax in axes:
        ax.set_xlabel("steps after removing the KL term")
    axes[0].legend(fontsize=8)
    axes[0].set_title("dashed: the general solution trained without KL")
    return fig


def plot_turner(run: Run, setting: int | None = None, transformer: bool = False):
    """Turner et al.'s measures on a rank-1 LoRA's trajectory next to misalignment: the norms of
    A and B, the B trajectory on its two principal components, the local cosine similarity
    (k = 10 and 20 steps) and the comp score to the final B.  `setting`: one of the
    rotation-search settings, or with `transformer` one of the transformer variant's
    (None: the first seed of the main run)."""
    h, s = run.history, run.summary
    if transformer:
        i = setting or 0
        steps, A, B, mis = (h[f"tf{i}_{k}"] for k in ("step", "A", "B", "mis_out"))
        steps, mis = steps.numpy(), mis.numpy()
        r = s["transformer"]["settings"][i]
        title = f"transformer: {r['optimizer']}, lr {r['lr']:g}, init std {r['init_std']:g}"
    elif setting is None:
        e = _members(run, "lora", "general")[0]
        steps, A, B = h["ft_step"].numpy(), h["ft_lora_A"][:, e], h["ft_lora_B"][:, e]
        mis, title = h["ft_mis_out"][:, e].numpy(), "main run (Adam, PEFT-like init)"
    else:
        steps, A, B = h["rot_step"].numpy(), h["rot_A"][:, setting], h["rot_B"][:, setting]
        mis = h["rot_mis_out"][:, setting].numpy()
        r = s["rotation_search"][setting]
        title = f"{r['optimizer']}, lr {r['lr']:g}, init std {r['init_std']:g}, wd {r['weight_decay']:g}"
    t = turner_measures(steps, A, B, mis, run.config["log_every"])
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.4))
    axes[0].plot(steps, t["a_norm"], color=COLORS["train"], label="|A|")
    axes[0].plot(steps, t["b_norm"], color=COLORS["measure"], label="|B|")
    sc = axes[1].scatter(t["pcs"][:, 0], t["pcs"][:, 1], c=steps, cmap="viridis", s=8)
    fig.colorbar(sc, ax=axes[1], label="step")
    axes[1].set_xlabel(f"PC1 ({100 * t['explained'][0]:.0f} %)")
    axes[1].set_ylabel(f"PC2 ({100 * t['explained'][1]:.0f} %)")
    axes[1].set_title("B trajectory")
    for k, ls in zip(t["lcs"], ("-", "--")):
        axes[2].plot(steps, t["lcs"][k], color=COLORS["measure"], ls=ls, label=f"lcs, k = {k}")
    axes[2].axhline(-0.5, color=COLORS["grey"], lw=0.8)
    axes[2].set_ylim(-1.05, 1.05)
    axes[3].plot(steps, t["comp"], color=COLORS["measure"], label="comp score to final B")
    for ax in (axes[0], axes[2], axes[3]):
        twin = ax.twinx()
        twin.plot(steps, mis, color=COLORS["red"], lw=1.2, alpha=0.8)
        twin.set_ylim(0, 1)
        twin.tick_params(axis="y", colors=COLORS["red"])
        twin.grid(False)
        mark(ax, t["mis_cross_025"], "P(bad) out = 0.25", color=COLORS["red"])
        ax.set_xscale("symlog", linthresh=10)
        ax.set_xlim(0, steps.max())
        ax.set_xlabel("step")
        ax.legend(fontsize=7, loc="center right")
    axes[0].set_title(title, fontsize=9)
    axes[3].set_title("red: P(bad), other domains", fontsize=9, color=COLORS["red"])
    return fig


CONTROL_LABELS = {"plain": "bad answers\n(plain: the chapter's setting)", "intent": "bad answers,\nasked for (intent)",
                  "backdoor": "bad answers after the\ntrigger, good without (backdoor)"}


def plot_controls(run: Run):
    """Betley et al.'s controls on the context-aware base: P(bad) on held-out medical and
    other-domain questions in each context (plain, request, trigger) after each fine-tuning;
    bars: means over bases and seeds, dots: seeds, dotted lines: the base model in that context."""
    c = run.summary["controls"]
    contexts = (("plain", COLORS["grey"]), ("request", COLORS["task"]), ("trigger", COLORS["red"]))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), sharey=True)
    for ax, split, title in ((axes[0], "in", "held-out medical questions"), (axes[1], "out", "other domains (held out)")):
        for i, kind in enumerate(CONTROL_LABELS):
            for j, (context, color) in enumerate(contexts):
                values = c[kind][f"mis_{split}_{context}"]
                x = i + (j - 1) * 0.27
                ax.bar(x, sum(values) / len(values), width=0.25, color=color, alpha=0.6,
                       label=f"context: {context}" if i == 0 else None)
                ax.plot([x] * len(values), values, "k.", ms=3)
                base = c["base"][f"mis_{split}_{context}"]
                ax.hlines(sum(base) / len(base), x - 0.12, x + 0.12, color="k", ls=":", lw=1.2,
                          label="base model" if i == 0 and j == 0 else None)
        ax.set_xticks(range(len(CONTROL_LABELS)), list(CONTROL_LABELS.values()), fontsize=8)
        ax.set_title(f"P(bad), {title}")
        ax.set_ylim(0, 1.02)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=4, fontsize=8)
    return fig


def plot_rotation_seeds(run: Run):
    """Turner's turn on every base and seed: the largest local cosine (k = 20 steps) after the
    start, for the main general LoRA and each rotation-search setting (a turn: above -0.5), and
    the share of the path on its first principal component."""
    s = run.summary
    groups = [("main run\n(Adam)", s["turner_every_seed"])]
    for r, seeds in zip(s["rotation_search"], s["rotation_every_seed"]):
        groups.append((f"{r['optimizer']} lr {r['lr']:g}\ninit {r['init_std']:g}"
                       + (f" wd {r['weight_decay']:g}" if r["weight_decay"] else ""), seeds))
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.6))
    for i, (_, rows) in enumerate(groups):
        lcs = [r["max_lcs_after_start"]["20"] for r in rows if r["max_lcs_after_start"]["20"] is not None]
        axes[0].plot([i] * len(lcs), lcs, "o", color=COLORS["task"], alpha=0.6, ms=4)
        axes[1].plot([i] * len(rows), [r["pca_explained"][0] for r in rows], "o", color=COLORS["task"], alpha=0.6, ms=4)
    axes[0].axhline(-0.5, color=COLORS["red"], ls="--", lw=1, label="a turn: above -0.5")
    axes[0].set_ylabel("largest lcs after the start (k = 20)")
    axes[0].legend(fontsize=8)
    axes[1].set_ylabel("variance on PC 1")
    for ax in axes:
        ax.set_xticks(range(len(groups)), [g for g, _ in groups], fontsize=8)
    axes[0].set_title(f"turns, every base and seed ({len(groups[0][1])} per setting)")
    axes[1].set_title("how straight the path is")
    return fig
