"""Inpainting: RePaint against the closed-form conditional mean of Gaussian data, the library, the CLI and its errors.

For x0 ~ N(mu, S) the ideal VE denoiser is D(x, sigma) = mu + S (S + sigma^2 I)^-1 (x - mu), and
the missing part given the observed one has the mean mu_u + S_uk S_kk^-1 (y_k - mu_k): RePaint's
samples should average to it, closer with resampling than without.
"""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from matgen.builders import build
from matgen.cli.main import app
from matgen.data import read, write
from matgen.errors import MatgenError
from matgen.generative import karras_sigmas
from matgen.generative.inpaint import repaint, repaint_schedule
from matgen.sample import inpaint
from matgen.sample.inpainting import unknown_points
from matgen.train import TrainConfig, train

from test_train import TINY, TINY_VAE, assert_one_line_error, toy_dataset

pytestmark = pytest.mark.usefixtures("one_thread")  # small nets: one thread (tests/conftest.py)
runner = CliRunner()


# --- the pure function against closed forms -----------------------------------------------------------


def test_the_schedule_goes_down_one_step_at_a_time_and_resamples_each_jump_point():
    assert repaint_schedule(5) == [0, 1, 2, 3, 4, 5]
    path = repaint_schedule(12, jump=3, resample=4)
    assert path[0] == 0 and path[-1] == 12
    assert all(abs(b - a) == 1 for a, b in zip(path, path[1:]))
    downs = sum(b > a for a, b in zip(path, path[1:]))
    assert downs == 12 + 3 * 3 * len(range(12, 3, -3))  # (r - 1) j extra steps at 12, 9, 6
    with pytest.raises(MatgenError, match="at least 1"):
        repaint_schedule(5, jump=0)


def _gaussian(d: int = 12):
    i = np.arange(d)
    cov = np.exp(-((i[:, None] - i[None]) ** 2) / (2 * 3.0**2)) + 1e-2 * np.eye(d)  # smooth: a band spans points
    mu = np.sin(i / 2.0)
    return torch.tensor(mu), torch.tensor(cov)


def _exact_denoiser(mu, cov):
    eye = torch.eye(len(mu), dtype=cov.dtype)

    def denoiser(x, sigma, cond):  # x (B, d), sigma (B,)
        gain = cov @ torch.linalg.inv(cov + sigma[0] ** 2 * eye)  # (d, d): one sigma per call
        return mu + (x - mu) @ gain.T

    return denoiser


@pytest.mark.parametrize("jump,resample,bound", [(1, 1, 0.6), (3, 5, 0.25), (1, 10, 0.1)])  # measured 0.47, 0.20, 0.07
def test_repaint_with_the_exact_denoiser_approaches_the_conditional_mean(jump, resample, bound):
    mu, cov = _gaussian()
    known = torch.ones(12, dtype=torch.bool)
    known[4:8] = False  # the middle is missing
    k, u = known.numpy(), ~known.numpy()
    y = mu + torch.linalg.cholesky(cov) @ torch.randn(12, generator=torch.Generator().manual_seed(3), dtype=cov.dtype)
    c = cov.numpy()
    exact = mu.numpy()[u] + c[np.ix_(u, k)] @ np.linalg.solve(c[np.ix_(k, k)], (y - mu).numpy()[k])
    prior_error = np.abs(mu.numpy()[u] - exact).max()
    B = 2000
    sigmas = karras_sigmas(20, 0.01, 20.0)  # (21,) ending in 0
    x = sigmas[0] * torch.randn(B, 12, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = repaint(_exact_denoiser(mu, cov), x, sigmas, known.expand(B, 12), y.expand(B, 12), jump=jump,
                  resample=resample, generator=torch.Generator().manual_seed(1))
    assert torch.equal(out[:, known], y[known].expand(B, 8))  # the observation exactly
    error = np.abs(out[:, ~known].mean(0).numpy() - exact).max()
    assert error < bound * prior_error, (error, prior_error)  # of the prior mean's error; resampling closes the gap


# --- the library and the CLI on tiny trained runs -------------------------------------------------------


@pytest.fixture(scope="module")
def raman_path(tmp_path_factory):
    return write(tmp_path_factory.mktemp("data") / "raman.h5", build("raman", n=24, points=64, seed=0))


@pytest.fixture(scope="module", params=["diffusion", "flow"])
def run_dir(request, raman_path, tmp_path_factory):
    """A tiny run of each kind conditioned on mineral and temperature (a few steps: plumbing, not quality)."""
    out = tmp_path_factory.mktemp("runs") / request.param
    train(raman_path, TrainConfig(model=request.param, conditions=("mineral", "temperature"), steps=3, **TINY), out)
    return out


def test_the_mask_is_the_ranges_plus_the_nan_points_and_must_lie_on_the_axis(raman_path):
    data = read(raman_path).take([0, 1])
    data.signals[1, :3] = np.nan
    unknown = unknown_points(data, [(500.0, 600.0)])
    x = data.axis.values
    assert (unknown[0] == ((x >= 500) & (x <= 600))).all() and unknown[1, :3].all() and unknown[1].sum() > 3
    with pytest.raises(MatgenError, match=r"mask 2000..2100 cm-1 lies outside the axis 100..1800 cm-1"):
        unknown_points(data, [(2000.0, 2100.0)])
    with pytest.raises(MatgenError, match="is empty"):
        unknown_points(data, [(600.0, 500.0)])


def test_inpaint_keeps_the_observed_points_exactly_and_records_provenance(run_dir, raman_path):
    data = read(raman_path).take([0, 1, 2])
    data.signals[2, -5:] = np.nan
    result = inpaint(run_dir, data, [(400.0, 480.0)], steps=4, jump=2, resample=2, seed=7)
    ds = result.dataset
    unknown = unknown_points(data, [(400.0, 480.0)])
    assert np.array_equal(ds.signals[~unknown], data.signals[~unknown]) and np.isfinite(ds.signals).all()
    assert ds.attrs["inpaint_seed"] == 7 and json.loads(ds.attrs["inpaint_masks"]) == [[400.0, 480.0]]
    assert ds.attrs["inpaint_run"] == str(run_dir) and len(ds.attrs["inpaint_checkpoint_sha256"]) == 64
    assert list(ds.conditions["inpainted_points"].values) == list(unknown.sum(1)) and ds.synthetic.all()
    again = inpaint(run_dir, data.take([1]), [(400.0, 480.0)], steps=4, jump=2, resample=2, seed=8).dataset
    np.testing.assert_allclose(again.signals[0], ds.signals[1], rtol=1e-5, atol=1e-6)  # row i uses seed + i


def test_cli_inpaint_writes_the_filled_file(run_dir, raman_path, tmp_path):
    out = tmp_path / "filled.h5"
    result = runner.invoke(app, ["inpaint", str(raman_path), "--model", str(run_dir), "--mask", "400..480",
                                 "--mask", "1000..1100", "--steps", "3", "--jumps", "1", "--resample", "1",
                                 "--target-temperature", "500", "-o", str(out)])
    assert result.exit_code == 0, result.output
    ds, data = read(out), read(raman_path)
    unknown = unknown_points(data, [(400.0, 480.0), (1000.0, 1100.0)])
    assert np.array_equal(ds.signals[~unknown], data.signals[~unknown])
    assert ds.attrs["inpaint_input"] == str(raman_path) and "temperature" in ds.attrs["inpaint_targets"]


def test_cli_inpaint_errors_are_one_line(run_dir, raman_path, tmp_path):
    out = str(tmp_path / "x.h5")
    base = ["inpaint", str(raman_path), "--model", str(run_dir), "-o", out]
    assert_one_line_error(runner.invoke(app, base + ["--mask", "2000..2100"]), "lies outside the axis 100..1800 cm-1")
    assert_one_line_error(runner.invoke(app, base), "no point is masked")
    assert_one_line_error(runner.invoke(app, base + ["--mask", "0..5000"]), "is masked everywhere")
    assert_one_line_error(runner.invoke(app, base + ["--mask", "400-480"]), "--mask '400-480' is not a range")
    other = write(tmp_path / "other.h5", build("raman", n=4, points=96, seed=1))
    assert_one_line_error(runner.invoke(app, ["inpaint", str(other), "--model", str(run_dir), "--mask", "400..480",
                                              "-o", out]), "differs from the run's")
    assert not (tmp_path / "x.h5").exists()


def test_inpaint_refuses_a_run_without_a_denoiser_on_spectra(raman_path, tmp_path):
    toy = write(tmp_path / "toy.h5", toy_dataset(n=16))
    train(toy, TrainConfig(conditions=("density",), steps=2, **TINY_VAE), tmp_path / "vae")
    with pytest.raises(MatgenError, match="is a vae run; inpainting needs a denoiser on the signals"):
        inpaint(tmp_path / "vae", read(raman_path).take([0]), [(400.0, 480.0)])
    train(toy, TrainConfig(conditions=("density",), steps=2, **TINY), tmp_path / "micro")
    with pytest.raises(MatgenError, match="inpainting fills ranges of spectra"):
        inpaint(tmp_path / "micro", read(raman_path).take([0]), [(400.0, 480.0)])
