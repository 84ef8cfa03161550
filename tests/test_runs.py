"""matgen.runs on its own: the run files and their completeness, the model-kind registry, config.json as named fields."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest

from matgen.errors import MatgenError
from matgen.runs import MODEL_KINDS, RunFiles, is_complete, model_class
from matgen.runs.kinds import discover


def test_the_built_in_kinds_are_found_in_their_modules_and_listed_in_order():
    assert list(MODEL_KINDS) == ["diffusion", "flow", "consistency", "vae", "autoencoder", "latent", "regressor"]
    assert model_class("vae").__module__ == "matgen.runs.kinds.vae"
    assert not model_class("regressor").conditions_are_inputs and model_class("diffusion").conditions_are_inputs
    with pytest.raises(MatgenError, match="unknown model 'gan'; choose from diffusion, flow, consistency, vae, autoencoder, latent, regressor"):
        model_class("gan")


def test_a_new_kind_joins_the_registry_by_adding_one_module(tmp_path, monkeypatch):
    package = tmp_path / "morekinds"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "flow.py").write_text(textwrap.dedent('''
        from matgen.runs.kinds.base import ModelKind

        class FlowModel(ModelKind):
            kind = "flow"
            listing_order = 3

        MODEL = FlowModel
    '''))
    (package / "helpers.py").write_text("X = 1\n")  # a module without MODEL is not a kind
    monkeypatch.syspath_prepend(str(tmp_path))
    kinds = discover([str(package)], "morekinds")
    assert list(kinds) == ["flow"] and kinds["flow"].__name__ == "FlowModel"
    monkeypatch.delitem(sys.modules, "morekinds", raising=False)


def _state(folder, step, total):
    folder.mkdir(parents=True)
    (folder / "state.json").write_text(json.dumps({"step": step, "total_steps": total}))


def test_run_files_know_every_name_and_when_a_run_is_complete(tmp_path):
    files = RunFiles(tmp_path / "run")
    assert [p.name for p in (files.config, files.weights, files.metrics, files.checkpoint)] == [
        "config.json", "model.safetensors", "metrics.csv", "checkpoint"]
    assert not files.holds_run() and files.checkpoint_state() is None and not is_complete(files.root)
    files.root.mkdir()
    files.config.write_text("{}")
    assert not files.holds_run()  # only config.json: stopped before its first save, nothing to lose
    _state(files.checkpoint, 5, 10)
    assert files.holds_run()
    files.weights.write_bytes(b"")
    assert files.checkpoint_state()["step"] == 5 and not is_complete(files.root)  # stopped half-way
    (files.checkpoint / "state.json").write_text(json.dumps({"step": 10, "total_steps": 10}))
    assert is_complete(files.root)
    files.weights.unlink()
    assert not is_complete(files.root)  # no weights to sample from


def test_a_crash_while_replacing_the_checkpoint_falls_back_to_the_old_one(tmp_path):
    files = RunFiles(tmp_path / "run")
    _state(files.old_checkpoint, 7, 10)
    assert files.checkpoint_folder() == files.old_checkpoint and files.checkpoint_state()["step"] == 7
    files.weights.parent.mkdir(exist_ok=True)
    files.clear_outputs()  # a fresh run here removes weights, metrics and both checkpoints
    assert not files.weights.exists() and files.checkpoint_folder() is None
