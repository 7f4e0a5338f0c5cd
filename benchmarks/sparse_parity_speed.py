"""The sparse-parity sweep (every n x k x seed of the fast grid) as ONE batched model vs the
same networks trained one at a time with a plain PyTorch loop, measured in the same run.

    python benchmarks/sparse_parity_speed.py [--steps 300] [--device auto]

Both do the same work: `steps` SGD steps of batch 32 per network, fresh data every step.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch
from torch import nn

from emergence.experiments import sparse_parity
from emergence.tasks.sparse_parity import ParityProblems, secret_support
from emergence.train import resolve_device, train


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def plain_loop(n: int, k: int, seed: int, width: int, lr: float, steps: int, device) -> None:
    """What a reader would write for one network."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(n, width), nn.ReLU(), nn.Linear(width, 1)).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    support = torch.tensor(secret_support(n, k, seed), device=device)
    for _ in range(steps):
        x = torch.randint(0, 2, (32, n), device=device).float() * 2 - 1
        y = x[:, support].prod(-1)
        loss = torch.relu(1 - y * model(x).squeeze(-1)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = resolve_device(args.device)
    config = sparse_parity.Config.preset("fast")
    members = config.members()
    machine = torch.cuda.get_device_name() if device.type == "cuda" else platform.processor() or platform.machine()
    print(f"device {device} ({machine}), torch {torch.__version__}, {torch.get_num_threads()} CPU threads, "
          f"{len(members)} networks x {args.steps} steps")

    plain_loop(50, 3, 0, config.width, config.lr, 20, device)       # warm-up
    sync(device)
    started = time.perf_counter()
    for m in members:
        plain_loop(m["n"], m["k"], m["seed"], config.width, config.lr, args.steps, device)
    sync(device)
    one_at_a_time = time.perf_counter() - started

    problems = ParityProblems.make([(m["n"], m["k"], m["seed"]) for m in members], device)
    model = sparse_parity.build_model(config, members).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=config.lr)
    generator = torch.Generator(device=device).manual_seed(0)
    fit = lambda steps: train(model, opt, lambda mod, b: sparse_parity.hinge(mod(b[0]), b[1]),
                              lambda s: problems.sample(32, generator), steps=steps, log_every=steps,
                              progress=False)
    fit(20)
    sync(device)
    started = time.perf_counter()
    fit(args.steps)
    sync(device)
    ensemble = time.perf_counter() - started
    print(json.dumps({"networks": len(members), "steps": args.steps,
                      "one_at_a_time_s": round(one_at_a_time, 2), "ensemble_s": round(ensemble, 2),
                      "ensemble_over_one_at_a_time": round(ensemble / one_at_a_time, 3),
                      "plain_ms_per_network_step": round(one_at_a_time / len(members) / args.steps * 1e3, 3),
                      "ensemble_ms_per_step": round(ensemble / args.steps * 1e3, 3)}))


if __name__ == "__main__":
    main()
