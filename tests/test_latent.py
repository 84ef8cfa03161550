"""Latent diffusion (#14): the autoencoder kind, the latent kind on its scaled latents, and their errors.

Tiny networks on 64-point spectra (smooth Gaussian bumps) and 32 x 32 two-phase label maps, so the
whole module trains in seconds on one CPU thread.
"""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from matgen.augment.generative import generative_augment
from matgen.cli.main import app
from matgen.data import Axis, Condition, Dataset, read, write
from matgen.errors import MatgenError
from matgen.generative.latent import latent_scale_factor
from matgen.nets.autoencoder import Autoencoder, autoencoder_preset
from matgen.runs import load_run, read_config, to_network
from matgen.sample.generate import sample
from matgen.train import TrainConfig, finetune, resume, train

pytestmark = pytest.mark.usefixtures("one_thread")  # small nets: one thread (tests/conftest.py)

BASE = dict(device="cpu", batch_size=16, log_every=10, eval_every=50, warmup_steps=5)
#: A 2-level U-Net of 8 and 16 channels over the latents (their 8 x 8 / 16 sizes are multiples of 2).
TINY_UNET = dict(BASE, model="latent", net="tiny", net_options={"base_channels": 8, "channel_mults": [1, 2], "time_dim": 32})
#: Measured: the 1-D autoencoder's validation MSE after 200 steps is 0.0003 (network units, x in [-1, 1]; 0.003 after 100).
RECONSTRUCTION_MSE_BOUND = 0.005


def bumps(n: int = 64, length: int = 64, seed: int = 0) -> Dataset:
    """Spectra exp(-(u - c)^2 / (2 w^2)) on u in [0, 1] with centre c in [0.2, 0.8] (the condition) and width 0.05..0.1."""
    rng = np.random.default_rng(seed)
    centre, width = rng.uniform(0.2, 0.8, n), rng.uniform(0.05, 0.1, n)
    u = np.linspace(0.0, 1.0, length)
    signals = np.exp(-((u[None] - centre[:, None]) ** 2) / (2 * width[:, None] ** 2)).astype(np.float32)
    axis = Axis("two_theta", "deg", 20.0 + 60.0 * u)
    return Dataset("spectrum", signals, {"centre": Condition(centre, "", "property")}, axis=axis)


def label_maps(n: int = 32, size: int = 32, seed: int = 0) -> Dataset:
    """Two-phase periodic label maps: a smooth random field thresholded at its quantile 1 - fraction."""
    rng = np.random.default_rng(seed)
    fraction = rng.uniform(0.3, 0.7, n)
    k = np.fft.fftfreq(size)
    field = np.real(np.fft.ifft2(np.fft.fft2(rng.normal(size=(n, size, size))) * np.exp(-(k[:, None] ** 2 + k ** 2) / 0.01)))
    labels = np.stack([f > np.quantile(f, 1 - q) for f, q in zip(field, fraction)]).astype(np.uint8)
    conditions = {"fraction": Condition(labels.mean(axis=(1, 2)), "", "property")}
    return Dataset("micrograph", labels, conditions, signal_type="labels", attrs={"builder": "spinodal"})


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The data files and runs the tests share: 1-D and 2-D autoencoders and latent runs on them."""
    root = tmp_path_factory.mktemp("latent")
    paths = {"bumps": write(root / "bumps.h5", bumps()), "maps": write(root / "maps.h5", label_maps())}
    ae = dict(BASE, model="autoencoder", net="tiny", lr=2e-3)
    train(paths["bumps"], TrainConfig(**ae, steps=200), root / "ae1")
    train(paths["maps"], TrainConfig(**ae, steps=10), root / "ae2")
    train(paths["bumps"], TrainConfig(**TINY_UNET, steps=10, conditions=("centre",), autoencoder=str(root / "ae1")),
          root / "ldm1")
    train(paths["maps"], TrainConfig(**TINY_UNET, steps=10, conditions=("fraction",), val_fraction=0.0,
                                     autoencoder=str(root / "ae2")), root / "ldm2")
    return root, paths


def test_the_autoencoder_reconstructs_smooth_bumps_after_a_short_training(runs):
    root, paths = runs
    val = [r["val_loss"] for r in json_rows(root / "ae1") if r["val_loss"] is not None]
    assert val[-1] < RECONSTRUCTION_MSE_BOUND  # reconstruction MSE per element, network units
    run = load_run(root / "ae1")
    x = torch.as_tensor(to_network(read(paths["bumps"]).signals, run.data))
    with torch.no_grad():
        x_hat = run.model.decode(run.model.encode(x)[0])
    assert float((x_hat - x).square().mean()) < RECONSTRUCTION_MSE_BOUND


def json_rows(run_dir):
    from matgen.runs.metrics import read_metrics

    return read_metrics(run_dir)


@pytest.mark.parametrize("dims, shape", [(1, (64,)), (2, (32, 32))])
def test_latents_are_f_times_coarser_with_4_channels_and_decode_back_to_the_signal_shape(dims, shape):
    config = autoencoder_preset("tiny", dims=dims)
    net = Autoencoder(config)
    mean, logvar = net.encode(torch.randn(2, 1, *shape))
    assert config.downsampling == 4
    assert mean.shape == logvar.shape == (2, 4, *(s // 4 for s in shape)) == (2, *config.latent_shape(shape))
    assert net.decode(mean).shape == (2, 1, *shape)


def test_a_circular_autoencoder_commutes_with_shifts_by_f_pixels():
    torch.manual_seed(0)
    net = Autoencoder(autoencoder_preset("tiny", dims=2, circular=True)).eval()
    x = torch.randn(1, 1, 16, 16)
    with torch.no_grad():
        z, z_shifted = net.encode(x)[0], net.encode(torch.roll(x, (4, 8), dims=(2, 3)))[0]
    assert torch.allclose(torch.roll(z, (1, 2), dims=(2, 3)), z_shifted, atol=1e-5)


def test_the_scale_factor_makes_the_training_latents_unit_variance(runs):
    root, paths = runs
    run = load_run(root / "ldm2")  # val_fraction 0: the training part is the whole file
    options = run.model_config.options
    assert options["latent_shape"] == [4, 8, 8] and options["autoencoder"]["downsampling"] == 4
    with torch.no_grad():
        z = run.model.training_inputs(torch.as_tensor(to_network(read(paths["maps"]).signals, run.data)), None)
    assert abs(float(z.double().std()) - 1.0) < 1e-4
    assert latent_scale_factor(3.0 * torch.randn(10_000, dtype=torch.float64)) == pytest.approx(1 / 3, rel=0.02)


def test_latent_samples_decode_to_the_data_form_with_per_sample_seeds_and_provenance(runs):
    root, _ = runs
    maps = sample(root / "ldm2", {"fraction": 0.5}, n=3, steps=4, seed=7).dataset
    assert maps.signals.shape == (3, 32, 32) and maps.signals.dtype == np.uint8 and set(np.unique(maps.signals)) <= {0, 1}
    assert maps.attrs["model_kind"] == "latent" and maps.attrs["sampler"] == "dpmpp-2m" and maps.attrs["seed"] == 7
    alone = sample(root / "ldm2", {"fraction": 0.5}, n=1, steps=4, seed=9).dataset  # sample 2 of the call above
    assert np.array_equal(alone.signals[0], maps.signals[2])
    steered = sample(root / "ldm2", {"density": 2.95}, n=1, steps=3, physics="elastic").dataset  # through the decoder
    assert steered.signals.shape == (1, 32, 32) and steered.attrs["physics"] == "elastic"
    spectra = sample(root / "ldm1", {"centre": 0.4}, n=2, steps=4, sampler="ddim").dataset
    assert spectra.signals.shape == (2, 64) and spectra.signals.dtype == np.float32
    assert np.allclose(spectra.axis.values, read(runs[1]["bumps"]).axis.values)


def test_a_saved_latent_run_reloads_to_identical_samples_without_its_autoencoder_run(runs, tmp_path):
    root, _ = runs
    first = sample(root / "ldm1", {"centre": 0.5}, n=2, steps=3, seed=1).dataset.signals
    assert read_config(root / "ldm1").model.options["autoencoder"]["run"] == str((root / "ae1").resolve())
    moved = tmp_path / "ldm1"
    moved.mkdir()
    for name in ("config.json", "model.safetensors"):
        (moved / name).write_bytes((root / "ldm1" / name).read_bytes())
    again = sample(moved, {"centre": 0.5}, n=2, steps=3, seed=1).dataset.signals  # weights hold the autoencoder
    assert np.array_equal(first, again)
    ae, ldm = load_file(root / "ae1" / "model.safetensors"), load_file(root / "ldm1" / "model.safetensors")
    assert all(torch.equal(ae[k], ldm[f"autoencoder.{k}"]) for k in ae)  # frozen through training and the EMA


def test_resuming_a_latent_run_is_bit_identical_and_it_fine_tunes_and_augments(runs, tmp_path):
    root, paths = runs
    config = TrainConfig(**dict(TINY_UNET, log_every=2, eval_every=4), steps=8, conditions=("fraction",),
                         checkpoint_every=100, autoencoder=str(root / "ae2"))
    train(paths["maps"], config, tmp_path / "whole")

    def interrupt_at_4(done, total, message):
        if done == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(paths["maps"], config, tmp_path / "parts", progress=interrupt_at_4)
    assert resume(tmp_path / "parts").steps == 8
    for name in ("model.safetensors", "checkpoint/model.safetensors", "checkpoint/ema.safetensors"):
        whole, parts = load_file(tmp_path / "whole" / name), load_file(tmp_path / "parts" / name)
        assert whole.keys() == parts.keys() and all(torch.equal(whole[k], parts[k]) for k in whole), name
    tuned = finetune(tmp_path / "whole", paths["maps"], tmp_path / "tuned", steps=2)
    assert tuned.steps == 2 and read_config(tmp_path / "tuned").model.kind == "latent"
    ds = read(paths["maps"])
    rows = generative_augment(ds, tmp_path / "tuned", np.array([0, 1]), steps=3)
    assert rows.signals.shape == (2, 32, 32) and rows.synthetic.all()


def test_latent_and_autoencoder_errors_are_one_line_and_say_what_to_do(runs, tmp_path):
    root, paths = runs
    with pytest.raises(MatgenError, match="a latent model needs its autoencoder run: --autoencoder AE_RUN"):
        TrainConfig(model="latent").check()
    with pytest.raises(MatgenError, match="--autoencoder is for --model latent, not diffusion"):
        TrainConfig(autoencoder=str(root / "ae1")).check()
    with pytest.raises(MatgenError, match="ldm1 is a latent run; --autoencoder takes a run trained with --model autoencoder"):
        train(paths["bumps"], TrainConfig(**TINY_UNET, steps=1, autoencoder=str(root / "ldm1")), tmp_path / "a")
    with pytest.raises(MatgenError, match="ae2 was trained on 2-phase labels micrographs 32x32 with 1 channel.*; this "
                                          "data is max-normalised spectrum spectra of 64 points: train an autoencoder"):
        train(paths["bumps"], TrainConfig(**TINY_UNET, steps=1, autoencoder=str(root / "ae2")), tmp_path / "b")
    with pytest.raises(MatgenError, match="an autoencoder is unconditional; drop --condition"):
        train(paths["bumps"], TrainConfig(**dict(BASE, model="autoencoder", net="tiny"), conditions=("centre",)),
              tmp_path / "c")
    with pytest.raises(MatgenError, match="an autoencoder run is not drawn by a sampler; train a latent model on it"):
        sample(root / "ae1", n=1)
    runner = CliRunner()
    for args, fragment in [(["sample", str(root / "ae1"), "-o", str(tmp_path / "s.h5")], "train a latent model on it"),
                           (["train", str(paths["bumps"]), "-o", str(tmp_path / "d"), "--model", "latent"],
                            "--autoencoder AE_RUN"),
                           (["train", str(paths["bumps"]), "-o", str(tmp_path / "e"), "--model", "latent", "--autoencoder",
                             str(root / "ae2"), "--net", "tiny"], "train an autoencoder on it first")]:
        result = runner.invoke(app, args)
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert result.exit_code == 2 and len(lines) == 1 and fragment in lines[0], result.output
    assert json.loads((root / "ldm1" / "config.json").read_text())["train"]["autoencoder"] == str(root / "ae1")


def test_a_latent_flow_trains_on_the_latents_and_samples_with_the_flow_samplers(runs, tmp_path):
    root, paths = runs
    train(paths["bumps"], TrainConfig(**TINY_UNET, steps=6, conditions=("centre",), autoencoder=str(root / "ae1"),
                                      latent_model="flow"), tmp_path / "lfm")
    run = load_run(tmp_path / "lfm")
    assert run.kind == "latent" and run.model_config.options["inner"] == "flow" and run.model.default_sampler == "heun"
    drawn = sample(run, {"centre": 0.4}, n=2, steps=3).dataset
    assert drawn.attrs["sampler"] == "heun" and drawn.signals.shape == (2, 64)
    with pytest.raises(MatgenError, match="sampler 'ddpm' does not fit a latent run; choose from heun, euler"):
        sample(run, n=1, sampler="ddpm")
    with pytest.raises(MatgenError, match="unknown latent_model 'vae'; choose from diffusion, flow"):
        TrainConfig(latent_model="vae").check()
