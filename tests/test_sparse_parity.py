"""Sparse parity: the task, the models, the movement measure, and the chapter's acceptance
criteria on the `fast` run (cached, shared with the book build and nbval)."""

import itertools
import math

import numpy as np
import pytest
import torch

from acceptance import chapter_run, check, fast, ratio
from emergence.experiments import ConfigError, sparse_parity
from emergence.measures import coordinate_movement
from emergence.measures.parity import (censored_line_fit, decoy_ratios, fourier_gap_scaling, kaplan_meier_median,
                                       power_or_exponential, sin_correlation_gradient, top_k_is_support_step)
from emergence.models import SinNeuron, TwoLayerMLP
from emergence.tasks.sparse_parity import ParityProblems, secret_support


def test_problems_labels_and_padding():
    problems = ParityProblems.make([(6, 3, 0), (4, 2, 1)])
    x, y = problems.sample(64, torch.Generator().manual_seed(0))
    assert x.shape == (2, 64, 6) and y.shape == (2, 64)
    assert torch.all(x[1, :, 4:] == 0) and torch.all(x[0].abs() == 1)
    for member, (n, k, seed) in enumerate([(6, 3, 0), (4, 2, 1)]):
        support = secret_support(n, k, seed)
        assert torch.equal(y[member], x[member][:, support].prod(-1))
    assert secret_support(50, 3, 7) == secret_support(50, 3, 7) != secret_support(50, 3, 8)
    with pytest.raises(ValueError, match="k=5"):
        secret_support(4, 5, 0)


def test_padded_members_equal_standalone_models():
    model = TwoLayerMLP(6, 8, seeds=[0, 1], fan_in=[6, 4])
    alone = TwoLayerMLP(4, 8, seeds=[1], fan_in=[4])
    for name, p in alone.named_parameters():
        padded = dict(model.named_parameters())[name][1]
        assert torch.equal(padded[: p.shape[1]], p[0]), name
    assert torch.all(model.W1[1, 4:] == 0)
    x, _ = ParityProblems.make([(6, 3, 0), (4, 2, 1)]).sample(16, torch.Generator().manual_seed(0))
    torch.testing.assert_close(model(x)[1], alone(x[1:, :, :4])[0])


def test_padded_inputs_never_move():
    model = TwoLayerMLP(6, 8, seeds=[0, 1], fan_in=[6, 4])
    x, y = ParityProblems.make([(6, 3, 0), (4, 2, 1)]).sample(32, torch.Generator().manual_seed(0))
    sparse_parity.hinge(model(x), y).sum().backward()
    assert torch.all(model.W1.grad[1, 4:] == 0)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_sin_neuron_exact_solution(k):
    problems = ParityProblems.make([(10, k, 4)])
    neuron = SinNeuron(10, seeds=[0], fan_in=[10])
    with torch.no_grad():
        neuron.w.copy_((-1) ** ((k - 1) // 2) * (math.pi / 2) * problems.support.float())
    x, y = problems.sample(200, torch.Generator().manual_seed(1))
    torch.testing.assert_close(neuron(x), y, atol=1e-5, rtol=0)


def test_coordinate_movement():
    start = torch.zeros(1, 4, 3)
    moved = start.clone()
    moved[0, 0] = torch.tensor([0.0, 2.0, -1.0])   # relevant input 0 moved by 2
    moved[0, 2] = torch.tensor([0.5, 0.0, 0.0])    # irrelevant input 2 moved by 0.5
    relevant = torch.tensor([[True, False, False, False]])
    active = torch.tensor([[True, True, True, False]])
    out = coordinate_movement(moved, start, relevant, active)
    assert out["movement_relevant"].item() == 2.0
    assert out["movement_irrelevant"].item() == pytest.approx(0.25)   # (0 + 0.5) / 2
    assert out["movement_max"].item() == 2.0 and out["movement_max_is_relevant"].item() == 1.0


def test_decoys_are_irrelevant_inputs_scored_like_the_support():
    movement = np.ones((3, 10))
    movement[:, [0, 1]] = 5.0                          # the support moved 5x
    movement[:, 2] = 3.0                               # one irrelevant input ran ahead
    support = np.arange(10) < 2
    ratios = decoy_ratios(movement, support, 200, np.random.default_rng(0))
    assert ratios.shape == (200, 3)
    # k = 2 of the 8 irrelevant inputs; with input 2: mean 2 over the other six's mean 1; without
    # it: mean 1 over (3 + 5) / 6.  The support itself never enters.
    assert set(np.round(ratios[:, 0], 6)) == {2.0, 0.75}
    with pytest.raises(ValueError, match="too few"):
        decoy_ratios(movement[:, :3], support[:3], 10, np.random.default_rng(0))


def test_top_k_step_needs_the_support_from_then_on():
    steps = np.array([0, 10, 20, 30, 40])
    support = np.array([True, True, False, False])
    movement = np.array([[0, 0, 1, 2], [2, 3, 1, 0], [1, 3, 2, 0], [3, 4, 1, 0], [5, 4, 1, 0]], dtype=float)
    assert top_k_is_support_step(steps, movement, support) == 30      # S at step 10, lost at 20, then held
    assert top_k_is_support_step(steps, movement[:4][::-1], support) is None   # not S at the end


def test_censored_fit_recovers_a_line_that_dropping_unsolved_runs_bends():
    rng = np.random.default_rng(1)
    n = np.repeat(np.arange(10, 110, 10), 30).astype(float)
    log_t = 2.0 + 1.5 * np.log(n) + rng.normal(0, 0.5, len(n))
    budget = np.quantile(log_t, 0.8)
    censored = log_t > budget
    fit = censored_line_fit(np.log(n), np.minimum(log_t, budget), censored)
    dropped = np.polyfit(np.log(n[~censored]), log_t[~censored], 1)[0]
    assert abs(fit["slope"] - 1.5) < 0.15 < abs(dropped - 1.5)
    assert censored_line_fit([1, 2], [0.0, 1.0], [False, False])["slope"] is None


@pytest.mark.parametrize("truth", ["power", "exponential"])
def test_the_growth_law_the_data_prefer(truth):
    rng = np.random.default_rng(2)
    n = np.repeat([10, 20, 40, 80, 160], 8).astype(float)
    log_t = (2 * np.log(n) if truth == "power" else 0.03 * n) + rng.normal(0, 0.1, len(n))
    assert power_or_exponential(n, np.exp(log_t), np.zeros(len(n), bool))["preferred"] == truth


def test_kaplan_meier_median_counts_unsolved_runs():
    assert kaplan_meier_median([1, 2, 3, 4, 5], [0, 0, 0, 1, 1]) == 3.0
    assert kaplan_meier_median([1, 2, 3, 4, 5], [0, 0, 1, 1, 1]) is None   # half never seen solving
    assert kaplan_meier_median([4, 1, 2], [0, 0, 0]) == 2.0


@pytest.mark.parametrize("b", [0.0, 0.7])
def test_the_sin_neurons_population_gradient_is_exact(b):
    n, support = 8, np.isin(np.arange(8), [1, 4, 6])
    x = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=n)), dtype=torch.float64)   # all 2^n inputs
    w = torch.tensor(np.random.default_rng(3).normal(0, 0.7, n), requires_grad=True)
    (x[:, torch.from_numpy(support)].prod(-1) * torch.sin(x @ w + b)).mean().backward()
    np.testing.assert_allclose(sin_correlation_gradient(w.detach().numpy(), support, b), w.grad.numpy(), atol=1e-12)


def test_the_fourier_gap_scales_as_derived():
    # relevant weights' gradient ~ |w|^(k-1) ~ n^(-(k-1)/2), irrelevant ~ n^(-(k+1)/2)
    for k, row in fourier_gap_scaling((25, 50, 100, 200, 400), (1, 3, 5), draws=400, seed=0).items():
        assert row["slope_relevant"] == pytest.approx(-(int(k) - 1) / 2, abs=0.1)
        assert row["slope_irrelevant"] == pytest.approx(-(int(k) + 1) / 2, abs=0.1)
    with pytest.raises(ValueError, match="k=2"):
        fourier_gap_scaling((25,), (2,))


def test_bad_settings():
    with pytest.raises(ConfigError, match="n=45"):
        sparse_parity.Config.preset("fast", n=45)
    with pytest.raises(ConfigError, match="k_values"):
        sparse_parity.Config.preset("fast", k_values=(2, 3, 30))
    with pytest.raises(ConfigError, match="eval_every"):
        sparse_parity.Config.preset("fast", max_steps=100, eval_every=100)


def test_a_tiny_grid_runs_and_reports_nothing_it_cannot_measure(cache_root):
    from emergence import figures

    config = sparse_parity.Config.preset("fast", n=6, k=1, n_values=(6,), k_values=(1,), n_seeds=1,
                                         width=16, max_steps=60, eval_every=30, test_size=100, device="cpu")
    s = sparse_parity.run(config).summary
    assert s["scaling"]["1"]["slope"] is None and s["k_ratio"] == {}
    fig = figures.sparse_parity.plot_scaling(sparse_parity.run(config))
    assert fig is not None


@pytest.fixture(scope="module")
def run():
    return chapter_run(sparse_parity)


def _seeds(run) -> list[int]:
    return [seed["seed"] for seed in run.summary["seeds"]]


def test_plateau_then_solved(run):
    for seed in run.summary["seeds"]:                  # every headline seed
        solved = None if seed["steps_to_solve"] is None else 1
        check("solved within the step budget", solved, ">=", 1, seed=seed["seed"])
        # test error >= 0.45 for at least half the time before it is solved
        check("plateau fraction of the time to solve", seed["plateau_fraction"], ">=", 0.5, seed=seed["seed"])


def test_relevant_weights_move_ahead_on_the_plateau(run):
    for seed in run.summary["seeds"]:
        check("relevant / irrelevant weight movement on the plateau", seed["movement_ratio_on_plateau"],
              ">=", 1.5, seed=seed["seed"])
        check("lead of the movement ratio over the plateau's end (steps)", seed["ratio_lead_over_plateau_end"],
              ">", 0, seed=seed["seed"])


def test_the_movement_ratio_beats_random_decoys(run):
    # the same ratio for 1000 random subsets of k irrelevant inputs, over the same plateau: the
    # secret inputs' largest ratio must clear the decoys' 95th percentile, here at least twice over
    for seed in run.summary["seeds"]:
        check("relevant ratio on the plateau / the decoys' 95th percentile", ratio(
            seed["movement_ratio_on_plateau"], seed.get("decoy_ratio_on_plateau_p95")), ">=", 2, seed=seed["seed"])


def test_the_most_moved_inputs_name_the_support_before_the_plateau_ends(run):
    # oracle-free: rank the inputs by movement; S only scores the ranking
    leads = [seed["top_k_lead_over_plateau_end"] for seed in run.summary["seeds"]]
    median = None if None in leads else float(np.median(leads))
    check("median lead of 'top-k moved = S for good' over the plateau's end (steps)", median, ">", 0,
          seed=_seeds(run))


@pytest.fixture(scope="module")
def sin_run(run):
    """The notebook's sin neuron: the headline problem and seeds, evaluated every 5 steps."""
    s = run.summary
    return sparse_parity.run(fast(sparse_parity.Config, model="sin", n=s["n"], k=s["k"], n_values=(s["n"],),
                                  k_values=(s["k"],), eval_every=5))


def test_the_sin_neuron_plateaus_then_solves(sin_run):
    seeds = sin_run.summary["seeds"]
    for seed in seeds:
        solved = None if seed["steps_to_solve"] is None else 1
        check("sin neuron: solved within the step budget", solved, ">=", 1, seed=seed["seed"])
        check("sin neuron: plateau fraction of the time to solve", seed["plateau_fraction"], ">=", 0.5,
              seed=seed["seed"])
        check("sin neuron: relevant ratio on the plateau / the decoys' 95th percentile", ratio(
            seed["movement_ratio_on_plateau"], seed.get("decoy_ratio_on_plateau_p95")), ">=", 1.2, seed=seed["seed"])
    fractions = [seed["plateau_fraction"] for seed in seeds]
    check("sin neuron: median plateau fraction", None if None in fractions else float(np.median(fractions)),
          ">=", 0.7, seed=[seed["seed"] for seed in seeds])


def test_the_fourier_gap_in_the_summary(run):
    for k, row in run.summary["fourier_gap"].items():
        check(f"|slope of the relevant gradient vs n + (k-1)/2|, k={k}",
              abs(row["slope_relevant"] + (int(k) - 1) / 2), "<=", 0.1, seed="deterministic")
        check(f"|slope of the irrelevant gradient vs n + (k+1)/2|, k={k}",
              abs(row["slope_irrelevant"] + (int(k) + 1) / 2), "<=", 0.1, seed="deterministic")


def test_k3_takes_at_least_three_times_k2(run):
    s = run.summary
    check("median steps to solve, k=3 / k=2", s["k_ratio"]["3/2"][str(s["n"])], ">=", 3, seed=_seeds(run))


def test_scaling_grid_and_slope(run):
    row = run.summary["scaling"]["3"]
    assert len(row["n"]) >= 3 and all(len(v) >= 4 for v in row["steps"].values())
    check("unsolved runs on the k=3 grid", sum(row["unsolved"].values()), "<=", 0, seed=_seeds(run))
    lower = None if row["slope_std"] is None else row["slope"] - 2 * row["slope_std"]
    check("log-log slope of steps vs n (k=3) minus 2 standard errors", lower, ">", 0, seed=_seeds(run))
    # n^c against e^{cn}, both fitted with unsolved runs censored: the chapter says the power law fits better
    for k, row in run.summary["scaling"].items():
        check(f"log-likelihood of the power-law fit minus the exponential's (k={k})", row["log_likelihood_ratio"],
              ">=", 5, seed=_seeds(run))


def test_the_raw_infinity_norm_is_set_by_irrelevant_inputs_early_on(run):
    # the chapter's claim: in the first half of the plateau the overall max |W - W0| sits on an
    # irrelevant input most of the time (median over seeds), in the second half on a relevant one,
    # and on every seed a relevant input holds it more often in the second half than in the first.
    # Per seed, the halves are not always on either side of 1/2: with the grid of n = 10-50 the
    # audit saw first halves up to 0.47 and second halves down to 0.49 (seeds 6 and 7).
    seeds = run.summary["seeds"]
    first, second = ([seed[f"max_on_relevant_{half}_half"] for seed in seeds] for half in ("first", "second"))
    median = (lambda values: None if None in values else float(np.median(values)))
    check("median share of the plateau's first half with max |W - W0| on a relevant input", median(first),
          "<", 0.5, seed=_seeds(run))
    check("median share of the plateau's second half with max |W - W0| on a relevant input", median(second),
          ">", 0.5, seed=_seeds(run))
    for seed in seeds:
        rise = None if seed["max_on_relevant_first_half"] is None or seed["max_on_relevant_second_half"] is None \
            else seed["max_on_relevant_second_half"] - seed["max_on_relevant_first_half"]
        check("rise of that share from the plateau's first half to its second", rise, ">", 0, seed=seed["seed"])


def test_summary_has_seconds_device_and_config(run):
    for key in ("seconds", "device", "config", "lag", "x50"):
        assert key in run.summary
