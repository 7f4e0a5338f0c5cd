"""Scaling laws: a smooth loss surface L(N, D) from skills that each switch on abruptly.
(Kaplan et al. 2020; Hoffmann et al. 2022; Michaud et al. 2023; Besiroglu et al. 2024.)

`run(config)` trains one-hidden-layer MLPs of every width in `widths` (x `n_seeds` seeds) on
multitask sparse parity as ONE batched model (widths padded to the largest, a hidden-unit mask),
on online data, with Adam.  With `schedule="constant"` (the fast profile, Kaplan's method) the
data budgets D are checkpoints of one long run, log-spaced; with `schedule="cosine"` (Chinchilla's
method) every budget in `budget_steps` is its own run whose learning rate decays to 0.1x over
exactly that many steps.  Each (N, D) is evaluated on a fixed clean test set of every task.
With `compare_budgets`, the same widths are also read at those budgets under the other rule (one
cosine run per budget, or one constant-lr run), to compare the frontier each rule gives.

Then it measures: the loss table; Chinchilla's Approach 3 fit (Huber on log loss, L-BFGS from a
grid of starts), also with E fixed to the known floor H(label_noise) and with the largest width
held out (and predicted); IsoFLOP slices at compute budgets C = 6 N D and Approach 2; Kaplan's L(C) envelope and Approach 1; the
compute-optimal frontier of all three, with a bootstrap interval on Approach 3's exponent; the
quantization model's measures (each skill's learning step against its frequency, skills learned
against N, exponents predicted beside fitted); the published Chinchilla constants and the
Besiroglu et al. refit at Chinchilla's own budget.  The per-task curves (the skills) are kept in
the history for the mirage chapter.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from emergence.config import ExperimentConfig, require, require_int, require_number
from emergence.experiments.base import Experiment, Run
from emergence.measures.quanta import (direct_exponents, learning_step_law, log_log_slope, loss_from_skills,
                                      predicted_exponents, untruncated_alpha_N)
from emergence.measures.scaling import (CHINCHILLA_FLOPS, CHINCHILLA_GRID, PUBLISHED, approach_1,
                                        bootstrap_frontier_exponent, chinchilla_loss, compute_optimal,
                                        fit_chinchilla, isoflop_approach)
from emergence.models.width_mlp import WidthMLP
from emergence.tasks.multitask_parity import MultitaskParity, expected_noisy_loss
from emergence.train import train

NAME = "scaling_laws"

# A coarser grid of L-BFGS starts than Chinchilla's 4500 (every value is one of theirs):
# 243 starts, a few seconds per fit on one CPU thread.
COARSE_GRID = dict(alpha=np.array([0.0, 1.0, 2.0]), beta=np.array([0.0, 1.0, 2.0]),
                   e=np.array([-1.0, 0.0, 1.0]), a=np.array([0.0, 10.0, 20.0]),
                   b=np.array([0.0, 10.0, 20.0]))
FIT_GRIDS = {"coarse": COARSE_GRID, "chinchilla": CHINCHILLA_GRID}


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Defaults are the `fast` profile (32 tasks, widths 8-128, 6000 steps: about half a minute
    on one CPU thread); `full` is the closest one-GPU equivalent of Michaud et al.'s scans, with
    Chinchilla's per-budget cosine runs."""

    USES_FLOAT64 = True                      # tasks are sampled from float64 probabilities on the device
    threads: int = 1                         # tiny models: one CPU thread is fastest on a shared CPU
    n_tasks: int = 32                        # skills; task i drawn with p_i ~ i^(-rank_exponent)
    n_bits: int = 12                         # random bits after the one-hot task code
    k: int = 3                               # each task is the parity of k of them
    rank_exponent: float = 1.4               # Michaud's alpha; quantization theory: L ~ N^-(alpha - 1)
    label_noise: float = 0.05                # labels flipped with this probability: floor H(noise)
    task_seed: int = 0                       # the tasks' secret bits
    widths: tuple[int, ...] = (8, 16, 32, 64, 128)   # hidden units: the model sizes N
    n_seeds: int = 2
    seed: int = 0                            # init and data seeds: seed, seed + 1, ...
    lr: float = 3e-3                         # Adam
    batch_size: int = 256                    # fresh samples per step: D = steps x batch_size
    steps: int = 6000                        # the constant-lr run's length
    schedule: str = "constant"               # 'constant': budgets are checkpoints of one run; 'cosine'
    budget_steps: tuple[int, ...] = ()       # 'cosine': the steps of each budget's own run
    eval_points: int = 25                    # 'constant': log-spaced checkpoints evaluated
    eval_per_task: int = 1000                # clean test examples of every task
    fit_max_loss: float = 0.65               # fit only points below this (drops the ln 2 plateau)
    fit_grid: str = "coarse"                 # L-BFGS starts: 'coarse' (243) or 'chinchilla' (4500)
    n_budgets: int = 6                       # IsoFLOP compute budgets, log-spaced where >= 3 widths fit
    heldout_width: int = 128                 # refit without this width, then predict it (0: skip)
    compare_budgets: tuple[int, ...] = (500, 1000, 2000, 4000)   # steps read under both schedules (): skip
    n_boot: int = 200                        # bootstrap refits for the interval on the frontier exponent

    PRESETS = {
        "fast": {},
        # Michaud et al.'s task (500 tasks, 100 bits) with 8 widths to 1024, three seeds, and
        # Chinchilla's rule: one cosine run per data budget (2^11 ... 2^17 steps of 2048).
        "full": dict(n_tasks=500, n_bits=100, widths=(16, 32, 64, 128, 256, 512, 1024),
                     n_seeds=3, lr=1e-3, batch_size=2048, schedule="cosine",
                     budget_steps=(2048, 4096, 8192, 16384, 32768, 65536, 131072),
                     eval_per_task=400, fit_grid="chinchilla", n_budgets=8, heldout_width=1024,
                     compare_budgets=(2048, 4096, 8192, 16384, 32768, 65536, 131072)),
    }

    def check(self) -> None:
        require_int(self, "n_tasks", 2, 10_000)
        require_int(self, "n_bits", 1, 1000)
        require(1 <= self.k <= self.n_bits, "k", self.k, f"an integer from 1 to n_bits = {self.n_bits}")
        require_number(self, "rank_exponent", 0, 5)
        require(0 <= self.label_noise < 0.5, "label_noise", self.label_noise, "a number in [0, 0.5)")
        require(len(self.widths) >= 3 and all(1 <= w <= 100_000 for w in self.widths)
                and list(self.widths) == sorted(set(self.widths)), "widths", self.widths,
                "3 or more distinct increasing integers from 1 to 100000")
        require_int(self, "n_seeds", 1, 64)
        require_number(self, "lr", 0, 1)
        require_int(self, "batch_size", 1, 1_000_000)
        require_int(self, "steps", 10, 100_000_000)
        require(self.schedule in ("constant", "cosine"), "schedule", self.schedule, "'constant' or 'cosine'")
        require(self.schedule == "constant" or (len(self.budget_steps) >= 3 and all(
                s >= 10 for s in self.budget_steps) and list(self.budget_steps) == sorted(set(self.budget_steps))),
                "budget_steps", self.budget_steps, "with schedule='cosine': 3 or more increasing step "
                "counts >= 10")
        require_int(self, "eval_points", 5, 1000)
        require_int(self, "eval_per_task", 10, 100_000)
        require_number(self, "fit_max_loss", 0, 10)
        require(self.fit_grid in FIT_GRIDS, "fit_grid", self.fit_grid, "'coarse' or 'chinchilla'")
        require_int(self, "n_budgets", 3, 50)
        require(self.heldout_width == 0 or (self.heldout_width in self.widths and len(self.widths) >= 4),
                "heldout_width", self.heldout_width, f"0 (no held-out fit) or one of widths {self.widths} "
                "(with 4 or more widths)")
        require(self.compare_budgets == () or (len(self.compare_budgets) >= 3 and list(self.compare_budgets) == sorted(
                set(self.compare_budgets)) and self.compare_budgets[0] >= 10 and (self.schedule == "cosine" or
                self.compare_budgets[-1] <= self.steps)), "compare_budgets", self.compare_budgets,
                f"() or 3 or more increasing step counts >= 10 (with schedule='constant', up to steps = {self.steps})")
        require_int(self, "n_boot", 0, 100_000)

    def members(self) -> list[dict]:
        return [dict(width=w, seed=self.seed + s) for s in range(self.n_seeds) for w in self.widths]


def make_task(config: Config) -> MultitaskParity:
    return MultitaskParity.make(config.n_tasks, config.n_bits, config.k, config.rank_exponent,
                                config.label_noise, config.task_seed)


def build_model(config: Config, task: MultitaskParity) -> WidthMLP:
    members = config.members()
    return WidthMLP(task.n_inputs, [m["width"] for m in members], 2,
                    [1000 * m["seed"] + m["width"] for m in members])


def log_spaced_steps(steps: int, points: int) -> list[int]:
    """About `points` log-spaced steps from 1 to `steps` (duplicates merged)."""
    return sorted(set(np.geomspace(1, steps, points).round().astype(int).tolist()))


def _train_and_measure(config: Config, device: torch.device) -> Run:
    started = time.perf_counter()
    task = make_task(config)
    x_eval, y_eval, task_eval = task.eval_set(config.eval_per_task, seed=10_000 + config.task_seed,
                                              device=device)
    if config.schedule == "constant":
        evaluated = _train_one(config, task, config.steps, "constant", (x_eval, y_eval), device,
                               log_spaced_steps(config.steps, config.eval_points))
    else:
        evaluated = _cosine_runs(config, task, config.budget_steps, (x_eval, y_eval), device)
    history = {
        "step": evaluated["step"], "D": evaluated["step"].double() * config.batch_size,
        "task_loss": evaluated["task_loss"], "task_accuracy": evaluated["task_accuracy"],
        "loss": (evaluated["task_loss"].double() * task.probabilities).sum(-1),   # (points, E)
        "accuracy": (evaluated["task_accuracy"].double() * task.probabilities).sum(-1),
        "train_step": evaluated["train_step"], "train_loss": evaluated["train_loss"],
        "task_probability": task.probabilities,
    }
    summary = _summarize(config, task, history, time.perf_counter() - started)
    if config.compare_budgets:
        summary["schedules"] = _compare_schedules(config, task, history, evaluated, (x_eval, y_eval), device)
    return Run(NAME, config.to_dict(), summary, history, {})


def _cosine_runs(config: Config, task: MultitaskParity, budgets, eval_data, device) -> dict:
    """Chinchilla's rule: one run per budget, its cosine schedule ending at that budget."""
    per_budget = [_train_one(config, task, s, "cosine", eval_data, device, [s]) for s in budgets]
    evaluated = {name: torch.cat([b[name] for b in per_budget]) for name in ("step", "task_loss", "task_accuracy")}
    return {**evaluated, "train_step": per_budget[-1]["train_step"], "train_loss": per_budget[-1]["train_loss"]}


def _train_one(config: Config, task: MultitaskParity, steps: int, schedule: str, eval_data,
               device, eval_steps: list[int]) -> dict:
    """Train every member for `steps` steps; evaluate each task at `eval_steps`."""
    model = build_model(config, task).to(device)
    members = config.members()
    seed_of = torch.tensor([m["seed"] - config.seed for m in members], device=device)
    generator = torch.Generator(device=device).manual_seed(config.seed)

    def next_batch(step):
        # one fresh stream per seed; every width of a seed sees the same batches
        x, y = task.sample(config.n_seeds * config.batch_size, generator)
        x = x.view(config.n_seeds, config.batch_size, -1)[seed_of]
        return x, y.view(config.n_seeds, config.batch_size)[seed_of]

    def loss_fn(m, batch):
        x, y = batch
        logits = m(x)
        return torch.nn.functional.cross_entropy(logits.transpose(1, 2), y, reduction="none").mean(-1)

    cosine = lambda step: 0.1 + 0.45 * (1 + math.cos(math.pi * step / steps))   # 1 -> 0.1
    result = train(model, torch.optim.Adam(model.parameters(), lr=config.lr), loss_fn, next_batch,
                   steps=steps, log_every=max(1, steps // 100), checkpoint_steps=eval_steps,
                   lr_schedule=cosine if schedule == "cosine" else None,
                   desc=f"multitask parity, {len(members)} models, {steps} steps")
    losses, accuracies = [], []
    for step in eval_steps:
        with torch.no_grad():
            for name, p in model.named_parameters():
                p.copy_(result.checkpoints[step][name])
            task_loss, task_acc = evaluate_tasks(model, task, *eval_data)
        losses.append(task_loss)
        accuracies.append(task_acc)
    return {"step": torch.tensor(eval_steps), "task_loss": torch.stack(losses),
            "task_accuracy": torch.stack(accuracies), "train_step": torch.tensor(result.steps),
            "train_loss": result.history["train_loss_step"]}


def _compare_schedules(config: Config, task: MultitaskParity, history: dict, evaluated: dict, eval_data,
                       device) -> dict:
    """The same widths at `compare_budgets` under both rules: read off one constant-lr run (Kaplan)
    and trained once per budget with a cosine schedule ending there (Chinchilla), each with its own
    Approach-3 fit and frontier exponent.  The main run serves whichever rule it used."""
    budgets = list(config.compare_budgets)
    D = np.array(budgets, dtype=float) * config.batch_size
    if config.schedule == "constant":       # the main run's curves, interpolated in log-log at the budgets
        main = loss_table(config, history)
        constant = np.exp([np.interp(np.log(D), np.log(history["D"].numpy()), np.log(row)) for row in main])
        cosine_run = _cosine_runs(config, task, budgets, eval_data, device)
    else:
        cosine_run = evaluated if budgets == list(config.budget_steps) else \
            _cosine_runs(config, task, budgets, eval_data, device)
        constant = _table_of(config, task, _train_one(config, task, budgets[-1], "constant", eval_data, device, budgets))
    N, grid = _param_counts(config, task), FIT_GRIDS[config.fit_grid]
    arms = {}
    for name, table in (("constant", constant), ("cosine", _table_of(config, task, cosine_run))):
        points = fit_points(config, N, D, table)
        fit = fit_chinchilla(*points, grid=grid) if len(points[0]) >= 5 else None
        arms[name] = {"loss_table": table.tolist(), "fit": fit, "n_points": len(points[0]),
                      "a": None if fit is None else fit["beta"] / (fit["alpha"] + fit["beta"]),
                      "approach_1_a": approach_1(N, D, table, config.fit_max_loss)["a"]}
    gain = np.log(arms["constant"]["loss_table"]) - np.log(arms["cosine"]["loss_table"])
    return {"budget_steps": budgets, "D": D.tolist(), **arms, "mean_log_loss_gain_of_cosine": float(gain.mean())}


def _table_of(config: Config, task: MultitaskParity, evaluated: dict) -> np.ndarray:
    return loss_table(config, {"loss": (evaluated["task_loss"].double() * task.probabilities).sum(-1)})


def evaluate_tasks(model: WidthMLP, task: MultitaskParity, x: torch.Tensor, y: torch.Tensor,
                   chunk: int = 65536) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-task expected noisy-label loss and clean accuracy of every member, (E, n_tasks) each.
    `x`, `y` hold the same number of examples of every task, task-major (MultitaskParity.eval_set)."""
    loss, correct = [], []
    for start in range(0, len(x), chunk):
        logits = model(x[start:start + chunk])
        labels = y[start:start + chunk].expand(logits.shape[0], -1)
        loss.append(expected_noisy_loss(logits, labels, task.label_noise))
        correct.append((logits.argmax(-1) == labels).float())
    per_task = lambda v: torch.cat(v, dim=1).view(v[0].shape[0], task.n_tasks, -1).mean(-1).cpu()
    return per_task(loss), per_task(correct)


# --- summary ------------------------------------------------------------------------------

def loss_table(config: Config, history: dict) -> np.ndarray:
    """(widths, points): the aggregate test loss, averaged over seeds."""
    return _width_mean(config, history["loss"].numpy())


def _width_mean(config: Config, values: np.ndarray) -> np.ndarray:
    """values (..., members) averaged over the seeds of each width: (widths, ...)."""
    members = config.members()
    return np.stack([values[..., [i for i, m in enumerate(members) if m["width"] == w]].mean(-1)
                     for w in config.widths])


def fit_points(config: Config, N: list[float], D: np.ndarray, table: np.ndarray, exclude_width: int = 0):
    """(N, D, L) of every width (loss averaged over seeds) and evaluated budget below
    `fit_max_loss`, leaving out `exclude_width`."""
    rows = [(n, D[t], table[i, t]) for i, (w, n) in enumerate(zip(config.widths, N))
            for t in range(len(D)) if table[i, t] < config.fit_max_loss and w != exclude_width]
    return tuple(np.array(v, dtype=float) for v in zip(*rows)) if rows else (np.array([]),) * 3


def _monotone(config: Config, N: list[float], D: np.ndarray, table: np.ndarray) -> dict:
    """Does the loss fall with N at every D >= 2e5, and with D for every N (from the first
    budget below fit_max_loss on)?  Reports the worst increase of each."""
    big = D >= 2e5
    rise_n = np.diff(table[:, big], axis=0)                      # (widths - 1, points)
    rises_d = []
    for row in table:
        below = np.nonzero(row < config.fit_max_loss)[0]
        if len(below) >= 2:
            rises_d.append(np.diff(row[below[0]:]).max())
    return {"worst_increase_with_N": float(rise_n.max()) if rise_n.size else None,
            "worst_increase_with_D": float(max(rises_d)) if rises_d else None,
            "decreasing_in_N": bool(rise_n.size and (rise_n < 0).all()),
            "decreasing_in_D": bool(rises_d and max(rises_d) < 0)}


def _heldout(config: Config, N: list[float], D: np.ndarray, table: np.ndarray, grid: dict) -> dict | None:
    """Fit without the held-out width, then predict its curve."""
    if not config.heldout_width:
        return None
    fit = fit_chinchilla(*fit_points(config, N, D, table, config.heldout_width), grid=grid)
    row = config.widths.index(config.heldout_width)
    measured = table[row]
    keep = measured < config.fit_max_loss
    predicted = chinchilla_loss(N[row], D, **{k: fit[k] for k in ("E", "A", "B", "alpha", "beta")})
    return {"width": config.heldout_width, "N": N[row], "fit": fit,
            "D": D[keep].tolist(), "measured": measured[keep].tolist(),
            "predicted": predicted[keep].tolist(),
            "rmse_log": float(np.sqrt(np.mean((np.log(predicted[keep]) - np.log(measured[keep])) ** 2)))}


def _summarize(config: Config, task: MultitaskParity, history: dict, seconds: float) -> dict:
    fit_started = time.perf_counter()
    members = config.members()
    N = _param_counts(config, task)
    n_params = [N[config.widths.index(m["width"])] for m in members]
    D = history["D"].numpy()
    table = loss_table(config, history)
    grid = FIT_GRIDS[config.fit_grid]
    points = fit_points(config, N, D, table)
    if len(points[0]) < 5:
        raise ValueError(f"only {len(points[0])} (N, D) points have a loss below fit_max_loss="
                         f"{config.fit_max_loss}: train longer (steps) or raise fit_max_loss")
    fit = fit_chinchilla(*points, grid=grid)
    fit_fixed = fit_chinchilla(*points, grid=grid, fixed_E=task.loss_floor)
    iso = isoflop_approach(N, D, table, config.fit_max_loss, config.n_budgets)
    budgets = np.array([s["C"] for s in iso["slices"]])
    frontier = compute_optimal(budgets, **fit)
    interval = bootstrap_frontier_exponent(*points, fit, config.n_boot, seed=config.seed)["interval"] \
        if config.n_boot else None
    published = {name: {**constants, **{k: float(v) for k, v in
                                          compute_optimal(CHINCHILLA_FLOPS, **constants).items()}}
                 for name, constants in PUBLISHED.items()}
    return {
        "members": [dict(m, N=n) for m, n in zip(members, n_params)],
        "n_models": len(members),
        "widths": list(config.widths), "N": N, "D": D.tolist(),
        "loss_table": table.tolist(),
        "loss_floor": task.loss_floor,
        "task_probability": task.probabilities.tolist(),
        "fit": fit, "fit_fixed_E": fit_fixed,
        "fit_rmse_ratio_fixed_over_free": fit_fixed["rmse_log"] / fit["rmse_log"],
        "heldout": _heldout(config, N, D, table, grid),
        "isoflop": iso,
        "frontier": {"C": budgets.tolist(), "N_opt": frontier["N_opt"].tolist(),
                     "D_opt": frontier["D_opt"].tolist(), "a": frontier["a"], "b": frontier["b"],
                     "a_interval": interval, "a_interval_level": 0.9},
        "approach_1": approach_1(N, D, table, config.fit_max_loss),
        "quanta": _quanta(config, task, history, N, table, fit),
        "exponent_gap": None if iso["a"] is None else abs(iso["a"] - frontier["a"]),
        "monotone": _monotone(config, N, D, table),
        "published": published, "chinchilla_flops": CHINCHILLA_FLOPS,
        "tasks_learned": _tasks_learned(config, history),
        "fit_seconds": round(time.perf_counter() - fit_started, 2),
        "seconds": round(seconds + time.perf_counter() - fit_started, 2),
    }


def _param_counts(config: Config, task: MultitaskParity) -> list[int]:
    return WidthMLP(task.n_inputs, list(config.widths), 2, [0] * len(config.widths)).n_params()


def _quanta(config: Config, task: MultitaskParity, history: dict, N: list[int], table: np.ndarray, fit: dict) -> dict:
    """The quantization model's mechanism: each skill's learning step against its frequency (the
    widest models, every seed), skills learned against N, and its exponents beside the fitted ones."""
    widest = [i for i, m in enumerate(config.members()) if m["width"] == config.widths[-1]]
    accuracy, p = history["task_accuracy"].numpy(), task.probabilities.numpy()
    per_width = _width_mean(config, (accuracy[-1] >= 0.9).sum(-1).astype(float)).tolist()
    from_skills = _width_mean(config, loss_from_skills(accuracy[-1], p, task.loss_floor))
    direct = direct_exponents(N, history["D"].numpy(), table, task.loss_floor, config.fit_max_loss)
    counted = [(n, c) for n, c in zip(N, per_width) if c > 0]
    return {"learning_step": learning_step_law(history["step"].numpy(), accuracy[:, widest], p),
            "skills_learned": per_width, "skills_vs_N": log_log_slope(*zip(*counted)) if len(counted) >= 3 else None,
            "loss_from_skills": from_skills.tolist(), "final_loss": table[:, -1].tolist(),
            "loss_from_skills_worst_relative_error": float(np.max(np.abs(from_skills / table[:, -1] - 1))),
            "predicted": predicted_exponents(config.rank_exponent),
            "fitted": {"alpha_N": fit["alpha"], "alpha_D": fit["beta"]}, "direct": direct,
            "alpha_N_from_skills": direct_exponents(N, [1.0], from_skills[:, None], task.loss_floor, 10)["alpha_N"],
            "alpha_N_untruncated": untruncated_alpha_N(N, per_width, config.rank_exponent)}


def _tasks_learned(config: Config, history: dict, accuracy: float = 0.9) -> dict:
    """Per width (first seed), how many tasks end with clean accuracy >= `accuracy`."""
    final = history["task_accuracy"][-1].numpy()
    return {str(m["width"]): int((final[i] >= accuracy).sum())
            for i, m in enumerate(config.members()) if m["seed"] == config.seed}


# --- the contract (experiments/base.py: Experiment) ------------------------------------------

EXPERIMENT = Experiment(NAME, Config, _train_and_measure, about=__doc__.strip().splitlines()[0])
run = EXPERIMENT.run
