"""Spectrum files -> one spectrum dataset: the reader registry and the import pipeline.

Pipeline of :func:`import_spectra`:
    find files -> pair them with conditions (table / name pattern) -> read each with the reader
    registered for its extension -> check every spectrum (finite, >= 5 points, an axis strictly
    increasing or decreasing: repeated x values are refused, never averaged) -> decide the kind
    and the axis unit -> check the X-ray wavelength (XRD) -> choose a common axis and resample ->
    :class:`~matgen.data.dataset.Dataset` with one row per spectrum (a spectrum image gives one row
    per pixel, its position kept as ``meta`` conditions).
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from matgen.common.progress import Progress, no_progress
from matgen.data.conditions import ColumnTyping, build_conditions, split_name_unit
from matgen.data.dataset import KIND_AXES, SPECTRUM_KINDS, Axis, Dataset
from matgen.data.importers.common import (
    BadFiles, ConditionSource, ImportResult, conditions_for_files, find_files, row_id,
    spec_with_pattern,
)
from matgen.data.importers.gatan import read_dm, read_hspy
from matgen.data.importers.msa import read_msa
from matgen.data.importers.records import SpectrumRecord
from matgen.data.importers.rosetta import one_line
from matgen.data.importers.text import read_text
from matgen.data.importers.xrdml import read_xrdml
from matgen.data.resample import common_axis, coverage, covers, resample
from matgen.errors import MatgenError

Reader = Callable[[Path], list[SpectrumRecord]]

#: Lower-case file extension -> reader returning the spectra in that file.
SPECTRUM_READERS: dict[str, Reader] = {
    ".txt": read_text, ".csv": read_text, ".xy": read_text, ".xye": read_text, ".dat": read_text,
    ".xrdml": read_xrdml,
    ".msa": read_msa, ".ems": read_msa, ".emsa": read_msa,
    ".dm3": read_dm, ".dm4": read_dm,
    ".hspy": read_hspy,
}
ENTRY_POINT_GROUP = "matgen.importers"
#: The fewest points a spectrum may have.
MIN_POINTS = 5
#: Two X-ray wavelengths closer than this (Å) are the same.
WAVELENGTH_TOL_ANGSTROM = 1e-4
#: Metadata written by readers that describe the acquisition rather than the sample.
META_KEYS = ("counting_time_s", "kalpha2_angstrom", "kalpha2_ratio")
#: Spellings of axis units -> matgen's spelling.
UNIT_ALIASES = {
    "cm-1": "cm-1", "cm^-1": "cm-1", "1/cm": "cm-1", "cm⁻¹": "cm-1", "cm1": "cm-1", "wavenumbers": "cm-1",
    "deg": "deg", "degree": "deg", "degrees": "deg", "°": "deg", "2theta": "deg",
    "ev": "eV", "kev": "keV", "nm": "nm",
}


def _lazy(entry_point) -> Reader:
    def read(path: Path) -> list[SpectrumRecord]:
        return entry_point.load()(path)
    read.__name__ = f"entry point {entry_point.value}"
    return read


@lru_cache(maxsize=1)
def _plugin_readers() -> dict[str, Reader]:
    readers = {}
    for ep in importlib_metadata.entry_points(group=ENTRY_POINT_GROUP):
        ext = ep.name.strip().lower()
        readers[ext if ext.startswith(".") else "." + ext] = _lazy(ep)
    return readers


def spectrum_readers() -> dict[str, Reader]:
    """:data:`SPECTRUM_READERS` plus readers registered under the ``matgen.importers`` entry points.

    A third-party package registers ``".ext" = "package.module:read_function"``; the function
    takes a :class:`~pathlib.Path` and returns a list of
    :class:`~matgen.data.importers.records.SpectrumRecord`. It is loaded on first use and wins
    over a built-in reader of the same extension.
    """
    return {**SPECTRUM_READERS, **_plugin_readers()}


def normalise_unit(unit: str | None) -> str | None:
    """matgen's spelling of an axis unit (``1/cm`` -> ``cm-1``, ``Degrees`` -> ``deg``); None stays None."""
    if unit is None or not str(unit).strip():
        return None
    text = str(unit).strip()
    return UNIT_ALIASES.get(text.lower(), text)


def _read_file(reader: Reader, path: Path) -> list[SpectrumRecord] | str:
    """The file's records, or the reason it cannot be read (one line)."""
    try:
        records = reader(path)
    except MatgenError as e:
        reason = str(e)
        return reason[len(str(path)) + 2:] if reason.startswith(f"{path}: ") else reason
    except Exception as e:  # third-party parsers raise anything: report it as one line
        return f"could not be read as {path.suffix or 'this format'} ({type(e).__name__}: {one_line(e)})"
    if not records:
        return "holds no spectrum"
    return records


def _record_problem(record: SpectrumRecord) -> str | None:
    """Why a spectrum cannot be imported, or None when it is fine."""
    where = f" (part {record.part})" if record.part else ""
    if record.x.shape != record.y.shape or record.x.ndim != 1:
        return f"axis and intensities differ in shape{where}: {record.x.shape} vs {record.y.shape}"
    if len(record.x) < MIN_POINTS:
        return f"only {len(record.x)} point(s){where}; a spectrum needs at least {MIN_POINTS}"
    if not np.isfinite(record.x).all():
        return f"its axis contains NaN or inf{where}"
    if not np.isfinite(record.y).all():
        first = record.x[np.flatnonzero(~np.isfinite(record.y))[0]]
        return f"the spectrum contains NaN or inf{where} (first at x = {first:g}); fix or remove those values"
    if np.ptp(record.x) <= 0:
        return f"all its axis values are equal{where}"
    return axis_order_problem(record.x, record.y, where)


def axis_order_problem(x: np.ndarray, y: np.ndarray, where: str = "") -> str | None:
    """Why the axis ``x`` (L,) is neither strictly increasing nor strictly decreasing, or None when it is.

    A repeated x value is named with its intensities (two different ones are never averaged);
    otherwise the first point that goes back is named.
    """
    steps = np.diff(x)
    if (steps > 0).all() or (steps < 0).all():
        return None
    values, first, counts = np.unique(x, return_index=True, return_counts=True)
    if (counts > 1).any():
        repeated = values[counts > 1][np.argmin(first[counts > 1])]
        at = np.flatnonzero(x == repeated)
        shown = ", ".join(f"{v:g}" for v in y[at[:3]])
        if np.unique(y[at]).size > 1:
            return (f"its axis repeats x = {repeated:g}{where} with different intensities ({shown}); "
                    "remove the repeated points (matgen does not average them)")
        return f"its axis repeats x = {repeated:g}{where} ({len(at)} times, same intensity {y[at[0]]:g}); remove the repeats"
    direction = np.sign(x[-1] - x[0]) or 1.0
    k = int(np.flatnonzero(steps * direction < 0)[0])
    return (f"its axis is out of order{where}: point {k + 2} (x = {x[k + 1]:g}) comes after x = {x[k]:g}; "
            "sort the points by x, or give each scan of the file its own file")


def _decide_kind(kind: str | None, records: Sequence[tuple[Path, SpectrumRecord]], root: Path) -> str:
    if kind is not None:
        if kind not in SPECTRUM_KINDS:
            raise MatgenError(f"unknown spectrum kind '{kind}'; choose from {', '.join(SPECTRUM_KINDS)}")
        return kind
    seen: dict[str, Path] = {}
    for path, record in records:
        if record.kind is not None:
            seen.setdefault(record.kind, path)
    if len(seen) > 1:
        (k1, f1), (k2, f2) = list(seen.items())[:2]
        raise MatgenError(
            f"mixed kinds of spectra: {f1.name} is {k1} but {f2.name} is {k2}; import them separately"
        )
    if not seen:
        raise MatgenError(
            f"cannot tell what kind of spectra {root} holds (the files do not say); "
            "pass --kind with raman, xrd, eels or spectrum (e.g. --kind raman)"
        )
    return next(iter(seen))


def _decide_unit(kind: str, axis_unit: str | None, records: Sequence[tuple[Path, SpectrumRecord]]) -> str:
    """The one axis unit of all records (filled from ``axis_unit`` or the kind's default)."""
    default = normalise_unit(axis_unit) or (KIND_AXES[kind][1] if kind in KIND_AXES else "")
    units: dict[str, Path] = {}
    for path, record in records:
        record.axis_unit = normalise_unit(record.axis_unit) or default
        units.setdefault(record.axis_unit, path)
    if len(units) > 1:
        (u1, f1), (u2, f2) = list(units.items())[:2]
        raise MatgenError(
            f"mixed axis units: {f1.name} is in {u1 or 'no unit'} but {f2.name} in {u2 or 'no unit'}; "
            "import them separately or convert one"
        )
    (unit, path), = units.items()
    if kind in KIND_AXES and unit != KIND_AXES[kind][1]:
        raise MatgenError(
            f"{path.name} has its axis in {unit or 'no unit'}, but a {kind} axis must be in {KIND_AXES[kind][1]}; "
            "check --kind, or convert the file's axis"
        )
    return unit


def _axis_name(kind: str, records: Sequence[tuple[Path, SpectrumRecord]]) -> str:
    if kind in KIND_AXES:
        return KIND_AXES[kind][0]
    names = {r.axis_name for _, r in records}
    name = names.pop() if len(names) == 1 else None
    return name if name and re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name) else "x"


def _wavelength(kind: str, records: Sequence[tuple[Path, SpectrumRecord]]) -> float | None:
    """The X-ray wavelength (Å) all XRD records share; None for other kinds or when none says."""
    if kind != "xrd":
        return None
    known = [(p, r.wavelength_angstrom) for p, r in records if r.wavelength_angstrom is not None]
    if not known:
        return None
    first_path, first = known[0]
    for path, wavelength in known[1:]:
        if abs(wavelength - first) > WAVELENGTH_TOL_ANGSTROM:
            raise MatgenError(
                f"different X-ray wavelengths: {first_path.name} was measured at {first:g} Å but {path.name} at "
                f"{wavelength:g} Å; import them separately (2θ positions differ between wavelengths)"
            )
    return first


def _check_range(axis_range, unit: str, records, bad: BadFiles) -> list:
    """The (path, record) pairs whose spectrum covers ``axis_range``; others go to ``bad``."""
    lo, hi = axis_range
    outside = {}
    for path, record in records:
        if not covers(record.x, lo, hi):
            outside.setdefault(path, coverage(record.x))
    for path, (a, b) in outside.items():
        bad.report(path, f"covers {a:g}–{b:g} {unit}, outside the requested range {lo:g}–{hi:g} {unit}; "
                         "choose a --range inside every spectrum")
    return [(p, r) for p, r in records if p not in outside]


def _relative(root: Path, path: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.name


def _condition_rows(records, file_rows: dict[Path, tuple[dict[str, str], str]]) -> tuple[list, list]:
    """One raw row per record: header metadata, updated by the file's table/pattern row, plus position."""
    rows, where = [], []
    for path, record in records:
        table_row, origin = file_rows[path]
        row = dict(record.metadata)
        row.update(table_row)
        row.update({name: repr(float(value)) for name, value in record.position.items()})
        rows.append(row)
        where.append(f"{origin} ({record.part})" if record.part else origin)
    return rows, where


def _meta_roles(records, spec: ColumnTyping | None) -> ColumnTyping:
    """``spec`` with role ``meta`` added for positions and acquisition metadata (user roles win)."""
    spec = spec or ColumnTyping()
    positions = {k for _, r in records for k in r.position}
    metadata = {k for _, r in records for k in r.metadata if k in META_KEYS}
    meta = {split_name_unit(c)[0]: "meta" for c in positions | metadata}
    return ColumnTyping(roles={**meta, **dict(spec.roles or {})}, categorical=spec.categorical,
                         durations=spec.durations)


def import_spectra(
    inputs: Sequence[str | Path],
    kind: str | None = None,
    source: ConditionSource = ConditionSource(),
    spec: ColumnTyping | None = None,
    axis_range: tuple[float, float] | None = None,
    points: int | None = None,
    axis_unit: str | None = None,
    skip_bad: bool = False,
    progress: Progress = no_progress,
) -> ImportResult:
    """A spectrum dataset from a folder or a list of spectrum files.

    Args:
        inputs: one folder (searched recursively) or spectrum files.
        kind: ``raman``, ``xrd``, ``eels`` or ``spectrum``; default: what the files say.
        source: where per-file conditions come from (table, file-name pattern).
        spec: condition typing (roles, categorical, duration columns).
        axis_range: (start, stop) of the common axis in the axis unit; default: the overlap.
        points: number of points of the common axis; default: the densest spectrum's count.
        axis_unit: the unit of files that do not state one; default: the kind's unit.
        skip_bad: leave out bad files (listed in the result) instead of stopping at the first.
        progress: ``progress(done, total, file name)`` called as files are read.

    Returns:
        The dataset -- signals (N, L) float32 on one axis, a row per spectrum (per pixel of a
        spectrum image) --, the skipped files with reasons, and warnings (numeric conditions
        without a unit).

    Raises:
        MatgenError: bad input (the message names the file and the fix).
    """
    readers = spectrum_readers()
    root, files = find_files(inputs, readers.keys(), "spectra")
    if source.table is not None:
        files = [f for f in files if f.resolve() != Path(source.table).resolve()]
    bad = BadFiles(skip_bad)
    files, file_rows, origins = conditions_for_files(files, root, source, bad)
    records: list[tuple[Path, SpectrumRecord]] = []
    for i, path in enumerate(files):
        result = _read_file(readers[path.suffix.lower()], path)
        problems = [result] if isinstance(result, str) else [p for r in result if (p := _record_problem(r))]
        if problems:
            bad.report(path, problems[0])
        else:
            records += [(path, r) for r in result]
        progress(i + 1, len(files), path.name)
    if not records:
        first = f" (first: {bad.skipped[0][0]}: {bad.skipped[0][1]})" if bad.skipped else ""
        raise MatgenError(f"no spectrum could be imported from {root}: {len(bad.skipped)} bad file(s){first}")
    kind = _decide_kind(kind, records, root)
    unit = _decide_unit(kind, axis_unit, records)
    if axis_range is not None:
        records = _check_range(axis_range, unit, records, bad)
        if not records:
            raise MatgenError(f"no spectrum covers the requested range {axis_range[0]:g}–{axis_range[1]:g} {unit}")
    wavelength = _wavelength(kind, records)
    labels = [f"{_relative(root, p)}#{r.part}" if r.part else _relative(root, p) for p, r in records]
    grid = common_axis(dict(zip(labels, (r.x for _, r in records))), axis_range, points, unit)
    signals = np.stack([resample(r.x, r.y, grid) for _, r in records]).astype(np.float32)  # (N, L)
    by_file = {p: (row, origin) for p, row, origin in zip(files, file_rows, origins)}
    rows, where = _condition_rows(records, by_file)
    signal_units = {r.signal_unit for _, r in records}
    warnings: list[str] = []
    dataset = Dataset(
        kind=kind,
        signals=signals,
        conditions=build_conditions(rows, where, _meta_roles(records, spec_with_pattern(spec, source)), warnings),
        ids=[row_id(root, p, r.part) for p, r in records],
        sources=[_relative(root, p) for p, _ in records],
        synthetic=np.zeros(len(records), dtype=bool),
        axis=Axis(_axis_name(kind, records), unit, grid, wavelength_angstrom=wavelength),
        signal_unit=signal_units.pop() if len(signal_units) == 1 else "",
    )
    return ImportResult(dataset.check(), list(bad.skipped), warnings)
