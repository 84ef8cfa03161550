"""Columns of a table file a program wrote: CSV, or HDF5 (a matgen dataset's conditions, or 1-D datasets).

Both readers return ``name -> list of cells`` (names without a ``(unit)`` suffix); an external
simulator's output is read with them (:class:`matgen.simulators.hooks.ExternalSimulator`).
"""

from __future__ import annotations

import csv
from pathlib import Path

from matgen.errors import MatgenError


def read_csv_columns(path: Path) -> dict[str, list]:
    """Columns of a CSV file: name -> list of cells (names without their ``(unit)``)."""
    from matgen.data.conditions import split_name_unit

    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.reader(line for line in handle if line.strip() and not line.startswith("#")))
    if not rows:
        raise MatgenError(f"{path.name} is empty; write a header row with the output names")
    header = [split_name_unit(h)[0] if "(" in h or "[" in h else h.strip() for h in rows[0]]
    columns: dict[str, list] = {h: [] for h in header}
    for cells in rows[1:]:
        for h, cell in zip(header, cells + [""] * (len(header) - len(cells))):
            columns[h].append(cell.strip())
    return columns


def read_h5_columns(path: Path) -> dict[str, list]:
    """Columns of an HDF5 file: a matgen dataset's conditions, or the root's 1-D datasets."""
    import h5py

    from matgen.data.damage import guard, open_h5

    with guard(path), open_h5(path) as f:
        if f.attrs.get("matgen_format") is not None:
            from matgen.data import read

            ds = read(path)
            columns = {name: list(c.values) for name, c in ds.conditions.items() if not c.is_categorical}
            columns["id"] = list(ds.ids.astype(str))
            return columns
        columns = {}
        for name in f:
            item = f.get(name)
            if isinstance(item, h5py.Dataset) and item.ndim == 1:
                data = item.asstr()[()] if item.dtype.kind in "OSU" else item[()]
                columns[name] = list(data)
        return columns
