"""Spectrum quality: peaks of real versus synthetic spectra, and the spectral angle between them.

Every metric here works on spectra scaled per row to [0, 1] (:func:`unit_range`: minus the row's
minimum, over its range), so a synthetic spectrum is judged on its shape, not on its counts.

**Peaks** (:func:`find_peaks`): local maxima whose prominence is at least ``min_prominence`` of the
spectrum's range (``scipy.signal.find_peaks``), each located by a parabola through its three
highest channels (exact for a parabola, ~1 % of a channel for a sampled Lorentzian or Gaussian)
and sized by its full width at half prominence (``scipy.signal.peak_widths``; for an isolated
peak on a flat baseline that is the FWHM), read off the axis by linear interpolation so that it
is in axis units (cm⁻¹, deg 2θ, eV).

**Peak errors** (:func:`peak_errors`): the peaks of a reference spectrum (the mean real spectrum
of a class) are matched, strongest first, to the nearest unmatched peak of the other spectrum
(the mean synthetic spectrum of that class) within ``tolerance``; over matched pairs the mean
|Δ position|, |Δ FWHM| (axis units) and |Δ height| (fraction of the range) are the errors, and
``recall`` / ``precision`` the fractions of real / synthetic peaks matched.

**Spectral angle** (:func:`spectral_angle_deg`): θ = arccos(a·b / (|a| |b|)) in degrees; 0 for
spectra of the same shape, 90 for spectra with no overlap.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from matgen.data.dataset import Dataset
from matgen.errors import MatgenError

#: Default minimum prominence of a peak, as a fraction of the spectrum's range.
MIN_PROMINENCE = 0.05


def unit_range(spectra: np.ndarray) -> np.ndarray:
    """(N, L) or (L,) float64 spectra scaled per row to [0, 1]: (y − min y) / (max y − min y); flat rows give 0."""
    y = np.asarray(spectra, dtype=np.float64)
    low = y.min(axis=-1, keepdims=True)
    span = y.max(axis=-1, keepdims=True) - low
    return (y - low) / np.where(span > 0, span, 1.0)


@dataclass
class Peaks:
    """The peaks of one spectrum, strongest first.

    Attributes:
        position: (P,) peak positions in axis units.
        fwhm: (P,) full widths at half prominence in axis units.
        height: (P,) heights of the peak channels (in the spectrum's own units).
    """

    position: np.ndarray
    fwhm: np.ndarray
    height: np.ndarray

    def __len__(self) -> int:
        return len(self.position)


def find_peaks(axis: np.ndarray, spectrum: np.ndarray, min_prominence: float = MIN_PROMINENCE,
               min_separation: float | None = None) -> Peaks:
    """The peaks of one spectrum (L,) on ``axis`` (L,), strongest first (see the module notes).

    Args:
        axis: (L,) increasing abscissa (cm⁻¹, deg, eV).
        spectrum: (L,) intensities.
        min_prominence: a peak must stand this fraction of the spectrum's range above its surroundings.
        min_separation: peaks closer than this (axis units) keep only the taller; default 2 channels.
    """
    from scipy.signal import find_peaks as scipy_peaks, peak_widths

    x = np.asarray(axis, dtype=np.float64)
    y = np.asarray(spectrum, dtype=np.float64)
    if x.ndim != 1 or y.shape != x.shape:
        raise MatgenError(f"axis and spectrum must be 1-D of one length, got {x.shape} and {y.shape}")
    span = float(y.max() - y.min())
    if span <= 0:
        return Peaks(np.zeros(0), np.zeros(0), np.zeros(0))
    step = float(np.mean(np.diff(x)))
    distance = max(1, int(round((min_separation or 2 * step) / step)))
    index, props = scipy_peaks(y, prominence=min_prominence * span, distance=distance)
    index = index[(index > 0) & (index < len(y) - 1)]
    if not len(index):
        return Peaks(np.zeros(0), np.zeros(0), np.zeros(0))
    _, _, left, right = peak_widths(y, index, rel_height=0.5)
    channels = np.arange(len(x))
    fwhm = np.interp(right, channels, x) - np.interp(left, channels, x)
    y0, y1, y2 = y[index - 1], y[index], y[index + 1]
    curvature = y0 - 2 * y1 + y2
    offset = np.where(curvature != 0, 0.5 * (y0 - y2) / np.where(curvature != 0, curvature, 1.0), 0.0)
    position = np.interp(index + offset, channels, x)
    order = np.argsort(-y[index], kind="stable")
    return Peaks(position[order], fwhm[order], y[index][order])


def match_peaks(reference: np.ndarray, other: np.ndarray, tolerance: float) -> list[tuple[int, int]]:
    """Pairs (i, j) of reference peak i with other peak j: each reference peak in turn (give them
    strongest first) takes the nearest unmatched ``other`` peak within ``tolerance``."""
    taken = np.zeros(len(other), dtype=bool)
    pairs = []
    for i, x in enumerate(reference):
        distance = np.where(taken, np.inf, np.abs(np.asarray(other) - x))
        if len(distance) and distance.min() <= tolerance:
            j = int(np.argmin(distance))
            taken[j] = True
            pairs.append((i, j))
    return pairs


@dataclass
class PeakErrors:
    """How the peaks of a synthetic spectrum miss those of a real one (axis units; heights as fractions).

    Attributes:
        position: mean |Δ position| over matched peaks (NaN when none matched).
        fwhm: mean |Δ FWHM| over matched peaks.
        height: mean |Δ height| over matched peaks, both spectra scaled to [0, 1].
        recall: fraction of the real peaks matched by a synthetic one.
        precision: fraction of the synthetic peaks matched by a real one.
        real_peaks, synthetic_peaks: how many peaks each has.
    """

    position: float
    fwhm: float
    height: float
    recall: float
    precision: float
    real_peaks: int
    synthetic_peaks: int

    def as_dict(self) -> dict:
        return asdict(self)


def default_tolerance(axis: np.ndarray) -> float:
    """Peak-matching tolerance (axis units): 2 % of the axis span, at least 3 channels."""
    x = np.asarray(axis, dtype=np.float64)
    return float(max(0.02 * (x[-1] - x[0]), 3 * np.mean(np.diff(x))))


def peak_errors(axis: np.ndarray, real: np.ndarray, synthetic: np.ndarray, tolerance: float | None = None,
                min_prominence: float = MIN_PROMINENCE) -> PeakErrors:
    """Peak position / width / height errors of one synthetic spectrum (L,) against one real spectrum (L,).

    Both are scaled to [0, 1] first; ``tolerance`` (axis units, default :func:`default_tolerance`)
    is how far a synthetic peak may sit from a real one and still count as the same band.
    """
    tolerance = default_tolerance(axis) if tolerance is None else tolerance
    a = find_peaks(axis, unit_range(real), min_prominence)
    b = find_peaks(axis, unit_range(synthetic), min_prominence)
    pairs = match_peaks(a.position, b.position, tolerance)
    i = np.asarray([p[0] for p in pairs], dtype=int)
    j = np.asarray([p[1] for p in pairs], dtype=int)

    def mean_abs(u: np.ndarray, v: np.ndarray) -> float:
        return float(np.mean(np.abs(u[i] - v[j]))) if len(pairs) else float("nan")

    return PeakErrors(
        position=mean_abs(a.position, b.position), fwhm=mean_abs(a.fwhm, b.fwhm), height=mean_abs(a.height, b.height),
        recall=len(pairs) / len(a) if len(a) else float("nan"),
        precision=len(pairs) / len(b) if len(b) else float("nan"),
        real_peaks=len(a), synthetic_peaks=len(b),
    )


def spectral_angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray | float:
    """Angle (deg) between spectra a and b, (L,) or (N, L) broadcast: arccos of their normalised dot product."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    norms = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    cosine = np.sum(a * b, axis=-1) / np.where(norms > 0, norms, 1.0)
    angle = np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))
    return float(angle) if np.ndim(angle) == 0 else angle


def class_names(ds: Dataset, label: str | None) -> np.ndarray:
    """(N,) str class of each row: the categorical ``label``'s names ('' where unknown), or 'all' when label is None."""
    if label is None:
        return np.full(len(ds), "all", dtype=object)
    cond = ds.condition(label)
    if not cond.is_categorical:
        raise MatgenError(f"'{label}' is a continuous condition; per-class spectra need a categorical label")
    return np.asarray(["" if name is None else str(name) for name in cond.labels()], dtype=object)


def class_means(ds: Dataset, label: str | None) -> dict[str, np.ndarray]:
    """Class name -> (L,) mean of its rows' [0, 1]-scaled spectra (rows of unknown class left out)."""
    names = class_names(ds, label)
    scaled = unit_range(ds.signals)
    return {str(c): scaled[names == c].mean(axis=0) for c in dict.fromkeys(names) if c != ""}
