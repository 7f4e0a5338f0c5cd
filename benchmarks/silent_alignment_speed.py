"""Silent alignment's training loop: E init scales as one batched model through
`emergence.train` vs a plain PyTorch loop over E separate models, measured in the same run.

    python benchmarks/silent_alignment_speed.py                # fast size, E = 1, 5, 16
    python benchmarks/silent_alignment_speed.py --width 4096 --ensembles 5

The plain loop is what a reader would write: one nn.Module with two bias-free nn.Linear
layers per model, one torch.optim.SGD each, full-batch gradient descent in float64.  Only
training is timed (the NTK is computed per member either way).  ratio = time of the batched
model / time of E plain models: below 1, the batch is faster.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch
from torch import nn

from emergence.models import HomogeneousMLP
from emergence.tasks.whitened import digits_pair
from emergence.train import resolve_device, train


class PlainMLP(nn.Module):
    def __init__(self, d: int, width: int, sigma: float):
        super().__init__()
        self.hidden = nn.Linear(d, width, bias=False)
        self.out = nn.Linear(width, 1, bias=False)
        nn.init.normal_(self.hidden.weight, std=sigma / d ** 0.5)
        nn.init.normal_(self.out.weight, std=sigma / width ** 0.5)

    def forward(self, x):
        return self.out(torch.relu(self.hidden(x))).squeeze(-1)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def sigmas(n: int) -> list[float]:
    return [10.0 ** -(2 + 2 * i / max(n - 1, 1)) for i in range(n)]   # 1e-2 ... 1e-4


def time_plain(x, y, width, n_models, steps, device) -> float:
    models = [PlainMLP(x.shape[1], width, s).double().to(device) for s in sigmas(n_models)]
    optimizers = [torch.optim.SGD(m.parameters(), lr=0.05) for m in models]
    sync(device)
    started = time.perf_counter()
    for _ in range(steps):
        for model, optimizer in zip(models, optimizers):
            loss = 0.5 * ((model(x) - y) ** 2).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    sync(device)
    return (time.perf_counter() - started) / steps


def time_batched(x, y, width, n_models, steps, device) -> float:
    model = HomogeneousMLP(x.shape[1], width, [0] * n_models, sigmas(n_models), dtype=torch.float64).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    sync(device)
    started = time.perf_counter()
    train(model, optimizer, lambda m, _: 0.5 * ((m(x) - y) ** 2).mean(-1), lambda step: None,
          steps=steps, log_every=steps, progress=False)
    sync(device)
    return (time.perf_counter() - started) / steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--ensembles", type=int, nargs="+", default=[1, 5, 16])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = resolve_device(args.device)
    machine = torch.cuda.get_device_name() if device.type == "cuda" else platform.processor() or platform.machine()
    print(f"device {device} ({machine}), torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    data = digits_pair()
    x, y = data.x_train.to(device), data.y_train.to(device)
    for n in args.ensembles:
        time_plain(x, y, args.width, n, 5, device)        # warm-up
        time_batched(x, y, args.width, n, 5, device)
        plain = time_plain(x, y, args.width, n, args.steps, device)
        batched = time_batched(x, y, args.width, n, args.steps, device)
        print(json.dumps({"width": args.width, "models": n, "plain_ms_per_step": round(plain * 1e3, 2),
                          "batched_ms_per_step": round(batched * 1e3, 2), "ratio": round(batched / plain, 2)}))


if __name__ == "__main__":
    main()
