"""One evaluation of synthetic data: sample quality, adherence and the downstream test, as metrics.json.

:func:`evaluate` is what ``matgen evaluate`` calls. It takes real rows and synthetic rows made
beforehand (a separate file, or the synthetic rows of an augmented file), and/or augmenters that are
run inside the downstream protocol on every training split (the honest way: the synthetic data
never sees the test groups). It returns an :class:`EvaluationReport`; :func:`write_report` stores it
as JSON (NaN as null), atomically.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from matgen.common.files import write_json
from matgen.common.progress import Progress, no_progress
from matgen.data.dataset import Dataset
from matgen.errors import MatgenError
from matgen.evaluate.downstream import AugmentFn, DownstreamResult, downstream_by_predictor, fixed_synthetic, task_of
from matgen.evaluate.downstream import verdict as gain_verdict
from matgen.evaluate.models import PredictorConfig
from matgen.evaluate.quality import check_comparable, sample_quality


#: The name of the augmenter that adds a synthetic set made beforehand.
GIVEN = "synthetic"


@dataclass
class EvaluationReport:
    """What ``matgen evaluate`` measured.

    Attributes:
        real_rows, synthetic_rows: rows of each (synthetic: the set given beforehand, 0 if none).
        label, group: the predicted condition and the grouping of the split.
        quality: sample quality of the given synthetic set against all real rows (None without one).
        adherence: the given synthetic rows scored by a predictor trained on all real rows.
        downstream: the downstream protocol of the first predictor (None when it was not run).
        by_predictor: predictor name -> its downstream protocol (the same splits and synthetic rows).
        verdict: per augmenter, the predictors its rows helped and those they did not.
        warnings: things the user should know when reading the numbers.
    """

    real_rows: int
    synthetic_rows: int
    label: str | None
    group: str | None
    quality: dict | None = None
    adherence: float | None = None
    downstream: DownstreamResult | None = None
    by_predictor: dict[str, DownstreamResult] = field(default_factory=dict)
    verdict: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"real_rows": self.real_rows, "synthetic_rows": self.synthetic_rows, "label": self.label,
                "group": self.group, "quality": self.quality, "adherence": self.adherence,
                "downstream": self.downstream.to_dict() if self.downstream else None,
                "by_predictor": {name: d.to_dict() for name, d in self.by_predictor.items()}, "verdict": self.verdict,
                "warnings": self.warnings}


def split_synthetic(ds: Dataset) -> tuple[Dataset, Dataset]:
    """(real rows, synthetic rows) of one dataset, by its ``synthetic`` flag."""
    return ds.take(np.flatnonzero(~ds.synthetic)), ds.take(np.flatnonzero(ds.synthetic))


def _leak_warning(synthetic: Dataset, group: str | None) -> str | None:
    unknown = int(synthetic.conditions[group].missing.sum()) if group and group in synthetic.conditions else len(synthetic)
    if not unknown:
        return None
    where = f"no '{group}'" if group else "no group"
    return (f"{unknown} synthetic row(s) have {where}: if they were made from all the real rows, test groups "
            "leaked into them and the real+synthetic gain is optimistic; use --method to augment each training "
            "split alone")


def evaluate(real: Dataset, synthetic: Dataset | None = None, augmenters: Mapping[str, AugmentFn] | None = None,
             label: str | None = None, group: str | None = None, seeds: Sequence[int] = (0, 1, 2, 3, 4),
             test_fraction: float = 0.3, model: PredictorConfig | Sequence[PredictorConfig] = PredictorConfig(),
             run_downstream: bool = True, progress: Progress = no_progress,
             simulator: str | None = None) -> EvaluationReport:
    """Sample quality, adherence and the downstream protocol of synthetic data against real data.

    Args:
        real: the real rows (none may be flagged synthetic).
        synthetic: synthetic rows made beforehand (None: only ``augmenters``).
        augmenters: name -> ``augment_fn(train, seed)`` run inside the protocol on each training split.
        label: the condition to predict; needed for adherence and the downstream test.
        group: the condition that keeps a sample's rows on one side of each split (e.g. rruff_id).
        seeds, test_fraction: of :func:`matgen.evaluate.downstream.downstream`.
        model: the predictor, or several (the downstream protocol runs for each on the same splits and synthetic
            rows, and ``verdict`` says which predictors each augmenter helped); adherence uses the first.
        run_downstream: False skips the downstream protocol (quality and adherence only).
        progress: ``progress(done, total, message)``.
        simulator: micrographs: a :mod:`matgen.simulators` name whose properties of both sets are compared.

    Raises:
        MatgenError: no synthetic rows and no augmenters, mismatched kinds or axes, an unknown
            label or group, too few groups for a split.
    """
    augmenters = dict(augmenters or {})
    models = [model] if isinstance(model, PredictorConfig) else list(model)
    if not models:
        raise MatgenError("give at least one downstream predictor")
    model = models[0]
    if synthetic is not None and len(synthetic) == 0:
        raise MatgenError("the synthetic data has no rows (no row is flagged synthetic); augment it first with "
                          "`matgen augment`, or pass --synthetic SYN.h5")
    if synthetic is None and not augmenters:
        raise MatgenError("nothing to evaluate: give synthetic rows (--synthetic SYN.h5, or an augmented file) "
                          "or an augmentation --method")
    if len(real) == 0:
        raise MatgenError("there are no real rows to compare with")
    if label is not None:
        real.condition(label)
    if group is not None:
        real.condition(group)
    result = EvaluationReport(len(real), 0 if synthetic is None else len(synthetic), label, group)
    if synthetic is not None:
        check_comparable(real, synthetic)
        if label is not None and label not in synthetic.conditions:
            raise MatgenError(f"the synthetic rows have no '{label}'; they have: {', '.join(synthetic.conditions) or 'none'}")
        categorical = label is not None and real.conditions[label].is_categorical
        progress(0, 1, "sample quality")
        result.quality = sample_quality(real, synthetic, label=label if categorical else None, group=group,
                                        simulator=simulator)
        if label is not None:
            result.adherence = _adherence(real, synthetic, label, model)
        warning = _leak_warning(synthetic, group)
        if warning and run_downstream and label is not None:
            result.warnings.append(warning)
        augmenters = {GIVEN: fixed_synthetic(synthetic, group), **augmenters}
    if run_downstream and label is not None:
        result.by_predictor = downstream_by_predictor(real, augmenters, label, group, seeds, test_fraction, models,
                                                      progress)
        result.downstream = result.by_predictor[model.model]
        result.verdict = gain_verdict(result.by_predictor) if len(models) > 1 else []
    return result


def _adherence(real: Dataset, synthetic: Dataset, label: str, model: PredictorConfig) -> float:
    """Score of a predictor trained on all real rows, on the synthetic rows against their requested labels."""
    from matgen.evaluate.downstream import _fit_rows, _score

    task = task_of(real, label)
    predictor, _ = _fit_rows(real, task, model, model.seed)
    return _score(predictor, synthetic, task, model)


def write_report(evaluation: EvaluationReport | dict, path: str | Path) -> Path:
    """Write the evaluation (or any dict of metrics) to ``path`` as indented JSON, atomically."""
    data = evaluation.to_dict() if isinstance(evaluation, EvaluationReport) else evaluation
    return write_json(path, data, indent=2)

