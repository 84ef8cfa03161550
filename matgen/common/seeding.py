"""Per-sample randomness: sample i of a call draws only from its own seed, whatever the batch.

The rule everywhere in matgen: a call with ``seed`` gives sample i the seed ``seed + i``
(:func:`sample_seeds`; a list gives each sample its own), and each sample draws from its own
generator (:func:`seeded_generators`), so sample i can be regenerated alone with
``n=1, seed=seed + i``. A built-in dataset instead derives n independent streams from the user's
seed (:func:`spawned_seeds`), so datasets built with neighbouring seeds share no sample.
"""

from __future__ import annotations

import numbers
from typing import Sequence, Union

from matgen.errors import MatgenError

#: One seed (sample i uses seed + i), one seed per sample, or None (draw from a generator instead).
Seeds = Union[int, Sequence[int], None]


def sample_seeds(seed: int | Sequence[int], n: int) -> list[int]:
    """The seed of each of ``n`` samples: ``seed + i`` for one int, else the n given seeds.

    Raises:
        MatgenError: a list whose length is not ``n``.
    """
    if isinstance(seed, numbers.Integral) or getattr(seed, "ndim", None) == 0:  # int, numpy int, 0-d tensor
        return [int(seed) + i for i in range(n)]
    seeds = [int(s) for s in seed]
    if len(seeds) != n:
        raise MatgenError(f"seed must be one int (sample i uses seed + i) or n={n} ints (got {len(seeds)})")
    return seeds


def optional_sample_seeds(seed: Seeds, n: int, generator=None) -> list[int] | None:
    """:func:`sample_seeds`, or None when no seed is given (then the caller draws from ``generator``).

    Raises:
        MatgenError: both a seed and a generator, or a seed list of the wrong length.
    """
    if seed is None:
        return None
    if generator is not None:
        raise MatgenError("give either seed or generator, not both")
    return sample_seeds(seed, n)


def seeded_generators(seeds: Sequence[int], device="cpu") -> list:
    """One ``torch.Generator`` per seed, e.g. ``seeded_generators(range(seed, seed + B))``."""
    import torch

    return [torch.Generator(device).manual_seed(int(s)) for s in seeds]


def sample_generators(n: int, seed: Seeds = None, generator=None) -> list:
    """One CPU generator per sample (sample i: seed + i, or seed[i]); without a seed ``generator`` (or None) n times.

    Raises:
        MatgenError: a generator that is not on the CPU, both a seed and a generator, or a seed
            list of the wrong length.
    """
    if generator is not None and generator.device.type != "cpu":
        raise MatgenError("the generator must be a CPU torch.Generator (draws are made on the CPU, then moved)")
    seeds = optional_sample_seeds(seed, n, generator)
    return [generator] * n if seeds is None else seeded_generators(seeds)


def spawned_seeds(seed: int, n: int) -> list[int]:
    """``n`` independent per-sample seeds derived from ``seed`` (numpy's SeedSequence), as uint32 ints."""
    import numpy as np

    return [int(s) for s in np.random.SeedSequence(seed).generate_state(n, dtype=np.uint32)]
