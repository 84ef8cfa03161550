"""Micrographs for a processing condition: generated, simulated or real sets compared, and the nearest-processing baseline.

A set of two-phase maps (N, H, W) made for one processing condition is summarised by its mean
phase fraction φ and mean characteristic length L = 2π / k₁ (first moment of the structure
factor, :func:`matgen.physics.morphology.characteristic_length_px`); two sets are compared by
|Δφ|, the relative error |ΔL| / L_ref and the RMS difference of their mean two-point
correlations S₂ (:func:`matgen.evaluate.micrographs.s2_distance`).

The baseline a model must beat is the data itself: for a condition (T, t) not in the training
set, the training rows whose processing is nearest in (1/T, ln t) — the coordinates in which
Arrhenius kinetics are linear — each axis divided by its standard deviation over the training rows.
"""

from __future__ import annotations

import numpy as np

from matgen.evaluate.micrographs import s2_distance

ZERO_CELSIUS_K = 273.15


def processing_coordinates(temperature_c, time_h) -> np.ndarray:
    """(N, 2) [1/T (1/K), ln t (t in h)]: the axes along which an Arrhenius process is linear."""
    t_k = np.asarray(temperature_c, dtype=np.float64) + ZERO_CELSIUS_K
    return np.stack([1.0 / t_k, np.log(np.asarray(time_h, dtype=np.float64))], axis=1)


def nearest_processing(train_c, train_h, query_c, query_h, k: int) -> np.ndarray:
    """(Q, k) indices of the training rows nearest each query in normalised (1/T, ln t), nearest first.

    Each coordinate is divided by its standard deviation over the training rows (1 where it is
    constant, e.g. one temperature only). Ties keep the training order.
    """
    train = processing_coordinates(train_c, train_h)  # (N, 2)
    query = processing_coordinates(query_c, query_h)  # (Q, 2)
    scale = train.std(axis=0)
    scale[scale == 0] = 1.0
    d2 = (((query[:, None, :] - train[None, :, :]) / scale) ** 2).sum(-1)  # (Q, N)
    return np.argsort(d2, axis=1, kind="stable")[:, :k]


def set_summary(maps: np.ndarray) -> dict:
    """Mean ``phase_fraction``, mean ``length_px`` (2π/k₁, px) and mean ``speckle`` (pixels in islands of ≤ 2 px) of 0/1 maps (N, H, W)."""
    import torch

    from matgen.evaluate.morphology import speckle_index
    from matgen.physics.morphology import characteristic_length_px

    ind = (np.asarray(maps) == 1).astype(np.float32)
    lengths = characteristic_length_px(torch.as_tensor(ind)).double().numpy()
    return {"phase_fraction": float(ind.mean()), "length_px": float(np.nanmean(lengths)),
            "speckle": float(speckle_index(ind).mean())}


def compare_sets(maps: np.ndarray, reference: np.ndarray) -> dict:
    """|Δφ| ``phase_fraction_error``, relative ``length_error`` |L − L_ref| / L_ref and ``s2_distance`` of two 0/1 map sets."""
    a, b = set_summary(maps), set_summary(reference)
    ind_a, ind_b = (np.asarray(maps) == 1).astype(np.int64), (np.asarray(reference) == 1).astype(np.int64)
    return {"phase_fraction_error": abs(a["phase_fraction"] - b["phase_fraction"]),
            "length_error": abs(a["length_px"] - b["length_px"]) / b["length_px"],
            "s2_distance": s2_distance(ind_b, ind_a),
            "phase_fraction": a["phase_fraction"], "length_px": a["length_px"],
            "phase_fraction_ref": b["phase_fraction"], "length_px_ref": b["length_px"],
            "speckle": a["speckle"], "speckle_ref": b["speckle"]}
