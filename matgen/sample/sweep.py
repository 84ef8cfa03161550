"""Tuning on the user's own data: sample a grid of settings, simulate, and measure adherence, diversity and time.

For every combination of the values given (classifier-free ``guidance``, sampler ``steps``,
``physics_scale``; any setting not swept keeps its default) the same ``n`` samples (same seeds)
are drawn for the same targets, simulated, and compared with what was asked
(:func:`matgen.simulators.validate.compare_targets`): per target the median relative error and
the share within ``tolerance``; beside it the samples' diversity (mean pairwise RMS distance as the
network sees them, :mod:`matgen.evaluate.diversity`) and the sampling time. The user then picks
the setting from evidence: usually the cheapest one whose adherence no longer improves.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import asdict, dataclass, field
from typing import Mapping, Sequence

import numpy as np

from matgen.common.progress import Progress, labelled, no_progress
from matgen.errors import MatgenError

#: The settings a sweep can vary, and what each one is in :func:`matgen.sample.sample`.
SETTINGS = ("guidance", "steps", "physics_scale")


@dataclass
class SweepRow:
    """What one setting gave."""

    settings: dict  # name -> value of the swept settings
    seconds: float  # sampling time
    median_error: dict = field(default_factory=dict)  # target -> median relative error (evaluated samples)
    within: dict = field(default_factory=dict)  # target -> share of samples within the tolerance (failed: out)
    diversity: float | None = None  # mean pairwise RMS distance of the samples (network units)
    failed: int = 0  # samples the simulator could not evaluate

    def to_dict(self) -> dict:
        return asdict(self)


def grid(values: Mapping[str, Sequence]) -> list[dict]:
    """Every combination of the swept settings, in order (the last varies fastest).

    Raises:
        MatgenError: an unknown setting (the message lists them) or one without values.
    """
    unknown = sorted(set(values) - set(SETTINGS))
    if unknown:
        raise MatgenError(f"cannot sweep {', '.join(unknown)}; sweep {', '.join(SETTINGS)}")
    for name, options in values.items():
        if not len(options):
            raise MatgenError(f"give at least one value of {name}")
    names = list(values)
    return [dict(zip(names, combo)) for combo in itertools.product(*(values[k] for k in names))]


def sweep(run, targets: Mapping, values: Mapping[str, Sequence], simulator, n: int = 16, seed: int = 0,
          tolerance: float = 0.05, progress: Progress = no_progress, **options) -> list[SweepRow]:
    """One :class:`SweepRow` per setting of the grid ``values`` (setting -> values) for ``targets``.

    Args:
        run: a loaded run or its directory.
        targets: as for :func:`matgen.sample.sample` (values or ranges in the conditions' units).
        simulator: a simulator name or object whose outputs include the targets.
        options: other :func:`matgen.sample.sample` arguments kept fixed (sampler, physics, ...).

    Raises:
        MatgenError: a bad grid, no target the simulator returns, or what sampling itself refuses.
    """
    from matgen.evaluate.diversity import mean_pairwise_distance
    from matgen.runs import Run, load_run, to_network
    from matgen.sample.generate import sample
    from matgen.simulators import get_simulator, run_simulator
    from matgen.simulators.validate import compare_targets

    run = run if isinstance(run, Run) else load_run(run)
    simulator = get_simulator(simulator)
    outputs = {o.name for o in simulator.outputs}
    if not {name.replace("-", "_") for name in targets} & outputs:
        raise MatgenError(f"none of the targets is an output of simulator '{simulator.name}' ({', '.join(outputs)}); "
                          "a sweep measures adherence with it")
    settings = grid(values)
    rows = []
    for k, setting in enumerate(settings):
        start = time.perf_counter()
        drawn = sample(run, targets, n=n, seed=seed, progress=labelled(progress, f"setting {k + 1}/{len(settings)}"),
                       **{**options, **setting}).dataset
        seconds = time.perf_counter() - start
        evaluation = run_simulator(simulator, drawn)
        checks = compare_targets(drawn, simulator, evaluation, tolerance)
        rows.append(SweepRow(setting, seconds, {c.name: c.relative_error_median for c in checks},
                             {c.name: c.within for c in checks},
                             mean_pairwise_distance(to_network(drawn.signals, run.data)), int(evaluation.failed.sum())))
        progress(k + 1, len(settings), ", ".join(f"{name} {value}" for name, value in setting.items()))
    return rows


def plot_sweep(rows: Sequence[SweepRow], path, title: str = ""):
    """Write a PNG: each setting's median relative error (mean over targets) against sampling time and against
    diversity, labelled with the setting; returns the path."""
    from pathlib import Path

    from matgen.data.plot import pyplot, save_png

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
    error = [100 * float(np.nanmean(list(r.median_error.values()))) for r in rows]
    for ax, xs, label in ((axes[0], [r.seconds for r in rows], "sampling time (s)"),
                          (axes[1], [r.diversity or 0.0 for r in rows], "diversity (mean pairwise RMS)")):
        ax.scatter(xs, error, s=18)
        for x, y, r in zip(xs, error, rows):
            ax.annotate(" ".join(f"{k[0]}{v:g}" for k, v in r.settings.items()), (x, y), fontsize=6)
        ax.set_xlabel(label)
        ax.set_ylabel("median relative error, mean over targets (%)")
    fig.suptitle(title or "sweep: adherence vs cost and diversity", fontsize=9)
    fig.tight_layout()
    return save_png(fig, Path(path))
