"""One entry point for `matgen data import`: decide what the files are, import them, write the result."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from matgen.common.progress import Progress, no_progress
from matgen.data.conditions import ColumnTyping
from matgen.data.hdf5 import append as append_rows
from matgen.data.hdf5 import write
from matgen.data.importers.common import ConditionSource, ImportResult
from matgen.data.importers.images import IMAGE_EXTENSIONS, import_images
from matgen.data.importers.spectra import import_spectra, spectrum_readers
from matgen.data.importers.structures import STRUCTURE_EXTENSIONS, read_structures, write_structures
from matgen.errors import MatgenError


@dataclass
class ImportOptions:
    """Everything `matgen data import` can be told (see its --help for each field)."""

    kind: str = "auto"  # auto | micrograph | xrd | raman | eels | spectrum | structures
    table: Path | None = None  # conditions table (CSV)
    file_column: str | None = None  # table column naming the files
    name_pattern: str | None = None  # conditions from file names
    roles: dict[str, str] = field(default_factory=dict)  # condition -> role override
    categorical: list[str] = field(default_factory=list)  # columns forced to categories
    axis_range: tuple[float, float] | None = None  # spectra: common axis range, axis unit
    points: int | None = None  # spectra: points on the common axis
    axis_unit: str | None = None  # spectra: unit of plain-text x columns
    tile: int | None = None  # micrographs: tile edge, px
    resize: tuple[int, int] | None = None  # micrographs: (H, W), px
    image_type: str = "auto"  # micrographs: auto | grey | labels
    pixel_size: float | None = None  # micrographs: pixel edge in pixel_unit
    pixel_unit: str = "um"
    skip_bad: bool = False  # import the rest and list the bad files

    def condition_source(self) -> ConditionSource:
        return ConditionSource(table=self.table, file_column=self.file_column, name_pattern=self.name_pattern)

    def condition_spec(self) -> ColumnTyping:
        return ColumnTyping(roles=self.roles, categorical=self.categorical)


def guess_kind(inputs: Sequence[str | Path]) -> str:
    """``micrograph``, ``structures`` or ``spectra`` from the extensions of the files in ``inputs``."""
    paths = [Path(p) for p in inputs]
    files = [f for p in paths for f in (p.rglob("*") if p.is_dir() else [p]) if f.is_file()]
    suffixes = [f.suffix.lower() for f in files]
    counts = {
        "micrograph": sum(s in IMAGE_EXTENSIONS for s in suffixes),
        "structures": sum(s in STRUCTURE_EXTENSIONS for s in suffixes) + sum(f.name in ("POSCAR", "CONTCAR") for f in files),
        "spectra": sum(s in spectrum_readers() for s in suffixes),
    }
    found = [k for k, v in counts.items() if v]
    if len(found) > 1:
        detail = ", ".join(f"{counts[k]} {k}" for k in found)
        raise MatgenError(f"the input holds several kinds of file ({detail}); pass --kind, or import each folder alone")
    return found[0] if found else "spectra"


def import_files(
    inputs: Sequence[str | Path], output: str | Path, options: ImportOptions, append: bool = False,
    progress: Progress = no_progress,
):
    """Import ``inputs`` as ``options`` say and write them to ``output``.

    Signals go to a dataset file (added to it when ``append``); structures go to a JSON file.
    Returns the :class:`ImportResult` (or the structure set). Nothing is written on error.
    """
    output = Path(output)
    kind = options.kind if options.kind != "auto" else guess_kind(inputs)
    if kind == "structures":
        if output.suffix.lower() != ".json":
            raise MatgenError(f"structures are written as JSON; name the output {output.with_suffix('.json').name}")
        if append:
            raise MatgenError("--append works on dataset files, not on structure sets")
        structures = read_structures(inputs, skip_bad=options.skip_bad, progress=progress)
        write_structures(output, structures)
        return structures
    if output.suffix.lower() not in (".h5", ".hdf5"):
        raise MatgenError(f"datasets are HDF5 files; name the output {output.with_suffix('.h5').name}")
    if kind == "micrograph":
        result = import_images(
            inputs, source=options.condition_source(), spec=options.condition_spec(), tile=options.tile,
            resize=options.resize, image_type=options.image_type, pixel_size=options.pixel_size,
            pixel_unit=options.pixel_unit, skip_bad=options.skip_bad, progress=progress,
        )
    else:
        result = import_spectra(
            inputs, kind=None if kind == "spectra" else kind, source=options.condition_source(),
            spec=options.condition_spec(), axis_range=options.axis_range, points=options.points,
            axis_unit=options.axis_unit, skip_bad=options.skip_bad, progress=progress,
        )
    (append_rows if append else write)(output, result.dataset)
    return result


__all__ = ["ImportOptions", "ImportResult", "guess_kind", "import_files"]
