"""Induction heads: a phase change in in-context learning (Olsson et al. 2022).

`run(config)` trains `n_seeds` attention-only transformers of `n_layers` layers as one
batched model on the copy task (`emergence.tasks.induction`), and the same number of
`control_layers`-layer models on the same data.  Each seed draws its own initialisation and
its own stream of training sequences.  Every `eval_every` steps, on a fixed held-out batch,
it logs the loss on the predictable (copied) positions and elsewhere, the loss at every
position, Olsson et al.'s in-context-learning score, and every head's previous-token,
prefix-matching and copying scores.  At the end it ablates every head, and the whole last
layer.  The headline model is the first seed of the deep model.

The drop is the shortest window in which the copied-token loss halves after a plateau (at
least as many steps before it within 10 %), the acceptance criterion read as written; the
fastest halving alone is reported beside it.

With `llc_checkpoints` > 0 it then estimates the local learning coefficient λ̂ of the headline
seed at that many evenly spaced checkpoints (`emergence.measures.llc.llc_trajectory`, every
chain of every checkpoint one member of one batched model) on its training loss, and reports
the change of λ̂ over the plateau before the drop and across the drop: Hoogland et al.'s two
stages (λ̂ falls while the previous-token heads form, rises as the induction circuit completes).
Each change is read from `llc_sign_chains` fresh chains at the window's two ends, with a Welch
t-interval; beside it an ε × nβ grid at the drop's ends and the size of the minibatch gradient
noise against the injected noise.  With `order_seeds` > 0 it also trains `order_seeds` seeds for
each skip-bigram strength in `order_ks` on a short schedule: which head forms first
(`emergence.measures.induction_heads`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import torch

from emergence.config import ExperimentConfig, require, require_int, require_llc_settings
from emergence.experiments.base import Experiment, Run
from emergence.measures import (ablate_head, fastest_fall, first_crossing, icl_score, masked_mean,
                                ov_copying_score, per_position_loss, prefix_matching_score,
                                plateau_then_drop, previous_token_score, stable_before, x50)
from emergence.measures.induction_heads import head_order_diagram, llc_stages
from emergence.models import Transformer, TransformerConfig, member_of
from emergence.tasks.induction import CopyTask, repeated_random_tokens
from emergence.train import train

NAME = "induction_heads"
DROP_FRACTION = 0.5     # the drop: in-context loss falls to half its value ...
DROP_WINDOW = 0.2       # ... within at most this fraction of training ...
PLATEAU_CHANGE = 0.10   # ... after changing by less than this over a window as long before it
PLATEAU_LLC_CHANGE = 0.02   # Δλ̂ on the plateau: over LLC checkpoints where the loss moves < 2 %


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Defaults are the `fast` profile (a 2-layer, one-head-per-layer, d_model 64 toy, 3 seeds
    and the 1-layer control: about 3 minutes on a 2-core CPU); `full` is a wider,
    longer-context model for a GPU."""

    USES_FLOAT64 = True           # the OV copying score's eigenvalues, on the device
    n_layers: int = 2             # the model that can form induction heads
    control_layers: int = 1       # the control trained on the same data (0 = none)
    n_seeds: int = 3
    seed: int = 0
    vocab: int = 64
    seq_len: int = 64             # random tokens after BOS
    copy_min: int = 8
    copy_max: int = 32
    periodic: bool = True         # one block of copy_min..copy_max tokens repeated throughout;
                                  # False: one segment copied once to a random later place
    skip_bigram: int = 8          # k > 0: each random token is one of k fixed by the token two
                                  # back, which a previous-token head alone can read; 0 = uniform
    d_model: int = 64
    n_heads: int = 1              # one head per layer: a single induction head, so ablating it tells
    d_head: int = 32
    d_mlp: int = 0                # 0 = attention-only; > 0 adds an MLP to every block
    layer_norm: bool = True
    embed_std: float = 1.0        # init std of the embeddings
    init_std: float = 0.0         # init std of every weight matrix (0 = 1/sqrt(d_model))
    lr: float = 1e-3
    warmup: int = 0               # steps of linear learning-rate warm-up (0 = none)
    weight_decay: float = 0.0
    batch_size: int = 64
    steps: int = 1500
    eval_every: int = 25
    eval_size: int = 256
    n_checkpoints: int = 41       # evenly spaced, step 0 and the last step included
    icl_early: tuple[int, ...] = (1, 6)     # positions [a, b) whose loss is "early in context"
    icl_late: tuple[int, ...] = (54, 64)    # ... and "late"
    # the local learning coefficient of the headline seed over training (0 checkpoints = off)
    # (calibrated on the fast run: gamma 300 with epsilon 3e-4 and 1e-3 agree within ~10 %)
    llc_checkpoints: int = 21     # evenly spaced saved checkpoints to estimate it at
    llc_chains: int = 2           # SGLD chains per checkpoint
    llc_burnin: int = 30          # SGLD steps discarded per chain
    llc_draws: int = 90           # SGLD steps averaged per chain
    llc_epsilon: float = 1e-3     # SGLD step size
    llc_gamma: float = 300.0      # localisation: mid-training checkpoints are not minima
    llc_nbeta: float = 0.0        # inverse temperature n*beta; 0 = n / log n, n = llc_samples
    llc_batch_size: int = 4       # sequences per SGLD minibatch (each chain its own); 0 = full batch
    llc_samples: int = 1024       # training-distribution sequences in the LLC's dataset
    llc_sign_chains: int = 8      # fresh chains at each window's ends, for the sign of Δλ̂
    llc_calibrate: bool = True    # the ε x nβ grid at the drop's ends and the gradient noise
    # which head forms first as the skip-bigram strength k varies (0 seeds = off), on a short
    # schedule: small batches at a higher learning rate
    order_ks: tuple[int, ...] = (4, 8, 12, 16)
    order_seeds: int = 5
    order_steps: int = 900
    order_batch_size: int = 8
    order_lr: float = 3e-3

    PRESETS = {
        "fast": {},
        # A wider model, 4x the context and vocabulary, 5 seeds: for a GPU (not yet run).  The
        # chain keeps k > sqrt(vocab), so it alone can never halve the copied-token loss.
        "full": dict(vocab=256, seq_len=256, copy_min=32, copy_max=128, d_model=256, n_heads=8,
                     skip_bigram=32,
                     d_head=32, n_seeds=5, steps=8000, eval_every=50, eval_size=512,
                     lr=1e-3, icl_early=(1, 11), icl_late=(230, 256), n_checkpoints=81,
                     llc_checkpoints=41, llc_chains=4, llc_burnin=200, llc_draws=800,
                     llc_batch_size=16, llc_samples=4096),
    }

    def check(self) -> None:
        require_int(self, "n_layers", 1)
        require(self.control_layers >= 0, "control_layers", self.control_layers,
                "0 (no control) or an integer >= 1")
        require_int(self, "n_seeds", 1, 64)
        require_int(self, "vocab", 2)
        require(1 <= self.copy_min <= self.copy_max, "copy_min/copy_max",
                (self.copy_min, self.copy_max), "1 <= copy_min <= copy_max")
        require(0 <= self.skip_bigram <= self.vocab, "skip_bigram", self.skip_bigram,
                f"0 (uniform background) or 1 to vocab={self.vocab} allowed tokens per row")
        require(self.seq_len >= 2 * self.copy_max, "seq_len", self.seq_len,
                f"at least 2 * copy_max = {2 * self.copy_max} (room for the segment and its copy)")
        for name in ("d_model", "n_heads", "d_head", "batch_size", "steps", "eval_every", "eval_size"):
            require(getattr(self, name) >= 1, name, getattr(self, name), "an integer >= 1")
        require(self.d_mlp >= 0, "d_mlp", self.d_mlp, "0 (attention-only) or a positive width")
        require(self.lr > 0, "lr", self.lr, "a positive learning rate")
        require(self.embed_std > 0, "embed_std", self.embed_std, "a positive standard deviation")
        require(self.init_std >= 0, "init_std", self.init_std, ">= 0 (0 = 1/sqrt(d_model))")
        require(self.weight_decay >= 0, "weight_decay", self.weight_decay, ">= 0")
        require(self.warmup >= 0, "warmup", self.warmup, "an integer >= 0 (0 = no warm-up)")
        require(2 <= self.n_checkpoints <= 1000, "n_checkpoints", self.n_checkpoints, "2 to 1000")
        require_llc_settings(self, len(self.checkpoint_steps()))
        require_int(self, "llc_samples", 2)
        require_int(self, "llc_sign_chains", 2)
        require_int(self, "order_seeds", 0, 64)
        require_int(self, ("order_steps", "order_batch_size"), 1)
        require(self.order_lr > 0, "order_lr", self.order_lr, "a positive learning rate")
        require(not self.order_seeds or all(1 <= k <= self.vocab for k in self.order_ks), "order_ks", self.order_ks,
                f"skip-bigram strengths from 1 to vocab={self.vocab}")
        require(0 <= self.llc_batch_size <= self.llc_samples, "llc_batch_size", self.llc_batch_size,
                f"0 (full batch) or an integer from 1 to llc_samples={self.llc_samples}")
        for name in ("icl_early", "icl_late"):
            a_b = getattr(self, name)
            require(len(a_b) == 2 and 0 <= a_b[0] < a_b[1] <= self.seq_len, name, a_b,
                    f"two positions a,b with 0 <= a < b <= seq_len ({self.seq_len})")

    def checkpoint_steps(self) -> list[int]:
        """The steps whose weights the run keeps (every member; the headline one is returned)."""
        return np.unique(np.linspace(0, self.steps, self.n_checkpoints).round().astype(int)).tolist()

    @property
    def task(self) -> CopyTask:
        return CopyTask(self.vocab, self.seq_len, self.copy_min, self.copy_max, self.periodic,
                        self.skip_bigram)

    @property
    def seeds(self) -> list[int]:
        return [self.seed + i for i in range(self.n_seeds)]


def build_model(config: Config, n_layers: int, seeds: list[int]) -> Transformer:
    cfg = TransformerConfig(d_vocab=config.task.d_vocab, n_ctx=config.seq_len + 1,
                            d_model=config.d_model, n_heads=config.n_heads, d_head=config.d_head,
                            n_layers=n_layers, d_mlp=config.d_mlp, layer_norm=config.layer_norm,
                            embed_std=config.embed_std, init_std=config.init_std)
    return Transformer(cfg, seeds)


def training_batches(config: Config, device: torch.device):
    """next_batch(step) -> tokens (E, B, T): member e's sequences depend only on (its seed,
    step), so the deep model and the control see exactly the same data."""
    task = config.task

    def next_batch(step: int) -> torch.Tensor:
        batches = [task.sample(config.batch_size, torch.Generator().manual_seed(
            1_000_003 * seed + step))[0] for seed in config.seeds]
        return torch.stack(batches).to(device)

    return next_batch


def next_token_loss(model: Transformer, tokens: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy of each member on its own sequences (E, B, T) -> (E,)."""
    return per_position_loss(model(tokens), tokens).mean((1, 2))


def evaluation_data(config: Config, device: torch.device) -> dict[str, torch.Tensor]:
    """The fixed held-out batch (shared by all members) and Olsson et al.'s prefix-matching
    probe: BOS + a random block repeated (their 25 tokens x 4, scaled to our context)."""
    g = torch.Generator().manual_seed(10_000_019 + config.seed)
    tokens, predictable = config.task.sample(config.eval_size, g)
    block = max(2, config.seq_len // 4)
    probe = repeated_random_tokens(64, block, config.seq_len // block, config.vocab, g)
    return {"tokens": tokens.to(device), "predictable": predictable.to(device),
            "probe": probe.to(device)}


EVAL_CHUNK_BYTES = 2 ** 28   # one layer's attention patterns held at once while evaluating


def eval_chunks(model: Transformer, tokens: torch.Tensor) -> list[torch.Tensor]:
    """The held-out sequences in chunks whose attention patterns (E, b, H, T, T) stay within
    EVAL_CHUNK_BYTES: the `full` batch at once would hold ~20 GB of patterns."""
    E, H, T = model.n_models, model.cfg.n_heads, tokens.shape[-1]
    per_sequence = E * H * T * T * model.embed.W_E.element_size()
    size = max(1, EVAL_CHUNK_BYTES // per_sequence)
    return list(tokens.split(size))


def measure(model: Transformer, data: dict[str, torch.Tensor], config: Config) -> dict[str, torch.Tensor]:
    """Everything logged during training, for every member.  Per-position and per-head
    values are flattened to (E * ...,) for the training loop and reshaped afterwards."""
    tokens, predictable = data["tokens"], data["predictable"]
    layers = range(model.cfg.n_layers)
    losses, prev_token = [], 0
    for chunk in eval_chunks(model, tokens):
        logits, cache = model.run_with_cache(chunk)
        losses.append(per_position_loss(logits, chunk))
        # the score is a mean over sequences: weight each chunk by its share of them
        prev_token = prev_token + len(chunk) / len(tokens) * torch.stack(
            [previous_token_score(cache[f"blocks.{l}.attn.hook_pattern"]) for l in layers], 1)
        del logits, cache
    loss = torch.cat(losses, 1)                                      # (E, B, T)
    _, probe_cache = model.run_with_cache(data["probe"])
    W_E, W_U = model.embed.W_E, model.unembed.W_U
    return {
        "loss": loss.mean((1, 2)),
        "loss_repeat": masked_mean(loss, predictable),
        "loss_other": masked_mean(loss, ~predictable),
        "icl_score": icl_score(loss, config.icl_early, config.icl_late),
        "position_loss": loss.mean(1).flatten(),
        "prev_token": prev_token.flatten(),
        "prefix_matching": torch.stack(
            [prefix_matching_score(probe_cache[f"blocks.{l}.attn.hook_pattern"], data["probe"])
             for l in layers], 1).flatten(),
        # the LayerNorms' learned gains folded in (none without LayerNorm)
        "copying": torch.stack([ov_copying_score(W_E, b.attn.W_V, b.attn.W_O, W_U, b.ln1 and b.ln1.w,
                                                 model.ln_final and model.ln_final.w)
                                for b in model.blocks], 1).flatten(),
    }


PER_POSITION = ("position_loss",)
PER_HEAD = ("prev_token", "prefix_matching", "copying")


def train_models(config: Config, n_layers: int, device: torch.device, desc: str):
    """Train n_seeds models of `n_layers` layers; returns (model, history, checkpoints, the
    evaluation data)."""
    model = build_model(config, n_layers, config.seeds).to(device)
    data = evaluation_data(config, device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    result = train(model, optimizer, next_token_loss, training_batches(config, device),
                   steps=config.steps, log_every=config.eval_every,
                   metrics=lambda m: measure(m, data, config), checkpoint_steps=config.checkpoint_steps(),
                   lr_schedule=(lambda step: min(1.0, step / config.warmup)) if config.warmup else None,
                   desc=desc)
    E, n = config.n_seeds, len(result.steps)
    history = {"step": torch.tensor(result.steps)}
    for name, values in result.history.items():
        if name in PER_POSITION:
            values = values.view(n, E, -1)
        elif name in PER_HEAD:
            values = values.view(n, E, n_layers, config.n_heads)
        history[name] = values
    return model, history, result.checkpoints, data


def _train_and_measure(config: Config, device: torch.device) -> Run:
    started = time.perf_counter()
    model, history, checkpoints, data = train_models(
        config, config.n_layers, device, f"{config.n_layers}-layer x {config.n_seeds} seeds")
    deep_seconds = time.perf_counter() - started
    history["ablation"] = ablation_losses(model, data)
    history["ablation_last_layer"] = last_layer_ablation_loss(model, data)
    # The headline member's checkpoints: where the attention pictures (and the LLC) come from.
    checkpoints = {step: member_of(state, 0) for step, state in sorted(checkpoints.items())}
    history.update(attention_frames(config, checkpoints, device))
    if config.control_layers:
        _, control, _, _ = train_models(config, config.control_layers, device,
                                        f"{config.control_layers}-layer control")
        history.update({f"control_{name}": values for name, values in control.items()})
    summary = _summarize(config, history, time.perf_counter() - started, deep_seconds)
    if config.order_seeds:
        order = head_order(config, device)
        history.update({f"order_{k}": torch.tensor(v) for k, v in order.pop("history").items()})
        summary["head_order"] = order
    if config.llc_checkpoints:
        llc_history, summary["llc"] = _llc_measures(config, checkpoints, history, summary, device)
        history.update(llc_history)
    summary["seconds"] = round(time.perf_counter() - started, 2)
    return Run(NAME, config.to_dict(), summary, history, checkpoints)


def head_order(config: Config, device: torch.device) -> dict:
    """Which head forms first for each skip-bigram strength in `order_ks`, `order_seeds` seeds
    each, on a short schedule (`order_steps` steps of `order_batch_size` sequences)."""
    seeds = [config.seed + i for i in range(config.order_seeds)]
    probe = evaluation_data(config, device)["probe"]
    return head_order_diagram(
        lambda rows: build_model(config, config.n_layers, [97 * k + s for k in config.order_ks for s in seeds]),
        [replace(config, skip_bigram=k).task for k in config.order_ks], seeds, steps=config.order_steps,
        batch_size=config.order_batch_size, lr=config.order_lr, eval_every=config.eval_every, eval_size=32,
        probe=probe, device=device, min_prefix=0.3)


def llc_data(config: Config, device: torch.device) -> tuple[torch.Tensor]:
    """The LLC's dataset: `llc_samples` fixed sequences from the training distribution."""
    g = torch.Generator().manual_seed(20_000_033 + config.seed)
    return (config.task.sample(config.llc_samples, g)[0].to(device),)


def _llc_measures(config: Config, checkpoints: dict, history: dict, summary: dict,
                  device: torch.device) -> tuple[dict, dict]:
    """λ̂ of the headline seed over training on its training loss (all positions), and its
    change over the plateau, the sag, the drop and after it (`llc_stages`)."""
    return llc_stages(config, checkpoints, history, summary,
                      lambda rows: build_model(config, config.n_layers, [config.seed] * rows),
                      next_token_loss, llc_data(config, device), flat_change=PLATEAU_LLC_CHANGE)


def ablation_losses(model: Transformer, data: dict[str, torch.Tensor]) -> torch.Tensor:
    """In-context loss (on the predictable positions) with each head zeroed:
    (E, n_layers, n_heads, 2); the last axis is [patterns frozen, patterns free]."""
    tokens, predictable = data["tokens"], data["predictable"]
    L, H = model.cfg.n_layers, model.cfg.n_heads
    losses = {(layer, head, k): [] for layer in range(L) for head in range(H) for k in range(2)}
    for chunk in eval_chunks(model, tokens):
        _, clean = model.run_with_cache(chunk)
        for layer, head, k in losses:
            logits = ablate_head(model, chunk, layer, head, freeze_patterns=k == 0, clean_cache=clean)
            losses[layer, head, k].append(per_position_loss(logits, chunk))
        del clean
    out = torch.zeros(model.n_models, L, H, 2)
    for (layer, head, k), parts in losses.items():
        out[:, layer, head, k] = masked_mean(torch.cat(parts, 1), predictable).cpu()
    return out


def last_layer_ablation_loss(model: Transformer, data: dict[str, torch.Tensor]) -> torch.Tensor:
    """In-context loss with every head of the last layer zeroed at once: (E,).  (Nothing
    attends after the last layer, so freezing the patterns would change nothing.)"""
    tokens, predictable = data["tokens"], data["predictable"]
    hooks = {f"blocks.{model.cfg.n_layers - 1}.attn.hook_z": torch.zeros_like}
    with torch.no_grad():
        loss = torch.cat([per_position_loss(model(chunk, hooks=hooks), chunk)
                          for chunk in eval_chunks(model, tokens)], 1)
    return masked_mean(loss, predictable).cpu()


def attention_frames(config: Config, checkpoints: dict, device: torch.device) -> dict:
    """Every head's attention pattern on one probe sequence (BOS + a random block of 16
    repeated) at each checkpoint of the headline member: (n_checkpoints, L, H, T, T)."""
    model = build_model(config, config.n_layers, [config.seed]).to(device)
    block = min(16, config.seq_len // 2)
    probe = repeated_random_tokens(1, block, config.seq_len // block, config.vocab,
                                   torch.Generator().manual_seed(7)).to(device)
    frames = []
    for state in checkpoints.values():
        model.load_state_dict({k: v[None].to(device) for k, v in state.items()})
        _, cache = model.run_with_cache(probe)
        frames.append(torch.stack([cache[f"blocks.{l}.attn.hook_pattern"][0, 0]
                                   for l in range(config.n_layers)]).cpu())
    return {"checkpoint_step": torch.tensor(list(checkpoints)), "attention_frames": torch.stack(frames),
            "probe_tokens": probe[0].cpu()}


def best_heads(history: dict, member: int) -> tuple[int, int]:
    """(the layer-1 head with the highest final previous-token score, the last layer's head
    with the highest final prefix-matching score) of one member."""
    prev = int(history["prev_token"][-1, member, 0].argmax())
    prefix = int(history["prefix_matching"][-1, member, -1].argmax())
    return prev, prefix


def _at(steps: np.ndarray, values: np.ndarray, step: float | None) -> float | None:
    return None if step is None else float(values[int(np.argmin(np.abs(steps - step)))])


def _share_of_chance(steps: np.ndarray, loss: np.ndarray, step: float | None, vocab: int) -> float | None:
    return None if step is None else _at(steps, loss, step) / float(np.log(vocab))


def _last_at_chance(steps: np.ndarray, loss: np.ndarray, vocab: int, before: float) -> float | None:
    at_chance = np.nonzero((loss >= 0.95 * np.log(vocab)) & (steps <= before))[0]
    return float(steps[at_chance[-1]]) if len(at_chance) else None


def _member_summary(config: Config, history: dict, e: int) -> dict:
    """The phase change of one member: the drop, the plateau before it, and its heads."""
    steps = history["step"].numpy().astype(float)
    repeat = history["loss_repeat"][:, e].numpy()
    prev_head, prefix_head = best_heads(history, e)
    prev = history["prev_token"][:, e, 0, prev_head].numpy()
    prefix = history["prefix_matching"][:, e, -1, prefix_head].numpy()
    icl = history["icl_score"][:, e].numpy()
    out = {"seed": config.seeds[e], "best_prev_token_head": prev_head,
           "best_prefix_matching_head": prefix_head,
           "final_loss_repeat": float(repeat[-1]), "final_icl_score": float(icl[-1]),
           "prev_token_initial": float(prev[0]), "prev_token_final": float(prev[-1]),
           "prefix_matching_final": float(prefix[-1]),
           "copying_final": float(history["copying"][-1, e, -1, prefix_head])}
    fastest = fastest_fall(steps, repeat, DROP_FRACTION)
    if fastest is None:
        return {**out, "drop_start": None}
    out.update({"fastest_halving": [int(fastest[0]), int(fastest[1])],
                "plateau_steps_before_fastest_halving":
                    int(stable_before(steps, repeat, fastest[0], PLATEAU_CHANGE))})
    # the drop: the shortest halving with a plateau before it; else the fastest halving
    drop = plateau_then_drop(steps, repeat, DROP_WINDOW * config.steps, DROP_FRACTION, PLATEAU_CHANGE)
    start, end = drop or fastest
    level = float(repeat[np.argmin(np.abs(steps - start))])
    midpoint = first_crossing(steps[steps >= start], repeat[steps >= start],
                              (level + float(repeat[-1])) / 2, above=False)
    plateau = stable_before(steps, repeat, start, PLATEAU_CHANGE)
    before = _last_at_chance(steps, repeat, config.vocab, start)
    ablation = history["ablation"][e, -1, prefix_head, 0].item()
    ablation_last_layer = history["ablation_last_layer"][e].item()
    return {
        **out,
        "drop_start": int(start), "drop_end": int(end), "drop_midpoint": int(midpoint),
        "drop_steps": int(end - start), "drop_fraction_of_training": (end - start) / config.steps,
        "plateau_steps_before_drop": int(plateau),
        "plateau_then_drop": drop is not None,
        "loss_repeat_at_drop_start": level,
        # before the drop: the last log at which the copied-token loss was still at chance
        # (within 5 %).  The drop's start is a worse "before": the shortest halving begins
        # inside the fall, later the finer the log, and the scores there are already moving.
        "step_before_drop": before,
        "icl_score_before": _at(steps, icl, before),
        "icl_score_at_drop_start": _at(steps, icl, start),
        "prev_token_at_midpoint": _at(steps, prev, midpoint),
        "prev_token_gain_by_midpoint": _at(steps, prev, midpoint) / max(float(prev[0]), 1e-6),
        "prefix_matching_before": _at(steps, prefix, before),
        "prefix_matching_at_drop_start": _at(steps, prefix, start),
        "prefix_matching_after": _at(steps, prefix, end),
        # which forms first: the step each score completes half of its change ...
        "prev_token_x50": x50(steps, prev), "prefix_matching_x50": x50(steps, prefix),
        "loss_repeat_x50": x50(steps, repeat),
        # ... and the first step it reaches twice its initial value (its onset), with the
        # copied-token loss then, as a share of chance (ln vocab)
        "prev_token_doubled": first_crossing(steps, prev, 2 * float(prev[0])),
        "prefix_matching_doubled": first_crossing(steps, prefix, 2 * float(prefix[0])),
        "loss_repeat_when_prev_token_doubled":
            _share_of_chance(steps, repeat, first_crossing(steps, prev, 2 * float(prev[0])), config.vocab),
        "ablated_loss_repeat": ablation,
        # the raise in in-context loss from zeroing the induction head, as a share of the drop
        "ablation_share_of_drop": (ablation - float(repeat[-1])) / (level - float(repeat[-1])),
        # ... and from zeroing every head of the last layer at once
        "ablated_last_layer_loss_repeat": ablation_last_layer,
        "last_layer_ablation_share_of_drop":
            (ablation_last_layer - float(repeat[-1])) / (level - float(repeat[-1])),
    }


def _control_summary(history: dict, e: int) -> dict:
    steps = history["step"].numpy().astype(float)
    repeat = history["control_loss_repeat"][:, e].numpy()
    after_init = repeat[steps >= steps[1]]          # skip the init transient at step 0
    drop = fastest_fall(steps, repeat, DROP_FRACTION)
    return {"drop": drop is not None, "final_loss_repeat": float(repeat[-1]),
            "min_over_plateau": float(after_init.min() / after_init[0]),
            "final_icl_score": float(history["control_icl_score"][-1, e])}


def _summarize(config: Config, history: dict, seconds: float, deep_seconds: float) -> dict:
    seeds = [_member_summary(config, history, e) for e in range(config.n_seeds)]
    controls = ([_control_summary(history, e) for e in range(config.n_seeds)]
                if config.control_layers else [])
    return {
        **seeds[0],
        "seeds": seeds,
        "n_transitioned": sum(s["drop_start"] is not None for s in seeds),
        "control": controls,
        "control_any_drop": any(c["drop"] for c in controls),
        "seconds": round(seconds, 2),
        "ms_per_step": round(1000 * deep_seconds / config.steps, 1),
    }


# --- the contract (experiments/base.py: Experiment) ------------------------------------------

EXPERIMENT = Experiment(NAME, Config, _train_and_measure, about=__doc__.strip().splitlines()[0])
run = EXPERIMENT.run
