"""What every built-in dataset builder shares: parameter draws, chunking with progress, provenance.

A builder draws each sample's processing parameters from a numpy ``Generator`` seeded by the
user's seed, simulates the samples in chunks (a progress step per chunk), and returns a
:class:`matgen.data.Dataset`. Nothing depends on the chunk size, the device or the batch order:
sample i's randomness comes only from ``seed`` and ``i``, so the same seed gives the same file.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Iterator

import numpy as np

from matgen.data.dataset import Condition
from matgen.version import __version__


def chunks(n: int, size: int) -> Iterator[slice]:
    """Consecutive slices of at most ``size`` rows covering range(n)."""
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


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
