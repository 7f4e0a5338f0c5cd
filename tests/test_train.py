import pytest
import torch

from emergence.models import ModularMLP
from emergence.tasks.modular import modular_addition, one_hot_pairs
from emergence.train import decoupled_weight_decay, train

P = 7


def task():
    data = modular_addition(P, 0.5, seed=0)
    return one_hot_pairs(data.train_pairs, P), data.train_labels


def ce(model, batch):
    x, y = batch
    logp = model(x).log_softmax(-1)
    return -logp.gather(-1, y.expand(logp.shape[0], -1)[..., None]).squeeze(-1).mean(-1)


def fit(seeds, weight_decays, steps=30, **kw):
    x, y = task()
    model = ModularMLP(P, 16, seeds)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
    metrics = lambda m: {"loss": ce(m, (x, y))}
    result = train(model, opt, ce, lambda step: (x, y), steps=steps, log_every=10, metrics=metrics,
                   weight_decay=torch.tensor(weight_decays), progress=False, **kw)
    return model, result


def test_training_fits_a_tiny_problem():
    _, result = fit([0], [0.0], steps=200)
    assert result.history["loss"][-1, 0] < 0.05 * result.history["loss"][0, 0]


def test_ensemble_equals_separate_runs():
    ensemble, together = fit([0, 1, 2], [0.0, 0.5, 2.0])
    for index, (seed, wd) in enumerate([(0, 0.0), (1, 0.5), (2, 2.0)]):
        single, alone = fit([seed], [wd])
        torch.testing.assert_close(together.history["loss"][:, index], alone.history["loss"][:, 0])
        for name, p in single.named_parameters():
            torch.testing.assert_close(ensemble.member_state(index)[name], p[0].detach())


def test_per_member_weight_decay_matches_torch_adamw():
    x, y = task()
    ours = ModularMLP(P, 16, [5])
    plain = ModularMLP(P, 16, [5])
    opt_ours = torch.optim.AdamW(ours.parameters(), lr=1e-2, weight_decay=0.0)
    opt_plain = torch.optim.AdamW(plain.parameters(), lr=1e-2, weight_decay=0.7)
    for _ in range(20):
        for model, opt in ((ours, opt_ours), (plain, opt_plain)):
            opt.zero_grad()
            ce(model, (x, y)).sum().backward()
            if model is ours:
                decoupled_weight_decay(opt_ours, torch.tensor([0.7]))
            opt.step()
    for (name, a), (_, b) in zip(ours.named_parameters(), plain.named_parameters()):
        torch.testing.assert_close(a, b)


def test_logging_checkpoints_and_early_stop():
    _, result = fit([0], [0.0], steps=35, checkpoint_steps=[0, 7, 35])
    assert result.steps == [0, 10, 20, 30, 35]
    assert sorted(result.checkpoints) == [0, 7, 35]
    assert result.history["loss"].shape == (5, 1)
    assert not torch.equal(result.checkpoints[0]["unembed"], result.checkpoints[35]["unembed"])
    _, stopped = fit([0], [0.0], steps=100, stop=lambda latest: latest["loss"].max() < 10)
    assert stopped.stopped_early and stopped.steps == [0, 10]


def test_divergence_is_reported():
    x, y = task()
    model = ModularMLP(P, 16, [0])
    opt = torch.optim.SGD(model.parameters(), lr=1e6)
    with pytest.raises(FloatingPointError, match="learning rate"):
        train(model, opt, ce, lambda s: (x, y), steps=20, log_every=5, progress=False)


def test_cpu_threads_is_scoped():
    from emergence.train import cpu_threads

    before = torch.get_num_threads()
    with cpu_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_weight_decay_needs_one_value_per_member():
    x, y = task()
    model = ModularMLP(P, 16, [0, 1])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
    with pytest.raises(ValueError, match="one value per member"):
        train(model, opt, ce, lambda s: (x, y), steps=2, log_every=1, weight_decay=torch.ones(1),
              progress=False)
