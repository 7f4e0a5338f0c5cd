"""The mirage debate: sharp metrics on smooth models, and a transition that is real.
(Schaeffer, Miranda and Koyejo 2023; Wei et al. 2022; Michaud et al. 2023.)

`run(config)` measures three panels, every metric computed from the same model outputs:

* A, analytic: per-token loss falls as a power law of scale N, CE(N) = (N / c)^alpha, so a token
  is right with p = exp(-CE).  Exact match of L tokens (p^L) and multiple-choice grade look
  emergent; token edit distance L (1 - p) and the Brier score do not.
* B, trained: MLPs on scikit-learn's digits with the training-set size n as the scale (all
  sizes x seeds as ONE batched model).  Subset accuracy (all of L test images right) against
  per-image accuracy, cross-entropy and Brier, and the toy prediction subset = acc^L.
* C, genuine: the per-skill curves of the multitask sparse parity runs of the scaling-laws
  chapter (its `run()`, cached and shared), over training data D.  Here the continuous metric
  jumps too and does not lead, while the aggregate loss stays smooth.

Timing on a log-scale axis uses the book's x50 / w10-90 / lag, on curves interpolated linearly
between measured scales; lag = x50(discrete) - x50(continuous), in decades: > 0 means the
continuous metric moved first (the signature of a mirage).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from emergence.config import ExperimentConfig, PROFILES, require, require_int, require_number
from emergence.experiments.base import Experiment, Run
from emergence.experiments.scaling_laws import EXPERIMENT as SCALING_LAWS   # panel C runs it
from emergence.measures.mirage import (EXPONENTIAL_W10_90, FINE, answer_tokens, brier_score, emergence_score,
                                       exact_match, log_lag, log_spacing, log_width, multiple_choice,
                                       skills_across_scale, subset_accuracy, token_edit_distance,
                                       token_probability, verdict)
from emergence.models.width_mlp import WidthMLP
from emergence.tasks.digit_answers import binary_code, digits_split
from emergence.train import train

NAME = "mirage"


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Defaults are the `fast` profile; `full` adds seeds and reads the full scaling run."""

    USES_FLOAT64 = True                      # the digits models' softmax, on the device
    threads: int = 1                         # tiny models: one CPU thread is fastest on a shared CPU
    # A: the analytic toy
    scale_min: float = 1e7                 # model sizes N, log-spaced
    scale_max: float = 1e11
    ce_scale: float = 4e7                  # c in CE(N) = (N / c)^alpha
    ce_exponent: float = -0.6              # alpha < 0
    lengths: tuple[int, ...] = (1, 2, 3, 5, 7, 10)   # target lengths L
    length: int = 5                        # the headline L
    n_items: int = 200                     # multiple-choice items, difficulty c_i ~ LogNormal(ln c, 1)
    n_options: int = 4
    item_seed: int = 0
    # B: digits, training-set size as scale
    train_sizes: tuple[int, ...] = (10, 20, 40, 80, 160, 320, 640, 1200)
    n_test: int = 597                      # the rest of the 1797 images
    width: int = 64
    lr: float = 1e-2                       # AdamW, full batch
    weight_decay: float = 1e-3
    steps: int = 300
    n_seeds: int = 5
    seed: int = 0
    subset_lengths: tuple[int, ...] = (5, 10, 30)
    subset_length: int = 10                # the headline L of subset accuracy
    partitions: int = 100                  # random partitions of the test set averaged
    # C: the genuine transition, from the scaling-laws run of this profile, started at `seed`
    scaling_profile: str = "fast"
    skill_width: int = 128                 # which model's skills to read
    top_skills: int = 3                    # the most frequent skills are checked

    PRESETS = {
        "fast": {},
        "full": dict(n_seeds=20, partitions=1000, scaling_profile="full", skill_width=1024),
    }

    def check(self) -> None:
        require(0 < self.scale_min < self.scale_max, "scale_min", (self.scale_min, self.scale_max),
                "0 < scale_min < scale_max")
        require_number(self, "ce_scale", 0)
        require(-5 <= self.ce_exponent < 0, "ce_exponent", self.ce_exponent, "a number in [-5, 0)")
        require(len(self.lengths) >= 2 and all(1 <= L <= 1000 for L in self.lengths)
                and list(self.lengths) == sorted(set(self.lengths)), "lengths", self.lengths,
                "2 or more increasing integers from 1 to 1000")
        require(self.length in self.lengths, "length", self.length, f"one of lengths {self.lengths}")
        require_int(self, "n_items", 10, 100_000)
        require_int(self, "n_options", 2, 100)
        require(len(self.train_sizes) >= 3 and list(self.train_sizes) == sorted(set(self.train_sizes))
                and self.train_sizes[0] >= 2, "train_sizes", self.train_sizes,
                "3 or more increasing integers >= 2")
        require_int(self, "n_test", 100, 1700)
        require(self.train_sizes[-1] + self.n_test <= 1797, "train_sizes", self.train_sizes,
                f"the largest size + n_test ({self.n_test}) at most the 1797 digits images")
        require_int(self, "width", 1, 10_000)
        require_number(self, "lr", 0, 1)
        require_number(self, "weight_decay", 0, 1, low_open=False)
        require_int(self, "steps", 10, 1_000_000)
        require_int(self, "n_seeds", 1, 100)
        require(all(1 <= L <= self.n_test // 2 for L in self.subset_lengths) and self.subset_lengths,
                "subset_lengths", self.subset_lengths, f"integers from 1 to n_test / 2 = {self.n_test // 2}")
        require(self.subset_length in self.subset_lengths, "subset_length", self.subset_length,
                f"one of subset_lengths {self.subset_lengths}")
        require_int(self, "partitions", 1, 100_000)
        require(self.scaling_profile in PROFILES, "scaling_profile", self.scaling_profile,
                "'fast' or 'full' (the scaling-laws run whose skills panel C reads)")
        widths = SCALING_LAWS.Config.PRESETS[self.scaling_profile].get("widths", SCALING_LAWS.Config.widths) \
            if self.scaling_profile in PROFILES else ()
        require(self.skill_width in widths, "skill_width", self.skill_width,
                f"one of the scaling run's widths {widths}")
        require_int(self, "top_skills", 1, 50)

    def scaling_config(self):
        """The scaling-laws Config of the run panel C reads: that profile, started at this run's `seed`."""
        return SCALING_LAWS.Config.preset(self.scaling_profile, seed=self.seed, device=self.device,
                                          threads=self.threads)


def _train_and_measure(config: Config, device: torch.device) -> Run:
    started = time.perf_counter()
    analytic_history, analytic = _analytic(config)
    digits_history, digits = _digits(config, device)
    skills_history, skills = _skills(config)
    history = {**analytic_history, **digits_history, **skills_history}
    summary = {
        "analytic": analytic, "digits": digits, "skills": skills,
        "lags": {"analytic": analytic["lag"], "digits": digits["lag"], "skills": skills["lags"]},
        "verdicts": {"analytic": analytic["verdict"]["verdict"], "digits": digits["verdict"]["verdict"],
                     "skills_over_D": [r["verdict"] for r in skills["skills"]],
                     "skills_over_N": skills["by_N"]["verdict"]},
        "seconds": round(time.perf_counter() - started, 2),
    }
    return Run(NAME, config.to_dict(), summary, history, {})


# --- A: analytic -------------------------------------------------------------------------------

def _analytic(config: Config) -> tuple[dict, dict]:
    N = np.geomspace(config.scale_min, config.scale_max, FINE)
    p = token_probability(N, config.ce_scale, config.ce_exponent)
    rng = np.random.default_rng(config.item_seed)
    difficulty = np.exp(math.log(config.ce_scale) + rng.standard_normal(config.n_items))
    item_p = token_probability(N[:, None], difficulty[None, :], config.ce_exponent)
    grade, brier = (v.mean(1) for v in multiple_choice(item_p, config.n_options))
    em = np.stack([exact_match(p, L) for L in config.lengths])
    ted = np.stack([token_edit_distance(p, L) for L in config.lengths])
    per_length = [{"length": L, **log_lag(N, em[i], ted[i])} for i, L in enumerate(config.lengths)]
    head, i = next(r for r in per_length if r["length"] == config.length), config.lengths.index(config.length)
    lags = [r["lag"] for r in per_length]
    history = {"analytic_N": torch.tensor(N), "analytic_ce": torch.tensor(-np.log(p)),
               "analytic_p": torch.tensor(p), "analytic_exact_match": torch.tensor(em),
               "analytic_edit_distance": torch.tensor(ted), "analytic_mc_grade": torch.tensor(grade),
               "analytic_brier": torch.tensor(brier)}
    return history, {
        "length": config.length, **{k: head[k] for k in ("x50_discrete", "x50_continuous", "lag")},
        "per_length": per_length,
        "lag_grows_with_length": bool(all(b > a for a, b in zip(lags, lags[1:]))),
        "multiple_choice": log_lag(N, grade, brier),
        "lag_vs_cross_entropy": log_lag(N, em[i], -np.log(p))["lag"],
        "lag_vs_log_cross_entropy": log_lag(N, em[i], np.log(-np.log(p)))["lag"],
        "verdict": verdict(N, em[i], ted[i]),
        "emergence_score": {"exact_match": emergence_score(N[::40], em[i, ::40]),
                            "edit_distance": emergence_score(N[::40], -ted[i, ::40])},
        "token_probability_range": [float(p[0]), float(p[-1])],
    }


# --- B: digits ------------------------------------------------------------------------------

def _digits(config: Config, device) -> tuple[dict, dict]:
    """All training sizes x seeds as one batched MLP; each seed shuffles the data its own way."""
    n_max = config.train_sizes[-1]
    members = [dict(n=n, seed=config.seed + s) for s in range(config.n_seeds) for n in config.train_sizes]
    splits = [digits_split(n_max, config.n_test, config.seed + s) for s in range(config.n_seeds)]
    pick = lambda j: torch.stack([splits[m["seed"] - config.seed][j] for m in members]).to(device)
    x_train, y_train, x_test, y_test = pick(0), pick(1), pick(2), pick(3)
    weight = (torch.arange(n_max)[None, :] < torch.tensor([m["n"] for m in members])[:, None]).float()
    weight = (weight / weight.sum(1, keepdim=True)).to(device)        # mean over each member's n
    model = WidthMLP(64, [config.width] * len(members), 10,
                     [1000 * m["seed"] + m["n"] for m in members]).to(device)

    def loss_fn(m, _):
        ce = torch.nn.functional.cross_entropy(m(x_train).transpose(1, 2), y_train, reduction="none")
        return (ce * weight).sum(-1)

    train(model, torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay),
          loss_fn, lambda step: None, steps=config.steps, log_every=config.steps,
          desc=f"digits, {len(members)} models")
    with torch.no_grad():
        logits = model(x_test)
    probs = torch.softmax(logits.double(), -1).cpu().numpy()          # (E, M, 10)
    labels = y_test.cpu().numpy()                                      # (E, M): each seed's test set
    correct = probs.argmax(-1) == labels
    per_member = {
        "accuracy": correct.mean(-1),
        "cross_entropy": -np.log(np.take_along_axis(probs, labels[..., None], -1)[..., 0]).mean(-1),
        "brier": brier_score(probs, labels),
        **{f"subset_{L}": subset_accuracy(correct, L, config.partitions, config.seed)
           for L in config.subset_lengths},
        **{f"answer_{k}": v for k, v in answer_tokens(probs, labels, binary_code(10)).items()},
    }
    sizes = np.array(config.train_sizes, dtype=float)
    by_size = lambda v: np.array([[v[i] for i, m in enumerate(members) if m["n"] == n]
                                  for n in config.train_sizes])       # (sizes, seeds)
    mean = {name: by_size(v).mean(1) for name, v in per_member.items()}
    predicted = {L: np.array([(by_size(per_member["accuracy"])[j] ** L).mean()
                              for j in range(len(sizes))]) for L in config.subset_lengths}
    L = config.subset_length
    head = log_lag(sizes, mean[f"subset_{L}"], mean["cross_entropy"])
    gap = by_size(per_member["answer_exact_match"] - per_member["answer_product_of_accuracies"])
    history = {"digits_n": torch.tensor(sizes),
               **{f"digits_{name}": torch.tensor(by_size(v)) for name, v in per_member.items()},
               **{f"digits_predicted_subset_{k}": torch.tensor(v) for k, v in predicted.items()}}
    return history, {
        "subset_length": L, **head,
        "accuracy_vs_cross_entropy": log_lag(sizes, mean["accuracy"], mean["cross_entropy"]),
        "subset_vs_accuracy": log_lag(sizes, mean[f"subset_{L}"], mean["accuracy"]),
        "subset_vs_brier": log_lag(sizes, mean[f"subset_{L}"], mean["brier"]),
        "subset_vs_log_cross_entropy": log_lag(sizes, mean[f"subset_{L}"], np.log(mean["cross_entropy"])),
        "verdict": verdict(sizes, mean[f"subset_{L}"], mean["cross_entropy"]),
        "answer": {"length": binary_code(10).shape[1], "smallest_gap": float(gap.min()),
                   "gap": gap.mean(1).tolist(), "smallest_gap_of_the_mean": float(gap.mean(1).min()),
                   "exact_match_vs_cross_entropy": log_lag(sizes, mean["answer_exact_match"], mean["cross_entropy"]),
                   "product_vs_cross_entropy": log_lag(sizes, mean["answer_product_of_accuracies"],
                                                       mean["cross_entropy"])},
        "train_sizes": list(config.train_sizes),
        "mean": {name: v.tolist() for name, v in mean.items()},
        "predicted_subset": {str(k): v.tolist() for k, v in predicted.items()},
        "max_prediction_error": {str(k): float(np.abs(mean[f"subset_{k}"] - v).max())
                                 for k, v in predicted.items()},
        "resolution": {str(k): 1 / (config.n_test // k) for k in config.subset_lengths},
        "smallest_positive": {str(k): bool(mean[f"subset_{k}"][0] > 0) for k in config.subset_lengths},
        "n_seeds": config.n_seeds, "n_test": config.n_test,
    }


# --- C: skills of the multitask parity runs ----------------------------------------------------

def _skills(config: Config) -> tuple[dict, dict]:
    """The `top_skills` most frequent skills of every seed of the `skill_width` model over data D,
    and every skill against model size N at the end of training; the history keeps the first
    seed's curves over D and every model's over D for the Wei-style picture."""
    scaling = SCALING_LAWS.run(config.scaling_config())
    h, s = scaling.history, scaling.summary
    members = [i for i, m in enumerate(s["members"]) if m["width"] == config.skill_width]
    D = h["D"].numpy()
    rows, aggregate_widths = [], []
    for i in members:
        task_loss, task_acc = h["task_loss"][:, i].numpy(), h["task_accuracy"][:, i].numpy()
        aggregate_widths.append(log_width(D, h["loss"][:, i].numpy()))
        for t in range(config.top_skills):      # tasks are numbered by frequency, most frequent first
            rows.append({"seed": s["members"][i]["seed"], "task": t, "probability": s["task_probability"][t],
                         **verdict(D, task_acc[:, t], task_loss[:, t]),
                         "lag_log_loss": log_lag(D, task_acc[:, t], np.log(task_loss[:, t]))["lag"],
                         "w10_90_loss": log_width(D, task_loss[:, t]),
                         "w10_90_accuracy": log_width(D, task_acc[:, t]),
                         "final_accuracy": float(task_acc[-1, t]),
                         "learned": bool(task_acc[-1, t] >= 0.9)})
    first = members[0]
    # (seeds, widths, tasks) at the last evaluation: every seed's family of model sizes
    grid = [[[i for i, m in enumerate(s["members"]) if m["width"] == w and m["seed"] == seed][0]
             for w in s["widths"]] for seed in sorted({m["seed"] for m in s["members"]})]
    N = np.array(s["N"], dtype=float)
    by_N = skills_across_scale(N, h["task_accuracy"][-1].numpy()[grid], h["task_loss"][-1].numpy()[grid])
    history = {"skills_D": torch.tensor(D), "skills_task_loss": h["task_loss"][:, first].clone(),
               "skills_task_accuracy": h["task_accuracy"][:, first].clone(),
               "skills_aggregate_loss": h["loss"][:, first].clone(),
               "skills_task_probability": torch.tensor(s["task_probability"]),
               "skills_N": torch.tensor(N), "skills_grid_accuracy": h["task_accuracy"][:, grid].clone(),
               "skills_grid_loss": h["task_loss"][:, grid].clone()}     # (points, seeds, widths, tasks)
    verdicts = [r["verdict"] for r in by_N] + [r["log_loss"]["verdict"] for r in by_N]
    return history, {
        "width": config.skill_width, "N": s["members"][first]["N"], "n_seeds": len(members),
        "skills": rows, "lags": [r["lag"] for r in rows], "max_lag": max(r["lag"] for r in rows),
        "lags_log_loss": [r["lag_log_loss"] for r in rows], "spacing_D": log_spacing(D),
        "resolution_at_x50": min(r["resolution"] for r in rows),
        "max_w10_90_loss": max(r["w10_90_loss"] for r in rows), "exponential_w10_90": EXPONENTIAL_W10_90,
        "aggregate_w10_90": min(aggregate_widths), "aggregate_w10_90_per_seed": aggregate_widths,
        "tasks_learned": int((h["task_accuracy"][-1, first] >= 0.9).sum()),
        "by_N": {"N": N.tolist(), "spacing": log_spacing(N), "skills": by_N, "n_skills": len(by_N),
                 "genuine_share": verdicts.count("genuine") / max(1, len(verdicts)),
                 "max_lag": max((r["lag"] for r in by_N), default=None),
                 "verdict": max(set(verdicts), key=verdicts.count) if verdicts else None},
        "scaling_from_cache": scaling.from_cache,
    }


# --- the contract (experiments/base.py: Experiment) ------------------------------------------

EXPERIMENT = Experiment(NAME, Config, _train_and_measure, about=__doc__.strip().splitlines()[0])
run = EXPERIMENT.run
