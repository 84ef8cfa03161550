"""`matgen sweep RUN --target-NAME VALUE ... --guidance 0,1,2 --steps 8,16 --validate SIMULATOR`: pick settings from evidence."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from matgen.cli.options import RunDir, SampleSeed
from matgen.errors import MatgenError
from matgen.sample.options import DEFAULTS

LIST_HELP = "Comma-separated values to try (default: the sampling default, not swept)."


def _numbers(text: Optional[str], option: str, cast=float) -> Optional[list]:
    if text is None:
        return None
    try:
        values = [cast(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise MatgenError(f"{option} '{text}' should be comma-separated numbers, e.g. 0,1,2") from None
    if not values:
        raise MatgenError(f"{option} needs at least one value")
    return values


def sweep(
    ctx: typer.Context,
    run_dir: RunDir,
    validate: Annotated[str, typer.Option(help="The simulator that measures adherence (e.g. elastic): its outputs "
                                          "must include targets.", show_default=False)],
    target: Annotated[Optional[List[str]], typer.Option(help="A target as NAME=VALUE, repeatable; the same as "
                                                        "--target-NAME VALUE.", show_default=False)] = None,
    guidance: Annotated[Optional[str], typer.Option(help="Classifier-free guidance weights. " + LIST_HELP,
                                                    show_default=False)] = None,
    steps: Annotated[Optional[str], typer.Option(help="Sampler steps. " + LIST_HELP, show_default=False)] = None,
    physics_scale: Annotated[Optional[str], typer.Option(help="Physics guidance scales (with --physics-guidance). "
                                                         + LIST_HELP, show_default=False)] = None,
    physics_guidance: Annotated[Optional[str], typer.Option(help="A simulator with a differentiable form steering "
                                                            "every setting (e.g. elastic).", show_default=False)] = None,
    sampler: Annotated[str, typer.Option(help="Diffusion sampler of every setting.")] = DEFAULTS.sampler,
    n: Annotated[int, typer.Option("-n", "--n", help="Samples per setting (the same seeds for every setting).")] = DEFAULTS.n,
    seed: SampleSeed = DEFAULTS.seed,
    tolerance: Annotated[float, typer.Option(help="Relative tolerance of 'within' (0.05: within 5 % of the "
                                             "request).")] = 0.05,
    output: Annotated[Path, typer.Option("--output", "-o", help="Writes OUTPUT.json (every row) and OUTPUT.png "
                                         "(adherence against time and diversity).")] = Path("sweep"),
) -> None:
    """Sample a grid of settings for the same targets, simulate, and compare adherence, diversity and time."""
    from rich.table import Table

    from matgen.cli.progress import progress_bar
    from matgen.cli.sample import parse_target_args
    from matgen.cli.show import console
    from matgen.common.files import check_writable, write_json
    from matgen.sample.sweep import plot_sweep
    from matgen.sample.sweep import sweep as sweep_run

    targets = parse_target_args(list(ctx.args), target or [])
    if not targets:
        raise MatgenError("give the targets to sweep for, e.g. --target-density 2.9 (in the condition's unit)")
    values = {name: v for name, v in (("guidance", _numbers(guidance, "--guidance")),
                                      ("steps", _numbers(steps, "--steps", int)),
                                      ("physics_scale", _numbers(physics_scale, "--physics-scale"))) if v is not None}
    if not values:
        raise MatgenError("give the settings to sweep: --guidance 0,1,2 and/or --steps 8,16,32 and/or --physics-scale")
    if "physics_scale" in values and physics_guidance is None:
        raise MatgenError("--physics-scale needs --physics-guidance SIMULATOR (a simulator with a differentiable form)")
    check_writable(output.with_suffix(".json"))  # before the sampling, not after it
    fixed = {"sampler": sampler}
    if physics_guidance is not None:
        fixed["physics"] = physics_guidance
    with progress_bar("sweep") as progress:
        rows = sweep_run(run_dir, targets, values, validate, n=n, seed=seed, tolerance=tolerance, progress=progress,
                         **fixed)
    names = list(rows[0].median_error)
    table = Table(title=f"sweep of {run_dir} ({n} samples per setting, validated by {validate})", title_justify="left")
    for column in [*values, "seconds", *[f"error {t}" for t in names], *[f"within {t}" for t in names], "diversity"]:
        table.add_column(column, justify="right")
    for r in rows:
        table.add_row(*[f"{r.settings[k]:g}" for k in values], f"{r.seconds:.1f}",
                      *[f"{100 * r.median_error[t]:.1f}%" for t in names], *[f"{100 * r.within[t]:.0f}%" for t in names],
                      "–" if r.diversity is None else f"{r.diversity:.3g}")
    console.print(table)
    path = write_json(output.with_suffix(".json"), {"run": str(run_dir), "targets": targets, "n": n, "seed": seed,
                                                    "validate": validate, "rows": [r.to_dict() for r in rows]})
    picture = plot_sweep(rows, output.with_suffix(".png"), f"{run_dir.name}: {', '.join(f'{k} {v}' for k, v in targets.items())}")
    console.print(f"rows → {path}; picture {picture}", highlight=False)
