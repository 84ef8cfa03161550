"""Processing in lab units -> Cahn–Hilliard parameters: a regular solution and an Arrhenius mobility.

A binary alloy A₁₋ₓBₓ (x: atom fraction of the solute B) annealed at temperature T (K) for a
time t (h) inside its miscibility gap. Two textbook models turn (T, t) into what the
dimensionless Cahn–Hilliard solver of :mod:`matgen.physics.spinodal` needs:

* **Regular solution** (Porter & Easterling, *Phase Transformations in Metals and Alloys*, 3rd
  ed., §1.3.4). Molar free energy of mixing

      f(x) = RT [x ln x + (1 − x) ln(1 − x)] + Ω x(1 − x)                              (1)
      f'(x) = RT ln(x / (1 − x)) + Ω (1 − 2x)                                           (2)

  The gap closes at the critical point x = ½, T_c = Ω / (2R) (3). With the order parameter
  m = 2x − 1 and θ = T / T_c, the common tangent of the symmetric f is horizontal, f'(x) = 0,
  which is the mean-field (Curie–Weiss) equation m_b = tanh(m_b / θ) (4): the binodal phases
  are x = (1 ∓ m_b)/2. The spinodal, f''(x) = 0, is m_s = √(1 − θ) (5). Both vanish as
  √(3(1 − θ)) and √(1 − θ) for θ → 1, and are 0 for θ ≥ 1 (no decomposition above T_c).
* **Interface width**, mean field: ξ(T) = ξ₀ (1 − T/T_c)^(−1/2) (6) (Cahn & Hilliard, J. Chem.
  Phys. 28 (1958) 258: the gradient energy κ over the curvature |f''| ∝ T_c − T of the well);
  ξ → ∞ as T → T_c.
* **Arrhenius mobility** of the solute: M(T) = D₀ exp(−Q / (R T)) (7) (m²/s). The model time is
  t_model = M(T) t / a² (8) for a pixel of edge a: the scale is fixed by the pixel size alone,
  M₀ being the measured tracer pre-factor D₀, so there is no fitted constant;
  d ln t_model / d(1/T) = −Q/R exactly. The thermodynamic factor |f''| ∝ (T_c − T), which slows
  real kinetics near T_c, is left out of (8); it acts only through ξ (the model's natural time
  unit is ξ², so a wider interface coarsens more slowly at equal t_model).

The solver's order parameter is c = m / m_b(T) (equilibrium phases c = ±1), so an alloy of mean
composition x̄ starts at c̄ = (2x̄ − 1) / m_b(T) and its solute-rich phase tends to the lever-rule
area fraction (1 + c̄)/2 = (x̄ − x_α) / (x_α' − x_α).

Notation: ``theta`` θ = T/T_c, ``m_b`` binodal amplitude, ``omega_j_mol`` Ω (J/mol), temperatures
in K unless the name says ``_c`` (°C).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from matgen.errors import MatgenError

#: Molar gas constant R, J/(mol K) (CODATA 2018, exact).
GAS_CONSTANT_J_MOL_K = 8.314462618
#: 0 °C in K.
ZERO_CELSIUS_K = 273.15


@dataclass(frozen=True)
class AlloySystem:
    """The constants of a named binary alloy with a (metastable) miscibility gap, each with its source."""

    name: str  # e.g. "Fe-Cr"
    solvent: str  # A, the matrix element (phase 0 is A-rich)
    solute: str  # B, x = atom fraction of B (phase 1 is B-rich)
    critical_temperature_k: float  # T_c of the gap, K; Ω = 2 R T_c (3)
    activation_energy_j_mol: float  # Q of the solute's diffusion, J/mol (7)
    diffusivity0_m2_s: float  # pre-factor D₀ = M₀, m²/s (7)
    interface_width0_nm: float  # ξ₀ of (6), nm
    sources: dict = field(default_factory=dict)  # constant name -> where it comes from

    @property
    def interaction_j_mol(self) -> float:
        """Ω = 2 R T_c (J/mol), the regular-solution interaction parameter of (1) with this T_c (3)."""
        return 2.0 * GAS_CONSTANT_J_MOL_K * self.critical_temperature_k


#: Fe–Cr: the α/α' gap behind the "475 °C embrittlement" of ferritic and duplex stainless steels.
FE_CR = AlloySystem(
    name="Fe-Cr", solvent="Fe", solute="Cr",
    critical_temperature_k=580.0 + ZERO_CELSIUS_K,
    activation_energy_j_mol=251e3,
    diffusivity0_m2_s=5.4e-5,
    interface_width0_nm=0.5,
    sources={
        "critical_temperature_k": "T_c ~ 580 °C, the top of the α/α' miscibility gap measured by in-situ neutron "
                                  "scattering in Fe-52.85 at.% Cr, Acta Mater. (2018), doi:10.1016/j.actamat.2017.12.008",
        "activation_energy_j_mol": "Q = 251 kJ/mol, 51Cr tracer diffusion in high-purity Fe-50 wt% Cr, 923-1273 K: "
                                   "M. Sugihara, Y. Yamazaki, S. Takaki, K. Abiko, Y. Iijima, Mater. Trans. 41 (2000) 87",
        "diffusivity0_m2_s": "D0 = 5.4e-5 m²/s, same measurement (Sugihara et al., Mater. Trans. 41 (2000) 87)",
        "interface_width0_nm": "xi0 = 0.5 nm: a modelling choice of the order of the pair-interaction range (two bcc "
                               "nearest-neighbour distances, 2 x 0.248 nm); not fitted to measured interfaces",
    },
)
ALLOYS = {FE_CR.name: FE_CR}


def alloy_system(name: str) -> AlloySystem:
    """The named alloy system; the error lists the known names."""
    if name not in ALLOYS:
        raise MatgenError(f"unknown alloy system '{name}'; choose from {', '.join(ALLOYS)}")
    return ALLOYS[name]


def kelvin(temperature_c):
    """Temperature in K from °C."""
    return np.asarray(temperature_c, dtype=np.float64) + ZERO_CELSIUS_K


def critical_temperature_k(omega_j_mol: float) -> float:
    """T_c = Ω / (2R) (K) of the symmetric regular solution (3)."""
    return omega_j_mol / (2.0 * GAS_CONSTANT_J_MOL_K)


def free_energy_j_mol(x, temperature_k, omega_j_mol: float):
    """f(x) (J/mol), the regular-solution free energy of mixing (1) at solute fraction x ∈ (0, 1)."""
    x, rt = np.asarray(x, dtype=np.float64), GAS_CONSTANT_J_MOL_K * np.asarray(temperature_k, dtype=np.float64)
    return rt * (x * np.log(x) + (1 - x) * np.log1p(-x)) + omega_j_mol * x * (1 - x)


def chemical_potential_j_mol(x, temperature_k, omega_j_mol: float):
    """f'(x) (J/mol), the derivative (2) of the regular-solution free energy (1)."""
    x, rt = np.asarray(x, dtype=np.float64), GAS_CONSTANT_J_MOL_K * np.asarray(temperature_k, dtype=np.float64)
    return rt * (np.log(x) - np.log1p(-x)) + omega_j_mol * (1 - 2 * x)


def binodal_amplitude(theta):
    """m_b (same shape as θ): the root in (0, 1) of m = tanh(m/θ) (4) for θ < 1; 0 for θ ≥ 1.

    Bisection on (0, 1] (g(m) = m − tanh(m/θ) < 0 below the root, > 0 above it) to float64
    round-off, then two Newton steps.
    """
    theta = np.asarray(theta, dtype=np.float64)
    inside = theta < 1
    t = np.where(inside, theta, 0.5)
    low, high = np.zeros_like(t), np.ones_like(t)
    for _ in range(60):
        mid = (low + high) / 2
        below = mid - np.tanh(mid / t) < 0
        low, high = np.where(below, mid, low), np.where(below, high, mid)
    m = (low + high) / 2
    for _ in range(2):
        sech2 = 1 - np.tanh(m / t) ** 2
        m = m - (m - np.tanh(m / t)) / (1 - sech2 / t)
    return np.where(inside, m, 0.0)


def binodal_fractions(theta):
    """(x_α, x_α'): the solute fractions of the two equilibrium phases (1 ∓ m_b)/2 at θ = T/T_c (4)."""
    m_b = binodal_amplitude(theta)
    return (1 - m_b) / 2, (1 + m_b) / 2


def spinodal_amplitude(theta):
    """m_s = √(1 − θ) (5): inside |2x − 1| < m_s the mixture is unstable; 0 for θ ≥ 1."""
    return np.sqrt(np.clip(1 - np.asarray(theta, dtype=np.float64), 0, None))


def interface_width_nm(theta, interface_width0_nm: float):
    """ξ = ξ₀ (1 − θ)^(−1/2) (nm), the mean-field interface width (6); inf for θ ≥ 1."""
    gap = 1 - np.asarray(theta, dtype=np.float64)
    return np.where(gap > 0, interface_width0_nm / np.sqrt(np.clip(gap, 1e-300, None)), np.inf)


def mobility_m2_s(temperature_k, alloy: AlloySystem):
    """M(T) = D₀ exp(−Q / (R T)) (m²/s), the Arrhenius mobility (7)."""
    t = np.asarray(temperature_k, dtype=np.float64)
    return alloy.diffusivity0_m2_s * np.exp(-alloy.activation_energy_j_mol / (GAS_CONSTANT_J_MOL_K * t))


def model_time(temperature_k, anneal_time_h, pixel_size_nm: float, alloy: AlloySystem):
    """t_model = M(T) t / a² (8): the dimensionless Cahn–Hilliard time of an anneal of t hours at T (K)."""
    seconds = np.asarray(anneal_time_h, dtype=np.float64) * 3600.0
    return mobility_m2_s(temperature_k, alloy) * seconds / (pixel_size_nm * 1e-9) ** 2


def lever_rule_fraction(x_mean, theta):
    """Equilibrium fraction (x̄ − x_α) / (x_α' − x_α) of the solute-rich phase = (1 + c̄)/2; NaN for θ ≥ 1."""
    m_b = binodal_amplitude(theta)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(m_b > 0, (1 + (2 * np.asarray(x_mean, dtype=np.float64) - 1) / m_b) / 2, math.nan)
