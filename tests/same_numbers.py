"""Does a refactor keep the numbers?  Compare two runs' summaries key by key.

    python tests/same_numbers.py BEFORE AFTER

BEFORE and AFTER are summary.json files, or folders holding `<experiment>/summary.json` (as
`python -m emergence run NAME --out FOLDER/NAME` writes them); folders are compared experiment by
experiment.  Make the two on the same machine, with the same settings and thread count, one with
the old code (e.g. a `git worktree` of the commit before, on PYTHONPATH) and one with the new.
Floats must agree to a relative 1e-9 (the same code on the same machine gives the same bits; the
slack only forgives a changed summation order in a summary statistic), everything else exactly.
Timings and provenance (`seconds`, `*_seconds`, `timings`, `*_s`, `device`, `threads`, `versions`,
`config`) are not compared.  Keys the refactor renamed on purpose (RENAMED) are compared under
their new names; a key only the new summary has is listed as added, which is no changed number.
Exit status 1 lists every difference.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

IGNORED = {"seconds", "timings", "device", "threads", "versions", "config", "from_cache"}
RTOL = 1e-9
# Deliberate renames, experiment -> {old dotted path: new dotted path}: issue 20 gave the LLC over
# training one key scheme (measures/llc.llc_trajectory), so grokking's epochs became steps.
RENAMED = {"grokking": {"llc.epochs": "llc.steps", "llc.jump_epochs": "llc.jump_steps"}}


def renamed(summary: dict, renames: dict[str, str]) -> dict:
    """`summary` with each old dotted path renamed to its new one (where present): a rename keeps
    the parent, e.g. llc.epochs -> llc.steps."""
    for old, new in renames.items():
        *where, key = old.split(".")
        assert new.rsplit(".", 1)[0] == old.rsplit(".", 1)[0], f"{old} -> {new}: not a rename in place"
        node = summary
        for part in where:
            node = node.get(part, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict) and key in node:
            node[new.rsplit(".", 1)[-1]] = node.pop(key)
    return summary


def differences(before, after, path: str = "") -> list[str]:
    """Every place where two JSON values differ, as 'path: before != after'."""
    if isinstance(before, dict) and isinstance(after, dict):
        out = []
        for key in sorted(set(before) | set(after)):
            if key in IGNORED or key.endswith(("_s", "seconds")):
                continue
            where = f"{path}.{key}" if path else key
            if key not in before:
                out.append(f"{where}: added")
            elif key not in after:
                out.append(f"{where}: only in before")
            else:
                out += differences(before[key], after[key], where)
        return out
    if isinstance(before, list) and isinstance(after, list):
        if len(before) != len(after):
            return [f"{path}: {len(before)} items != {len(after)}"]
        return [d for i, (b, a) in enumerate(zip(before, after)) for d in differences(b, a, f"{path}[{i}]")]
    if isinstance(before, float) and isinstance(after, float):
        same = (math.isnan(before) and math.isnan(after)) or math.isclose(before, after, rel_tol=RTOL, abs_tol=0)
        return [] if same else [f"{path}: {before!r} != {after!r}"]
    return [] if before == after else [f"{path}: {before!r} != {after!r}"]


def pairs(before: Path, after: Path) -> list[tuple[str, Path, Path]]:
    if before.is_file():
        return [(before.parent.name, before, after)]
    found = sorted(p.parent.name for p in before.glob("*/summary.json"))
    return [(name, before / name / "summary.json", after / name / "summary.json") for name in found]


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    failed = False
    for name, b, a in pairs(Path(argv[0]), Path(argv[1])):
        if not a.exists():
            print(f"{name}: no {a}")
            failed = True
            continue
        found = differences(renamed(json.loads(b.read_text()), RENAMED.get(name, {})), json.loads(a.read_text()))
        added = [line for line in found if line.endswith(": added")]
        diff = [line for line in found if line not in added]
        print(f"{name}: {'same numbers' if not diff else f'{len(diff)} differences'}"
              + (f" ({len(added)} keys added: {', '.join(line[:-7] for line in added)})" if added else ""))
        for line in diff[:50]:
            print(f"  {line}")
        failed |= bool(diff)
    return int(failed)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
