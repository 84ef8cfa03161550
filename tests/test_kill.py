"""kill -9 and two processes at once: a killed training resumes to the same model, and a folder
another matgen process is writing (a run, a campaign, a simulator store) is refused with one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from matgen.cli.main import app
from matgen.data import write
from matgen.errors import MatgenError
from matgen.train import TrainConfig, train

from test_train import TINY, assert_one_line_error, toy_dataset

pytestmark = pytest.mark.usefixtures("one_thread")

runner = CliRunner()

TRAIN = textwrap.dedent("""
    import sys, torch
    torch.set_num_threads(1)
    from matgen.train import TrainConfig, train
    config = TrainConfig.from_dict({config!r})
    train({data!r}, config, {run!r}, progress=lambda done, total, message: time.sleep(0.02))
""").replace("import sys, torch", "import sys, time, torch")


def _wait_for(predicate, seconds: float, what: str, process=None):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the process ended ({process.returncode}) before {what}: {process.stderr.read()}")
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _step(run_dir) -> int:
    try:
        return json.loads((run_dir / "checkpoint" / "state.json").read_text())["step"]
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return -1


def test_kill_9_mid_training_refuses_a_second_writer_then_resumes_to_the_same_model(tmp_path):
    data = write(tmp_path / "toy.h5", toy_dataset())
    config = TrainConfig(conditions=("density",), steps=200, warmup_steps=4, checkpoint_every=5, **TINY)
    train(data, config, tmp_path / "whole")
    run = tmp_path / "killed"
    script = TRAIN.format(config=config.to_dict(), data=str(data), run=str(run))
    process = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: _step(run) >= 10, 120, "the second checkpoint", process)
        # while it trains, a second process is told so -- whether it would start afresh or resume
        assert_one_line_error(runner.invoke(app, ["train", str(data), "-o", str(run), "--force", "--steps", "3"]),
                              "is in use", f"matgen process {process.pid}")
        assert_one_line_error(runner.invoke(app, ["train", "-o", str(run), "--resume"]), "is in use")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    stopped_at = _step(run)
    assert 10 <= stopped_at < 200  # killed half-way, between checkpoints
    result = runner.invoke(app, ["train", "-o", str(run), "--resume"])
    assert result.exit_code == 0, result.output
    assert "trained 200 steps" in result.output
    for name in ("model.safetensors", "checkpoint/ema.safetensors", "checkpoint/optimizer.safetensors"):
        whole, resumed = load_file(tmp_path / "whole" / name), load_file(run / name)
        assert all(torch.equal(whole[k], resumed[k]) for k in whole), name  # the kill cost nothing
    assert not list(run.glob(".*tmp-*")) and not (run / ".matgen.lock").exists()


HOLD = textwrap.dedent("""
    import sys, time
    from matgen.common.locks import folder_lock
    with folder_lock(sys.argv[1], sys.argv[2]):
        print("held", flush=True)
        time.sleep(120)
""")


@pytest.fixture()
def holder():
    """hold(folder, what): another process holding ``folder``'s lock until the test ends."""
    processes = []

    def hold(folder, what):
        process = subprocess.Popen([sys.executable, "-c", HOLD, str(folder), what], stdout=subprocess.PIPE, text=True)
        processes.append(process)
        assert process.stdout.readline().strip() == "held"
        return process

    yield hold
    for process in processes:
        process.kill()
        process.wait()


def test_a_campaign_folder_in_use_is_refused_before_any_file_is_written(tmp_path, holder):
    camp = tmp_path / "camp"
    holder(camp, "campaign")
    config = tmp_path / "c.toml"
    config.write_text('builder = "composite"\nsimulator = "elastic"\n[builder_options]\nn = 8\nsize = 16\n'
                      '[train]\nnet = "tiny"\nsteps = 2\n[targets]\ndensity = "2.9 ± 1%"\n')
    result = runner.invoke(app, ["campaign", "run", str(config), "-o", str(camp)])
    assert_one_line_error(result, f"{camp} is in use: this campaign is being written by matgen process")
    assert sorted(p.name for p in camp.iterdir()) == [".matgen.lock"]


def test_a_simulator_store_in_use_is_refused(tmp_path, holder):
    from matgen.builders import build
    from matgen.simulators import get_simulator, run_simulator

    store = tmp_path / "store"
    holder(store, "simulator store")
    with pytest.raises(MatgenError, match="this simulator store is being written by matgen process"):
        run_simulator(get_simulator("elastic"), build("spinodal", n=2, size=16), store=store)
    ev = run_simulator(get_simulator("elastic"), build("spinodal", n=2, size=16), store=tmp_path / "free")
    assert np.isfinite(ev.properties["modulus"]).all()
    assert os.listdir(tmp_path / "free") and not (tmp_path / "free" / ".matgen.lock").exists()


def test_kill_9_of_data_build_leaves_the_old_file_whole_and_the_next_build_clean(tmp_path):
    out = tmp_path / "out.h5"
    out.write_bytes(b"precious")
    process = subprocess.Popen([sys.executable, "-m", "matgen", "data", "build", "spinodal", "--n", "4000", "--size",
                                "32", "-o", str(out), "--force", "--no-png"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    time.sleep(4)  # building (or already writing the temporary file)
    process.kill()
    process.wait()
    assert out.read_bytes() == b"precious"  # replaced only by a complete file
    result = runner.invoke(app, ["data", "build", "spinodal", "--n", "3", "--size", "16", "-o", str(out), "--force",
                                 "--no-png"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.h5"]  # no temporary left behind
