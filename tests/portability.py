"""The portability audit behind `make portability` and the table in tests/README.md.

Every chapter's acceptance tests are rerun on the `fast` profile over at least six seeds and
under two CPU kernel dispatches: the machine's own and `ATEN_CPU_CAPABILITY=default` (plain C++
kernels, what a CPU without AVX2/AVX-512 would run).  Other dispatches change a trajectory's
floating-point sums, so a criterion that holds only on one trajectory shows up here.

    python tests/portability.py train     # the runs: chapter x seed block x dispatch (about 1 h here)
    python tests/portability.py check     # the acceptance tests on each of those runs, recorded
    python tests/portability.py table     # tests/README.md's table from the records
    python tests/portability.py           # all three

Each seed block is the chapter's `fast` preset with its first seed moved (`seed = 0, n, 2n, ...`
for n seeds per run), so every run is the published configuration, only on other seeds.  Runs go
in their own processes (the dispatch is fixed when torch loads), into a separate cache per
dispatch and thread count under `_build/portability/`; the acceptance tests then read those runs'
folders (EMERGENCE_AUDIT_RUN; EMERGENCE_AUDIT_SEED names the block), and every `check` they
make is recorded under `_build/portability/records/` (tests/acceptance.py); only the tests that
read the chapter's run are collected there (conftest.py).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "_build" / "portability"
DISPATCHES = {"native": None, "default": "default"}   # name -> ATEN_CPU_CAPABILITY
CHAPTERS = ("grokking", "sparse_parity", "scaling_laws", "mirage", "silent_alignment", "icl_competition",
            "llc_validation", "emergent_misalignment", "induction_heads", "ghost_points")
MIN_SEEDS = 6
# Chapters whose summary measures some criteria on the run's first seed only (the LLC curve, the
# weight-decay sweep): runs starting at other seeds give those criteria their six seeds.
FIRST_SEED_ONLY = ("grokking", "induction_heads")
# The mirage's panel C reads the scaling-laws run that starts at the mirage's own seed (two
# seeds): runs starting at these seeds give it six.
PANEL_C_SEEDS = 2


def seeds_per_run(name: str) -> int:
    """How many seeds one run of the chapter covers, counting from its `seed` setting."""
    from emergence.experiments import get
    config = get(name).Config.preset("fast")
    if name == "emergent_misalignment":
        return config.n_bases          # `seed` is the pre-trained base's; its fine-tunings follow it
    return getattr(config, "n_seeds", 1)


def seed_blocks(name: str) -> list[int]:
    """First seeds of the runs that together cover at least MIN_SEEDS seeds."""
    n = seeds_per_run(name)
    return [i * n for i in range(math.ceil(MIN_SEEDS / n))]


def extra_blocks(name: str) -> list[int]:
    """More first seeds, for the criteria a chapter measures on its first seed only."""
    if name == "mirage":
        return [seed for seed in range(0, MIN_SEEDS, PANEL_C_SEEDS) if seed not in seed_blocks(name)]
    if name not in FIRST_SEED_ONLY:
        return []
    return [seed for seed in range(MIN_SEEDS) if seed not in seed_blocks(name)]


def plan(chapters, dispatches) -> list[tuple[str, str, int]]:
    """(dispatch, chapter, first seed) for every run: all chapters' seed blocks under every
    dispatch first, the extra first seeds last (they serve fewer criteria)."""
    main = [(d, c, s) for d in dispatches for c in chapters for s in seed_blocks(c)]
    return main + [(d, c, s) for d in dispatches for c in chapters for s in extra_blocks(c)]


def setting(dispatch: str, threads: int) -> str:
    """The folder name of one dispatch at one CPU thread count (0: the machine's default)."""
    return dispatch if threads == 0 else f"{dispatch}-{threads}thread"


def environment(dispatch: str, threads: int, seed: int | None = None) -> dict[str, str]:
    env = dict(os.environ, EMERGENCE_CACHE_DIR=str(OUT / "cache" / setting(dispatch, threads)),
               EMERGENCE_CACHE="1", EMERGENCE_PROGRESS="0", EMERGENCE_PROFILE="fast")
    # the same thread count in training and in checking (the run cache is keyed on it)
    for name in ("ATEN_CPU_CAPABILITY", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.pop(name, None)
    if threads:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    if DISPATCHES[dispatch]:
        env["ATEN_CPU_CAPABILITY"] = DISPATCHES[dispatch]
    if seed is not None:
        env["EMERGENCE_AUDIT_SEED"] = str(seed)
    return env


def run_folder(dispatch: str, threads: int, name: str, seed: int) -> Path:
    return OUT / "runs" / setting(dispatch, threads) / f"{name}-seed{seed}"


def train(chapters, dispatches, threads: int, workers: int) -> None:
    """Every planned run not yet done, each in its own process (cwd outside the repository, so a
    PYTHONPATH that points at another checkout of the package is honoured).  With `workers` > 1,
    that many at once: give each one thread (two torch processes with two threads each on two
    cores slow each other down many times over)."""
    OUT.mkdir(parents=True, exist_ok=True)

    def one(job):
        dispatch, name, seed = job
        out = run_folder(dispatch, threads, name, seed)
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "emergence", "run", name, "--profile", "fast",
             "--set", f"seed={seed}", "--out", str(out)],
            env=environment(dispatch, threads), cwd=OUT, capture_output=True, text=True)
        took = time.perf_counter() - started
        status = "ok" if result.returncode == 0 else f"FAILED ({result.returncode})"
        print(f"{setting(dispatch, threads):16s} {name:22s} seed {seed:2d}: {status} in {took:.0f} s", flush=True)
        if result.returncode:
            print(result.stderr[-3000:], flush=True)

    todo = [job for job in plan(chapters, dispatches)
            if not (run_folder(job[0], threads, *job[1:]) / "summary.json").exists()]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(one, todo))


def records_file(dispatch: str, threads: int, name: str, seed: int) -> Path:
    return OUT / "records" / setting(dispatch, threads) / f"{name}-seed{seed}.jsonl"


def check(chapters, dispatches, threads: int, again: bool = False) -> None:
    """Each chapter's acceptance tests on each trained run, every check written to that run's
    records file.  Runs not trained yet are skipped (the table says so), and so are runs
    already checked, unless `again` (after a test changed)."""
    for dispatch, name, seed in plan(chapters, dispatches):
        label = f"{setting(dispatch, threads):16s} {name:22s} seed {seed:2d}"
        records = records_file(dispatch, threads, name, seed)
        if not (run_folder(dispatch, threads, name, seed) / "summary.json").exists():
            print(f"{label}: not trained, skipped", flush=True)
            continue
        if records.exists() and not again:
            continue
        records.parent.mkdir(parents=True, exist_ok=True)
        partial = records.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        env = dict(environment(dispatch, threads, seed), EMERGENCE_CRITERIA_LOG=str(partial),
                   EMERGENCE_AUDIT_RUN=str(run_folder(dispatch, threads, name, seed)))
        result = subprocess.run(
            [sys.executable, "-m", "pytest", str(ROOT / "tests" / f"test_{name}.py"), "-q",
             "--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml"), "--no-header", "-rN"],
            env=env, cwd=OUT, capture_output=True, text=True)
        records.with_suffix(".log").write_text(result.stdout + result.stderr)
        partial.touch()
        os.replace(partial, records)      # a run counts as checked only once pytest finished
        last = (result.stdout.strip().splitlines() or ["(no output)"])[-1]
        print(f"{label}: {last}", flush=True)


def all_records(threads: int) -> list[dict]:
    folders = [OUT / "records" / setting(d, threads) for d in DISPATCHES]
    return [json.loads(line) for folder in folders if folder.exists()
            for path in sorted(folder.glob("*.jsonl")) for line in path.read_text().splitlines() if line.strip()]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", nargs="?", default="all", choices=("train", "check", "table", "all"))
    parser.add_argument("--chapters", default=",".join(CHAPTERS))
    parser.add_argument("--dispatches", default=",".join(DISPATCHES))
    parser.add_argument("--threads", type=int, default=0,
                        help="CPU threads per run (default 0: the machine's default, as in CI)")
    parser.add_argument("--workers", type=int, default=1, help="runs trained at once (default 1)")
    parser.add_argument("--again", action="store_true", help="check: recheck runs already checked")
    args = parser.parse_args(argv)
    chapters = [c for c in args.chapters.split(",") if c]
    dispatches = [d for d in args.dispatches.split(",") if d]
    for name in chapters:
        if name not in CHAPTERS:
            parser.error(f"--chapters: unknown chapter {name!r}; allowed: {', '.join(CHAPTERS)}")
    for name in dispatches:
        if name not in DISPATCHES:
            parser.error(f"--dispatches: unknown dispatch {name!r}; allowed: {', '.join(DISPATCHES)}")
    if args.threads < 0 or args.workers < 1:
        parser.error(f"--threads {args.threads} / --workers {args.workers}: threads >= 0 and workers >= 1")
    if args.step in ("train", "all"):
        train(chapters, dispatches, args.threads, args.workers)
    if args.step in ("check", "all"):
        check(chapters, dispatches, args.threads, args.again)
    if args.step in ("table", "all"):
        write_table(all_records(args.threads), ROOT / "tests" / "README.md", args.threads)
    return 0



# --- the table ------------------------------------------------------------------------------

BEGIN, END = "<!-- portability table: begin -->", "<!-- portability table: end -->"


def _number(value) -> str:
    if value is None:
        return "none"
    if float(value).is_integer() and abs(value) < 1e6:
        return f"{int(value)}"
    return f"{value:.3g}"


def summarize(records: list[dict]) -> list[dict]:
    """One row per (chapter, criterion): values per dispatch over distinct seeds, the worst
    margin, and how many (seed, dispatch) pairs pass.  A seed measured by two overlapping runs
    counts once (its first record)."""
    rows: dict[tuple, dict] = {}
    for r in records:
        chapter = r["test"].split("/")[-1].split("::")[0].removeprefix("test_").removesuffix(".py")
        row = rows.setdefault((chapter, r["criterion"]), {
            "chapter": chapter, "criterion": r["criterion"], "test": r["test"].split("::")[-1],
            "op": r["op"], "threshold": r["threshold"], "expected_failure": r.get("expected_failure", False),
            "by_dispatch": {}})
        seed = r["seed"] if r["seed"] is not None else r["seed_block"]
        row["by_dispatch"].setdefault(r["dispatch"], {}).setdefault(json.dumps(seed), r)
    out = []
    for row in rows.values():
        measured = [r for seeds in row["by_dispatch"].values() for r in seeds.values()]
        margins = [r["margin"] for r in measured]
        row["n"] = len(measured)
        row["passed"] = sum(r["passed"] for r in measured)
        row["worst_margin"] = None if None in margins else min(margins)
        # seeds covered per dispatch: a value over several seeds (a median) covers them all
        row["seeds"] = {d: len({x for key in s for x in _as_list(json.loads(key))})
                        for d, s in row["by_dispatch"].items()}
        out.append(row)
    return sorted(out, key=lambda r: (r["chapter"], r["test"]))


def _as_list(seed) -> list:
    """The seeds a record covers: a list, one seed, or none (a str such as "deterministic")."""
    if isinstance(seed, str):
        return []
    return seed if isinstance(seed, list) else [seed]


def table(rows: list[dict]) -> str:
    lines = ["| chapter | criterion | threshold | values: native dispatch | values: `ATEN_CPU_CAPABILITY=default` "
             "| worst margin | holds |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        cells = []
        for dispatch in DISPATCHES:
            values = [r["value"] for r in row["by_dispatch"].get(dispatch, {}).values()]
            finite = [v for v in values if v is not None]
            if not values:
                cells.append("not run")
            elif len(finite) < len(values) or not finite:
                cells.append(f"{len(values)} seeds, some none")
            else:
                seeds = row["seeds"][dispatch]
                what = f"{seeds} seeds" if seeds == len(values) else f"{len(values)} runs, {seeds} seeds"
                cells.append(f"{_number(min(finite))} – {_number(max(finite))} ({what})")
        worst = row["worst_margin"]
        relative = "" if worst is None or row["threshold"] == 0 else f" ({100 * worst / abs(row['threshold']):+.0f} %)"
        verdict = f"{row['passed']}/{row['n']}"
        if row["expected_failure"]:
            verdict += " (expected failure)"
        elif max(row["seeds"].values()) == 0:
            verdict += " (no seed: deterministic)"
        elif min(row["seeds"].get(d, 0) for d in DISPATCHES) < MIN_SEEDS:
            verdict += f" (fewer than {MIN_SEEDS} seeds per dispatch)"
        cells = [row["chapter"], f"{row['criterion']} (`{row['test']}`)", f"{row['op']} {_number(row['threshold'])}",
                 *cells, f"{_number(worst)}{relative}", verdict]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")   # |x| in a name
    return "\n".join(lines)


def write_table(records: list[dict], readme: Path, threads: int) -> None:
    """Replace the table between the markers in tests/README.md.  The rows of chapters with no
    records here (not audited on this machine, or their records gone with _build/) are kept from
    the table already there, with that table's stamp."""
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{readme} has no {BEGIN} ... {END} markers to write the table between")
    head, rest = text.split(BEGIN, 1)
    old, tail = rest.split(END, 1)
    rows_now = summarize(records)
    audited = sorted({row["chapter"] for row in rows_now})
    new_lines = table(rows_now).splitlines()
    kept = [line for line in _table_rows(old) if _chapter_of(line) not in audited]
    rows = sorted(new_lines[2:] + kept, key=_chapter_of)      # stable: each chapter's own order
    stamp = (f"\n_Written by `python tests/portability.py table` on {time.strftime('%Y-%m-%d')}, "
             f"from {len(records)} checks of {', '.join(audited) or 'no chapter'}; torch {_torch_version()}, "
             f"CPU: {_cpu_name()}, {threads or 'the default number of'} CPU thread(s) per run._\n")
    if kept:
        kept_chapters = ", ".join(sorted({_chapter_of(line) for line in kept}))
        stamp += f"_The rows of {kept_chapters} are kept from the table before: {_stamps(old)}_\n"
    readme.write_text(head + BEGIN + stamp + "\n" + "\n".join(new_lines[:2] + rows) + "\n" + END + tail)
    print(f"wrote the table of {len(records)} checks to {readme}" + (f" (kept {len(kept)} rows)" if kept else ""))


def _table_rows(block: str) -> list[str]:
    lines = [line for line in block.splitlines() if line.startswith("| ")]
    return lines[1:]                                           # not the header; the |---| line has no space


def _chapter_of(line: str) -> str:
    return line.split("|")[1].strip()


def _stamps(block: str) -> str:
    """The old table's stamp lines, without their emphasis, joined."""
    lines = [line.strip().strip("_") for line in block.splitlines() if line.startswith("_")]
    return " ".join(lines) or "(no stamp)"


def _torch_version() -> str:
    import torch
    return f"{torch.__version__} ({torch.backends.cpu.get_cpu_capability()} kernels native)"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cores"
    except OSError:
        pass
    import platform
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"


if __name__ == "__main__":
    sys.exit(main())
