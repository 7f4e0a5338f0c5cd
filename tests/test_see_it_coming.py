"""Can we see it coming?  The reading of a curve (emergence.measures.outlook) on curves whose
answer is known, the settings' checks, and the chapter's acceptance criteria on the run that reads
every other chapter's `fast` run (cached, shared with the book build and nbval)."""

import math

import numpy as np
import pytest

from acceptance import chapter_run, check
from emergence.experiments import EXPERIMENTS, ConfigError, base, see_it_coming
from emergence.measures.outlook import VERDICTS, combine, lead_row, log_width, sharpening, transition, verdict

# --- reading a curve -------------------------------------------------------------------------


def logistic(steps, t0, tau, low=0.0, high=1.0):
    return low + (high - low) / (1 + np.exp(-(steps - t0) / tau))


def test_transition_of_a_logistic_jump():
    steps = np.arange(0.0, 2001.0)
    t = transition(steps, logistic(steps, 1000, 20))
    spread = 20 * math.log(9)                        # the logistic's 10 % and 90 % points
    assert t["mid"] == pytest.approx(1000, abs=1)
    assert t["start"] == pytest.approx(1000 - spread, abs=1.5)
    assert t["end"] == pytest.approx(1000 + spread, abs=1.5)
    assert log_width(t) == pytest.approx(math.log10((1000 + spread) / (1000 - spread)), rel=0.02)


def test_noise_on_the_plateau_does_not_start_the_transition_early():
    steps = np.arange(0.0, 2001.0)
    curve = logistic(steps, 1500, 20)
    curve[200] = 0.3                                 # one noisy log far above the 10 % mark
    assert transition(steps, curve)["start"] > 1400


def test_a_falling_curve_and_a_flat_one():
    steps = np.arange(0.0, 101.0)
    falling = transition(steps, 1 - logistic(steps, 50, 5))
    assert falling["start"] < falling["mid"] < falling["end"]
    assert transition(steps, np.ones_like(steps)) is None


def test_verdicts_and_lead_fractions():
    t = {"start": 100.0, "mid": 150.0, "end": 200.0, "width": 100.0}
    assert [verdict(x, t) for x in (50, 100, 200, 201)] == ["predicts", "detects", "detects", "lags"]
    row = lead_row(t, 50.0, origin=0.0)
    assert row["lead"] == 100 and row["lead_fraction"] == pytest.approx(1.0) and row["lead_over_width"] == 1.0
    runs = [lead_row(t, x) for x in (50, 60, 150)]
    combined = combine(runs)
    assert combined["verdict"] == "predicts" and combined["agreeing"] == 2
    assert combined["verdicts"] == {"predicts": 2, "detects": 1, "lags": 0}
    assert combined["lead_fraction"]["min"] == pytest.approx(0.0) and combined["lead_fraction"]["max"] == pytest.approx(1.0)


def test_the_time_axis_never_changes_a_verdict():
    """Any increasing relabelling of time keeps the order of the events a verdict compares."""
    rng = np.random.default_rng(0)
    steps = np.arange(1.0, 3001.0)
    for _ in range(20):
        t0, lead = rng.uniform(800, 2500), rng.uniform(-500, 700)
        task, measure = logistic(steps, t0, 40), logistic(steps, t0 - lead, 60)
        before = verdict(transition(steps, measure)["mid"], transition(steps, task))
        log_steps = np.log(steps)
        after = verdict(transition(log_steps, measure)["mid"], transition(log_steps, task))
        assert before == after


def test_sharpening_finds_a_power_law_and_a_constant():
    rng = np.random.default_rng(1)
    sizes = [10, 20, 40, 80]
    shrinking = [list(s ** -1.0 * np.exp(0.1 * rng.standard_normal(5))) for s in sizes]
    result = sharpening(sizes, shrinking, draws=500)
    assert result["slope"] == pytest.approx(-1.0, abs=0.15) and result["shrinks"] and not result["grows"]
    constant = [list(np.exp(0.1 * rng.standard_normal(5))) for _ in sizes]
    flat = sharpening(sizes, constant, draws=500)
    assert flat["interval"][0] < 0 < flat["interval"][1] and not flat["shrinks"]
    with pytest.raises(ValueError, match=">= 3 sizes"):
        sharpening(sizes[:2], shrinking[:2])


def test_a_pair_is_read_with_its_yardsticks():
    steps = np.arange(0.0, 2001.0)
    pair = see_it_coming.Pair("demo", "loss", "measure", "loss", "step")
    for t0 in (900, 1000, 1100):
        pair.runs.append((steps, 1 - 0.99 * logistic(steps, t0, 30), steps, logistic(steps, t0 - 400, 30)))
    row = see_it_coming.read_pair(pair)
    assert row["runs"] == 3 and row["verdict"] == "predicts" and row["agreeing"] == 3
    # the log of the loss moves later in a fall to 1 % (half-way at 10 %): the measure leads more
    assert row["hygiene"]["log_metric"] > row["lead_fraction"]["median"] > 0


@pytest.mark.parametrize("setting, value, message", [
    ("profile", "slow", "profile='slow' is not allowed"),
    ("draws", 10, "draws"),
    ("level", 1.0, "level"),
])
def test_config_rejects_bad_values(setting, value, message):
    with pytest.raises(ConfigError, match=message):
        see_it_coming.Config(**{setting: value})


# --- acceptance: the chapter's reading of every other chapter ---------------------------------


@pytest.fixture(scope="module")
def summary():
    return chapter_run(see_it_coming).summary


def rows_with_runs(summary):
    return [r for r in summary["lead_table"] if r["runs"]]


def test_it_reads_the_cached_runs_without_training(summary, monkeypatch):
    """With the cache warm (the book build, or the summary fixture above, filled it), reading every
    chapter calls no computation: any call would go through `execute`'s `_stamped`, made to fail
    here.  The reading gives the summary's verdicts again."""
    def no_training(*args, **kwargs):
        raise AssertionError("a chapter's run was computed, not read from the cache")

    monkeypatch.setattr(base, "_stamped", no_training)
    again = see_it_coming.compute(see_it_coming.Config.preset("fast"), None).summary
    assert [(r["chapter"], r["measure"], r["verdict"]) for r in again["lead_table"]] == \
        [(r["chapter"], r["measure"], r["verdict"]) for r in summary["lead_table"]]
    assert all(source["from_cache"] for source in again["sources"].values())


def test_the_lead_table_covers_every_chapter_with_spreads(summary):
    chapters = {r["chapter"] for r in summary["lead_table"]}
    assert chapters == set(EXPERIMENTS) - {"see_it_coming"}
    for row in rows_with_runs(summary):
        first_seed_only = row["measure"].startswith("LLC")     # estimated on one seed by its chapter
        if not first_seed_only:
            check(f"{row['chapter']}: {row['measure']}: runs read", row["runs"], ">=", 3)
            assert None not in (row["lead_fraction"]["min"], row["lead_fraction"]["max"])
    with_runs = {r["chapter"] for r in rows_with_runs(summary)}
    assert with_runs == chapters - {"llc_validation"}
    assert {r["chapter"] for r in rows_with_runs(summary) if r["measure"].startswith("LLC")} == {"grokking", "induction_heads"}


def test_every_verdict_is_computed_from_the_readings(summary):
    for row in rows_with_runs(summary):
        for r in row["per_run"]:
            assert r["verdict"] == verdict(r["measure_x50"], r)
        median = {k: float(np.median([r[k] for r in row["per_run"]])) for k in ("start", "end")}
        assert row["verdict"] == verdict(float(np.median([r["measure_x50"] for r in row["per_run"]])), median)
        assert row["agreeing"] == sum(r["verdict"] == row["verdict"] for r in row["per_run"])
        assert row["verdict"] in VERDICTS


def test_predicted_and_measured_transition_times_agree(summary):
    predictions = summary["predictions"]
    assert len(predictions) >= 3
    for p in predictions:
        assert len(p["predicted"]) == len(p["measured"]) >= 3
        # a formula without a free constant: the times themselves; with one: the fitted exponent
        low, high = (0.9, 1.1) if not p["fitted_constant"] else (0.6, 1.4)
        check(f"{p['name']}: measured / predicted, lowest", p["ratio"]["min"], ">=", low)
        check(f"{p['name']}: measured / predicted, highest", p["ratio"]["max"], "<=", high)
    assert sum(not p["fitted_constant"] for p in predictions) >= 2


def test_finite_size_study(summary):
    studies = summary["finite_size"]
    assert len({s["phenomenon"].split(",")[0].split(":")[0] for s in studies}) >= 2
    for s in studies:
        assert len(s["sizes"]) >= 3 and s["interval"][0] <= s["slope"] <= s["interval"][1]
    by_name = {s["phenomenon"]: s for s in studies}
    parity = by_name["sparse parity, k = 3"]
    # reported, not asserted: four seeds per size leave the interval wide (below 0 in 10 of 12
    # audited runs; tests/README.md); the chapter glues what this run found
    assert parity["shrinks"] == (parity["interval"][1] < 0)
    analytic = next(s for s in studies if s["phenomenon"].startswith("mirage, analytic"))
    check("analytic mirage: the exact match's width barely changes with the length: |slope|",
          abs(analytic["slope"]), "<", 0.15)
    digits = next(s for s in studies if s["phenomenon"].startswith("mirage: "))
    check("digits mirage: the subset accuracy's width narrows with L: the interval's upper end",
          digits["interval"][1], "<", 0)
    check("digits mirage: share of that narrowing predicted by the per-digit accuracy alone (acc^L)",
          digits["predicted_slope"] / digits["slope"], ">=", 0.5)
