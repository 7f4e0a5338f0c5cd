"""Fourier measures of modular-arithmetic circuits (Nanda et al. 2023, section 5).

A network that has grokked (a + b) mod p represents residues by a few frequencies k:
cos(2 pi k a / p), sin(2 pi k a / p).  These measures read that off the weights and logits.
"""

from __future__ import annotations

import math

import torch


def fourier_basis(p: int, dtype=torch.float64) -> torch.Tensor:
    """(p, p) orthonormal rows: constant, then cos k, sin k for k = 1 .. (p - 1) / 2."""
    x = torch.arange(p, dtype=dtype)
    rows = [torch.ones(p, dtype=dtype)]
    for k in range(1, (p - 1) // 2 + 1):
        rows += [torch.cos(2 * math.pi * k * x / p), torch.sin(2 * math.pi * k * x / p)]
    basis = torch.stack(rows)
    return basis / basis.norm(dim=1, keepdim=True)


def frequency_norms(embedding: torch.Tensor) -> torch.Tensor:
    """Norm of each frequency k = 1 .. (p-1)/2 in an embedding of residues.

    `embedding` is (..., p, d): one row per residue.  Returns (..., (p-1)/2), where entry k-1 is
    the Frobenius norm of the cos k and sin k components (the constant is left out).
    """
    p = embedding.shape[-2]
    coefficients = fourier_basis(p).to(embedding.device) @ embedding.double()  # (..., p, d)
    per_row = coefficients.pow(2).sum(-1)[..., 1:]                           # drop constant
    return per_row.reshape(*per_row.shape[:-1], -1, 2).sum(-1).sqrt()


def gini(values: torch.Tensor) -> torch.Tensor:
    """Gini coefficient (Hurley & Rickard) of non-negative values along the last dimension.

    0 when every entry is equal, -> 1 when all the mass sits in one entry.
    """
    c = values.double().sort(dim=-1).values
    n = c.shape[-1]
    i = torch.arange(1, n + 1, dtype=c.dtype, device=c.device)
    share = c / c.sum(-1, keepdim=True).clamp_min(1e-300)
    return 1 - 2 * (share * (n - i + 0.5) / n).sum(-1)


def key_frequencies(norms: torch.Tensor, ratio: float = 0.25) -> list[int]:
    """Frequencies (1-based) whose norm exceeds `ratio` x the largest, from a (p-1)/2 vector.

    Read them from the final checkpoint of the run you are measuring: they depend on the seed.
    The book shows this code in 06_grokking.ipynb.
    """
    norms = norms.detach().double().flatten()
    return [int(k) + 1 for k in torch.nonzero(norms > ratio * norms.max()).flatten()]


def sum_directions(p: int, frequencies: list[int], dtype=torch.float64) -> torch.Tensor:
    """(p*p, 2|K|) orthonormal columns cos(w_k(a+b)), sin(w_k(a+b)) over pairs in a-major order."""
    a = torch.arange(p, dtype=dtype)
    total = (a[:, None] + a[None, :]).flatten()
    cols = []
    for k in frequencies:
        w = 2 * math.pi * k / p
        cols += [torch.cos(w * total), torch.sin(w * total)]
    u = torch.stack(cols, dim=1)
    return u / u.norm(dim=0, keepdim=True)


def _cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return -logits.log_softmax(-1).gather(-1, labels[:, None]).mean()


def restricted_and_excluded_loss(logits: torch.Tensor, frequencies: list[int],
                                 is_train: torch.Tensor) -> dict[str, float]:
    """Nanda et al.'s restricted and excluded losses from logits on every pair.

    `logits` is (p*p, p) in a-major pair order.  Restricted: keep only the key-frequency
    directions of the logits (plus their mean over pairs) -> low once the circuit exists.
    Excluded: remove those directions -> the training loss rises once the model depends on them.
    The book shows this code in 06_grokking.ipynb.
    """
    p = logits.shape[-1]
    logits = logits.double()
    u = sum_directions(p, frequencies).to(logits.device)
    projected = u @ (u.T @ logits)
    residual = logits - projected
    restricted = projected + residual.mean(0, keepdim=True)
    labels = torch.arange(p * p, device=logits.device)
    labels = (labels // p + labels % p) % p
    train = is_train.to(logits.device)
    return {
        "restricted_loss": float(_cross_entropy(restricted, labels)),
        "restricted_loss_test": float(_cross_entropy(restricted[~train], labels[~train])),
        "excluded_loss": float(_cross_entropy(residual[train], labels[train])),
    }


def neuron_frequency_concentration(weights: torch.Tensor) -> torch.Tensor:
    """How much each neuron's input weights sit on ONE frequency, averaged over neurons.

    `weights` is (..., p, n): column j holds neuron j's weight on each residue.  For each
    neuron: (power in its strongest frequency) / (power in all non-constant frequencies);
    the mean is weighted by each neuron's power, so dead neurons do not count.  About
    2/(p-1) x a few for random weights, -> 1 when every neuron has picked a frequency.
    An MLP that has grokked uses many frequencies overall (one per group of neurons), so
    this, not the global sparsity of the spectrum, is the MLP's Fourier progress measure.
    """
    p = weights.shape[-2]
    coefficients = fourier_basis(p).to(weights.device) @ weights.double()
    power = coefficients[..., 1:, :].pow(2)
    power = power.reshape(*power.shape[:-2], -1, 2, power.shape[-1]).sum(-2)  # (..., K, n)
    total = power.sum(-2)
    return (power.max(-2).values.sum(-1) / total.sum(-1).clamp_min(1e-300))


CIRCUIT_LOSSES = ("restricted_loss", "restricted_loss_test", "excluded_loss")


def circuit_over_checkpoints(model: torch.nn.Module, states: dict[int, dict[str, torch.Tensor]],
                             pair_logits, embedding, is_train: torch.Tensor) -> dict:
    """Nanda et al.'s circuit measures at every checkpoint, for EVERY member of an ensemble model:
    each member's key frequencies (from its own final embedding), its restricted and excluded
    losses, and its embedding's spectrum.  `states` maps step -> the ensemble's state dict, as
    `model` holds it; `pair_logits(model)` returns (E, p*p, p) logits on every pair (a-major) and
    `embedding(model)` the (E, p, d) residue embedding.  Returns `checkpoint_epoch` (S,),
    `frequency_norms` (S, E, (p-1)/2), `key_frequency_mask` (E, (p-1)/2) and each of
    CIRCUIT_LOSSES (S, E); NaN for a member whose final embedding is zero (no key frequencies)."""
    steps = sorted(states)

    def load(step):
        model.load_state_dict(states[step])
        return model

    with torch.no_grad():
        final = frequency_norms(embedding(load(steps[-1])))                       # (E, K)
        keys = [key_frequencies(f) if f.max() > 0 else [] for f in final]
        losses, spectra = [], []
        for step in steps:
            m = load(step)
            out = pair_logits(m)
            losses.append([[restricted_and_excluded_loss(out[i], keys[i], is_train)[name] if keys[i] else math.nan
                            for name in CIRCUIT_LOSSES] for i in range(len(keys))])
            spectra.append(frequency_norms(embedding(m)))
    mask = torch.zeros(final.shape, dtype=torch.bool)
    for i, k in enumerate(keys):
        mask[i, [f - 1 for f in k]] = True
    values = torch.tensor(losses, dtype=torch.float64)                                # (S, E, 3)
    return {"checkpoint_epoch": torch.tensor(steps), "frequency_norms": torch.stack(spectra).float(),
            "key_frequency_mask": mask, **{name: values[..., j] for j, name in enumerate(CIRCUIT_LOSSES)}}
