"""The command line as a user meets it: the main job, every data command, and one-line errors."""

import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from matgen import __version__
from matgen.cli.main import app
from matgen.data import read, write
from matgen.demo import write_example_lab

from test_format import raman

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def assert_one_line_error(result, *fragments):
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    return write_example_lab(tmp_path_factory.mktemp("lab"), seed=1, samples_per_mineral=2)


def test_version_and_help_do_not_import_torch_or_numpy():
    code = ("import sys; from matgen.cli.main import app; from typer.testing import CliRunner; "
            "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0, r.output; "
            "bad = [m for m in ('torch', 'numpy', 'h5py', 'pymatgen') if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    result = invoke("--version")
    assert result.exit_code == 0 and result.output.strip() == f"matgen {__version__}"


@pytest.mark.usefixtures("one_thread")
def test_demo_runs_a_campaign_and_the_lab_pipeline_end_to_end(tmp_path):
    import json

    result = invoke("demo", tmp_path / "demo", "--n", "24", "--size", "24", "--rounds", "2", "--candidates", "4",
                    "--train-steps", "10", "--finetune-steps", "4", "--device", "cpu", "--lab")
    assert result.exit_code == 0, result.output
    campaign = tmp_path / "demo" / "campaign"
    composite = read(campaign / "data" / "initial.h5")
    assert composite.signals.shape == (24, 24, 24) and {"density", "modulus_x"} <= set(composite.conditions)
    report = json.loads((campaign / "report.json").read_text())
    assert report["status"] == "done" and len(report["rounds"]) == 2 and report["simulator_calls"] == 8
    assert set(report["baselines"]) == {"nearest", "unguided", "random"} and set(report["targets"]) == {"density", "modulus_x"}
    assert all(json.loads(read(campaign / "rounds" / f"{r:02d}" / "candidates.h5").attrs["physics_targets"]) for r in (1, 2))
    for text in ("nearest training", "unguided", "random search", "round 1", "round 2", "hit rate", "error modulus_x",
                 "report.json"):
        assert text in result.output.replace("\n", ""), text
    for name in ("errors.png", "scatter.png"):
        assert (campaign / name).stat().st_size > 1000
    assert (tmp_path / "demo" / "composite.png").stat().st_size > 1000
    raman_ds = read(tmp_path / "demo" / "raman.h5")
    assert raman_ds.kind == "raman" and len(raman_ds) == 6 * 4 * 2
    assert set(raman_ds.conditions["mineral"].labels()) == {"quartz", "calcite", "diamond", "anatase", "rutile", "gypsum"}
    quartz = raman_ds.signals[raman_ds.conditions["mineral"].labels() == "quartz"].mean(axis=0)
    assert raman_ds.axis.values[np.argmax(quartz)] == pytest.approx(464, abs=3)
    micro = read(tmp_path / "demo" / "micrographs.h5")
    assert micro.signals.shape == (18, 96, 96) and micro.pixel_size == pytest.approx(0.1)
    assert set(micro.conditions["anneal_time_h"].values) == {1.0, 8.0, 24.0}
    for name in ("raman.png", "micrographs.png", "raman_split/train.h5", "raman_split/test.h5"):
        assert (tmp_path / "demo" / name).stat().st_size > 0
    assert "check" in result.output and "ok" in result.output


def test_import_info_plot_split_check(tmp_path, lab):
    out = tmp_path / "raman.h5"
    result = invoke("data", "import", lab["raman"], "--table", lab["raman_table"], "-o", out, "--kind", "raman",
                    "--role", "laser_nm=meta")
    assert result.exit_code == 0, result.output
    ds = read(out)
    assert len(ds) == 24 and ds.conditions["laser_nm"].role == "meta"
    info = invoke("data", "info", out)
    assert info.exit_code == 0
    for text in ("raman", "raman_shift", "cm-1", "mineral", "6 classes", "quartz 4", "laser_nm", "532, 785"):
        assert text in info.output, text
    png = tmp_path / "r.png"
    assert invoke("data", "plot", out, "-o", png, "--color-by", "mineral").exit_code == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    split = invoke("data", "split", out, "--by", "rruff_id", "--fractions", "0.5,0.5", "-o", tmp_path / "parts")
    assert split.exit_code == 0, split.output
    train, val = read(tmp_path / "parts" / "train.h5"), read(tmp_path / "parts" / "val.h5")
    assert len(train) + len(val) == 24
    assert not set(train.conditions["rruff_id"].labels()) & set(val.conditions["rruff_id"].labels())
    check = invoke("data", "check", out, tmp_path / "parts" / "val.h5")
    assert check.exit_code == 0 and check.output.count(": ok") == 2


def test_import_micrographs_by_name_pattern_and_append(tmp_path, lab):
    out = tmp_path / "m.h5"
    pattern = "{anneal_temperature_C}C-{anneal_time_h:duration}-{cooling}-{replicate}"
    result = invoke("data", "import", lab["micrographs"], "-o", out, "--name-pattern", pattern, "--resize", "48x48",
                    "--pixel-size", "0.1")
    assert result.exit_code == 0, result.output
    ds = read(out)
    assert ds.signals.shape == (18, 48, 48) and ds.pixel_size == pytest.approx(0.2)
    assert ds.conditions["anneal_temperature_C"].unit == "°C"
    again = invoke("data", "import", lab["micrographs"], "-o", out, "--name-pattern", pattern, "--resize", "48")
    assert_one_line_error(again, "m.h5 exists", "--append", "--force")
    dup = invoke("data", "import", lab["micrographs"], "-o", out, "--name-pattern", pattern, "--resize", "48", "--append")
    assert_one_line_error(dup, "already in the dataset")
    assert len(read(out)) == 18


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["data", "info", "missing.h5"], ["missing.h5: no such file"]),
        (["data", "import", "nowhere", "-o", "x.h5"], ["nowhere: no such file or folder"]),
        (["data", "import", "LAB", "-o", "x.h5", "--kind", "sem"], ["unknown kind 'sem'", "micrograph"]),
        (["data", "import", "LAB", "-o", "x.h5", "--range", "abc"], ["--range 'abc'"]),
        (["data", "import", "LAB", "-o", "x.txt", "--kind", "raman"], ["name the output x.h5"]),
        (["data", "import", "LAB", "-o", "x.h5"], ["several kinds of file", "--kind"]),
        (["data", "plot", "GOOD", "--color-by", "colour"], ["unknown condition 'colour'", "mineral"]),
        (["data", "split", "GOOD", "--fractions", "0.6,0.6"], ["sum to 1"]),
        (["data", "import", "LAB/micrographs", "-o", "x.h5", "--resize", "big"], ["--resize 'big'"]),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, lab, monkeypatch, args, fragments):
    monkeypatch.chdir(tmp_path)
    good = write(tmp_path / "good.h5", raman())
    root = lab["raman"].parent
    args = [a.replace("LAB", str(root)).replace("GOOD", str(good)) for a in args]
    result = invoke(*args)
    assert_one_line_error(result, *fragments)
    assert not (tmp_path / "x.h5").exists()


def test_check_reports_problems_with_exit_2(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"garbage")
    result = invoke("data", "check", bad)
    assert result.exit_code == 2 and "1 problem(s)" in result.output and "not an HDF5 file" in result.output


def test_console_script_error_has_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "matgen", "data", "info", str(tmp_path / "none.h5")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error:") and "Traceback" not in proc.stderr


def _spectrum_file(path, values):
    path.write_text("".join(f"{200 + i}, {v}\n" for i, v in enumerate(values)))


def _bad_spectra_with_nan(folder):
    _spectrum_file(folder / "a.txt", [1.0] * 20)
    _spectrum_file(folder / "b.txt", [1.0] * 10 + ["nan"] + [1.0] * 9)
    return ["--kind", "raman"], "b.txt"


def _table_names_missing_file(folder):
    _spectrum_file(folder / "a.txt", [1.0] * 20)
    (folder / "labels.csv").write_text("file,mineral\na.txt,quartz\nghost.txt,calcite\n")
    return ["--kind", "raman", "--table", folder / "labels.csv"], "ghost.txt"


def _table_misses_a_file(folder):
    _spectrum_file(folder / "a.txt", [1.0] * 20)
    _spectrum_file(folder / "b.txt", [2.0] * 20)
    (folder / "labels.csv").write_text("file,mineral\na.txt,quartz\n")
    return ["--kind", "raman", "--table", folder / "labels.csv"], "b.txt"


def _text_in_numeric_column(folder):
    _spectrum_file(folder / "a.txt", [1.0] * 20)
    _spectrum_file(folder / "b.txt", [2.0] * 20)
    (folder / "labels.csv").write_text("file,anneal_temperature_C\na.txt,800\nb.txt,hot\n")
    return ["--kind", "raman", "--table", folder / "labels.csv"], "'hot'"


def _mixed_axis_units(folder):
    for name, unit in (("a.msa", "eV"), ("b.msa", "keV")):
        header = f"#FORMAT : EMSA/MAS Spectral Data File\n#VERSION : 1.0\n#NPOINTS : 20\n#NCOLUMNS : 1\n" \
                 f"#XUNITS : {unit}\n#DATATYPE : Y\n#XPERCHAN : 1.0\n#OFFSET : 0.0\n#SIGNALTYPE : ELS\n#SPECTRUM :\n"
        (folder / name).write_text(header + "\n".join(["5"] * 20) + "\n#ENDOFDATA :\n")
    return [], "mixed axis units"


def _images_of_different_sizes(folder):
    from PIL import Image

    Image.fromarray(np.zeros((20, 30), np.uint8) + 100).save(folder / "a.png")
    Image.fromarray(np.zeros((24, 30), np.uint8) + 100).save(folder / "b.png")
    return [], "--resize"


def _empty_folder(folder):
    return ["--kind", "raman"], "no spectra found"


def _spectrum_cut_short(folder):
    _spectrum_file(folder / "a.txt", [1.0] * 20)
    (folder / "b.txt").write_text("##NPOINTS=20\n" + "".join(f"{200 + i}, 1.0\n" for i in range(12)))
    return ["--kind", "raman"], "b.txt: its header says ##NPOINTS=20 but the file holds 12 data points"


def _emsa_cut_short(folder):
    header = "#FORMAT : EMSA/MAS Spectral Data File\n#VERSION : 1.0\n#NPOINTS : 2048\n#NCOLUMNS : 1\n" \
             "#XUNITS : eV\n#DATATYPE : Y\n#XPERCHAN : 1.0\n#OFFSET : 0.0\n#SIGNALTYPE : ELS\n#SPECTRUM :\n"
    (folder / "a.msa").write_text(header + "\n".join(["5"] * 1000) + "\n#ENDOFDATA :\n")
    return [], "a.msa: its header says #NPOINTS : 2048 but the file holds 1000 data points"


def _xrdml_cut_short(folder):
    (folder / "a.xrdml").write_text(
        '<xrdMeasurements><xrdMeasurement><scan><dataPoints><positions axis="2Theta" unit="deg">'
        "<listPositions>10 11 12 13 14 15</listPositions></positions><counts>1 2 3</counts></dataPoints></scan>"
        "</xrdMeasurement></xrdMeasurements>")
    return [], "a.xrdml: 6 2Theta positions for 3 intensities"


def _repeated_axis_value(folder):
    _spectrum_file(folder / "a.txt", [1.0] * 20)
    (folder / "b.txt").write_text("".join(f"{x}, {y}\n" for x, y in [(200, 1), (201, 2), (201, 5), (202, 1), (203, 1)]))
    return ["--kind", "raman"], "b.txt: its axis repeats x = 201 with different intensities (2, 5)"


def _image_cut_short(folder):
    from PIL import Image

    Image.fromarray(np.random.default_rng(0).integers(0, 256, (20, 30), dtype=np.uint8)).save(folder / "a.png")
    data = (folder / "a.png").read_bytes()
    (folder / "a.png").write_bytes(data[: len(data) // 2])
    return [], "a.png: is cut short: its header says 20×30 px"


@pytest.mark.parametrize("make", [_bad_spectra_with_nan, _table_names_missing_file, _table_misses_a_file,
                                  _text_in_numeric_column, _mixed_axis_units, _images_of_different_sizes,
                                  _empty_folder, _spectrum_cut_short, _emsa_cut_short, _xrdml_cut_short,
                                  _repeated_axis_value, _image_cut_short])
def test_bad_lab_folders_fail_cleanly_without_output(tmp_path, make):
    folder = tmp_path / "lab"
    folder.mkdir()
    options, fragment = make(folder)
    out = tmp_path / "out.h5"
    result = invoke("data", "import", folder, "-o", out, *options)
    assert_one_line_error(result, fragment)
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["lab"]


def test_skip_bad_imports_the_rest_and_lists_what_was_skipped(tmp_path):
    folder = tmp_path / "lab"
    folder.mkdir()
    _bad_spectra_with_nan(folder)
    result = invoke("data", "import", folder, "-o", tmp_path / "out.h5", "--kind", "raman", "--skip-bad")
    assert result.exit_code == 0, result.output
    assert "skipped 1 file(s)" in result.output and "b.txt" in result.output
    assert list(read(tmp_path / "out.h5").ids) == ["a"]


def test_operating_system_errors_name_the_final_file_and_what_to_do():
    import errno

    from matgen.cli.errors import describe_os_error

    full = OSError(errno.ENOSPC, "No space left on device", "/data/.out.h5.tmp-123-0a1b2c3d")
    assert describe_os_error(full) == ("/data/out.h5: no space left on the device; free some space or write to "
                                       "another disk (nothing half-written was kept)")
    h5py_style = OSError("Can't close file (file write failed: filename = '/data/.x.h5.tmp-9-deadbeef', "
                         "errno = 28, error message = 'No space left on device')")
    assert describe_os_error(h5py_style).startswith("/data/x.h5: no space left on the device")
    assert describe_os_error(OSError(errno.EROFS, "Read-only file system", "/mnt/x.h5")) == (
        "/mnt/x.h5: the file system is read-only; write somewhere else")
    assert describe_os_error(OSError(errno.EIO, "Input/output error")) == (
        "Input/output error; check the path and its permissions")
def test_a_numeric_column_without_a_unit_is_a_yellow_warning(tmp_path):
    folder = tmp_path / "lab"
    folder.mkdir()
    _spectrum_file(folder / "a.txt", [1.0] * 20)
    _spectrum_file(folder / "b.txt", [2.0] * 20)
    (folder / "labels.csv").write_text("file,modulus\na.txt,70\nb.txt,71\n")
    result = invoke("data", "import", folder, "-o", tmp_path / "out.h5", "--kind", "raman", "--table", folder / "labels.csv")
    assert result.exit_code == 0, result.output
    assert "warning: condition 'modulus' is a number without a unit; if it has one, put it in the column name, " \
           "e.g. 'modulus (GPa)'" in result.stderr
    (folder / "labels.csv").write_text("file,modulus (GPa)\na.txt,70\nb.txt,71\n")  # the header it asks for
    again = invoke("data", "import", folder, "-o", tmp_path / "out.h5", "--kind", "raman", "--table",
                   folder / "labels.csv", "--force")
    assert again.exit_code == 0 and "warning" not in again.output
    assert read(tmp_path / "out.h5").conditions["modulus"].unit == "GPa"


def test_the_size_hint_works_when_followed(tmp_path):
    folder = tmp_path / "lab"
    folder.mkdir()
    _images_of_different_sizes(folder)
    result = invoke("data", "import", folder, "-o", tmp_path / "out.h5")
    assert_one_line_error(result, "--resize 20x30", "--tile 16")
    for hint in (["--resize", "20x30"], ["--tile", "16"]):
        followed = invoke("data", "import", folder, "-o", tmp_path / "out.h5", "--force", *hint)
        assert followed.exit_code == 0, followed.output


def test_the_axis_hint_of_append_works_when_followed(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    for folder, n in ((first, 20), (second, 30)):
        folder.mkdir()
        _spectrum_file(folder / f"{folder.name}.txt", [1.0] * n)
    out = tmp_path / "out.h5"
    assert invoke("data", "import", first, "-o", out, "--kind", "raman").exit_code == 0
    result = invoke("data", "import", second, "-o", out, "--kind", "raman", "--append")
    assert_one_line_error(result, "spectral axes differ", "re-import those files with --range 200.0:219.0 --points 20")
    hint = result.output.split("re-import those files with ")[1].split()
    followed = invoke("data", "import", second, "-o", out, "--kind", "raman", "--append", *hint)
    assert followed.exit_code == 0, followed.output
    assert list(read(out).ids) == ["a", "b"]


def _zeroed(path, fraction):
    data = bytearray(path.read_bytes())
    at = int(fraction * len(data))
    data[at:at + 512] = bytes(512)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["headers", "data", "cut"])
@pytest.mark.parametrize("command", [["data", "info"], ["data", "plot", "-o", "OUT.png"], ["data", "split", "-o", "OUT"],
                                     ["data", "check"]])
def test_a_damaged_dataset_is_one_line_for_every_command(tmp_path, command, damage):
    path = write(tmp_path / "d.h5", raman(200))
    if damage == "cut":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        _zeroed(path, 0.02 if damage == "headers" else 0.6)
    args = [a.replace("OUT", str(tmp_path / "out")) for a in command]
    result = invoke(*args[:2], path, *args[2:])
    assert "Traceback" not in result.output and result.exit_code == 2, result.output
    if command == ["data", "check"]:
        assert f"{path}: 1 problem(s)" in result.output and "damaged HDF5 file" in result.output
    else:
        assert_one_line_error(result, f"{path}: damaged HDF5 file (", "restore it from a copy or re-create it")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.h5"]


def test_a_file_damaged_inside_its_global_heap_does_not_hang_the_command(tmp_path):
    from pathlib import Path

    fixture = Path(__file__).parent / "fixtures" / "v0_1" / "composite.h5"  # strings in a global heap (matgen 0.1)
    data = bytearray(fixture.read_bytes())
    heap = data.find(b"GCOL")
    data[heap + 16:heap + 528] = bytes(512)
    path = tmp_path / "old.h5"
    path.write_bytes(bytes(data))
    proc = subprocess.run([sys.executable, "-m", "matgen", "data", "info", str(path)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: damaged HDF5 file (global heap at byte"), proc.stderr


def test_plot_limit_below_one_is_refused_and_draws_nothing(tmp_path):
    good = write(tmp_path / "good.h5", raman())
    for limit in ("0", "-3"):
        assert_one_line_error(invoke("data", "plot", good, "--limit", limit), f"--limit {limit}: show at least 1 row")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.h5"]


def test_split_does_not_overwrite_parts_without_force(tmp_path):
    good = write(tmp_path / "good.h5", raman())
    parts = tmp_path / "parts"
    assert invoke("data", "split", good, "--fractions", "0.6,0.4", "-o", parts).exit_code == 0
    before = {p.name: p.read_bytes() for p in parts.iterdir()}
    again = invoke("data", "split", good, "--fractions", "0.4,0.6", "-o", parts)
    assert_one_line_error(again, f"{parts / 'train.h5'} exists; pass --force")
    assert {p.name: p.read_bytes() for p in parts.iterdir()} == before
    assert invoke("data", "split", good, "--fractions", "0.4,0.6", "-o", parts, "--force").exit_code == 0
