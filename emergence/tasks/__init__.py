"""Data generators: all synthetic or shipped inside a package, never downloaded."""

from emergence.tasks.modular import ModularData, all_pairs, modular_addition, one_hot_pairs, pair_tokens
from emergence.tasks.sparse_parity import ParityProblems, secret_support

__all__ = ["ParityProblems", "secret_support", "ModularData", "all_pairs", "modular_addition", "one_hot_pairs", "pair_tokens"]
