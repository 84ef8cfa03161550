"""Structure reader on CIF/POSCAR files written here: formula, lattice, density, JSON round trip."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from matgen.data.importers import read_structures, write_structures
from matgen.data.importers.structures import (
    FORMAT_VERSION, StructureSet, load_structures, overlapping_atoms, space_group,
)
from matgen.errors import MatgenError

AVOGADRO = 6.02214076e23
NACL_A_ANGSTROM = 5.64


FCC_FRAC = [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]


def nacl() -> Structure:
    """Rock salt, conventional cell: Na on the fcc sites, Cl shifted by (½, ½, ½)."""
    cl = [[(x + 0.5) % 1 for x in site] for site in FCC_FRAC]
    return Structure(Lattice.cubic(NACL_A_ANGSTROM), ["Na"] * 4 + ["Cl"] * 4, FCC_FRAC + cl)


def copper() -> Structure:
    return Structure(Lattice.cubic(3.615), ["Cu"] * 4, FCC_FRAC)


def silicon() -> Structure:
    """Diamond cubic: the fcc sites plus the same shifted by (¼, ¼, ¼)."""
    shifted = [[x + 0.25 for x in site] for site in FCC_FRAC]
    return Structure(Lattice.cubic(5.431), ["Si"] * 8, FCC_FRAC + shifted)


@pytest.fixture
def folder(tmp_path) -> Path:
    """NaCl.cif and Cu.cif, plus sub/POSCAR (Si) and sub/si.vasp."""
    nacl().to(filename=str(tmp_path / "NaCl.cif"))
    copper().to(filename=str(tmp_path / "Cu.cif"))
    (tmp_path / "sub").mkdir()
    silicon().to(filename=str(tmp_path / "sub" / "POSCAR"), fmt="poscar")
    silicon().to(filename=str(tmp_path / "sub" / "si.vasp"), fmt="poscar")
    (tmp_path / "sub" / "readme.txt").write_text("not a structure")
    return tmp_path


def by_id(structure_set: StructureSet) -> dict[str, Structure]:
    return dict(structure_set.structures)


def test_reads_cif_and_poscar_files(folder):
    read = by_id(read_structures([folder]))
    assert sorted(read) == ["Cu", "NaCl", "sub/POSCAR", "sub/si"]
    assert read["NaCl"].composition.reduced_formula == "NaCl" and len(read["NaCl"]) == 8
    assert read["NaCl"].lattice.abc == pytest.approx((NACL_A_ANGSTROM,) * 3)
    assert read["NaCl"].lattice.angles == pytest.approx((90, 90, 90))
    assert read["sub/POSCAR"].composition.reduced_formula == "Si" and len(read["sub/POSCAR"]) == 8


def test_nacl_density_is_four_formula_units_per_cell(folder):
    """ρ = 4 M(NaCl) / (N_A a³): 4 × 58.44 g/mol / (6.022e23 × (5.64e-8 cm)³) ≈ 2.16 g/cm³."""
    structure = by_id(read_structures([folder / "NaCl.cif"]))["NaCl"]
    expected = 4 * (22.98977 + 35.453) / (AVOGADRO * (NACL_A_ANGSTROM * 1e-8) ** 3)
    assert structure.density == pytest.approx(expected, rel=1e-4)
    assert structure.density == pytest.approx(2.16, abs=0.01)


def test_progress_is_called_per_file(folder):
    seen = []
    read_structures([folder], progress=lambda i, n, name: seen.append((i, n, name)))
    assert [s[:2] for s in seen] == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_write_and_load_round_trip(folder, tmp_path):
    structure_set = read_structures([folder])
    path = write_structures(tmp_path / "out" / "structures.json", structure_set)
    document = json.loads(path.read_text())
    assert document["format"] == "matgen-structures" and document["format_version"] == FORMAT_VERSION
    entry = {e["id"]: e for e in document["structures"]}["NaCl"]
    assert entry["formula"] == "NaCl" and entry["space_group"] == "Fm-3m" and entry["space_group_number"] == 225
    assert entry["lattice_abc_angstrom"] == pytest.approx([NACL_A_ANGSTROM] * 3)
    assert entry["lattice_angles_deg"] == pytest.approx([90, 90, 90])
    assert entry["density_g_cm3"] == pytest.approx(2.16, abs=0.01)
    assert {e["id"]: e for e in document["structures"]}["sub/si"]["space_group"] == "Fd-3m"
    back = load_structures(path)
    assert [i for i, _ in back.structures] == [i for i, _ in structure_set.structures]
    for (_, original), (_, loaded) in zip(structure_set.structures, back.structures):
        assert loaded == original
        np.testing.assert_allclose(loaded.frac_coords, original.frac_coords)


def test_magnetic_moments_survive_the_json(tmp_path):
    from pymatgen.electronic_structure.core import Magmom

    structure = copper()
    structure.add_site_property("magmom", [Magmom([0.0, 0.0, 1.5])] * len(structure))
    path = write_structures(tmp_path / "m.json", StructureSet([("Cu", structure)]))
    loaded = load_structures(path).structures[0][1]
    np.testing.assert_allclose(np.asarray(loaded.site_properties["magmom"], float), [[0, 0, 1.5]] * 4)


def test_garbage_cif_is_named_and_skip_bad_lists_it(folder):
    (folder / "garbage.cif").write_text("this is not a crystallographic information file\n")
    with pytest.raises(MatgenError, match=r"garbage\.cif: no crystal structure could be read.*--skip-bad"):
        read_structures([folder])
    result = read_structures([folder], skip_bad=True)
    assert len(result) == 4
    assert [Path(f).name for f, _ in result.skipped] == ["garbage.cif"]


def test_overlapping_atoms_are_refused(tmp_path):
    """Cu in a 1 Å cubic cell: neighbours 1 Å apart, below half of 2 × 1.35 Å."""
    squashed = Structure(Lattice.cubic(1.0), ["Cu"], [[0, 0, 0]])
    assert overlapping_atoms(squashed) == ("Cu", "Cu", pytest.approx(1.0), pytest.approx(1.35))
    assert overlapping_atoms(copper()) is None
    squashed.to(filename=str(tmp_path / "tiny.cif"))
    with pytest.raises(MatgenError, match=r"tiny\.cif: atoms Cu and Cu are 1\.00 Å apart"):
        read_structures([tmp_path])


def test_ase_reads_what_pymatgen_refuses(tmp_path):
    import ase.io
    from pymatgen.io.ase import AseAtomsAdaptor

    ase.io.write(tmp_path / "nacl.extxyz", AseAtomsAdaptor.get_atoms(nacl()))
    read = by_id(read_structures([tmp_path / "nacl.extxyz"]))
    assert read["nacl"].composition.reduced_formula == "NaCl"
    assert read["nacl"].density == pytest.approx(2.16, abs=0.01)


def test_space_group_failure_gives_none():
    assert space_group(nacl()) == ("Fm-3m", 225)
    assert space_group(object()) == (None, None)


def test_missing_and_empty_inputs(tmp_path):
    with pytest.raises(MatgenError, match=r"nowhere: no such file or folder"):
        read_structures([tmp_path / "nowhere"])
    (tmp_path / "notes.txt").write_text("nothing")
    with pytest.raises(MatgenError, match=r"no crystal structures found \(looked for \.cif"):
        read_structures([tmp_path])


def test_load_refuses_missing_corrupt_foreign_and_newer_files(tmp_path):
    with pytest.raises(MatgenError, match=r"absent\.json: no such structures file"):
        load_structures(tmp_path / "absent.json")
    (tmp_path / "corrupt.json").write_text('{"format": "matgen-structures", ')
    with pytest.raises(MatgenError, match=r"corrupt\.json: not a valid JSON file"):
        load_structures(tmp_path / "corrupt.json")
    (tmp_path / "other.json").write_text('{"format": "something-else", "format_version": 1}')
    with pytest.raises(MatgenError, match=r"other\.json: not a matgen structures file"):
        load_structures(tmp_path / "other.json")
    (tmp_path / "newer.json").write_text('{"format": "matgen-structures", "format_version": 99, "structures": []}')
    with pytest.raises(MatgenError, match=r"format_version 99 is newer.*upgrade matgen"):
        load_structures(tmp_path / "newer.json")
    (tmp_path / "broken.json").write_text(
        '{"format": "matgen-structures", "format_version": 1, "structures": [{"id": "x", "structure": {}}]}')
    with pytest.raises(MatgenError, match=r"broken\.json: structure entry 0 is broken"):
        load_structures(tmp_path / "broken.json")


@pytest.mark.parametrize("old, new, message", [
    ("_cell_volume   179.40614400", "_cell_volume   45.2",
     "its header says _cell_volume 45.2 Å³ but its cell parameters give 179.4 Å³; correct the cell or the volume"),
    ("_chemical_formula_sum   'Na4 Cl4'", "_chemical_formula_sum   'Na2 Cl6'",
     "its header says _chemical_formula_sum 'Na2 Cl6' but its atom sites give NaCl; correct the formula or the sites"),
    ("_chemical_formula_sum   'Na4 Cl4'", "_chemical_formula_sum   'Na4 Cl4 O2'",
     "its header says _chemical_formula_sum 'Na4 Cl4 O2' but its atom sites give NaCl"),
])
def test_a_cif_header_that_disagrees_with_its_content_is_refused(tmp_path, old, new, message):
    text = nacl().to(fmt="cif")
    assert old in text
    (tmp_path / "NaCl.cif").write_text(text.replace(old, new))
    copper().to(filename=str(tmp_path / "Cu.cif"))
    with pytest.raises(MatgenError, match=r"NaCl\.cif: " + re.escape(message)):
        read_structures([tmp_path])
    result = read_structures([tmp_path], skip_bad=True)
    assert sorted(by_id(result)) == ["Cu"] and "its header says" in result.skipped[0][1]


def test_hydrogen_missing_from_the_sites_of_a_cif_is_accepted(tmp_path):
    text = nacl().to(fmt="cif").replace("_chemical_formula_sum   'Na4 Cl4'", "_chemical_formula_sum   'H2 Na4 Cl4'")
    (tmp_path / "NaCl.cif").write_text(text)
    assert len(read_structures([tmp_path])) == 1


def test_a_poscar_whose_counts_disagree_with_its_coordinates_is_refused(tmp_path):
    lines = silicon().to(fmt="poscar").splitlines()
    (tmp_path / "POSCAR").write_text("\n".join(lines[:-2]) + "\n")  # cut short: 6 of 8 coordinate lines
    with pytest.raises(MatgenError, match=r"POSCAR: its header says 8 atoms \(8\) but 6 coordinate lines follow; "
                                          r"the file may be cut short"):
        read_structures([tmp_path])
    (tmp_path / "POSCAR").write_text("\n".join(lines + ["0.1 0.1 0.1"]) + "\n")  # one atom more than it says
    with pytest.raises(MatgenError, match=r"POSCAR: its header says 8 atoms \(8\) but 9 coordinate lines follow"):
        read_structures([tmp_path])
    (tmp_path / "POSCAR").write_text("\n".join(lines + ["", "0 0 0"]) + "\n")  # a velocity block after a blank
    assert len(read_structures([tmp_path])) == 1
