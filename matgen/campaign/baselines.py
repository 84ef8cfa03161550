"""The two baselines a campaign is measured against, with the same simulator and the same number of candidates.

* ``nearest``: the training samples nearest to the targets in normalised property space,
  z_k = (y_k - mean_k) / std_k per target property k (statistics of the training data), at the
  point the model is asked for (:meth:`~matgen.campaign.targets.Target.sampling_values`): what a
  scientist would pick from the data without any model. They are simulated again (not read from
  the file), so the comparison holds for any simulator.
* ``unguided``: as many samples of the first model with no target at all (the null condition):
  what the generator makes when it is not told what is wanted.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from matgen.campaign.targets import Target
from matgen.data.dataset import Dataset
from matgen.errors import MatgenError


def target_point(targets: Mapping[str, Target], ds: Dataset, margin: float) -> dict[str, float]:
    """name -> the single value the targets stand for (a range's middle, a bound moved by ``margin``)."""
    point = {}
    for name, t in targets.items():
        values = ds.condition(name).values
        finite = values[np.isfinite(values)]
        trained = (float(finite.min()), float(finite.max())) if len(finite) else None
        point[name] = float(t.sampling_values(1, margin, trained)[0])
    return point


def nearest_rows(ds: Dataset, point: Mapping[str, float], n: int) -> np.ndarray:
    """Indices of the ``n`` rows of ``ds`` nearest to ``point`` in z-scores of the named conditions, nearest first.

    Rows with an unknown (NaN) value of any of them are left out.

    Raises:
        MatgenError: no row has all the properties.
    """
    names = list(point)
    y = np.stack([ds.condition(k).values.astype(np.float64) for k in names], axis=1)  # (N, K)
    known = np.isfinite(y).all(axis=1)
    if not known.any():
        raise MatgenError(f"no training sample has all of {', '.join(names)}: no nearest-sample baseline")
    mean, std = np.nanmean(y[known], axis=0), np.nanstd(y[known], axis=0)
    std = np.where(std > 0, std, 1.0)
    z = (y - mean) / std
    goal = (np.asarray([point[k] for k in names]) - mean) / std
    distance = np.where(known, np.sqrt(((z - goal) ** 2).sum(axis=1)), np.inf)
    order = np.argsort(distance, kind="stable")
    return order[: min(n, int(known.sum()))]


def nearest_samples(ds: Dataset, targets: Mapping[str, Target], n: int, margin: float) -> Dataset:
    """The ``n`` training samples nearest to the targets (their ids kept, their conditions as in the data)."""
    return ds.take(nearest_rows(ds, target_point(targets, ds, margin), n))
