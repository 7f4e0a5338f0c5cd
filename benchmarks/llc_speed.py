"""The LLC estimator over a training trajectory: every chain of every checkpoint as ONE batched
SGLD computation (`emergence.measures.llc.llc_over_training`, under `llc_trajectory`, the chapters' path) vs
one chain at a time, at equal settings, on the same machine, in the same run.

    python benchmarks/llc_speed.py --threads 2             # the grokking trajectory (default)
    python benchmarks/llc_speed.py --threads 2 --synthetic # also the old vmap cases (slow)

The default case: 16 evenly spaced checkpoints of the grokking `fast` run's first seed (the
one-layer transformer, ~57k parameters, n = 1392 training pairs; trained once and cached in
EMERGENCE_CACHE_DIR), λ̂ at every one with the chapter's SGLD settings (ε, γ, nβ = n / log n,
burn-in, draws, minibatch 128) and 4 chains.  Three estimators:

* ours: `llc_over_training`: 16 × 4 = 64 rows of one batched Transformer, one forward and one
  backward per SGLD step for all of them;
* loop: `sequential_sgld_llc(batch_size=...)`: a plain autograd loop, one chain at a time;
* devinterp 2.0.1 (`devinterp.slt.llc.llc`), one checkpoint at a time, if it is installed
  (benchmarks/requirements-llc.txt, in a separate environment: see benchmarks/README.md).

Only the estimation is timed (not training or loading).  λ̂ is compared the same way for all
three: nβ × (post-burn-in mean of the recorded losses − full-batch L_n(w*)); devinterp's own
`llc_mean` (burn-in included, L(w*) from minibatches) is printed beside it.  Two estimates of a
checkpoint agree when they differ by at most √(s₁² + s₂²), s the spread (std) over chains.
The script ends with ready-to-paste markdown rows for benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
import warnings

os.environ.setdefault("TQDM_DISABLE", "1")              # devinterp's per-chain progress bars

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.func import functional_call  # noqa: E402

from emergence.experiments import grokking  # noqa: E402
from emergence.measures.llc import (LLCWarning, default_nbeta, estimate_llc, llc_over_training, model_loss,  # noqa: E402
                                    sequential_sgld_llc, stack_params)
from emergence.tasks.modular import modular_addition  # noqa: E402
from emergence.train import resolve_device  # noqa: E402


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def machine_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor() or platform.machine()
    return f"{os.cpu_count()}-core {cpu}"


# --- the grokking trajectory ------------------------------------------------------------------

def grokking_problem(device, checkpoint_file: str | None):
    """The cached fast run's checkpoints (first seed), its training set and the chapter's settings.
    The run cache is keyed on the package's source, so `checkpoint_file` can keep the checkpoints
    across edits: loaded if it exists, else written after the run."""
    config = grokking.Config.preset("fast")
    if checkpoint_file and os.path.exists(checkpoint_file):
        run = argparse.Namespace(checkpoints=torch.load(checkpoint_file)["checkpoints"])
    else:
        run = grokking.run(config)
        if checkpoint_file:
            torch.save({"config": run.config, "checkpoints": run.checkpoints}, checkpoint_file)
    data = modular_addition(config.p, config.train_frac, config.data_seed).to(device)
    x, y = grokking.model_inputs(config, data.train_pairs), data.train_labels
    checkpoints = {int(step): {k: v.to(device) for k, v in state.items()} for step, state in run.checkpoints.items()}
    return config, checkpoints, (x, y)


def answer_loss(model, batch):
    """One loss per member: the grokking chapter's (float64) cross-entropy on the answer."""
    return grokking.cross_entropy(grokking.logits(model, batch[0]), batch[1])


class Answer(nn.Module):
    """A one-member grokking Transformer as a plain module: (N, 3) tokens -> (N, p) logits."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, tokens):
        return grokking.logits(self.model, tokens)[0]


def devinterp_loss(model, input_ids):
    """devinterp's per-token loss (N, seq - 1) for rows `a b = c`: the answer's cross-entropy,
    repeated at the three positions so that its mean over tokens is the plain mean over pairs."""
    ce = -model(input_ids[:, :3]).double().log_softmax(-1).gather(-1, input_ids[:, 3:]).squeeze(-1)
    return ce[:, None].expand(-1, 3)


def run_ours(config, checkpoints, data, count, chains, settings, device, mean_loss):
    sync(device)
    t = time.perf_counter()
    steps, r = llc_over_training(checkpoints, lambda rows: grokking.build_model(config, [config.seed] * rows),
                                 answer_loss, data, count=count, chains=chains, warn=False,
                                 mean_loss=mean_loss, **settings)
    sync(device)
    return steps, r, time.perf_counter() - t


def one_member(config, state, device):
    model = grokking.build_model(config, [config.seed]).to(device)
    model.load_state_dict({k: v[None] for k, v in state.items()})
    return model


def run_loop(config, checkpoints, steps, data, chains, settings, device):
    """One chain at a time: (K, chains) λ̂ and the seconds it took."""
    out = np.zeros((len(steps), chains))
    seconds = 0.0
    for i, step in enumerate(steps):
        model = one_member(config, checkpoints[step], device)
        params = {k: v.detach() for k, v in model.named_parameters()}
        loss_fn = lambda p, batch: grokking.cross_entropy(  # noqa: E731
            functional_call(model, p, (batch[0],), {"last_position_only": True})[:, :, -1], batch[1])[0]
        sync(device)
        t = time.perf_counter()
        for c in range(chains):
            out[i, c] = sequential_sgld_llc(loss_fn, params, data, seed=1000 * i + c, **settings)
        sync(device)
        seconds += time.perf_counter() - t
    return out, seconds


def run_devinterp(config, checkpoints, steps, data, chains, settings, init_loss, device):
    """devinterp's `llc`, one checkpoint at a time: (K, chains) λ̂ computed our way from its loss
    traces, its own llc_mean per checkpoint, and the seconds it took; None if not installed."""
    try:
        from datasets import Dataset
        from devinterp.slt.llc import llc
    except ImportError:
        return None
    x, y = data
    dataset = Dataset.from_dict({"input_ids": torch.cat([x, y[:, None]], 1).cpu().tolist()}).with_format("torch")
    ours_way = np.zeros((len(steps), chains))
    reported = np.zeros(len(steps))
    seconds = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for i, step in enumerate(steps):
            model = Answer(one_member(config, checkpoints[step], device))
            sync(device)
            t = time.perf_counter()
            out = llc(model, dataset, {}, lr=settings["epsilon"], n_beta=settings["nbeta"],
                      localization=settings["gamma"], loss_fn=devinterp_loss, num_chains=chains,
                      num_draws=settings["draws"], num_burnin_steps=settings["burnin"],
                      batch_size=settings["batch_size"], device=str(device), output_path=f"{tmp}/{i}.zarr")
            trace = out.loss_trace.values                          # (chains, burn-in + draws)
            sync(device)
            seconds += time.perf_counter() - t
            ours_way[i] = settings["nbeta"] * (trace[:, settings["burnin"]:].mean(1) - init_loss[i])
            reported[i] = float(out.llc_mean)
    return ours_way, reported, seconds


def agree(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(K,) bool: the chain means differ by at most √(s_a² + s_b²) (two standard errors at 4 chains)."""
    spread = np.sqrt(a.std(1, ddof=1) ** 2 + b.std(1, ddof=1) ** 2)
    return np.abs(a.mean(1) - b.mean(1)) <= spread


def grokking_benchmark(args, device, header):
    config, checkpoints, data = grokking_problem(device, args.checkpoint_file)
    n = len(data[1])
    settings = dict(epsilon=config.llc_epsilon, gamma=config.llc_gamma, nbeta=config.llc_nbeta or default_nbeta(n),
                    burnin=args.burnin if args.burnin is not None else config.llc_burnin,
                    draws=args.draws if args.draws is not None else config.llc_draws,
                    batch_size=args.batch_size if args.batch_size is not None else config.llc_batch_size)
    settings["batch_size"] = settings["batch_size"] or None
    steps, ours, ours_s = run_ours(config, checkpoints, data, args.checkpoints, args.chains, settings, device,
                                   not args.no_mean_loss)
    K, C = len(steps), args.chains
    chain_steps = K * C * (settings["burnin"] + settings["draws"])
    rows = {"ours": (ours.llc_chains, ours_s)}
    loop, loop_s = run_loop(config, checkpoints, steps, data, C, settings, device)
    rows["loop"] = (loop, loop_s)
    di = None if args.no_devinterp else run_devinterp(config, checkpoints, steps, data, C, settings,
                                                      ours.init_loss, device)
    if di is not None:
        rows["devinterp"] = (di[0], di[2])
    params = sum(v.numel() for v in checkpoints[steps[0]].values())
    result = dict(problem="grokking fast, transformer", params=params, n=n, checkpoints=K, chains=C,
                  epochs=steps, settings=settings, chain_steps=chain_steps)
    for name, (chains_llc, seconds) in rows.items():
        result[name] = dict(seconds=round(seconds, 2), us_per_chain_step=round(1e6 * seconds / chain_steps, 1),
                            llc_mean=np.round(chains_llc.mean(1), 2).tolist(),
                            llc_std=np.round(chains_llc.std(1, ddof=1), 2).tolist())
        if name != "ours":
            ok = agree(ours.llc_chains, chains_llc)
            result[name].update(speedup=round(seconds / ours_s, 2), agree=int(ok.sum()),
                                disagree_at=[steps[i] for i in np.flatnonzero(~ok)])
    if di is not None:
        result["devinterp"]["its_llc_mean_burnin_included"] = np.round(di[1], 2).tolist()
        # the two references against each other: how often chain noise alone "disagrees"
        ok = agree(loop, di[0])
        result["loop_vs_devinterp"] = dict(agree=int(ok.sum()), disagree_at=[steps[i] for i in np.flatnonzero(~ok)])
    for name in ("loop", "devinterp"):
        if name in rows:
            diff = np.abs(ours.llc_mean - rows[name][0].mean(1)) / np.maximum(np.abs(ours.llc_mean), 1e-12)
            result[name]["max_relative_difference"] = round(float(diff.max()), 3)
    print(json.dumps(result))

    def cell(name):
        if name not in result:
            return "not installed", "—", "—"
        r = result[name]
        return (f"{r['seconds']:.1f} s", f"**{r['speedup']:.1f}×**",
                f"{r['agree']}/{K} (max {100 * r['max_relative_difference']:.0f} % apart)")
    loop_c, di_c = cell("loop"), cell("devinterp")
    s = settings
    print("\n| machine | case | ours (one batch) | plain loop | loop / ours | agree (loop) "
          "| devinterp 2.0.1 | devinterp / ours | agree (devinterp) | agree (loop vs devinterp) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    both = f"{result['loop_vs_devinterp']['agree']}/{K}" if "loop_vs_devinterp" in result else "—"
    print(f"| {header} | grokking fast transformer ({params // 1000}k params, n = {n}): {K} checkpoints × "
          f"{C} chains × ({s['burnin']} + {s['draws']}) steps, batch {s['batch_size'] or n}, "
          f"ε = {s['epsilon']:g}, γ = {s['gamma']:g}, nβ = {s['nbeta']:.0f} "
          f"| {ours_s:.1f} s | {loop_c[0]} | {loop_c[1]} | {loop_c[2]} | {di_c[0]} | {di_c[1]} | {di_c[2]} | {both} |")


# --- the old synthetic cases (full batch, the vmap path) ---------------------------------------

def mlp_problem(device, width: int = 200, n: int = 1000, d: int = 64, classes: int = 10):
    """A ~15k-parameter MLP classifier on random data."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, d, generator=gen).to(device)
    y = torch.randint(classes, (n,), generator=gen).to(device)
    model = nn.Sequential(nn.Linear(d, width), nn.ReLU(), nn.Linear(width, classes)).to(device)
    params = {k: v.detach() for k, v in model.named_parameters()}
    return model_loss(model, nn.functional.cross_entropy), params, (x, y)


def dln_problem(device):
    from emergence.tasks.known_llc import dln_case, dln_loss
    params, data, _ = dln_case((5, 3, 4), 2, 1000, torch.Generator().manual_seed(0), device, noise=1.0)
    return dln_loss, {k: v[0] for k, v in params.items()}, data


def measure_synthetic(name, loss_fn, params, data, device, checkpoints=20, chains=4, steps=400,
                      sequential_chains=8) -> dict:
    settings = dict(epsilon=1e-4, gamma=100.0, nbeta=100.0)
    stacked = stack_params([params] * checkpoints)
    estimate_llc(loss_fn, stacked, data, chains=chains, burnin=0, draws=10, warn=False, **settings)
    sync(device)
    t = time.perf_counter()
    estimate_llc(loss_fn, stacked, data, chains=chains, burnin=0, draws=steps, warn=False, **settings)
    sync(device)
    batched = time.perf_counter() - t
    t = time.perf_counter()
    for seed in range(sequential_chains):
        sequential_sgld_llc(loss_fn, params, data, burnin=0, draws=steps, seed=seed, **settings)
    sync(device)
    sequential = (time.perf_counter() - t) * checkpoints * chains / sequential_chains
    chain_steps = checkpoints * chains * steps
    return dict(problem=name, params=sum(v.numel() for v in params.values()), checkpoints=checkpoints,
                chains=chains, steps=steps, batched_s=batched, sequential_s=sequential, ratio=batched / sequential,
                batched_us_per_chain_step=1e6 * batched / chain_steps,
                sequential_us_per_chain_step=1e6 * sequential / chain_steps)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", type=int, default=16)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--burnin", type=int, default=None, help="default: the grokking chapter's")
    parser.add_argument("--draws", type=int, default=None, help="default: the grokking chapter's")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the chapter's; 0 = full batch")
    parser.add_argument("--no-mean-loss", action="store_true",
                        help="ours without the per-sample table of L(w*) (a second forward pass per step)")
    parser.add_argument("--no-devinterp", action="store_true", help="skip devinterp even if installed")
    parser.add_argument("--checkpoint-file", default=None,
                        help="keep the grokking run's checkpoints here (loaded if present)")
    parser.add_argument("--synthetic", action="store_true", help="also the old full-batch vmap cases")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--note", default="", help="appended to the machine cell, e.g. 'idle' or 'under load'")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", category=LLCWarning)
    device = resolve_device(args.device)
    try:
        import devinterp  # noqa: F401
        from importlib.metadata import version
        di_version = version("devinterp")
    except ImportError:
        di_version = None
    where = machine_name() if device.type == "cpu" else torch.cuda.get_device_name(device)
    header = (f"{where}, torch {torch.__version__}, {args.threads} thread(s)"
              + (f", {args.note}" if args.note else "") + f"; {time.strftime('%Y-%m-%d')}")
    print(json.dumps(dict(machine=where, torch=torch.__version__, device=str(device), threads=args.threads,
                          devinterp=di_version)))
    grokking_benchmark(args, device, header)
    if args.synthetic:
        for name, (loss_fn, params, data) in [("deep linear 4x3x5 (27 params)", dln_problem(device)),
                                              ("MLP 64-200-10 (15k params)", mlp_problem(device))]:
            print(json.dumps(measure_synthetic(name, loss_fn, params, data, device)))


if __name__ == "__main__":
    main()
