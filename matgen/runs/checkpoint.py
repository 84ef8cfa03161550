"""``RUN/checkpoint/``: everything a resumed run needs to continue exactly (weights, EMA, AdamW, RNG states).

The optimizer state is split into tensors (safetensors) and JSON (hyper-parameters, scalars);
the numpy RNG state goes to JSON, the torch ones to safetensors. Nothing is pickled.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from matgen.common.files import remove_stale_temporaries, write_text_atomic
from matgen.errors import MatgenError
from matgen.runs.files import CHECKPOINT_STATE, RunFiles
from matgen.runs.tensors import load_tensors, load_weights, save_tensors


def _optimizer_parts(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Split the optimizer state into tensors ('<param index>.<name>') and JSON (hyper-parameters, scalars)."""
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, values in state["state"].items():
        for name, value in values.items():
            if torch.is_tensor(value):
                tensors[f"{index}.{name}"] = value
            else:
                scalars[f"{index}.{name}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _optimizer_state(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict[str, Any]] = {}
    for key, value in list(tensors.items()) + list(meta["scalars"].items()):
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def _rng_tensors() -> dict[str, torch.Tensor]:
    tensors = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"cuda.{i}"] = s
    return tensors


def _numpy_rng_state() -> dict:
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {"name": name, "keys": keys.tolist(), "pos": int(pos), "has_gauss": int(has_gauss), "cached": float(cached)}


def save_checkpoint(run_dir: Path, model: nn.Module, ema: nn.Module, optimizer: torch.optim.Optimizer,
                    state: dict) -> Path:
    """Write ``RUN/checkpoint/`` (weights, EMA, optimizer, RNG states, ``state`` as JSON); returns it.

    The files go to a temporary folder that replaces the old checkpoint only when complete; a
    crash in between leaves ``.checkpoint.old``, which :func:`load_checkpoint` falls back to.
    """
    files = RunFiles(run_dir)
    final, old = files.checkpoint, files.old_checkpoint
    remove_stale_temporaries(final)  # a checkpoint half-written by a killed process
    tmp = files.root / f".checkpoint.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        tmp.mkdir(parents=True)
        opt_tensors, opt_meta = _optimizer_parts(optimizer)
        save_tensors(tmp / "model.safetensors", model.state_dict())
        save_tensors(tmp / "ema.safetensors", ema.state_dict())
        save_tensors(tmp / "optimizer.safetensors", opt_tensors)
        save_tensors(tmp / "rng.safetensors", _rng_tensors())
        doc = {**state, "optimizer": opt_meta, "numpy_rng": _numpy_rng_state()}
        write_text_atomic(tmp / CHECKPOINT_STATE, json.dumps(doc, indent=1) + "\n")
        if final.exists():
            shutil.rmtree(old, ignore_errors=True)
            final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def load_checkpoint(run_dir: Path, model: nn.Module, ema: nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    """Restore weights, EMA, optimizer and RNG states from ``RUN/checkpoint/``; return its state.json.

    Raises:
        MatgenError: no checkpoint, or one that is damaged or not safetensors.
    """
    folder = RunFiles(run_dir).checkpoint_folder()
    if folder is None:
        raise MatgenError(f"{run_dir}: no checkpoint to resume from (training stopped before its first save); "
                          f"train without --resume to start afresh: matgen train DATA.h5 -o {run_dir}")
    try:
        state = json.loads((folder / CHECKPOINT_STATE).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MatgenError(f"{folder / CHECKPOINT_STATE}: damaged checkpoint state ({exc})") from None
    load_weights(model, folder / "model.safetensors")
    load_weights(ema, folder / "ema.safetensors")
    try:
        optimizer.load_state_dict(_optimizer_state(load_tensors(folder / "optimizer.safetensors"), state["optimizer"]))
    except (KeyError, ValueError) as exc:
        raise MatgenError(f"{folder}: the optimizer state does not fit this model ({exc})") from None
    rng = load_tensors(folder / "rng.safetensors")
    torch.set_rng_state(rng["torch"])
    cuda = [rng[k] for k in sorted(k for k in rng if k.startswith("cuda."))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    n = state["numpy_rng"]
    np.random.set_state((n["name"], np.asarray(n["keys"], dtype=np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    return state
