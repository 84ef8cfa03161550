"""PNG pictures of a dataset: a grid of micrographs, or spectra overlaid / stacked by a condition."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from matgen.common.files import atomic_path
from matgen.data.dataset import Dataset
from matgen.errors import MatgenError

LAYOUTS = ("overlay", "stack")
_AXIS_LABELS = {
    "two_theta": "2θ", "raman_shift": "Raman shift", "energy_loss": "energy loss",
}


def choose_rows(n: int, limit: int, seed: int = 0) -> np.ndarray:
    """Up to ``limit`` row indices spread over 0..n-1 (all of them when n <= limit), sorted."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend (imported when first drawing, not at start-up)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig, path: str | Path, dpi: int = 110) -> Path:
    """Write ``fig`` to ``path`` as a PNG atomically, close it, and return the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    pyplot().close(fig)
    return path


def plot_dataset(
    ds: Dataset, path: str | Path, color_by: str | None = None, layout: str = "overlay", limit: int | None = None,
    seed: int = 0, title: str | None = None,
) -> Path:
    """Write a PNG of ``ds`` to ``path``; returns the path.

    Args:
        ds: the dataset.
        path: the PNG to write (atomically).
        color_by: condition that colours the spectra and orders the rows shown; default: the first
            label or processing condition. Micrographs are titled with their conditions.
        layout: ``overlay`` (spectra on one axis) or ``stack`` (each offset upwards).
        limit: at most this many rows (default 16 micrographs / 60 spectra), picked with ``seed``.
        title: a title for the whole picture instead of the default row count (e.g. sampling targets).
    """
    if layout not in LAYOUTS:
        raise MatgenError(f"unknown layout '{layout}'; choose from {', '.join(LAYOUTS)}")
    if len(ds) == 0:
        raise MatgenError("the dataset is empty: nothing to plot")
    if limit is not None and limit < 1:
        raise MatgenError(f"--limit {limit}: show at least 1 row, e.g. --limit 16")
    if color_by is not None:
        ds.condition(color_by)
    else:
        color_by = next((n for n, c in ds.conditions.items() if c.role in ("label", "processing", "property")), None)
    plt = pyplot()

    rows = choose_rows(len(ds), limit or (60 if ds.is_spectrum else 16), seed)
    if color_by is not None:
        rows = rows[np.argsort(_sort_key(ds.conditions[color_by], rows), kind="stable")]
    if ds.is_spectrum:
        fig = _plot_spectra(plt, ds, color_by, layout, rows)
    else:
        fig = _plot_micrographs(plt, ds, rows)
    if title is not None:
        if ds.is_spectrum:
            fig.axes[0].set_title(title, fontsize=10)
        else:
            fig.suptitle(title, fontsize=10)
            fig.tight_layout()
    return save_png(fig, path)


def _sort_key(cond, rows: np.ndarray) -> np.ndarray:
    if cond.is_categorical:
        return np.where(cond.values[rows] < 0, len(cond.categories), cond.values[rows])
    return np.nan_to_num(cond.values[rows], nan=np.inf)


def _value_text(cond, row: int) -> str:
    if cond.is_categorical:
        value = cond.labels()[row]
        return str(value) if value is not None else "?"
    value = cond.values[row]
    return f"{value:.4g} {cond.unit}".rstrip() if not np.isnan(value) else "?"


def _micrograph_title(ds: Dataset, row: int) -> str:
    """The row's non-meta conditions, compactly (``700 °C · 24 h · Q``), else its id."""
    parts = [_value_text(c, row) for c in ds.conditions.values() if c.role != "meta"][:4]
    return " · ".join(parts) if parts else str(ds.ids[row])


def _plot_micrographs(plt, ds: Dataset, rows: np.ndarray):
    cols = int(np.ceil(np.sqrt(len(rows))))
    grid_rows = int(np.ceil(len(rows) / cols))
    fig, axes = plt.subplots(grid_rows, cols, figsize=(2.6 * cols, 2.8 * grid_rows), squeeze=False)
    style = _phase_style(plt, ds.signals) if ds.signal_type == "labels" else {"cmap": "gray", "vmin": 0.0, "vmax": 1.0}
    for ax in axes.flat:
        ax.axis("off")
    for ax, row in zip(axes.flat, rows):
        image = ds.signals[row]
        if image.ndim == 3:  # (C, H, W): show the first channel
            image = image[0]
        ax.imshow(image, interpolation="nearest", **style)
        ax.set_title(_micrograph_title(ds, row), fontsize=8)
    if ds.pixel_size is not None:
        w = ds.signals.shape[-1] * ds.pixel_size
        fig.suptitle(f"{len(rows)} of {len(ds)} micrographs, field width {w:.3g} {ds.pixel_unit}", fontsize=10)
    else:
        fig.suptitle(f"{len(rows)} of {len(ds)} micrographs", fontsize=10)
    fig.tight_layout()
    return fig


def _phase_style(plt, signals: np.ndarray) -> dict:
    """imshow arguments that give each phase value of a label map its own flat colour."""
    from matplotlib.colors import BoundaryNorm, ListedColormap

    phases = np.unique(signals)
    palette = ["#202020", "#f0a020", "#3080d0", "#d04040", "#40a060", "#9060c0", "#e0e0e0", "#808080"]
    cmap = ListedColormap([palette[i % len(palette)] for i in range(len(phases))])
    bounds = np.concatenate([phases - 0.5, [phases[-1] + 0.5]])
    return {"cmap": cmap, "norm": BoundaryNorm(bounds, cmap.N)}


def _plot_spectra(plt, ds: Dataset, color_by: str | None, layout: str, rows: np.ndarray):
    fig, ax = plt.subplots(figsize=(9, 5.5 if layout == "overlay" else max(5.5, 0.35 * len(rows))))
    x = ds.axis.values
    y = ds.signals[rows].astype(float)
    scale = np.nanmax(np.abs(y), axis=1, keepdims=True)
    y = y / np.where(scale > 0, scale, 1.0)
    colors, legend = _colors(plt, ds, color_by, rows)
    for i, (row, spectrum) in enumerate(zip(rows, y)):
        offset = i * 1.05 if layout == "stack" else 0.0
        ax.plot(x, spectrum + offset, color=colors[i], lw=0.8, alpha=0.85)
    name = _AXIS_LABELS.get(ds.axis.name, ds.axis.name)
    ax.set_xlabel(f"{name} ({ds.axis.unit})")
    ax.set_ylabel("intensity (each spectrum scaled to its maximum)" + (", offset" if layout == "stack" else ""))
    ax.set_xlim(x[0], x[-1])
    title = f"{len(rows)} of {len(ds)} {ds.kind} spectra"
    if ds.axis.wavelength_angstrom:
        title += f", λ = {ds.axis.wavelength_angstrom:g} Å"
    ax.set_title(title + (f", coloured by {color_by}" if color_by else ""))
    if legend is not None:
        legend(ax, fig)
    fig.tight_layout()
    return fig


def _colors(plt, ds: Dataset, color_by: str | None, rows: np.ndarray):
    if color_by is None:
        return [plt.cm.viridis(v) for v in np.linspace(0, 0.9, len(rows))], None
    cond = ds.conditions[color_by]
    if cond.is_categorical:
        labels = cond.labels()[rows]
        present = list(dict.fromkeys(label for label in labels))
        cmap = plt.get_cmap("tab20" if len(present) > 10 else "tab10")
        color_of = {label: cmap(i % cmap.N) for i, label in enumerate(present)}
        colors = [color_of[label] for label in labels]

        def legend(ax, fig):
            from matplotlib.lines import Line2D

            handles = [Line2D([], [], color=color_of[p], label=str(p)) for p in present[:20]]
            ax.legend(handles=handles, title=color_by, fontsize=7, loc="upper right", ncol=1 + len(handles) // 10)

        return colors, legend
    values = cond.values[rows]
    finite = values[~np.isnan(values)]
    lo, hi = (finite.min(), finite.max()) if len(finite) else (0.0, 1.0)
    norm = plt.Normalize(lo, hi if hi > lo else lo + 1)
    colors = [plt.cm.plasma(norm(v)) if not np.isnan(v) else (0.6, 0.6, 0.6, 1) for v in values]

    def colorbar(ax, fig):
        mappable = plt.cm.ScalarMappable(norm=norm, cmap="plasma")
        fig.colorbar(mappable, ax=ax, label=f"{color_by} ({cond.unit})" if cond.unit else color_by)

    return colors, colorbar
