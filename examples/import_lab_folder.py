"""Import a lab folder from Python: spectra with a labels table, then inspect, split and save.

    python examples/import_lab_folder.py                       # the built-in example lab
    python examples/import_lab_folder.py ../shared/data/raman_rruff/spectra ../shared/data/raman_rruff/labels.csv

Prints how many spectra each mineral has, where each mineral's strongest band lies, and the sizes
of a train/val/test split that keeps every sample (rruff_id) on one side.
"""

import sys
import tempfile
from pathlib import Path

import numpy as np

from matgen import data
from matgen.data.importers import ConditionSource, import_spectra
from matgen.data.split import split
from matgen.demo import write_example_lab


def main(folder: Path, table: Path, out_dir: Path) -> None:
    result = import_spectra([folder], kind="raman", source=ConditionSource(table=table), skip_bad=True)
    ds = result.dataset
    print(f"{len(ds)} spectra on {ds.axis.describe()}; skipped {len(result.skipped)} file(s)")
    minerals = ds.conditions["mineral"].labels()
    for mineral in sorted(set(minerals) - {None}):
        mean = ds.signals[minerals == mineral].mean(axis=0)
        print(f"  {mineral:14s} {int((minerals == mineral).sum()):3d} spectra, strongest band at "
              f"{ds.axis.values[np.argmax(mean)]:7.1f} {ds.axis.unit}")
    parts = split(ds, (0.7, 0.15, 0.15), by="rruff_id", stratify="mineral", seed=0)
    for name, part in parts.items():
        path = data.write(out_dir / f"{name}.h5", part)
        print(f"{name}: {len(part)} spectra -> {path}")


if __name__ == "__main__":
    out = Path(tempfile.mkdtemp(prefix="matgen-example-"))
    if len(sys.argv) == 3:
        main(Path(sys.argv[1]), Path(sys.argv[2]), out)
    else:
        lab = write_example_lab(out / "lab")
        main(lab["raman"], lab["raman_table"], out)
