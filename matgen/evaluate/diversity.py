"""How different a set of samples is from itself: mean pairwise distance and the share of distinct samples.

For signals as the network sees them (label maps: x = ±1), the RMS difference of two maps is
2 sqrt(fraction of differing pixels); a campaign reports the mean over its candidates beside the
same measure for as many training samples.
"""

from __future__ import annotations

import numpy as np


def mean_pairwise_distance(x: np.ndarray) -> float | None:
    """Mean over pairs i < j of the RMS difference sqrt(mean((x_i - x_j)^2)) of rows x (N, ...); None for N < 2."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    if len(x) < 2:
        return None
    sq = (x**2).sum(axis=1)
    d2 = np.clip(sq[:, None] + sq[None, :] - 2.0 * x @ x.T, 0.0, None) / x.shape[1]  # (N, N)
    upper = np.triu_indices(len(x), k=1)
    return float(np.sqrt(d2[upper]).mean())


def new_distinct(x: np.ndarray, reference: np.ndarray, mask: np.ndarray | None = None) -> int:
    """How many rows of x (N, ...) (those of ``mask``) are no exact copy of a row of ``reference`` (M, ...) nor of
    an earlier such row of x."""
    seen = {np.ascontiguousarray(row).tobytes() for row in np.asarray(reference)}
    count = 0
    for i, row in enumerate(np.asarray(x)):
        key = np.ascontiguousarray(row).tobytes()
        if (mask is None or mask[i]) and key not in seen:
            seen.add(key)
            count += 1
    return count


def unique_fraction(x: np.ndarray) -> float:
    """The fraction of rows of x (N, ...) that are distinct."""
    x = np.asarray(x).reshape(len(x), -1)
    return float(len(np.unique(x, axis=0)) / len(x)) if len(x) else 1.0
