"""In-context learning as competing algorithms on a mixture of Markov chains.
(Park, Lubana, Pres and Tanaka 2025; Edelman, Edelman, Goel, Malach and Tsilivis 2024.)

`run(config)` trains one small transformer per (number of training chains N, replicate) as ONE
ensemble, every member on sequences from its own N chains.  At log-spaced checkpoints it reads
each member's next-state distributions on held-out sequences from its own chains (in
distribution) and from fresh chains (out of distribution), and compares them with the four
reference algorithms (`measures.icl_algorithms`): the KL from each, the closest one (the
member's *phase*), and the convex mixture of the four that fits the model best.  The summary
holds the phase diagram (N x step), the losses over training, where the out-of-distribution
loss has its minimum and how far it rises after, and the KL by context length.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from emergence.config import ExperimentConfig, require, require_int, require_number
from emergence.experiments.base import Experiment, Run
from emergence.measures.icl_algorithms import ALGORITHMS, algorithm_predictions, kl, mixture_weights
from emergence.models.transformer import Transformer, TransformerConfig
from emergence.tasks.markov_mixture import MarkovMixture, walk
from emergence.train import train

NAME = "icl_competition"
RETRIEVAL = ("uni_ret", "bi_ret")
OOD_SEED = 7_000_003          # the fresh chains every member is tested on


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Defaults are the `fast` profile (a few minutes on two CPU cores); `full` is the authors'
    model and context length for a GPU."""

    states: int = 4
    chains: tuple[int, ...] = (4, 16, 64, 256)   # N, the number of training chains per member
    replicates: int = 1                           # members per N (other chains, other init)
    seq_len: int = 64
    d_model: int = 32
    n_heads: int = 2
    n_layers: int = 2
    d_mlp: int = 128                              # 0 = attention only
    lr: float = 2e-3
    weight_decay: float = 0.1
    batch: int = 32
    steps: int = 3000
    evals: int = 24                               # log-spaced checkpoints read against the algorithms
    eval_sequences: int = 64
    min_context: int = 8                          # predictions after fewer states are not read
    seed: int = 0

    PRESETS = {
        "fast": {},
        # Park et al.'s model (2 layers, width 64, 4 heads, an MLP), 10 states, context 512
        "full": dict(states=10, chains=(4, 16, 64, 256, 1024), replicates=3, seq_len=512, d_model=64,
                     n_heads=4, d_mlp=256, lr=6e-4, batch=128, steps=100_000, evals=48, eval_sequences=128,
                     min_context=32),
    }

    def check(self) -> None:
        require_int(self, "states", 2, 64)
        require(len(self.chains) >= 2 and all(1 <= n <= 100_000 for n in self.chains)
                and list(self.chains) == sorted(set(self.chains)), "chains", self.chains,
                "at least 2 increasing integers from 1 to 100000")
        require_int(self, "replicates", 1, 64)
        require_int(self, "seq_len", 8, 4096)
        require_int(self, ("d_model", "n_heads", "n_layers"), 1, 4096)
        require(self.d_model % self.n_heads == 0, "n_heads", self.n_heads, f"a divisor of d_model={self.d_model}")
        require_int(self, "d_mlp", 0, 65536)
        require_number(self, "lr", 0, 1)
        require_number(self, "weight_decay", 0, 10, low_open=False)
        require_int(self, ("batch", "eval_sequences"), 1, 100_000)
        require_int(self, "steps", 10, 10_000_000)
        require_int(self, "evals", 3, 1000)
        require(0 <= self.min_context < self.seq_len - 1, "min_context", self.min_context,
                f"an integer from 0 to seq_len - 2 = {self.seq_len - 2}")

    def eval_steps(self) -> list[int]:
        """0, then `evals - 1` log-spaced steps up to `steps` (distinct integers)."""
        return sorted({0, *np.unique(np.geomspace(10, self.steps, self.evals - 1).round().astype(int)).tolist()})

    def members(self) -> list[tuple[int, int]]:
        """(N, replicate) of every member, N outermost."""
        return [(n, r) for n in self.chains for r in range(self.replicates)]


def _tasks(config: Config) -> list[MarkovMixture]:
    return [MarkovMixture(config.states, n, config.seq_len, config.seed + r) for n, r in config.members()]


def _batches(config: Config, chains: list[torch.Tensor]):
    """Each step's (E, batch, seq_len) sequences: member e's from its own chains, all walked at once."""
    transitions = torch.cat(chains)
    sizes = torch.tensor([len(c) for c in chains])
    offsets = sizes.cumsum(0) - sizes
    g = torch.Generator().manual_seed(config.seed + 1)
    E = len(chains)

    def next_batch(step: int) -> torch.Tensor:
        pick = (torch.rand(E, config.batch, generator=g) * sizes[:, None]).long()
        chain = (offsets[:, None] + pick).reshape(-1)
        return walk(transitions, chain, config.seq_len, g).view(E, config.batch, config.seq_len)
    return next_batch


def _held_out(config: Config, tasks: list[MarkovMixture], chains: list[torch.Tensor]) -> dict:
    """Held-out sequences with their generating chains: in distribution (each member's own chains,
    visited in turn) and out of distribution (fresh chains, the same for every member)."""
    g = torch.Generator().manual_seed(config.seed + 2)
    ids, truths = [], []
    for T in chains:
        chain = torch.arange(config.eval_sequences) % len(T)
        x = walk(T, chain, config.seq_len, g)
        ids.append(x)
        truths.append(_true_next(x, T[chain]))
    ood, fresh = tasks[0].fresh(config.eval_sequences, OOD_SEED + config.seed)
    return {"id": torch.stack(ids), "id_truth": truths, "ood": ood, "ood_truth": _true_next(ood, fresh)}


def _true_next(x: torch.Tensor, chains: torch.Tensor) -> torch.Tensor:
    """(B, L, k): the generating chain's row for each position's state."""
    return chains[torch.arange(len(x))[:, None], x]


def _read(config: Config, model: Transformer, data: dict, refs: list[dict]) -> dict[str, np.ndarray]:
    """One checkpoint against the algorithms: per member the KL from each algorithm (id, ood),
    the cross-entropies, the mixture weights and the KL by context length (id).  The model reads
    what training feeds it, all states but the last (whose position training never reaches), so
    positions 0 .. L-2 are compared; `refs` are the algorithms' predictions after those prefixes."""
    start = config.min_context
    with torch.no_grad():
        log_id = model(data["id"][:, :, :-1].to(_device(model))).log_softmax(-1).cpu().double()
        log_ood = model(data["ood"][:, :-1].to(_device(model))).log_softmax(-1).cpu().double()
    out = {name: [] for name in ("kl_id", "kl_ood", "kl_id_by_position", "weights", "ce_id", "ce_ood",
                                 "excess_id", "excess_ood")}
    for e, ref in enumerate(refs):
        p_id, p_ood = log_id[e].exp(), log_ood[e].exp()
        by_position = torch.stack([kl(ref["id"][a], p_id).mean(0) for a in ALGORITHMS])    # (A, L)
        out["kl_id_by_position"].append(by_position)
        out["kl_id"].append(by_position[:, start:].mean(-1))
        out["kl_ood"].append(torch.stack([kl(ref["ood"][a][:, start:], p_ood[:, start:]).mean() for a in ALGORITHMS]))
        out["weights"].append(mixture_weights(p_id[:, start:], [ref["id"][a][:, start:] for a in ALGORITHMS]))
        for split, logp, x, truth in (("id", log_id[e], data["id"][e], data["id_truth"][e]),
                                      ("ood", log_ood[e], data["ood"], data["ood_truth"])):
            ce = -logp[:, start:].gather(-1, x[:, start + 1:, None]).mean()
            floor = -truth[:, start:-1].gather(-1, x[:, start + 1:, None]).clamp_min(1e-300).log().mean()
            out[f"ce_{split}"].append(ce)
            out[f"excess_{split}"].append(ce - floor)
    return {name: torch.stack(values).float().numpy() for name, values in out.items()}


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def _compute(config: Config, device: torch.device) -> Run:
    tasks = _tasks(config)
    chains = [t.transitions() for t in tasks]
    data = _held_out(config, tasks, chains)
    refs = [{"id": algorithm_predictions(data["id"][e][:, :-1], T), "ood": algorithm_predictions(data["ood"][:, :-1], T)}
            for e, T in enumerate(chains)]
    cfg = TransformerConfig(d_vocab=config.states, n_ctx=config.seq_len, d_model=config.d_model,
                            n_heads=config.n_heads, d_head=config.d_model // config.n_heads,
                            n_layers=config.n_layers, d_mlp=config.d_mlp, layer_norm=True)
    model = Transformer(cfg, [1000 * (config.seed + r) + i for i, (_, r) in enumerate(config.members())]).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, betas=(0.9, 0.95),
                                  weight_decay=config.weight_decay)
    next_batch = _batches(config, chains)

    def next_state_loss(m: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        x = x.to(device)
        logits = m(x[:, :, :-1])
        return torch.nn.functional.cross_entropy(logits.flatten(0, 2), x[:, :, 1:].flatten(),
                                                 reduction="none").view(x.shape[0], -1).mean(-1)

    steps = config.eval_steps()
    result = train(model, optimizer, next_state_loss, next_batch, steps=config.steps,
                   log_every=max(1, config.steps // 50), checkpoint_steps=steps, desc=NAME)
    reads = []
    for step in steps:
        model.load_state_dict({name: w.to(device) for name, w in result.checkpoints[step].items()})
        reads.append(_read(config, model, data, refs))
    history = {name: torch.from_numpy(np.stack([r[name] for r in reads])) for name in reads[0]}
    history["step"] = torch.tensor(steps, dtype=torch.float64)
    history["train_loss"] = result.history["train_loss_step"]
    history["train_step"] = torch.tensor(result.steps, dtype=torch.float64)
    return Run(NAME, config.to_dict(), _summarize(config, history), history)


def _summarize(config: Config, h: dict[str, torch.Tensor]) -> dict:
    steps = h["step"].numpy()
    kl_id, ce_ood, excess_ood = h["kl_id"].numpy(), h["ce_ood"].numpy(), h["excess_ood"].numpy()
    phase = kl_id.argmin(-1)                                                   # (S, E)
    fresh_phase = h["kl_ood"].numpy().argmin(-1)
    bi_inf = ALGORITHMS.index("bi_inf")
    members = config.members()
    per_member = []
    for e, (n, r) in enumerate(members):
        low = int(np.argmin(excess_ood[:, e]))
        per_member.append({
            "chains": n, "replicate": r,
            "phases": [ALGORITHMS[a] for a in phase[:, e]],
            "final_phase": ALGORITHMS[phase[-1, e]],
            "bi_inf_steps": [int(s) for s in steps[phase[:, e] == bi_inf]],
            # an in-context ability that appears, then gives way to memory: Bi-Inf closest at some
            # checkpoint, a retrieval algorithm at the end
            "transient": bool((phase[:, e] == bi_inf).any() and ALGORITHMS[phase[-1, e]] in RETRIEVAL),
            "fresh_phases": [ALGORITHMS[a] for a in fresh_phase[:, e]],
            "fresh_transient": bool((fresh_phase[:, e] == bi_inf).any() and ALGORITHMS[fresh_phase[-1, e]] in RETRIEVAL),
            "ood_min_step": int(steps[low]), "ood_min_excess": float(excess_ood[low, e]),
            "ood_final_excess": float(excess_ood[-1, e]),
            "ood_rise": float(excess_ood[low:, e].max() - excess_ood[low, e]),
            "final_ce_id": float(h["ce_id"][-1, e]), "final_ce_ood": float(ce_ood[-1, e]),
            "final_weights": dict(zip(ALGORITHMS, map(float, h["weights"][-1, e]))),
        })
    smallest = [m for m in per_member if m["chains"] == config.chains[0]]
    largest = [m for m in per_member if m["chains"] == config.chains[-1]]
    return {
        "algorithms": list(ALGORITHMS), "chains": list(config.chains), "eval_steps": [int(s) for s in steps],
        "members": per_member,
        "phase_grid": [[ALGORITHMS[a] for a in phase[:, e]] for e in range(len(members))],
        "distinct_phases": sorted({ALGORITHMS[a] for a in phase.reshape(-1)}),
        "criteria": {
            "smallest_ends_in_retrieval": sum(m["final_phase"] in RETRIEVAL for m in smallest),
            "largest_reaches_bi_inf": sum(bool(m["bi_inf_steps"]) for m in largest),
            "largest_ood_rise_min": min(m["ood_rise"] for m in largest),
            # per replicate: the N whose model shows the transient (in distribution, on fresh chains)
            "transients": [[m["chains"] for m in per_member if m["replicate"] == r and m["transient"]]
                           for r in range(config.replicates)],
            "fresh_transients": [[m["chains"] for m in per_member if m["replicate"] == r and m["fresh_transient"]]
                                 for r in range(config.replicates)],
            "replicates": config.replicates,
        },
    }


# --- the contract (experiments/base.py: Experiment) ------------------------------------------

EXPERIMENT = Experiment(NAME, Config, _compute, about=__doc__.strip().splitlines()[0])
run = EXPERIMENT.run
