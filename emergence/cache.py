"""A content-addressed run cache shared by notebooks, the CLI, nbval and the book build.

key = sha256(experiment, config, package version and source, torch version, device type, and on a
CPU the thread count and the kernel dispatch).
An entry is a folder <cache>/<name>/<key>/ with run.json, history.pt, checkpoints.pt and a
manifest.json (the key and a sha256 of each file), written to a temporary folder first and
renamed into place, so a crash never leaves half an entry.  A corrupt or foreign entry is
reported, removed and recomputed; tensors are loaded with weights_only=True.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable

import torch

import emergence
from emergence.experiments.base import Run

SCHEMA = 1
FILES = ("run.json", "history.pt", "checkpoints.pt")


def cache_dir() -> Path:
    """EMERGENCE_CACHE_DIR, else ~/.cache/emergence (XDG_CACHE_HOME respected)."""
    env = os.environ.get("EMERGENCE_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "emergence"


def cache_enabled() -> bool:
    return os.environ.get("EMERGENCE_CACHE", "1") not in ("0", "false", "no")


@functools.lru_cache(maxsize=1)
def package_fingerprint() -> str:
    """Hash of the package's source, so editing the code invalidates its cached runs.

    Computed once per process: after editing the package, restart the kernel."""
    digest = hashlib.sha256(emergence.__version__.encode())
    root = Path(emergence.__file__).parent
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def run_key(name: str, config: dict, device_type: str) -> str:
    payload = {
        "schema": SCHEMA, "experiment": name, "config": config,
        "package": package_fingerprint(), "torch": torch.__version__,
        "device": device_type, "default_dtype": str(torch.get_default_dtype()),
        "matmul_precision": torch.get_float32_matmul_precision(),
        # the CPU thread count changes summation order, and with it a trajectory
        "threads": torch.get_num_threads() if device_type == "cpu" else None,
        # so do the CPU's vector kernels (AVX-512, AVX2, or plain C++ under ATEN_CPU_CAPABILITY)
        "cpu_capability": torch.backends.cpu.get_cpu_capability() if device_type == "cpu" else None,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


def _tensor_bytes(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def save(run: Run, key: str, root: Path | None = None) -> Path:
    """Write `run` atomically under its key; returns the entry's folder."""
    root = (root or cache_dir()) / run.name
    root.mkdir(parents=True, exist_ok=True)
    final = root / key
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=root))
    try:
        data = {"run.json": json.dumps({"name": run.name, "config": run.config,
                                        "summary": run.summary}, indent=1).encode(),
                "history.pt": _tensor_bytes(run.history),
                "checkpoints.pt": _tensor_bytes(run.checkpoints)}
        for f, content in data.items():
            (tmp / f).write_bytes(content)
        manifest = {"key": key, "files": {f: hashlib.sha256(c).hexdigest() for f, c in data.items()}}
        (tmp / "manifest.json").write_text(json.dumps(manifest))
        try:
            os.replace(tmp, final)
        except OSError:
            if not final.exists():
                raise
            shutil.rmtree(tmp)  # another process stored the same run meanwhile; keep theirs
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


class CacheEntryError(RuntimeError):
    pass


def load(key: str, name: str, root: Path | None = None) -> Run | None:
    """The cached run, None if absent; CacheEntryError if the entry is corrupt or foreign."""
    folder = (root or cache_dir()) / name / key
    if not folder.exists():
        return None
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        if manifest.get("key") != key:
            raise CacheEntryError(f"it belongs to key {manifest.get('key')!r}, not {key!r}")
        data = {f: (folder / f).read_bytes() for f in FILES}   # read once: hashed, then parsed
        for f, content in data.items():
            if hashlib.sha256(content).hexdigest() != manifest["files"][f]:
                raise CacheEntryError(f"{f} does not match its checksum")
        meta = json.loads(data["run.json"])
        history, checkpoints = (torch.load(io.BytesIO(data[f]), map_location="cpu", weights_only=True)
                                for f in ("history.pt", "checkpoints.pt"))
    except CacheEntryError:
        raise
    except Exception as err:  # missing file, bad JSON, unreadable tensors
        raise CacheEntryError(f"{type(err).__name__}: {err}") from err
    return Run(meta["name"], meta["config"], meta["summary"], history, checkpoints, from_cache=True)


def cached_run(name: str, config: dict, device_type: str, compute: Callable[[], Run],
               use_cache: bool = True, root: Path | None = None) -> Run:
    """Return the cached run for these settings, or compute, store and return it."""
    if not (use_cache and cache_enabled()):
        return compute()
    key = run_key(name, config, device_type)
    try:
        run = load(key, name, root)
    except CacheEntryError as err:
        folder = (root or cache_dir()) / name / key
        warnings.warn(f"cache entry {folder} is unusable ({err}); removing it and recomputing",
                      stacklevel=2)
        shutil.rmtree(folder, ignore_errors=True)
        run = None
    if run is not None:
        return run
    started = time.perf_counter()
    run = compute()
    run.summary.setdefault("seconds", round(time.perf_counter() - started, 2))
    try:
        save(run, key, root)
    except OSError as err:  # e.g. a full disk: the result is still good, only not kept
        warnings.warn(f"could not store the run in the cache ({err}); it will be recomputed "
                      "next time", stacklevel=2)
    return run
