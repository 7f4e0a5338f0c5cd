"""What the chapter pages share besides figures: the "settings used" box under a chapter's
parameters cell, and gluing a run's numbers into the prose.

Every number a chapter's text quotes from a run is glued from that run, so the page never
contradicts its own figures on another machine, seed or profile:

    glue("grok_epoch", f"{summary['grok_epoch']:,}")            # in a code cell
    ... test accuracy jumps at epoch {glue:text}`grok_epoch` ...  # in the markdown

The site (myst-nb) substitutes the value; in Jupyter or Colab, where myst-nb may be missing,
`glue` does nothing and the markdown shows the role as written.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from emergence import __version__
from emergence.config import ExperimentConfig, choose_device, choose_profile


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


@dataclass(frozen=True)
class SettingsUsed:
    """The "settings used" box a chapter shows under its parameters cell: the profile, the
    device, the versions and every setting, with the ones that differ from the profile's preset
    marked.  Rendered as HTML in Jupyter and on the site, as text elsewhere."""

    profile: str
    device: str
    versions: str
    settings: dict[str, Any]
    changed: tuple[str, ...]
    notes: tuple[str, ...] = ()         # why `auto` chose this profile or device, one line each
    published: str = ""                 # the experiment whose run the site publishes beside this page

    def __str__(self) -> str:
        rows = [f"  {k} = {v!r}" + ("   (changed)" if k in self.changed else "")
                for k, v in self.settings.items()]
        return "\n".join([f"settings used: profile {self.profile}, device {self.device}, {self.versions}"]
                         + [f"  note: {note}" for note in self.notes] + rows)

    __repr__ = __str__

    # Explicit dark-on-light colours: the site's dark theme shows HTML outputs on a light
    # panel, and a themed box would inherit colours that vanish there.
    BOX_STYLE = ("border: 1px solid #b8cfe0; border-left: 4px solid #0072B2; border-radius: 4px; "
                 "background: #f4f8fb; color: #1b1b1b; padding: 0.5em 0.9em; margin: 0.3em 0;")
    TABLE_STYLE = "color: #1b1b1b; background: #f4f8fb; font-size: 0.9em; margin-top: 0.4em;"

    def _repr_html_(self) -> str:
        from html import escape
        changed = ", ".join(self.changed) if self.changed else "none"
        rows = "".join(
            f"<tr><td><code>{escape(k)}</code></td><td><code>{escape(repr(v))}</code></td>"
            f"<td>{'changed' if k in self.changed else ''}</td></tr>"
            for k, v in self.settings.items())
        return (
            f'<div class="settings-used" style="{self.BOX_STYLE}">'
            f'<p style="margin: 0 0 0.3em 0"><strong>Settings used.</strong> '
            f"Profile <strong>{escape(self.profile)}</strong> on <strong>{escape(self.device)}</strong>"
            f" ({escape(self.versions)}). Changed from the profile: {escape(changed)}.</p>"
            + "".join(f'<p style="margin: 0 0 0.3em 0">{escape(note[:1].upper() + note[1:])}.</p>'
                      for note in self.notes)
            + self._downloads_html() +
            f'<details><summary style="cursor: pointer">All {len(self.settings)} settings</summary>'
            f'<table style="{self.TABLE_STYLE}"><thead><tr><th>setting</th><th>value</th><th></th></tr></thead>'
            f"<tbody>{rows}</tbody></table></details></div>")


    def _downloads_html(self) -> str:
        if not self.published:
            return ""
        folder = f"../_static/runs/{self.published}"
        return (f'<p class="run-downloads" style="margin: 0 0 0.3em 0">This run\'s numbers: '
                f'<a href="{folder}/summary.json" download>summary.json</a> and '
                f'<a href="{folder}/history.npz" download>history.npz</a> (what '
                f"<code>python -m emergence run {self.published} --out DIR</code> writes; "
                f'every chapter\'s checks are on the <a href="../book/results.html">Results</a> page).</p>')


# Set by the book build (book/_ext/results.py): the folder where each chapter notes which cache
# entry its run is, so that the site can publish the run's summary and history beside the page.
SITE_RUNS = "EMERGENCE_SITE_RUNS"


def _note_site_run(config: ExperimentConfig, profile: str, device) -> str:
    """During the book build only: note the cache entry this page's run will be (the key that
    `Experiment.run` computes under the same threads); returns the experiment's name, or ""."""
    folder = os.environ.get(SITE_RUNS)
    if not folder:
        return ""
    from emergence import cache
    from emergence.train import cpu_threads
    name = type(config).experiment()
    with cpu_threads(config.threads):
        key = cache.run_key(name, config.to_dict(), device.type)
    Path(folder).mkdir(parents=True, exist_ok=True)
    note = {"experiment": name, "key": key, "cache": str(cache.cache_dir()), "profile": profile}
    (Path(folder) / f"{name}.json").write_text(json.dumps(note))
    return name


def settings_used(config: ExperimentConfig, profile: str = "auto") -> SettingsUsed:
    """What this page or run was computed with: `profile` resolved as `Config.preset` does it,
    the device `config.device` resolves to, each setting compared with the preset, and a note
    wherever `auto` chose the profile or the device for a reason the reader should know."""
    profile, profile_note = choose_profile(profile, type(config).experiment())
    device, device_note = choose_device(config)
    preset = type(config).preset(profile).to_dict()
    settings = config.to_dict()
    return SettingsUsed(profile=profile, device=str(device),
                        versions=f"emergence {__version__}, torch {torch.__version__}",
                        settings=settings,
                        changed=tuple(k for k, v in settings.items() if preset.get(k) != v),
                        notes=tuple(note for note in (profile_note, device_note) if note),
                        published=_note_site_run(config, profile, device))


# --- report tables ---------------------------------------------------------------------------


def _cell(value) -> str:
    """A summary value as a short string: 4 significant digits, long lists cut to their ends."""
    value = _plain(value)
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, (list, tuple)):
        items = [_cell(v) for v in value]
        shown = items if len(items) <= 6 else items[:3] + ["…"] + items[-2:]
        return "[" + ", ".join(shown) + "]"
    return str(value)


def _flatten(data: dict, prefix: str = "") -> list[tuple[str, Any]]:
    rows = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            rows += _flatten(value, f"{name}.")
        else:
            rows.append((name, value))
    return rows


@dataclass(frozen=True)
class Report:
    """A small table of a run's numbers, shown the same way in every chapter (`report`)."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    title: str = ""

    def __str__(self) -> str:
        widths = [max(len(r[i]) for r in (self.header, *self.rows)) for i in range(len(self.header))]
        line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
        return "\n".join(([self.title] if self.title else []) + [line(self.header)] + [line(r) for r in self.rows])

    __repr__ = __str__

    def _repr_html_(self) -> str:
        from html import escape
        cells = lambda r, tag: "".join(f"<{tag}>{escape(c)}</{tag}>" for c in r)  # noqa: E731
        body = "".join(f"<tr>{cells(r, 'td')}</tr>" for r in self.rows)
        caption = f"<caption>{escape(self.title)}</caption>" if self.title else ""
        return (f'<table class="run-report" style="font-size: 0.9em">{caption}'
                f"<thead><tr>{cells(self.header, 'th')}</tr></thead><tbody>{body}</tbody></table>")


def report(data, keys=None, title: str = "") -> Report:
    """A run's numbers as a table: a summary dict (or part of one) as name/value rows, nested
    dicts flattened to dotted names; or a list of dicts (one per seed, per delay, ...) as one row
    each, with `keys` as the columns (default: the first dict's keys)."""
    if isinstance(data, dict):
        chosen = {k: data[k] for k in keys} if keys is not None else data
        return Report(("", "value"), tuple((name, _cell(v)) for name, v in _flatten(chosen)), title)
    data = list(data)
    keys = list(keys) if keys is not None else list(data[0]) if data else []
    return Report(tuple(keys), tuple(tuple(_cell(row.get(k)) for k in keys) for row in data), title)
