"""One training loop for every chapter.

    result = train(model, optimizer, loss_fn, next_batch, steps=..., log_every=..., metrics=...)

* full batch (`next_batch` returns the same tensors every step) or online batches (fresh ones);
* ensembles: the model holds E members; `loss_fn` returns one loss per member, (E,), and
  their sum is minimised, so every member gets exactly its own gradient.  Decoupled weight
  decay may differ per member (a weight-decay sweep as one model);
* metrics are evaluated every `log_every` steps and kept on the device; the host waits for
  the device only at those logging steps (progress bar, divergence check), never between;
* checkpoints (CPU copies of the weights) at chosen steps;
* `stop(latest)` may end training early; it is asked at logging steps, with the values
  just logged (name -> (E,) tensor).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterable

import torch
from torch import nn
from tqdm.auto import tqdm

Metrics = Callable[[nn.Module], dict[str, torch.Tensor]]


def mps_available() -> bool:
    """Whether Apple's Metal (MPS) GPU can be used here."""
    mps = getattr(torch.backends, "mps", None)
    return bool(mps and mps.is_available())


def resolve_device(device: str = "auto", *, needs_float64: bool = False) -> torch.device:
    """'auto' picks CUDA, then Apple MPS, then the CPU; never MPS for a computation that
    `needs_float64`, since MPS has no float64 (it would fail, not round)."""
    if device != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if mps_available() and not needs_float64:
        return torch.device("mps")
    return torch.device("cpu")


@contextmanager
def cpu_threads(threads: int):
    """Use `threads` CPU threads inside the block (0 = leave PyTorch's setting), then restore.

    On a small shared CPU fewer threads can be much faster: two processes that each
    use every core slow each other down many times over.
    """
    before = torch.get_num_threads()
    if threads > 0:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def progress_enabled(progress: bool = True) -> bool:
    """Progress bars are on unless turned off here or with EMERGENCE_PROGRESS=0."""
    return progress and os.environ.get("EMERGENCE_PROGRESS", "1") not in ("0", "false", "no")


@dataclass
class TrainResult:
    steps: list[int]                                   # the steps at which metrics were logged
    history: dict[str, torch.Tensor]                   # name -> (len(steps), E), on the CPU
    checkpoints: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)
    stopped_early: bool = False


def decoupled_weight_decay(optimizer: torch.optim.Optimizer, weight_decay: torch.Tensor) -> None:
    """w <- w * (1 - lr * wd_e) for member e: AdamW's decay, one value per member.

    Applied, like AdamW's, to the optimizer's parameters that have a gradient, each at its
    group's current learning rate.  `weight_decay` is (E,), on the parameters' device.
    """
    with torch.no_grad():
        for group in optimizer.param_groups:
            factor = 1 - group["lr"] * weight_decay  # once per group, not per parameter
            for p in group["params"]:
                if p.grad is not None:
                    p.mul_(factor.to(p.dtype).view(-1, *([1] * (p.dim() - 1))))


def checkpoint(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().to("cpu", copy=True) for name, p in model.named_parameters()}


def train(model: nn.Module, optimizer: torch.optim.Optimizer,
          loss_fn: Callable[[nn.Module, object], torch.Tensor],
          next_batch: Callable[[int], object], *, steps: int, log_every: int,
          metrics: Metrics | None = None, checkpoint_steps: Iterable[int] = (),
          weight_decay: torch.Tensor | None = None,
          lr_schedule: Callable[[int], float] | None = None,
          stop: Callable[[dict[str, torch.Tensor]], bool] | None = None,
          progress: bool = True, desc: str = "training") -> TrainResult:
    """Train for `steps` optimizer steps; log at step 0, every `log_every` steps and at the end.

    `loss_fn(model, batch)` -> (E,) losses; `next_batch(step)` -> the batch for that step.
    `weight_decay` (E,) applies AdamW-style decoupled decay per member (keep the optimizer's
    own weight_decay at 0 then).  `lr_schedule(step)` multiplies the base learning rates.
    """
    if steps < 1 or log_every < 1:
        raise ValueError(f"steps ({steps}) and log_every ({log_every}) must be >= 1")
    base_lrs = [group["lr"] for group in optimizer.param_groups]
    if weight_decay is not None:
        first = optimizer.param_groups[0]["params"][0]
        if weight_decay.shape != (first.shape[0],):
            raise ValueError(f"weight_decay must have one value per member, shape ({first.shape[0]},); "
                             f"got {tuple(weight_decay.shape)}")
        weight_decay = weight_decay.to(first.device)  # once: a copy per step would sync the GPU
    keep = set(int(s) for s in checkpoint_steps)
    logged_steps: list[int] = []
    logged: dict[str, list[torch.Tensor]] = {}
    checkpoints: dict[int, dict[str, torch.Tensor]] = {}
    last_loss: torch.Tensor | None = None

    def log(step: int) -> dict[str, torch.Tensor]:
        model.eval()
        with torch.no_grad():
            values = dict(metrics(model)) if metrics else {}
            # the loss of the step just taken (at step 0: of the initial weights)
            step_loss = last_loss if last_loss is not None else loss_fn(model, next_batch(0))
        model.train()
        values.setdefault("train_loss_step", step_loss)
        if not torch.isfinite(step_loss).all():  # this log syncs anyway; fail before more work
            raise FloatingPointError(f"training diverged at step {step}: the loss became NaN or "
                                     "infinite; lower the learning rate")
        for name, value in values.items():
            logged.setdefault(name, []).append(value.detach().float().reshape(-1))
        logged_steps.append(step)
        return values

    def history() -> dict[str, torch.Tensor]:
        return {name: torch.stack(vals).cpu() for name, vals in logged.items()
                if len(vals) == len(logged_steps)}

    bar = tqdm(total=steps, desc=desc, disable=not progress_enabled(progress),
               mininterval=1.0, leave=False)
    stopped = False
    try:
        if 0 in keep:
            checkpoints[0] = checkpoint(model)
        log(0)
        for step in range(1, steps + 1):
            scale = lr_schedule(step) if lr_schedule else 1.0
            for group, base in zip(optimizer.param_groups, base_lrs):
                group["lr"] = base * scale
            losses = loss_fn(model, next_batch(step))
            optimizer.zero_grad(set_to_none=True)
            losses.sum().backward()
            if weight_decay is not None:
                decoupled_weight_decay(optimizer, weight_decay)
            optimizer.step()
            last_loss = losses.detach()
            if step in keep:
                checkpoints[step] = checkpoint(model)
            if step % log_every == 0 or step == steps:
                latest = log(step)
                bar.update(step - bar.n)
                if stop is not None and stop(latest):
                    stopped = step < steps
                    if stopped and step not in checkpoints:
                        checkpoints[step] = checkpoint(model)
                    break
    finally:
        bar.close()
    return TrainResult(logged_steps, history(), checkpoints, stopped)
