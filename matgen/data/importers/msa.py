"""EMSA/MSA spectra (``.msa``, ``.ems``): the ISO 22029 text format, through rosettasciio.

A file whose first non-empty line starts with ``#FORMAT`` is EMSA: ``#XUNITS`` gives the axis
unit, ``#SIGNALTYPE ELS`` (EELS) makes it an EELS spectrum on ``energy_loss`` in eV. For
``#DATATYPE Y`` the axis is ``#OFFSET + #XPERCHAN · i``; for ``#DATATYPE XY`` it is the file's
first column (rosettasciio rebuilds it from OFFSET/XPERCHAN, which may be rounded). What the header
says is checked against the data: ``#NPOINTS`` against the number of values, and for ``XY``
``#OFFSET``/``#XPERCHAN`` against the X column (within one channel / 5 %). Files with
an ``.msa`` extension that are plain two-column text (7 of the EELSDB files) are read by
:func:`matgen.data.importers.text.parse_text`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from matgen.data.importers.gatan import EELS_TYPES, ENERGY_UNITS
from matgen.data.importers.records import SpectrumRecord
from matgen.data.importers.rosetta import axis_values, read_signals, signal_unit
from matgen.data.importers.text import parse_text
from matgen.errors import MatgenError

#: XUNITS values that mean "not stated" (EELSDB files write a literal ``<undefined>``).
_UNKNOWN_UNITS = {"", "<undefined>", "undefined", "none", "unknown"}


def is_emsa(text: str) -> bool:
    """True when the first non-empty line starts with ``#FORMAT`` (an EMSA header)."""
    first = next((line.strip() for line in text.lstrip("\ufeff").splitlines() if line.strip()), "")
    return first.upper().startswith("#FORMAT")


def emsa_header(text: str) -> dict[str, str]:
    """The ``#KEYWORD : value`` header of an EMSA file, keywords upper-case without '#'."""
    header = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("#") and ":" in line:
            key, value = line[1:].split(":", 1)
            header.setdefault(key.strip().upper(), value.strip())
    return header


def read_msa(path: str | Path) -> list[SpectrumRecord]:
    """The spectrum in an EMSA/MSA file, or in a plain two-column text file named ``.msa``.

    Raises:
        MatgenError: the file is neither EMSA nor two-column text, or rosettasciio cannot read it.
    """
    path = Path(path)
    text = path.read_bytes().decode("latin-1")
    if not is_emsa(text):
        try:
            return [parse_text(text)]
        except MatgenError as e:
            raise MatgenError(f"{path}: not EMSA (no #FORMAT line) and not two-column text: {e}") from None
    signals = read_signals("msa", path)
    header = emsa_header(text)
    if len(signals) != 1 or np.ndim(signals[0]["data"]) != 1 or len(signals[0]["axes"]) != 1:
        raise MatgenError(f"{path}: expected one spectrum in the EMSA file; it holds {len(signals)} signal(s)")
    signal = signals[0]
    y = np.asarray(signal["data"], dtype=np.float64)
    x = axis_values(signal["axes"][0])
    if y.size == 0:  # rosettasciio misses the data after a bare '#SPECTRUM :' line
        x, y = _y_columns(text, header)
    xy = header.get("DATATYPE", "Y").upper() == "XY"
    if xy:
        try:
            columns = parse_text(text)
        except MatgenError as e:
            raise MatgenError(f"{path}: DATATYPE XY but its X, Y columns do not read: {e}") from None
        x, y = columns.x, columns.y
    try:
        check_header(header, x, y, xy)
    except MatgenError as e:
        raise MatgenError(f"{path}: {e}") from None
    unit = str(signal["axes"][0].get("units") or header.get("XUNITS", "")).strip()
    unit = None if unit.lower() in _UNKNOWN_UNITS else ENERGY_UNITS.get(unit.lower(), unit)
    signal_type = str(signal.get("metadata", {}).get("Signal", {}).get("signal_type") or "").lower()
    eels = signal_type in EELS_TYPES or header.get("SIGNALTYPE", "").lower() in EELS_TYPES
    return [SpectrumRecord(
        x=x, y=y, axis_unit=unit, kind="eels" if eels else None,
        axis_name="energy_loss" if eels else None, signal_unit=signal_unit(signal.get("metadata", {})),
    )]


def _header_number(header: dict[str, str], key: str) -> float | None:
    if key not in header:
        return None
    try:
        return float(header[key])
    except ValueError:
        raise MatgenError(f"its header says #{key} : {header[key]}, which is not a number; correct the header") from None


def check_header(header: dict[str, str], x: np.ndarray, y: np.ndarray, xy: bool) -> None:
    """Raise when ``#NPOINTS``, ``#XPERCHAN`` or (for ``XY`` data) ``#OFFSET`` disagree with the data x, y (L,)."""
    n = _header_number(header, "NPOINTS")
    if n is not None and n != len(y):
        raise MatgenError(
            f"its header says #NPOINTS : {header['NPOINTS']} but the file holds {len(y)} data points; "
            "the file may be cut short: export it again (or correct #NPOINTS)"
        )
    step = _header_number(header, "XPERCHAN")
    if step is not None and not (np.isfinite(step) and step != 0):
        raise MatgenError(f"its header says #XPERCHAN : {header['XPERCHAN']}; a channel width must be a non-zero number")
    if not xy or len(x) < 2:
        return
    mean_step = (x[-1] - x[0]) / (len(x) - 1)
    if step is not None and abs(mean_step - step) > 0.05 * abs(step):
        raise MatgenError(
            f"its header says #XPERCHAN : {header['XPERCHAN']} but its X column steps by {mean_step:g} on average; "
            "correct the header or the X column"
        )
    offset = _header_number(header, "OFFSET")
    if offset is not None and abs(offset - x[0]) > abs(step if step is not None else mean_step) + 1e-9 * max(abs(offset), 1.0):
        raise MatgenError(
            f"its header says #OFFSET : {header['OFFSET']} but its X column starts at {x[0]:g}; "
            "correct the header or the X column"
        )


def _y_columns(text: str, header: dict[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of a ``DATATYPE Y`` body: y from the data lines, x = OFFSET + XPERCHAN · i."""
    values = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            values += [float(v) for v in line.replace(",", " ").split()]
    y = np.asarray(values, dtype=np.float64)
    try:
        offset, step = float(header.get("OFFSET", "0")), float(header.get("XPERCHAN", "1"))
    except ValueError:
        raise MatgenError("#OFFSET or #XPERCHAN is not a number") from None
    return offset + step * np.arange(len(y)), y
