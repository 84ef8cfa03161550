"""Sampling: targets, per-sample seeds, save/reload identity, provenance, the VAE paths, the CLI.

The runs are trained for a few steps only: these tests check the plumbing and the exact
reproducibility contracts, not sample quality (tests/test_generation_quality.py does that, slow).
"""

import json
import shutil

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from matgen.cli.main import app
from matgen.cli.sample import parse_target_args
from matgen.common.files import file_sha256
from matgen.data import read, write
from matgen.errors import MatgenError
from matgen.runs import load_run
from matgen.runs.tensors import save_tensors
from matgen.sample import interpolate, resolve_targets, sample
from matgen.train import TrainConfig, train

from test_train import TINY, TINY_VAE, assert_one_line_error, toy_dataset

pytestmark = pytest.mark.usefixtures("one_thread")  # small nets: one thread (tests/conftest.py)

runner = CliRunner()


@pytest.fixture(scope="module")
def toy_path(tmp_path_factory):
    return write(tmp_path_factory.mktemp("data") / "toy.h5", toy_dataset())


@pytest.fixture(scope="module")
def run_dir(toy_path, tmp_path_factory):
    """A diffusion run conditioned on density (g/cm3) and the categorical texture."""
    out = tmp_path_factory.mktemp("runs") / "diffusion"
    train(toy_path, TrainConfig(conditions=("density", "texture"), steps=12, **TINY), out)
    return out


@pytest.fixture(scope="module")
def run(run_dir):
    return load_run(run_dir)


@pytest.fixture(scope="module")
def vae_dir(toy_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "vae"
    train(toy_path, TrainConfig(conditions=("density", "texture"), steps=8, **TINY_VAE), out)
    return out


# --- targets ---------------------------------------------------------------------------------------


def test_targets_become_a_condition_matrix_with_nan_for_the_unconditioned(run):
    density, texture = run.conditions
    values, warnings = resolve_targets(run.conditions, {"density": 2.95, "texture": "fine"}, 3)
    assert values.tolist() == [[2.95, texture.categories.index("fine")]] * 3 and warnings == []
    values, _ = resolve_targets(run.conditions, {"density": "2.9"}, 2)
    assert values[:, 0].tolist() == [2.9, 2.9] and np.isnan(values[:, 1]).all()
    values, _ = resolve_targets(run.conditions, {"texture": None, "density": float("nan")}, 2)
    assert np.isnan(values).all()


def test_a_range_target_spreads_the_samples_evenly(run):
    low, high = run.conditions[0].minimum, run.conditions[0].maximum
    values, warnings = resolve_targets(run.conditions, {"density": f"{low}..{high}"}, 5)
    assert np.allclose(values[:, 0], low + np.arange(5) * (high - low) / 4) and warnings == []
    values, _ = resolve_targets(run.conditions, {"density": (2.9, 3.0)}, 3)
    assert np.allclose(values[:, 0], [2.9, 2.95, 3.0])


def test_a_target_outside_the_training_range_warns_but_samples(run):
    density = run.conditions[0]
    result = sample(run, {"density": 3.5}, n=2, steps=2)
    assert len(result.warnings) == 1
    assert f"target density = 3.5 g/cm3 is outside the training range {density.minimum:.4g}" in result.warnings[0]
    assert "extrapolating" in result.warnings[0]
    assert result.dataset.conditions["density"].values.tolist() == [3.5, 3.5]


def test_unknown_targets_and_categories_name_the_valid_choices(run):
    density = run.conditions[0]
    with pytest.raises(MatgenError, match=rf"unknown target 'hardness'; this model takes: density: g/cm3, trained "
                                          rf"{density.minimum:.4g}\.\.{density.maximum:.4g}; texture: one of "):
        resolve_targets(run.conditions, {"hardness": 3}, 1)
    with pytest.raises(MatgenError, match="target texture 'wavy' is not a category of this model; choose from"):
        resolve_targets(run.conditions, {"texture": "wavy"}, 1)
    with pytest.raises(MatgenError, match="target density 'heavy' is not a number in g/cm3"):
        resolve_targets(run.conditions, {"density": "heavy"}, 1)
    with pytest.raises(MatgenError, match="texture is categorical: give one of .*, not a range"):
        resolve_targets(run.conditions, {"texture": "a..b"}, 1)


def test_dashed_names_are_the_conditions_with_underscores():
    assert parse_target_args(["--target-anneal-time", "300", "--target-mineral=quartz", "--target-stress", "-0.5"],
                             ["density=2.9"]) == {"density": "2.9", "anneal-time": "300", "mineral": "quartz", "stress": "-0.5"}
    with pytest.raises(MatgenError, match="unexpected argument '--colour'"):
        parse_target_args(["--colour", "red"], [])
    with pytest.raises(MatgenError, match="--target-density needs a value"):
        parse_target_args(["--target-density"], [])


# --- samples -------------------------------------------------------------------------------------


@pytest.mark.parametrize("sampler", ["ddpm", "dpmpp-2m"])
def test_sample_i_is_the_sample_of_seed_plus_i_whatever_the_batch(run, sampler):
    targets = {"density": 2.9, "texture": "coarse"}
    batch = sample(run, targets, n=8, sampler=sampler, steps=4, guidance=1.0, seed=10, batch_size=3)
    alone = sample(run, targets, n=1, sampler=sampler, steps=4, guidance=1.0, seed=15)
    assert np.allclose(batch.grey.signals[5], alone.grey.signals[0], atol=1e-5)
    assert np.array_equal(batch.dataset.signals[5], alone.dataset.signals[0])
    assert not np.allclose(batch.grey.signals[4], batch.grey.signals[5])
    assert batch.dataset.ids[5] == alone.dataset.ids[0] == "sample-15"


def test_a_saved_and_reloaded_model_samples_identically(run, run_dir, tmp_path):
    first = sample(run, {"density": 2.95}, n=3, sampler="heun", steps=3, seed=4)
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(run_dir / "config.json", copy / "config.json")
    save_tensors(copy / "model.safetensors", run.model.state_dict())
    again = sample(load_run(copy), {"density": 2.95}, n=3, sampler="heun", steps=3, seed=4)
    assert np.array_equal(first.grey.signals, again.grey.signals)
    assert np.array_equal(first.dataset.signals, again.dataset.signals)


def test_samples_are_a_dataset_with_targets_units_and_provenance(run, run_dir, tmp_path):
    result = sample(run, {"density": "2.85..3.0", "texture": "fine"}, n=4, sampler="ddim", steps=3, guidance=2.0, seed=7)
    ds = read(write(tmp_path / "samples.h5", result.dataset))
    assert ds.kind == "micrograph" and ds.signal_type == "labels" and ds.signals.shape == (4, 16, 16)
    assert set(np.unique(ds.signals)) <= {0, 1} and ds.synthetic.all()
    assert ds.conditions["density"].unit == "g/cm3" and np.allclose(ds.conditions["density"].values, [2.85, 2.9, 2.95, 3.0])
    assert list(ds.conditions["texture"].labels()) == ["fine"] * 4
    a = ds.attrs
    assert a["checkpoint_sha256"] == file_sha256(run_dir / "model.safetensors") and a["run_dir"] == str(run_dir.resolve())
    assert (a["model_kind"], a["sampler"], a["steps"], a["guidance"], a["seed"]) == ("diffusion", "ddim", 3, 2.0, 7)
    assert json.loads(a["targets"]) == {"density": "2.85..3.0", "texture": "fine"}
    assert result.grey.signal_type == "grey" and result.grey.signals.dtype == np.float32


def test_a_spectrum_model_samples_on_the_training_axis(tmp_path):
    from matgen.builders import build

    path = write(tmp_path / "eels.h5", build("eels", n=24, points=98, seed=0))
    train(path, TrainConfig(conditions=("material", "thickness"), steps=3, spectrum_norm="log-max", **TINY), tmp_path / "run")
    result = sample(tmp_path / "run", {"material": "Al", "thickness": 1.0}, n=2, steps=2)
    ds = result.dataset
    assert ds.kind == "eels" and ds.signals.shape == (2, 98) and ds.axis.matches(read(path).axis)
    assert list(ds.conditions["material"].labels()) == ["Al", "Al"] and "relative" in ds.attrs["intensity"]


def test_the_vae_samples_its_prior_reproducibly_and_interpolates(vae_dir, toy_path):
    run = load_run(vae_dir)
    batch = sample(run, {"density": 2.95}, n=4, seed=3, batch_size=3, guidance=1.0)
    alone = sample(run, {"density": 2.95}, n=1, seed=5)
    assert np.allclose(batch.grey.signals[2], alone.grey.signals[0], atol=1e-5)
    assert batch.dataset.attrs["sampler"] == "prior" and "guidance is for diffusion models" in batch.warnings[0]
    data = read(toy_path)
    path = interpolate(run, data.take([0]), data.take([1]), steps=5)
    d = data.conditions["density"].values
    assert np.allclose(path.dataset.conditions["density"].values, np.linspace(d[0], d[1], 5))
    assert path.dataset.conditions["t"].values.tolist() == [0, 0.25, 0.5, 0.75, 1]
    texture = data.conditions["texture"].labels()
    code = run.conditions[1].categories.index(texture[0])
    recorded = path.dataset.conditions["texture"].values
    assert (recorded == (code if texture[0] == texture[1] else -1)).all()  # categorical: only where both ends agree
    with torch.no_grad():  # the first point decodes the start's posterior mean
        x = torch.as_tensor(2.0 * data.signals[:1, None].astype(np.float32) - 1.0)
        start = run.model.decode(run.model.encode(x, torch.tensor([[d[0], code]], dtype=torch.float32)),
                                 torch.tensor([[d[0], np.nan if recorded[0] < 0 else code]], dtype=torch.float32))
    assert np.array_equal(path.dataset.signals[0], (start[0, 0] > 0).numpy().astype(np.uint8))


def test_an_unconditional_model_samples_without_targets_and_refuses_them(toy_path, tmp_path):
    train(toy_path, TrainConfig(steps=2, **TINY), tmp_path / "run")
    run = load_run(tmp_path / "run")
    assert run.conditions == [] and run.model_config.cond_dim == 0 and run.model_config.net["cond_dim"] == 0
    result = sample(run, n=2, steps=2, guidance=1.0)
    assert result.dataset.signals.shape == (2, 16, 16) and result.dataset.conditions == {}
    with pytest.raises(MatgenError, match="unknown target 'density'; this model takes: none: this model is unconditional"):
        sample(run, {"density": 2.9}, n=1)


def test_interpolation_needs_a_vae(run, toy_path):
    data = read(toy_path)
    with pytest.raises(MatgenError, match="is a diffusion model; latent interpolation needs a VAE run"):
        interpolate(run, data.take([0]), data.take([1]))


# --- the command line ------------------------------------------------------------------------------


def test_cli_sample_writes_the_file_and_the_picture(run_dir, tmp_path):
    out = tmp_path / "s.h5"
    result = runner.invoke(app, ["sample", str(run_dir), "-o", str(out), "--target-density", "3.4", "--target",
                                 "texture=fine", "-n", "3", "--steps", "2", "--png", "--grey", "--seed", "2"])
    assert result.exit_code == 0, result.output
    assert "warning: target density = 3.4 g/cm3 is outside the training range" in result.output
    ds = read(out)
    assert len(ds) == 3 and list(ds.ids) == ["sample-2", "sample-3", "sample-4"]
    assert read(tmp_path / "s-grey.h5").signal_type == "grey" and (tmp_path / "s.png").stat().st_size > 1000


def test_cli_sample_hands_the_targets_to_the_library(monkeypatch, run_dir, tmp_path):
    seen = {}

    def fake_sample(run, targets, **options):
        seen.update(targets=targets, **options)
        raise MatgenError("stop here")

    monkeypatch.setattr("matgen.sample.sample", fake_sample)
    result = runner.invoke(app, ["sample", str(run_dir), "-o", str(tmp_path / "x.h5"), "--target-density", "2.8..3.0",
                                 "--target", "texture=fine", "-n", "5", "--sampler", "heun", "--guidance", "1.5"])
    assert_one_line_error(result, "stop here")
    assert seen["targets"] == {"density": "2.8..3.0", "texture": "fine"}
    assert (seen["n"], seen["sampler"], seen["guidance"], seen["seed"]) == (5, "heun", 1.5, 0)


def test_cli_lists_the_targets_with_units_and_ranges(run_dir, run):
    result = runner.invoke(app, ["sample", str(run_dir), "--list-targets"])
    assert result.exit_code == 0, result.output
    assert "--target-density" in result.output and "g/cm3" in result.output and "--target-texture" in result.output
    assert f"{run.conditions[0].minimum:.4g}" in result.output


def test_cli_sample_errors_are_one_line(run_dir, tmp_path):
    out = str(tmp_path / "x.h5")
    assert_one_line_error(runner.invoke(app, ["sample", str(tmp_path / "missing"), "-o", out]), "no such run directory")
    assert_one_line_error(runner.invoke(app, ["sample", str(run_dir), "-o", out, "--target-hardness", "3"]),
                          "unknown target 'hardness'", "density: g/cm3, trained", "texture: one of")
    assert_one_line_error(runner.invoke(app, ["sample", str(run_dir), "-o", out, "--target-density", "heavy"]),
                          "is not a number in g/cm3")
    assert_one_line_error(runner.invoke(app, ["sample", str(run_dir), "-o", out, "--target-texture", "wavy"]),
                          "choose from")
    assert_one_line_error(runner.invoke(app, ["sample", str(run_dir), "-o", out, "--sampler", "heunn"]),
                          "sampler 'heunn' is unknown for a diffusion run; choose from ddpm, ddim, dpmpp-2m, heun")
    broken = tmp_path / "broken"
    shutil.copytree(run_dir, broken)
    (broken / "config.json").write_text('{"format": "matgen-run", "model": ')
    assert_one_line_error(runner.invoke(app, ["sample", str(broken), "-o", out]), "damaged run config")
    (broken / "config.json").write_text('{"format": "matgen-run", "model": {"kind": "diffusion"}}')
    assert_one_line_error(runner.invoke(app, ["sample", str(broken), "-o", out]), "damaged run config")
    assert not (tmp_path / "x.h5").exists()


def test_cli_interpolate_between_rows_of_the_training_data(vae_dir, tmp_path):
    out = tmp_path / "path.h5"
    result = runner.invoke(app, ["interpolate", str(vae_dir), "--from-id", "row0", "--to-id", "row3", "--steps", "4",
                                 "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert len(read(out)) == 4 and read(out).attrs["from_id"] == "row0"
    assert_one_line_error(runner.invoke(app, ["interpolate", str(vae_dir), "--from-id", "nope", "--to-id", "row3",
                                              "-o", str(tmp_path / "p2.h5")]), "no row with id 'nope'")
