"""Emergent misalignment's fine-tuning: the seeds x variants ensemble of adapters as one batched
module vs a plain loop over one adapter at a time, on the same frozen base, in the same run.

    python benchmarks/emergent_misalignment_speed.py               # fast size, 5 seeds (30 adapters)
    python benchmarks/emergent_misalignment_speed.py --seeds 1 5 20

Both sides run the chapter's own step: Adam on the adapters, loss = CE on the 8 fine-tuning
pairs + kl_weight * KL on the 40 KL-set questions.  The plain loop builds one `PersonaAdapters` with a
single LoRA or steering member per model and steps them one after another.  The base is freshly
initialised (the step's cost does not depend on its weights).  ratio = batched / plain time per
step: below 1, the ensemble is faster.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from emergence.experiments import emergent_misalignment as em
from emergence.models import PersonaMLP
from emergence.models.persona_mlp import AssistantView, PersonaAdapters
from emergence.tasks.personas import Splits
from emergence.train import resolve_device


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def setup(config, device):
    world = config.world()
    model = PersonaMLP(world.n_personas, world.n_all_questions, world.n_answers, config.embed, config.width,
                       config.depth, [0]).to(device)
    base = model.member(0)
    view = AssistantView(base, world, Splits.of(world, config.train_fraction))
    return base, view


def step_time(adapter_sets, view, members, config, steps, device) -> float:
    """Seconds per step of training every adapter set in `adapter_sets` (one after another)."""
    jobs = []
    for adapters, rows in adapter_sets:
        train_q = view.every[view.index["train"]]
        labels = torch.stack([2 * train_q + (0 if members[i]["kind"] == "control" else 1) for i in rows])
        kl = torch.tensor([config.kl_weight if members[i]["kind"] == "narrow" else 0.0 for i in rows], device=device)
        params = [p for p in adapters.parameters() if p.requires_grad]
        jobs.append((adapters, torch.optim.Adam(params, lr=config.finetune_lr), labels, kl))
    sync(device)
    started = time.perf_counter()
    for _ in range(steps):
        for adapters, optimizer, labels, kl in jobs:
            loss = em.finetune_losses(view, adapters.logits, labels, kl)[0].sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    sync(device)
    return (time.perf_counter() - started) / steps


def measure(n_seeds: int, steps: int, device) -> dict:
    config = em.Config.preset("fast", n_seeds=n_seeds)
    base, view = setup(config, device)
    members = em.member_table(n_seeds)
    lora = [i for i, m in enumerate(members) if m["parameterisation"] == "lora"]
    steer = [i for i, m in enumerate(members) if m["parameterisation"] == "steering"]
    batched = [(PersonaAdapters(base, config.width, lora, steer).to(device), lora + steer)]
    plain = [(PersonaAdapters(base, config.width, [i], []).to(device), [i]) for i in lora] + \
            [(PersonaAdapters(base, config.width, [], [i]).to(device), [i]) for i in steer]
    step_time(plain[:2], view, members, config, 5, device)             # warm-up
    plain_s = step_time(plain, view, members, config, steps, device)
    batched_s = step_time(batched, view, members, config, steps, device)
    return {"seeds": n_seeds, "adapters": len(members), "plain_ms": 1e3 * plain_s,
            "batched_ms": 1e3 * batched_s, "ratio": batched_s / plain_s}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 5, 20])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    rows = [measure(n, args.steps, device) for n in args.seeds]
    print(json.dumps({"machine": platform.processor() or platform.machine(), "torch": torch.__version__,
                      "device": str(device), "threads": torch.get_num_threads(), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
