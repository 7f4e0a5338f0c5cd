"""The house style and the few figure helpers that several chapters share.

Figures have an explicit white background so they stay legible in the site's dark theme.
"""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

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


def small_multiples(n: int, ncols: int = 4, size: float = 2.6):
    """A grid of n panels (extra panels hidden); returns (figure, flat list of axes)."""
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def frame_slider(draw, count: int, label: str = "checkpoint", dpi: int = 60):
    """An ipywidgets slider over `count` frames, frame i drawn once by `draw(i) -> Figure`.

    The frames are stored as small PNGs and switched in the browser (a jslink between the
    slider and a Stack), so moving the slider never waits for Python.  For Jupyter only: the
    published site hides this output (cell tag `remove-output`) and shows a static figure of
    the same frames instead.
    """
    import io

    import ipywidgets as widgets

    def png(i):
        fig = draw(i)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi)
        plt.close(fig)
        return widgets.Image(value=buffer.getvalue(), format="png")

    frames = widgets.Stack([png(i) for i in range(count)], selected_index=0)
    slider = widgets.IntSlider(value=0, min=0, max=count - 1, description=label)
    widgets.jslink((slider, "value"), (frames, "selected_index"))
    return widgets.VBox([slider, frames])
