"""Micrograph quality: phase fraction, the two-point correlation S₂, and simulated properties.

Each micrograph is reduced to the indicator I of one phase (``phase``; for grey images, the
pixels above 0.5). Its periodic two-point correlation S₂(r) = ⟨I(x) I(x + r)⟩ comes from the FFT
(:func:`matgen.physics.morphology.two_point_correlation`): S₂(0) is the phase fraction φ and
S₂ → φ² far away. Two sets of micrographs are compared by the root-mean-square difference of
their mean S₂ maps (:func:`s2_distance`, 0 for identical sets) and by their mean phase fractions.
With a simulator (:mod:`matgen.simulators`, when installed) both sets' properties are compared too.
"""

from __future__ import annotations

import numpy as np

from matgen.data.dataset import Dataset


def indicator(ds_or_images, phase: int = 1) -> np.ndarray:
    """(N, H, W) 0/1 indicator of ``phase`` (label maps) or of grey > 0.5 (grey images); channel 0 of (N, C, H, W)."""
    images = ds_or_images.signals if isinstance(ds_or_images, Dataset) else np.asarray(ds_or_images)
    grey = ds_or_images.signal_type == "grey" if isinstance(ds_or_images, Dataset) else np.issubdtype(images.dtype, np.floating)
    if images.ndim == 4:
        images = images[:, 0]
    return (images > 0.5).astype(np.int64) if grey else (images == phase).astype(np.int64)


def s2_maps(ind: np.ndarray) -> np.ndarray:
    """(N, H, W) periodic S₂(r) of each 0/1 indicator (N, H, W), origin at [0, 0]."""
    import torch

    from matgen.physics.morphology import two_point_correlation as s2

    return s2(torch.as_tensor(np.asarray(ind))).double().numpy()


def radial_profile(s2: np.ndarray) -> np.ndarray:
    """(R,) mean of an (H, W) periodic map over rings of integer radius |r| (px), R = min(H, W) // 2."""
    h, w = s2.shape
    dy = np.minimum(np.arange(h), h - np.arange(h))[:, None]
    dx = np.minimum(np.arange(w), w - np.arange(w))[None, :]
    ring = np.rint(np.sqrt(dy**2 + dx**2)).astype(int)
    size = min(h, w) // 2
    sums = np.bincount(ring.ravel(), weights=s2.ravel(), minlength=size + 1)[:size]
    counts = np.bincount(ring.ravel(), minlength=size + 1)[:size]
    return sums / counts


def s2_distance(real: np.ndarray, synthetic: np.ndarray) -> float:
    """RMS difference of the mean S₂ maps of two indicator stacks (N, H, W) and (M, H, W); 0 for identical sets."""
    a = s2_maps(real).mean(axis=0)
    b = s2_maps(synthetic).mean(axis=0)
    return float(np.sqrt(np.mean((a - b) ** 2)))


def simulator_properties(ds: Dataset, simulator: str) -> dict[str, np.ndarray]:
    """Output name -> (N,) property from ``matgen.simulators`` (empty when that package is not installed)."""
    try:
        from matgen.simulators import get_simulator
    except ImportError:
        return {}
    return dict(get_simulator(simulator)(ds).properties)


def micrograph_quality(real: Dataset, synthetic: Dataset, phase: int = 1, simulator: str | None = None) -> dict:
    """Phase fractions, S₂ distance and (optionally) simulated properties of synthetic vs real micrographs."""
    a, b = indicator(real, phase), indicator(synthetic, phase)
    metrics = {
        "phase_fraction_real": float(a.mean()),
        "phase_fraction_synthetic": float(b.mean()),
        "phase_fraction_error": float(abs(a.mean() - b.mean())),
        "s2_distance": s2_distance(a, b),
    }
    if simulator is not None:
        props_a, props_b = simulator_properties(real, simulator), simulator_properties(synthetic, simulator)
        for name in props_a:
            metrics[f"{name}_real"] = float(np.nanmean(props_a[name]))
            metrics[f"{name}_synthetic"] = float(np.nanmean(props_b[name]))
            metrics[f"{name}_error"] = float(abs(metrics[f"{name}_real"] - metrics[f"{name}_synthetic"]))
    return metrics
