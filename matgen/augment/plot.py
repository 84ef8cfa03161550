"""PNG of an augmented dataset: real and synthetic spectra overlaid, one panel per class (or micrographs side by side)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from matgen.data.dataset import Dataset
from matgen.data.plot import _AXIS_LABELS, choose_rows, plot_dataset, pyplot, save_png

#: Line colour of each origin (the ``augmentation`` condition).
COLORS = {"none": "#1f4e99", "physics": "#e07b00", "generative": "#2a9d3a"}
MAX_PANELS = 12
PER_PANEL = 8  # spectra of each origin drawn per panel


def class_condition(ds: Dataset, by: str | None = None) -> str | None:
    """``by``, else the first categorical label condition (None when there is none)."""
    if by is not None:
        return by
    return next((n for n, c in ds.conditions.items() if c.is_categorical and c.role == "label"), None)


def plot_augmented(ds: Dataset, path: str | Path, by: str | None = None, seed: int = 0) -> Path:
    """Write a PNG of real (blue) vs physics (orange) vs generative (green) rows per class of ``by``; returns the path.

    Spectra are each scaled to their maximum; at most 12 classes (the largest) and 8 spectra per
    origin and class are drawn. Micrographs fall back to :func:`matgen.data.plot.plot_dataset`.
    """
    if not ds.is_spectrum:
        return plot_dataset(ds, path, title="real and synthetic micrographs")
    plt = pyplot()

    by = class_condition(ds, by)
    classes = _classes(ds, by)
    origin = ds.conditions["augmentation"].labels() if "augmentation" in ds.conditions else \
        np.where(ds.synthetic, "physics", "none")
    cols = min(3, len(classes))
    rows = -(-len(classes) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.6 * rows), squeeze=False, sharex=True)
    for ax in axes.flat[len(classes):]:
        ax.axis("off")
    x = ds.axis.values
    for ax, (name, members) in zip(axes.flat, classes):
        for kind, color in COLORS.items():
            picked = members[origin[members] == kind]
            picked = picked[choose_rows(len(picked), PER_PANEL, seed)]
            for i, row in enumerate(picked):
                y = ds.signals[row].astype(float)
                ax.plot(x, y / max(np.abs(y).max(), 1e-30), color=color, lw=0.7, alpha=0.7,
                        label=f"{'real' if kind == 'none' else kind} ({np.sum(origin[members] == kind)})" if i == 0 else None)
        ax.set_title(str(name), fontsize=9)
        ax.legend(fontsize=6, loc="upper right")
        ax.set_yticks([])
    for ax in axes[-1]:
        ax.set_xlabel(f"{_AXIS_LABELS.get(ds.axis.name, ds.axis.name)} ({ds.axis.unit})")
    fig.suptitle(f"{int((~ds.synthetic).sum())} real and {int(ds.synthetic.sum())} synthetic {ds.kind} spectra"
                 + (f" by {by}" if by else "") + " (each scaled to its maximum)", fontsize=10)
    fig.tight_layout()
    return save_png(fig, path, dpi=100)


def _classes(ds: Dataset, by: str | None) -> list[tuple[str, np.ndarray]]:
    """(class name, its rows) of the largest classes of ``by`` (one 'all rows' panel without it)."""
    if by is None:
        return [("all rows", np.arange(len(ds)))]
    labels = ds.condition(by).labels() if ds.condition(by).is_categorical else None
    if labels is None:
        return [("all rows", np.arange(len(ds)))]
    names = [n for n in dict.fromkeys(labels) if n is not None]
    names.sort(key=lambda n: -np.sum(labels == n))
    return [(n, np.flatnonzero(labels == n)) for n in names[:MAX_PANELS]]
