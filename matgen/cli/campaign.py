"""`matgen campaign run|resume|status`: closed-loop campaigns, thin calls into matgen.campaign.

The per-round table is rendered here from the report the library returns; the library never prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from matgen.cli.options import Executor

app = typer.Typer(
    help="Closed-loop inverse design: sample candidates for target properties, validate them with a simulator, "
    "add what was learned to the data, fine-tune, repeat. State lives in a campaign directory; a killed campaign "
    "resumes without losing or repeating a simulation. docs/campaign.md describes the config.",
    no_args_is_help=True,
)

Directory = Annotated[Path, typer.Argument(help="A campaign directory written by `matgen campaign run`.",
                                           show_default=False)]
Rounds = Annotated[Optional[int], typer.Option(help="Run at most this many rounds (extends or shortens the "
                                               "campaign; saved in its campaign.json).", show_default=False)]
Budget = Annotated[Optional[int], typer.Option(help="Simulator calls at most over all rounds (candidates "
                                               "simulated; baselines not counted).", show_default=False)]
StopAfterHits = Annotated[Optional[int], typer.Option(help="Stop once this many candidates meet every target.",
                                                      show_default=False)]
MaxFailureRate = Annotated[Optional[float], typer.Option(help="Stop when more than this fraction (0..1) of a "
                                                         "round's candidates fail in the simulator.",
                                                         show_default=False)]


@app.command()
def run(
    config: Annotated[Path, typer.Argument(help="Campaign config (.toml): starting data or run, \\[targets] in the "
                                           "properties' units (e.g. density = \"2.95 ± 0.5%\" in g/cm3, modulus = "
                                           "\">= 150\" in GPa), candidates, rounds, simulator, fine-tune steps.",
                                           show_default=False)],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Campaign directory (default: "
                                                   "campaigns/CONFIG_NAME). Running the same config into the same "
                                                   "directory again continues it.", show_default=False)] = None,
    rounds: Rounds = None,
    budget: Budget = None,
    stop_after_hits: StopAfterHits = None,
    max_failure_rate: MaxFailureRate = None,
    executor: Executor = None,
) -> None:
    """Run a campaign from a TOML config: baselines, then rounds of sample → simulate → relabel → fine-tune."""
    from matgen.campaign import Campaign, read_campaign_config

    campaign_config = read_campaign_config(config)
    for name, value in (("rounds", rounds), ("budget", budget), ("stop_after_hits", stop_after_hits),
                        ("max_failure_rate", max_failure_rate), ("executor", executor)):
        if value is not None:
            setattr(campaign_config, name, value)
    campaign = Campaign(campaign_config.check(), output or Path("campaigns") / config.stem)
    _run(lambda progress, on_summary: campaign.run(progress, on_summary))


@app.command()
def resume(
    directory: Directory,
    rounds: Rounds = None,
    budget: Budget = None,
    stop_after_hits: StopAfterHits = None,
    max_failure_rate: MaxFailureRate = None,
    executor: Executor = None,
) -> None:
    """Continue a campaign where it stopped (after a crash, Ctrl-C or kill -9): nothing lost, nothing simulated twice."""
    from matgen.campaign import Campaign

    campaign = Campaign.open(directory, executor=executor, rounds=rounds, budget=budget,
                             stop_after_hits=stop_after_hits, max_failure_rate=max_failure_rate)
    _run(lambda progress, on_summary: campaign.run(progress, on_summary))


@app.command()
def status(directory: Directory) -> None:
    """Show what a campaign has done: its state, rounds and hits so far, and the table of finished rounds."""
    from matgen.campaign import Campaign, status as read_status
    from matgen.cli.show import console

    now = read_status(directory)
    colour = {"done": "green", "stopped": "red", "interrupted": "yellow"}.get(now.status, "cyan")
    where = f", round {now.round} {now.phase}" if now.phase else ""
    console.print(f"[{colour}]{now.status}[/{colour}]{where}: {now.rounds_done}/{now.rounds_planned} rounds done, "
                  f"{now.hits} hit(s), {now.evaluated} candidate(s) simulated in the rounds", highlight=False)
    if now.reason:
        console.print(now.reason, highlight=False, markup=False)
    if now.status == "interrupted":
        console.print(f"continue it with: matgen campaign resume {directory}", highlight=False)
    if now.summaries:
        print_table(Campaign.open(directory).report)


def _run(call) -> None:
    from matgen.cli.progress import console as err_console
    from matgen.cli.progress import progress_bar
    from matgen.cli.show import console

    def on_summary(summary) -> None:
        err_console.print(_line(summary), highlight=False)

    with progress_bar("campaign") as progress:
        report = call(progress, on_summary)
    print_table(report)
    for name, path in report.pictures.items():
        console.print(f"{name}: {path}", highlight=False)
    console.print(f"report: {Path(report.directory) / 'report.json'}", highlight=False)
    if report.status == "stopped":
        from matgen.cli.errors import print_error

        print_error(f"campaign stopped: {report.reason}")
        raise typer.Exit(1)
    console.print(f"[green]{report.status}[/green]: {report.reason}", highlight=False)


def _line(summary) -> str:
    errors = ", ".join(f"{k} {100 * v:.1f}%" for k, v in summary.median_error.items() if v == v)
    return (f"{summary.name}: {summary.hits}/{summary.candidates} hits, {summary.failed} failed"
            + (f", median error {errors}" if errors else ""))


def print_table(report) -> None:
    """The per-round table (baselines first) of a campaign report."""
    from rich.table import Table

    from matgen.campaign import table
    from matgen.cli.show import console

    columns, rows = table(report)
    out = Table(title=f"campaign {report.directory} · targets: {'; '.join(report.targets.values())}",
                title_justify="left")
    for column in columns:
        best = column.startswith("best")
        out.add_column(column, justify="left" if best or column == "round" else "right", overflow="fold",
                       max_width=48 if best else None)
    for row in rows:
        out.add_row(*row, style="dim" if not row[0].startswith("round") else None)
    if not console.is_terminal:  # a file or pipe: wide enough for one line per round
        from rich.console import Console

        console = Console(width=max(console.width, 200), soft_wrap=False)
    console.print(out)
