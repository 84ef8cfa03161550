"""What the model is asked for in each round: the targets' sampling values, corrected by the last round's misses.

Round 1 asks for each target's sampling point (:meth:`~matgen.campaign.targets.Target.sampling_values`:
a value as it is, a range spread over its central half, a bound moved ``bound_margin`` into its
admissible side). A conditional model rarely delivers exactly what it is asked for: a weak
condition is pulled towards the data's mean, and a fine-tuned model drifts. So each later round
*steers*: it asks for its previous request plus ``steer`` x the previous round's median miss
(:func:`steering_offsets`), which cancels a steady bias within a few rounds while the relabelled
candidates teach the model the rest.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from matgen.campaign.targets import Target


def trained_ranges(specs: Sequence) -> dict[str, tuple[float, float]]:
    """name -> (min, max) training range of each continuous condition in ``specs`` (ConditionSpecs; the
    model's first, then a regressor's): the first spec of a name with a range wins."""
    ranges: dict[str, tuple[float, float]] = {}
    for spec in specs:
        if spec.name not in ranges and spec.minimum is not None:
            ranges[spec.name] = (spec.minimum, spec.maximum)
    return ranges


def sampling_targets(targets: Mapping[str, Target], trained: Mapping[str, tuple[float, float]], margin: float, n: int,
                     offsets: Mapping[str, float] | None = None) -> dict:
    """name -> what :func:`matgen.sample.sample` is given: a number, or (low, high) spread over the candidates,
    each moved by its steering offset. ``trained`` (:func:`trained_ranges`) caps how far bounds are asked beyond."""
    given = {}
    for name, t in targets.items():
        values = t.sampling_values(n, margin, trained.get(name)) + (offsets or {}).get(name, 0.0)
        given[name] = (float(values[0]), float(values[-1])) if t.kind == "range" and n > 1 else float(values[0])
    return given


def steering_offsets(targets: Mapping[str, Target], previous: Mapping | None, gain: float, margin: float,
                     trained: Mapping[str, tuple[float, float]]) -> dict[str, float]:
    """name -> how far round r asks beyond each target's sampling point, from round r-1's results.json.

    A model asked for y* that delivers a median y' misses by y* - y'; the next round asks for its
    previous request plus ``gain`` x that miss (an integral controller on the request):

        offset_r = (median requested_(r-1) - point) + gain (point - median achieved_(r-1))

    with point the target's sampling point (a value, a range's middle, a bound moved by
    ``margin``), medians over the evaluated candidates. A bound is only pushed further into its
    admissible side. The request stays within the condition's ``trained`` (min, max) widened by a
    quarter of its span on each side. No evaluated candidate, or ``gain`` 0: no offset.
    """
    if previous is None or gain == 0:
        return {}
    rows = [row for row in previous["candidates"] if not row["error"]]
    offsets = {}
    for name, t in targets.items():
        pairs = [(row["sampled"].get(name), row["achieved"].get(name)) for row in rows]
        pairs = [(q, a) for q, a in pairs if q is not None and a is not None and np.isfinite(q) and np.isfinite(a)]
        if not pairs:
            continue
        span = trained.get(name)
        point = float(t.sampling_values(1, margin, span)[0])
        requested, achieved = np.median([q for q, _ in pairs]), np.median([a for _, a in pairs])
        offset = float(requested - point + gain * (point - achieved))
        if t.kind == "min":
            offset = max(offset, 0.0)
        elif t.kind == "max":
            offset = min(offset, 0.0)
        if span is not None and all(np.isfinite(span)):
            width = span[1] - span[0]
            offset = float(np.clip(point + offset, span[0] - width / 4, span[1] + width / 4)) - point
        offsets[name] = offset
    return offsets
