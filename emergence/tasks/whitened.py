"""Whitened (and deliberately unwhitened) regression data for the kernel view of learning.

Whitened inputs, (1/P) X^T X = I, make every input direction equally easy, so what the
network learns first is set by the task alone (Saxe et al. 2014; Atanasov et al. 2022).
Everything here is synthetic or ships with scikit-learn (`load_digits`: 1797 8x8 digits):
nothing is downloaded.  Arrays come back as float64 tensors on the CPU.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

KEEP = 1e-3   # input directions with variance below KEEP x the largest are dropped


@dataclass
class RegressionData:
    x_train: torch.Tensor      # (P, d)
    y_train: torch.Tensor      # (P,)
    x_test: torch.Tensor       # (M, d)
    y_test: torch.Tensor       # (M,)
    input_spectrum: torch.Tensor   # (d,) eigenvalues of the training inputs' covariance, largest first
    description: str


def whiten(x_train: np.ndarray, x_test: np.ndarray, whitened: bool = True,
           keep: float = KEEP) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre on the training mean and rotate onto the training covariance's eigenvectors,
    keeping those with eigenvalue > keep x the largest.  Whitened: divide each by the square
    root of its eigenvalue, so (1/P) X^T X = I.  Not whitened (the anisotropic control): one
    global scale instead, so the mean squared norm is the same d as after whitening but the
    spectrum keeps its shape.  Returns (train, test, the kept spectrum after the transform)."""
    mean = x_train.mean(0)
    centred = x_train - mean
    eigenvalues, vectors = np.linalg.eigh(centred.T @ centred / len(x_train))
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues, vectors = eigenvalues[order], vectors[:, order]
    kept = eigenvalues > keep * eigenvalues[0]
    eigenvalues, vectors = eigenvalues[kept], vectors[:, kept]
    if whitened:
        scale = 1 / np.sqrt(eigenvalues)
    else:
        scale = np.full_like(eigenvalues, np.sqrt(len(eigenvalues) / eigenvalues.sum()))
    transform = vectors * scale
    return centred @ transform, (x_test - mean) @ transform, eigenvalues * scale ** 2


def _as_data(x_train, y_train, x_test, y_test, whitened: bool, description: str) -> RegressionData:
    train, test, spectrum = whiten(x_train, x_test, whitened)
    t = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float64)
    kind = "whitened" if whitened else "unwhitened (anisotropic)"
    return RegressionData(t(train), t(y_train), t(test), t(y_test), t(spectrum),
                          f"{description}, {kind}, d = {train.shape[1]}")


@functools.lru_cache(maxsize=None)
def _digit_labels() -> np.ndarray:
    from sklearn.datasets import load_digits

    return load_digits().target


def digits_available(positive=(0,), negative=(1,)) -> int:
    """How many of scikit-learn's digit images show one of these digits."""
    return int(np.isin(_digit_labels(), tuple(positive) + tuple(negative)).sum())


def digits_pair(positive=(0,), negative=(1,), n_train: int = 280, n_test: int = 80,
                seed: int = 0, whitened: bool = True) -> RegressionData:
    """scikit-learn's 8x8 digits: y = +1 for the digits in `positive`, -1 for `negative`.

    The images are shuffled with `seed`, split into n_train / n_test, and transformed with the
    training set's statistics (`whiten`).  Digits 0 and 1 give 360 images in all.
    """
    from sklearn.datasets import load_digits

    positive, negative = tuple(int(c) for c in positive), tuple(int(c) for c in negative)
    if not positive or not negative or set(positive) & set(negative) or \
            not set(positive + negative) <= set(range(10)):
        raise ValueError(f"positive={positive}, negative={negative} are not allowed: two "
                         "non-empty, disjoint sets of digits 0-9")
    images, labels = load_digits(return_X_y=True)
    rows = np.flatnonzero(np.isin(labels, positive + negative))
    if n_train + n_test > len(rows):
        raise ValueError(f"n_train + n_test = {n_train + n_test} is not allowed: digits "
                         f"{positive} vs {negative} have {len(rows)} images")
    rows = rows[np.random.default_rng(seed).permutation(len(rows))]
    x = images[rows].astype(np.float64)
    y = np.where(np.isin(labels[rows], positive), 1.0, -1.0)
    name = f"digits {''.join(map(str, positive))} vs {''.join(map(str, negative))}"
    return _as_data(x[:n_train], y[:n_train], x[n_train:n_train + n_test],
                    y[n_train:n_train + n_test], whitened, name)


def gaussian_teacher(dim: int = 50, n_train: int = 500, n_test: int = 200, seed: int = 0,
                     whitened: bool = True, teacher: str = "relu") -> RegressionData:
    """Gaussian inputs labelled by a random teacher of the latent z ~ N(0, I).

    teacher 'linear': y = beta . z with |beta| = 1; 'relu': y = sum of 4 ReLU units of z,
    centred and scaled to unit variance on the training set.  Whitened: x = z (then exactly
    whitened on the training set); anisotropic: x_k = sqrt(lambda_k) z_k with lambda_k
    proportional to 1/k, the power-law spectrum of natural images.
    """
    if teacher not in ("linear", "relu"):
        raise ValueError(f"teacher={teacher!r} is not allowed: 'linear' or 'relu'")
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n_train + n_test, dim))
    if teacher == "linear":
        beta = rng.standard_normal(dim)
        y = z @ (beta / np.linalg.norm(beta))
    else:
        units = rng.standard_normal((dim, 4)) / np.sqrt(dim)
        y = np.maximum(z @ units * np.sqrt(dim), 0).sum(1)
        y = (y - y[:n_train].mean()) / y[:n_train].std()
    spectrum = np.ones(dim) if whitened else 1 / np.arange(1, dim + 1)
    x = z * np.sqrt(spectrum)
    return _as_data(x[:n_train], y[:n_train], x[n_train:], y[n_train:], whitened,
                    f"Gaussian inputs, {teacher} teacher")


@dataclass
class SaxeTask:
    """Orthonormal inputs and a linear teacher with chosen singular values (Saxe et al. 2014).

    y = x M with M = V diag(s) U^T and (1/P) X^T X = I, so the input-output correlation
    (1/P) X^T Y is exactly M: mode k maps input direction V[:, k] to output U[:, k] with
    strength s_k."""

    x: torch.Tensor                # (P, d_in)
    y: torch.Tensor                # (P, d_out)
    input_modes: torch.Tensor      # V, (d_in, r)
    output_modes: torch.Tensor     # U, (d_out, r)
    singular_values: torch.Tensor  # s, (r,)


def _orthonormal_columns(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((rows, cols)))
    return q * np.sign(np.diag(r))   # a unique (Haar-distributed) choice of signs


def saxe_teacher(singular_values=(4.0, 2.0, 1.0, 0.5), d_in: int = 16, d_out: int = 8,
                 n_points: int = 512, seed: int = 0) -> SaxeTask:
    s = np.asarray(singular_values, dtype=np.float64)
    if not (1 <= len(s) <= min(d_in, d_out) and n_points >= d_in and (s > 0).all()):
        raise ValueError(f"singular_values={tuple(s)} is not allowed: 1 to min(d_in, d_out) = "
                         f"{min(d_in, d_out)} positive numbers, with n_points >= d_in")
    rng = np.random.default_rng(seed)
    x = np.sqrt(n_points) * _orthonormal_columns(rng, n_points, d_in)
    v = _orthonormal_columns(rng, d_in, len(s))
    u = _orthonormal_columns(rng, d_out, len(s))
    y = x @ (v * s) @ u.T
    t = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float64)
    return SaxeTask(t(x), t(y), t(v), t(u), t(s))
