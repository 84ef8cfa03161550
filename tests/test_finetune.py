"""Fine-tuning a trained run on new data: a complete, loadable, resumable run; the base run untouched."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from matgen.common.files import file_sha256
from matgen.data import concat, read, write
from matgen.errors import MatgenError
from matgen.runs import condition_matrix, load_run, read_config, to_network
from matgen.sample import sample
from matgen.train import TrainConfig, finetune, resume, train
from matgen.train.finetuning import finetune_config
from matgen.train.loop import validate

from test_train import TINY, toy_dataset

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A 30-step tiny run on 48 toy maps, and new data: those maps plus 48 others (another seed)."""
    folder = tmp_path_factory.mktemp("finetune")
    old = write(folder / "old.h5", toy_dataset(seed=0))
    other = toy_dataset(seed=7)
    other.ids = np.asarray([f"new-{i}" for i in range(len(other))], dtype=object)
    new = write(folder / "new.h5", concat([read(old), other]))
    config = TrainConfig(conditions=("density",), steps=30, lr=2e-3, warmup_steps=3, **TINY)
    train(old, config, folder / "base")
    return folder, old, new


def _files(run_dir):
    return {p.relative_to(run_dir): file_sha256(p) for p in sorted(run_dir.rglob("*")) if p.is_file()}


def _loss_on(run_dir, path) -> float:
    """The EMA model's fixed-noise denoising loss on every row of the dataset at ``path``."""
    run = load_run(run_dir)
    ds = read(path)
    x = torch.as_tensor(to_network(ds.signals, run.data))
    c = torch.as_tensor(condition_matrix(ds, run.conditions))
    return validate(run.model, x, c, TrainConfig.from_dict(run.config.train))[0]


def test_a_finetune_is_a_complete_run_that_learns_the_new_data_and_leaves_the_base_alone(base):
    folder, old, new = base
    before = _files(folder / "base")
    loss_before = _loss_on(folder / "base", new)
    result = finetune(folder / "base", new, folder / "ft", steps=40, lr=2e-3)
    assert result.steps == 40 and _files(folder / "base") == before
    assert _loss_on(folder / "ft", new) < 0.9 * loss_before
    ft, base_config = read_config(folder / "ft"), read_config(folder / "base")
    model, data, train_config = ft.model, ft.data, TrainConfig.from_dict(ft.train)
    base_model, base_data = base_config.model, base_config.data
    assert model.to_dict() == base_model.to_dict()  # network and condition specs (ranges) unchanged
    assert data.sha256 == file_sha256(new) and data.norm == base_data.norm and data.n_train + data.n_val == 96
    assert train_config.steps == 40 and train_config.warmup_steps == 4 and train_config.lr == 2e-3
    origin = ft.records["finetuned_from"]
    assert origin["run"] == str((folder / "base").resolve()) and origin["steps"] == 30
    assert origin["weights_sha256"] == file_sha256(folder / "base" / "model.safetensors")
    assert origin["data_sha256"] == file_sha256(old)
    out = sample(folder / "ft", {"density": 2.95}, n=3, steps=4, seed=0)
    assert out.dataset.signals.shape == (3, 16, 16) and out.dataset.attrs["checkpoint_sha256"] == \
        file_sha256(folder / "ft" / "model.safetensors")


def test_the_finetune_starts_from_the_base_weights_and_optimizer(base):
    """One step at a tiny learning rate: the raw weights stay next to the base run's, the AdamW step count goes on."""
    folder, _, new = base
    finetune(folder / "base", new, folder / "one", steps=1, lr=1e-9)
    start, end = load_file(folder / "base" / "checkpoint" / "model.safetensors"), \
        load_file(folder / "one" / "checkpoint" / "model.safetensors")
    assert all(torch.allclose(start[k], end[k], atol=1e-6) for k in start)
    state = json.loads((folder / "one" / "checkpoint" / "state.json").read_text())
    adam = load_file(folder / "one" / "checkpoint" / "optimizer.safetensors")
    assert state["step"] == 1 and float(adam["0.step"]) == 31.0  # AdamW's own count: 30 base steps + 1


def test_an_interrupted_finetune_resumes_bit_identically(base):
    folder, _, new = base
    finetune(folder / "base", new, folder / "whole", steps=12, seed=3)

    def interrupt_at_6(done, total, message):
        if done == 6:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        finetune(folder / "base", new, folder / "parts", steps=12, seed=3, progress=interrupt_at_6)
    result = resume(folder / "parts")
    assert result.steps == 12
    whole, parts = load_file(folder / "whole" / "model.safetensors"), load_file(folder / "parts" / "model.safetensors")
    assert all(torch.equal(whole[k], parts[k]) for k in whole)
    assert "finetuned_from" in read_config(folder / "parts").records


def test_bad_finetunes_are_clear_errors(base, tmp_path):
    folder, old, _ = base
    with pytest.raises(MatgenError, match="is the base run"):
        finetune(folder / "base", old, folder / "base", steps=5)
    with pytest.raises(MatgenError, match="steps must be a whole number"):
        finetune(folder / "base", old, tmp_path / "x", steps=0)
    big = toy_dataset(size=32)
    with pytest.raises(MatgenError, match="do not fit"):
        finetune(folder / "base", write(tmp_path / "big.h5", big), tmp_path / "x", steps=5)
    lacking = toy_dataset()
    del lacking.conditions["density"]
    with pytest.raises(MatgenError, match="unknown condition 'density'"):
        finetune(folder / "base", write(tmp_path / "lacking.h5", lacking), tmp_path / "x", steps=5)
    with pytest.raises(MatgenError, match="no such run directory"):
        finetune(tmp_path / "nothing", old, tmp_path / "x", steps=5)
    assert finetune_config(TrainConfig(lr=1e-3), 100).warmup_steps == 10
