"""``RUN/metrics.csv``: one row per logged training step (step, loss, val_loss, lr, samples_per_s)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from matgen.common.files import write_text_atomic
from matgen.runs.files import RunFiles

METRIC_COLUMNS = ("step", "loss", "val_loss", "lr", "samples_per_s")


def write_metrics(run_dir: Path, rows: list[dict]) -> Path:
    """Write every metrics row to ``RUN/metrics.csv`` atomically (blank where a value is absent)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=METRIC_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row[k] for k in METRIC_COLUMNS})
    return write_text_atomic(RunFiles(run_dir).metrics, out.getvalue())


def read_metrics(run_dir: Path) -> list[dict]:
    """The rows of ``RUN/metrics.csv`` as dicts of floats (None where blank); [] when absent."""
    path = RunFiles(run_dir).metrics
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [{k: (None if v in ("", None) else (int(v) if k == "step" else float(v))) for k, v in row.items()}
            for row in rows]
