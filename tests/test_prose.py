"""Prose that matches the run it sits next to.

A chapter's markdown must not quote a number from its own run as fixed text: on another CPU, seed
or profile the page would contradict its own figures. Such numbers are glued from the run
(`from emergence.notebook import glue`; `glue("grok_epoch", ...)` in a code cell and
{glue:text}`grok_epoch` in the markdown) or the sentence is phrased without them.

The check is deliberately simple. In markdown cells, outside math, inline code, roles (glue,
cite, ...), code blocks, directive options, links and HTML, a number is *run-like* when it

- has a decimal point (0.87, 1.4), or
- is followed by a run unit: %, x / ×, -fold, times, s / seconds, minutes, nats, bits, decades,
  epoch(s), step(s), iteration(s), or
- is preceded by a run word: epoch(s), step(s), at, from, to, until, after, within, =, ≈, ~.

A run-like number that the chapter may keep (a constant of the setup, a number quoted from a
paper with its citation, an attributed number from a named other run) goes on ALLOWED below:
per notebook, a list of (snippet, reason), where the snippet is a piece of the cleaned markdown
(whitespace collapsed to single spaces) that contains the number. Each notebook's entries sit in
their own block; every entry must still match its notebook (no stale entries).

The static half: every glued key used in a notebook's markdown ({glue}`k`, {glue:text}`k:.2f`,
{glue:md}`k`, ```{glue:figure} k```, `other.ipynb::k`) is defined by a glue("k", ...) call in that
notebook's code cells, every glue() key is defined once in the whole book, and used.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))

# (snippet of the cleaned markdown containing the number, why it may stay as text).
ALLOWED: dict[str, list[tuple[str, str]]] = {
    # ---- 01_scaling_laws.ipynb (helper A) -------------------------------------------------
    "01_scaling_laws.ipynb": [
        ("against Kaplan's 0.73 and Chinchilla's 0.5",
         "the papers' frontier exponents (Kaplan et al. 2020, Hoffmann et al. 2022, cited in cell 0)"),
        ("(70 B parameters, 1.4 T tokens)",
         "Chinchilla's own model, quoted from Hoffmann et al. 2022 (cited in this cell)"),
        ("500 tasks on 100 bits",
         "settings of the `full` profile (scaling_laws.Config.PRESETS), named as such"),
        ("(500 skills on 100 bits, widths up to 1024)",
         "settings of the `full` profile (scaling_laws.Config.PRESETS), named as such"),
        ("(95 % interval GLUED to", "the confidence level of the interval printed with it, a choice"),
        ("a skill counts as learned at 90 % clean accuracy",
         "the threshold that defines a learned skill (quanta.skills_learned), not a result"),
        ("After a skill crosses 90 % accuracy",
         "the threshold that defines a learned skill (quanta.skills_learned), not a result"),
        ("tested to agree within 0.15", "the test's threshold (test_approach_2_and_approach_3_frontier_exponents_agree)"),
    ],
    # ---- 02_mirage.ipynb (helper A) -------------------------------------------------------
    "02_mirage.ipynb": [
    ],
    # ---- 03_silent_alignment.ipynb --------------------------------------------------------
    "03_silent_alignment.ipynb": [
        ("bundled 8×8 digits", "the images' size in pixels, a property of scikit-learn's data set"),
        ("has made 90 % of its rise",
         "the definition of t_align (silent_alignment.ALIGNED), not a result"),
        ("moves its 90 % point", "the same definition of t_align (silent_alignment.ALIGNED)"),
    ],
    # ---- 04_sparse_parity.ipynb -----------------------------------------------------------
    "04_sparse_parity.ipynb": [
        ("sits at 50 %", "chance level of a ±1 parity label, a property of the task, not a result"),
        ("(n up to 100, k up to 4, 8 seeds each)",
         "settings of the `full` profile (sparse_parity.Config.PRESETS), named as such"),
        ("stays at about 50 % (the grey line is 45 %)",
         "chance level, and the plateau threshold drawn in the figure (sparse_parity.PLATEAU_ERROR), "
         "definitions, not results"),
        ("moved 1.5 times as far",
         "the threshold that defines ratio_1_5_step (sparse_parity._member_events), not a result"),
        ("it passes 1.5", "the same threshold (ratio_1_5_step); the lead itself is glued"),
        ("cost only about 1.5 times",
         "attributed: the calibration runs named in the previous bullet (plain training loop, "
         "lr 0.1, width 1000, n ≤ 50), made while writing the chapter (2026-11-23, commit "
         "6a1fc70), not this page's run; the small factor is the point of the exercise"),
    ],
    # ---- 05_induction_heads.ipynb ---------------------------------------------------------
    "05_induction_heads.ipynb": [
        ("uniformly from 8 to 32", "the fast profile's copy_min/copy_max; the set-up says its sizes are fast's"),
        ("drawn uniformly from 8 tokens", "the fast profile's skip_bigram (8), stated as fast's"),
        ("at most 20 % of draws", "the estimator's health threshold (measures.llc.BELOW_INIT_MAX)"),
        # the LLC calibration sweep on an earlier model, attributed in the text
        ("steps 0, 300, 540, 600 and 1200", "LLC calibration sweep on an earlier model, attributed"),
        ("agreed within 11 %", "LLC calibration sweep, attributed"),
        ("read 17–46 % higher", "LLC calibration sweep, attributed"),
        ("about 40 % as high", "LLC calibration sweep, attributed"),
        # "What to try": runs of the named settings, made when the chapter was written (fast
        # profile otherwise, seeds 0-2), as its first sentence says; the shares are the point
        ("undoes only 15–22 % of the drop", "What to try: attributed run (skip_bigram = 0, n_heads = 2)"),
        ("undoes 139–144 % of", "What to try: attributed run (skip_bigram = 0, d_head = 64)"),
    ],
    # ---- 06_grokking.ipynb ----------------------------------------------------------------
    "06_grokking.ipynb": [
        ("about 3 minutes on a 2-core laptop CPU",
         "run time measured on the book's 2-core build machine, a guide given before the run "
         "(the run cell prints this run's own time)"),
        ("for 25 000 epochs", "the full profile's setting (Nanda et al.'s; Config.PRESETS)"),
        ("instead of 113, 40 % of the pairs for training instead of 30 %",
         "the fast and full profiles' settings (Config.PRESETS)"),
        ("30 % of the pairs", "the full profile's setting (Nanda et al.'s split)"),
        ("reaches 50 %", "the threshold that defines test_acc_50_epoch, not a result"),
        ("asks for at most 0.7", "the acceptance threshold of tests/test_grokking.py"),
        # the LLC calibration sweep: run once on the fast profile's seed-0 checkpoints when the
        # chapter was written; the text attributes these numbers to it, not to the page's run
        ("still climbing after 200 steps at every checkpoint", "LLC calibration sweep, attributed"),
        ("(0.3 at the grokking epoch, 0.02 at the end)", "LLC calibration sweep, attributed"),
        ("still drifting after 200 steps", "LLC calibration sweep, attributed"),
        ("a final value 6–11 % of the peak", "LLC calibration sweep, attributed"),
        ("at 384 the chains overshot", "LLC calibration sweep, attributed"),
    ],
    # ---- 07_emergent_misalignment.ipynb ---------------------------------------------------
    "07_emergent_misalignment.ipynb": [
        ("(0.4–1× the mean norm)",
         "the figure's fixed shaded band of norm factors (a constant of plot_efficiency_and_stability "
         "and of the acceptance test)"),
        ("was 8.4, 12.2 and 12.4 points for pre-training seeds 0, 1 and 2 with 5 noise draws, and 8.8, 9.4 and 10.5 with 20",
         "attributed: the stability gap for pre-training seeds 0-2 and 5 or 20 noise draws, measured "
         "while writing the chapter (fast profile, on its CPU); the evidence behind the test's threshold"),
        ("gave 21 points (2.8 % against 23.6 %",
         "attributed: the finetune_lr = 0.01 run (fast profile, seed 0) measured while writing the "
         "chapter"),
        ("every 5 steps",
         "Turner et al.'s checkpoint interval (cited paper; also the config's log_every)"),
        ("lcs peak above −0.5",
         "the turn detector's threshold (a constant of turner_measures), not a result"),
        ("has crossed 0.25",
         "the behavioural-switch threshold (a constant of turner_measures), not a result"),
        ("coherence 0.75–0.81 out of domain in that run",
         "attributed: the finetune_lr = 0.01 run described in the stability section"),
        ("ranged from 0.26 to 0.56 for the rank-1 LoRA and from 0.17 to 0.74",
         "attributed: the portability audit over six bases and two kernel sets (tests/README.md)"),
        ("rose by 0.19 to 0.81", "attributed: the portability audit (tests/README.md)"),
        ("only half the time (0.56)", "attributed: the portability audit (tests/README.md)"),
        ("pre-trained 10× longer on 7-turn conversations",
         "constants of the full preset (Config.PRESETS['full']), phrased as the full profile's"),
    ],
    # ---- 09_ghost_points.ipynb ------------------------------------------------------------
    "09_ghost_points.ipynb": [
        ("(95 % interval GLUED", "the confidence level of the interval printed with it, a choice"),
    ],
    # ---- 08_llc.ipynb ---------------------------------------------------------------------
    "08_llc.ipynb": [
        ("truth within 3.5 chain standard deviations",
         "devinterp's own pass criterion for the normal crossings (a constant of the cited library's test)"),
        ("relative tolerance of 0.4 that devinterp's",
         "the tolerance of devinterp's reduced-rank-regression test (a constant of the cited library)"),
    ],
}

# ------------------------------------------------------------------------------------------
# Cleaning the markdown down to its prose.

# Directives whose body is code, math or data, not prose (a figure's body is its caption: prose).
_CODE_DIRECTIVES = {"code", "code-block", "code-cell", "sourcecode", "literalinclude", "math",
                    "raw", "csv-table", "bibliography", "glue", "glue:any", "glue:math", "image",
                    "mermaid", "toctree"}
_FENCE = re.compile(r"^\s*(`{3,}|~{3,}|:{3,})\s*(.*)$")
_OPTION = re.compile(r"^\s*:[\w-]+:.*$")                       # directive options (:class: tip)
_ROLE = re.compile(r"\{([\w:.-]+)\}(`+)(.*?)\2", re.S)         # {cite}`x`, {glue:text}`k:.2f`
_GLUE_DIRECTIVE = re.compile(r"^\s*(?:`{3,}|:{3,})\s*\{(glue(?::\w+)?)\}\s+(\S+)", re.M)
_NUMBER = re.compile(r"(?<![\w.,/\\#@^])\d+(?:,\d{3})*(?:\.\d+)?")
_UNIT_AFTER = re.compile(
    r"^\s*(?:%|×|x\b|-?fold\b|times\b|s\b|sec\b|seconds?\b|min\b|minutes?\b|nats?\b|bits?\b"
    r"|decades?\b|epochs?\b|steps?\b|iterations?\b)", re.I)
_WORD_BEFORE = re.compile(
    r"(?:\bepochs?|\bsteps?|\bat|\bfrom|\bto|\buntil|\bafter|\bwithin|=|≈|~)\s*$", re.I)


def _strip_blocks(markdown: str) -> str:
    """Drop code blocks, code-like directives, fence lines and directive options; keep the prose
    inside admonitions and other text directives."""
    out, fence = [], None       # fence: (marker, skip body?) of the open block
    for line in markdown.splitlines():
        match = _FENCE.match(line)
        if fence is not None:
            marker, skip = fence
            if match and match.group(1)[0] == marker[0] and len(match.group(1)) >= len(marker) \
                    and not match.group(2):
                fence = None
            elif not skip and not _OPTION.match(line):
                out.append(line)
            continue
        if match:
            marker, info = match.groups()
            name = re.match(r"\{([^}]*)\}", info)
            skip = (name.group(1) in _CODE_DIRECTIVES) if name else marker[0] != ":"
            fence = (marker, skip)
            continue
        out.append(line)
    return "\n".join(out)


def clean(markdown: str) -> str:
    """The prose of a markdown cell: no math, code, roles, links' targets or HTML; glued values
    become the word GLUED; whitespace collapsed."""
    text = _strip_blocks(markdown)
    text = re.sub(r"<!--.*?-->", " ", text, flags=re.S)
    text = re.sub(r"\$\$.*?\$\$", " MATH ", text, flags=re.S)
    text = re.sub(r"(?<!\\)\$[^$\n]+?(?:\n[^$\n]+?)*(?<!\\)\$", " MATH ", text)
    text = _ROLE.sub(lambda m: " GLUED " if m.group(1).startswith("glue") else " ROLE ", text)
    text = re.sub(r"(`+).*?\1", " CODE ", text, flags=re.S)
    text = re.sub(r"\]\([^)]*\)", "]", text)                       # link targets
    text = re.sub(r"https?://\S+", " URL ", text)
    text = re.sub(r"<[^>]+>", " ", text)                           # HTML tags
    text = re.sub(r"\[\^[^\]]*\]", " ", text)                      # footnote references
    text = re.sub(r"(?m)^\s*(?:#+\s*)?\d+[.)]\s", " ", text)       # list / heading numbering
    return re.sub(r"\s+", " ", text).strip()


def run_like_numbers(text: str) -> list[tuple[int, int, str]]:
    """(start, end, context) of each run-like number in cleaned text."""
    found = []
    for m in _NUMBER.finditer(text):
        after, before = text[m.end():m.end() + 20], text[max(0, m.start() - 20):m.start()]
        if re.match(r"[^\W\d_]", after) and not re.match(r"[x×]\b", after):
            continue                                        # a name: 32nd, H100, 3D, 2x2
        if "." in m.group() or _UNIT_AFTER.match(after) or _WORD_BEFORE.search(before):
            found.append((m.start(), m.end(), text[max(0, m.start() - 40):m.end() + 25]))
    return found


def unglued_numbers(markdown_cells: list[tuple[int, str]],
                    allowed: list[tuple[str, str]]) -> list[str]:
    """The run-like numbers of these markdown cells that no allow-list snippet covers."""
    problems = []
    for index, source in markdown_cells:
        text = clean(source)
        spans = [(m.start(), m.end()) for snippet, _ in allowed
                 for m in re.finditer(re.escape(snippet), text)]
        for start, end, context in run_like_numbers(text):
            if not any(a <= start and end <= b for a, b in spans):
                problems.append(f"cell {index}: {text[start:end]!r} in ...{context}...")
    return problems


# ------------------------------------------------------------------------------------------
# Reading the notebooks.

def _cells(path: Path, kind: str) -> list[tuple[int, str]]:
    cells = json.loads(path.read_text())["cells"]
    return [(i, "".join(c["source"])) for i, c in enumerate(cells) if c["cell_type"] == kind]


_GLUE_CALL = re.compile(r"""\bglue\(\s*(f?)(["'])(.*?)\2""")


def glue_calls(path: Path) -> list[tuple[str, bool]]:
    """(key, is an f-string) of every glue(...) call in the notebook's code cells."""
    return [(m.group(3), bool(m.group(1))) for _, source in _cells(path, "code")
            for m in _GLUE_CALL.finditer(source)]


def glued_keys(markdown: str) -> list[tuple[str | None, str]]:
    """(other notebook or None, key) of every glue role or directive in a markdown cell."""
    refs = []
    for m in _ROLE.finditer(markdown):
        role, content = m.group(1), m.group(3).strip()
        if role in ("glue:text", "glue:md") and ":" in content:
            content = content.rsplit(":", 1)[0]      # drop the format, as myst-nb does
        if role == "glue" or role.startswith("glue:"):
            refs.append(content)
    refs += [m.group(2) for m in _GLUE_DIRECTIVE.finditer(markdown)]
    out = []
    for ref in refs:
        doc, _, key = ref.rpartition("::")
        out.append((doc or None, key))
    return out


def _defines(calls: list[tuple[str, bool]], key: str) -> bool:
    for name, dynamic in calls:
        if name == key:
            return True
        if dynamic:                                   # glue(f"skill_{i}_x50", ...)
            pattern = re.sub(r"\\\{.*?\\\}", ".+", re.escape(name))
            if re.fullmatch(pattern, key):
                return True
    return False


# ------------------------------------------------------------------------------------------
# The tests of the rule itself: it must be able to fail.

SYNTHETIC = """## Results

Test accuracy jumps at epoch 2300, and the LLC peaks at 564 by epoch {glue:text}`grok_peak`.
The fit has an RMSE of 0.0123; training took 155 s, the loss fell 12% and then 3x faster.
From 10 to 1200 images.

Glued: accuracy reaches {glue:text}`acc:.1%` after {glue:text}`grok_epoch` epochs.
Math is fine: $L = 0.73$ and $$x = 2.5 \\times 10^{3}$$ and `lr = 0.001` and {cite}`kaplan2020`.
Names are fine: an H100, the 32nd task, 3D, the `full` profile, ipywidgets 7, chapter 3 and 8 seeds.

```python
steps = 5000  # code is fine
```

:::{note}
A note at epoch 700.
:::

1. A list item.
"""


def test_the_rule_flags_unglued_run_numbers():
    text = clean(SYNTHETIC)
    flagged = [text[start:end] for start, end, _ in run_like_numbers(text)]
    assert flagged == ["2300", "564", "0.0123", "155", "12", "3", "10", "1200", "700"], flagged
    assert len(unglued_numbers([(0, SYNTHETIC)], [])) == len(flagged)


def test_the_rule_ignores_math_code_roles_and_names():
    text = clean(SYNTHETIC)
    for hidden in ("0.73", "2.5", "0.001", "5000", "kaplan2020", "acc:.1%"):
        assert hidden not in text, hidden
    assert "GLUED" in text and "700" in text          # glue roles kept as a word; note prose kept


def test_the_allow_list_covers_only_its_snippet():
    cells = [(0, "Chinchilla used 20 tokens per parameter at 70 B parameters; we stop at epoch 900.")]
    assert len(unglued_numbers(cells, [])) == 2
    left = unglued_numbers(cells, [("at 70 B parameters", "Chinchilla's published model")])
    assert len(left) == 1 and "900" in left[0]


def test_glue_keys_are_read_from_roles_and_directives():
    md = ("at {glue:text}`a_epoch`, ratio {glue:text}`a_ratio:.2f`, {glue}`a_plain`, "
          "{glue:md}`a_md`, {glue:text}`06_grokking.ipynb::g_epoch:s`\n```{glue:figure} a_fig\n```")
    assert glued_keys(md) == [(None, "a_epoch"), (None, "a_ratio"), (None, "a_plain"),
                              (None, "a_md"), ("06_grokking.ipynb", "g_epoch"), (None, "a_fig")]
    calls = [("a_epoch", False), ("seed_{i}_x50", True)]
    assert _defines(calls, "a_epoch") and _defines(calls, "seed_2_x50")
    assert not _defines(calls, "a_ratio")


# ------------------------------------------------------------------------------------------
# The tests of the chapters.

@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_unglued_run_numbers_in_the_prose(path):
    problems = unglued_numbers(_cells(path, "markdown"), ALLOWED.get(path.name, []))
    assert not problems, (
        f"{path.name}: numbers in the markdown that look like they come from the run. Glue them "
        "from the run ({glue:text}`key`), rephrase without them, or, for a setup constant or a "
        "cited/attributed number, add (snippet, reason) to ALLOWED in tests/test_prose.py:\n  "
        + "\n  ".join(problems))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_allow_list_entries_still_match(path):
    text = " ".join(clean(source) for _, source in _cells(path, "markdown"))
    stale = [snippet for snippet, _ in ALLOWED.get(path.name, []) if snippet not in text]
    assert not stale, f"{path.name}: allow-list snippets no longer in the cleaned markdown: {stale}"


def test_allow_list_names_real_notebooks():
    assert set(ALLOWED) <= {p.name for p in NOTEBOOKS}, set(ALLOWED) - {p.name for p in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_glued_key_is_defined_in_its_notebook(path):
    calls = glue_calls(path)
    missing = []
    for index, source in _cells(path, "markdown"):
        for doc, key in glued_keys(source):
            target = ROOT / "book" / Path(doc).name if doc else path
            if not target.exists() or not _defines(glue_calls(target), key):
                missing.append(f"cell {index}: {(doc + '::') if doc else ''}{key}")
    assert not missing, f"{path.name}: glued in the markdown but no glue() call defines it: {missing}"
    if calls:
        code = "\n".join(source for _, source in _cells(path, "code"))
        assert re.search(r"from emergence\.notebook import .*\bglue\b", code), \
            f"{path.name} calls glue() without `from emergence.notebook import glue`"


def test_glue_keys_are_unique_across_the_book_and_used():
    seen, duplicates, unused = {}, [], []
    used = {(p.name, key) for p in NOTEBOOKS for _, s in _cells(p, "markdown")
            for doc, key in glued_keys(s) if not doc}
    used |= {(Path(doc).name, key) for p in NOTEBOOKS for _, s in _cells(p, "markdown")
             for doc, key in glued_keys(s) if doc}
    for path in NOTEBOOKS:
        for key, dynamic in glue_calls(path):
            if key in seen:
                duplicates.append(f"{key} ({seen[key]} and {path.name})")
            seen[key] = path.name
            keys = {k for (name, k) in used if name == path.name}
            if not (any(_defines([(key, dynamic)], k) for k in keys)):
                unused.append(f"{path.name}: {key}")
    assert not duplicates, f"glue keys defined more than once: {duplicates}"
    assert not unused, f"glued but never shown in the markdown: {unused}"


# ------------------------------------------------------------------------------------------
# The glue wrapper: what myst-nb receives must come out as the text the chapter meant.

@pytest.mark.parametrize("value, fmt, shown", [
    ("1,234", "", "1,234"),             # a str: no quotes, and not read back as the tuple (1, 234)
    ("1e3", "", "1e3"),                 # a str that looks like a number stays as written
    ("seed 2's", "", "seed 2's"),
    (0.8734, ".2f", "0.87"),
    (0.8734, ".1%", "87.3%"),
    ("np.float64", ".2f", "0.87"),      # numpy and torch scalars become Python numbers
    ("np.int64", ",d", "1,540"),
    ("torch", ".1f", "12.5"),
])
def test_glued_values_render_as_meant(value, fmt, shown):
    pytest.importorskip("myst_nb")
    from IPython.core.formatters import PlainTextFormatter
    from myst_nb.core.variables import format_plain_text

    from emergence.notebook import _plain
    if value == "np.float64":
        import numpy as np
        value = np.float64(0.8734)
    elif value == "np.int64":
        import numpy as np
        value = np.int64(1540)
    elif value == "torch":
        import torch
        value = torch.tensor(12.5)
    text_plain = PlainTextFormatter()(_plain(value))      # the text/plain that glue() stores
    assert format_plain_text(text_plain, fmt) == shown


# The book speaks to the reader, not about how a chapter was made: no "design note", "proposal",
# "pilot" or "the issue" in the chapters' text (calibration history goes in a collapsed "How these
# settings were chosen" note, in the words of what was run).
BACKSTAGE = re.compile(r"design note|\bproposal|\bpilot|\bthe issue\b|\bthe note's\b", re.IGNORECASE)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_the_chapters_speak_to_the_reader(path):
    text = " ".join(source for _, source in _cells(path, "markdown"))
    assert not BACKSTAGE.findall(text), f"{path.name}: {BACKSTAGE.findall(text)}"


def test_every_literalinclude_names_a_function_of_the_package():
    """A chapter's {literalinclude} of the package's code points at a file that exists and at a
    top-level function or class in it (so the page shows the code the run used, not a copy), whose
    docstring names the chapter."""
    import ast
    for path in NOTEBOOKS:
        text = "\n".join(source for _, source in _cells(path, "markdown"))
        for file, obj in re.findall(r"```\{literalinclude\}\s*(\S+)\s*\n:pyobject:\s*(\w+)", text):
            target = (path.parent / file).resolve()
            assert target.is_file() and ROOT / "emergence" in target.parents, f"{path.name}: {file}"
            nodes = {node.name: node for node in ast.parse(target.read_text()).body
                     if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
            assert obj in nodes, f"{path.name}: {obj} is not defined at the top of {file}"
            # and the package points back at the page that explains it
            assert path.name in (ast.get_docstring(nodes[obj]) or ""), f"{obj}'s docstring does not name {path.name}"
