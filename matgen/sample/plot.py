"""The PNG of a sampling run: a grid of micrographs, or the spectra overlaid, titled with the targets."""

from __future__ import annotations

from pathlib import Path

from matgen.data.dataset import Dataset


def plot_samples(ds: Dataset, path: str | Path, title: str) -> Path:
    """Write a PNG of the generated rows ``ds`` to ``path`` with ``title`` (the targets); returns the path."""
    from matgen.data.plot import plot_dataset

    given = [name for name, c in ds.conditions.items() if c.role != "meta" and not c.missing.all()]
    return plot_dataset(ds, path, color_by=given[0] if given else None, title=title)
