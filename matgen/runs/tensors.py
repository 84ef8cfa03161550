"""Weights as safetensors: written atomically, read without unpickling (anything else is refused)."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from matgen.common.files import atomic_path
from matgen.errors import MatgenError


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
