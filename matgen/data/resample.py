"""Put spectra measured on different grids onto one common axis.

:func:`common_axis` chooses the grid (by default: the range every spectrum covers, with as many
points as the densest spectrum has there); :func:`resample` moves one spectrum onto it, by linear
interpolation when the grid is about as fine as the data, and by averaging the data points in
each grid cell when the grid is much coarser (so that downsampling does not alias noise or
narrow peaks).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from matgen.errors import MatgenError

#: A grid step more than this many times the data's median step is downsampling: cells are averaged.
BIN_AVERAGE_RATIO = 2.0


def coverage(x: np.ndarray) -> tuple[float, float]:
    """(min, max) of the finite axis values ``x``."""
    x = np.asarray(x, dtype=np.float64)
    return float(np.min(x)), float(np.max(x))


def _tolerance(lo: float, hi: float) -> float:
    return 1e-9 * max(abs(lo), abs(hi), hi - lo, 1.0)


def edge_tolerance(x: np.ndarray) -> float:
    """How far (axis unit) a grid may reach past the data's ends: one median sampling step.

    Scans rarely start exactly on a round number (an XRD scan from 10.0094° should serve a
    range from 10°); within one step the edge value is held.
    """
    x = np.unique(np.asarray(x, dtype=np.float64))
    step = float(np.median(np.diff(x))) if len(x) > 1 else 0.0
    return step + _tolerance(x[0], x[-1])


def covers(x: np.ndarray, lo: float, hi: float) -> bool:
    """True when the spectrum with axis values ``x`` reaches from ``lo`` to ``hi`` (within one step)."""
    a, b = coverage(x)
    tol = edge_tolerance(x)
    return a <= lo + tol and b >= hi - tol


def common_axis(
    x_by_source: Mapping[str, np.ndarray],
    axis_range: tuple[float, float] | None = None,
    points: int | None = None,
    unit: str = "",
) -> np.ndarray:
    """(L,) float64 grid, strictly increasing, that every spectrum in ``x_by_source`` covers.

    Args:
        x_by_source: source name (file, file#part) -> (L_i,) axis values of that spectrum.
        axis_range: (start, stop) in the axes' unit; default: the overlap of all spectra.
        points: number of grid points; default: the most points any spectrum has in the range.
        unit: the axes' unit, for error messages.

    When all spectra share one grid and neither range nor points is given, that grid is returned
    unchanged.

    Raises:
        MatgenError: the spectra do not overlap (naming two that do not), the requested range
            reaches outside a spectrum (naming it and its coverage), or the range/points are invalid.
    """
    if not x_by_source:
        raise MatgenError("no spectra to put on a common axis")
    spans = {name: coverage(x) for name, x in x_by_source.items()}
    u = f" {unit}" if unit else ""
    if axis_range is None:
        shared = _shared_grid(x_by_source)
        if shared is not None and points is None:
            return shared
        latest = max(spans, key=lambda n: spans[n][0])
        earliest = min(spans, key=lambda n: spans[n][1])
        lo, hi = spans[latest][0], spans[earliest][1]
        if not hi > lo:
            raise MatgenError(
                f"the spectra do not overlap: {earliest} covers {spans[earliest][0]:g}–{spans[earliest][1]:g}{u} "
                f"but {latest} covers {spans[latest][0]:g}–{spans[latest][1]:g}{u}; "
                "import spectra of the same range together"
            )
    else:
        lo, hi = float(axis_range[0]), float(axis_range[1])
        if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
            raise MatgenError(f"--range {lo:g}:{hi:g} is empty; give the start below the end, e.g. --range 200:1200")
        for name, (a, b) in spans.items():
            if not covers(x_by_source[name], lo, hi):
                raise MatgenError(
                    f"{name} covers {a:g}–{b:g}{u}, which does not include the requested range {lo:g}–{hi:g}{u}; "
                    "choose a --range inside every spectrum or pass --skip-bad to leave it out"
                )
    if points is None:
        tol = _tolerance(lo, hi)
        points = max(int(np.count_nonzero((x >= lo - tol) & (x <= hi + tol))) for x in x_by_source.values())
    if points < 2:
        raise MatgenError(f"a common axis needs at least 2 points, got {points}; pass --points 1000 or more")
    return np.linspace(lo, hi, int(points))


def _shared_grid(x_by_source: Mapping[str, np.ndarray]) -> np.ndarray | None:
    """The grid all spectra share (sorted, unique), or None when they differ."""
    grids = [np.unique(np.asarray(x, dtype=np.float64)) for x in x_by_source.values()]
    first = grids[0]
    if len(first) < 2 or any(g.shape != first.shape or not np.array_equal(g, first) for g in grids[1:]):
        return None
    return first


def _sorted_unique(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x sorted without repeats; y averaged over repeated x."""
    xs, inverse, counts = np.unique(np.asarray(x, dtype=np.float64), return_inverse=True, return_counts=True)
    ys = np.bincount(inverse.ravel(), weights=np.asarray(y, dtype=np.float64).ravel()) / counts
    return xs, ys


def _integral(xs: np.ndarray, ys: np.ndarray, t: np.ndarray) -> np.ndarray:
    """∫ from xs[0] to t of the piecewise-linear spectrum (xs sorted, t inside [xs[0], xs[-1]])."""
    cumulative = np.concatenate([[0.0], np.cumsum(0.5 * (ys[1:] + ys[:-1]) * np.diff(xs))])
    k = np.clip(np.searchsorted(xs, t, side="right") - 1, 0, len(xs) - 2)
    return cumulative[k] + 0.5 * (t - xs[k]) * (ys[k] + np.interp(t, xs, ys))


def _cell_half_widths(xs: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """(L,) half-width of the cell centred on each grid point: half-way to its neighbours, inside the data."""
    gaps = np.diff(grid) / 2
    left = np.concatenate([[gaps[0]], gaps])
    right = np.concatenate([gaps, [gaps[-1]]])
    return np.maximum(np.minimum.reduce([left, right, grid - xs[0], xs[-1] - grid]), 0.0)


def resample(x: np.ndarray, y: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """(len(grid),) float64: the spectrum (x, y) on ``grid``.

    x may be in any order; y values at repeated x are averaged (the importer refuses such files
    before they get here: a repeated or unordered axis in a lab file is an error). Where the grid step is more than
    :data:`BIN_AVERAGE_RATIO` times the median data step, each grid value is the mean of the
    piecewise-linear spectrum over a cell centred on the grid point (half-way to its neighbours):
    ``(F(g + w) - F(g - w)) / 2w`` with F the running integral. That keeps areas and peak
    positions, is exact for linear data, and suppresses aliasing of noise and narrow peaks.
    Finer grids, and grid points too close to the data's ends for a cell, use linear
    interpolation. Grid points up to one data step beyond the data's ends take the edge value;
    further out they are NaN.
    """
    xs, ys = _sorted_unique(x, y)
    grid = np.asarray(grid, dtype=np.float64)
    tol = edge_tolerance(xs)
    out = np.interp(np.clip(grid, xs[0], xs[-1]), xs, ys)
    outside = (grid < xs[0] - tol) | (grid > xs[-1] + tol)
    if len(grid) > 1 and len(xs) > 1:
        data_step = float(np.median(np.diff(xs)))
        if float(np.median(np.diff(grid))) > BIN_AVERAGE_RATIO * data_step:
            g = np.clip(grid, xs[0], xs[-1])
            w = _cell_half_widths(xs, g)
            wide = (w >= data_step) & ~outside
            lo, hi = g[wide] - w[wide], g[wide] + w[wide]
            out[wide] = (_integral(xs, ys, hi) - _integral(xs, ys, lo)) / (hi - lo)
    out[outside] = np.nan
    return out
