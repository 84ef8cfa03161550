"""Turn bad-input errors into one red line and exit code 2 (no traceback)."""

from __future__ import annotations

import errno
import re

import click
import typer
from typer.core import TyperGroup

from matgen.common.distributed import RankError, is_main_process
from matgen.errors import MatgenError

EXIT_BAD_INPUT = 2


def print_error(message: str, everywhere: bool = False) -> None:
    """Print ``error: message`` in red on stderr, as one line; under torchrun on rank 0 alone (every process
    meets the same bad input) unless ``everywhere`` (an error of this process alone)."""
    if not (everywhere or is_main_process()):
        return
    message = " ".join(str(message).split())
    click.echo(click.style("error: ", fg="red", bold=True) + message, err=True)


_TEMPORARY_NAME = re.compile(r"\.([^/]+?)\.tmp-\d+-[0-9a-f]+")  # atomic_path's temporary files
_ADVICE = {
    errno.ENOSPC: "no space left on the device; free some space or write to another disk (nothing half-written "
                  "was kept)",
    errno.EDQUOT: "disk quota exceeded; free some space or write to another disk (nothing half-written was kept)",
    errno.EROFS: "the file system is read-only; write somewhere else",
    errno.EACCES: "permission denied; check the path and its permissions",
    errno.EPERM: "operation not permitted; check the path and its permissions",
    errno.ENOENT: "no such file or directory; check the path",
    errno.EISDIR: "is a folder, not a file; give a file name",
}


def describe_os_error(exc: OSError) -> str:
    """One line for an operating-system error: the file it concerns (the final name, not a
    temporary one) and what to do, recognising h5py's messages that carry only ``errno = N``."""
    code = exc.errno
    if code is None:
        found = re.search(r"errno = (\d+)", str(exc))
        code = int(found.group(1)) if found else None
    name = exc.filename or (re.search(r"filename = '([^']+)'", str(exc)) or [None, None])[1]
    where = _TEMPORARY_NAME.sub(r"\1", str(name)) + ": " if name else ""
    advice = _ADVICE.get(code)
    if advice is None:
        advice = f"{exc.strerror or exc}; check the path and its permissions"
    return where + advice


class MatgenGroup(TyperGroup):
    """The root command group: a MatgenError or OSError from any command becomes one red line, exit 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except MatgenError as exc:
            print_error(str(exc), everywhere=isinstance(exc, RankError))
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except OSError as exc:
            print_error(describe_os_error(exc))
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except KeyboardInterrupt:
            print_error("interrupted; files already written are complete, nothing half-written was kept")
            raise typer.Exit(130) from None
