"""Ghost points: the one-dimensional system's gradients and closed forms, the measures, the
settings' checks, and the chapter's acceptance criteria on the `fast` run (cached, shared with
the book build and nbval)."""

import math

import numpy as np
import pytest

from acceptance import chapter_run, check
from emergence.experiments import ConfigError, ghost_points
from emergence.measures.ghost import (critical_lr, critical_lr_measured, crossing_time, half_change_step, optimum,
                                      optimum_approx)
from emergence.models.ghost import X_THRESHOLD, delayed_activation

# --- the system and its closed forms ---------------------------------------------------------


def test_gradients_match_finite_differences():
    z, x0, T = np.geomspace(1e-3, 0.5, 9), np.full(9, 0.3), np.full(9, 10.0)
    p = delayed_activation(z, x0, T, 1.0, 200)
    h = 1e-7
    dz = (delayed_activation(z + h, x0, T, 1.0, 200).loss - p.loss) / h
    dx0 = (delayed_activation(z, x0 + h, T, 1.0, 200).loss - p.loss) / h
    np.testing.assert_allclose(p.grad_z, dz, rtol=1e-4, atol=1e-8)
    np.testing.assert_allclose(p.grad_x0, dx0, rtol=1e-4, atol=1e-8)


def test_optimum_is_where_the_crossing_time_equals_the_delay():
    for T in (5.0, 10.0, 40.0):
        assert crossing_time(optimum(T)) == pytest.approx(T, rel=1e-9)
        # π / (2√z) - 1 / x_th: the infinite threshold's z* is within a few percent at these T
        assert optimum(T) < optimum_approx(T) < 1.05 * optimum(T)
    assert crossing_time(0.0) == math.inf


def test_fine_euler_steps_put_the_loss_minimum_at_the_exact_optimum():
    T = 10.0
    ratio = np.linspace(0.9, 1.1, 201)
    loss = delayed_activation(ratio * optimum(T), 0.0, T, 1.0, 2000).loss
    assert abs(ratio[np.argmin(loss)] - 1) < 0.01
    assert loss.min() < 0.005


def test_no_learning_zone_is_flat_and_the_gradient_vanishes():
    T = 10.0
    z = np.array([-1.0, -0.2, 0.0, 0.15]) * optimum(T)          # all with the crossing beyond 2T
    p = delayed_activation(z, 0.0, T, 1.0, 400)
    np.testing.assert_allclose(p.loss, 0.5, atol=0.01)
    assert (np.abs(p.grad_z) < 1e-3 * T ** 2 / math.pi ** 2).all()
    # a less confident output feels the zone: a gradient a hundred times larger at least
    soft = delayed_activation(z, 0.0, T, 0.2, 400)
    assert (np.abs(soft.grad_z) > 100 * np.abs(p.grad_z)).all()


def test_ghost_strength_is_z_when_the_trajectory_starts_at_zero():
    z = np.array([1e-3, 1e-2, 0.1])
    p = delayed_activation(z, 0.0, 10.0, 1.0, 200)
    np.testing.assert_allclose(p.min_speed, z)


def test_the_predicted_critical_rate_lands_one_step_at_the_zone():
    """η_c |∂L/∂z| at z* (≈ T²/π²) is the distance 3z*/4 to the zone's edge z*/4."""
    for T in (5.0, 20.0):
        z_star = optimum_approx(T)
        assert critical_lr(T) * T ** 2 / math.pi ** 2 == pytest.approx(0.75 * z_star)
    assert X_THRESHOLD > 1


# --- the measures -----------------------------------------------------------------------------


def test_critical_rate_interpolates_the_fall_through_one_half():
    lrs = np.array([1.0, 10.0, 100.0, 1000.0])
    assert critical_lr_measured(lrs, np.array([0.0, 1.0, 1.0, 0.0])) == pytest.approx(math.sqrt(100 * 1000))
    assert critical_lr_measured(lrs, np.array([1.0, 1.0, 0.75, 0.25])) == pytest.approx(math.sqrt(100 * 1000))
    assert critical_lr_measured(lrs, np.array([0.5, 0.6, 0.4, 0.0])) is None     # no successful band
    assert critical_lr_measured(lrs, np.array([0.0, 1.0, 1.0, 1.0])) is None     # no fall on the grid


def test_half_change_step():
    assert half_change_step(np.array([4.0, 3.0, 2.0, 1.0, 0.0])) == 2
    assert half_change_step(np.array([0.0, 0.2, 0.9, 1.2, 0.8]), end=1.0) == 2


# --- settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize("setting, value, message", [
    ("delays", (10.0, 5.0, 20.0), "increasing"),
    ("delays", (5.0, 10.0), "at least 3"),
    ("lr_window", (2.0, 0.05), "low < high"),
    ("low_confidence", 2.0, "below confidence"),
    ("tail", 400, "steps / 2"),
    ("steps_per_delay", 5, "from 20"),
])
def test_config_rejects_bad_values(setting, value, message):
    with pytest.raises(ConfigError, match=message):
        ghost_points.Config.preset("fast", **{setting: value})


def test_every_delay_has_as_many_rates_on_one_log_grid():
    config = ghost_points.Config.preset("fast")
    lrs = config.lrs()
    assert lrs.shape == (len(config.delays), lrs.shape[1]) and lrs.shape[1] >= 8
    exponents = np.log10(lrs) * config.lrs_per_decade
    np.testing.assert_allclose(exponents, np.round(exponents), atol=1e-9)
    for T, row in zip(config.delays, lrs):
        assert row[0] >= config.lr_window[0] * critical_lr(T) / 10 ** (1 / config.lrs_per_decade)
        assert row[-1] <= config.lr_window[1] * critical_lr(T)


# --- acceptance: the fast run -----------------------------------------------------------------


@pytest.fixture(scope="module")
def run():
    return chapter_run(ghost_points)


@pytest.fixture(scope="module")
def summary(run):
    return run.summary


def test_plateau_then_drop_in_every_successful_run_at_every_delay(summary):
    for T, (shaped, runs) in summary["plateau_then_drop"].items():
        check(f"T = {T}: successful plain runs", runs, ">=", 3)
        check(f"T = {T}: fraction of them with a plateau, then a five-fold drop", shaped / max(runs, 1), ">=", 1.0)


def test_learned_z_matches_the_exact_optimum(summary):
    learned = summary["learned_z"]
    worst_delay = None if None in learned["by_delay"] else max(abs(r - 1) for r in learned["by_delay"])
    check("largest |median learned z / z* - 1| over delays", worst_delay, "<=", 0.05)
    check("largest |learned z / z* - 1| over all successful runs", learned["max_relative_error"], "<=", 0.10)


def test_critical_learning_rate_is_a_power_law_in_the_delay(summary):
    fit = summary["critical_lr_fit"]["plain"]
    check("delays with a measured critical rate", sum(v is not None for v in summary["critical_lr"]["plain"]),
          ">=", len(summary["delays"]))
    check("log-log R² of the critical rate against T", None if fit is None else fit["r2"], ">=", 0.95)
    check("|exponent - (-4)|, the derived one", None if fit is None else abs(fit["slope"] + 4), "<=", 0.5)


def test_runs_that_overshoot_below_zero_stay_stuck(summary):
    """Stuck: the gradient below z = 0 stays under a thousandth of its size at z* for at least a
    hundred steps, and none of those runs learns.  (A few drift back above zero, since the
    sigmoid's tail leaves a gradient times a large learning rate; they stay in the zone.)"""
    stuck = summary["stuck"]
    check("plain runs that enter z < 0 with 100 steps left", stuck["entered"], ">=", 1)
    check("their largest gradient there / (T²/π²)", stuck["max_grad_over_scale"], "<", stuck["threshold"])
    check("fraction of them that learn after all", stuck["learned"] / max(stuck["entered"], 1), "<=", 0.0)


def test_lower_confidence_raises_the_critical_rate(summary):
    plain, low = summary["critical_lr"]["plain"], summary["critical_lr"]["low_confidence"]
    ratios = [b / a for a, b in zip(plain, low) if a is not None and b is not None]
    check("geometric mean of η_c(low β) / η_c(β)", float(np.exp(np.mean(np.log(ratios)))) if ratios else None, ">", 1.0)
    rem = summary["remedies"]["mean"]
    check("success just above η_c: low β minus plain", rem["low_confidence"] - rem["plain"], ">", 0.05)


def test_a_redundant_parameter_raises_the_success_just_above_the_critical_rate(summary):
    rem = summary["remedies"]["mean"]
    check("success just above η_c: redundant minus plain", rem["redundant"] - rem["plain"], ">=", 0.3)


def test_ghost_strength_moves_before_the_loss_in_every_successful_run(summary):
    lead = summary["ghost_lead"]
    check("successful plain runs", lead["runs"], ">=", 12)
    check("fraction in which the ghost strength leads the loss", lead["leading"] / max(lead["runs"], 1), ">=", 1.0)
