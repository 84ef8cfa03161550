"""Options shared by the commands, as ``Annotated`` aliases, and help text that reads defaults from the library.

A default is said once: where the library holds it (a config dataclass such as
:class:`matgen.train.TrainConfig`), the help reads it from there with :func:`default_help`
instead of repeating it by hand. Nothing here imports torch or numpy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

RunDir = Annotated[Path, typer.Argument(help="A run directory written by `matgen train -o`.", show_default=False)]
DatasetFile = Annotated[Path, typer.Argument(help="A matgen dataset file (.h5).", show_default=False)]
OutputH5 = Annotated[Path, typer.Option("--output", "-o", help="Dataset file to write (.h5).", show_default=False)]
OptionalOutputH5 = Annotated[Optional[Path], typer.Option("--output", "-o", help="Dataset file to write (.h5).",
                                                          show_default=False)]
Device = Annotated[str, typer.Option(help="Where to run: auto (CUDA when available), cpu or cuda.")]
Seed = Annotated[int, typer.Option(help="Random seed: the same seed gives the same result.")]
SampleSeed = Annotated[int, typer.Option(help="Random seed: sample i uses SEED + i, so any sample can be regenerated "
                                              "alone.")]
Force = Annotated[bool, typer.Option("--force", help="Overwrite an existing output.")]
Backend = Annotated[str, typer.Option(help="Under torchrun: how the processes talk, auto (nccl on CUDA, gloo on the "
                                           "CPU), nccl or gloo (docs/scaling.md).")]
Executor = Annotated[Optional[str], typer.Option(
    help="Where simulator batches run: local (this machine: --workers processes, the default), dask://HOST:PORT "
    "(the Dask scheduler there; its workers need matgen and the simulator installed) or dask-local[:N] (a Dask cluster "
    "of N worker processes on this machine, default --workers). Dask needs pip install \"matgen\\[cluster]\"; "
    "docs/scaling.md.", show_default=False)]
Png = Annotated[bool, typer.Option("--png/--no-png", help="Also draw OUTPUT.png: a grid of micrographs or the spectra "
                                   "overlaid.")]


def check_output(output: Path, force: bool, what: str = "a matgen dataset file", suffixes=(".h5", ".hdf5")) -> None:
    """Refuse, before any work, an output with the wrong suffix, one that exists (without
    ``--force``) or one that cannot be written."""
    from matgen.common.files import check_writable
    from matgen.errors import MatgenError

    check_writable(output)
    if output.suffix.lower() not in suffixes:
        raise MatgenError(f"--output {output} should end in {suffixes[0]} ({what})")
    if output.exists() and not force:
        raise MatgenError(f"{output} exists; pass --force to overwrite it or choose another --output")


def show_value(value) -> str:
    """A default as --help prints it: numbers with ``g``, ranges as LOW..HIGH, sequences comma-separated."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if hasattr(value, "low") and hasattr(value, "high"):  # a Range
        return f"{show_value(value.low)}..{show_value(value.high)}"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (tuple, list)):
        return ",".join(show_value(v) for v in value)
    return str(value)


def default_help(text: str, defaults, name: str) -> str:
    """``text`` followed by `` (default X)`` with X the field ``name`` of the dataclass instance ``defaults``."""
    return f"{text} (default {show_value(getattr(defaults, name))})."
