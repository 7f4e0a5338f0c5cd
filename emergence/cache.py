"""A content-addressed run cache shared by notebooks, the CLI, nbval and the book build.

key = sha256(experiment, config, package version, the source the experiment can reach (its module,
and the tasks, models, measures and training code it imports; not figures' helpers, notebook
helpers or the CLI), torch version, device type, and on a CPU the thread count and the kernel
dispatch).
An entry is a folder <cache>/<name>/<key>/ with run.json, history.pt, checkpoints.pt and a
manifest.json (the key and a sha256 of each file), written to a temporary folder first and
renamed into place, so a crash never leaves half an entry.  A corrupt or foreign entry is
reported, removed and recomputed; tensors are loaded with weights_only=True.
"""

from __future__ import annotations

import ast
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
from emergence.run import Run

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


# Modules no computation reaches: figures, notebook helpers, the CLI, the cache itself.
NOT_COMPUTATION = ("emergence.figures", "emergence.notebook", "emergence.cli", "emergence.__main__",
                   "emergence.cache")


def _module_file(module: str, root: Path) -> Path | None:
    """emergence.a.b -> root/a/b.py or root/a/b/__init__.py (root is the package folder)."""
    parts = module.split(".")[1:]
    if not parts:
        return None                                     # `emergence` itself: only __version__
    for path in (root.joinpath(*parts).with_suffix(".py"), root.joinpath(*parts, "__init__.py")):
        if path.exists():
            return path
    return None


def _imports(path: Path, root: Path) -> set[str]:
    """The emergence modules a file imports, anywhere in it (also inside functions).  A name taken
    from a package resolves to the submodule that defines it, not to the whole package."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("emergence.")}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("emergence"):
            for alias in node.names:
                found.add(_resolve(node.module, alias.name, root))
    return found


def _resolve(module: str, name: str, root: Path) -> str:
    """Where `from module import name` takes `name` from."""
    if _module_file(f"{module}.{name}", root):
        return f"{module}.{name}"                       # a submodule
    init = _module_file(module, root)
    if init is not None and init.name == "__init__.py":
        for node in ast.parse(init.read_text()).body:   # a re-export: follow it to its module
            if isinstance(node, ast.ImportFrom) and any(a.name == name for a in node.names):
                return _resolve(node.module, name, root) if node.module != module else module
    return module


def source_files(name: str, root: Path | None = None) -> list[Path]:
    """The package's source files a run of experiment `name` can reach: its module and, following
    imports, the tasks, models, measures, training loop and other experiments it uses; not the
    figures' helpers, the notebook helpers, the CLI or the cache."""
    root = root or Path(emergence.__file__).parent
    todo, seen = [f"emergence.experiments.{name}"], set()
    while todo:
        module = todo.pop()
        if module in seen or module.startswith(NOT_COMPUTATION):
            continue
        seen.add(module)
        path = _module_file(module, root)
        if path is not None:
            todo += sorted(_imports(path, root))
    files = {_module_file(m, root) for m in seen}
    return sorted((f for f in files if f is not None), key=lambda f: f.relative_to(root).as_posix())


@functools.lru_cache(maxsize=None)
def code_fingerprint(name: str, root: Path | None = None) -> str:
    """Hash of the source a run of `name` can reach (`source_files`), so editing that code
    invalidates its cached runs and editing a figure or another chapter does not.  A name that is
    no experiment module hashes the whole package.  Computed once per process: after editing the
    package, restart the kernel."""
    root = root or Path(emergence.__file__).parent
    files = source_files(name, root) if _module_file(f"emergence.experiments.{name}", root) \
        else sorted(root.rglob("*.py"))
    digest = hashlib.sha256(emergence.__version__.encode())
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def run_key(name: str, config: dict, device_type: str) -> str:
    payload = {
        "schema": SCHEMA, "experiment": name, "config": config,
        "code": code_fingerprint(name), "torch": torch.__version__,
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
        manifest = {"key": key, "files": {f: hashlib.sha256(c).hexdigest() for f, c in data.items()},
                    "code": code_fingerprint(run.name), "torch": torch.__version__}   # for `cache ls`
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
    run = compute()                      # (execute() stamps its seconds and provenance)
    try:
        save(run, key, root)
    except OSError as err:  # e.g. a full disk: the result is still good, only not kept
        warnings.warn(f"could not store the run in the cache ({err}); it will be recomputed "
                      "next time", stacklevel=2)
    return run


# --- what is in the cache (python -m emergence cache ls | prune) -------------------------------

def entries(root: Path | None = None) -> list[dict]:
    """Every entry and leftover temporary folder: experiment, key, size (bytes), age (seconds),
    and whether the current code and torch can still use it (`usable`)."""
    root = root or cache_dir()
    out = []
    for folder in sorted(root.glob("*/*")) if root.exists() else []:
        if not folder.is_dir():
            continue
        name, files = folder.parent.name, [f for f in folder.rglob("*") if f.is_file()]
        try:
            manifest = json.loads((folder / "manifest.json").read_text())
            usable = (manifest.get("key") == folder.name and manifest.get("torch") == torch.__version__
                      and manifest.get("code") == code_fingerprint(name))
        except (OSError, ValueError):
            usable = False                       # a leftover temporary folder or a broken entry
        newest = max((f.stat().st_mtime for f in files), default=folder.stat().st_mtime)
        out.append({"experiment": name, "key": folder.name, "folder": folder, "usable": usable,
                    "bytes": sum(f.stat().st_size for f in files), "age_s": time.time() - newest})
    return out


def prune(root: Path | None = None, everything: bool = False) -> list[dict]:
    """Remove the entries the current code cannot use (all of them with `everything`)."""
    removed = [e for e in entries(root) if everything or not e["usable"]]
    for entry in removed:
        shutil.rmtree(entry["folder"], ignore_errors=True)
    return removed


def describe(rows: list[dict]) -> str:
    """A table of entries for the CLI."""
    def age(seconds: float) -> str:
        return f"{seconds / 86400:.1f} d" if seconds >= 86400 else f"{seconds / 3600:.1f} h"
    lines = [f"{'experiment':24s} {'key':14s} {'size':>9s} {'age':>7s}  usable by this code"]
    lines += [f"{e['experiment']:24s} {e['key'][:12]:14s} {e['bytes'] / 1e6:7.1f} MB {age(e['age_s']):>7s}  "
              f"{'yes' if e['usable'] else 'no'}" for e in rows]
    total = sum(e["bytes"] for e in rows) / 1e6
    lines.append(f"{len(rows)} entries, {total:.1f} MB, in {cache_dir()}")
    return "\n".join(lines)
