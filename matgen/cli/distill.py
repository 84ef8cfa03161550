"""`matgen distill TEACHER_RUN -o STUDENT_RUN`: a consistency student of a diffusion run; one library call.

The defaults are :class:`matgen.train.DistillConfig`'s (read, not repeated). Library imports happen
inside the command so that `matgen --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from matgen.cli.options import default_help
from matgen.train.config import DistillConfig

DEFAULTS = DistillConfig()


def _field(help_text: str, name: str, *names: str):
    """An option of the DistillConfig field ``name``, its help ending in the field's default."""
    return typer.Option(*names, help=default_help(help_text, DEFAULTS, name), show_default=False)


def distill(
    teacher: Annotated[Path, typer.Argument(help="The diffusion run to distil (written by `matgen train -o`); only "
                                            "read.", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Student run directory to write: config.json (model "
                                         "kind consistency), model.safetensors, metrics.csv, checkpoint/ (continue "
                                         "it with `matgen train --resume -o STUDENT_RUN`).", show_default=False)],
    nfe: Annotated[Optional[int], _field("Network calls per sample the student is meant for: 1, 2 or 4; what "
                                         "`matgen sample STUDENT_RUN` uses when --steps is not given", "nfe")] = None,
    steps: Annotated[Optional[int], _field("Optimizer steps of the distillation", "steps")] = None,
    guidance: Annotated[Optional[float], _field("Classifier-free guidance weight w of the teacher, baked into the "
                                                "student (it then samples with --guidance 0 or this w only)",
                                                "guidance")] = None,
    levels: Annotated[Optional[int], _field("Noise levels N of the discretisation the student learns (18-40; more "
                                            "follows the teacher's ODE more closely but learns more slowly)",
                                            "levels")] = None,
    solver: Annotated[Optional[str], _field("The teacher's ODE step between neighbouring levels: heun or euler",
                                            "solver")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Samples per step (default: the teacher's).",
                                                      show_default=False)] = None,
    lr: Annotated[Optional[float], typer.Option(help="Peak AdamW learning rate (default: the teacher's).",
                                                show_default=False)] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed of the split, data order and noise (default: the "
                                                "teacher's, so it validates on the teacher's held-out rows).",
                                                show_default=False)] = None,
    device: Annotated[Optional[str], typer.Option(help="auto (CUDA when available), cpu or cuda (default: as the "
                                                  "teacher was configured).", show_default=False)] = None,
    data: Annotated[Optional[Path], typer.Option(help="The teacher's training data, if it moved (its SHA-256 must "
                                                 "match the teacher's config.json).", show_default=False)] = None,
    force: Annotated[bool, typer.Option("--force", help="Start afresh in an --output that already holds a "
                                        "run.")] = False,
) -> None:
    """Distil a diffusion run into a consistency run that samples in 1, 2 or 4 network calls (see docs/training.md)."""
    from matgen.cli.progress import progress_bar
    from matgen.cli.train import _report
    from matgen.train import distill as distill_run

    given = dict(nfe=nfe, steps=steps, guidance=guidance, levels=levels, solver=solver, batch_size=batch_size, lr=lr,
                 seed=seed, device=device)
    with progress_bar("distilling") as progress:
        result = distill_run(teacher, output, data_path=data, progress=progress, force=force,
                             **{k: v for k, v in given.items() if v is not None})
    _report(result)
