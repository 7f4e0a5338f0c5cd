"""The house style and the few figure helpers that several chapters share.

Figures have an explicit white background so they stay legible in the site's dark theme.
"""

from __future__ import annotations

import base64
import html
import io
import json
import uuid

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

# Colour-blind-safe palette (Okabe & Ito).
COLORS = {"task": "#0072B2", "train": "#E69F00", "measure": "#009E73", "other": "#CC79A7",
          "grey": "#7f7f7f", "red": "#D55E00", "sky": "#56B4E9", "yellow": "#F0E442"}

STYLE = {
    "figure.facecolor": "white", "axes.facecolor": "white", "savefig.facecolor": "white",
    "figure.dpi": 100, "savefig.dpi": 100, "font.size": 10, "axes.titlesize": 10,
    "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
    "grid.alpha": 0.25, "legend.frameon": False, "figure.constrained_layout.use": True,
}


def use_style() -> None:
    """Apply the house style to every later figure."""
    mpl.rcParams.update(STYLE)


def mark(ax, x, label: str | None = None, color: str = COLORS["grey"]) -> None:
    """A dotted vertical line at step x (skipped when x is None or NaN), with a label on top."""
    if x is None or not np.isfinite(x):
        return
    ax.axvline(x, color=color, ls=":", lw=1.2)
    if label:
        ax.annotate(label, (x, 1.0), xycoords=("data", "axes fraction"), rotation=90,
                    ha="right", va="top", fontsize=8, color=color)


def log_steps(ax, steps) -> None:
    """A log step axis that starts at the first positive step."""
    steps = np.asarray(steps, dtype=float)
    ax.set_xscale("log")
    ax.set_xlim(steps[steps > 0].min(), steps.max())


def llc_panel(ax, history: dict, label: str = "λ̂ (mean ± spread over chains)") -> None:
    """λ̂ over training from `measures.llc.llc_trajectory`'s history: the mean over chains with a
    band of ± their spread, healthy checkpoints filled and unhealthy ones hollow."""
    x, mean, std = (history[k].numpy() for k in ("llc_step", "llc_mean", "llc_std"))
    healthy = history["llc_healthy"].numpy().astype(bool)
    ax.fill_between(x, mean - std, mean + std, color=COLORS["measure"], alpha=0.2, lw=0)
    ax.plot(x, mean, color=COLORS["measure"], lw=1.5, label=label)
    ax.scatter(x[healthy], mean[healthy], color=COLORS["measure"], s=14, zorder=3)
    ax.scatter(x[~healthy], mean[~healthy], facecolor="white", edgecolor=COLORS["measure"], s=20,
               zorder=3, label="unhealthy chains")


def chain_health_panel(ax, history: dict, burnin: int, unit: str = "step") -> None:
    """Each checkpoint's excess loss nβ (L(w) - L(w*)) at every SGLD step, mean of its chains:
    flat after burn-in when the chains are at equilibrium."""
    x, excess = history["llc_step"].numpy(), history["llc_excess_trace"].numpy()
    colors = plt.cm.viridis(np.linspace(0, 0.95, len(x)))
    for color, at, trace in zip(colors, x, excess):
        ax.plot(trace, color=color, lw=1, label=f"{unit} {at}" if at in (x[1], x[-1]) else None)
    mark(ax, burnin, "burn-in")
    ax.set_xlabel("SGLD step")
    ax.set_ylabel("nβ (L(w) − L(w*)), mean of chains")
    ax.set_title("chain health: should be flat after burn-in")
    ax.legend(fontsize=8, loc="upper right")


def small_multiples(n: int, ncols: int = 4, size: float = 2.6):
    """A grid of n panels (extra panels hidden); returns (figure, flat list of axes)."""
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


class FrameSlider:
    """A slider over pre-rendered frames as one self-contained piece of HTML (see frame_slider)."""

    def __init__(self, html: str, count: int):
        self.html, self.count = html, count

    def _repr_html_(self) -> str:   # what Jupyter, Colab and myst-nb display
        return self.html

    def __repr__(self) -> str:
        return f"FrameSlider({self.count} frames, {len(self.html) / 1e3:.0f} kB of HTML)"


SLIDER_TEMPLATE = """\
<div id="{id}" class="frame-slider">
  <label style="font: 13px sans-serif">{label}
    <input type="range" min="0" max="{last}" step="1" value="{start}" style="width: 320px; vertical-align: middle">
    <output>{text}</output>
  </label><br>
  <img src="{src}" alt="{label} {text}">
</div>
<script>
(function () {{
  const root = document.getElementById("{id}");
  const frames = {frames};
  const texts = {texts};
  const [slider, shown, image] = ["input", "output", "img"].map(tag => root.querySelector(tag));
  slider.addEventListener("input", () => {{
    const i = slider.valueAsNumber;
    image.src = frames[i];
    shown.textContent = image.alt = texts[i];
  }});
}})();
</script>
"""


def frame_slider(draw, count: int, label: str = "checkpoint", dpi: int = 60, *,
                 values=None, start: int = 0) -> FrameSlider:
    """A slider over `count` frames, frame i drawn once by `draw(i) -> Figure`.

    Each frame is saved once as a small PNG and embedded (base64) in one piece of HTML: a range
    input and a few lines of JavaScript that swap the image.  No kernel, no ipywidgets and no
    external script, so the same output works in Jupyter, in Colab (which ships ipywidgets 7)
    and on the static site, offline.  Without JavaScript (an untrusted notebook) frame `start`
    still shows.  `values[i]` is what the slider shows for frame i (default: i).
    """
    if not isinstance(count, (int, np.integer)) or count < 1:
        raise ValueError(f"frame_slider: count={count!r} is not allowed: a positive number of frames")
    values = list(range(count)) if values is None else list(values)
    if len(values) != count:
        raise ValueError(f"frame_slider: values has {len(values)} entries, not count={count}")
    if not 0 <= start < count:
        raise ValueError(f"frame_slider: start={start!r} is not allowed: 0 to count - 1 = {count - 1}")

    def png(i):
        fig = draw(i)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi)
        plt.close(fig)   # or the notebook would also show every frame as a figure
        # A palette of 256 colours looks the same (a figure has few) and halves the bytes.
        image = Image.open(buffer).convert("RGB").quantize(256)
        buffer = io.BytesIO()
        image.save(buffer, format="png", optimize=True)
        return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")

    def literal(x):   # a JavaScript literal; "</" escaped so that no text can end the script
        return json.dumps(x).replace("</", "<\\/")

    frames = [png(i) for i in range(count)]
    texts = [str(v) for v in values]
    page = SLIDER_TEMPLATE.format(
        id=f"frame-slider-{uuid.uuid4().hex}",   # unique, so two sliders on one page never clash
        label=html.escape(label), last=count - 1, start=start, text=html.escape(texts[start]),
        src=frames[start], frames=literal(frames), texts=literal(texts))
    return FrameSlider(page, count)
