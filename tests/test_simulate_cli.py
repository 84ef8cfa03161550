"""`matgen simulate` and `matgen sample --validate`: files written, tables printed, one-line errors."""

import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from matgen.builders import build
from matgen.cli.main import app
from matgen.cli.simulate import parse_options
from matgen.data import read, write
from matgen.errors import MatgenError
from matgen.train import TrainConfig, train

from test_simulators import CSV_SCRIPT
from test_train import TINY, assert_one_line_error

pytestmark = pytest.mark.usefixtures("one_thread")

runner = CliRunner()


@pytest.fixture(scope="module")
def spinodal_path(tmp_path_factory):
    return write(tmp_path_factory.mktemp("data") / "spinodal.h5", build("spinodal", n=64, size=16, seed=5))


@pytest.fixture()
def stripped(spinodal_path, tmp_path):
    """Eight spinodal micrographs without their properties."""
    ds = read(spinodal_path).take(range(8))
    ds.conditions = {k: v for k, v in ds.conditions.items() if v.role != "property"}
    return write(tmp_path / "samples.h5", ds)


def test_simulate_writes_a_new_file_beside_the_samples_by_default(spinodal_path, stripped):
    before = stripped.read_bytes()
    result = runner.invoke(app, ["simulate", str(stripped), "--simulator", "elastic"])
    assert result.exit_code == 0, result.output
    out = stripped.with_name("samples-elastic.h5")
    assert stripped.read_bytes() == before and "samples-elastic.h5" in result.output
    np.testing.assert_allclose(read(out).conditions["modulus"].values,
                               read(spinodal_path).conditions["modulus"].values[:8], rtol=1e-4)
    again = runner.invoke(app, ["simulate", str(stripped), "--simulator", "elastic"])
    assert_one_line_error(again, "samples-elastic.h5 exists; pass --force", "--in-place")


def test_simulate_adds_the_properties_in_place(spinodal_path, stripped):
    result = runner.invoke(app, ["simulate", str(stripped), "--simulator", "elastic", "--in-place"])
    assert result.exit_code == 0, result.output
    ds, truth = read(stripped), read(spinodal_path).take(range(8))
    for name in ("modulus", "density", "phase_fraction"):
        np.testing.assert_allclose(ds.conditions[name].values, truth.conditions[name].values, rtol=1e-4)
    assert ds.conditions["modulus"].unit == "GPa" and ds.conditions["modulus"].role == "property"
    assert "elastic: 8 of 8 evaluated" in result.output and "GPa" in result.output
    info = runner.invoke(app, ["data", "info", str(stripped)])
    assert info.exit_code == 0 and "simulation_error" in info.output


def test_simulate_to_another_file_with_options_and_a_picture(stripped, tmp_path):
    out = tmp_path / "out.h5"
    result = runner.invoke(app, ["simulate", str(stripped), "-s", "elastic", "-o", str(out), "--option",
                                 "phases=Al,Al2O3", "--option", "plane=strain", "--png"])
    assert result.exit_code == 0, result.output
    assert read(out).conditions["density"].values.max() > 3.21 and (tmp_path / "out.png").stat().st_size > 1000
    assert "modulus" not in read(stripped).conditions  # the input is untouched
    again = runner.invoke(app, ["simulate", str(stripped), "-s", "elastic", "-o", str(out)])
    assert_one_line_error(again, "exists; pass --force")


def test_simulate_an_external_command_and_report_failures(stripped, tmp_path):
    script = tmp_path / "sim.py"
    script.write_text(CSV_SCRIPT)
    command = f"{sys.executable} {script} {{input}} {{output}}"
    result = runner.invoke(app, ["simulate", str(stripped), "--command", command, "--outputs", "area:um2,ones:",
                                 "--option", "output_suffix=.csv", "--in-place"])
    assert result.exit_code == 0, result.output
    area = read(stripped).conditions["area"]
    assert area.unit == "um2" and np.isfinite(area.values).all()
    two = write(tmp_path / "two.h5", read(stripped).take([0, 1]))
    before = two.read_bytes()
    fail = ["simulate", str(two), "--command", command + " fail", "--outputs", "area:um2",
            "--option", "output_suffix=.csv", "--in-place"]
    failing = runner.invoke(app, fail)
    assert failing.exit_code == 1, failing.output
    assert "2 failed" in failing.output and "2 × sim.py exited with code 3: solver diverged" in failing.output
    assert "only 0 of 2 row(s) were evaluated" in failing.output and "nothing was written" in failing.output
    assert two.read_bytes() == before  # nothing half-done lands in the file
    kept = runner.invoke(app, fail + ["--min-evaluated", "0"])
    assert kept.exit_code == 0, kept.output
    ds = read(two)
    assert ds.conditions["simulation_error"].labels()[0] == "sim.py exited with code 3: solver diverged"
    # the known areas from the first run survive a run that could not compute them
    np.testing.assert_array_equal(ds.conditions["area"].values, area.values[:2])


def test_simulate_list_shows_names_kinds_and_units():
    result = runner.invoke(app, ["simulate", "--list"])
    assert result.exit_code == 0
    for text in ("elastic", "xrd-phases", "eels-thickness", "raman-bands", "micrograph", "modulus (GPa)",
                 "band_position (cm-1)", "wt_quartz (wt%)"):
        assert text in result.output


@pytest.mark.parametrize("args, fragments", [
    (["simulate", "{samples}", "-s", "elastc"], ["unknown simulator 'elastc'; choose from elastic"]),
    (["simulate", "{tmp}/missing.h5", "-s", "elastic"], ["missing.h5: no such file"]),
    (["simulate", "{samples}", "-s", "raman-bands"], ["takes raman data, but these samples are micrograph"]),
    (["simulate", "{samples}"], ["give one of --simulator NAME or --command"]),
    (["simulate", "{samples}", "-s", "elastic", "--option", "plane"], ["should be KEY=VALUE"]),
    (["simulate", "{samples}", "-s", "elastic", "--option", "plane=bent"], ["unknown plane 'bent'"]),
    (["simulate", "{samples}", "--command", "prog {input}", "--outputs", "a:"], ["need a {output} placeholder"]),
    (["simulate", "{samples}", "-s", "elastic", "--workers", "0"], ["workers must be at least 1"]),
    (["simulate", "{samples}", "-s", "elastic", "--in-place", "-o", "{tmp}/x.h5"], ["--in-place", "not both"]),
    (["simulate", "{samples}", "-s", "elastic", "--min-evaluated", "1.5"], ["share between 0 and 1, got 1.5"]),
])
def test_simulate_bad_input_is_one_line_and_exit_2(stripped, tmp_path, args, fragments):
    args = [a.replace("{samples}", str(stripped)).replace("{tmp}", str(tmp_path)) for a in args]
    assert_one_line_error(runner.invoke(app, args), *fragments)


def test_parse_options_converts_numbers_and_flags():
    assert parse_options(["a=1", "b=2.5", "c=true", "d=Al,SiC", "timeout-s=none"]) == \
        {"a": 1, "b": 2.5, "c": True, "d": "Al,SiC", "timeout_s": None}
    with pytest.raises(MatgenError, match="should be KEY=VALUE"):
        parse_options(["=3"])


# --- matgen sample --validate ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def run_dir(spinodal_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "spinodal"
    train(spinodal_path, TrainConfig(conditions=("density", "modulus"), steps=30, **TINY), out)
    return out


def test_sample_validate_reports_requested_versus_achieved(run_dir, tmp_path):
    out = tmp_path / "samples.h5"
    result = runner.invoke(app, ["sample", str(run_dir), "-o", str(out), "-n", "4", "--steps", "4",
                                 "--target-density", "2.9", "--target-modulus", "130..150", "--validate", "elastic"])
    assert result.exit_code == 0, result.output
    for text in ("requested vs achieved", "density", "g/cm3", "2.9", "130..150", "GPa", "within", "5%"):  # within tolerance: "N% of 5%"
        assert text in result.output
    ds = read(out)
    assert ds.conditions["density_target"].values.tolist() == [2.9] * 4
    np.testing.assert_allclose(ds.conditions["modulus_target"].values, [130, 136.6667, 143.3333, 150], rtol=1e-4)
    density = ds.conditions["density"]
    assert density.role == "property" and density.unit == "g/cm3"
    np.testing.assert_allclose(density.values, 2.70 + 0.51 * ds.signals.reshape(4, -1).mean(1))  # what they are
    assert runner.invoke(app, ["data", "info", str(out)]).exit_code == 0


def test_sample_validate_with_a_simulator_for_another_kind_fails_before_sampling(run_dir, tmp_path):
    out = tmp_path / "samples.h5"
    result = runner.invoke(app, ["sample", str(run_dir), "-o", str(out), "-n", "2", "--target-density", "2.9",
                                 "--validate", "xrd-phases"])
    assert_one_line_error(result, "--validate xrd-phases takes xrd data, but this run makes micrograph")
    assert not out.exists()
