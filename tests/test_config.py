import pytest

from emergence.experiments import ConfigError, get, resolve_profile
from emergence.experiments.grokking import Config


def test_profiles_and_overrides(monkeypatch):
    monkeypatch.setenv("EMERGENCE_PROFILE", "")
    assert resolve_profile("auto") in ("fast", "full")
    monkeypatch.setenv("EMERGENCE_PROFILE", "full")
    assert resolve_profile("auto") == "full"
    full = Config.preset("auto")
    assert (full.model, full.p, full.train_frac, full.lr, full.d_model) == ("transformer", 113, 0.3, 1e-3, 128)
    fast = Config.preset("fast", p="97", sweep_weight_decays="0, 0.5", weight_decay=None)
    assert fast.p == 97 and fast.sweep_weight_decays == (0.0, 0.5) and fast.weight_decay == 1.0


@pytest.mark.parametrize("overrides, named", [
    (dict(p=91), "p=91"),                       # 91 = 7 x 13
    (dict(train_frac=1.5), "train_frac=1.5"),
    (dict(model="rnn"), "model='rnn'"),
    (dict(epochs="many"), "epochs='many'"),
    (dict(epochs=2.5), "epochs=2.5"),
    (dict(n_heads=3), "n_heads=3"),
    (dict(device="tpu"), "device='tpu'"),
    (dict(lr=0), "lr=0"),
    (dict(sweep_weight_decays="0, x"), "sweep_weight_decays='0, x'"),
    (dict(threads=-1), "threads=-1"),
    (dict(colour="red"), "unknown setting 'colour'"),
])
def test_bad_settings_name_the_setting(overrides, named):
    with pytest.raises(ConfigError, match=named.replace("(", r"\(")) as err:
        Config.preset("fast", **overrides)
    assert "allowed" in str(err.value)


def test_bad_profile_and_experiment():
    with pytest.raises(ConfigError, match="profile='medium'"):
        Config.preset("medium")
    with pytest.raises(ConfigError, match="available: .*grokking"):
        get("grokk")


def test_members_layout():
    config = Config.preset("fast", seed=10, n_seeds=2, weight_decay=1.0, sweep_weight_decays=(0.0, 1.0))
    assert [(m["seed"], m["weight_decay"], m["role"]) for m in config.members()] == [
        (10, 1.0, "headline"), (11, 1.0, "headline"), (10, 0.0, "sweep")]


def test_tuple_elements_are_converted_exactly():
    from emergence.experiments import sparse_parity

    with pytest.raises(ConfigError, match="n_values"):
        sparse_parity.Config.preset("fast", n_values=(20.5, 50))
    assert sparse_parity.Config.preset("fast", n_values="20, 50").n_values == (20, 50)
    assert sparse_parity.Config.preset("fast", n_values=(20, 50.0)).n_values == (20, 50)


def test_a_missing_accelerator_is_a_clear_error(monkeypatch):
    import torch

    from emergence.experiments import sparse_parity

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="device='cuda' is not allowed.*CUDA is not available"):
        sparse_parity.run(sparse_parity.Config.preset("fast", device="cuda"))


def test_settings_used_names_the_profile_and_marks_what_changed():
    from emergence.notebook import settings_used

    box = settings_used(Config.preset("fast", p=61, weight_decay=1.0), "fast")
    assert box.profile == "fast" and box.device in ("cpu", "cuda", "mps")
    assert box.changed == ("p",)               # weight_decay=1.0 is the preset's own value
    assert box.settings["p"] == 61 and set(box.settings) == set(Config.field_names())
    html = box._repr_html_()
    assert "Settings used" in html and "<strong>fast</strong>" in html and "Changed from the profile: p." in html
    assert "p = 61   (changed)" in str(box)
    assert settings_used(Config.preset("full"), "full").changed == ()
    with pytest.raises(ConfigError, match="profile='huge'"):
        settings_used(Config.preset("fast"), "huge")


def test_every_chapter_registers_one_experiment_by_the_contract():
    import importlib
    from emergence.experiments import EXPERIMENTS, Experiment
    for name, experiment in EXPERIMENTS.items():
        module = importlib.import_module(f"emergence.experiments.{name}")
        assert isinstance(experiment, Experiment) and module.EXPERIMENT is experiment
        assert experiment.name == name == experiment.Config.experiment()
        assert module.run == experiment.run and experiment.about
        assert experiment.compute.__module__ == module.__name__


def test_range_helpers_name_the_setting_and_the_range():
    from emergence.config import require_int, require_number

    class Settings:
        width, steps, lr, decay, big = 0, 20_000_000, 0.0, -0.5, 2_000_000

    with pytest.raises(ConfigError, match=r"^width=0 is not allowed: an integer from 1 to 100000$"):
        require_int(Settings, "width", 1, 100_000)
    with pytest.raises(ConfigError, match=r"^steps=20000000 is not allowed: an integer from 10 to 10\^7$"):
        require_int(Settings, ("width", "steps")[1:], 10, 10_000_000)
    with pytest.raises(ConfigError, match=r"^lr=0.0 is not allowed: a number in \(0, 10\]$"):
        require_number(Settings, "lr", 0, 10)
    with pytest.raises(ConfigError, match=r"^decay=-0.5 is not allowed: a number >= 0$"):
        require_number(Settings, "decay", 0, low_open=False)
    with pytest.raises(ConfigError, match=r"an integer from 1 to 1500000$"):   # not 1.5e+06
        require_int(Settings, "big", 1, 1_500_000)
    require_int(Settings, "steps", 1)                                  # no upper bound
    require_number(Settings, "lr", 0, 1, low_open=False)               # [0, 1] holds 0


# --- the report table every chapter shows (emergence.notebook.report) ---------------------------


def test_report_flattens_a_summary_and_shortens_its_values():
    from emergence.notebook import report
    table = report({"a": 1.23456789, "b": {"c": list(range(8)), "d": None}, "e": 12345})
    assert table.rows == (("a", "1.235"), ("b.c", "[0, 1, 2, …, 6, 7]"), ("b.d", "None"), ("e", "12,345"))
    assert "<td>b.c</td>" in table._repr_html_() and str(table).splitlines()[1].startswith("a")


def test_report_of_rows_takes_its_columns_from_keys():
    from emergence.notebook import report
    table = report([{"seed": 0, "x": 0.5, "y": 1}, {"seed": 1, "x": 0.25}], keys=["seed", "y"], title="per seed")
    assert table.header == ("seed", "y") and table.rows == (("0", "1"), ("1", "None"))
    assert str(table).startswith("per seed") and "<caption>per seed</caption>" in table._repr_html_()
