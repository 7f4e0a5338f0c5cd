"""The kernel view of a network: its empirical neural tangent kernel (NTK) and what it predicts.

    K(x, x') = sum_p  df(x)/dp . df(x')/dp        (summed over outputs when there are several)

A network trained by gradient descent moves its outputs along K:  df(X)/dt = -eta K(X, X) dL/df.
While K stays fixed (the "lazy" regime) the trained network IS kernel regression with K.
The measures here read K off a model exactly (per-example Jacobians with `torch.func`), and
compare it with the task (kernel-target alignment) and with the network (kernel regression).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.func import functional_call, jacrev, vmap

Params = dict[str, torch.Tensor]


def empirical_ntk(fn: Callable[[Params, torch.Tensor], torch.Tensor], params: Params,
                  x1: torch.Tensor, x2: torch.Tensor | None = None,
                  chunk_size: int | None = None) -> torch.Tensor:
    """The exact empirical NTK K[i, j] of the model `fn(params, x)` between rows of x1 and x2.

    `fn` maps a batch (N, ...) to outputs (N,) or (N, C); with C outputs K is summed over them
    (the trace of the C x C block).  Jacobians are per example (vmap of jacrev), so their
    memory is N x (number of parameters); `chunk_size` examples at a time bounds the vmap's.
    Returns (N1, N2) in the parameters' dtype.
    """
    def one_example(p: Params, x: torch.Tensor) -> torch.Tensor:
        return fn(p, x.unsqueeze(0)).squeeze(0)

    jacobian = vmap(jacrev(one_example), in_dims=(None, 0), chunk_size=chunk_size)
    j1 = jacobian(params, x1)
    j2 = j1 if x2 is None else jacobian(params, x2)
    # sum over parameter tensors (and outputs): K = sum_p J1_p J2_p^T, no concatenated copy
    return sum(j1[name].reshape(len(x1), -1) @ j2[name].reshape(j2[name].shape[0], -1).T
               for name in params)


def ensemble_ntk(model: nn.Module, x1: torch.Tensor, x2: torch.Tensor | None = None,
                 per_member_inputs: bool = False, chunk_size: int | None = None) -> torch.Tensor:
    """The empirical NTK of every member of an ensemble model, (E, N1, N2).

    The model's parameters carry a leading member dimension E and it maps inputs (E, N, ...)
    to (E, N) or (E, N, C).  Inputs are (N, ...), shared by all members, or with
    `per_member_inputs` (E, N, ...), one set each.  Members are taken one at a time: one
    member's Jacobian is the memory to budget for.
    """
    params = {name: p.detach() for name, p in model.named_parameters()}
    n_members = next(iter(params.values())).shape[0]

    def member_output(member: Params, x: torch.Tensor) -> torch.Tensor:
        as_ensemble_of_one = {name: p.unsqueeze(0) for name, p in member.items()}
        return functional_call(model, as_ensemble_of_one, (x.unsqueeze(0),)).squeeze(0)

    def inputs(x: torch.Tensor | None, e: int) -> torch.Tensor | None:
        return x[e] if per_member_inputs and x is not None else x

    return torch.stack([
        empirical_ntk(member_output, {name: p[e] for name, p in params.items()},
                      inputs(x1, e), inputs(x2, e), chunk_size)
        for e in range(n_members)])


def kernel_alignment(kernel: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Kernel-target alignment A(K, y y^T) = <K, y y^T>_F / (||K||_F ||y y^T||_F), in [-1, 1].

    `kernel` (..., N, N) (any leading dimensions, e.g. members or time); `targets` (N,), or
    (N, C) for several outputs (then Y Y^T).  A = 1: K is a multiple of the targets' outer
    product, a kernel that "sees" nothing but the task.
    The book shows this code in 03_silent_alignment.ipynb.
    """
    y = targets.unsqueeze(-1) if targets.dim() == 1 else targets
    target_kernel = (y @ y.T).to(kernel.dtype)
    inner = (kernel * target_kernel).sum((-2, -1))
    return inner / (kernel_norm(kernel) * kernel_norm(target_kernel))


def kernel_norm(kernel: torch.Tensor) -> torch.Tensor:
    """The kernel's scale, its Frobenius norm ||K||_F, over the last two dimensions."""
    return torch.linalg.matrix_norm(kernel)


def kernel_regression(train_kernel: torch.Tensor, cross_kernel: torch.Tensor,
                      train_targets: torch.Tensor, ridge: float = 1e-8) -> torch.Tensor:
    """Kernel (ridge) regression's predictions K(x, X) (K(X, X) + lam I)^-1 y, in float64.

    `train_kernel` (..., P, P) and `cross_kernel` (..., M, P), between the M query points and
    the P training points (any leading dimensions, e.g. members); `train_targets` (P,) or
    (P, C).  The ridge is relative, lam = ridge * trace(K) / P: a tiny regulariser that only
    matters for a near-singular K.  Returns (..., M) or (..., M, C).
    """
    k = train_kernel.double()
    n = k.shape[-1]
    lam = ridge * k.diagonal(dim1=-2, dim2=-1).sum(-1) / n
    regularised = k + lam[..., None, None] * torch.eye(n, dtype=k.dtype, device=k.device)
    y = train_targets.double()
    y = y.unsqueeze(-1) if y.dim() == 1 else y
    # One solve per matrix: torch 2.13's batched float64 LU (MKL getrf) returns invalid pivots
    # with 2 CPU threads ("Pivots given to lu_solve ..."); unbatched solves are correct.
    systems = regularised.reshape(-1, n, n)
    coefficients = torch.stack([torch.linalg.solve(a, y) for a in systems]).view(*k.shape[:-2], n, y.shape[-1])
    predictions = cross_kernel.double() @ coefficients
    return predictions.squeeze(-1) if train_targets.dim() == 1 else predictions


def prediction_agreement(reference: torch.Tensor, prediction: torch.Tensor) -> dict[str, float]:
    """How well `prediction` reproduces `reference` (e.g. kernel regression vs the network):
    R^2 = 1 - sum (ref - pred)^2 / sum (ref - mean ref)^2, and the relative error
    ||ref - pred|| / ||ref||.  Both over every element."""
    reference, prediction = reference.double().flatten(), prediction.double().flatten()
    residual = ((reference - prediction) ** 2).sum()
    return {"r2": float(1 - residual / ((reference - reference.mean()) ** 2).sum()),
            "relative_error": float(residual.sqrt() / reference.norm())}
