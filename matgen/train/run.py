"""The run directory: config JSON, safetensors weights, the resume checkpoint and metrics.csv.

Layout (every file written to a temporary name and renamed, so a crash never leaves half a file)::

    RUN/
      config.json            format, matgen version, model (net config, condition specs with units
                             and training ranges, schedule, prediction), data (path, sha256,
                             normalisation, shape, axis), train (every TrainConfig option)
      model.safetensors      EMA weights: what `matgen sample` loads
      metrics.csv            step, loss, val_loss, lr, samples_per_s
      checkpoint/            what --resume needs to continue exactly
        state.json           step, optimizer hyper-parameters, numpy RNG state, loss accumulator
        model.safetensors    raw (non-EMA) weights
        ema.safetensors      the AveragedModel (EMA weights and n_averaged)
        optimizer.safetensors  AdamW moments and step counts
        rng.safetensors      torch CPU (and CUDA) RNG states

Nothing is pickled: tensors go through safetensors, everything else through JSON, and a file
that is not safetensors is refused rather than unpickled.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from matgen import __version__
from matgen.common.files import atomic_path, write_text_atomic
from matgen.errors import MatgenError
from matgen.nets.embeddings import ConditionSpec
from matgen.train.config import ModelConfig, TrainConfig
from matgen.train.prepare import DataSpec

RUN_FORMAT = "matgen-run"
RUN_FORMAT_VERSION = 1
CONFIG = "config.json"
WEIGHTS = "model.safetensors"
METRICS = "metrics.csv"
CHECKPOINT = "checkpoint"
METRIC_COLUMNS = ("step", "loss", "val_loss", "lr", "samples_per_s")


def file_sha256(path: str | os.PathLike) -> str:
    """Return the hex SHA-256 of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- config.json ---------------------------------------------------------------------------------


#: The keys write_config always writes; anything else in a config.json (e.g. ``finetuned_from``) is a record
#: that a rewrite (resume) carries over through ``extra``.
CONFIG_KEYS = ("format", "format_version", "matgen_version", "model", "data", "train")


def write_config(run_dir: Path, model: ModelConfig, data: DataSpec, train: TrainConfig, extra: dict | None = None) -> Path:
    """Write ``RUN/config.json`` atomically (with the records in ``extra``); returns its path."""
    doc = {"format": RUN_FORMAT, "format_version": RUN_FORMAT_VERSION, "matgen_version": __version__,
           "model": model.to_dict(), "data": data.to_dict(), "train": train.to_dict(), **(extra or {})}
    return write_text_atomic(Path(run_dir) / CONFIG, json.dumps(doc, indent=2) + "\n")


def read_config(run_dir: str | os.PathLike) -> tuple[ModelConfig, DataSpec, TrainConfig, dict]:
    """Return (model, data, train, the raw document) from ``RUN/config.json``.

    Raises:
        MatgenError: no such run, or a config that is not JSON, not a matgen run, or damaged.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise MatgenError(f"{run_dir}: no such run directory; train one with `matgen train DATA.h5 -o {run_dir}`")
    path = run_dir / CONFIG
    if not path.is_file():
        raise MatgenError(f"{run_dir} is not a matgen run (no {CONFIG}); give the folder `matgen train -o` wrote")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MatgenError(f"{path}: damaged run config, not JSON ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != RUN_FORMAT:
        raise MatgenError(f"{path} is not a matgen run config (no \"format\": \"{RUN_FORMAT}\")")
    if int(doc.get("format_version", 0)) > RUN_FORMAT_VERSION:
        raise MatgenError(f"{path} uses run format {doc['format_version']}, newer than this matgen reads "
                          f"({RUN_FORMAT_VERSION}); upgrade matgen")
    try:
        model = ModelConfig.from_dict(doc["model"])
        data = DataSpec.from_dict(doc["data"])
        train = TrainConfig.from_dict(doc["train"], where=str(path))
    except (KeyError, TypeError, ValueError, MatgenError) as exc:
        raise MatgenError(f"{path}: damaged run config ({exc.__class__.__name__}: {exc})") from None
    return model, data, train, doc


# --- safetensors -----------------------------------------------------------------------------------


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> Path:
    """Write ``tensors`` (moved to CPU, made contiguous) to a safetensors file atomically."""
    from safetensors.torch import save_file

    plain = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(plain, str(tmp), metadata=metadata)
        os.chmod(tmp, 0o644)  # safetensors creates 0600; a run is meant to be shared like the dataset files
    return Path(path)


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    """Read a safetensors file onto the CPU; anything else (a pickle, a damaged file) is refused.

    Raises:
        MatgenError: the file is missing or not a safetensors file.
    """
    from safetensors.torch import load_file

    if not Path(path).is_file():
        raise MatgenError(f"{path}: missing; the run is incomplete (was training interrupted before the first save?)")
    try:
        return load_file(str(path), device="cpu")
    except Exception as exc:  # safetensors raises its own error types for a bad header
        raise MatgenError(f"{path}: not a safetensors file ({exc}); matgen loads weights only from safetensors "
                          "and never unpickles a checkpoint") from None


def load_weights(model: nn.Module, path: Path) -> None:
    """Load safetensors weights into ``model`` (all keys must match)."""
    state = load_tensors(path)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise MatgenError(f"{path}: weights do not fit the network in config.json ({first})") from None


# --- the resume checkpoint ---------------------------------------------------------------------


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
    run_dir = Path(run_dir)
    final, old = run_dir / CHECKPOINT, run_dir / ".checkpoint.old"
    tmp = run_dir / f".checkpoint.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        tmp.mkdir(parents=True)
        opt_tensors, opt_meta = _optimizer_parts(optimizer)
        save_tensors(tmp / "model.safetensors", model.state_dict())
        save_tensors(tmp / "ema.safetensors", ema.state_dict())
        save_tensors(tmp / "optimizer.safetensors", opt_tensors)
        save_tensors(tmp / "rng.safetensors", _rng_tensors())
        doc = {**state, "optimizer": opt_meta, "numpy_rng": _numpy_rng_state()}
        write_text_atomic(tmp / "state.json", json.dumps(doc, indent=1) + "\n")
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
    run_dir = Path(run_dir)
    folder = run_dir / CHECKPOINT
    if not folder.is_dir() and (run_dir / ".checkpoint.old").is_dir():
        folder = run_dir / ".checkpoint.old"
    if not (folder / "state.json").is_file():
        raise MatgenError(f"{run_dir}: no checkpoint to resume from; train without --resume to start afresh")
    try:
        state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MatgenError(f"{folder / 'state.json'}: damaged checkpoint state ({exc})") from None
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


# --- metrics.csv -----------------------------------------------------------------------------------


def write_metrics(run_dir: Path, rows: list[dict]) -> Path:
    """Write every metrics row to ``RUN/metrics.csv`` atomically (blank where a value is absent)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=METRIC_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row[k] for k in METRIC_COLUMNS})
    return write_text_atomic(Path(run_dir) / METRICS, out.getvalue())


def read_metrics(run_dir: Path) -> list[dict]:
    """The rows of ``RUN/metrics.csv`` as dicts of floats (None where blank); [] when absent."""
    path = Path(run_dir) / METRICS
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [{k: (None if v in ("", None) else (int(v) if k == "step" else float(v))) for k, v in row.items()}
            for row in rows]


# --- a trained run, for sampling ---------------------------------------------------------------


@dataclass
class Run:
    """A trained run loaded for sampling: the EMA model (eval mode) and the configs it was made with."""

    path: Path  # the run directory
    model: nn.Module  # DiffusionModel, VAEModel or RegressorModel with the EMA weights, in eval mode
    model_config: ModelConfig  # network, conditions (with units and ranges), schedule
    data: DataSpec  # the training data and its normalisation
    train: TrainConfig  # the training options
    weights_sha256: str  # SHA-256 of model.safetensors, recorded with every sample
    matgen_version: str  # the matgen that trained it

    @property
    def kind(self) -> str:
        return self.model_config.kind

    @property
    def conditions(self) -> list[ConditionSpec]:
        return self.model_config.conditions


def load_run(run_dir: str | os.PathLike, device: str | torch.device = "cpu") -> Run:
    """Return the :class:`Run` in ``run_dir``: configs from config.json, EMA weights from model.safetensors.

    Raises:
        MatgenError: a missing or damaged run directory, config or weights file.
    """
    from matgen.train.models import build_model

    run_dir = Path(run_dir)
    model_config, data, train, doc = read_config(run_dir)
    try:
        model = build_model(model_config)
    except (TypeError, ValueError, KeyError) as exc:
        raise MatgenError(f"{run_dir / CONFIG}: damaged model config ({exc})") from None
    load_weights(model, run_dir / WEIGHTS)
    model.to(device).eval()
    return Run(run_dir, model, model_config, data, train, file_sha256(run_dir / WEIGHTS),
               str(doc.get("matgen_version", "")))
