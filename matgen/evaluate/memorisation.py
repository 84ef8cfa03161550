"""Memorised copies: synthetic rows that sit closer to a training row than real new data ever does.

A generator that copies its training rows makes samples whose nearest-neighbour (NN) distance to
the training set is far below that of fresh real data. The reference is the NN distance of real
rows the generator never saw (a held-out split, or each real row against the other groups): a
synthetic row closer to the training set than the 5th percentile of those distances counts as a
copy. A faithful generator scores about 0.05 (as real data would, by construction); exact copies
score 1. Distances are Euclidean on the rows scaled to [0, 1] (:func:`matgen.evaluate.spectra.unit_range`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from matgen.evaluate.mmd import squared_distances

#: The percentile of the real NN distances under which a synthetic row counts as a copy.
COPY_PERCENTILE = 5.0


def nearest_distances(rows: np.ndarray, reference: np.ndarray, exclude: np.ndarray | None = None,
                      reference_groups: np.ndarray | None = None) -> np.ndarray:
    """(N,) distance from each row to its nearest row of ``reference`` (rows flattened).

    ``exclude`` (N,) and ``reference_groups`` (M,): a reference row of the same group as the row is
    not a candidate (the leave-one-group-out distance of real data to itself).
    """
    d2 = squared_distances(rows, reference)
    if exclude is not None:
        d2 = np.where(np.asarray(exclude)[:, None] == np.asarray(reference_groups)[None, :], np.inf, d2)
    return np.sqrt(d2.min(axis=1))


@dataclass
class Memorisation:
    """The nearest-neighbour test for copies.

    Attributes:
        copied_fraction: fraction of synthetic rows nearer the training set than ``threshold``.
        threshold: the 5th percentile of the real reference NN distances.
        synthetic_median: median NN distance of the synthetic rows to the training set.
        real_median: median NN distance of the real reference rows.
    """

    copied_fraction: float
    threshold: float
    synthetic_median: float
    real_median: float

    def as_dict(self) -> dict:
        return asdict(self)


def memorisation(synthetic_distances: np.ndarray, real_distances: np.ndarray,
                 percentile: float = COPY_PERCENTILE) -> Memorisation:
    """Fraction of synthetic rows whose NN distance to the training set is below the real ``percentile``."""
    threshold = float(np.percentile(real_distances, percentile))
    syn = np.asarray(synthetic_distances, dtype=np.float64)
    return Memorisation(float(np.mean(syn < threshold)) if len(syn) else float("nan"), threshold,
                        float(np.median(syn)) if len(syn) else float("nan"), float(np.median(real_distances)))
