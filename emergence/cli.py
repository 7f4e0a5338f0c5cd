"""Command line: run a chapter's experiment headless.

    python -m emergence list
    python -m emergence run grokking --profile fast --set p=97 --set weight_decay=0.3 --out out/
    python -m emergence config grokking --profile full      # print the resolved settings
    python -m emergence cache ls                             # cached runs; `cache prune` drops stale ones
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from emergence import cache
from emergence.experiments import EXPERIMENTS, ConfigError, get
from emergence.config import choose_profile


def _parse_sets(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {pair!r} is not allowed: write --set key=value")
        out[key.strip()] = value.strip()
    return out


def _config(args):
    experiment = get(args.name)
    profile, note = choose_profile(args.profile, args.name)
    if note:                   # why `auto` did not pick full on this GPU, and how to ask for it
        print(note, file=sys.stderr)
    return experiment, experiment.Config.preset(profile, **_parse_sets(args.set))


def write_outputs(run, out: Path) -> None:
    """summary.json and history.npz, each written to a temporary name and then renamed."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".summary.json.tmp", "w") as f:
        json.dump(run.summary, f, indent=1)
    with open(out / ".history.npz.tmp", "wb") as f:
        np.savez(f, **{k: v.numpy() for k, v in run.history.items()})
    os.replace(out / ".summary.json.tmp", out / "summary.json")
    os.replace(out / ".history.npz.tmp", out / "history.npz")


def _cache_command(action: str, everything: bool) -> int:
    if action == "ls":
        print(cache.describe(cache.entries()))
    else:
        removed = cache.prune(everything=everything)
        print(f"removed {len(removed)} entries ({sum(e['bytes'] for e in removed) / 1e6:.1f} MB) from {cache.cache_dir()}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emergence", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list the experiments")
    for name, text in (("run", "train (or load from the cache) and write the results"),
                       ("config", "print the resolved settings without running")):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("name", help="experiment: " + ", ".join(EXPERIMENTS))
        sub.add_argument("--profile", default="auto", help="auto (default), fast or full")
        sub.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                         help="override one setting; repeatable")
        if name == "run":
            sub.add_argument("--out", type=Path, help="folder for summary.json and history.npz")
            sub.add_argument("--no-cache", action="store_true", help="recompute even if cached")
    sub = commands.add_parser("cache", help="list the run cache, or prune what this code cannot use")
    sub.add_argument("action", choices=("ls", "prune"))
    sub.add_argument("--all", action="store_true", help="prune: remove every entry")
    args = parser.parse_args(argv)

    if args.command == "cache":
        return _cache_command(args.action, args.all)
    try:
        if args.command == "list":
            for name, experiment in EXPERIMENTS.items():
                print(f"{name:22s} {experiment.about}")
            return 0
        experiment, config = _config(args)
        if args.command == "config":
            print(json.dumps(config.to_dict(), indent=1))
            return 0
        run = experiment.run(config, use_cache=not args.no_cache)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.out:
        write_outputs(run, args.out)
    print(json.dumps({k: v for k, v in run.summary.items() if k not in ("config", "members")}, indent=1))
    return 0
