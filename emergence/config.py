"""Settings: a chapter's validated `ExperimentConfig` with its `fast` and `full` presets, the
profile and device `auto` resolves to, and the error a bad setting raises.

Every setting is checked when a Config is made (`__post_init__` -> `check`); an unknown or
out-of-range one is a `ConfigError` that names it and what is allowed.  `Config.preset(profile,
**overrides)` applies a profile's preset, then the overrides, converting strings from the CLI or
papermill to the field's type.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

from emergence.train import mps_available, resolve_device

PROFILES = ("fast", "full")
# Which chapters' `full` profile has run end to end on a GPU, and how it went
# (written by benchmarks/gpu.sh; read by `profile="auto"`).
FULL_RUNS_FILE = Path(__file__).parent / "experiments" / "full_runs.json"
RECORD_STATUSES = ("not run", "timed out", "failed", "ran", "acceptance failed", "passed")
VERIFIED = "passed"      # the one status that lets `auto` pick `full`
ASK_FOR_FULL = 'ask for it with profile="full" or EMERGENCE_PROFILE=full'


class ConfigError(ValueError):
    """A setting that is unknown or out of range; the message names it and what is allowed."""


def full_run_record(experiment: str) -> dict[str, Any]:
    """The record of `experiment`'s `full` profile run on a GPU; {"status": "not run"} if none."""
    records = json.loads(FULL_RUNS_FILE.read_text()) if FULL_RUNS_FILE.exists() else {}
    return records.get(experiment) or {"status": "not run"}


def choose_profile(profile: str = "auto", experiment: str | None = None) -> tuple[str, str]:
    """The profile to run and, where `auto` had a choice to explain, one line saying why.

    'auto': a non-empty EMERGENCE_PROFILE wins; else `full` on a CUDA GPU, but only for an
    experiment whose `full` run is on record as run end to end and passed; else `fast`."""
    note = ""
    if profile == "auto":
        profile = os.environ.get("EMERGENCE_PROFILE", "").strip()
        if not profile:
            profile, note = _auto_profile(experiment)
    if profile not in PROFILES:
        raise ConfigError(f"profile={profile!r} is not allowed: one of 'auto', 'fast', 'full' "
                          "(or EMERGENCE_PROFILE set to 'fast' or 'full')")
    return profile, note


def _auto_profile(experiment: str | None) -> tuple[str, str]:
    if not torch.cuda.is_available():
        return "fast", ""       # the CPU profile on a CPU: nothing to explain
    record = full_run_record(experiment) if experiment else {"status": "not run"}
    if record.get("status") == VERIFIED:
        minutes = record.get("wall_seconds", 0) / 60
        return "full", (f"profile full: run end to end on {record.get('machine', 'a GPU')} "
                        f"({record.get('date', '?')}, {minutes:.1f} min) and its acceptance passed")
    return "fast", (f"profile fast, not full: this chapter's full profile has not been verified on a "
                    f"GPU (record: {record.get('status', 'not run')}); {ASK_FOR_FULL}")


def resolve_profile(profile: str = "auto", experiment: str | None = None) -> str:
    """'fast' or 'full' (see `choose_profile`)."""
    return choose_profile(profile, experiment)[0]


def require(ok: bool, name: str, value: Any, allowed: str) -> None:
    """A ConfigError naming the setting and what is allowed, unless `ok`."""
    if not ok:
        raise ConfigError(f"{name}={value!r} is not allowed: {allowed}")


def require_int(config: Any, names: str | tuple[str, ...], low: int, high: int | None = None) -> None:
    """Each setting in `names` (one name or several) an integer from `low` to `high` (or >= `low`)."""
    for name in (names,) if isinstance(names, str) else names:
        value = getattr(config, name)
        require(low <= value and (high is None or value <= high), name, value,
                f"an integer >= {low}" if high is None else f"an integer from {_show(low)} to {_show(high)}")


def require_number(config: Any, names: str | tuple[str, ...], low: float, high: float | None = None, *,
                   low_open: bool = True) -> None:
    """Each setting in `names` a number in (low, high] (or [low, high] with `low_open=False`;
    no upper bound when `high` is None)."""
    for name in (names,) if isinstance(names, str) else names:
        value = getattr(config, name)
        above = low < value if low_open else low <= value
        allowed = (f"a number {'>' if low_open else '>='} {_show(low)}" if high is None else
                   f"a number in {'(' if low_open else '['}{_show(low)}, {_show(high)}]")
        require(above and (high is None or value <= high), name, value, allowed)


def _show(x: float) -> str:
    """10000000 as 10^7, 2000000 as 2000000, 0.001 as 0.001."""
    power = math.log10(x) if x > 0 else 0.0
    if x >= 1e6 and power.is_integer():
        return f"10^{power:.0f}"
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def require_llc_settings(config: Any, saved: int) -> None:
    """The SGLD settings every chapter's LLC-over-training shares (`llc_checkpoints`, `llc_chains`,
    `llc_burnin`, `llc_draws`, `llc_epsilon`, `llc_gamma`, `llc_nbeta`), given the number of
    checkpoints the run saves; the batch size is checked by the chapter (its data differ)."""
    require(config.llc_checkpoints == 0 or 2 <= config.llc_checkpoints <= saved, "llc_checkpoints",
            config.llc_checkpoints, f"0 (no LLC) or an integer from 2 to the {saved} saved checkpoints")
    require_int(config, "llc_chains", 1)
    require_int(config, "llc_burnin", 0)
    require_int(config, "llc_draws", 4)
    require_number(config, "llc_epsilon", 0)
    require_number(config, "llc_gamma", 0, low_open=False)
    require(config.llc_nbeta >= 0, "llc_nbeta", config.llc_nbeta, "a number > 0, or 0 for n / log n")


@dataclass(frozen=True)
class ExperimentConfig:
    """Base of every experiment's Config.  The field defaults are the `fast` profile;
    `PRESETS["full"]` lists what the `full` profile changes.  Subclasses add their fields and
    implement `check`; the two settings every experiment has live here."""

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {"fast": {}, "full": {}}
    # True where the computation makes float64 tensors on its device: Apple's MPS has no
    # float64, so `auto` then never picks MPS.  tests/test_device_policy.py keeps this honest.
    USES_FLOAT64: ClassVar[bool] = False

    device: str = "auto"                # 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'
    threads: int = 0                    # CPU threads; 0 = PyTorch's default

    def __post_init__(self):
        require(self.device == "auto" or self.device.split(":")[0] in ("cpu", "cuda", "mps"),
                "device", self.device, "'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'")
        require(not (self.USES_FLOAT64 and self.device.split(":")[0] == "mps"), "device", self.device,
                "'auto', 'cpu', 'cuda' or 'cuda:N': this chapter computes in float64, which MPS lacks")
        require(self.threads >= 0, "threads", self.threads, "an integer >= 0 (0 = default)")
        self.check()

    def check(self) -> None:  # overridden: raise ConfigError for any bad value
        pass

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def experiment(cls) -> str:
        """The experiment's name (its module's NAME), e.g. 'grokking'."""
        module = sys.modules[cls.__module__]
        return getattr(module, "NAME", cls.__module__.rsplit(".", 1)[-1])

    @classmethod
    def preset(cls, profile: str = "auto", **overrides: Any):
        """The profile's settings with `overrides` applied; a None override keeps the preset."""
        profile = resolve_profile(profile, cls.experiment())
        unknown = sorted(set(overrides) - set(cls.field_names()))
        if unknown:
            raise ConfigError(f"unknown setting {unknown[0]!r} for {cls.experiment()}; "
                              f"allowed: {', '.join(cls.field_names())}")
        values = dict(cls.PRESETS.get(profile, {}))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**{k: cls._coerce(k, v) for k, v in values.items()})

    @classmethod
    def _coerce(cls, name: str, value: Any) -> Any:
        """Turn a value into the field's type: '97' -> 97 for an int, '0, 1' -> (0.0, 1.0) for a
        tuple of floats; anything that does not convert exactly is a ConfigError."""
        hint = typing.get_type_hints(cls)[name]
        is_tuple = typing.get_origin(hint) is tuple
        kind = typing.get_args(hint)[0] if is_tuple else hint
        try:
            if not is_tuple:
                return _convert(kind, value)
            items = value.strip("()[] ").split(",") if isinstance(value, str) else value
            return tuple(_convert(kind, v) for v in items if not (isinstance(v, str) and not v.strip()))
        except (TypeError, ValueError):
            expected = f"a comma-separated list of {kind.__name__}s" if is_tuple else f"a {kind.__name__}"
            raise ConfigError(f"{name}={value!r} is not allowed: expected {expected}") from None

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}


def _convert(kind: type, value: Any) -> Any:
    """One scalar to bool, int, float or str; ValueError if it would lose information."""
    if kind is bool:
        text = str(value).strip().lower()
        if text not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(value)
        return text in ("true", "1", "yes")
    if kind is int:
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(value)
        return int(value)
    return kind(value) if kind in (float, str) else value


def choose_device(config: ExperimentConfig) -> tuple[torch.device, str]:
    """The device `config.device` resolves to and, where `auto` passed over MPS because the
    chapter computes in float64, one line saying so."""
    device = resolve_device(config.device, needs_float64=config.USES_FLOAT64)
    passed_over_mps = (config.device == "auto" and device.type == "cpu" and config.USES_FLOAT64
                       and mps_available())
    return device, ("device cpu, not mps: this chapter computes in float64, which Apple's MPS lacks"
                    if passed_over_mps else "")
