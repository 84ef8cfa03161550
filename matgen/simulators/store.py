"""A folder of simulation results keyed by row id, written one batch at a time: what makes runs resumable.

Layout: one JSON file per finished batch, ``batch-<hash of its ids>.json``, written atomically
(temporary name, then rename), so after a crash or ``kill -9`` every file in the folder is
complete and every row in it was evaluated exactly once::

    {"format": "matgen-simulation-batch", "version": 1,
     "simulator": "elastic", "units": {"modulus": "GPa", "density": "g/cm3"},
     "ids": ["cand-0", "cand-1"],
     "properties": {"modulus": [151.2, null], "density": [2.93, null]},     # null = NaN
     "errors": ["", "ValueError: micrograph has NaN pixels"],
     "seconds": 0.41}

Failed rows are stored too: a row in the store is never evaluated again (delete its file to
re-run it). Files whose name starts with a dot are temporary and ignored.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

import numpy as np

from matgen.common.files import write_text_atomic
from matgen.errors import MatgenError

FORMAT = "matgen-simulation-batch"
VERSION = 1


class ResultStore:
    """Per-row results of one simulator in the folder ``path`` (created when missing)."""

    def __init__(self, path: str | os.PathLike, simulator):
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise MatgenError(f"result store {self.path} is a file; give a folder")
        self.path.mkdir(parents=True, exist_ok=True)
        self.simulator = getattr(simulator, "name", "")
        self.names = [o.name for o in simulator.outputs]
        self.units = {o.name: o.unit for o in simulator.outputs}

    def load(self) -> dict[str, tuple[dict[str, float], str]]:
        """Row id -> ({output: value}, error) for every row already in the store.

        Raises:
            MatgenError: a file is not a batch file, or holds another simulator's outputs.
        """
        rows: dict[str, tuple[dict[str, float], str]] = {}
        for file in sorted(self.path.glob("batch-*.json")):
            try:
                record = json.loads(file.read_text(encoding="utf-8"))
                assert record.get("format") == FORMAT
                ids, errors, props = record["ids"], record["errors"], record["properties"]
            except (ValueError, KeyError, AssertionError, TypeError):
                raise MatgenError(f"{file} is not a matgen simulation batch file; move it out of the store") from None
            missing = [n for n in self.names if n not in props]
            if missing:
                raise MatgenError(f"{file} holds results of simulator '{record.get('simulator')}' without output "
                                  f"'{missing[0]}'; use another store folder for simulator '{self.simulator}'")
            for k, row_id in enumerate(ids):
                values = {n: math.nan if props[n][k] is None else float(props[n][k]) for n in self.names}
                rows[str(row_id)] = (values, str(errors[k]))
        return rows

    def save(self, ids, properties: dict[str, np.ndarray], errors, seconds: float = 0.0) -> Path:
        """Write one finished batch atomically; returns the file."""
        ids = [str(i) for i in ids]
        digest = hashlib.sha1("\n".join(ids).encode()).hexdigest()[:16]
        record = {
            "format": FORMAT, "version": VERSION, "simulator": self.simulator, "units": self.units, "ids": ids,
            "properties": {n: [None if not np.isfinite(v) else float(v) for v in properties[n]] for n in self.names},
            "errors": [str(e) for e in errors], "seconds": round(float(seconds), 4),
        }
        return write_text_atomic(self.path / f"batch-{digest}.json", json.dumps(record, ensure_ascii=False) + "\n")


def stored_rows(path: str | os.PathLike) -> int:
    """How many rows the store folder ``path`` holds results for (0 when it is missing; unreadable files skipped)."""
    count = 0
    for file in Path(path).glob("batch-*.json"):
        try:
            count += len(json.loads(file.read_text(encoding="utf-8"))["ids"])
        except (ValueError, KeyError, TypeError):
            continue
    return count
