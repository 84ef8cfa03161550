"""Per-sample parameters of the batched physics models: a number or one value per sample, checked once.

Every batched model (spinodal, composite, Raman, EELS) takes a parameter as a number (the same for
every sample) or as n values, one per sample. :func:`per_sample` turns either into an (n,) tensor
and :func:`require` checks a condition on it, naming the first value that fails it.
"""

from __future__ import annotations

from typing import Sequence, Union

import torch

from matgen.errors import MatgenError

#: A per-sample parameter: a number, n numbers or an (n,) tensor.
Tensorish = Union[float, Sequence[float], torch.Tensor]


def per_sample(value: Tensorish, n: int, name: str, device: torch.device | str | None,
               dtype: torch.dtype) -> torch.Tensor:
    """(n,) tensor of ``value`` on ``device`` in ``dtype``: a number repeated n times, or the n given values.

    A number gives a new tensor (safe to write into); n values already on the device and in the
    dtype come back as the same tensor. Add ``[:, None]`` for an (n, 1) column.

    Raises:
        MatgenError: any other shape, or a NaN or inf.
    """
    t = torch.as_tensor(value, dtype=dtype).to(device)
    if t.ndim == 0:
        t = t.expand(n).clone()
    if t.shape != (n,):
        raise MatgenError(f"{name} must be a number or one value per sample (n={n}), got shape {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise MatgenError(f"{name} must be finite (got {t.tolist()})")
    return t


def require(ok: torch.Tensor, values: torch.Tensor, name: str, valid: str) -> None:
    """Nothing when ``ok`` holds everywhere; else MatgenError "{name} must be {valid} (got x)", x the first failing value.

    ``ok`` is a bool tensor of the shape of ``values``, e.g. ``require(t > 0, t, "temperature_k", "positive")``.
    """
    if not bool(ok.all()):
        raise MatgenError(f"{name} must be {valid} (got {values[~ok][0].item():g})")


def check_grid(n: int, size: int) -> None:
    """Nothing for a positive integer n of samples on a size × size grid of at least 8 px; MatgenError otherwise."""
    if int(n) != n or n < 1:
        raise MatgenError(f"n must be a positive integer number of samples (got {n})")
    if int(size) != size or size < 8:
        raise MatgenError(f"size must be an integer of at least 8 px (got {size})")
