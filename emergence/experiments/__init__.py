"""One module per chapter, each with a validated `Config` (fast/full presets) and `run(config)`."""

from types import ModuleType

from emergence.experiments import grokking, induction_heads, silent_alignment, sparse_parity
from emergence.experiments import scaling_laws  # before mirage, which reuses it
from emergence.experiments import mirage
from emergence.experiments import emergent_misalignment
from emergence.experiments import llc_validation
from emergence.experiments.base import PROFILES, ConfigError, Run, resolve_profile, settings_used

EXPERIMENTS: dict[str, ModuleType] = {"grokking": grokking, "sparse_parity": sparse_parity,
                                     "silent_alignment": silent_alignment,
                                     "induction_heads": induction_heads,
                                     "scaling_laws": scaling_laws, "mirage": mirage,
                                     "emergent_misalignment": emergent_misalignment,
                                     "llc_validation": llc_validation}


def get(name: str) -> ModuleType:
    """The experiment module called `name`; a ConfigError lists the available ones."""
    if name not in EXPERIMENTS:
        raise ConfigError(f"unknown experiment {name!r}; available: {', '.join(sorted(EXPERIMENTS))}")
    return EXPERIMENTS[name]


__all__ = ["EXPERIMENTS", "PROFILES", "ConfigError", "Run", "get", "resolve_profile", "settings_used"]
