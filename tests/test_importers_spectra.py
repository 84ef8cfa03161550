"""Spectrum readers, resampling and the import pipeline, on small files written here."""

import re
from pathlib import Path

import numpy as np
import pytest

from matgen import data
from matgen.data.conditions import ColumnTyping
from matgen.data.importers.common import ConditionSource
from matgen.data.importers.msa import read_msa
from matgen.data.importers.spectra import SPECTRUM_READERS, import_spectra, spectrum_readers
from matgen.data.importers.text import parse_text, read_text
from matgen.data.importers.xrdml import parse_xrdml, read_xrdml
from matgen.data.resample import common_axis, resample
from matgen.errors import MatgenError

RRUFF = "##NAMES=Albite\n##RRUFFID=R040068\n##LASER_WAVELENGTH=514\n{rows}##END=\n"


def _rows(x, y, sep=", ") -> str:
    return "".join(f"{a:g}{sep}{b:g}\n" for a, b in zip(x, y))


def _peak(x, centre, width=4.0):
    return np.exp(-0.5 * ((x - centre) / width) ** 2) + 0.01


def _write_raman(folder: Path, name: str, centre: float, x=None) -> Path:
    x = np.arange(200.0, 600.0) if x is None else x
    path = folder / name
    path.write_text(RRUFF.format(rows=_rows(x, _peak(x, centre))))
    return path


# ---------------------------------------------------------------- text


def test_rruff_text_round_trips_values_and_metadata(tmp_path):
    x = np.arange(200.0, 210.0)
    y = np.linspace(0.1, 1.0, 10)
    path = tmp_path / "Albite__R040068__Raman__514__processed.txt"
    path.write_text(RRUFF.format(rows=_rows(x, y)))
    (record,) = read_text(path)
    np.testing.assert_allclose(record.x, x)
    np.testing.assert_allclose(record.y, y)
    assert record.metadata == {"mineral": "Albite", "rruff_id": "R040068", "laser_nm": "514"}
    assert (record.kind, record.axis_name, record.axis_unit) == ("raman", "raman_shift", "cm-1")


@pytest.mark.parametrize("sep", [",", "\t", " ", "   ", ";", ", "])
def test_text_delimiters(sep):
    record = parse_text("x" + sep + "y\n" + _rows([1.5, 2.5, 3.5], [10, 20, 30.25], sep))
    np.testing.assert_allclose(record.x, [1.5, 2.5, 3.5])
    np.testing.assert_allclose(record.y, [10, 20, 30.25])


def test_semicolon_with_decimal_comma_and_bom_header():
    record = parse_text("\ufeffColumn2;Column3\n1,5;2,25\n2,5;3,5\n")
    np.testing.assert_allclose(record.x, [1.5, 2.5])
    np.testing.assert_allclose(record.y, [2.25, 3.5])
    assert record.kind is None and record.axis_unit is None


def test_xye_error_column_is_ignored(tmp_path):
    path = tmp_path / "scan.xye"
    path.write_text("# 2theta counts esd\n10.0 100 10\n10.02 121 11\n10.04 144 12\n")
    (record,) = read_text(path)
    np.testing.assert_allclose(record.y, [100, 121, 144])


def test_text_garbage_is_refused_with_the_file_name(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("this is not\na spectrum at all\n")
    with pytest.raises(MatgenError, match=r"notes\.txt: no two-column numeric data"):
        read_text(path)


def test_text_line_inside_the_data_is_named():
    with pytest.raises(MatgenError, match="line 3"):
        parse_text("1 2\n2 3\noops here\n4 5\n")


# ---------------------------------------------------------------- xrdml

XRDML = """\ufeff<?xml version="1.0"?>
<xrdMeasurements xmlns="http://www.xrdml.com/XRDMeasurement/2.3">
 <xrdMeasurement measurementType="Scan">
  <usedWavelength intended="K-Alpha 1">
   <kAlpha1 unit="Angstrom">1.5405980</kAlpha1>
   <kAlpha2 unit="Angstrom">1.5444260</kAlpha2>
   <ratioKAlpha2KAlpha1>0.5000</ratioKAlpha2KAlpha1>
  </usedWavelength>
  {scans}
 </xrdMeasurement>
</xrdMeasurements>
"""
SCAN = """<scan appendNumber="0"><dataPoints>
   <positions axis="2Theta" unit="deg"><startPosition>{start}</startPosition><endPosition>{end}</endPosition></positions>
   <positions axis="Omega" unit="deg"><startPosition>5</startPosition><endPosition>10</endPosition></positions>
   <commonCountingTime unit="seconds">12.5</commonCountingTime>
   <counts unit="counts">{counts}</counts>
  </dataPoints></scan>"""


def _xrdml(start=10.0, end=20.0, counts=(1, 2, 3, 4, 5, 6), scans=1) -> str:
    scan = SCAN.format(start=start, end=end, counts=" ".join(str(c) for c in counts))
    return XRDML.format(scans=scan * scans)


def test_xrdml_grid_wavelength_and_metadata(tmp_path):
    path = tmp_path / "mix.xrdml"
    path.write_bytes(_xrdml().encode("utf-8"))
    (record,) = read_xrdml(path)
    np.testing.assert_allclose(record.x, [10, 12, 14, 16, 18, 20])
    np.testing.assert_allclose(record.y, [1, 2, 3, 4, 5, 6])
    assert record.wavelength_angstrom == pytest.approx(1.540598)
    assert (record.kind, record.axis_name, record.axis_unit, record.signal_unit) == ("xrd", "two_theta", "deg", "counts")
    assert record.metadata == {"kalpha2_angstrom": "1.5444260", "kalpha2_ratio": "0.5000", "counting_time_s": "12.5"}


def test_xrdml_list_positions_and_intensities():
    text = XRDML.format(scans="""<scan><dataPoints>
      <positions axis="2Theta" unit="deg"><listPositions>10 10.5 11.5 12 13</listPositions></positions>
      <intensities unit="counts">5 4 3 2 1</intensities></dataPoints></scan>""")
    (record,) = parse_xrdml(text)
    np.testing.assert_allclose(record.x, [10, 10.5, 11.5, 12, 13])
    np.testing.assert_allclose(record.y, [5, 4, 3, 2, 1])


def test_xrdml_several_scans_are_parts():
    records = parse_xrdml(_xrdml(scans=2))
    assert [r.part for r in records] == ["scan1", "scan2"]


def test_xrdml_not_xml_is_refused(tmp_path):
    path = tmp_path / "broken.xrdml"
    path.write_text("<xrdMeasurements><scan>")
    with pytest.raises(MatgenError, match=r"broken\.xrdml: not valid XML"):
        read_xrdml(path)


# ---------------------------------------------------------------- msa

EMSA = """#FORMAT      : EMSA/MAS Spectral Data File
#VERSION     : 1.0
#TITLE       : test
#NPOINTS     : 6.
#NCOLUMNS    : 1.
#XUNITS      : eV
#YUNITS      : Counts
#DATATYPE    : Y
#XPERCHAN    : 0.5
#OFFSET      : -1.0
#SIGNALTYPE  : ELS
#SPECTRUM    : Spectral Data Starts Here
10
20
30
40
50
60
#ENDOFDATA   :
"""


def test_emsa_y_datatype(tmp_path):
    path = tmp_path / "ll.msa"
    path.write_text(EMSA)
    (record,) = read_msa(path)
    np.testing.assert_allclose(record.x, [-1, -0.5, 0, 0.5, 1, 1.5])
    np.testing.assert_allclose(record.y, [10, 20, 30, 40, 50, 60])
    assert (record.kind, record.axis_name, record.axis_unit) == ("eels", "energy_loss", "eV")


def test_emsa_with_a_bare_spectrum_line(tmp_path):
    path = tmp_path / "bare.msa"
    path.write_text(EMSA.replace("#SPECTRUM    : Spectral Data Starts Here", "#SPECTRUM    :"))
    (record,) = read_msa(path)
    np.testing.assert_allclose(record.x, [-1, -0.5, 0, 0.5, 1, 1.5])
    np.testing.assert_allclose(record.y, [10, 20, 30, 40, 50, 60])


def test_emsa_xy_datatype_keeps_the_x_column(tmp_path):
    text = EMSA.replace("Y\n#XPERCHAN", "XY\n#XPERCHAN")
    body = "".join(f"{x}, {y}\n" for x, y in zip([-1, -0.5, 0.01, 0.5, 1, 1.5], [10, 20, 30, 40, 50, 60]))
    text = text.split("#SPECTRUM")[0] + "#SPECTRUM    :\n" + body + "#ENDOFDATA   :\n"
    path = tmp_path / "xy.msa"
    path.write_text(text)
    (record,) = read_msa(path)
    np.testing.assert_allclose(record.x, [-1, -0.5, 0.01, 0.5, 1, 1.5])
    np.testing.assert_allclose(record.y, [10, 20, 30, 40, 50, 60])


def test_plain_two_column_msa(tmp_path):
    path = tmp_path / "plain.msa"
    path.write_text("424\t1972253.5\n424.25\t1973433\n424.5\t1968742.4\n")
    (record,) = read_msa(path)
    np.testing.assert_allclose(record.x, [424, 424.25, 424.5])
    assert record.kind is None


# ---------------------------------------------------------------- resample


def test_resample_reproduces_linear_data():
    x = np.linspace(0, 10, 101)
    grid = np.linspace(1, 9, 37)
    np.testing.assert_allclose(resample(x, 3 * x + 2, grid), 3 * grid + 2, rtol=1e-12)


def test_resample_sorts_and_averages_duplicates():
    out = resample(np.array([2.0, 0.0, 1.0, 1.0]), np.array([2.0, 0.0, 0.0, 2.0]), np.array([0.0, 1.0, 2.0]))
    np.testing.assert_allclose(out, [0, 1, 2])


def test_resample_keeps_a_peak_position():
    x = np.linspace(200, 1200, 5001)
    grid = np.linspace(200, 1200, 1001)
    out = resample(x, _peak(x, 464.3), grid)
    assert grid[np.argmax(out)] == pytest.approx(464.3, abs=1.0)


def test_downsampling_averages_instead_of_aliasing():
    x = np.arange(1000.0)
    y = np.where(np.arange(1000) % 2 == 0, 0.0, 1.0)  # Nyquist-frequency noise
    grid = np.linspace(50, 950, 10)
    np.testing.assert_allclose(resample(x, y, grid), 0.5, atol=0.02)


def test_common_axis_default_is_the_overlap_at_the_densest_sampling():
    grid = common_axis({"a": np.linspace(0, 10, 11), "b": np.linspace(5, 20, 151)})
    assert (grid[0], grid[-1], len(grid)) == (5.0, 10.0, 51)


def test_common_axis_keeps_a_shared_grid_and_honours_range_and_points():
    x = np.arange(200.0, 300.0)
    assert np.array_equal(common_axis({"a": x, "b": x.copy()}), x)
    grid = common_axis({"a": x}, axis_range=(210, 220), points=11)
    np.testing.assert_allclose(grid, np.arange(210.0, 221.0))


def test_common_axis_errors():
    with pytest.raises(MatgenError, match=r"do not overlap: a.txt covers 0–1 eV but b.txt covers 5–6 eV"):
        common_axis({"a.txt": np.linspace(0, 1, 5), "b.txt": np.linspace(5, 6, 5)}, unit="eV")
    with pytest.raises(MatgenError, match=r"a.txt covers 0–1, which does not include the requested range 0.5–2; .*--range.*--skip-bad"):
        common_axis({"a.txt": np.linspace(0, 1, 5)}, axis_range=(0.5, 2))


# ---------------------------------------------------------------- pipeline


@pytest.fixture
def raman_folder(tmp_path):
    folder = tmp_path / "raman"
    folder.mkdir()
    for i, centre in enumerate([464.0, 465.0, 520.0]):
        _write_raman(folder, f"s{i}__Raman.txt", centre)
    return folder


def test_import_a_folder_of_rruff_spectra(raman_folder):
    calls = []
    result = import_spectra([raman_folder], progress=lambda i, n, name: calls.append((i, n)))
    ds = result.dataset
    assert ds.kind == "raman" and ds.signals.shape == (3, 400) and ds.signals.dtype == np.float32
    assert (ds.axis.name, ds.axis.unit) == ("raman_shift", "cm-1")
    np.testing.assert_array_equal(ds.axis.values, np.arange(200.0, 600.0))
    assert ds.axis.values[np.argmax(ds.signals[0])] == 464.0
    assert list(ds.conditions["mineral"].labels()) == ["Albite"] * 3
    assert ds.conditions["laser_nm"].unit == "nm"
    assert ds.conditions["rruff_id"].role == "meta"
    assert list(ds.ids) == ["s0__Raman", "s1__Raman", "s2__Raman"]
    assert list(ds.sources) == ["s0__Raman.txt", "s1__Raman.txt", "s2__Raman.txt"]
    assert calls == [(1, 3), (2, 3), (3, 3)] and result.skipped == []


def test_import_resamples_onto_the_overlap(tmp_path):
    _write_raman(tmp_path, "a_Raman.txt", 300.0, x=np.arange(200.0, 600.0))
    _write_raman(tmp_path, "b_Raman.txt", 300.0, x=np.arange(250.0, 700.0, 0.5))
    ds = import_spectra([tmp_path]).dataset
    assert (ds.axis.values[0], ds.axis.values[-1], len(ds.axis.values)) == (250.0, 599.0, 699)
    assert np.abs(ds.signals[0] - ds.signals[1]).max() < 0.01


def test_import_with_table_range_points_and_hdf5_round_trip(raman_folder, tmp_path):
    table = tmp_path / "labels.csv"
    table.write_text("file,mineral,temperature_C\ns0__Raman.txt,Quartz,25\ns1__Raman.txt,Quartz,\ns2__Raman.txt,Silicon,100\n")
    ds = import_spectra([raman_folder], source=ConditionSource(table=table),
                        axis_range=(300, 599), points=300).dataset
    assert list(ds.conditions["mineral"].labels()) == ["Quartz", "Quartz", "Silicon"]  # the table wins
    np.testing.assert_array_equal(ds.conditions["temperature_C"].values, [25, np.nan, 100])
    assert ds.conditions["temperature_C"].unit == "°C"
    np.testing.assert_allclose(ds.axis.values, np.linspace(300, 599, 300))
    path = data.write(tmp_path / "raman.h5", ds)
    back = data.read(path)
    np.testing.assert_array_equal(back.signals, ds.signals)
    assert back.axis.matches(ds.axis) and back.kind == "raman"
    assert list(back.ids) == list(ds.ids)
    for name, cond in ds.conditions.items():
        np.testing.assert_array_equal(back.conditions[name].values, cond.values)
        assert (back.conditions[name].unit, back.conditions[name].role, back.conditions[name].categories) == (
            cond.unit, cond.role, cond.categories)


def test_import_xrd_keeps_the_wavelength(tmp_path):
    (tmp_path / "a.xrdml").write_text(_xrdml(counts=range(11)))
    (tmp_path / "b.xrdml").write_text(_xrdml(counts=range(11, 22)))
    ds = import_spectra([tmp_path]).dataset
    assert ds.kind == "xrd" and ds.axis.wavelength_angstrom == pytest.approx(1.540598)
    assert ds.signal_unit == "counts" and ds.conditions["counting_time_s"].role == "meta"
    np.testing.assert_allclose(ds.axis.values, np.linspace(10, 20, 11))
    ds.check()


def test_xrd_wavelengths_must_agree(tmp_path):
    (tmp_path / "cu.xrdml").write_text(_xrdml())
    (tmp_path / "co.xrdml").write_text(_xrdml().replace("1.5405980</kAlpha1>", "1.7890100</kAlpha1>"))
    with pytest.raises(MatgenError, match="different X-ray wavelengths: co.xrdml .* cu.xrdml"):
        import_spectra([tmp_path])


def _write_xy(path: Path, x, y):
    path.write_text(_rows(x, y))


def test_kind_must_be_known_or_given(tmp_path):
    x = np.arange(0.0, 50.0)
    _write_xy(tmp_path / "a.xy", x, x)
    with pytest.raises(MatgenError, match=r"cannot tell what kind.*--kind with raman, xrd, eels or spectrum \(e.g. --kind raman\)"):
        import_spectra([tmp_path])
    ds = import_spectra([tmp_path], kind="xrd").dataset
    assert (ds.axis.name, ds.axis.unit, ds.axis.wavelength_angstrom) == ("two_theta", "deg", None)
    ds = import_spectra([tmp_path], kind="spectrum").dataset
    assert (ds.axis.name, ds.axis.unit) == ("x", "")
    with pytest.raises(MatgenError, match="unknown spectrum kind 'ramen'; choose from"):
        import_spectra([tmp_path], kind="ramen")


# ---------------------------------------------------------------- bad input


def test_missing_and_empty_folders(tmp_path):
    with pytest.raises(MatgenError, match="no such file or folder"):
        import_spectra([tmp_path / "nowhere"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(MatgenError, match="no spectra found"):
        import_spectra([tmp_path / "empty"])


def test_nan_in_a_spectrum_is_reported(raman_folder):
    bad = raman_folder / "s1__Raman.txt"
    bad.write_text(bad.read_text().replace("300, ", "300, nan\n#", 1))
    with pytest.raises(MatgenError, match=r"s1__Raman.txt: the spectrum contains NaN or inf.*--skip-bad"):
        import_spectra([raman_folder])
    result = import_spectra([raman_folder], skip_bad=True)
    assert len(result.dataset) == 2
    assert [Path(f).name for f, _ in result.skipped] == ["s1__Raman.txt"]
    assert "NaN" in result.skipped[0][1]


def test_garbage_file_is_reported_and_skippable(raman_folder):
    (raman_folder / "z__Raman.txt").write_text("hello\nworld\n")
    with pytest.raises(MatgenError, match=r"z__Raman.txt: no two-column numeric data"):
        import_spectra([raman_folder])
    result = import_spectra([raman_folder], skip_bad=True)
    assert len(result.dataset) == 3 and Path(result.skipped[0][0]).name == "z__Raman.txt"


def test_too_few_points(raman_folder):
    (raman_folder / "short__Raman.txt").write_text("1 2\n2 3\n")
    with pytest.raises(MatgenError, match="only 2 point"):
        import_spectra([raman_folder])


def test_mixed_axis_units(tmp_path):
    head = EMSA.split("#SPECTRUM")[0]
    body = "#SPECTRUM    :\n" + "\n".join(["1"] * 6) + "\n"
    (tmp_path / "a.msa").write_text(head + body)
    (tmp_path / "b.msa").write_text(head.replace("XUNITS      : eV", "XUNITS      : keV") + body)
    with pytest.raises(MatgenError, match=r"mixed axis units: a.msa is in eV but b.msa in keV; import them separately"):
        import_spectra([tmp_path])


def test_unit_contradicting_the_kind(tmp_path):
    (tmp_path / "a.msa").write_text(EMSA)
    with pytest.raises(MatgenError, match=r"a.msa has its axis in eV, but a raman axis must be in cm-1"):
        import_spectra([tmp_path], kind="raman")


def test_mixed_kinds(tmp_path):
    _write_raman(tmp_path, "a_Raman.txt", 300.0)
    (tmp_path / "b.xrdml").write_text(_xrdml())
    with pytest.raises(MatgenError, match=r"mixed kinds of spectra: a_Raman.txt is raman but b.xrdml is xrd"):
        import_spectra([tmp_path])


def test_non_overlapping_ranges(tmp_path):
    _write_raman(tmp_path, "low_Raman.txt", 300.0, x=np.arange(200.0, 300.0))
    _write_raman(tmp_path, "high_Raman.txt", 900.0, x=np.arange(800.0, 900.0))
    with pytest.raises(MatgenError, match=r"do not overlap: low_Raman.txt covers 200–299 cm-1 but high_Raman.txt"):
        import_spectra([tmp_path])


def test_requested_range_outside_coverage(raman_folder):
    _write_raman(raman_folder, "narrow__Raman.txt", 400.0, x=np.arange(350.0, 450.0))
    with pytest.raises(MatgenError, match=r"narrow__Raman.txt: covers 350–449 cm-1, outside .*--skip-bad"):
        import_spectra([raman_folder], axis_range=(300, 500))
    result = import_spectra([raman_folder], axis_range=(300, 500), skip_bad=True)
    assert len(result.dataset) == 3 and "outside" in result.skipped[0][1]


def test_table_names_a_missing_file(raman_folder, tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("file,mineral\ns0__Raman.txt,A\ns1__Raman.txt,A\ns2__Raman.txt,B\nghost.txt,C\n")
    with pytest.raises(MatgenError, match=r"t.csv: line 5 names 'ghost.txt'"):
        import_spectra([raman_folder], source=ConditionSource(table=table))
    result = import_spectra([raman_folder], source=ConditionSource(table=table), skip_bad=True)
    assert len(result.dataset) == 3 and "ghost.txt" in result.skipped[0][1]


def test_file_missing_from_the_table(raman_folder, tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("file,mineral\ns0__Raman.txt,A\ns1__Raman.txt,A\n")
    with pytest.raises(MatgenError, match=r"s2__Raman.txt: not listed in t.csv"):
        import_spectra([raman_folder], source=ConditionSource(table=table))
    result = import_spectra([raman_folder], source=ConditionSource(table=table), skip_bad=True)
    assert list(result.dataset.conditions["mineral"].labels()) == ["A", "A"]


def test_non_numeric_value_in_a_numeric_condition(raman_folder, tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("file,temperature_C\ns0__Raman.txt,25\ns1__Raman.txt,hot\ns2__Raman.txt,30\n")
    with pytest.raises(MatgenError, match=r"t.csv line 3: 'hot' in numeric condition 'temperature_C'"):
        import_spectra([raman_folder], source=ConditionSource(table=table))


def test_table_inside_the_folder_is_not_read_as_a_spectrum(raman_folder):
    table = raman_folder / "labels.csv"
    table.write_text("file,mineral\ns0__Raman.txt,A\ns1__Raman.txt,A\ns2__Raman.txt,B\n")
    ds = import_spectra([raman_folder], source=ConditionSource(table=table)).dataset
    assert len(ds) == 3


def test_roles_from_the_spec_win(raman_folder):
    ds = import_spectra([raman_folder], spec=ColumnTyping(roles={"rruff_id": "label"})).dataset
    assert ds.conditions["rruff_id"].role == "label"


def test_registry_covers_the_formats():
    for ext in (".txt", ".csv", ".xy", ".xye", ".dat", ".xrdml", ".msa", ".ems", ".dm3", ".dm4", ".hspy"):
        assert ext in SPECTRUM_READERS and ext in spectrum_readers()


def test_downsampling_keeps_linear_data_and_area():
    x = np.linspace(0, 100, 10001)
    grid = np.linspace(0, 100, 51)
    np.testing.assert_allclose(resample(x, 3 * x + 2, grid), 3 * grid + 2, rtol=1e-9)
    peak = _peak(x, 50.3, width=1.0)
    out = resample(x, peak, grid)
    assert np.trapezoid(out, grid) == pytest.approx(np.trapezoid(peak, x), rel=1e-3)


def test_same_file_name_in_two_subfolders(tmp_path):
    for sub, centre in (("a", 300.0), ("b", 350.0)):
        (tmp_path / sub).mkdir()
        _write_raman(tmp_path / sub, "data_Raman.txt", centre)
    ds = import_spectra([tmp_path]).dataset
    assert list(ds.ids) == ["a/data_Raman", "b/data_Raman"]
    assert list(ds.sources) == ["a/data_Raman.txt", "b/data_Raman.txt"]
    assert ds.axis.values[np.argmax(ds.signals, axis=1)].tolist() == [300.0, 350.0]


def test_entry_point_readers_are_merged(monkeypatch):
    from importlib.metadata import EntryPoint

    import matgen.data.importers.spectra as spectra

    ep = EntryPoint(name="FOO", value="matgen.data.importers.text:read_text", group=spectra.ENTRY_POINT_GROUP)
    monkeypatch.setattr(spectra.importlib_metadata, "entry_points", lambda group: [ep] if group == ep.group else [])
    spectra._plugin_readers.cache_clear()
    try:
        readers = spectra.spectrum_readers()
        assert ".foo" in readers and ".xrdml" in readers and ".foo" not in SPECTRUM_READERS
    finally:
        spectra._plugin_readers.cache_clear()


def test_corrupt_vendor_file_gives_a_one_line_reason(raman_folder):
    (raman_folder / "broken.dm3").write_bytes(b"\x00\x01not a dm3 file" * 10)
    result = import_spectra([raman_folder], skip_bad=True)
    assert len(result.dataset) == 3
    (path, reason), = result.skipped
    assert path.endswith("broken.dm3") and "\n" not in reason and "could not read" in reason


# ---------------------------------------------------------------- what a file says about itself


def _rruff(x, y, extra: str = "") -> str:
    return extra + RRUFF.format(rows=_rows(x, y))


def test_text_header_point_count_must_match_the_data(tmp_path):
    x = np.arange(200.0, 600.0)
    path = tmp_path / "cut__Raman.txt"
    path.write_text(_rruff(x, _peak(x, 300.0), "##NPOINTS=1000\n"))
    with pytest.raises(MatgenError, match=r"cut__Raman\.txt: its header says ##NPOINTS=1000 but the file holds 400 "
                                          r"data points; the file may be cut short"):
        read_text(path)


@pytest.mark.parametrize("header, message", [
    ("##FIRSTX=150\n", r"##FIRSTX=150 but the first data point is at x = 200"),
    ("##LASTX=1199\n", r"##LASTX=1199 but the last data point is at x = 599"),
    ("##DELTAX=0.5\n", r"##DELTAX=0.5 but its points are 1 apart on average"),
    ("##NPOINTS=many\n", r"##NPOINTS=many, which is not a number"),
])
def test_text_header_axis_must_match_the_data(tmp_path, header, message):
    x = np.arange(200.0, 600.0)
    path = tmp_path / "h__Raman.txt"
    path.write_text(_rruff(x, _peak(x, 300.0), header))
    with pytest.raises(MatgenError, match=r"h__Raman\.txt: its header says " + message):
        read_text(path)


def test_a_text_header_that_agrees_is_accepted_and_gives_the_unit(tmp_path):
    x = np.arange(200.0, 600.0)
    head = "##NPOINTS=400\n##FIRSTX=200.0\n##LASTX=599.0\n##DELTAX=1.0\n##XUNITS=1/CM\n"
    (tmp_path / "a.txt").write_text(head + _rows(x, _peak(x, 300.0)))
    (record,) = read_text(tmp_path / "a.txt")
    assert record.axis_unit == "1/CM" and len(record.x) == 400
    ds = import_spectra([tmp_path], kind="raman").dataset
    assert ds.axis.unit == "cm-1"


def test_a_header_unit_contradicting_the_file_name_is_refused(tmp_path):
    x = np.arange(200.0, 600.0)
    (tmp_path / "a__Raman.txt").write_text(_rruff(x, _peak(x, 300.0), "##XUNITS=nm\n"))
    with pytest.raises(MatgenError, match=r"a__Raman\.txt has its axis in nm, but a raman axis must be in cm-1"):
        import_spectra([tmp_path])


def test_a_file_cut_short_no_longer_shrinks_the_common_axis(raman_folder):
    x = np.arange(200.0, 400.0)  # the export stopped half-way; the header still says 400 points
    (raman_folder / "cut__Raman.txt").write_text(_rruff(x, _peak(x, 300.0), "##NPOINTS=400\n##LASTX=599\n"))
    with pytest.raises(MatgenError, match=r"cut__Raman\.txt: its header says ##NPOINTS=400 but the file holds 200 "
                                          r"data points.*--skip-bad"):
        import_spectra([raman_folder])
    result = import_spectra([raman_folder], skip_bad=True)
    np.testing.assert_array_equal(result.dataset.axis.values, np.arange(200.0, 600.0))  # the others' full axis
    (where, reason), = result.skipped
    assert where.endswith("cut__Raman.txt") and "##NPOINTS=400" in reason and "200 data points" in reason


def test_emsa_point_count_must_match_the_data(tmp_path):
    path = tmp_path / "ll.msa"
    path.write_text(EMSA.replace("#NPOINTS     : 6.", "#NPOINTS     : 2048."))
    with pytest.raises(MatgenError, match=r"ll\.msa: its header says #NPOINTS : 2048\. but the file holds 6 data "
                                          r"points; the file may be cut short"):
        read_msa(path)


def _emsa_xy(xs, offset="-1.0", step="0.5") -> str:
    text = EMSA.replace("Y\n#XPERCHAN", "XY\n#XPERCHAN").replace("#XPERCHAN    : 0.5", f"#XPERCHAN    : {step}")
    text = text.replace("#OFFSET      : -1.0", f"#OFFSET      : {offset}")
    body = "".join(f"{x}, {y}\n" for x, y in zip(xs, [10, 20, 30, 40, 50, 60]))
    return text.split("#SPECTRUM")[0] + "#SPECTRUM    :\n" + body + "#ENDOFDATA   :\n"


@pytest.mark.parametrize("xs, offset, step, message", [
    ([99, 99.5, 100, 100.5, 101, 101.5], "-1.0", "0.5", r"#OFFSET : -1\.0 but its X column starts at 99"),
    ([-1, 4, 9, 14, 19, 24], "-1.0", "0.5", r"#XPERCHAN : 0\.5 but its X column steps by 5 on average"),
    ([-1, -0.5, 0, 0.5, 1, 1.5], "-1.0", "0", r"#XPERCHAN : 0; a channel width must be a non-zero number"),
])
def test_emsa_xy_header_must_match_its_x_column(tmp_path, xs, offset, step, message):
    path = tmp_path / "xy.msa"
    path.write_text(_emsa_xy(xs, offset, step))
    with pytest.raises(MatgenError, match=r"xy\.msa: its header says " + message):
        read_msa(path)


def test_emsa_xy_with_a_rounded_header_is_accepted(tmp_path):
    path = tmp_path / "xy.msa"
    path.write_text(_emsa_xy([-1.01, -0.52, -0.02, 0.49, 0.99, 1.49], "-1.0", "0.5"))
    (record,) = read_msa(path)
    assert record.x[0] == -1.01


def _scan_points(inner: str) -> str:
    return XRDML.format(scans=f"<scan><dataPoints>{inner}</dataPoints></scan>")


@pytest.mark.parametrize("inner, message", [
    ('<positions axis="2Theta" unit="deg"><listPositions>10 11 12</listPositions></positions>'
     '<counts unit="counts">1 2 3 4 5</counts>', "3 2Theta positions for 5 intensities; the file may be cut short"),
    ('<positions axis="2Theta" unit="deg"><startPosition>10</startPosition><endPosition>20</endPosition></positions>'
     '<beamAttenuationFactors>1 1 1</beamAttenuationFactors><counts unit="counts">1 2 3 4 5</counts>',
     "3 beamAttenuationFactors for 5 counts; the file may be cut short"),
    ('<positions axis="2Theta" unit="rad"><startPosition>0.1</startPosition><endPosition>0.2</endPosition></positions>'
     '<counts unit="counts">1 2 3 4 5</counts>', "its 2Theta positions are in 'rad', not degrees"),
    ('<positions axis="2Theta" unit="deg"><startPosition>10</startPosition><endPosition>10</endPosition></positions>'
     '<counts unit="counts">1 2 3 4 5</counts>', "startPosition and endPosition are both 10° for 5 intensities"),
    ('<positions axis="2Theta" unit="deg"><startPosition>ten</startPosition><endPosition>20</endPosition></positions>'
     '<counts unit="counts">1 2 3 4 5</counts>', "startPosition is 'ten', not a number"),
])
def test_xrdml_header_must_match_the_data(tmp_path, inner, message):
    path = tmp_path / "scan.xrdml"
    path.write_text(_scan_points(inner))
    with pytest.raises(MatgenError, match=r"scan\.xrdml: " + re.escape(message)):
        read_xrdml(path)


def test_xrdml_wavelength_must_be_a_positive_number(tmp_path):
    path = tmp_path / "scan.xrdml"
    path.write_text(_xrdml().replace("1.5405980</kAlpha1>", "0</kAlpha1>"))
    with pytest.raises(MatgenError, match=r"scan\.xrdml: kAlpha1 is 0 Å; an X-ray wavelength must be a positive number"):
        read_xrdml(path)


def _signal(data_shape, axes):
    return {"data": np.ones(data_shape), "axes": axes, "metadata": {"Signal": {"signal_type": "EELS"}}}


@pytest.mark.parametrize("signal, message", [
    (_signal((100,), [{"name": "Energy loss", "units": "eV", "size": 200, "scale": 0.5, "offset": 0.0}]),
     "sample.dm3: its axis 'Energy loss' says 200 points but the data holds 100; the file may be cut short"),
    (_signal((3, 100), [{"name": "Energy loss", "units": "eV", "size": 100, "scale": 0.5, "offset": 0.0}]),
     "sample.dm3: describes 1 axes but its data has 2 dimensions (3×100)"),
    (_signal((100,), [{"name": "Energy loss", "units": "eV", "size": 100, "scale": 0.0, "offset": 0.0}]),
     "sample.dm3: its axis 'Energy loss' has scale 0.0 eV per point; a calibration must be a non-zero number"),
])
def test_vendor_axes_must_match_the_data(signal, message):
    from matgen.data.importers.gatan import records_from_signals

    with pytest.raises(MatgenError, match=re.escape(message)):
        records_from_signals([signal], "sample.dm3")


def test_vendor_axes_that_agree_give_one_record_per_pixel():
    from matgen.data.importers.gatan import records_from_signals

    signal = _signal((2, 100), [{"name": "x", "units": "nm", "size": 2, "scale": 5.0, "offset": 0.0},
                                {"name": "Energy loss", "units": "eV", "size": 100, "scale": 0.5, "offset": 0.0}])
    records = records_from_signals([signal], "sample.dm3")
    assert [r.part for r in records] == ["x0", "x1"] and records[1].position == {"x_nm": 5.0}


# ---------------------------------------------------------------- axis order


def _text_file(path: Path, x, y):
    path.write_text("".join(f"{a}, {b}\n" for a, b in zip(x, y)))
    return path


def test_a_repeated_x_with_different_intensities_is_refused_not_averaged(raman_folder):
    x = [200.0, 201.0, 202.0, 202.0, 203.0, 204.0]
    _text_file(raman_folder / "dup__Raman.txt", x, [1, 2, 3, 7, 4, 5])
    with pytest.raises(MatgenError, match=r"dup__Raman\.txt: its axis repeats x = 202 with different intensities "
                                          r"\(3, 7\); remove the repeated points \(matgen does not average them\)"):
        import_spectra([raman_folder])
    result = import_spectra([raman_folder], skip_bad=True)
    assert len(result.dataset) == 3 and "repeats x = 202" in result.skipped[0][1]


def test_a_repeated_line_is_refused(tmp_path):
    _text_file(tmp_path / "a.txt", [1.0, 2.0, 3.0, 3.0, 4.0, 5.0], [1, 2, 3, 3, 4, 5])
    with pytest.raises(MatgenError, match=r"a\.txt: its axis repeats x = 3 \(2 times, same intensity 3\); remove the repeats"):
        import_spectra([tmp_path], kind="spectrum")


def test_an_axis_out_of_order_is_refused(tmp_path):
    _text_file(tmp_path / "a.txt", [1.0, 2.0, 3.0, 2.5, 4.0, 5.0], [1, 2, 3, 4, 5, 6])
    with pytest.raises(MatgenError, match=r"a\.txt: its axis is out of order: point 4 \(x = 2\.5\) comes after x = 3; "
                                          r"sort the points by x"):
        import_spectra([tmp_path], kind="spectrum")


def test_a_decreasing_axis_is_read_like_an_increasing_one(tmp_path):
    x = np.arange(200.0, 600.0)
    _text_file(tmp_path / "up.txt", x, _peak(x, 300.0))
    _text_file(tmp_path / "down.txt", x[::-1], _peak(x, 300.0)[::-1])
    ds = import_spectra([tmp_path], kind="raman").dataset
    np.testing.assert_allclose(ds.signals[0], ds.signals[1])


def test_an_empty_range_names_the_syntax_the_option_takes():
    with pytest.raises(MatgenError, match=r"--range 5:1 is empty; give the start below the end, e.g. --range 200:1200"):
        common_axis({"a": np.linspace(0, 10, 11)}, axis_range=(5, 1))


def test_numeric_table_column_without_a_unit_is_a_warning(raman_folder, tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("file,modulus,hardness (HV),replicate\ns0__Raman.txt,70,300,1\ns1__Raman.txt,71,310,2\n"
                     "s2__Raman.txt,72,320,1\n")
    result = import_spectra([raman_folder], source=ConditionSource(table=table))
    assert result.warnings == ["condition 'modulus' is a number without a unit; if it has one, put it in the column "
                               "name, e.g. 'modulus (GPa)' (or 'modulus (1)' for a pure number), and import again"]
    assert result.dataset.conditions["modulus"].unit == ""
    assert import_spectra([raman_folder]).warnings == []
