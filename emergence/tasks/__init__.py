"""Data generators: all synthetic or shipped inside a package, never downloaded."""

from emergence.tasks.induction import CopyTask, repeated_random_tokens
from emergence.tasks.multitask_parity import MultitaskParity, expected_noisy_loss, task_probabilities
from emergence.tasks.personas import PersonaWorld, conversations
from emergence.tasks.modular import ModularData, all_pairs, modular_addition, one_hot_pairs, pair_tokens
from emergence.tasks.sparse_parity import ParityProblems, secret_support
from emergence.tasks.whitened import RegressionData, digits_pair, gaussian_teacher, saxe_teacher, whiten

__all__ = ["PersonaWorld", "conversations", "CopyTask", "repeated_random_tokens", "ParityProblems", "secret_support", "ModularData", "all_pairs", "modular_addition", "one_hot_pairs", "pair_tokens",
           "RegressionData", "digits_pair", "gaussian_teacher", "saxe_teacher", "whiten",
           "MultitaskParity", "expected_noisy_loss", "task_probabilities"]
