"""Sparse parity: a long plateau, an abrupt drop, and progress hidden in the weights.
(Barak, Edelman, Goel, Kakade, Malach and Zhang 2022.)

`run(config)` trains, as ONE batched model, a grid of problems: every n in `n_values` x every
k in `k_values` x `n_seeds` seeds (each seed draws its own secret support S and its own
initialisation).  Data is online: a fresh batch every step.  Every `eval_every` steps it
logs test accuracy and hinge loss, the correlation of the output with the parity, and how far
the first-layer weights of each input have moved; the summary reads that movement against
random decoy subsets of irrelevant inputs, and fits power laws and exponentials in n to the
times to solve, with unsolved runs censored.  Training stops
when every member has solved its problem (test accuracy >= 99 %) or at `max_steps`.
The headline run is the first seed at (n, k).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from emergence.config import ExperimentConfig, require, require_int, require_number
from emergence.experiments.base import Experiment, Run
from emergence.measures import coordinate_movement, first_crossing, x50
from emergence.measures.parity import (censored_scaling, fourier_gap_scaling, input_movement, log_log_slope,
                                      progress_against_chance)
from emergence.models import SinNeuron, TwoLayerMLP
from emergence.tasks.sparse_parity import ParityProblems
from emergence.train import train

NAME = "sparse_parity"
SOLVED = 0.99          # test accuracy that counts as solved
PLATEAU_ERROR = 0.45   # test error at or above this is "still on the plateau"
FOURIER_GAP_N = (25, 50, 100, 200, 400)
DECOYS = 1000          # random subsets of k irrelevant inputs: the movement ratio's null band


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Defaults are the `fast` profile; `full` uses the paper's width-1000 MLP at lr 0.1."""

    model: str = "mlp"                        # 'mlp' (2-layer ReLU) or 'sin' (one sin neuron)
    n: int = 50                               # headline problem: n inputs ...
    k: int = 3                                # ... of which k are relevant
    n_values: tuple[int, ...] = (10, 20, 30, 40, 50)   # the scaling grid (must contain n)
    k_values: tuple[int, ...] = (2, 3)             # (must contain k)
    n_seeds: int = 4                          # seeds per (n, k)
    seed: int = 0
    width: int = 1000                         # MLP hidden units
    lr: float = 0.05                          # plain SGD
    batch_size: int = 32
    max_steps: int = 20000
    eval_every: int = 25
    test_size: int = 1024

    PRESETS = {
        "fast": {},
        # Barak et al.'s MLP setting on a wider grid, 8 seeds each, lr 0.1.
        "full": dict(n_values=(10, 20, 30, 40, 50, 60, 80, 100), k_values=(2, 3, 4), n_seeds=8,
                     lr=0.1, max_steps=200000, test_size=8192, eval_every=100),
    }

    def check(self) -> None:
        require(self.model in ("mlp", "sin"), "model", self.model, "'mlp' or 'sin'")
        require(all(2 <= n <= 4096 for n in self.n_values) and self.n_values, "n_values",
                self.n_values, "integers from 2 to 4096")
        require(all(1 <= k <= 8 for k in self.k_values) and self.k_values, "k_values",
                self.k_values, "integers from 1 to 8")
        require(max(self.k_values) <= min(self.n_values), "k_values", self.k_values,
                f"every k at most the smallest n ({min(self.n_values)})")
        require(self.n in self.n_values, "n", self.n, f"one of n_values {self.n_values}")
        require(self.k in self.k_values, "k", self.k, f"one of k_values {self.k_values}")
        require_int(self, "n_seeds", 1, 256)
        require_int(self, "width", 1, 100_000)
        require_number(self, "lr", 0, 10)
        require_int(self, "batch_size", 1, 100_000)
        require_int(self, "max_steps", 1, 100_000_000)
        require(1 <= self.eval_every and 2 * self.eval_every <= self.max_steps, "eval_every",
                self.eval_every, f"an integer from 1 to max_steps / 2 = {self.max_steps // 2}")
        require_int(self, "test_size", 100, 1_000_000)

    def members(self) -> list[dict]:
        """The headline problem's seeds first, then the rest of the (k, n) grid."""
        grid = [(self.n, self.k)] + [(n, k) for k in self.k_values for n in self.n_values
                                     if (n, k) != (self.n, self.k)]
        return [dict(n=n, k=k, seed=self.seed + s) for n, k in grid for s in range(self.n_seeds)]


def hinge(output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-member mean hinge loss max(0, 1 - y f(x)), shape (E,)."""
    return torch.relu(1 - y * output).mean(-1)


def build_model(config: Config, members: list[dict]) -> torch.nn.Module:
    seeds, fan_in = [m["seed"] for m in members], [m["n"] for m in members]
    n_max = max(fan_in)
    if config.model == "mlp":
        return TwoLayerMLP(n_max, config.width, seeds, fan_in)
    return SinNeuron(n_max, seeds, fan_in)


def _train_and_measure(config: Config, device: torch.device) -> Run:
    started = time.perf_counter()
    members = config.members()
    problems = ParityProblems.make([(m["n"], m["k"], m["seed"]) for m in members], device)
    model = build_model(config, members).to(device)
    start_weights = model.input_weights().detach().clone()
    # One random stream for the whole ensemble: a member's batches depend on the seed and on
    # the grid (not on other members' training).  The test set is drawn first, then batches.
    generator = torch.Generator(device=device).manual_seed(config.seed)
    x_test, y_test = problems.sample(config.test_size, generator)

    def metrics(m):
        output = m(x_test)
        return {
            "test_acc": ((output * y_test) > 0).float().mean(-1),
            "test_loss": hinge(output, y_test),
            "parity_correlation": (output * y_test).mean(-1),    # f-hat(S) = E[f(x) chi_S(x)]
            **coordinate_movement(m.input_weights(), start_weights, problems.support, problems.active),
            "movement_per_input": input_movement(m.input_weights(), start_weights, problems.active),  # (E, n_max)
        }

    def all_solved(latest):
        return bool((latest["test_acc"] >= SOLVED).all())

    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr)
    result = train(model, optimizer, loss_fn=lambda m, batch: hinge(m(batch[0]), batch[1]),
                   next_batch=lambda step: problems.sample(config.batch_size, generator),
                   steps=config.max_steps, log_every=config.eval_every, metrics=metrics,
                   stop=all_solved,
                   desc=f"sparse parity ({len(members)} models)")
    seconds = time.perf_counter() - started
    history = {"step": torch.tensor(result.steps), **result.history,
               "support": problems.support.cpu()}
    summary = _summarize(config, members, history, seconds)
    return Run(NAME, config.to_dict(), summary, history, {})


def _member_events(steps: np.ndarray, h: dict, i: int, member: dict) -> dict:
    acc = h["test_acc"][:, i].numpy()
    solved = first_crossing(steps, acc, SOLVED)
    ratio = (h["movement_relevant"][:, i] / h["movement_irrelevant"][:, i].clamp_min(1e-12)).numpy()
    # The plateau lasts until the LAST evaluation with test error >= 0.45 before the error
    # falls below it for good: an evaluation that dips below and comes back (test-set noise,
    # ~1.6 % at 1024 samples) does not end it.  None while the run is still on it.
    on_plateau = (1 - acc) >= PLATEAU_ERROR
    plateau_end = None
    if not on_plateau[-1] and on_plateau.any():
        plateau_end = float(steps[np.nonzero(on_plateau)[0][-1]])
    plateau = (steps > 0) & on_plateau & (steps <= (plateau_end if plateau_end is not None else np.inf))
    detected = first_crossing(steps[1:], ratio[1:], 1.5) if len(steps) > 2 else None
    # Where the raw ||W - W0||_inf sits (on a relevant input or not), per half of the plateau.
    top_relevant = h["movement_max_is_relevant"][:, i].numpy()
    halves = np.array_split(np.nonzero(plateau)[0], 2)
    movement = h["movement_per_input"].reshape(len(steps), len(h["support"]), -1)[:, i, :member["n"]].numpy()
    chance = progress_against_chance(steps, movement, h["support"][i, :member["n"]].numpy(), plateau, DECOYS,
                                     member["seed"])
    return {
        **chance,   # the ratio's null band over decoys, and when the top-k moved inputs became S
        "steps_to_solve": None if solved is None else int(solved),
        "plateau_end": None if plateau_end is None else int(plateau_end),
        "plateau_fraction": None if solved is None or plateau_end is None else plateau_end / solved,
        "final_test_acc": float(acc[-1]),
        # the largest relevant / irrelevant movement ratio reached while still on the plateau
        "movement_ratio_on_plateau": float(ratio[plateau].max()) if plateau.any() else None,
        # first evaluation at which the relevant inputs' weights have moved 1.5x the irrelevant
        "ratio_1_5_step": None if detected is None else int(detected),
        "ratio_lead_over_plateau_end": None if detected is None or plateau_end is None
        else int(plateau_end - detected),
        "max_on_relevant_first_half": float(top_relevant[halves[0]].mean()) if len(halves[0]) else None,
        "max_on_relevant_second_half": float(top_relevant[halves[1]].mean()) if len(halves[1]) else None,
        "top_k_lead_over_plateau_end": None if chance["top_k_is_support_step"] is None or plateau_end is None
        else int(plateau_end - chance["top_k_is_support_step"]),
    }


def _scaling(config: Config, members: list[dict], events: list[dict], stopped_at: int) -> dict:
    """Steps-to-solve against n for each k: medians, a pooled log-log slope of the solved runs and
    its spread over 1000 bootstrap resamples of the runs at each n; and power-law against
    exponential fits of every run, the unsolved ones censored at `stopped_at`."""
    out = {}
    rng = np.random.default_rng(0)
    for k in config.k_values:
        per_n = {n: sorted(e["steps_to_solve"] for m, e in zip(members, events)
                           if m["k"] == k and m["n"] == n and e["steps_to_solve"] is not None)
                 for n in config.n_values}
        unsolved = {n: sum(1 for m, e in zip(members, events)
                           if m["k"] == k and m["n"] == n and e["steps_to_solve"] is None)
                    for n in config.n_values}
        slope, spread = log_log_slope(per_n, rng)
        out[str(k)] = {
            "n": list(config.n_values),
            "median_steps": [float(np.median(per_n[n])) if per_n[n] else None for n in config.n_values],
            "steps": {str(n): per_n[n] for n in config.n_values},
            "unsolved": {str(n): unsolved[n] for n in config.n_values},
            "slope": slope,
            "slope_std": spread,   # bootstrap standard deviation
            **censored_scaling(per_n, unsolved, stopped_at),   # "power", "exponential", "km_median", ...
        }
    return out


def _k_ratios(config: Config, scaling: dict) -> dict:
    """Median steps at each k over median steps at the next smaller k, at each n."""
    ks = sorted(config.k_values)
    out = {}
    for low, high in zip(ks, ks[1:]):
        pairs = zip(config.n_values, scaling[str(low)]["median_steps"], scaling[str(high)]["median_steps"])
        out[f"{high}/{low}"] = {str(n): None if lo is None or hi is None else hi / lo for n, lo, hi in pairs}
    return out


def _summarize(config: Config, members, history, seconds) -> dict:
    steps = history["step"].numpy()
    events = [_member_events(steps, history, i, m) for i, m in enumerate(members)]
    head = events[0]
    acc = history["test_acc"][:, 0].numpy()
    measures = {name: x50(steps, history[name][:, 0].numpy())
                for name in ("movement_relevant", "movement_max", "parity_correlation")}
    relevant = history["movement_relevant"][:, 0].numpy()
    if len(steps) > 2:
        measures["movement_relevant_log"] = x50(steps[1:], np.log(relevant[1:].clip(1e-12)))
    measures["movement_ratio"] = x50(steps, relevant / history["movement_irrelevant"][:, 0].numpy().clip(1e-12))
    acc_x50 = x50(steps, acc)
    scaling = _scaling(config, members, events, int(steps[-1]))
    headline_seeds = [dict(seed=m["seed"], **e) for m, e in zip(members, events)
                      if (m["n"], m["k"]) == (config.n, config.k)]
    return {
        **head,
        "n": config.n, "k": config.k,
        "seeds": headline_seeds,
        "x50_test_acc": acc_x50,
        "x50": measures,
        "lag": {name: acc_x50 - value for name, value in measures.items()},
        "scaling": scaling,
        "k_ratio": _k_ratios(config, scaling),
        "fourier_gap": fourier_gap_scaling(FOURIER_GAP_N, (1, 3, 5)),   # the sin neuron at initialisation
        "steps_trained": int(steps[-1]),
        "members": members,
        "n_models": len(members),
        "seconds": round(seconds, 2),
    }


# --- the contract (experiments/base.py: Experiment) ------------------------------------------

EXPERIMENT = Experiment(NAME, Config, _train_and_measure, about=__doc__.strip().splitlines()[0])
run = EXPERIMENT.run
