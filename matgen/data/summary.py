"""Plain-data summaries of a dataset (the CLI renders them as rich tables)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from matgen.data.dataset import Condition, Dataset


@dataclass
class ConditionSummary:
    """One condition as ``matgen data info`` shows it."""

    name: str
    role: str
    unit: str
    values: str  # "700 – 970" or "Quartz 19, Calcite 26, ..."
    missing: int


def describe_signals(ds: Dataset) -> dict[str, str]:
    """Field -> text for the dataset as a whole: kind, rows, shape, axis or pixel size, provenance."""
    n = len(ds)
    lines = {
        "kind": ds.kind,
        "rows": f"{n} ({int(ds.synthetic.sum())} synthetic)",
        "signal shape": " × ".join(str(s) for s in ds.signals.shape[1:]) + f"  ({ds.signal_type}, {ds.signals.dtype})",
    }
    if ds.axis is not None:
        lines["axis"] = ds.axis.describe()
    elif ds.pixel_size is not None:
        h, w = ds.signals.shape[-2:]
        lines["pixel size"] = f"{ds.pixel_size:g} {ds.pixel_unit} (field {h * ds.pixel_size:g} × {w * ds.pixel_size:g} {ds.pixel_unit})"
    else:
        lines["pixel size"] = "unknown"
    if ds.signal_type == "labels":
        phases, counts = np.unique(ds.signals, return_counts=True)
        lines["phases"] = ", ".join(f"{p}: {c / counts.sum():.1%}" for p, c in zip(phases, counts))
    elif n:
        lines["signal range"] = f"{float(ds.signals.min()):.4g} – {float(ds.signals.max()):.4g} {ds.signal_unit}".rstrip()
    sources = Counter(str(s).split("#")[0] for s in ds.sources)
    lines["sources"] = f"{len(sources)} file(s)" if sources else "none"
    return lines


def summarize_condition(name: str, cond: Condition, max_categories: int = 12) -> ConditionSummary:
    """Range (continuous) or class counts (categorical) of one condition."""
    missing = int(cond.missing.sum())
    if cond.is_categorical:
        counts = Counter(label for label in cond.labels() if label is not None)
        if len(counts) > max_categories:
            max_categories = max(3, max_categories // 2)
        shown = [f"{label} {count}" for label, count in counts.most_common(max_categories)]
        if len(counts) > max_categories:
            shown.append(f"… {len(counts) - max_categories} more")
        values = f"{len(cond.categories)} class{'es' if len(cond.categories) != 1 else ''}: " + ", ".join(shown)
    else:
        known = cond.values[~np.isnan(cond.values)]
        if not len(known):
            values = "all unknown"
        elif np.unique(known).size <= 6:
            values = ", ".join(f"{v:g}" for v in np.unique(known))
        else:
            values = f"{known.min():.4g} – {known.max():.4g} (median {np.median(known):.4g})"
    return ConditionSummary(name, cond.role, cond.describe_unit(), values, missing)


def summarize_conditions(ds: Dataset) -> list[ConditionSummary]:
    return [summarize_condition(name, cond) for name, cond in ds.conditions.items()]
