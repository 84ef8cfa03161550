"""Campaign targets: a value with a tolerance, a range or a bound, and the maths of hits and errors.

A target is written as text (TOML, the command line) or built in Python::

    "2.95 ± 1%"   "2.95 +- 0.02"   "2.95 +/- 1%"     value with a relative (%) or absolute tolerance
    "140..160"                                         a range, both ends included
    ">= 150"  "> 150"  "<= 3.0"  "< 3.0"               a bound (strict or not: the same test on floats)
    2.95                                               a bare number: the value with DEFAULT_TOLERANCE

or as a TOML table ``{value = 2.95, tolerance = "1%"}``, ``{low = 140, high = 160}``,
``{min = 150}`` / ``{max = 3.0}``.

An achieved property a (NaN = the simulator failed) *meets* its target when

    value v, tolerance t:   |a - v| <= t            (t = r |v| for a relative tolerance r)
    range [lo, hi]:         lo <= a <= hi
    bound >= b / <= b:      a >= b  /  a <= b

and a candidate is a *hit* when it meets every target. The *relative error* of a property is
|a - v| / |v| for a value and, for a range or a bound, how far it falls outside, relative to the
nearest admissible value (0 inside). Ranges and bounds are turned into what the model is asked
for (:meth:`Target.sampling_values`): a range spreads the candidates over its central half, a
bound asks for the bound moved ``margin`` (relative) into the admissible side, kept inside the
model's training range where that still satisfies the bound.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from matgen.common.ranges import split_range
from matgen.errors import MatgenError

KINDS = ("value", "range", "min", "max")
#: Relative tolerance of a target given as a bare number.
DEFAULT_TOLERANCE = 0.05
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_VALUE = re.compile(rf"^\s*({_NUMBER})\s*(?:±|\+-|\+/-)\s*({_NUMBER})\s*(%?)\s*$")
_BOUND = re.compile(rf"^\s*(>=|<=|>|<|≥|≤)\s*({_NUMBER})\s*$")
FORMS = "'2.95 ± 1%', '2.95 +- 0.02', '140..160', '>= 150' or '<= 3.0'"


@dataclass(frozen=True)
class Target:
    """One property goal, in the property's unit.

    Attributes:
        name: the property (a condition of the model and an output of the simulator).
        kind: ``value``, ``range``, ``min`` (a >= low) or ``max`` (a <= high).
        value: the wanted value (kind ``value``), else NaN.
        tolerance: the allowed |a - value|: relative (a fraction of |value|) when ``relative``, else absolute.
        relative: whether ``tolerance`` is relative.
        low, high: the admissible interval (ranges and bounds; -inf/inf for an open end; values: value ± tol).
    """

    name: str
    kind: str
    value: float = math.nan
    tolerance: float = 0.0
    relative: bool = True
    low: float = -math.inf
    high: float = math.inf

    @classmethod
    def around(cls, name: str, value: float, tolerance: float, relative: bool = True) -> "Target":
        """``value ± tolerance`` (relative: a fraction of |value|, e.g. 0.05 for ±5 %)."""
        if not (math.isfinite(value) and math.isfinite(tolerance)) or tolerance < 0:
            raise MatgenError(f"target {name}: value and tolerance must be finite and the tolerance >= 0, "
                              f"got {value} ± {tolerance}")
        half = tolerance * abs(value) if relative else tolerance
        return cls(name, "value", float(value), float(tolerance), relative, value - half, value + half)

    @classmethod
    def between(cls, name: str, low: float, high: float) -> "Target":
        """The range ``low..high``, ends included."""
        if not (math.isfinite(low) and math.isfinite(high)) or low > high:
            raise MatgenError(f"target {name}: a range needs finite LOW <= HIGH, got {low}..{high}")
        return cls(name, "range", low=float(low), high=float(high))

    @classmethod
    def at_least(cls, name: str, low: float) -> "Target":
        """The bound ``>= low``."""
        return cls(name, "min", low=_finite(name, low))

    @classmethod
    def at_most(cls, name: str, high: float) -> "Target":
        """The bound ``<= high``."""
        return cls(name, "max", high=_finite(name, high))

    @property
    def centre(self) -> float:
        """The point the target is measured from: the value, the range's middle, or the bound."""
        if self.kind == "value":
            return self.value
        if self.kind == "range":
            return 0.5 * (self.low + self.high)
        return self.low if self.kind == "min" else self.high

    def probes(self) -> list[float]:
        """Values that stand for the target in a feasibility check (any of them reachable: feasible)."""
        if self.kind == "range":
            return [self.low, self.centre, self.high]
        return [self.centre]

    def sampling_values(self, n: int, margin: float = 0.05, trained: tuple[float, float] | None = None) -> np.ndarray:
        """Return the (n,) values the model is conditioned on for this target.

        value: the value; range: n values spread evenly over the central half of the range;
        bound: the bound moved ``margin`` x |bound| into the admissible side, but no further than
        the ``trained`` (min, max) of the condition when that end still satisfies the bound.
        """
        if self.kind == "value":
            return np.full(n, self.value)
        if self.kind == "range":
            quarter = 0.25 * (self.high - self.low)
            return np.linspace(self.low + quarter, self.high - quarter, n) if n > 1 else np.asarray([self.centre])
        step = margin * max(abs(self.centre), 1e-12)
        if self.kind == "min":
            goal = self.low + step
            if trained is not None and self.low <= trained[1] < goal:
                goal = trained[1]
        else:
            goal = self.high - step
            if trained is not None and goal < trained[0] <= self.high:
                goal = trained[0]
        return np.full(n, goal)

    def physics_interval(self, margin: float = 0.05) -> tuple[float, float, float]:
        """(low, high, tolerance) that physics guidance steers towards (:mod:`matgen.sample.physics`).

        value: exactly the value, within its tolerance; range: its central half, within a quarter
        of its width; bound: the bound moved ``margin`` x |bound| into the admissible side, one-sided.
        """
        if self.kind == "value":
            return self.value, self.value, max(self.high - self.value, 1e-12)
        if self.kind == "range":
            quarter = 0.25 * (self.high - self.low)
            return self.low + quarter, self.high - quarter, max(quarter, 1e-12)
        step = max(margin * abs(self.centre), 1e-12)
        if self.kind == "min":
            return self.low + step, math.inf, step
        return -math.inf, self.high - step, step

    def describe(self, unit: str = "") -> str:
        """``density 2.95 ± 1% g/cm3``, ``modulus >= 150 GPa``, ``modulus 140..160 GPa``."""
        u = f" {unit}" if unit else ""
        if self.kind == "value":
            tol = f"{100 * self.tolerance:g}%" if self.relative else f"{self.tolerance:g}{u}"
            return f"{self.name} {self.value:g} ± {tol}" + (u if self.relative else "")
        if self.kind == "range":
            return f"{self.name} {self.low:g}..{self.high:g}{u}"
        return f"{self.name} {'>=' if self.kind == 'min' else '<='} {self.centre:g}{u}"

    def text(self) -> str:
        """The target in the text form :func:`parse_target` reads back (for config files)."""
        if self.kind == "value":
            tol = f"{100 * self.tolerance:.12g}%" if self.relative else f"{self.tolerance:.12g}"
            return f"{self.value:.12g} ± {tol}"
        if self.kind == "range":
            return f"{self.low:.12g}..{self.high:.12g}"
        return f"{'>=' if self.kind == 'min' else '<='} {self.centre:.12g}"


def _finite(name: str, x) -> float:
    try:
        value = float(x)
    except (TypeError, ValueError):
        raise MatgenError(f"target {name}: '{x}' is not a number; give {FORMS}") from None
    if not math.isfinite(value):
        raise MatgenError(f"target {name}: the bound must be a finite number, got {x}")
    return value


def parse_target(name: str, spec) -> Target:
    """The Target that ``spec`` (text, a number, a table or a Target) describes for property ``name``.

    Raises:
        MatgenError: a form that is none of those in the module docstring (the message shows them).
    """
    if isinstance(spec, Target):
        return spec if spec.name == name else Target(name, *[getattr(spec, f) for f in
                                                              ("kind", "value", "tolerance", "relative", "low", "high")])
    if isinstance(spec, bool):
        raise MatgenError(f"target {name}: '{spec}' is not a target; give {FORMS}")
    if isinstance(spec, (int, float)):
        return Target.around(name, float(spec), DEFAULT_TOLERANCE)
    if isinstance(spec, Mapping):
        return _from_table(name, dict(spec))
    if not isinstance(spec, str):
        raise MatgenError(f"target {name}: {spec!r} is not a target; give {FORMS}")
    return parse_target_text(name, spec)


def parse_target_text(name: str, spec: str) -> Target:
    """The Target that the text ``spec`` describes (the forms of the module docstring).

    A campaign parses each target's text once, when its config is made (:class:`CampaignConfig`).

    Raises:
        MatgenError: text in none of the forms (the message shows them).
    """
    if m := _VALUE.match(spec):
        tol = float(m.group(2))
        return Target.around(name, float(m.group(1)), tol / 100 if m.group(3) else tol, relative=bool(m.group(3)))
    if (ends := split_range(spec)) is not None:
        return Target.between(name, _finite(name, ends[0]), _finite(name, ends[1]))
    if m := _BOUND.match(spec):
        bound = float(m.group(2))
        return Target.at_least(name, bound) if m.group(1) in (">=", ">", "≥") else Target.at_most(name, bound)
    try:
        return Target.around(name, float(spec), DEFAULT_TOLERANCE)
    except ValueError:
        raise MatgenError(f"target {name}: cannot read '{spec}'; give {FORMS}") from None


def _from_table(name: str, table: dict) -> Target:
    keys = set(table)
    if keys <= {"value", "tolerance"} and "value" in keys:
        tol = table.get("tolerance", f"{100 * DEFAULT_TOLERANCE:g}%")
        text = str(tol).strip()
        relative = text.endswith("%")
        amount = _finite(name, text.rstrip("%").strip())
        return Target.around(name, _finite(name, table["value"]), amount / 100 if relative else amount, relative)
    if keys == {"low", "high"}:
        return Target.between(name, _finite(name, table["low"]), _finite(name, table["high"]))
    if keys == {"min"}:
        return Target.at_least(name, table["min"])
    if keys == {"max"}:
        return Target.at_most(name, table["max"])
    raise MatgenError(f"target {name}: a table takes value (+ tolerance), low + high, min or max; got "
                      f"{', '.join(sorted(keys)) or 'nothing'}")


def parse_targets(specs: Mapping[str, object]) -> dict[str, Target]:
    """name -> Target for every entry of ``specs``; at least one is needed."""
    if not specs:
        raise MatgenError(f"give at least one target, e.g. [targets] density = \"2.95 ± 1%\"; forms: {FORMS}")
    return {str(name).replace("-", "_"): parse_target(str(name).replace("-", "_"), spec) for name, spec in specs.items()}


# --- hits and errors: pure functions of arrays ------------------------------------------------


def meets(target: Target, achieved: np.ndarray) -> np.ndarray:
    """(N,) bool: achieved values (NaN = failed) inside the target's admissible interval."""
    a = np.asarray(achieved, dtype=np.float64)
    slack = 1e-12 * max(1.0, abs(target.low) if math.isfinite(target.low) else 0.0,
                        abs(target.high) if math.isfinite(target.high) else 0.0)
    with np.errstate(invalid="ignore"):
        return (a >= target.low - slack) & (a <= target.high + slack) & np.isfinite(a)


def relative_error(target: Target, achieved: np.ndarray) -> np.ndarray:
    """(N,) relative error (module docstring): |a - v| / |v| for a value; for a range or bound the
    distance outside the admissible interval over |nearest admissible value|, 0 inside. NaN stays NaN."""
    a = np.asarray(achieved, dtype=np.float64)
    if target.kind == "value":
        return np.abs(a - target.value) / max(abs(target.value), 1e-12)
    below = np.clip(target.low - a, 0.0, None) / max(abs(target.low), 1e-12) if math.isfinite(target.low) else 0.0
    above = np.clip(a - target.high, 0.0, None) / max(abs(target.high), 1e-12) if math.isfinite(target.high) else 0.0
    with np.errstate(invalid="ignore"):
        return np.where(np.isnan(a), np.nan, below + above)


def hits(targets: Mapping[str, Target], achieved: Mapping[str, np.ndarray]) -> np.ndarray:
    """(N,) bool: candidates that meet every target."""
    masks = [meets(t, achieved[name]) for name, t in targets.items()]
    return np.logical_and.reduce(masks) if masks else np.zeros(0, bool)


def errors(targets: Mapping[str, Target], achieved: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """name -> (N,) relative error of each target."""
    return {name: relative_error(t, achieved[name]) for name, t in targets.items()}


@dataclass(frozen=True)
class Scores:
    """How N candidates did against the targets: computed once by :func:`score_candidates`, read by every table."""

    hit: np.ndarray  # (N,) bool: meets every target (a failed candidate, NaN, never does)
    errors: dict  # target name -> (N,) relative error (NaN where the candidate failed)
    order: np.ndarray  # (N,) candidate indices, best first: hits, then by the largest relative error; failed last


def score_candidates(targets: Mapping[str, Target], achieved: Mapping[str, np.ndarray]) -> Scores:
    """The :class:`Scores` of the candidates whose achieved properties are ``achieved`` (name -> (N,), NaN = failed)."""
    hit, err = hits(targets, achieved), errors(targets, achieved)
    worst = np.max(np.stack(list(err.values())), axis=0) if err else np.zeros(len(hit))  # (N,)
    worst = np.where(np.isnan(worst), np.inf, worst)
    return Scores(hit, err, np.lexsort((worst, ~hit)))


def ranking(targets: Mapping[str, Target], achieved: Mapping[str, np.ndarray]) -> np.ndarray:
    """Candidate indices best first: hits before misses, then by the largest relative error; failed ones last."""
    return score_candidates(targets, achieved).order
