"""Condition columns of a dataset as a run sees them: specs with training statistics, and the (N, K) matrix.

Values are float32 in each condition's unit (categorical: the code into the spec's categories),
NaN where unknown.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from matgen.data.dataset import Dataset
from matgen.errors import MatgenError
from matgen.nets.embeddings import ConditionSpec


def condition_specs(ds: Dataset, names: Sequence[str]) -> list[ConditionSpec]:
    """One ConditionSpec per name, with unit and the training statistics and range of ``ds``.

    Raises:
        MatgenError: a name is not a condition of ``ds`` (the message lists them), or a
            continuous condition has no known value.
    """
    specs = []
    for name in names:
        cond = ds.condition(name)
        if cond.is_categorical:
            specs.append(ConditionSpec.from_values(name, cond.values, categories=cond.categories))
        else:
            specs.append(ConditionSpec.from_values(name, cond.values, unit=cond.unit))
    return specs


def condition_matrix(ds: Dataset, specs: Sequence[ConditionSpec], missing_ok: bool = False) -> np.ndarray:
    """Return (N, K) float32 condition values (categorical: codes into spec.categories), NaN where unknown.

    With ``missing_ok`` a condition the dataset lacks is all NaN; otherwise it raises a MatgenError.
    """
    columns = []
    for spec in specs:
        if missing_ok and spec.name not in ds.conditions:
            columns.append(np.full(len(ds), np.nan))
            continue
        cond = ds.condition(spec.name)
        if spec.kind == "categorical":
            if not cond.is_categorical:
                raise MatgenError(f"condition '{spec.name}' is numeric here but the model takes categories")
            index = {c: i for i, c in enumerate(spec.categories)}
            labels = cond.labels()
            codes = [index.get(label, np.nan) if label is not None else np.nan for label in labels]
            columns.append(np.asarray(codes, dtype=np.float64))
        else:
            if cond.is_categorical:
                raise MatgenError(f"condition '{spec.name}' holds categories here but the model takes numbers")
            columns.append(cond.values.astype(np.float64))
    if not columns:
        return np.zeros((len(ds), 0), dtype=np.float32)
    return np.stack(columns, axis=1).astype(np.float32)  # (N, K)
