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


# --------------------------------------------------------------------------- physics guidance by the analyses


def _relative(ds) -> torch.Tensor:
    """The relative intensities (max 1) a sampler's soft field holds, as a float64 tensor."""
    y = np.asarray(ds.signals, dtype=np.float64)
    return torch.tensor(y / np.abs(y).max(1, keepdims=True), requires_grad=True)


@pytest.mark.parametrize("kind, name, options", [
    ("eels", "eels-thickness", dict(points=512, dispersion_ev=0.4)),
    ("raman", "raman-bands", dict(points=1024)),
    ("xrd", "xrd-phases", dict(points=1024)),
])
def test_each_differentiable_form_gives_the_analysis_value_and_a_gradient(kind, name, options):
    ds = build(kind, n=8, seed=3, **options)
    simulator = get_simulator(name).bind(ds)
    evaluation = simulator(ds)
    signals = _relative(ds)  # the analyses do not depend on the intensity scale
    outputs = simulator.differentiable(signals, ds)
    assert set(outputs) == set(simulator.guided_outputs or [o.name for o in simulator.outputs])
    # the same value as the analysis; xrd: where the fit finds every phase (a phase it leaves out
    # is solved for instead of set to 0, which moves the others by up to about a wt%)
    every_phase = np.all([evaluation.properties[o] > 0 for o in outputs], 0) if kind == "xrd" else np.ones(8, bool)
    assert every_phase.sum() >= 3
    for output, value in outputs.items():
        soft, analysed = value.detach().numpy(), evaluation.properties[output]
        np.testing.assert_allclose(soft[every_phase], analysed[every_phase], atol=1e-6)
        np.testing.assert_allclose(soft, analysed, atol=1.5)  # wt%: half the validator's tolerance
    first = next(iter(outputs.values()))
    gradient, = torch.autograd.grad(first.sum(), signals)
    assert torch.isfinite(gradient).all() and (gradient.abs().sum(1) > 0).all()  # every row can be steered


def _steered(simulator, ds, targets: dict, steps: int = 6):
    """The relative spectra of ``ds`` after ``steps`` Gauss-Newton steps towards ``targets`` (output -> value), in the
    smoothed metric sampling uses (a Euclidean step reshapes single channels, and the band vertex diverges)."""
    from matgen.generative.guidance import gauss_newton_step
    from matgen.sample.physics import SPECTRUM_SMOOTHING_CHANNELS, Interval, gaussian_smoother

    x = _relative(ds).detach()
    intervals = {k: Interval.of(v, v, 1.0, len(ds)) for k, v in targets.items()}

    def residuals(signals):
        out = simulator.differentiable(signals, ds)
        return torch.stack([(out[k] - torch.as_tensor(intervals[k].low)) / 1.0 for k in targets], 1)

    smoother = gaussian_smoother(SPECTRUM_SMOOTHING_CHANNELS, dims=1)  # as sampling steps spectra
    for _ in range(steps):
        x = x - gauss_newton_step(residuals, x, smoother=smoother)
    steered = ds.take(np.arange(len(ds)))
    steered.signals = x.numpy().astype(np.float32)
    return steered


def test_gauss_newton_on_the_forms_reaches_the_requested_thickness_temperature_and_composition():
    eels = build("eels", n=4, points=512, seed=2, dispersion_ev=0.4)
    simulator = get_simulator("eels-thickness")
    moved = simulator(_steered(simulator, eels, {"thickness": 1.3})).properties["thickness"]
    assert np.abs(moved - 1.3).max() < 0.01 * 1.3, moved  # measured by the numpy analysis

    raman_ds = build("raman", n=3, points=1024, seed=5, minerals=("silicon", "calcite", "diamond"))
    simulator = get_simulator("raman-bands").bind(raman_ds)
    before = simulator(raman_ds).properties["band_temperature"]
    target = raman_ds.conditions["temperature"].values + 200.0  # the band moves by 200 |dω/dT| cm-1
    steered = _steered(simulator, raman_ds, {"band_temperature": target})
    after = simulator(steered).properties["band_temperature"]
    assert np.abs(before - target).min() > 150 and np.abs(after - target).max() < 30.0, (before, after, target)

    xrd = build("xrd", n=3, points=1024, seed=1)
    simulator = get_simulator("xrd-phases").bind(xrd)
    wanted = {"wt_quartz": 40.0, "wt_corundum": 30.0, "wt_calcite": 20.0, "wt_rutile": 10.0}
    after = simulator(_steered(simulator, xrd, wanted)).properties
    assert max(np.abs(after[k] - v).max() for k, v in wanted.items()) < 3.0, after


def test_sample_with_physics_guidance_by_a_spectrum_analysis(tmp_path):
    data = write(tmp_path / "eels.h5", build("eels", n=24, points=128, seed=0, dispersion_ev=0.8))
    train(data, TrainConfig(model="flow", conditions=("material", "thickness"), steps=3, **TINY), tmp_path / "run")
    from matgen.sample import sample

    targets = {"material": "Al", "thickness": 0.9}
    plain = sample(tmp_path / "run", targets, n=4, steps=16, seed=0).dataset
    guided = sample(tmp_path / "run", targets, n=4, steps=16, seed=0, physics="eels-thickness")
    assert guided.dataset.attrs["physics"] == "eels-thickness" and "thickness" in guided.dataset.conditions
    simulator = get_simulator("eels-thickness")
    error = {k: np.abs(simulator(ds).properties["thickness"] - 0.9) for k, ds in (("plain", plain),
                                                                                   ("guided", guided.dataset))}
    assert np.nanmedian(error["guided"]) < 0.05 < 0.5 < np.nanmedian(error["plain"]), error  # an untrained model


def test_guidance_raman_bands_cannot_give_is_one_clear_error(tmp_path):
    from matgen.errors import MatgenError
    from matgen.sample import sample

    data = write(tmp_path / "raman.h5", build("raman", n=12, points=64, seed=0, minerals=("silicon", "calcite")))
    train(data, TrainConfig(model="flow", conditions=("mineral", "temperature"), steps=2, **TINY), tmp_path / "run")
    with pytest.raises(MatgenError, match="steers band_shift, band_temperature, band_stress, not 'band_fwhm'"):
        sample(tmp_path / "run", {"mineral": "silicon", "band_fwhm": 5.0}, n=1, steps=2, physics="raman-bands")
    result = sample(tmp_path / "run", {"mineral": "silicon", "temperature": 500.0}, n=2, steps=2,
                    physics="raman-bands", physics_scale=1.0)  # temperature steers band_temperature
    assert "band_temperature" in result.dataset.attrs["physics_targets"]
    with pytest.raises(MatgenError, match="give --target-mineral NAME \\(one of silicon, calcite\\)"):
        sample(tmp_path / "run", {"temperature": 500.0}, n=1, steps=2, physics="raman-bands")
    train(data, TrainConfig(model="flow", conditions=("temperature",), steps=2, **TINY), tmp_path / "plain")
    with pytest.raises(MatgenError, match="measures only with a run conditioned on 'mineral'"):
        sample(tmp_path / "plain", {"temperature": 500.0}, n=1, steps=2, physics="raman-bands")
