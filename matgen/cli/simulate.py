"""`matgen simulate SAMPLES.h5 --simulator NAME`: add simulated properties to a dataset file; thin calls into matgen.simulators."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from matgen.cli.options import Executor, Force, check_output
from matgen.errors import MatgenError

Samples = Annotated[Optional[Path], typer.Argument(help="Dataset file (.h5) of the samples to simulate.", show_default=False)]
SimulatorName = Annotated[Optional[str], typer.Option(
    "--simulator", "-s", help="A built-in simulator (elastic: moduli in GPa and density in g/cm3 of micrographs; "
    "xrd-phases: weight fractions in wt%; eels-thickness: t/λ; raman-bands: band position and FWHM in cm-1), "
    "an entry-point name, or a Python hook package.module:function (with --outputs). --list shows them all.",
    show_default=False)]
Workers = Annotated[int, typer.Option(help="Parallel worker processes (threads for --command) with --executor local.")]
Timeout = Annotated[Optional[float], typer.Option(
    "--timeout", help="Seconds a batch may run before it is killed (on Dask: given up, its thread left to finish); its "
    "rows are then retried one by one and a row that still times out is recorded as failed.", show_default=False)]
Options = Annotated[Optional[List[str]], typer.Option(
    "--option", help="A simulator option KEY=VALUE, repeatable (e.g. --option phases=Al,SiC --option plane=strain).",
    show_default=False)]


def parse_options(pairs: List[str]) -> dict:
    """Simulator options from KEY=VALUE strings: numbers, true/false and none are converted, the rest kept as text."""
    options = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise MatgenError(f"--option '{pair}' should be KEY=VALUE, e.g. --option plane=strain")
        value: object = text.strip()
        lowered = text.strip().lower()
        if lowered in ("true", "false"):
            value = lowered == "true"
        elif lowered == "none":
            value = None
        else:
            for convert in (int, float):
                try:
                    value = convert(text)
                    break
                except ValueError:
                    pass
        options[key.strip().replace("-", "_")] = value
    return options


def simulate(
    samples: Samples = None,
    simulator: SimulatorName = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Dataset file to write (.h5); default: "
                                                   "SAMPLES-SIMULATOR.h5 beside SAMPLES.", show_default=False)] = None,
    in_place: Annotated[bool, typer.Option("--in-place", help="Write into SAMPLES itself (replaced atomically; a value "
                                           "the simulator could not compute keeps the one it had).")] = False,
    min_evaluated: Annotated[float, typer.Option(help="Write nothing and exit 1 when less than this share (0..1) of "
                                                 "the rows was evaluated.")] = 0.5,
    workers: Workers = 1,
    executor: Executor = None,
    timeout: Timeout = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Samples per simulator call (default: the simulator's).",
                                                      show_default=False)] = None,
    option: Options = None,
    command: Annotated[Optional[str], typer.Option(
        help="An external program instead of --simulator, e.g. 'python fem.py {input} {output}': run without a shell; "
             "{input} is an HDF5 dataset of a batch of samples, {output} the file it writes (HDF5, or CSV with "
             "--option output_suffix=.csv: one column per output, one row per sample).", show_default=False)] = None,
    outputs: Annotated[Optional[str], typer.Option(
        help="What a --command or Python hook returns, NAME:UNIT,... (e.g. modulus:GPa,density:g/cm3).",
        show_default=False)] = None,
    store: Annotated[Optional[Path], typer.Option(
        help="Folder keeping each finished batch (JSON); a rerun with the same folder evaluates only the rows not "
             "there yet (resume after a crash).", show_default=False)] = None,
    png: Annotated[bool, typer.Option("--png/--no-png", help="Also draw OUTPUT.png of the samples coloured by the "
                                      "first simulated property.")] = False,
    list_simulators: Annotated[bool, typer.Option("--list", help="List the simulators: kinds they take, outputs "
                                                  "with units, then exit.")] = False,
    force: Force = False,
) -> None:
    """Simulate the properties of samples into SAMPLES-SIMULATOR.h5: matgen simulate SAMPLES.h5 --simulator elastic.

    Each output becomes a condition (role property, with its unit); a sample the simulator could not
    evaluate gets NaN (or keeps the value it had) and its reason in the condition simulation_error.
    With --in-place the properties go into SAMPLES itself.
    """
    from matgen.cli.show import console

    if list_simulators:
        _print_list(console)
        return
    if samples is None:
        raise MatgenError("give the samples file: matgen simulate SAMPLES.h5 --simulator NAME (or --list)")
    if in_place and output is not None:
        raise MatgenError("give --in-place (write into SAMPLES) or --output FILE, not both")
    if not 0.0 <= min_evaluated <= 1.0:
        raise MatgenError(f"--min-evaluated is a share between 0 and 1, got {min_evaluated}")
    sim = _simulator(simulator, command, outputs, parse_options(option or []))
    target = samples if in_place else output or samples.with_name(f"{samples.stem}-{_slug(sim.name)}.h5")
    if not in_place and target.exists() and target.resolve() != samples.resolve() and not force:
        raise MatgenError(f"{target} exists; pass --force to overwrite it, --output to choose another file, or "
                          "--in-place to write into SAMPLES")
    check_output(target, force=True)
    from matgen.cli.progress import progress_bar
    from matgen.data import read, write
    from matgen.simulators import run_simulator, with_properties

    data = read(samples)
    with progress_bar(f"simulate {sim.name}") as progress:
        evaluation = run_simulator(sim, data, workers=workers, batch_size=batch_size, timeout_s=timeout,
                                   store=store, progress=progress, executor=executor)
    result = with_properties(data, sim, evaluation)
    _print_summary(console, sim, evaluation, result)
    evaluated = len(evaluation) - int(evaluation.failed.sum())
    if evaluated < min_evaluated * len(evaluation) or (evaluated == 0 and min_evaluated > 0):
        from matgen.cli.errors import print_error
        from matgen.simulators.validate import failure_reasons

        reason = next(iter(failure_reasons(evaluation, 1)), ("unknown", 0))[0]
        print_error(f"only {evaluated} of {len(evaluation)} row(s) were evaluated (--min-evaluated {min_evaluated:g}); "
                    f"nothing was written; commonest reason: {reason}")
        raise typer.Exit(1)
    write(target, result)
    console.print(f"[green]simulated[/green] {len(data)} row(s) with {sim.name} → {target}", highlight=False,
                  soft_wrap=True)  # a path the user copies stays on one line
    if png:
        from matgen.data.plot import plot_dataset

        color = next((o.name for o in sim.outputs if not result.conditions[o.name].missing.all()), None)
        picture = plot_dataset(result, target.with_suffix(".png"), color_by=color, title=f"{target.name}: {sim.name}")
        console.print(f"picture {picture}", highlight=False)


def _slug(name: str) -> str:
    """A file-name-safe form of a simulator's name."""
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "simulated"


def _simulator(name: str | None, command: str | None, outputs: str | None, options: dict):
    from matgen.simulators import get_simulator

    if (name is None) == (command is None):
        raise MatgenError("give one of --simulator NAME or --command 'PROGRAM ... {input} {output}' "
                          "(matgen simulate --list shows the names)")
    if outputs is not None:
        options["outputs"] = outputs
    if command is not None:
        import shlex

        try:
            argv = shlex.split(command)
        except ValueError as exc:
            raise MatgenError(f"--command '{command}' cannot be split into arguments ({exc})") from None
        return get_simulator(argv, **options)
    return get_simulator(name, **options)


def _print_list(console) -> None:
    from rich.table import Table

    from matgen.simulators import get_simulator, simulator_names

    table = Table(title="simulators", title_justify="left")
    for column in ("name", "takes", "outputs", "description"):
        table.add_column(column)
    for name in simulator_names():
        try:
            sim = get_simulator(name)
        except MatgenError as exc:
            table.add_row(name, "?", "?", f"[red]{exc}[/red]")
            continue
        outs = ", ".join(f"{o.name} ({o.unit})" if o.unit else o.name for o in sim.outputs)
        table.add_row(name, ", ".join(sim.kinds) or "any", outs, sim.description)
    console.print(table)
    console.print("also: a Python hook package.module:function --outputs NAME:UNIT,...; an external program "
                  "--command 'PROGRAM ... {input} {output}' --outputs NAME:UNIT,...", highlight=False)


def _print_summary(console, sim, evaluation, result) -> None:
    from rich.table import Table

    from matgen.simulators.validate import failure_reasons, summarize_outputs

    table = Table(title=f"{sim.name}: {len(evaluation) - int(evaluation.failed.sum())} of {len(evaluation)} evaluated",
                  title_justify="left")
    for column, justify in (("output", "left"), ("median", "right"), ("min", "right"), ("max", "right"),
                            ("unit", "left")):
        table.add_column(column, justify=justify)
    for row in summarize_outputs(sim.bind(result) if hasattr(sim, "bind") else sim, evaluation):
        table.add_row(row.name, f"{row.median:.4g}", f"{row.minimum:.4g}", f"{row.maximum:.4g}", row.unit or "–")
    console.print(table)
    failed = int(evaluation.failed.sum())
    if failed:
        console.print(f"[yellow]{failed} failed[/yellow] (no value from this run; a value the row had is kept; reason in simulation_error):", highlight=False)
        for reason, count in failure_reasons(evaluation):
            console.print(f"  {count} × {reason}", highlight=False, soft_wrap=True)
