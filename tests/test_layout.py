"""The package's rooms, as README.md (Layout) and experiments/base.py describe them: each chapter's
experiment module holds its settings and computation only; figures live in emergence/figures;
what several chapters could use lives on the floors below (tasks, models, measures, train)."""

from __future__ import annotations

import ast
from pathlib import Path

from emergence.experiments import EXPERIMENTS

PACKAGE = Path(__file__).resolve().parents[1] / "emergence"
EXPERIMENTS_DIR = PACKAGE / "experiments"
# The budget of issue 20 ("no chapter module over ~500 lines, ~3,000 in all"), with a little slack:
# a module that outgrows it has pieces that belong on a floor below, or a helper module of its own.
MAX_MODULE_LINES = 550
MAX_FLOOR_LINES = 3_250


def modules() -> dict[str, Path]:
    return {path.stem: path for path in sorted(EXPERIMENTS_DIR.glob("*.py")) if path.stem != "__init__"}


def imports_from_experiments(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every `from emergence.experiments.<module> import names` in a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("emergence.experiments."):
            found.append((node.module.rsplit(".", 1)[-1], [alias.name for alias in node.names]))
    return found


def test_no_figure_code_on_the_experiments_floor():
    for name, path in modules().items():
        source = path.read_text()
        assert "def plot_" not in source and "matplotlib" not in source, f"experiments/{name}.py draws figures"


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
