"""Spectrum importers on real lab files (../shared/data; skipped when absent), checked as a scientist would."""

import csv
from collections import Counter

import numpy as np
import pytest

from matgen import data
from matgen.data.importers.common import ConditionSource
from matgen.data.importers.gatan import read_dm, read_hspy
from matgen.data.importers.msa import is_emsa, read_msa
from matgen.data.importers.spectra import import_spectra
from matgen.data.importers.xrdml import read_xrdml
from matgen.errors import MatgenError

CU_KALPHA1_ANGSTROM = 1.5406
#: The quartz A1 Si-O-Si bending band (cm-1).
QUARTZ_BAND_CM1 = 464.0


@pytest.fixture(scope="module")
def rruff(shared_data):
    folder = shared_data / "raman_rruff"
    table = folder / "labels.csv"
    return folder, table, import_spectra([folder / "spectra"], source=ConditionSource(table=table)).dataset


def test_rruff_imports_all_240_with_their_labels(rruff):
    _, table, ds = rruff
    with table.open(encoding="utf-8-sig") as f:
        expected = Counter(row["mineral"] for row in csv.DictReader(f))
    assert ds.kind == "raman" and ds.signals.shape == (240, 1000)
    assert (ds.axis.name, ds.axis.unit) == ("raman_shift", "cm-1")
    np.testing.assert_array_equal(ds.axis.values, np.arange(200.0, 1200.0))
    got = Counter(ds.conditions["mineral"].labels())
    assert got == expected and len(got) == 27 and got["Quartz"] == 15
    assert ds.conditions["laser_nm"].unit == "nm"
    assert set(np.unique(ds.conditions["laser_nm"].values)) <= {514.0, 532.0, 780.0, 785.0}


def test_quartz_main_band_is_at_464(rruff):
    _, _, ds = rruff
    quartz = ds.signals[ds.conditions["mineral"].labels() == "Quartz"]
    band = (ds.axis.values >= 400) & (ds.axis.values <= 520)
    shift = ds.axis.values[band]
    assert shift[np.argmax(quartz.mean(axis=0)[band])] == pytest.approx(QUARTZ_BAND_CM1, abs=3)
    for spectrum in quartz:
        assert shift[np.argmax(spectrum[band])] == pytest.approx(QUARTZ_BAND_CM1, abs=3)


def test_rruff_without_table_takes_mineral_from_headers(rruff):
    folder, _, with_table = rruff
    ds = import_spectra([folder / "spectra"]).dataset
    assert list(ds.conditions["mineral"].labels()) == list(with_table.conditions["mineral"].labels())
    assert ds.conditions["laser_nm"].unit == "nm"


def test_alab_xrdml_scans_are_cu_kalpha_in_degrees(shared_data):
    files = sorted((shared_data / "xrd_alab").glob("*/*.xrdml"))
    assert len(files) >= 40
    for path in files:
        (record,) = read_xrdml(path)
        assert (record.kind, record.axis_name, record.axis_unit) == ("xrd", "two_theta", "deg")
        assert record.wavelength_angstrom == pytest.approx(CU_KALPHA1_ANGSTROM, abs=1e-4)
        assert 9.5 < record.x[0] < 10.5 and 99.5 < record.x[-1] < 100.5
        assert len(record.x) == len(record.y) > 2000 and np.all(np.diff(record.x) > 0)
        assert np.all(record.y >= 0)


def test_alab_folder_resamples_onto_the_overlap(shared_data):
    ds = import_spectra([shared_data / "xrd_alab"]).dataset
    assert ds.kind == "xrd" and ds.axis.wavelength_angstrom == pytest.approx(CU_KALPHA1_ANGSTROM, abs=1e-4)
    assert ds.axis.values[0] == pytest.approx(10.0094, abs=1e-3) and ds.axis.values[-1] == pytest.approx(99.9944, abs=1e-3)


def test_exspy_lowloss_zero_loss_peak_at_zero(shared_data):
    (record,) = read_msa(shared_data / "eels/exspy_hyperspy_testdata/lowloss_spectrum.msa")
    assert (record.kind, record.axis_unit, len(record.x)) == ("eels", "eV", 2048)
    assert record.x[0] == pytest.approx(-40.0) and np.diff(record.x) == pytest.approx(0.2)
    assert abs(record.x[np.argmax(record.y)]) < 1.0


def test_eelsdb_files_read_one_by_one(shared_data):
    folder = shared_data / "eels/eelsdb_nomad_tests"
    files = sorted(folder.rglob("data.msa"))
    assert len(files) == 13
    emsa = 0
    for path in files:
        (record,) = read_msa(path)
        assert len(record.x) > 200 and np.isfinite(record.y).all()
        emsa += is_emsa(path.read_text(encoding="latin-1"))
    assert emsa == 6  # 7 are plain two-column text
    (test1,) = read_msa(folder / "Test1/data.msa")  # Al K-edge X-ray absorption, 1555-1600 eV
    assert test1.x[0] == pytest.approx(1555.0) and test1.x[-1] == pytest.approx(1600.0)


def test_eelsdb_folder_ranges_do_not_overlap(shared_data):
    with pytest.raises(MatgenError, match=r"do not overlap: .*/data.msa covers .* but .*/data.msa covers"):
        import_spectra([shared_data / "eels/eelsdb_nomad_tests"], kind="eels", skip_bad=True)


def test_nmc_spectrum_image_gives_one_row_per_pixel(shared_data, tmp_path):
    path = shared_data / "eels/nmc_multimodal/EELS/TM/TM+O EELS Spectrum Image.dm3"
    records = read_dm(path)
    assert len(records) == 42 and all(len(r.x) == 2048 for r in records)
    assert records[0].x[0] == pytest.approx(440.0, abs=1e-3) and np.diff(records[0].x) == pytest.approx(0.3)
    assert records[-1].part == "y1x20" and set(records[-1].position) == {"y_um", "x_um"}
    ds = import_spectra([path]).dataset
    assert ds.kind == "eels" and ds.signals.shape == (42, 2048)
    assert ds.conditions["x_um"].role == "meta" and ds.conditions["x_um"].unit == "µm"
    assert len(set(zip(ds.conditions["x_um"].values, ds.conditions["y_um"].values))) == 42
    back = data.read(data.write(tmp_path / "si.h5", ds))
    np.testing.assert_array_equal(back.signals, ds.signals)
    np.testing.assert_array_equal(back.conditions["x_um"].values, ds.conditions["x_um"].values)
    assert list(back.ids) == list(ds.ids) and back.axis.matches(ds.axis)


def test_adf_image_is_refused(shared_data):
    with pytest.raises(MatgenError, match="ADF Image.dm3: holds an image, not a spectrum"):
        read_dm(shared_data / "eels/nmc_multimodal/EELS/TM/ADF Image.dm3")


def test_cr_hspy_core_loss(shared_data):
    (record,) = read_hspy(shared_data / "eels/exspy_hyperspy_testdata/Cr_L_cl.hspy")
    assert (record.kind, record.axis_unit, len(record.x)) == ("eels", "eV", 400)
    assert record.x[0] == pytest.approx(560.0)
