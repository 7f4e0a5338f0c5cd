"""The chapters as files: stored without outputs, listed in the table of contents, and
rejecting a bad parameter with a clear message."""

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))
sys.path.insert(0, str(ROOT / "book" / "_ext"))
from publication import DISTRIBUTION, PLACEHOLDER  # noqa: E402  (the site build's own constants)


def test_there_are_chapters():
    assert NOTEBOOKS, "book/ holds no notebooks"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_without_outputs(path):
    notebook = json.loads(path.read_text())
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [], f"{path.name} cell {index} has outputs: clear them"
            assert cell["execution_count"] is None, f"{path.name} cell {index} has an execution count"
    assert "widgets" not in notebook["metadata"], f"{path.name} stores widget state"


def _package_modules(code: str) -> dict[str, str]:
    """alias -> module for the package modules a notebook imports (emergence.experiments.X [as Y],
    emergence.figures)."""
    aliases = {}
    for names in re.findall(r"from emergence\.experiments import ([\w ,]+)", code):
        for name in names.split(","):
            module, _, alias = (part.strip() for part in name.strip().partition(" as "))
            aliases[alias or module] = f"emergence.experiments.{module}"
    if re.search(r"from emergence import figures\b", code):
        aliases.update({f"figures.{m}": f"emergence.figures.{m}" for m in re.findall(r"\bfigures\.(\w+)\.", code)})
    return aliases


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_package_name_a_notebook_uses_exists(path):
    """A name moved or renamed in the package (a figure moved to emergence.figures) fails here, in
    a second, not half an hour into the book build."""
    import importlib
    code = "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code")
    missing = []
    for alias, module_name in _package_modules(code).items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            continue                                         # not a module (e.g. settings_used)
        for name in set(re.findall(rf"(?<![\w.]){re.escape(alias)}\.(\w+)", code)):
            if not hasattr(module, name):
                missing.append(f"{alias}.{name}")
    assert not missing, f"{path.name} uses names its modules do not have: {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_code_cell_is_the_parameters_cell(path):
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    assert "parameters" in cells[0]["metadata"].get("tags", [])
    assert 'profile = "auto"' in "".join(cells[0]["source"])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_ready_for_the_site_colab_and_binder(path):
    """A hidden cell installs this book's package (the distribution, not any module called
    `emergence`) where it is missing, from the source the site build pins into the served copy
    (tests/test_publication.py runs it); the parameters are followed by the "Settings used" box."""
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    setup = cells[1]
    source = "".join(setup["source"])
    assert f'importlib.metadata.distribution("{DISTRIBUTION}")' in source
    assert source.count(PLACEHOLDER) == 1, "the stored notebook names no package source"
    assert f'%pip install --quiet "{DISTRIBUTION} @ {{PACKAGE_SOURCE}}"' in source
    assert "remove-cell" in setup["metadata"].get("tags", [])
    assert any("settings_used(config, profile)" in "".join(c["source"]) for c in cells)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_sliders_need_no_kernel_and_show_on_the_site(path):
    """Sliders are figures.common.frame_slider calls: self-contained HTML that works in Jupyter, in
    Colab (ipywidgets 7) and on the static site.  So no chapter uses ipywidgets, and no slider's
    output is removed from the page (tests/test_site.py moves each one in a browser)."""
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    for cell in cells:
        source = "".join(cell["source"])
        assert "ipywidgets" not in source and "interact(" not in source, source[:80]
        if "frame_slider(" in source:
            removed = {"remove-output", "remove-cell"} & set(cell["metadata"].get("tags", []))
            assert not removed, f"a slider's cell is tagged {removed}: {source[:80]}"


def test_every_page_is_in_the_table_of_contents():
    toc = (ROOT / "_toc.yml").read_text()
    for path in NOTEBOOKS + sorted((ROOT / "book").glob("*.md")):
        assert f"book/{path.stem}" in toc, f"{path.name} is missing from _toc.yml"
    for line in toc.splitlines():
        if "file:" in line:
            stem = line.split("file:")[1].strip()
            assert any((ROOT / f"{stem}{ext}").exists() for ext in (".ipynb", ".md")), stem


def test_a_bad_parameter_stops_the_notebook_with_a_clear_message(tmp_path):
    papermill = pytest.importorskip("papermill")
    with pytest.raises(papermill.PapermillExecutionError) as err:
        papermill.execute_notebook(str(ROOT / "book" / "06_grokking.ipynb"), str(tmp_path / "out.ipynb"),
                                   parameters={"p": 91, "profile": "fast"}, kernel_name="python3",
                                   progress_bar=False, cwd=str(ROOT / "book"))
    assert "p=91 is not allowed: a prime" in str(err.value)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_at_least_two_exercises_each_with_a_solution_that_checks(path):
    """Every chapter ends with at least two exercises (sphinx-exercise); each has a gated solution
    (a dropdown) holding code cells, and the solution's code asserts the check the exercise
    states, so building the book (or nbval) runs every solution and fails if one does not hold."""
    cells = json.loads(path.read_text())["cells"]
    text = lambda c: "".join(c["source"])  # noqa: E731
    labels = [m for c in cells if c["cell_type"] == "markdown"
              for m in re.findall(r"```\{exercise\}.*\n:label: (\S+)", text(c))]
    assert len(labels) >= 2, f"{path.name}: {len(labels)} exercises"
    for label in labels:
        start = [i for i, c in enumerate(cells) if f"{{solution-start}} {label}" in text(c)]
        assert len(start) == 1, f"{path.name}: no gated solution for {label}"
        assert ":class: dropdown" in text(cells[start[0]]), f"{path.name}: {label}'s solution is not hidden"
        end = next(i for i in range(start[0] + 1, len(cells)) if "{solution-end}" in text(cells[i]))
        code = [text(c) for c in cells[start[0] + 1:end] if c["cell_type"] == "code"]
        assert code and any(re.search(r"^\s*assert ", c, flags=re.M) for c in code), \
            f"{path.name}: {label}'s solution runs no check"
