"""Which real rows the synthetic rows come from: K per row (``factor``) or every class up to the largest (``balance``).

Parents are dealt out evenly: the rows are shuffled with the seed and repeated whole before any
row comes a further time, so with factor K every row parents ⌊K⌋ or ⌈K⌉ synthetic rows.
"""

from __future__ import annotations

import numpy as np

from matgen.data.dataset import Dataset
from matgen.errors import MatgenError


def spread(rows: np.ndarray, total: int, rng: np.random.Generator) -> np.ndarray:
    """(total,) parents from ``rows``: whole shuffled passes over them, then part of one more."""
    rows = np.asarray(rows, dtype=np.int64)
    if total <= 0 or len(rows) == 0:
        return np.zeros(0, dtype=np.int64)
    passes = [rng.permutation(rows) for _ in range(-(-total // len(rows)))]
    return np.concatenate(passes)[:total]


def factor_parents(real: np.ndarray, factor: float, seed: int = 0) -> np.ndarray:
    """Parents of round(factor × len(real)) synthetic rows, each real row used ⌊factor⌋ or ⌈factor⌉ times.

    Raises:
        MatgenError: a negative or non-finite factor.
    """
    if not (np.isfinite(factor) and factor >= 0):
        raise MatgenError(f"the factor (synthetic rows per real row) must be a number ≥ 0, got {factor}")
    return spread(real, int(round(factor * len(real))), np.random.default_rng([seed, 1]))


def balance_parents(ds: Dataset, by: str, real: np.ndarray, factor: float = 0.0, seed: int = 0) -> np.ndarray:
    """Parents that bring every class of the categorical condition ``by`` to round((1 + factor) × the largest count).

    Only the real rows in ``real`` count and parent; rows whose class is unknown are left alone.
    Parents of one class come together, classes in category order.

    Raises:
        MatgenError: an unknown condition (listing the dataset's), a continuous one (listing the
            categorical ones), no known class among the real rows, or a bad factor.
    """
    cond = ds.condition(by)
    if not cond.is_categorical:
        categorical = [n for n, c in ds.conditions.items() if c.is_categorical and n != "augmentation"]
        raise MatgenError(f"--balance needs a categorical condition; '{by}' is continuous (categorical ones: "
                          f"{', '.join(categorical) or 'none'})")
    if not (np.isfinite(factor) and factor >= 0):
        raise MatgenError(f"the factor on top of --balance must be a number ≥ 0, got {factor}")
    real = np.asarray(real, dtype=np.int64)
    codes = cond.values[real]
    counts = np.bincount(codes[codes >= 0], minlength=len(cond.categories))
    if counts.sum() == 0:
        raise MatgenError(f"no real row has a known '{by}': nothing to balance")
    target = int(round((1 + factor) * counts.max()))
    rng = np.random.default_rng([seed, 2])
    parts = [spread(real[codes == k], target - counts[k], rng) for k in range(len(cond.categories)) if counts[k]]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
