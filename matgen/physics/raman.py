"""Raman spectra of crystalline phases: a literature band table, a batched forward model, band picking.

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

**Forward model** (:func:`raman_spectra`). B samples, each a mixture of phases p with fractions
f_bp, at temperature T_b, hydrostatic pressure P_b (``stress_gpa``: compressive stress positive,
raising the frequencies) and laser wavelength λ_b, on an axis of Raman shift ω (cm⁻¹):

    y_b(ω) = Σ_p f_bp Σ_i A_i [L(ω; ω_i, Γ_i) + n_i/(n_i + 1) · L(ω; −ω_i, Γ_i)] + F_b(ω) + spikes + noise

* positions, linear about the reference state:
  ω_i = ω_i0 + (dω/dT)_i (T − T₀) + (dω/dP)_i P + (dω/dE)_i (E_L − E₀), E_L = 1239.84 / λ (eV);
  only double-resonance bands (graphite D, 2D) disperse with E_L (Pócsik et al., J. Non-Cryst.
  Solids 227 (1998) 1083; Ferrari & Robertson, Phys. Rev. B 61 (2000) 14095);
* widths Γ_i = max(Γ_i0 + (dΓ/dT)(T − T₀), Γ_i0 / 4);
* L is the area-normalised Lorentzian (Γ/2π) / ((ω − ω_i)² + Γ²/4) of a damped phonon;
* Stokes areas A_i = h_i (π Γ_i0 / 2) (n(ω_i, T) + 1) / (n(ω_i0, T₀) + 1): the table height at T₀,
  a width change conserves the area (the peak falls as Γ₀/Γ), and the Bose–Einstein factor
  n(ω, T) = 1 / (exp(c₂ ω / T) − 1), c₂ = hc/k_B = 1.438777 cm K, scales it with temperature;
* anti-Stokes lines at −ω_i with area A_i n/(n + 1) = A_i exp(−c₂ω_i/T) (detailed balance). The
  ν⁴ (or, for photon counting, ν³) scattering factor and the detector response are left out: both
  are smooth, laser-dependent scales that an intensity calibration absorbs;
* fluorescence F_b(ω) = φ_b · G(ν_L − ν_abs; σ_abs) · G(ν_L − ω − ν_em; σ_em), G(u; σ) = exp(−u²/2σ²),
  in absolute wavenumber ν (cm⁻¹, ν_L = 10⁷/λ): a broad emission band of an impurity, excited
  through its absorption band, so a red laser (785 nm) makes ~50× less of it than 532 nm;
* cosmic-ray spikes: K ~ Poisson(rate) per spectrum, each on one or two adjacent channels, height
  log-uniform in ``spike_height``;
* counting noise: y → Poisson(N y) / N + N(0, σ_read²) / N, N = ``peak_counts`` (counts at unit
  intensity, i.e. at the strongest band of a pure phase at T₀).

Intensities are in units of that strongest band: a fraction f of a phase gives its strongest band
a height f at T₀. The table has no absolute cross-sections, so f is a Raman-signal fraction, not a
volume fraction.

**Analysis** (:func:`band_positions_cm1`, :func:`strongest_band_cm1`; numpy): cosmic spikes found
against a running median and bridged by a local quadratic (:func:`despike`); the baseline removed
by asymmetrically reweighted penalised least squares (arPLS, Baek et al. 2015, on the Whittaker
smoother of Eilers & Boelens 2005; :func:`baseline_arpls`); a light Gaussian smoothing; local
maxima kept when their height and prominence beat both a fraction of the tallest and a multiple
of the noise; each refined by a least-squares parabola through 1/y over its points above half
height — a Lorentzian's reciprocal is exactly a parabola, so an isolated band is located exactly
without noise, and to a fraction of a channel with it (noise-limited: ~0.3 cm⁻¹ rms for a band
10σ high and 9 cm⁻¹ wide on a 1 cm⁻¹ grid).

Notation: ``raman_shift_cm1`` ω (L,) axis; ``temperature_k`` T; ``stress_gpa`` P; ``laser_nm`` λ;
``fwhm_cm1`` Γ.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple, Sequence

import numpy as np
import torch

from matgen.errors import MatgenError

REFERENCE_TEMPERATURE_K = 295.0
REFERENCE_LASER_NM = 532.0
#: Second radiation constant c₂ = hc / k_B (cm K): ħω / k_BT = c₂ ω / T for ω in cm⁻¹.
C2_CM_K = 1.438777
#: Photon energy (eV) times wavelength (nm).
HC_EV_NM = 1239.841984
GENERIC_TEMPERATURE_SHIFT_PER_K = -2.5e-5  # (1/ω) dω/dT, K⁻¹
GENERIC_PRESSURE_SHIFT_PER_GPA = 5.0e-3  # (1/ω) dω/dP, GPa⁻¹
GENERIC_BROADENING_CM1_K = 0.005  # dΓ/dT, cm⁻¹/K
#: Default fluorescence: emission at 600 nm (σ 2500 cm⁻¹), excited through absorption at 480 nm (σ 3000 cm⁻¹).
FLUORESCENCE_EMISSION_NM = 600.0
FLUORESCENCE_EMISSION_SIGMA_CM1 = 2500.0
FLUORESCENCE_ABSORPTION_NM = 480.0
FLUORESCENCE_ABSORPTION_SIGMA_CM1 = 3000.0

Seeds = int | Sequence[int] | None
Tensorish = float | Sequence[float] | torch.Tensor


# --------------------------------------------------------------------------- the table


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


# --------------------------------------------------------------------------- forward model


class BandState(NamedTuple):
    """Every band of one phase in B conditions: (B, N) tensors."""

    position_cm1: torch.Tensor  # ω_i
    fwhm_cm1: torch.Tensor  # Γ_i
    area: torch.Tensor  # Stokes area A_i (intensity × cm⁻¹)
    anti_stokes_area: torch.Tensor  # A_i n / (n + 1)


def bose_einstein(raman_shift_cm1: torch.Tensor, temperature_k: torch.Tensor) -> torch.Tensor:
    """Phonon occupation n = 1 / (exp(c₂ ω / T) − 1) of modes ω (cm⁻¹) at T (K), broadcast."""
    return 1.0 / torch.expm1(C2_CM_K * raman_shift_cm1 / temperature_k)


def lorentzian(x: torch.Tensor, center: torch.Tensor, fwhm: torch.Tensor) -> torch.Tensor:
    """Area-normalised Lorentzian (Γ/2π) / ((x − c)² + Γ²/4), broadcast over x, center and fwhm."""
    half = fwhm / 2
    return half / (math.pi * ((x - center) ** 2 + half**2))


def phase_bands(phase: str | RamanPhase, temperature_k: torch.Tensor, stress_gpa: torch.Tensor,
                laser_nm: torch.Tensor) -> BandState:
    """(B, N) positions, widths and areas of a phase's N bands at B conditions.

    ``temperature_k``, ``stress_gpa`` and ``laser_nm`` are (B,) tensors; the position, width and
    area equations are the module docstring's, on their dtype and device.
    """
    phase = raman_phase(phase)
    like = temperature_k
    ref = phase.strongest.position_cm1

    def column(values):  # (N,) -> (1, N)
        return torch.tensor(values, dtype=like.dtype, device=like.device)[None, :]

    omega0 = column([b.position_cm1 for b in phase.bands])
    dwdt = column([phase.temperature_shift_cm1_k * b.position_cm1 / ref if b.temperature_shift_cm1_k is None
                   else b.temperature_shift_cm1_k for b in phase.bands])
    dwdp = column([phase.pressure_shift_cm1_gpa * b.position_cm1 / ref if b.pressure_shift_cm1_gpa is None
                   else b.pressure_shift_cm1_gpa for b in phase.bands])
    dispersion = column([b.dispersion_cm1_ev for b in phase.bands])
    fwhm0 = column([b.fwhm_cm1 for b in phase.bands])
    height = column([b.intensity for b in phase.bands])
    t, p = temperature_k[:, None], stress_gpa[:, None]  # (B, 1)
    energy_ev = HC_EV_NM / laser_nm[:, None] - HC_EV_NM / REFERENCE_LASER_NM
    omega = omega0 + dwdt * (t - REFERENCE_TEMPERATURE_K) + dwdp * p + dispersion * energy_ev  # (B, N)
    fwhm = torch.maximum(fwhm0 + phase.temperature_broadening_cm1_k * (t - REFERENCE_TEMPERATURE_K), fwhm0 / 4)
    n = bose_einstein(omega.clamp_min(1e-3), t)
    n0 = bose_einstein(omega0, torch.full_like(omega0, REFERENCE_TEMPERATURE_K))
    area = height * (math.pi * fwhm0 / 2) * (n + 1) / (n0 + 1)
    return BandState(omega, fwhm, area, area * n / (n + 1))


def band_spectrum(raman_shift_cm1: torch.Tensor, phase: str | RamanPhase,
                  temperature_k: Tensorish = REFERENCE_TEMPERATURE_K, stress_gpa: Tensorish = 0.0,
                  laser_nm: Tensorish = REFERENCE_LASER_NM) -> torch.Tensor:
    """(B, L) Stokes and anti-Stokes spectrum of a pure phase (fraction 1) at B conditions.

    Conditions are numbers or (B,) tensors; B is their common length (1 when all are numbers).
    """
    x = _axis(raman_shift_cm1)
    n = max([len(v) for v in (temperature_k, stress_gpa, laser_nm) if _length(v) is not None] or [1])
    t, p, lam = _conditions(n, x, temperature_k, stress_gpa, laser_nm)
    return _phase_spectrum(x, raman_phase(phase), t, p, lam)


def _phase_spectrum(x: torch.Tensor, phase: RamanPhase, t: torch.Tensor, p: torch.Tensor,
                    lam: torch.Tensor) -> torch.Tensor:
    bands = phase_bands(phase, t, p, lam)
    y = torch.zeros(len(t), len(x), dtype=x.dtype, device=x.device)  # (B, L)
    for i in range(bands.position_cm1.shape[1]):  # one band at a time keeps memory at (B, L)
        omega, fwhm = bands.position_cm1[:, i:i + 1], bands.fwhm_cm1[:, i:i + 1]
        y += bands.area[:, i:i + 1] * lorentzian(x, omega, fwhm)
        y += bands.anti_stokes_area[:, i:i + 1] * lorentzian(x, -omega, fwhm)
    return y


def fluorescence_background(raman_shift_cm1: torch.Tensor, laser_nm: Tensorish, amplitude: Tensorish,
                            emission_nm: float = FLUORESCENCE_EMISSION_NM,
                            emission_sigma_cm1: float = FLUORESCENCE_EMISSION_SIGMA_CM1,
                            absorption_nm: float = FLUORESCENCE_ABSORPTION_NM,
                            absorption_sigma_cm1: float = FLUORESCENCE_ABSORPTION_SIGMA_CM1) -> torch.Tensor:
    """(B, L) fluorescence φ · G(ν_L − ν_abs) · G(ν_L − ω − ν_em) in absolute wavenumbers ν = 10⁷/λ.

    ``amplitude`` φ (number or (B,)) is the emission's peak height when excited at the absorption
    maximum, in units of a pure phase's strongest band.
    """
    x = _axis(raman_shift_cm1)
    n = max([len(v) for v in (laser_nm, amplitude) if _length(v) is not None] or [1])
    lam = _per_sample(laser_nm, n, "laser_nm", x)
    phi = _per_sample(amplitude, n, "fluorescence", x)
    _check(lam > 0, lam, "laser_nm", "a positive wavelength in nm")
    _check(phi >= 0, phi, "fluorescence", "non-negative")
    nu_laser = 1e7 / lam[:, None]  # (B, 1) cm⁻¹
    excitation = torch.exp(-0.5 * ((nu_laser - 1e7 / absorption_nm) / absorption_sigma_cm1) ** 2)
    emission = torch.exp(-0.5 * ((nu_laser - x[None, :] - 1e7 / emission_nm) / emission_sigma_cm1) ** 2)
    return phi[:, None] * excitation * emission


def sample_generators(n: int, seed: Seeds = None, generator: torch.Generator | None = None) -> list:
    """One CPU generator per sample (sample i: seed + i, or seed[i]), else ``generator`` (or None) n times."""
    if generator is not None and generator.device.type != "cpu":
        raise MatgenError("the generator must be a CPU torch.Generator (draws are made on the CPU, then moved)")
    if seed is None:
        return [generator] * n
    if generator is not None:
        raise MatgenError("give either seed or generator, not both")
    seeds = [int(seed) + i for i in range(n)] if isinstance(seed, (int, np.integer)) else [int(s) for s in seed]
    if len(seeds) != n:
        raise MatgenError(f"seed must be one int (sample i uses seed + i) or n={n} ints (got {len(seeds)})")
    return [torch.Generator().manual_seed(s) for s in seeds]


def cosmic_spikes(n: int, length: int, rate: float, height: tuple[float, float] = (2.0, 20.0),
                  generators: Sequence[torch.Generator | None] | None = None) -> torch.Tensor:
    """(n, length) float64 cosmic-ray spikes on the CPU: Poisson(rate) per spectrum, 1–2 channels each.

    Each spike sits at a uniform random channel with a height log-uniform in ``height``; half of
    them also put 30–100 % of that height on the next channel (a track across two pixels).
    """
    if not (rate >= 0 and 0 < height[0] <= height[1]):
        raise MatgenError(f"spike_rate must be >= 0 and spike_height a (low, high) pair with 0 < low <= high "
                          f"(got {rate}, {height})")
    generators = generators or [None] * n
    out = torch.zeros(n, length, dtype=torch.float64)
    log_low, log_high = math.log(height[0]), math.log(height[1])
    for row, g in zip(out, generators):
        k = int(torch.poisson(torch.tensor([float(rate)], dtype=torch.float64), generator=g).item())
        where = torch.randint(0, length, (k,), generator=g)
        size = torch.exp(log_low + (log_high - log_low) * torch.rand(k, generator=g, dtype=torch.float64))
        second = (torch.rand(k, generator=g) < 0.5) & (where + 1 < length)
        share = 0.3 + 0.7 * torch.rand(k, generator=g, dtype=torch.float64)
        row.index_add_(0, where, size)
        row.index_add_(0, (where + 1)[second], (size * share)[second])
    return out


def counting_noise(spectra: torch.Tensor, peak_counts: float, read_noise_counts: float = 0.0,
                   generators: Sequence[torch.Generator | None] | None = None) -> torch.Tensor:
    """(B, L) spectra with shot noise Poisson(N y)/N and Gaussian read noise σ_read/N, N = ``peak_counts``.

    Draws are made on the CPU, sample by sample, then moved to the spectra's device and dtype.
    """
    if not (peak_counts > 0 and read_noise_counts >= 0):
        raise MatgenError(f"peak_counts must be > 0 and read_noise_counts >= 0 "
                          f"(got {peak_counts}, {read_noise_counts})")
    generators = generators or [None] * len(spectra)
    rates = (spectra.detach().to("cpu", torch.float64) * peak_counts).clamp_min(0)
    rows = []
    for rate, g in zip(rates, generators):
        counts = torch.poisson(rate, generator=g)
        if read_noise_counts:
            counts = counts + read_noise_counts * torch.randn(rate.shape, generator=g, dtype=torch.float64)
        rows.append(counts / peak_counts)
    return torch.stack(rows).to(spectra)


def raman_spectra(
    raman_shift_cm1: torch.Tensor,
    phases: Sequence[str | RamanPhase],
    fractions: torch.Tensor,
    temperature_k: Tensorish = REFERENCE_TEMPERATURE_K,
    stress_gpa: Tensorish = 0.0,
    laser_nm: Tensorish = REFERENCE_LASER_NM,
    fluorescence: Tensorish = 0.0,
    spike_rate: float = 0.0,
    spike_height: tuple[float, float] = (2.0, 20.0),
    peak_counts: float | None = None,
    read_noise_counts: float = 0.0,
    seed: Seeds = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """(B, L) measured-looking Raman spectra of B phase mixtures on the axis ω (cm⁻¹).

    The model is the module docstring's; fluorescence, spikes and noise are off by default.
    Spikes are added after the counting noise (a cosmic ray deposits its charge on top of the
    exposure). Runs on the axis tensor's device in its dtype (float64 for a non-float axis).

    Args:
        raman_shift_cm1: (L,) Raman shift axis, cm⁻¹ (negative values show the anti-Stokes side).
        phases: P table names/aliases (:data:`RAMAN_PHASES`) or RamanPhase objects.
        fractions: (B, P) non-negative Raman-signal fractions, each row summing to at most 1.
        temperature_k: T (K), a number or (B,).
        stress_gpa: hydrostatic pressure P (GPa, compression positive), a number or (B,).
        laser_nm: excitation wavelength λ (nm), a number or (B,).
        fluorescence: fluorescence amplitude φ (see :func:`fluorescence_background`), a number or (B,).
        spike_rate: mean number of cosmic-ray spikes per spectrum.
        spike_height: (low, high) spike heights, in units of a pure phase's strongest band.
        peak_counts: counts at unit intensity for shot noise; None: no counting noise.
        read_noise_counts: detector read noise σ_read per channel, counts (with ``peak_counts``).
        seed: sample i draws its spikes and noise from seed + i (int) or seed[i]: the same seed
            gives the same spectrum whatever the batch. Exclusive with ``generator``.
        generator: CPU torch.Generator for the whole batch; neither: torch's global generator.
    """
    x = _axis(raman_shift_cm1)
    resolved = [raman_phase(p) for p in ([phases] if isinstance(phases, (str, RamanPhase)) else phases)]
    if not resolved:
        raise MatgenError("give at least one phase")
    f = torch.as_tensor(fractions).to(device=x.device, dtype=x.dtype)
    if f.ndim != 2 or f.shape[1] != len(resolved):
        raise MatgenError(f"fractions must be (B, {len(resolved)}), one column per phase, got {tuple(f.shape)}")
    if not torch.isfinite(f).all():
        raise MatgenError("fractions contain NaN or inf; give a finite fraction for every phase (0 for absent)")
    if (f < 0).any() or (f.sum(1) > 1 + 1e-6).any():
        raise MatgenError("fractions must be non-negative and sum to at most 1 in each sample")
    n = len(f)
    t, p, lam = _conditions(n, x, temperature_k, stress_gpa, laser_nm)
    y = fluorescence_background(x, lam, fluorescence)
    for j, phase in enumerate(resolved):
        if bool((f[:, j] > 0).any()):
            y = y + f[:, j:j + 1] * _phase_spectrum(x, phase, t, p, lam)
    generators = sample_generators(n, seed, generator)
    if peak_counts is not None:
        y = counting_noise(y, peak_counts, read_noise_counts, generators)
    if spike_rate:
        y = y + cosmic_spikes(n, len(x), spike_rate, spike_height, generators).to(y)
    return y


def _length(value) -> int | None:
    """len of a (B,) condition, None for a number."""
    if isinstance(value, (int, float)):
        return None
    t = torch.as_tensor(value)
    return None if t.ndim == 0 else len(t)


def _axis(raman_shift_cm1) -> torch.Tensor:
    x = torch.as_tensor(raman_shift_cm1)
    if not x.is_floating_point():
        x = x.to(torch.float64)
    if x.ndim != 1 or len(x) < 2 or not torch.isfinite(x).all():
        raise MatgenError(f"the Raman shift axis must be a finite 1-D array of at least 2 values (cm⁻¹), "
                          f"got shape {tuple(x.shape)}")
    return x


def _per_sample(value: Tensorish, n: int, name: str, like: torch.Tensor) -> torch.Tensor:
    """(n,) tensor on ``like``'s device and dtype from a number or n values; MatgenError otherwise."""
    t = torch.as_tensor(value).to(device=like.device, dtype=like.dtype)
    if t.ndim == 0:
        t = t.expand(n)
    if t.shape != (n,):
        raise MatgenError(f"{name} must be a number or one value per sample (n={n}), got shape {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise MatgenError(f"{name} must be finite (got {t.tolist()})")
    return t


def _check(ok: torch.Tensor, t: torch.Tensor, name: str, valid: str) -> None:
    if not bool(ok.all()):
        raise MatgenError(f"{name} must be {valid} (got {t[~ok][0].item():g})")


def _conditions(n: int, x: torch.Tensor, temperature_k, stress_gpa, laser_nm) -> tuple[torch.Tensor, ...]:
    t = _per_sample(temperature_k, n, "temperature_k", x)
    p = _per_sample(stress_gpa, n, "stress_gpa", x)
    lam = _per_sample(laser_nm, n, "laser_nm", x)
    _check(t > 0, t, "temperature_k", "a positive absolute temperature in K")
    _check(lam > 0, lam, "laser_nm", "a positive wavelength in nm")
    return t, p, lam


# --------------------------------------------------------------------------- analysis


def _analysis_input(raman_shift_cm1, spectrum) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(raman_shift_cm1, dtype=float)
    y = np.asarray(spectrum, dtype=float)
    if x.ndim != 1 or y.shape != x.shape or len(x) < 5:
        raise MatgenError(f"axis and spectrum must be 1-D of the same length >= 5, got {x.shape} and {y.shape}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise MatgenError(f"the spectrum has {int((~np.isfinite(y)).sum())} NaN/inf channels (or the axis has some); "
                          "drop or interpolate them first")
    if not (np.diff(x) > 0).all():
        raise MatgenError("the Raman shift axis must increase strictly; sort it (np.argsort) first")
    return x, y


def _spike_channels(y: np.ndarray, width: int, threshold: float, sigma: float) -> np.ndarray:
    """(L,) bool: channels standing far above their running median (see :func:`despike`)."""
    from scipy.ndimage import median_filter

    excess = y - median_filter(y, size=width, mode="mirror")  # mirror: an end channel is not its own neighbour
    background = median_filter(y, size=8 * width, mode="mirror")
    high = excess > threshold * sigma
    spikes = high & (excess > 0.7 * (y - background))
    beside = np.zeros_like(spikes)
    beside[1:] |= spikes[:-1]
    beside[:-1] |= spikes[1:]
    return spikes | (high & beside)


def despike(spectrum: np.ndarray, width: int = 7, threshold: float = 6.0, passes: int = 3) -> np.ndarray:
    """(L,) spectrum with cosmic-ray spikes (runs of 1–3 channels) replaced by a local quadratic fit.

    A channel is a spike where y − median_width(y) exceeds ``threshold`` × the noise σ
    (:func:`noise_sigma`) and also 70 % of its height above the local background (the median
    over 8 × width channels): a Lorentzian band of FWHM >= 3 channels stands at most ~64 % above
    its own 7-channel median, a spike almost 100 %. (Bands narrower than 3 channels look like
    spikes: sample finer.) A neighbour of a spike is one too if its own excess passes the first
    test. Each run of spike channels is replaced by a least-squares quadratic through up to 3
    clean channels on either side, which follows a band's curvature; the search is repeated on
    the result (up to ``passes`` times) to catch spikes that hid each other inside one window.
    """
    y = np.asarray(spectrum, dtype=float)
    sigma = noise_sigma(y)
    spikes = np.zeros(len(y), dtype=bool)
    out = y.copy()
    channels = np.arange(len(y))
    for _ in range(passes):
        found = _spike_channels(out, width, threshold, sigma) & ~spikes
        if not found.any():
            break
        spikes |= found
        clean = channels[~spikes]
        if len(clean) < 2:
            return y.copy()
        out = y.copy()
        runs = np.split(np.flatnonzero(spikes), np.flatnonzero(np.diff(np.flatnonzero(spikes)) > 1) + 1)
        for run in runs:
            near = np.concatenate([clean[clean < run[0]][-3:], clean[clean > run[-1]][:3]])
            coefficients = np.polyfit(near - run[0], y[near], min(2, len(near) - 1))
            out[run] = np.polyval(coefficients, run - run[0])
    return out


def baseline_arpls(raman_shift_cm1: np.ndarray, spectrum: np.ndarray, length_cm1: float = 300.0,
                   iterations: int = 30, tolerance: float = 1e-3) -> np.ndarray:
    """(L,) baseline by asymmetrically reweighted penalised least squares (arPLS).

    Minimises Σ w_i (y_i − z_i)² + λ Σ (Δ²z_i)² (the Whittaker smoother of Eilers & Boelens, 2005)
    and re-weights w = 1 / (1 + exp(2 (d − (2s − m)) / s)) from the residuals d = y − z, with m and
    s the mean and standard deviation of the negative ones (Baek, Park, Ahn & Choo, Analyst 140
    (2015) 250): points within the noise keep weight ~1, bands above it get ~0, so the baseline
    runs through the middle of the noise rather than along its lower envelope. The smoother
    passes features longer than about ``length_cm1``: λ = (length / (2π Δω))⁴ for spacing Δω.
    """
    from scipy.linalg import solveh_banded

    x, y = _analysis_input(raman_shift_cm1, spectrum)
    size = len(y)
    lam = (length_cm1 / (2 * math.pi * np.mean(np.diff(x)))) ** 4
    penalty = np.zeros((3, size))  # upper banded form of λ DᵀD, D the second-difference matrix
    penalty[2] = 6.0
    penalty[2, [0, -1]] = 1.0
    penalty[2, [1, -2]] = 5.0
    penalty[1, 1:] = -4.0
    penalty[1, [1, -1]] = -2.0
    penalty[0, 2:] = 1.0
    penalty *= lam
    w = np.ones(size)
    for _ in range(iterations):
        system = penalty.copy()
        system[2] += w
        z = solveh_banded(system, w * y)
        d = y - z
        negative = d[d < 0]
        if len(negative) < 2 or not negative.std() > 0:
            break
        m, s = negative.mean(), negative.std()
        new_w = 1.0 / (1.0 + np.exp(np.clip(2 * (d - (2 * s - m)) / s, -50, 50)))
        done = np.linalg.norm(new_w - w) / np.linalg.norm(w) < tolerance
        w = new_w
        if done:
            break
    return z


def _vertex(x: np.ndarray, y: np.ndarray, i: int) -> float:
    """Position of the band whose highest channel is i, from a parabola through 1/y over its top.

    The points above half height are used: a Lorentzian's reciprocal is exactly a parabola.
    """
    half = 0.5 * y[i]
    lo, hi = i, i
    while lo > 0 and y[lo - 1] > half and i - lo < 50:
        lo -= 1
    while hi < len(y) - 1 and y[hi + 1] > half and hi - i < 50:
        hi += 1
    lo, hi = min(lo, i - 1), max(hi, i + 1)
    xs, ys = x[lo:hi + 1], y[lo:hi + 1]
    if (ys > 0).all():
        a, b, _ = np.polyfit(xs - x[i], 1 / ys, 2, w=ys**2)  # weights: σ(1/y) = σ(y) / y²
        if a > 0 and abs(b / (2 * a)) <= x[hi] - x[lo]:
            return float(x[i] - b / (2 * a))
    y0, y1, y2 = y[i - 1], y[i], y[i + 1]  # fall back: parabola through y at 3 points
    denom = y0 - 2 * y1 + y2
    return float(x[i] + (0.5 * (y0 - y2) / denom if denom else 0.0) * (x[i + 1] - x[i]))


def _peaks(y: np.ndarray, min_height: float, floor: float, distance: int, edge: int) -> np.ndarray:
    """Increasing indices of local maxima with height and prominence above a threshold, >= distance apart.

    The threshold is the larger of ``floor`` and ``min_height`` × the tallest local maximum (not
    the global maximum, which may be an edge). Prominence is the height above the higher of the
    lowest points between the peak and the nearest taller point on each side (or the spectrum's
    end); of maxima closer than ``distance`` channels the tallest is kept. Maxima within ``edge``
    channels of either end are left out: a band there cannot be located, nor a spike told from one.
    """
    candidates = np.flatnonzero((y[1:-1] > y[:-2]) & (y[1:-1] >= y[2:])) + 1
    candidates = candidates[(candidates >= edge) & (candidates < len(y) - edge)]
    if not len(candidates):
        return candidates
    threshold = max(floor, min_height * y[candidates].max())
    candidates = candidates[y[candidates] > threshold]
    kept: list[int] = []
    for i in candidates[np.argsort(-y[candidates], kind="stable")]:
        left, right = y[:i][::-1], y[i + 1:]
        taller_left, taller_right = np.flatnonzero(left > y[i]), np.flatnonzero(right > y[i])
        left_min = left[: taller_left[0] if len(taller_left) else None].min()
        right_min = right[: taller_right[0] if len(taller_right) else None].min()
        if y[i] - max(left_min, right_min) > threshold and all(abs(i - j) >= distance for j in kept):
            kept.append(int(i))
    return np.asarray(sorted(kept), dtype=int)


def noise_sigma(spectrum: np.ndarray) -> float:
    """Robust per-channel noise σ of a spectrum: 1.4826 × MAD of the first differences / √2."""
    diff = np.diff(np.asarray(spectrum, dtype=float))
    return float(1.4826 * np.median(np.abs(diff - np.median(diff))) / math.sqrt(2))


def _find_bands(raman_shift_cm1, spectrum, min_height: float = 0.05, min_separation_cm1: float = 5.0,
                smooth_cm1: float = 1.0, noise_factor: float = 5.0, despike_width: int = 7,
                baseline_cm1: float | None = 300.0) -> tuple[np.ndarray, np.ndarray]:
    from scipy.ndimage import gaussian_filter1d

    x, y = _analysis_input(raman_shift_cm1, spectrum)
    step = float(np.mean(np.diff(x)))
    y = despike(y, despike_width) if despike_width else y
    if baseline_cm1:
        y = y - baseline_arpls(x, y, baseline_cm1)
    sigma = noise_sigma(y)
    if smooth_cm1:
        y = gaussian_filter1d(y, smooth_cm1 / step, mode="nearest")
        impulse = np.zeros(8 * int(smooth_cm1 / step + 1) + 1)
        impulse[len(impulse) // 2] = 1.0
        sigma *= math.sqrt(np.sum(gaussian_filter1d(impulse, smooth_cm1 / step) ** 2))  # white noise after smoothing
    distance = max(1, int(round(min_separation_cm1 / step)))
    idx = _peaks(y, min_height, noise_factor * sigma, distance, max(2, despike_width))
    positions = np.asarray([_vertex(x, y, i) for i in idx])
    return positions, y[idx]


def band_positions_cm1(raman_shift_cm1: np.ndarray, spectrum: np.ndarray, min_height: float = 0.05,
                       min_separation_cm1: float = 5.0, smooth_cm1: float = 1.0, noise_factor: float = 5.0,
                       despike_width: int = 7, baseline_cm1: float | None = 300.0) -> np.ndarray:
    """Band positions (cm⁻¹, increasing) in one spectrum (L,), after removing spikes and baseline.

    Steps: :func:`despike` (``despike_width`` channels; 0 skips it); :func:`baseline_arpls`
    (features longer than ``baseline_cm1``; None skips it); a Gaussian smoothing of σ =
    ``smooth_cm1`` (symmetric, so it moves no isolated band; 0 skips it); local maxima whose
    height and prominence exceed both ``min_height`` × the tallest and ``noise_factor`` × the
    smoothed noise σ, at least ``min_separation_cm1`` apart; each refined by a parabola through
    1/y over its points above half height (exact for an isolated Lorentzian before smoothing).
    """
    return _find_bands(raman_shift_cm1, spectrum, min_height, min_separation_cm1, smooth_cm1, noise_factor,
                       despike_width, baseline_cm1)[0]


def strongest_band_cm1(raman_shift_cm1: np.ndarray, spectrum: np.ndarray, **options) -> float | np.ndarray:
    """Position (cm⁻¹) of the tallest band of a spectrum (L,), or of each of (B, L); NaN where none.

    ``options`` are those of :func:`band_positions_cm1`.
    """
    y = np.asarray(spectrum, dtype=float)
    if y.ndim == 2:
        return np.asarray([strongest_band_cm1(raman_shift_cm1, row, **options) for row in y])
    positions, heights = _find_bands(raman_shift_cm1, y, **options)
    return float(positions[np.argmax(heights)]) if len(positions) else float("nan")
