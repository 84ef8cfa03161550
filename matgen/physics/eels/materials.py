"""EELS reference tables: core-loss edges and bulk plasmons of materials, with their sources.

Main reference: R.F. Egerton, *Electron Energy-Loss Spectroscopy in the Electron Microscope*,
3rd ed., Springer 2011 (below "Egerton").

**Tables.** :data:`EDGES`: onset energies of the Gatan EELS Atlas (Ahn & Krivanek 1983; also
Egerton Appendix D); white lines for Ca–Ni L2,3 (empty 3d states), none for 3d¹⁰ Cu and Zn.
:data:`MATERIALS`: measured bulk plasmons. The free-electron-like ones (Li, Na, Mg, Al, Si, Ge)
have well-defined E_p and ΔE_p (widths checked against Raether 1980); for carbon and the oxides
the loss peak is broad and not Drude-like, so their values are typical ones for simulation, not
for calibration (see each ``source``).

The spectra they make are :mod:`matgen.physics.eels.forward`'s.
"""

from __future__ import annotations

from dataclasses import dataclass

from matgen.errors import MatgenError

EGERTON = "E_p: Egerton (2011) Table 3.2"
RAETHER = "ΔE_p: Raether (1980), as listed in Int. Tables Cryst. C (2006) Table 4.3.4.4"
BROAD = "typical measured maximum of a broad, non-free-electron loss peak (E_p ±1 eV; ΔE_p approximate, ±30 %)"
EELS_ATLAS = "Gatan EELS Atlas (Ahn & Krivanek 1983); Egerton (2011) Appendix D"


@dataclass(frozen=True)
class Edge:
    """A core-loss ionisation edge: onset energy (eV) and whether L2,3 white lines appear."""

    name: str  # e.g. "Mn L2,3"
    onset_ev: float  # threshold E_k (the L3 threshold of a split L2,3 edge)
    l2_onset_ev: float | None = None  # L2 threshold of a spin-orbit split L2,3 edge; None: one step
    white_lines: bool = False  # sharp 2p → 3d peaks at L3 and L2 (3d metals with empty d states)
    source: str = EELS_ATLAS


@dataclass(frozen=True)
class Material:
    """Bulk plasmon of a material (eV) and the core-loss edges it shows."""

    name: str
    plasmon_energy_ev: float  # E_p, measured position of the bulk plasmon
    plasmon_width_ev: float  # ΔE_p, its full width at half maximum
    edges: tuple[str, ...]  # keys of EDGES
    source: str


EDGES: dict[str, Edge] = {e.name: e for e in [
    Edge("Li K", 55.0), Edge("B K", 188.0), Edge("C K", 284.0), Edge("N K", 401.0), Edge("O K", 532.0),
    Edge("F K", 685.0), Edge("Na K", 1072.0), Edge("Mg K", 1305.0), Edge("Al K", 1560.0), Edge("Si K", 1839.0),
    Edge("Mg L2,3", 51.0), Edge("Al L2,3", 73.0), Edge("Si L2,3", 99.0), Edge("P L2,3", 132.0), Edge("S L2,3", 165.0),
    Edge("Ca L2,3", 346.0, 350.0, True), Edge("Ti L2,3", 456.0, 462.0, True), Edge("V L2,3", 513.0, 521.0, True),
    Edge("Cr L2,3", 575.0, 584.0, True), Edge("Mn L2,3", 640.0, 651.0, True), Edge("Fe L2,3", 708.0, 721.0, True),
    Edge("Co L2,3", 779.0, 794.0, True), Edge("Ni L2,3", 855.0, 872.0, True),
    Edge("Cu L2,3", 931.0, 951.0),  # metallic Cu is 3d¹⁰: no white lines
    Edge("Zn L2,3", 1020.0, 1043.0), Edge("Ge L2,3", 1217.0, 1248.0),
]}

MATERIALS: dict[str, Material] = {m.name: m for m in [
    Material("Li", 7.1, 2.2, ("Li K",), f"{EGERTON}; {RAETHER}"),
    Material("Na", 5.7, 0.3, ("Na K",), f"{EGERTON}; {RAETHER}"),
    Material("Mg", 10.3, 0.7, ("Mg L2,3", "Mg K"), f"{EGERTON}; {RAETHER}"),
    Material("Al", 15.0, 0.53, ("Al L2,3", "Al K"), f"{EGERTON}; {RAETHER}"),
    Material("Si", 16.7, 3.7, ("Si L2,3", "Si K"), "Egerton (2011) Table 3.2 (Raether 1980 gives ΔE_p = 3.2 eV)"),
    Material("Ge", 16.0, 3.1, ("Ge L2,3",), f"{EGERTON}; {RAETHER}"),
    Material("diamond", 33.8, 13.0, ("C K",), f"Egerton & Whelan, J. Electron Spectrosc. 3 (1974) 232; {BROAD}"),
    Material("graphite", 27.0, 9.0, ("C K",), f"π+σ plasmon, Egerton & Whelan (1974); {BROAD}"),
    Material("SiO2", 22.4, 10.0, ("Si L2,3", "O K", "Si K"), f"amorphous silica; {BROAD}"),
    Material("Al2O3", 24.0, 10.0, ("Al L2,3", "O K", "Al K"), f"α-alumina; {BROAD}"),
    Material("MgO", 22.3, 8.0, ("Mg L2,3", "O K", "Mg K"), f"periclase; {BROAD}"),
]}


def _lookup(table: dict, name: str, what: str):
    def plain(text):
        return str(text).lower().replace(" ", "").replace(",", "")

    key = {plain(k): k for k in table}.get(plain(name))
    if key is None:
        raise MatgenError(f"unknown {what} {name!r}; choose from {', '.join(table)}")
    return table[key]


def material(name: str) -> Material:
    """The tabulated material (case-insensitive: 'al', 'SIO2'); MatgenError listing the names otherwise."""
    return _lookup(MATERIALS, name, "material")


def edge(name: str) -> Edge:
    """The tabulated edge (case-insensitive, spaces and commas ignored: 'mn l23')."""
    return _lookup(EDGES, name, "edge")

