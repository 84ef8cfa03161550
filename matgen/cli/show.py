"""Rich tables for the data commands (rendering only; the numbers come from matgen.data.summary)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from matgen.cli.progress import print_warnings
from matgen.common.distributed import is_main_process
from matgen.data.dataset import Dataset
from matgen.data.summary import describe_signals, summarize_conditions

console = Console(soft_wrap=False, quiet=not is_main_process())  # under torchrun rank 0 alone prints


def print_info(ds: Dataset, path: Path) -> None:
    """The dataset as two tables: the signals, then one row per condition."""
    head = Table(title=str(path), show_header=False, title_justify="left")
    head.add_column(style="bold")
    head.add_column()
    for key, value in describe_signals(ds).items():
        head.add_row(key, value)
    console.print(head)
    if not ds.conditions:
        console.print("no conditions")
        return
    table = Table(title="conditions", title_justify="left")
    for column in ("name", "role", "unit", "values", "missing"):
        table.add_column(column, justify="right" if column == "missing" else "left",
                         overflow="fold", max_width=70 if column == "values" else None)
    for s in summarize_conditions(ds):
        table.add_row(s.name, s.role, s.unit, s.values, str(s.missing) if s.missing else "")
    console.print(table)


def print_import(result, output: Path) -> None:
    """One line on what was imported and where it went, then the skipped files, then the warnings (stderr, yellow)."""
    dataset = getattr(result, "dataset", None)
    if dataset is not None:
        shape = " × ".join(str(s) for s in dataset.signals.shape[1:])
        labels = [n for n, c in dataset.conditions.items() if c.role != "meta"]
        console.print(
            f"[green]imported[/green] {len(dataset)} {dataset.kind} row(s) of {shape}"
            + (f" with {', '.join(labels)}" if labels else "") + f" → {output}"
        )
    else:
        console.print(f"[green]imported[/green] {len(result.structures)} structure(s) → {output}")
    if result.skipped:
        console.print(f"[yellow]skipped {len(result.skipped)} file(s):[/yellow]")
        for where, reason in result.skipped:
            console.print(f"  - {where}: {reason}", soft_wrap=True, markup=False)
    print_warnings(getattr(result, "warnings", []))


def print_split(parts: dict[str, Dataset], written: dict[str, Path], by: str | None) -> None:
    """Rows (and groups) per part, with the file each went to."""
    from matgen.data.split import group_keys

    table = Table(title="split" + (f" by {by}" if by else ""), title_justify="left")
    for column in ("part", "rows", "groups", "file"):
        table.add_column(column)
    for name, part in parts.items():
        groups = len(set(group_keys(part, by))) if len(part) else 0
        table.add_row(name, str(len(part)), str(groups), str(written[name]))
    console.print(table)
