"""Downstream usefulness: does training on real + synthetic rows predict new real data better?

The protocol, repeated for every seed:

1. Split the real rows into train and test by group (``group``, e.g. ``rruff_id``: all spectra of
   one sample on one side), stratified by the label for a classification
   (:func:`matgen.data.split.split_indices`). No group ever straddles the split (asserted).
2. Every augmenter sees **only the training split**: ``augment_fn(train, seed)`` returns the
   training rows plus its synthetic rows (``synthetic`` True). A generative augmenter must train its
   model on that split alone, or the test groups leak into the synthetic data.
3. Train the same predictor (:mod:`matgen.evaluate.models`, seeded with the seed) on each arm:
   ``real`` (the training split), ``real+NAME`` (training split + NAME's synthetic rows) and
   ``NAME only`` (its synthetic rows alone), and score each on the real test split: accuracy for a
   categorical label, mean absolute error (the label's unit) for a continuous one.
4. Per augmenter, two more figures: **adherence** -- the real-only predictor's score on the
   synthetic rows against the labels they were made for (do they look like what they claim to be?)
   -- and **sample quality** against the real test split (:func:`matgen.evaluate.quality.sample_quality`,
   copy test against the training split).

Each arm's score is reported as mean ± standard deviation over seeds, and its **gain** as the mean
± standard deviation of the per-seed paired difference to ``real`` (accuracy: arm − real; MAE:
real − arm, so a positive gain is always an improvement).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from matgen.common.progress import Progress, no_progress
from matgen.data.dataset import Dataset
from matgen.data.split import group_keys, split_indices
from matgen.errors import MatgenError
from matgen.evaluate.models import PredictorConfig, Predictor, features, fit, score
from matgen.evaluate.quality import check_comparable, sample_quality

AugmentFn = Callable[[Dataset, int], Dataset]


@dataclass
class Task:
    """What is predicted: a label's classes (classification) or a continuous condition (regression)."""

    label: str
    kind: str  # classification or regression
    classes: tuple[str, ...] = ()  # class names (classification)
    unit: str = ""  # the label's unit (regression)

    @property
    def metric(self) -> str:
        return "accuracy" if self.kind == "classification" else "mae"

    def targets(self, ds: Dataset) -> np.ndarray:
        """(N,) class codes into ``classes`` (-1 unknown or unseen) or float targets (NaN unknown) of ``ds``'s rows."""
        if self.label not in ds.conditions:
            raise MatgenError(f"rows lack the label '{self.label}'; they have: {', '.join(ds.conditions) or 'none'}")
        cond = ds.conditions[self.label]
        if self.kind == "classification":
            if not cond.is_categorical:
                raise MatgenError(f"'{self.label}' is continuous in some rows and categorical in others")
            index = {c: i for i, c in enumerate(self.classes)}
            return np.asarray([index.get(name, -1) if name is not None else -1 for name in cond.labels()])
        if cond.is_categorical:
            raise MatgenError(f"'{self.label}' is categorical in some rows and continuous in others")
        return cond.values.astype(np.float64)

    def known(self, y: np.ndarray) -> np.ndarray:
        return y >= 0 if self.kind == "classification" else np.isfinite(y)


def task_of(ds: Dataset, label: str) -> Task:
    """The prediction task of ``label`` in ``ds`` (a MatgenError lists the conditions when it is unknown)."""
    cond = ds.condition(label)
    if cond.is_categorical:
        return Task(label, "classification", tuple(cond.categories))
    return Task(label, "regression", unit=cond.unit)


@dataclass
class DownstreamResult:
    """Scores of every arm over seeds, with the split sizes, adherence and sample quality per augmenter.

    Attributes:
        task: what was predicted.
        group: the grouping condition of the split (None: every row its own group).
        seeds: the seeds, one split and one model initialisation each.
        scores: arm -> per-seed score (accuracy, fraction; or MAE in the label's unit).
        splits: per seed, rows and groups on each side.
        synthetic_rows: augmenter -> per-seed number of synthetic rows with a known label.
        adherence: augmenter -> per-seed score of the real-only predictor on its synthetic rows.
        quality: augmenter -> per-seed sample-quality metrics against the test split.
        model: the predictor's configuration.
        seconds: wall time of the whole protocol.
        examples: augmenter -> (training split, its augmented output) of the first seed, for pictures.
    """

    task: Task
    group: str | None
    seeds: list[int]
    scores: dict[str, list[float]]
    splits: list[dict]
    synthetic_rows: dict[str, list[int]]
    adherence: dict[str, list[float]]
    quality: dict[str, list[dict]]
    model: PredictorConfig
    seconds: float = 0.0
    examples: dict[str, tuple[Dataset, Dataset]] = field(default_factory=dict, repr=False)

    def summary(self) -> list[dict]:
        """One dict per arm: arm, mean, std, gain_mean, gain_std (gain > 0 is better), seeds."""
        base = np.asarray(self.scores["real"])
        sign = 1.0 if self.task.kind == "classification" else -1.0
        rows = []
        for arm, values in self.scores.items():
            v = np.asarray(values)
            gain = sign * (v - base)
            rows.append({"arm": arm, "mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
                         "gain_mean": float(gain.mean()), "gain_std": float(gain.std(ddof=1)) if len(v) > 1 else 0.0,
                         "seeds": len(v)})
        return rows

    def to_dict(self) -> dict:
        """Everything but the example datasets, as JSON-ready values (NaN stays NaN)."""
        from dataclasses import asdict

        return {
            "task": asdict(self.task) | {"metric": self.task.metric}, "group": self.group, "seeds": self.seeds,
            "model": asdict(self.model), "summary": self.summary(), "scores": self.scores, "splits": self.splits,
            "synthetic_rows": self.synthetic_rows, "adherence": self.adherence,
            "adherence_summary": {k: _mean_std(v) for k, v in self.adherence.items()},
            "quality": self.quality, "quality_summary": {k: summarize_quality(v) for k, v in self.quality.items()},
            "seconds": self.seconds,
        }


def _mean_std(values: Sequence[float]) -> dict:
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=float)
    if not len(v):
        return {"mean": float("nan"), "std": float("nan")}
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0}


def summarize_quality(per_seed: Sequence[dict]) -> dict:
    """Metric -> {mean, std} over seeds of the numeric top-level quality metrics."""
    keys = [k for k, v in per_seed[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)] if per_seed else []
    return {k: _mean_std([q[k] for q in per_seed]) for k in keys}


def split_by_group(ds: Dataset, task: Task, group: str | None, seed: int, test_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, test rows) of ``ds``: whole groups on each side, stratified by the class when classifying.

    Raises:
        MatgenError: fewer than 2 groups, or a split that leaves one side empty.
    """
    groups = group_keys(ds, group)
    n_groups = len(np.unique(groups))
    if n_groups < 2:
        raise MatgenError(f"a train/test split needs at least 2 groups; '{group}' has {n_groups}" if group else
                          f"a train/test split needs at least 2 rows, got {len(ds)}")
    strata = None
    if task.kind == "classification":
        strata = task.targets(ds).astype(str)
    train, test = split_indices(groups, (1.0 - test_fraction, test_fraction), seed=seed, strata=strata)
    if not len(train) or not len(test):
        raise MatgenError(f"{n_groups} group(s) are too few to split {1 - test_fraction:.0%} / {test_fraction:.0%}; "
                          "give more data or a larger --test-fraction")
    assert not set(groups[train]) & set(groups[test]), "a group straddles the train/test split"
    return train, test


def _fit_rows(ds: Dataset, task: Task, model: PredictorConfig, seed: int) -> tuple[Predictor, int]:
    y = task.targets(ds)
    keep = task.known(y)
    if not keep.any():
        raise MatgenError(f"no training row has a known '{task.label}'")
    x = features(ds.take(np.flatnonzero(keep)), model.max_points)
    config = PredictorConfig(**{**model.__dict__, "seed": seed})
    return fit(x, y[keep], task.kind, len(task.classes), config), int(keep.sum())


def _score(predictor: Predictor, ds: Dataset, task: Task, model: PredictorConfig) -> float:
    y = task.targets(ds)
    keep = task.known(y)
    if not keep.any():
        return float("nan")
    return score(task.kind, predictor.predict(features(ds.take(np.flatnonzero(keep)), model.max_points)), y[keep])


def downstream(real: Dataset, augmenters: Mapping[str, AugmentFn], label: str, group: str | None = None,
               seeds: Sequence[int] = (0, 1, 2, 3, 4), test_fraction: float = 0.3,
               model: PredictorConfig = PredictorConfig(), synthetic_only: bool = True, quality: bool = True,
               progress: Progress = no_progress) -> DownstreamResult:
    """Run the protocol of the module notes; returns every arm's per-seed score.

    Args:
        real: real rows only (a synthetic row here is an error).
        augmenters: name -> ``augment_fn(train, seed) -> Dataset`` (train + synthetic rows). May be empty.
        label: the condition to predict: categorical (accuracy) or continuous (MAE).
        group: condition whose rows stay on one side of the split (e.g. rruff_id); None: each row alone.
        seeds: one split, augmentation and model seed each.
        test_fraction: fraction of the rows (whole groups) in the test split.
        model: the predictor, the same for every arm.
        synthetic_only: also train on the synthetic rows alone.
        quality: also measure sample quality against the test split.
        progress: ``progress(done, total, message)``, one step per trained model.
    """
    if real.synthetic.any():
        raise MatgenError(f"the real data holds {int(real.synthetic.sum())} synthetic row(s); pass the real rows only")
    if not 0 < test_fraction < 1:
        raise MatgenError(f"the test fraction must be between 0 and 1, got {test_fraction}")
    if not len(seeds):
        raise MatgenError("give at least one seed")
    model.check()
    task = task_of(real, label)
    if group is not None:
        real.condition(group)
    start = time.perf_counter()
    names = list(augmenters)
    arms = ["real"] + [f"real+{n}" for n in names] + ([f"{n} only" for n in names] if synthetic_only else [])
    result = DownstreamResult(task, group, [int(s) for s in seeds], {arm: [] for arm in arms}, [],
                              {n: [] for n in names}, {n: [] for n in names}, {n: [] for n in names}, model)
    total, done = len(seeds) * len(arms), 0
    for seed in seeds:
        train_rows, test_rows = split_by_group(real, task, group, int(seed), test_fraction)
        train, test = real.take(train_rows), real.take(test_rows)
        groups = group_keys(real, group)
        result.splits.append({"seed": int(seed), "train_rows": len(train_rows), "test_rows": len(test_rows),
                              "train_groups": len(np.unique(groups[train_rows])),
                              "test_groups": len(np.unique(groups[test_rows]))})
        predictor, _ = _fit_rows(train, task, model, int(seed))
        result.scores["real"].append(_score(predictor, test, task, model))
        done += 1
        progress(done, total, f"seed {seed}: real")
        for name in names:
            augmented = augmenters[name](train, int(seed))
            check_comparable(real, augmented)
            synthetic = augmented.take(np.flatnonzero(augmented.synthetic))
            known = task.known(task.targets(synthetic))
            if not known.any():
                raise MatgenError(f"augmenter '{name}' made no synthetic row with a known '{label}' "
                                  f"({len(synthetic)} synthetic row(s) in all)")
            synthetic = synthetic.take(np.flatnonzero(known))
            result.synthetic_rows[name].append(len(synthetic))
            result.adherence[name].append(_score(predictor, synthetic, task, model))
            if quality:
                result.quality[name].append(sample_quality(
                    test, synthetic, train=train, label=label if task.kind == "classification" else None,
                    seed=int(seed)))
            if name not in result.examples:
                result.examples[name] = (train, augmented)
            mixed, _ = _fit_rows(augmented, task, model, int(seed))
            result.scores[f"real+{name}"].append(_score(mixed, test, task, model))
            done += 1
            progress(done, total, f"seed {seed}: real+{name}")
            if synthetic_only:
                alone, _ = _fit_rows(synthetic, task, model, int(seed))
                result.scores[f"{name} only"].append(_score(alone, test, task, model))
                done += 1
                progress(done, total, f"seed {seed}: {name} only")
    result.seconds = time.perf_counter() - start
    return result


def downstream_by_predictor(real: Dataset, augmenters: Mapping[str, AugmentFn], label: str, group: str | None = None,
                            seeds: Sequence[int] = (0, 1, 2, 3, 4), test_fraction: float = 0.3,
                            models: Sequence[PredictorConfig] = (PredictorConfig(),), synthetic_only: bool = True,
                            progress: Progress = no_progress) -> dict[str, DownstreamResult]:
    """:func:`downstream` for each predictor in ``models`` (name -> result), on the same splits and the same synthetic
    rows: each augmenter runs once per seed (its output is reused by every predictor), and the sample quality,
    which does not depend on the predictor, is measured with the first."""
    if not models:
        raise MatgenError("give at least one downstream predictor")
    names = [m.model for m in models]
    if len(set(names)) != len(names):
        raise MatgenError(f"a downstream predictor is named twice in {', '.join(names)}")
    cached = {name: _memoised(fn) for name, fn in augmenters.items()}
    results = {}
    for k, model in enumerate(models):
        def inner(done: int, total: int, message: str, k=k) -> None:
            progress(k * total + done, len(models) * total, f"{model.model}: {message}")

        results[model.model] = downstream(real, cached, label, group, seeds, test_fraction, model, synthetic_only,
                                          quality=k == 0, progress=inner)
    return results


def _memoised(augment_fn: AugmentFn) -> AugmentFn:
    """The augmenter, run once per seed (the split of a seed is the same for every predictor)."""
    outputs: dict[int, Dataset] = {}

    def cached(train: Dataset, seed: int) -> Dataset:
        if seed not in outputs:
            outputs[seed] = augment_fn(train, seed)
        return outputs[seed]

    return cached


def verdict(results: Mapping[str, DownstreamResult]) -> list[str]:
    """One line per augmenter: the predictors its rows helped, those they hurt, and those with no clear change.

    A predictor is helped when the mean paired gain over seeds is above one standard error (std / sqrt(seeds)),
    hurt when it is below minus one, and unchanged in between; the gain is shown as mean ± std (gain > 0 is
    better for accuracy and MAE alike)."""
    lines = []
    first = next(iter(results.values()))
    for name in first.synthetic_rows:
        groups: dict[str, list[str]] = {"helps": [], "does not help": [], "no clear change for": []}
        for predictor, result in results.items():
            row = next(r for r in result.summary() if r["arm"] == f"real+{name}")
            error = row["gain_std"] / np.sqrt(len(result.seeds))
            text = f"{predictor} ({row['gain_mean']:+.3f} ± {row['gain_std']:.3f})"
            key = "helps" if row["gain_mean"] > error else "does not help" if row["gain_mean"] < -error else \
                "no clear change for"
            groups[key].append(text)
        lines.append(f"{name}: " + "; ".join(f"{key} {', '.join(items)}" for key, items in groups.items() if items))
    return lines


def fixed_synthetic(synthetic: Dataset, group: str | None = None) -> AugmentFn:
    """An augmenter that adds the rows of a synthetic set made beforehand to every training split.

    With ``group``, a synthetic row whose group is known but not in the training split is left out
    (a physics-augmented copy of a test spectrum would leak it); rows of unknown group are kept.
    """
    def augment_fn(train: Dataset, seed: int) -> Dataset:
        from matgen.data.dataset import concat

        rows = np.arange(len(synthetic))
        if group is not None and group in synthetic.conditions:
            cond = synthetic.conditions[group]
            train_groups = set(group_keys(train, group))
            keys = group_keys(synthetic, group)
            rows = np.flatnonzero(cond.missing | np.isin(keys, list(train_groups)))
        part = synthetic.take(rows)
        part.synthetic = np.ones(len(part), dtype=bool)
        return concat([train, part])

    return augment_fn
