"""Several processes, one model: torchrun training (DistributedDataParallel, gloo on the CPU) equals one process.

Each run of 2 processes is launched as ``python -m torch.distributed.run --standalone --nproc-per-node 2``
(torchrun), one CPU thread per process, and compared with the same run in this (one-thread) process:

* the loss trajectory (metrics.csv) and the weights after 12 steps agree within ATOL = 1e-5. They are
  not bit-identical: each process averages the loss over its 4 rows and DDP averages the two
  gradients, which rounds differently from one mean over 8 rows (measured on the CPU: at most 2.4e-7
  on the losses, 2.6e-6 on the weights and 5e-8 on the AdamW moments). AdamW divides each update by
  sqrt(v) + eps, so where a gradient is near eps = 1e-8 a rounding difference d moves the weight by
  about lr d / eps (lr = 2e-4): that, not the losses, sets the tolerance;
* a 2-process run killed with SIGKILL resumes with 2 processes and with 1, and a 1-process run resumes
  with 2, all to the uninterrupted run's model within ATOL;
* samples drawn by 2 processes are the single process's exactly.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from matgen.cli.errors import print_error
from matgen.cli.main import app
from matgen.common.distributed import (
    BatchShard, RankError, World, batch_shard, choose_backend, gather_in_order, process_device, shard_range,
    torchrun_world, whole_batch,
)
from matgen.data import read, write
from matgen.errors import MatgenError
from matgen.runs.metrics import read_metrics
from matgen.train import TrainConfig, resume, train

from test_train import TINY, TINY_VAE, assert_one_line_error, toy_dataset

pytestmark = pytest.mark.usefixtures("one_thread")

ATOL = 1e-5  # weights and losses of 2 processes vs 1 after 12 steps (see the module docstring)
ROOT = Path(__file__).resolve().parents[1]
RUN = dict(TINY, conditions=("density", "texture"), steps=12, warmup_steps=2, checkpoint_every=4, log_every=1,
           eval_every=6, seed=3)  # global batch 8: 4 rows per process
#: continuous conditions only: the condition encoder's empty categorical table never gets a gradient, as in one process
FLOW = dict(RUN, model="flow", conditions=("fraction",))
runner = CliRunner()


def torchrun(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``torchrun --standalone --nproc-per-node 2 ARGS`` on this checkout, one thread per process."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def max_difference(a: Path, b: Path) -> float:
    """The largest |difference| between the tensors of two safetensors files with the same keys."""
    x, y = load_file(a), load_file(b)
    assert x.keys() == y.keys()
    return max(float((x[k].double() - y[k].double()).abs().max()) for k in x if x[k].numel())


def assert_same_run(run: Path, reference: Path) -> dict:
    """Assert that ``run`` has the reference's metrics rows and weights within ATOL; return the differences."""
    rows, ref = read_metrics(run), read_metrics(reference)
    assert [r["step"] for r in rows] == [r["step"] for r in ref]
    assert [r["lr"] for r in rows] == [r["lr"] for r in ref]
    assert [r["val_loss"] is None for r in rows] == [r["val_loss"] is None for r in ref]
    pairs = [(a[k], b[k]) for a, b in zip(rows, ref) for k in ("loss", "val_loss") if b[k] is not None]
    found = {"loss": max(abs(a - b) for a, b in pairs)}
    for name in ("model.safetensors", "checkpoint/model.safetensors", "checkpoint/ema.safetensors",
                 "checkpoint/optimizer.safetensors"):
        found[name] = max_difference(run / name, reference / name)
    assert max(found.values()) < ATOL, found
    assert json.loads((run / "checkpoint" / "state.json").read_text())["step"] == RUN["steps"]
    return found


# --- the pure pieces -------------------------------------------------------------------------------


def test_shards_are_contiguous_in_rank_order_and_cover_the_range_once():
    for n in range(0, 12):
        for size in (1, 2, 3, 5):
            shards = [shard_range(n, r, size) for r in range(size)]
            assert [i for s in shards for i in s] == list(range(n))
            assert max(map(len, shards)) - min(map(len, shards)) <= 1
    assert [batch_shard(8, World(r, 2)) for r in (0, 1)] == [BatchShard(0, 4, 8), BatchShard(4, 8, 8)]
    assert batch_shard(8, World()) == whole_batch(8)
    assert gather_in_order(["a", "b"], World()) == ["a", "b"]  # one process: its own part


def test_the_torchrun_environment_is_read_and_misuse_is_one_clear_error(monkeypatch):
    assert torchrun_world({}) == World(0, 1, 0)
    assert torchrun_world({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}) == World(3, 4, 1)
    with pytest.raises(MatgenError, match="do not fit together"):
        torchrun_world({"RANK": "2", "WORLD_SIZE": "2"})
    with pytest.raises(MatgenError, match="batch size 7 does not split evenly over 2 processes; give a --batch-size "
                                          "that is a multiple of 2"):
        batch_shard(7, World(0, 2))
    assert choose_backend("auto", "cpu") == "gloo" and choose_backend("auto", "cuda") == "nccl"
    with pytest.raises(MatgenError, match="the nccl backend connects CUDA GPUs, but this run is on the cpu"):
        choose_backend("nccl", "cpu")
    assert process_device("cpu", World(1, 2, 1)) == torch.device("cpu")
    if torch.cuda.device_count() < 2:
        with pytest.raises(RankError, match=r"process 1 \(LOCAL_RANK 1\) has no GPU: this node has"):
            process_device("cuda", World(1, 2, 1))
    # the batch is checked before any process group is started, on every rank alike
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(MatgenError, match="does not split evenly"):
        train("never-read.h5", TrainConfig(**dict(TINY, batch_size=7)), "never-written")


def test_cli_misuse_is_one_line_on_rank_0_and_silent_on_the_others(tmp_path, monkeypatch, capsys):
    data = write(tmp_path / "toy.h5", toy_dataset(n=8))
    args = ["train", str(data), "-o", str(tmp_path / "run"), "--net", "tiny", "--steps", "1", "--device", "cpu"]
    assert_one_line_error(runner.invoke(app, [*args, "--backend", "nccl"]), "nccl backend connects CUDA GPUs",
                          "--backend gloo")
    assert_one_line_error(runner.invoke(app, [*args, "--epochs", "1"]), "give --steps or --epochs, not both")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    result = runner.invoke(app, [*args, "--epochs", "1"])
    assert result.exit_code == 2 and result.output.strip() == ""  # every process meets it; rank 0 says it once
    print_error("process 1 has no GPU", everywhere=True)  # a RankError: its own process's, printed by each
    assert capsys.readouterr().err.strip() == "error: process 1 has no GPU"


@pytest.mark.parametrize("options", [
    dict(model="diffusion", min_snr=5.0), dict(model="flow"), dict(TINY_VAE), dict(model="regressor", net="tiny"),
], ids=["diffusion", "flow", "vae", "regressor"])
def test_the_shards_of_a_batch_draw_the_whole_batchs_noise_so_their_mean_loss_is_its_loss(options):
    """Every kind cuts its whole-batch draws to the shard: the mean of the two shards' losses is the batch's."""
    from matgen.runs import build_model
    from matgen.train.loop import _tensors, step_generator
    from matgen.train.plan import plan

    ds = toy_dataset(n=8)
    config = TrainConfig(**{**TINY, "conditions": ("density",), "cond_drop": 0.5, **options})
    if config.model == "regressor":
        config.net_options = {}
    model_config, data = plan(ds, ds, "toy.h5", "", config)
    torch.manual_seed(0)
    model = build_model(model_config)
    x, cond = _tensors(ds, model, model_config, data, torch.device("cpu"))  # (8, 1, 16, 16), (8, 1)
    drop = torch.rand(8, 1, generator=torch.Generator().manual_seed(1)) < 0.5  # (8, 1)

    def loss(shard: BatchShard) -> float:
        rows = slice(shard.start, shard.stop)
        g = step_generator(config.seed, 2, torch.device("cpu"))
        return float(model.training_loss(x[rows], cond[rows], drop[rows], g, config, 2, shard).detach())

    whole = loss(whole_batch(8))
    single = model.training_loss(x, cond, drop, step_generator(config.seed, 2, torch.device("cpu")), config, 2)
    assert whole == float(single.detach())  # no shard: the single-process loss, bit for bit
    assert (loss(BatchShard(0, 4, 8)) + loss(BatchShard(4, 8, 8))) / 2 == pytest.approx(whole, rel=1e-6, abs=1e-7)


# --- two processes, gloo ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write(tmp_path_factory.mktemp("ddp") / "toy.h5", toy_dataset())


@pytest.fixture(scope="module")
def diffusion_reference(data):
    run = data.parent / "diffusion-1"
    train(data, TrainConfig(**RUN), run)
    return run


@pytest.fixture(scope="module")
def flow_reference(data):
    run = data.parent / "flow-1"
    train(data, TrainConfig(**FLOW), run)
    return run


def toml(config: dict) -> str:
    """run.toml text of the options in ``config`` (its net_options as a table)."""
    lines = [f"{k} = {json.dumps(list(v) if isinstance(v, tuple) else v)}" for k, v in config.items()
             if k != "net_options"]
    return "\n".join(lines + ["[net_options]"] + [f"{k} = {json.dumps(v)}" for k, v in config["net_options"].items()])


def test_two_processes_train_the_model_of_one_process(data, diffusion_reference):
    """`torchrun -m matgen train` with 2 processes: metrics.csv and weights within ATOL of 1 process's."""
    (data.parent / "run.toml").write_text(toml(RUN) + "\n")
    run = data.parent / "diffusion-2"
    result = torchrun("-m", "matgen", "train", str(data), "-o", str(run), "--config", str(data.parent / "run.toml"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("trained 12 steps") + result.stderr.count("trained 12 steps") == 1  # rank 0 reports
    found = assert_same_run(run, diffusion_reference)
    print(f"2 vs 1 process, diffusion, 12 steps: max |difference| {found}")
    assert {p.name for p in run.iterdir()} == {p.name for p in diffusion_reference.iterdir()}


KILLED = textwrap.dedent("""
    import os, signal, sys
    from matgen.train import TrainConfig, train

    def kill_at_6(done, total, message):  # called on rank 0 alone
        if done == 6:
            os.kill(os.getpid(), signal.SIGKILL)  # after step 6; the last checkpoint holds step 4

    train(sys.argv[1], TrainConfig.from_dict({config!r}), sys.argv[2], progress=kill_at_6)
""")
RESUME = "import sys\nfrom matgen.train import resume\nfor run in sys.argv[1:]:\n    resume(run)\n"


@pytest.fixture(scope="module")
def killed(data):
    """A flow run of 2 processes killed with SIGKILL after step 6 (checkpoint: step 4)."""
    script = data.parent / "killed.py"
    script.write_text(KILLED.format(config=TrainConfig(**FLOW).to_dict()))
    run = data.parent / "flow-killed"
    result = torchrun(str(script), str(data), str(run))
    assert result.returncode != 0 and "-9" in result.stderr + result.stdout, result.stderr[-3000:]
    assert json.loads((run / "checkpoint" / "state.json").read_text())["step"] == 4
    assert [r["step"] for r in read_metrics(run)][-1] == 6
    return run


def test_a_killed_two_process_run_resumes_with_two_or_one_and_a_one_process_run_with_two(data, killed,
                                                                                        flow_reference, tmp_path):
    two_two, two_one, one_two = (shutil.copytree(killed, tmp_path / name) for name in ("2-2", "2-1", "1-2"))
    shutil.rmtree(one_two)

    def interrupt_at_6(done, total, message):
        if done == 6:
            raise KeyboardInterrupt  # the loop saves a checkpoint of the 6 finished steps

    with pytest.raises(KeyboardInterrupt):
        train(data, TrainConfig(**FLOW), one_two, progress=interrupt_at_6)
    (tmp_path / "resume.py").write_text(RESUME)
    result = torchrun(str(tmp_path / "resume.py"), str(two_two), str(one_two))
    assert result.returncode == 0, result.stderr[-3000:]
    assert resume(two_one).steps == 12  # the killed 2-process run, in this one process
    for run in (two_two, two_one, one_two):
        found = assert_same_run(run, flow_reference)
        print(f"resumed {run.name} processes, flow, 12 steps: max |difference| {found}")


def test_samples_split_over_two_processes_are_the_single_process_samples(diffusion_reference, tmp_path):
    args = ["sample", str(diffusion_reference), "-n", "7", "--batch-size", "2", "--steps", "3", "--seed", "5",
            "--target-density", "2.9", "--grey", "--device", "cpu"]  # 4 batches: samples 0-3 and 4-6
    one = runner.invoke(app, [*args, "-o", str(tmp_path / "one.h5")])
    assert one.exit_code == 0, one.output
    result = torchrun("-m", "matgen", *args, "-o", str(tmp_path / "two.h5"))
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("one", "two"):
        assert read(tmp_path / f"{name}.h5").ids.tolist() == [f"sample-{5 + i}" for i in range(7)]
    grey_one, grey_two = read(tmp_path / "one-grey.h5"), read(tmp_path / "two-grey.h5")
    assert np.array_equal(grey_one.signals, grey_two.signals)  # exactly: the same batches, each on one process
    assert grey_one.conditions.keys() == grey_two.conditions.keys()
