"""Built-in datasets (`matgen data build`): physics of the labels, reproducibility, CLI and errors."""

import functools
import re

import numpy as np
import pytest
from typer.testing import CliRunner

from matgen.builders import build, make_options
from matgen.cli.main import app
from matgen.common.ranges import Range
from matgen.data import read
from matgen.errors import MatgenError
from matgen.physics.phases import PHASES

runner = CliRunner()


@functools.cache
def spinodal_small():
    return build("spinodal", n=24, size=32, seed=3, device="cpu")


def test_spinodal_samples_are_two_phase_with_consistent_properties():
    ds = spinodal_small()
    assert ds.signals.shape == (24, 32, 32) and ds.signals.dtype == np.uint8 and ds.signal_type == "labels"
    f = ds.conditions["phase_fraction"].values
    assert np.allclose(f, ds.signals.reshape(24, -1).mean(1))
    assert (f > 0.2).all() and (f < 0.8).all()  # every sample decomposed
    al, sic = PHASES["Al"], PHASES["SiC"]
    # density is exactly the rule of mixtures; moduli lie between the phases' and follow the fraction
    assert np.allclose(ds.conditions["density"].values, al.density_g_cm3 + f * (sic.density_g_cm3 - al.density_g_cm3), rtol=1e-5)
    modulus = ds.conditions["modulus"].values
    assert (modulus > al.youngs_modulus_gpa).all() and (modulus < sic.youngs_modulus_gpa).all()
    assert np.corrcoef(f, modulus)[0, 1] > 0.95
    # the lever rule: phase fraction follows the mean composition
    assert np.corrcoef(ds.conditions["mean_composition"].values, f)[0, 1] > 0.95
    assert ds.conditions["modulus"].unit == "GPa" and ds.conditions["density"].unit == "g/cm3"
    assert ds.conditions["anneal_time"].role == "processing" and ds.conditions["modulus"].role == "property"
    assert not ds.problems()


def test_longer_anneals_give_coarser_spinodal_structures():
    short = build("spinodal", n=8, size=32, seed=1, anneal_time="150", interface_width_px="1", device="cpu")
    long = build("spinodal", n=8, size=32, seed=1, anneal_time="1500", interface_width_px="1", device="cpu")
    assert long.conditions["characteristic_length"].values.mean() > 1.3 * short.conditions["characteristic_length"].values.mean()


def test_aligned_composite_is_stiffer_along_its_particles():
    ds = build("composite", n=6, size=48, seed=2, volume_fraction="0.3", aspect_ratio="3", orientation_deg="0",
               mean_radius_px="3", orientation_spread_deg=0.0, device="cpu")
    assert np.allclose(ds.conditions["phase_fraction"].values, 0.3, atol=0.01)
    assert (ds.conditions["modulus_x"].values > 1.03 * ds.conditions["modulus_y"].values).all()
    assert (ds.conditions["anisotropy"].values > 1.03).all()


def test_xrd_weight_fractions_and_peak_positions():
    from matgen.physics.xrd import peak_positions_deg

    ds = build("xrd", n=12, points=1400, seed=0, phases="quartz,corundum", two_theta_deg=(20.0, 48.0))
    wt = np.stack([ds.conditions["wt_quartz"].values, ds.conditions["wt_corundum"].values], 1)
    assert np.allclose(wt.sum(1), 100) and ds.conditions["wt_quartz"].unit == "wt%"
    assert ds.axis.unit == "deg" and ds.axis.wavelength_angstrom == pytest.approx(1.54056)
    pure_quartz = np.flatnonzero(wt[:, 0] == 100)
    assert len(pure_quartz), "seed 0 should draw a pure-quartz sample"
    for i in pure_quartz:  # quartz (101) at 26.64° 2θ, within the zero shift (≤ 0.02°) and a grid step
        strongest = peak_positions_deg(ds.axis.values, ds.signals[i], min_height=0.5)
        assert np.abs(strongest - 26.64).min() < 0.05


def test_raman_strongest_band_follows_temperature_and_stress():
    from matgen.physics.raman import raman_phase, strongest_band_cm1

    ds = build("raman", n=30, points=1700, seed=0, minerals=("silicon", "diamond"), spike_rate=0.0,
               fluorescence="0..0.2")
    minerals = ds.conditions["mineral"].labels()
    t, p = ds.conditions["temperature"].values, ds.conditions["stress"].values
    for i in range(len(ds)):
        phase = raman_phase(minerals[i])
        expected = (phase.strongest.position_cm1 + phase.temperature_shift_cm1_k * (t[i] - 295.0)
                    + phase.pressure_shift_cm1_gpa * p[i])
        assert strongest_band_cm1(ds.axis.values, ds.signals[i]) == pytest.approx(expected, abs=1.5)


def test_eels_log_ratio_returns_the_thickness_label():
    from matgen.physics.eels import thickness_log_ratio

    ds = build("eels", n=40, seed=0)
    measured = thickness_log_ratio(ds.axis.values, ds.signals)
    assert np.allclose(measured, ds.conditions["thickness"].values, rtol=0.02)
    assert ds.axis.unit == "eV" and set(ds.conditions["material"].labels()) <= set(make_options("eels").materials)


def test_same_seed_same_file_and_other_seed_differs(tmp_path):
    args = ["data", "build", "eels", "--n", "12", "--no-png"]
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        result = runner.invoke(app, args + ["-o", str(tmp_path / f"{name}.h5"), "--seed", str(seed)])
        assert result.exit_code == 0, result.output
    assert (tmp_path / "a.h5").read_bytes() == (tmp_path / "b.h5").read_bytes()
    assert not np.array_equal(read(tmp_path / "a.h5").signals, read(tmp_path / "c.h5").signals)


def test_cli_builds_the_spinodal_dataset_with_info_and_png(tmp_path):
    out = tmp_path / "spinodal.h5"
    result = runner.invoke(app, ["data", "build", "spinodal", "-o", str(out), "--n", "6", "--size", "32",
                                 "--anneal-time", "200..300", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "modulus" in result.output and "GPa" in result.output
    assert (tmp_path / "spinodal.png").stat().st_size > 1000
    ds = read(out)
    assert len(ds) == 6 and ds.attrs["builder"] == "spinodal"
    assert ds.conditions["anneal_time"].values.min() >= 200 and ds.conditions["anneal_time"].values.max() <= 300


@pytest.mark.parametrize("args, message", [
    (["spinodal", "--mean-composition", "0.2..0.9"], "mean_composition range 0.2..0.9 leaves the valid interval"),
    (["spinodal", "--anneal-time", "ten"], "anneal_time 'ten' is not a range"),
    (["spinodal", "--phases", "Al,unobtainium"], "unknown phase 'unobtainium'"),
    (["composite", "--mean-radius", "20", "--aspect-ratio", "3"], "do not fit a 64 px micrograph"),
    (["xrd", "--phases", "kryptonite"], "unknown reference phase 'kryptonite'"),
    (["raman", "--minerals", "cheese"], "cheese"),
    (["eels", "--materials", "Al,vibranium"], "vibranium"),
    (["eels", "--n", "0"], "n (number of samples) must be at least 1 (got 0)"),
    (["spinodal", "--size", "4"], "size must be at least 8 px (got 4)"),
    (["eels", "--n", "3", "-o", "{tmp}"], "is a folder; give a file name"),
    (["eels", "--n", "3", "-o", "{tmp}/x.h5/deeper.h5"], "is a file, not a folder"),
])
def test_bad_options_give_one_line_errors(tmp_path, args, message):
    out = tmp_path / "x.h5"
    if "{tmp}/x.h5/deeper.h5" in args:
        out.write_bytes(b"a file where a folder should be")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = runner.invoke(app, ["data", "build", *args] + ([] if "-o" in args else ["-o", str(out)]))
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
    assert not out.exists() or out.read_bytes() == b"a file where a folder should be"


@pytest.mark.parametrize("overrides, message", [
    ({"size": "big"}, "option size should be a whole number, got 'big'"),
    ({"size": 32.5}, "option size should be a whole number, got 32.5"),
    ({"n": -3}, "n (number of samples) must be at least 1 (got -3)"),
    ({"plane": 3}, "option plane should be text, got 3"),
])
def test_make_options_checks_types_and_counts(overrides, message):
    with pytest.raises(MatgenError, match=re.escape(message)):
        make_options("composite", **overrides)
    assert make_options("composite", size=32.0, n=4).size == 32  # a whole float (from TOML) is accepted


def test_existing_output_is_kept_unless_forced(tmp_path):
    out = tmp_path / "x.h5"
    out.write_bytes(b"precious")
    result = runner.invoke(app, ["data", "build", "eels", "--n", "3", "-o", str(out)])
    assert result.exit_code == 2 and "--force" in result.output and out.read_bytes() == b"precious"
    result = runner.invoke(app, ["data", "build", "eels", "--n", "3", "-o", str(out), "--force", "--no-png"])
    assert result.exit_code == 0 and len(read(out)) == 3


def test_options_and_ranges():
    assert make_options("spinodal", anneal_time="100..200").anneal_time == Range(100, 200, log=True)
    assert make_options("spinodal", n=None).n == 2000  # None keeps the default
    with pytest.raises(MatgenError, match="dataset 'spinodal': unknown option 'bogus'; choose from n, size"):
        make_options("spinodal", bogus=1)
    with pytest.raises(MatgenError, match="unknown built-in dataset 'marble'; choose from spinodal"):
        build("marble")


def test_small_composites_keep_the_default_particle_radius_at_one_pixel_or_more():
    ds = build("composite", n=4, size=16, seed=0)  # 3..7 px scaled by 16/64 would be below the generator's 1 px
    assert ds.signals.shape == (4, 16, 16)
    assert ds.conditions["mean_radius"].values.min() >= 1.0
    assert (ds.conditions["phase_fraction"].values > 0).all()
