"""Sampling targets: names and values in the conditions' units to a (n, K) condition matrix, NaN = not given.

A target value is one of

* a number (``2.9``) in the condition's unit: every sample gets it;
* a range ``(110, 130)`` or the text ``"110..130"``: the n samples are spread evenly over it,
  sample i getting low + i (high - low) / (n - 1);
* a category name (``"quartz"``) for a categorical condition;
* None, NaN or ``""``: not conditioned (the model's null token), the same as leaving it out.

Names may use - for _ (``anneal-time`` is ``anneal_time``), as the command line writes them.
A continuous target outside the training range still samples, with a warning (extrapolation).
With regressor guidance, :func:`split_targets` hands each target to the model's conditions, to
the regressor's (which steers it), or to both.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence, Union

import numpy as np

from matgen.common.ranges import split_range
from matgen.errors import MatgenError
from matgen.nets.embeddings import ConditionSpec

TargetValue = Union[float, int, str, tuple, list, None]


def option_name(name: str) -> str:
    """The command-line option of condition ``name``: ``anneal_time`` -> ``--target-anneal-time``."""
    return "--target-" + name.replace("_", "-")


def describe_target(spec: ConditionSpec) -> str:
    """``density: g/cm3, trained 2.85..3.06`` or ``mineral: one of quartz, calcite``."""
    if spec.kind == "categorical":
        return f"{spec.name}: one of {', '.join(spec.categories)}"
    unit = f"{spec.unit}, " if spec.unit else "dimensionless, "
    return f"{spec.name}: {unit}trained {spec.minimum:.4g}..{spec.maximum:.4g}"


def valid_targets(specs: Sequence[ConditionSpec]) -> str:
    """The valid target names with units and ranges, for error messages."""
    if not specs:
        return "none: this model is unconditional"
    return "; ".join(describe_target(s) for s in specs)


def _is_missing(value: TargetValue) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or (isinstance(value, str) and
                                                                                  value.strip().lower() in ("", "nan"))


def _number(spec: ConditionSpec, text) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        unit = f" in {spec.unit}" if spec.unit else ""
        raise MatgenError(f"target {spec.name} '{text}' is not a number{unit}; give e.g. "
                          f"{spec.mean:.3g} or a range LOW..HIGH") from None
    if not math.isfinite(value):
        raise MatgenError(f"target {spec.name} must be a finite number, got {text}")
    return value


def target_column(spec: ConditionSpec, value: TargetValue, n: int) -> np.ndarray:
    """The (n,) requested values of a continuous target: a number for all, or a range spread over the samples."""
    return _continuous(spec, value, n)[0]


def _continuous(spec: ConditionSpec, value: TargetValue, n: int) -> tuple[np.ndarray, list[float]]:
    """Return the (n,) column and the end points to range-check."""
    value = split_range(value) or value
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise MatgenError(f"target {spec.name}: a range has two ends, LOW..HIGH; got {value}")
        low, high = _number(spec, value[0]), _number(spec, value[1])
        if low > high:
            raise MatgenError(f"target {spec.name}: the range {value[0]}..{value[1]} runs backwards; give "
                              f"LOW..HIGH with LOW <= HIGH ({value[1]}..{value[0]})")
        column = np.linspace(low, high, n) if n > 1 else np.asarray([low])
        return column, [low, high]
    number = _number(spec, value)
    return np.full(n, number), [number]


def _categorical(spec: ConditionSpec, value: TargetValue, n: int) -> np.ndarray:
    name = str(value).strip()
    if name not in spec.categories:
        raise MatgenError(f"target {spec.name} '{value}' is not a category of this model; choose from "
                          f"{', '.join(spec.categories)}")
    return np.full(n, float(spec.categories.index(name)))


def resolve_targets(specs: Sequence[ConditionSpec], targets: Mapping[str, TargetValue] | None,
                    n: int) -> tuple[np.ndarray, list[str]]:
    """Return the (n, K) condition matrix (NaN = not given; categorical: codes) and the warnings.

    Raises:
        MatgenError: an unknown target name (the message lists the valid ones with units and
            training ranges), a value that is not a number, or an unknown category (the message
            lists the categories).
    """
    values = np.full((n, len(specs)), np.nan)
    by_name = {s.name: k for k, s in enumerate(specs)}
    warnings = []
    for raw_name, value in (targets or {}).items():
        name = raw_name.replace("-", "_")
        if name not in by_name:
            raise MatgenError(f"unknown target '{raw_name}'; this model takes: {valid_targets(specs)}")
        k, spec = by_name[name], specs[by_name[name]]
        if _is_missing(value):
            continue
        if spec.kind == "categorical":
            if isinstance(value, (tuple, list)) or split_range(value) is not None:
                raise MatgenError(f"target {name} is categorical: give one of {', '.join(spec.categories)}, not a range")
            values[:, k] = _categorical(spec, value, n)
            continue
        values[:, k], ends = _continuous(spec, value, n)
        if spec.minimum is None or spec.maximum is None:
            continue
        slack = 1e-9 * max(abs(spec.minimum), abs(spec.maximum), 1.0)
        outside = [v for v in ends if not spec.minimum - slack <= v <= spec.maximum + slack]
        if outside:
            unit = f" {spec.unit}" if spec.unit else ""
            warnings.append(f"target {name} = {outside[0]:g}{unit} is outside the training range "
                            f"{spec.minimum:.4g}..{spec.maximum:.4g}{unit}: extrapolating, samples may miss it")
    return values, warnings


def split_targets(specs: Sequence[ConditionSpec], steered: Sequence[ConditionSpec],
                  targets: Mapping[str, TargetValue] | None) -> tuple[dict, dict]:
    """Return (the targets of the model's conditions, those of a regressor's ``steered`` ones); a name may be both.

    Raises:
        MatgenError: a target that is neither (the message lists both sets with units and ranges).
    """
    own, steer = {}, {}
    mine, theirs = {s.name for s in specs}, {s.name for s in steered}
    for raw_name, value in (targets or {}).items():
        name = raw_name.replace("-", "_")
        if name not in mine | theirs:
            raise MatgenError(f"unknown target '{raw_name}'; this model takes: {valid_targets(specs)}; "
                              f"the regressor steers: {valid_targets(steered)}")
        if name in mine:
            own[raw_name] = value
        if name in theirs:
            steer[raw_name] = value
    return own, steer


def describe_given(specs: Sequence[ConditionSpec], targets: Mapping[str, TargetValue] | None) -> str:
    """``density 2.9 g/cm3, mineral quartz`` for a title; ``unconditional`` when nothing is given."""
    parts = []
    for raw_name, value in (targets or {}).items():
        if _is_missing(value):
            continue
        name = raw_name.replace("-", "_")
        spec = next((s for s in specs if s.name == name), None)
        unit = f" {spec.unit}" if spec is not None and spec.unit else ""
        text = f"{value[0]}..{value[1]}" if isinstance(value, (tuple, list)) else str(value)
        parts.append(f"{name} {text}{unit}")
    return ", ".join(parts) if parts else "unconditional"
