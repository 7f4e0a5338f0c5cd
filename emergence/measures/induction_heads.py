"""The induction heads chapter's measures beyond the head scores (book/05_induction_heads.ipynb).

- `llc_window_indices` and `powered_llc_changes`: where Δλ̂ is read (the flat plateau, the sag, the
  drop, after it) and its sign from `chains` independent chains per end point, with a Welch
  t-interval (`emergence.measures.llc.change_interval`);
- `gradient_noise`: the size of the minibatch gradient noise in an SGLD step beside the injected
  noise;
- `llc_calibration`: λ̂ at a few checkpoints over an ε × nβ grid, one batched run, with chain health;
- `head_order_diagram`: which head forms first as the skip-bigram statistic's strength k varies,
  every (k, seed) one member of one batched model on a short schedule.
"""

from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np
import torch
from torch.func import functional_call

from emergence.measures.attention import per_position_loss, prefix_matching_score, previous_token_score
from emergence.measures.llc import change_interval, estimate_llc, llc_over_training, llc_trajectory, stack_params
from emergence.measures.transitions import first_crossing, x50


def llc_window_indices(loss: np.ndarray, start: int, end: int, flat_change: float) -> dict:
    """Index pairs into the LLC checkpoints (loss: the loss at each) of the four windows:
      plateau: the longest run before the drop's start (index 0 excluded) over which the loss
               varies by less than `flat_change` (relative);
      sag:     from the plateau's end to `start`, the last checkpoint at or before the drop's start;
      drop:    from `start` to `end`, the first checkpoint at or after the drop's end;
      after:   from `end` to the last checkpoint.
    A window whose ends coincide is None."""
    flat = (1, 1)
    for i in range(1, start + 1):
        for j in range(i + 1, start + 1):
            if loss[i:j + 1].max() / loss[i:j + 1].min() - 1 >= flat_change:
                break
            if j - i > flat[1] - flat[0]:
                flat = (i, j)
    pairs = {"plateau": flat, "sag": (flat[1], start), "across_drop": (start, end),
             "after_drop": (end, len(loss) - 1)}
    return {name: (pair if pair[0] < pair[1] else None) for name, pair in pairs.items()}


def powered_llc_changes(estimate: Callable[[list[int]], np.ndarray], windows: dict) -> dict:
    """Δλ̂ over each window from fresh chains at its two ends: `estimate(indices)` returns
    (len(indices), chains) per-chain λ̂, all end points in one batched run.  Returns, per window,
    `change_interval`'s delta, se, df, interval and sign (0: the interval contains 0)."""
    ends = sorted({i for pair in windows.values() if pair for i in pair})
    if not ends:
        return {name: None for name in windows}
    chains = dict(zip(ends, estimate(ends)))
    return {name: None if pair is None else
            {**change_interval(chains[pair[0]], chains[pair[1]]),
             "llc": [float(chains[pair[0]].mean()), float(chains[pair[1]].mean())]}
            for name, pair in windows.items()}


def gradient_noise(build: Callable[[int], torch.nn.Module], loss: Callable, state: dict[str, torch.Tensor],
                   data: torch.Tensor, *, batch_size: int, epsilon: float, nbeta: float,
                   batches: int = 32, seed: int = 0) -> dict:
    """The minibatch gradient noise of one SGLD step at one checkpoint, beside the injected noise.

    An SGLD step moves each coordinate by -(ε/2) nβ ∇L_batch + √ε N(0, 1); the minibatch part
    deviates from the full-batch drift by (ε/2) nβ (∇L_batch − ∇L_n).  `build(rows)` makes the
    package's ensemble model, `loss(model, tokens)` gives one loss per member, `state` is one
    checkpoint and `data` the LLC's n sequences.  Returns the std of that deviation over `batches`
    minibatches of `batch_size`, per coordinate, divided by the injected √ε: its root mean square
    over all coordinates and its 99th percentile.  Well below 1, the injected noise dominates and
    the chain samples the intended posterior."""
    def gradients(rows: int, tokens: torch.Tensor) -> torch.Tensor:
        model = build(rows).to(data.device)
        model.load_state_dict({k: v[None].expand(rows, *v.shape).clone() for k, v in state.items()})
        grads = torch.autograd.grad(loss(model, tokens).sum(), list(model.parameters()))
        return torch.cat([g.reshape(rows, -1) for g in grads], 1)

    idx = torch.randint(len(data), (batches, batch_size), generator=torch.Generator().manual_seed(seed))
    deviation = gradients(batches, data[idx.to(data.device)]) - gradients(1, data[None])
    ratio = (epsilon / 2 * nbeta * deviation.std(0) / math.sqrt(epsilon)).double().cpu()
    return {"rms_ratio": float(ratio.pow(2).mean().sqrt()), "p99_ratio": float(ratio.quantile(0.99)),
            "batch_size": batch_size, "batches": batches, "epsilon": epsilon, "nbeta": nbeta,
            "coordinates": int(ratio.numel())}


class _LossOf(torch.nn.Module):
    """`loss(model, batch)` as a module, so that `functional_call` can swap in every row's weights."""

    def __init__(self, model: torch.nn.Module, loss: Callable):
        super().__init__()
        self.model, self.loss = model, loss

    def forward(self, batch):
        return self.loss(self.model, batch)


def llc_calibration(build: Callable[[int], torch.nn.Module], loss: Callable, states: list[dict[str, torch.Tensor]],
                    data: tuple[torch.Tensor, ...], *, epsilons: list[float], nbetas: list[float], chains: int,
                    **settings) -> dict:
    """λ̂ at each checkpoint in `states` for every (ε, nβ) on the grid, all as one batched run
    (`estimate_llc` takes a value of ε and nβ per checkpoint row).  `build(rows)` and
    `loss(model, batch)` are as in `llc_over_training`; other settings go to `estimate_llc`.
    Returns llc[state][ε index][nβ index], the chains' spread, and each one's health."""
    grid = [(e, b) for e in epsilons for b in nbetas]
    device = data[0].device
    module = _LossOf(build(len(states) * len(grid) * chains), loss).to(device)
    params = stack_params([{f"model.{k}": v.to(device) for k, v in state.items()} for state in states for _ in grid])
    rows_loss = lambda rows, batch: functional_call(module, rows, (batch,))  # noqa: E731
    r = estimate_llc(rows_loss, params, data, epsilon=[e for _ in states for e, _ in grid],
                     nbeta=[b for _ in states for _, b in grid], chains=chains, batched=True,
                     **{"warn": False, **settings})
    shape = (len(states), len(epsilons), len(nbetas))
    return {"epsilon": list(epsilons), "nbeta": list(nbetas), "chains": chains,
            "llc": r.llc_mean.reshape(shape).tolist(), "std": r.llc_std.reshape(shape).tolist(),
            "healthy": r.healthy.reshape(shape).tolist(), "below_init": r.below_init.reshape(shape).tolist()}


def head_order_diagram(build: Callable[[int], torch.nn.Module], tasks: list, seeds: list[int], *,
                       steps: int, batch_size: int, lr: float, eval_every: int, eval_size: int,
                       probe: torch.Tensor, device: torch.device, min_prefix: float) -> dict:
    """Which head forms first, per data statistic: one 2-layer model per (task, seed), every one a
    member of one batched model trained with Adam on its own task's stream.  `build(rows)` makes
    the model; `probe` is the prefix-matching probe.  Every `eval_every` steps it logs each member's
    layer-1 previous-token score, last-layer prefix-matching score and copied-token loss, and
    `read_head_order` reads them."""
    started = time.perf_counter()
    model = build(len(tasks) * len(seeds)).to(device)
    members = [(t, s) for t in tasks for s in seeds]
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    held_out = [task.sample(eval_size, torch.Generator().manual_seed(10_000_019)) for task in tasks]
    eval_tokens = torch.stack([held_out[i // len(seeds)][0] for i in range(len(members))]).to(device)
    eval_mask = torch.stack([held_out[i // len(seeds)][1] for i in range(len(members))]).to(device)
    logs: dict[str, list] = {"step": [], "prev_token": [], "prefix_matching": [], "loss_repeat": []}

    def evaluate(step: int) -> None:
        with torch.no_grad():
            logits, cache = model.run_with_cache(eval_tokens)
            loss = per_position_loss(logits, eval_tokens)
            _, probe_cache = model.run_with_cache(probe)
        mask = eval_mask.to(loss.dtype)
        logs["step"].append(step)
        logs["loss_repeat"].append(((loss * mask).sum((1, 2)) / mask.sum((1, 2))).cpu())
        logs["prev_token"].append(previous_token_score(cache["blocks.0.attn.hook_pattern"])[:, 0].cpu())
        logs["prefix_matching"].append(
            prefix_matching_score(probe_cache[f"blocks.{model.cfg.n_layers - 1}.attn.hook_pattern"], probe)[:, 0].cpu())

    for step in range(steps + 1):
        if step % eval_every == 0 or step == steps:
            evaluate(step)
        if step == steps:
            break
        # each task's members draw their sequences together (one call), each its own
        tokens = torch.cat([task.sample(batch_size * len(seeds), torch.Generator().manual_seed(
            1_000_003 * (seeds[0] + step) + task.skip_bigram))[0].view(len(seeds), batch_size, -1)
            for task in tasks]).to(device)
        loss = per_position_loss(model(tokens), tokens).mean((1, 2))
        optimizer.zero_grad(set_to_none=True)
        loss.sum().backward()
        optimizer.step()
    history = {k: np.asarray(v if k == "step" else torch.stack(v).numpy(), float) for k, v in logs.items()}
    return {**read_head_order(history, members, min_prefix), "steps": steps, "batch_size": batch_size, "lr": lr,
            "eval_every": eval_every, "seconds": round(time.perf_counter() - started, 2),
            "history": {k: v.tolist() for k, v in history.items()}}


def read_head_order(history: dict, members: list, min_prefix: float) -> dict:
    """Per member (task, seed), from the logs of `head_order_diagram`: a score's onset is the first
    evaluation at twice its initial value.  A member built no induction head if its final prefix
    matching is below `min_prefix` (or never doubled); else the previous-token head came first if
    its score completed half its rise (x50) strictly before the prefix-matching score did.  Also:
    the previous-token score at the prefix-matching onset (how formed the first head was when the
    second began) and the drop's depth, the copied-token loss at the last evaluation before the
    prefix-matching onset minus the final one (nats).  `by_k` sums the members up per task."""
    steps = history["step"]
    rows = []
    for e, (task, seed) in enumerate(members):
        prev, prefix, repeat = (history[k][:, e] for k in ("prev_token", "prefix_matching", "loss_repeat"))
        prev_on = first_crossing(steps, prev, 2 * float(prev[0]))
        prefix_on = first_crossing(steps, prefix, 2 * float(prefix[0]))
        formed = float(prefix[-1]) >= min_prefix and prefix_on is not None
        order = ("no induction head" if not formed else
                 "previous-token first" if x50(steps, prev) < x50(steps, prefix) else "induction first or together")
        before = repeat[steps < prefix_on] if formed else repeat
        rows.append({"k": task.skip_bigram, "seed": seed, "order": order,
                     "prev_token_onset": prev_on, "prefix_matching_onset": prefix_on,
                     "prev_token_x50": x50(steps, prev), "prefix_matching_x50": x50(steps, prefix),
                     "prev_token_at_prefix_onset": float(prev[steps == prefix_on][0]) if formed else None,
                     "lead": None if not formed or prev_on is None else float(prefix_on - prev_on),
                     "prefix_matching_final": float(prefix[-1]),
                     "depth": float(before[-1] - repeat[-1]) if formed else None,
                     "loss_repeat_before": float(before[-1]), "loss_repeat_final": float(repeat[-1])})
    by_k = []
    for k in sorted({r["k"] for r in rows}):
        mine = [r for r in rows if r["k"] == k]
        formed = [r for r in mine if r["order"] != "no induction head"]
        pick = lambda name: [r[name] for r in formed]  # noqa: E731
        by_k.append({"k": k, "seeds": len(mine), "formed": len(formed),
                     "previous_token_first": sum(r["order"] == "previous-token first" for r in formed),
                     "prev_token_at_prefix_onset": pick("prev_token_at_prefix_onset"),
                     "depth": pick("depth"), "lead": pick("lead")})
    return {"members": rows, "by_k": by_k}


CALIBRATION_CHAINS = 2      # per (ε, nβ) point of the grid: health and level, not a sign


def llc_stages(config, checkpoints: dict, history: dict, summary: dict, build: Callable[[int], torch.nn.Module],
               loss: Callable, data: tuple[torch.Tensor], *, flat_change: float) -> tuple[dict, dict]:
    """λ̂ of the headline seed over training (`llc_trajectory`, `config`'s llc_* settings), then:
    its change over each window of `llc_window_indices` from `config.llc_sign_chains` fresh chains at
    the window's two ends (`powered_llc_changes`), with what the loss and the two heads did
    meanwhile; with `config.llc_calibrate`, an ε × nβ grid (ε/3, ε, 3ε × nβ/2, nβ, 2nβ) and the
    gradient noise at the drop's two ends.  `history`, `summary`: the chapter's, member 0 the
    headline seed; `loss(model, tokens)` gives one loss per member."""
    batch_loss = lambda m, batch: loss(m, batch[0])  # noqa: E731
    llc_history, llc, r = llc_trajectory(config, checkpoints, build, batch_loss, data)
    if summary.get("drop_start") is None:
        return llc_history, {**llc, "plateau": None, "sag": None, "across_drop": None, "after_drop": None}
    started = time.perf_counter()
    steps, s = np.asarray(llc["steps"]), llc["settings"]
    log_steps = history["step"].numpy()
    at = lambda name, step, head=None: float(  # noqa: E731
        (history[name][:, 0] if head is None else history[name][:, 0, head[0], head[1]])
        [int(np.argmin(np.abs(log_steps - step)))])
    start = int(np.nonzero(steps <= summary["drop_start"])[0][-1])
    after = np.nonzero(steps >= summary["drop_end"])[0]
    end = int(after[0]) if len(after) else len(steps) - 1
    loss_at = np.array([at("loss", step) for step in steps])
    windows = llc_window_indices(loss_at, start, end, flat_change)
    sampler = dict(gamma=s["gamma"], draws=config.llc_draws, burnin=config.llc_burnin,
                   batch_size=config.llc_batch_size or None, warn=False)

    def fresh_chains(indices: list[int]) -> np.ndarray:
        chosen = {int(steps[i]): checkpoints[int(steps[i])] for i in indices}
        return llc_over_training(chosen, build, batch_loss, data, count=len(chosen), chains=config.llc_sign_chains,
                                 seed=config.seed + 1, epsilon=s["epsilon"], nbeta=s["nbeta"], **sampler)[1].llc_chains

    changes = powered_llc_changes(fresh_chains, windows)
    prev, prefix = (0, summary["best_prev_token_head"]), (-1, summary["best_prefix_matching_head"])
    for name, pair in windows.items():
        if pair is not None:
            i, j = pair
            changes[name].update(
                window=[int(steps[i]), int(steps[j])], healthy=bool(r.healthy[i] and r.healthy[j]),
                loss_change=float(loss_at[j] / loss_at[i] - 1),
                loss_repeat_change=at("loss_repeat", steps[j]) / at("loss_repeat", steps[i]) - 1,
                prev_token=[at("prev_token", steps[i], prev), at("prev_token", steps[j], prev)],
                prefix_matching=[at("prefix_matching", steps[i], prefix), at("prefix_matching", steps[j], prefix)])
    llc.update(changes, argmax_step=int(steps[int(np.argmax(r.llc_mean))]), sign_chains=config.llc_sign_chains)
    if config.llc_calibrate:
        ends = [int(steps[start]), int(steps[end])]
        llc["calibration"] = {"steps": ends, **llc_calibration(
            build, batch_loss, [checkpoints[t] for t in ends], data, chains=CALIBRATION_CHAINS,
            epsilons=[s["epsilon"] / 3, s["epsilon"], 3 * s["epsilon"]],
            nbetas=[s["nbeta"] / 2, s["nbeta"], 2 * s["nbeta"]], seed=config.seed + 2, **sampler)}
        llc["gradient_noise"] = [{"step": t, **gradient_noise(
            build, loss, checkpoints[t], data[0], batch_size=s["batch_size"], epsilon=s["epsilon"],
            nbeta=s["nbeta"], seed=config.seed)} for t in ends]
    llc["seconds_beyond_curve"] = round(time.perf_counter() - started, 2)
    return llc_history, llc
