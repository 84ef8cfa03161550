"""`matgen demo`: the main job on built-in example data (grows into a full campaign in later releases)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def demo(
    output_dir: Annotated[Path, typer.Argument(help="Folder for the example lab files, datasets and pictures.")] = Path("demo"),
    seed: Annotated[int, typer.Option(help="Random seed of the example data.")] = 0,
    n: Annotated[int, typer.Option("--n", help="Spinodal micrographs to build (about 30 ms each on 2 CPU cores).")] = 2000,
    size: Annotated[int, typer.Option(help="Side of the spinodal micrographs, px.")] = 64,
) -> None:
    """The main job on built-in data: build the spinodal dataset (micrographs with modulus in GPa and density in
    g/cm³) and draw it, then run the data pipeline on example lab files: write, import, check, split, plot."""
    from matgen.cli.progress import progress_bar
    from matgen.cli.show import console, print_info
    from matgen.data import read
    from matgen.demo import run_demo

    with progress_bar("demo") as progress:
        result = run_demo(output_dir, seed=seed, progress=progress, spinodal_n=n, spinodal_size=size)
    console.print(f"example lab files written to {output_dir / 'lab'}")
    for name, path in result.datasets.items():
        print_info(read(path), path)
        problems = result.problems[name]
        status = "[green]ok[/green]" if not problems else f"[red]{len(problems)} problem(s)[/red]"
        console.print(f"check {path}: {status}; picture {result.pictures[name]}")
    parts = ", ".join(f"{n} {p}" for n, p in result.splits["raman"].items())
    console.print(f"raman split by rruff_id: {parts}")
    if any(result.problems.values()):
        raise typer.Exit(1)
