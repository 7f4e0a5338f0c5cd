"""What `auto` chooses, and why, on machines this CPU can only pretend to be.

Device: Apple's MPS has no float64, so a chapter whose computation makes float64 tensors on its
device declares `USES_FLOAT64 = True` on its Config, and `device="auto"` then runs it on the CPU.
The declarations are checked, both ways, by running every chapter at a tiny size under a
TorchFunctionMode that watches for float64 tensors on the device.

Profile: `profile="auto"` picks `full` on a CUDA GPU only for a chapter whose `full` run is on
record as run end to end and passed (emergence/experiments/full_runs.json); else `fast`, and the
Settings-used box says why and how to ask for `full`.
"""

import dataclasses
import json
import os
import subprocess
import sys
import traceback
from pathlib import Path

import pytest
import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_leaves
from torch.utils.weak import WeakIdKeyDictionary

from emergence import config as settings   # profiles, devices and full-run records
from emergence.experiments import EXPERIMENTS, ConfigError, Run
from emergence.notebook import settings_used
from test_full_profiles import TINY, tiny_config, tiny_scaling_run  # noqa: F401 (a fixture)

ROOT = Path(__file__).resolve().parents[1]
DOUBLE = (torch.float64, torch.complex128)
TRANSFERS = (torch.Tensor.cpu, torch.Tensor.to)
SET_DATA = torch.Tensor.data.__set__


# --- the device's float64, seen on a CPU --------------------------------------------------------

class Float64Found(Exception):
    pass


class DeviceFloat64(TorchFunctionMode):
    """Records every float64 tensor a computation makes on its device.

    The run is on the CPU, so host and device are told apart by how a tensor was made: on the
    *host* are tensors made by a factory without a device argument (`torch.tensor(...)`,
    `torch.arange(n)`), copied out with `.cpu()` or `.to("cpu")`, or computed from host tensors
    only; everything else (moved with `.to(device)`, made with `device=...`, computed from a
    device tensor, or never seen, like the insides of autograd and vmap, or an nn.Parameter
    made in a constructor) counts as on the device.
    Unsure means device, so the check can only err towards declaring float64.
    `stop_at_first`: raise Float64Found at the first one (enough to confirm a declaration)."""

    def __init__(self, stop_at_first: bool = False):
        super().__init__()
        self.stop_at_first = stop_at_first
        self.host = WeakIdKeyDictionary()
        self.found: dict[str, str] = {}          # where -> the torch function that made float64

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        if func == SET_DATA:                     # `param.data = moved`, as Module.to does it
            self.mark(args[0], args[1] in self.host, func)
            return result
        on_host = self.made_on_host(func, args, kwargs)
        if func in TRANSFERS and result is args[0]:
            result = result.view_as(result)      # on a CPU a move is the tensor itself: a new one keeps both marks
        for out in tree_leaves(result):
            if isinstance(out, torch.Tensor):
                self.mark(out, on_host, func)
        return result

    def mark(self, tensor: torch.Tensor, on_host: bool, func) -> None:
        if on_host:
            self.host[tensor] = True
            return
        self.host.pop(tensor, None)
        if tensor.dtype in DOUBLE:
            self.found.setdefault(caller(), getattr(func, "__name__", str(func)))
            if self.stop_at_first:
                raise Float64Found

    def made_on_host(self, func, args, kwargs) -> bool:
        if func is torch.Tensor.cpu:
            return True
        # a device named as text "cpu" is the host; a torch.device is the run's device
        target = kwargs.get("device", next((a for a in args[1:] if isinstance(a, (str, torch.device))), None))
        if target is not None:
            return isinstance(target, str) and target.startswith("cpu")
        return all(t in self.host for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor))


def caller() -> str:
    """Where the float64 was asked for: the innermost line outside torch and this recorder."""
    for frame in reversed(traceback.extract_stack()):
        if "/torch/" not in frame.filename and frame.name not in ("caller", "mark", "__torch_function__"):
            path = Path(frame.filename)
            return f"{path.parent.name}/{path.name}:{frame.lineno}"
    return "?"


def device_float64(name: str, profile: str, stop_at_first: bool) -> dict[str, str]:
    """Where the chapter's tiny `profile` run makes float64 tensors on its device."""
    recorder = DeviceFloat64(stop_at_first)
    try:
        with recorder:
            EXPERIMENTS[name].run(tiny_config(name, profile), use_cache=False)
    except Float64Found:
        pass
    return recorder.found


def test_the_recorder_tells_host_float64_from_device_float64():
    device = torch.device("cpu")
    with DeviceFloat64() as recorder:
        x = torch.randn(4).to(device)
        x.cpu().double()                             # copied out first: host
        torch.arange(3).double()                     # never on the device: host
    assert recorder.found == {}
    with DeviceFloat64() as recorder:
        x = torch.randn(4).to(device)
        y = (x * 2).sum()
        y.double()                                   # on the device: found
    assert len(recorder.found) == 1
    with DeviceFloat64() as recorder:
        torch.zeros(3, dtype=torch.float64, device=device)
    assert len(recorder.found) == 1
    with DeviceFloat64() as recorder:
        probabilities = torch.ones(3, dtype=torch.float64)
        torch.multinomial(probabilities.to(device), 2)  # moved: found, though the CPU's move is a no-op
        (probabilities * 2).sum()                       # the original stays on the host
    assert len(recorder.found) == 1
    with DeviceFloat64() as recorder:
        model = torch.nn.Linear(2, 2).to(device)        # moved as the chapters move theirs
        model.double()                                  # on the device: found
        model.cpu().double()                            # moved back first: host
    assert len(recorder.found) == 1


@pytest.mark.parametrize("profile", ["fast", "full"])
@pytest.mark.parametrize("name", sorted(TINY))
def test_float64_declarations_match_what_runs_on_the_device(name, profile, cache_root, tiny_scaling_run):
    declared = EXPERIMENTS[name].Config.USES_FLOAT64
    found = device_float64(name, profile, stop_at_first=declared)
    if declared:
        assert found, f"{name} declares USES_FLOAT64 but made no float64 tensor on its device: drop it"
    else:
        assert not found, (f"{name} makes float64 tensors on its device at {sorted(found)}: declare "
                           "USES_FLOAT64 = True on its Config (MPS has none) or keep them on the CPU")


# --- device="auto" with MPS available ----------------------------------------------------------

@pytest.fixture
def apple_silicon(monkeypatch):
    """A machine with MPS and no CUDA."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_auto_never_puts_float64_on_mps(name, apple_silicon, monkeypatch):
    module = EXPERIMENTS[name]
    config = module.Config.preset("fast")
    chosen = {}
    def probe(config, device):                               # records the device instead of training
        chosen["device"] = device
        return Run(name, config.to_dict(), {})
    dataclasses.replace(module, compute=probe).run(config, use_cache=False)   # execute(): every run's path
    box = settings_used(config, "fast")
    if module.Config.USES_FLOAT64:
        assert chosen["device"].type == "cpu" and box.device == "cpu"
        assert any("float64" in note and "mps" in note for note in box.notes), box.notes
        assert "float64" in box._repr_html_()
        with pytest.raises(ConfigError, match="device='mps' is not allowed.*float64"):
            module.Config.preset("fast", device="mps")
    else:
        assert chosen["device"].type == "mps" and box.device == "mps" and box.notes == ()
        assert module.Config.preset("fast", device="mps").device == "mps"


def test_without_mps_auto_is_the_cpu_and_says_nothing(monkeypatch):
    monkeypatch.delenv("EMERGENCE_PROFILE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    for module in EXPERIMENTS.values():
        box = settings_used(module.Config.preset("fast"), "auto")
        assert (box.device, box.profile, box.notes) == ("cpu", "fast", ())


# --- profile="auto" on a CUDA machine ----------------------------------------------------------

@pytest.fixture
def cuda_machine(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.delenv("EMERGENCE_PROFILE", raising=False)


@pytest.fixture
def records(tmp_path, monkeypatch):
    """A private full-runs record file; write(name, record) adds one."""
    path = tmp_path / "full_runs.json"
    path.write_text("{}")
    monkeypatch.setattr(settings, "FULL_RUNS_FILE", path)

    def write(name: str, record: dict) -> None:
        path.write_text(json.dumps({**json.loads(path.read_text()), name: record}))
    return write


PASSED = dict(status="passed", machine="NVIDIA H100 80GB HBM3", date="2026-12-01", wall_seconds=312.0,
              acceptance="12 of 12 criteria passed")


def test_the_shipped_records_cover_every_chapter():
    shipped = json.loads(settings.FULL_RUNS_FILE.read_text())
    assert set(EXPERIMENTS) <= set(shipped)
    assert all(shipped[name]["status"] in settings.RECORD_STATUSES for name in EXPERIMENTS)


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_auto_is_fast_on_a_gpu_until_full_is_on_record(name, cuda_machine, records):
    Config = EXPERIMENTS[name].Config
    records(name, {"status": "ran", "acceptance": "not evaluated"})   # finished, but not verified
    assert Config.preset("auto") == Config.preset("fast")
    box = settings_used(Config.preset("auto"), "auto")
    assert box.profile == "fast"
    note = " ".join(box.notes)
    assert "not been verified" in note and 'profile="full"' in note and "EMERGENCE_PROFILE=full" in note
    assert "EMERGENCE_PROFILE=full" in box._repr_html_() and "EMERGENCE_PROFILE=full" in str(box)

    records(name, PASSED)
    assert Config.preset("auto") == Config.preset("full")
    box = settings_used(Config.preset("auto"), "auto")
    assert box.profile == "full" and "H100" in " ".join(box.notes) and box.changed == ()


def test_a_record_counts_only_for_its_own_chapter(cuda_machine, records):
    records("sparse_parity", PASSED)
    assert settings.resolve_profile("auto", "sparse_parity") == "full"
    assert settings.resolve_profile("auto", "grokking") == "fast"
    assert settings.resolve_profile("auto") == "fast"           # no chapter named: nothing verified


def test_emergence_profile_still_wins(cuda_machine, records, monkeypatch):
    monkeypatch.setenv("EMERGENCE_PROFILE", "full")
    assert settings.choose_profile("auto", "grokking") == ("full", "")
    monkeypatch.setenv("EMERGENCE_PROFILE", "fast")
    records("grokking", PASSED)
    assert settings.choose_profile("auto", "grokking") == ("fast", "")
    assert settings.choose_profile("full", "grokking") == ("full", "")   # asked for by name: no note


def test_every_config_knows_its_experiment():
    assert {name: module.Config.experiment() for name, module in EXPERIMENTS.items()} == {
        name: name for name in EXPERIMENTS}


# --- benchmarks/gpu.sh, which writes the records ------------------------------------------------

def test_the_gpu_script_runs_its_course_on_a_cpu(tmp_path):
    """benchmarks/gpu.sh in its dry run: tiny runs and short limits.  A benchmark runs out of
    time, a chapter runs and has its acceptance tests evaluated, another crashes; each gets a
    record in the script's own copy of the records, and the package's copy is left alone."""
    shipped = settings.FULL_RUNS_FILE.read_text()
    env = dict(os.environ, GPU_DRY_RUN="1", GPU_OUT=str(tmp_path), GPU_BENCH_S="4", PYTHON=sys.executable,
               GPU_CHAPTERS="sparse_parity no_such_chapter", OMP_NUM_THREADS="1")
    done = subprocess.run(["bash", "benchmarks/gpu.sh"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    records = json.loads((tmp_path / "full_runs.json").read_text())
    ran = records["sparse_parity"]
    assert ran["status"] in ("passed", "acceptance failed") and ran["wall_seconds"] > 0, ran
    assert ran["machine"].endswith("(dry run)") and "--set" in ran["command"]
    assert records["no_such_chapter"]["status"] == "failed"
    assert records["grokking"] == {"status": "not run"}
    assert settings.FULL_RUNS_FILE.read_text() == shipped
    unfinished = done.stdout.split("not finished:")[1]
    assert "benchmark grokking_speed: out of time" in unfinished and "no_such_chapter: crashed" in unfinished
    assert "| sparse_parity |" in (tmp_path / "report.md").read_text()
    assert (tmp_path / "logs.tar.gz").stat().st_size > 0


def test_the_cli_says_why_auto_ran_fast_on_a_gpu(cuda_machine, records, capsys):
    from emergence.cli import main
    assert main(["config", "grokking"]) == 0
    out, err = capsys.readouterr()
    assert "not been verified" in err and "EMERGENCE_PROFILE=full" in err
    assert json.loads(out) == json.loads(json.dumps(EXPERIMENTS["grokking"].Config.preset("fast").to_dict()))
    main(["config", "grokking", "--profile", "fast"])          # asked for by name: no note
    assert capsys.readouterr().err == ""
