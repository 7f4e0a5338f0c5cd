"""The package's rooms, as README.md (Layout) and experiments/base.py describe them: each chapter's
experiment module holds its settings and computation only; figures live in emergence/figures;
what several chapters could use lives on the floors below (tasks, models, measures, train)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from emergence.experiments import EXPERIMENTS

PACKAGE = Path(__file__).resolve().parents[1] / "emergence"
EXPERIMENTS_DIR = PACKAGE / "experiments"
# The budget of issue 20 ("no chapter module over ~500 lines, ~3,000 in all"), with a little slack:
# a module that outgrows it has pieces that belong on a floor below, or a helper module of its own.
# The total was 3,250 until the second science pass of chapters 1-4 added three experiments'
# orchestration (the schedule comparison, the sigma sweep's members, the answer tokens) while
# putting their measures in emergence/measures/ (quanta, parity, silent_alignment): 3,280 lines.
# A new chapter brings its own module (ghost points: about 230 lines; the closing chapter's reading
# of every other chapter, see_it_coming: about 450), hence 4,050; in-context learning's
# icl_competition (about 230) raised it to 4,300.
MAX_MODULE_LINES = 550
MAX_FLOOR_LINES = 4_300


def modules() -> dict[str, Path]:
    return {path.stem: path for path in sorted(EXPERIMENTS_DIR.glob("*.py")) if path.stem != "__init__"}


def imports_from_experiments(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) for every experiment module a file imports: `from emergence.experiments.<module>
    import names`, and ("<module>", ["*"]) for the module itself (`from emergence.experiments import
    <module>`, `import emergence.experiments.<module>`), which gives access to all its names."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("emergence.experiments."):
            found.append((node.module.rsplit(".", 1)[-1], [alias.name for alias in node.names]))
        elif isinstance(node, ast.ImportFrom) and node.module == "emergence.experiments":
            found += [(alias.name, ["*"]) for alias in node.names if alias.name in modules()]
        elif isinstance(node, ast.Import):
            found += [(alias.name.rsplit(".", 1)[-1], ["*"]) for alias in node.names
                      if alias.name.startswith("emergence.experiments.")]
    return found


def test_no_figure_code_on_the_experiments_floor():
    for name, path in modules().items():
        assert "def plot_" not in path.read_text(), f"experiments/{name}.py draws figures"
    # nor anything it imports: every experiment loads without matplotlib (a process of its own)
    code = "import sys, emergence.experiments; sys.exit('matplotlib' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=PACKAGE.parent).returncode == 0


def test_the_layout_test_sees_every_form_of_import(tmp_path):
    source = tmp_path / "probe.py"
    source.write_text("from emergence.experiments import scaling_laws\nimport emergence.experiments.grokking\n"
                      "from emergence.experiments.sparse_parity import build_model\n")
    assert imports_from_experiments(source) == [("scaling_laws", ["*"]), ("grokking", ["*"]),
                                                 ("sparse_parity", ["build_model"])]


def test_a_chapter_uses_another_only_through_its_experiment():
    """No function of one chapter's module is used by another: a chapter that needs another's
    results runs it through its EXPERIMENT; a helper module serves one chapter only."""
    helpers = set(modules()) - set(EXPERIMENTS) - {"base"}
    users: dict[str, set[str]] = {helper: set() for helper in helpers}
    for name, path in modules().items():
        for module, names in imports_from_experiments(path):
            if module in users and name not in helpers:
                users[module].add(name)
            elif module in EXPERIMENTS and module != name and name in EXPERIMENTS:
                assert names == ["EXPERIMENT"], f"{name} uses {names} of {module}: use its EXPERIMENT"
    assert all(len(chapters) <= 1 for chapters in users.values()), users


def test_the_experiments_floor_stays_small():
    lines = {name: len(path.read_text().splitlines()) for name, path in modules().items()}
    assert max(lines.values()) <= MAX_MODULE_LINES, lines
    assert sum(lines.values()) <= MAX_FLOOR_LINES, (sum(lines.values()), lines)
