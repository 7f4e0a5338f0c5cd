"""The result of an experiment, in a module of its own: the cache stores it, experiments return
it, notebooks, the CLI and the tests read it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


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
