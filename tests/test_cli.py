import json
import subprocess
import sys

import numpy as np
import pytest

from emergence.cli import main

TINY = ["--set", "p=7", "--set", "epochs=20", "--set", "log_every=5", "--set", "checkpoint_every=10",
        "--set", "width=8", "--set", "n_seeds=1", "--set", "sweep_weight_decays=0", "--set", "threads=1", "--set", "device=cpu",
        # 20 epochs keep 3 checkpoints: the LLC at 2 of them, a few SGLD steps
        "--set", "llc_checkpoints=2", "--set", "llc_burnin=2", "--set", "llc_draws=4", "--set", "llc_batch_size=16"]


def test_list(capsys):
    assert main(["list"]) == 0
    assert "grokking" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["run", "grokking", "--set", "colour=red"], "unknown setting 'colour'"),
    (["run", "grokking", "--set", "p=100"], "p=100 is not allowed: a prime"),
    (["run", "grokking", "--set", "epochs=ten"], "epochs='ten' is not allowed"),
    (["run", "grokking", "--set", "p"], "write --set key=value"),
    (["run", "grokking", "--profile", "huge"], "profile='huge'"),
    (["run", "sparse_parity_typo"], "unknown experiment"),
])
def test_bad_settings_exit_nonzero_with_a_clear_message(args, message, capsys):
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_run_writes_summary_and_history(tmp_path, cache_root):
    out = tmp_path / "out"
    assert main(["run", "grokking", "--profile", "fast", *TINY, "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["p"] == 7 and summary["device"] == "cpu" and summary["seconds"] > 0
    history = np.load(out / "history.npz")
    assert history["epoch"].tolist() == [0, 5, 10, 15, 20]
    assert history["test_acc"].shape == (5, 2)   # headline seed + the wd=0 member


def test_module_entry_point(cache_root):
    done = subprocess.run([sys.executable, "-m", "emergence", "run", "grokking", "--set", "p=8"],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "p=8 is not allowed" in done.stderr


def test_list_and_run_do_not_import_matplotlib():
    """Figures live in emergence.figures: the CLI (and a headless sweep) never loads matplotlib."""
    import subprocess
    import sys
    code = ("import sys; from emergence.cli import main; import emergence.experiments; "
            "main(['list']); assert 'matplotlib' not in sys.modules, 'matplotlib was imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
