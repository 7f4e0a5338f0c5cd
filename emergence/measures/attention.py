"""Attention-head measures for in-context learning (Olsson et al. 2022).

Patterns are `blocks.{l}.attn.hook_pattern` tensors of shape (E, B, H, T, T): member,
sequence, head, query position, key position.  Every score returns (E, H), one per head.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def per_position_loss(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Next-token cross-entropy at every position: logits (E, B, T, V), tokens (B, T) shared
    by the members or (E, B, T) -> (E, B, T - 1), entry t the loss of predicting token t + 1."""
    E, B, T, V = logits.shape
    targets = tokens[..., 1:].expand(E, B, T - 1)
    return F.cross_entropy(logits[:, :, :-1].reshape(-1, V), targets.reshape(-1),
                           reduction="none").view(E, B, T - 1)


def masked_mean(loss: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of loss (E, B, T) over the positions where mask (B, T) is True -> (E,)."""
    mask = mask.to(loss.dtype)
    return (loss * mask).sum((1, 2)) / mask.sum().clamp_min(1)


def icl_score(loss: torch.Tensor, early: tuple[int, int], late: tuple[int, int]) -> torch.Tensor:
    """Olsson et al.'s in-context-learning score: mean loss at the `late` positions minus
    mean loss at the `early` ones (half-open ranges of positions), from per-position loss
    (E, B, T).  Negative = later tokens are predicted better, i.e. the context is used."""
    return loss[:, :, late[0]:late[1]].mean((1, 2)) - loss[:, :, early[0]:early[1]].mean((1, 2))


def previous_token_score(pattern: torch.Tensor) -> torch.Tensor:
    """Mean attention from each position i >= 1 to position i - 1 -> (E, H).
    The book shows this code in 05_induction_heads.ipynb."""
    return pattern.diagonal(offset=-1, dim1=-2, dim2=-1).mean((1, 3))


def prefix_matching_score(pattern: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Attention from each position to the tokens that FOLLOWED earlier occurrences of its
    own token ([A][B] ... [A] attends to [B]), averaged over the positions that have an
    earlier occurrence.  tokens (B, T) -> (E, H).
    The book shows this code in 05_induction_heads.ipynb."""
    # target[b, i, j]: token j-1 equals token i, with j - 1 < i (so j <= i, causal)
    same = tokens[:, :, None] == tokens[:, None, :]                  # (B, i, k)
    T = tokens.shape[1]
    earlier = torch.ones(T, T, dtype=torch.bool, device=tokens.device).tril(-1)
    target = torch.zeros_like(same)
    target[:, :, 1:] = (same & earlier)[:, :, :-1]                   # key j = k + 1
    has_match = target.any(-1)                                       # (B, i)
    mass = (pattern * target[None, :, None]).sum(-1)                 # (E, B, H, i)
    weights = has_match[None, :, None].to(pattern.dtype)
    return (mass * weights).sum((1, 3)) / weights.sum((1, 3)).clamp_min(1)


def ov_copying_score(W_E: torch.Tensor, W_V: torch.Tensor, W_O: torch.Tensor,
                     W_U: torch.Tensor, gain_in: torch.Tensor | None = None,
                     gain_out: torch.Tensor | None = None) -> torch.Tensor:
    """How much each head's OV circuit copies: for M = W_E W_V^h W_O^h W_U (token -> logits
    through the head alone), Re(sum of eigenvalues) / sum of |eigenvalues|, in [-1, 1];
    +1 means attending to a token raises that token's logit (Olsson et al.'s copying
    score, eigenvalue form).  Shapes (E, V, d), (E, d, H, dh), (E, H, dh, d), (E, d, V).
    With a pre-LayerNorm model pass the learned gains (E, d) of the LayerNorm before the head
    (`gain_in`) and of the final one (`gain_out`): they are folded in as TransformerLens does,
    with the centring each LayerNorm applies to what it reads (W_E's and W_O's rows lose their
    mean).  The per-position 1/σ scale is positive and cancels in the ratio.
    The book shows this code in 05_induction_heads.ipynb."""
    E, d, H, dh = W_V.shape
    V = min(W_E.shape[1], W_U.shape[2])  # the tokens that are both read and written
    if gain_in is not None:     # the head reads LN(x) = centred x / σ * gain_in
        W_E = (W_E - W_E.mean(-1, keepdim=True)) * gain_in[:, None]
    if gain_out is not None:    # the unembedding reads centred x / σ * gain_out
        W_O = (W_O - W_O.mean(-1, keepdim=True)) * gain_out[:, None, None]
    # M's nonzero eigenvalues are those of the small (dh x dh) W_O W_U W_E W_V (cyclic shift)
    small = torch.einsum("ehkd,edv,eva,eahl->ehkl", W_O, W_U[:, :, :V], W_E[:, :V], W_V)
    eig = torch.linalg.eigvals(small.double())
    return (eig.real.sum(-1) / eig.abs().sum(-1).clamp_min(1e-12)).float()


def ablate_head(model, tokens: torch.Tensor, layer: int, head: int,
                freeze_patterns: bool = True, clean_cache: dict | None = None) -> torch.Tensor:
    """Logits with head `head` of layer `layer` zeroed (its output removed from the residual
    stream).  With `freeze_patterns` every attention pattern is held at its clean value, so
    only the head's own contribution is removed (Olsson et al.'s pattern-preserving ablation).
    `clean_cache` (from `model.run_with_cache(tokens)`) saves recomputing the clean patterns
    when ablating head after head."""
    hooks = {}
    if freeze_patterns:
        clean = clean_cache if clean_cache is not None else model.run_with_cache(tokens)[1]
        for name, value in clean.items():
            if name.endswith("hook_pattern"):
                hooks[name] = lambda x, value=value: value

    def zero_head(z):  # z: (E, B, T, H, dh)
        z = z.clone()
        z[:, :, :, head] = 0
        return z

    hooks[f"blocks.{layer}.attn.hook_z"] = zero_head
    with torch.no_grad():
        return model(tokens, hooks=hooks)
