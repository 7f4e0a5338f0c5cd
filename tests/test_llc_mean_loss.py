"""estimate_llc's `mean_loss` shortcut (L_b(w*) from a per-sample table instead of a second
forward pass each minibatch step) gives the same chains as the plain path, in both the vmap and
the batched-model forms; and the plain sequential loop's minibatch option runs."""

import numpy as np
import torch

from emergence.measures.llc import estimate_llc, model_loss, sequential_sgld_llc, stack_params


def _problem():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(200, 5, generator=gen, dtype=torch.float64)
    y = x @ torch.randn(5, generator=gen, dtype=torch.float64) + 0.1 * torch.randn(200, generator=gen,
                                                                                    dtype=torch.float64)
    model = torch.nn.Linear(5, 1, bias=False).double()
    loss_fn = model_loss(model, lambda out, t: 0.5 * ((out[..., 0] - t) ** 2).mean())
    w = torch.linalg.lstsq(x, y[:, None]).solution.T                           # (1, 5): the minimum
    params = stack_params([{"weight": w}, {"weight": w + 0.01}])
    return loss_fn, params, (x, y)


def test_mean_loss_table_gives_the_same_chains():
    loss_fn, params, data = _problem()
    settings = dict(epsilon=1e-4, gamma=10.0, chains=3, burnin=20, draws=40, batch_size=16, seed=5, warn=False)
    plain = estimate_llc(loss_fn, params, data, **settings)
    table = estimate_llc(loss_fn, params, data, mean_loss=True, **settings)
    np.testing.assert_allclose(table.traces, plain.traces, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(table.llc_chains, plain.llc_chains, rtol=1e-8, atol=1e-10)


def test_mean_loss_table_with_a_batched_loss():
    _, params, data = _problem()

    def rows_loss(rows, batch):          # (B, 1, 5) weights; batch (B, m, 5), (B, m)
        x, y = batch
        pred = (x * rows["weight"]).sum(-1)
        return 0.5 * ((pred - y) ** 2).mean(-1)

    def shared(rows, batch):
        x, y = batch
        if x.dim() == 2:
            x, y = x.expand(rows["weight"].shape[0], *x.shape), y.expand(rows["weight"].shape[0], *y.shape)
        return rows_loss(rows, (x, y))

    settings = dict(epsilon=1e-4, gamma=10.0, chains=2, burnin=10, draws=30, batch_size=8, seed=1, warn=False,
                    batched=True)
    plain = estimate_llc(shared, params, data, **settings)
    table = estimate_llc(shared, params, data, mean_loss=True, **settings)
    np.testing.assert_allclose(table.traces, plain.traces, rtol=1e-10, atol=1e-12)


def test_sequential_loop_with_minibatches_is_positive_at_a_minimum():
    loss_fn, params, data = _problem()
    one = {"weight": params["weight"][0]}
    full = sequential_sgld_llc(loss_fn, one, data, epsilon=1e-4, gamma=10.0, nbeta=50.0, draws=300, burnin=100)
    mini = sequential_sgld_llc(loss_fn, one, data, epsilon=1e-4, gamma=10.0, nbeta=50.0, draws=300, burnin=100,
                               batch_size=32)
    assert full > 0 and np.isfinite(mini)
