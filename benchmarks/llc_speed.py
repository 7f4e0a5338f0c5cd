"""The LLC estimator: every chain of every checkpoint as ONE batched SGLD computation
(`emergence.measures.llc.estimate_llc`) vs a plain sequential SGLD loop, one chain at a time
(`sequential_sgld_llc`: autograd, the same update, devinterp's computational structure), at
equal settings, measured in the same run.

    python benchmarks/llc_speed.py                       # the chapter's deep linear network and an MLP
    python benchmarks/llc_speed.py --checkpoints 20 --chains 4 --steps 400

Both sample full batch with the same ε, nβ, γ and number of steps; only the sampling is
timed.  ratio = batched time / sequential time (below 1: batching pays).  The sequential loop
is timed on a few chains and scaled to checkpoints × chains (its cost is linear in them).
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch
from torch import nn

from emergence.experiments.llc_validation import dln_case, dln_loss
from emergence.measures.llc import estimate_llc, model_loss, sequential_sgld_llc, stack_params
from emergence.train import resolve_device


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def mlp_problem(device, width: int = 200, n: int = 1000, d: int = 64, classes: int = 10):
    """A ~15k-parameter MLP classifier on random data (what the grokking MLP's LLC costs)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, d, generator=gen).to(device)
    y = torch.randint(classes, (n,), generator=gen).to(device)
    model = nn.Sequential(nn.Linear(d, width), nn.ReLU(), nn.Linear(width, classes)).to(device)
    params = {k: v.detach() for k, v in model.named_parameters()}
    return model_loss(model, nn.functional.cross_entropy), params, (x, y)


def dln_problem(device):
    params, data, _ = dln_case(4, 3, 5, 2, 1000, torch.Generator().manual_seed(0), device)
    return dln_loss, {k: v[0] for k, v in params.items()}, data


def measure(name, loss_fn, params, data, args, device) -> dict:
    settings = dict(epsilon=1e-4, gamma=100.0, nbeta=100.0)
    stacked = stack_params([params] * args.checkpoints)
    estimate_llc(loss_fn, stacked, data, chains=args.chains, burnin=0, draws=10, warn=False, **settings)
    sync(device)
    t = time.perf_counter()
    estimate_llc(loss_fn, stacked, data, chains=args.chains, burnin=0, draws=args.steps, warn=False,
                 **settings)
    sync(device)
    batched = time.perf_counter() - t
    timed_chains = min(args.sequential_chains, args.checkpoints * args.chains)
    t = time.perf_counter()
    for seed in range(timed_chains):
        sequential_sgld_llc(loss_fn, params, data, burnin=0, draws=args.steps, seed=seed, **settings)
    sync(device)
    sequential = (time.perf_counter() - t) * args.checkpoints * args.chains / timed_chains
    chain_steps = args.checkpoints * args.chains * args.steps
    return dict(problem=name, params=sum(v.numel() for v in params.values()),
                checkpoints=args.checkpoints, chains=args.chains, steps=args.steps,
                batched_s=batched, sequential_s=sequential, ratio=batched / sequential,
                batched_us_per_chain_step=1e6 * batched / chain_steps,
                sequential_us_per_chain_step=1e6 * sequential / chain_steps)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", type=int, default=20)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--sequential-chains", type=int, default=8, help="chains actually timed in the loop")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    print(json.dumps(dict(machine=platform.processor() or platform.machine(), torch=torch.__version__,
                          device=str(device), threads=args.threads)))
    for name, (loss_fn, params, data) in [("deep linear 4x3x5 (27 params)", dln_problem(device)),
                                          ("MLP 64-200-10 (15k params)", mlp_problem(device))]:
        print(json.dumps(measure(name, loss_fn, params, data, args, device)))


if __name__ == "__main__":
    main()
