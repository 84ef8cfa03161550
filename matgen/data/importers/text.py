"""Two-column text spectra: ``.txt .csv .xy .xye .dat`` (and ``.msa`` files that are plain text).

The first two numeric columns are (x, y); further columns (the error column of ``.xye``) are
ignored. The delimiter is sniffed per file: semicolon, tab, comma or whitespace; with semicolon or
tab delimiters a decimal comma (``1,5``) is read as a decimal point. Before the data, lines that
are not two numbers (``Column2,Column3``, ``2theta intensity``) are headers; lines starting with
``#``, ``%``, ``!`` or ``//`` are comments anywhere. RRUFF headers (``##NAMES=Albite``,
``##RRUFFID=R040068``, ``##LASER_WAVELENGTH=514``) become metadata, and mark the file as Raman.
What a JCAMP-style header says about the data (``##NPOINTS``, ``##FIRSTX``, ``##LASTX``,
``##DELTAX``) is checked against the data; ``##XUNITS`` is the axis unit.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from matgen.data.importers.records import SpectrumRecord
from matgen.errors import MatgenError

#: RRUFF ``##KEY=value`` header -> metadata name.
RRUFF_KEYS = {"NAMES": "mineral", "RRUFFID": "rruff_id", "LASER_WAVELENGTH": "laser_nm"}
#: JCAMP-style header keys that describe the data, checked against it.
DECLARED_KEYS = ("NPOINTS", "FIRSTX", "LASTX", "DELTAX", "XUNITS")
_COMMENT = ("#", "%", "!", "//")
_RAMAN_NAME = re.compile(r"(^|[^a-z])raman([^a-z]|$)", re.I)


def _delimiter(line: str) -> str | None:
    """The delimiter of one data line: ';', '\\t', ',' or None (any whitespace)."""
    for delimiter in (";", "\t", ","):
        if delimiter in line:
            return delimiter
    return None


def _numbers(line: str, delimiter: str | None) -> list[float] | None:
    """The numbers on a data line, or None when its first two fields are not numbers."""
    if delimiter in (";", "\t"):
        line = line.replace(",", ".")
    fields = [f for f in (line.split(delimiter) if delimiter else line.split()) if f.strip()]
    try:
        values = [float(f) for f in fields[:2]]
    except ValueError:
        return None
    return values if len(values) == 2 else None


def _header(line: str, metadata: dict[str, str], declared: dict[str, str]) -> None:
    """Record a ``##KEY=value`` header line: RRUFF keys into ``metadata``, JCAMP data keys into ``declared``."""
    m = re.match(r"##\s*([A-Za-z_]+)\s*=\s*(.*?)\s*$", line)
    if not m or not m[2]:
        return
    key = m[1].upper()
    if key in RRUFF_KEYS:
        metadata[RRUFF_KEYS[key]] = m[2]
    elif key in DECLARED_KEYS:
        declared.setdefault(key, m[2])


def _declared_number(declared: dict[str, str], key: str) -> float | None:
    if key not in declared:
        return None
    try:
        return float(declared[key])
    except ValueError:
        raise MatgenError(f"its header says ##{key}={declared[key]}, which is not a number; correct the header") from None


def check_declared(declared: dict[str, str], x: np.ndarray) -> None:
    """Raise when the header's ``##NPOINTS``, ``##FIRSTX``, ``##LASTX`` or ``##DELTAX`` disagree with x (L,).

    First and last x may differ from the header by half a step (rounding); the mean step by 1 %.
    """
    n = _declared_number(declared, "NPOINTS")
    if n is not None and n != len(x):
        raise MatgenError(
            f"its header says ##NPOINTS={declared['NPOINTS']} but the file holds {len(x)} data points; "
            "the file may be cut short: export it again (or correct ##NPOINTS)"
        )
    step = (x[-1] - x[0]) / (len(x) - 1) if len(x) > 1 else 0.0
    slack = abs(step) / 2 + 1e-9 * max(abs(x[0]), abs(x[-1]), 1.0)
    for key, value, what in (("FIRSTX", x[0], "first"), ("LASTX", x[-1], "last")):
        declared_x = _declared_number(declared, key)
        if declared_x is not None and abs(declared_x - value) > slack:
            raise MatgenError(
                f"its header says ##{key}={declared[key]} but the {what} data point is at x = {value:g}; "
                "the file may be cut short or edited: export it again (or correct the header)"
            )
    delta = _declared_number(declared, "DELTAX")
    if delta is not None and abs(delta - step) > 0.01 * abs(delta):
        raise MatgenError(
            f"its header says ##DELTAX={declared['DELTAX']} but its points are {step:g} apart on average; "
            "export it again (or correct the header)"
        )


def parse_text(text: str) -> SpectrumRecord:
    """The spectrum in two-column text: x from the first column, y from the second.

    Returns a record with ``x`` and ``y`` of shape (L,), RRUFF header values in ``metadata``, and
    kind ``raman`` (axis ``raman_shift`` in ``cm-1``) when a RRUFF laser wavelength is present;
    otherwise kind and axis unit are left unknown for the importer to decide. A ``##XUNITS``
    header gives the axis unit.

    Raises:
        MatgenError: no line holds two numbers, a line inside the data is not numeric, or the
            header's point count, first/last x or step disagrees with the data.
    """
    metadata: dict[str, str] = {}
    declared: dict[str, str] = {}
    rows: list[list[float]] = []
    delimiter: str | None = None
    for number, raw in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith(_COMMENT):
            _header(line, metadata, declared)
            continue
        if not rows:
            delimiter = _delimiter(line)
        values = _numbers(line, delimiter)
        if values is None:
            if rows:
                raise MatgenError(
                    f"line {number} ('{line[:40]}') is not two numbers inside the data; "
                    "remove it or comment it out with #"
                )
            continue  # a header line before the data
        rows.append(values)
    if not rows:
        raise MatgenError("no two-column numeric data found; expected lines such as '200.0, 0.13' (x, y)")
    xy = np.asarray(rows, dtype=np.float64)
    check_declared(declared, xy[:, 0])
    raman = "laser_nm" in metadata
    return SpectrumRecord(
        x=xy[:, 0], y=xy[:, 1], metadata=metadata,
        kind="raman" if raman else None,
        axis_name="raman_shift" if raman else None,
        axis_unit=declared.get("XUNITS") or ("cm-1" if raman else None),
    )


def read_text(path: str | Path) -> list[SpectrumRecord]:
    """The one spectrum in a two-column text file (see :func:`parse_text`).

    A file whose name contains ``Raman`` (as RRUFF's do) is a Raman spectrum in cm-1.

    Raises:
        MatgenError: the file is binary or holds no two-column numeric data (the message names it).
    """
    path = Path(path)
    data = path.read_bytes()
    if b"\x00" in data[:4096]:
        raise MatgenError(f"{path}: a binary file, not two-column text; check the file or its extension")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    try:
        record = parse_text(text)
    except MatgenError as e:
        raise MatgenError(f"{path}: {e}") from None
    if _RAMAN_NAME.search(path.stem):
        record.kind, record.axis_name, record.axis_unit = "raman", "raman_shift", record.axis_unit or "cm-1"
    return [record]
