"""Where torch work runs: ``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``."""

from __future__ import annotations

from matgen.errors import MatgenError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device=None):
    """The ``torch.device`` for ``device``: None or ``auto`` -> CUDA when available else CPU.

    Raises:
        MatgenError: an unknown device name, or CUDA asked for where no GPU is visible.
    """
    import torch

    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise MatgenError(f"unknown device '{device}'; choose from auto, cpu, cuda (or cuda:N)") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise MatgenError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu or auto")
    return resolved
