"""RUN/MODEL_CARD.md: written at the end of training, and again when a measurement is recorded."""

import json

import pytest
from safetensors.torch import load_file

from matgen.data import write
from matgen.runs import load_run
from matgen.runs.card import add_measurement, read_measurements, training_seconds
from matgen.train import TrainConfig, train

from test_train import TINY, toy_dataset

pytestmark = pytest.mark.usefixtures("one_thread")


def test_training_writes_a_card_with_data_conditions_size_training_and_measurements(tmp_path):
    data = write(tmp_path / "toy.h5", toy_dataset())
    run_dir = tmp_path / "run"
    train(data, TrainConfig(conditions=("density", "texture"), steps=6, **TINY), run_dir)
    card = (run_dir / "MODEL_CARD.md").read_text()
    run = load_run(run_dir)
    density = run.conditions[0]
    assert f"`{run.data.path}`" in card and run.data.sha256[:16] in card
    assert f"| density | g/cm3 | {density.minimum:.4g} .. {density.maximum:.4g} |" in card
    assert "| texture | category | coarse, fine |" in card
    parameters = sum(t.numel() for t in load_file(run_dir / "model.safetensors").values())
    assert f"- Parameters: {parameters:,}" in card and parameters == sum(p.numel() for p in run.model.parameters())
    assert "- Steps: 6, batch size 8" in card and "Final training loss" in card and "Training time:" in card
    assert "## Intended use" in card and "## Known limits" in card and "Nothing measured yet" in card
    add_measurement(run_dir, "benchmarks/generative_methods.py", "median density error at 25 NFE",
                    {"median_error": 0.0123, "nfe": 25})
    card = (run_dir / "MODEL_CARD.md").read_text()
    assert "benchmarks/generative_methods.py: median density error at 25 NFE (median_error 0.0123, nfe 25)" in card
    assert read_measurements(run_dir)[0]["figures"] == {"median_error": 0.0123, "nfe": 25}
    assert json.loads((run_dir / "measurements.json").read_text())[0]["source"] == "benchmarks/generative_methods.py"


def test_training_time_is_summed_from_the_metrics_rows():
    rows = [{"step": 10, "samples_per_s": 80.0}, {"step": 30, "samples_per_s": 40.0}, {"step": 30, "val_loss": 1.0}]
    assert training_seconds(rows, 8) == pytest.approx(10 * 8 / 80 + 20 * 8 / 40)
