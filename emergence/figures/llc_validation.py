"""Figures of the LLC chapter (book/08_llc.ipynb), drawn from a finished run."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from emergence.run import Run


def plot_validation(run: Run):
    rows = run.summary["validation"]
    fig, ax = plt.subplots(figsize=(5, 4.5))
    markers = {"regular": "o", "normal crossing": "s", "deep linear": "^"}
    for model, marker in markers.items():
        sel = [r for r in rows if r["model"] == model]
        ax.errorbar([r["true"] for r in sel], [r["estimate"] for r in sel], yerr=[r["std"] for r in sel],
                    fmt=marker, label=model, capsize=3)
    finite = [r for r in rows if r["model"] == "normal crossing"]
    ax.plot([r["true"] for r in finite], [r["exact_finite"] for r in finite], "s", mfc="none", color="black",
            label="crossings' exact λ_γ at this nβ, γ")
    lo, hi = min(r["true"] for r in rows) / 1.5, max(r["true"] for r in rows) * 1.5
    ax.plot([lo, hi], [lo, hi], color="grey", lw=1, label="estimate = truth")
    ax.set(xscale="log", yscale="log", xlabel="closed-form λ", ylabel="estimate λ̂ (± chain std)")
    ax.legend()
    return fig


def plot_calibration(run: Run):
    """Loss traces (nβ·(L - L(w*))) for every ε at each nβ, with the exact λ_γ dashed."""
    rows, traces = run.summary["calibration"], run.history["calibration_traces"].numpy()
    steps = run.history["calibration_step"].numpy()
    factors = sorted({r["nbeta_factor"] for r in rows})
    fig, axes = plt.subplots(1, len(factors), figsize=(4 * len(factors), 3.4), sharey=True, squeeze=False)
    top = 2 * max(r["exact"] for r in rows)
    for ax, f in zip(axes[0], factors):
        for i, r in enumerate(rows):
            if r["nbeta_factor"] != f:
                continue
            mean = traces[i].mean(axis=0)
            shown = np.where(np.isfinite(mean) & (np.abs(mean) < 10 * top), mean, np.nan)
            label = f"ε = {r['epsilon']:g}" + (" (diverged)" if r["estimate"] is None else "")
            ax.plot(np.maximum(steps, 1), shown, lw=1, label=label)
            exact = r["exact"]
        ax.axhline(exact, color="black", ls="--", lw=1)
        ax.axvline(run.config["burnin"], color="grey", lw=0.8)
        ax.set(title=f"nβ = {f:g} × n/log n", xlabel="SGLD step", xscale="log", ylim=(-0.5, top))
        ax.legend(fontsize=7, loc="upper left")
    axes[0][0].set_ylabel("nβ (L − L(w*)), mean of chains")
    return fig
