"""`matgen inpaint DATA.h5 --model RUN --mask LOW..HIGH -o OUT.h5`: a thin call into :func:`matgen.sample.inpaint`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from matgen.cli.options import DatasetFile, Device, Force, OptionalOutputH5, SampleSeed, check_output
from matgen.cli.progress import print_warnings
from matgen.cli.sample import TARGET_HELP, parse_target_args
from matgen.errors import MatgenError
from matgen.sample.options import DEFAULTS, INPAINT_JUMP, INPAINT_RESAMPLE


def inpaint(
    ctx: typer.Context,
    data: DatasetFile,
    model: Annotated[Optional[Path], typer.Option("--model", "-m", help="A diffusion, flow or consistency run "
                                                  "trained on spectra on this axis (matgen train -o RUN).",
                                                  show_default=False)] = None,
    mask: Annotated[Optional[List[str]], typer.Option(
        help="A range LOW..HIGH to fill, in the axis unit (cm-1 for Raman, deg 2θ for XRD, eV for EELS), repeatable; "
             "NaN points in the signals are filled too.", show_default=False)] = None,
    output: OptionalOutputH5 = None,
    target: Annotated[Optional[List[str]], typer.Option(help=TARGET_HELP + " Without a target a condition is read "
                                                        "from the file's column of that name, if any.",
                                                        show_default=False)] = None,
    steps: Annotated[int, typer.Option(help="Steps of the sigma grid (the run's default sampler's grid).")] = DEFAULTS.steps,
    jumps: Annotated[int, typer.Option(help="RePaint jump length j: steps gone back up (re-noised) at each "
                                            "resampling point.")] = INPAINT_JUMP,
    resample: Annotated[int, typer.Option(help="RePaint resamplings r at each jump point (1: plain replacement); "
                                               "network calls ≈ r × steps.")] = INPAINT_RESAMPLE,
    guidance: Annotated[float, typer.Option(help="Classifier-free guidance weight w (0: the conditional model "
                                            "alone).")] = DEFAULTS.guidance,
    seed: SampleSeed = DEFAULTS.seed,
    batch_size: Annotated[int, typer.Option(help="Rows per network call (does not change the "
                                                 "result).")] = DEFAULTS.batch_size,
    device: Device = "auto",
    force: Force = False,
) -> None:
    """Fill masked ranges (and NaN points) of spectra with a trained model, conditioned on the observed rest (RePaint)."""
    from matgen.cli.progress import progress_bar
    from matgen.cli.show import console
    from matgen.common.ranges import parse_bounds
    from matgen.data import write
    from matgen.data.hdf5 import read_unchecked
    from matgen.sample import inpaint as inpaint_rows

    targets = parse_target_args(list(ctx.args), target or [])
    if model is None:
        raise MatgenError("give the run to fill with: matgen inpaint DATA.h5 --model RUN --mask LOW..HIGH -o OUT.h5")
    if output is None:
        raise MatgenError("give the file to write: matgen inpaint DATA.h5 --model RUN --mask LOW..HIGH -o OUT.h5")
    check_output(output, force)
    if not data.is_file():
        raise MatgenError(f"no such dataset file: {data}")
    masks = [parse_bounds(m, "--mask", separators=("..",), hint="write LOW..HIGH in the axis unit, e.g. 450..480")
             for m in mask or []]
    with progress_bar("inpainting") as progress:
        result = inpaint_rows(model, read_unchecked(data), masks, targets, steps=steps, jump=jumps, resample=resample,
                              guidance=guidance, seed=seed, batch_size=batch_size, device=device, progress=progress)
    print_warnings(result.warnings)
    ds = result.dataset
    ds.attrs["inpaint_input"] = str(data)
    write(output, ds)
    filled = ds.conditions["inpainted_points"].values
    console.print(f"[green]inpainted[/green] {int(filled.sum())} point(s) in {int((filled > 0).sum())} of {len(ds)} "
                  f"row(s) → {output} (seeds {seed}..{seed + len(ds) - 1})", highlight=False)
