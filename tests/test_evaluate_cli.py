"""`matgen evaluate` as a user meets it: augmented files, --synthetic, --method, output files, one-line errors."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from matgen.cli.main import app
from matgen.data import write
from matgen.data.dataset import Axis

from test_evaluate import spectra_set
from test_train import assert_one_line_error

pytestmark = pytest.mark.usefixtures("one_thread")

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from matgen.augment import augment

    folder = tmp_path_factory.mktemp("evaluate")
    real = spectra_set(groups_per_class=5, per_group=2)
    augmented = augment(real, "physics", factor=1, seed=0)
    return {
        "real": write(folder / "real.h5", real),
        "augmented": write(folder / "augmented.h5", augmented),
        "synthetic": write(folder / "synthetic.h5", augmented.take(np.flatnonzero(augmented.synthetic))),
    }


def test_an_augmented_file_is_evaluated_with_every_output(files, tmp_path):
    out = tmp_path / "eval"
    result = invoke("evaluate", files["augmented"], "-o", out, "--group", "sample", "--seeds", 2, "--model", "knn")
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["label"] == "mineral" and metrics["real_rows"] == 30 and metrics["synthetic_rows"] == 30
    assert metrics["quality"]["peak_recall"] > 0.9 and metrics["adherence"] >= 0.9
    arms = {row["arm"]: row for row in metrics["downstream"]["summary"]}
    assert set(arms) == {"real", "real+synthetic", "synthetic only"} and arms["real"]["seeds"] == 2
    assert arms["real"]["mean"] >= 0.9
    assert metrics["downstream"]["quality_summary"]["synthetic"]["copied_fraction"]["mean"] is not None
    for name in ("overlays-synthetic.png", "scores.png", "quality.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    assert "downstream: mineral, accuracy, 2 seed(s)" in result.output and "metrics →" in result.output


def test_a_separate_synthetic_file_without_the_downstream_test(files, tmp_path):
    out = tmp_path / "eval"
    result = invoke("evaluate", files["real"], "--synthetic", files["synthetic"], "-o", out, "--no-downstream",
                    "--group", "sample", "--model", "knn")
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["downstream"] is None and metrics["quality"]["spectral_angle_deg"] < 15
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "overlays-synthetic.png"]


def test_method_physics_augments_each_training_split(files, tmp_path):
    out = tmp_path / "eval"
    result = invoke("evaluate", files["real"], "--method", "physics", "-o", out, "--group", "sample", "--seeds", 2,
                    "--model", "knn")
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert {row["arm"] for row in metrics["downstream"]["summary"]} == {"real", "real+physics", "physics only"}
    assert metrics["downstream"]["synthetic_rows"]["physics"] == [s["train_rows"] for s in metrics["downstream"]["splits"]]
    assert (out / "overlays-physics.png").exists()


def test_several_predictors_share_the_splits_and_the_summary_says_which_the_augmentation_helps(files, tmp_path):
    out = tmp_path / "eval"
    result = invoke("evaluate", files["real"], "--method", "physics", "-o", out, "--group", "sample", "--seeds", 2,
                    "--model", "knn,linear", "--epochs", 3)
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    knn, linear = metrics["by_predictor"]["knn"], metrics["by_predictor"]["linear"]
    assert metrics["downstream"] == knn and knn["splits"] == linear["splits"]  # the same splits for both
    assert knn["synthetic_rows"] == linear["synthetic_rows"]  # the same synthetic rows: augmented once per seed
    line = metrics["verdict"][0]
    assert line.startswith("physics: ") and "knn (" in line and "linear (" in line and line in result.output
    for name, d in metrics["by_predictor"].items():  # helped above one standard error of the paired gain, hurt below
        row = next(r for r in d["summary"] if r["arm"] == "real+physics")
        error = row["gain_std"] / np.sqrt(2)
        said = "helps" if row["gain_mean"] > error else "does not help" if row["gain_mean"] < -error else "no clear"
        part = next(p for p in line[len("physics: "):].split("; ") if f"{name} (" in p)
        assert part.startswith(said), (line, row)
    assert (out / "scores.png").exists() and (out / "scores-linear.png").exists()


def test_the_command_is_one_call_into_the_library(files, tmp_path, monkeypatch):
    import matgen.evaluate
    from matgen.evaluate.report import EvaluationReport

    seen = {}

    def fake(real, synthetic, augmenters, label, group, seeds, test_fraction, model, run_downstream, progress, simulator):
        seen.update(real=len(real), synthetic=len(synthetic), augmenters=list(augmenters), label=label, group=group,
                    seeds=seeds, test_fraction=test_fraction, model=[m.model for m in model], epochs=model[0].epochs)
        return EvaluationReport(len(real), len(synthetic), label, group)

    monkeypatch.setattr(matgen.evaluate, "evaluate", fake)
    result = invoke("evaluate", files["augmented"], "-o", tmp_path / "e", "--label", "mineral", "--group", "sample",
                    "--seeds", 3, "--test-fraction", 0.25, "--model", "linear", "--epochs", 7)
    assert result.exit_code == 0, result.output
    assert seen == {"real": 30, "synthetic": 30, "augmenters": [], "label": "mineral", "group": "sample",
                    "seeds": [0, 1, 2], "test_fraction": 0.25, "model": ["linear"], "epochs": 7}


def test_bad_input_is_one_line_and_exit_2(files, tmp_path):
    out = tmp_path / "eval"
    assert_one_line_error(invoke("evaluate", files["augmented"], "-o", out, "--label", "colour"),
                          "unknown condition 'colour'", "mineral")
    assert_one_line_error(invoke("evaluate", files["real"], "-o", out), "no synthetic rows", "--method")
    assert_one_line_error(invoke("evaluate", files["augmented"], "-o", out, "--synthetic", files["synthetic"]),
                          "not both")
    assert_one_line_error(invoke("evaluate", files["real"], "-o", out, "--method", "magic"),
                          "unknown augmentation method 'magic'", "physics")
    assert_one_line_error(invoke("evaluate", files["augmented"], "-o", out, "--model", "forest"),
                          "unknown downstream model 'forest'", "cnn")
    assert_one_line_error(invoke("evaluate", files["augmented"], "-o", out, "--group", "mineral", "--model", "knn",
                                 "--label", "sample"), "too few")
    shifted = spectra_set(groups_per_class=5, per_group=2, prefix="x")
    shifted.axis = Axis("raman_shift", "cm-1", shifted.axis.values + 0.5)
    shifted.synthetic[:] = True
    assert_one_line_error(invoke("evaluate", files["real"], "--synthetic", write(tmp_path / "s.h5", shifted), "-o", out),
                          "axis")
    invoke("evaluate", files["augmented"], "-o", out, "--no-downstream", "--model", "knn")
    assert_one_line_error(invoke("evaluate", files["augmented"], "-o", out), "already holds metrics.json", "--force")
