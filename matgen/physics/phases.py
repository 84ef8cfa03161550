"""Isotropic elastic phases (Young's modulus, Poisson ratio, density) for homogenization.

The default two-phase micrograph is a particle-reinforced metal-matrix composite: phase 0 is the
aluminium matrix, phase 1 the SiC reinforcement (``DEFAULT_PHASES``). ``"pore"`` is a near-void
phase (Young's modulus 1000 times below aluminium) for porous micrographs.
"""

from __future__ import annotations

from dataclasses import dataclass

from matgen.errors import MatgenError


@dataclass(frozen=True)
class Phase:
    """One isotropic, linear-elastic phase of a micrograph."""

    name: str  # registry key, e.g. "Al"
    youngs_modulus_gpa: float  # Young's modulus E, GPa
    poisson_ratio: float  # Poisson ratio nu, dimensionless, in (-1, 0.5)
    density_g_cm3: float  # mass density rho, g/cm^3
    source: str  # where the numbers come from


PHASES: dict[str, Phase] = {
    "Al": Phase(
        "Al", 70.0, 0.33, 2.70,
        "pure/commercial Al, room temperature: ASM Handbook Vol. 2 (1990), Properties of pure "
        "metals; N. Chawla & K.K. Chawla, Metal Matrix Composites, 2nd ed., Springer (2013), ch. 2-3",
    ),
    "SiC": Phase(
        "SiC", 410.0, 0.14, 3.21,
        "alpha-SiC (sintered/particulate reinforcement): N. Chawla & K.K. Chawla, Metal Matrix "
        "Composites, 2nd ed., Springer (2013), reinforcement property table; Munro, J. Phys. Chem. "
        "Ref. Data 26 (1997) 1195",
    ),
    "Al2O3": Phase(
        "Al2O3", 380.0, 0.22, 3.95,
        "alpha-alumina reinforcement: Munro, J. Am. Ceram. Soc. 80 (1997) 1919 (E ~ 400 GPa dense); "
        "Chawla & Chawla, Metal Matrix Composites (2013)",
    ),
    "pore": Phase(
        "pore", 0.07, 0.3, 0.0,
        "numerical void: E = 70 GPa / 1000 (contrast 1000 against Al), massless; not a material",
    ),
}

DEFAULT_PHASES: tuple[Phase, Phase] = (PHASES["Al"], PHASES["SiC"])


def phase_by_name(name: str) -> Phase:
    """Return the registered phase called ``name`` (case-insensitive).

    Raises:
        MatgenError: the name is not registered; the message lists the valid names.
    """
    for key, phase in PHASES.items():
        if key.lower() == str(name).lower():
            return phase
    raise MatgenError(f"unknown phase {name!r}; choose from {', '.join(sorted(PHASES))}")
