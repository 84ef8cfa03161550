"""Train / validation / test splits that keep every group (e.g. one RRUFF sample) on one side."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from matgen.data.dataset import Dataset
from matgen.errors import MatgenError

SPLIT_NAMES = ("train", "val", "test")


def group_keys(ds: Dataset, by: str | None) -> np.ndarray:
    """(N,) str: the group of each row, from condition ``by`` (each row alone when None).

    Rows whose group is unknown each form a group of their own.
    """
    if by is None:
        return ds.ids.astype(str)
    cond = ds.condition(by)
    if cond.is_categorical:
        labels = cond.labels()
        return np.asarray([str(g) if g is not None else f"\0{i}" for i, g in enumerate(labels)])
    return np.asarray([repr(float(v)) if not np.isnan(v) else f"\0{i}" for i, v in enumerate(cond.values)])


def split_indices(
    groups: np.ndarray, fractions: Sequence[float], seed: int = 0, strata: np.ndarray | None = None
) -> list[np.ndarray]:
    """Row indices of each part; rows of one group always land in the same part.

    Groups are shuffled with ``seed`` and dealt out so that each part's row count comes as close
    as it can to its fraction. With ``strata`` (a label per row), each stratum is dealt out on its
    own so that every class is spread over the parts in proportion (a group spanning several
    strata goes with its first).

    Args:
        groups: (N,) group key per row.
        fractions: one non-negative fraction per part, summing to 1.
        seed: seed of the shuffle.
        strata: optional (N,) class per row.

    Returns:
        One sorted int array per part.
    """
    fractions = np.asarray(fractions, dtype=float)
    if (fractions < 0).any() or not np.isclose(fractions.sum(), 1.0, atol=1e-6):
        raise MatgenError(f"split fractions must be non-negative and sum to 1, got {list(fractions)}")
    rng = np.random.default_rng(seed)
    unique, inverse = np.unique(groups, return_inverse=True)
    sizes = np.bincount(inverse, minlength=len(unique))
    group_stratum = np.zeros(len(unique), dtype=int)
    if strata is not None:
        first_row = np.full(len(unique), -1)
        for row in range(len(groups) - 1, -1, -1):
            first_row[inverse[row]] = row
        _, stratum_codes = np.unique(np.asarray(strata)[first_row], return_inverse=True)
        group_stratum = stratum_codes
    assignment = np.empty(len(unique), dtype=int)
    for stratum in np.unique(group_stratum):
        members = rng.permutation(np.flatnonzero(group_stratum == stratum))
        assignment[members] = _deal(sizes[members], fractions)
    part_of_row = assignment[inverse]
    return [np.flatnonzero(part_of_row == k) for k in range(len(fractions))]


def _deal(sizes: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """Part index for each group (in the given order), filling the part furthest below its target."""
    targets = fractions * sizes.sum()
    filled = np.zeros(len(fractions))
    parts = np.empty(len(sizes), dtype=int)
    for i, size in enumerate(sizes):
        deficit = np.where(fractions > 0, (targets - filled) / np.maximum(targets, 1e-12), -np.inf)
        parts[i] = int(np.argmax(deficit))
        filled[parts[i]] += size
    return parts


def split(
    ds: Dataset, fractions: Sequence[float] = (0.7, 0.15, 0.15), by: str | None = None, seed: int = 0,
    stratify: str | None = None,
) -> dict[str, Dataset]:
    """Split ``ds`` into parts named train / val / test (by the number of fractions given).

    Args:
        ds: the dataset.
        fractions: fraction of rows per part (2 or 3 values summing to 1).
        by: condition whose value groups rows that must stay together (e.g. ``rruff_id``).
        seed: seed of the shuffle; the same seed gives the same split.
        stratify: categorical condition to balance across parts (e.g. ``mineral``).

    Returns:
        Part name -> dataset, each keeping its rows' ids.
    """
    if len(fractions) not in (2, 3):
        raise MatgenError(f"give 2 or 3 split fractions (train,val[,test]), got {len(fractions)}")
    groups = group_keys(ds, by)
    strata = None
    if stratify is not None:
        cond = ds.condition(stratify)
        strata = cond.labels().astype(str) if cond.is_categorical else cond.values.astype(str)
    parts = split_indices(groups, fractions, seed=seed, strata=strata)
    return {name: ds.take(index) for name, index in zip(SPLIT_NAMES, parts)}
