"""Raman bands of crystalline phases: the literature table and how each band moves.

**Table** (:data:`RAMAN_PHASES`, looked up by :func:`raman_phase`). Each phase lists its bands at
T₀ = 295 K, zero stress and λ₀ = 532 nm excitation: position ω₀ (cm⁻¹), relative peak height h
(strongest band = 1, unpolarised powder/unoriented spectra as in RRUFF) and FWHM Γ₀ (cm⁻¹, as
measured with a ~2–4 cm⁻¹ spectrometer, so narrow lines are instrument-broadened). Each phase also
has three coefficients of its strongest (reference) band: dω/dT (cm⁻¹/K), dΓ/dT (cm⁻¹/K) and
dω/dP (cm⁻¹/GPa). Where no literature value is given, a documented generic default is used and
the phase lists it in ``generic``. Phases are keyed by lower-case mineral name; the aliases are
formulas only where they name one polymorph (``si``, ``zno``, ``mos2``, ``alpha-fe2o3``, ...).
Defaults:

* (1/ω) dω/dT = −2.5 × 10⁻⁵ K⁻¹, mid-range of the measured slopes of the table (Si −4.2, zircon ν₃
  −2.9, diamond −0.9, graphite G −0.7 × 10⁻⁵ K⁻¹) and of magnetite A₁g (−3.4 × 10⁻⁵ K⁻¹,
  Shebanova & Lazor, J. Raman Spectrosc. 34 (2003) 845);
* (1/ω) dω/dP = 5 × 10⁻³ GPa⁻¹, mid-range of the measured values (diamond 2.2, aragonite ν₁ 3.2,
  graphite G 3.0, MoS₂ A₁g 9.1, Si 10, quartz 464 19 × 10⁻³ GPa⁻¹);
* dΓ/dT = 0.005 cm⁻¹/K (Si 0.010, diamond 0.002 cm⁻¹/K).

A band without its own coefficients takes the reference band's scaled by ω₀/ω_ref (one mode
Grüneisen parameter for the whole phase). That is crude for soft lattice modes (quartz 206 cm⁻¹,
rutile B₁g), which is why measured per-band values override it where the table has them.
Phase transitions are not modelled (α→β quartz at 846 K, gypsum dehydration near 370 K,
calcite-I→II at 1.5 GPa, wurtzite→rock-salt ZnO at ~9 GPa): stay inside each phase's field.

The forward model that draws spectra from this table is :mod:`matgen.physics.raman.forward`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from matgen.errors import MatgenError

REFERENCE_TEMPERATURE_K = 295.0
REFERENCE_LASER_NM = 532.0
GENERIC_TEMPERATURE_SHIFT_PER_K = -2.5e-5  # (1/ω) dω/dT, K⁻¹
GENERIC_PRESSURE_SHIFT_PER_GPA = 5.0e-3  # (1/ω) dω/dP, GPa⁻¹
GENERIC_BROADENING_CM1_K = 0.005  # dΓ/dT, cm⁻¹/K


@dataclass(frozen=True)
class RamanBand:
    """One Raman band at 295 K, zero stress, 532 nm excitation."""

    position_cm1: float  # ω₀, cm⁻¹
    intensity: float  # relative peak height h, the phase's strongest band = 1
    fwhm_cm1: float  # Γ₀, cm⁻¹
    temperature_shift_cm1_k: float | None = None  # own dω/dT; None: the phase's, scaled by ω₀/ω_ref
    pressure_shift_cm1_gpa: float | None = None  # own dω/dP; None: the phase's, scaled by ω₀/ω_ref
    dispersion_cm1_ev: float = 0.0  # dω/dE_laser, cm⁻¹/eV (double-resonance carbon bands)


@dataclass(frozen=True)
class RamanPhase:
    """A phase's Raman bands and how its strongest band moves with temperature and stress.

    Coefficients left None take the generic defaults of the module docstring; ``generic`` then
    names them, so a user can tell a measured coefficient from a default one.
    """

    name: str
    formula: str
    bands: tuple[RamanBand, ...]
    source: str  # where the bands and coefficients come from
    temperature_shift_cm1_k: float | None = None  # dω/dT of the strongest band, cm⁻¹/K
    temperature_broadening_cm1_k: float | None = None  # dΓ/dT, cm⁻¹/K (every band)
    pressure_shift_cm1_gpa: float | None = None  # dω/dP of the strongest band, cm⁻¹/GPa (P > 0 compresses)
    aliases: tuple[str, ...] = ()
    generic: tuple[str, ...] = field(init=False, default=())

    def __post_init__(self):
        if not self.bands or any(not (b.fwhm_cm1 > 0 and b.intensity >= 0 and b.position_cm1 > 0)
                                 for b in self.bands):
            raise MatgenError(f"Raman phase {self.name!r} needs at least one band, each with position > 0, "
                              "intensity >= 0 and FWHM > 0 (cm⁻¹)")
        omega = self.strongest.position_cm1
        defaults = {"temperature_shift_cm1_k": GENERIC_TEMPERATURE_SHIFT_PER_K * omega,
                    "temperature_broadening_cm1_k": GENERIC_BROADENING_CM1_K,
                    "pressure_shift_cm1_gpa": GENERIC_PRESSURE_SHIFT_PER_GPA * omega}
        generic = tuple(name for name in defaults if getattr(self, name) is None)
        for name in generic:
            object.__setattr__(self, name, defaults[name])
        object.__setattr__(self, "generic", generic)

    @property
    def strongest(self) -> RamanBand:
        """The reference band (largest relative intensity)."""
        return max(self.bands, key=lambda b: b.intensity)


def _bands(*rows: tuple) -> tuple[RamanBand, ...]:
    return tuple(RamanBand(*row) for row in rows)


_PHASES = (
    RamanPhase(
        "silicon", "Si", _bands((520.7, 1.0, 3.5), (302.0, 0.015, 12.0), (965.0, 0.04, 40.0)),
        "Γ optical phonon ~520 cm⁻¹ and the second-order 2TA ~300 and 2TO ~960 cm⁻¹ bands: Parker, "
        "Feldman & Ashkin, Phys. Rev. 155 (1967) 712; dω/dT near 295 K: Hart, Aggarwal & Lax, Phys. "
        "Rev. B 1 (1970) 638 (521 -> 493 cm⁻¹ from 20 to 900 °C: Tsu & Hernandez, Appl. Phys. Lett. 41 "
        "(1982) 1016); dΓ/dT: the anharmonic fit of Balkanski, Wallis & Haro, Phys. Rev. B 28 (1983) "
        "1928, linearised 300-700 K; dω/dP = 5.2 cm⁻¹/GPa hydrostatic: Weinstein & Piermarini, Phys. "
        "Rev. B 12 (1975) 1172 (a biaxial (001) in-plane stress σ instead gives Δω ≈ -4σ cm⁻¹, σ in GPa "
        "and tension positive: De Wolf, Semicond. Sci. Technol. 11 (1996) 139)",
        temperature_shift_cm1_k=-0.022, temperature_broadening_cm1_k=0.010, pressure_shift_cm1_gpa=5.2,
        aliases=("si", "c-si")),
    RamanPhase(
        "diamond", "C", _bands((1332.0, 1.0, 3.0)),
        "1332.5 cm⁻¹ F2g: Solin & Ramdas, Phys. Rev. B 1 (1970) 1687 (1332 kept for the demo); "
        "dω/dT ≈ -0.012 cm⁻¹/K is a mean slope over 295-900 K (near zero at room temperature, growing "
        "with T: Zouboulis & Grimsditch, Phys. Rev. B 43 (1991) 12490; Liu, Bursill, Prawer & Beserman, "
        "Phys. Rev. B 61 (2000) 3391), dΓ/dT from the Klemens fit of Liu et al. (Γ(0) = 1.1 cm⁻¹) over "
        "the same range; dω/dP = 2.90 cm⁻¹/GPa: Hanfland, Syassen, Fahy, Louie & Cohen, Phys. Rev. B "
        "31 (1985) 6896; RRUFF R050205, R050206",
        temperature_shift_cm1_k=-0.012, temperature_broadening_cm1_k=0.002, pressure_shift_cm1_gpa=2.9),
    RamanPhase(
        "graphite", "C",
        _bands((1350.0, 0.25, 40.0, None, None, 50.0), (1582.0, 1.0, 16.0), (2700.0, 0.5, 60.0, None, None, 100.0)),
        "Polycrystalline graphite: G (E2g) 1582, disorder D ~1350 and 2D ~2700 cm⁻¹ at 532 nm "
        "(Tuinstra & Koenig, J. Chem. Phys. 53 (1970) 1126; Ferrari, Solid State Commun. 143 (2007) "
        "47; I_D/I_G grows with disorder); D and 2D disperse by ~50 and ~100 cm⁻¹/eV (Pócsik et al. "
        "1998; Ferrari & Robertson 2000); G dω/dT ≈ -0.011 cm⁻¹/K (HOPG: Tan, Deng, Zhao & Cheng, "
        "Appl. Phys. Lett. 74 (1999) 1818); G dω/dP = 4.7 cm⁻¹/GPa: Hanfland, Beister & Syassen, "
        "Phys. Rev. B 39 (1989) 12598",
        temperature_shift_cm1_k=-0.011, pressure_shift_cm1_gpa=4.7),
    RamanPhase(
        "quartz", "SiO2",
        _bands((464.0, 1.0, 9.0), (206.0, 0.35, 18.0, None, 18.0), (128.0, 0.3, 8.0, None, 6.0),
               (355.0, 0.12, 10.0), (394.0, 0.1, 10.0), (807.0, 0.06, 12.0, None, 8.0), (1082.0, 0.05, 14.0)),
        "α-quartz (Scott & Porto, Phys. Rev. 161 (1967) 903); RRUFF R040031, R050125; the 464 A1 band "
        "is ω = 464 cm⁻¹, Γ ≈ 5-9 cm⁻¹ in well-crystallised quartz; dω/dP 464: 9, 206: 18, 128: 6, "
        "807: 8 cm⁻¹/GPa (Asell & Nicol, J. Chem. Phys. 49 (1968) 5395); dω/dT generic (the 206 cm⁻¹ "
        "soft mode shifts much faster: Shapiro, O'Shea & Cummins, Phys. Rev. Lett. 19 (1967) 361)",
        pressure_shift_cm1_gpa=9.0, aliases=("alpha-quartz", "α-quartz")),
    RamanPhase(
        "calcite", "CaCO3",
        _bands((1086.0, 1.0, 4.0), (711.0, 0.18, 5.0), (281.0, 0.35, 9.0), (155.0, 0.25, 9.0),
               (1436.0, 0.05, 10.0), (1749.0, 0.03, 8.0)),
        "ν1 1086, ν4 711, lattice 281 and 155, ν3 1436, ν1+ν4 1749 cm⁻¹: Gillet, Biellmann, Reynard & "
        "McMillan, Phys. Chem. Minerals 20 (1993) 1; RRUFF R040070, R050048; coefficients generic "
        "(lattice modes shift relatively more than the internal CO3 modes, Gillet et al. 1993)"),
    RamanPhase(
        "aragonite", "CaCO3",
        _bands((1085.0, 1.0, 4.0), (705.0, 0.1, 4.0, None, 2.1), (701.0, 0.08, 4.0, None, 2.1),
               (206.0, 0.15, 8.0, None, 6.0), (153.0, 0.12, 8.0, None, 3.5), (1462.0, 0.03, 10.0)),
        "ν1 1085, ν4 705/701, lattice 206 and 153 cm⁻¹: Gillet et al., Phys. Chem. Minerals 20 (1993) "
        "1; RRUFF R040078, R060195; dω/dP 1085: 3.5, 704: 2.1, 206: 6.0, 153: 3.5 cm⁻¹/GPa at "
        "0.1-2 GPa (Fu & Zheng, Spectrosc. Spectral Anal. 31 (2011) 127); dω/dT generic (704 shifts "
        "up on heating: Fu & Zheng 2013)",
        pressure_shift_cm1_gpa=3.5),
    RamanPhase(
        "anatase", "TiO2",
        _bands((144.0, 1.0, 10.0), (197.0, 0.1, 9.0), (399.0, 0.25, 20.0), (513.0, 0.22, 20.0), (639.0, 0.3, 25.0)),
        "Eg 144, Eg 197, B1g 399, A1g+B1g 513/519, Eg 639 cm⁻¹: Ohsaka, Izumi & Fujiki, J. Raman "
        "Spectrosc. 7 (1978) 321; coefficients generic (the TiO2 low-frequency modes are strongly "
        "anharmonic, so the linear default is only a placeholder)",
        aliases=("tio2-anatase",)),
    RamanPhase(
        "rutile", "TiO2",
        _bands((447.0, 1.0, 30.0), (612.0, 0.9, 40.0), (240.0, 0.35, 60.0), (143.0, 0.05, 8.0)),
        "Eg 447, A1g 612, B1g 143 cm⁻¹ and the multi-phonon band ~240 cm⁻¹: Porto, Fleury & Damen, "
        "Phys. Rev. 154 (1967) 522; coefficients generic (B1g softens under pressure: Samara & "
        "Peercy, Phys. Rev. B 7 (1973) 1131)",
        aliases=("tio2-rutile",)),
    RamanPhase(
        "hematite", "Fe2O3",
        _bands((292.0, 1.0, 12.0), (225.0, 0.75, 8.0), (245.0, 0.2, 8.0), (411.0, 0.6, 16.0),
               (498.0, 0.12, 20.0), (612.0, 0.25, 22.0), (1320.0, 0.5, 60.0)),
        "α-Fe2O3: A1g 225 and 498, Eg 245, 292, 411 and 612 cm⁻¹, 2LO/two-magnon 1320 cm⁻¹: de Faria, "
        "Venâncio Silva & de Oliveira, J. Raman Spectrosc. 28 (1997) 873; Marshall, Dufresne & "
        "Rufledt, J. Raman Spectrosc. (2020); RRUFF R040024, R050300; coefficients generic "
        "(laser heating shifts and broadens every band, de Faria et al. 1997)",
        aliases=("alpha-fe2o3", "α-fe2o3")),
    RamanPhase(
        "zincite", "ZnO",
        _bands((437.0, 1.0, 7.0), (99.0, 0.3, 2.5), (333.0, 0.1, 12.0), (380.0, 0.08, 8.0),
               (410.0, 0.05, 8.0), (583.0, 0.08, 25.0), (1150.0, 0.05, 60.0)),
        "Wurtzite ZnO: E2(high) 437, E2(low) 99, E2H-E2L 333, A1(TO) 380, E1(TO) 410, LO ~583, 2LO "
        "~1150 cm⁻¹ (Arguello, Rousseau & Porto, Phys. Rev. 181 (1969) 1351; Cuscó et al., Phys. "
        "Rev. B 75 (2007) 165202); coefficients generic (E2(low) has a negative Grüneisen "
        "parameter: Decremps et al., Phys. Rev. B 65 (2002) 092101)",
        aliases=("zno", "wurtzite-zno")),
    RamanPhase(
        "molybdenite", "MoS2",
        _bands((408.0, 1.0, 4.0), (383.0, 0.8, 4.0, None, 1.8), (286.0, 0.05, 5.0), (450.0, 0.1, 15.0)),
        "2H-MoS2: A1g 408, E¹2g 383, E1g 286 cm⁻¹ and 2LA(M) ~450 cm⁻¹ (weak off resonance at 532 "
        "nm); dω/dP A1g 3.7, E¹2g 1.8 cm⁻¹/GPa: Bagnall, Liang, Marseglia & Welber, Physica B+C 99 "
        "(1980) 343; dω/dT generic (bulk E2g shifts a little faster than A1g: Lanzillo et al., Appl. "
        "Phys. Lett. 103 (2013) 093102)",
        pressure_shift_cm1_gpa=3.7, aliases=("mos2", "2h-mos2")),
    RamanPhase(
        "gypsum", "CaSO4·2H2O",
        _bands((1008.0, 1.0, 6.0), (415.0, 0.2, 12.0), (494.0, 0.15, 12.0), (618.0, 0.1, 10.0),
               (670.0, 0.08, 10.0), (1136.0, 0.1, 10.0), (3404.0, 0.3, 25.0), (3494.0, 0.25, 20.0)),
        "ν1(SO4) 1008, ν2 415/494, ν4 618/670, ν3 1136 cm⁻¹, water O-H stretching 3404/3494 cm⁻¹ "
        "(Berenblut, Dawson & Wilkinson, Spectrochim. Acta A 27 (1971)); RRUFF R060509; "
        "coefficients generic; dehydrates to bassanite above ~370 K",
        aliases=("caso4-2h2o",)),
    RamanPhase(
        "zircon", "ZrSiO4",
        _bands((1008.0, 1.0, 5.0), (974.0, 0.12, 6.0), (439.0, 0.5, 8.0), (357.0, 0.6, 8.0),
               (225.0, 0.25, 6.0), (214.0, 0.15, 6.0), (202.0, 0.2, 6.0)),
        "ν3(SiO4) B1g 1008, ν1 A1g 974, 439, 357, 225, 214, 202 cm⁻¹ (Dawson, Hargreave & Wilkinson, "
        "J. Phys. C 4 (1971) 240; Nicola & Rutt, J. Phys. C 7 (1974) 1381); radiation damage lowers "
        "and broadens ν3 (Nasdala, Irmer & Wolf, Eur. J. Mineral. 7 (1995) 471); RRUFF R050034, "
        "R050203; ν3 dω/dT = -0.0288 cm⁻¹/K at 295 K from the Δν(T) of Cui et al., Ore Geol. Rev. "
        "(2020) 103540; dω/dP generic",
        temperature_shift_cm1_k=-0.0288),
    RamanPhase(
        "corundum", "Al2O3",
        _bands((418.0, 1.0, 4.0), (378.0, 0.15, 6.0), (432.0, 0.1, 5.0), (451.0, 0.1, 5.0),
               (578.0, 0.25, 8.0), (645.0, 0.15, 6.0), (751.0, 0.15, 10.0)),
        "α-Al2O3: A1g 418 and 645, Eg 378, 432, 451, 578, 751 cm⁻¹: Porto & Krishnan, J. Chem. Phys. "
        "47 (1967) 1009; pressure shifts to 20 GPa in Am. Mineral. 80 (1995) 1157; "
        "coefficients generic (Cr³⁺ ruby fluorescence, R lines at 694 nm, is not modelled)",
        aliases=("alpha-al2o3", "α-al2o3", "sapphire")),
    RamanPhase(
        "forsterite", "Mg2SiO4",
        _bands((856.0, 1.0, 8.0), (824.0, 0.9, 8.0), (965.0, 0.15, 10.0), (919.0, 0.1, 12.0),
               (606.0, 0.05, 10.0), (545.0, 0.06, 10.0), (304.0, 0.08, 10.0), (226.0, 0.05, 10.0)),
        "Olivine end-member: Si-O stretching doublet 856/824, 965, 919 cm⁻¹ and lattice modes "
        "(Chopelas, Am. Mineral. 76 (1991) 1101; Kuebler et al., Icarus 183 (2006) 207); RRUFF "
        "R040018, R050117; coefficients generic"),
)

#: Literature Raman phases by lower-case name (see the module docstring and each ``source``).
RAMAN_PHASES: dict[str, RamanPhase] = {phase.name: phase for phase in _PHASES}
_ALIASES: dict[str, str] = {alias.lower(): phase.name for phase in _PHASES for alias in (phase.name, *phase.aliases)}


def raman_phase(name: str | RamanPhase) -> RamanPhase:
    """The table's phase for a name or alias (any case); a RamanPhase is returned as it is."""
    if isinstance(name, RamanPhase):
        return name
    key = str(name).strip().lower()
    if key not in _ALIASES:
        raise MatgenError(f"unknown Raman phase {name!r}; choose from {', '.join(sorted(RAMAN_PHASES))} "
                          f"(aliases: {', '.join(sorted(set(_ALIASES) - set(RAMAN_PHASES)))})")
    return RAMAN_PHASES[_ALIASES[key]]
