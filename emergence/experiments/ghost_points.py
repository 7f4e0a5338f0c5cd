"""Ghost points: abrupt learning in a one-dimensional system you can solve on paper.
(Dinc, Cirakman, Kurtkaya, Yuksekgonul, Jiang, Schnitzer and Tanaka 2025.)

`run(config)` trains, by plain gradient descent and as ONE array computation, every member of
a grid: three variants (the system as it is; a less confident output; x0 trainable as a
redundant second parameter) x every delay T x every learning rate x `inits` initialisations
(z starts at `start_factor` z*(T), jittered).  It logs each member's loss, z, x0 and ghost
strength (min |dx/dt| along the trajectory), and summarises: the success fraction over
(learning rate, T) and the measured critical learning rate with its power law in T; the learned
z against the exact optimum; the plateau-then-drop shape; runs that overshoot into z < 0 and
stay there; the ghost strength's lead over the loss; and both remedies, just above the critical
rate.  The loss landscape L(z) and its gradient are computed on a grid for the figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from emergence.config import ExperimentConfig, require, require_int, require_number
from emergence.experiments.base import Experiment, Run
from emergence.measures.ghost import (critical_lr, critical_lr_measured, half_change_step, optimum,
                                      optimum_approx, success)
from emergence.measures.quanta import log_log_slope
from emergence.measures.transitions import plateau_then_drop
from emergence.models.ghost import delayed_activation

NAME = "ghost_points"
VARIANTS = ("plain", "low_confidence", "redundant")   # the member grid's outer axis
STUCK_STEPS = 100       # runs that enter z < 0 with this many steps left are followed there: ...
STUCK_GRAD = 1e-3       # ... their gradient stays below this fraction of its size T²/π² at z*
ABOVE = 2               # the remedies are compared at this many grid rates above the plain η_c


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Defaults are the `fast` profile (about 20 s on a laptop core); `full` is a finer grid."""

    delays: tuple[float, ...] = (5.0, 10.0, 20.0, 40.0)   # T, in the system's time units
    lrs_per_decade: int = 6                   # the learning rates: 10^(k / lrs_per_decade), k integer, ...
    lr_window: tuple[float, ...] = (0.05, 2.0)   # ... those from 0.05 to 2 times T's predicted η_c
    inits: int = 6                            # initialisations (seeds) per (variant, T, learning rate)
    seed: int = 0
    steps: int = 500                          # gradient-descent steps
    steps_per_delay: int = 400                # Euler steps per T (the window is 2T)
    start_factor: float = 5.0                 # z starts at start_factor z*(T) exp(start_spread N(0, 1))
    start_spread: float = 0.1
    confidence: float = 1.0                   # β of the output σ(β (x − x_th))
    low_confidence: float = 0.2               # β of the first remedy
    tolerance: float = 0.05                   # success: median loss over the last `tail` steps at most this
    tail: int = 100
    log_every: int = 1

    PRESETS = {
        "fast": {},
        # the authors' start (10 z*), more delays, a finer grid, finer time steps
        "full": dict(delays=(5.0, 7.0, 10.0, 14.0, 20.0, 28.0, 40.0, 56.0, 80.0), lrs_per_decade=12,
                     lr_window=(0.02, 3.0), inits=16, steps=3000, steps_per_delay=1000, start_factor=10.0),
    }

    def check(self) -> None:
        require(len(self.delays) >= 3 and all(1 <= d <= 1000 for d in self.delays)
                and list(self.delays) == sorted(set(self.delays)), "delays", self.delays,
                "at least 3 increasing numbers from 1 to 1000 (the power-law fit needs 3)")
        require(len(self.lr_window) == 2 and 0 < self.lr_window[0] < self.lr_window[1] <= 1000,
                "lr_window", self.lr_window, "two numbers 0 < low < high <= 1000 (multiples of the predicted η_c)")
        require_int(self, "lrs_per_decade", 1, 100)
        require_int(self, "inits", 1, 1000)
        require_int(self, "steps", 10, 1_000_000)
        require_int(self, "steps_per_delay", 20, 100_000)
        require_number(self, "start_factor", 1, 1000)
        require_number(self, "start_spread", 0, 2, low_open=False)
        require_number(self, ("confidence", "low_confidence"), 0, 1000)
        require(self.low_confidence < self.confidence, "low_confidence", self.low_confidence,
                f"a number below confidence ({self.confidence}): it is the remedy's lower confidence")
        require_number(self, "tolerance", 0, 0.5)
        require(1 <= self.tail <= self.steps // 2, "tail", self.tail, f"an integer from 1 to steps / 2 = {self.steps // 2}")
        require(1 <= self.log_every <= self.tail, "log_every", self.log_every, f"an integer from 1 to tail = {self.tail}")

    def lrs(self) -> np.ndarray:
        """(delays, rates): each delay's learning rates, increasing, all on one log grid."""
        per = self.lrs_per_decade
        count = int(math.floor(math.log10(self.lr_window[1] / self.lr_window[0]) * per)) + 1
        top = [math.floor(math.log10(critical_lr(T) * self.lr_window[1]) * per) for T in self.delays]
        return np.array([[10 ** ((k - count + 1 + j) / per) for j in range(count)] for k in top])


def _members(config: Config) -> dict[str, np.ndarray]:
    """Every member's variant, delay, learning rate, confidence and start, in the order
    variant x delay x learning rate x init (C order, the history's columns)."""
    lrs, delays = config.lrs(), np.array(config.delays)
    shape = (len(VARIANTS), len(delays), lrs.shape[1], config.inits)
    variant, d, lr, init = np.indices(shape).reshape(4, -1)
    jitter = np.random.default_rng(config.seed).standard_normal(shape[1:])   # the same starts in every variant
    z_opt = np.array([optimum(T) for T in delays])
    return {"variant": variant, "delay": delays[d], "lr": lrs[d, lr],
            "confidence": np.where(variant == 1, config.low_confidence, config.confidence),
            "z0": config.start_factor * z_opt[d] * np.exp(config.start_spread * np.broadcast_to(jitter, shape).reshape(-1)),
            "shape": np.array(shape)}


def _train(config: Config, m: dict) -> dict[str, np.ndarray]:
    """Plain gradient descent on every member at once; x0 moves only in the redundant variant."""
    z, x0 = m["z0"].copy(), np.zeros_like(m["z0"])
    redundant = m["variant"] == 2
    logs = {name: [] for name in ("step", "loss", "z", "x0", "min_speed", "grad_z")}
    for step in range(config.steps + 1):
        p = delayed_activation(z, x0, m["delay"], m["confidence"], config.steps_per_delay)
        if step % config.log_every == 0 or step == config.steps:
            for name, value in (("step", step), ("loss", p.loss), ("z", z), ("x0", x0), ("min_speed", p.min_speed),
                                ("grad_z", p.grad_z)):
                logs[name].append(np.copy(value))
        z = z - m["lr"] * p.grad_z
        x0 = x0 - m["lr"] * p.grad_x0 * redundant
    return {name: np.array(values) for name, values in logs.items()}


def _landscape(config: Config, points: int = 241) -> dict:
    """L(z) and |∂L/∂z| on z / z* from -1 to 3, for every delay, at both confidences."""
    ratio = np.linspace(-1, 3, points)
    out = {"z_over_opt": ratio.tolist()}
    for beta in (config.confidence, config.low_confidence):
        for T in config.delays:
            p = delayed_activation(ratio * optimum(T), 0.0, T, beta, config.steps_per_delay)
            out[f"{beta:g}/{T:g}"] = {"loss": p.loss.tolist(), "grad": np.abs(p.grad_z).tolist()}
    return out


def _compute(config: Config, device: torch.device) -> Run:
    m = _members(config)
    logs = _train(config, m)
    history = {name: torch.from_numpy(values.astype(np.float64 if name == "step" else np.float32))
               for name, values in logs.items()}
    summary = _summarize(config, m, logs)
    summary["landscape"] = _landscape(config)
    return Run(NAME, config.to_dict(), summary, history)


def _plateau_then_drop(steps: np.ndarray, loss: np.ndarray) -> bool:
    """The loss falls five-fold within fewer steps than it had stayed within 20 % of its level
    just before (`measures.transitions.plateau_then_drop`, as the induction chapter reads it)."""
    return plateau_then_drop(steps, loss, max_window=float(steps[-1]), drop=0.2, plateau=0.2) is not None


def _summarize(config: Config, m: dict, logs: dict) -> dict:
    shape, lrs, steps = tuple(m["shape"]), config.lrs(), logs["step"]
    tail = steps >= steps[-1] - config.tail
    ok = success(logs["loss"][tail], logs["z"][-1], config.tolerance).reshape(shape)
    fraction = ok.mean(axis=-1)                                              # (variant, delay, lr)
    z_opt = np.array([optimum(T) for T in config.delays])
    eta_c = {v: [critical_lr_measured(lrs[d], fraction[i, d]) for d in range(len(config.delays))]
             for i, v in enumerate(VARIANTS)}
    fits = {v: log_log_slope(config.delays, eta_c[v]) if None not in eta_c[v] else None for v in VARIANTS}
    for v in VARIANTS:
        if fits[v] is not None:
            resid = np.log(eta_c[v]) - (fits[v]["intercept"] + fits[v]["slope"] * np.log(config.delays))
            fits[v]["r2"] = float(1 - resid.var() / np.log(eta_c[v]).var())
    plain = np.flatnonzero(m["variant"] == 0)
    won = plain[ok.reshape(-1)[plain]]
    # plain GD bounces around the kink: read each run's z where its loss was lowest in the tail
    best = np.argmin(logs["loss"][tail][:, won], axis=0)
    learned = logs["z"][tail][best, won] / z_opt[np.searchsorted(config.delays, m["delay"][won])]
    return {
        "delays": list(config.delays), "lrs": lrs.tolist(), "variants": list(VARIANTS),
        "theory": {"z_opt": z_opt.tolist(), "z_opt_approx": [optimum_approx(T) for T in config.delays],
                   "critical_lr": [critical_lr(T) for T in config.delays], "critical_lr_slope": -4.0},
        "success_fraction": fraction.tolist(),
        "critical_lr": eta_c,
        "critical_lr_fit": fits,
        "learned_z": _learned(config, m, won, learned),
        "plateau_then_drop": _shape_counts(m, won, logs),
        "ghost_lead": _ghost_lead(config, m, won, logs),
        "stuck": _stuck(config, m, logs, ok.reshape(-1)),
        "remedies": _remedies(config, fraction, lrs, eta_c["plain"]),
        "members": int(len(m["z0"])),
    }


def _learned(config: Config, m: dict, won: np.ndarray, learned: np.ndarray) -> dict:
    """The learned z / z* of the successful plain runs: range, worst error, median per delay."""
    if not len(won):
        return {"runs": 0, "ratio_min": None, "ratio_max": None, "max_relative_error": None,
                "by_delay": [None] * len(config.delays)}
    by_delay = [learned[m["delay"][won] == T] for T in config.delays]
    return {"runs": int(len(won)), "ratio_min": float(learned.min()), "ratio_max": float(learned.max()),
            "max_relative_error": float(np.abs(learned - 1).max()),
            "by_delay": [float(np.median(r)) if len(r) else None for r in by_delay]}


def _shape_counts(m: dict, won: np.ndarray, logs: dict) -> dict:
    """How many successful plain runs show a plateau then a drop, per delay."""
    shaped = np.array([_plateau_then_drop(logs["step"], logs["loss"][:, i]) for i in won], dtype=bool)
    return {f"{T:g}": [int(shaped[m["delay"][won] == T].sum()), int((m["delay"][won] == T).sum())]
            for T in np.unique(m["delay"])}


def _ghost_lead(config: Config, m: dict, won: np.ndarray, logs: dict) -> dict:
    """In each successful plain run: how many steps before the loss the ghost strength
    (min |dx/dt|) has made half its change, each measured to its median over the last steps."""
    step, tail = logs["step"], logs["step"] >= logs["step"][-1] - config.tail

    def half(name: str, i: int) -> float:
        curve = logs[name][:, i]
        return step[half_change_step(curve, float(np.median(curve[tail])))]

    lead = np.array([half("loss", i) - half("min_speed", i) for i in won])
    return {"runs": int(len(won)), "leading": int((lead > 0).sum()), "min_lead": float(lead.min()) if len(lead) else None,
            "median_lead": float(np.median(lead)) if len(lead) else None}


def _stuck(config: Config, m: dict, logs: dict, ok: np.ndarray) -> dict:
    """Plain runs that enter z < 0 with at least STUCK_STEPS left: is their gradient there below
    STUCK_GRAD times its size T²/π² at the optimum, and does any of them still learn?"""
    step, z, grad = logs["step"], logs["z"], np.abs(logs["grad_z"])
    plain = np.flatnonzero(m["variant"] == 0)
    scale = m["delay"] ** 2 / math.pi ** 2
    entered = [(i, int(np.argmax(z[:, i] < 0))) for i in plain if (z[:, i] < 0).any()]
    entered = [(i, k) for i, k in entered if step[-1] - step[k] >= STUCK_STEPS]
    worst = [float(grad[k:, i].max() / scale[i]) for i, k in entered]
    return {"entered": len(entered), "threshold": STUCK_GRAD,
            "stayed_below_zero": int(sum(bool((z[k:, i] < 0).all()) for i, k in entered)),
            "learned": int(sum(bool(ok[i]) for i, _ in entered)),
            "flat": int(sum(w < STUCK_GRAD for w in worst)), "max_grad_over_scale": max(worst) if worst else None}


def _remedies(config: Config, fraction: np.ndarray, lrs: np.ndarray, eta_c: list) -> dict:
    """Success fraction of each variant at the ABOVE grid rates just above the plain η_c, per delay."""
    out = {v: [] for v in VARIANTS}
    for d, edge in enumerate(eta_c):
        if edge is None:
            continue
        above = np.flatnonzero(lrs[d] > edge)[:ABOVE]
        for i, v in enumerate(VARIANTS):
            out[v].append(float(fraction[i, d, above].mean()))
    return {**out, "mean": {v: float(np.mean(out[v])) if out[v] else None for v in VARIANTS}, "rates_above": ABOVE}


# --- the contract (experiments/base.py: Experiment) ------------------------------------------

EXPERIMENT = Experiment(NAME, Config, _compute, about=__doc__.strip().splitlines()[0])
run = EXPERIMENT.run
