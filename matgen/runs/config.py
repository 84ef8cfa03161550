"""``RUN/config.json``: what a trained model is (:class:`ModelConfig`), its data, its training options.

The document holds ``format``, ``format_version``, ``matgen_version``, ``model``
(:class:`ModelConfig`), ``data`` (:class:`~matgen.runs.normalisation.DataSpec`), ``train`` (the
options it was trained with, read by :mod:`matgen.train`) and any records beside them (e.g.
``finetuned_from``), which a rewrite (resume) carries over. :func:`read_config` returns it as one
:class:`RunConfig` with named fields.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from matgen.common.files import write_text_atomic
from matgen.common.records import to_record
from matgen.errors import MatgenError
from matgen.nets.embeddings import ConditionSpec
from matgen.runs.files import CONFIG, RunFiles
from matgen.runs.normalisation import DataSpec
from matgen.version import __version__

RUN_FORMAT = "matgen-run"
RUN_FORMAT_VERSION = 1
#: The keys write_config always writes; anything else in a config.json is a record carried over by a rewrite.
CONFIG_KEYS = ("format", "format_version", "matgen_version", "model", "data", "train")


@dataclass
class ModelConfig:
    """What a trained network is, enough to rebuild it without the training code."""

    kind: str  # a model kind of matgen.runs.kinds: diffusion, vae or regressor
    net: dict  # UNetConfig (diffusion), VAEConfig (vae) or RegressorConfig (regressor) as a dict
    conditions: list[ConditionSpec]  # one spec per condition, with unit and training range
    cond_dim: int = 0  # width of the condition embedding (0: unconditional)
    prediction: str = "v"  # diffusion: eps, x0 or v ("" for a regressor)
    schedule: str = "cosine"  # diffusion and regressor: linear or cosine
    timesteps: int = 1000  # diffusion and regressor: training timesteps T
    likelihood: str = ""  # vae: mse (Gaussian) or bce (Bernoulli on (x + 1) / 2); "" for diffusion
    #: what else a kind needs to rebuild itself: flow (reflow pairing), consistency (teacher, sigma range, baked-in
    #: guidance), latent (its autoencoder and latent scale); {} for the others
    options: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {**to_record(self), "conditions": [c.to_dict() for c in self.conditions]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ModelConfig":
        d = dict(d)
        d["conditions"] = [ConditionSpec.from_dict(c) for c in d.get("conditions", [])]
        d["options"] = dict(d.get("options") or {})
        return cls(**d)


@dataclass(frozen=True)
class RunConfig:
    """The whole of ``RUN/config.json``."""

    model: ModelConfig  # the network, its conditions (units, training ranges), schedule
    data: DataSpec  # the training data and its normalisation
    train: dict  # the training options (matgen.train.TrainConfig fields) as saved
    records: dict = field(default_factory=dict)  # other entries, e.g. finetuned_from
    matgen_version: str = ""  # the matgen that wrote it


def write_config(run_dir: str | os.PathLike, model: ModelConfig, data: DataSpec, train: Mapping,
                 records: Mapping | None = None) -> Path:
    """Write ``RUN/config.json`` atomically (``train``: the training options as a dict); returns its path."""
    doc = {"format": RUN_FORMAT, "format_version": RUN_FORMAT_VERSION, "matgen_version": __version__,
           "model": model.to_dict(), "data": data.to_dict(), "train": dict(train), **(records or {})}
    return write_text_atomic(RunFiles(run_dir).config, json.dumps(doc, indent=2) + "\n")


def read_config(run_dir: str | os.PathLike) -> RunConfig:
    """The :class:`RunConfig` of the run in ``run_dir``.

    Raises:
        MatgenError: no such run, or a config that is not JSON, not a matgen run, or damaged.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise MatgenError(f"{run_dir}: no such run directory; train one with `matgen train DATA.h5 -o {run_dir}`")
    path = RunFiles(run_dir).config
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
        train = doc["train"]
        if not isinstance(train, dict):
            raise TypeError(f"train is a {type(train).__name__}, not a table")
    except (KeyError, TypeError, ValueError, MatgenError) as exc:
        raise MatgenError(f"{path}: damaged run config ({exc.__class__.__name__}: {exc})") from None
    records = {k: v for k, v in doc.items() if k not in CONFIG_KEYS}
    return RunConfig(model, data, dict(train), records, str(doc.get("matgen_version", "")))
