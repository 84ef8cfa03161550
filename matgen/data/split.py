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
    as it can to its fraction. With ``strata`` (a label per row), each stratum is dealt out in
    turn, its first group to the largest part, so that every class is in training and spread
    over the parts in proportion (a group spanning several strata goes with its first row's).

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
    assignment = np.full(len(unique), -1)
    overall = np.zeros(len(fractions))  # rows dealt to each part so far
    for stratum in np.unique(group_stratum):
        members = rng.permutation(np.flatnonzero(group_stratum == stratum))
        _deal(members, sizes, fractions, assignment, overall)
    part_of_row = assignment[inverse]
    return [np.flatnonzero(part_of_row == k) for k in range(len(fractions))]


def _deal(members: np.ndarray, sizes: np.ndarray, fractions: np.ndarray, assignment: np.ndarray,
          overall: np.ndarray) -> None:
    """Assign the groups ``members`` (in order) to parts, writing into ``assignment`` and ``overall``.

    The first group of a stratum goes to the largest part (so that training sees every class);
    each further group goes to the part with the largest shortfall, counted in rows below its
    target within this stratum plus the rows below its target over the whole dataset so
    far (``overall``: rows per part already dealt) -- so small strata cannot all round towards
    the same part.
    """
    targets = fractions * sizes[members].sum()
    total_targets = fractions * sizes.sum()
    filled = np.zeros(len(fractions))
    for i, g in enumerate(members):
        score = np.where(fractions > 0, (targets - filled) + (total_targets - overall), -np.inf)
        part = int(np.argmax(fractions)) if i == 0 else int(np.argmax(score))
        assignment[g] = part
        filled[part] += sizes[g]
        overall[part] += sizes[g]


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
