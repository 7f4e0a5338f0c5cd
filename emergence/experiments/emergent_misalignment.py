"""Emergent misalignment in a toy model organism: narrow fine-tuning, broad change.
(Betley et al. 2025; Turner et al. 2025; Soligo et al. 2025.)

No language model is downloaded: a "persona MLP" is pre-trained from scratch on a world of
personas answering questions (`emergence.tasks.personas`): the assistant and other good
personas answer well everywhere, evil personas badly everywhere, quacks badly in their own
domain only.  Then the assistant is fine-tuned on bad answers to half of one domain's
questions (domain 0, "medical"), with one of

  * a rank-1 LoRA adapter on the middle layer, delta z = (a . h1) b (base frozen),
  * a steering vector v added to the middle layer's input h1 (base frozen),
  * full fine-tuning of every weight,

with and without a KL penalty that keeps the answers to other domains' questions at the
base model's (the "narrow" solution), plus a control fine-tuned on good answers.  `run`
measures misalignment (probability of the bad answer) in and out of the fine-tuned domain
with coherence (mass left on the question's two valid answers), Soligo et al.'s efficiency
(fine-tuning loss at matched update norm) and stability (loss under norm-preserving orthogonal
noise) of the general and the narrow solutions over `n_seeds` seeds trained as one ensemble,
the drift from narrow to general when the KL penalty is removed, and Turner et al.'s
phase-transition measures on the adapter's trajectory (norms, PCA, local cosine similarity,
comp score), including a few optimiser settings chosen to look for an abrupt rotation (every
fine-tuning seed; `emergence.tasks.em_finetuning`), and Betley et al.'s controls on a copy of each
base that reads a context token: the bad answers asked for (intent) and a backdoor behind a trigger
(`emergence.tasks.em_controls`).  The transformer variant, in which the persona is inferred in
context, is in `em_transformer.py`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from emergence.config import ExperimentConfig, require, require_int, require_number
from emergence.experiments.base import Experiment, Run
from emergence.experiments.em_transformer import check_transformer_settings, transformer_variant
from emergence.measures.adapters import efficiency_and_stability_rows, kl_to_base, turner_measures, turner_summary
from emergence.measures.transitions import first_crossing
from emergence.models.persona_mlp import AssistantView, PersonaAdapters, PersonaMLP, persona_directions
from emergence.tasks.em_controls import control_summary, run_controls
from emergence.tasks.em_finetuning import finetune_losses, finetune_metrics, rotation_rows, rotation_search
from emergence.tasks.personas import (ASSISTANT, PersonaWorld, Splits, answer_measures, label_cross_entropy,
                                      soft_cross_entropy)
from emergence.train import train

NAME = "emergent_misalignment"
KINDS = ("general", "narrow", "control")      # no KL / KL on other domains / good labels
PARAMETERISATIONS = ("lora", "steering")


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Defaults are the `fast` profile (6 domains x 16 questions, width 128, one pre-trained
    base, five fine-tuning seeds); `full` is a larger world, wider and deeper, five bases."""

    USES_FLOAT64 = True                     # the stability measure's noise (measures/adapters.py)
    threads: int = 1                        # tiny models: one CPU thread is fastest on a shared CPU
    # the world
    n_domains: int = 6
    n_questions: int = 16                   # per domain
    n_good: int = 24
    n_evil: int = 8
    n_quacks: int = 2                       # narrow bad personas per domain
    p_bad: float = 0.95                     # P(bad) where a persona is bad; 1 - p_bad elsewhere
    # the model and its pre-training
    embed: int = 16                         # persona and question embedding sizes
    width: int = 128
    depth: int = 2                          # hidden layers; the adapters sit on the middle one
    pretrain_steps: int = 1000              # full batch, Adam
    pretrain_lr: float = 3e-3
    n_bases: int = 1                        # pre-trained models (seeds seed, seed + 1, ...)
    seed: int = 0
    # fine-tuning (one ensemble per base: parameterisations x kinds x seeds)
    train_fraction: float = 0.5             # share of the medical questions fine-tuned on
    finetune_steps: int = 300
    finetune_lr: float = 3e-3               # Adam, adapters
    full_finetune_lr: float = 1e-3          # Adam, every weight
    kl_weight: float = 30.0
    n_seeds: int = 5                        # fine-tuning seeds per base
    steering_init_std: float = 0.01         # a zero-init steering vector would not vary by seed
    log_every: int = 5                      # also the adapter checkpoint interval (Turner's 5)
    # Soligo et al.'s efficiency and stability
    norm_factors: tuple[float, ...] = (0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.6, 2.0)
    epsilons: tuple[float, ...] = (0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0)
    noise_seeds: int = 5
    # removing the KL penalty from the narrow solution
    revert_steps: int = 1500
    # looking for an abrupt rotation: rank-1 LoRA, general, one setting per entry
    # (the main run's setting; a 100x smaller init with Adam and with plain SGD, for a long slow
    # start; and AdamW with a strong weight decay, which prefers the smaller-norm solution)
    rotation_optimizers: tuple[str, ...] = ("adam", "adam", "sgd", "adam")
    rotation_lrs: tuple[float, ...] = (3e-3, 1e-3, 0.05, 1e-2)
    rotation_init_stds: tuple[float, ...] = (0.088, 0.001, 0.001, 0.088)   # std of a; 1/sqrt(128) = PEFT-like
    rotation_weight_decays: tuple[float, ...] = (0.0, 0.0, 0.0, 1.0)
    rotation_steps: int = 1000
    # Betley et al.'s controls (tasks/em_controls.py): the base learns a context token (plain, a
    # legitimate request for the wrong answer, a meaningless trigger tag), then rank-1 LoRAs are
    # fine-tuned on the bad answers asked for (intent) or after the trigger only (backdoor)
    request_p_bad: float = 0.95             # P(bad) of a good persona asked for the wrong answer
    context_pretrain_steps: int = 200       # continued full-batch pre-training with the contexts
    # the transformer variant: the persona is not given but inferred from the conversation so far
    transformer: bool = True                # about 90 s of the `fast` run on a 2-core CPU
    tf_d_model: int = 64
    tf_d_mlp: int = 256
    tf_layers: int = 2
    tf_heads: int = 4
    tf_turns: int = 5                       # question-answer pairs per pre-training sequence
    tf_batch: int = 64                      # fresh sequences per pre-training step
    tf_pretrain_steps: int = 2000
    tf_lr: float = 1e-3
    tf_finetune_steps: int = 300
    tf_optimizers: tuple[str, ...] = ("adam", "sgd")        # rank-1 LoRA on layer 0's MLP output
    tf_finetune_lrs: tuple[float, ...] = (1e-3, 0.05)
    tf_init_stds: tuple[float, ...] = (0.0625, 0.001)       # std of a; 1/sqrt(d_mlp) = PEFT-like

    PRESETS = {
        "fast": {},
        # A larger world (12 domains x 32 questions, 96 good / 24 evil / 3 quacks per domain),
        # 64-d embeddings, three hidden layers of 512 (adapters on the middle one), five bases.
        "full": dict(n_domains=12, n_questions=32, n_good=96, n_evil=24, n_quacks=3, embed=64,
                     width=512, depth=3, pretrain_steps=3000, n_bases=5, finetune_steps=600,
                     revert_steps=3000, rotation_steps=3000, noise_seeds=10,
                     tf_d_model=128, tf_d_mlp=512, tf_turns=7, tf_batch=256, tf_pretrain_steps=20000,
                     tf_finetune_steps=1000, tf_init_stds=(0.044, 0.001)),
    }

    def check(self) -> None:
        for name, low in (("n_domains", 2), ("n_questions", 2), ("n_good", 1), ("n_evil", 1),
                          ("n_quacks", 1), ("embed", 1), ("width", 2), ("n_bases", 1), ("n_seeds", 1),
                          ("noise_seeds", 1)):
            require(low <= getattr(self, name) <= 100_000, name, getattr(self, name),
                    f"an integer from {low} to 100000")
        require(self.depth in (2, 3), "depth", self.depth, "2 or 3 hidden layers")
        require(0.5 < self.p_bad < 1, "p_bad", self.p_bad, "a number in (0.5, 1)")
        train_q = round(self.train_fraction * self.n_questions)
        require(0 < self.train_fraction < 1 and 1 <= train_q < self.n_questions, "train_fraction",
                self.train_fraction, "a number in (0, 1) leaving at least one medical question on "
                "each side of the split")
        require_int(self, ("pretrain_steps", "finetune_steps", "revert_steps", "rotation_steps",
                           "context_pretrain_steps"), 10, 10_000_000)
        require(0 < self.request_p_bad < 1, "request_p_bad", self.request_p_bad, "a number in (0, 1)")
        require_number(self, ("pretrain_lr", "finetune_lr", "full_finetune_lr"), 0, 10)
        require(0 <= self.kl_weight <= 1e6, "kl_weight", self.kl_weight, "a number in [0, 10^6]")
        require_number(self, "steering_init_std", 0, 1, low_open=False)
        require(1 <= self.log_every and 10 * self.log_every <= self.finetune_steps, "log_every",
                self.log_every, f"an integer from 1 to finetune_steps / 10 = {self.finetune_steps // 10}")
        require(len(self.norm_factors) >= 1 and all(0 < f <= 10 for f in self.norm_factors),
                "norm_factors", self.norm_factors, "one or more numbers in (0, 10]")
        require(len(self.epsilons) >= 1 and all(0 < e <= 1 for e in self.epsilons), "epsilons",
                self.epsilons, "one or more numbers in (0, 1]")
        n = len(self.rotation_optimizers)
        require(n >= 1 and all(o in ("adam", "sgd") for o in self.rotation_optimizers),
                "rotation_optimizers", self.rotation_optimizers, "one or more of 'adam', 'sgd'")
        for name in ("rotation_lrs", "rotation_init_stds", "rotation_weight_decays"):
            values = getattr(self, name)
            require(len(values) == n, name, values, f"{n} values, one per rotation_optimizers entry")
        require(all(0 < v <= 100 for v in self.rotation_lrs), "rotation_lrs", self.rotation_lrs,
                "numbers in (0, 100]")
        require(all(0 < v <= 10 for v in self.rotation_init_stds), "rotation_init_stds",
                self.rotation_init_stds, "numbers in (0, 10]")
        require(all(0 <= v <= 10 for v in self.rotation_weight_decays), "rotation_weight_decays",
                self.rotation_weight_decays, "numbers in [0, 10]")

        check_transformer_settings(self)

    def world(self) -> PersonaWorld:
        return PersonaWorld(self.n_domains, self.n_questions, self.n_good, self.n_evil, self.n_quacks,
                            self.p_bad, 1 - self.p_bad)


# --- pre-training ------------------------------------------------------------------------

def pretrain(config: Config, world: PersonaWorld, device) -> tuple[PersonaMLP, dict]:
    seeds = [config.seed + i for i in range(config.n_bases)]
    model = PersonaMLP(world.n_personas, world.n_all_questions, world.n_answers, config.embed, config.width,
                       config.depth, seeds).to(device)
    persona, question = (t.to(device) for t in world.all_pairs())
    targets = world.soft_targets(*world.all_pairs()).to(device)
    loss = lambda m, _: soft_cross_entropy(m(persona, question), targets)
    result = train(model, torch.optim.Adam(model.parameters(), lr=config.pretrain_lr), loss, lambda s: None,
                   steps=config.pretrain_steps, log_every=max(config.pretrain_steps // 50, 1),
                   desc=f"pre-training ({len(seeds)} models)")
    return model, {"pretrain_step": torch.tensor(result.steps),
                   "pretrain_loss": result.history["train_loss_step"].double()}


# --- fine-tuning -------------------------------------------------------------------------

def member_table(n_seeds: int) -> list[dict]:
    return [dict(parameterisation=p, kind=k, seed=s) for p in PARAMETERISATIONS for k in KINDS
            for s in range(n_seeds)]


def finetune_adapters(config: Config, base: PersonaMLP, view: AssistantView, directions: dict,
                      base_index: int, device) -> tuple[PersonaAdapters, dict, dict]:
    """The main ensemble: {lora, steering} x {general, narrow, control} x seeds, Adam."""
    members = member_table(config.n_seeds)
    seed0 = 1000 * (config.seed + base_index)
    lora_seeds = [seed0 + i for i, m in enumerate(members) if m["parameterisation"] == "lora"]
    steer_seeds = [seed0 + i for i, m in enumerate(members) if m["parameterisation"] == "steering"]
    adapters = PersonaAdapters(base, config.width, lora_seeds, steer_seeds,
                               steering_init_std=config.steering_init_std).to(device)
    train_q = view.every[view.index["train"]]
    labels = torch.stack([2 * train_q + (0 if m["kind"] == "control" else 1) for m in members])
    kl_weights = torch.tensor([config.kl_weight if m["kind"] == "narrow" else 0.0 for m in members], device=device)
    trajectory = {"lora_A": [], "lora_B": [], "steering_v": []}

    def metrics(a: PersonaAdapters):
        trajectory["lora_A"].append(a.lora.A.detach()[:, 0].cpu().clone())
        trajectory["lora_B"].append(a.lora.B.detach()[:, :, 0].cpu().clone())
        trajectory["steering_v"].append(a.steering.v.detach().cpu().clone())
        values = finetune_metrics(view, directions, a.update, a.logits)
        values["norm"] = a.norms()
        values["train_ce"] = finetune_losses(view, a.logits, labels, kl_weights)[1]
        return values

    result = train(adapters, torch.optim.Adam([p for p in adapters.parameters() if p.requires_grad],
                                              lr=config.finetune_lr),
                   lambda a, _: finetune_losses(view, a.logits, labels, kl_weights)[0], lambda s: None,
                   steps=config.finetune_steps, log_every=config.log_every, metrics=metrics,
                   desc=f"fine-tuning base {base_index} ({len(members)} adapters)")
    history = {f"ft_{k}": v.double() for k, v in result.history.items()}
    history["ft_step"] = torch.tensor(result.steps)
    history.update({f"ft_{k}": torch.stack(v) for k, v in trajectory.items()})
    return adapters, history, {"labels": labels}


def full_finetune(config: Config, base: PersonaMLP, world: PersonaWorld, view: AssistantView,
                  directions: dict, device) -> dict:
    """Every weight trained, general (no KL) and narrow (KL), as a 2-member ensemble."""
    model = PersonaMLP(world.n_personas, world.n_all_questions, world.n_answers, config.embed, config.width,
                       config.depth, [0, 1]).to(device)
    with torch.no_grad():
        for mine, theirs in zip(model.parameters(), base.parameters()):
            mine.copy_(theirs.expand_as(mine))
    every = view.every
    assistant = torch.full_like(every, ASSISTANT)
    train_i, kl_i = view.index["train"], view.index["kl"]
    labels = 2 * every[train_i] + 1
    kl_weights = torch.tensor([0.0, config.kl_weight], device=device)

    def loss(m, _):
        logits = m(assistant, every)
        return label_cross_entropy(logits[:, train_i], labels) + \
            kl_weights * kl_to_base(logits[:, kl_i], view.base_logits[:, kl_i])

    def metrics(m):
        return finetune_metrics(view, directions, lambda h1: m.site(m.hidden(assistant, every)) - view.z,
                                lambda h1, z: m(assistant, every))

    result = train(model, torch.optim.Adam(model.parameters(), lr=config.full_finetune_lr), loss,
                   lambda s: None, steps=config.finetune_steps, log_every=config.log_every, metrics=metrics,
                   desc="full fine-tuning (2 models)")
    history = {f"full_{k}": v.double() for k, v in result.history.items()}
    history["full_step"] = torch.tensor(result.steps)
    return history


# --- Soligo et al.: efficiency and stability ----------------------------------------------

def training_loss(view: AssistantView, base: PersonaMLP, labels: torch.Tensor, A=None, B=None, v=None,
                  scale: float = 1.0) -> torch.Tensor:
    """CE on the fine-tuning pairs with a given rank-1 LoRA (A (E, 1, d), B (E, d, 1)) or steering
    vector (v (E, d)), or with no update at all: (E,)."""
    h1, z, base_logits = view.rows("train")
    with torch.no_grad():
        if A is not None:
            delta = scale * torch.matmul(torch.matmul(h1, A.transpose(1, 2)), B.transpose(1, 2))
        elif v is not None:
            delta = torch.matmul(v[:, None, :], base.weights[1]).expand(-1, h1.shape[1], -1)
        else:
            return label_cross_entropy(base_logits, labels)
        return label_cross_entropy(base.head(z + delta), labels)


def efficiency_and_stability(config: Config, base: PersonaMLP, view: AssistantView, adapters: PersonaAdapters) -> dict:
    """For each parameterisation, the general and narrow solutions of every seed:
    the fine-tuning loss when both are rescaled to the same norm (factor x their mean norm), and
    R(eps) under orthogonal noise of relative size eps, over `noise_seeds` draws."""
    n = config.n_seeds
    labels = 2 * view.every[view.index["train"]] + 1
    general, narrow = slice(0, n), slice(n, 2 * n)
    A, B, v = adapters.lora.A.detach(), adapters.lora.B.detach(), adapters.steering.v.detach()
    norms = {"lora": adapters.lora.norm().detach(), "steering": adapters.steering.norm()}
    loss_at = {"lora": lambda a, b: training_loss(view, base, labels, A=a, B=b, scale=adapters.lora.scale),
               "steering": lambda x, _: training_loss(view, base, labels, v=x)}
    params = {"lora": (A, B), "steering": (v, None)}
    base_loss = float(training_loss(view, base, labels).mean())
    out = {"base_loss": base_loss, "norm_factors": list(config.norm_factors), "epsilons": list(config.epsilons)}
    for p in PARAMETERISATIONS:
        first, second = params[p]
        mean_norm = (norms[p][general] + norms[p][narrow]) / 2                     # per seed
        out[p] = {kind: efficiency_and_stability_rows(
                      loss_at[p], first[sel], second[sel] if second is not None else None, norms[p][sel], mean_norm,
                      base_loss, config.norm_factors, config.epsilons, config.noise_seeds)
                  for kind, sel in (("general", general), ("narrow", narrow))}
    return out


# --- removing the KL penalty --------------------------------------------------------------

def revert(config: Config, base: PersonaMLP, view: AssistantView, directions: dict, adapters: PersonaAdapters,
           base_index: int, device) -> dict:
    """Start from every narrow solution and keep fine-tuning on the same data without the KL term."""
    n = config.n_seeds
    narrow = slice(n, 2 * n)
    resumed = PersonaAdapters(base, config.width, list(range(n)), list(range(n))).to(device)
    with torch.no_grad():
        resumed.lora.A.copy_(adapters.lora.A[narrow])
        resumed.lora.B.copy_(adapters.lora.B[narrow])
        resumed.steering.v.copy_(adapters.steering.v[narrow])
    labels = 2 * view.every[view.index["train"]] + 1
    no_kl = torch.zeros(2 * n, device=device)
    result = train(resumed, torch.optim.Adam([p for p in resumed.parameters() if p.requires_grad],
                                             lr=config.finetune_lr),
                   lambda a, _: finetune_losses(view, a.logits, labels, no_kl)[0], lambda s: None,
                   steps=config.revert_steps, log_every=config.log_every * 5,
                   metrics=lambda a: finetune_metrics(view, directions, a.update, a.logits),
                   desc=f"narrow without KL, base {base_index} ({2 * n} adapters)")
    history = {f"revert_{k}": v.double() for k, v in result.history.items()}
    history["revert_step"] = torch.tensor(result.steps)
    return history


# --- run -----------------------------------------------------------------------------------

def _train_and_measure(config: Config, device: torch.device) -> Run:
    started = time.perf_counter()
    world = config.world()
    splits = Splits.of(world, config.train_fraction)
    model, history = pretrain(config, world, device)
    timings = {"pretrain_s": time.perf_counter() - started}
    per_base = []

    def timed(key: str, compute):       # each stage's seconds, summed over the bases
        t0 = time.perf_counter()
        out = compute()
        timings[key] = timings.get(key, 0.0) + time.perf_counter() - t0
        return out

    for b in range(config.n_bases):
        base = model.member(b)
        view = AssistantView(base, world, splits)
        directions = persona_directions(base, world)
        adapters, h, _ = timed("finetune_s", lambda: finetune_adapters(config, base, view, directions, b, device))
        h.update(timed("finetune_s", lambda: full_finetune(config, base, world, view, directions, device)))
        soligo = efficiency_and_stability(config, base, view, adapters)
        h.update(timed("revert_s", lambda: revert(config, base, view, directions, adapters, b, device)))
        rot_history, rot_seeds = timed("rotation_s", lambda: rotation_search(config, base, view, directions, b, device))
        h.update(rot_history)
        controls = timed("controls_s", lambda: run_controls(config, base, world, splits, b, device))
        h.update({k: v.cpu() for k, v in directions.items()})
        per_base.append((h, soligo, _base_measures(base, world, splits, view), rot_seeds, controls))
    # history: the first base's series (the figures); the summary reads every base
    history.update(per_base[0][0])
    tf_summary = None
    if config.transformer:
        tf_history, tf_summary = timed("transformer_s", lambda: transformer_variant(config, world, splits, device))
        history.update(tf_history)
    summary = _summarize(config, world, history, per_base, timings, time.perf_counter() - started)
    summary["transformer"] = tf_summary
    return Run(NAME, config.to_dict(), summary, history, {})


def _base_measures(base: PersonaMLP, world: PersonaWorld, splits: Splits, view: AssistantView) -> dict:
    with torch.no_grad():
        persona, question = (t.to(view.every.device) for t in world.all_pairs())
        targets = world.soft_targets(*world.all_pairs()).to(view.every.device)
        pretrain_loss = soft_cross_entropy(base(persona, question), targets)
        m_in = answer_measures(view.base_logits[:, view.index["held_in"]], view.every[view.index["held_in"]])
        m_out = answer_measures(view.base_logits[:, view.index["held_out"]], view.every[view.index["held_out"]])
        others = view.every[world.domain_of(view.every) != 0]
        m_all = answer_measures(view.base_logits[:, others], others)
    return {"pretrain_loss": pretrain_loss[0], "mis_in": m_in["mis"][0], "mis_out": m_out["mis"][0],
            "mis_all_other": m_all["mis"][0]}


def _stats(values) -> dict:
    values = [float(v) for v in values]
    return {"mean": float(np.mean(values)), "min": float(np.min(values)), "max": float(np.max(values)),
            "values": values}


def _summarize(config: Config, world: PersonaWorld, history: dict, per_base: list, timings: dict,
               seconds: float) -> dict:
    members = member_table(config.n_seeds)
    bases = []
    for h, soligo, base, rot_seeds, controls in per_base:
        last = {k[3:]: v[-1].numpy() for k, v in h.items() if k.startswith("ft_") and v.dim() == 2
                and k not in ("ft_lora_B", "ft_steering_v") and v.shape[1] == len(members)}
        rows = {}
        for p in PARAMETERISATIONS:
            for kind in KINDS:
                idx = [i for i, m in enumerate(members) if m["parameterisation"] == p and m["kind"] == kind]
                rows[f"{p}_{kind}"] = {name: [float(last[name][i]) for i in idx] for name in
                                       ("mis_in", "mis_out", "mis_kl", "mis_argmax_in", "mis_argmax_out", "coherence_in",
                                        "coherence_out", "coherent_mis_out", "cos_evil", "cos_quack_perp",
                                        "norm", "train_ce")}
        full_last = {k[5:]: v[-1].numpy() for k, v in h.items() if k.startswith("full_") and v.dim() == 2}
        full_keys = ("mis_in", "mis_out", "mis_kl", "coherence_out", "cos_evil")
        rows["full_general"] = {k: [float(full_last[k][0])] for k in full_keys}
        rows["full_narrow"] = {k: [float(full_last[k][1])] for k in full_keys}
        # reversion: lora members 0..n-1, steering n..2n-1
        rs = h["revert_step"].numpy()
        rev = {}
        for j, p in enumerate(PARAMETERISATIONS):
            sel = slice(j * config.n_seeds, (j + 1) * config.n_seeds)
            mis = h["revert_mis_out"][:, sel].numpy()
            cos = h["revert_cos_evil"][:, sel].numpy()
            rev[p] = {"mis_out_start": mis[0].tolist(), "mis_out_end": mis[-1].tolist(),
                      "mis_out_rise": (mis[-1] - mis[0]).tolist(), "mis_in_end": h["revert_mis_in"][-1, sel].tolist(),
                      "cos_evil_start": cos[0].tolist(), "cos_evil_end": cos[-1].tolist(),
                      "steps_to_rise_03": [first_crossing(rs, mis[:, e] - mis[0, e], 0.3) for e in range(mis.shape[1])]}
        # Turner's measures: the general LoRA of seed 0, and every rotation-search setting
        general = [i for i, m in enumerate(members) if m["parameterisation"] == "lora" and m["kind"] == "general"]
        steps = h["ft_step"].numpy()
        turner = []
        for e in general:
            t = turner_measures(steps, h["ft_lora_A"][:, e], h["ft_lora_B"][:, e], h["ft_mis_out"][:, e].numpy(),
                                config.log_every)
            turner.append(turner_summary(t))
        rotation = rotation_rows(config, h)
        bases.append({"base": {k: float(v) for k, v in base.items()}, "finetune": rows, "soligo": soligo,
                      "revert": rev, "turner_lora_general": turner, "rotation_search": rotation,
                      "rotation_seeds": rot_seeds, "controls": controls})
    return _acceptance_view(config, world, bases, timings, seconds)


def _acceptance_view(config: Config, world: PersonaWorld, bases: list, timings: dict, seconds: float) -> dict:
    """Pool the bases' numbers (every base x seed) into the quantities the tests check."""
    pool = lambda get: [v for b in bases for v in get(b)]
    s = {"seconds": seconds, "timings": timings, "bayes_loss": world.bayes_loss(),
         "n_bases": config.n_bases, "n_seeds": config.n_seeds, "bases": bases}
    s["pretrain_loss"] = _stats(pool(lambda b: [b["base"]["pretrain_loss"]]))
    s["pretrain_gap"] = s["pretrain_loss"]["max"] - s["bayes_loss"]
    for key in ("mis_in", "mis_out", "mis_all_other"):
        s[f"base_{key}"] = _stats(pool(lambda b: [b["base"][key]]))
    rows = {}
    for name in bases[0]["finetune"]:
        rows[name] = {k: _stats(pool(lambda b: b["finetune"][name][k])) for k in bases[0]["finetune"][name]}
    s["finetune"] = rows
    def pair(p: str, field: str, j: int) -> tuple[list, list]:   # general's and narrow's column j, every seed
        return tuple(pool(lambda b: [row[j] for row in b["soligo"][p][kind][field]]) for kind in ("general", "narrow"))

    # efficiency: general < narrow at every matched norm and seed, per factor
    s["efficiency"] = {p: [] for p in PARAMETERISATIONS}
    s["stability"] = {p: [] for p in PARAMETERISATIONS}
    for p in PARAMETERISATIONS:
        for j, f in enumerate(config.norm_factors):
            g, n = pair(p, "matched_loss", j)
            s["efficiency"][p].append({"factor": f, "general": _stats(g), "narrow": _stats(n),
                                       "general_lower_every_seed": all(x < y for x, y in zip(g, n)),
                                       "wins": sum(x < y for x, y in zip(g, n)), "pairs": len(g)})
        for j, eps in enumerate(config.epsilons):
            g, n = pair(p, "R", j)
            s["stability"][p].append({"epsilon": eps, "R_general": _stats(g), "R_narrow": _stats(n),
                                      "gap": float(np.mean(n) - np.mean(g))})
    s["revert"] = {p: {k: pool(lambda b: b["revert"][p][k]) for k in bases[0]["revert"][p]}
                   for p in PARAMETERISATIONS}
    s["turner"] = bases[0]["turner_lora_general"][0]
    s["rotation_search"] = bases[0]["rotation_search"]
    # every base and seed of each rotation-search setting, and of the main general LoRA
    s["rotation_every_seed"] = [pool(lambda b: b["rotation_seeds"][i]) for i in range(len(config.rotation_optimizers))]
    s["turner_every_seed"] = pool(lambda b: b["turner_lora_general"])
    s["controls"] = control_summary([b["controls"] for b in bases])
    s["rotation_seen_anywhere"] = any(r["rotation_seen"] for b in bases for r in b["rotation_search"]) or \
        any(t["rotation_seen"] for b in bases for t in b["turner_lora_general"])
    return s


# --- the contract (experiments/base.py: Experiment) ------------------------------------------

EXPERIMENT = Experiment(NAME, Config, _train_and_measure, about=__doc__.strip().splitlines()[0])
run = EXPERIMENT.run
