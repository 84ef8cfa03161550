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

**State from the band shift** (when the samples carry a categorical ``mineral`` whose names are
all phases of :mod:`matgen.physics.raman`, as the ``raman`` built-in dataset and samples of a
run trained on it do): the band of the row's mineral nearest the reference band's expected
position ω(T, P) (the table's coefficients; T and P the row's ``temperature`` and ``stress``,
295 K and 0 GPa where not given) is located as above, and

4. ``band_shift`` (cm-1) = ω_measured − ω₀ (its position at 295 K, 0 GPa);
5. ``band_temperature`` (K) = T₀ + (ω_measured − ω₀ − dω/dP P) / dω/dT, at the row's stress, and
   ``band_stress`` (GPa) = (ω_measured − ω₀ − dω/dT (T − T₀)) / dω/dP, at the row's temperature
   (:func:`~matgen.physics.raman.temperature_from_band_k`). They are compared with the requested
   ``temperature`` and ``stress``: a request counts as reached when the band lies within the
   shift 30 K causes (``TOLERANCE_K``), i.e. |ΔT| ≤ 30 K, or |ΔP| ≤ 30 K |dω/dT| / |dω/dP|
   (0.1–0.2 GPa for the table's phases). A row without a mineral takes the listed mineral whose
   reference band lies nearest its strongest band.

A spectrum without any band above the noise fails with that reason.
"""

from __future__ import annotations

import copy
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
    """The strongest Raman band's position and FWHM (cm-1), the number of bands, and with a mineral the state.

    Args:
        min_height: bands counted in ``n_bands`` stand above this fraction of the tallest.
        baseline_cm1: the baseline follows features longer than this (cm-1).
        batch_size: spectra per call.
    """

    name = "raman-bands"
    kinds = ("raman",)
    description = "band analysis: strongest band position and FWHM (cm-1), number of bands; with a mineral: T, P"

    def __init__(self, min_height: float = 0.05, baseline_cm1: float = 300.0, batch_size: int = 32):
        if not 0 < float(min_height) < 1:
            raise MatgenError(f"min_height must lie in (0, 1) (got {min_height})")
        if not float(baseline_cm1) > 0:
            raise MatgenError(f"baseline_cm1 must be positive (got {baseline_cm1})")
        self.min_height, self.baseline_cm1, self.batch_size = float(min_height), float(baseline_cm1), int(batch_size)
        self.minerals: tuple[str, ...] = ()  # bound: the samples' mineral categories (module docstring, steps 4-5)
        self.outputs = (
            Output("band_position", "cm-1", "Raman shift of the strongest band", 0.0, None),
            Output("band_fwhm", "cm-1", "full width at half maximum of the strongest band (Lorentzian fit)", 0.0, None),
            Output("n_bands", "", f"bands taller than {self.min_height:g} × the strongest", 0.0, None),
        )

    def bind(self, samples) -> "RamanBandsSimulator":
        """This simulator with the state outputs when the samples name their minerals (module docstring)."""
        from matgen.physics.raman import raman_phase

        mineral = getattr(samples, "conditions", {}).get("mineral")
        if self.minerals or mineral is None or not mineral.is_categorical:
            return self
        if not mineral.categories or not all(map(_known, mineral.categories)):
            return self
        bound = copy.copy(self)
        bound.minerals = tuple(raman_phase(c).name for c in mineral.categories)
        bound.outputs = self.outputs + STATE_OUTPUTS
        return bound

    def check(self, samples) -> None:
        check_kind(self, samples)

    def tolerances(self, samples) -> dict[str, np.ndarray]:
        """``band_temperature``: 30 K; ``band_stress``: the stress that shifts the row's band as much as 30 K."""
        from matgen.physics.raman import reference_band_coefficients

        result = super().tolerances(samples)
        if self.minerals:
            codes = samples.conditions["mineral"].values
            per_mineral = np.asarray([abs(c[1] / c[2]) * TOLERANCE_K
                                      for c in map(reference_band_coefficients, self.minerals)])
            result["band_stress"] = np.where(codes >= 0, per_mineral[np.clip(codes, 0, None)], np.median(per_mineral))
        return result

    def __call__(self, samples) -> Evaluation:
        self.check(samples)
        x = samples.axis.values
        names = [o.name for o in self.outputs]
        result = Evaluation.all_failed(names, len(samples), "")
        state = self.requested_state(samples) if self.minerals else None
        for k, row in enumerate(np.asarray(samples.signals, dtype=np.float64)):
            try:
                values = self.analyse(x, row)
                if state is not None:
                    values += self.band_state(values[3], *(column[k] for column in state))
            except MatgenError as exc:
                result.errors[k] = str(exc)
                continue
            for name, value in zip(names, values[:3] + values[4:]):
                result.properties[name][k] = value
        return result

    def requested_state(self, samples) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per row: mineral code (-1 unknown), temperature K (295 where not given), stress GPa (0 where not given)."""
        from matgen.physics.raman import REFERENCE_TEMPERATURE_K

        n = len(samples)
        t, p = samples.conditions.get("temperature"), samples.conditions.get("stress")
        t = np.full(n, REFERENCE_TEMPERATURE_K) if t is None else np.where(t.missing, REFERENCE_TEMPERATURE_K, t.values)
        p = np.zeros(n) if p is None else np.where(p.missing, 0.0, p.values)
        return samples.conditions["mineral"].values, t, p

    def band_state(self, positions: np.ndarray, code: int, temperature_k: float, stress_gpa: float) -> tuple:
        """(band_shift cm-1, band_temperature K, band_stress GPa) from a spectrum's band positions (steps 4-5)."""
        from matgen.physics import raman

        if code < 0:  # no mineral given: the listed one whose reference band is nearest the bands found
            code = int(np.argmin([np.min(np.abs(positions - raman.raman_phase(m).strongest.position_cm1))
                                  for m in self.minerals]))
        phase = self.minerals[code]
        expected = raman.expected_band_cm1(phase, temperature_k, stress_gpa)
        measured = float(positions[np.argmin(np.abs(positions - expected))])
        omega0 = raman.reference_band_coefficients(phase)[0]
        return (measured - omega0, float(raman.temperature_from_band_k(phase, measured, stress_gpa)),
                float(raman.stress_from_band_gpa(phase, measured, temperature_k)))

    #: The outputs :meth:`differentiable` returns (physics guidance steers these only), and what they need.
    guided_outputs = ("band_shift", "band_temperature", "band_stress")
    guidance_needs = ("a run conditioned on 'mineral' (names of matgen's Raman table) and a --target-mineral for "
                      "every sample")

    def differentiable(self, spectra, requests) -> dict:
        """The state outputs (B,) as torch tensors with their gradient, for relative intensities ``spectra`` (B, L) of
        the ``requests`` rows (mineral, temperature, stress): the reference band nearest its expected position
        ω(T, P), located as :meth:`analyse` does (:func:`~matgen.physics.raman.soft_band_positions_cm1`); NaN where
        there is none or the row names no mineral."""
        import torch

        from matgen.physics import raman

        if not self.minerals or requests is None:
            raise MatgenError("raman-bands guides by the band of the requested mineral: the run must be conditioned on "
                              "a 'mineral' of matgen's Raman table, and each sample given one (--target-mineral)")
        codes, temperature, stress = self.requested_state(requests)
        if (codes < 0).any():
            raise MatgenError("raman-bands guidance places the band of each sample's mineral: give --target-mineral NAME "
                              f"(one of {', '.join(self.minerals)})")
        coefficients = np.asarray([raman.reference_band_coefficients(m) for m in self.minerals])  # (M, 3)
        per_row = np.where(codes[:, None] >= 0, coefficients[np.clip(codes, 0, None)], np.nan)  # (B, 3)
        omega0, dwdt, dwdp = per_row.T
        t0 = raman.REFERENCE_TEMPERATURE_K
        expected = omega0 + dwdt * (temperature - t0) + dwdp * stress
        measured = raman.soft_band_positions_cm1(requests.axis.values, spectra, expected, self.min_height,
                                                 self.baseline_cm1)
        omega0, dwdt, dwdp, temperature, stress = (torch.as_tensor(v, dtype=measured.dtype, device=measured.device)
                                                   for v in (omega0, dwdt, dwdp, temperature, stress))
        return {"band_shift": measured - omega0,
                "band_temperature": t0 + (measured - omega0 - dwdp * stress) / dwdt,
                "band_stress": (measured - omega0 - dwdt * (temperature - t0)) / dwdp}

    def analyse(self, raman_shift_cm1: np.ndarray, spectrum: np.ndarray) -> tuple:
        """(band_position cm-1, band_fwhm cm-1, n_bands, band positions (B,) cm-1) of one spectrum; MatgenError when
        it has no band."""
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
        return strongest, fwhm, float(len(positions)), positions


def _known(name: str) -> bool:
    from matgen.physics.raman import raman_phase

    try:
        raman_phase(name)
    except MatgenError:
        return False
    return True


TOLERANCE_K = 30.0  # a requested temperature is reached when the band lies within the shift 30 K causes
STATE_OUTPUTS = (
    Output("band_shift", "cm-1", "reference band of the mineral: measured minus its 295 K, 0 GPa position",
           None, None),
    Output("band_temperature", "K", "temperature the reference band's position means at the row's stress",
           0.0, None, TOLERANCE_K, "temperature"),
    Output("band_stress", "GPa", "stress the reference band's position means at the row's temperature (compression "
           "positive)", None, None, None, "stress"),
)
