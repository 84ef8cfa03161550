"""Processing in lab units (`spinodal-alloy`): the regular solution, the Arrhenius mobility, and the builder."""

import functools

import numpy as np
import pytest
from typer.testing import CliRunner

from matgen.builders import build
from matgen.cli.main import app
from matgen.errors import MatgenError
from matgen.physics import alloys as al
from matgen.physics.alloys import FE_CR, GAS_CONSTANT_J_MOL_K as R

TC = FE_CR.critical_temperature_k
OMEGA = FE_CR.interaction_j_mol


@functools.cache
def annealed(temperature_c: float, hours: float = 200.0, n: int = 4):
    return build("spinodal-alloy", n=n, size=24, seed=5, anneal_temperature_c=str(temperature_c),
                 anneal_time_h=str(hours), device="cpu")


def test_arrhenius_slope_is_minus_q_over_r_exactly():
    t_k = np.array([700.0, 760.0, 820.0])
    ln_t = np.log(al.model_time(t_k, 50.0, 2.0, FE_CR))
    slope = np.diff(ln_t) / np.diff(1 / t_k)
    np.testing.assert_allclose(slope, -FE_CR.activation_energy_j_mol / R, rtol=1e-9)
    # time and pixel size enter linearly and as 1/a²: the scale has no fitted constant
    assert al.model_time(750.0, 20.0, 1.0, FE_CR) == pytest.approx(8 * al.model_time(750.0, 10.0, 2.0, FE_CR))


def test_hotter_anneal_of_equal_time_gives_coarser_maps():
    cold, hot = annealed(480.0), annealed(520.0)
    l_cold = cold.conditions["characteristic_length_nm"].values
    l_hot = hot.conditions["characteristic_length_nm"].values
    assert l_hot.mean() > 1.3 * l_cold.mean()
    assert (hot.conditions["model_time"].values > cold.conditions["model_time"].values).all()


def test_critical_temperature_is_omega_over_2r_and_the_curvature_vanishes_there():
    assert al.critical_temperature_k(OMEGA) == pytest.approx(TC, rel=1e-12)
    assert TC - al.ZERO_CELSIUS_K == pytest.approx(580.0)
    h = 1e-4  # f''(½) = 4RT − 2Ω: zero exactly at T_c, negative below (unstable), positive above
    curvature = [(al.chemical_potential_j_mol(0.5 + h, t, OMEGA) - al.chemical_potential_j_mol(0.5 - h, t, OMEGA)) / (2 * h)
                 for t in (0.9 * TC, TC, 1.1 * TC)]
    assert curvature[0] < 0 < curvature[2] and abs(curvature[1]) < 1e-4 * R * TC


def test_amplitude_vanishes_and_width_diverges_at_the_critical_temperature():
    theta = np.array([0.5, 0.8, 0.9, 0.99, 0.9999])
    m_b = al.binodal_amplitude(theta)
    xi = al.interface_width_nm(theta, FE_CR.interface_width0_nm)
    assert (np.diff(m_b) < 0).all() and (np.diff(xi) > 0).all()
    assert m_b[-1] < 0.02 and xi[-1] == pytest.approx(100 * FE_CR.interface_width0_nm)
    np.testing.assert_allclose(m_b[-1], np.sqrt(3 * (1 - theta[-1])), rtol=1e-3)  # mean-field exponent ½
    assert al.binodal_amplitude(1.0) == 0 and al.binodal_amplitude(1.2) == 0  # no gap at or above T_c
    assert np.isinf(al.interface_width_nm(1.0, 0.5)) and al.spinodal_amplitude(1.05) == 0


@pytest.mark.parametrize("theta", [0.3, 0.6, 0.85, 0.95, 0.999])
def test_binodal_phases_satisfy_the_common_tangent(theta):
    t = theta * TC
    x1, x2 = al.binodal_fractions(theta)
    mu1, mu2 = (al.chemical_potential_j_mol(x, t, OMEGA) / (R * t) for x in (x1, x2))
    f1, f2 = (al.free_energy_j_mol(x, t, OMEGA) / (R * t) for x in (x1, x2))
    assert abs(mu1 - mu2) < 1e-6  # equal slopes ...
    assert abs((f2 - f1) - mu1 * (x2 - x1)) < 1e-6  # ... of one line touching both
    assert 0 < x1 < 0.5 < x2 < 1
    x_s = (1 - al.spinodal_amplitude(theta)) / 2  # the spinodal: f'' = 0, inside the binodal
    h = 1e-5
    f2nd = (al.chemical_potential_j_mol(x_s + h, t, OMEGA) - al.chemical_potential_j_mol(x_s - h, t, OMEGA)) / (2 * h)
    assert abs(f2nd) < 1e-4 * R * t and x1 < x_s


def test_conditions_carry_units_and_the_card_its_sources():
    ds = annealed(520.0)
    c = ds.conditions
    assert (c["anneal_temperature_C"].unit, c["anneal_time_h"].unit, c["characteristic_length_nm"].unit) == ("°C", "h", "nm")
    assert c["anneal_temperature_C"].role == c["anneal_time_h"].role == "processing"
    assert c["phase_fraction"].role == c["characteristic_length_nm"].role == "property"
    np.testing.assert_allclose(c["anneal_temperature_C"].values, 520.0)
    assert ds.pixel_size == 2.0 and ds.pixel_unit == "nm" and ds.attrs["alloy"] == "Fe-Cr"
    assert "Sugihara" in ds.attrs["source_activation_energy_j_mol"] and ds.attrs["critical_temperature_C"] == pytest.approx(580)
    # the solute-rich phase approaches the lever rule of the regular solution at this temperature
    gap = np.abs(c["phase_fraction"].values - c["equilibrium_fraction"].values)
    assert gap.mean() < 0.06
    np.testing.assert_array_equal(ds.signals, build("spinodal-alloy", n=4, size=24, seed=5, anneal_temperature_c="520",
                                                    anneal_time_h="200", device="cpu").signals)


@pytest.mark.parametrize("overrides, message", [
    ({"anneal_temperature_c": "560..600"}, r"600 °C is at or above the Fe-Cr miscibility gap \(T_c = 580 °C\)"),
    ({"solute_fraction": "0.2"}, r"Cr fraction 0.2 lies outside the spinodal"),
    ({"anneal_temperature_c": "578", "solute_fraction": "0.5", "size": 16}, r"wider than size/8"),
    ({"pixel_size_nm": 0.0}, r"pixel_size_nm must be a positive length"),
    ({"pixel_size_nm": 5.0}, r"under the 0.5 px"),
    ({"alloy": "Al-Zn"}, r"unknown alloy system 'Al-Zn'; choose from Fe-Cr"),
    ({"anneal_time_h": "0..10"}, r"anneal_time_h"),
])
def test_bad_processing_is_a_one_line_error(overrides, message):
    with pytest.raises(MatgenError, match=message) as error:
        build("spinodal-alloy", n=2, size=overrides.pop("size", 32), **overrides)
    assert "\n" not in str(error.value)


def test_build_help_states_the_units():
    import typer

    command = typer.main.get_command(app).commands["data"].commands["build"].commands["spinodal-alloy"]
    helps = {p.name: p.help or "" for p in command.params}
    assert "°C" in helps["anneal_temperature"] and "(default 475..525)." in helps["anneal_temperature"]
    assert "hours" in helps["anneal_time"] and "(default 100..1000)." in helps["anneal_time"]
    assert "nm" in helps["pixel_size"] and "°C" in command.help and "nm" in command.help
    assert CliRunner().invoke(app, ["data", "build", "spinodal-alloy", "--help"]).exit_code == 0


def test_nearest_processing_is_nearest_in_inverse_temperature_and_log_time():
    from matgen.evaluate.processing import compare_sets, nearest_processing

    assert nearest_processing([480, 520, 480], [100, 100, 1000], [481], [900], 2).tolist() == [[2, 0]]
    maps = (np.random.default_rng(0).random((4, 16, 16)) > 0.5).astype(np.uint8)
    same = compare_sets(maps, maps)
    assert same["phase_fraction_error"] == 0 and same["length_error"] == 0 and same["s2_distance"] == 0
    other = compare_sets(1 - maps[:, :, ::-1], maps)
    assert other["phase_fraction_error"] == pytest.approx(abs(1 - 2 * maps.mean()))
