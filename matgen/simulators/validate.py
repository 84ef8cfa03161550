"""Requested versus achieved: how close simulated samples came to their targets, and run summaries.

For a target property p with requested value r_i on sample i (a fixed value or a range spread
over the samples) and simulated value a_i:

    error_i = a_i − r_i,   relative_i = |error_i| / |r_i|,   hit_i = relative_i ≤ tolerance (5 %)

or, where the simulator declares an absolute tolerance τ_i for the output (``Output.tolerance``,
``simulator.tolerances(samples)``: ±3 wt% for XRD fractions, 30 K for a Raman temperature),
hit_i = |error_i| ≤ τ_i. An output is compared with the condition it ``measures`` (its own name
by default: ``band_temperature`` measures ``temperature``).

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

    name: str  # the condition holding the request (the output's name, or what it measures)
    unit: str
    requested_low: float  # smallest requested value (== requested_high for one value)
    requested_high: float
    samples: int  # samples with a request
    evaluated: int  # of those, how many the simulator evaluated
    achieved_median: float  # median simulated value over evaluated samples (NaN when none)
    abs_error_median: float  # median |a − r|, in the unit
    relative_error_median: float  # median |a − r| / |r| over the requests r ≠ 0 (NaN when all are 0)
    within: float  # fraction of requested samples within the tolerance (failed = miss)
    tolerance: float  # the relative tolerance of ``within`` (used where no absolute one is declared)
    abs_error_mean: float = float("nan")  # mean |a − r| over evaluated samples (the MAE), in the unit
    absolute_tolerance: tuple[float, float] | None = None  # (smallest, largest) τ_i in the unit; None: relative
    output: str = ""  # the simulator output compared (== name unless it measures another condition)

    @property
    def requested(self) -> str:
        """``2.9`` or ``2.8..3.0``."""
        if self.requested_low == self.requested_high:
            return f"{self.requested_low:.4g}"
        return f"{self.requested_low:.4g}..{self.requested_high:.4g}"

    @property
    def tolerance_text(self) -> str:
        """``±3 wt%``, ``±0.12..0.16 GPa`` or ``5%``: what ``within`` counts."""
        if self.absolute_tolerance is None:
            return f"{100 * self.tolerance:g}%"
        low, high = self.absolute_tolerance
        span = f"{low:.3g}" if abs(high - low) <= 1e-9 * max(abs(high), 1.0) else f"{low:.3g}..{high:.3g}"
        return f"±{span} {self.unit}".rstrip()


def _median(values: np.ndarray) -> float:
    return float(np.median(values)) if len(values) else float("nan")


def compare_targets(samples, simulator, evaluation: Evaluation, tolerance: float = 0.05) -> list[TargetCheck]:
    """One :class:`TargetCheck` per simulator output whose condition the samples carry as a target (non-NaN).

    ``samples`` are generated rows whose conditions hold the targets they were generated for
    (what :func:`matgen.sample.sample` writes).
    """
    simulator = bound(simulator, samples)
    tolerances = simulator.tolerances(samples) if hasattr(simulator, "tolerances") else {}
    checks = []
    for o in simulator.outputs:
        name = getattr(o, "measures", "") or o.name
        cond = samples.conditions.get(name)
        if cond is None or cond.is_categorical or cond.missing.all():
            continue
        asked = ~cond.missing
        r = cond.values[asked]
        a = evaluation.properties[o.name][asked]
        ok = ~evaluation.failed[asked] & np.isfinite(a)
        error = np.abs(a[ok] - r[ok])
        nonzero = np.abs(r[ok]) > 0
        relative = error[nonzero] / np.abs(r[ok][nonzero])  # a request of exactly 0 has no relative error
        tau = tolerances.get(o.name)
        hits = error <= tolerance * np.abs(r[ok]) if tau is None else error <= tau[asked][ok]
        checks.append(TargetCheck(
            name=name, unit=o.unit, requested_low=float(r.min()), requested_high=float(r.max()),
            samples=int(asked.sum()), evaluated=int(ok.sum()), achieved_median=_median(a[ok]),
            abs_error_median=_median(error), relative_error_median=_median(relative),
            within=float(hits.sum() / len(r)), tolerance=tolerance,
            abs_error_mean=float(error.mean()) if len(error) else float("nan"),
            absolute_tolerance=None if tau is None else (float(tau[asked].min()), float(tau[asked].max())),
            output=o.name))
    return checks


def validated_dataset(samples, simulator, evaluation: Evaluation):
    """The samples relabelled with what they achieved; each target kept as ``<name>_target`` (module docstring)."""
    simulator = bound(simulator, samples)
    conditions = dict(samples.conditions)
    for o in simulator.outputs:
        name = getattr(o, "measures", "") or o.name
        if name in conditions:
            requested = conditions.pop(name)
            conditions[name + TARGET_SUFFIX] = replace(
                requested, role="meta", description=f"target requested for {name} (NaN = not conditioned)")
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
