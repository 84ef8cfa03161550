"""Requested versus achieved: how close simulated samples came to their targets, and run summaries.

For a target property p with requested value r_i on sample i (a fixed value or a range spread
over the samples) and simulated value a_i:

    error_i = a_i − r_i,   relative_i = |error_i| / |r_i|,   hit_i = relative_i ≤ tolerance (5 %)

A sample the simulator could not evaluate counts as a miss in the hit fraction and is left out of
the medians. :func:`validated_dataset` writes the result: the achieved properties under their
plain names (role ``property``, what the samples really are), the requests as ``<name>_target``
(role ``meta``) and the failure reason as ``simulation_error``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

import numpy as np

from matgen.simulators.base import Evaluation
from matgen.simulators.runner import bound, with_properties

TARGET_SUFFIX = "_target"


@dataclass
class TargetCheck:
    """Requested versus achieved for one target over the samples."""

    name: str  # property name (a simulator output)
    unit: str
    requested_low: float  # smallest requested value (== requested_high for one value)
    requested_high: float
    samples: int  # samples with a request
    evaluated: int  # of those, how many the simulator evaluated
    achieved_median: float  # median simulated value over evaluated samples (NaN when none)
    abs_error_median: float  # median |a − r|, in the unit
    relative_error_median: float  # median |a − r| / |r|
    within: float  # fraction of requested samples with relative error ≤ tolerance (failed = miss)
    tolerance: float  # the relative tolerance of ``within``

    @property
    def requested(self) -> str:
        """``2.9`` or ``2.8..3.0``."""
        if self.requested_low == self.requested_high:
            return f"{self.requested_low:.4g}"
        return f"{self.requested_low:.4g}..{self.requested_high:.4g}"


def _median(values: np.ndarray) -> float:
    return float(np.median(values)) if len(values) else float("nan")


def compare_targets(samples, simulator, evaluation: Evaluation, tolerance: float = 0.05) -> list[TargetCheck]:
    """One :class:`TargetCheck` per simulator output that the samples carry as a target (non-NaN condition).

    ``samples`` are generated rows whose conditions hold the targets they were generated for
    (what :func:`matgen.sample.sample` writes).
    """
    simulator = bound(simulator, samples)
    checks = []
    for o in simulator.outputs:
        cond = samples.conditions.get(o.name)
        if cond is None or cond.is_categorical or cond.missing.all():
            continue
        asked = ~cond.missing
        r = cond.values[asked]
        a = evaluation.properties[o.name][asked]
        ok = ~evaluation.failed[asked] & np.isfinite(a)
        error = np.abs(a[ok] - r[ok])
        relative = error / np.maximum(np.abs(r[ok]), 1e-300)
        checks.append(TargetCheck(
            name=o.name, unit=o.unit, requested_low=float(r.min()), requested_high=float(r.max()),
            samples=int(asked.sum()), evaluated=int(ok.sum()), achieved_median=_median(a[ok]),
            abs_error_median=_median(error), relative_error_median=_median(relative),
            within=float((relative <= tolerance).sum() / len(r)), tolerance=tolerance))
    return checks


def validated_dataset(samples, simulator, evaluation: Evaluation):
    """The samples relabelled with what they achieved; each target kept as ``<name>_target`` (module docstring)."""
    simulator = bound(simulator, samples)
    conditions = dict(samples.conditions)
    for o in simulator.outputs:
        if o.name in conditions:
            requested = conditions.pop(o.name)
            conditions[o.name + TARGET_SUFFIX] = replace(
                requested, role="meta", description=f"target requested for {o.name} (NaN = not conditioned)")
    return with_properties(replace(samples, conditions=conditions), simulator, evaluation)


@dataclass
class OutputSummary:
    """One simulated output over a run."""

    name: str
    unit: str
    median: float
    minimum: float
    maximum: float
    evaluated: int


def summarize_outputs(simulator, evaluation: Evaluation) -> list[OutputSummary]:
    """Median, min and max of each output over the evaluated rows."""
    rows = []
    for o in simulator.outputs:
        v = evaluation.properties[o.name][~evaluation.failed]
        v = v[np.isfinite(v)]
        rows.append(OutputSummary(o.name, o.unit, _median(v), float(v.min()) if len(v) else float("nan"),
                                  float(v.max()) if len(v) else float("nan"), len(v)))
    return rows


def failure_reasons(evaluation: Evaluation, top: int = 3) -> list[tuple[str, int]]:
    """The ``top`` most common failure reasons with their counts, most common first."""
    return Counter(str(e) for e in evaluation.errors if e).most_common(top)
