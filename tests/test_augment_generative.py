"""Generative augmentation with a tiny run, `augment --method both`, and the `matgen augment` command line."""

import numpy as np
import pytest
from typer.testing import CliRunner

from matgen.augment import augment, default_conditions, generative_augment, train_on_dataset
from matgen.cli.main import app
from matgen.data import Axis, Dataset, read, write
from matgen.errors import MatgenError

from test_cli import assert_one_line_error

pytestmark = pytest.mark.usefixtures("one_thread")
runner = CliRunner()
MINERALS = ("quartz", "calcite", "diamond")
TINY = {"net": "tiny", "batch_size": 8}


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def raman_small():
    """20 Raman spectra of three minerals, 6 / 8 / 6 rows (imbalanced), 128 points."""
    from matgen.builders import build

    ds = build("raman", n=24, points=128, seed=0, minerals=MINERALS)
    return ds.take(np.arange(20))


@pytest.fixture(scope="module")
def tiny_run(raman_small, tmp_path_factory):
    """A tiny diffusion run trained 30 steps on raman_small (mineral, temperature, stress)."""
    return train_on_dataset(raman_small, 30, tmp_path_factory.mktemp("run") / "run", seed=0, device="cpu",
                            options=TINY)


def test_default_conditions_are_labels_and_processing_conditions(raman_small):
    assert default_conditions(raman_small) == ["mineral", "temperature", "stress"]  # not the meta fluorescence
    assert default_conditions(raman_small, ["fluorescence"])[-1] == "fluorescence"


def test_generative_rows_carry_the_values_they_were_sampled_for(raman_small, tiny_run):
    ds = raman_small
    rows = np.asarray([0, 0, 5, 9, 12])
    out = generative_augment(ds, tiny_run, rows, seed=10, steps=4, device="cpu")
    assert len(out) == 5 and out.synthetic.all() and out.check()
    assert list(out.ids) == [f"gen-{10 + j}" for j in range(5)]
    assert set(out.conditions["augmentation"].labels()) == {"generative"}
    # grouped by the values asked for; each row carries exactly one requested row's values
    asked = {(ds.conditions["mineral"].labels()[r], ds.conditions["temperature"].values[r]) for r in rows}
    got = list(zip(out.conditions["mineral"].labels(), out.conditions["temperature"].values))
    assert set(got) == asked and got[0] == got[1]
    for j, source in enumerate(out.sources):
        parent = source.split(" for ")[1].split()[0]
        k = list(ds.ids).index(parent)
        assert out.conditions["stress"].values[j] == ds.conditions["stress"].values[k]
        assert f"seed {10 + j} " in source and "sha256 " in source and str(tiny_run.resolve()) in source
    assert np.isnan(out.conditions["fluorescence"].values).all()  # not a condition of the run: unknown
    assert out.attrs["augment_checkpoint_sha256"] and out.attrs["augment_steps"] == 4
    again = generative_augment(ds, tiny_run, rows, seed=10, steps=4, device="cpu")
    assert np.array_equal(again.signals, out.signals)  # same seed, same rows


def test_both_with_balance_fills_every_class_half_physics_half_generative(raman_small, tiny_run):
    ds = raman_small
    counts = np.bincount(ds.conditions["mineral"].values)  # 6 / 8 / 6
    out = augment(ds, method="both", balance="mineral", run=tiny_run, seed=3, device="cpu", steps=4)
    assert np.array_equal(out.signals[:len(ds)], ds.signals) and not out.synthetic[:len(ds)].any()
    assert set(np.bincount(out.conditions["mineral"].values)) == {counts.max()}
    origin = out.conditions["augmentation"].labels()
    for k, name in enumerate(MINERALS):
        added = (out.conditions["mineral"].values == k) & out.synthetic
        assert np.sum(added & (origin == "physics")) == np.sum(added & (origin == "generative")) == (8 - counts[k]) // 2
    assert out.attrs["augment_method"] == "both" and out.attrs["augment_run_dir"] == str(tiny_run.resolve())
    assert out.attrs["augment_sampler"] == "dpmpp-2m" and out.attrs["augment_steps"] == 4 and "augment_bounds" in out.attrs


def test_a_run_that_does_not_fit_the_data_is_refused(raman_small, tiny_run):
    ds = raman_small
    longer = Dataset(kind="raman", signals=np.ones((2, 64), np.float32), axis=Axis("raman_shift", "cm-1",
                     np.linspace(100, 1800, 64)), conditions={"mineral": ds.conditions["mineral"].take([0, 1]),
                                                              "temperature": ds.conditions["temperature"].take([0, 1]),
                                                              "stress": ds.conditions["stress"].take([0, 1])})
    with pytest.raises(MatgenError, match=r"trained on another axis .*128 points.*re-import those files with --range [0-9.]+:[0-9.]+ --points 128"):
        generative_augment(longer, tiny_run, np.asarray([0]))
    no_stress = ds.take(np.arange(4))
    del no_stress.conditions["stress"]
    with pytest.raises(MatgenError, match="conditioned on 'stress', which this dataset lacks"):
        augment(no_stress, method="generative", run=tiny_run)
    with pytest.raises(MatgenError, match="already holds a run; reuse it with --model"):
        train_on_dataset(ds, 5, tiny_run)


# --------------------------------------------------------------------------- command line


def test_cli_physics_round_trip_with_summary_and_png(tmp_path, raman_small):
    data = write(tmp_path / "raman.h5", raman_small)
    out = tmp_path / "aug.h5"
    result = invoke("augment", data, "-o", out, "--factor", "2", "--bound", "shift_cm1=4", "--seed", "2", "--png")
    assert result.exit_code == 0, result.output
    ds = read(out)
    assert len(ds) == 60 and ds.synthetic.sum() == 40 and ds.attrs["augment_seed"] == 2
    assert '"shift_cm1": 4.0' in ds.attrs["augment_bounds"]
    for text in ("rows per mineral and origin", "quartz", "all", "20 real + 40 synthetic", "aug.png"):
        assert text in result.output, text
    assert (tmp_path / "aug.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    listed = invoke("augment", data, "--list-bounds", "--bound", "noise=0.05")
    assert listed.exit_code == 0 and "shift_cm1" in listed.output and "0.05" in listed.output


def test_cli_generative_with_model_and_with_train_steps(tmp_path, raman_small, tiny_run):
    data = write(tmp_path / "raman.h5", raman_small)
    result = invoke("augment", data, "-o", tmp_path / "gen.h5", "--method", "generative", "--model", tiny_run,
                    "--balance", "mineral", "--steps", "3", "--device", "cpu")
    assert result.exit_code == 0, result.output
    gen = read(tmp_path / "gen.h5")
    assert gen.synthetic.sum() == 4 and set(gen.conditions["augmentation"].labels()[20:]) == {"generative"}
    result = invoke("augment", data, "-o", tmp_path / "both.h5", "--method", "both", "--train-steps", "4",
                    "--net", "tiny", "--steps", "2", "--device", "cpu", "--factor", "0.5")
    assert result.exit_code == 0, result.output
    assert "both-run" in result.output and (tmp_path / "both-run" / "model.safetensors").is_file()
    both = read(tmp_path / "both.h5")
    assert both.synthetic.sum() == 10 and both.attrs["augment_run_dir"] == str((tmp_path / "both-run").resolve())


def test_cli_bad_input_is_one_line_exit_2(tmp_path, raman_small, tiny_run):
    data = write(tmp_path / "raman.h5", raman_small)
    out = tmp_path / "out.h5"
    assert_one_line_error(invoke("augment", data, "-o", out, "--balance", "colour"), "unknown condition 'colour'",
                          "mineral")
    assert_one_line_error(invoke("augment", data, "-o", out, "--balance", "temperature"),
                          "needs a categorical condition")
    assert_one_line_error(invoke("augment", data, "-o", out, "--method", "generative"), "--model RUN_DIR",
                          "--train-steps")
    assert_one_line_error(invoke("augment", data, "-o", out, "--method", "generative", "--model", tiny_run,
                                 "--train-steps", "5"), "not both")
    assert_one_line_error(invoke("augment", data, "-o", out, "--bound", "shift_deg=1"),
                          "unknown raman bound 'shift_deg'", "shift_cm1")
    assert_one_line_error(invoke("augment", data, "-o", out, "--bound", "shift_cm1"), "NAME=VALUE")
    assert_one_line_error(invoke("augment", data, "-o", out, "--method", "gan"), "choose from physics, generative, both")
    assert_one_line_error(invoke("augment", data), "-o AUGMENTED.h5")
    assert_one_line_error(invoke("augment", tmp_path / "missing.h5", "-o", out), "missing.h5")
    micro = write(tmp_path / "micro.h5", Dataset(kind="micrograph", signals=np.zeros((2, 8, 8), np.float32),
                                                  signal_type="grey"))
    assert_one_line_error(invoke("augment", micro, "-o", out), "for spectra, not micrographs", "--method generative")
    other = raman_small.take(np.arange(4))
    other.conditions["mineral"].categories = ("quartz", "calcite", "zircon")
    other.conditions["mineral"].values[:] = 2
    assert_one_line_error(invoke("augment", write(tmp_path / "zircon.h5", other), "-o", out, "--method", "generative",
                                 "--model", tiny_run), "'mineral' zircon is not a category of the run")
    out.write_bytes(b"")
    assert_one_line_error(invoke("augment", data, "-o", out), "exists; pass --force")


@pytest.mark.slow
def test_generated_spectra_keep_their_labels_for_a_real_only_classifier(tmp_path):
    """A tiny mineral-conditioned model (800 CPU steps, ~1.5 min): every generated spectrum, quartz included, is
    assigned its requested mineral by a nearest-centroid classifier built on the real rows only."""
    from matgen.builders import build

    minerals = ("quartz", "calcite", "diamond", "rutile", "gypsum")
    ds = build("raman", n=90, points=128, seed=0, minerals=minerals, spike_rate=0.0)
    run = train_on_dataset(ds, 800, tmp_path / "run", conditions=["mineral"], device="cpu",
                           options={"net": "tiny", "lr": 1e-3})
    labels = ds.conditions["mineral"].labels()
    out = augment(ds, method="generative", run=run, balance="mineral", factor=0.5, seed=0, steps=20, device="cpu")
    syn = np.flatnonzero(out.synthetic)

    def unit(s):
        s = s - np.median(s, axis=-1, keepdims=True)
        return s / np.linalg.norm(s, axis=-1, keepdims=True)

    classes = sorted(set(labels))
    centroids = np.stack([unit(ds.signals[labels == c]).mean(0) for c in classes])
    predicted = np.asarray(classes)[np.argmax(unit(out.signals[syn]) @ centroids.T, axis=1)]
    requested = out.conditions["mineral"].labels()[syn]
    assert np.sum(requested == "quartz") >= 5 and (predicted[requested == "quartz"] == "quartz").all()
    assert np.mean(predicted == requested) >= 0.95


def test_label_true_rows_are_those_a_classifier_of_the_real_rows_assigns_to_their_label(raman_small, tiny_run,
                                                                                        tmp_path):
    import json

    from matgen.augment.label_true import label_classifier, label_true_augment
    from matgen.evaluate import PredictorConfig

    ds, knn = raman_small, PredictorConfig(model="knn")
    assert (label_classifier(ds, "mineral", knn)(ds) == ds.conditions["mineral"].labels()).all()  # 1-NN: itself
    rows = np.arange(len(ds))
    out = label_true_augment(ds, tiny_run, rows, "mineral", seed=50, tries=3, predictor=knn, steps=3, device="cpu")
    stats = json.loads(out.attrs["augment_label_true"])
    assert stats["requested"] == 20 and stats["kept"] == len(out) and stats["kept"] <= 20
    assert 20 <= stats["drawn"] <= 60 and (stats["drawn"] == 20) == (stats["kept"] == 20)
    if len(out):
        assert (label_classifier(ds, "mineral", knn)(out) == out.conditions["mineral"].labels()).all()
        assert len(set(out.ids)) == len(out) and all(50 <= int(i[4:]) < 50 + 3 * 20 for i in out.ids)
    # every kept row is a draw of generative_augment for a real row with its label (try 0: seeds 50 + j)
    first = generative_augment(ds, tiny_run, rows, seed=50, steps=3, device="cpu")
    for i, signal in zip(out.ids, out.signals):
        if i in set(first.ids):
            assert np.array_equal(signal, first.signals[list(first.ids).index(i)])
    with pytest.raises(MatgenError, match="needs a categorical label; 'temperature' is continuous"):
        label_true_augment(ds, tiny_run, rows, "temperature", steps=2, device="cpu")
    data = write(tmp_path / "raman.h5", ds)
    assert_one_line_error(invoke("augment", data, "-o", tmp_path / "y.h5", "--label-true", "mineral"),
                          "--label-true filters generative rows; use --method generative or both")
