"""Can we see it coming?  Every chapter's transition read side by side.

`run(config)` trains nothing of its own: it runs every other chapter through its `EXPERIMENT`
(the cache answers when the book has been built) and reads each run the same way
(`emergence.measures.outlook`):

- the lead table: for each chapter, task metric and progress measure, every run's transition of
  the task metric (start, mid, end) and the measure's x50, hence the lead as a fraction of the
  plateau and a verdict (predicts / detects / lags), combined over runs;
- yardstick hygiene: the same lead fractions with the task metric read through its logarithm
  (log loss, log error) and on the other time axis (log steps, or linear scale where the
  chapter's axis is already logarithmic);
- predicted against measured transition times, where a chapter derives one;
- finite size: does the jump's width on a log axis (in units of its position) shrink as the
  system grows?  Sparse parity over n; the mirage's subset accuracy over the subset's length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from emergence.config import PROFILES, ExperimentConfig, require, require_int, resolve_profile
from emergence.experiments.base import Experiment, Run
from emergence.experiments.emergent_misalignment import EXPERIMENT as EMERGENT_MISALIGNMENT
from emergence.experiments.ghost_points import EXPERIMENT as GHOST_POINTS
from emergence.experiments.grokking import EXPERIMENT as GROKKING
from emergence.experiments.icl_competition import EXPERIMENT as ICL_COMPETITION
from emergence.experiments.induction_heads import EXPERIMENT as INDUCTION_HEADS
from emergence.experiments.llc_validation import EXPERIMENT as LLC_VALIDATION
from emergence.experiments.mirage import EXPERIMENT as MIRAGE
from emergence.experiments.scaling_laws import EXPERIMENT as SCALING_LAWS
from emergence.experiments.silent_alignment import EXPERIMENT as SILENT_ALIGNMENT
from emergence.experiments.sparse_parity import EXPERIMENT as SPARSE_PARITY
from emergence.measures.ghost import success
from emergence.measures.icl_algorithms import ALGORITHMS
from emergence.measures.outlook import combine, lead_row, log_width, sharpening, spread, transition
from emergence.measures.quanta import log_log_slope

NAME = "see_it_coming"
SOURCES = (SCALING_LAWS, MIRAGE, SILENT_ALIGNMENT, SPARSE_PARITY, INDUCTION_HEADS, ICL_COMPETITION, GROKKING,
           GHOST_POINTS, EMERGENT_MISALIGNMENT, LLC_VALIDATION)
FINE = 400                 # points of the fine grid on which curves over model scale are read
ERROR_FLOOR = 1e-4         # log(1 - accuracy) is read with the error clipped here


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """The profile the chapters' runs are read under, and the finite-size intervals' bootstrap."""

    profile: str = "auto"      # 'auto' (as the book builds each chapter), 'fast' or 'full'
    draws: int = 2000          # bootstrap draws of each finite-size slope
    level: float = 0.9         # their interval's level
    seed: int = 0

    PRESETS = {"fast": {}, "full": dict(profile="full")}

    def check(self) -> None:
        require(self.profile in ("auto", *PROFILES), "profile", self.profile, f"one of auto, {', '.join(PROFILES)}")
        require_int(self, "draws", 100, 1_000_000)
        require(0.5 <= self.level < 1, "level", self.level, "a number from 0.5 to below 1")
        require_int(self, "seed", 0, 2**31 - 1)


def source_runs(profile: str) -> dict[str, Run]:
    """Every chapter's run under `profile`, from the cache when the book has been built."""
    return {e.name: e.run(e.Config.preset(profile)) for e in SOURCES}


# --- pairs: a task metric and a progress measure, read in every run of a chapter ------------

@dataclass
class Pair:
    """One task metric and one progress measure of a chapter, read in each of its runs.

    runs: (steps, task metric, measure steps, measure) per run, each curve from the run's origin
    on (its first step): the start of training, or of the plateau where the chapter reads one
    (grokking: memorisation; induction heads: the loss settling onto its plateau).  `kind` says
    how the task metric is read through its logarithm: 'loss' (log of it) or 'accuracy' (log of
    1 - it).  `log_axis`: the steps are already log10 of a scale (the other axis is then linear)."""

    chapter: str
    task: str
    measure: str
    kind: str
    axis: str
    runs: list[tuple] = field(default_factory=list)
    log_axis: bool = False


def _alternative(kind: str) -> Callable[[np.ndarray], np.ndarray]:
    if kind == "loss":
        return lambda v: np.log(np.clip(v, 1e-12, None))
    return lambda v: np.log(np.clip(1 - v, ERROR_FLOOR, None))


def _other_axis(pair: Pair, first: float) -> Callable[[float], float]:
    if pair.log_axis:
        return lambda x: 10.0 ** x
    return lambda t: math.log(max(t, first))


def read_pair(pair: Pair) -> dict:
    """The lead table's row for `pair` (`outlook.combine` over its runs), each run's reading with
    its lead fraction under the three other yardsticks (`hygiene`)."""
    readings = []
    for steps, task, msteps, measure in pair.runs:
        t = transition(steps, task)
        m = transition(msteps, measure)
        if t is None or m is None:
            continue
        origin = float(steps[0])
        row = lead_row(t, m["mid"], origin)
        alt = transition(steps, _alternative(pair.kind)(task))
        alt_row = lead_row(alt, m["mid"], origin) if alt is not None else {"lead_fraction": None, "verdict": None}
        f = _other_axis(pair, float(steps[steps > 0][0]) if (steps > 0).any() else 1.0)
        row["hygiene"] = {"log_metric": alt_row["lead_fraction"],
                          "other_axis": _fraction_on(f, t, m["mid"], origin),
                          "log_metric_other_axis": None if alt is None else _fraction_on(f, alt, m["mid"], origin),
                          "log_metric_verdict": alt_row["verdict"]}
        readings.append(row)
    out = {"chapter": pair.chapter, "task_metric": pair.task, "measure": pair.measure, "axis": pair.axis}
    if not readings:
        return {**out, "runs": 0, "verdict": "no transition", "per_run": []}
    hygiene = {k: spread([r["hygiene"][k] for r in readings])["median"]
               for k in ("log_metric", "other_axis", "log_metric_other_axis")}
    return {**out, **combine(readings), "hygiene": hygiene,
            "log_metric_verdicts": sum(r["hygiene"]["log_metric_verdict"] == r["verdict"] for r in readings),
            "per_run": readings}


def _fraction_on(f: Callable, t: dict, measure_x50: float, origin: float) -> float | None:
    plateau = f(t["start"]) - f(origin)
    return (f(t["mid"]) - f(measure_x50)) / plateau if plateau > 0 else None


def _np(tensor) -> np.ndarray:
    return tensor.double().numpy() if hasattr(tensor, "numpy") else np.asarray(tensor, dtype=float)


def _scaling_pairs(run: Run) -> list[Pair]:
    """Each skill the widest models learn: its accuracy against its own loss, over log10 D."""
    h, members = run.history, run.summary["members"]
    x = np.log10(_np(h["D"]))
    widest = max(m["width"] for m in members)
    pair = Pair("scaling_laws", "a skill's accuracy", "the skill's loss", "accuracy", "log10 tokens", log_axis=True)
    for i, m in enumerate(members):
        if m["width"] != widest:
            continue
        acc, loss = _np(h["task_accuracy"][:, i]), _np(h["task_loss"][:, i])
        for skill in np.flatnonzero((acc[-1] >= 0.9) & (acc[0] <= 0.5)):
            pair.runs.append((x, acc[:, skill], x, loss[:, skill]))
    return [pair]


def _fine(x, y):
    grid = np.linspace(x[0], x[-1], FINE)
    return grid, np.interp(grid, x, y)


def _mirage_pairs(run: Run) -> list[Pair]:
    """The digits classifier: accuracy on a whole subset of 10 test digits against the per-digit
    cross-entropy, over log10 of the training-set size, on a fine grid between measured sizes."""
    h = run.history
    x = np.log10(_np(h["digits_n"]))
    pair = Pair("mirage", "subset-of-10 accuracy", "cross-entropy", "accuracy", "log10 examples", log_axis=True)
    for s in range(h["digits_subset_10"].shape[1]):
        pair.runs.append((*_fine(x, _np(h["digits_subset_10"][:, s])), *_fine(x, _np(h["digits_cross_entropy"][:, s]))))
    return [pair]


def _silent_alignment_pairs(run: Run) -> list[Pair]:
    """The σ scan of the headline seed (rich regime, whitened inputs): the training loss against
    the kernel's alignment with the task and its norm."""
    h, cfg = run.history, run.summary["config"]
    steps, ksteps = _np(h["step"]), _np(h["kernel_step"])
    chosen = [i for i, m in enumerate(run.summary["members"])
              if m["regime"] == "rich" and m["inputs"] == "whitened" and m["lr"] == cfg["lr"] and m["seed"] == cfg["seed"]]
    pairs = []
    for key, label in (("alignment", "kernel-task alignment"), ("kernel_norm", "kernel norm")):
        pair = Pair("silent_alignment", "training loss", label, "loss", "step")
        pair.runs = [(steps, _np(h["train_loss"][:, i]), ksteps, _np(h[key][:, i])) for i in chosen]
        pairs.append(pair)
    return pairs


def _sparse_parity_pairs(run: Run) -> list[Pair]:
    """The headline (n, k), every seed: test accuracy against the relevant inputs' weight
    movement, its ratio to the irrelevant inputs', and the slide's max over all inputs."""
    h, s = run.history, run.summary
    steps = _np(h["step"])
    chosen = [i for i, m in enumerate(s["members"]) if m["n"] == s["n"] and m["k"] == s["k"]]
    relevant, irrelevant = _np(h["movement_relevant"]), _np(h["movement_irrelevant"])
    measures = {"relevant inputs' movement": relevant, "relevant / irrelevant movement":
                relevant / np.clip(irrelevant, 1e-12, None), "largest movement (all inputs)": _np(h["movement_max"])}
    pairs = []
    for label, values in measures.items():
        pair = Pair("sparse_parity", "test accuracy", label, "accuracy", "step")
        pair.runs = [(steps, _np(h["test_acc"][:, i]), steps, values[:, i]) for i in chosen]
        pairs.append(pair)
    return pairs


def _ghost_pairs(run: Run) -> list[Pair]:
    """Every successful run of the plain system: its loss against the ghost strength."""
    h, config = run.history, run.summary["config"]
    steps, loss = _np(h["step"]), _np(h["loss"])
    plain = np.arange(loss.shape[1]) < loss.shape[1] // 3          # the first variant of the grid
    tail = steps >= steps[-1] - config["tail"]
    won = np.flatnonzero(plain & success(loss[tail], _np(h["z"])[-1], config["tolerance"]))
    pair = Pair("ghost_points", "loss", "ghost strength (min |dx/dt|)", "loss", "step")
    pair.runs = [(steps, loss[:, i], steps, _np(h["min_speed"])[:, i]) for i in won]
    return [pair]


def _icl_pairs(run: Run) -> list[Pair]:
    """Every model that comes to count transitions (closest to Bi-Inf at some checkpoint), from the
    start of its plateau (the first checkpoint within 10 % of the fresh-chain loss's median before
    Bi-Inf is first closest): that loss (the in-context ability) against Bi-Inf's weight in the
    model's mixture, which is read on its own training chains only."""
    h = run.history
    steps, fresh = _np(h["step"]), _np(h["excess_ood"])
    weight = _np(h["weights"])[:, :, ALGORITHMS.index("bi_inf")]
    pair = Pair("icl_competition", "excess loss on fresh chains", "Bi-Inf's weight (training chains)", "loss", "step")
    for e, m in enumerate(run.summary["members"]):
        before = (steps > 0) & (steps < m["bi_inf_steps"][0]) if m["bi_inf_steps"] else None
        if before is None or not before.any():
            continue
        level = np.median(fresh[before, e])
        start = steps[before][fresh[before, e] <= 1.1 * level][0]
        pair.runs.append((*_from(start, steps, fresh[:, e]), *_from(start, steps, weight[:, e])))
    return [pair]


def _from(start: float, steps, *curves):
    keep = steps >= start
    return (steps[keep], *(c[keep] for c in curves))


def _grokking_pairs(run: Run) -> list[Pair]:
    """Every headline seed from its memorisation on (the plateau the chapter reads): test accuracy
    against the circuit measures, the Fourier sparsity and the weight norm; the LLC on the first
    seed, where it is estimated."""
    h, s = run.history, run.summary
    epochs, ck = _np(h["epoch"]), _np(h["checkpoint_epoch"])
    measures = {"restricted loss": ("restricted_loss_by_seed", ck), "excluded loss": ("excluded_loss_by_seed", ck),
                "Fourier sparsity (Gini)": ("fourier_gini", epochs), "weight norm": ("weight_norm", epochs)}
    pairs = {label: Pair("grokking", "test accuracy", label, "accuracy", "epoch") for label in measures}
    llc = Pair("grokking", "test accuracy", "LLC (first seed)", "accuracy", "epoch")
    for i, seed in enumerate(s["seeds"]):
        start = seed["memorize_epoch"]
        if start is None:
            continue
        task = _from(start, epochs, _np(h["test_acc"][:, i]))
        for label, (key, x) in measures.items():
            pairs[label].runs.append((*task, *_from(start, x, _np(h[key][:, i]))))
        if i == 0 and "llc_mean" in h:
            llc.runs.append((*task, *_from(start, _np(h["llc_step"]), _np(h["llc_mean"]))))
    return [*pairs.values(), llc]


def _induction_pairs(run: Run) -> list[Pair]:
    """Every seed from the start of its plateau (the loss on repeated tokens first falls to its
    plateau within a few logs; the chapter's `plateau_steps_before_drop`): that loss against its
    best previous-token and prefix-matching heads' scores (chosen at the end, as the chapter
    does); the LLC on the first seed."""
    h, seeds = run.history, run.summary["seeds"]
    steps = _np(h["step"])
    prev = Pair("induction_heads", "loss on repeated tokens", "previous-token score", "loss", "step")
    prefix = Pair("induction_heads", "loss on repeated tokens", "prefix-matching score", "loss", "step")
    llc = Pair("induction_heads", "loss on repeated tokens", "LLC (first seed)", "loss", "step")
    for e, seed in enumerate(seeds):
        if seed.get("drop_start") is None or seed.get("plateau_steps_before_drop") is None:
            continue                      # no drop: nothing to read
        start = seed["drop_start"] - seed["plateau_steps_before_drop"]
        task = _from(start, steps, _np(h["loss_repeat"][:, e]))
        prev_head = int(h["prev_token"][-1, e, 0].argmax())
        prefix_head = int(h["prefix_matching"][-1, e, -1].argmax())
        prev.runs.append((*task, *_from(start, steps, _np(h["prev_token"][:, e, 0, prev_head]))))
        prefix.runs.append((*task, *_from(start, steps, _np(h["prefix_matching"][:, e, -1, prefix_head]))))
        if e == 0 and "llc_mean" in h:
            llc.runs.append((*task, *_from(start, _np(h["llc_step"]), _np(h["llc_mean"]))))
    return [prev, prefix, llc]


def _misalignment_pairs(run: Run) -> list[Pair]:
    """The general (no KL) fine-tunings of the first base, rank-1 LoRA and steering vector, every
    seed: misalignment out of domain (P(bad) on the other domains' questions) against the
    update's cosine with the evil-persona direction, its size, and the in-domain misalignment
    (the trained behaviour itself).  The history's columns are parameterisation x kind x seed, in
    the chapter's order (lora, steering) x (general, narrow, control)."""
    h, seeds = run.history, run.summary["n_seeds"]
    steps = _np(h["ft_step"])
    if h["ft_mis_out"].shape[1] != 2 * 3 * seeds:
        raise ValueError("emergent_misalignment's fine-tuning columns are not (lora, steering) x 3 kinds x seeds")
    measures = {"cosine with the evil direction": "ft_cos_evil", "update size": "ft_update_size",
                "misalignment in domain": "ft_mis_in"}
    pairs = []
    for label, key in measures.items():
        pair = Pair("emergent_misalignment", "misalignment out of domain", label, "accuracy", "step")
        for column in [*range(seeds), *range(3 * seeds, 4 * seeds)]:       # lora, steering: general
            pair.runs.append((steps, _np(h["ft_mis_out"][:, column]), steps, _np(h[key][:, column])))
        pairs.append(pair)
    return pairs


# --- predicted against measured transition times ---------------------------------------------

def _prediction(name: str, unit: str, predicted, measured, compares: str, ratio: float | list, fitted: bool) -> dict:
    """One analytic prediction: its points (predicted, measured time) and its agreement ratio
    (measured over predicted: times where the formula has no free constant; exponents where the
    chapter fits the constant, the times then drawn with it)."""
    ratios = np.atleast_1d(np.asarray(ratio, dtype=float))
    return {"name": name, "unit": unit, "predicted": [float(v) for v in predicted],
            "measured": [float(v) for v in measured], "compares": compares, "fitted_constant": fitted,
            "ratio": {"median": float(np.median(ratios)), "min": float(ratios.min()), "max": float(ratios.max())}}


def predictions(runs: dict[str, Run]) -> list[dict]:
    """Every formula for the time of a jump that a chapter derives and its run can check (a
    prediction whose run has no point to check, e.g. no mode learned, is left out)."""
    found = [_saxe(runs["silent_alignment"].summary), _sigma_law(runs["silent_alignment"].summary),
             _quanta(runs["scaling_laws"].summary), _ghost(runs["ghost_points"].summary)]
    return [p for p in found if p is not None]


def _saxe(s: dict) -> dict | None:
    pairs = [(p, m) for seed in (s.get("saxe") or {}).get("seeds", [])
             for p, m in zip(seed["predicted_half_time"], seed["measured_half_time"]) if m is not None]
    if not pairs:
        return None
    pred, meas = np.array(pairs).T
    return _prediction("Saxe: half-time of each mode, (1 / 2 lr s) ln(s / u0)", "steps", pred, meas,
                       "half-times", meas / pred, fitted=False)


def _sigma_law(s: dict) -> dict | None:
    scan = (s.get("init_scaling") or [{}])[0]
    slope = s.get("relu_unit_steps_per_e_fold")
    if not scan.get("steps_per_e_fold") or not slope:
        return None
    x = np.log(1 / np.array(scan["sigmas"]))
    t = np.array(scan["t_loss"], dtype=float)
    intercept = float(np.mean(t - slope * x))          # the formula's slope, the constant fitted
    return _prediction("silent alignment: loss time over ln(1/σ), 1 / (lr s) per e-fold", "steps",
                       slope * x + intercept, t, "steps per e-fold", scan["steps_per_e_fold"] / slope, fitted=True)


def _quanta(s: dict) -> dict | None:
    q = (s.get("quanta") or {}).get("learning_step") or {}
    if not q.get("n") or q.get("slope") is None:
        return None
    p, step = np.array(q["p"]), np.array(q["step"], dtype=float)
    constant = float(np.exp(np.mean(np.log(step * p))))   # t ∝ 1 / p: the constant fitted
    return _prediction("quantization model: a skill's learning step ∝ 1 / p", "steps", constant / p, step,
                       "exponent of p", q["slope"] / -1.0, fitted=True)


def _ghost(s: dict) -> dict | None:
    learned = [(T, r * z) for T, r, z in zip(s["delays"], s["learned_z"]["by_delay"], s["theory"]["z_opt"]) if r is not None]
    if not learned:
        return None
    delays, z = np.array(learned).T
    encoded = math.pi / (2 * np.sqrt(z))              # the crossing time the ghost formula reads off the learned z
    return _prediction("ghost point: crossing time π / (2√z) of the learned z", "time units",
                       encoded, delays, "delays", delays / encoded, fitted=False)


# --- finite size: does the jump sharpen as the system grows? ---------------------------------

def finite_size(runs: dict[str, Run], config: Config) -> list[dict]:
    """Sparse parity's jump over n (each k with a plateau at >= 3 sizes), and the mirage's subset
    accuracy over the subset's length: on the digits, with the widths that the per-digit
    accuracy alone predicts (acc^L), and in the analytic model (exact: no interval)."""
    boot = dict(draws=config.draws, seed=config.seed, level=config.level)
    out = []
    sp = runs["sparse_parity"]
    h, s = sp.history, sp.summary
    steps = _np(h["step"])
    for k in sorted({m["k"] for m in s["members"]}):
        sizes, widths = [], []
        for n in sorted({m["n"] for m in s["members"]}):
            ts = [transition(steps, _np(h["test_acc"][:, i])) for i, m in enumerate(s["members"]) if (m["n"], m["k"]) == (n, k)]
            w = [log_width(t) for t in ts if t is not None and steps[0] < t["start"] < t["end"]]   # a plateau, then a jump
            if w:
                sizes.append(n)
                widths.append(w)
        if len(sizes) >= 3:
            out.append({"phenomenon": f"sparse parity, k = {k}", "size": "n (input bits)",
                        "width": "log10(end / start) of the test accuracy's jump", **sharpening(sizes, widths, **boot)})
    mh = runs["mirage"].history
    x = np.log10(_np(mh["digits_n"]))
    lengths = sorted(int(k.rsplit("_", 1)[1]) for k in mh if k.startswith("digits_subset_"))
    widths = [[t["width"] for t in (transition(*_fine(x, c)) for c in _np(mh[f"digits_subset_{L}"]).T) if t and t["width"] > 0]
              for L in lengths]
    if len(lengths) >= 3 and all(widths):
        predicted = [transition(*_fine(x, _np(mh[f"digits_predicted_subset_{L}"])))["width"] for L in lengths]
        out.append({"phenomenon": "mirage: every digit of a subset right", "size": "subset length L",
                    "width": "decades of training-set size from 10 % to 90 % of the jump",
                    **sharpening(lengths, widths, **boot), "predicted_from_accuracy": predicted,
                    # the slope that acc^L alone gives, from the mean per-digit accuracy
                    "predicted_slope": log_log_slope(lengths, predicted)["slope"]})
    ax = np.log10(_np(mh["analytic_N"]))
    lengths = [r["length"] for r in runs["mirage"].summary["analytic"]["per_length"]]
    widths = [[transition(ax, _np(curve))["width"]] for curve in mh["analytic_exact_match"]]
    exact = sharpening(lengths, widths, **boot)
    out.append({"phenomenon": "mirage, analytic: exact match of L tokens", "size": "length L",
                "width": "decades of model size from 10 % to 90 % of the jump", **exact, "exact": True})
    return out


# --- the run --------------------------------------------------------------------------------

# Two readings the chapter draws step by step: a measure that predicts and one that detects.
EXAMPLES = (("silent_alignment", "kernel-task alignment"), ("induction_heads", "prefix-matching score"))


def pairs(runs: dict[str, Run]) -> list[Pair]:
    return [*_scaling_pairs(runs["scaling_laws"]), *_mirage_pairs(runs["mirage"]),
            *_silent_alignment_pairs(runs["silent_alignment"]), *_sparse_parity_pairs(runs["sparse_parity"]),
            *_induction_pairs(runs["induction_heads"]), *_icl_pairs(runs["icl_competition"]),
            *_grokking_pairs(runs["grokking"]),
            *_ghost_pairs(runs["ghost_points"]), *_misalignment_pairs(runs["emergent_misalignment"])]


def lead_table(runs: dict[str, Run], chapter_pairs: list[Pair] | None = None) -> list[dict]:
    """Every chapter's rows (from `chapter_pairs` when already built); the LLC chapter validates the
    estimator on models of known λ and has no transition of its own: its row says so, and the
    LLC's readings appear in the chapters where it was estimated over training."""
    rows = [read_pair(p) for p in (chapter_pairs if chapter_pairs is not None else pairs(runs))]
    rows.append({"chapter": "llc_validation", "task_metric": None, "measure": "LLC", "axis": None, "runs": 0,
                 "verdict": "no transition", "per_run": []})
    return rows


def examples(chapter_pairs: list[Pair]) -> dict[str, torch.Tensor]:
    """The first run of each EXAMPLES pair, its curves as history (`example<i>_<curve>`)."""
    out = {}
    chosen = {(p.chapter, p.measure): p for p in chapter_pairs}
    for i, key in enumerate(EXAMPLES):
        pair = chosen.get(key)
        if pair is None or not pair.runs:
            continue
        for name, values in zip(("steps", "task", "measure_steps", "measure"), pair.runs[0]):
            out[f"example{i}_{name}"] = torch.as_tensor(np.asarray(values, dtype=float))
    return out


def compute(config: Config, device) -> Run:
    runs = source_runs(config.profile)
    chapter_pairs = pairs(runs)
    summary = {"lead_table": lead_table(runs, chapter_pairs), "predictions": predictions(runs),
               "finite_size": finite_size(runs, config), "examples": [list(key) for key in EXAMPLES],
               "sources": {name: {"profile": resolve_profile(config.profile, name), "from_cache": r.from_cache,
                                  "seconds": r.summary.get("seconds")} for name, r in runs.items()}}
    return Run(NAME, config.to_dict(), summary, examples(chapter_pairs))


EXPERIMENT = Experiment(NAME, Config, compute, about=__doc__.strip().splitlines()[0])
run = EXPERIMENT.run
