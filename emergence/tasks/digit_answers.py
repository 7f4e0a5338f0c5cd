"""scikit-learn's 8x8 digits, and a digit's label written as an answer of several tokens.

The mirage chapter trains classifiers on growing prefixes of a fixed shuffle of the 1797 images
(`digits_split`), and scores their outputs as a multi-token answer: the label's binary code,
four bits, each bit one token (`binary_code`).  The tokens of one answer are read off one belief
about which digit it is, so a misread digit gets several tokens wrong at once.
"""

from __future__ import annotations

import numpy as np
import torch


def digits_split(n_train: int, n_test: int, seed: int) -> tuple[torch.Tensor, ...]:
    """A fixed shuffle of scikit-learn's 1797 digits: the first n_train for training (smaller
    training sets are prefixes), the last n_test for testing; pixels scaled to [0, 1]."""
    from sklearn.datasets import load_digits

    images, labels = load_digits(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(labels))
    x, y = torch.tensor(images[order] / 16.0, dtype=torch.float32), torch.tensor(labels[order])
    return x[:n_train], y[:n_train], x[-n_test:], y[-n_test:]


def binary_code(n_classes: int = 10) -> np.ndarray:
    """(n_classes, L) of 0/1: row k is k in binary, least significant bit first, L = bits needed."""
    length = max(1, int(n_classes - 1).bit_length())
    return (np.arange(n_classes)[:, None] >> np.arange(length)) & 1
