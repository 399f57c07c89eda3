"""Built-in data: scikit-learn's bundled digits (no download), and the feature scaling used with them."""
from __future__ import annotations

import numpy as np

__all__ = ["load_digits", "standardize"]


def load_digits(test_fraction: float = 0.2, seed: int = 0):
    """scikit-learn's bundled 8x8 digits (1797 images, no download), split into train and test.

    The split is stratified by class and seeded. Returns ``(X_train, y_train, X_test, y_test)``:
    features (N, 64) float32 in [0, 1] (pixel / 16), labels int64.
    """
    if not 0.0 < float(test_fraction) < 1.0:
        raise ValueError(f"test_fraction must be strictly between 0 and 1, got {test_fraction!r}")
    try:
        from sklearn.datasets import load_digits as _sk_load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as exc:
        raise ImportError(
            "load_digits needs scikit-learn, which is not installed: pip install 'gpugrad[train]'") from exc
    digits = _sk_load_digits()
    X = (np.asarray(digits.data, dtype=np.float32) / np.float32(16.0)).astype(np.float32)
    y = np.asarray(digits.target, dtype=np.int64)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=float(test_fraction), random_state=seed, stratify=y)
    return X_train, y_train, X_test, y_test


def standardize(X_train: np.ndarray, X_test: np.ndarray | None = None, min_std: float = 1e-8):
    """Scale features to zero mean and unit variance with the *training* set's statistics.

    Each feature's std is floored at ``min_std``, so a feature (a pixel) that is almost
    constant in training is not blown up when it varies in a test sample; a constant feature
    is only centred. Returns ``(X_train, X_test, (mean, std))`` as float32 (``X_test`` is None
    when not given).
    """
    X_train = np.asarray(X_train, dtype=np.float32)
    mean = X_train.mean(axis=0, dtype=np.float64).astype(np.float32)
    std = np.maximum(X_train.std(axis=0, dtype=np.float64), min_std).astype(np.float32)
    scaled_test = None if X_test is None else (np.asarray(X_test, dtype=np.float32) - mean) / std
    return (X_train - mean) / std, scaled_test, (mean, std)
