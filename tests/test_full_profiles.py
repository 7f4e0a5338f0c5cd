"""Every chapter's `full` profile, smoke-tested on the CPU at a tiny size.

`full` is meant for a GPU and has never run here end to end (see
emergence/experiments/full_runs.json); these tests start from `Config.preset("full")` and shrink
only sizes and step counts, so every code path of `full` (its LLC curve, sweeps, ablations,
cosine budgets, the transformer variant, ...) runs in seconds, with nothing else changed.
A crash, a shape error or a NaN here is one a GPU session would otherwise meet first.
"""

import pytest

from emergence.experiments import EXPERIMENTS, mirage

# Per chapter: the sizes and step counts that make its `full` preset tiny.
TINY = {
    "grokking": dict(p=11, d_model=16, d_mlp=32, n_seeds=1, epochs=40, warmup_epochs=2, log_every=10,
                     checkpoint_every=10, llc_checkpoints=3, llc_chains=2, llc_burnin=5, llc_draws=8,
                     llc_batch_size=16),
    "sparse_parity": dict(n=8, k=2, n_values=(6, 8), k_values=(2, 3), n_seeds=1, width=16,
                          max_steps=100, eval_every=25, test_size=128),
    "silent_alignment": dict(n_train=20, n_test=10, width=16, steps=40, kernel_points=10, n_seeds=2,
                             saxe_dims=(8, 16, 6), saxe_points=32, saxe_steps=20, saxe_seeds=2),
    "induction_heads": dict(vocab=16, seq_len=24, copy_min=3, copy_max=8, skip_bigram=4, d_model=16,
                            n_heads=2, d_head=8, n_seeds=2, steps=30, eval_every=10, eval_size=16,
                            batch_size=8, icl_early=(1, 4), icl_late=(18, 24), n_checkpoints=4,
                            llc_checkpoints=3, llc_chains=2, llc_burnin=3, llc_draws=6,
                            llc_batch_size=4, llc_samples=32),
    # k = 1 (each skill one bit): the only parity a tiny run learns, so the loss falls with N and D
    # and the fits have a scaling law to find; the coarse grid of L-BFGS starts (same fit, 243
    # starts instead of 4500: minutes on this CPU)
    "scaling_laws": dict(n_tasks=6, n_bits=4, k=1, widths=(4, 8, 16, 32), heldout_width=32, n_seeds=1,
                         batch_size=64, budget_steps=(200, 400, 800), eval_per_task=10, n_budgets=3,
                         fit_grid="coarse", steps=800, eval_points=10,    # steps: the fast profile's one run
                         compare_budgets=(200, 400, 800), n_boot=10),
    "mirage": dict(n_items=20, train_sizes=(10, 20, 40), n_test=100, width=8, steps=10, n_seeds=2,
                   subset_lengths=(5, 10), subset_length=10, partitions=5, skill_width=32),
    "emergent_misalignment": dict(n_domains=3, n_questions=4, n_good=4, n_evil=2, n_quacks=1, embed=8,
                                  width=16, pretrain_steps=20, finetune_steps=50, revert_steps=10,
                                  rotation_steps=20, n_bases=2, n_seeds=2, noise_seeds=2, tf_d_model=16,
                                  tf_d_mlp=32, tf_batch=8, tf_pretrain_steps=20, tf_finetune_steps=20),
    "llc_validation": dict(n=200, chains=2, burnin=10, draws=40, regular_dims=(2, 3), calib_dim=2),
    "ghost_points": dict(delays=(5.0, 10.0, 20.0), lrs_per_decade=3, inits=2, steps=40, steps_per_delay=40,
                         tail=10),
    "icl_competition": dict(chains=(2, 8), replicates=2, seq_len=24, d_model=16, n_heads=2, d_mlp=16, batch=4,
                            steps=30, evals=4, eval_sequences=4, min_context=4),
}


# Per chapter: parts of the summary that exist only when a `full` code path ran.
PATHS = {
    "grokking": ("llc", "weight_decay_sweep"), "sparse_parity": ("scaling", "k_ratio"),
    "silent_alignment": ("saxe", "lazy", "control", "kernel"), "induction_heads": ("llc", "control"),
    "scaling_laws": ("heldout", "isoflop", "fit_fixed_E", "schedules", "quanta", "approach_1"),
    "mirage": ("analytic", "digits", "skills"),
    "emergent_misalignment": ("transformer", "revert", "rotation_search", "stability"),
    "llc_validation": ("validation", "calibration", "off_minimum"),
    "ghost_points": ("success_fraction", "critical_lr", "landscape", "remedies"),
    "icl_competition": ("phase_grid", "criteria", "members"),
}


def tiny_config(name: str, profile: str = "full"):
    """The chapter's `profile` preset at its tiny size, on one CPU thread."""
    return EXPERIMENTS[name].Config.preset(profile, **TINY[name], device="cpu", threads=1)


@pytest.fixture
def tiny_scaling_run(monkeypatch):
    """Mirage's panel C reads the scaling-laws run of its `scaling_profile`: make that one tiny too."""
    monkeypatch.setattr(mirage.Config, "scaling_config", lambda self: tiny_config("scaling_laws"))


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    """One private, empty run cache for this file's runs: mirage reads the scaling-laws run from it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EMERGENCE_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        patch.setenv("EMERGENCE_CACHE", "1")
        yield


# The closing chapter trains nothing: its `full` reads the other chapters' `full` runs, whose code
# paths the tests below run; the last test reads their tiny runs with it.
READS_OTHERS = {"see_it_coming"}


def test_every_chapter_has_a_tiny_full_config():
    assert set(TINY) == set(EXPERIMENTS) - READS_OTHERS == set(PATHS)


@pytest.mark.parametrize("name", list(TINY))
def test_full_profile_runs_at_a_tiny_size(name, shared_cache, tiny_scaling_run):
    config = tiny_config(name)
    full = EXPERIMENTS[name].Config.preset("full").to_dict()
    # only sizes and steps were shrunk: every other setting of `full` is what runs
    kept = {k: v for k, v in full.items() if k not in TINY[name] and k not in ("device", "threads")}
    assert {k: config.to_dict()[k] for k in kept} == kept
    run = EXPERIMENTS[name].run(config)          # training itself fails on a NaN loss
    assert run.history
    assert all(run.summary.get(part) for part in PATHS[name]), [p for p in PATHS[name] if not run.summary.get(p)]
    again = EXPERIMENTS[name].run(config)        # and what it made goes through the cache and back
    assert again.from_cache and set(again.history) == set(run.history)



@pytest.mark.parametrize("name", list(TINY))
def test_every_summary_carries_its_provenance(name, shared_cache, tiny_scaling_run):
    """execute() stamps how a run was made into every summary; no chapter writes it by hand."""
    from emergence.experiments.base import PROVENANCE
    config = tiny_config(name)
    summary = EXPERIMENTS[name].run(config).summary     # from the cache of the test above
    assert set(PROVENANCE) <= set(summary), set(PROVENANCE) - set(summary)
    assert summary["config"] == config.to_dict() and summary["device"] == "cpu" and summary["threads"] == 1
    assert set(summary["versions"]) == {"emergence", "torch", "python", "cpu_kernels"}


def test_the_closing_chapter_reads_the_tiny_full_runs(shared_cache, tiny_scaling_run, monkeypatch):
    """see_it_coming's reading of every chapter does not break on `full` summaries (other grids,
    other seeds, curves too short to jump): from the cache of the tests above."""
    from emergence.experiments import see_it_coming
    monkeypatch.setattr(see_it_coming, "source_runs",
                        lambda profile: {name: EXPERIMENTS[name].run(tiny_config(name)) for name in TINY})
    summary = see_it_coming.compute(see_it_coming.Config.preset("full"), None).summary
    assert {r["chapter"] for r in summary["lead_table"]} == set(TINY)
    assert all(r["verdict"] in ("predicts", "detects", "lags", "no transition") for r in summary["lead_table"])
