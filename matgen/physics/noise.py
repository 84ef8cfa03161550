"""Counting noise: the Poisson draw that the XRD, Raman and EELS models share.

Each model turns its intensities into expected counts its own way: XRD scales each pattern to a
number of counts at its maximum (:func:`matgen.physics.xrd.counts_at_peak`), Raman multiplies by
the counts at unit intensity and divides back, adding read noise
(:func:`matgen.physics.raman.shot_noise`), EELS scales each spectrum to a total number of
electrons (:func:`matgen.physics.eels.counts_for_total`). The draw itself is :func:`poisson_counts`,
so which generator draws which row is said once.
"""

from __future__ import annotations

from typing import Sequence

import torch

from matgen.errors import MatgenError


def poisson_counts(rates: torch.Tensor,
                   generators: torch.Generator | Sequence[torch.Generator | None] | None = None) -> torch.Tensor:
    """Poisson counts of mean ``rates`` (same shape), drawn on the rates' device in their dtype.

    ``generators``: one generator for the whole array (None: torch's global one), or a sequence of
    one per row of (B, L) rates: row i is drawn from ``generators[i]`` alone, so it does not depend
    on the other rows.

    Raises:
        MatgenError: a sequence whose length is not the number of rows.
    """
    if generators is None or isinstance(generators, torch.Generator):
        return torch.poisson(rates, generator=generators)
    if len(generators) != len(rates):
        raise MatgenError(f"give one generator per row: {len(rates)} rows, {len(generators)} generators")
    return torch.stack([torch.poisson(row, generator=g) for row, g in zip(rates, generators)])
