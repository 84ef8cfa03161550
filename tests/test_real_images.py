"""Real data (../shared/data): the UHCS spheroidite masks and real CIF collections.

Skipped with a reason when the shared data folder is absent (a fresh clone has none).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from matgen.data.importers import ConditionSource, import_images, read_structures
from matgen.data.importers.structures import load_structures, write_structures
from matgen.errors import MatgenError

PATTERN = "{anneal_temperature_C}C-{anneal_time_h:duration}-{cooling}-{replicate}"
UHCS_PX_PER_UM = 26.0  # PROVENANCE.md: the spheroidite masks are at 26 px/µm


@pytest.fixture(scope="module")
def masks_folder(shared_data) -> Path:
    folder = shared_data / "micrographs" / "uhcs" / "spheroidite-tif" / "labels"
    if not folder.is_dir():
        pytest.skip(f"UHCS spheroidite masks not found at {folder}")
    return folder


@pytest.fixture(scope="module")
def masks(masks_folder):
    return import_images([masks_folder], ConditionSource(name_pattern=PATTERN), pixel_size=1 / UHCS_PX_PER_UM).dataset


def test_all_24_uhcs_masks_are_binary_label_maps(masks):
    assert len(masks) == 24
    assert masks.signal_type == "labels" and np.issubdtype(masks.signals.dtype, np.integer)
    assert masks.signals.shape == (24, 475, 645)
    assert set(np.unique(masks.signals)) == {0, 1}
    assert masks.pixel_size == pytest.approx(1 / 26) and masks.pixel_unit == "um"


def test_uhcs_processing_conditions_from_file_names(masks):
    temperature = masks.condition("anneal_temperature_C")
    time = masks.condition("anneal_time_h")
    assert temperature.unit == "°C" and time.unit == "h"
    assert set(temperature.values) == {800.0, 970.0}
    np.testing.assert_allclose(sorted(set(time.values)), [5 / 60, 3, 8, 24, 85])
    assert set(masks.condition("cooling").labels()) == {"Q"}
    # the 970 °C anneals are exactly the 5-minute ones
    np.testing.assert_array_equal(temperature.values == 970, np.isclose(time.values, 5 / 60))
    row = list(masks.ids).index("800C-85H-Q-3")
    assert temperature.values[row] == 800 and time.values[row] == 85
    assert masks.sources[row] == "800C-85H-Q-3.tif"


def test_cementite_is_a_minority_phase(masks):
    """The masks mark cementite particles (1) in a ferrite matrix (0): a few to ~30 % of the area."""
    fraction = masks.signals.reshape(len(masks), -1).mean(axis=1)
    assert (fraction > 0.005).all() and (fraction < 0.5).all()


def test_uhcs_tiles(masks_folder, masks):
    tiles = import_images([masks_folder], ConditionSource(name_pattern=PATTERN), tile=128,
                          pixel_size=1 / UHCS_PX_PER_UM).dataset
    per_image = (475 // 128) * (645 // 128)  # 3 × 5
    assert tiles.signals.shape == (24 * per_image, 128, 128)
    assert tiles.pixel_size == pytest.approx(1 / 26)
    first = list(tiles.ids).index("800C-24H-Q-1#t2-4")
    np.testing.assert_array_equal(tiles.signals[first], masks.signals[0, 256:384, 512:640])
    assert tiles.condition("anneal_temperature_C").values[first] == 800


def test_uhcs_resized_masks_keep_their_phases(masks_folder):
    half = import_images([masks_folder], resize=(237, 322), pixel_size=1 / UHCS_PX_PER_UM).dataset
    assert half.signals.shape == (24, 237, 322)
    assert set(np.unique(half.signals)) == {0, 1}
    assert half.pixel_size == pytest.approx(645 / 322 / 26)


@pytest.fixture(scope="module")
def dans_folder(shared_data) -> Path:
    folder = shared_data / "structures" / "dans_diffraction"
    if not folder.is_dir():
        pytest.skip(f"Dans_Diffraction structures not found at {folder}")
    return folder


def test_dans_diffraction_cubic_cif_is_reported_by_name(dans_folder, tmp_path):
    """Cubic.cif is a toy: one Co atom in a 1 Å cell (atoms 1 Å apart), refused as unphysical."""
    with pytest.raises(MatgenError, match=r"Cubic\.cif: .*--skip-bad"):
        read_structures([dans_folder])
    result = read_structures([dans_folder], skip_bad=True)
    assert [Path(f).name for f, _ in result.skipped] == ["Cubic.cif"]
    read = dict(result.structures)
    assert len(read) == 31
    assert read["Gold"].composition.reduced_formula == "Au"
    assert read["Gold"].density == pytest.approx(19.3, abs=0.1)  # g/cm³
    assert read["Silicon"].lattice.a == pytest.approx(5.431, abs=0.01)  # Å
    assert read["MnO"].site_properties.get("magmom") is not None  # an mCIF
    back = load_structures(write_structures(tmp_path / "dans.json", result))
    assert [i for i, _ in back.structures] == [i for i, _ in result.structures]
    assert back.skipped == result.skipped


def test_a_sample_of_cod_cifs_reads(shared_data):
    folder = shared_data / "structures" / "cod"
    if not folder.is_dir():
        pytest.skip(f"COD structures not found at {folder}")
    names = ["Al", "Au", "BaTiO3_cubic", "C", "Cu", "Fe", "FeAs", "GaAs", "Ge", "Mg", "Mo", "Ni", "Pb",
             "Pt", "Si", "SiC", "Sn-beta", "Ti", "W", "Zn", "diamond", "vo2-rutile"]
    result = read_structures([folder / f"{name}.cif" for name in names])
    read = dict(result.structures)
    assert sorted(read) == sorted(names) and not result.skipped
    assert read["Cu"].composition.reduced_formula == "Cu"
    assert read["Cu"].lattice.a == pytest.approx(3.61, abs=0.02)
    assert read["Cu"].density == pytest.approx(8.96, abs=0.1)
    assert read["BaTiO3_cubic"].composition.reduced_formula == "BaTiO3"
    assert read["diamond"].density == pytest.approx(3.51, abs=0.03)
