"""Built-in reference structures for powder XRD, so phase fits work without a CIF folder.

Each phase is a published structure: space group (symbol as pymatgen writes it, and number;
standard setting: origin choice 1, hexagonal axes for R groups), lattice (Å, deg) and the
asymmetric unit (species, fractional coordinates). On first use each site is expanded to its
orbit under the space group, as ``Structure.from_spacegroup`` does, and the structure is
cached. Every entry cites its source.

Where a paper used another origin the coordinates were moved to the standard one: quartz
(Levien et al. 1980, P3_221) lists Si at (x, 0, 0); in the ITA setting Si is on 3a (x, 0, 2/3),
so every z is shifted by +2/3. Anatase is in origin choice 1 of I4_1/amd (Ti at 0, 0, 0).

:func:`load_reference_set` takes built-in names, a CIF / POSCAR folder or file, or a
``matgen-structures`` JSON file; :func:`reference_patterns` turns the same argument into the
per-phase basis that :func:`matgen.physics.xrd.fit_weight_fractions` needs. Files are read by a
``read_files`` function the caller passes (matgen's is
:func:`matgen.data.importers.structures.reference_structures`), so physics does not import the
data layer.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import torch

from matgen.errors import MatgenError
from matgen.physics import xrd

if TYPE_CHECKING:
    from pymatgen.core import Structure

#: Reads the structures of a file or folder: path -> [(id, structure), ...].
ReadFiles = Callable[[Path], "list[tuple[str, Structure]]"]
#: Reflections are computed this far (deg 2θ) beyond the axis, so that tails of peaks outside it count.
MARGIN_DEG = 5.0


@dataclass(frozen=True)
class ReferencePhase:
    """One published crystal structure (asymmetric unit in the ITA standard setting)."""

    name: str  # lower-case key, the mineral or element name
    formula: str  # reduced formula
    space_group: str  # Hermann–Mauguin symbol as pymatgen writes it
    space_group_number: int  # International Tables number
    lattice_abc_angstrom: tuple[float, float, float]
    lattice_angles_deg: tuple[float, float, float]
    species: tuple[str, ...]  # one per Wyckoff site
    frac_coords: tuple[tuple[float, float, float], ...]  # one per Wyckoff site
    source: str  # the publication (and database entry) the numbers come from


RIGHT_ANGLES = (90.0, 90.0, 90.0)
HEXAGONAL = (90.0, 90.0, 120.0)

_PHASES = (
    ReferencePhase("silicon", "Si", "Fd-3m", 227, (5.431021,) * 3, RIGHT_ANGLES, ("Si",), ((0, 0, 0),),
                   "CODATA 2018 lattice parameter of Si, a = 5.431020511 Å at 22.5 °C"),
    ReferencePhase("quartz", "SiO2", "P3_221", 154, (4.9134, 4.9134, 5.4052), HEXAGONAL, ("Si", "O"),
                   ((0.4697, 0, 2 / 3), (0.4135, 0.2669, 0.1191 + 2 / 3)),
                   "lattice: PDF 00-046-1045 (powder, 25 °C); atoms: Levien, Prewitt & Weidner (1980) "
                   "Am. Mineral. 65, 920, AMCSD 0000789 (their a = 4.916, c = 5.4054 Å)"),
    ReferencePhase("corundum", "Al2O3", "R-3c", 167, (4.7607, 4.7607, 12.9947), HEXAGONAL, ("Al", "O"),
                   ((0, 0, 0.35216), (0.3061, 0, 0.25)),
                   "Finger & Hazen (1978) J. Appl. Phys. 49, 5823 (ruby, 1 bar); AFLOW prototype A2B3_hR10_167_c_e"),
    ReferencePhase("rutile", "TiO2", "P4_2/mnm", 136, (4.5937, 4.5937, 2.9587), RIGHT_ANGLES, ("Ti", "O"),
                   ((0, 0, 0), (0.30478, 0.30478, 0)),
                   "Howard, Sabine & Dickson (1991) Acta Cryst. B47, 462; AMCSD 0019092"),
    ReferencePhase("anatase", "TiO2", "I4_1/amd", 141, (3.785, 3.785, 9.514), RIGHT_ANGLES, ("Ti", "O"),
                   ((0, 0, 0), (0, 0, 0.20806)),
                   "Howard, Sabine & Dickson (1991) Acta Cryst. B47, 462; AFLOW prototype A2B_tI12_141_e_a"),
    ReferencePhase("calcite", "CaCO3", "R-3c", 167, (4.988, 4.988, 17.061), HEXAGONAL, ("Ca", "C", "O"),
                   ((0, 0, 0), (0, 0, 0.25), (0.2567, 0, 0.25)),
                   "Markgraf & Reeder (1985) Am. Mineral. 70, 590 (24 °C); AMCSD 0000984"),
    ReferencePhase("halite", "NaCl", "Fm-3m", 225, (5.6402,) * 3, RIGHT_ANGLES, ("Na", "Cl"),
                   ((0, 0, 0), (0.5, 0.5, 0.5)),
                   "Swanson & Fuyat (1953) NBS Circular 539 II, 41 (26 °C); PDF 00-005-0628"),
    ReferencePhase("aluminium", "Al", "Fm-3m", 225, (4.0494,) * 3, RIGHT_ANGLES, ("Al",), ((0, 0, 0),),
                   "Swanson & Tatge (1953) NBS Circular 539 I, 11 (25 °C); PDF 00-004-0787"),
    ReferencePhase("hematite", "Fe2O3", "R-3c", 167, (5.038, 5.038, 13.772), HEXAGONAL, ("Fe", "O"),
                   ((0, 0, 0.3553), (0.3059, 0, 0.25)),
                   "Blake, Hessevick, Zoltai & Finger (1966) Am. Mineral. 51, 123"),
    ReferencePhase("zincite", "ZnO", "P6_3mc", 186, (3.24982, 3.24982, 5.20661), HEXAGONAL, ("Zn", "O"),
                   ((1 / 3, 2 / 3, 0), (1 / 3, 2 / 3, 0.3825)),
                   "lattice: PDF 00-036-1451 (McMurdie et al. 1986, Powder Diffr. 1, 76); "
                   "u: Sabine & Hogg (1969) Acta Cryst. B25, 2254"),
    ReferencePhase("periclase", "MgO", "Fm-3m", 225, (4.2136,) * 3, RIGHT_ANGLES, ("Mg", "O"),
                   ((0, 0, 0), (0.5, 0.5, 0.5)),
                   "Zhang (2000) Phys. Chem. Minerals 27, 145 (300 K, 0 GPa); AMCSD 0008367"),
)

#: The built-in phases by name.
REFERENCE_PHASES: dict[str, ReferencePhase] = {p.name: p for p in _PHASES}


def reference_names() -> list[str]:
    """The names of the built-in reference phases, sorted."""
    return sorted(REFERENCE_PHASES)


def reference_structure(name: str) -> Structure:
    """A copy of the built-in structure ``name`` (case-insensitive), built on first use.

    Raises:
        MatgenError: no built-in phase has that name.
    """
    key = name.strip().lower()
    if key not in REFERENCE_PHASES:
        raise MatgenError(f"unknown reference phase {name!r}; choose from {', '.join(reference_names())}")
    return _build(key).copy()


@functools.cache
def _build(key: str) -> Structure:
    """The structure of a built-in phase: each Wyckoff site expanded to its orbit.

    ase's ``Spacegroup`` (setting 1: origin choice 1, hexagonal axes for R groups) gives the same
    orbits as pymatgen's ``Structure.from_spacegroup`` for these symbols (tested), in milliseconds
    where pymatgen takes ~2.5 s to set up each of Fm-3m and Fd-3m.
    """
    from ase.spacegroup import Spacegroup
    from pymatgen.core import Lattice, Structure

    phase = REFERENCE_PHASES[key]
    sites, kinds = Spacegroup(phase.space_group_number, setting=1).equivalent_sites(
        [list(c) for c in phase.frac_coords])
    lattice = Lattice.from_parameters(*phase.lattice_abc_angstrom, *phase.lattice_angles_deg)
    structure = Structure(lattice, [phase.species[k] for k in kinds], sites)
    assert structure.composition.reduced_formula == phase.formula, (key, structure.composition)
    return structure


def load_reference_set(source: str | Path | Sequence[str],
                       read_files: ReadFiles | None = None) -> list[tuple[str, Structure]]:
    """(id, structure) pairs from built-in names, a structure folder or file, or a structures JSON.

    ``source`` is one of: a list of built-in names; a string of comma-separated names; a path to
    a folder or file of CIF / POSCAR structures or to a ``.json`` file written by
    ``write_structures``. A path is read by ``read_files(path)``, which returns the (id,
    structure) pairs (:func:`matgen.data.importers.structures.reference_structures` does it for
    matgen's formats); built-in names need no reader.

    Raises:
        MatgenError: a name is unknown (and no such file exists), a path is given without
            ``read_files``, or the files give no structure.
    """
    if isinstance(source, (str, Path)) and Path(source).exists():
        if read_files is None:
            raise MatgenError(f"{source} is a file or folder; pass read_files "
                              "(e.g. matgen.data.importers.structures.reference_structures) to read its structures")
        return read_files(Path(source))
    if isinstance(source, Path):
        raise MatgenError(f"{source}: no such structure file or folder")
    names = [n.strip() for n in source.split(",")] if isinstance(source, str) else [str(n) for n in source]
    names = [n for n in names if n]
    if not names:
        raise MatgenError(f"no reference phases given; choose from {', '.join(reference_names())} "
                          "or give a CIF folder or structures JSON file")
    unknown = [n for n in names if n.strip().lower() not in REFERENCE_PHASES]
    if unknown:
        raise MatgenError(f"unknown reference phase {unknown[0]!r} (and no such file or folder); "
                          f"choose from {', '.join(reference_names())}")
    return [(n.strip().lower(), reference_structure(n)) for n in names]


def reference_patterns(two_theta_deg: torch.Tensor, source: str | Path | Sequence[str],
                       instrument: xrd.Instrument | None = None, effects: xrd.SampleEffects | None = None,
                       read_files: ReadFiles | None = None) -> list[xrd.PhasePattern]:
    """The per-cell pattern of each phase of ``source`` on the axis (deg): the basis for a weight-fraction fit.

    ``source`` is read by :func:`load_reference_set` (a path with ``read_files``). Reflections are
    computed at the instrument's Kα1 wavelength over the axis plus :data:`MARGIN_DEG` on both sides.
    """
    instrument = instrument or xrd.Instrument()
    x = torch.as_tensor(two_theta_deg, dtype=torch.float64)
    window = (max(float(x.min()) - MARGIN_DEG, 0.5), min(float(x.max()) + MARGIN_DEG, 179.5))
    phases = []
    for name, structure in load_reference_set(source, read_files):
        refl = xrd.reflections(structure, instrument.wavelength_angstrom, window, name=name)
        phases.append(xrd.PhasePattern(name, xrd.phase_pattern(x, refl, instrument, effects),
                                       refl.density_g_cm3, refl.cell_volume_angstrom3))
    return phases
