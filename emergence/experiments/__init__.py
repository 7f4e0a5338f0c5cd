"""One module per chapter, each registering one `Experiment` (base.py): a name, a validated
`Config` with fast/full presets, and the computation.  `EXPERIMENTS` is the registry the CLI and
the tests use; each module's `run(config)` is its experiment's `run`."""

from emergence.experiments import grokking, induction_heads, silent_alignment, sparse_parity
from emergence.experiments import mirage, scaling_laws
from emergence.experiments import emergent_misalignment
from emergence.experiments import llc_validation
from emergence.experiments import ghost_points
from emergence.experiments import icl_competition
from emergence.experiments import see_it_coming
from emergence.config import PROFILES, ConfigError, resolve_profile
from emergence.experiments.base import Experiment, Run

EXPERIMENTS: dict[str, Experiment] = {module.EXPERIMENT.name: module.EXPERIMENT for module in (
    grokking, sparse_parity, silent_alignment, induction_heads, scaling_laws, mirage,
    emergent_misalignment, llc_validation, ghost_points, icl_competition, see_it_coming)}


def get(name: str) -> Experiment:
    """The experiment called `name`; a ConfigError lists the available ones."""
    if name not in EXPERIMENTS:
        raise ConfigError(f"unknown experiment {name!r}; available: {', '.join(sorted(EXPERIMENTS))}")
    return EXPERIMENTS[name]


__all__ = ["EXPERIMENTS", "PROFILES", "ConfigError", "Experiment", "Run", "get", "resolve_profile"]
