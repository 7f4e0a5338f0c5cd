"""Steps per second of the grokking transformer: a plain one-model PyTorch loop vs E models
trained as one batched model through `emergence.train`, measured in the same run.

    python benchmarks/grokking_speed.py                 # both sizes, E = 1, 8, 64
    python benchmarks/grokking_speed.py --size fast --ensembles 1 8

The plain loop is what a reader would write: an nn.Module with nn.Linear layers, one
torch.optim.AdamW, the whole model at every position.  Ratios are time per step of the
ensemble / time per step of the plain loop: 1.0 means E models cost what one model costs.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch
from torch import nn

from emergence.experiments import grokking
from emergence.tasks.modular import modular_addition, pair_tokens
from emergence.train import resolve_device, train

SIZES = {"fast": dict(p=59, train_frac=0.4, d_model=64, d_mlp=256),
         "full": dict(p=113, train_frac=0.3, d_model=128, d_mlp=512)}


class PlainTransformer(nn.Module):
    """Nanda et al.'s one-layer transformer, written the ordinary way (one model)."""

    def __init__(self, p: int, d_model: int, d_mlp: int, n_heads: int = 4):
        super().__init__()
        self.embed = nn.Embedding(p + 1, d_model)
        self.pos = nn.Parameter(torch.randn(3, d_model) / d_model ** 0.5)
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.out = nn.Linear(d_model, d_model, bias=False)
        self.mlp = nn.Sequential(nn.Linear(d_model, d_mlp), nn.ReLU(), nn.Linear(d_mlp, d_model))
        self.unembed = nn.Linear(d_model, p, bias=False)
        self.n_heads = n_heads

    def forward(self, tokens):
        x = self.embed(tokens) + self.pos
        B, T, d = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        attn = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.out(attn.transpose(1, 2).reshape(B, T, d))
        x = x + self.mlp(x)
        return self.unembed(x[:, -1])


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_plain(size: dict, device, steps: int) -> float:
    data = modular_addition(size["p"], size["train_frac"], 0)
    x, y = pair_tokens(data.train_pairs, size["p"]).to(device), data.train_labels.to(device)
    model = PlainTransformer(size["p"], size["d_model"], size["d_mlp"]).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1.0, betas=(0.9, 0.98))

    def step():
        loss = nn.functional.cross_entropy(model(x).double(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(5):
        step()
    sync(device)
    started = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return (time.perf_counter() - started) / steps


def time_ensemble(size: dict, device, n_models: int, steps: int) -> tuple[float, float | None]:
    config = grokking.Config.preset("fast", **size, n_seeds=n_models, sweep_weight_decays=())
    data = modular_addition(config.p, config.train_frac, 0).to(device)
    model = grokking.build_model(config, list(range(n_models))).to(device)
    x, y = grokking.model_inputs(config, data.train_pairs), data.train_labels
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0, betas=(0.9, 0.98))
    run = lambda n: train(model, opt, lambda m, b: grokking.cross_entropy(grokking.logits(m, b[0]), b[1]),
                          lambda s: (x, y), steps=n, log_every=n, weight_decay=torch.ones(n_models),
                          progress=False)
    run(5)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    sync(device)
    started = time.perf_counter()
    run(steps)
    sync(device)
    memory = torch.cuda.max_memory_allocated() / 2 ** 20 if device.type == "cuda" else None
    return (time.perf_counter() - started) / steps, memory


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=["fast", "full", "both"], default="both")
    parser.add_argument("--ensembles", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--seconds", type=float, default=10.0, help="rough time budget per measurement")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = resolve_device(args.device)
    machine = torch.cuda.get_device_name() if device.type == "cuda" else platform.processor() or platform.machine()
    print(f"device {device} ({machine}), torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    rows = []
    for name in (["fast", "full"] if args.size == "both" else [args.size]):
        size = SIZES[name]
        probe = time_plain(size, device, 3)
        plain = time_plain(size, device, max(3, int(args.seconds / probe)))
        row = {"size": name, "plain_ms": round(plain * 1e3, 2)}
        for n in args.ensembles:
            steps = max(3, int(args.seconds / (probe * n if device.type == "cpu" else probe)))
            seconds, memory = time_ensemble(size, device, n, steps)
            row[f"E{n}_ms"] = round(seconds * 1e3, 2)
            row[f"E{n}_ratio"] = round(seconds / plain, 2)
            if memory is not None:
                row[f"E{n}_peak_MiB"] = round(memory)
        rows.append(row)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
