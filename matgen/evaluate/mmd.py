"""Kernel maximum mean discrepancy (MMD) between two samples, with an RBF kernel.

MMD² = E k(x, x') + E k(y, y') − 2 E k(x, y) for x, x' ~ P and y, y' ~ Q; it is 0 exactly when
P = Q for a characteristic kernel such as the RBF k(a, b) = exp(−|a − b|² / (2 σ²)). The
unbiased estimator (Gretton et al., JMLR 13 (2012) 723, eq. 3) leaves the diagonal out of the
within-sample means,

    MMD²_u = Σ_{i≠j} k(x_i, x_j) / (m (m−1)) + Σ_{i≠j} k(y_i, y_j) / (n (n−1)) − 2 Σ_{i,j} k(x_i, y_j) / (m n),

so it can be slightly negative when P = Q. The bandwidth σ is the median heuristic: the median
distance between distinct points of the pooled sample.
"""

from __future__ import annotations

import numpy as np

from matgen.errors import MatgenError


def squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(M, N) squared Euclidean distances between the rows of a (M, D) and b (N, D), float64, ≥ 0."""
    a = np.asarray(a, dtype=np.float64).reshape(len(a), -1)
    b = np.asarray(b, dtype=np.float64).reshape(len(b), -1)
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d2, 0.0)


def median_bandwidth(x: np.ndarray, y: np.ndarray) -> float:
    """σ of the median heuristic: the median distance between distinct rows of x and y pooled."""
    pooled = np.concatenate([np.asarray(x, dtype=np.float64).reshape(len(x), -1),
                             np.asarray(y, dtype=np.float64).reshape(len(y), -1)])
    d2 = squared_distances(pooled, pooled)
    off = d2[~np.eye(len(pooled), dtype=bool)]
    positive = off[off > 0]
    return float(np.sqrt(np.median(positive))) if len(positive) else 1.0


def mmd2_unbiased(x: np.ndarray, y: np.ndarray, bandwidth: float | None = None) -> float:
    """Unbiased MMD² between the rows of x (M, ...) and y (N, ...) with an RBF kernel of width σ = ``bandwidth``.

    Rows are flattened; σ defaults to :func:`median_bandwidth`. Needs at least two rows in each.
    """
    if len(x) < 2 or len(y) < 2:
        raise MatgenError(f"MMD needs at least 2 rows on each side, got {len(x)} and {len(y)}")
    sigma = median_bandwidth(x, y) if bandwidth is None else float(bandwidth)
    gamma = 1.0 / (2.0 * sigma**2)
    kxx = np.exp(-gamma * squared_distances(x, x))
    kyy = np.exp(-gamma * squared_distances(y, y))
    kxy = np.exp(-gamma * squared_distances(x, y))
    m, n = len(x), len(y)
    within_x = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    within_y = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(within_x + within_y - 2.0 * kxy.mean())
