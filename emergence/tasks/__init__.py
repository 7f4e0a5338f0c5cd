"""Data generators: all synthetic or shipped inside a package, never downloaded."""

from emergence.tasks.modular import ModularData, all_pairs, modular_addition, one_hot_pairs, pair_tokens

__all__ = ["ModularData", "all_pairs", "modular_addition", "one_hot_pairs", "pair_tokens"]
