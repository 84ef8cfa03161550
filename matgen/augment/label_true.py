"""Label-true generative rows: keep a sample only when a classifier of the real rows agrees with its label.

A generative model of a small dataset often makes spectra that do not look like the class they were
asked for; added to the training set they teach a classifier the wrong thing (docs/evaluate.md:
real-only 0.897, real + generative 0.813-0.857 on RRUFF). The filter (rejection sampling by a
classifier, as in classifier-filtered synthetic data):

1. fit a predictor (:mod:`matgen.evaluate.models`, default the small CNN) on the real rows of the
   dataset with a known ``label`` -- inside ``matgen evaluate``'s protocol those are the training
   split's, so the test rows are never seen;
2. draw one sample per requested row (:func:`~matgen.augment.generative.generative_augment`) and
   keep it when the predictor assigns it the label it was drawn for;
3. draw again for the rejected rows with fresh seeds (try k uses seeds seed + k M .. seed + k M + M - 1,
   M requested rows), up to ``tries`` times; rows still rejected are left out, so the result may
   hold fewer rows than asked for.

The file's ``augment_label_true`` attribute records the label, the draws and the rows kept.
"""

from __future__ import annotations

import json

import numpy as np

from matgen.augment.generative import as_run, generative_augment, grouped, row_targets
from matgen.common.progress import Progress, no_progress
from matgen.data.dataset import Dataset, concat
from matgen.errors import MatgenError
from matgen.evaluate.models import PredictorConfig, features, fit


def label_classifier(ds: Dataset, label: str, config: PredictorConfig = PredictorConfig()):
    """(predict(rows Dataset) -> (N,) category names or None, classes) of a predictor fitted on ``ds``'s real rows."""
    cond = ds.condition(label)
    if not cond.is_categorical:
        raise MatgenError(f"label-true augmentation needs a categorical label; '{label}' is continuous")
    real = ds.take(np.flatnonzero(~ds.synthetic & ~cond.missing))
    classes = list(cond.categories)
    codes = real.conditions[label].values.astype(np.int64)
    if len(np.unique(codes)) < 2:
        raise MatgenError(f"label-true augmentation needs real rows of at least 2 '{label}' classes")
    predictor = fit(features(real, config.max_points), codes, "classification", len(classes), config.check())

    def predict(rows: Dataset) -> np.ndarray:
        return np.asarray([classes[int(c)] for c in predictor.predict(features(rows, config.max_points))], dtype=object)

    return predict


def label_true_augment(ds: Dataset, run, conditions_rows: np.ndarray, label: str, seed: int = 0, tries: int = 4,
                       predictor: PredictorConfig = PredictorConfig(), progress: Progress = no_progress,
                       **sample_options) -> Dataset:
    """The generative rows of :func:`generative_augment` whose ``label`` a classifier of the real rows confirms.

    Raises:
        MatgenError: a continuous or unknown label, a label the run is not conditioned on, fewer than 2 classes,
            or ``tries`` < 1.
    """
    if not (isinstance(tries, int) and tries >= 1):
        raise MatgenError(f"tries must be a whole number >= 1, got {tries}")
    rows = np.asarray(conditions_rows, dtype=np.int64).reshape(-1)
    run = as_run(run, sample_options.get("device"))
    if label not in [spec.name for spec in run.conditions]:
        raise MatgenError(f"{run.path} is not conditioned on '{label}' (it takes: "
                          f"{', '.join(s.name for s in run.conditions) or 'nothing'}); its samples carry no label to check")
    if not len(rows):
        return generative_augment(ds, run, rows, seed, **sample_options)
    predict = label_classifier(ds, label, predictor)
    pending, kept, drawn = rows, [], 0
    for k in range(tries):
        if not len(pending):
            break
        part = generative_augment(ds, run, pending, seed + k * len(rows), progress=progress, **sample_options)
        order = [p for members in grouped(row_targets(ds, run.conditions, pending)).values() for p in members]
        drawn += len(part)
        agree = predict(part) == part.conditions[label].labels()
        kept.append(part.take(np.flatnonzero(agree)))
        pending = pending[np.asarray(order, dtype=np.int64)[~agree]]  # part row j was drawn for pending[order[j]]
    out = concat(kept)
    stats = {"label": label, "requested": int(len(rows)), "drawn": int(drawn), "kept": int(len(out)), "tries": tries}
    out.attrs = {**out.attrs, "augment_label_true": json.dumps(stats)}
    return out

