"""`matgen`: the root command. Start-up imports neither torch nor numpy, so --help is instant."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from matgen.cli.augment import augment
from matgen.cli.campaign import app as campaign_app
from matgen.cli.data import app as data_app
from matgen.cli.demo import demo
from matgen.cli.distill import distill
from matgen.cli.errors import MatgenGroup
from matgen.cli.evaluate import evaluate
from matgen.cli.inpaint import inpaint
from matgen.cli.sample import TARGET_OPTIONS, interpolate, sample
from matgen.cli.simulate import simulate
from matgen.cli.sweep import sweep
from matgen.cli.train import reflow, train
from matgen.version import __version__

app = typer.Typer(
    cls=MatgenGroup,
    name="matgen",
    help="Materials inverse design with generative models: import lab data (micrographs, XRD, Raman, "
    "EELS), train conditional diffusion models and VAEs, and sample candidates for target properties.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(data_app, name="data")
app.add_typer(campaign_app, name="campaign")
app.command()(demo)
app.command()(train)
app.command()(reflow)
app.command()(distill)
app.command(context_settings=TARGET_OPTIONS)(sample)
app.command()(interpolate)
app.command(context_settings=TARGET_OPTIONS)(inpaint)
app.command(context_settings=TARGET_OPTIONS)(sweep)
app.command()(simulate)
app.command()(augment)
app.command()(evaluate)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"matgen {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = None,
) -> None:
    """matgen: conditional generative models for microstructures and spectra."""


def run() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    run()
