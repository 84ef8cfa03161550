"""`matgen data ...`: import lab files, inspect, plot, split and check datasets.

Each command body is one call into :mod:`matgen.data` plus printing. Library imports happen
inside the commands so that `matgen --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from matgen.cli.build import app as build_app
from matgen.cli.options import DatasetFile, Force, OutputH5, Seed
from matgen.errors import MatgenError

app = typer.Typer(help="Import lab files into matgen datasets (HDF5), build datasets from physics, and inspect, "
                  "plot, split and check them.", no_args_is_help=True)
app.add_typer(build_app, name="build")


IMPORT_KINDS = ("auto", "micrograph", "xrd", "raman", "eels", "spectrum", "structures")


def _parse_range(text: Optional[str]) -> Optional[tuple[float, float]]:
    if text is None:
        return None
    from matgen.common.ranges import parse_bounds

    low, high = parse_bounds(text, "--range", separators=("..", ":", ","),
                             hint="write it as START:END in the axis unit, e.g. 200:1200")
    if low >= high:
        raise MatgenError(f"--range {text}: the start must be below the end")
    return low, high


def _parse_size(text: Optional[str]) -> Optional[tuple[int, int]]:
    if text is None:
        return None
    parts = text.lower().replace("×", "x").split("x")
    try:
        sizes = [int(p) for p in parts]
    except ValueError:
        sizes = []
    if len(sizes) == 1:
        sizes = sizes * 2
    if len(sizes) != 2 or min(sizes) < 1:
        raise MatgenError(f"--resize '{text}' is not a size; write HEIGHTxWIDTH in pixels, e.g. 128x128, or 128")
    return sizes[0], sizes[1]


def _parse_roles(pairs: List[str]) -> dict[str, str]:
    roles = {}
    for pair in pairs:
        name, sep, role = pair.partition("=")
        if not sep or not name or not role:
            raise MatgenError(f"--role '{pair}' should be NAME=ROLE, e.g. modulus_GPa=property")
        roles[name.strip()] = role.strip()
    return roles


@app.command("import")
def import_(
    inputs: Annotated[List[Path], typer.Argument(help="A folder (searched recursively) or a list of files.",
                                                 show_default=False)],
    output: OutputH5,
    kind: Annotated[str, typer.Option(
        help="What the files hold: auto (from the extensions), micrograph, xrd (2θ in deg), raman (cm-1), "
        "eels (eV), spectrum (any axis) or structures (CIF/POSCAR, written as JSON).")] = "auto",
    table: Annotated[Optional[Path], typer.Option(
        help="Conditions table (CSV): a 'file' column and one column per condition, the unit in the header "
        "(anneal_temperature_C, anneal_time_h, 'modulus (GPa)').")] = None,
    file_column: Annotated[Optional[str], typer.Option(help="Table column that names the files (default: file).")] = None,
    name_pattern: Annotated[Optional[str], typer.Option(
        help="Read conditions from file names, e.g. '{anneal_temperature_C}C-{anneal_time_h:duration}-{cooling}-{replicate}'; "
        "':duration' reads 24H / 5M / 90min into the unit of the name.")] = None,
    role: Annotated[List[str], typer.Option(
        help="Set a condition's role: NAME=processing|property|label|meta (repeatable). Default: numbers are "
        "processing parameters, text is a label, ids are meta.")] = [],
    categorical: Annotated[List[str], typer.Option(help="Read this column as categories even if it holds numbers (repeatable).")] = [],
    axis_range: Annotated[Optional[str], typer.Option("--range", help=
        "Spectra: common axis range START:END in the axis unit (deg, cm-1, eV). Default: where all spectra overlap.")] = None,
    points: Annotated[Optional[int], typer.Option(help="Spectra: points on the common axis (default: as dense as the densest file).")] = None,
    axis_unit: Annotated[Optional[str], typer.Option(help="Spectra: unit of the x column of plain text files when the kind's default (deg, cm-1, eV) is wrong.")] = None,
    tile: Annotated[Optional[int], typer.Option(help="Micrographs: cut each image into TILE×TILE pixel tiles.")] = None,
    resize: Annotated[Optional[str], typer.Option(help="Micrographs: resize every image to HEIGHTxWIDTH pixels (e.g. 128x128).")] = None,
    image_type: Annotated[str, typer.Option(help="Micrographs: auto, grey (scaled to 0-1) or labels (integer phase maps).")] = "auto",
    pixel_size: Annotated[Optional[float], typer.Option(help="Micrographs: edge of one pixel in --pixel-unit (e.g. 0.0385 for 26 px/µm).")] = None,
    pixel_unit: Annotated[str, typer.Option(help="Unit of --pixel-size.")] = "um",
    skip_bad: Annotated[bool, typer.Option("--skip-bad", help="Import the good files and list the bad ones, instead of stopping.")] = False,
    append: Annotated[bool, typer.Option("--append", help="Add the rows to an existing dataset instead of refusing to overwrite it.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing output file.")] = False,
) -> None:
    """Import a folder of lab files (spectra, micrographs or crystal structures) into one dataset."""
    from matgen.cli.progress import progress_bar
    from matgen.cli.show import print_import
    from matgen.common.files import check_writable
    from matgen.data.importers.dispatch import ImportOptions, import_files

    if kind not in IMPORT_KINDS:
        raise MatgenError(f"unknown kind '{kind}'; choose from {', '.join(IMPORT_KINDS)}")
    check_writable(output)  # before reading a folder of files, not after
    if output.exists() and not (force or append):
        raise MatgenError(f"{output} exists; pass --append to add to it or --force to overwrite it")
    options = ImportOptions(
        kind=kind, table=table, file_column=file_column, name_pattern=name_pattern, roles=_parse_roles(role),
        categorical=list(categorical), axis_range=_parse_range(axis_range), points=points, axis_unit=axis_unit,
        tile=tile, resize=_parse_size(resize), image_type=image_type, pixel_size=pixel_size, pixel_unit=pixel_unit,
        skip_bad=skip_bad,
    )
    with progress_bar("importing") as progress:
        result = import_files(inputs, output, options, append=append, progress=progress)
    print_import(result, output)


@app.command()
def info(path: DatasetFile) -> None:
    """Show what a dataset holds: kind, shape, axis and unit, and each condition's unit, range and gaps."""
    from matgen.cli.show import print_info
    from matgen.data import read

    print_info(read(path), path)


@app.command()
def plot(
    path: DatasetFile,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="PNG to write (default: beside the dataset).")] = None,
    color_by: Annotated[Optional[str], typer.Option(help="Condition that colours the spectra / titles the micrographs.")] = None,
    layout: Annotated[str, typer.Option(help="Spectra: overlay or stack.")] = "overlay",
    limit: Annotated[Optional[int], typer.Option(help="At most this many rows, picked with --seed (default: a picture's worth: a grid of micrographs, or an overlay of spectra).")] = None,
    seed: Seed = 0,
) -> None:
    """Draw a PNG: a grid of micrographs, or the spectra overlaid or stacked, coloured by a condition."""
    from matgen.data import read
    from matgen.data.plot import plot_dataset

    output = output or path.with_suffix(".png")
    written = plot_dataset(read(path), output, color_by=color_by, layout=layout, limit=limit, seed=seed)
    typer.echo(f"wrote {written}")


@app.command()
def split(
    path: DatasetFile,
    by: Annotated[Optional[str], typer.Option(help="Group condition (e.g. rruff_id, sample): rows of one group never land on two sides.")] = None,
    fractions: Annotated[str, typer.Option(help="Fractions train,val[,test] summing to 1.")] = "0.7,0.15,0.15",
    stratify: Annotated[Optional[str], typer.Option(help="Label to spread evenly over the parts (e.g. mineral).")] = None,
    output_dir: Annotated[Optional[Path], typer.Option("--output-dir", "-o", help="Folder for train.h5, val.h5, test.h5 (default: NAME_split/ beside the file).")] = None,
    seed: Seed = 0,
    force: Force = False,
) -> None:
    """Split a dataset into train / validation / test files, keeping each group on one side."""
    from matgen.cli.show import print_split
    from matgen.data import read, write
    from matgen.data.split import split as split_dataset

    try:
        parts_f = [float(x) for x in fractions.split(",")]
    except ValueError:
        raise MatgenError(f"--fractions '{fractions}' should be numbers such as 0.7,0.15,0.15") from None
    parts = split_dataset(read(path), parts_f, by=by, seed=seed, stratify=stratify)
    output_dir = output_dir or path.with_name(path.stem + "_split")
    existing = [output_dir / f"{name}.h5" for name in parts if (output_dir / f"{name}.h5").exists()]
    if existing and not force:
        raise MatgenError(f"{existing[0]} exists; pass --force to overwrite the parts or choose another --output-dir")
    written = {name: write(output_dir / f"{name}.h5", part) for name, part in parts.items()}
    print_split(parts, written, by)


@app.command()
def check(paths: Annotated[List[Path], typer.Argument(help="Dataset files to validate.", show_default=False)]) -> None:
    """Validate dataset files against the format and list every problem (exit 2 if any)."""
    from matgen.data.check import check_file

    failed = 0
    for path in paths:
        problems = check_file(path)
        if problems:
            failed += 1
            typer.secho(f"{path}: {len(problems)} problem(s)", fg="red", err=True)
            for problem in problems:
                typer.echo(f"  - {problem}", err=True)
        else:
            typer.secho(f"{path}: ok", fg="green")
    if failed:
        raise typer.Exit(2)
