"""Validate a dataset file against the format and list every problem found (``matgen data check``)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from matgen.data.dataset import KINDS, SPECTRUM_KINDS, validate
from matgen.data.damage import guard, open_h5, superblock_offset
from matgen.data.hdf5 import FORMAT_NAME, FORMAT_VERSION, read_unchecked, text
from matgen.errors import MatgenError

_ROW_ARRAYS = ("rows/id", "rows/source", "rows/synthetic")


def check_file(path: str | Path) -> list[str]:
    """Every problem in the dataset file at ``path`` (an empty list when it is valid).

    First the file's structure (HDF5, format name and version, required arrays and their lengths),
    then, when the structure holds, its content (NaN or inf in signals, duplicate ids, axis order
    and unit, category codes, condition roles...).

    A damaged file is one problem (what :func:`~matgen.data.damage.open_h5` and
    :func:`~matgen.data.damage.guard` say), never an h5py traceback.
    """
    path = Path(path)
    if not path.is_file():
        return [f"{path}: no such file"]
    if superblock_offset(path) is None:
        return [f"{path}: not an HDF5 file, or damaged (it cannot be opened)"]
    try:
        with guard(path), open_h5(path) as f:
            problems = _structure_problems(f)
        if problems:
            return problems
        dataset = read_unchecked(path)
    except MatgenError as exc:
        return [str(exc)]
    return validate(dataset)


def _structure_problems(f: h5py.File) -> list[str]:
    problems = []
    name = f.attrs.get("matgen_format")
    if name is None or text(name) != FORMAT_NAME:
        problems.append(f"attribute matgen_format is {None if name is None else text(name)!r}, expected '{FORMAT_NAME}'")
    version = f.attrs.get("format_version")
    if version is None:
        problems.append("attribute format_version is missing")
    elif int(version) > FORMAT_VERSION:
        problems.append(f"format version {int(version)} is newer than this matgen reads ({FORMAT_VERSION}); upgrade matgen")
    kind = f.attrs.get("kind")
    kind = None if kind is None else text(kind)
    if kind not in KINDS:
        problems.append(f"attribute kind is {kind!r}; expected one of {', '.join(KINDS)}")
    if "signals" not in f:
        problems.append("the signals array (/signals) is missing")
        return problems
    n = f["signals"].shape[0] if f["signals"].shape else 0
    if f["signals"].compression is None:
        problems.append("/signals is stored uncompressed; rewrite it with matgen to chunk and compress it: "
                        "python -c \"from matgen import data; data.write('NEW.h5', data.read('FILE.h5'))\"")
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
        for name in f["conditions"]:
            c = f["conditions"].get(name)
            if not isinstance(c, h5py.Dataset) or c.shape != (n,):
                problems.append(f"condition '{name}' should be an array of {n} values")
            elif "categories" not in c.attrs and not np.issubdtype(c.dtype, np.floating):
                problems.append(f"condition '{name}' is numeric but stored as {c.dtype}, not float")
    return problems
