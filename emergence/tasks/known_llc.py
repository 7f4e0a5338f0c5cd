"""Models whose local learning coefficient is known: the test bench of the LLC estimator
(`emergence.measures.llc`; the chapter on the LLC, experiments/llc_validation.py).

Each `*_case` returns parameters at a minimum w* (stacked along a leading checkpoint dimension),
the data, and what the exact value needs; `*_loss(params, batch)` is its loss L_n.  The exact
values are in `emergence.measures.llc` (`exact_regular`, `exact_crossing`, `aoyagi_rrr`, `aoyagi_dln`).

  * regular: linear regression at its least-squares fit, λ = d / 2;
  * normal crossing: L = ½ (y - x w₁^a w₂^b)², singular at w* = 0, λ = 1 / (2 max(a, b));
  * deep linear network: y = W_L ... W_1 x at the reduced-rank-regression minimum, λ from
    Aoyagi and Watanabe (2005) at depth 2 and Aoyagi (2024) at any depth.
"""

from __future__ import annotations

import torch

DTYPE = torch.float64


def regression_loss(params, batch):
    x, y = batch
    return 0.5 * ((y - x @ params["w"]) ** 2).mean()


def regular_case(d: int, n: int, gen: torch.Generator, device) -> tuple:
    """Linear regression at its least-squares fit; returns (params at w*, data, Hessian eigenvalues)."""
    x = torch.randn(n, d, generator=gen, dtype=DTYPE).to(device)
    y = x @ torch.randn(d, generator=gen, dtype=DTYPE).to(device) + torch.randn(n, generator=gen, dtype=DTYPE).to(device)
    w = torch.linalg.lstsq(x, y[:, None]).solution[:, 0]
    return {"w": w[None]}, (x, y), torch.linalg.eigvalsh(x.T @ x / n)


def crossing_loss(a: int, b: int):
    def loss(params, batch):
        x, y = batch
        w = params["w"]
        return 0.5 * ((y - x * w[0] ** a * w[1] ** b) ** 2).mean()
    return loss


def crossing_moment_loss(a: int, b: int):
    """`crossing_loss` from the data's `second_moments` (x and y scalars): the same L_n up to
    rounding, in a few operations instead of n."""
    def loss(params, moments):
        sxx, syx, syy = moments
        w = params["w"]
        m = w[0] ** a * w[1] ** b
        return 0.5 * (syy - 2 * syx[0, 0] * m + sxx[0, 0] * m * m)
    return loss


def second_moments(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(xᵀx / n, yᵀx / n, mean |y|²): all a squared loss of a linear map y ≈ W x depends on, since
    ½ mean |y - W x|² = ½ (mean |y|² - 2 tr(W (yᵀx/n)ᵀ) + tr(W (xᵀx/n) Wᵀ)).  1-D x, y count as
    one feature."""
    x, y = x.reshape(len(x), -1), y.reshape(len(y), -1)
    n = len(x)
    return x.T @ x / n, y.T @ x / n, (y * y).sum() / n


def crossing_case(n: int, gen: torch.Generator, device) -> tuple:
    """Pure-noise labels made orthogonal to the input, so w* = 0 minimises L_n exactly."""
    x = torch.randn(n, generator=gen, dtype=DTYPE)
    y = torch.randn(n, generator=gen, dtype=DTYPE)
    y = y - x * (x @ y) / (x @ x)
    return {"w": torch.zeros(1, 2, dtype=DTYPE, device=device)}, (x.to(device), y.to(device))


def dln_product(params) -> torch.Tensor:
    """W_L ... W_1 for the layers params["W1"], ..., params["WL"]."""
    out = params["W1"]
    for layer in range(2, len(params) + 1):
        out = params[f"W{layer}"] @ out
    return out


def dln_loss(params, batch):
    """½ mean |y - W_L ... W_1 x|² over the samples batch = (x, y)."""
    x, y = batch
    return 0.5 * ((y - x @ dln_product(params).T) ** 2).sum(-1).mean()


def dln_moment_loss(params, moments):
    """`dln_loss` from the data's `second_moments`: the same L_n up to rounding, at a cost that does
    not grow with n (what the validation samples with)."""
    sxx, syx, syy = moments
    w = dln_product(params)
    return 0.5 * (syy - 2 * (w * syx).sum() + ((w @ sxx) * w).sum())


def dln_case(widths: tuple[int, ...], r: int, n: int, gen: torch.Generator, device, noise: float = 0.1) -> tuple:
    """A deep linear network x -> W_L ... W_1 x (`widths` = input N, hidden H_1 ... H_{L-1},
    output M), a rank-r teacher with singular values evenly spaced in [1, 2], labels with Gaussian
    noise of standard deviation `noise`, and the network at a minimum of L_n: the reduced-rank
    regression optimum (`rrr_minimum`, rank at most the narrowest layer), split evenly over the
    layers (`balanced_factors`).  Any split of that product is a global minimum of L_n (no product
    of those layers does better), so no direction curves down.
    Returns (params at w*, data, the whitened least-squares fit's singular values)."""
    N, M = widths[0], widths[-1]
    u = torch.linalg.qr(torch.randn(M, r, generator=gen, dtype=DTYPE))[0]
    v = torch.linalg.qr(torch.randn(N, r, generator=gen, dtype=DTYPE))[0]
    teacher = u @ torch.diag(torch.linspace(1, 2, r, dtype=DTYPE)) @ v.T
    x = torch.randn(n, N, generator=gen, dtype=DTYPE)
    y = x @ teacher.T + noise * torch.randn(n, M, generator=gen, dtype=DTYPE)
    product, singular = rrr_minimum(x, y, min(widths))
    params = {k: v[None].to(device) for k, v in balanced_factors(product, widths).items()}
    return params, (x.to(device), y.to(device)), singular


def rrr_minimum(x: torch.Tensor, y: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """argmin over matrices W of rank <= `rank` of ½ mean |y - W x|².  With Σ = xᵀx / n and W_ols
    the least-squares fit, L_n(W) = const + ½ |(W - W_ols) Σ^½|²_F, so the optimum is the best
    rank-`rank` approximation of W_ols Σ^½ (truncated SVD), times Σ^-½.  Returns (W, the singular
    values of W_ols Σ^½)."""
    n = x.shape[0]
    evals, evecs = torch.linalg.eigh(x.T @ x / n)
    root = evecs @ torch.diag(evals.sqrt()) @ evecs.T
    inv_root = evecs @ torch.diag(evals.rsqrt()) @ evecs.T
    w_ols = torch.linalg.solve(x.T @ x, x.T @ y).T
    u, s, vt = torch.linalg.svd(w_ols @ root)
    k = min(rank, len(s))
    return u[:, :k] @ torch.diag(s[:k]) @ vt[:k] @ inv_root, s


def balanced_factors(product: torch.Tensor, widths: tuple[int, ...]) -> dict[str, torch.Tensor]:
    """Layers W_1 ... W_L with W_L ... W_1 = `product` (rank k <= every width), each carrying the
    L-th root of the singular values (balanced: W_{l+1}ᵀ W_{l+1} = W_l W_lᵀ), hidden units beyond
    k at zero."""
    depth = len(widths) - 1
    u, s, vt = torch.linalg.svd(product)
    k = int((s > s[0] * 1e-12).sum())
    root = torch.diag(s[:k] ** (1 / depth))
    layers = {}
    for layer in range(1, depth + 1):
        w = torch.zeros(widths[layer], widths[layer - 1], dtype=product.dtype)
        block = root @ vt[:k] if layer == 1 else u[:, :k] @ root if layer == depth else root
        rows = slice(None) if layer == depth else slice(0, k)
        cols = slice(None) if layer == 1 else slice(0, k)
        w[rows, cols] = block
        layers[f"W{layer}"] = w
    return layers


def flat_hessian_eigenvalues(loss, params: dict, data: tuple) -> torch.Tensor:
    """Eigenvalues of the Hessian of loss(params, data) in all parameters at once (params unstacked)."""
    names, shapes = list(params), [p.shape for p in params.values()]
    sizes = [p.numel() for p in params.values()]

    def of_flat(flat):
        parts = torch.split(flat, sizes)
        return loss({k: v.reshape(sh) for k, v, sh in zip(names, parts, shapes)}, data)

    flat = torch.cat([p.reshape(-1) for p in params.values()]).detach()
    hessian = torch.func.hessian(of_flat)(flat)
    return torch.linalg.eigvalsh((hessian + hessian.T) / 2)


def dln_minimum_report(loss, params: dict, data: tuple, relative_tol: float = 1e-9) -> dict:
    """What shows that w* (params stacked, one checkpoint) is a minimum: the gradient's norm, the
    Hessian's smallest eigenvalue over its largest (not below -`relative_tol` at a minimum), and how
    many eigenvalues are zero to within `relative_tol` of the largest, beside the dimension of the
    layers' symmetry (W_{l+1} G⁻¹, G W_l for G in GL(H_l): Σ H_l² over the hidden layers), which
    keeps at least that many exactly flat where every layer has full rank."""
    point = {k: v[0].detach().clone().requires_grad_(True) for k, v in params.items()}
    grads = torch.autograd.grad(loss(point, data), list(point.values()))
    ev = flat_hessian_eigenvalues(loss, {k: v.detach() for k, v in point.items()}, data)
    top = float(ev.max())
    return dict(grad_norm=float(sum(g.norm() ** 2 for g in grads).sqrt()), hessian_min_rel=float(ev.min()) / top,
                hessian_zeros=int((ev.abs() <= relative_tol * top).sum()),
                symmetry_dim=sum(v.shape[-1] ** 2 for k, v in params.items() if k != "W1"))
