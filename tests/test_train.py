"""Training: the run directory, its config round trip, the learning rate, exact resume, data preparation, the CLI.

Every model here is a 2-level U-Net with 8 channels on 16 x 16 micrographs, so each test trains
in seconds on one CPU thread.
"""

import json
import pickle
import re
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from matgen.cli.main import app
from matgen.common.files import file_sha256
from matgen.data import Axis, Condition, Dataset, write
from matgen.errors import MatgenError
from matgen.runs import condition_matrix, describe_data, from_network, load_run, read_config, to_network
from matgen.runs.metrics import read_metrics
from matgen.train import TrainConfig, learning_rate, read_toml, resume, train
from matgen.train.loop import batch_indices, schedule_lengths
from matgen.train.plan import plan

#: Options of a network small enough for CI: 2 levels of 8 and 16 channels, ~20k parameters.
TINY = dict(net="tiny", net_options={"base_channels": 8, "channel_mults": [1, 2], "time_dim": 32},
            batch_size=8, device="cpu", log_every=5, eval_every=10)
TINY_VAE = dict(TINY, model="vae", net_options={"base_channels": 8, "channel_mults": [1, 2], "latent_dim": 8})


pytestmark = pytest.mark.usefixtures("one_thread")  # small nets: one thread (tests/conftest.py)


def toy_dataset(n: int = 48, size: int = 16, seed: int = 0, builder: str = "spinodal") -> Dataset:
    """Two-phase label maps: a smooth random field thresholded so that the SiC fraction is the condition.

    Conditions: ``fraction`` (dimensionless), ``density`` (g/cm3) = 2.70 + 0.51 x fraction (Al/SiC),
    and a categorical ``texture`` (fine / coarse).
    """
    rng = np.random.default_rng(seed)
    fraction = rng.uniform(0.2, 0.8, n)
    coarse = rng.random(n) < 0.5
    k = np.fft.fftfreq(size)
    k2 = k[:, None] ** 2 + k[None] ** 2
    noise = np.fft.fft2(rng.normal(size=(n, size, size)))
    width = np.where(coarse, 0.08, 0.2)[:, None, None]
    field = np.real(np.fft.ifft2(noise * np.exp(-k2 / width**2)))  # (n, size, size), periodic
    labels = np.stack([f > np.quantile(f, 1 - q) for f, q in zip(field, fraction)]).astype(np.uint8)
    fraction = labels.mean(axis=(1, 2))
    conditions = {
        "fraction": Condition(fraction, "", "property", description="SiC area fraction"),
        "density": Condition(2.70 + 0.51 * fraction, "g/cm3", "property"),
        "texture": Condition.from_labels(["coarse" if c else "fine" for c in coarse], role="processing"),
    }
    return Dataset("micrograph", labels, conditions, signal_type="labels", attrs={"builder": builder} if builder else {})


@pytest.fixture(scope="module")
def toy_path(tmp_path_factory):
    return write(tmp_path_factory.mktemp("data") / "toy.h5", toy_dataset())


# --- pure pieces -------------------------------------------------------------------------------


def test_learning_rate_warms_up_linearly_then_decays_by_a_cosine_to_its_floor():
    lr, W, T, r = 1e-3, 10, 110, 0.1
    assert learning_rate(0, lr, W, T, r) == pytest.approx(lr / W)
    assert learning_rate(W - 1, lr, W, T, r) == pytest.approx(lr)
    assert learning_rate(W, lr, W, T, r) == pytest.approx(lr)  # cos(0): the peak
    assert learning_rate(W + 50, lr, W, T, r) == pytest.approx(lr * (r + (1 - r) / 2))  # half way: the mean
    assert learning_rate(T, lr, W, T, r) == pytest.approx(lr * r)
    values = [learning_rate(s, lr, W, T, r) for s in range(W, T)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_short_runs_cap_the_warm_up_and_the_ema_horizon():
    config = TrainConfig(steps=100, warmup_steps=500, ema_decay=0.999)
    steps, warmup, decay = schedule_lengths(config, n_train=40)
    assert (steps, warmup) == (100, 10) and 1 / (1 - decay) == pytest.approx(10)
    steps, _, _ = schedule_lengths(replace(config, epochs=2.0, batch_size=8), n_train=40)
    assert steps == 10  # 2 passes over 40 rows in batches of 8


def test_the_data_order_visits_every_row_once_per_epoch_and_is_a_pure_function_of_seed_and_step():
    n, B = 10, 4
    stream = np.concatenate([batch_indices(3, step, n, B) for step in range(5)])  # 20 rows = 2 epochs
    assert sorted(stream[:10]) == list(range(10)) and sorted(stream[10:]) == list(range(10))
    assert np.array_equal(batch_indices(3, 4, n, B), batch_indices(3, 4, n, B))
    assert not np.array_equal(batch_indices(3, 0, n, B), batch_indices(4, 0, n, B))
    assert len(batch_indices(0, 0, 3, 8)) == 8  # a batch larger than the data wraps round


def test_label_maps_grey_images_and_spectra_map_to_minus_one_one_and_back():
    ds = toy_dataset(n=4)
    spec = describe_data(ds, "toy.h5", "0" * 64, "max", None, multiple=4)
    x = to_network(ds.signals, spec)
    assert x.shape == (4, 1, 16, 16) and set(np.unique(x)) == {-1.0, 1.0}
    assert spec.circular  # built-in periodic data: circular padding by default
    assert np.array_equal(from_network(x, spec), ds.signals)
    assert np.array_equal(from_network(x - 0.9 * np.sign(x), spec), ds.signals)  # thresholded at 0
    grey = replace(ds, signals=ds.signals * 0.5 + 0.25, signal_type="grey", attrs={})
    grey_spec = describe_data(grey, "g.h5", "0" * 64, "max", None, multiple=4)
    assert not grey_spec.circular
    assert np.allclose(from_network(to_network(grey.signals, grey_spec), grey_spec), grey.signals)

    axis = Axis("energy_loss", "eV", np.linspace(0, 10, 98))
    s = np.abs(np.random.default_rng(0).normal(size=(3, 98))) * np.array([[1.0], [100.0], [1e4]])
    spectra = Dataset("eels", s.astype(np.float32), axis=axis)
    for norm in ("max", "log-max"):
        spec = describe_data(spectra, "s.h5", "0" * 64, norm, None, multiple=4)
        x = to_network(spectra.signals, spec)
        assert spec.shape == (100,) and x.shape == (3, 1, 100)  # padded up to a multiple of 4
        assert x.min() >= -1.0 and x.max() == pytest.approx(1.0)
        back = from_network(x, spec)
        assert back.shape == (3, 98)
        assert np.allclose(back, s / s.max(axis=1, keepdims=True), atol=1e-5)  # relative intensities


def test_a_micrograph_size_that_does_not_fit_the_network_is_a_clear_error():
    ds = toy_dataset(n=4, size=18)
    with pytest.raises(MatgenError, match=r"18x18 px .* multiples of 4.*--resize 16x16"):
        describe_data(ds, "odd.h5", "0" * 64, "max", None, multiple=4)
    with pytest.raises(MatgenError, match=r"rebuild it with `matgen data build spinodal --size 16 -o NEW\.h5` "
                                          r"\(or --size 20\)"):
        describe_data(ds, "odd.h5", "0" * 64, "max", None, multiple=4)


def test_the_size_hint_for_imported_micrographs_is_what_data_import_accepts():
    from matgen.cli.data import _parse_size

    ds = replace(toy_dataset(n=4, size=18, builder=""), signals=np.zeros((4, 18, 30), np.uint8))
    with pytest.raises(MatgenError, match=r"micrographs are 18x30 px but this network needs sizes that are multiples "
                                          r"of 8; add --resize 16x24 or --resize 24x32 or --tile 16 to the "
                                          r"`matgen data import` command that made the file \(with --force") as error:
        describe_data(ds, "odd.h5", "0" * 64, "max", None, multiple=8)
    for size in re.findall(r"--resize (\S+)", str(error.value)):
        assert all(v % 8 == 0 for v in _parse_size(size))


def test_conditions_are_specs_with_units_and_training_ranges_and_categories_become_codes():
    ds = toy_dataset(n=20)
    model, data = plan(ds, ds.take(range(10)), "toy.h5", "0" * 64, TrainConfig(conditions=("density", "texture"), **TINY))
    density, texture = model.conditions
    assert density.unit == "g/cm3" and density.minimum == pytest.approx(ds.conditions["density"].values[:10].min())
    assert texture.kind == "categorical" and set(texture.categories) == {"coarse", "fine"}
    assert data.roles == {"density": "property", "texture": "processing"}
    assert model.net["circular"] and model.cond_dim == 32
    ds.conditions["density"].values[3] = np.nan
    ds.conditions["texture"].values[4] = -1
    matrix = condition_matrix(ds, model.conditions)
    assert matrix.shape == (20, 2) and np.isnan(matrix[3, 0]) and np.isnan(matrix[4, 1])
    labels = ds.conditions["texture"].labels()
    assert [texture.categories[int(c)] for c in matrix[:3, 1]] == list(labels[:3])


def test_an_unknown_condition_names_the_dataset_conditions(toy_path, tmp_path):
    with pytest.raises(MatgenError, match=r"unknown condition 'hardness'; this dataset has: fraction, density, texture"):
        train(toy_path, TrainConfig(conditions=("hardness",), steps=2, **TINY), tmp_path / "run")
    assert not (tmp_path / "run" / "config.json").exists()


def test_bad_options_name_the_valid_choices():
    with pytest.raises(MatgenError, match="unknown prediction 'score'; choose from eps, x0, v"):
        TrainConfig(prediction="score").check()
    with pytest.raises(MatgenError, match="cond_drop must be between 0 and 0.99"):
        TrainConfig(cond_drop=1.5).check()


# --- training runs -----------------------------------------------------------------------------


def test_a_run_directory_holds_config_weights_metrics_and_a_checkpoint(toy_path, tmp_path):
    config = TrainConfig(conditions=("density", "texture"), steps=6, seed=1, **TINY)
    result = train(toy_path, config, tmp_path / "run")
    run_dir = tmp_path / "run"
    assert {p.name for p in run_dir.iterdir()} == {"config.json", "model.safetensors", "metrics.csv", "checkpoint",
                                                     "MODEL_CARD.md"}
    assert {p.name for p in (run_dir / "checkpoint").iterdir()} == {
        "state.json", "model.safetensors", "ema.safetensors", "optimizer.safetensors", "rng.safetensors"}
    doc = json.loads((run_dir / "config.json").read_text())
    assert doc["format"] == "matgen-run" and doc["model"]["kind"] == "diffusion"
    assert doc["data"]["sha256"] == file_sha256(toy_path) and doc["data"]["norm"] == "labels"
    assert doc["model"]["conditions"][0]["unit"] == "g/cm3" and doc["train"]["steps"] == 6
    run_config = read_config(run_dir)
    model, data, train_config = run_config.model, run_config.data, TrainConfig.from_dict(run_config.train)
    assert train_config == config and model.conditions[1].categories == ("coarse", "fine")
    assert data.n_train + data.n_val == 48 and data.n_val > 0
    rows = read_metrics(run_dir)
    assert [r["step"] for r in rows] == [5, 6] and rows[-1]["val_loss"] is not None
    assert result.steps == 6 and result.loss == rows[-1]["loss"] and result.val_loss == rows[-1]["val_loss"]
    run = load_run(run_dir)
    ema = load_file(run_dir / "checkpoint" / "ema.safetensors")
    for name, tensor in run.model.state_dict().items():
        assert torch.equal(tensor, ema[f"module.{name}"])  # model.safetensors holds the EMA weights
    with pytest.raises(MatgenError, match="already holds a run; continue it with --resume or pass --force"):
        train(toy_path, config, run_dir)


def test_a_folder_with_only_config_json_takes_a_new_run_and_a_too_large_batch_is_warned(toy_path, tmp_path):
    import shutil

    run_dir = tmp_path / "run"
    config = TrainConfig(steps=2, **dict(TINY, batch_size=64))
    train(toy_path, config, run_dir)
    shutil.rmtree(run_dir / "checkpoint")
    (run_dir / "model.safetensors").unlink()  # as if training stopped before its first save
    with pytest.raises(MatgenError, match="no checkpoint to resume from.*matgen train DATA.h5 -o"):
        resume(run_dir)
    result = train(toy_path, config, run_dir)  # no --force needed: nothing trained was there
    n_train = read_config(run_dir).data.n_train
    assert result.steps == 2 and result.warnings == [
        f"batch size 64 is larger than the {n_train} training rows: each step repeats rows "
        f"(--batch-size {n_train} or less avoids it)"]


def test_the_loss_goes_down_on_a_tiny_problem(toy_path, tmp_path):
    config = TrainConfig(conditions=("fraction",), steps=100, lr=2e-3, warmup_steps=10, **dict(TINY, batch_size=16, log_every=10, eval_every=50))
    result = train(toy_path, config, tmp_path / "run")
    losses = [r["loss"] for r in result.metrics]
    vals = [r["val_loss"] for r in result.metrics if r["val_loss"] is not None]
    assert np.mean(losses[-3:]) < 0.75 * losses[0], losses
    assert vals[-1] < vals[0], vals
    assert result.samples_per_s > 0


def test_resuming_after_an_interruption_is_bit_identical_to_an_uninterrupted_run(toy_path, tmp_path):
    config = TrainConfig(conditions=("density", "texture"), steps=20, warmup_steps=4, checkpoint_every=100, **TINY)
    train(toy_path, config, tmp_path / "whole")

    def interrupt_at_10(done, total, message):
        if done == 10:
            raise KeyboardInterrupt  # Ctrl-C: the loop saves a checkpoint of the 10 finished steps

    with pytest.raises(KeyboardInterrupt):
        train(toy_path, config, tmp_path / "parts", progress=interrupt_at_10)
    assert json.loads((tmp_path / "parts" / "checkpoint" / "state.json").read_text())["step"] == 10
    result = resume(tmp_path / "parts")
    assert result.steps == 20
    for name in ("model.safetensors", "checkpoint/model.safetensors", "checkpoint/ema.safetensors",
                 "checkpoint/optimizer.safetensors"):
        whole, parts = load_file(tmp_path / "whole" / name), load_file(tmp_path / "parts" / name)
        assert whole.keys() == parts.keys()
        assert all(torch.equal(whole[k], parts[k]) for k in whole), name
    strip = lambda rows: [{k: v for k, v in r.items() if k != "samples_per_s"} for r in rows]  # noqa: E731
    assert strip(read_metrics(tmp_path / "whole")) == strip(read_metrics(tmp_path / "parts"))


def test_resume_refuses_changed_data_and_pickled_checkpoints(toy_path, tmp_path):
    config = TrainConfig(conditions=("density",), steps=4, **TINY)
    train(toy_path, config, tmp_path / "run")
    other = write(tmp_path / "other.h5", toy_dataset(seed=5))
    with pytest.raises(MatgenError, match="not the file this run trained on"):
        resume(tmp_path / "run", data_path=other)
    # a pickle that runs code when loaded (here: creates a file) is refused, never unpickled
    canary = tmp_path / "unpickled"

    class Trap:
        def __reduce__(self):
            return open, (str(canary), "w")

    with open(tmp_path / "run" / "checkpoint" / "optimizer.safetensors", "wb") as handle:
        pickle.dump({"state": {}, "param_groups": [], "payload": Trap()}, handle)
    with pytest.raises(MatgenError, match="not a safetensors file.*never unpickles"):
        resume(tmp_path / "run")
    assert not canary.exists()
    torch.save({"weights": torch.zeros(3)}, tmp_path / "run" / "model.safetensors")
    with pytest.raises(MatgenError, match="model.safetensors: not a safetensors file"):
        load_run(tmp_path / "run")


def test_a_vae_trains_with_kl_warm_up_and_reports_its_validation_elbo(toy_path, tmp_path):
    config = TrainConfig(conditions=("fraction",), steps=10, kl_warmup=5, free_bits=0.1, **TINY_VAE)
    result = train(toy_path, config, tmp_path / "vae")
    run = load_run(tmp_path / "vae")
    assert run.kind == "vae" and run.model_config.likelihood == "bce"  # two-phase label maps: Bernoulli
    assert result.val_loss is not None and result.val_loss > 0  # -ELBO in nats per sample
    assert run.model_config.net["signal_shape"] == [16, 16]


def test_a_toml_config_sets_options_and_the_command_line_overrides_them(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('model = "vae"\nconditions = ["density"]\nbatch-size = 4\n[net_options]\nlatent_dim = 4\n')
    config = read_toml(path)
    assert (config.model, config.conditions, config.batch_size, config.net_options) == ("vae", ("density",), 4, {"latent_dim": 4})
    assert config.override(batch_size=16, lr=None).batch_size == 16 and config.override(lr=None).lr == 2e-4
    path.write_text("batch_sise = 4\n")
    with pytest.raises(MatgenError, match="unknown option 'batch_sise'; choose from model, conditions"):
        read_toml(path)


# --- the command line ----------------------------------------------------------------------------

runner = CliRunner()


def assert_one_line_error(result, *fragments):
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_cli_train_hands_file_options_and_overrides_to_the_library(monkeypatch, tmp_path, toy_path):
    seen = {}

    def fake_train(data, config, output, progress, force):
        seen.update(data=data, config=config, output=output, force=force)
        from matgen.train import RunResult

        return RunResult(output, config.steps, 0.5, 0.6, 100.0, [], ["posterior collapse: none of 8 units"])

    monkeypatch.setattr("matgen.train.train", fake_train)
    (tmp_path / "run.toml").write_text('net = "tiny"\nsteps = 50\nlr = 1e-3\n')
    result = runner.invoke(app, ["train", str(toy_path), "-o", str(tmp_path / "run"), "--config", str(tmp_path / "run.toml"),
                                 "-c", "density,texture", "--condition", "fraction", "--lr", "5e-4", "--min-snr", "0",
                                 "--model", "vae", "--beta", "0.5", "--no-circular"])
    assert result.exit_code == 0, result.output
    config = seen["config"]
    assert config.conditions == ("density", "texture", "fraction") and config.model == "vae"
    assert (config.net, config.steps, config.lr, config.beta, config.min_snr, config.circular) == ("tiny", 50, 5e-4, 0.5, None, False)
    assert "trained 50 steps" in result.output and "posterior collapse" in result.output


def test_cli_train_errors_are_one_line(tmp_path, toy_path):
    assert_one_line_error(runner.invoke(app, ["train", str(toy_path), "-o", str(tmp_path / "r"), "-c", "hardness"]),
                          "unknown condition 'hardness'", "fraction, density, texture")
    assert_one_line_error(runner.invoke(app, ["train", str(tmp_path / "missing.h5"), "-o", str(tmp_path / "r")]),
                          "no such file")
    assert_one_line_error(runner.invoke(app, ["train", "-o", str(tmp_path / "r"), "--resume", "--lr", "1"]),
                          "only --steps, --epochs and --device may change")
    assert_one_line_error(runner.invoke(app, ["train", "-o", str(tmp_path / "nothing"), "--resume"]), "no such run directory")
    assert_one_line_error(runner.invoke(app, ["train", str(toy_path), "-o", str(tmp_path / "r"), "--net", "huge"]),
                          "unknown net 'huge'; choose from tiny, small, base, large")


def test_train_and_sample_help_do_not_import_torch():
    code = ("import sys; from matgen.cli.main import app; from typer.testing import CliRunner; "
            "r = [CliRunner().invoke(app, [c, '--help']) for c in ('train', 'sample', 'interpolate')]; "
            "assert all(x.exit_code == 0 for x in r); assert '--target-NAME' in r[1].output; "
            "print([m for m in ('torch', 'numpy', 'h5py') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
