"""Turn raw per-row text (a conditions table, file-name fields, file headers) into typed conditions.

A column's unit comes from its name: a header ``anneal_temperature_C`` is the condition
``anneal_temperature_C`` in °C; ``modulus (GPa)`` or ``modulus [GPa]`` is ``modulus`` in GPa. A column
is numeric when it has a unit or when most of its values are numbers; a numeric column with a
value that is not a number is an error that names the file and the row, and a numeric column
without a unit (other than ids and replicates) gets a warning that shows how to name its unit
(``modulus (GPa)``; ``ratio (1)`` for a pure number). Empty cells, ``NaN`` and ``NA`` mean unknown.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from matgen.data.dataset import ROLES, Condition
from matgen.errors import MatgenError

#: Name suffix -> unit, longest suffixes first (``cooling_rate_K_s`` is K/s, not s).
UNIT_SUFFIXES: dict[str, str] = {
    "K_s": "K/s", "C_s": "°C/s", "C_min": "°C/min", "K_min": "K/min", "g_cm3": "g/cm³", "kg_m3": "kg/m³",
    "cm1": "cm⁻¹", "GPa": "GPa", "MPa": "MPa", "kPa": "kPa", "Pa": "Pa", "degC": "°C", "C": "°C", "K": "K",
    "h": "h", "min": "min", "s": "s", "ms": "ms", "nm": "nm", "um": "µm", "mm": "mm", "m": "m",
    "wt": "wt%", "wtpct": "wt%", "at": "at%", "atpct": "at%", "pct": "%", "frac": "fraction",
    "eV": "eV", "keV": "keV", "kV": "kV", "deg": "deg", "mrad": "mrad", "A": "Å", "angstrom": "Å",
    "W": "W", "mW": "mW", "J": "J", "HV": "HV", "nm_laser": "nm",
}
_SUFFIX_ORDER = sorted(UNIT_SUFFIXES, key=lambda s: (-s.count("_"), -len(s)))
_BRACKET_UNIT = re.compile(r"^\s*(?P<name>[^\[\(]+?)\s*[\[\(](?P<unit>[^\]\)]*)[\]\)]\s*$")
_MISSING = {"", "nan", "na", "n/a", "none", "null", "-", "?"}
#: Column names that are identifiers or bookkeeping rather than physics.
_META_NAMES = re.compile(r"(^|_)(id|replicate|rep|sample|file|filename|position|index|x_px|y_px)$", re.I)

#: Durations written with a unit letter in file names (``24H``, ``5M``, ``90min``), in hours.
_DURATION_HOURS = {"s": 1 / 3600, "sec": 1 / 3600, "m": 1 / 60, "min": 1 / 60, "h": 1.0, "hr": 1.0,
                   "d": 24.0, "day": 24.0, "days": 24.0}
_UNIT_HOURS = {"h": 1.0, "min": 1 / 60, "s": 1 / 3600, "ms": 1 / 3.6e6}


def split_name_unit(column: str) -> tuple[str, str]:
    """Return (condition name, unit) for a column header.

    ``"modulus (GPa)"`` -> ``("modulus", "GPa")``; ``"anneal_time_h"`` -> ``("anneal_time_h", "h")``;
    ``"mineral"`` -> ``("mineral", "")``.
    """
    column = column.strip().lstrip("\ufeff")
    m = _BRACKET_UNIT.match(column)
    if m:
        return _clean_name(m["name"]), m["unit"].strip()
    name = _clean_name(column)
    for suffix in _SUFFIX_ORDER:
        if name.endswith("_" + suffix) and len(name) > len(suffix) + 1:
            return name, UNIT_SUFFIXES[suffix]
    return name, ""


def _clean_name(text: str) -> str:
    name = re.sub(r"[^0-9A-Za-z_]+", "_", text.strip()).strip("_")
    if name and not name[0].isalpha():
        name = "c_" + name
    return name or "unnamed"


def is_missing(text: str | None) -> bool:
    return text is None or str(text).strip().lower() in _MISSING


def parse_number(text: str) -> float | None:
    """The float in ``text`` or None when it is not a number (missing values give NaN)."""
    if is_missing(text):
        return float("nan")
    try:
        return float(str(text).strip().replace(",", "."))
    except ValueError:
        return None


def parse_duration_hours(text: str) -> float | None:
    """Hours in a duration such as ``24H``, ``5M``, ``90min``, ``2d`` (None when unreadable)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]+)\s*", str(text))
    if not m or m[2].lower() not in _DURATION_HOURS:
        return None
    return float(m[1]) * _DURATION_HOURS[m[2].lower()]


@dataclass
class ColumnTyping:
    """How the user wants columns typed: role overrides and forced categorical columns."""

    roles: Mapping[str, str] | None = None  # condition name -> role
    categorical: Sequence[str] = ()  # column names read as categories even when they look numeric
    durations: Sequence[str] = ()  # columns whose values carry a time unit (``24H``, ``5M``)


def build_conditions(
    rows: Sequence[Mapping[str, str]], where: Sequence[str], spec: ColumnTyping | None = None,
    warnings: list[str] | None = None,
) -> dict[str, Condition]:
    """Typed conditions from raw text rows.

    Args:
        rows: one mapping (column header -> text) per dataset row; missing keys are unknown.
        where: for each row, where it came from (``labels.csv line 7``), used in error messages.
        spec: role overrides and forced categorical / duration columns.
        warnings: a list that gets one line per numeric column without a unit (not meta ones).

    Raises:
        MatgenError: a numeric column holds text, a role is unknown, or two headers clash.
    """
    spec = spec or ColumnTyping()
    roles = dict(spec.roles or {})
    for name, role in roles.items():
        if role not in ROLES:
            raise MatgenError(f"unknown role '{role}' for '{name}'; choose from {', '.join(ROLES)}")
    columns = list(dict.fromkeys(k for row in rows for k in row))
    conditions: dict[str, Condition] = {}
    for column in columns:
        name, unit = split_name_unit(column)
        if name in conditions:
            raise MatgenError(f"columns clash: more than one column is named '{name}'; rename one")
        texts = [row.get(column) for row in rows]
        if column in spec.durations or name in spec.durations:
            conditions[name] = _duration_condition(name, unit, texts, where)
        elif column in spec.categorical or name in spec.categorical or not _looks_numeric(texts, unit):
            role = roles.get(name, "meta" if _META_NAMES.search(name) else "label")
            conditions[name] = Condition.from_labels([None if is_missing(t) else str(t).strip() for t in texts], role=role)
        else:
            role = roles.get(name, "meta" if _META_NAMES.search(name) else "processing")
            conditions[name] = Condition(_numbers(name, texts, where), unit=unit, role=role)
            if not unit and role != "meta" and warnings is not None:
                warnings.append(unitless_warning(name))
    unknown = set(roles) - set(conditions)
    if unknown:
        raise MatgenError(
            f"--role names unknown condition(s) {', '.join(sorted(unknown))}; the conditions are: {', '.join(conditions)}"
        )
    return conditions


def unitless_warning(name: str) -> str:
    """The warning for numeric condition ``name`` imported without a unit, with the header that gives one."""
    return (f"condition '{name}' is a number without a unit; if it has one, put it in the column name, e.g. "
            f"'{name} (GPa)' (or '{name} (1)' for a pure number), and import again")


def _looks_numeric(texts: Sequence[str | None], unit: str) -> bool:
    present = [t for t in texts if not is_missing(t)]
    if not present:
        return bool(unit)
    numeric = sum(parse_number(t) is not None for t in present)
    return bool(unit) or numeric > len(present) / 2


def _numbers(name: str, texts: Sequence[str | None], where: Sequence[str]) -> np.ndarray:
    values = np.empty(len(texts))
    for i, text in enumerate(texts):
        number = parse_number(text)
        if number is None:
            raise MatgenError(
                f"{where[i]}: '{text}' in numeric condition '{name}' is not a number; "
                "fix the value, leave it empty for unknown, or pass --categorical " + name
            )
        if np.isinf(number):
            raise MatgenError(f"{where[i]}: condition '{name}' is infinite; leave it empty for unknown")
        values[i] = number
    return values


def _duration_condition(name: str, unit: str, texts: Sequence[str | None], where: Sequence[str]) -> Condition:
    target = unit if unit in _UNIT_HOURS else "h"
    values = np.empty(len(texts))
    for i, text in enumerate(texts):
        if is_missing(text):
            values[i] = np.nan
            continue
        hours = parse_duration_hours(text)
        if hours is None:
            plain = parse_number(text)
            if plain is None:
                raise MatgenError(
                    f"{where[i]}: '{text}' in duration '{name}' is not a duration such as 24H, 5M or 90min"
                )
            values[i] = plain  # already in the column's unit
        else:
            values[i] = hours / _UNIT_HOURS[target]
    return Condition(values, unit=target, role="processing")


def read_table(path: str | Path) -> tuple[list[str], list[dict[str, str]]]:
    """The header and rows of a CSV/TSV conditions table (delimiter sniffed, UTF-8 BOM allowed).

    Raises:
        MatgenError: the file is missing, empty or not a table.
    """
    path = Path(path)
    if not path.is_file():
        raise MatgenError(f"{path}: conditions table not found; check the path given to --table")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise MatgenError(f"{path}: not a UTF-8 text table; save it as CSV (UTF-8)") from None
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if len(lines) < 2:
        raise MatgenError(f"{path}: the table needs a header line and at least one row")
    delimiter = "\t" if "\t" in lines[0] else ";" if lines[0].count(";") > lines[0].count(",") else ","
    reader = csv.reader(lines, delimiter=delimiter)
    header = [h.strip() for h in next(reader)]
    rows = []
    for number, cells in enumerate(reader, start=2):
        if len(cells) != len(header):
            raise MatgenError(f"{path} line {number}: {len(cells)} cells for {len(header)} columns; fix that row")
        rows.append({h: c.strip() for h, c in zip(header, cells)})
    return header, rows


def file_column(header: Sequence[str], path: Path, requested: str | None = None) -> str:
    """The table column that names the files: ``requested`` or one called file/filename/path/image."""
    if requested:
        if requested not in header:
            raise MatgenError(f"{path}: no column '{requested}'; the columns are {', '.join(header)}")
        return requested
    for h in header:
        if h.strip().lower() in ("file", "filename", "file_name", "path", "image", "spectrum", "name"):
            return h
    raise MatgenError(
        f"{path}: no column names the files; call it 'file' or pass --file-column (columns: {', '.join(header)})"
    )


class NamePattern:
    """Conditions parsed from file names with a pattern such as ``{anneal_temperature_C}C-{anneal_time_h}H``.

    Each ``{name}`` matches a non-empty run of characters (as few as possible); all other text
    must appear literally. ``{name:duration}`` reads a number with a time unit (``24H``, ``5M``)
    and converts it to the unit in the name (hours by default). The pattern must match the whole
    file name without its extension.
    """

    def __init__(self, pattern: str):
        self.pattern = pattern
        self.fields: list[str] = []
        self.durations: list[str] = []
        regex, pos = "", 0
        for m in re.finditer(r"\{([^{}:]+)(?::([a-z]+))?\}", pattern):
            regex += re.escape(pattern[pos:m.start()])
            field_name, kind = m[1].strip(), m[2]
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", field_name):
                raise MatgenError(f"name pattern field '{{{field_name}}}' must be a name such as anneal_time_h")
            if field_name in self.fields:
                raise MatgenError(f"name pattern uses '{{{field_name}}}' twice")
            if kind not in (None, "duration"):
                raise MatgenError(f"unknown field type ':{kind}' in name pattern; the only type is ':duration'")
            group = "[0-9]*\\.?[0-9]+\\s*[A-Za-z]+" if kind == "duration" else ".+?"
            regex += f"(?P<{field_name}>{group})"
            self.fields.append(field_name)
            if kind == "duration":
                self.durations.append(field_name)
            pos = m.end()
        regex += re.escape(pattern[pos:])
        if not self.fields:
            raise MatgenError(f"name pattern '{pattern}' has no {{field}}; e.g. '{{anneal_temperature_C}}C-{{anneal_time_h}}H'")
        self._regex = re.compile(regex + r"\Z")

    def match(self, stem: str) -> dict[str, str] | None:
        """Field -> text for a file name without extension, or None when it does not fit."""
        m = self._regex.match(stem)
        return None if m is None else m.groupdict()
