"""Generative augmentation: sample a trained run for the condition values of real rows.

Each synthetic row is sampled (:func:`matgen.sample.sample`) for the values that one real row has
of the run's conditions, so the synthetic rows follow the dataset's own label and condition
distribution (or, with ``balance``, fill up the small classes). Rows asking for the same values are
sampled in one call; the rows come back grouped so, and row j of the result uses seed ``seed + j``
(regenerate it alone with ``matgen sample RUN -n 1 --seed seed+j`` and its targets).

Spectra come out of the run as relative intensities (max ≈ 1, docs/training.md); each is scaled
by the maximum of the real row it was sampled for, so the augmented file keeps one intensity scale.
A synthetic row carries the sampled-for values of the run's conditions; the dataset's other
conditions (sample ids, metadata) are unknown on it.

:func:`train_on_dataset` trains a small conditional diffusion model on a dataset itself, for
``augment(..., train_steps=N)``: conditioned on its categorical label conditions and its
continuous processing ones (what a lab varies and what it wants to classify), not on properties
or metadata.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from matgen.augment.effects import scale_of
from matgen.augment.physics import augmentation_condition
from matgen.common.progress import Progress, no_progress
from matgen.data.dataset import Axis, Condition, Dataset
from matgen.errors import MatgenError


def as_run(run, device: str | None = None):
    """``run`` as a loaded Run (a directory is loaded onto ``device``, default auto)."""
    from matgen.common.device import resolve_device
    from matgen.runs import Run, load_run

    if isinstance(run, Run):
        return run

    return load_run(run, device=resolve_device(device or "auto"))


def check_run_fits(ds: Dataset, run) -> None:
    """Raise a MatgenError unless the run was trained on data of ``ds``'s kind, axis (or image size) and conditions."""
    data = run.data
    if run.kind == "regressor":
        raise MatgenError(f"{run.path} is a regressor run; generative augmentation needs a diffusion or VAE run")
    if data.kind != ds.kind:
        raise MatgenError(f"{run.path} was trained on {data.kind} data; this dataset is {ds.kind}")
    if ds.is_spectrum:
        axis = np.asarray(data.axis["values"]) if data.axis else np.zeros(0)
        if len(axis) != ds.signals.shape[1] or not np.allclose(axis, ds.axis.values, rtol=1e-6, atol=1e-9):
            run_axis = Axis(data.axis.get("name", ds.axis.name), data.axis["unit"], axis)
            raise MatgenError(f"{run.path} was trained on another axis ({len(axis)} points, "
                              f"{axis[0]:g}..{axis[-1]:g} {data.axis['unit']}); this dataset has "
                              f"{ds.axis.describe()}: {run_axis.reimport_hint()}")
    elif tuple(ds.signals.shape[-2:]) != tuple(data.shape):
        raise MatgenError(f"{run.path} was trained on {data.shape[0]}x{data.shape[1]} micrographs; these are "
                          f"{ds.signals.shape[-2]}x{ds.signals.shape[-1]}")
    for spec in run.conditions:
        if spec.name not in ds.conditions:
            raise MatgenError(f"{run.path} is conditioned on '{spec.name}', which this dataset lacks "
                              f"(it has: {', '.join(ds.conditions) or 'none'})")
        cond = ds.conditions[spec.name]
        if cond.is_categorical != (spec.kind == "categorical"):
            raise MatgenError(f"condition '{spec.name}' is {'categorical' if cond.is_categorical else 'numeric'} "
                              f"here but {spec.kind} in {run.path}")
        if not cond.is_categorical and cond.unit != spec.unit:
            raise MatgenError(f"condition '{spec.name}' is in {cond.unit or 'no unit'} here but in "
                              f"{spec.unit or 'no unit'} in {run.path}")


def row_targets(ds: Dataset, specs: Sequence, rows: np.ndarray) -> list[tuple]:
    """For each row, its values of the run's conditions as a hashable tuple (None = unknown, not conditioned).

    Raises:
        MatgenError: a category the run was not trained on.
    """
    columns = []
    for spec in specs:
        cond = ds.conditions[spec.name]
        if spec.kind == "categorical":
            labels = cond.labels()[rows]
            unknown = sorted({str(v) for v in labels if v is not None and v not in spec.categories})
            if unknown:
                raise MatgenError(f"'{spec.name}' {unknown[0]} is not a category of the run (it knows "
                                  f"{', '.join(spec.categories)}); train a run on this dataset (--train-steps)")
            columns.append([None if v is None else str(v) for v in labels])
        else:
            columns.append([None if math.isnan(v) else float(v) for v in cond.values[rows]])
    return list(zip(*columns)) if columns else [()] * len(rows)


def grouped(targets: Sequence[tuple]) -> dict[tuple, list[int]]:
    """target values -> the positions asking for them, in first-seen order (the order of the rows sampled)."""
    groups: dict[tuple, list[int]] = {}
    for position, key in enumerate(targets):
        groups.setdefault(key, []).append(position)
    return groups


def generative_augment(ds: Dataset, run, conditions_rows: np.ndarray, seed: int = 0, sampler: str = "auto",
                       steps: int = 30, guidance: float = 1.0, batch_size: int = 64, device: str | None = None,
                       progress: Progress = no_progress) -> Dataset:
    """Return the synthetic rows only: one sample of ``run`` per entry of ``conditions_rows``, for that real row's values.

    Args:
        ds: the dataset whose rows give the condition values.
        run: a trained diffusion or VAE run (a :class:`~matgen.runs.Run` or its directory)
            conditioned on some of ``ds``'s conditions (or unconditional).
        conditions_rows: (M,) indices of rows of ``ds``; repeats ask for several samples.
        seed: row j of the result uses seed + j.
        sampler, steps, guidance, batch_size, device: as :func:`matgen.sample.sample`.

    Returns:
        M rows, grouped by the values sampled for: ``synthetic`` True, ``augmentation`` =
        generative, ids ``gen-<seed + j>``, sources naming the run, its weights' SHA-256, the seed
        and the row whose values were used.

    Raises:
        MatgenError: a run that does not fit the data (kind, axis, image size, conditions,
            categories), or bad sampling options.
    """
    from matgen.sample import sample

    run = as_run(run, device)
    check_run_fits(ds, run)
    rows = np.asarray(conditions_rows, dtype=np.int64).reshape(-1)
    groups = grouped(row_targets(ds, run.conditions, rows))
    order = np.asarray([p for members in groups.values() for p in members], dtype=np.int64)
    rows = rows[order]
    parts, done = [], 0
    for key, members in groups.items():
        target = {spec.name: value for spec, value in zip(run.conditions, key)}

        def inner(d: int, total: int, message: str, start=done, n=len(members)) -> None:
            progress(start + int(n * d / max(total, 1)), len(rows), "generative " + message)

        result = sample(run, target, n=len(members), sampler=sampler, steps=steps, guidance=guidance,
                        seed=seed + done, batch_size=batch_size, progress=inner)
        parts.append(result.dataset.signals)
        sampler = result.dataset.attrs["sampler"]  # "auto" resolved to the run kind's default
        done += len(members)
        progress(done, len(rows), "generative")
    signals = np.concatenate(parts) if parts else np.zeros((0, *ds.signals.shape[1:]), ds.signals.dtype)
    if ds.is_spectrum and run.data.norm in ("max", "log-max"):
        signals = signals * np.asarray([scale_of(ds.signals[r]) for r in rows], dtype=np.float64)[:, None]
    dtype = np.result_type(ds.signals.dtype, np.float32) if ds.is_spectrum else ds.signals.dtype
    return _rows(ds, run, rows, signals.astype(dtype), seed, dict(sampler=sampler, steps=steps, guidance=guidance))


def _rows(ds: Dataset, run, rows: np.ndarray, signals: np.ndarray, seed: int, options: dict) -> Dataset:
    """The synthetic rows as a Dataset in ``ds``'s form: the run's conditions from ``rows``, the others unknown."""
    used = {spec.name for spec in run.conditions}
    template = ds.take(rows)
    conditions = {}
    for name, cond in template.conditions.items():
        if name in used:
            conditions[name] = cond
        elif cond.is_categorical:
            conditions[name] = Condition(np.full(len(rows), -1), "", cond.role, cond.categories, cond.description)
        else:
            conditions[name] = Condition(np.full(len(rows), np.nan), cond.unit, cond.role, description=cond.description)
    conditions["augmentation"] = augmentation_condition("generative", len(rows))
    sha = run.weights_sha256
    ids = [f"gen-{seed + j}" for j in range(len(rows))]
    sources = [f"matgen augment generative {Path(run.path).resolve()} sha256 {sha[:16]} seed {seed + j} "
               f"for {ds.ids[r]} ({options['sampler']}, {options['steps']} steps, w = {options['guidance']:g})"
               for j, r in enumerate(rows)]
    attrs = dict(ds.attrs, augment_run_dir=str(Path(run.path).resolve()), augment_checkpoint_sha256=sha,
                 augment_sampler=options["sampler"], augment_steps=int(options["steps"]),
                 augment_guidance=float(options["guidance"]))
    return Dataset(kind=ds.kind, signals=signals, conditions=conditions, ids=ids, sources=sources,
                   synthetic=np.ones(len(rows), bool), axis=ds.axis, pixel_size=ds.pixel_size,
                   pixel_unit=ds.pixel_unit, signal_type=ds.signal_type, signal_unit=ds.signal_unit, attrs=attrs)


# --------------------------------------------------------------------------- a run trained on the data itself


def default_conditions(ds: Dataset, also: Sequence[str] = ()) -> list[str]:
    """The conditions a run trained on ``ds`` for augmentation takes: categorical labels with two or more
    classes present and continuous processing conditions that vary, plus ``also`` (e.g. the --balance one)."""
    names = []
    for name, cond in ds.conditions.items():
        if name == "augmentation":
            continue
        known = cond.values[~cond.missing]
        if cond.is_categorical and cond.role == "label" and len(np.unique(known)) >= 2:
            names.append(name)
        elif not cond.is_categorical and cond.role == "processing" and len(known) and np.ptp(known) > 0:
            names.append(name)
    return names + [n for n in also if n not in names]


def train_on_dataset(ds: Dataset, steps: int, run_dir: str | os.PathLike | None = None,
                     conditions: Sequence[str] | None = None, seed: int = 0, device: str | None = None,
                     options: Mapping | None = None, force: bool = False, progress: Progress = no_progress) -> Path:
    """Train a conditional diffusion model on ``ds`` for ``steps`` steps; return its run directory.

    The rows are written to ``RUN_DIR/training-data.h5`` (the run's data file, so it can be
    resumed). Defaults: :func:`default_conditions`, the ``small`` U-Net, batch 32 (at most the
    number of rows), a tenth of the rows (at least 40 rows) held out for the validation loss;
    ``options`` overrides any :class:`~matgen.train.TrainConfig` field (e.g. ``{"net": "tiny"}``).
    ``run_dir`` defaults to a new temporary directory.

    Raises:
        MatgenError: ``run_dir`` already holds a run (without ``force``), or a bad option.
    """
    from matgen.data import write
    from matgen.runs import RunFiles
    from matgen.train import TrainConfig, train

    if not (isinstance(steps, int) and steps >= 1):
        raise MatgenError(f"train steps must be a whole number ≥ 1, got {steps}")
    run_dir = Path(run_dir) if run_dir is not None else Path(tempfile.mkdtemp(prefix="matgen-augment-run-"))
    if RunFiles(run_dir).holds_run() and not force:
        raise MatgenError(f"{run_dir} already holds a run; reuse it with --model {run_dir}, or pass --force to "
                          "train afresh")
    names = tuple(default_conditions(ds) if conditions is None else conditions)
    config = TrainConfig(model="diffusion", conditions=names, net="small", steps=steps,
                         batch_size=min(32, len(ds)), seed=seed, device=device or "auto",
                         val_fraction=0.1 if len(ds) >= 40 else 0.0)
    config = TrainConfig.from_dict({**config.to_dict(), **dict(options or {})}, where="train options")
    data_path = write(run_dir / "training-data.h5", ds)
    train(data_path, config, run_dir, progress=progress, force=force)
    return run_dir
