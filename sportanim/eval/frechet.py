"""Frechet distance between two sets of features, each summarised as a Gaussian.

    d^2 = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2))

The trace of the matrix square root is computed without ``sqrtm`` of the non-symmetric
product: tr((S1 S2)^(1/2)) = tr((A S2 A)^(1/2)) with A = S1^(1/2), and A S2 A is symmetric
positive semi-definite, so its eigenvalues are real and >= 0 up to rounding (clipped at
0). This never returns a complex number, needs no "imaginary component" check, and is
exact for singular covariances (few samples), where ``scipy.linalg.sqrtm`` of the product
is ill-conditioned.
"""

from __future__ import annotations

import warnings

import numpy as np

# Added to both covariances' diagonals when they are singular (fewer samples than
# dimensions), as pytorch-fid and DisCo do when sqrtm fails; it changes d^2 by ~eps*dims.
SINGULAR_EPS = 1e-6


class FewSamplesWarning(UserWarning):
    """Fewer samples than feature dimensions: the covariance is singular, FD is biased."""


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(D,)`` and unbiased covariance ``(D, D)`` (float64) of ``features (N, D)``."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        raise ValueError(f"features must be (samples, dims), got shape {features.shape}")
    n, dims = features.shape
    if n < 2:
        raise ValueError(f"a Frechet distance needs at least 2 samples per set, got {n}")
    if not np.isfinite(features).all():
        raise ValueError("features hold NaN/inf values")
    return features.mean(axis=0), np.atleast_2d(np.cov(features, rowvar=False))


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric PSD matrix (negative rounding clipped)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray,
                     sigma2: np.ndarray) -> float:
    """Squared Frechet distance between N(mu1, sigma1) and N(mu2, sigma2)."""
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1 = np.atleast_2d(sigma1).astype(np.float64)
    sigma2 = np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != mu1.shape * 2:
        raise ValueError(f"shapes disagree: mu {mu1.shape} vs {mu2.shape}, "
                         f"sigma {sigma1.shape} vs {sigma2.shape}")
    root1 = _sqrt_psd(sigma1)
    inner = root1 @ sigma2 @ root1
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((inner + inner.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt
    return float(max(value, 0.0))  # rounding can dip a hair below 0 for equal sets


def frechet_distance_features(real: np.ndarray, generated: np.ndarray,
                              eps: float = SINGULAR_EPS) -> float:
    """Frechet distance between two feature sets ``(N, D)`` and ``(M, D)``. With fewer
    samples than dimensions it warns (``FewSamplesWarning``) and adds ``eps`` to both
    covariances' diagonals."""
    real, generated = np.asarray(real), np.asarray(generated)
    if real.ndim != 2 or generated.ndim != 2 or real.shape[1] != generated.shape[1]:
        raise ValueError(f"feature sets must be (N, D) and (M, D), got {real.shape} and "
                         f"{generated.shape}")
    mu1, sigma1 = gaussian_stats(real)
    mu2, sigma2 = gaussian_stats(generated)
    few = min(len(real), len(generated))
    if few <= real.shape[1]:
        warnings.warn(f"Frechet distance from {few} samples of {real.shape[1]}-dim features: "
                      "the covariances are singular and the value is biased upwards; compare "
                      "it only with values from the same number of samples",
                      FewSamplesWarning, stacklevel=2)
        offset = np.eye(real.shape[1]) * eps
        sigma1, sigma2 = sigma1 + offset, sigma2 + offset
    return frechet_distance(mu1, sigma1, mu2, sigma2)
