import json
import os
import time
from pathlib import Path

import pytest
import torch

from emergence import cache
from emergence.run import Run


def make_run(value=1.0):
    return Run("toy", {"a": 1}, {"value": value, "seconds": 0.0},
               {"step": torch.arange(3), "loss": torch.full((3, 2), value)},
               {0: {"w": torch.ones(2)}})


class Counter:
    def __init__(self, value=1.0):
        self.calls, self.value = 0, value

    def __call__(self):
        self.calls += 1
        return make_run(self.value)


def test_hit_miss_and_speed(cache_root):
    compute = Counter()
    first = cache.cached_run("toy", {"a": 1}, "cpu", compute)
    started = time.perf_counter()
    second = cache.cached_run("toy", {"a": 1}, "cpu", compute)
    assert time.perf_counter() - started < 0.5
    assert compute.calls == 1 and second.from_cache and not first.from_cache
    assert torch.equal(second.history["loss"], first.history["loss"])
    assert second.checkpoints[0]["w"].tolist() == [1.0, 1.0]
    cache.cached_run("toy", {"a": 2}, "cpu", compute)       # another setting: a miss
    cache.cached_run("toy", {"a": 1}, "cuda", compute)      # another device: a miss
    assert compute.calls == 3


def entry(cache_root):
    (folder,) = [p for p in (cache_root / "toy").iterdir() if not p.name.startswith(".")]
    return folder


@pytest.mark.parametrize("damage", ["flip_bytes", "truncate", "delete", "bad_json"])
def test_corrupt_entry_is_recomputed(cache_root, damage):
    compute = Counter()
    cache.cached_run("toy", {"a": 1}, "cpu", compute)
    folder = entry(cache_root)
    target = folder / ("run.json" if damage == "bad_json" else "history.pt")
    if damage == "flip_bytes":
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0xFF
        target.write_bytes(bytes(data))
    elif damage == "truncate":
        target.write_bytes(target.read_bytes()[:20])
    elif damage == "delete":
        target.unlink()
    else:
        target.write_text("{not json")
    with pytest.warns(UserWarning, match="unusable"):
        again = cache.cached_run("toy", {"a": 1}, "cpu", compute)
    assert compute.calls == 2 and not again.from_cache
    assert cache.cached_run("toy", {"a": 1}, "cpu", compute).from_cache  # healed


def test_foreign_entry_is_recomputed(cache_root):
    cache.cached_run("toy", {"a": 1}, "cpu", Counter(1.0))
    cache.cached_run("toy", {"a": 2}, "cpu", Counter(2.0))
    key1, key2 = (cache.run_key("toy", {"a": a}, "cpu") for a in (1, 2))
    # someone copied entry 2 over entry 1: its manifest names the wrong key
    root = cache_root / "toy"
    for f in os.listdir(root / key2):
        (root / key1 / f).write_bytes((root / key2 / f).read_bytes())
    compute = Counter(1.0)
    with pytest.warns(UserWarning, match="belongs to key"):
        run = cache.cached_run("toy", {"a": 1}, "cpu", compute)
    assert compute.calls == 1 and run.summary["value"] == 1.0


def test_failed_compute_leaves_nothing(cache_root):
    def boom():
        raise RuntimeError("crash mid-training")

    with pytest.raises(RuntimeError):
        cache.cached_run("toy", {"a": 1}, "cpu", boom)
    assert not (cache_root / "toy").exists() or not any((cache_root / "toy").iterdir())


def test_cache_can_be_turned_off(cache_root, monkeypatch):
    monkeypatch.setenv("EMERGENCE_CACHE", "0")
    compute = Counter()
    cache.cached_run("toy", {"a": 1}, "cpu", compute)
    cache.cached_run("toy", {"a": 1}, "cpu", compute)
    assert compute.calls == 2 and not cache_root.exists()


# --- the key covers the code a run can reach, and nothing else -------------------------------

@pytest.fixture
def package_copy(tmp_path):
    """A copy of the package's source to edit; returns (root, edit(relative path))."""
    import shutil
    import emergence
    root = tmp_path / "emergence"
    shutil.copytree(Path(emergence.__file__).parent, root, ignore=shutil.ignore_patterns("__pycache__"))

    def edit(relative: str) -> None:
        path = root / relative
        path.write_text(path.read_text() + "\n# an edit\n")
        cache.code_fingerprint.cache_clear()
    return root, edit


def test_the_key_follows_the_code_a_run_reaches(package_copy):
    root, edit = package_copy
    files = {f.relative_to(root).as_posix() for f in cache.source_files("mirage", root)}
    assert {"experiments/mirage.py", "experiments/scaling_laws.py", "experiments/base.py", "train.py",
            "measures/transitions.py", "models/width_mlp.py"} <= files          # panel C reuses scaling_laws
    assert not files & {"figures/common.py", "figures/mirage.py", "cli.py", "notebook.py",
                        "cache.py", "experiments/grokking.py", "measures/llc.py"}
    before = {name: cache.code_fingerprint(name, root) for name in ("grokking", "sparse_parity")}
    for unreached in ("figures/common.py", "figures/grokking.py", "cli.py", "notebook.py",
                      "experiments/emergent_misalignment.py"):
        edit(unreached)                       # a figure helper, the CLI, another chapter: still valid
        assert {name: cache.code_fingerprint(name, root) for name in before} == before
    edit("measures/llc.py")                   # a measure grokking uses and sparse parity does not
    assert cache.code_fingerprint("grokking", root) != before["grokking"]
    assert cache.code_fingerprint("sparse_parity", root) == before["sparse_parity"]
    edit("train.py")                          # the training loop: every chapter
    assert cache.code_fingerprint("sparse_parity", root) != before["sparse_parity"]


def test_cache_ls_and_prune_keep_what_this_code_can_use(cache_root, capsys):
    from emergence.cli import main
    cache.cached_run("toy", {"a": 1}, "cpu", Counter(1.0))
    cache.cached_run("toy", {"a": 2}, "cpu", Counter(2.0))
    stale = cache_root / "toy" / cache.run_key("toy", {"a": 2}, "cpu")
    manifest = json.loads((stale / "manifest.json").read_text())
    (stale / "manifest.json").write_text(json.dumps({**manifest, "code": "older code"}))
    (cache_root / "toy" / ".leftover.tmp").mkdir()                  # a crashed write's temporary folder
    assert main(["cache", "ls"]) == 0
    listing = capsys.readouterr().out
    assert listing.count(" yes") == 1 and listing.count(" no") == 2 and "3 entries" in listing
    assert main(["cache", "prune"]) == 0 and "removed 2 entries" in capsys.readouterr().out
    assert [e["usable"] for e in cache.entries()] == [True]
    assert cache.cached_run("toy", {"a": 1}, "cpu", Counter(1.0)).from_cache
    main(["cache", "prune", "--all"])
    assert cache.entries() == []


def test_same_numbers_reports_every_difference_and_ignores_provenance():
    import sys
    sys.path.insert(0, str(Path(__file__).parent))
    from same_numbers import differences
    before = {"a": 1.0, "b": [1, 2], "seconds": 3.0, "config": {"x": 1}, "train_s": 1.0, "c": {"d": float("nan")}}
    assert differences(before, dict(before, seconds=9.0, config={"x": 2}, train_s=2.0)) == []
    assert differences(before, dict(before, a=1.0 + 1e-12)) == []
    assert differences(before, dict(before, a=1.001, b=[1, 3])) == ["a: 1.0 != 1.001", "b[1]: 2 != 3"]
    assert differences(before, {k: v for k, v in before.items() if k != "c"}) == ["c: only in before"]
    assert differences(before, dict(before, e=1)) == ["e: added"]
    from same_numbers import renamed
    assert renamed({"llc": {"epochs": [0, 5], "mean": [1.0]}}, {"llc.epochs": "llc.steps"}) == {
        "llc": {"steps": [0, 5], "mean": [1.0]}}
