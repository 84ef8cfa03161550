"""One matgen process at a time per folder: an advisory lock file that says who holds it.

Two processes writing the same run, campaign or simulator store would interleave their files;
:func:`folder_lock` makes the second one stop at once with a clear error instead. The lock is
``flock`` on ``FOLDER/.matgen.lock`` (released by the operating system when the process dies, so
a crash or ``kill -9`` leaves no stale lock), re-entrant within a process, and a no-op where
``fcntl`` does not exist (Windows).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from matgen.errors import MatgenError

LOCK_NAME = ".matgen.lock"

_held: dict[Path, int] = {}  # folder -> how many times this process holds it
_guard = threading.Lock()


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, what: str = "folder") -> Iterator[Path]:
    """Hold ``folder`` (created if needed) for this process while the block runs.

    Args:
        what: what the folder is (run, campaign, simulator store), for the error message.

    Raises:
        MatgenError: another process holds it (the message gives its pid and command).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    key = folder.resolve()
    with _guard:
        if key in _held:
            _held[key] += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield folder
        finally:
            with _guard:
                _held[key] -= 1
        return
    handle = _acquire(folder, what)
    with _guard:
        _held[key] = 1
    try:
        yield folder
    finally:
        with _guard:
            del _held[key]
        with contextlib.suppress(FileNotFoundError):
            (folder / LOCK_NAME).unlink()
        handle.close()  # releases the flock


def _acquire(folder: Path, what: str):
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no advisory locks, no protection
        return open(os.devnull, "w")
    path = folder / LOCK_NAME
    for _ in range(10):
        handle = open(path, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise MatgenError(f"{folder} is in use: this {what} is being written by {holder}; wait for it to finish "
                              "(or stop it), then run again") from None
        try:
            same = os.fstat(handle.fileno()).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:  # not a file its last holder removed while we opened it
            handle.seek(0)
            handle.truncate()
            command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:3]]) if sys.argv and sys.argv[0] else "python"
            handle.write(f"matgen process {os.getpid()} ({command})")
            handle.flush()
            return handle
        handle.close()
    raise MatgenError(f"{folder}: could not lock this {what} (its lock file keeps changing); try again")
