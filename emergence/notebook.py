"""What the chapter pages share besides figures: gluing a run's numbers into the prose.

Every number a chapter's text quotes from a run is glued from that run, so the page never
contradicts its own figures on another machine, seed or profile:

    glue("grok_epoch", f"{summary['grok_epoch']:,}")            # in a code cell
    ... test accuracy jumps at epoch {glue:text}`grok_epoch` ...  # in the markdown

The site (myst-nb) substitutes the value; in Jupyter or Colab, where myst-nb may be missing,
`glue` does nothing and the markdown shows the role as written.
"""

from __future__ import annotations


def _plain(value):
    """A numpy or torch scalar as the Python number it holds: myst-nb reads the glued value
    back from its text/plain repr with `ast.literal_eval`, and `np.float64(0.87)` is not a
    literal, so a format such as `:.2f` would fail on it."""
    if type(value) in (str, bool, int, float) or not hasattr(value, "item"):  # np.float64 is a float
        return value
    try:
        return value.item()
    except (TypeError, ValueError, RuntimeError):   # not a one-element array or tensor
        return value


def glue(name: str, value) -> None:
    """Glue `value` under `name`, without displaying it here.

    A str is shown as its plain text (myst-nb strips the quotes of its repr, so "1,234" stays
    "1,234" and is not read as a tuple); a number (numpy and torch scalars included) keeps its
    type, so the markdown may format it, e.g. {glue:text}`name:.2f`."""
    try:
        from myst_nb import glue as myst_glue
    except ImportError:          # plain Jupyter or Colab without the book tools
        return
    myst_glue(name, _plain(value), display=False)
