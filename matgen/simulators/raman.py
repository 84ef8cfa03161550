"""``raman-bands``: Raman spectra -> the strongest band's position and width, and the number of bands.

Per spectrum (numpy, :mod:`matgen.physics.raman` analysis):

1. cosmic-ray spikes removed (:func:`~matgen.physics.raman.despike`) and the fluorescence
   baseline subtracted (:func:`~matgen.physics.raman.baseline_arpls`, features longer than
   ``baseline_cm1``);
2. ``band_position`` (cm-1): the tallest band, refined by a parabola through 1/y
   (:func:`~matgen.physics.raman.strongest_band_cm1`), ``n_bands``: the bands taller than
   ``min_height`` × the tallest (:func:`~matgen.physics.raman.band_positions_cm1`);
3. ``band_fwhm`` (cm-1): a Lorentzian y = A (Γ/2)² / ((x − c)² + (Γ/2)²) has 1/y = a x² + b x + c₀
   exactly, with vertex value v = 1/A and Γ = 2 √(v / a); the parabola is fitted (weights y²) to
   the unsmoothed points above half height around the band. Where it cannot be fitted (fewer than
   3 points, a ≤ 0) the half-height crossings, linearly interpolated, give Γ.

A spectrum without any band above the noise fails with that reason.
"""

from __future__ import annotations

import math

import numpy as np

from matgen.errors import MatgenError
from matgen.simulators.base import Evaluation, Output, Simulator, check_kind


def lorentzian_fwhm_cm1(x: np.ndarray, y: np.ndarray, position_cm1: float) -> float:
    """FWHM (cm⁻¹) of the band at ``position_cm1`` in a baseline-free spectrum (module docstring, step 3)."""
    i = int(np.argmin(np.abs(x - position_cm1)))
    lo, hi = max(i - 2, 0), min(i + 3, len(y))
    i = lo + int(np.argmax(y[lo:hi]))  # the band's highest channel
    half = 0.5 * y[i]
    if not half > 0:
        return math.nan
    lo, hi = i, i
    while lo > 0 and y[lo - 1] > half and i - lo < 200:
        lo -= 1
    while hi < len(y) - 1 and y[hi + 1] > half and hi - i < 200:
        hi += 1
    xs, ys = x[lo:hi + 1], y[lo:hi + 1]
    if len(xs) >= 3:
        a, b, c0 = np.polyfit(xs - x[i], 1 / ys, 2, w=ys**2)
        vertex = c0 - b * b / (4 * a) if a > 0 else -1.0
        if a > 0 and vertex > 0:
            return float(2 * math.sqrt(vertex / a))
    if lo == 0 or hi == len(y) - 1:
        return math.nan
    left = x[lo - 1] + (half - y[lo - 1]) / (y[lo] - y[lo - 1]) * (x[lo] - x[lo - 1])
    right = x[hi] + (y[hi] - half) / (y[hi] - y[hi + 1]) * (x[hi + 1] - x[hi])
    return float(right - left)


class RamanBandsSimulator(Simulator):
    """The strongest Raman band's position and FWHM (cm-1) and the number of bands.

    Args:
        min_height: bands counted in ``n_bands`` stand above this fraction of the tallest.
        baseline_cm1: the baseline follows features longer than this (cm-1).
        batch_size: spectra per call.
    """

    name = "raman-bands"
    kinds = ("raman",)
    description = "band analysis: strongest band position and FWHM (cm-1), number of bands"

    def __init__(self, min_height: float = 0.05, baseline_cm1: float = 300.0, batch_size: int = 32):
        if not 0 < float(min_height) < 1:
            raise MatgenError(f"min_height must lie in (0, 1) (got {min_height})")
        if not float(baseline_cm1) > 0:
            raise MatgenError(f"baseline_cm1 must be positive (got {baseline_cm1})")
        self.min_height, self.baseline_cm1, self.batch_size = float(min_height), float(baseline_cm1), int(batch_size)
        self.outputs = (
            Output("band_position", "cm-1", "Raman shift of the strongest band", 0.0, None),
            Output("band_fwhm", "cm-1", "full width at half maximum of the strongest band (Lorentzian fit)", 0.0, None),
            Output("n_bands", "", f"bands taller than {self.min_height:g} × the strongest", 0.0, None),
        )

    def check(self, samples) -> None:
        check_kind(self, samples)

    def __call__(self, samples) -> Evaluation:
        self.check(samples)
        x = samples.axis.values
        names = [o.name for o in self.outputs]
        result = Evaluation.all_failed(names, len(samples), "")
        for k, row in enumerate(np.asarray(samples.signals, dtype=np.float64)):
            try:
                values = self.analyse(x, row)
            except MatgenError as exc:
                result.errors[k] = str(exc)
                continue
            for name, value in zip(names, values):
                result.properties[name][k] = value
        return result

    def analyse(self, raman_shift_cm1: np.ndarray, spectrum: np.ndarray) -> tuple[float, float, float]:
        """(band_position cm-1, band_fwhm cm-1, n_bands) of one spectrum; MatgenError when it has no band."""
        from matgen.physics import raman

        if not np.isfinite(spectrum).all():
            raise MatgenError("spectrum has NaN or inf channels")
        y = raman.despike(spectrum)
        y = y - raman.baseline_arpls(raman_shift_cm1, y, self.baseline_cm1)
        options = dict(min_height=self.min_height, despike_width=0, baseline_cm1=None)
        positions = raman.band_positions_cm1(raman_shift_cm1, y, **options)
        if not len(positions):
            raise MatgenError("no Raman band above the noise")
        strongest = raman.strongest_band_cm1(raman_shift_cm1, y, **options)
        fwhm = lorentzian_fwhm_cm1(raman_shift_cm1, y, strongest)
        if not np.isfinite(fwhm):
            raise MatgenError(f"the band at {strongest:.1f} cm-1 has no measurable width (it runs off the axis)")
        return strongest, fwhm, float(len(positions))
