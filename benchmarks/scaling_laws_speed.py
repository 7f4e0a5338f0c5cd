"""The scaling-laws sweep's training loop: every width as ONE batched, masked model through
`emergence.train` vs a plain PyTorch loop over one model per width, measured in the same run.

    python benchmarks/scaling_laws_speed.py                      # the fast grid: widths 8 ... 128, 2 seeds
    python benchmarks/scaling_laws_speed.py --widths 16 32 64 128 256 512 1024 --seeds 3 --batch 2048

The plain loop is what a reader would write: an nn.Sequential(Linear, ReLU, Linear) per width,
one torch.optim.Adam each, the same multitask-parity batch for all.  Only training is timed.
ratio = time of the batched model / time of the plain loop: below 1, the batch is faster.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch
from torch import nn

from emergence.models import WidthMLP
from emergence.tasks.multitask_parity import MultitaskParity
from emergence.train import resolve_device, train


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def batches(task, batch, steps, device):
    generator = torch.Generator(device=device).manual_seed(0)
    return [task.sample(batch, generator) for _ in range(steps)]


def time_plain(task, widths, data, device) -> float:
    models = [nn.Sequential(nn.Linear(task.n_inputs, w), nn.ReLU(), nn.Linear(w, 2)).to(device) for w in widths]
    optimizers = [torch.optim.Adam(m.parameters(), lr=3e-3) for m in models]
    sync(device)
    started = time.perf_counter()
    for x, y in data:
        for model, optimizer in zip(models, optimizers):
            loss = nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    sync(device)
    return time.perf_counter() - started


def time_batched(task, widths, data, device) -> float:
    model = WidthMLP(task.n_inputs, widths, 2, list(range(len(widths)))).to(device)

    def loss_fn(m, batch):
        x, y = batch
        logits = m(x)
        return nn.functional.cross_entropy(logits.transpose(1, 2), y.expand(len(widths), -1),
                                           reduction="none").mean(-1)

    sync(device)
    started = time.perf_counter()
    train(model, torch.optim.Adam(model.parameters(), lr=3e-3), loss_fn, lambda step: data[step - 1],
          steps=len(data), log_every=len(data), progress=False)
    sync(device)
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[8, 16, 32, 64, 128])
    parser.add_argument("--seeds", type=int, default=2, help="copies of every width (the fast run has 2)")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--n-tasks", type=int, default=32)
    parser.add_argument("--n-bits", type=int, default=12)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    task = MultitaskParity.make(args.n_tasks, args.n_bits, 3, 1.4, 0.05)
    data = batches(task, args.batch, args.steps, device)
    widths = args.widths * args.seeds
    time_batched(task, widths, data[:20], device)                 # warm-up
    time_plain(task, widths, data[:20], device)
    plain = time_plain(task, widths, data, device)
    batched = time_batched(task, widths, data, device)
    print(json.dumps({
        "machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
                   f"{args.threads} thread(s), device {device}",
        "widths": args.widths, "seeds": args.seeds, "batch": args.batch, "steps": args.steps,
        "plain_s": round(plain, 3), "batched_s": round(batched, 3),
        "plain_ms_per_step": round(1000 * plain / args.steps, 3),
        "batched_ms_per_step": round(1000 * batched / args.steps, 3),
        "ratio_batched_over_plain": round(batched / plain, 3),
    }, indent=1))


if __name__ == "__main__":
    main()
