"""Would a materials scientist accept these designs? Morphology against the training micrographs.

Two numbers per design, both relative to what the training micrographs themselves show:

* **S₂ distance to the nearest training micrograph**, d_i = min_j RMS(S₂(design_i) - S₂(train_j))
  over the per-image periodic two-point correlation maps (:func:`matgen.evaluate.micrographs.s2_maps`),
  divided by the median of the training set's own nearest-neighbour distances (each training
  micrograph against the others). About 1: as close to the data as the data is to itself; a
  design built from noise sits far from every training micrograph.
* **Speckle index**: the fraction of pixels in islands of at most ``max_island`` pixels
  (4-connected, periodic, either phase): isolated pixels and specks that no processing makes,
  beside the same index of the training micrographs.
"""

from __future__ import annotations

import numpy as np

from matgen.evaluate.micrographs import s2_maps


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


def s2_nearest_distances(ind: np.ndarray, reference: np.ndarray, exclude_self: bool = False) -> np.ndarray:
    """(N,) RMS distance of each map's S₂ (N, H, W) to the nearest S₂ of ``reference`` (M, H, W) maps.

    With ``exclude_self`` (``ind`` is ``reference``) a map's distance to itself is skipped.
    """
    a = s2_maps(ind).reshape(len(ind), -1)
    b = s2_maps(reference).reshape(len(reference), -1)
    d2 = np.clip((a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2 * a @ b.T, 0.0, None) / a.shape[1]  # (N, M)
    if exclude_self:
        np.fill_diagonal(d2, np.inf)
    return np.sqrt(d2.min(axis=1))


def morphology(designs: np.ndarray, training: np.ndarray, max_training: int = 400, seed: int = 0) -> dict:
    """S₂ distance ratios and speckle indices of designs (N, H, W) against training maps (M, H, W), as 0/1 indicators.

    Returns ``s2_ratio`` (N,) (distance to the nearest training map over the training set's median
    nearest-neighbour distance), its median ``s2_ratio_median``, ``speckle`` (N,) with its mean
    ``speckle_mean``, and the training set's ``speckle_train``. At most ``max_training`` training maps
    (drawn with ``seed``) are used.
    """
    training = np.asarray(training)
    if len(training) > max_training:
        training = training[np.sort(np.random.default_rng(seed).choice(len(training), max_training, replace=False))]
    own = np.median(s2_nearest_distances(training, training, exclude_self=True))
    ratio = s2_nearest_distances(designs, training) / max(own, 1e-12)
    speckle = speckle_index(designs)
    return {"s2_ratio": ratio, "s2_ratio_median": float(np.median(ratio)), "speckle": speckle,
            "speckle_mean": float(speckle.mean()), "speckle_train": float(speckle_index(training).mean())}
