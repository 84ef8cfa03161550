"""`matgen evaluate REAL.h5 [--synthetic SYN.h5 | --method physics] -o OUT_DIR`: is the synthetic data good, and does it help?

One call into :func:`matgen.evaluate.evaluate`; this module only reads files, builds the augmenters
of ``--method``, draws the bar and prints the tables (docs/evaluate.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from matgen.cli.options import Device, Force
from matgen.common.files import check_writable
from matgen.errors import MatgenError

METHOD_HELP = (
    "Augment each training split inside the protocol (the honest test: the synthetic rows never see the test "
    "groups): physics, generative (trains a diffusion model on each split for --train-steps) or both; repeatable "
    "or comma-separated, each becomes its own arm."
)


def _methods(values: List[str]) -> list[str]:
    from matgen.augment import METHODS

    methods = [m.strip() for v in values for m in v.split(",") if m.strip()]
    for m in methods:
        if m not in METHODS:
            raise MatgenError(f"unknown augmentation method '{m}'; choose from {', '.join(METHODS)}")
    return list(dict.fromkeys(methods))


def _default_label(ds) -> str | None:
    """The first categorical label condition, else the first label or property condition, else None."""
    for wanted in (lambda c: c.role == "label" and c.is_categorical, lambda c: c.role in ("label", "property")):
        for name, cond in ds.conditions.items():
            if wanted(cond) and name != "augmentation":
                return name
    return None


def _augmenter(method: str, factor: float, train_steps: int, net: str, device: str, work: Path,
               generator: str = "diffusion", guidance: float = 1.0, label_true: str | None = None,
               train_lr: float = 1e-3):
    def augment_fn(train, seed: int):
        from matgen.augment import augment

        if method == "physics":
            return augment(train, "physics", factor=factor, seed=seed)
        options = {"net": net, "model": generator, "lr": train_lr, "warmup_steps": min(200, train_steps // 10)}
        return augment(train, method, factor=factor, seed=seed, train_steps=train_steps, device=device,
                       run_dir=work / f"{method}-seed{seed}", train_options=options, force=True, guidance=guidance,
                       label_true=label_true)

    return augment_fn


def evaluate(
    data: Annotated[Path, typer.Argument(help="Real dataset (.h5). If it holds synthetic rows (an augmented file), they "
                                         "are the synthetic set and the others the real one.", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder to write: metrics.json, scores.png (each arm "
                                         "with its spread), quality.png, overlays-NAME.png (real vs synthetic per "
                                         "class).", show_default=False)],
    synthetic: Annotated[Optional[Path], typer.Option(help="Synthetic rows made beforehand (.h5), on the real data's "
                                                      "axis; every row counts as synthetic.", show_default=False)] = None,
    method: Annotated[Optional[List[str]], typer.Option(help=METHOD_HELP, show_default=False)] = None,
    label: Annotated[Optional[str], typer.Option(help="Condition to predict: categorical -> accuracy, continuous -> "
                                                 "mean absolute error in its unit (default: the first categorical "
                                                 "label).", show_default=False)] = None,
    group: Annotated[Optional[str], typer.Option(help="Condition whose rows stay together on one side of every split, "
                                                 "e.g. rruff_id (default: each row alone).", show_default=False)] = None,
    seeds: Annotated[int, typer.Option(help="Repeats: one split, augmentation and model initialisation each "
                                       "(seeds 0..N-1).")] = 5,
    test_fraction: Annotated[float, typer.Option(help="Fraction of the real rows (whole groups) held out for testing.")] = 0.3,
    model: Annotated[Optional[List[str]], typer.Option(
        help="Downstream predictor: cnn (small convolutional net), linear (softmax / least squares), or knn (cosine "
        "nearest neighbour, no training); repeat or comma-separate to compare several on the same splits and "
        "synthetic rows (the summary then says which predictors the augmentation helps). Default: cnn.",
        show_default=False)] = None,
    epochs: Annotated[int, typer.Option(help="Training passes of the cnn / linear predictor (fixed, same for every "
                                        "arm).")] = 40,
    factor: Annotated[float, typer.Option(help="--method: synthetic rows per real training row.")] = 1.0,
    train_steps: Annotated[int, typer.Option(help="--method generative/both: diffusion training steps per split.")] = 2000,
    net: Annotated[str, typer.Option(help="--method generative/both: network size, tiny, small or base.")] = "tiny",
    generator: Annotated[str, typer.Option(help="--method generative/both: the model trained per split, diffusion or "
                                           "flow.")] = "diffusion",
    guidance: Annotated[float, typer.Option(help="--method generative/both: classifier-free guidance weight of the "
                                            "samples.")] = 1.0,
    train_lr: Annotated[float, typer.Option(help="--method generative/both: peak learning rate of the model trained "
                                            "per split (1e-3 suits the tiny and small CPU presets).")] = 1e-3,
    label_true: Annotated[bool, typer.Option("--label-true/--all-samples", help="--method generative/both: keep only "
                                             "the samples a classifier of the split's real rows assigns to their "
                                             "label (matgen augment --label-true).")] = False,
    downstream: Annotated[bool, typer.Option("--downstream/--no-downstream", help="Run the downstream protocol "
                                             "(--no-downstream: sample quality and adherence only).")] = True,
    simulator: Annotated[Optional[str], typer.Option(help="Micrographs: also compare the mean properties of both sets "
                                                     "from this simulator (e.g. elastic: moduli in GPa, density in "
                                                     "g/cm3; `matgen simulate --help`).", show_default=False)] = None,
    threads: Annotated[int, typer.Option(help="CPU threads for torch: 1 is fastest for these small models (several "
                                         "threads spin against each other on a busy machine).")] = 1,
    device: Device = "auto",
    force: Force = False,
) -> None:
    """Score synthetic data against real data: sample quality, label adherence, and whether it helps a predictor."""
    import tempfile

    from matgen.cli.progress import progress_bar
    from matgen.data import read
    from matgen.evaluate import PredictorConfig
    from matgen.evaluate import evaluate as run_evaluation
    from matgen.evaluate.report import split_synthetic, write_report

    if output.exists() and (output / "metrics.json").exists() and not force:
        raise MatgenError(f"{output} already holds metrics.json; pass --force to overwrite it or choose another --output")
    check_writable(output / "metrics.json")
    if seeds < 1:
        raise MatgenError(f"--seeds must be at least 1, got {seeds}")
    if threads < 1:
        raise MatgenError(f"--threads must be at least 1, got {threads}")
    import torch

    torch.set_num_threads(threads)
    names = [m.strip() for item in (model or ["cnn"]) for m in item.split(",") if m.strip()]
    config = [PredictorConfig(model=name, epochs=epochs).check() for name in names]
    real, given = split_synthetic(read(data))
    if synthetic is not None:
        if len(given):
            raise MatgenError(f"{data} already holds {len(given)} synthetic row(s); give an augmented file or "
                              "--synthetic, not both")
        given = read(synthetic)
    methods = _methods(method or [])
    if not len(given) and not methods:
        raise MatgenError(f"{data} has no synthetic rows; give --synthetic SYN.h5, an augmented file "
                          "(`matgen augment`), or --method physics|generative to augment each split")
    label = label or _default_label(real)
    with tempfile.TemporaryDirectory(prefix="matgen-evaluate-") as work, progress_bar("evaluating") as progress:
        augmenters = {m: _augmenter(m, factor, train_steps, net, device, Path(work), generator, guidance,
                                    label if label_true else None, train_lr) for m in methods}
        result = run_evaluation(real, given if len(given) else None, augmenters, label, group, list(range(seeds)),
                                test_fraction, config, downstream, progress, simulator)
        output.mkdir(parents=True, exist_ok=True)
        pictures = _pictures(result, real, given, label, output)
    write_report(result, output / "metrics.json")
    _print(result, output, pictures)


def _pictures(result, real, given, label: str | None, output: Path) -> list[Path]:
    from matgen.evaluate import plot

    categorical = label is not None and real.conditions[label].is_categorical
    per_class = label if categorical else None
    pairs = {"synthetic": (real, given)} if len(given) else {}
    if result.downstream is not None:
        for name, (train, augmented) in result.downstream.examples.items():
            if name != "synthetic":
                pairs[name] = (train, augmented.take(augmented.synthetic.nonzero()[0]))
    paths = []
    for name, (a, b) in pairs.items():
        path = output / f"overlays-{name}.png"
        if a.is_spectrum:
            paths.append(plot.plot_overlays(a, b, per_class, path, f"real (grey) vs {name} (orange)"))
        else:
            paths.append(plot.plot_micrograph_overlays(a, b, path, f"real vs {name}"))
    for k, (name, d) in enumerate(result.by_predictor.items()):
        paths.append(plot.plot_scores(d, output / ("scores.png" if k == 0 else f"scores-{name}.png")))
    if result.downstream is not None:
        if any(result.downstream.quality.values()):
            paths.append(plot.plot_quality(result.downstream, output / "quality.png"))
    return paths


def _fmt(value, digits: int = 3) -> str:
    import math

    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}g}"


def _print(result, output: Path, pictures: list[Path]) -> None:
    from rich.table import Table

    from matgen.cli.progress import print_warnings
    from matgen.cli.show import console
    from matgen.evaluate.plot import UNIT_KEYS

    if result.quality is not None:
        table = Table(title=f"sample quality: {result.synthetic_rows} synthetic vs {result.real_rows} real rows",
                      title_justify="left")
        table.add_column("metric")
        table.add_column("value", justify="right")
        for key, value in result.quality.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                unit = f" ({result.quality['axis_unit']})" if key in UNIT_KEYS and result.quality.get("axis_unit") else ""
                table.add_row(key + unit, _fmt(value, 4))
        if result.adherence is not None:
            table.add_row(f"adherence ({result.label})", _fmt(result.adherence, 4))
        console.print(table)
    for d in result.by_predictor.values():
        metric = "accuracy" if d.task.kind == "classification" else f"MAE ({d.task.unit or 'label units'})"
        table = Table(title=f"downstream: {d.task.label}, {metric}, {len(d.seeds)} seed(s), split by "
                      f"{d.group or 'row'}, {d.model.model} ({d.seconds:.0f} s)", title_justify="left")
        for column in ("arm", "mean ± std", "gain vs real", "adherence", "synthetic rows"):
            table.add_column(column, justify="left" if column == "arm" else "right")
        adherence = d.to_dict()["adherence_summary"]
        for row in d.summary():
            source = row["arm"].replace("real+", "").replace(" only", "")
            gain = "" if row["arm"] == "real" else f"{row['gain_mean']:+.3f} ± {row['gain_std']:.3f}"
            a = adherence.get(source) if row["arm"].startswith("real+") else None
            rows = f"{sum(d.synthetic_rows[source]) / len(d.seeds):.0f}" if source in d.synthetic_rows else ""
            table.add_row(row["arm"], f"{row['mean']:.3f} ± {row['std']:.3f}", gain,
                          f"{a['mean']:.3f} ± {a['std']:.3f}" if a and a["mean"] == a["mean"] else "", rows)
        console.print(table)
    if result.downstream is not None:
        _print_quality(console, result.downstream)
    for line in result.verdict:
        console.print(line, highlight=False)
    print_warnings(result.warnings)
    console.print(f"[green]metrics[/green] → {output / 'metrics.json'}", highlight=False)
    for path in pictures:
        console.print(f"picture {path}", highlight=False)


#: The sample-quality columns of the downstream summary: (metrics key, column title).
QUALITY_COLUMNS = (("spectral_angle_deg", "angle (deg)"), ("peak_position_error", "peak pos. err"),
                   ("peak_fwhm_error", "FWHM err"), ("peak_recall", "peak recall"), ("mmd2", "MMD²"),
                   ("mmd2_real_baseline", "MMD² real/real"), ("copied_fraction", "copied"),
                   ("phase_fraction_error", "φ err"), ("s2_distance", "S₂ dist."))


def _print_quality(console, d) -> None:
    """Per augmenter, the mean over seeds of the main sample-quality metrics against the test splits."""
    from rich.table import Table

    from matgen.evaluate.downstream import summarize_quality

    summaries = {name: summarize_quality(q) for name, q in d.quality.items() if q}
    if not summaries:
        return
    columns = [(k, t) for k, t in QUALITY_COLUMNS if any(k in s for s in summaries.values())]
    unit = next(q[0].get("axis_unit", "") for q in d.quality.values() if q)
    table = Table(title="sample quality against each seed's test split (mean over seeds"
                  + (f"; peak errors in {unit})" if unit else ")"), title_justify="left")
    table.add_column("synthetic")
    for _, title in columns:
        table.add_column(title, justify="right")
    for name, s in summaries.items():
        table.add_row(name, *(_fmt(s[k]["mean"], 3) if k in s else "" for k, _ in columns))
    console.print(table)
