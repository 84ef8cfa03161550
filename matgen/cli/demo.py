"""`matgen demo`: the main job on built-in data, a closed-loop inverse-design campaign (thin call into matgen.demo)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def demo(
    output_dir: Annotated[Path, typer.Argument(help="Folder for the campaign (OUT/campaign), the dataset picture and, "
                                               "with --lab, the example lab files.")] = Path("demo"),
    seed: Annotated[int, typer.Option(help="Random seed of the data, the model and the sampling.")] = 0,
    n: Annotated[int, typer.Option("--n", help="Composite micrographs to build (e.g. --n 200 for a quick look).")] = 1000,
    size: Annotated[int, typer.Option(help="Side of the micrographs, px (a multiple of 4).")] = 32,
    rounds: Annotated[int, typer.Option(help="Campaign rounds (sample → simulate → relabel → fine-tune).")] = 4,
    candidates: Annotated[int, typer.Option(help="Candidates per round (and per baseline).")] = 32,
    train_steps: Annotated[int, typer.Option(help="Optimizer steps of the first model.")] = 600,
    finetune_steps: Annotated[int, typer.Option(help="Optimizer steps of fine-tuning between rounds.")] = 150,
    device: Annotated[str, typer.Option(help="auto (CUDA when available), cpu or cuda.")] = "auto",
    threads: Annotated[int, typer.Option(help="CPU threads for torch. 1 is fastest for the demo's tiny network on "
                                         "a busy machine (2 threads fighting other jobs ran 6x slower); 0 = torch's "
                                         "default.")] = 1,
    lab: Annotated[bool, typer.Option("--lab/--no-lab", help="Also run the data pipeline on an example lab folder "
                                      "(Raman files + labels table, micrographs named by condition): import, check, "
                                      "split, plot.")] = False,
) -> None:
    """The main job: design an Al/SiC composite stiff along x at a fixed SiC fraction, in a closed loop.

    Builds the composite dataset (particle micrographs with Young's moduli in GPa and density in g/cm³), trains a
    small conditional diffusion model, measures two baselines (the nearest training samples, unguided sampling)
    and runs physics-guided rounds towards density 2.90 g/cm³ ± 0.5 % and modulus_x ≥ 155 GPa (stiffer than any
    training sample of that density), printing the per-round table
    and writing OUT/campaign/report.json with its pictures. Running it again continues (or just reprints) it.
    About 6 minutes on one CPU thread; `--n 200 --rounds 1 --train-steps 200` for a quick look.
    """
    from matgen.cli.campaign import print_table
    from matgen.cli.progress import console as err_console
    from matgen.cli.progress import progress_bar
    from matgen.cli.show import console
    from matgen.demo import run_demo

    if threads > 0:
        import torch

        torch.set_num_threads(threads)

    def on_summary(summary) -> None:
        errors = ", ".join(f"{k} {100 * v:.1f}%" for k, v in summary.median_error.items() if v == v)
        err_console.print(f"{summary.name}: {summary.hits}/{summary.candidates} hits"
                          + (f", median error {errors}" if errors else ""), highlight=False)

    with progress_bar("demo") as progress:
        result = run_demo(output_dir, seed=seed, progress=progress, on_summary=on_summary, n=n, size=size,
                          rounds=rounds, candidates=candidates, train_steps=train_steps,
                          finetune_steps=finetune_steps, lab=lab, device=device)
    report = result.report
    print_table(report)
    if report.rounds and report.baselines:
        last = report.rounds[-1]
        base = ", ".join(f"{s.name} {100 * s.hit_rate:.0f}%" for s in report.baselines.values())
        console.print(f"hit rate: round {last.round} {100 * last.hit_rate:.0f}%, best round "
                      f"{100 * max(s.hit_rate for s in report.rounds):.0f}% (baselines: {base}); "
                      f"{report.total_hits} hit(s) in {report.simulator_calls} simulations", highlight=False)
    for name, path in {**report.pictures, "data": result.pictures.get("composite")}.items():
        console.print(f"{name}: {path}", highlight=False)
    console.print(f"report: {result.campaign / 'report.json'} ({report.status}: {report.reason})", highlight=False)
    if lab:
        _print_lab(result)


def _print_lab(result) -> None:
    from matgen.cli.show import console, print_info
    from matgen.data import read

    console.print(f"example lab files written to {result.lab['raman'].parent}")
    for name in ("raman", "micrographs"):
        path = result.datasets[name]
        print_info(read(path), path)
        problems = result.problems[name]
        state = "[green]ok[/green]" if not problems else f"[red]{len(problems)} problem(s)[/red]"
        console.print(f"check {path}: {state}; picture {result.pictures[name]}")
    parts = ", ".join(f"{n} {p}" for n, p in result.splits["raman"].items())
    console.print(f"raman split by rruff_id: {parts}")
    if any(result.problems.values()):
        raise typer.Exit(1)
