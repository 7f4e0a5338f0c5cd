"""Acceptance criteria that say what they measured.

A chapter's acceptance test states each criterion as `check(name, value, op, threshold, seed=...)`
instead of a bare `assert`.  A check that fails makes its test fail (conftest.py raises once the
test body has run, so every seed is still measured and reported together), and with
`EMERGENCE_CRITERIA_LOG=path` every check, passed or not, is appended to that JSON-lines file:
the portability audit (tests/portability.py) turns those records into tests/README.md's table of
values over seeds and kernel dispatches, thresholds and margins.

`chapter_run(module)` is the run the acceptance fixtures test: the chapter's `fast` preset (from
the run cache).  The audit sets `EMERGENCE_AUDIT_SEED` to the first seed of another block and
`EMERGENCE_AUDIT_RUN` to the folder its training wrote (`python -m emergence run ... --out`), so the
tests read that run whatever the package's code is now.  The book build's Results page sets
`EMERGENCE_RESULTS_RUNS` to the site's folder of published runs (one `<experiment>/` folder each,
as `--out` writes them) and reads every chapter's checks from there (book/_ext/results.py).
"""

from __future__ import annotations

import json
import math
import operator
import os
from pathlib import Path

OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}
_failures: list[str] = []
expected_failure = False        # set by conftest.py: the running test is marked xfail


def chapter_run(module):
    """The chapter's `fast` run: trained or loaded from the cache, or in the audit the run that
    EMERGENCE_AUDIT_RUN names (its summary.json and history.npz; no checkpoints)."""
    folder = os.environ.get("EMERGENCE_AUDIT_RUN")
    if os.environ.get("EMERGENCE_RESULTS_RUNS"):
        folder = str(Path(os.environ["EMERGENCE_RESULTS_RUNS"]) / module.NAME)
    if not folder:
        return module.run(fast(module.Config))
    import numpy as np
    import torch

    from emergence.experiments import Run
    summary = json.loads((Path(folder) / "summary.json").read_text())
    with np.load(Path(folder) / "history.npz") as arrays:
        history = {k: torch.from_numpy(arrays[k]) for k in arrays.files}
    # two chapters' summaries do not repeat their config: it is the preset on the audit's seeds
    config = summary.get("config") or fast(module.Config).to_dict()
    return Run(module.NAME, config, summary, history, from_cache=True)


def fast(config_class, **overrides):
    """The chapter's `fast` preset, on the audit's seed block when one is set."""
    seed = os.environ.get("EMERGENCE_AUDIT_SEED")
    if seed is not None:
        overrides.setdefault("seed", int(seed))
    return config_class.preset("fast", **overrides)


def margin(value, op: str, threshold) -> float | None:
    """How far `value` is on the passing side of `threshold` (negative: failing)."""
    if value is None or not math.isfinite(value):
        return None
    return float(value - threshold) if op in (">=", ">") else float(threshold - value)


def ratio(numerator, denominator) -> float | None:
    """numerator / denominator, or None (a failing value) when either is missing or it divides by 0."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def difference(a, b) -> float | None:
    """a - b, or None (a failing value) when either is missing."""
    return None if a is None or b is None else a - b


def check(criterion: str, value, op: str, threshold, *, seed=None) -> bool:
    """Record `value op threshold` for `criterion` on `seed` (an int, or the list of seeds a
    value aggregates, e.g. a median over seeds); a failure fails the test."""
    if op not in OPS:
        raise ValueError(f"op={op!r} is not allowed: one of {', '.join(OPS)}")
    value = None if value is None else float(value)
    passed = value is not None and math.isfinite(value) and bool(OPS[op](value, threshold))
    log = os.environ.get("EMERGENCE_CRITERIA_LOG")
    if log:
        test = os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0]
        record = {"test": test, "criterion": criterion,
                  "seed": list(seed) if isinstance(seed, (list, tuple, range)) else seed, "value": value, "op": op,
                  "threshold": float(threshold), "margin": margin(value, op, threshold),
                  "passed": passed, "expected_failure": expected_failure, "dispatch": os.environ.get("ATEN_CPU_CAPABILITY") or "native",
                  "seed_block": os.environ.get("EMERGENCE_AUDIT_SEED")}
        with open(log, "a") as f:
            f.write(json.dumps(record) + "\n")
    if not passed:
        where = "" if seed is None else f" (seed {seed})"
        _failures.append(f"{criterion}{where}: {value} {op} {threshold} does not hold")
    return passed


def take_failures() -> list[str]:
    """The failed checks since the last call, and forget them."""
    failed = list(_failures)
    _failures.clear()
    return failed
