"""What every built-in dataset builder shares: parameter draws, chunking with progress, provenance.

A builder draws each sample's processing parameters from a numpy ``Generator`` seeded by the
user's seed, simulates the samples in chunks (a progress step per chunk), and returns a
:class:`matgen.data.Dataset`. Nothing depends on the chunk size, the device or the batch order:
sample i's randomness comes only from ``seed`` and ``i``, so the same seed gives the same file.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterator

import numpy as np
import torch

from matgen import __version__
from matgen.data.dataset import Condition
from matgen.errors import MatgenError


@dataclass(frozen=True)
class Range:
    """A closed interval [low, high] in a parameter's unit; ``log`` draws log-uniformly."""

    low: float
    high: float
    log: bool = False

    def check(self, name: str, minimum: float | None = None, maximum: float | None = None) -> "Range":
        """Return self, or raise a MatgenError naming ``name`` when the range is empty or out of bounds."""
        if not (np.isfinite(self.low) and np.isfinite(self.high) and self.low <= self.high):
            raise MatgenError(f"{name} range {self.low:g}..{self.high:g} is empty; give LOW..HIGH with LOW ≤ HIGH")
        if minimum is not None and self.low < minimum or maximum is not None and self.high > maximum:
            bounds = f"[{'-inf' if minimum is None else f'{minimum:g}'}, {'inf' if maximum is None else f'{maximum:g}'}]"
            raise MatgenError(f"{name} range {self.low:g}..{self.high:g} leaves the valid interval {bounds}")
        if self.log and self.low <= 0:
            raise MatgenError(f"{name} is drawn log-uniformly, so its range must be positive (got {self.low:g}..{self.high:g})")
        return self

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """(n,) float64 values, uniform (or log-uniform) in the range."""
        if self.log:
            return np.exp(rng.uniform(np.log(self.low), np.log(self.high), n))
        return rng.uniform(self.low, self.high, n)

    def __str__(self) -> str:
        return f"{self.low:g}..{self.high:g}{' (log-uniform)' if self.log else ''}"


def parse_range(text: str | Range | tuple, name: str, log: bool = False) -> Range:
    """A :class:`Range` from ``"LOW..HIGH"``, a single value ``"X"`` (fixed), a tuple or a Range."""
    if isinstance(text, Range):
        return text
    if isinstance(text, (tuple, list)):
        return Range(float(text[0]), float(text[1]), log)
    low, sep, high = str(text).partition("..")
    try:
        return Range(float(low), float(high if sep else low), log)
    except ValueError:
        raise MatgenError(f"{name} '{text}' is not a range; write LOW..HIGH (e.g. 0.1..0.5) or one value") from None


def sample_seeds(seed: int, n: int) -> list[int]:
    """Per-sample seeds: sample i gets its own stream, a pure function of (seed, i)."""
    return [int(s) for s in np.random.SeedSequence(seed).generate_state(n, dtype=np.uint32)]


def chunks(n: int, size: int) -> Iterator[slice]:
    """Consecutive slices of at most ``size`` rows covering range(n)."""
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``auto`` -> CUDA when available else CPU; a named device is checked to exist."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise MatgenError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu or auto")
    return dev


def continuous(values, unit: str, role: str, description: str) -> Condition:
    """A continuous condition from any array-like (stored float64)."""
    return Condition(np.asarray(values, dtype=np.float64), unit=unit, role=role, description=description)


def provenance(builder: str, options, **attrs) -> dict:
    """The Dataset fields that say where built rows come from: ids ``BUILDER-SEED-00000``…, sources, and
    attrs holding ``attrs`` plus the builder, its options (JSON) and the matgen version."""
    import json

    n = options.n
    return {
        "ids": [f"{builder}-{options.seed}-{i:05d}" for i in range(n)],
        "sources": [f"matgen data build {builder}"] * n,
        "attrs": {**attrs, "builder": builder, "matgen_version": __version__,
                  "builder_options": json.dumps(asdict(options), default=str, sort_keys=True)},
    }
