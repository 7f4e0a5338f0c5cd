"""Silent alignment: the kernel measures against independent computations, the data, the
models, Saxe's closed form, and the chapter's acceptance criteria on the `fast` run (cached,
shared with the book build and nbval)."""

import numpy as np
import pytest
import torch

from acceptance import chapter_run, check, ratio
from emergence.experiments import ConfigError, silent_alignment
from emergence.measures.saxe import balanced_initial_strength, saxe_half_time, saxe_mode_strength
from emergence.measures import first_crossing
from emergence.measures.kernels import (empirical_ntk, ensemble_ntk, kernel_alignment, kernel_norm,
                                        kernel_regression, prediction_agreement)
from emergence.measures.silent_alignment import (crossover_sigma, fraction_rise_time, kernel_spectrum,
                                                 linear_reference_kernel, reference_alignment, task_direction,
                                                 task_power, unit_cosines)
from emergence.models import DeepLinear, HomogeneousMLP
from emergence.tasks.whitened import digits_pair, gaussian_teacher, saxe_teacher

# --- the NTK, against two independent computations ------------------------------------------


def relu_mlp_ntk_closed_form(W, a, x1, x2):
    """K(x, x') = sum_i relu(w_i.x) relu(w_i.x') + (x.x') sum_i a_i^2 1[w_i.x > 0] 1[w_i.x' > 0]."""
    pre1, pre2 = x1 @ W, x2 @ W
    features = torch.relu(pre1) @ torch.relu(pre2).T
    gates = ((pre1 > 0).double() * a ** 2) @ (pre2 > 0).double().T
    return features + (x1 @ x2.T) * gates


def test_ntk_equals_the_closed_form_of_the_relu_mlp():
    model = HomogeneousMLP(5, 7, seeds=[0, 1], init_scales=[0.5, 2.0], dtype=torch.float64)
    gen = torch.Generator().manual_seed(3)
    x1 = torch.randn(6, 5, generator=gen, dtype=torch.float64)
    x2 = torch.randn(4, 5, generator=gen, dtype=torch.float64)
    kernels = ensemble_ntk(model, x1, x2)
    assert kernels.shape == (2, 6, 4)
    for e in range(2):
        expected = relu_mlp_ntk_closed_form(model.W[e].detach(), model.a[e].detach(), x1, x2)
        torch.testing.assert_close(kernels[e], expected, rtol=1e-12, atol=1e-12)
    # the model's own closed form, which the experiment uses, against the per-example Jacobians
    torch.testing.assert_close(model.tangent_kernel(x1, x2), kernels, rtol=1e-12, atol=1e-12)
    per_member = torch.stack([x1, 2 * x1])
    torch.testing.assert_close(model.tangent_kernel(per_member),
                               ensemble_ntk(model, per_member, per_member_inputs=True), rtol=1e-12, atol=1e-12)


def autograd_jacobian(model, x, member):
    """One row per (example, output), built one backward pass at a time: no torch.func."""
    rows = []
    out = model(x)[member]
    out = out.unsqueeze(-1) if out.dim() == 1 else out
    for i in range(out.shape[0]):
        for c in range(out.shape[1]):
            grads = torch.autograd.grad(out[i, c], list(model.parameters()), retain_graph=True)
            rows.append(torch.cat([g[member].flatten() for g in grads]))
    return torch.stack(rows).reshape(out.shape[0], out.shape[1], -1)


def test_ntk_equals_a_loop_of_autograd_gradients_for_several_outputs():
    model = DeepLinear([3, 4, 2], seeds=[5, 6], init_scales=[1.0, 0.3], dtype=torch.float64)
    x = torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    kernels = ensemble_ntk(model, x, per_member_inputs=True)
    for e in range(2):
        jac = autograd_jacobian(model, x[e], e)                    # (N, C, params)
        expected = torch.einsum("icp,jcp->ij", jac, jac)           # summed over outputs
        torch.testing.assert_close(kernels[e], expected, rtol=1e-12, atol=1e-12)


def test_empirical_ntk_of_a_linear_model_is_the_gram_matrix():
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    params = {"beta": torch.ones(3, dtype=torch.float64)}
    kernel = empirical_ntk(lambda p, inputs: inputs @ p["beta"], params, x, chunk_size=2)
    torch.testing.assert_close(kernel, x @ x.T)


# --- alignment, scale, regression, agreement ------------------------------------------------


def test_kernel_alignment_known_values():
    y = torch.tensor([1.0, -1.0, 1.0, 1.0], dtype=torch.float64)
    target = torch.outer(y, y)
    assert kernel_alignment(3 * target, y).item() == pytest.approx(1.0)
    assert kernel_alignment(-target, y).item() == pytest.approx(-1.0)
    # the identity: y^T y / (sqrt(N) |y|^2) = 1 / sqrt(N)
    assert kernel_alignment(torch.eye(4, dtype=torch.float64), y).item() == pytest.approx(0.5)
    stacked = kernel_alignment(torch.stack([target, torch.eye(4, dtype=torch.float64)]), y)
    torch.testing.assert_close(stacked, torch.tensor([1.0, 0.5], dtype=torch.float64))
    Y = torch.stack([y, -y], 1)                                    # two outputs: Y Y^T = 2 y y^T
    assert kernel_alignment(target, Y).item() == pytest.approx(1.0)
    assert kernel_norm(target).item() == pytest.approx(4.0)        # |y|^2


def test_kernel_regression_interpolates_and_is_min_norm_least_squares():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(6, 10, generator=gen, dtype=torch.float64)
    x_new = torch.randn(3, 10, generator=gen, dtype=torch.float64)
    y = torch.randn(6, generator=gen, dtype=torch.float64)
    fitted = kernel_regression(x @ x.T, x @ x.T, y, ridge=1e-12)
    torch.testing.assert_close(fitted, y, rtol=1e-7, atol=1e-7)
    predicted = kernel_regression(x @ x.T, x_new @ x.T, y, ridge=1e-12)
    torch.testing.assert_close(predicted, x_new @ torch.linalg.pinv(x) @ y, rtol=1e-7, atol=1e-7)
    batched = kernel_regression(torch.stack([x @ x.T, 2 * x @ x.T]), torch.stack([x_new @ x.T] * 2), y)
    torch.testing.assert_close(batched[0], 2 * batched[1])


def test_prediction_agreement():
    ref = torch.tensor([1.0, -1.0, 2.0, 0.0])
    assert prediction_agreement(ref, ref) == {"r2": 1.0, "relative_error": 0.0}
    half = prediction_agreement(ref, ref / 2)
    assert half["relative_error"] == pytest.approx(0.5)
    assert half["r2"] == pytest.approx(1 - 1.5 / 5)      # sum (ref / 2)^2 over sum (ref - mean)^2


# --- the mechanism: spectrum, directions, the linear reference -------------------------------


def test_kernel_spectrum_of_a_centred_rank_one_kernel_plus_noise():
    gen = torch.Generator().manual_seed(0)
    y = torch.tensor([1.0, -1.0] * 10, dtype=torch.float64)
    noise = torch.randn(20, 20, generator=gen, dtype=torch.float64) * 0.01
    kernel = torch.outer(y, y) + 5.0 + noise @ noise.T                 # a constant mode on top
    values, overlaps = kernel_spectrum(kernel, y, k=3)
    assert values.shape == overlaps.shape == (3,)
    assert values[0].item() > 0.99 and overlaps[0].item() == pytest.approx(1.0, abs=1e-3)
    assert values[1] <= values[0] and overlaps[1:].sum().item() < 1e-3   # the constant is gone
    stacked, _ = kernel_spectrum(torch.stack([kernel, 2 * kernel]), y, k=2)
    torch.testing.assert_close(stacked[0], stacked[1])                  # fractions: scale-free


def test_unit_directions_against_the_task():
    beta = torch.tensor([3.0, 0.0, 0.0], dtype=torch.float64)
    W = torch.tensor([[1.0, 0.0, -2.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64)  # (d, width)
    torch.testing.assert_close(unit_cosines(W, beta), torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64))
    assert task_power(W, beta).item() == pytest.approx(5 / 6)          # (1 + 4) / (1 + 1 + 4)
    random = torch.randn(4, 50, 4000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert task_power(random, beta.new_ones(50)).mean().item() == pytest.approx(1 / 50, rel=0.05)


def test_linear_reference_alignment_closed_form_on_whitened_data():
    """On whitened inputs (X^T X = P I) and labels +-1, A(K_ref, yy^T) = 2 |beta|^2 / sqrt(d + 3)."""
    data = gaussian_teacher(dim=8, n_train=200, n_test=10, seed=0)
    x, y = data.x_train, torch.sign(data.y_train)
    beta = task_direction(x, y)
    torch.testing.assert_close(beta, x.T @ y / len(y))
    assert reference_alignment(x, y) == pytest.approx(2 * beta.norm().item() ** 2 / (8 + 3) ** 0.5, rel=1e-10)


def test_a_linear_network_from_a_small_init_ends_with_the_reference_kernel():
    """The reference is the kernel a two-layer linear network actually learns: train one from a
    small init to convergence and compare its tangent kernel's alignment with the formula's."""
    data = gaussian_teacher(dim=6, n_train=60, n_test=10, seed=1, teacher="linear")
    x, y = data.x_train, data.y_train
    model = DeepLinear([6, 40, 1], seeds=[0], init_scales=[1e-4], dtype=torch.float64)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    for _ in range(3000):
        optimizer.zero_grad()
        (0.5 * ((model(x)[0, :, 0] - y) ** 2).mean()).backward()
        optimizer.step()
    learned = ensemble_ntk(model, x)[0]
    assert kernel_alignment(learned, y).item() == pytest.approx(reference_alignment(x, y), rel=0.02)
    reference = linear_reference_kernel(x, y)
    assert (learned / learned.norm() - reference / reference.norm()).norm().item() < 0.05


def test_rise_time_and_crossover():
    steps, values = np.array([0, 10, 20, 30]), np.array([0.0, 0.5, 1.0, 0.8])
    assert fraction_rise_time(steps, values, 0.5) == pytest.approx(10.0)
    assert fraction_rise_time(steps, np.array([1.0, 0.9, 0.8, 0.5]), 0.5) is None   # never rises
    assert crossover_sigma([1e-2, 1e-1, 1.0], [100.0, 4.0, 1.0]) == pytest.approx(10 ** -0.5)
    assert crossover_sigma([1e-2, 1e-1], [100.0, 4.0]) is None


# --- data and models --------------------------------------------------------------------------


def test_whitened_digits():
    white = digits_pair((0,), (1,), n_train=100, n_test=30, seed=1)
    raw = digits_pair((0,), (1,), n_train=100, n_test=30, seed=1, whitened=False)
    p, d = white.x_train.shape
    torch.testing.assert_close(white.x_train.T @ white.x_train / p, torch.eye(d, dtype=torch.float64))
    torch.testing.assert_close(white.x_train.mean(0), torch.zeros(d, dtype=torch.float64))
    assert set(white.y_train.tolist()) == {1.0, -1.0} and white.x_test.shape == (30, d)
    # the control: same images and labels, same number of directions and mean |x|^2, not white
    assert torch.equal(raw.y_train, white.y_train) and raw.x_train.shape == (p, d)
    assert (raw.x_train ** 2).sum(1).mean().item() == pytest.approx(d)
    assert raw.input_spectrum[0] > 5 * raw.input_spectrum[-1]
    with pytest.raises(ValueError, match="have 360 images"):
        digits_pair((0,), (1,), n_train=300, n_test=100)
    with pytest.raises(ValueError, match="disjoint"):
        digits_pair((0, 1), (1,))


def test_gaussian_teacher_data():
    white = gaussian_teacher(dim=8, n_train=200, n_test=20, seed=0)
    torch.testing.assert_close(white.x_train.T @ white.x_train / 200, torch.eye(8, dtype=torch.float64))
    assert white.y_train.std(correction=0).item() == pytest.approx(1.0)
    skewed = gaussian_teacher(dim=8, n_train=200, n_test=20, seed=0, whitened=False, teacher="linear")
    assert skewed.input_spectrum[0] > 3 * skewed.input_spectrum[-1]


def test_saxe_teacher_has_the_chosen_correlation():
    task = saxe_teacher((3.0, 1.0), d_in=6, d_out=4, n_points=50, seed=2)
    eye = torch.eye(6, dtype=torch.float64)
    torch.testing.assert_close(task.x.T @ task.x / 50, eye)
    correlation = task.x.T @ task.y / 50
    expected = task.input_modes @ torch.diag(task.singular_values) @ task.output_modes.T
    torch.testing.assert_close(correlation, expected)
    torch.testing.assert_close(torch.linalg.svdvals(correlation)[:2], task.singular_values)


def test_homogeneous_models_scale_with_sigma():
    x = torch.randn(9, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    mlp = HomogeneousMLP(4, 16, seeds=[3, 3], init_scales=[1e-3, 2e-3], dtype=torch.float64)
    out = mlp(x).detach()
    torch.testing.assert_close(out[1], 4 * out[0])                 # 2-homogeneous
    kernels = ensemble_ntk(mlp, x)
    torch.testing.assert_close(kernels[1], 4 * kernels[0])         # NTK ~ sigma^2 too
    deep = DeepLinear([4, 5, 6, 2], seeds=[0], init_scales=[1.0], dtype=torch.float64)
    torch.testing.assert_close(deep(x)[0], x @ deep.end_to_end()[0])
    with pytest.raises(ValueError, match="init_scales"):
        HomogeneousMLP(4, 16, seeds=[0, 1], init_scales=[1.0])


# --- Saxe's closed form -------------------------------------------------------------------------


def test_saxe_closed_form_solves_its_equation():
    s, u0, lr = 2.0, 1e-3, 0.01
    t = np.linspace(0, 600, 6001)
    u = saxe_mode_strength(t, s, u0, lr)
    assert u[0] == pytest.approx(u0) and u[-1] == pytest.approx(s, rel=1e-3)
    derivative = np.gradient(u, t)
    np.testing.assert_allclose(derivative[1:-1], (2 * lr * u * (s - u))[1:-1], rtol=1e-3, atol=1e-9)
    half = saxe_half_time(s, u0, lr)
    assert saxe_mode_strength(half, s, u0, lr) == pytest.approx(s / 2)


def test_a_balanced_linear_network_follows_saxe_exactly():
    """From a balanced, decoupled init the closed form is the exact gradient flow: small-step
    gradient descent must reach each half-time within 1 %."""
    task = saxe_teacher((2.0, 1.0), d_in=4, d_out=3, n_points=64, seed=0)
    model = DeepLinear([4, 5, 3], seeds=[0], init_scales=[1.0], dtype=torch.float64)
    hidden = torch.linalg.qr(torch.randn(5, 2, generator=torch.Generator().manual_seed(1),
                                         dtype=torch.float64))[0]
    scale = 0.03                                                   # u0 = scale^2 for both modes
    with torch.no_grad():
        model.weights[0].copy_((scale * task.input_modes @ hidden.T)[None])
        model.weights[1].copy_((scale * hidden @ task.output_modes.T)[None])
    u0 = balanced_initial_strength(model, task.input_modes, task.output_modes)[0]
    torch.testing.assert_close(u0, torch.full((2,), scale ** 2, dtype=torch.float64))
    lr, strengths = 0.002, []
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(2500):
        strengths.append(torch.einsum("dk,do,ok->k", task.input_modes, model.end_to_end()[0].detach(),
                                      task.output_modes))
        optimizer.zero_grad()
        (0.5 * ((model(task.x) - task.y) ** 2).sum(-1).mean()).backward()
        optimizer.step()
    strengths = torch.stack(strengths).numpy()
    for k, s in enumerate((2.0, 1.0)):
        measured = first_crossing(np.arange(len(strengths)), strengths[:, k], s / 2, interpolate=True)
        assert measured == pytest.approx(saxe_half_time(s, scale ** 2, lr), rel=0.01)


def test_first_crossing_interpolates():
    assert first_crossing([0, 10, 20], [0.0, 1.0, 2.0], 1.5, interpolate=True) == pytest.approx(15.0)
    assert first_crossing([0, 10, 20], [2.0, 1.0, 0.0], 0.5, above=False, interpolate=True) == pytest.approx(15.0)
    assert first_crossing([0, 10], [0.0, 1.0], 3.0, interpolate=True) is None
    assert first_crossing([0, 10, 20], [0.0, 1.0, 2.0], 1.5) == 20.0          # the logged step
    assert first_crossing([0, 10, 20], [2.0, 3.0, 4.0], 1.5, interpolate=True) == 0.0


# --- settings and a tiny end-to-end run --------------------------------------------------------


def test_bad_settings():
    with pytest.raises(ConfigError, match="sigma=0.5"):
        silent_alignment.Config.preset("fast", sigma=0.5)
    with pytest.raises(ConfigError, match="n_train"):
        silent_alignment.Config.preset("fast", n_train=400)
    with pytest.raises(ConfigError, match="saxe_singular_values"):
        silent_alignment.Config.preset("fast", saxe_singular_values=(1.0, 2.0))
    with pytest.raises(ConfigError, match="dataset"):
        silent_alignment.Config.preset("fast", dataset="mnist")
    with pytest.raises(ConfigError, match="positive"):
        silent_alignment.Config.preset("fast", positive=(1,))
    with pytest.raises(ConfigError, match="sweep_sigmas"):
        silent_alignment.Config.preset("fast", sweep_sigmas=(0.3, -1.0))


def test_a_tiny_run_measures_and_plots(cache_root):
    import matplotlib.pyplot as plt

    from emergence import figures

    config = silent_alignment.Config.preset(
        "fast", dataset="gaussian", gaussian_dim=6, n_train=40, n_test=12, width=16, steps=120,
        log_every=10, kernel_points=12, sigmas=(1e-2, 1e-3), sigma=1e-3, saxe_dims=(4, 6, 3),
        saxe_singular_values=(2.0, 1.0), saxe_points=32, saxe_steps=100, saxe_seeds=2, n_seeds=2,
        sweep_sigmas=(0.3,), device="cpu")
    run = silent_alignment.run(config)
    s = run.summary
    assert len(s["runs"]) == 10 and [r["seed"] for r in s["runs"]] == [0] * 5 + [1] * 5
    diagram = s["phase_diagram"][0]
    assert diagram["sigma"] == [1e-3, 1e-2, 0.3, 1.0] and diagram["lr"] == [0.05, 0.05, 0.05, 0.02]
    assert len(s["phase_diagram"]) == 2 and run.history["kernel_spectrum"].shape[1:] == (10, 5)
    assert s["control"]["inputs"] == "anisotropic" and s["control"]["seed"] == 0
    assert [row["r2"] for row in s["init_scaling"]] == [None, None]   # two sigmas: no fit claimed
    assert run.history["alignment"].shape == (len(run.history["kernel_step"]), 10)
    assert run.history["test_network"].shape == (10, 12)
    # the second seed's first member is a model of its own: not a copy of the first seed's
    assert not torch.equal(run.history["train_loss"][:, 0], run.history["train_loss"][:, 5])
    assert silent_alignment.run(config).from_cache
    for plot in (figures.silent_alignment.plot_dynamics, figures.silent_alignment.plot_init_scaling,
                 figures.silent_alignment.plot_kernel_predictions,
                 figures.silent_alignment.plot_kernel_snapshots, figures.silent_alignment.plot_saxe,
                 figures.silent_alignment.plot_mechanism, figures.silent_alignment.plot_phase_diagram):
        plt.close(plot(run))


# --- acceptance: the fast run --------------------------------------------------------------------


@pytest.fixture(scope="module")
def run():
    return chapter_run(silent_alignment)


def small_init_runs(run):
    rows = [r for r in run.summary["runs"] if r["regime"] == "rich" and r["sigma"] <= 1e-3]
    assert rows
    return rows


def test_silent_phase(run):
    for r in small_init_runs(run):
        name = f"σ={r['sigma']:g}"
        check(f"{name}: alignment time / loss time", r["t_align"] / r["t_loss"], "<=", 0.5, seed=r["seed"])
        # the loss has not moved yet ...
        check(f"{name}: loss at alignment / initial loss", r["loss_at_align"], ">=", 0.95, seed=r["seed"])
        # ... and the kernel is still tiny
        check(f"{name}: kernel norm at alignment / final", r["kernel_norm_at_align"], "<=", 0.05, seed=r["seed"])


def test_trained_network_is_kernel_regression_with_its_final_kernel(run):
    for r in small_init_runs(run):
        name = f"σ={r['sigma']:g}"
        final, initial = r["kernel"]["final_ntk"], r["kernel"]["initial_ntk"]
        check(f"{name}: R² of kernel regression with the final NTK", final["r2"], ">=", 0.99, seed=r["seed"])
        check(f"{name}: relative error of the final NTK's prediction", final["relative_error"], "<=", 0.1,
              seed=r["seed"])
        check(f"{name}: initial NTK's relative error / final NTK's", initial["relative_error"] / final["relative_error"],
              ">=", 3, seed=r["seed"])


def test_loss_waits_log_one_over_sigma_while_alignment_does_not(run):
    for row in run.summary["init_scaling"]:
        assert len(row["sigmas"]) >= 3
        check("R² of loss time vs ln(1/σ)", row["r2"], ">=", 0.98, seed=row["seed"])
        # the chapter's own prediction for the ReLU network, 2 / (lr s) steps per e-fold, not only its
        # sign: measured 3.3-3.7 % above it on seeds 0-5 under both kernel sets (portability audit)
        measured_over_predicted = ratio(row["steps_per_e_fold"], run.summary["relu_unit_steps_per_e_fold"])
        check("|steps per e-fold of 1/σ / the predicted 2 / (lr s) - 1|",
              None if measured_over_predicted is None else abs(measured_over_predicted - 1), "<=", 0.15,
              seed=row["seed"])
        check("relative spread of the alignment time over σ", row["t_align_spread"], "<", 0.2, seed=row["seed"])


def test_phase_one_turns_the_kernels_eigenvectors_then_the_weights(run):
    for r in small_init_runs(run):
        name, overlap, cosine = f"σ={r['sigma']:g}", r["top_eigenvector_overlap"], r["cosine_median"]
        # the centred kernel's top eigenvector carries none of the labels at init and most of them at
        # t_align, while the loss has not moved (test_silent_phase)
        check(f"{name}: labels along the top eigenvector at init, (v1.y)^2/|y|^2", overlap["initial"], "<=", 0.2,
              seed=r["seed"])
        check(f"{name}: labels along the top eigenvector at t_align", overlap["at_align"], ">=", 0.5, seed=r["seed"])
        # the input weights turn later: barely at t_align, half-way while the loss is still flat, and
        # most units point along +-beta by the time the loss is half-way down
        check(f"{name}: median |cos(w_i, beta)| at t_align", cosine["at_align"], "<=", 0.4, seed=r["seed"])
        check(f"{name}: loss when the task power is half-way up / initial loss", r["loss_at_weights"], ">=", 0.95,
              seed=r["seed"])
        check(f"{name}: median |cos(w_i, beta)| at t_loss", cosine["at_loss"], ">=", 0.7, seed=r["seed"])


def test_final_kernel_against_the_linear_reference(run):
    """The linear network's aligned kernel (Atanasov et al.'s reference line): the small inits' final
    kernels reach well over half of its alignment and stay below it; the lazy init stays far below."""
    reference = run.summary["reference_alignment"]
    for r in small_init_runs(run):
        check(f"σ={r['sigma']:g}: final alignment / linear reference", r["alignment_final"] / reference, ">=", 0.5,
              seed=r["seed"])
        check(f"σ={r['sigma']:g}: final alignment / linear reference (at most 1)", r["alignment_final"] / reference,
              "<=", 1, seed=r["seed"])
    lazy = run.summary["lazy"]
    check("lazy init: final alignment / linear reference", lazy["alignment_final"] / reference, "<=", 0.3,
          seed=lazy["seed"])


def test_phase_diagram_from_rich_to_lazy(run):
    """The init scale from 1e-4 to 3: the kernel grows by orders of magnitude at small sigma and not
    at all at large sigma; the final kernel explains the network far better than the initial one at
    small sigma, both explain it at large sigma; the alignment comes before the loss at small sigma
    and hardly rises at large sigma (there t_align is a formality: at sigma = 3 the alignment's
    maximum is its initial value on seeds 4 and 5, so t_align is 0, while t_align / t_loss is 75-315
    on seeds 0-3, whose alignment rises by 6e-4 or less; reported, not asserted)."""
    for d in run.summary["phase_diagram"]:
        seed, sigma = d["seed"], np.array(d["sigma"])
        rich, lazy = np.flatnonzero(sigma <= 1e-2), np.flatnonzero(sigma >= 1)
        rise = np.array(d["alignment_rise"]) / d["alignment_rise"][0]      # over the smallest init's
        assert len(sigma) >= 6 and sigma.min() <= 1e-4 and sigma.max() >= 3
        growth = np.array(d["kernel_growth"])
        check("phase diagram: init scales whose kernel grows >= 100x", float((growth >= 100).sum()), ">=", 2, seed=seed)
        check("phase diagram: init scales whose kernel grows <= 1.1x", float((growth <= 1.1).sum()), ">=", 2, seed=seed)
        check("phase diagram: smallest growth ratio of neighbouring σ (decreasing: > 1)",
              float(np.min(growth[:-1] / growth[1:])), ">", 1, seed=seed)
        check("phase diagram: σ where the kernel growth crosses 2 (above 0.01)", d["crossover_sigma"], ">", 0.01,
              seed=seed)
        check("phase diagram: σ where the kernel growth crosses 2 (below 1)", d["crossover_sigma"], "<", 1, seed=seed)
        for i in rich:
            name = f"phase diagram, σ={sigma[i]:g}"
            check(f"{name}: kernel growth", growth[i], ">=", 100, seed=seed)
            check(f"{name}: initial NTK's relative error / final NTK's", d["initial_error"][i] / d["final_error"][i],
                  ">=", 3, seed=seed)
            check(f"{name}: R² of the final NTK", d["final_r2"][i], ">=", 0.99, seed=seed)
            check(f"{name}: alignment time / loss time", d["align_over_loss_time"][i], "<=", 0.5, seed=seed)
        for i in lazy:
            name = f"phase diagram, σ={sigma[i]:g}"
            check(f"{name}: kernel growth", growth[i], "<=", 1.1, seed=seed)
            check(f"{name}: R² of the initial NTK", d["initial_r2"][i], ">=", 0.99, seed=seed)
            check(f"{name}: R² of the final NTK", d["final_r2"][i], ">=", 0.99, seed=seed)
            check(f"{name}: alignment rise / the smallest σ's", rise[i], "<=", 0.15, seed=seed)


def test_deep_linear_modes_follow_saxe(run):
    saxe = run.summary["saxe"]
    seeds = [seed["seed"] for seed in saxe["seeds"]]
    check("deep linear net: every mode learned, in order (1 = yes)",
          float(saxe["all_modes_learned"] and saxe["learned_in_order"]), ">=", 1, seed=seeds)
    for seed in saxe["seeds"]:
        check("deep linear net: smallest measured / predicted learning time", min(seed["ratio"]), ">=", 0.8,
              seed=seed["seed"])
        check("deep linear net: largest measured / predicted learning time", max(seed["ratio"]), "<=", 1.2,
              seed=seed["seed"])


def test_lazy_init_keeps_its_kernel(run):
    lazy, seed = run.summary["lazy"], run.summary["config"]["seed"]
    headline = next(r for r in small_init_runs(run) if r["sigma"] == run.summary["sigma"])
    check("lazy init: kernel growth", lazy["kernel_growth"], "<", 1.1, seed=seed)
    check("small init: kernel growth", headline["kernel_growth"], ">", 100, seed=seed)
    rise = lambda r: r["alignment_max"] - r["alignment_initial"]   # noqa: E731
    check("alignment rise, lazy / small init", rise(lazy) / rise(headline), "<", 0.25, seed=seed)
    # the initial kernel already explains it
    check("lazy init: R² of kernel regression with the initial NTK", lazy["kernel"]["initial_ntk"]["r2"], ">=", 0.99,
          seed=seed)


def test_anisotropic_control_is_reported_and_weaker(run):
    s, seed = run.summary, run.summary["config"]["seed"]
    control = s["control"]
    assert control["inputs"] == "anisotropic"
    check("anisotropic control: largest eigenvalue of the input spectrum (whitened: 1)", s["anisotropic_spectrum_top"][0], ">", 5, seed=seed)
    check("final-NTK R²: whitened - anisotropic control",
          s["kernel"]["final_ntk"]["r2"] - control["kernel"]["final_ntk"]["r2"], ">", 0, seed=seed)


def test_summary_has_lag_seconds_device_and_config(run):
    for key in ("lag", "x50", "seconds", "device", "config", "members"):
        assert key in run.summary
    # the alignment moves before the loss
    check("lag of the loss behind the alignment", run.summary["lag"]["alignment"], ">", 0,
          seed=run.summary["config"]["seed"])
