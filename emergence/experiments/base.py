"""What every experiment shares: a validated Config with presets, the Run it returns, profiles."""

from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

PROFILES = ("fast", "full")


class ConfigError(ValueError):
    """A setting that is unknown or out of range; the message names it and what is allowed."""


def resolve_profile(profile: str = "auto") -> str:
    """'auto': a non-empty EMERGENCE_PROFILE wins, then 'full' on a GPU, else 'fast'."""
    if profile == "auto":
        profile = os.environ.get("EMERGENCE_PROFILE", "").strip() or (
            "full" if torch.cuda.is_available() else "fast")
    if profile not in PROFILES:
        raise ConfigError(f"profile={profile!r} is not allowed: one of 'auto', 'fast', 'full' "
                          "(or EMERGENCE_PROFILE set to 'fast' or 'full')")
    return profile


def require(ok: bool, name: str, value: Any, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"{name}={value!r} is not allowed: {allowed}")


@dataclass(frozen=True)
class ExperimentConfig:
    """Base of every experiment's Config.  The field defaults are the `fast` profile;
    `PRESETS["full"]` lists what the `full` profile changes.  Subclasses implement `check`."""

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {"fast": {}, "full": {}}

    def __post_init__(self):
        self.check()

    def check(self) -> None:  # overridden: raise ConfigError for any bad value
        pass

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def preset(cls, profile: str = "auto", **overrides: Any):
        """The profile's settings with `overrides` applied; a None override keeps the preset."""
        profile = resolve_profile(profile)
        unknown = sorted(set(overrides) - set(cls.field_names()))
        if unknown:
            raise ConfigError(f"unknown setting {unknown[0]!r} for {cls.__module__.split('.')[-1]}; "
                              f"allowed: {', '.join(cls.field_names())}")
        values = dict(cls.PRESETS.get(profile, {}))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**{k: cls._coerce(k, v) for k, v in values.items()})

    @classmethod
    def _coerce(cls, name: str, value: Any) -> Any:
        """Turn a value into the field's type: '97' -> 97 for an int, [1, 2] -> (1, 2) for a tuple."""
        hint = typing.get_type_hints(cls)[name]
        origin = typing.get_origin(hint) or hint
        try:
            if origin is bool:
                if isinstance(value, str):
                    lowered = value.strip().lower()
                    if lowered not in ("true", "false", "1", "0", "yes", "no"):
                        raise ValueError(value)
                    return lowered in ("true", "1", "yes")
                if value not in (True, False, 0, 1):
                    raise ValueError(value)
                return bool(value)
            if origin is tuple:
                (inner, *_) = typing.get_args(hint) or (float,)
                if isinstance(value, str):
                    value = [v for v in value.strip("()[] ").split(",") if v.strip()]
                return tuple(inner(v) for v in value)
            if origin is int:
                if isinstance(value, float) and not value.is_integer():
                    raise ValueError(value)
                return int(value)
            if origin is float:
                return float(value)
            return str(value) if origin is str else value
        except (TypeError, ValueError):
            raise ConfigError(f"{name}={value!r} is not allowed: expected {getattr(hint, '__name__', hint)}"
                              ) from None

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}


@dataclass
class Run:
    """The result of an experiment: what the notebook, the CLI and the tests all read.

    history: name -> tensor; "step" (or "epoch") is 1-D, metrics are (n_logs, E), one column
    per ensemble member (described by summary["members"]).  checkpoints: step -> weights.
    """

    name: str
    config: dict[str, Any]
    summary: dict[str, Any]
    history: dict[str, torch.Tensor] = field(default_factory=dict)
    checkpoints: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)
    from_cache: bool = False
