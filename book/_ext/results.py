"""Results to take away: every chapter's run published beside its page, and a Results page
that lists every chapter's acceptance checks, generated at build time.

1. Before the chapters execute, the build sets EMERGENCE_SITE_RUNS to a folder of its own.  A
   chapter's `settings_used(config, profile)` (emergence/notebook.py) notes there which cache
   entry its run is, and its Settings-used box links `_static/runs/<experiment>/summary.json`
   and `history.npz`.
2. Once every chapter has executed (`env-updated`), the build copies each noted run out of the
   cache into `_static/runs/<experiment>/` (the files `python -m emergence run NAME --out`
   writes) and runs every chapter's acceptance tests against those very files, in one pytest
   process (EMERGENCE_RESULTS_RUNS; tests/acceptance.py), recording each check.
3. The `{results-table}` directive on book/results.md becomes, per chapter, a table of those
   checks: criterion, value, threshold, and whether it holds; `_static/runs/results.json`
   holds the same records.

A noted run that is missing from the cache, or tests that cannot run, are build warnings
(errors under -W): the site never links a file it does not have.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from docutils import nodes
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

LOGGER = logging.getLogger(__name__)
SITE_RUNS = "EMERGENCE_SITE_RUNS"          # emergence/notebook.py reads the same name


class results_placeholder(nodes.General, nodes.Element):
    """Where the Results page's tables go, once every chapter has run."""


class ResultsTable(SphinxDirective):
    def run(self):
        return [results_placeholder()]


def _notes_folder(app) -> Path:
    return Path(app.outdir).parent / "site-runs"


def start_fresh(app, config) -> None:
    """Before any chapter runs: an empty notes folder, named for the kernels."""
    folder = _notes_folder(app)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ[SITE_RUNS] = str(folder)


def chapter_pages(app) -> dict[str, str]:
    """experiment name -> the docname of the chapter that imports it (each chapter imports its own
    experiment, and only that one, from emergence.experiments)."""
    pages = {}
    for path in sorted(Path(app.srcdir, "book").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        found = re.search(r"from emergence\.experiments import (\w+)", code)
        if found:
            pages[found.group(1)] = f"book/{path.stem}"
    return pages


def publish_and_check(app, env) -> None:
    """Copy every noted run into _static/runs/ and run the chapters' acceptance tests on them."""
    from emergence import cache
    from emergence.cli import write_outputs

    runs = Path(app.outdir) / "_static" / "runs"
    shutil.rmtree(runs, ignore_errors=True)
    published = {}
    for note_file in sorted(_notes_folder(app).glob("*.json")):
        note = json.loads(note_file.read_text())
        run = cache.load(note["key"], note["experiment"], Path(note["cache"]))
        if run is None:
            LOGGER.warning(f"results: the run of {note['experiment']} is not in the cache "
                           f"({note['cache']}); its page links no summary (is EMERGENCE_CACHE=0?)")
            continue
        write_outputs(run, runs / note["experiment"])
        published[note["experiment"]] = note["profile"]
    app.env.emergence_results = {"published": published, "checks": _check(app, runs, sorted(published))}
    runs.mkdir(parents=True, exist_ok=True)
    (runs / "results.json").write_text(json.dumps(app.env.emergence_results, indent=1))


def _check(app, runs: Path, names: list[str]) -> dict:
    """{experiment: {"tests": {test: outcome}, "checks": [records]}} from one pytest process."""
    root = Path(app.srcdir)
    files = [f"tests/test_{name}.py" for name in names if (root / "tests" / f"test_{name}.py").exists()]
    if not files:
        return {}
    log, junit = runs / ".checks.jsonl", runs / ".junit.xml"
    env = dict(os.environ, EMERGENCE_RESULTS_RUNS=str(runs), EMERGENCE_CRITERIA_LOG=str(log))
    env.pop("EMERGENCE_AUDIT_SEED", None)
    env.pop("EMERGENCE_AUDIT_RUN", None)
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           f"--junitxml={junit}", *files], cwd=root, env=env, capture_output=True, text=True)
    if not junit.exists():
        LOGGER.warning(f"results: the acceptance tests did not run:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        return {}
    out = {name: {"tests": {}, "checks": []} for name in names}
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = case.get("classname", "").rsplit(".", 1)[-1].removeprefix("test_")
        outcome = ("failed" if case.find("failure") is not None or case.find("error") is not None
                   else "expected failure" if case.find("skipped") is not None else "passed")
        if name in out:
            out[name]["tests"][case.get("name")] = outcome
    for line in log.read_text().splitlines() if log.exists() else []:
        record = json.loads(line)
        name = record["test"].split("::")[0].rsplit("/", 1)[-1].removeprefix("test_").removesuffix(".py")
        if name in out:
            out[name]["checks"].append(record)
    log.unlink(missing_ok=True)
    junit.unlink(missing_ok=True)
    return out


def _number(value) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def fill_tables(app, doctree, docname) -> None:
    """Replace the placeholder with one section per chapter: its checks and their status."""
    results = getattr(app.env, "emergence_results", None)
    for placeholder in doctree.findall(results_placeholder):
        if results is None:
            placeholder.replace_self(nodes.paragraph(text="No chapter ran in this build."))
            continue
        pages, blocks = chapter_pages(app), []
        order = sorted(results["checks"], key=lambda n: pages.get(n, n))
        for name in order:
            blocks += _chapter_block(app, docname, name, pages.get(name), results)
        placeholder.replace_self(blocks)


def _chapter_block(app, docname, name, page, results) -> list:
    chapter = results["checks"][name]
    tests, checks = chapter["tests"], chapter["checks"]
    failed = [t for t, o in tests.items() if o == "failed"]
    expected = [t for t, o in tests.items() if o == "expected failure"]
    title = nodes.paragraph()
    strong = nodes.strong()
    if page:
        ref = nodes.reference("", "", internal=True,
                              refuri=app.builder.get_relative_uri(docname, page))
        ref += nodes.Text(app.env.titles[page].astext() if page in app.env.titles else name)
        strong += ref
    else:
        strong += nodes.Text(name)
    title += strong
    profile = results["published"].get(name, "?")
    status = ("all pass" if not failed else f"{len(failed)} failing")
    title += nodes.Text(f" ({name}, profile {profile}): {len(tests)} acceptance tests, {status}"
                        + (f", {len(expected)} expected failure(s), recorded as such" if expected else "")
                        + ". " + ("" if profile == "fast" else "The thresholds are set for the fast profile. "))
    download = nodes.reference("", "summary.json", refuri=f"{app.builder.get_target_uri(docname).count('/') * '../'}_static/runs/{name}/summary.json")
    title += nodes.Text("Run: ")
    title += download
    table = nodes.table(classes=["results-table"], ids=[f"results-{name.replace('_', '-')}"])
    group = nodes.tgroup(cols=4)
    table += group
    for width in (60, 12, 16, 12):
        group += nodes.colspec(colwidth=width)
    head = nodes.thead()
    group += head
    head += _row(["criterion", "value", "threshold", "holds"])
    body = nodes.tbody()
    group += body
    for record in checks:
        where = "" if record.get("seed") is None else f" (seed {record['seed']})"
        status = "yes" if record["passed"] else ("no: expected failure" if record["expected_failure"] else "no")
        row = _row([record["criterion"] + where, _number(record["value"]),
                    f"{record['op']} {record['threshold']:.4g}", status])
        row["classes"].append("results-check")
        body += row
    return [title, table]


def _row(cells: list[str]):
    row = nodes.row()
    for text in cells:
        entry = nodes.entry()
        entry += nodes.paragraph(text=text)
        row += entry
    return row


def setup(app):
    app.add_node(results_placeholder)
    app.add_directive("results-table", ResultsTable)
    app.connect("config-inited", start_fresh)
    app.connect("env-updated", publish_and_check)
    app.connect("doctree-resolved", fill_tables)
    return {"parallel_read_safe": False, "parallel_write_safe": True}
