"""Run and campaign directories written by matgen 0.1.0 (before matgen.runs) still load, sample, resume and continue.

The folders in tests/fixtures/v0_1 were written by that version (tests/fixtures/make_v0_1.py
says how); each test works on a copy in a temporary folder, so the absolute paths they recorded
point nowhere, as after a user moves a project.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from matgen.campaign import Campaign, status
from matgen.common.files import file_sha256
from matgen.runs import is_complete, load_run, read_config
from matgen.sample import sample
from matgen.train import TrainConfig, resume

FIXTURES = Path(__file__).parent / "fixtures" / "v0_1"
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def old(tmp_path) -> Path:
    shutil.copytree(FIXTURES, tmp_path / "v0_1")
    return tmp_path / "v0_1"


def test_an_old_run_loads_with_named_config_fields_and_samples_what_it_sampled_then(old):
    config = read_config(old / "run")
    assert config.model.kind == "diffusion" and [c.name for c in config.model.conditions] == ["density", "modulus_x"]
    assert config.data.sha256 == file_sha256(old / "composite.h5") and config.matgen_version == "0.1.0"
    assert TrainConfig.from_dict(config.train).steps == 12 and is_complete(old / "run")
    run = load_run(old / "run")
    again = sample(run, {"density": 2.9, "modulus_x": "120..140"}, n=3, steps=4, guidance=1.0, seed=5)
    assert np.array_equal(again.dataset.signals, np.load(old / "run-samples.npy"))
    assert again.dataset.attrs["checkpoint_sha256"] == file_sha256(old / "run" / "model.safetensors")


def test_an_old_run_resumes_for_more_steps_from_its_checkpoint(old):
    result = resume(old / "run", data_path=old / "composite.h5", steps=16)
    assert result.steps == 16 and is_complete(old / "run")
    metrics = (old / "run" / "metrics.csv").read_text().splitlines()
    assert metrics[0] == "step,loss,val_loss,lr,samples_per_s" and metrics[-1].startswith("16,")


def test_an_old_campaign_reports_its_status_and_continues_for_another_round(old):
    c = old / "campaign"
    hits = json.loads((old / "campaign-report-hits.json").read_text())
    now = status(c)
    assert (now.status, now.rounds_done, now.rounds_planned, now.evaluated) == ("done", 2, 2, 8)
    assert [s.hits for s in now.summaries if s.round] == hits
    assert [s.hits for s in Campaign.open(c).report.rounds] == hits
    report = Campaign.resume(c, rounds=3)  # round 2's model and data are found by the layout, not by old paths
    assert [s.hits for s in report.rounds[:2]] == hits and len(report.rounds) == 3
    third = read_config(c / "rounds" / "03" / "run")
    assert third.records["finetuned_from"]["run"] == str((c / "rounds" / "02" / "run").resolve())
    assert third.data.path == str((c / "rounds" / "02" / "data.h5").resolve())
    assert len(json.loads((c / "rounds" / "03" / "results.json").read_text())["candidates"]) == 4
