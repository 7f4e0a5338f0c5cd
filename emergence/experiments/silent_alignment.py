"""Silent alignment: the tangent kernel learns the task while the loss sleeps.
(Atanasov, Bordelon and Pehlevan 2022; Saxe, McClelland and Ganguli 2014.)

`run(config)` trains, for each seed, ONE batched model of homogeneous two-layer ReLU MLPs
f(x) = sum_i a_i relu(w_i . x) by full-batch gradient descent on the mean squared error:
  * the small init scales `sigmas` on whitened inputs (the rich, "silent" regime),
  * one large init `lazy_sigma` (the lazy regime, at its own stable learning rate),
  * the init scales `sweep_sigmas` between and beyond, for the rich-to-lazy phase diagram,
  * the headline `sigma` on unwhitened, anisotropic inputs (the control).
Every member starts from the same random directions (one seed), only the scale differs, and
learns f(x) - f_0(x) (the output at init subtracted, so a large init starts at zero too).
After training, it reads the exact empirical NTK off the checkpoints on a log-spaced
schedule (alignment with the labels, norm, spectrum; the units' directions) and compares the
network's test outputs with kernel regression using the final and the initial NTK.

Separately it trains 2-layer deep linear networks (`saxe_seeds` seeds as one model) on a
teacher with chosen singular values and compares each mode's learning curve with Saxe et
al.'s closed-form solution.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from emergence.config import ExperimentConfig, require, require_int, require_number
from emergence.experiments.base import Experiment, Run
from emergence.measures import first_crossing, x50
from emergence.measures.saxe import balanced_initial_strength, saxe_half_time
from emergence.measures.kernels import kernel_alignment, kernel_norm, kernel_regression, prediction_agreement
from emergence.measures.silent_alignment import (COSINE_QUANTILES, kernel_spectrum, phase_diagram, phase_one,
                                                 reference_alignment, task_direction, task_power, unit_cosines)
from emergence.models.linear import DeepLinear, HomogeneousMLP
from emergence.tasks.whitened import (RegressionData, digits_available, digits_pair, gaussian_teacher,
                                      saxe_teacher)
from emergence.train import train

NAME = "silent_alignment"
ALIGNED = 0.9   # t_align: the alignment has made 90 % of its rise from its initial value to its maximum
HALF = 0.5      # t_loss: the loss has made half of its total drop


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Defaults are the `fast` profile (whitened digits 0 vs 1, width 256, three small inits);
    `full` trains wider networks on every 0 and 1 image, at five init scales and five seeds."""

    USES_FLOAT64 = True                     # training and kernels in float64, on the device
    dataset: str = "digits"                 # 'digits' (scikit-learn's 8x8 images) or 'gaussian'
    positive: tuple[int, ...] = (0,)        # digits labelled +1 ...
    negative: tuple[int, ...] = (1,)        # ... and -1
    n_train: int = 280
    n_test: int = 80
    gaussian_dim: int = 45                  # input dimension of the 'gaussian' data set
    data_seed: int = 0                      # the shuffle / the Gaussian sample and teacher
    width: int = 256                        # hidden ReLU units
    sigmas: tuple[float, ...] = (1e-2, 1e-3, 1e-4)   # small init scales, all at learning rate lr
    sigma: float = 1e-3                     # the headline run (one of sigmas; also the control's)
    lr: float = 0.05                        # full-batch gradient descent
    lazy_sigma: float = 1.0                 # a large init, for contrast ...
    lazy_lr: float = 0.02                   # ... at a rate that is stable for its large kernel
    sweep_sigmas: tuple[float, ...] = (0.1, 0.3, 3.0)   # phase diagram; lr min(lr, lazy_lr (lazy_sigma / sigma)^2)
    control: bool = True                    # also train `sigma` on unwhitened inputs
    steps: int = 3000
    log_every: int = 5                      # steps between loss logs
    kernel_points: int = 100                # NTK evaluations, log-spaced over the run
    seed: int = 0                           # initialisation: seeds seed, seed + 1, ...
    n_seeds: int = 1
    # the deep linear network and Saxe et al.'s solution
    saxe_singular_values: tuple[float, ...] = (4.0, 2.0, 1.0, 0.5)
    saxe_dims: tuple[int, ...] = (16, 32, 8)   # inputs, hidden units, outputs
    saxe_points: int = 512
    saxe_sigma: float = 1e-3
    saxe_lr: float = 0.02
    saxe_steps: int = 1500
    saxe_seeds: int = 3

    PRESETS = {
        "fast": {},
        # Every 0 and 1 image (300 train / 60 test), width 4096, five init scales, five seeds.
        # The large init's kernel grows with the width: at 4096 it needs lr 0.001 to be stable.
        "full": dict(n_train=300, n_test=60, width=4096, sigmas=(1e-2, 1e-3, 1e-4, 1e-5, 1e-6),
                     lazy_lr=0.001, steps=5000, kernel_points=150, n_seeds=5, saxe_dims=(32, 256, 16),
                     saxe_singular_values=(4.0, 2.0, 1.0, 0.5, 0.25), saxe_points=2048,
                     saxe_steps=3000, saxe_seeds=5),
    }

    def check(self) -> None:
        require(self.dataset in ("digits", "gaussian"), "dataset", self.dataset, "'digits' or 'gaussian'")
        digits = set(self.positive) | set(self.negative)
        require(bool(self.positive) and bool(self.negative) and not set(self.positive) & set(self.negative)
                and digits <= set(range(10)), "positive", (self.positive, self.negative),
                "positive and negative: two non-empty, disjoint sets of digits 0-9")
        require_int(self, "n_train", 10)
        require_int(self, "n_test", 10)
        if self.dataset == "digits" and digits <= set(range(10)):
            available = digits_available(self.positive, self.negative)
            require(self.n_train + self.n_test <= available, "n_train", self.n_train,
                    f"n_train + n_test at most {available}, the number of images of digits "
                    f"{self.positive} and {self.negative}")
        require_int(self, "gaussian_dim", 2, 10_000)
        require_int(self, "width", 1, 100_000)
        require(len(self.sigmas) >= 1 and all(0 < s <= 1 for s in self.sigmas), "sigmas",
                self.sigmas, "one or more init scales in (0, 1]")
        require(self.sigma in self.sigmas, "sigma", self.sigma, f"one of sigmas {self.sigmas}")
        require_number(self, "lazy_sigma", 0, 100)
        require(all(0 < s <= 100 for s in self.sweep_sigmas), "sweep_sigmas", self.sweep_sigmas,
                "init scales in (0, 100] (or none)")
        require_number(self, ("lr", "lazy_lr", "saxe_lr"), 0, 10)
        require_int(self, "steps", 10, 10_000_000)
        require(1 <= self.log_every and 4 * self.log_every <= self.steps, "log_every", self.log_every,
                f"an integer from 1 to steps / 4 = {self.steps // 4}")
        require_int(self, "kernel_points", 10, 10_000)
        require_int(self, "n_seeds", 1, 100)
        require(len(self.saxe_dims) == 3 and all(d >= 1 for d in self.saxe_dims), "saxe_dims",
                self.saxe_dims, "three positive integers: inputs, hidden units, outputs")
        d_in, _, d_out = self.saxe_dims if len(self.saxe_dims) == 3 else (0, 0, 0)
        s = self.saxe_singular_values
        require(1 <= len(s) <= min(d_in, d_out) and all(v > 0 for v in s)
                and list(s) == sorted(s, reverse=True) and len(set(s)) == len(s),
                "saxe_singular_values", s, f"1 to {min(d_in, d_out)} distinct positive numbers, "
                "largest first")
        require(self.saxe_points >= d_in, "saxe_points", self.saxe_points, f"an integer >= d_in = {d_in}")
        require_number(self, "saxe_sigma", 0, 1)
        require_int(self, "saxe_steps", 10, 10_000_000)
        require_int(self, "saxe_seeds", 1, 100)

    def members(self) -> list[dict]:
        """One seed's batched model: the small inits, the large one, the unwhitened control, the sweep."""
        rate = lambda s: min(self.lr, self.lazy_lr * (self.lazy_sigma / s) ** 2)  # noqa: E731
        rich = [dict(sigma=s, lr=self.lr, inputs="whitened", regime="rich") for s in self.sigmas]
        lazy = [dict(sigma=self.lazy_sigma, lr=self.lazy_lr, inputs="whitened", regime="lazy")]
        control = [dict(sigma=self.sigma, lr=self.lr, inputs="anisotropic", regime="control")]
        sweep = [dict(sigma=s, lr=rate(s), inputs="whitened", regime="sweep") for s in self.sweep_sigmas]
        return rich + lazy + (control if self.control else []) + sweep


def load_data(config: Config, whitened: bool) -> RegressionData:
    if config.dataset == "digits":
        return digits_pair(config.positive, config.negative, config.n_train, config.n_test,
                           config.data_seed, whitened)
    return gaussian_teacher(config.gaussian_dim, config.n_train, config.n_test, config.data_seed,
                            whitened)


def kernel_schedule(steps: int, points: int) -> list[int]:
    """Step 0 and `points` log-spaced steps up to `steps` (duplicates merged): dense early,
    where the alignment moves, sparse late."""
    return sorted({0, *np.unique(np.geomspace(1, steps, points).round().astype(int)).tolist()})


def _train_and_measure(config: Config, device: torch.device) -> Run:
    started = time.perf_counter()
    data = {"whitened": load_data(config, whitened=True)}
    if config.control:
        data["anisotropic"] = load_data(config, whitened=False)
    seeds = [config.seed + i for i in range(config.n_seeds)]
    per_seed = [_train_seed(config, seed, data, device) for seed in seeds]
    history = {name: _join_seeds(name, [h[name] for h in per_seed]) for name in per_seed[0]}
    members = [dict(seed=seed, **m) for seed in seeds for m in config.members()]
    history.update(_saxe(config, device))
    checkpoints = history.pop("_checkpoints")
    summary = _summarize(config, members, history, data, time.perf_counter() - started)
    return Run(NAME, config.to_dict(), summary, history, checkpoints)


def _join_seeds(name: str, values: list):
    """Per-member entries side by side over seeds (series: one column per member; test
    outputs: one row per member); everything else is the first seed's."""
    if name in ("train_loss", "alignment", "kernel_norm", "kernel_spectrum", "unit_cosines",
                "eigenvector_overlap", "task_power"):
        return torch.cat(values, dim=1)
    if name in ("test_network", "test_kernel_final", "test_kernel_initial"):
        return torch.cat(values, dim=0)
    return values[0]


def _set_weights(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> torch.nn.Module:
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(state[name])
    return model


def _train_seed(config: Config, seed: int, data: dict[str, RegressionData], device) -> dict:
    """Train one seed's ensemble, then read its NTK off the checkpoints."""
    members = config.members()
    stack = lambda field: torch.stack([getattr(data[m["inputs"]], field) for m in members]).to(device)
    x_train, x_test = stack("x_train"), stack("x_test")                  # (E, P, d), (E, M, d)
    y_train = data["whitened"].y_train.to(device)                        # the same labels for all
    model = HomogeneousMLP(x_train.shape[-1], config.width, [seed] * len(members),
                           [m["sigma"] for m in members], dtype=torch.float64).to(device)
    with torch.no_grad():
        f0_train, f0_test = model(x_train), model(x_test)
    lrs = torch.tensor([m["lr"] for m in members], dtype=torch.float64, device=device)

    def mse(m):
        return 0.5 * ((m(x_train) - f0_train - y_train) ** 2).mean(-1)

    kernel_steps = kernel_schedule(config.steps, config.kernel_points)
    # Plain gradient descent with one learning rate per member: SGD at lr 1 on lr_e * L_e.
    result = train(model, torch.optim.SGD(model.parameters(), lr=1.0),
                   loss_fn=lambda m, _: lrs * mse(m), next_batch=lambda step: None,
                   steps=config.steps, log_every=config.log_every,
                   metrics=lambda m: {"train_loss": mse(m)}, checkpoint_steps=kernel_steps,
                   desc=f"silent alignment, seed {seed} ({len(members)} models)")

    headline = next(i for i, m in enumerate(members) if m["regime"] == "rich" and m["sigma"] == config.sigma)
    beta = torch.stack([task_direction(x, y_train) for x in x_train])          # (E, d), per input set
    quantiles = torch.tensor(COSINE_QUANTILES, dtype=torch.float64, device=device)
    alignment, norm, spectrum, overlap, power, cosines, headline_kernels, headline_cosines = ([] for _ in range(8))
    for step in kernel_steps:
        k = _set_weights(model, result.checkpoints[step]).tangent_kernel(x_train)
        alignment.append(kernel_alignment(k, y_train))
        norm.append(kernel_norm(k))
        for store, values in zip((spectrum, overlap), kernel_spectrum(k, y_train)):   # eigenvalues, label overlaps
            store.append(values)
        power.append(torch.stack([task_power(model.W[e].detach(), beta[e]) for e in range(len(members))]))
        cos = torch.stack([unit_cosines(model.W[e].detach(), beta[e]) for e in range(len(members))])
        cosines.append(torch.quantile(cos, quantiles, dim=-1).T)                  # (E, quantiles)
        headline_kernels.append(k[headline].float().cpu())
        headline_cosines.append(cos[headline].cpu())
    x_all = torch.cat([x_train, x_test], dim=1)
    n = x_train.shape[1]
    predictions = {}
    for when, step in (("initial", 0), ("final", config.steps)):
        k = _set_weights(model, result.checkpoints[step]).tangent_kernel(x_all)
        predictions[when] = kernel_regression(k[:, :n, :n], k[:, n:, :n], y_train)
    with torch.no_grad():
        network = model(x_test) - f0_test                                 # final weights loaded last
    history = {
        "step": torch.tensor(result.steps),
        "train_loss": result.history["train_loss"].double(),
        "kernel_step": torch.tensor(kernel_steps),
        "alignment": torch.stack(alignment).cpu(),
        "kernel_norm": torch.stack(norm).cpu(),
        "kernel_spectrum": torch.stack(spectrum).cpu(),            # (T, E, 5): top eigenvalues / trace
        "unit_cosines": torch.stack(cosines).cpu(),                # (T, E, quantiles) of |cos(w_i, beta)|
        "eigenvector_overlap": torch.stack(overlap).cpu(),
        "task_power": torch.stack(power).cpu(),
        "test_network": network.cpu(), "test_kernel_final": predictions["final"].cpu(),
        "test_kernel_initial": predictions["initial"].cpu(),
        "y_train": y_train.cpu(), "y_test": data["whitened"].y_test,
        "_checkpoints": {step: {k: v.clone() for k, v in result.checkpoints[step].items()}
                         for step in (0, config.steps)},
    }
    # The headline kernel at four moments: init, aligned, half-learned, final.
    events = _member_events(history, headline)
    moments = [0, events["t_align"], events["t_loss"], config.steps]
    rows = [int(np.argmin(np.abs(np.asarray(kernel_steps) - (t if t is not None else 0))))
            for t in moments]
    history["snapshot_step"] = torch.tensor([kernel_steps[r] for r in rows])
    history["kernel_snapshots"] = torch.stack([headline_kernels[r] for r in rows])
    history["cosine_snapshots"] = torch.stack([headline_cosines[r] for r in rows])   # (4, width)
    return history


def _saxe(config: Config, device: torch.device) -> dict:
    """Deep linear networks (one hidden layer) on Saxe's teacher: each mode's strength over time."""
    d_in, hidden, d_out = config.saxe_dims
    task = saxe_teacher(config.saxe_singular_values, d_in, d_out, config.saxe_points, config.data_seed)
    x, y, v, u = (t.to(device) for t in (task.x, task.y, task.input_modes, task.output_modes))
    seeds = [config.seed + i for i in range(config.saxe_seeds)]
    model = DeepLinear(list(config.saxe_dims), seeds, [config.saxe_sigma] * len(seeds),
                       dtype=torch.float64).to(device)
    initial_strength = balanced_initial_strength(model, v, u)

    def mse(m):
        return 0.5 * ((m(x) - y) ** 2).sum(-1).mean(-1)

    def mode_strengths(m):   # u_k = v_k^T (W1 W2) u_k, (E, modes)
        return torch.einsum("dk,edo,ok->ek", v, m.end_to_end(), u)

    result = train(model, torch.optim.SGD(model.parameters(), lr=config.saxe_lr),
                   loss_fn=lambda m, _: mse(m), next_batch=lambda step: None,
                   steps=config.saxe_steps, log_every=config.log_every,
                   metrics=lambda m: {"loss": mse(m), **{f"mode_{k}": s for k, s in
                                                          enumerate(mode_strengths(m).T)}},
                   desc=f"deep linear ({len(seeds)} models)")
    modes = torch.stack([result.history[f"mode_{k}"] for k in range(len(config.saxe_singular_values))], -1)
    return {"saxe_step": torch.tensor(result.steps), "saxe_loss": result.history["loss"].double(),
            "saxe_mode_strength": modes.double(),                      # (T, E, modes)
            "saxe_initial_strength": initial_strength.cpu(),           # (E, modes)
            "saxe_singular_values": task.singular_values}


# --- summary ----------------------------------------------------------------------------

def _member_events(history: dict, i: int) -> dict:
    """When member i aligned and when it learned, and what the loss and kernel were doing then."""
    steps, loss = history["step"].numpy(), history["train_loss"][:, i].numpy()
    ksteps = history["kernel_step"].numpy()
    align, norm = history["alignment"][:, i].numpy(), history["kernel_norm"][:, i].numpy()
    t_align = first_crossing(ksteps, align, align[0] + ALIGNED * (align.max() - align[0]), interpolate=True)
    t_loss = first_crossing(steps, loss, loss[0] - HALF * (loss[0] - loss[-1]), above=False, interpolate=True)
    at_align = lambda xs, ys: None if t_align is None else float(np.interp(t_align, xs, ys))
    return {
        "t_align": t_align,
        "t_loss": t_loss,
        "align_over_loss_time": None if t_align is None or not t_loss else t_align / t_loss,
        "loss_at_align": None if t_align is None else at_align(steps, loss) / float(loss[0]),
        "kernel_norm_at_align": None if t_align is None else at_align(ksteps, norm) / float(norm[-1]),
        "alignment_initial": float(align[0]),
        "alignment_max": float(align.max()),
        "alignment_final": float(align[-1]),
        "kernel_growth": float(norm[-1] / norm[0]),
        "final_loss_fraction": float(loss[-1] / loss[0]),
        "x50": {"train_loss": x50(steps, loss), "alignment": x50(ksteps, align),
                "kernel_norm": x50(ksteps, norm)},
        **phase_one(steps, loss, ksteps, history["kernel_spectrum"][:, i].numpy(),
                    history["eigenvector_overlap"][:, i, 0].numpy(),
                    history["unit_cosines"][:, i, COSINE_QUANTILES.index(0.5)].numpy(),
                    history["task_power"][:, i].numpy(), t_align, t_loss),
    }


def _kernel_equivalence(history: dict, i: int) -> dict:
    """Do kernel regressions with the final / initial NTK predict the trained network's test outputs?"""
    network = history["test_network"][i]
    final = prediction_agreement(network, history["test_kernel_final"][i])
    initial = prediction_agreement(network, history["test_kernel_initial"][i])
    return {"final_ntk": final, "initial_ntk": initial,
            "error_ratio": initial["relative_error"] / max(final["relative_error"], 1e-300),
            "test_accuracy": float(((network * history["y_test"]) > 0).double().mean())}


def _init_scaling(rows: list[dict]) -> dict:
    """t_loss against ln(1/sigma) for one seed's small inits: a straight line (Saxe: slope
    1 / (lr s) for a linear net), while t_align stays put."""
    rows = sorted(rows, key=lambda r: -r["sigma"])
    x = np.log(1 / np.array([r["sigma"] for r in rows]))
    t_loss = [r["t_loss"] for r in rows]
    t_align = [r["t_align"] for r in rows]
    out = {"sigmas": [r["sigma"] for r in rows], "t_loss": t_loss, "t_align": t_align,
           "steps_per_e_fold": None, "r2": None, "t_align_spread": None}
    if None not in t_loss and len(rows) >= 3:
        slope, intercept = np.polyfit(x, t_loss, 1)
        residual = np.sum((np.array(t_loss) - (slope * x + intercept)) ** 2)
        out.update(steps_per_e_fold=float(slope), intercept=float(intercept),
                   r2=float(1 - residual / np.sum((t_loss - np.mean(t_loss)) ** 2)))
    if None not in t_align and len(rows) >= 2:
        out["t_align_spread"] = float((max(t_align) - min(t_align)) / min(t_align))
    return out


def _saxe_summary(config: Config, history: dict) -> dict:
    steps = history["saxe_step"].numpy()
    s = history["saxe_singular_values"].numpy()
    seeds = []
    for e in range(config.saxe_seeds):
        u0 = history["saxe_initial_strength"][e].numpy()
        measured = [first_crossing(steps, history["saxe_mode_strength"][:, e, k].numpy(), s[k] / 2, interpolate=True)
                    for k in range(len(s))]
        predicted = [saxe_half_time(s[k], u0[k], config.saxe_lr) for k in range(len(s))]
        done = None not in measured
        seeds.append({
            "seed": config.seed + e, "initial_strength": u0.tolist(),
            "measured_half_time": measured, "predicted_half_time": predicted,
            "ratio": [m / p if m is not None else None for m, p in zip(measured, predicted)],
            "learned_in_order": done and all(a < b for a, b in zip(measured, measured[1:])),
        })
    ratios = [r for seed in seeds for r in seed["ratio"] if r is not None]
    return {"singular_values": s.tolist(), "lr": config.saxe_lr, "sigma": config.saxe_sigma,
            "seeds": seeds, "ratio_min": min(ratios, default=None), "ratio_max": max(ratios, default=None),
            "all_modes_learned": all(None not in seed["measured_half_time"] for seed in seeds),
            "learned_in_order": all(seed["learned_in_order"] for seed in seeds)}


def _summarize(config: Config, members: list[dict], history: dict, data: dict, seconds: float) -> dict:
    rows = [{**m, **_member_events(history, i), "kernel": _kernel_equivalence(history, i)}
            for i, m in enumerate(members)]
    pick = lambda regime, seed, **match: next(
        (r for r in rows if r["regime"] == regime and r["seed"] == seed
         and all(r[k] == v for k, v in match.items())), None)
    headline = pick("rich", config.seed, sigma=config.sigma)
    x = data["whitened"].x_train
    strength = float((x.T @ data["whitened"].y_train / len(x)).norm())  # s = |(1/P) X^T y|
    seeds = [config.seed + i for i in range(config.n_seeds)]
    x50_loss = headline["x50"]["train_loss"]
    reference = reference_alignment(x, data["whitened"].y_train)
    return {
        "dataset": data["whitened"].description,
        "anisotropic_dataset": data["anisotropic"].description if config.control else None,
        "anisotropic_spectrum_top": data["anisotropic"].input_spectrum[:5].tolist() if config.control else None,
        "sigma": config.sigma,
        **{k: headline[k] for k in ("t_align", "t_loss", "align_over_loss_time", "loss_at_align",
                                    "kernel_norm_at_align", "alignment_initial", "alignment_max",
                                    "alignment_final", "kernel_growth", "final_loss_fraction")},
        "kernel": headline["kernel"],
        "x50": headline["x50"],
        # lag = x50(loss) - x50(measure): > 0 when the measure moves first
        "lag": {name: x50_loss - value for name, value in headline["x50"].items() if name != "train_loss"},
        "init_scaling": [{"seed": seed, **_init_scaling([r for r in rows if r["regime"] == "rich"
                                                         and r["seed"] == seed])} for seed in seeds],
        "input_output_strength": strength,
        # Saxe: a linear net's loss waits (1 / 2 lr s) ln(s / u0) steps with u0 ~ sigma^2, i.e.
        # 1 / (lr s) steps per e-fold of 1/sigma.  A ReLU unit pointing along (1/P) X^T y is
        # active on one class only (centred data, classes split by that direction), so it
        # sees half the correlation, s / 2: twice the wait.
        "linear_net_steps_per_e_fold": 1 / (config.lr * strength),
        "relu_unit_steps_per_e_fold": 2 / (config.lr * strength),
        # the mechanism (phase I) on the headline run, and the rich-to-lazy sweep on every seed
        **{k: headline[k] for k in ("top_eigenvalue", "eigenvalue_gap", "top_eigenvector_overlap", "cosine_median",
                                    "task_power", "t_weights", "loss_at_weights")},
        "reference_alignment": reference,     # the linear network's aligned final kernel
        "phase_diagram": [{"seed": seed, **phase_diagram([r for r in rows if r["seed"] == seed
                                                          and r["inputs"] == "whitened"], reference)}
                          for seed in seeds],
        "lazy": pick("lazy", config.seed),
        "control": pick("control", config.seed),
        "saxe": _saxe_summary(config, history),
        "runs": rows,
        "members": members,
        "n_models": len(members) + config.saxe_seeds,
        "seconds": round(seconds, 2),
    }


# --- the contract (experiments/base.py: Experiment) ------------------------------------------

EXPERIMENT = Experiment(NAME, Config, _train_and_measure, about=__doc__.strip().splitlines()[0])
run = EXPERIMENT.run
