"""Surrogate screening: sample many candidates, predict their properties cheaply, simulate only the best.

Simulator calls are the currency of a design loop (a lab's simulator is finite elements, DFT or
an experiment). With ``oversample`` k > 1 a round samples k x ``candidates`` candidates (the
pool), and an ensemble of ``screen_members`` small CNN regressors (:func:`matgen.evaluate.models.fit`,
one net predicting every target property, each member on a bootstrap resample of the data so far,
retrained every round) predicts each pool candidate's properties: the mean mu_k and the spread
sigma_k of the members. The acquisition is the probability of meeting every target, for a
Gaussian belief per property and independent properties,

    P(hit) = prod_k [Phi((high_k - mu_k) / sigma_k) - Phi((low_k - mu_k) / sigma_k)],

with [low_k, high_k] the target's admissible interval. Candidates are simulated best first, but a
candidate that differs from an already chosen one in less than ``min_difference`` of its signal
(mean |x - x'| in network units over 2: for label maps, the fraction of differing pixels) is
passed over (near-duplicates buy no information). The predictor's calibration is recorded per
round (:func:`calibration`): the mean absolute error of mu and the share of achieved values
within one sigma (0.68 for a calibrated Gaussian belief).
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from matgen.campaign.targets import Target

#: Candidates closer than this (fraction of the signal that differs) count as near-duplicates.
MIN_DIFFERENCE = 0.02
#: The floor of the ensemble's sigma, as a fraction of each property's spread in the data.
SIGMA_FLOOR = 0.02


def fit_ensemble(features: np.ndarray, values: np.ndarray, members: int, epochs: int, seed: int) -> list:
    """``members`` CNN regressors of the targets (N, K) from features (N, 1, ...), each on its own bootstrap resample."""
    from matgen.evaluate.models import PredictorConfig, fit

    rng = np.random.default_rng(seed)
    known = np.isfinite(values).all(axis=1)
    x, y = features[known], values[known]
    ensemble = []
    for m in range(members):
        rows = rng.integers(0, len(x), len(x))
        ensemble.append(fit(x[rows], y[rows], "regression", config=PredictorConfig(epochs=epochs, seed=seed + m)))
    return ensemble


def predict(ensemble: list, features: np.ndarray, spread: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean (N, K), sigma (N, K)) of the members' predictions; sigma at least SIGMA_FLOOR x the data's ``spread`` (K,)."""
    predictions = np.stack([member.predict(features).reshape(len(features), -1) for member in ensemble])  # (M, N, K)
    sigma = predictions.std(axis=0, ddof=1) if len(ensemble) > 1 else np.zeros(predictions.shape[1:])
    return predictions.mean(axis=0), np.maximum(sigma, SIGMA_FLOOR * np.asarray(spread))


def hit_probability(targets: Mapping[str, Target], mean: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """(N,) probability that every target is met, for Gaussian beliefs (mean, sigma) (N, K) in the targets' order."""
    p = np.ones(len(mean))
    for k, t in enumerate(targets.values()):
        upper = _phi((t.high - mean[:, k]) / sigma[:, k]) if math.isfinite(t.high) else 1.0
        lower = _phi((t.low - mean[:, k]) / sigma[:, k]) if math.isfinite(t.low) else 0.0
        p *= np.clip(upper - lower, 0.0, 1.0)
    return p


def _phi(z: np.ndarray) -> np.ndarray:
    """The standard normal cumulative distribution function."""
    from scipy.special import ndtr

    return ndtr(z)


def choose(score: np.ndarray, x: np.ndarray, n: int, min_difference: float = MIN_DIFFERENCE) -> np.ndarray:
    """Indices of up to ``n`` candidates, highest ``score`` first, none within ``min_difference`` of a chosen one.

    ``x`` (N, D): the candidates' signals in network units (label maps +-1); the difference of two is
    mean |x - x'| / 2. When near-duplicates leave fewer than ``n``, the rest are filled best first.
    """
    order = np.argsort(-score, kind="stable")
    flat = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    chosen: list[int] = []
    for i in order:
        if len(chosen) == n:
            break
        if all(np.abs(flat[i] - flat[j]).mean() / 2 >= min_difference for j in chosen):
            chosen.append(int(i))
    for i in order:
        if len(chosen) == n:
            break
        if i not in chosen:
            chosen.append(int(i))
    return np.asarray(chosen)


def calibration(mean: np.ndarray, sigma: np.ndarray, achieved: np.ndarray) -> dict:
    """Per property (columns of (N, K)): mean absolute error of the prediction and the share of achieved values
    within one sigma, over the candidates the simulator evaluated (NaN rows skipped)."""
    ok = np.isfinite(achieved)
    mae = [float(np.mean(np.abs(mean[ok[:, k], k] - achieved[ok[:, k], k]))) if ok[:, k].any() else math.nan
           for k in range(mean.shape[1])]
    within = [float(np.mean(np.abs(mean[ok[:, k], k] - achieved[ok[:, k], k]) <= sigma[ok[:, k], k]))
              if ok[:, k].any() else math.nan for k in range(mean.shape[1])]
    return {"mae": mae, "within_1_sigma": within}
