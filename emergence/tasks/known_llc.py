"""Models whose local learning coefficient is known: the test bench of the LLC estimator
(`emergence.measures.llc`; the chapter on the LLC, experiments/llc_validation.py).

Each `*_case` returns parameters at a minimum w* (stacked along a leading checkpoint dimension),
the data, and what the exact value needs; `*_loss(params, batch)` is its loss L_n.  The exact
values are in `emergence.measures.llc` (`exact_regular`, `exact_crossing`, `aoyagi_rrr`).

  * regular: linear regression at its least-squares fit, λ = d / 2;
  * normal crossing: L = ½ (y - x w₁^a w₂^b)², singular at w* = 0, λ = 1 / (2 max(a, b));
  * deep linear network: y = B A x at a minimum, λ from Aoyagi and Watanabe (2005).
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


def crossing_case(n: int, gen: torch.Generator, device) -> tuple:
    """Pure-noise labels made orthogonal to the input, so w* = 0 minimises L_n exactly."""
    x = torch.randn(n, generator=gen, dtype=DTYPE)
    y = torch.randn(n, generator=gen, dtype=DTYPE)
    y = y - x * (x @ y) / (x @ x)
    return {"w": torch.zeros(1, 2, dtype=DTYPE, device=device)}, (x.to(device), y.to(device))


def dln_loss(params, batch):
    x, y = batch
    return 0.5 * ((y - x @ params["A"].T @ params["B"].T) ** 2).sum(-1).mean()


def dln_case(M: int, H: int, N: int, r: int, n: int, gen: torch.Generator, device) -> tuple:
    """A rank-r teacher, noisy labels, and the network trained (full-batch gradient descent from
    the teacher's factors) to a minimum of L_n."""
    x = torch.randn(n, N, generator=gen, dtype=DTYPE)
    a0, b0 = torch.randn(r, N, generator=gen, dtype=DTYPE), torch.randn(M, r, generator=gen, dtype=DTYPE)
    y = x @ (b0 @ a0).T + torch.randn(n, M, generator=gen, dtype=DTYPE)
    A, B = torch.zeros(H, N, dtype=DTYPE), torch.zeros(M, H, dtype=DTYPE)
    A[:r], B[:, :r] = a0, b0
    x, y = x.to(device), y.to(device)
    params = {"A": A.to(device).requires_grad_(), "B": B.to(device).requires_grad_()}
    opt = torch.optim.SGD(list(params.values()), lr=0.05)
    for _ in range(2000):
        opt.zero_grad()
        dln_loss(params, (x, y)).backward()
        opt.step()
    grad_norm = float(sum(p.grad.norm() ** 2 for p in params.values()).sqrt())
    return {k: v.detach()[None] for k, v in params.items()}, (x, y), grad_norm
