"""Validate a dataset file against the format and list every problem found (``matgen data check``)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from matgen.data.dataset import KINDS, SPECTRUM_KINDS, validate
from matgen.data.hdf5 import FORMAT_NAME, FORMAT_VERSION, read
from matgen.errors import MatgenError

_ROW_ARRAYS = ("rows/id", "rows/source", "rows/synthetic")


def check_file(path: str | Path) -> list[str]:
    """Every problem in the dataset file at ``path`` (an empty list when it is valid).

    First the file's structure (HDF5, format name and version, required arrays and their lengths),
    then, when the structure holds, its content (NaN or inf in signals, duplicate ids, axis order
    and unit, category codes, condition roles...).
    """
    path = Path(path)
    if not path.is_file():
        return [f"{path}: no such file"]
    try:
        f = h5py.File(path, "r")
    except OSError:
        return [f"{path}: not an HDF5 file, or damaged (it cannot be opened)"]
    with f:
        problems = _structure_problems(f)
    if problems:
        return problems
    try:
        dataset = read(path)
    except MatgenError as exc:
        return [str(exc)]
    return validate(dataset)


def _structure_problems(f: h5py.File) -> list[str]:
    problems = []
    if f.attrs.get("matgen_format") != FORMAT_NAME:
        problems.append(f"attribute matgen_format is {f.attrs.get('matgen_format')!r}, expected '{FORMAT_NAME}'")
    version = f.attrs.get("format_version")
    if version is None:
        problems.append("attribute format_version is missing")
    elif int(version) > FORMAT_VERSION:
        problems.append(f"format version {int(version)} is newer than this matgen reads ({FORMAT_VERSION}); upgrade matgen")
    kind = f.attrs.get("kind")
    if kind not in KINDS:
        problems.append(f"attribute kind is {kind!r}; expected one of {', '.join(KINDS)}")
    if "signals" not in f:
        problems.append("the signals array (/signals) is missing")
        return problems
    n = f["signals"].shape[0] if f["signals"].shape else 0
    if f["signals"].compression is None:
        problems.append("/signals is stored uncompressed (rewrite it with matgen to chunk and compress it)")
    for name in _ROW_ARRAYS:
        if name not in f:
            problems.append(f"/{name} is missing")
        elif f[name].shape != (n,):
            problems.append(f"/{name} has shape {f[name].shape}, expected ({n},) to match the signals")
    if kind in SPECTRUM_KINDS:
        if "axis" not in f:
            problems.append(f"a {kind} file needs /axis")
        else:
            for attr in ("name", "unit"):
                if attr not in f["axis"].attrs:
                    problems.append(f"/axis has no '{attr}' attribute")
    if "conditions" not in f:
        problems.append("the /conditions group is missing")
    else:
        for name, c in f["conditions"].items():
            if not isinstance(c, h5py.Dataset) or c.shape != (n,):
                problems.append(f"condition '{name}' should be an array of {n} values")
            elif "categories" not in c.attrs and not np.issubdtype(c.dtype, np.floating):
                problems.append(f"condition '{name}' is numeric but stored as {c.dtype}, not float")
    return problems
