"""`augment`: a dataset in, the same dataset with flagged synthetic rows after it out.

    originals (unchanged, augmentation = none)  +  physics rows  +  generative rows

Parents (the real rows a synthetic row is made from, or whose condition values it is sampled for)
come from :mod:`matgen.augment.balance`: ``factor`` K per real row, or with ``balance`` every class
brought up to the largest one (times 1 + ``factor``). ``method="both"`` deals the parent list out
alternately, the first to physics and the second to generative augmentation, so each method makes
half of the synthetic rows (physics the extra one of an odd total; with ``balance`` the classes come
one after another, so each class splits evenly to within one row) and every row has a single,
clear origin.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Mapping

import numpy as np

from matgen.augment.balance import balance_parents, factor_parents
from matgen.augment.generative import as_run, default_conditions, generative_augment, train_on_dataset
from matgen.augment.physics import (
    AUGMENTATIONS, PhysicsBounds, augmentation_condition, fit_to_data, physics_augment, resolve_bounds,
)
from matgen.common.progress import Progress, no_progress
from matgen.data.dataset import Condition, Dataset, concat
from matgen.errors import MatgenError

METHODS = ("physics", "generative", "both")


def choose_parents(ds: Dataset, factor: float | None = None, balance: str | None = None, seed: int = 0) -> np.ndarray:
    """The parent row of every synthetic row: ``factor`` per real row (default 1), or ``balance`` classes.

    Raises:
        MatgenError: no real row, or a bad factor / balance condition.
    """
    real = np.flatnonzero(~ds.synthetic)
    if len(real) == 0:
        raise MatgenError("the dataset has no real (non-synthetic) row to augment")
    if balance is not None:
        return balance_parents(ds, balance, real, 0.0 if factor is None else factor, seed)
    return factor_parents(real, 1.0 if factor is None else factor, seed)


def augment(ds: Dataset, method: str = "physics", factor: float | None = None, balance: str | None = None,
            run=None, train_steps: int | None = None, seed: int = 0,
            bounds: PhysicsBounds | Mapping[str, float | str] | None = None, device: str | None = None,
            progress: Progress = no_progress, run_dir: str | os.PathLike | None = None,
            train_options: Mapping | None = None, force: bool = False, label_true: str | None = None,
            **sample_options) -> Dataset:
    """Return ``ds`` with synthetic rows appended: originals first and unchanged, then physics, then generative rows.

    Args:
        ds: the dataset; only its real rows parent synthetic ones.
        method: physics, generative, or both (half each, see the module docstring).
        factor: synthetic rows per real row (default 1; a fraction rounds the total). With
            ``balance``: every class goes to round((1 + factor) × largest class) (default factor 0).
        balance: a categorical condition (e.g. ``mineral``) whose classes to bring up to the largest.
        run: a trained diffusion/VAE run (or its directory) for generative rows.
        train_steps: without ``run``, train a model on ``ds``'s real rows for this many steps first
            (:func:`~matgen.augment.generative.train_on_dataset`, into ``run_dir``, conditioned on
            its labels, processing conditions and the ``balance`` condition; ``train_options``
            override TrainConfig fields; ``force`` replaces a run already in ``run_dir``).
        seed: physics row i uses seed + i; generative row j uses seed + j.
        bounds: physics bounds of the kind (or a mapping of overrides); default :func:`physics_bounds`.
        device: where to train and sample (auto, cpu, cuda).
        progress: ``progress(done, total, message)`` callback.
        label_true: a categorical label (e.g. ``mineral``): keep only the generative rows that a classifier of the
            real rows assigns to the label they were drawn for, drawing again for the others
            (:mod:`matgen.augment.label_true`; the result may hold fewer generative rows than asked for).
        sample_options: sampler, steps, guidance, batch_size of :func:`generative_augment`.

    Returns:
        The augmented dataset; its attrs record the method, seed, factor or balance, bounds, and
        the run and its weights' SHA-256.

    Raises:
        MatgenError: an unknown method, a generative method without ``run`` or ``train_steps``,
            a run that does not fit the data, a spectrum-only method on micrographs, bad bounds.
    """
    if method not in METHODS:
        raise MatgenError(f"unknown augmentation method '{method}'; choose from {', '.join(METHODS)}")
    if method != "generative" and not ds.is_spectrum:
        raise MatgenError(f"physics augmentation is for spectra, not {ds.kind}s; use --method generative")
    if method != "physics" and run is None and train_steps is None:
        raise MatgenError(f"--method {method} needs a trained model: give --model RUN_DIR, or --train-steps N to "
                          "train one on this dataset first")
    if method != "generative":
        given = bounds
        bounds = resolve_bounds(ds.kind, bounds)  # bad bounds fail before any training
        if given is None or isinstance(given, Mapping):
            bounds = fit_to_data(bounds, ds, given)
    parents = choose_parents(ds, factor, balance, seed)
    physics_parents = parents if method == "physics" else parents[0::2] if method == "both" else parents[:0]
    generative_parents = parents if method == "generative" else parents[1::2] if method == "both" else parents[:0]
    parts, attrs = [], {"augment_method": method, "augment_seed": int(seed)}
    attrs.update({"augment_balance": balance} if balance else {})
    attrs["augment_factor"] = float(factor if factor is not None else 0.0 if balance else 1.0)
    if method != "physics":
        if run is None:
            real = ds.take(np.flatnonzero(~ds.synthetic))
            names = default_conditions(real, [balance] if balance else [])
            run = train_on_dataset(real, train_steps, run_dir, names, seed, device, train_options, force,
                                   progress=lambda d, t, m: progress(d, t, "training " + m))
        run = as_run(run, device)
        attrs.update(augment_run_dir=str(Path(run.path).resolve()), augment_checkpoint_sha256=run.weights_sha256)
    if len(physics_parents):
        phys = physics_augment(ds, physics_parents, seed, bounds, progress)
        attrs["augment_bounds"] = phys.attrs.pop("augment_bounds")
        parts.append(phys)
    if len(generative_parents):
        if label_true is not None:
            from matgen.augment.label_true import label_true_augment

            gen = label_true_augment(ds, run, generative_parents, label_true, seed, device=device, progress=progress,
                                     **sample_options)
        else:
            gen = generative_augment(ds, run, generative_parents, seed, device=device, progress=progress,
                                     **sample_options)
        attrs.update({k: v for k, v in gen.attrs.items() if k.startswith("augment_")})
        parts.append(gen)
    originals = _with_origin(ds)
    for part in parts:
        _check_new_ids(originals, part)
    out = concat([originals, *parts]) if parts else originals
    out.attrs = {**ds.attrs, **attrs}
    return out


def _with_origin(ds: Dataset) -> Dataset:
    """``ds`` with an ``augmentation`` condition: none for real rows (a dataset that has one keeps it)."""
    if "augmentation" in ds.conditions:
        return ds
    labels = [None if synthetic else "none" for synthetic in ds.synthetic]
    conditions = dict(ds.conditions)
    conditions["augmentation"] = Condition.from_labels(labels, role="meta", categories=AUGMENTATIONS,
                                                       description=augmentation_condition("none", 0).description)
    return replace(ds, conditions=conditions, attrs=dict(ds.attrs))


def _check_new_ids(ds: Dataset, part: Dataset) -> None:
    clash = np.intersect1d(ds.ids.astype(str), part.ids.astype(str))
    if len(clash):
        raise MatgenError(f"row id '{clash[0]}' is already in the dataset (augmented before with this seed?); "
                          "augment with another --seed")
