"""The chapters as files: stored without outputs, listed in the table of contents, and
rejecting a bad parameter with a clear message."""

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))


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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_code_cell_is_the_parameters_cell(path):
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    assert "parameters" in cells[0]["metadata"].get("tags", [])
    assert 'profile = "auto"' in "".join(cells[0]["source"])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_ready_for_the_site_colab_and_binder(path):
    """A hidden cell installs the package where it is missing (Colab, Binder); the parameters are
    followed by the "Settings used" box; widget explorers are hidden on the static site, which
    shows their static figure instead."""
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    setup = cells[1]
    assert 'find_spec("emergence") is None' in "".join(setup["source"])
    assert "remove-cell" in setup["metadata"].get("tags", [])
    assert any("settings_used(config, profile)" in "".join(c["source"]) for c in cells)
    for cell in cells:
        if "frame_slider" in "".join(cell["source"]) or "ipywidgets" in "".join(cell["source"]):
            assert "remove-output" in cell["metadata"].get("tags", []), "".join(cell["source"])[:80]


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
