"""Sparse parity: the task, the models, the movement measure, and the chapter's acceptance
criteria on the `fast` run (cached, shared with the book build and nbval)."""

import math

import pytest
import torch

from emergence.experiments import ConfigError, sparse_parity
from emergence.measures import coordinate_movement
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


def test_padded_inputs_never_move():
    model = TwoLayerMLP(6, 8, seeds=[0, 1], fan_in=[6, 4])
    assert torch.all(model.W1[1, 4:] == 0)
    assert model.W1[1, :4].abs().max() <= 1 / math.sqrt(4)
    x, y = ParityProblems.make([(6, 3, 0), (4, 2, 1)]).sample(32, torch.Generator().manual_seed(0))
    sparse_parity.hinge(model(x), y).sum().backward()
    assert torch.all(model.W1.grad[1, 4:] == 0)


def test_sin_neuron_exact_solution():
    problems = ParityProblems.make([(10, 3, 4)])
    neuron = SinNeuron(10, seeds=[0], fan_in=[10])
    with torch.no_grad():
        neuron.w.copy_(-(math.pi / 2) * problems.support.float())
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


def test_bad_settings():
    with pytest.raises(ConfigError, match="n=45"):
        sparse_parity.Config.preset("fast", n=45)
    with pytest.raises(ConfigError, match="k_values"):
        sparse_parity.Config.preset("fast", k_values=(2, 3, 30))


@pytest.fixture(scope="module")
def run():
    return sparse_parity.run(sparse_parity.Config.preset("fast"))


def test_plateau_then_solved(run):
    for seed in run.summary["seeds"]:                  # every headline seed
        assert seed["steps_to_solve"] is not None, seed
        assert seed["plateau_fraction"] >= 0.5, seed  # test error >= 0.45 for >= half the time


def test_relevant_weights_move_ahead_on_the_plateau(run):
    for seed in run.summary["seeds"]:
        assert seed["movement_ratio_on_plateau"] >= 1.5, seed
        assert seed["ratio_lead_over_plateau_end"] > 0, seed


def test_k3_takes_at_least_three_times_k2(run):
    s = run.summary
    assert (s["k_ratio"]["k_low"], s["k_ratio"]["k_high"]) == (2, 3)
    assert s["k_ratio"]["by_n"][str(s["n"])] >= 3


def test_scaling_grid_and_slope(run):
    row = run.summary["scaling"]["3"]
    assert len(row["n"]) >= 3 and all(len(v) >= 4 for v in row["steps"].values())
    assert row["unsolved"] == 0
    assert row["slope"] > 0 and len(row["slope_per_seed"]) >= 4 and row["slope_std"] is not None
    assert all(slope > 0 for slope in row["slope_per_seed"])


def test_summary_has_seconds_device_and_config(run):
    for key in ("seconds", "device", "config", "lag", "x50"):
        assert key in run.summary
