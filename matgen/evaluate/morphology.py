"""Would a materials scientist accept these designs? Morphology against the training micrographs.

Two numbers per design, both relative to what the training micrographs themselves show:

* **Two-point distance to the nearest training micrograph**: the periodic two-point correlation
  S₂(r) of each map (:func:`matgen.evaluate.micrographs.s2_maps`), normalised to its shape
  c(r) = (S₂(r) - φ²) / (φ - φ²) (1 at r = 0, 0 far away, for any phase fraction φ) and
  averaged over rings r = 1 .. R (:func:`correlation_profiles`); d_i = min_j RMS(c_i - c_j) over
  the training maps, divided by the median of the training set's own nearest-neighbour
  distances (each training map against the others). About 1: as close to the data as the data
  is to itself. The raw S₂ maps would not do: their distance is dominated by the phase
  fraction, so uncorrelated noise at the data's fraction sat as close to the data as the data
  itself (ratio 0.95 for 32 px composites), where the shape puts it far away.
* **Speckle index**: the fraction of pixels in islands of at most ``max_island`` pixels
  (4-connected, periodic, either phase): isolated pixels and specks that no processing makes,
  beside the same index of the training micrographs.
"""

from __future__ import annotations

import numpy as np

from matgen.evaluate.micrographs import radial_profile, s2_maps


def speckle_index(ind: np.ndarray, max_island: int = 2) -> np.ndarray:
    """(N,) fraction of pixels of each periodic 0/1 map (N, H, W) that lie in islands of <= ``max_island`` pixels."""
    from scipy import ndimage

    ind = np.asarray(ind).astype(bool)
    n, h, w = ind.shape
    out = np.zeros(n)
    for k, image in enumerate(ind):
        tiled = np.tile(image, (3, 3))  # periodic: an island across an edge is whole in the middle tile
        small = np.zeros_like(tiled)
        for phase in (tiled, ~tiled):
            labels, count = ndimage.label(phase)
            sizes = np.bincount(labels.ravel(), minlength=count + 1)
            small |= (sizes[labels] <= max_island) & phase
        out[k] = small[h:2 * h, w:2 * w].mean()
    return out


def correlation_profiles(ind: np.ndarray) -> np.ndarray:
    """(N, R - 1) normalised two-point correlation c(r) = (S₂(r) - φ²) / (φ - φ²) of each map (N, H, W), rings r = 1 .. R - 1."""
    s2 = s2_maps(ind)  # (N, H, W)
    phi = s2[:, 0, 0]
    shape = (s2 - (phi**2)[:, None, None]) / np.maximum(phi - phi**2, 1e-12)[:, None, None]
    return np.stack([radial_profile(m)[1:] for m in shape])


def nearest_distances(ind: np.ndarray, reference: np.ndarray, exclude_self: bool = False) -> np.ndarray:
    """(N,) RMS distance of each map's correlation profile to the nearest of the ``reference`` maps' (M, H, W).

    With ``exclude_self`` (``ind`` is ``reference``) a map's distance to itself is skipped.
    """
    a, b = correlation_profiles(ind), correlation_profiles(reference)
    d2 = np.clip((a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2 * a @ b.T, 0.0, None) / a.shape[1]  # (N, M)
    if exclude_self:
        np.fill_diagonal(d2, np.inf)
    return np.sqrt(d2.min(axis=1))


def morphology(designs: np.ndarray, training: np.ndarray, max_training: int = 400, seed: int = 0) -> dict:
    """Two-point distance ratios and speckle indices of designs (N, H, W) against training maps (M, H, W), 0/1 maps.

    Returns ``s2_ratio`` (N,) (correlation-profile distance to the nearest training map over the
    training set's median nearest-neighbour distance), its median ``s2_ratio_median``, ``speckle`` (N,) with its mean
    ``speckle_mean``, and the training set's ``speckle_train``. At most ``max_training`` training maps
    (drawn with ``seed``) are used.
    """
    training = np.asarray(training)
    if len(training) > max_training:
        training = training[np.sort(np.random.default_rng(seed).choice(len(training), max_training, replace=False))]
    own = np.median(nearest_distances(training, training, exclude_self=True))
    ratio = nearest_distances(designs, training) / max(own, 1e-12)
    speckle = speckle_index(designs)
    return {"s2_ratio": ratio, "s2_ratio_median": float(np.median(ratio)), "speckle": speckle,
            "speckle_mean": float(speckle.mean()), "speckle_train": float(speckle_index(training).mean())}
