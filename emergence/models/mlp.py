"""A one-hidden-layer MLP on one-hot (a, b) pairs, for modular arithmetic (Gromov 2023)."""

from __future__ import annotations

import torch

from emergence.models.ensemble import EnsembleModule


class ModularMLP(EnsembleModule):
    """logits = act(onehot(a) W_a + onehot(b) W_b) W_out, for E members at once.

    The one-hot input layer is stored as two embedding tables (`embed_a`, `embed_b`,
    each (E, p, width)); `forward` multiplies the one-hot matrix by them with `bmm`, which
    on a CPU is faster than a gather and gives the same numbers.  The activation is x**2
    (Gromov's choice: it makes the Fourier solution exact) or ReLU.
    """

    def __init__(self, p: int, width: int, seeds: list[int], activation: str = "quadratic",
                 init_scale: float = 1.0):
        super().__init__(seeds)
        if activation not in ("quadratic", "relu"):
            raise ValueError(f"activation={activation!r} is not allowed: 'quadratic' or 'relu'")
        self.p, self.width, self.activation = p, width, activation
        self.embed_a = self._stack_init((p, width), init_scale / (2 * p) ** 0.5)
        self.embed_b = self._stack_init((p, width), init_scale / (2 * p) ** 0.5)
        self.unembed = self._stack_init((width, p), 1 / width ** 0.5)

    def hidden(self, onehot_ab: torch.Tensor) -> torch.Tensor:
        """Hidden activations (E, N, width) for a (N, 2p) one-hot matrix of pairs."""
        w_in = torch.cat([self.embed_a, self.embed_b], dim=1)  # (E, 2p, width)
        pre = torch.bmm(onehot_ab.expand(self.n_models, *onehot_ab.shape), w_in)
        return pre * pre if self.activation == "quadratic" else torch.relu(pre)

    def forward(self, onehot_ab: torch.Tensor) -> torch.Tensor:
        return torch.bmm(self.hidden(onehot_ab), self.unembed)

    def embeddings(self) -> torch.Tensor:
        """The input embedding of each residue, (E, p, 2*width): the map Fourier measures read."""
        return torch.cat([self.embed_a, self.embed_b], dim=2).detach()


def _padded_uniform(generator: torch.Generator, rows: int, rows_max: int, cols: tuple[int, ...],
                    bound: float) -> torch.Tensor:
    """U(-bound, bound) of shape (rows, *cols), zero-padded to rows_max rows."""
    out = torch.zeros(rows_max, *cols)
    out[:rows] = (torch.rand(rows, *cols, generator=generator) * 2 - 1) * bound
    return out


class TwoLayerMLP(EnsembleModule):
    """f(x) = W2 relu(W1 x + b1) + b2 with one output, for E members (Barak et al.'s MLP).

    `fan_in[e]` is member e's true input size: its inputs beyond that are zero padding.  Each
    member is drawn exactly as a standalone `TwoLayerMLP(fan_in[e], width, [seed])` would be
    (PyTorch's default nn.Linear init, U(+-1/sqrt(fan_in))), then its `W1` is padded with zero
    rows, which no gradient ever reaches.  `W1` is (E, n_max, width): row i holds everything
    input i feeds into the hidden layer.
    """

    def __init__(self, n_max: int, width: int, seeds: list[int], fan_in: list[int]):
        super().__init__(seeds)
        W1, b1, W2, b2 = [], [], [], []
        for g, f in zip(self._generators, fan_in):
            W1.append(_padded_uniform(g, f, n_max, (width,), 1 / f ** 0.5))
            b1.append(_padded_uniform(g, width, width, (), 1 / f ** 0.5))
            W2.append(_padded_uniform(g, width, width, (1,), 1 / width ** 0.5))
            b2.append(_padded_uniform(g, 1, 1, (), 1 / width ** 0.5))
        self.W1, self.b1, self.W2, self.b2 = (torch.nn.Parameter(torch.stack(t)) for t in (W1, b1, W2, b2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = torch.relu(torch.baddbmm(self.b1[:, None, :], x, self.W1))
        return torch.baddbmm(self.b2[:, None, :], hidden, self.W2).squeeze(-1)

    def input_weights(self) -> torch.Tensor:
        """(E, n_max, width): the first-layer weights, one row per input coordinate."""
        return self.W1


class SinNeuron(EnsembleModule):
    """f(x) = sin(w . x + b), the single neuron of the Barak et al. slide; w ~ U(+-1/sqrt(n)), b = 0.

    For odd k, w = (-1)^((k-1)/2) (pi/2) 1_S and b = 0 compute the parity of S exactly.
    """

    def __init__(self, n_max: int, seeds: list[int], fan_in: list[int]):
        super().__init__(seeds)
        self.w = torch.nn.Parameter(torch.stack([_padded_uniform(g, f, n_max, (), 1 / f ** 0.5)
                                                 for g, f in zip(self._generators, fan_in)]))
        self.b = self._zeros(())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(torch.bmm(x, self.w[:, :, None]).squeeze(-1) + self.b[:, None])

    def input_weights(self) -> torch.Tensor:
        """(E, n_max, 1): the weights, one row per input coordinate."""
        return self.w[:, :, None]
