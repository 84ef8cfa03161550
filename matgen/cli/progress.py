"""What the commands say on stderr while they work: a rich progress bar behind the library's
``progress(done, total, message)`` callback, and warnings as yellow lines.

Under torchrun only rank 0 speaks: the consoles of the other processes are quiet.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from matgen.common.distributed import is_main_process

console = Console(stderr=True, quiet=not is_main_process())


@contextlib.contextmanager
def progress_bar(description: str) -> Iterator[Callable[[int, int, str], None]]:
    """Yield a callback that advances a bar labelled ``description`` (silent when not a terminal)."""
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("eta"), TimeRemainingColumn(), TextColumn("[dim]{task.fields[item]}"),
        console=console, transient=True, disable=not console.is_terminal,
    ) as bar:
        task = bar.add_task(description, total=None, item="")

        def update(done: int, total: int, message: str) -> None:
            bar.update(task, completed=done, total=total, item=message[-40:])

        yield update


def print_warnings(warnings: list[str]) -> None:
    """Each warning as one yellow line on stderr."""
    from rich.text import Text

    for warning in warnings:
        console.print(Text.assemble(("warning: ", "bold yellow"), (warning, "yellow")), soft_wrap=True)
