"""The progress callback: the library reports work through it and never prints; the CLI draws a bar."""

from __future__ import annotations

from typing import Callable

#: ``progress(done, total, message)``: ``done`` of ``total`` units of work, and what is being done.
Progress = Callable[[int, int, str], None]


def no_progress(done: int, total: int, message: str) -> None:
    """A progress callback that does nothing."""


def labelled(progress: Progress, label: str) -> Progress:
    """``progress`` with every message prefixed by ``label`` (``"round 2: sampling: step 3/25"``)."""

    def update(done: int, total: int, message: str) -> None:
        progress(done, total, f"{label}: {message}" if message else label)

    return update
