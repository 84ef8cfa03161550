"""`matgen sample RUN -o OUT.h5 --target-NAME VALUE ...` and `matgen interpolate RUN ...`: thin calls into matgen.sample.

``--regressor REG_RUN --regressor-scale S`` adds regressor guidance: the targets of the regressor's
conditions steer the diffusion sampler (see :mod:`matgen.sample.regressor`).

The target options depend on the run (its conditions), which the command line cannot know
before it reads the run, so the command accepts unknown ``--target-NAME VALUE`` arguments
(``TARGET_OPTIONS`` context settings) and parses them itself; ``--target NAME=VALUE`` is the
same thing as a declared, repeatable option.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from matgen.cli.options import Backend, Device, Force, OptionalOutputH5, Png, RunDir, SampleSeed, check_output
from matgen.cli.progress import print_warnings
from matgen.errors import MatgenError
from matgen.sample.options import DEFAULTS

#: Context settings of `matgen sample`: let --target-NAME VALUE through to ctx.args.
TARGET_OPTIONS = {"allow_extra_args": True, "ignore_unknown_options": True}


TARGET_HELP = (
    "A target as NAME=VALUE, repeatable; the same as --target-NAME VALUE (NAME with - or _, e.g. "
    "--target-anneal-time 300, --target-density 2.9, --target-mineral quartz). VALUE is in the condition's unit; "
    "LOW..HIGH spreads the samples evenly over a range; a condition not given is left unconditioned. "
    "--list-targets shows the run's names, units and training ranges."
)


def parse_target_args(args: List[str], pairs: List[str]) -> dict[str, str]:
    """Targets from ``--target NAME=VALUE`` pairs and the extra ``--target-NAME VALUE`` / ``--target-NAME=VALUE`` args.

    Raises:
        MatgenError: an argument that is neither, or a target without a value.
    """
    targets: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise MatgenError(f"--target '{pair}' should be NAME=VALUE, e.g. density=2.9 or anneal_time=100..300")
        targets[name.strip()] = value.strip()
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--target-") or arg == "--target-":
            raise MatgenError(f"unexpected argument '{arg}'; give targets as --target-NAME VALUE or --target NAME=VALUE, "
                              "after the run directory (matgen sample RUN --target-NAME VALUE ...)")
        name, sep, value = arg[len("--target-"):].partition("=")
        if not sep:
            if i + 1 >= len(args):
                raise MatgenError(f"{arg} needs a value, e.g. {arg} 2.9 (in the condition's unit)")
            value, i = args[i + 1], i + 1
        targets[name] = value
        i += 1
    for name, value in targets.items():
        if value.strip().lower() in ("nan", "none", ""):
            raise MatgenError(f"target {name} '{value}' is not a number; leave the option out to sample without "
                              f"conditioning on {name}")
    return targets


def sample(
    ctx: typer.Context,
    run_dir: RunDir,
    output: OptionalOutputH5 = None,
    target: Annotated[Optional[List[str]], typer.Option(help=TARGET_HELP, show_default=False)] = None,
    n: Annotated[int, typer.Option("-n", "--n", help="Number of samples.")] = DEFAULTS.n,
    sampler: Annotated[str, typer.Option(help="auto (the run kind's default) or a sampler of the run's kind: diffusion "
                                         "ddpm, ddim, dpmpp-2m, heun; flow euler, heun, midpoint, dpmpp-2m; "
                                         "consistency consistency (a VAE decodes prior draws).")] = DEFAULTS.sampler,
    steps: Annotated[int, typer.Option(help="Sampler steps (network calls: 1 per step, 2 for heun); a consistency run: "
                                              "1, 2 or 4, default the --nfe it was distilled for.")] = DEFAULTS.steps,
    guidance: Annotated[float, typer.Option(help="Classifier-free guidance weight w: 0 = conditional model alone, "
                                            "larger = follow the targets more closely.")] = DEFAULTS.guidance,
    seed: SampleSeed = DEFAULTS.seed,
    batch_size: Annotated[int, typer.Option(help="Samples per network call (does not change the "
                                                 "samples).")] = DEFAULTS.batch_size,
    device: Device = "auto",
    png: Png = False,
    grey: Annotated[bool, typer.Option("--grey", help="Label-map runs: also write OUTPUT-grey.h5, the soft maps in "
                                       "[0, 1] before thresholding at 0.5.")] = False,
    list_targets: Annotated[bool, typer.Option("--list-targets", help="List the run's target names with units and "
                                               "training ranges, then exit.")] = False,
    regressor: Annotated[Optional[Path], typer.Option(
        help="A regressor run (matgen train --model regressor) that steers the diffusion sampler towards the targets "
             "of its conditions (regressor guidance); targets of the run's own conditions still condition it. Both "
             "runs must share the data's shape and normalisation and the noise schedule.", show_default=False)] = None,
    regressor_scale: Annotated[float, typer.Option(
        help="Regressor guidance scale s (with --regressor): the pull towards the regressor's targets, whose likelihood "
             "width is one training standard deviation of each property; 0 = none.")] = DEFAULTS.regressor_scale,
    physics_guidance: Annotated[Optional[str], typer.Option(
        help="A simulator with a differentiable form that steers the sampler towards the targets of its outputs at "
             "every step (physics-constrained generation): elastic (micrographs: e.g. --target-modulus-x 146 GPa for a "
             "stiffness the model alone misses), xrd-phases (--target-wt-NAME in wt%), raman-bands (--target-temperature "
             "K and --target-stress GPa through the mineral's band shift), eels-thickness (--target-thickness t/λ). A "
             "target may be an output only, not a condition of the run.",
        show_default=False)] = None,
    physics_scale: Annotated[float, typer.Option(
        help="Physics guidance strength: Gauss-Newton steps towards the targets per denoiser call (0 = none; 1 meets "
             "the linearised targets at each call; more over-relaxes).")] = DEFAULTS.physics_scale,
    validate: Annotated[Optional[str], typer.Option(
        help="After sampling, simulate the samples (a simulator name, e.g. elastic, or package.module:function) and "
             "print requested vs achieved per target: median achieved, median and mean |error| in the target's unit, "
             "relative error and the fraction within the simulator's tolerance (xrd-phases ±3 wt%; raman-bands: the "
             "band shift of 30 K, read as temperature at the requested stress and as stress at the requested "
             "temperature; otherwise 5%). OUTPUT then holds the achieved properties and the requests as NAME_target.", show_default=False)] = None,
    force: Force = False,
    backend: Backend = "auto",
) -> None:
    """Sample candidates from a trained run for target conditions: matgen sample RUN -o OUT.h5 --target-NAME VALUE ...

    Under `torchrun --nproc-per-node N -m matgen sample ...` the processes share the batches; rank 0
    writes the samples, the same as one process's."""
    from matgen.cli.show import console
    from matgen.runs import load_run, read_config
    from matgen.sample.targets import describe_given

    targets = parse_target_args(list(ctx.args), target or [])
    if physics_guidance is None and ctx.get_parameter_source("physics_scale").name != "DEFAULT":
        raise MatgenError("--physics-scale needs --physics-guidance SIMULATOR (a simulator with a differentiable form, "
                          "e.g. elastic)")
    if regressor is None and ctx.get_parameter_source("regressor_scale").name != "DEFAULT":  # given without a regressor
        raise MatgenError("--regressor-scale needs --regressor REG_RUN, a run trained with "
                          "`matgen train DATA.h5 --model regressor --condition NAME -o REG_RUN`")
    if list_targets:
        _print_targets(console, read_config(run_dir).model.conditions)
        if regressor is not None:
            _print_targets(console, read_config(regressor).model.conditions, "targets the regressor steers")
        return
    if output is None:
        raise MatgenError("give the file to write: matgen sample RUN -o SAMPLES.h5 (or --list-targets to see the targets)")
    check_output(output, force)
    from matgen.cli.progress import progress_bar
    from matgen.common.distributed import join
    from matgen.data import write
    from matgen.sample import sample as sample_run
    from matgen.sample.plot import plot_samples

    world = join(device, backend)  # under torchrun: one process group, each process on its own GPU
    run = load_run(run_dir, device=_device(device))
    if ctx.get_parameter_source("steps").name == "DEFAULT":
        steps = run.model_config.options.get("nfe", steps)  # a distilled run: the steps it was distilled for
    simulator = _validator(validate, run) if validate is not None else None
    with progress_bar("sampling") as progress:
        result = sample_run(run, targets, n=n, sampler=sampler, steps=steps, guidance=guidance, seed=seed,
                            batch_size=batch_size, progress=progress, regressor=regressor, regressor_scale=regressor_scale,
                            physics=physics_guidance, physics_scale=physics_scale)
    if not world.is_main:
        return  # every process holds all the samples; rank 0 writes and reports them
    print_warnings(result.warnings)
    write(output, result.dataset)
    console.print(f"[green]sampled[/green] {n} {result.dataset.kind} row(s) → {output} ({result.dataset.attrs['sampler']}"
                  f", seeds {seed}..{seed + n - 1})", highlight=False)
    if simulator is not None:
        _validate(console, simulator, result.dataset, output, targets)
    if grey and result.grey is not None:
        grey_path = write(output.with_name(output.stem + "-grey.h5"), result.grey)
        console.print(f"grey maps → {grey_path}", highlight=False)
    if png:
        specs = list(run.conditions) + (read_config(regressor).model.conditions if regressor is not None else [])
        title = f"{run.kind} samples · {describe_given(specs, targets)}"
        if run.kind != "vae":
            title += f" · {result.dataset.attrs['sampler']}, {steps} steps, w = {guidance:g}"
        if regressor is not None:
            title += f", regressor s = {regressor_scale:g}"
        if physics_guidance is not None:
            title += f", {physics_guidance} guidance {physics_scale:g}"
        console.print(f"picture {plot_samples(result.dataset, output.with_suffix('.png'), title)}", highlight=False)


def _validator(name: str, run):
    """The --validate simulator, checked against the run's data kind before any sampling."""
    from matgen.simulators import get_simulator

    simulator = get_simulator(name)
    kinds = tuple(getattr(simulator, "kinds", ()) or ())
    if kinds and run.data.kind not in kinds:
        raise MatgenError(f"--validate {name} takes {' or '.join(kinds)} data, but this run makes {run.data.kind}; "
                          "choose a simulator for it (matgen simulate --list)")
    return simulator


def _validate(console, simulator, samples, output: Path, targets: dict) -> None:
    """Simulate the samples, rewrite OUTPUT with achieved properties and the targets, print requested vs achieved."""
    from rich.table import Table

    from matgen.cli.progress import progress_bar
    from matgen.data import write
    from matgen.simulators import run_simulator
    from matgen.simulators.validate import compare_targets, failure_reasons, validated_dataset

    with progress_bar(f"validate {simulator.name}") as progress:
        evaluation = run_simulator(simulator, samples, progress=progress)
    write(output, validated_dataset(samples, simulator, evaluation))
    checks = compare_targets(samples, simulator, evaluation)
    table = Table(title=f"requested vs achieved ({simulator.name}, {len(samples) - int(evaluation.failed.sum())} of "
                  f"{len(samples)} evaluated)", title_justify="left")
    for column in ("target", "unit", "requested", "median achieved", "median (mean) |error|", "relative error",
                   "within tolerance"):
        table.add_column(column, justify="left" if column in ("target", "unit") else "right")
    for c in checks:
        name = c.name if c.output == c.name else f"{c.name} ({c.output})"
        relative = c.relative_error_median
        table.add_row(name, c.unit or "–", c.requested, f"{c.achieved_median:.4g}",
                      f"{c.abs_error_median:.3g} ({c.abs_error_mean:.3g})",
                      "–" if relative != relative else f"{100 * relative:.1f}%", f"{100 * c.within:.0f}% of {c.tolerance_text}")
    if checks:
        console.print(table)
    unchecked = sorted({t.replace("-", "_") for t in targets} - {c.name for c in checks})
    if unchecked:
        console.print(f"not checked: {', '.join(unchecked)} (simulator {simulator.name} returns "
                      f"{', '.join(o.name for o in simulator.outputs)})", highlight=False)
    for reason, count in failure_reasons(evaluation):
        console.print(f"[yellow]{count} failed[/yellow]: {reason}", highlight=False, soft_wrap=True)
    console.print(f"achieved properties → {output} (targets as NAME_target)", highlight=False)


def interpolate(
    run_dir: RunDir,
    output: OptionalOutputH5 = None,
    from_id: Annotated[Optional[str], typer.Option(help="Row id of the start, in --data (default the run's training data).")] = None,
    to_id: Annotated[Optional[str], typer.Option(help="Row id of the end, in --data.")] = None,
    data: Annotated[Optional[Path], typer.Option(help="Dataset holding --from-id and --to-id (default: the run's training data).")] = None,
    a: Annotated[Optional[Path], typer.Option("--a", help="Start: the first row of this dataset file (instead of --from-id).")] = None,
    b: Annotated[Optional[Path], typer.Option("--b", help="End: the first row of this dataset file (instead of --to-id).")] = None,
    steps: Annotated[int, typer.Option(help="Points on the path, both ends included.")] = 8,
    method: Annotated[str, typer.Option(help="slerp (spherical, stays where the prior puts its mass) or linear.")] = "slerp",
    device: Device = "auto",
    png: Png = False,
    force: Force = False,
) -> None:
    """Walk the latent space of a VAE run between two rows: encode both, slerp, decode each point."""
    from matgen.cli.show import console
    from matgen.data import read, write
    from matgen.runs import load_run
    from matgen.sample import interpolate as interpolate_run
    from matgen.sample.generate import check_interpolation
    from matgen.sample.plot import plot_samples

    if output is None:
        raise MatgenError("give the file to write: matgen interpolate RUN --from-id A --to-id B -o PATH.h5")
    check_output(output, force)
    run = load_run(run_dir, device=_device(device))
    check_interpolation(run, method)
    if (from_id is None) == (a is None) or (to_id is None) == (b is None):
        raise MatgenError("give each end once: --from-id ID or --a FILE for the start, --to-id ID or --b FILE for the end")
    source = None
    if from_id is not None or to_id is not None:
        source = read(data if data is not None else run.data.path)
    start = _row(source, from_id) if from_id is not None else read(a).take([0])
    end = _row(source, to_id) if to_id is not None else read(b).take([0])
    result = interpolate_run(run, start, end, steps=steps, method=method)
    write(output, result.dataset)
    console.print(f"[green]interpolated[/green] {steps} rows {start.ids[0]} → {end.ids[0]} → {output}", highlight=False)
    if png:
        title = f"{method} in latent space: {start.ids[0]} → {end.ids[0]}"
        console.print(f"picture {plot_samples(result.dataset, output.with_suffix('.png'), title)}", highlight=False)


def _row(ds, row_id: str):
    import numpy as np

    hits = np.flatnonzero(ds.ids.astype(str) == row_id)
    if len(hits) == 0:
        examples = ", ".join(str(i) for i in ds.ids[:3])
        raise MatgenError(f"no row with id '{row_id}' in the dataset; its ids look like {examples} "
                          "(`matgen data info` shows the file)")
    return ds.take(hits[:1])


def _device(device: str):
    from matgen.common.device import resolve_device

    return resolve_device(device)


def _print_targets(console, specs, title: str = "targets") -> None:
    from rich.table import Table

    from matgen.sample.targets import option_name

    if not specs:
        console.print("this model is unconditional: it takes no targets")
        return
    table = Table(title=title, title_justify="left")
    for column in ("option", "condition", "unit", "trained on"):
        table.add_column(column)
    for s in specs:
        values = ", ".join(s.categories) if s.kind == "categorical" else f"{s.minimum:.4g}..{s.maximum:.4g}"
        table.add_row(option_name(s.name), s.name, s.unit or ("category" if s.kind == "categorical" else "–"), values)
    console.print(table)
