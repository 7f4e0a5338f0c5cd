"""A small decoder-only transformer for E models at once, with activations reachable by name.

Names follow TransformerLens: parameters `embed.W_E`, `blocks.0.attn.W_Q`, ...; activations
`blocks.0.attn.hook_pattern`, `blocks.0.hook_resid_post`, ... returned by `run_with_cache`.
Every tensor carries the ensemble dimension E first.  Attention has no biases (as in Nanda
et al. 2023 and Olsson et al. 2022); the MLP has biases; LayerNorm is optional.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from emergence.models.ensemble import EnsembleModule

Hook = Callable[[str, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class TransformerConfig:
    d_vocab: int
    n_ctx: int
    d_model: int = 128
    n_heads: int = 4
    d_head: int = 32
    n_layers: int = 1
    d_mlp: int = 512          # 0 = attention-only
    d_vocab_out: int = 0      # 0 = same as d_vocab
    layer_norm: bool = False
    act: str = "relu"
    embed_std: float = 0.0    # init std of token and position embeddings; 0 = 1/sqrt(d_model)
    init_std: float = 0.0     # init std of every weight matrix; 0 = Nanda's scheme (below)

    def __post_init__(self):
        for name in ("d_vocab", "n_ctx", "d_model", "n_heads", "d_head", "n_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} is not allowed: must be >= 1")
        if self.d_mlp < 0 or self.d_vocab_out < 0:
            raise ValueError("d_mlp and d_vocab_out must be >= 0 (0 = none / same as d_vocab)")
        if self.embed_std < 0 or self.init_std < 0:
            raise ValueError(f"embed_std={self.embed_std}, init_std={self.init_std} are not allowed: "
                             "must be >= 0 (0 = default)")
        if self.act not in ("relu", "gelu"):
            raise ValueError(f"act={self.act!r} is not allowed: 'relu' or 'gelu'")


def _bmm(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """(E, ..., d_in) @ (E, d_in, d_out) as one bmm over all positions of each member."""
    lead = x.shape[:-1]
    out = torch.bmm(x.reshape(x.shape[0], -1, x.shape[-1]), weight)
    return out.view(*lead, weight.shape[-1])


def _batched_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a @ b over the leading dimensions.  For tiny matrices (grokking's 3-token context)
    a broadcast multiply-and-sum avoids the per-matrix overhead of bmm, which otherwise
    dominates the step (measured 2-3x slower on a CPU); same result, other summation order."""
    if a.shape[-2] * b.shape[-1] * a.shape[-1] <= 256:
        return (a.unsqueeze(-1) * b.unsqueeze(-3)).sum(-2)
    return a @ b


class LayerNorm(nn.Module):
    def __init__(self, n_models: int, d_model: int):
        super().__init__()
        self.w = nn.Parameter(torch.ones(n_models, d_model))
        self.b = nn.Parameter(torch.zeros(n_models, d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x - x.mean(-1, keepdim=True)
        x = x / (x.pow(2).mean(-1, keepdim=True) + 1e-5).sqrt()
        shape = (x.shape[0],) + (1,) * (x.dim() - 2) + (x.shape[-1],)
        return x * self.w.view(shape) + self.b.view(shape)


class Attention(nn.Module):
    def __init__(self, cfg: TransformerConfig, init: Callable):
        super().__init__()
        d, h, dh = cfg.d_model, cfg.n_heads, cfg.d_head
        self.n_heads, self.d_head = h, dh
        self.W_Q = init((d, h, dh), 1 / math.sqrt(d))
        self.W_K = init((d, h, dh), 1 / math.sqrt(d))
        self.W_V = init((d, h, dh), 1 / math.sqrt(d))
        self.W_O = init((h, dh, d), 1 / math.sqrt(d))

    def forward(self, x: torch.Tensor, hook: Hook, prefix: str, last_only: bool) -> torch.Tensor:
        E, B, T, d = x.shape
        h, dh = self.n_heads, self.d_head
        x_q = x[:, :, -1:] if last_only else x
        Tq = x_q.shape[2]

        def heads(inp, W):  # (E, B, t, d) -> (E, B, H, t, dh)
            return _bmm(inp, W.reshape(E, d, h * dh)).view(E, B, -1, h, dh).transpose(2, 3)

        q, k, v = heads(x_q, self.W_Q), heads(x, self.W_K), heads(x, self.W_V)
        scores = _batched_matmul(q, k.transpose(-1, -2)) / math.sqrt(dh)  # (E, B, H, Tq, T)
        query_pos = torch.arange(T - Tq, T, device=x.device)[:, None]
        causal = torch.arange(T, device=x.device)[None, :] <= query_pos
        scores = scores.masked_fill(~causal, float("-inf"))
        pattern = hook(f"{prefix}.hook_pattern", scores.softmax(-1))
        z = hook(f"{prefix}.hook_z", _batched_matmul(pattern, v).transpose(2, 3))  # (E, B, Tq, H, dh)
        return _bmm(z.reshape(E, B, Tq, h * dh), self.W_O.reshape(E, h * dh, d))


class MLP(nn.Module):
    def __init__(self, cfg: TransformerConfig, init: Callable, zeros: Callable):
        super().__init__()
        self.act = torch.relu if cfg.act == "relu" else nn.functional.gelu
        self.W_in = init((cfg.d_model, cfg.d_mlp), 1 / math.sqrt(cfg.d_model))
        self.b_in = zeros((cfg.d_mlp,))
        self.W_out = init((cfg.d_mlp, cfg.d_model), 1 / math.sqrt(cfg.d_model))
        self.b_out = zeros((cfg.d_model,))

    def forward(self, x: torch.Tensor, hook: Hook, prefix: str) -> torch.Tensor:
        shape = (x.shape[0],) + (1,) * (x.dim() - 2)
        pre = _bmm(x, self.W_in) + self.b_in.view(*shape, -1)
        post = hook(f"{prefix}.hook_post", self.act(hook(f"{prefix}.hook_pre", pre)))
        return _bmm(post, self.W_out) + self.b_out.view(*shape, -1)


class Block(nn.Module):
    def __init__(self, cfg: TransformerConfig, n_models: int, init: Callable, zeros: Callable):
        super().__init__()
        self.ln1 = LayerNorm(n_models, cfg.d_model) if cfg.layer_norm else None
        self.attn = Attention(cfg, init)
        self.ln2 = LayerNorm(n_models, cfg.d_model) if cfg.layer_norm and cfg.d_mlp else None
        self.mlp = MLP(cfg, init, zeros) if cfg.d_mlp else None

    def forward(self, x: torch.Tensor, hook: Hook, prefix: str, last_only: bool) -> torch.Tensor:
        x = hook(f"{prefix}.hook_resid_pre", x)
        attn_in = self.ln1(x) if self.ln1 is not None else x
        attn_out = hook(f"{prefix}.hook_attn_out",
                        self.attn(attn_in, hook, f"{prefix}.attn", last_only))
        x = (x[:, :, -1:] if last_only else x) + attn_out
        if self.mlp is not None:
            x = hook(f"{prefix}.hook_resid_mid", x)
            mlp_in = self.ln2(x) if self.ln2 is not None else x
            x = x + hook(f"{prefix}.hook_mlp_out", self.mlp(mlp_in, hook, f"{prefix}.mlp"))
        return hook(f"{prefix}.hook_resid_post", x)


class Transformer(EnsembleModule):
    """E decoder-only transformers with learned absolute positions.

    `forward(tokens)` takes tokens (B, T) shared by all members, or (E, B, T), and returns
    logits (E, B, T, d_vocab_out).  With `last_position_only=True` only the last position is
    computed in the final block (exact, and about twice as fast when, as in grokking, only
    the last position reaches the loss).  Init as in Nanda et al.: N(0, 1/d_model), except
    the unembedding N(0, 1/d_vocab_out); `embed_std` overrides the embeddings' std and
    `init_std` that of every weight matrix.
    """

    def __init__(self, cfg: TransformerConfig, seeds: list[int]):
        super().__init__(seeds)
        self.cfg = cfg
        d_out = cfg.d_vocab_out or cfg.d_vocab
        init, zeros = self._stack_init, self._zeros
        embed_std = cfg.embed_std or 1 / math.sqrt(cfg.d_model)
        self.embed = nn.Module()
        self.embed.W_E = init((cfg.d_vocab, cfg.d_model), embed_std)
        self.pos_embed = nn.Module()
        self.pos_embed.W_pos = init((cfg.n_ctx, cfg.d_model), embed_std)
        if cfg.init_std:  # one std for every weight matrix (GPT-2 uses 0.02)
            init = lambda shape, std: self._stack_init(shape, cfg.init_std)  # noqa: E731
        self.blocks = nn.ModuleList(Block(cfg, self.n_models, init, zeros)
                                    for _ in range(cfg.n_layers))
        self.ln_final = LayerNorm(self.n_models, cfg.d_model) if cfg.layer_norm else None
        self.unembed = nn.Module()
        self.unembed.W_U = init((cfg.d_model, d_out), 1 / math.sqrt(d_out))

    def forward(self, tokens: torch.Tensor, *, last_position_only: bool = False,
                cache: dict | None = None, hooks: dict[str, Callable] | None = None) -> torch.Tensor:
        E = self.n_models
        if tokens.dim() == 2:
            tokens = tokens.expand(E, *tokens.shape)
        if tokens.dim() != 3 or tokens.shape[0] != E:
            raise ValueError(f"tokens must be (B, T) or ({E}, B, T), got {tuple(tokens.shape)}")
        T = tokens.shape[-1]
        if T > self.cfg.n_ctx:
            raise ValueError(f"sequence length {T} exceeds n_ctx={self.cfg.n_ctx}")

        def hook(name: str, x: torch.Tensor) -> torch.Tensor:
            if hooks and name in hooks:
                x = hooks[name](x)
            if cache is not None:
                cache[name] = x.detach()
            return x

        members = torch.arange(E, device=tokens.device)[:, None, None]
        x = hook("hook_embed", self.embed.W_E[members, tokens])
        x = x + hook("hook_pos_embed", self.pos_embed.W_pos[:, None, :T])
        for layer, block in enumerate(self.blocks):
            last = last_position_only and layer == len(self.blocks) - 1
            x = block(x, hook, f"blocks.{layer}", last)
        if self.ln_final is not None:
            x = hook("ln_final.hook_normalized", self.ln_final(x))
        return _bmm(x, self.unembed.W_U)

    def run_with_cache(self, tokens: torch.Tensor, **kwargs) -> tuple[torch.Tensor, dict]:
        """Logits and a dict of every named activation (detached)."""
        cache: dict[str, torch.Tensor] = {}
        with torch.no_grad():
            logits = self(tokens, cache=cache, **kwargs)
        return logits, cache
