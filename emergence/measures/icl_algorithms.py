"""The four reference algorithms of in-context learning on a mixture of Markov chains (Park,
Lubana, Pres and Tanaka 2025), as exact next-state distributions, and the measures that compare
a model with them.  Explained in the chapter "In-context learning as competing algorithms".

Given a context x_0 .. x_t, each algorithm predicts x_{t+1}:

- Uni-Ret and Bi-Ret *retrieve*: a posterior over the N training chains, from the context's
  unigram likelihood  prod_s pi_c(x_s)  or its bigram likelihood  pi_c(x_0) prod_s T_c(x_{s-1}, x_s),
  then the posterior-weighted unigram prediction  sum_c w_c pi_c  or bigram one  sum_c w_c T_c[x_t].
- Uni-Inf and Bi-Inf *infer* from the context alone: its add-one-smoothed state counts, or its
  add-one-smoothed counts of the transitions out of the current state x_t.

Every function works on all prefixes of a batch at once: `tokens` (B, L) gives (B, L, k), the
prediction after each position.
"""

from __future__ import annotations

import torch

from emergence.tasks.markov_mixture import stationary

ALGORITHMS = ("uni_ret", "bi_ret", "uni_inf", "bi_inf")
LABELS = {"uni_ret": "Uni-Ret", "bi_ret": "Bi-Ret", "uni_inf": "Uni-Inf", "bi_inf": "Bi-Inf"}


def inference(tokens: torch.Tensor, states: int) -> dict[str, torch.Tensor]:
    """Uni-Inf and Bi-Inf: the context's own add-one-smoothed unigram and bigram statistics
    (book/11_icl_competition.ipynb)."""
    B, L = tokens.shape
    seen = torch.nn.functional.one_hot(tokens, states).double().cumsum(1)          # (B, L, k)
    uni = (seen + 1) / (torch.arange(1, L + 1, dtype=torch.float64)[None, :, None] + states)
    pair = torch.zeros(B, L, states * states, dtype=torch.float64)
    pair[:, 1:].scatter_(2, (tokens[:, :-1] * states + tokens[:, 1:])[..., None], 1.0)
    pairs = pair.cumsum(1).view(B, L, states, states)
    out_of_current = pairs.gather(2, tokens[:, :, None, None].expand(B, L, 1, states))[:, :, 0]
    bi = (out_of_current + 1) / (out_of_current.sum(-1, keepdim=True) + states)
    return {"uni_inf": uni, "bi_inf": bi}


def retrieval(tokens: torch.Tensor, transitions: torch.Tensor) -> dict[str, torch.Tensor]:
    """Uni-Ret and Bi-Ret: Bayes over the training chains `transitions` (N, k, k), uniform prior
    (book/11_icl_competition.ipynb)."""
    T = transitions.double()
    pi = stationary(T)
    log_pi, log_T = pi.clamp_min(1e-300).log(), T.clamp_min(1e-300).log()
    uni_ll = log_pi[:, tokens].permute(1, 2, 0).cumsum(1)                            # (B, L, N)
    step = log_T[:, tokens[:, :-1], tokens[:, 1:]].permute(1, 2, 0)                  # (B, L-1, N)
    bi_ll = torch.cat([uni_ll[:, :1], step], dim=1).cumsum(1)
    uni_post, bi_post = uni_ll.softmax(-1), bi_ll.softmax(-1)
    uni = uni_post @ pi                                                              # (B, L, k)
    bi = torch.empty_like(uni)
    for state in range(T.shape[-1]):      # sum_c w_c T_c[x_t]: group the positions by x_t
        at = tokens == state
        bi[at] = bi_post[at] @ T[:, state, :]
    return {"uni_ret": uni, "bi_ret": bi}


def algorithm_predictions(tokens: torch.Tensor, transitions: torch.Tensor) -> dict[str, torch.Tensor]:
    """All four algorithms' next-state distributions after every prefix, (B, L, k) each."""
    return {**retrieval(tokens, transitions), **inference(tokens, transitions.shape[-1])}


def kl(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """KL(p || q) over the last axis."""
    p, q = p.double(), q.double().clamp_min(1e-12)
    return (p * (p.clamp_min(1e-300).log() - q.log())).sum(-1)


def mixture_weights(model: torch.Tensor, references: list[torch.Tensor], iterations: int = 200) -> torch.Tensor:
    """Convex weights w over the references that minimise the mean KL(model || sum_a w_a ref_a):
    the model's behaviour as a mixture of the algorithms.  The objective is convex in w; EM's
    multiplicative update  w_a <- mean_x sum_j model_j w_a ref_aj / mix_j  never increases it."""
    refs = torch.stack([r.double().reshape(-1, r.shape[-1]) for r in references])    # (A, X, k)
    p = model.double().reshape(-1, model.shape[-1])
    w = torch.full((len(references),), 1 / len(references), dtype=torch.float64)
    for _ in range(iterations):
        mix = (w[:, None, None] * refs).sum(0).clamp_min(1e-300)
        w = w * (p[None] * refs / mix[None]).sum(-1).mean(-1)
        w = w / w.sum()
    return w
