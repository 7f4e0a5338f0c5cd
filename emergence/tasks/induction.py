"""Sequences in which only in-context copying beats chance: the induction-head task.

Each sequence is BOS followed by tokens drawn uniformly from a vocabulary of `vocab`; one
segment of random length (`copy_min`..`copy_max`) is copied to a later, random place.
Uniform tokens carry no n-gram statistics, so outside the copy nothing beats ln(vocab) nats;
inside it, the next token is predictable only by finding the earlier occurrence of the
current token and reading what followed it ([A][B] ... [A] -> [B]).  Both the length of the
copy and the gap before it vary, so no positional rule can locate the source.

With `skip_bigram = k > 0` the tokens are not uniform: each is drawn uniformly from k tokens
fixed by the token two places before it (one random table for all sequences, like the
statistics of a language).  That statistic is readable only by a head that attends to the
previous token, so a previous-token head pays for itself before any induction head exists,
as it does in natural text.  In the periodic task the block is drawn this way (its first
occurrence becomes partly predictable, its repeats fully, in context); in the segment task
the background is, and the copied segment stays uniform.

Token ids 0..vocab-1 are the random tokens; id `vocab` is BOS (so a model needs vocab + 1
embeddings).  BOS gives heads a place to park attention when they have nothing to do;
Olsson et al. (2022, footnote 31) found scores anomalously low without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch


@dataclass(frozen=True)
class CopyTask:
    vocab: int = 64
    seq_len: int = 64          # random tokens per sequence, after BOS
    copy_min: int = 16
    copy_max: int = 32
    periodic: bool = False     # True: the whole sequence is one block of length copy_min..copy_max, repeated
    skip_bigram: int = 0       # k > 0: tokens follow a fixed table keyed by the token two back (see above)

    def __post_init__(self):
        if not 2 <= self.vocab:
            raise ValueError(f"vocab={self.vocab} is not allowed: must be >= 2")
        if not 1 <= self.copy_min <= self.copy_max:
            raise ValueError(f"copy_min={self.copy_min}, copy_max={self.copy_max} are not allowed: "
                             "need 1 <= copy_min <= copy_max")
        if not 0 <= self.skip_bigram <= self.vocab:
            raise ValueError(f"skip_bigram={self.skip_bigram} is not allowed: 0 (uniform background) "
                             f"or the number of allowed tokens per row, 1 to vocab={self.vocab}")
        if 2 * self.copy_max > self.seq_len:
            raise ValueError(f"seq_len={self.seq_len} is too short for two copies of up to "
                             f"copy_max={self.copy_max} tokens: need >= {2 * self.copy_max}")

    @property
    def bos(self) -> int:
        return self.vocab

    @property
    def d_vocab(self) -> int:
        return self.vocab + 1

    def sample(self, batch: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        return (self._periodic if self.periodic else self._segment)(batch, generator)

    def _periodic(self, batch: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """BOS, then one random block of random period L repeated to fill the sequence:
        position i >= L + 1 is predictable (its token occurred at i - L, followed by i + 1)."""
        T = self.seq_len + 1
        period = torch.randint(self.copy_min, self.copy_max + 1, (batch,), generator=g)
        blocks = torch.randint(0, self.vocab, (batch, self.copy_max), generator=g)
        if self.skip_bigram:
            blocks = self._skip_bigram_background(blocks, g, first=2)
        position = torch.arange(self.seq_len)
        tokens = torch.empty(batch, T, dtype=torch.long)
        tokens[:, 0] = self.bos
        tokens[:, 1:] = blocks.gather(1, position[None, :] % period[:, None])
        predictable = torch.arange(T - 1)[None, :] >= period[:, None] + 1
        return tokens, predictable

    def _segment(self, batch: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """tokens (batch, 1 + seq_len) and `predictable` (batch, seq_len): True where the
        next token is determined by the copy, i.e. positions d .. d+L-2 of a copy starting at d
        (at d the model sees the copy's first token; what follows is known from the source)."""
        T, g = self.seq_len + 1, generator
        tokens = torch.randint(0, self.vocab, (batch, T), generator=g)
        tokens[:, 0] = self.bos
        uniform = tokens
        if self.skip_bigram:
            tokens = self._skip_bigram_background(uniform, g)  # column 0 is BOS
        length = torch.randint(self.copy_min, self.copy_max + 1, (batch,), generator=g)
        # source start s in [1, T - 2L], destination d in [s + L, T - L]: drawn as fractions
        # of the room left, so every placement that fits can occur.
        u_source, u_dest = torch.rand(batch, generator=g), torch.rand(batch, generator=g)
        source = 1 + (u_source * (T - 2 * length)).long()
        dest = source + length + (u_dest * (T - length - source - length + 1)).long()
        offsets = torch.arange(self.copy_max)
        inside = offsets[None, :] < length[:, None]
        rows = torch.arange(batch)[:, None].expand(-1, self.copy_max)[inside]
        src = (source[:, None] + offsets[None, :])[inside]
        dst = (dest[:, None] + offsets[None, :])[inside]
        tokens[rows, src] = uniform[rows, src]       # the segment is uniform on either background
        tokens[rows, dst] = tokens[rows, src]
        position = torch.arange(T - 1)[None, :]
        predictable = (position >= dest[:, None]) & (position <= dest[:, None] + length[:, None] - 2)
        return tokens, predictable


    def skip_bigram_table(self) -> torch.Tensor:
        """(vocab, skip_bigram): the tokens allowed after [A][x] for each A; shared by every
        sequence and seed, like the statistics of one language."""
        return _skip_bigram_table(self.vocab, self.skip_bigram)

    def _skip_bigram_background(self, uniform: torch.Tensor, g: torch.Generator,
                                first: int = 3) -> torch.Tensor:
        """Columns before `first` as drawn; from there on, token t is a uniform pick among the
        table's row for token t - 2."""
        tokens, table = uniform.clone(), self.skip_bigram_table()
        pick = torch.randint(0, self.skip_bigram, tokens.shape, generator=g)
        for t in range(first, tokens.shape[1]):
            tokens[:, t] = table[tokens[:, t - 2], pick[:, t]]
        return tokens


@lru_cache(maxsize=8)
def _skip_bigram_table(vocab: int, k: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.stack([torch.randperm(vocab, generator=g)[:k] for _ in range(vocab)])


def repeated_random_tokens(batch: int, block: int, repeats: int, vocab: int,
                           generator: torch.Generator) -> torch.Tensor:
    """BOS, then a block of `block` random tokens repeated `repeats` times: Olsson et al.'s
    probe for prefix matching (their 25 tokens x 4).  Shape (batch, 1 + block * repeats)."""
    blocks = torch.randint(0, vocab, (batch, block), generator=generator)
    bos = torch.full((batch, 1), vocab, dtype=torch.long)
    return torch.cat([bos, blocks.repeat(1, repeats)], dim=1)
