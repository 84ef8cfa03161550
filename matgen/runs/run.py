"""A trained run loaded for sampling: the EMA model in eval mode and the configs it was made with.

    >>> from matgen.runs import load_run
    >>> run = load_run("runs/density")            # the EMA model, its conditions with units and ranges
    >>> run.kind, [c.name for c in run.conditions], run.data.shape
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from matgen.common.files import file_sha256
from matgen.errors import MatgenError
from matgen.nets.embeddings import ConditionSpec
from matgen.runs.config import ModelConfig, RunConfig, read_config
from matgen.runs.files import RunFiles
from matgen.runs.kinds import build_model
from matgen.runs.normalisation import DataSpec
from matgen.runs.tensors import load_weights


@dataclass
class Run:
    """A trained run: its directory, the model with the EMA weights (eval mode) and its config.json."""

    path: Path  # the run directory
    model: nn.Module  # a model of matgen.runs.kinds with the EMA weights, in eval mode
    config: RunConfig  # config.json: model, data, training options, records
    weights_sha256: str  # SHA-256 of model.safetensors, recorded with every sample

    @property
    def kind(self) -> str:
        return self.config.model.kind

    @property
    def model_config(self) -> ModelConfig:
        """The network, its conditions (with units and ranges) and schedule."""
        return self.config.model

    @property
    def data(self) -> DataSpec:
        """The training data and its normalisation."""
        return self.config.data

    @property
    def conditions(self) -> list[ConditionSpec]:
        return self.config.model.conditions

    @property
    def matgen_version(self) -> str:
        """The matgen that trained it."""
        return self.config.matgen_version


def load_run(run_dir: str | os.PathLike, device: str | torch.device = "cpu") -> Run:
    """Return the :class:`Run` in ``run_dir``: config.json, and the EMA weights of model.safetensors on ``device``.

    Raises:
        MatgenError: a missing or damaged run directory, config or weights file.
    """
    files = RunFiles(run_dir)
    config = read_config(files.root)
    try:
        model = build_model(config.model)
    except (TypeError, ValueError, KeyError) as exc:
        raise MatgenError(f"{files.config}: damaged model config ({exc})") from None
    load_weights(model, files.weights)
    model.to(device).eval()
    return Run(files.root, model, config, file_sha256(files.weights))
