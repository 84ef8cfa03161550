"""Sample quality of synthetic rows against real ones, per kind: one flat dict of numbers.

Spectra (all on [0, 1]-scaled rows, see :mod:`matgen.evaluate.spectra`):

* ``spectral_angle_deg``, ``peak_position_error``, ``peak_fwhm_error`` (axis units),
  ``peak_height_error`` (fraction of the range), ``peak_recall``, ``peak_precision``: the mean
  real spectrum of each class against the mean synthetic spectrum of that class, averaged over
  the classes both sides have (per class under ``per_class``);
* ``mmd2``: unbiased RBF MMD² of synthetic vs real rows (:mod:`matgen.evaluate.mmd`), and
  ``mmd2_real_baseline``, the same between the training rows and the real rows, when training
  rows are given: what two real samples of the data differ by;
* ``copied_fraction`` and its threshold (:mod:`matgen.evaluate.memorisation`): synthetic rows nearer
  the training rows than real held-out rows come. Without training rows the real rows are taken as
  the training set and their reference distances are leave-one-group-out (``group``).

Micrographs: :func:`matgen.evaluate.micrographs.micrograph_quality`, and the same copy test on the
phase indicators.
"""

from __future__ import annotations

import numpy as np

from matgen.data.dataset import Dataset
from matgen.data.split import group_keys
from matgen.errors import MatgenError
from matgen.evaluate.memorisation import memorisation, nearest_distances
from matgen.evaluate.micrographs import indicator, micrograph_quality
from matgen.evaluate.mmd import mmd2_unbiased
from matgen.evaluate.spectra import class_means, peak_errors, spectral_angle_deg, unit_range

#: At most this many rows per side enter the MMD (a seeded subsample beyond it), to bound its O(N²) cost.
MMD_ROWS = 600

PER_CLASS_KEYS = ("spectral_angle_deg", "peak_position_error", "peak_fwhm_error", "peak_height_error",
                  "peak_recall", "peak_precision")


def check_comparable(real: Dataset, synthetic: Dataset) -> None:
    """Raise a MatgenError unless both sets are of one kind on one axis (spectra) or one image size."""
    if real.kind != synthetic.kind:
        raise MatgenError(f"cannot compare {synthetic.kind} synthetic rows with {real.kind} real rows")
    if real.is_spectrum and not real.axis.matches(synthetic.axis):
        raise MatgenError(f"the synthetic axis ({synthetic.axis.describe()}) differs from the real one "
                          f"({real.axis.describe()}); resample both onto one axis first")
    if not real.is_spectrum and real.signals.shape[1:] != synthetic.signals.shape[1:]:
        raise MatgenError(f"synthetic images are {synthetic.signals.shape[1:]}, real ones {real.signals.shape[1:]}")


def _subsample(x: np.ndarray, rows: int, seed: int) -> np.ndarray:
    if len(x) <= rows:
        return x
    return x[np.sort(np.random.default_rng(seed).choice(len(x), rows, replace=False))]


def spectra_quality(real: Dataset, synthetic: Dataset, train: Dataset | None = None, label: str | None = None,
                    group: str | None = None, seed: int = 0) -> dict:
    """Quality metrics of synthetic spectra against real held-out ones (see the module notes).

    Args:
        real: real spectra the generator did not see (held out), or all real spectra.
        synthetic: the synthetic spectra, with ``label`` when it is given.
        train: the real rows the generator learnt from (for the baseline MMD and the copy test).
        label: categorical condition whose classes are compared one by one (None: all rows as one class).
        group: condition grouping real rows (leave-one-group-out copy test when ``train`` is None).
        seed: seed of the MMD subsample.
    """
    check_comparable(real, synthetic)
    axis = real.axis.values
    real_means, syn_means = class_means(real, label), class_means(synthetic, label)
    per_class = {}
    for name in (c for c in real_means if c in syn_means):
        errors = peak_errors(axis, real_means[name], syn_means[name])
        per_class[name] = {
            "spectral_angle_deg": spectral_angle_deg(real_means[name], syn_means[name]),
            "peak_position_error": errors.position, "peak_fwhm_error": errors.fwhm,
            "peak_height_error": errors.height, "peak_recall": errors.recall, "peak_precision": errors.precision,
        }
    metrics: dict = {"axis_unit": real.axis.unit, "classes_compared": len(per_class)}
    for key in PER_CLASS_KEYS:
        values = [c[key] for c in per_class.values() if np.isfinite(c[key])]
        metrics[key] = float(np.mean(values)) if values else float("nan")
    x_real, x_syn = unit_range(real.signals), unit_range(synthetic.signals)
    metrics["mmd2"] = mmd2_unbiased(_subsample(x_real, MMD_ROWS, seed), _subsample(x_syn, MMD_ROWS, seed + 1))
    x_train = unit_range(train.signals) if train is not None else None
    if x_train is not None:
        metrics["mmd2_real_baseline"] = mmd2_unbiased(_subsample(x_train, MMD_ROWS, seed),
                                                      _subsample(x_real, MMD_ROWS, seed + 1))
    metrics.update(copy_test(x_real, x_syn, x_train, group_keys(real, group)))
    metrics["per_class"] = per_class
    return metrics


def copy_test(x_real: np.ndarray, x_syn: np.ndarray, x_train: np.ndarray | None, groups: np.ndarray) -> dict:
    """``copied_fraction`` and the ``nn_*`` distances of :mod:`matgen.evaluate.memorisation` (rows flattened).

    With training rows: synthetic and real (held-out) rows against them. Without: the real rows
    are the training set, and their own leave-one-group-out distances (``groups``) the reference.
    """
    if x_train is not None:
        reference = nearest_distances(x_real, x_train)
        copies = memorisation(nearest_distances(x_syn, x_train), reference)
    else:
        if len(np.unique(groups)) < 2:
            raise MatgenError("the copy test needs real rows from at least 2 groups")
        reference = nearest_distances(x_real, x_real, exclude=groups, reference_groups=groups)
        copies = memorisation(nearest_distances(x_syn, x_real), reference)
    return {k if k == "copied_fraction" else f"nn_{k}": v for k, v in copies.as_dict().items()}


def sample_quality(real: Dataset, synthetic: Dataset, train: Dataset | None = None, label: str | None = None,
                   group: str | None = None, seed: int = 0, simulator: str | None = None) -> dict:
    """Quality metrics of ``synthetic`` against ``real`` for the data's kind (spectra or micrographs).

    ``simulator`` (micrographs): a :mod:`matgen.simulators` name whose mean properties are compared too.
    """
    if len(synthetic) == 0:
        raise MatgenError("there are no synthetic rows to evaluate")
    if real.is_spectrum:
        return spectra_quality(real, synthetic, train, label, group, seed)
    check_comparable(real, synthetic)
    metrics = micrograph_quality(real, synthetic, simulator=simulator)
    flat = [None if d is None else indicator(d).reshape(len(d), -1).astype(np.float64) for d in (real, synthetic, train)]
    metrics.update(copy_test(flat[0], flat[1], flat[2], group_keys(real, group)))
    return metrics
