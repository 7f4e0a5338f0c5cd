import math

import numpy as np
import pytest
import torch

from emergence.measures import (fourier_basis, frequency_norms, gini, key_frequencies, lag,
                                neuron_frequency_concentration, restricted_and_excluded_loss,
                                w10_90, weight_distance, weight_norm, x50)
from emergence.tasks.modular import modular_addition


def test_fourier_basis_is_orthonormal():
    basis = fourier_basis(11)
    torch.testing.assert_close(basis @ basis.T, torch.eye(11, dtype=torch.float64))


def test_frequency_norms_find_a_planted_frequency():
    p, x = 13, torch.arange(13, dtype=torch.float64)
    embedding = torch.stack([3 * torch.cos(2 * math.pi * 4 * x / p), torch.sin(2 * math.pi * 4 * x / p)], 1)
    norms = frequency_norms(embedding)
    assert norms.shape == (6,)
    assert key_frequencies(norms) == [4]
    assert norms[3] ** 2 == pytest.approx((embedding ** 2).sum().item() - 0)  # no constant part
    assert neuron_frequency_concentration(embedding).item() == pytest.approx(1.0)
    random = torch.randn(13, 500, generator=torch.Generator().manual_seed(0))
    assert neuron_frequency_concentration(random).item() < 0.5


def test_gini():
    assert gini(torch.ones(10)).item() == pytest.approx(0.0, abs=1e-12)
    assert gini(torch.tensor([0, 0, 0, 5.0])).item() == pytest.approx(1 - 1 / 4)
    assert gini(torch.tensor([[1.0, 1.0], [0.0, 2.0]])).tolist() == pytest.approx([0.0, 0.5])


def test_restricted_and_excluded_loss_on_a_planted_circuit():
    p = 11
    a = torch.arange(p, dtype=torch.float64)
    c = torch.arange(p, dtype=torch.float64)
    total = (a[:, None] + a[None, :]).flatten()
    # logits[ab, c] = 20 cos(w (a + b - c)): exactly Nanda's Fourier-multiplication circuit
    w = 2 * math.pi * 3 / p
    logits = 20 * torch.cos(w * (total[:, None] - c[None, :]))
    is_train = modular_addition(p, 0.5).is_train
    with_key = restricted_and_excluded_loss(logits, [3], is_train)
    correct = -logits.log_softmax(-1)[torch.arange(p * p), (total % p).long()].mean().item()
    assert with_key["restricted_loss"] == pytest.approx(correct, rel=1e-9)
    assert with_key["excluded_loss"] == pytest.approx(math.log(p), rel=1e-9)  # nothing left
    wrong = restricted_and_excluded_loss(logits, [1], is_train)
    assert wrong["restricted_loss"] == pytest.approx(math.log(p), rel=1e-9)
    assert wrong["excluded_loss"] < with_key["excluded_loss"]


def test_transition_points_on_a_logistic_curve():
    steps = np.arange(0, 1001)
    curve = 1 / (1 + np.exp(-(steps - 600) / 20))
    assert x50(steps, curve) == pytest.approx(600, abs=1)
    # 10 % -> 90 % of a logistic takes 2 ln 9 time constants
    assert w10_90(steps, curve) == pytest.approx(2 * math.log(9) * 20, abs=2)
    falling = 5 - 4 / (1 + np.exp(-(steps - 400) / 20))
    assert lag(steps, curve, falling) == pytest.approx(200, abs=2)
    assert math.isnan(x50(steps, np.ones_like(curve)))
    # from a start step on, only the change still to come counts
    two_steps = np.where(steps < 300, 0.0, 1.0) + np.where(steps < 700, 0.0, 1.0)
    assert x50(steps, two_steps) == 300 and x50(steps, two_steps, start=500) == 700


def test_weight_norm_and_distance():
    params = {"a": torch.ones(2, 3), "b": torch.full((2, 1), 2.0)}
    assert weight_norm(params).tolist() == [7.0, 7.0]
    start = {"a": torch.zeros(2, 3), "b": torch.zeros(2, 1)}
    assert weight_distance(params, start, ord=float("inf")).tolist() == [2.0, 2.0]


def test_change_interval_is_welchs_t_interval_and_claims_no_sign_from_two_chains():
    from scipy import stats
    from emergence.measures.llc import change_interval
    rng = np.random.default_rng(0)
    before, after = rng.normal(1.0, 0.3, 8), rng.normal(1.2, 0.5, 9)
    got = change_interval(before, after)
    want = stats.ttest_ind(after, before, equal_var=False).confidence_interval(0.95)
    assert got["interval"] == pytest.approx([want.low, want.high], rel=1e-9)
    # two chains a clear 0.2 apart still give no sign: the t quantile at ~1 degree of freedom is huge
    assert change_interval([1.0, 1.1], [1.2, 1.3])["sign"] == 0
    assert change_interval(rng.normal(1, 0.05, 8), rng.normal(1.5, 0.05, 8))["sign"] == 1
    with pytest.raises(ValueError, match="at least 2 chains"):
        change_interval([1.0], [2.0, 3.0])
