"""Powder XRD patterns from crystal structures, and weight fractions back from patterns.

Reflections (2θ, |F|²·LP·multiplicity per unit cell) come from pymatgen's XRD calculator; this
module turns them into measured-looking patterns with batched torch code (CPU or GPU):

* profile: pseudo-Voigt, area-normalised, FWHM from the instrument (Caglioti, 1958:
  H² = U tan²θ + V tanθ + W, deg²) combined in quadrature with crystallite-size (Scherrer:
  β = Kλ / (L cos θ), rad) and micro-strain (β = 4 ε tan θ, rad) broadening;
* lattice strain s (every d-spacing times 1 + s), zero shift (deg), preferred orientation
  (March–Dollase: P(α) = (r² cos²α + sin²α / r)^(-3/2), α = angle between the reflection's
  normal and the preferred direction, averaged over the family of equivalent reflections);
* mixtures by weight fraction w_p through the Hill–Howard relation (J. Appl. Cryst. 20 (1987) 467):
  w_p = S_p (ZMV)_p / Σ_i S_i (ZMV)_i, with ZMV = ρ V² N_A, so a phase's scale is
  S_p ∝ w_p / (ρ_p V_p²) and :func:`fit_weight_fractions` inverts it from a non-negative
  whole-pattern fit;
* an optional Kα2 line: every reflection again at λ(Kα2) with ``kalpha2_ratio`` of its intensity
  (0.5 for a Cu tube without a monochromator; the small change of LP with λ is neglected);
* background (a polynomial in 2θ) and counting (Poisson) noise (:func:`counts_at_peak`).

Notation: ``two_theta_deg`` (L,) axis; ``d_angstrom`` spacings; ``wavelength_angstrom`` λ.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from matgen.errors import MatgenError
from matgen.physics.noise import poisson_counts

CU_KALPHA1_ANGSTROM = 1.54056
CU_KALPHA2_ANGSTROM = 1.54439
SCHERRER_K = 0.9
AVOGADRO = 6.02214076e23


@dataclass
class Reflections:
    """The reflections of one crystal structure at one wavelength.

    Attributes:
        name: the phase (formula or id).
        d_angstrom: (P,) d-spacings, Å.
        intensity: (P,) |F|²·LP·multiplicity per unit cell (pymatgen's unscaled intensity).
        hkl_families: for each reflection, the list of (h, k, l) with their multiplicities.
        reciprocal_matrix: (3, 3) reciprocal-lattice vectors (rows, 1/Å, with 2π), for orientation.
        cell_volume_angstrom3: unit-cell volume V, Å³.
        density_g_cm3: crystallographic density ρ, g/cm³.
        wavelength_angstrom: λ the intensities were computed for (LP depends on it).
    """

    name: str
    d_angstrom: np.ndarray
    intensity: np.ndarray
    hkl_families: list
    reciprocal_matrix: np.ndarray
    cell_volume_angstrom3: float
    density_g_cm3: float
    wavelength_angstrom: float


@dataclass
class Instrument:
    """The diffractometer: wavelength(s), Caglioti resolution (deg²), profile shape, zero error (deg)."""

    wavelength_angstrom: float = CU_KALPHA1_ANGSTROM  # Kα1, the line the reflections are computed for
    caglioti_u: float = 0.004  # deg²
    caglioti_v: float = -0.002  # deg²
    caglioti_w: float = 0.003  # deg²
    eta: float = 0.5  # Lorentzian fraction of the pseudo-Voigt (0 = Gaussian, 1 = Lorentzian)
    zero_shift_deg: float = 0.0
    kalpha2_ratio: float = 0.0  # I(Kα2) / I(Kα1); 0 = monochromatic, 0.5 = unfiltered Cu tube
    kalpha2_wavelength_angstrom: float = CU_KALPHA2_ANGSTROM


@dataclass
class SampleEffects:
    """What the sample does to the pattern."""

    crystallite_size_nm: float | None = None  # Scherrer size; None = no size broadening
    microstrain: float = 0.0  # ε, dimensionless (broadening 4ε tanθ)
    lattice_strain: float = 0.0  # s: every d-spacing times (1 + s)
    march_dollase_r: float = 1.0  # 1 = random orientation; < 1 platelets along preferred_hkl
    preferred_hkl: tuple[int, int, int] = (0, 0, 1)


@dataclass
class PhasePattern:
    """A phase's pattern on an axis, per unit Hill–Howard scale, with what the inversion needs."""

    name: str
    pattern: torch.Tensor  # (L,)
    density_g_cm3: float
    cell_volume_angstrom3: float
    extra: dict = field(default_factory=dict)


def reflections(structure, wavelength_angstrom: float = CU_KALPHA1_ANGSTROM,
                two_theta_range_deg: tuple[float, float] = (2.0, 150.0), name: str | None = None) -> Reflections:
    """The reflections of a pymatgen ``Structure`` (pymatgen's XRDCalculator, unscaled intensities)."""
    from pymatgen.analysis.diffraction.xrd import XRDCalculator

    if not wavelength_angstrom > 0:
        raise MatgenError(f"the X-ray wavelength must be positive (Å), got {wavelength_angstrom}")
    pattern = XRDCalculator(wavelength=wavelength_angstrom).get_pattern(
        structure, scaled=False, two_theta_range=two_theta_range_deg)
    return Reflections(
        name=name or structure.composition.reduced_formula,
        d_angstrom=np.asarray(pattern.d_hkls, dtype=np.float64),
        intensity=np.asarray(pattern.y, dtype=np.float64),
        hkl_families=[[(tuple(h["hkl"]), h["multiplicity"]) for h in family] for family in pattern.hkls],
        reciprocal_matrix=np.asarray(structure.lattice.reciprocal_lattice.matrix, dtype=np.float64),
        cell_volume_angstrom3=float(structure.lattice.volume),
        density_g_cm3=float(structure.density),
        wavelength_angstrom=float(wavelength_angstrom),
    )


def bragg_two_theta_deg(d_angstrom: torch.Tensor, wavelength_angstrom: float) -> torch.Tensor:
    """2θ (deg) from Bragg's law λ = 2 d sin θ; NaN where λ / 2d > 1 (no reflection)."""
    s = wavelength_angstrom / (2 * d_angstrom)
    return torch.rad2deg(2 * torch.asin(torch.where(s <= 1, s, torch.full_like(s, float("nan")))))


def fwhm_deg(two_theta_deg: torch.Tensor, instrument: Instrument, effects: SampleEffects) -> torch.Tensor:
    """Peak FWHM (deg 2θ): Caglioti instrument width ⊕ Scherrer size ⊕ micro-strain, in quadrature."""
    theta = torch.deg2rad(two_theta_deg / 2)
    tan = torch.tan(theta)
    h2 = instrument.caglioti_u * tan**2 + instrument.caglioti_v * tan + instrument.caglioti_w
    h2 = torch.clamp(h2, min=1e-8)
    if effects.crystallite_size_nm:
        size_rad = SCHERRER_K * instrument.wavelength_angstrom / (effects.crystallite_size_nm * 10 * torch.cos(theta))
        h2 = h2 + torch.rad2deg(size_rad) ** 2
    if effects.microstrain:
        h2 = h2 + torch.rad2deg(4 * effects.microstrain * tan) ** 2
    return torch.sqrt(h2)


def pseudo_voigt(x: torch.Tensor, centers: torch.Tensor, fwhm: torch.Tensor, eta: float) -> torch.Tensor:
    """(P, L) area-normalised pseudo-Voigt profiles η·L + (1−η)·G on axis x (L,), one per center."""
    dx = x[None, :] - centers[:, None]
    hw = (fwhm / 2)[:, None]
    lorentz = hw / (math.pi * (dx**2 + hw**2))
    sigma = fwhm[:, None] / (2 * math.sqrt(2 * math.log(2)))
    gauss = torch.exp(-0.5 * (dx / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
    return eta * lorentz + (1 - eta) * gauss


def march_dollase(refl: Reflections, effects: SampleEffects) -> np.ndarray:
    """(P,) March–Dollase factor of each reflection, averaged over its family (multiplicity-weighted)."""
    r = effects.march_dollase_r
    if r == 1.0:
        return np.ones(len(refl.d_angstrom))
    if not r > 0:
        raise MatgenError(f"the March–Dollase parameter must be positive, got {r}")
    g_pref = np.asarray(effects.preferred_hkl, dtype=float) @ refl.reciprocal_matrix
    g_pref /= np.linalg.norm(g_pref)
    factors = []
    for family in refl.hkl_families:
        total, weight = 0.0, 0
        for hkl, multiplicity in family:
            g = np.asarray(hkl[-3:] if len(hkl) == 4 else hkl, dtype=float) @ refl.reciprocal_matrix
            cos2 = (g @ g_pref) ** 2 / (g @ g)
            total += multiplicity * (r**2 * cos2 + (1 - cos2) / r) ** -1.5
            weight += multiplicity
        factors.append(total / weight)
    return np.asarray(factors)


def phase_pattern(two_theta_deg: torch.Tensor, refl: Reflections, instrument: Instrument | None = None,
                  effects: SampleEffects | None = None) -> torch.Tensor:
    """(L,) the phase's pattern per unit cell on the axis (deg): Σ I_hkl · P_MD · profile_hkl.

    With ``instrument.kalpha2_ratio`` > 0 each reflection appears a second time, at the Kα2
    Bragg angle of the same d-spacing, with that fraction of its intensity.
    """
    instrument = instrument or Instrument()
    effects = effects or SampleEffects()
    if abs(instrument.wavelength_angstrom - refl.wavelength_angstrom) > 1e-6:
        raise MatgenError(f"reflections of {refl.name} were computed at λ = {refl.wavelength_angstrom} Å, "
                          f"the instrument uses {instrument.wavelength_angstrom} Å; recompute them")
    if not instrument.kalpha2_ratio >= 0:
        raise MatgenError(f"the Kα2 / Kα1 intensity ratio must be >= 0 (0.5 for Cu), got {instrument.kalpha2_ratio}")
    x = torch.as_tensor(two_theta_deg, dtype=torch.float64)
    d = torch.as_tensor(refl.d_angstrom, dtype=torch.float64, device=x.device) * (1 + effects.lattice_strain)
    intensity = torch.as_tensor(refl.intensity * march_dollase(refl, effects), dtype=torch.float64, device=x.device)
    lines = [(instrument.wavelength_angstrom, 1.0)]
    if instrument.kalpha2_ratio > 0:
        lines.append((instrument.kalpha2_wavelength_angstrom, instrument.kalpha2_ratio))
    pattern = torch.zeros_like(x)
    for wavelength, weight in lines:
        centers = bragg_two_theta_deg(d, wavelength) + instrument.zero_shift_deg
        keep = torch.isfinite(centers)
        centers, line_intensity = centers[keep], weight * intensity[keep]
        profiles = pseudo_voigt(x, centers, fwhm_deg(centers, instrument, effects), instrument.eta)  # (P, L)
        pattern = pattern + line_intensity @ profiles
    return pattern


def hill_howard_scales(weight_fractions: torch.Tensor, density_g_cm3: Sequence[float],
                       cell_volume_angstrom3: Sequence[float]) -> torch.Tensor:
    """(..., P) per-cell pattern scales S_p ∝ w_p / (ρ_p V_p²) that give weight fractions w_p."""
    rho = torch.as_tensor(density_g_cm3, dtype=weight_fractions.dtype, device=weight_fractions.device)
    v = torch.as_tensor(cell_volume_angstrom3, dtype=weight_fractions.dtype, device=weight_fractions.device)
    return weight_fractions / (rho * v**2)


def mixture_patterns(weight_fractions: torch.Tensor, phases: Sequence[PhasePattern]) -> torch.Tensor:
    """(B, L) patterns of B mixtures with weight fractions (B, P) (rows sum to 1), Hill–Howard scaled.

    The overall intensity is arbitrary (normalise or scale to counts afterwards).
    """
    w = torch.as_tensor(weight_fractions, dtype=torch.float64)
    if w.ndim != 2 or w.shape[1] != len(phases):
        raise MatgenError(f"weight fractions must be (B, {len(phases)}), got {tuple(w.shape)}")
    if (w < 0).any() or not torch.allclose(w.sum(1), torch.ones(len(w), dtype=w.dtype), atol=1e-6):
        raise MatgenError("weight fractions must be non-negative and sum to 1 in each mixture")
    scales = hill_howard_scales(w, [p.density_g_cm3 for p in phases], [p.cell_volume_angstrom3 for p in phases])
    basis = torch.stack([p.pattern for p in phases]).to(w)  # (P, L)
    return scales @ basis


def fit_weight_fractions(patterns: torch.Tensor, phases: Sequence[PhasePattern],
                         background_order: int = 0) -> torch.Tensor:
    """(B, P) weight fractions from measured patterns (B, L) by a non-negative whole-pattern fit.

    Solves min ‖y − Σ_p S_p b_p − background‖² with S ≥ 0 (scipy's NNLS; a polynomial background
    of ``background_order`` in the normalised axis position, its coefficients also ≥ 0 for order
    0), then inverts Hill–Howard: w_p = S_p ρ_p V_p² / Σ_i S_i ρ_i V_i².
    """
    y = torch.as_tensor(patterns, dtype=torch.float64)
    if y.ndim == 1:
        y = y[None]
    design = _fit_design(phases, background_order)
    scales = np.stack([_nnls(design, row) for row in y.cpu().numpy()])[:, : len(phases)]
    zmv = np.asarray([p.density_g_cm3 * p.cell_volume_angstrom3**2 for p in phases])
    mass = scales * zmv
    total = mass.sum(1, keepdims=True)
    return torch.as_tensor(mass / np.where(total > 0, total, 1.0))


def soft_weight_fractions(patterns: torch.Tensor, phases: Sequence[PhasePattern], background_order: int = 0,
                          groups: Sequence[int] | None = None) -> torch.Tensor:
    """:func:`fit_weight_fractions` of torch patterns (B, L), differentiable in the intensities; NaN rows where no
    phase fits.

    The columns of the non-negative fit's active set (held at their value) are solved by plain
    least squares, (A_S^T A_S)^-1 A_S^T y: linear in y, and the same value. ``groups`` (P,) names
    the phase of each pattern (size copies of one phase share a group; default: each its own): a
    group the fit leaves out is added by its column most correlated with the fit's residual, so
    it gets its unconstrained, usually slightly negative, scale instead of 0, and a gradient: how
    the pattern must change for that phase to appear (what guidance towards it needs). The other
    fractions then move by about as much.
    """
    design = _fit_design(phases, background_order)
    columns = torch.as_tensor(design, dtype=torch.float64, device=patterns.device)
    zmv = torch.as_tensor([p.density_g_cm3 * p.cell_volume_angstrom3**2 for p in phases], dtype=torch.float64,
                          device=patterns.device)
    groups = np.arange(len(phases)) if groups is None else np.asarray(groups)
    out = []
    for row in patterns.double():
        values = row.detach().cpu().numpy()
        coefficients = _nnls(design, values)
        chosen = set(np.flatnonzero(coefficients > 0).tolist())
        residual = values - design @ coefficients
        for group in np.unique(groups):
            members = np.flatnonzero(groups == group)
            if not chosen & set(members.tolist()):
                basis = design[:, members]
                chosen.add(int(members[np.argmax(basis.T @ residual / np.linalg.norm(basis, axis=0))]))
        chosen_columns = np.asarray(sorted(chosen))
        a = columns[:, chosen_columns]
        scales = torch.zeros(design.shape[1], dtype=torch.float64, device=patterns.device)
        scales = scales.index_put((torch.as_tensor(chosen_columns, device=patterns.device),),
                                  torch.linalg.solve(a.T @ a, a.T @ row))
        mass = scales[: len(phases)] * zmv
        total = mass.sum()
        out.append(mass / total if total.item() > 0 else torch.full_like(mass, float("nan")))
    return torch.stack(out)


def _fit_design(phases: Sequence[PhasePattern], background_order: int) -> np.ndarray:
    """(L, P + 1 + 2 order) columns of the whole-pattern fit: the phases' patterns, a constant, then ± each power
    of the normalised axis position (so a non-negative fit takes either sign)."""
    basis = torch.stack([p.pattern for p in phases]).double().cpu().numpy()  # (P, L)
    length = basis.shape[1]
    position = np.linspace(-1, 1, length)
    columns = [basis.T] + [np.ones((length, 1))] + [np.stack([position**k, -position**k], 1)
                                                      for k in range(1, background_order + 1)]
    return np.concatenate(columns, axis=1)


def _nnls(design: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Non-negative least-squares coefficients of ``design`` (L, M) for y (L,) (columns scaled to max 1 to solve)."""
    from scipy.optimize import nnls

    scale = np.abs(design).max(0)
    return nnls(design / scale, y, maxiter=50 * design.shape[1])[0] / scale


def add_background(patterns: torch.Tensor, two_theta_deg: torch.Tensor, coefficients: Sequence[float]) -> torch.Tensor:
    """Patterns plus a polynomial background Σ c_k t^k, t = 2θ normalised to [0, 1] over the axis."""
    x = torch.as_tensor(two_theta_deg, dtype=patterns.dtype, device=patterns.device)
    t = (x - x[0]) / (x[-1] - x[0])
    return patterns + sum(c * t**k for k, c in enumerate(coefficients))


def counts_at_peak(patterns: torch.Tensor, max_counts: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Poisson counts of patterns scaled so that each pattern's maximum is ``max_counts`` expected counts.

    One ``generator`` (None: torch's global one) draws the whole batch, on the patterns' device.
    """
    peak = patterns.amax(dim=-1, keepdim=True).clamp_min(1e-300)
    return poisson_counts(patterns / peak * max_counts, generator)


def peak_positions_deg(two_theta_deg: np.ndarray, pattern: np.ndarray, min_height: float = 0.05,
                       min_separation_deg: float = 0.2) -> np.ndarray:
    """2θ (deg) of the local maxima above ``min_height`` × max, refined by a parabola through 3 points."""
    x = np.asarray(two_theta_deg, dtype=float)
    y = np.asarray(pattern, dtype=float)
    inner = (y[1:-1] > y[:-2]) & (y[1:-1] >= y[2:]) & (y[1:-1] > min_height * y.max())
    idx = np.flatnonzero(inner) + 1
    idx = idx[np.argsort(-y[idx])]
    chosen: list[int] = []
    for i in idx:
        if all(abs(x[i] - x[j]) >= min_separation_deg for j in chosen):
            chosen.append(i)
    chosen.sort()
    out = []
    for i in chosen:
        y0, y1, y2 = y[i - 1], y[i], y[i + 1]
        denom = y0 - 2 * y1 + y2
        shift = 0.5 * (y0 - y2) / denom if denom != 0 else 0.0
        out.append(x[i] + shift * (x[i + 1] - x[i]))
    return np.asarray(out)
