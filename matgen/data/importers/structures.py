"""Crystal structures: CIF / mCIF / POSCAR files -> pymatgen structures -> one JSON file.

Files are read through pymatgen (``CifParser`` for CIF, so one file may hold several data
blocks; ``Poscar`` for VASP files), falling back to ``ase.io.read`` for what pymatgen refuses.
A structure whose fully occupied atoms overlap (closer than half the sum of their atomic radii,
as in a cell written in the wrong unit) is refused as unphysical, and so is a file whose header
disagrees with its content: a CIF's ``_cell_volume`` or ``_chemical_formula_sum`` (hydrogen may be
missing from the sites) against the cell and the sites, a POSCAR's atom counts against its
coordinate lines. Warnings from the parsers
are kept per structure in :attr:`StructureSet.notes`, never printed.

The JSON written by :func:`write_structures` (``format: "matgen-structures"``, version 1)::

    {"format": "matgen-structures", "format_version": 1,
     "structures": [{"id": "cod/NaCl", "formula": "NaCl", "n_sites": 8,
                     "space_group": "Fm-3m", "space_group_number": 225,
                     "lattice_abc_angstrom": [5.64, 5.64, 5.64], "lattice_angles_deg": [90, 90, 90],
                     "volume_angstrom3": 179.4, "density_g_cm3": 2.16,
                     "structure": {... pymatgen Structure.as_dict() ...}}, ...],
     "skipped": [{"file": "bad.cif", "reason": "..."}]}

Magnetic moments (mCIF) are stored as plain [mx, my, mz] lists (µB).
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from matgen.common.files import write_text_atomic
from matgen.common.progress import Progress, no_progress
from matgen.data.importers.common import BadFiles, find_files, row_id
from matgen.errors import MatgenError

if TYPE_CHECKING:
    from pymatgen.core import Structure

STRUCTURE_EXTENSIONS = (".cif", ".mcif", ".vasp", ".poscar")
#: Extension-less file names read as VASP structures.
VASP_NAMES = ("POSCAR", "CONTCAR")
FORMAT_NAME = "matgen-structures"
FORMAT_VERSION = 1
#: Atoms closer than this fraction of the sum of their atomic radii overlap: the structure is refused.
OVERLAP_FRACTION = 0.5
#: Tolerance (Å) for the space-group analysis.
SYMPREC_ANGSTROM = 0.1


class BadStructure(ValueError):
    """A file that gives no usable structure; the message says why."""


@dataclass
class StructureSet:
    """Structures read from files.

    Attributes:
        structures: (id, pymatgen Structure) pairs; the id is the file path relative to the import
            root without extension (``sub/NaCl``), plus ``#k`` for the k-th block of a multi-block CIF.
        skipped: (file, reason) for each file left out.
        notes: (id, message) for parser warnings worth a look (rounded occupancies, ...).
    """

    structures: list[tuple[str, Structure]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.structures)


def read_structures(
    inputs: Sequence[str | Path], skip_bad: bool = False, progress: Progress = no_progress
) -> StructureSet:
    """Every crystal structure in ``inputs`` (a folder, searched recursively, or a list of files).

    Raises:
        MatgenError: an input is missing, nothing is found, or a file does not give a structure
            (unless ``skip_bad``: then it is listed in ``skipped``).
    """
    root, files = find_structure_files(inputs)
    bad = BadFiles(skip_bad)
    result = StructureSet()
    for i, path in enumerate(files):
        try:
            structures, notes = read_structure_file(path)
        except BadStructure as error:
            bad.report(path, str(error))
        else:
            ids = [row_id(root, path)] if len(structures) == 1 else [
                row_id(root, path, str(k)) for k in range(len(structures))]
            result.structures += list(zip(ids, structures))
            result.notes += [(ids[0], note) for note in notes]
        progress(i + 1, len(files), path.name)
    result.skipped = bad.skipped
    if not result.structures:
        raise MatgenError(f"{root}: no structure could be read; {len(bad.skipped)} file(s) were skipped")
    return result


def is_structure_file(path: Path) -> bool:
    """True for a known extension or a VASP name (``POSCAR``, ``CONTCAR``, ``POSCAR_relaxed``...)."""
    upper = path.name.upper()
    return path.suffix.lower() in STRUCTURE_EXTENSIONS or any(upper.startswith(n) for n in VASP_NAMES)


def find_structure_files(inputs: Sequence[str | Path]) -> tuple[Path, list[Path]]:
    """The import root and the sorted structure files under ``inputs`` (see :func:`find_files`)."""
    paths = [Path(p) for p in inputs]
    if len(paths) != 1 or not paths[0].is_dir():
        return find_files(inputs, STRUCTURE_EXTENSIONS, "crystal structures")
    root = paths[0]
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".") and is_structure_file(p))
    if not files:
        looked = ", ".join(STRUCTURE_EXTENSIONS + VASP_NAMES)
        raise MatgenError(f"{root}: no crystal structures found (looked for {looked}); is it the right folder?")
    return root, files


def read_structure_file(path: Path) -> tuple[list[Structure], list[str]]:
    """The structures in one file and the parser warnings.

    pymatgen first; ase when pymatgen raises or finds nothing. Each structure must have sites
    and no overlapping atoms.

    Raises:
        BadStructure: neither parser gives a structure, the structure is unphysical, or the
            file's header disagrees with its content.
    """
    text = _text(path)
    if text is not None and path.suffix.lower() not in (".cif", ".mcif"):
        poscar = poscar_count_problem(text)
        if poscar:
            raise BadStructure(poscar)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            structures = _read_pymatgen(path)
            reason = "" if structures else "no structure found"
        except Exception as error:  # parsers raise many types on bad text
            structures, reason = [], _short(error)
        if not structures:
            structures = _read_ase(path)
    notes = list(dict.fromkeys(str(w.message).strip() for w in caught if str(w.message).strip()))
    if not structures:
        detail = f" ({reason})" if reason else ""
        hint = f"; parser said: {notes[0][:200]}" if notes else ""
        raise BadStructure(f"no crystal structure could be read{detail}{hint}")
    for structure in structures:
        check_structure(structure)
    if text is not None and path.suffix.lower() in (".cif", ".mcif") and len(structures) == 1:
        cif = cif_header_problem(text, structures[0])
        if cif:
            raise BadStructure(cif)
    return structures, notes


def _text(path: Path) -> str | None:
    try:
        return path.read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return None


def _cif_value(text: str, key: str) -> str | None:
    """The value of ``key`` in a one-block CIF (quotes removed), or None when absent or the file has several blocks."""
    if len(re.findall(r"^\s*data_", text, flags=re.M)) != 1:
        return None
    m = re.search(rf"^\s*{key}\s+('([^']*)'|\"([^\"]*)\"|(\S+))", text, flags=re.M)
    return None if m is None else next(g for g in m.groups()[1:] if g is not None).strip()


def cif_header_problem(text: str, structure) -> str | None:
    """Why a one-block CIF's ``_cell_volume`` or ``_chemical_formula_sum`` disagrees with its structure, or None.

    The volume may differ by 1 %; each element's share of the formula by 0.02 (occupancies are
    rounded); hydrogen named in the formula may be missing from the sites (X-rays rarely locate it).
    """
    from pymatgen.core import Composition

    volume = _cif_value(text, "_cell_volume")
    if volume:
        try:
            said = float(re.sub(r"\(\d*\)$", "", volume))
        except ValueError:
            said = None
        cell = float(structure.lattice.volume)
        if said and abs(said - cell) > 0.01 * said:
            return (f"its header says _cell_volume {volume} Å³ but its cell parameters give {cell:.4g} Å³; "
                    "correct the cell or the volume")
    formula = _cif_value(text, "_chemical_formula_sum")
    if not formula or formula == "?":
        return None
    try:
        said = Composition(formula).remove_charges().fractional_composition.as_dict()
    except Exception:
        return None
    sites = structure.composition.remove_charges()
    present = {str(e) for e in sites.elements}
    said = {e: x for e, x in said.items() if e in present or e not in ("H", "D")}
    total = sum(said.values())
    sites = sites.fractional_composition.as_dict()
    if set(said) != set(sites) or any(abs(x / total - sites[e]) > 0.02 for e, x in said.items()):
        return (f"its header says _chemical_formula_sum '{formula}' but its atom sites give "
                f"{structure.composition.reduced_formula}; correct the formula or the sites")
    return None


def poscar_count_problem(text: str) -> str | None:
    """Why a POSCAR's atom counts disagree with the coordinate lines that follow, or None (also when unreadable).

    Coordinates are the lines of three numbers after ``Direct``/``Cartesian``, up to a blank line
    (velocities may follow it).
    """
    lines = text.splitlines()
    try:
        at = 6 if all(t.isdigit() for t in lines[6].split()) and not lines[5].split()[0].isdigit() else 5
        counts = [int(t) for t in lines[at].split()]
    except (IndexError, ValueError):
        return None
    at += 1
    if at < len(lines) and lines[at].strip()[:1].lower() == "s":  # Selective dynamics
        at += 1
    if at >= len(lines) or lines[at].strip()[:1].lower() not in ("d", "c", "k"):
        return None
    found = 0
    for line in lines[at + 1:]:
        fields = line.split()
        try:
            [float(v) for v in fields[:3]]
        except ValueError:
            break
        if len(fields) < 3:
            break
        found += 1
    if found != sum(counts):
        return (f"its header says {sum(counts)} atoms ({' '.join(map(str, counts))}) but {found} coordinate lines "
                "follow; the file may be cut short or edited: write it again")
    return None


def _read_pymatgen(path: Path) -> list:
    from pymatgen.core import Structure
    from pymatgen.io.cif import CifParser
    from pymatgen.io.vasp import Poscar

    if path.suffix.lower() in (".cif", ".mcif"):
        return list(CifParser(path).parse_structures(primitive=False))
    if path.suffix.lower() in (".vasp", ".poscar") or is_structure_file(path):
        return [Poscar.from_file(path, check_for_potcar=False).structure]
    return [Structure.from_file(path)]


def _read_ase(path: Path) -> list:
    """Structures through ``ase.io.read`` (all frames), or [] when ase cannot read the file."""
    try:
        import ase.io
        from pymatgen.io.ase import AseAtomsAdaptor

        fmt = "vasp" if path.name.upper().startswith(VASP_NAMES) or path.suffix.lower() == ".poscar" else None
        frames = ase.io.read(path, index=":", format=fmt)
        return [AseAtomsAdaptor.get_structure(atoms) for atoms in frames if len(atoms)]
    except Exception:
        return []


def _short(error: Exception) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text[:160]}" if text else type(error).__name__


def check_structure(structure) -> None:
    """Raise :class:`BadStructure` for a structure with no sites, a degenerate cell or overlapping atoms."""
    if len(structure) == 0:
        raise BadStructure("the structure has no atom sites")
    volume = structure.lattice.volume
    if not (np.isfinite(volume) and volume > 1e-6) or not np.isfinite(structure.frac_coords).all():
        raise BadStructure(f"degenerate cell (volume {volume:g} Å³) or non-finite coordinates")
    clash = overlapping_atoms(structure)
    if clash is not None:
        a, b, distance, limit = clash
        raise BadStructure(
            f"atoms {a} and {b} are {distance:.2f} Å apart, closer than half their radii sum ({limit:.2f} Å): "
            f"unphysical (cell {structure.lattice.a:g}×{structure.lattice.b:g}×{structure.lattice.c:g} Å; "
            "is the cell in ångström?)"
        )


def overlapping_atoms(structure, fraction: float = OVERLAP_FRACTION) -> tuple[str, str, float, float] | None:
    """The first pair of fully occupied sites closer than ``fraction`` × (r_a + r_b), else None.

    Radii are pymatgen's empirical atomic radii (Å). Partly occupied sites are not checked: split
    positions of a disordered atom may sit close together.

    Returns:
        (species a, species b, distance Å, limit Å) of the offending pair, or None.
    """
    radii = np.array([_radius(site) for site in structure])
    known = radii[np.isfinite(radii)]
    if known.size == 0:
        return None
    centers, points, _, distances = structure.get_neighbor_list(fraction * 2 * known.max())
    for c, p, d in zip(centers, points, distances):
        limit = fraction * (radii[c] + radii[p])
        if np.isfinite(limit) and d < limit:
            return str(structure[c].specie), str(structure[p].specie), float(d), float(limit)
    return None


def _radius(site) -> float:
    """Atomic radius (Å) of a fully occupied site; NaN for partly occupied or unknown species."""
    if not site.is_ordered:
        return float("nan")
    element = getattr(site.specie, "element", site.specie)
    radius = getattr(element, "atomic_radius", None)
    return float(radius) if radius is not None else float("nan")


# --- the JSON file --------------------------------------------------------------------------------


def structure_summary(structure_id: str, structure) -> dict:
    """One JSON entry: id, formula, space group (symprec 0.1 Å; None if the analysis fails),
    lattice lengths (Å) and angles (deg), volume (Å³), density (g/cm³) and the full structure."""
    symbol, number = space_group(structure)
    return {
        "id": structure_id,
        "formula": structure.composition.reduced_formula,
        "n_sites": len(structure),
        "space_group": symbol,
        "space_group_number": number,
        "lattice_abc_angstrom": [float(v) for v in structure.lattice.abc],
        "lattice_angles_deg": [float(v) for v in structure.lattice.angles],
        "volume_angstrom3": float(structure.volume),
        "density_g_cm3": float(structure.density),
        "structure": structure.as_dict(),
    }


def space_group(structure, symprec: float = SYMPREC_ANGSTROM) -> tuple[str | None, int | None]:
    """(Hermann–Mauguin symbol, number) from spglib through pymatgen, or (None, None) on failure."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # spglib's deprecation chatter
        try:
            analyzer = SpacegroupAnalyzer(structure, symprec=symprec)
            return analyzer.get_space_group_symbol(), int(analyzer.get_space_group_number())
        except Exception:  # spglib fails on some disordered or odd cells
            return None, None


def write_structures(path: str | Path, structure_set: StructureSet) -> Path:
    """Write ``structure_set`` as a ``matgen-structures`` JSON file (atomically); returns the path."""
    document = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "structures": [structure_summary(i, s) for i, s in structure_set.structures],
        "skipped": [{"file": f, "reason": r} for f, r in structure_set.skipped],
        "notes": [{"id": i, "message": m} for i, m in structure_set.notes],
    }
    return write_text_atomic(path, json.dumps(document, indent=1, default=_plain))


def _plain(value):
    """JSON form of what pymatgen leaves in ``as_dict()``: Magmom -> [mx, my, mz], numpy -> lists."""
    if hasattr(value, "moment"):
        return [float(v) for v in np.asarray(value.moment)]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "as_dict"):
        return value.as_dict()
    raise TypeError(f"cannot store {type(value).__name__} in JSON")


def load_structures(path: str | Path) -> StructureSet:
    """The structures of a file written by :func:`write_structures`.

    Raises:
        MatgenError: the file is missing, not valid JSON, not a matgen structures file, written
            by a newer matgen, or holds a broken structure entry.
    """
    from pymatgen.core import Structure

    document = _read_document(Path(path))
    result = StructureSet(
        skipped=[(e["file"], e["reason"]) for e in document.get("skipped", [])],
        notes=[(e["id"], e["message"]) for e in document.get("notes", [])],
    )
    for k, entry in enumerate(document.get("structures", [])):
        try:
            result.structures.append((str(entry["id"]), Structure.from_dict(entry["structure"])))
        except Exception as error:
            raise MatgenError(
                f"{path}: structure entry {k} is broken ({_short(error)}); re-create the file with matgen"
            ) from None
    return result


def reference_structures(path: str | Path) -> list[tuple[str, Structure]]:
    """(id, structure) pairs of a structures JSON (``.json``) or of a CIF / POSCAR file or folder.

    A ``.json`` file is read by :func:`load_structures` (its ids), anything else by
    :func:`read_structures` (ids from the file paths). This is the ``read_files`` that
    :func:`matgen.physics.references.load_reference_set` takes for a path.

    Raises:
        MatgenError: the path is missing or gives no structure.
    """
    path = Path(path)
    if path.is_file() and path.suffix.lower() == ".json":
        return load_structures(path).structures
    return read_structures([path]).structures


def _read_document(path: Path) -> dict:
    if not path.is_file():
        raise MatgenError(f"{path}: no such structures file; check the path")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MatgenError(f"{path}: not a valid JSON file ({_short(error)}); re-create it with matgen") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
        raise MatgenError(f"{path}: not a matgen structures file (no \"format\": \"{FORMAT_NAME}\")")
    version = document.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise MatgenError(
            f"{path}: format_version {version} is newer than this matgen reads ({FORMAT_VERSION}); upgrade matgen"
        )
    return document
