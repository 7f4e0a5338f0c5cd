"""Acceptance of the grokking chapter, on the `fast` profile's own run (cached, so the book
build and nbval reuse it)."""

import math

import numpy as np
import pytest
import torch

from acceptance import chapter_run, check, difference, fast, ratio
from emergence.experiments import ConfigError, grokking


@pytest.fixture(scope="module")
def run():
    return chapter_run(grokking)


def test_summary_has_the_documented_keys(run):
    for key in ("memorize_epoch", "grok_epoch", "test_acc_at_memorize", "final_train_acc",
                "final_test_acc", "seconds", "device", "config", "lag", "x50"):
        assert key in run.summary
    assert run.summary["config"] == fast(grokking.Config).to_dict()


def test_memorisation_comes_first_with_test_accuracy_low(run):
    for seed in run.summary["seeds"]:          # every headline seed, not only the first
        check("test accuracy at memorisation", seed["test_acc_at_memorize"], "<=", 0.60, seed=seed["seed"])


# The fast plateau is not at chance: test accuracy at memorisation reads 4-38 % over the
# portability audit's seeds 0-7 (chance 1 %), so "near chance on the plateau" cannot be asserted.
# The test loss shows the over-fitting instead: by memorisation it has risen to 2.2-3.5 times its
# initial (chance-level) value, and by the end it has fallen more than a thousand-fold from there
# (computed from the audit runs' histories, which predate these summary keys).
def test_the_test_loss_overfits_while_memorising_then_falls(run):
    for seed in run.summary["seeds"]:
        at_memorize = seed["test_loss_at_memorize"]
        check("test loss at memorisation / initial test loss", ratio(at_memorize, seed["test_loss_initial"]),
              ">=", 1.5, seed=seed["seed"])
        check("test loss at memorisation / final test loss", ratio(at_memorize, seed["test_loss_final"]),
              ">=", 10, seed=seed["seed"])


def test_grokking_comes_at_least_four_times_later(run):
    for seed in run.summary["seeds"]:
        check("grokking epoch / memorisation epoch", ratio(seed["grok_epoch"], seed["memorize_epoch"]), ">=", 4,
              seed=seed["seed"])
        check("final test accuracy", seed["final_test_acc"], ">=", 0.95, seed=seed["seed"])


def test_a_progress_measure_moves_before_test_accuracy(run):
    """On every headline seed, with its own key frequencies: x50 of the restricted loss or the
    Fourier sparsity over the whole run (the issue's criterion), the restricted loss's x50 of its
    change still to come after memorisation (much of its first drop happens during memorisation
    itself) come before test accuracy reaches 50 %.  The excluded loss, which only rises after
    memorisation, has done half its rise before the jump ends (95 % test accuracy), but not always
    before it starts: its lead on 50 % test accuracy ranged from -130 to +740 epochs over seeds 0-5
    and both kernel sets (the portability audit, first seeds; seed 4 under `default` is the
    negative one), its lead on 95 % from 350 to 1630 epochs, at least 0.85 of the jump's width."""
    for seed in run.summary["seeds"]:
        x, half_way, s = seed["x50_circuit"], seed["test_acc_50_epoch"], seed["seed"]
        check("lead of the earlier x50 (restricted loss, Fourier gini) on test acc 50 % (epochs)",
              difference(half_way, min(x["restricted_loss"], x["fourier_gini"])), ">", 0, seed=s)
        after = x["restricted_loss_after_memorization"]
        check("restricted loss x50 after memorisation - memorisation epoch", difference(after, seed["memorize_epoch"]),
              ">", 0, seed=s)
        check("lead of the restricted loss x50 after memorisation on test acc 50 % (epochs)",
              difference(half_way, after), ">", 0, seed=s)
        check("excluded loss x50 - memorisation epoch", difference(x["excluded_loss"], seed["memorize_epoch"]), ">", 0,
              seed=s)
        check("lead of the excluded loss x50 on the grokking epoch (epochs)",
              difference(seed["grok_epoch"], x["excluded_loss"]), ">", 0, seed=s)


def test_the_first_seeds_circuit_measures_are_its_per_seed_entry(run):
    s, first = run.summary, run.summary["seeds"][0]
    assert s["key_frequencies"] == first["key_frequencies"]
    assert s["x50"]["restricted_loss"] == first["x50_circuit"]["restricted_loss"]
    assert run.history["restricted_loss_by_seed"].shape == (len(run.history["checkpoint_epoch"]), len(s["seeds"]))


def test_a_sparse_fourier_circuit_forms(run):
    for seed in run.summary["seeds"]:
        keys, s = seed["key_frequencies"], seed["seed"]
        check("key frequencies (of (p-1)/2 = 29)", len(keys), "<=", 8, seed=s)
        check("key frequencies (at least one)", len(keys), ">=", 1, seed=s)
        check("Fourier gini at initialisation", seed["fourier_gini_initial"], "<", 0.2, seed=s)
        check("Fourier gini at the end", seed["fourier_gini_final"], ">", 0.5, seed=s)


def _sweep_member(run, weight_decay):
    """The weight-decay sweep member's events and its whole test-accuracy curve."""
    index = next(i for i, m in enumerate(run.summary["members"]) if m["weight_decay"] == weight_decay)
    events = next(r for r in run.summary["weight_decay_sweep"] if r["weight_decay"] == weight_decay)
    return events, run.history["test_acc"][:, index]


def test_no_weight_decay_no_grokking(run):
    events, test_acc = _sweep_member(run, 0.0)
    check("best test accuracy without weight decay", test_acc.max(), "<", grokking.GROKKED, seed=events["seed"])
    check("final train accuracy without weight decay", events["final_train_acc"], ">=", 0.99, seed=events["seed"])


def test_more_weight_decay_groks_sooner(run):
    strong, _ = _sweep_member(run, 3.0)
    headline, _ = _sweep_member(run, 1.0)
    check("grokking epoch at wd 1 - at wd 3", difference(headline["grok_epoch"], strong["grok_epoch"]), ">", 0,
          seed=strong["seed"])


def test_training_stops_once_every_seed_has_grokked_and_cleaned_up():
    config = grokking.Config.preset("fast", n_seeds=2, log_every=100, stop_after_grokking=0.5)
    stop = grokking._grokked_and_cleaned_up(config)
    # seed 0 groks at epoch 200, seed 1 at 400 (the sweep member, third, never does): stop at 600
    accuracy = {100: [0.3, 0.2, 0.3], 200: [0.96, 0.3, 0.3], 300: [1.0, 0.5, 0.3], 400: [1.0, 0.97, 0.3],
                500: [1.0, 0.99, 0.3], 600: [1.0, 1.0, 0.3]}
    stopped = [epoch for epoch, acc in accuracy.items() if stop({"test_acc": torch.tensor(acc)})]
    assert stopped[0] == 600
    with pytest.raises(ConfigError, match="stop_after_grokking=-0.1"):
        grokking.Config.preset("fast", stop_after_grokking=-0.1)


# --- the local learning coefficient over training (first seed) --------------------------------

@pytest.mark.parametrize("name, value", [
    ("llc_checkpoints", 1), ("llc_checkpoints", 122), ("llc_checkpoints", -1), ("llc_chains", 0),
    ("llc_burnin", -1), ("llc_draws", 3), ("llc_epsilon", 0.0), ("llc_gamma", -1.0),
    ("llc_nbeta", -5.0), ("llc_batch_size", -1), ("llc_jump_checkpoints", -1), ("llc_jump_checkpoints", 101)])
def test_bad_llc_settings_are_rejected_by_name(name, value):
    with pytest.raises(ConfigError, match=f"{name}={value!r}"):
        grokking.Config.preset("fast", **{name: value})


def test_llc_can_be_switched_off_and_has_a_full_preset():
    assert grokking.Config.preset("fast", llc_checkpoints=0).llc_checkpoints == 0
    full = grokking.Config.preset("full")
    assert 2 <= full.llc_checkpoints <= len(full.checkpoint_epochs())


def test_llc_curve_is_complete_finite_and_healthy(run):
    llc, config = run.summary["llc"], fast(grokking.Config)
    seed = run.summary["seeds"][0]["seed"]
    # the evenly spaced checkpoints and those over the jump, each once, in order
    n = len(llc["steps"])
    assert config.llc_checkpoints <= n <= config.llc_checkpoints + config.llc_jump_checkpoints
    assert n == len(llc["mean"]) and llc["steps"] == sorted(set(llc["steps"]))
    assert set(llc["jump_steps"]) <= set(llc["steps"]) and len(llc["jump_steps"]) >= 2
    assert llc["steps"][0] == 0 and llc["steps"][-1] == run.summary["epochs_trained"]
    assert np.isfinite(llc["mean"]).all() and np.isfinite(llc["std"]).all()
    assert run.history["llc_excess_trace"].shape == (n, config.llc_burnin + config.llc_draws)
    # the initialisation is no minimum (its chains may descend), and the drift check of 2 chains x
    # 100 draws has false alarms: seeds 0-2 had 13 to 15 of the 16 checkpoints healthy
    check("share of healthy LLC checkpoints", np.mean(llc["healthy"]), ">=", 0.75, seed=seed)
    check("largest share of SGLD draws below the checkpoint's loss (after initialisation)",
          max(llc["below_init"][1:]), "<=", 0.05, seed=seed)


def test_llc_rises_through_memorisation_and_peaks_before_the_jump(run):
    llc, seed = run.summary["llc"], run.summary["seeds"][0]["seed"]
    mean = llc["mean"]
    check("λ̂ at the first checkpoint after initialisation / at initialisation", mean[1] / max(mean[0], 1.0),
          ">", 10, seed=seed)
    # the proposal's criterion: the argmax of λ̂ comes after memorisation and before test
    # accuracy reaches 50 %
    check("epoch of λ̂'s peak - memorisation epoch", llc["argmax_epoch"] - llc["memorize_epoch"], ">=", 0, seed=seed)
    check("test acc 50 % epoch - epoch of λ̂'s peak", llc["test_acc_50_epoch"] - llc["argmax_epoch"], ">", 0, seed=seed)


def test_llc_falls_through_the_plateau_and_the_jump(run):
    llc, seed = run.summary["llc"], run.summary["seeds"][0]["seed"]
    check("final λ̂ / peak λ̂", llc["final_over_peak"], "<=", 0.7, seed=seed)     # the proposal's criterion


# The fall from 50 % test accuracy to grokking is measured the same way (summary["llc"]["changes"])
# but not asserted: over seeds 0-5 and both kernel sets (8 fresh chains on the audit runs'
# checkpoints) its interval excluded 0 in 11 of 12, but on seed 1 (native kernels) chain excursions
# at the grokking checkpoint gave -67 [-152, +19].  The three asserted changes: the interval's end
# nearest 0 was at least 491 (rise), 217 (peak -> 50 %) and 437 (peak -> end) away from it.
@pytest.mark.parametrize("change, direction", [("rise", +1), ("peak_to_test_acc_50", -1), ("peak_to_final", -1)])
def test_every_asserted_llc_sign_is_powered(run, change, direction):
    """λ̂ rises from initialisation, and falls from the peak to 50 % test accuracy and from the
    peak to the end: each from `llc_sign_chains` (>= 8) fresh chains per checkpoint, with a Welch
    t-interval (measures.llc.change_interval) that excludes 0."""
    changes, seed = run.summary["llc"]["changes"], run.summary["seeds"][0]["seed"]
    c = changes[change]
    check(f"chains per checkpoint ({change})", min(c["chains"]), ">=", 8, seed=seed)
    # the interval's end nearest 0, signed so that > 0 means the claimed direction
    near_end = c["interval"][0] if direction > 0 else -c["interval"][1]
    check(f"Δλ̂ {c['from']} -> {c['to']}: 95 % t-interval's end nearest 0, in the claimed direction",
          near_end, ">", 0, seed=seed)


def test_jump_checkpoints_cover_the_jump_and_the_spacing_reads_the_widest_gap():
    saved = list(range(0, 3001, 50))
    from emergence.measures.grokking_llc import jump_checkpoints, spacing_over
    assert jump_checkpoints(saved, 1540, 1780, 6) == [1400, 1500, 1600, 1700, 1800, 1900]
    assert jump_checkpoints(saved, None, 1780, 6) == [] == jump_checkpoints(saved, 1540, 1780, 0)
    steps = [0, 200, 400, 1400, 1500, 1600, 1700, 1800, 1900, 2000]
    assert spacing_over(steps, 1540, 1780) == 100     # from 1500 (last <= start) to 1800
    assert spacing_over([0, 1000, 2000], 1540, 1780) == 1000
    assert spacing_over(steps, None, 1780) is None


def test_llc_detects_the_jump_but_does_not_lead_it(run):
    """λ̂ completes half its fall from the peak near the test-accuracy jump: neither well before
    it (a prediction) nor well after.  "Near" is measured in the jump's own width, the epochs
    from 50 % to 95 % test accuracy, not in checkpoints: the jump's timing moves with the CPU's
    kernels (one AVX2 machine reached 50 % at epoch 1680 where this one does at 1540, and the
    half-fall moved by a checkpoint), and its width differs between seeds (about 240 to 760
    epochs in seeds 0-2), so a tolerance of one checkpoint spacing was a statement about one
    trajectory.  The checkpoints must resolve the jump for the offset to mean anything: besides
    the evenly spaced ones, `llc_jump_checkpoints` sit over the jump (one seed's jump, 240
    epochs, was narrower than the even spacing of a long run)."""
    llc, seed = run.summary["llc"], run.summary["seeds"][0]["seed"]
    width = difference(llc["grok_epoch"], llc["test_acc_50_epoch"])
    check("widest LLC checkpoint gap over the jump / jump width (50 % to 95 % test accuracy)",
          ratio(llc["jump_spacing"], width), "<=", 1.0, seed=seed)
    offset = ratio(difference(llc["x50_after_peak"], llc["test_acc_50_epoch"]), width)
    check("λ̂ half-fall - test acc 50 %, in jump widths (not leading)", offset, ">=", -1.0, seed=seed)
    check("λ̂ half-fall - test acc 50 %, in jump widths (not lagging)", offset, "<=", 1.0, seed=seed)


# --- SGLD calibration (measures/llc_calibration.py): unit tests on known cases ----------------

def _quadratic(h):
    """Rows' loss ½ Σ h_i w_i² (the data only sets n): a Gaussian posterior, known exactly."""
    return lambda rows, batch: 0.5 * (h * rows["w"] ** 2).sum(-1)


def test_mala_acceptance_tends_to_one_as_the_step_shrinks():
    from emergence.measures.llc_calibration import sgld_with_acceptance
    h = torch.linspace(0.5, 2.0, 20, dtype=torch.float64)
    data = (torch.zeros(100, 1, dtype=torch.float64),)
    stiffness = 100 * h.max().item() + 1.0                 # nβ h + γ for the stiffest direction
    eps = np.array([1e-3, 1e-2, 0.1, 1.0]) / stiffness
    result, accept = sgld_with_acceptance(_quadratic(h), {"w": torch.zeros(len(eps), 20, dtype=torch.float64)},
                                          data, epsilon=eps, nbeta=100.0, gamma=1.0, chains=4,
                                          draws=400, burnin=200)
    mean = accept[:, :, 200:].mean(axis=(1, 2))
    assert mean[0] > 0.999 and mean[1] > 0.99
    assert np.all(np.diff(mean) < 0) and mean[-1] < 0.9       # falls as ε grows
    # and where the chains relax within the burn-in, λ̂ sits near the exact ½ Σ nβh / (nβh + γ)
    from emergence.measures.llc import exact_regular
    assert abs(result.llc_mean[2] / exact_regular(h, 100.0, 1.0) - 1) < 0.15


def test_mala_acceptance_matches_a_one_dimensional_hand_computation():
    from emergence.measures.llc_calibration import mala_acceptance
    w, w_next, eps = 0.3, 0.1, 0.05
    U = lambda x: 2.0 * x ** 2              # noqa: E731
    dU = lambda x: 4.0 * x                  # noqa: E731
    log_q = lambda to, frm: -(to - frm + eps / 2 * dU(frm)) ** 2 / (2 * eps)  # noqa: E731
    expected = min(1.0, math.exp(U(w) - U(w_next) + log_q(w, w_next) - log_q(w_next, w)))
    t = lambda x: {"w": torch.tensor([[x]], dtype=torch.float64)}  # noqa: E731
    got = mala_acceptance(t(w), t(w_next), torch.tensor([U(w)]), torch.tensor([U(w_next)]),
                          t(dU(w)), t(dU(w_next)), torch.tensor([eps], dtype=torch.float64))
    assert got.item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("batch_size", [None, 16])
def test_the_calibration_sampler_is_estimate_llcs_sampler(batch_size):
    """Same update, same random numbers: the same λ̂ as estimate_llc (a linear regression)."""
    from emergence.measures.llc import estimate_llc
    from emergence.measures.llc_calibration import sgld_with_acceptance
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, generator=g, dtype=torch.float64)
    y = x @ torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64) + 0.1 * torch.randn(64, generator=g, dtype=torch.float64)
    loss = lambda rows, batch: ((torch.einsum("...nd,bd->bn", batch[0], rows["w"]) - batch[1]) ** 2).mean(-1)  # noqa: E731
    star = {"w": torch.linalg.lstsq(x, y[:, None]).solution.T.repeat(2, 1)}
    settings = dict(epsilon=1e-3, nbeta=20.0, gamma=10.0, chains=3, draws=40, burnin=10, batch_size=batch_size, seed=3)
    ours, accept = sgld_with_acceptance(loss, star, (x, y), **settings)
    theirs = estimate_llc(loss, star, (x, y), batched=True, warn=False, **settings)
    np.testing.assert_allclose(ours.llc_chains, theirs.llc_chains, rtol=1e-9)
    assert accept.shape == (2, 3, 50) and ((accept >= 0) & (accept <= 1)).all()


def test_calibration_grid_crosses_epsilon_and_nbeta_and_adds_the_gamma_and_batch_axes():
    from emergence.measures.llc_calibration import calibration_grid
    chosen = dict(epsilon=3e-4, nbeta=192.0, gamma=100.0, batch_size=128)
    grid = calibration_grid(chosen, [1e-4, 1e-3], [64.0, 576.0], [10.0, 100.0, 1000.0], [32, 0])
    assert len(grid) == 3 * 3 + 2 + 2
    assert sum(row == dict(chosen, axis="epsilon x nbeta") for row in grid) == 1
    assert {r["gamma"] for r in grid if r["axis"] == "gamma"} == {10.0, 1000.0}
    assert {r["batch_size"] for r in grid if r["axis"] == "batch size"} == {32, 0}


def test_bad_calibration_settings_are_rejected_by_name():
    from emergence.measures.llc_calibration import sgld_with_acceptance
    star, data = {"w": torch.zeros(2, 3)}, (torch.zeros(10, 1),)
    with pytest.raises(ValueError, match="epsilon="):
        sgld_with_acceptance(_quadratic(1.0), star, data, epsilon=[1e-3, 0.0], nbeta=1.0, gamma=1.0,
                             chains=2, draws=4, burnin=0)
    with pytest.raises(ValueError, match="gamma="):
        sgld_with_acceptance(_quadratic(1.0), star, data, epsilon=1e-3, nbeta=1.0, gamma=-1.0,
                             chains=2, draws=4, burnin=0)


# --- the SGLD calibration at λ̂'s peak (a real checkpoint of this run) --------------------------

def test_the_chosen_sgld_settings_sit_in_the_usable_region(run):
    """The chapter's ε, nβ, γ and minibatch, run again at λ̂'s peak beside the grid: healthy
    chains (measures/llc.py) and a MALA acceptance of at least ACCEPTANCE_MIN; a step three times
    larger must do worse (the diagnostic can fail)."""
    from emergence.measures.llc_calibration import ACCEPTANCE_MIN
    cal, seed = run.summary["llc"]["calibration"], run.summary["seeds"][0]["seed"]
    rows = cal["settings"]
    chosen = [r for r in rows if all(r[k] == cal["chosen"][k] for k in ("epsilon", "nbeta", "gamma"))
              and r["axis"] == "epsilon x nbeta"]
    assert len(chosen) == 1 and {r["axis"] for r in rows} == {"epsilon x nbeta", "gamma", "batch size"}
    me = chosen[0]
    check("calibration: chosen settings' chains healthy", float(me["healthy"]), ">=", 1, seed=seed)
    check("calibration: MALA acceptance at the chosen settings", me["acceptance"], ">=", ACCEPTANCE_MIN, seed=seed)
    larger = [r for r in rows if r["axis"] == "epsilon x nbeta" and r["nbeta"] == me["nbeta"] and r["epsilon"] > me["epsilon"]]
    check("calibration: acceptance at the chosen ε - at 3 ε", me["acceptance"] - max(r["acceptance"] for r in larger),
          ">", 0.2, seed=seed)
