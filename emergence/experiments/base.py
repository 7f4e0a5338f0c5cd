"""The experiment contract: what a chapter's module provides and what `run` does with it.

A chapter's module (`experiments/<name>.py`) defines

- `NAME`, its registry key and cache folder;
- `Config`, an `emergence.config.ExperimentConfig` dataclass: every setting with its `fast`
  default, `PRESETS["full"]`, and `check()` that raises `ConfigError` for a bad value;
- `compute(config, device) -> Run`, which trains and measures and writes the run's summary:
  plain numbers, the ones its acceptance tests read.  It neither caches nor records provenance;
- `EXPERIMENT = Experiment(NAME, Config, compute, about)`, registered once in
  `experiments/__init__.py`, and `run = EXPERIMENT.run`.

The CLI, the cache and the notebooks use only the `Experiment`.  `Experiment.run` (through
`execute`) picks the device, sets the CPU threads, and returns the cached run or computes it,
stamping `seconds`, `device`, `threads`, `versions` and the resolved `config` into its summary
(`PROVENANCE`), so no chapter writes them by hand.  Figures live apart, in
`emergence.figures.<name>`, and draw from a finished `Run`; they never compute a measure.
A chapter module uses the floors below it (tasks, models, measures, train) and no other chapter's
functions: an experiment that needs another's results runs that experiment through its
`EXPERIMENT` (as the mirage's panel C runs the scaling laws').
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

import torch

from emergence import __version__, cache
from emergence.config import ExperimentConfig, choose_device, require
from emergence.run import Run
from emergence.train import cpu_threads


def execute(name: str, config: ExperimentConfig,
            compute: Callable[[ExperimentConfig, torch.device], "Run"],
            use_cache: bool = True) -> "Run":
    """What every experiment's `run` does: pick the device (failing clearly if the requested
    one is absent), use the configured CPU threads, and return the cached run or compute it
    as `compute(config, device)`, its summary stamped with where and how it ran (`provenance`)."""
    device, _ = choose_device(config)
    require(device.type != "cuda" or torch.cuda.is_available(), "device", config.device,
            "'auto' or 'cpu' on this machine: CUDA is not available")
    require(device.type != "mps" or torch.backends.mps.is_available(), "device", config.device,
            "'auto' or 'cpu' on this machine: MPS is not available")
    with cpu_threads(config.threads):  # inside, so the cache key sees the thread count used
        return cache.cached_run(name, config.to_dict(), device.type,
                                lambda: _stamped(compute, config, device), use_cache)


@dataclass(frozen=True)
class Experiment:
    """The contract of a chapter's experiment, registered once (experiments/__init__.py) and the
    only thing the CLI, the cache and the notebooks use:

    - `name`: the registry key, the cache folder, the `experiment()` of its Config;
    - `Config`: the validated settings, with `fast` and `full` presets;
    - `compute(config, device) -> Run`: trains and measures, the summary included; it neither
      caches nor records provenance: `run` does both (through `execute`);
    - `about`: one line for `python -m emergence list`.
    """

    name: str
    Config: type[ExperimentConfig]
    compute: Callable[[ExperimentConfig, torch.device], Run]
    about: str

    def run(self, config: ExperimentConfig | None = None, use_cache: bool = True) -> Run:
        """Train and measure with `config` (default: the `auto` profile), or load it from the cache."""
        return execute(self.name, config or self.Config.preset("auto"), self.compute, use_cache)


PROVENANCE = ("seconds", "device", "threads", "versions", "config")


def provenance(config: ExperimentConfig, device: torch.device) -> dict[str, Any]:
    """What every summary records about how it was made (besides `seconds`)."""
    return {"device": str(device), "threads": torch.get_num_threads(),
            "versions": {"emergence": __version__, "torch": torch.__version__,
                         "python": sys.version.split()[0], "cpu_kernels": torch.backends.cpu.get_cpu_capability()},
            "config": config.to_dict()}


def _stamped(compute: Callable, config: ExperimentConfig, device: torch.device) -> Run:
    started = time.perf_counter()
    run = compute(config, device)
    run.summary.setdefault("seconds", round(time.perf_counter() - started, 2))   # a chapter may time less
    run.summary.update(provenance(config, device))
    return run
