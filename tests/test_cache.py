import os
import time

import pytest
import torch

from emergence import cache
from emergence.experiments.base import Run


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
