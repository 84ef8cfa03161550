"""Regressor guidance: a property regressor trained on noisy x_t, its run directory, and sampling steered by it.

The toy data are two-phase 16 x 16 label maps whose SiC area fraction is a condition, with
density = 2.70 + 0.51 x fraction (g/cm3). The regressor learns both from noisy inputs; an
unconditional diffusion run (a few steps: it hardly matters) is then steered towards a low and a
high density, and the phase fraction of the samples must follow.
"""

import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from matgen.cli.main import app
from matgen.common.files import file_sha256
from matgen.data import read, write
from matgen.errors import MatgenError
from matgen.generative import q_sample
from matgen.runs import condition_matrix, load_run, to_network
from matgen.runs.tensors import save_tensors
from matgen.sample import sample
from matgen.sample.regressor import steered
from matgen.train import TrainConfig, resume, train

from test_train import TINY, assert_one_line_error, toy_dataset

pytestmark = pytest.mark.usefixtures("one_thread")  # small nets: one thread (tests/conftest.py)

#: A regressor of ~9k parameters: 2 levels of 8 and 16 channels, a 32-wide head.
TINY_REG = dict(TINY, model="regressor", net_options={"base_channels": 8, "channel_mults": [1, 2], "time_dim": 32,
                                                       "hidden": 32})
runner = CliRunner()


@pytest.fixture(scope="module")
def toy_path(tmp_path_factory):
    return write(tmp_path_factory.mktemp("data") / "toy.h5", toy_dataset())


@pytest.fixture(scope="module")
def reg_result(toy_path, tmp_path_factory):
    """A regressor of fraction (dimensionless) and density (g/cm3), 100 steps (~2 s)."""
    out = tmp_path_factory.mktemp("runs") / "regressor"
    config = TrainConfig(conditions=("fraction", "density"), steps=100, lr=2e-3, warmup_steps=5,
                         **dict(TINY_REG, batch_size=16, log_every=10, eval_every=50))
    return train(toy_path, config, out)


@pytest.fixture(scope="module")
def reg_dir(reg_result):
    return reg_result.run_dir


@pytest.fixture(scope="module")
def diff_dir(toy_path, tmp_path_factory):
    """An unconditional diffusion run, trained 10 steps: regressor guidance does the steering."""
    out = tmp_path_factory.mktemp("runs") / "diffusion"
    train(toy_path, TrainConfig(steps=10, lr=2e-3, warmup_steps=2, **TINY), out)
    return out


@pytest.fixture(scope="module")
def small_reg_dir(tmp_path_factory):
    """A regressor that cannot steer diff_dir: 8 x 8 maps and the linear schedule (2 steps)."""
    base = tmp_path_factory.mktemp("small")
    path = write(base / "toy8.h5", toy_dataset(n=12, size=8))
    train(path, TrainConfig(conditions=("density",), steps=2, schedule="linear", **TINY_REG), base / "run")
    return base / "run"


# --- training ------------------------------------------------------------------------------------


def test_the_regressor_learns_the_property_from_noisy_inputs(reg_result, reg_dir):
    losses = [r["loss"] for r in reg_result.metrics]
    vals = [r["val_loss"] for r in reg_result.metrics if r["val_loss"] is not None]
    assert np.mean(losses[-3:]) < 0.5 * losses[0], losses
    assert vals[-1] < vals[0], vals
    run = load_run(reg_dir)
    held_out = toy_dataset(n=48, seed=1)  # clean (t = 0) maps it never saw
    x = torch.as_tensor(to_network(held_out.signals, run.data))
    with torch.no_grad():
        z = run.model(x, torch.zeros(len(x))).numpy()  # (48, 2) standardised
    truth = condition_matrix(held_out, run.conditions)
    for k, spec in enumerate(run.conditions):
        predicted = spec.mean + spec.std * z[:, k]  # in the condition's unit
        mse, mse_of_the_mean = np.mean((predicted - truth[:, k]) ** 2), np.mean((spec.mean - truth[:, k]) ** 2)
        assert mse < 0.25 * mse_of_the_mean, (spec.name, mse, mse_of_the_mean)


def test_unknown_labels_are_left_out_of_the_loss(reg_dir):
    """loss = mean over the known labels of (z_hat(x_t, t) - z)^2, x_t = sqrt(a_t) x0 + sqrt(1 - a_t) eps."""
    model = load_run(reg_dir).model
    x0 = torch.as_tensor(to_network(toy_dataset(n=4).signals, load_run(reg_dir).data))
    cond = torch.tensor([[0.5, 2.9], [0.3, float("nan")], [float("nan"), float("nan")], [0.6, 3.0]])
    loss = model.loss(x0, cond, None, torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(0)  # the same draws: t first, then eps
    t = torch.randint(1000, (4,), generator=g)
    eps = torch.randn(x0.shape, generator=g)
    with torch.no_grad():
        z_hat = model(q_sample(x0, model.alpha_bar.float()[t], eps), t)
    z = (cond - model.mean) / model.std
    known = ~torch.isnan(z)
    assert known.sum() == 5 and loss.item() == pytest.approx(((z_hat - z)[known] ** 2).mean().item(), rel=1e-5)
    assert model.loss(x0[2:3], cond[2:3], None, torch.Generator()) == 0  # nothing known: nothing to learn


def test_the_run_directory_holds_a_regressor_that_reloads_identically(reg_dir, tmp_path):
    doc = json.loads((reg_dir / "config.json").read_text())
    model = doc["model"]
    assert model["kind"] == "regressor" and model["net"]["n_outputs"] == 2 and model["prediction"] == ""
    assert (model["schedule"], model["timesteps"], model["cond_dim"]) == ("cosine", 1000, 0)
    assert [c["name"] for c in model["conditions"]] == ["fraction", "density"] and model["conditions"][1]["unit"] == "g/cm3"
    run = load_run(reg_dir)
    assert run.kind == "regressor" and run.data.shape == (16, 16) and run.data.norm == "labels"
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(reg_dir / "config.json", copy / "config.json")
    save_tensors(copy / "model.safetensors", run.model.state_dict())
    x, t = torch.randn(3, 1, 16, 16, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 500, 990])
    with torch.no_grad():
        assert torch.equal(run.model(x, t), load_run(copy).model(x, t))


def test_a_regressor_run_resumes_bit_identically(toy_path, tmp_path):
    config = TrainConfig(conditions=("density",), steps=6, warmup_steps=2, checkpoint_every=100, **TINY_REG)
    train(toy_path, config, tmp_path / "whole")

    def interrupt_at_3(done, total, message):
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(toy_path, config, tmp_path / "parts", progress=interrupt_at_3)
    assert resume(tmp_path / "parts").steps == 6
    for name in ("model.safetensors", "checkpoint/ema.safetensors", "checkpoint/optimizer.safetensors"):
        whole, parts = load_file(tmp_path / "whole" / name), load_file(tmp_path / "parts" / name)
        assert whole.keys() == parts.keys() and all(torch.equal(whole[k], parts[k]) for k in whole), name


def test_a_regressor_needs_continuous_conditions(toy_path, tmp_path):
    with pytest.raises(MatgenError, match=r"condition 'texture' is categorical; regressor guidance is for continuous "
                                          r"properties \(this dataset has: fraction, density\)"):
        train(toy_path, TrainConfig(conditions=("density", "texture"), steps=2, **TINY_REG), tmp_path / "r")
    with pytest.raises(MatgenError, match="a regressor predicts continuous conditions: name them with --condition"):
        TrainConfig(model="regressor").check()
    with pytest.raises(MatgenError, match="the regressor has presets tiny, small and base"):
        TrainConfig(model="regressor", conditions=("density",), net="large").check()
    assert not (tmp_path / "r" / "config.json").exists()


# --- guided sampling -----------------------------------------------------------------------------


def test_guidance_towards_a_high_or_low_density_orders_the_phase_fraction(diff_dir, reg_dir):
    reg = load_run(reg_dir)
    low, high = 2.75, 3.05  # g/cm3: fractions 0.10 and 0.69; the data hold 0.2 .. 0.8
    fraction = {}
    for target in (low, high):
        result = sample(diff_dir, {"density": target}, n=4, sampler="ddim", steps=10, seed=0, regressor=reg,
                        regressor_scale=5.0)
        fraction[target] = result.dataset.signals.reshape(4, -1).mean(axis=1)
    assert fraction[high].mean() > fraction[low].mean() + 0.08, fraction
    assert (fraction[high] > fraction[low]).all(), fraction  # sample by sample: same seeds, other target


def test_scale_zero_is_unguided_sampling_exactly(diff_dir, reg_dir):
    plain = sample(diff_dir, n=2, steps=3, seed=5)
    zero = sample(diff_dir, {"density": 3.0}, n=2, steps=3, seed=5, regressor=reg_dir, regressor_scale=0.0)
    assert np.array_equal(plain.grey.signals, zero.grey.signals)
    with pytest.raises(MatgenError, match="the regressor scale must be a number >= 0"):
        sample(diff_dir, {"density": 3.0}, n=1, regressor=reg_dir, regressor_scale=-1.0)


def test_the_guided_denoiser_moves_along_the_regressor_gradient(diff_dir, reg_dir):
    """D_s = D + s sigma^2 (z* - r) grad_x r for one steered property (likelihood width: one training std)."""
    run, reg = load_run(diff_dir), load_run(reg_dir)
    denoiser = run.model.denoiser()
    sigma = torch.full((2,), 2.0)
    x = torch.randn(2, 1, 16, 16, generator=torch.Generator().manual_seed(1)) * 2.0
    density = reg.conditions[1]
    target = np.array([[np.nan, density.mean + 2 * density.std]] * 2)  # fraction not steered
    with torch.no_grad():
        shift = steered(denoiser, reg, target, 3.0)(x, sigma, None) - denoiser(x, sigma, None)
    x_in = x.clone().requires_grad_(True)
    r = reg.model.predictor()(x_in, sigma)[:, 1]  # (2,) standardised density
    (grad,) = torch.autograd.grad(r.sum(), x_in)
    expected = 3.0 * 4.0 * (2.0 - r.detach()).reshape(2, 1, 1, 1) * grad
    assert torch.allclose(shift, expected, rtol=1e-4, atol=1e-7)
    assert ((shift * grad).sum(dim=(1, 2, 3)) > 0).all()  # towards a higher predicted density
    with torch.no_grad():
        nothing = steered(denoiser, reg, np.full((2, 2), np.nan), 3.0)(x, sigma, None) - denoiser(x, sigma, None)
    assert torch.equal(nothing, torch.zeros_like(nothing))


def test_samples_record_the_regressor_and_its_targets(diff_dir, reg_dir, tmp_path):
    result = sample(diff_dir, {"density": "2.9..3.0"}, n=2, steps=2, seed=3, regressor=reg_dir, regressor_scale=2.0)
    ds = read(write(tmp_path / "s.h5", result.dataset))
    a = ds.attrs
    assert a["regressor_run"] == str(reg_dir.resolve()) and a["regressor_scale"] == 2.0
    assert a["regressor_sha256"] == file_sha256(reg_dir / "model.safetensors")
    assert json.loads(a["targets"]) == {"density": "2.9..3.0"}
    assert ds.conditions["density"].unit == "g/cm3" and np.allclose(ds.conditions["density"].values, [2.9, 3.0])
    assert np.isnan(ds.conditions["fraction"].values).all()  # predicted by the regressor, but not steered
    assert result.warnings == []


def test_targets_go_to_the_model_and_the_regressor_and_unknown_ones_name_both(diff_dir, reg_dir):
    with pytest.raises(MatgenError, match=r"unknown target 'hardness'; this model takes: none: this model is "
                                          r"unconditional; the regressor steers: fraction: dimensionless, trained"):
        sample(diff_dir, {"hardness": 3}, n=1, regressor=reg_dir)
    result = sample(diff_dir, {"density": 4.0}, n=1, steps=2, regressor=reg_dir)
    assert "target density = 4 g/cm3 is outside the training range" in result.warnings[0]
    result = sample(diff_dir, n=1, steps=2, regressor=reg_dir)
    assert "no target given for the regressor's fraction, density" in result.warnings[0]


def test_a_regressor_that_does_not_fit_the_run_is_refused(diff_dir, reg_dir, small_reg_dir):
    with pytest.raises(MatgenError, match=r"does not fit .*data shape 8x8 vs 16x16; schedule linear vs cosine"):
        sample(diff_dir, {"density": 2.9}, n=1, regressor=small_reg_dir)
    with pytest.raises(MatgenError, match="is a diffusion run, not a regressor; train one with"):
        sample(diff_dir, n=1, regressor=diff_dir)
    with pytest.raises(MatgenError, match="is a regressor run: it steers sampling rather than generating"):
        sample(reg_dir, n=1)


# --- the command line ----------------------------------------------------------------------------


def test_cli_samples_with_a_regressor_and_lists_its_targets(diff_dir, reg_dir, tmp_path):
    out = tmp_path / "s.h5"
    result = runner.invoke(app, ["sample", str(diff_dir), "-o", str(out), "--regressor", str(reg_dir),
                                 "--regressor-scale", "2", "--target-density", "2.9", "-n", "2", "--steps", "2"])
    assert result.exit_code == 0, result.output
    assert read(out).attrs["regressor_scale"] == 2.0 and len(read(out)) == 2
    result = runner.invoke(app, ["sample", str(diff_dir), "--list-targets", "--regressor", str(reg_dir)])
    assert result.exit_code == 0, result.output
    assert "unconditional" in result.output and "targets the regressor steers" in result.output
    assert "--target-density" in result.output and "g/cm3" in result.output


def test_cli_regressor_errors_are_one_line(toy_path, diff_dir, small_reg_dir, tmp_path):
    out = str(tmp_path / "x.h5")
    assert_one_line_error(runner.invoke(app, ["train", str(toy_path), "-o", str(tmp_path / "r"), "--model", "regressor",
                                              "-c", "texture"]),
                          "condition 'texture' is categorical; regressor guidance is for continuous properties")
    assert_one_line_error(runner.invoke(app, ["train", str(toy_path), "-o", str(tmp_path / "r"), "--model", "regressor"]),
                          "a regressor predicts continuous conditions")
    assert_one_line_error(runner.invoke(app, ["sample", str(diff_dir), "-o", out, "--regressor-scale", "2"]),
                          "--regressor-scale needs --regressor REG_RUN")
    assert_one_line_error(runner.invoke(app, ["sample", str(diff_dir), "-o", out, "--regressor", str(small_reg_dir),
                                              "--target-density", "2.9"]),
                          "does not fit", "data shape 8x8 vs 16x16")
    assert not (tmp_path / "x.h5").exists() and not (tmp_path / "r").exists()
