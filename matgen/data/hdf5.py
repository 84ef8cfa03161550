"""Read, write and append matgen datasets as HDF5 files (layout in docs/format.md).

Layout, format version 1::

    /                     attrs: matgen_format="matgen-dataset", format_version, kind,
                                 signal_type, signal_unit, matgen_version, attr_<key> (user attrs)
    /signals              (N, L) | (N, H, W) | (N, C, H, W), chunked, gzip; attrs pixel_size, pixel_unit
    /axis                 (L,) float64; attrs name, unit, wavelength_angstrom   (spectra only)
    /rows/id              (N,) utf-8 str, stable row ids
    /rows/source          (N,) utf-8 str, file a row came from or how it was generated
    /rows/synthetic       (N,) bool
    /conditions/<name>    (N,) float64 (NaN = unknown) or int32 codes (-1 = unknown);
                          attrs unit, role, description, categories (categorical only)

Every write goes to a temporary file that is renamed onto the final name only when complete.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from matgen.common.files import atomic_path
from matgen.data.dataset import Axis, Condition, Dataset, concat
from matgen.errors import MatgenError
from matgen.version import __version__

FORMAT_NAME = "matgen-dataset"
FORMAT_VERSION = 1
_CHUNK_BYTES = 256 * 1024
_STR = h5py.string_dtype("utf-8")


def write(path: str | os.PathLike, dataset: Dataset, compression_level: int = 4) -> Path:
    """Write ``dataset`` to ``path`` atomically (replacing any file there); returns the path.

    Raises:
        MatgenError: the dataset breaks the format (the message names the problem).
    """
    dataset.check()
    path = Path(path)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w", track_order=True) as f:
            _write_file(f, dataset, compression_level)
    return path


def append(path: str | os.PathLike, rows: Dataset) -> Path:
    """Add ``rows`` to the dataset at ``path`` (created if absent), atomically; returns the path.

    Conditions are united and categories merged (see :func:`matgen.data.dataset.concat`); row ids
    must not already be in the file. The file is rewritten to a temporary name and renamed, so a
    crash leaves either the old or the new file, never a mixture.
    """
    path = Path(path)
    if not path.exists():
        return write(path, rows)
    return write(path, concat([read(path), rows]))


def read(path: str | os.PathLike) -> Dataset:
    """Read the dataset stored at ``path``.

    Raises:
        MatgenError: the file is missing, not a matgen dataset, damaged, or of a newer format.
    """
    path = Path(path)
    with open_dataset_file(path) as f:
        return _read_file(f, path)


def open_dataset_file(path: Path) -> h5py.File:
    """Open ``path`` read-only after checking it is a matgen dataset this version can read."""
    if not path.exists():
        raise MatgenError(f"{path}: no such file; check the path (matgen data import makes one)")
    if path.is_dir():
        raise MatgenError(f"{path} is a folder, not a dataset file; give the .h5 file inside it")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise MatgenError(f"{path}: not a readable HDF5 file ({_short(exc)}); is it damaged or of another format?") from None
    if f.attrs.get("matgen_format") != FORMAT_NAME:
        f.close()
        raise MatgenError(f"{path} is an HDF5 file but not a matgen dataset; create one with `matgen data import`")
    version = int(f.attrs.get("format_version", 0))
    if version > FORMAT_VERSION:
        f.close()
        raise MatgenError(
            f"{path} uses dataset format version {version}, newer than this matgen reads ({FORMAT_VERSION}); "
            "upgrade matgen (pip install -U matgen)"
        )
    return f


def _short(exc: Exception) -> str:
    return str(exc).split("(")[0].strip().rstrip(".,;:") or type(exc).__name__


def _chunks(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    row_bytes = max(1, int(np.prod(shape[1:], dtype=np.int64)) * itemsize)
    rows = int(max(1, min(max(shape[0], 1), _CHUNK_BYTES // row_bytes)))
    return (rows,) + tuple(shape[1:])


def _write_file(f: h5py.File, ds: Dataset, level: int) -> None:
    f.attrs.update(
        matgen_format=FORMAT_NAME, format_version=FORMAT_VERSION, kind=ds.kind,
        signal_type=ds.signal_type, signal_unit=ds.signal_unit, matgen_version=__version__,
    )
    for key, value in ds.attrs.items():
        f.attrs[f"attr_{key}"] = value
    signals = np.ascontiguousarray(ds.signals)
    if np.issubdtype(signals.dtype, np.floating):
        signals = signals.astype(np.float32)
    s = f.create_dataset(
        "signals", data=signals, chunks=_chunks(signals.shape, signals.dtype.itemsize),
        maxshape=(None,) + signals.shape[1:], compression="gzip", compression_opts=level, shuffle=True,
    )
    if ds.is_spectrum:
        a = f.create_dataset("axis", data=ds.axis.values)
        a.attrs.update(name=ds.axis.name, unit=ds.axis.unit)
        if ds.axis.wavelength_angstrom is not None:
            a.attrs["wavelength_angstrom"] = float(ds.axis.wavelength_angstrom)
    else:
        s.attrs["pixel_unit"] = ds.pixel_unit
        if ds.pixel_size is not None:
            s.attrs["pixel_size"] = float(ds.pixel_size)
    rows = f.create_group("rows")
    for name, values in (("id", ds.ids.astype(_STR)), ("source", ds.sources.astype(_STR)), ("synthetic", ds.synthetic)):
        rows.create_dataset(name, data=values, maxshape=(None,), chunks=True, compression="gzip", compression_opts=level)
    group = f.create_group("conditions", track_order=True)
    for name, cond in ds.conditions.items():
        c = group.create_dataset(name, data=cond.values, maxshape=(None,), chunks=True,
                                 compression="gzip", compression_opts=level)
        c.attrs.update(unit=cond.unit, role=cond.role, description=cond.description)
        if cond.is_categorical:
            c.attrs.create("categories", data=np.asarray(cond.categories, dtype=object), dtype=_STR)


def _read_file(f: h5py.File, path: Path) -> Dataset:
    try:
        axis = None
        if "axis" in f:
            a = f["axis"]
            wl = a.attrs.get("wavelength_angstrom")
            axis = Axis(str(a.attrs["name"]), str(a.attrs["unit"]), a[()], None if wl is None else float(wl))
        s = f["signals"]
        pixel_size = s.attrs.get("pixel_size")
        conditions = {}
        for name, c in f["conditions"].items():
            categories = c.attrs.get("categories")
            conditions[name] = Condition(
                c[()], unit=str(c.attrs.get("unit", "")), role=str(c.attrs.get("role", "processing")),
                categories=None if categories is None else tuple(str(x) for x in categories),
                description=str(c.attrs.get("description", "")),
            )
        return Dataset(
            kind=str(f.attrs["kind"]), signals=s[()], conditions=conditions,
            ids=f["rows/id"].asstr()[()], sources=f["rows/source"].asstr()[()],
            synthetic=f["rows/synthetic"][()].astype(bool), axis=axis,
            pixel_size=None if pixel_size is None else float(pixel_size),
            pixel_unit=str(s.attrs.get("pixel_unit", "um")),
            signal_type=str(f.attrs.get("signal_type", "intensity")),
            signal_unit=str(f.attrs.get("signal_unit", "")),
            attrs={k[5:]: _plain(v) for k, v in f.attrs.items() if k.startswith("attr_")},
        )
    except (KeyError, OSError, ValueError) as exc:
        raise MatgenError(f"{path}: damaged matgen dataset ({_short(exc)}); run `matgen data check {path}`") from None


def _plain(value):
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value
