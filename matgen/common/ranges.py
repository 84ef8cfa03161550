"""``LOW..HIGH``: the one reader of range text, and the :class:`Range` a parameter is drawn from.

A range is written ``LOW..HIGH`` everywhere matgen reads text: builder options
(``--anneal-time 150..1500``), sampling targets (``--target-modulus 110..130``), campaign
targets (``modulus = "140..160"``), import axes (``--range 200..1200``, which also takes
``200:1200``) and simulator options. :func:`split_range` is the only code that knows the syntax;
callers turn the two ends into numbers with their own error messages where they have a better one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from matgen.errors import MatgenError

SEPARATOR = ".."


def split_range(text, separators: Sequence[str] = (SEPARATOR,)) -> tuple[str, str] | None:
    """The two ends of ``"LOW..HIGH"`` as stripped text, or None when ``text`` is not a string holding a separator."""
    if not isinstance(text, str):
        return None
    for separator in separators:
        if separator in text:
            low, _, high = text.partition(separator)
            return low.strip(), high.strip()
    return None


def parse_bounds(text, name: str, separators: Sequence[str] = (SEPARATOR,), single: bool = False,
                 hint: str = "write LOW..HIGH (e.g. 0.1..0.5)") -> tuple[float, float]:
    """``(low, high)`` from ``"LOW..HIGH"``, a pair, or (with ``single``) one value ``"X"`` as ``(X, X)``.

    Raises:
        MatgenError: ``{name} '{text}' is not a range; {hint}`` when it cannot be read.
    """
    if isinstance(text, (tuple, list)) and len(text) == 2:
        ends: tuple | None = (text[0], text[1])
    else:
        ends = split_range(str(text), separators)
        if ends is None and single:
            ends = (text, text)
    try:
        if ends is None:
            raise ValueError
        return float(ends[0]), float(ends[1])
    except (TypeError, ValueError):
        raise MatgenError(f"{name} '{text}' is not a range; {hint}") from None


@dataclass(frozen=True)
class Range:
    """A closed interval [low, high] in a parameter's unit; ``log`` draws log-uniformly."""

    low: float
    high: float
    log: bool = False

    def check(self, name: str, minimum: float | None = None, maximum: float | None = None) -> "Range":
        """Return self, or raise a MatgenError naming ``name`` when the range is empty or out of bounds."""
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low <= self.high):
            raise MatgenError(f"{name} range {self.low:g}..{self.high:g} is empty; give LOW..HIGH with LOW ≤ HIGH")
        if minimum is not None and self.low < minimum or maximum is not None and self.high > maximum:
            bounds = f"[{'-inf' if minimum is None else f'{minimum:g}'}, {'inf' if maximum is None else f'{maximum:g}'}]"
            raise MatgenError(f"{name} range {self.low:g}..{self.high:g} leaves the valid interval {bounds}")
        if self.log and self.low <= 0:
            raise MatgenError(f"{name} is drawn log-uniformly, so its range must be positive (got {self.low:g}..{self.high:g})")
        return self

    def draw(self, rng, n: int):
        """(n,) float64 values, uniform (or log-uniform) in the range, from the numpy Generator ``rng``."""
        import numpy as np

        if self.log:
            return np.exp(rng.uniform(np.log(self.low), np.log(self.high), n))
        return rng.uniform(self.low, self.high, n)

    def __str__(self) -> str:
        return f"{self.low:g}..{self.high:g}{' (log-uniform)' if self.log else ''}"


def parse_range(text, name: str, log: bool = False) -> Range:
    """A :class:`Range` from ``"LOW..HIGH"``, a single value ``"X"`` (fixed), a pair or a Range."""
    if isinstance(text, Range):
        return text
    low, high = parse_bounds(text, name, single=True, hint="write LOW..HIGH (e.g. 0.1..0.5) or one value")
    return Range(low, high, log)
