"""`matgen augment DATA.h5 -o AUGMENTED.h5`: flagged synthetic rows that keep their labels; one call into matgen.augment."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from matgen.cli.options import Device
from matgen.errors import MatgenError

BOUND_HELP = (
    "Override a physics bound as NAME=VALUE, repeatable (e.g. --bound shift_cm1=5 --bound noise=0); units are in the "
    "name (cm1 = cm-1, ev = eV, deg = deg 2θ; fractions of the spectrum's maximum otherwise); 0 switches an effect "
    "off. --list-bounds shows the kind's bounds."
)


def parse_bound_overrides(pairs: List[str]) -> dict[str, str]:
    """NAME=VALUE pairs as a dict; raises a MatgenError on a pair without '='."""
    bounds = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise MatgenError(f"--bound '{pair}' should be NAME=VALUE, e.g. shift_cm1=5")
        bounds[name.strip()] = value.strip()
    return bounds


def augment(
    data: Annotated[Path, typer.Argument(help="Dataset to augment (.h5); its real rows parent the synthetic ones.",
                                         show_default=False)],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Augmented dataset to write (.h5): the "
                                                   "original rows first, unchanged, then the synthetic rows.",
                                                   show_default=False)] = None,
    method: Annotated[str, typer.Option(help="physics (instrument and sample perturbations of real spectra), "
                                        "generative (samples of a trained model for the rows' labels and conditions) "
                                        "or both (half of the synthetic rows each).")] = "physics",
    factor: Annotated[Optional[float], typer.Option(help="Synthetic rows per real row (default: one each; 2.5 "
                                                    "rounds the total). With --balance: every class is brought to "
                                                    "(1 + FACTOR) × the largest class (default: to the largest "
                                                    "class).", show_default=False)] = None,
    balance: Annotated[Optional[str], typer.Option(help="A categorical condition (e.g. mineral): add synthetic rows "
                                                   "to every class until it is as large as the largest one.",
                                                   show_default=False)] = None,
    model: Annotated[Optional[Path], typer.Option(help="A run trained by `matgen train` on data of this kind and axis, "
                                                  "conditioned on some of its conditions (for generative rows).",
                                                  show_default=False)] = None,
    train_steps: Annotated[Optional[int], typer.Option(help="Without --model: first train a diffusion model on this "
                                                       "dataset for this many steps (conditioned on its labels and "
                                                       "processing conditions) into --run-dir.",
                                                       show_default=False)] = None,
    run_dir: Annotated[Optional[Path], typer.Option(help="Where --train-steps trains (default: OUTPUT-run/ beside "
                                                    "the output).", show_default=False)] = None,
    net: Annotated[str, typer.Option(help="Network size for --train-steps: tiny, small or base.")] = "small",
    bound: Annotated[Optional[List[str]], typer.Option(help=BOUND_HELP, show_default=False)] = None,
    list_bounds: Annotated[bool, typer.Option("--list-bounds", help="Print the physics bounds of the dataset's kind "
                                              "(with --bound overrides) and exit.")] = False,
    sampler: Annotated[str, typer.Option(help="Generative rows: auto (the model kind's default) or one of its "
                                         "samplers (diffusion: ddpm, ddim, dpmpp-2m, heun).")] = "auto",
    steps: Annotated[int, typer.Option(help="Generative rows: sampler steps.")] = 30,
    guidance: Annotated[float, typer.Option(help="Generative rows: classifier-free guidance weight w (0 = the "
                                            "conditional model alone).")] = 1.0,
    label_true: Annotated[Optional[str], typer.Option(
        help="Generative rows: a categorical label (e.g. mineral); keep only the samples that a classifier of the "
        "real rows assigns to the label they were drawn for, drawing again for the others (up to 4 tries; the "
        "output may hold fewer generative rows).", show_default=False)] = None,
    seed: Annotated[int, typer.Option(help="Random seed: physics row i uses SEED + i, generative row j SEED + j.")] = 0,
    device: Device = "auto",
    png: Annotated[bool, typer.Option("--png/--no-png", help="Also draw OUTPUT.png: real vs synthetic spectra "
                                      "overlaid, one panel per class.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing output and, with --train-steps, a run "
                                        "already in --run-dir.")] = False,
) -> None:
    """Expand a dataset with synthetic rows that keep their labels: physics perturbations, model samples, or both."""
    from matgen.cli.options import check_output
    from matgen.cli.progress import progress_bar
    from matgen.cli.show import console
    from matgen.data import read, write

    bounds = parse_bound_overrides(bound or [])
    ds = read(data)
    if list_bounds:
        from matgen.augment import physics_bounds

        _print_bounds(console, physics_bounds(ds.kind, bounds))
        return
    if output is None:
        raise MatgenError("give the file to write: matgen augment DATA.h5 -o AUGMENTED.h5")
    check_output(output, force)
    if model is not None and train_steps is not None:
        raise MatgenError("give --model RUN_DIR (a trained run) or --train-steps N (train one now), not both")
    if method == "physics" and (model is not None or train_steps is not None):
        raise MatgenError("--model and --train-steps are for --method generative or both; physics needs no model")
    if label_true is not None and method == "physics":
        raise MatgenError("--label-true filters generative rows; use --method generative or both")
    if bounds and method == "generative":
        raise MatgenError("--bound sets physics bounds; use --method physics or both")
    from matgen.augment import augment as augment_data

    if train_steps is not None and run_dir is None:
        run_dir = output.with_name(output.stem + "-run")
    with progress_bar("augmenting") as progress:
        out = augment_data(ds, method=method, factor=factor, balance=balance, run=model, train_steps=train_steps,
                           seed=seed, bounds=bounds or None, device=device, progress=progress, run_dir=run_dir,
                           train_options={"net": net}, force=force, sampler=sampler, steps=steps, guidance=guidance,
                           label_true=label_true)
    if train_steps is not None:
        console.print(f"[green]trained[/green] {train_steps} steps → {run_dir} (reuse it with --model {run_dir})",
                      highlight=False)
    write(output, out)
    _print_summary(console, out, balance)
    console.print(f"[green]augmented[/green] {int((~out.synthetic).sum())} real + {int(out.synthetic.sum())} "
                  f"synthetic row(s) → {output}", highlight=False)
    if png:
        from matgen.augment.plot import plot_augmented

        console.print(f"picture {plot_augmented(out, output.with_suffix('.png'), balance, seed)}", highlight=False)


def _print_summary(console, ds, by: str | None) -> None:
    """A table of rows per class (of ``by`` or the first label) and origin."""
    import numpy as np
    from rich.table import Table

    from matgen.augment.plot import class_condition

    by = class_condition(ds, by)
    origin = ds.conditions["augmentation"].labels()
    kinds = ("none", "physics", "generative")
    table = Table(title=f"rows per {by} and origin" if by else "rows per origin", title_justify="left")
    table.add_column(by or "")
    for kind in kinds:
        table.add_column("real" if kind == "none" else kind, justify="right")
    labels = ds.condition(by).labels() if by and ds.condition(by).is_categorical else np.full(len(ds), "all rows")
    for name in dict.fromkeys(labels):
        members = origin[labels == name]
        table.add_row("unknown" if name is None else str(name), *(str(int(np.sum(members == k))) for k in kinds))
    if by:
        table.add_row("[bold]all[/bold]", *(f"[bold]{int(np.sum(origin == k))}[/bold]" for k in kinds))
    console.print(table)


def _print_bounds(console, bounds) -> None:
    from rich.table import Table

    table = Table(title=f"physics bounds of {bounds.kind} spectra (each effect is drawn uniformly within its bound)",
                  title_justify="left")
    table.add_column("bound")
    table.add_column("value", justify="right")
    for name, value in bounds.to_dict().items():
        table.add_row(name, f"{value:g}")
    console.print(table)
