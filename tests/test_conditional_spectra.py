"""Requested vs achieved for spectra: each validator returns the known state of built spectra within its tolerance.

xrd-phases: the weight fractions of built XRD mixtures (±3 wt%); raman-bands: the temperature and
stress of built Raman spectra through the band shift (the inversion is exact on the forward
model's positions; on noisy spectra within the shift 30 K causes); eels-thickness: t/λ (5 %).
Then `matgen sample --validate raman-bands` prints the table on a tiny run.
"""

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from matgen.builders import build
from matgen.cli.main import app
from matgen.data import read, write
from matgen.physics import raman
from matgen.simulators import get_simulator, run_simulator
from matgen.simulators.validate import compare_targets, validated_dataset
from matgen.train import TrainConfig, train

from test_train import TINY

pytestmark = pytest.mark.usefixtures("one_thread")  # small nets: one thread (tests/conftest.py)


def _checks(ds, name):
    simulator = get_simulator(name)
    evaluation = run_simulator(simulator, ds)
    return evaluation, {c.name: c for c in compare_targets(ds, simulator, evaluation)}


def test_the_band_inversion_is_exact_on_the_forward_models_positions():
    for name in ("silicon", "quartz", "calcite", "diamond"):
        omega = raman.expected_band_cm1(name, 650.0, 0.4)
        assert raman.temperature_from_band_k(name, omega, 0.4) == pytest.approx(650.0, abs=1e-9)
        assert raman.stress_from_band_gpa(name, omega, 650.0) == pytest.approx(0.4, abs=1e-12)
    omega0, dwdt, dwdp = raman.reference_band_coefficients("silicon")
    assert (omega0, dwdt, dwdp) == (520.7, -0.022, 5.2)
    state = raman.phase_bands("silicon", torch.tensor([650.0]).double(), torch.tensor([0.4]).double(),
                              torch.tensor([532.0]).double())
    assert raman.expected_band_cm1("silicon", 650.0, 0.4) == pytest.approx(state.position_cm1[0, 0].item())


def test_raman_bands_reads_temperature_and_stress_from_a_clean_band():
    axis = torch.linspace(100.0, 1800.0, 4096, dtype=torch.float64)
    y = raman.band_spectrum(axis, "silicon", torch.tensor([500.0]).double(), torch.tensor([0.5]).double())
    ds = build("raman", n=1, points=4096, seed=0, minerals=("silicon",))
    ds.signals = 1000 * y.numpy().astype(np.float32)
    ds.conditions["temperature"].values[:] = 500.0
    ds.conditions["stress"].values[:] = 0.5
    ev, checks = _checks(ds, "raman-bands")
    assert ev.properties["band_temperature"][0] == pytest.approx(500.0, abs=5.0)  # 5 K = 0.11 cm-1 of band
    assert ev.properties["band_stress"][0] == pytest.approx(0.5, abs=0.03)
    assert checks["temperature"].output == "band_temperature" and checks["temperature"].tolerance_text == "±30 K"


def test_the_validators_return_the_known_state_of_built_spectra():
    xrd = build("xrd", n=6, points=1024, seed=1)
    _, checks = _checks(xrd, "xrd-phases")
    assert set(checks) == {"wt_quartz", "wt_corundum", "wt_calcite", "wt_rutile"}
    assert all(c.abs_error_mean <= 3.0 and c.within == 1.0 and c.tolerance_text == "±3 wt%" for c in checks.values())
    spectra = build("raman", n=12, points=2048, seed=4)
    ev, checks = _checks(spectra, "raman-bands")
    assert not ev.failed.any() and set(checks) == {"temperature", "stress"}
    assert checks["temperature"].within >= 0.9 and checks["temperature"].abs_error_median < 15.0  # K
    assert checks["stress"].within == checks["temperature"].within  # one band error, two readings
    assert checks["stress"].absolute_tolerance[0] > 0.05 and checks["stress"].absolute_tolerance[1] < 0.3  # GPa
    eels = build("eels", n=8, points=512, seed=2, dispersion_ev=0.4)
    _, checks = _checks(eels, "eels-thickness")
    assert checks["thickness"].relative_error_median <= 0.05 and checks["thickness"].tolerance_text == "5%"


def test_the_state_outputs_need_named_minerals_and_the_requests_become_targets():
    ds = build("raman", n=3, points=512, seed=0)
    simulator = get_simulator("raman-bands")
    assert [o.name for o in simulator.bind(ds).outputs][3:] == ["band_shift", "band_temperature", "band_stress"]
    unnamed = ds.take([0, 1, 2])
    del unnamed.conditions["mineral"]
    assert len(simulator.bind(unnamed).outputs) == 3
    evaluation = run_simulator(simulator, ds)
    out = validated_dataset(ds, simulator, evaluation)
    assert "temperature_target" in out.conditions and "temperature" not in out.conditions
    assert out.conditions["band_temperature"].unit == "K"


def test_cli_sample_validate_raman_prints_temperature_and_stress(tmp_path):
    data = write(tmp_path / "raman.h5", build("raman", n=24, points=64, seed=0))
    train(data, TrainConfig(model="flow", conditions=("mineral", "temperature", "stress"), steps=3, **TINY),
          tmp_path / "run")
    out = tmp_path / "s.h5"
    result = CliRunner().invoke(app, ["sample", str(tmp_path / "run"), "-o", str(out), "-n", "3", "--steps", "2",
                                      "--target-mineral", "silicon", "--target-temperature", "400..600",
                                      "--target-stress", "0.2", "--validate", "raman-bands"])
    assert result.exit_code == 0, result.output
    assert "requested vs achieved (raman-bands" in result.output and "±30" in result.output, result.output
    assert "GPa" in result.output and "not checked: mineral" in result.output  # a category is not measured
    written = read(out).conditions
    assert {"temperature_target", "stress_target", "band_temperature", "band_stress"} <= set(written)
