"""Evaluation of synthetic data: is it like the real data, does it say what it claims, does it help?

    >>> from matgen.evaluate import downstream, evaluate, sample_quality
    >>> q = sample_quality(test, synthetic, train=train, label="mineral")   # peaks, angle, MMD, copies
    >>> r = downstream(real, {"physics": lambda train, seed: augment(train, "physics", seed=seed)},
    ...                label="mineral", group="rruff_id", seeds=range(5))
    >>> r.summary()    # real / real+physics / physics only: accuracy mean ± std and the paired gain

Files: :mod:`~matgen.evaluate.spectra` (peaks, peak errors, spectral angle), :mod:`~matgen.evaluate.mmd`
(kernel MMD), :mod:`~matgen.evaluate.memorisation` (nearest-neighbour copy test),
:mod:`~matgen.evaluate.micrographs` (phase fraction, two-point correlation), :mod:`~matgen.evaluate.quality`
(all of them for one pair of sets), :mod:`~matgen.evaluate.models` (the downstream predictors),
:mod:`~matgen.evaluate.downstream` (the group-split protocol), :mod:`~matgen.evaluate.report`
(:func:`evaluate`, metrics.json), :mod:`~matgen.evaluate.plot` (PNGs). See docs/evaluate.md.
"""

from matgen.evaluate.downstream import (
    AugmentFn, DownstreamResult, Task, downstream, downstream_by_predictor, fixed_synthetic, split_by_group, verdict,
)
from matgen.evaluate.memorisation import Memorisation, memorisation, nearest_distances
from matgen.evaluate.micrographs import micrograph_quality, s2_distance, s2_maps
from matgen.evaluate.mmd import median_bandwidth, mmd2_unbiased
from matgen.evaluate.models import MODELS, PredictorConfig, Predictor, features, fit, score
from matgen.evaluate.quality import sample_quality, spectra_quality
from matgen.evaluate.report import EvaluationReport, evaluate, split_synthetic, write_report
from matgen.evaluate.spectra import PeakErrors, Peaks, find_peaks, peak_errors, spectral_angle_deg, unit_range

__all__ = [
    "AugmentFn", "DownstreamResult", "EvaluationReport", "MODELS", "Memorisation", "PredictorConfig", "PeakErrors", "Peaks",
    "Predictor", "Task", "downstream", "downstream_by_predictor", "evaluate", "features", "find_peaks", "fit", "fixed_synthetic",
    "median_bandwidth", "memorisation", "micrograph_quality", "mmd2_unbiased", "nearest_distances", "peak_errors",
    "s2_distance", "sample_quality", "score", "spectra_quality", "spectral_angle_deg", "split_by_group",
    "split_synthetic", "s2_maps", "unit_range", "verdict", "write_report",
]
