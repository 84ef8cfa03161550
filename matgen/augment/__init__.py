"""Augmentation: expand a labelled dataset with flagged synthetic rows that keep their labels (docs/augment.md).

    >>> from matgen.augment import augment, physics_bounds
    >>> big = augment(ds, method="physics", factor=3, seed=0)                    # 3 perturbed copies per row
    >>> big = augment(ds, method="physics", balance="mineral", bounds={"shift_cm1": 5})
    >>> big = augment(ds, method="generative", run="runs/raman", factor=1)       # samples for the rows' labels
    >>> big = augment(ds, method="both", train_steps=5000, run_dir="runs/aug")  # trains the model first

Files: :mod:`~matgen.augment.effects` (one pure function per physical effect),
:mod:`~matgen.augment.physics` (bounds per kind, the per-kind pipelines, :func:`physics_augment`),
:mod:`~matgen.augment.generative` (:func:`generative_augment`, training a run on the data),
:mod:`~matgen.augment.balance` (which rows parent the synthetic ones), :mod:`~matgen.augment.pipeline`
(:func:`augment`), :mod:`~matgen.augment.plot` (real vs synthetic per class).
"""

from matgen.augment.balance import balance_parents, factor_parents
from matgen.augment.generative import default_conditions, generative_augment, train_on_dataset
from matgen.augment.physics import (
    AUGMENTATIONS, PERTURBATIONS, EelsBounds, PhysicsBounds, RamanBounds, SpectrumBounds, XrdBounds, physics_augment,
    physics_bounds,
)
from matgen.augment.pipeline import METHODS, augment, choose_parents

__all__ = [
    "AUGMENTATIONS", "METHODS", "PERTURBATIONS", "EelsBounds", "PhysicsBounds", "RamanBounds", "SpectrumBounds",
    "XrdBounds", "augment", "balance_parents", "choose_parents", "default_conditions", "factor_parents",
    "generative_augment", "physics_augment", "physics_bounds", "train_on_dataset",
]
