"""Grokking: modular addition is memorised early and generalised much later.
(Power et al. 2022; Nanda et al. 2023.)

`run(Config.preset("fast"))` trains, as ONE batched model, the headline runs (`n_seeds`
initialisations at `weight_decay`) and a weight-decay sweep (`sweep_weight_decays`, first
seed), all on the same train/test split.  It logs accuracy, loss, weight norm and the Gini
sparsity of the embedding's Fourier spectrum every `log_every` epochs for every member, and,
for the first headline member, Nanda et al.'s restricted and excluded losses at every
checkpoint (their key frequencies read from the final weights).  Nanda et al.'s circuit measures
are computed for every headline seed; λ̂ over training (first seed) with powered comparisons and
an SGLD calibration at its peak.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from emergence.config import ExperimentConfig, require, require_int, require_llc_settings, require_number
from emergence.experiments.base import Experiment, Run
from emergence.measures import (fastest_fall, first_crossing, frequency_norms, gini, neuron_frequency_concentration,
                                weight_norm, x50)
from emergence.measures.fourier import CIRCUIT_LOSSES, circuit_over_checkpoints
from emergence.measures.grokking_llc import jump_checkpoints, powered_changes, spacing_over
from emergence.measures.llc import llc_trajectory
from emergence.measures.llc_calibration import GRIDS, calibrate, scaled_grid
from emergence.measures.transitions import spearman
from emergence.models import ModularMLP, Transformer, TransformerConfig, member_of
from emergence.tasks.modular import ModularData, is_prime, modular_addition, one_hot_pairs, pair_tokens
from emergence.train import train

NAME = "grokking"
MEMORIZED, GROKKED = 0.99, 0.95   # train / test accuracy that define E_mem and E_grok


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Defaults are the `fast` profile: Nanda et al.'s one-layer transformer, shrunk to p = 59
    and d_model = 64 so that it groks within minutes on a laptop CPU."""

    USES_FLOAT64 = True                 # the loss and the Fourier measures, on the device
    model: str = "transformer"          # 'transformer' (Nanda et al.) or 'mlp' (Gromov 2023)
    p: int = 59                         # the prime modulus
    train_frac: float = 0.4             # fraction of the p^2 pairs used for training
    data_seed: int = 0                  # the train/test split
    seed: int = 0                       # first initialisation seed
    n_seeds: int = 3                    # headline runs: seeds seed, seed+1, ...
    weight_decay: float = 1.0           # AdamW (decoupled) weight decay of the headline runs
    sweep_weight_decays: tuple[float, ...] = (0.0, 3.0)  # extra members, at the first seed
    width: int = 256                    # MLP hidden width
    activation: str = "quadratic"       # MLP activation: 'quadratic' (x^2) or 'relu'
    d_model: int = 64                   # transformer sizes (Nanda et al.: 128, 4, 512)
    n_heads: int = 4
    d_mlp: int = 256
    lr: float = 3e-3
    beta1: float = 0.9
    beta2: float = 0.98
    warmup_epochs: int = 10             # linear learning-rate warm-up
    epochs: int = 6000                  # full-batch steps, at most ...
    stop_after_grokking: float = 0.3    # ... once every headline seed has grokked, go on for this
                                        # share of that epoch (the cleanup), then stop; 0 = never stop early
    log_every: int = 20                 # epochs between metric logs
    checkpoint_every: int = 50          # epochs between saved checkpoints (first seed only)
    # the local learning coefficient of the first seed over training (08_llc; 0 checkpoints = off)
    llc_checkpoints: int = 16           # evenly spaced saved checkpoints to estimate it at ...
    llc_jump_checkpoints: int = 6       # ... and this many more spread over the first seed's jump
                                        # (50 % to 95 % test accuracy, half its width beyond each end):
                                        # a jump can be narrower than the even spacing
    llc_chains: int = 2                 # SGLD chains per checkpoint of the curve
    llc_sign_chains: int = 8            # fresh chains at each checkpoint whose λ̂ the chapter compares
    llc_calibration: str = "small"      # SGLD calibration grid at λ̂'s peak: 'small', 'large' or 'off'
    llc_burnin: int = 100               # SGLD steps discarded per chain (~3 relaxation times 1/(ε γ))
    llc_draws: int = 100                # SGLD steps averaged per chain
    llc_epsilon: float = 3e-4           # SGLD step size (calibrated on this run, see the chapter)
    llc_gamma: float = 100.0            # localisation: mid-training checkpoints are not minima
    llc_nbeta: float = 0.0              # inverse temperature n*beta; 0 = n / log n
    llc_batch_size: int = 128           # SGLD minibatch; 0 = full batch

    PRESETS = {
        "fast": {},
        # Nanda et al. 2023: p = 113, 30 % train, 1-layer transformer, AdamW 1e-3, wd 1.
        "full": dict(p=113, train_frac=0.3, d_model=128, d_mlp=512, lr=1e-3, epochs=25000,
                     stop_after_grokking=0.0,   # the paper trains all 25 000 epochs
                     log_every=50, checkpoint_every=250, sweep_weight_decays=(0.0, 0.3, 3.0),
                     # ε and γ as calibrated for `fast`; not re-calibrated at p = 113
                     llc_checkpoints=26, llc_chains=4, llc_burnin=200, llc_draws=400, llc_batch_size=256,
                     llc_calibration="large"),
    }

    def check(self) -> None:
        require(self.model in ("mlp", "transformer"), "model", self.model, "'mlp' or 'transformer'")
        # the circuit measures hold (p^2, p) float64 logits: p = 251 is already 127 MB
        require(is_prime(self.p) and 3 <= self.p <= 251, "p", self.p, "a prime between 3 and 251")
        require(0 < self.train_frac < 1, "train_frac", self.train_frac, "a number in (0, 1)")
        require_int(self, "n_seeds", 1, 256)
        require_number(self, "weight_decay", 0, low_open=False)
        require(all(w >= 0 for w in self.sweep_weight_decays), "sweep_weight_decays",
                self.sweep_weight_decays, "numbers >= 0 (may be empty)")
        require_int(self, "width", 1)
        require(self.activation in ("quadratic", "relu"), "activation", self.activation,
                "'quadratic' or 'relu'")
        require(self.d_model >= 1 and self.n_heads >= 1 and self.d_model % self.n_heads == 0,
                "n_heads", self.n_heads, f"a divisor of d_model={self.d_model}")
        require(self.d_mlp >= 0, "d_mlp", self.d_mlp, "an integer >= 0 (0 = attention-only)")
        require_number(self, "lr", 0, 1)
        largest_decay = max((self.weight_decay, *self.sweep_weight_decays))
        require(self.lr * largest_decay < 1, "weight_decay", largest_decay,
                f"less than 1/lr = {1 / self.lr:g} (each step multiplies the weights by 1 - lr * wd)")
        require(0 <= self.beta1 < 1, "beta1", self.beta1, "a number in [0, 1)")
        require(0 <= self.beta2 < 1, "beta2", self.beta2, "a number in [0, 1)")
        require_int(self, "warmup_epochs", 0)
        require_int(self, "epochs", 1, 10_000_000)
        require(self.stop_after_grokking >= 0, "stop_after_grokking", self.stop_after_grokking,
                "a number >= 0 (0 = train all epochs)")
        require(1 <= self.log_every <= self.epochs, "log_every", self.log_every,
                f"an integer from 1 to epochs={self.epochs}")
        require(1 <= self.checkpoint_every <= self.epochs, "checkpoint_every", self.checkpoint_every,
                f"an integer from 1 to epochs={self.epochs}")
        require_llc_settings(self, saved=len(self.checkpoint_epochs()))
        require_int(self, "llc_jump_checkpoints", 0, 100)
        require_int(self, "llc_sign_chains", 2, 256)
        require(self.llc_calibration in ("off", *GRIDS), "llc_calibration", self.llc_calibration,
                f"'off' or one of {', '.join(map(repr, GRIDS))}")
        require(self.llc_batch_size >= 0, "llc_batch_size", self.llc_batch_size,
                "an integer >= 0 (0 = full batch)")

    def checkpoint_epochs(self) -> list[int]:
        """The epochs whose weights the run keeps (first seed)."""
        return [*range(0, self.epochs, self.checkpoint_every), self.epochs]

    def members(self) -> list[dict]:
        """The ensemble: headline seeds first, then the weight-decay sweep at the first seed."""
        out = [dict(seed=self.seed + i, weight_decay=self.weight_decay, role="headline")
               for i in range(self.n_seeds)]
        out += [dict(seed=self.seed, weight_decay=wd, role="sweep")
                for wd in self.sweep_weight_decays if wd != self.weight_decay]
        return out


# --- model and data -----------------------------------------------------------------------

def build_model(config: Config, seeds: list[int]) -> torch.nn.Module:
    if config.model == "mlp":
        return ModularMLP(config.p, config.width, seeds, config.activation)
    cfg = TransformerConfig(d_vocab=config.p + 1, n_ctx=3, d_model=config.d_model,
                            n_heads=config.n_heads, d_head=config.d_model // config.n_heads,
                            n_layers=1, d_mlp=config.d_mlp, d_vocab_out=config.p)
    return Transformer(cfg, seeds)


def model_inputs(config: Config, pairs: torch.Tensor) -> torch.Tensor:
    """What the model reads: one-hot pairs for the MLP, `a b =` tokens for the transformer."""
    return one_hot_pairs(pairs, config.p) if config.model == "mlp" else pair_tokens(pairs, config.p)


def logits(model: torch.nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """(E, N, p) logits for the answer."""
    if isinstance(model, Transformer):
        return model(inputs, last_position_only=True)[:, :, -1]
    return model(inputs)


def cross_entropy(logit: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-member mean cross-entropy (E,), in float64: float32 saturates near 1e-7 and spikes."""
    logp = logit.double().log_softmax(-1)
    return -logp.gather(-1, labels.expand(logit.shape[0], -1)[..., None]).squeeze(-1).mean(-1)


def residue_embedding(model: torch.nn.Module, p: int) -> torch.Tensor:
    """(E, p, d): how each model embeds the residues 0..p-1 (input side)."""
    if isinstance(model, Transformer):
        return model.embed.W_E.detach()[:, :p]
    return model.embeddings()


# --- the run ------------------------------------------------------------------------------

def _train_and_measure(config: Config, device: torch.device) -> Run:
    started = time.perf_counter()
    members = config.members()
    data = modular_addition(config.p, config.train_frac, config.data_seed).to(device)
    model = build_model(config, [m["seed"] for m in members]).to(device)
    x_train, y_train = model_inputs(config, data.train_pairs), data.train_labels
    x_test, y_test = model_inputs(config, data.test_pairs), data.test_labels

    def metrics(m):
        train_logits, test_logits = logits(m, x_train), logits(m, x_test)
        params = dict(m.named_parameters())
        embedding = residue_embedding(m, config.p)
        return {
            "train_loss": cross_entropy(train_logits, y_train),
            "test_loss": cross_entropy(test_logits, y_test),
            "train_acc": (train_logits.argmax(-1) == y_train).float().mean(-1),
            "test_acc": (test_logits.argmax(-1) == y_test).float().mean(-1),
            "weight_norm": weight_norm(params),
            "fourier_gini": gini(frequency_norms(embedding)),
            "neuron_concentration": neuron_frequency_concentration(embedding),
        }

    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.0,
                                  betas=(config.beta1, config.beta2))
    result = train(
        model, optimizer,
        loss_fn=lambda m, batch: cross_entropy(logits(m, batch[0]), batch[1]),
        next_batch=lambda step: (x_train, y_train),           # full batch
        steps=config.epochs, log_every=config.log_every, metrics=metrics,
        checkpoint_steps=config.checkpoint_epochs(),
        weight_decay=torch.tensor([m["weight_decay"] for m in members]),
        lr_schedule=lambda step: min(1.0, step / config.warmup_epochs) if config.warmup_epochs else 1.0,
        stop=_grokked_and_cleaned_up(config) if config.stop_after_grokking else None,
        desc=f"grokking p={config.p} ({len(members)} models)")
    train_seconds = time.perf_counter() - started

    history = {"epoch": torch.tensor(result.steps), **result.history}
    history.update(_circuit_measures(config, result.checkpoints, data))
    # Keep the first member's checkpoints only: that is where the LLC is read.
    checkpoints = {step: member_of(state, 0) for step, state in sorted(result.checkpoints.items())}
    summary = _summarize(config, members, history, train_seconds)
    if config.llc_checkpoints:
        llc_history, summary["llc"] = _llc_measures(config, checkpoints, x_train, y_train, history, summary)
        history.update(llc_history)
    return Run(NAME, config.to_dict(), summary, history, checkpoints)


def _grokked_and_cleaned_up(config: Config):
    """The `stop` rule of the training loop: True once every headline seed has reached GROKKED
    test accuracy and training has gone on `stop_after_grokking` times that epoch longer.  How long
    a seed takes to grok varies widely (on seeds 0-5 of the fast profile, from about 1100 to well
    over 3000 epochs), so a fixed budget would cut the slow seeds off before their jump."""
    grokked_at: list[int | None] = [None] * config.n_seeds
    epoch = 0

    def stop(latest: dict) -> bool:
        nonlocal epoch
        epoch += config.log_every          # asked at every logging step after the first
        for i, accuracy in enumerate(latest["test_acc"][:config.n_seeds].tolist()):
            if grokked_at[i] is None and accuracy >= GROKKED:
                grokked_at[i] = epoch
        return None not in grokked_at and epoch >= (1 + config.stop_after_grokking) * max(grokked_at)

    return stop


def _circuit_measures(config: Config, states: dict, data: ModularData) -> dict:
    """Restricted / excluded loss and the frequency spectrum at every checkpoint of every headline
    seed (`<name>_by_seed`, (checkpoints, seeds)); the unsuffixed names are the first seed's."""
    n = config.n_seeds
    pairs = model_inputs(config, torch.cartesian_prod(torch.arange(config.p), torch.arange(config.p)))
    c = circuit_over_checkpoints(build_model(config, [config.seed + i for i in range(n)]),
                                 {step: {k: v[:n].cpu() for k, v in state.items()} for step, state in states.items()},
                                 lambda m: logits(m, pairs), lambda m: residue_embedding(m, config.p), data.is_train.cpu())
    mask = c["key_frequency_mask"]
    return {"checkpoint_epoch": c["checkpoint_epoch"], "frequency_norms": c["frequency_norms"][:, 0],
            "key_frequencies": torch.nonzero(mask[0]).flatten() + 1, "key_frequency_mask_by_seed": mask,
            **{name: c[name][:, 0] for name in CIRCUIT_LOSSES}, **{f"{name}_by_seed": c[name] for name in CIRCUIT_LOSSES}}


def _llc_measures(config: Config, checkpoints: dict, x_train: torch.Tensor, y_train: torch.Tensor,
                  history: dict, summary: dict) -> tuple[dict, dict]:
    """λ̂ of the first seed at `llc_checkpoints` evenly spaced checkpoints and `llc_jump_checkpoints`
    more over its jump, on the training set (08_llc), and how it moves with the jump and the losses."""
    grok = summary["grok_epoch"]
    jump = jump_checkpoints(list(checkpoints), summary["test_acc_50_epoch"], grok, config.llc_jump_checkpoints)
    build = lambda rows: build_model(config, [config.seed] * rows)                        # noqa: E731
    loss = lambda m, batch: cross_entropy(logits(m, batch[0]), batch[1])                  # noqa: E731
    llc_history, llc, r = llc_trajectory(config, checkpoints, build, loss, (x_train, y_train), extra=jump,
                                         mean_loss=True)   # L_b(w*) from a per-sample table, not a forward pass
    epochs = np.asarray(llc["steps"])       # full-batch training: a step is an epoch
    peak = int(np.argmax(r.llc_mean))
    loss_at = lambda split: np.interp(epochs, history["epoch"].numpy(), history[f"{split}_loss"][:, 0].numpy())  # noqa: E731
    at_grok = None if grok is None else int(np.argmin(np.abs(epochs - grok)))
    falls = peak < len(epochs) - 1          # a peak at the last checkpoint has no fall after it
    halving = fastest_fall(epochs[peak:], r.llc_mean[peak:], 0.5) if falls else None
    nearest = lambda epoch: int(epochs[np.argmin(np.abs(epochs - epoch))])               # noqa: E731
    points = {"initialisation": int(epochs[0]), "after_initialisation": int(epochs[1]), "peak": int(epochs[peak]),
              "final": int(epochs[-1])}
    if grok is not None:
        points.update(test_acc_50=nearest(summary["test_acc_50_epoch"]), grok=nearest(grok))
    chosen = dict(epsilon=config.llc_epsilon, nbeta=llc["settings"]["nbeta"], gamma=config.llc_gamma,
                  batch_size=config.llc_batch_size)
    return llc_history, {
        # λ̂'s asserted changes from `llc_sign_chains` fresh chains, with t-intervals
        "changes": None if grok is None else powered_changes(config, checkpoints, points, build, loss, (x_train, y_train),
                                                             chains=config.llc_sign_chains, seed=config.seed + 1),
        # the sampler's settings around the chosen ones, at λ̂'s peak (measures/llc_calibration.py)
        "calibration": None if config.llc_calibration == "off" else {
            "epoch": int(epochs[peak]), "chosen": chosen, "chains": GRIDS[config.llc_calibration]["chains"],
            "settings": calibrate(checkpoints[int(epochs[peak])], build, loss, (x_train, y_train),
                                  scaled_grid(chosen, config.llc_calibration), chains=GRIDS[config.llc_calibration]["chains"],
                                  draws=config.llc_draws, burnin=config.llc_burnin, seed=config.seed + 2, mean_loss=True)},
        **llc, "jump_steps": jump, "jump_spacing": spacing_over(llc["steps"], summary["test_acc_50_epoch"], grok),
        "start": float(r.llc_mean[0]), "peak": float(r.llc_mean[peak]), "argmax_epoch": int(epochs[peak]),
        "final": float(r.llc_mean[-1]), "final_over_peak": float(r.llc_mean[-1] / r.llc_mean[peak]),
        "at_grok": None if at_grok is None else float(r.llc_mean[at_grok]),
        "at_grok_epoch": None if at_grok is None else int(epochs[at_grok]),
        "test_acc_50_epoch": summary["test_acc_50_epoch"], "memorize_epoch": summary["memorize_epoch"],
        "grok_epoch": grok,
        # rank correlations with the losses at the same checkpoints (devinterp: λ̂ tracks the test loss)
        "spearman_test_loss": spearman(r.llc_mean, loss_at("test")),
        "spearman_train_loss": spearman(r.llc_mean, loss_at("train")),
        # where λ̂ has completed half of its fall from the peak, and the fastest halving after it
        "x50_after_peak": float(x50(epochs, r.llc_mean, start=int(epochs[peak]))) if falls else None,
        "fastest_halving": None if halving is None else [int(e) for e in halving],
    }


def _member_events(epochs: np.ndarray, train_acc: np.ndarray, test_acc: np.ndarray, test_loss: np.ndarray) -> dict:
    memorize = first_crossing(epochs, train_acc, MEMORIZED)
    grok = first_crossing(epochs, test_acc, GROKKED)
    at_mem = None if memorize is None else int(np.argmax(epochs == memorize))
    return {
        "memorize_epoch": None if memorize is None else int(memorize),
        "grok_epoch": None if grok is None else int(grok),
        "test_acc_at_memorize": None if at_mem is None else float(test_acc[at_mem]),
        # the test loss over-fits while the training set is memorised, then falls at the jump
        "test_loss_initial": float(test_loss[0]),
        "test_loss_at_memorize": None if at_mem is None else float(test_loss[at_mem]),
        "test_loss_final": float(test_loss[-1]),
        "test_acc_50_epoch": _int_or_none(first_crossing(epochs, test_acc, 0.5)),
        "final_train_acc": float(train_acc[-1]),
        "final_test_acc": float(test_acc[-1]),
    }


def _seed_circuit(history: dict, i: int, ck: np.ndarray, epochs: np.ndarray, memorized: int | None) -> dict:
    """Headline seed i's key frequencies (its own), Fourier sparsity and the circuit measures' x50s."""
    restricted, excluded = (history[f"{name}_by_seed"][:, i].numpy() for name in ("restricted_loss", "excluded_loss"))
    sparsity = history["fourier_gini"][:, i].numpy()
    return {"key_frequencies": (torch.nonzero(history["key_frequency_mask_by_seed"][i]).flatten() + 1).tolist(),
            "fourier_gini_initial": float(sparsity[0]), "fourier_gini_final": float(sparsity[-1]),
            "x50_circuit": {"restricted_loss": x50(ck, restricted), "fourier_gini": x50(epochs, sparsity),
                            "excluded_loss": x50(ck, excluded), "restricted_loss_after_memorization":
                            None if memorized is None else x50(ck, restricted, start=memorized)}}


def _int_or_none(value):
    return None if value is None else int(value)


def _summarize(config: Config, members: list[dict], history: dict, seconds: float) -> dict:
    epochs = history["epoch"].numpy()
    events = [_member_events(epochs, *(history[k][:, i].numpy() for k in ("train_acc", "test_acc", "test_loss")))
              for i in range(len(members))]
    headline = events[0]
    ck = history["checkpoint_epoch"].numpy()
    test_acc = history["test_acc"][:, 0].numpy()
    acc_x50 = x50(epochs, test_acc)
    measures = {
        "restricted_loss": x50(ck, history["restricted_loss"].numpy()),
        # the same on log(loss): the losses span orders of magnitude, and much of the
        # linear change of the restricted loss happens already during memorisation
        "restricted_loss_log": x50(ck, np.log(history["restricted_loss"].numpy().clip(1e-12))),
        "excluded_loss": x50(ck, history["excluded_loss"].numpy()),
        "fourier_gini": x50(epochs, history["fourier_gini"][:, 0].numpy()),
        "neuron_concentration": x50(epochs, history["neuron_concentration"][:, 0].numpy()),
        "weight_norm": x50(epochs, history["weight_norm"][:, 0].numpy()),
    }
    # The same, counting only the change still to come after memorisation: does the
    # measure move during the plateau, while test accuracy waits?
    mem = headline["memorize_epoch"]
    plateau = {} if mem is None else {
        "restricted_loss": x50(ck, history["restricted_loss"].numpy(), start=mem),
        "excluded_loss": x50(ck, history["excluded_loss"].numpy(), start=mem),
        "fourier_gini": x50(epochs, history["fourier_gini"][:, 0].numpy(), start=mem),
        "weight_norm": x50(epochs, history["weight_norm"][:, 0].numpy(), start=mem),
    }
    return {
        **headline,
        "key_frequencies": history["key_frequencies"].tolist(),
        "x50_test_acc": acc_x50,
        "x50": measures,
        "x50_after_memorization": plateau,
        # lag = x50(task metric) - x50(progress measure): > 0 means the measure moved first
        "lag": {name: acc_x50 - value for name, value in measures.items()},
        "lag_after_memorization": {} if mem is None else {
            name: x50(epochs, test_acc, start=mem) - value for name, value in plateau.items()},
        "seeds": [{"seed": m["seed"], **e, **_seed_circuit(history, i, ck, epochs, e["memorize_epoch"])}
                  for i, (m, e) in enumerate(zip(members, events)) if m["role"] == "headline"],
        "weight_decay_sweep": [{"weight_decay": m["weight_decay"], "seed": m["seed"], **e}
                               for m, e in zip(members, events)
                               if m["seed"] == config.seed],
        "members": members,
        "n_models": len(members),
        "seconds": round(seconds, 2),
        "epochs_trained": int(epochs[-1]),
        "epochs_per_second": round(float(epochs[-1]) / seconds, 1),
    }


# --- the contract (experiments/base.py: Experiment) ------------------------------------------

EXPERIMENT = Experiment(NAME, Config, _train_and_measure, about=__doc__.strip().splitlines()[0])
run = EXPERIMENT.run
