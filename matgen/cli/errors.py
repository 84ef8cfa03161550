"""Turn bad-input errors into one red line and exit code 2 (no traceback)."""

from __future__ import annotations

import click
import typer
from typer.core import TyperGroup

from matgen.errors import MatgenError

EXIT_BAD_INPUT = 2


def print_error(message: str) -> None:
    """Print ``error: message`` in red on stderr, as one line."""
    message = " ".join(str(message).split())
    click.echo(click.style("error: ", fg="red", bold=True) + message, err=True)


class MatgenGroup(TyperGroup):
    """The root command group: a MatgenError or OSError from any command becomes one red line, exit 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except MatgenError as exc:
            print_error(str(exc))
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except OSError as exc:
            where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
            print_error(f"{where}{exc.strerror or exc}; check the path and its permissions")
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except KeyboardInterrupt:
            print_error("interrupted; files already written are complete, nothing half-written was kept")
            raise typer.Exit(130) from None
