"""Physics-guided sampling: the differentiable elastic simulator steers a sampler towards property targets.

Known answers: the effective stiffness's gradient matches finite differences; a linear constraint
is met exactly by one Gauss-Newton step; a density target moves the phase fraction where the rule
of mixtures puts it; scale 0 is unguided sampling, exactly.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from matgen.builders import build
from matgen.cli.main import app
from matgen.data import read, write
from matgen.errors import MatgenError
from matgen.generative import constraint_guidance
from matgen.physics.elastic import homogenize, soft_properties
from matgen.physics.phases import phase_by_name
from matgen.sample import sample
from matgen.sample.physics import Interval, interval_residuals
from matgen.train import TrainConfig, train

pytestmark = pytest.mark.usefixtures("one_thread")
NET = {"base_channels": 8, "channel_mults": [1, 2], "time_dim": 32}
RHO = (phase_by_name("Al").density_g_cm3, phase_by_name("SiC").density_g_cm3)


@pytest.mark.parametrize("name", ["modulus_x", "modulus_y", "modulus", "shear_modulus", "density", "phase_fraction"])
def test_the_soft_moduli_have_the_gradient_finite_differences_give(name):
    """One forward solve gives d(property)/d phi(x) = eps_i . (C1 - C0) eps_j / N (no second solve)."""
    phi = torch.rand(2, 10, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    value = soft_properties(phi, tol=1e-12, max_iter=2000)[name]
    (grad,) = torch.autograd.grad(value.sum(), phi)
    h = 1e-5
    for b, i, j in [(0, 3, 4), (1, 7, 2), (0, 9, 9)]:
        up, down = phi.detach().clone(), phi.detach().clone()
        up[b, i, j] += h
        down[b, i, j] -= h
        fd = (soft_properties(up, tol=1e-12, max_iter=2000)[name][b] - soft_properties(down, tol=1e-12, max_iter=2000)[name][b]) / (2 * h)
        assert float(grad[b, i, j]) == pytest.approx(float(fd), rel=1e-6, abs=1e-12)


def test_on_label_maps_the_soft_form_is_the_homogenization():
    labels = (torch.rand(3, 12, 12, generator=torch.Generator().manual_seed(1)) > 0.6).long()
    exact, soft = homogenize(labels, tol=1e-10), soft_properties(labels.double(), tol=1e-10)
    assert torch.allclose(soft["modulus_x"], exact.youngs_x_gpa, rtol=1e-8)
    assert torch.allclose(soft["modulus"], exact.youngs_mean_gpa, rtol=1e-8)
    assert torch.allclose(soft["density"], exact.density_g_cm3, rtol=1e-12)


def test_one_gauss_newton_step_meets_linear_constraints_and_scale_zero_is_the_denoiser():
    w = torch.randn(2, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    goal = torch.tensor([1.0, -2.0], dtype=torch.float64)

    def denoiser(x, sigma, cond):
        return 0.5 * x

    x = torch.randn(3, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    guided = constraint_guidance(denoiser, lambda x0: x0 @ w.T - goal, scale=1.0, damping=0.0)
    assert torch.allclose(guided(x, torch.ones(3), None) @ w.T, goal.expand(3, 2))
    half = constraint_guidance(denoiser, lambda x0: x0 @ w.T - goal, scale=0.5, damping=0.0)(x, torch.ones(3), None)
    assert torch.allclose(half @ w.T - goal, 0.5 * ((0.5 * x) @ w.T - goal))  # half the residual left
    assert constraint_guidance(denoiser, lambda x0: x0 @ w.T, scale=0.0)(x, torch.ones(3), None).equal(0.5 * x)


def test_a_smooth_metric_meets_the_same_constraints_with_a_smoother_step():
    """Stepping in the metric of a Gaussian smoother G: J G^2 J^T (J G^2 J^T)^-1 r = r still, but the change is smooth."""
    from matgen.sample.physics import gaussian_smoother

    w = torch.randn(2, 1, 12, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    goal = torch.tensor([0.5, -1.0], dtype=torch.float64)

    def residuals(x0):
        return torch.einsum("bchw,kchw->bk", x0, w) - goal

    x = torch.zeros(2, 1, 12, 12, dtype=torch.float64)
    plain = constraint_guidance(lambda x, s, c: x, residuals, 1.0, damping=0.0)(x, torch.ones(2), None)
    smooth = constraint_guidance(lambda x, s, c: x, residuals, 1.0, damping=0.0,
                                 smoother=gaussian_smoother(1.0))(x, torch.ones(2), None)
    for out in (plain, smooth):
        assert torch.allclose(residuals(out), torch.zeros(2, 2, dtype=torch.float64), atol=1e-9)

    def roughness(field):  # neighbour differences over the field's own size: 0 for a constant, ~4 for noise
        return float(((field - field.roll(1, -1)).pow(2).sum() + (field - field.roll(1, -2)).pow(2).sum()) / field.pow(2).sum())

    assert roughness(smooth) < 0.5 * roughness(plain)


def test_interval_residuals_are_one_sided_outside_and_zero_inside():
    values = torch.tensor([1.0, 5.0, 12.0])
    r = interval_residuals(values, torch.tensor(4.0), torch.tensor(10.0), torch.tensor(2.0))
    assert r.tolist() == [-1.5, 0.0, 1.0]
    assert interval_residuals(values, torch.tensor(-np.inf), torch.tensor(np.inf), torch.tensor(1.0)).tolist() == [0, 0, 0]
    target = Interval.around([100.0, 200.0])
    assert target.scale.tolist() == [1.0, 2.0] and target.low.tolist() == target.high.tolist() == [100.0, 200.0]


@pytest.fixture(scope="module")
def unconditional(tmp_path_factory):
    """A tiny unconditional diffusion model of 16 x 16 composites (20 steps): it knows nothing of density."""
    folder = tmp_path_factory.mktemp("physics")
    data = write(folder / "c.h5", build("composite", n=48, size=16, seed=0))
    train(data, TrainConfig(conditions=(), net="tiny", net_options=NET, steps=20, batch_size=16, lr=2e-3,
                            warmup_steps=2, eval_every=10, log_every=10, device="cpu"), folder / "run")
    train(data, TrainConfig(model="vae", conditions=(), net="tiny", steps=30, batch_size=16, lr=2e-3, warmup_steps=2,
                            device="cpu"), folder / "vae")
    return folder


@pytest.mark.parametrize("density", [2.80, 2.95])
def test_guidance_towards_a_density_puts_the_phase_fraction_where_the_rule_of_mixtures_does(unconditional, density):
    run = unconditional / "run"
    want = (density - RHO[0]) / (RHO[1] - RHO[0])
    free = sample(run, {"density": density}, n=8, steps=8, seed=0, physics="elastic", physics_scale=0.0)
    guided = sample(run, {"density": density}, n=8, steps=8, seed=0, physics="elastic", physics_scale=1.0)
    fraction = guided.dataset.signals.reshape(8, -1).mean(1)
    assert abs(np.median(fraction) - want) < 0.02
    assert abs(np.median(free.dataset.signals.reshape(8, -1).mean(1)) - want) > 0.08
    assert guided.dataset.conditions["density"].values.tolist() == [density] * 8  # the request, recorded
    assert guided.dataset.attrs["physics"] == "elastic" and guided.dataset.attrs["physics_scale"] == 1.0


def test_a_vae_is_guided_through_its_latent_and_scale_zero_is_its_prior_draw(unconditional):
    vae = unconditional / "vae"
    want = (2.95 - RHO[0]) / (RHO[1] - RHO[0])
    plain = sample(vae, None, n=6, seed=1)
    zero = sample(vae, {"density": 2.95}, n=6, seed=1, physics="elastic", physics_scale=0.0)
    guided = sample(vae, {"density": 2.95}, n=6, seed=1, physics="elastic", physics_scale=2.0)
    assert np.array_equal(plain.dataset.signals, zero.dataset.signals)
    off = [abs(np.median(r.dataset.signals.reshape(6, -1).mean(1)) - want) for r in (plain, guided)]
    assert off[1] < 0.03 < off[0]


def test_scale_zero_is_unguided_sampling_exactly(tmp_path):
    """The campaign tests' conditional run: physics guidance at scale 0 changes no pixel."""
    data = write(tmp_path / "s.h5", build("spinodal", n=48, size=16, seed=0, anneal_time="150..300"))
    train(data, TrainConfig(conditions=("density",), net="tiny", net_options=NET, steps=20, batch_size=16, lr=2e-3,
                            warmup_steps=2, eval_every=10, log_every=10, device="cpu"), tmp_path / "run")
    plain = sample(tmp_path / "run", {"density": 2.9}, n=4, steps=6, seed=3)
    zero = sample(tmp_path / "run", {"density": 2.9}, n=4, steps=6, seed=3, physics="elastic", physics_scale=0.0)
    assert np.array_equal(plain.dataset.signals, zero.dataset.signals)


def test_bad_physics_guidance_is_a_clear_error(unconditional):
    run = unconditional / "run"
    from matgen.simulators.base import Evaluation, Output, Simulator

    class Measured(Simulator):  # a simulator of numbers only, with no differentiable form
        name, kinds, outputs = "measured", ("micrograph",), (Output("density", "g/cm3"),)

        def __call__(self, samples):
            return Evaluation({"density": np.full(len(samples), 2.9)})

    with pytest.raises(MatgenError, match="simulator 'measured' has no differentiable form.*use one that has: "
                                          "elastic, xrd-phases, eels-thickness, raman-bands"):
        sample(run, {"density": 2.9}, n=2, steps=2, physics=Measured())
    with pytest.raises(MatgenError, match="physics guidance by 'raman-bands' takes raman data, but this data is "
                                          "micrograph"):
        sample(run, {"density": 2.9}, n=2, steps=2, physics="raman-bands")
    with pytest.raises(MatgenError, match="needs a target among its outputs: phase_fraction, modulus"):
        sample(run, None, n=2, steps=2, physics="elastic")
    with pytest.raises(MatgenError, match="unknown target 'hardness'"):
        sample(run, {"density": 2.9, "hardness": 3}, n=2, steps=2, physics="elastic")
    with pytest.raises(MatgenError, match="physics scale must be a number >= 0"):
        sample(run, {"density": 2.9}, n=2, steps=2, physics="elastic", physics_scale=-1.0)


def test_cli_samples_with_physics_guidance_and_refuses_a_scale_without_it(unconditional, tmp_path):
    out = tmp_path / "g.h5"
    result = CliRunner().invoke(app, ["sample", str(unconditional / "run"), "--target-density", "2.95", "-n", "3",
                                      "--steps", "6", "--physics-guidance", "elastic", "--physics-scale", "1",
                                      "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert read(out).attrs["physics"] == "elastic" and read(out).conditions["density"].unit == "g/cm3"
    bad = CliRunner().invoke(app, ["sample", str(unconditional / "run"), "--physics-scale", "2", "-o", str(out)])
    assert bad.exit_code == 2 and "--physics-scale needs --physics-guidance" in bad.output


def test_sweep_measures_each_setting_and_the_cli_writes_the_table_json_and_picture(unconditional, tmp_path):
    import json

    from matgen.sample.sweep import grid, sweep

    assert grid({"steps": [4, 8], "physics_scale": [0, 1]}) == [
        {"steps": 4, "physics_scale": 0}, {"steps": 4, "physics_scale": 1},
        {"steps": 8, "physics_scale": 0}, {"steps": 8, "physics_scale": 1}]
    with pytest.raises(MatgenError, match="cannot sweep sampler; sweep guidance, steps, physics_scale"):
        grid({"sampler": ["ddim"]})
    rows = sweep(unconditional / "run", {"density": 2.95}, {"physics_scale": [0.0, 1.0]}, "elastic", n=4, steps=6,
                 physics="elastic")
    assert [r.settings for r in rows] == [{"physics_scale": 0.0}, {"physics_scale": 1.0}]
    assert rows[1].median_error["density"] < rows[0].median_error["density"]  # guidance towards the target helps
    assert rows[1].within["density"] >= rows[0].within["density"] and rows[0].diversity > 0
    out = tmp_path / "sw"
    result = CliRunner().invoke(app, ["sweep", str(unconditional / "run"), "--target-density", "2.95", "--validate",
                                      "elastic", "--physics-guidance", "elastic", "--physics-scale", "0,1",
                                      "--steps", "6", "-n", "3", "-o", str(out)])
    assert result.exit_code == 0, result.output
    doc = json.loads(out.with_suffix(".json").read_text())
    assert len(doc["rows"]) == 2 and out.with_suffix(".png").stat().st_size > 1000
    assert "within density" in result.output.replace("\n", "")
    bad = CliRunner().invoke(app, ["sweep", str(unconditional / "run"), "--target-density", "2.9", "--validate",
                                   "elastic", "--physics-scale", "1", "-o", str(out)])
    assert bad.exit_code == 2 and "--physics-scale needs --physics-guidance" in bad.output
