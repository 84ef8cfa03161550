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

Files are written in the HDF5 1.10 format, whose headers and chunk indexes carry checksums; every
numeric array carries a Fletcher-32 checksum per chunk, and texts are fixed-length UTF-8 inside
those checksums, so damaged bytes are reported rather than read as data. Every write goes to a
temporary file that is renamed onto the final name only when complete. Reading checks what the
file says against the format (:func:`read`); a damaged file gives one
:class:`~matgen.errors.MatgenError` line (:mod:`matgen.data.damage`).
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from matgen.common.files import atomic_path
from matgen.data.damage import damaged, guard, open_h5
from matgen.data.dataset import SPECTRUM_KINDS, Axis, Condition, Dataset, concat, validate
from matgen.errors import MatgenError
from matgen.version import __version__

FORMAT_NAME = "matgen-dataset"
FORMAT_VERSION = 1
_CHUNK_BYTES = 256 * 1024
#: HDF5 1.10 structures (read by HDF5 1.10, 2016, and later): headers and chunk indexes carry checksums.
LIBVER = ("v110", "v110")


def write(path: str | os.PathLike, dataset: Dataset, compression_level: int = 4) -> Path:
    """Write ``dataset`` to ``path`` atomically (replacing any file there); returns the path.

    Raises:
        MatgenError: the dataset breaks the format (the message names the problem).
    """
    dataset.check()
    path = Path(path)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w", track_order=True, libver=LIBVER) as f:
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
    """Read the dataset stored at ``path``; what it says about itself is checked against the format.

    Raises:
        MatgenError: the file is missing, not a matgen dataset, damaged, of a newer format, or
            holds what the format forbids (``matgen data check`` lists every problem).
    """
    path = Path(path)
    dataset = read_unchecked(path)
    problems = validate(dataset)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise MatgenError(f"{path}: {problems[0]}{more}; `matgen data check {path}` lists every problem")
    return dataset


def read_unchecked(path: str | os.PathLike) -> Dataset:
    """The dataset stored at ``path`` as it is, without :func:`~matgen.data.dataset.validate` (for ``data check``).

    Raises:
        MatgenError: the file is missing, not a matgen dataset, damaged or of a newer format.
    """
    path = Path(path)
    with guard(path), open_dataset_file(path) as f:
        return _read_file(f, path)


def open_dataset_file(path: Path) -> h5py.File:
    """Open ``path`` read-only after checking it is a matgen dataset this version can read.

    Raises:
        MatgenError: the file is missing, not HDF5, damaged, not a matgen dataset or of a newer format.
    """
    if not path.exists():
        raise MatgenError(f"{path}: no such file; check the path (matgen data import makes one)")
    f = open_h5(path)
    try:
        with guard(path):
            name, version = text(f.attrs.get("matgen_format", "")), int(f.attrs.get("format_version", 0))
        if name != FORMAT_NAME:
            raise MatgenError(f"{path} is an HDF5 file but not a matgen dataset; create one with `matgen data import`")
        if version > FORMAT_VERSION:
            raise MatgenError(
                f"{path} uses dataset format version {version}, newer than this matgen reads ({FORMAT_VERSION}); "
                "upgrade matgen (pip install -U matgen)"
            )
    except BaseException:
        f.close()
        raise
    return f


def _chunks(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    row_bytes = max(1, int(np.prod(shape[1:], dtype=np.int64)) * itemsize)
    rows = int(max(1, min(max(shape[0], 1), _CHUNK_BYTES // row_bytes)))
    return (rows,) + tuple(shape[1:])


def _write_file(f: h5py.File, ds: Dataset, level: int) -> None:
    _set_text(f.attrs, "matgen_format", FORMAT_NAME)
    f.attrs["format_version"] = FORMAT_VERSION
    for key, value in (("kind", ds.kind), ("signal_type", ds.signal_type), ("signal_unit", ds.signal_unit),
                       ("matgen_version", __version__)):
        _set_text(f.attrs, key, value)
    for key, value in ds.attrs.items():
        if isinstance(value, str):
            _set_text(f.attrs, f"attr_{key}", value)
        else:
            f.attrs[f"attr_{key}"] = value
    signals = np.ascontiguousarray(ds.signals)
    if np.issubdtype(signals.dtype, np.floating):
        signals = signals.astype(np.float32)
    checked = dict(compression="gzip", compression_opts=level, fletcher32=True)
    s = f.create_dataset("signals", data=signals, chunks=_chunks(signals.shape, signals.dtype.itemsize),
                         maxshape=(None,) + signals.shape[1:], shuffle=True, **checked)
    if ds.is_spectrum:
        a = f.create_dataset("axis", data=ds.axis.values, chunks=True, fletcher32=True)
        _set_text(a.attrs, "name", ds.axis.name)
        _set_text(a.attrs, "unit", ds.axis.unit)
        if ds.axis.wavelength_angstrom is not None:
            a.attrs["wavelength_angstrom"] = float(ds.axis.wavelength_angstrom)
    else:
        _set_text(s.attrs, "pixel_unit", ds.pixel_unit)
        if ds.pixel_size is not None:
            s.attrs["pixel_size"] = float(ds.pixel_size)
    rows = f.create_group("rows")
    for name, values in (("id", ds.ids), ("source", ds.sources)):
        data, dtype = _text_array(values)
        rows.create_dataset(name, data=data, dtype=dtype, maxshape=(None,), chunks=True, **checked)
    rows.create_dataset("synthetic", data=ds.synthetic, maxshape=(None,), chunks=True, **checked)
    group = f.create_group("conditions", track_order=True)
    for name, cond in ds.conditions.items():
        c = group.create_dataset(name, data=cond.values, maxshape=(None,), chunks=True, **checked)
        for key in ("unit", "role", "description"):
            _set_text(c.attrs, key, getattr(cond, key))
        if cond.is_categorical:
            data, dtype = _text_array(cond.categories)
            c.attrs.create("categories", data=data, dtype=dtype)


def _set_text(attrs, name: str, text: str) -> None:
    """A text attribute stored in its object header (fixed-length UTF-8), where a checksum covers it."""
    data = str(text).encode("utf-8")
    attrs.create(name, np.bytes_(data), dtype=h5py.string_dtype("utf-8", max(1, len(data))))


def _text_array(values) -> tuple[np.ndarray, np.dtype]:
    """(N,) fixed-length UTF-8 strings and their HDF5 type: stored in chunks, so gzip and Fletcher-32 cover them."""
    data = [str(v).encode("utf-8") for v in values]
    dtype = h5py.string_dtype("utf-8", max([1, *map(len, data)]))
    return np.asarray(data, dtype=dtype), dtype


def text(value) -> str:
    """An HDF5 text value as str: fixed-length strings come back as bytes, variable-length ones as str."""
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


#: The arrays every dataset file holds (spectra also /axis).
REQUIRED = ("signals", "rows/id", "rows/source", "rows/synthetic", "conditions")


def _read_file(f: h5py.File, path: Path) -> Dataset:
    """The dataset in the open file ``f`` (h5py errors are left to the caller's :func:`guard`)."""
    kind = text(f.attrs.get("kind", ""))
    required = REQUIRED + (("axis",) if kind in SPECTRUM_KINDS else ())
    missing = [name for name in required if name not in f]
    if missing:
        raise MatgenError(f"{path}: /{missing[0]} is missing, so this is not a complete matgen dataset; "
                          f"`matgen data check {path}` lists every problem")
    axis = None
    if "axis" in f:
        a = f["axis"]
        wl = a.attrs.get("wavelength_angstrom")
        axis = Axis(text(a.attrs.get("name", "")), text(a.attrs.get("unit", "")), a[()], None if wl is None else float(wl))
    s = f["signals"]
    pixel_size = s.attrs.get("pixel_size")
    conditions = {}
    for name in f["conditions"]:
        c = f["conditions"].get(name)
        if not isinstance(c, h5py.Dataset):
            raise damaged(path, f"condition '{name}' cannot be read")
        categories = c.attrs.get("categories")
        conditions[name] = Condition(
            c[()], unit=text(c.attrs.get("unit", "")), role=text(c.attrs.get("role", "processing")),
            categories=None if categories is None else tuple(text(x) for x in categories),
            description=text(c.attrs.get("description", "")),
        )
    return Dataset(
        kind=kind, signals=s[()], conditions=conditions,
        ids=f["rows/id"].asstr()[()], sources=f["rows/source"].asstr()[()],
        synthetic=f["rows/synthetic"][()].astype(bool), axis=axis,
        pixel_size=None if pixel_size is None else float(pixel_size),
        pixel_unit=text(s.attrs.get("pixel_unit", "um")),
        signal_type=text(f.attrs.get("signal_type", "intensity")),
        signal_unit=text(f.attrs.get("signal_unit", "")),
        attrs={k[5:]: _plain(v) for k, v in f.attrs.items() if k.startswith("attr_")},
    )


def _plain(value):
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value
