"""Particulate composites: elliptical particles in a matrix on a periodic 2-D grid, batched torch.

:func:`composite` returns ``(n, size, size)`` micrographs (0 matrix, 1 particle) on the requested
device (CPU by default) and records the per-sample parameters it used. Particles are ellipses
(disks at aspect ratio 1) of log-normal size, placed at uniform random centres with periodic
wrap-around, with light rejection of proposals that overlap existing particles too much, until
the particle area fraction reaches the target within ±0.005 (±1 px on tiny grids). Their
morphology is measured by :mod:`matgen.physics.morphology`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from matgen.common.seeding import Seeds, optional_sample_seeds, seeded_generators
from matgen.errors import MatgenError
from matgen.physics.batching import Tensorish, check_grid, per_sample, require

#: Valid particle area fractions (0, MAX_VOLUME_FRACTION].
MAX_VOLUME_FRACTION = 0.7
#: Number of random particle proposals drawn per sample at a time.
PROPOSAL_BLOCK = 256


@dataclass(frozen=True)
class CompositeResult:
    """Particle-in-matrix microstructures and the per-sample parameters that made them."""

    micrograph: torch.Tensor  # (n, size, size) uint8, 0 matrix, 1 particle
    volume_fraction: torch.Tensor  # (n,) achieved particle area fraction
    target_volume_fraction: torch.Tensor  # (n,) requested area fraction
    mean_radius_px: torch.Tensor  # (n,) mean equivalent-disk radius √(ab), px
    aspect_ratio: torch.Tensor  # (n,) long / short semi-axis
    orientation_deg: torch.Tensor  # (n,) mean long-axis angle from +x (columns) towards +y (rows), deg
    orientation_spread_deg: torch.Tensor  # (n,) std of the long-axis angle, deg
    particles: torch.Tensor  # (n,) int64 number of particles placed
    seeds: torch.Tensor | None  # (n,) int64 seed of each sample; None: a generator


def ellipse_masks(size: int, center_px: torch.Tensor, semi_axes_px: torch.Tensor, angle_rad: torch.Tensor) -> torch.Tensor:
    """(m, size, size) bool: pixels whose centres lie inside each periodic ellipse.

    Ellipse j has centre ``center_px[j]`` = (x, y) (columns, rows; px), semi-axes
    ``semi_axes_px[j]`` = (a, b) with a along the direction at ``angle_rad[j]`` from +x towards +y.
    Distances use the minimum image on the periodic grid (valid for a < size/2):
    ((u/a)² + (v/b)² ≤ 1, u = dx cos θ + dy sin θ, v = −dx sin θ + dy cos θ).
    """
    grid = torch.arange(size, device=center_px.device, dtype=center_px.dtype)
    dx = torch.remainder(grid[None, None, :] - center_px[:, 0, None, None] + size / 2, size) - size / 2  # (m, 1, S)
    dy = torch.remainder(grid[None, :, None] - center_px[:, 1, None, None] + size / 2, size) - size / 2  # (m, S, 1)
    cos, sin = angle_rad.cos()[:, None, None], angle_rad.sin()[:, None, None]
    u = (dx * cos + dy * sin) / semi_axes_px[:, 0, None, None]
    v = (dy * cos - dx * sin) / semi_axes_px[:, 1, None, None]
    return u * u + v * v <= 1.0  # (m, S, S)


def _proposals(n: int, seeds_gens: list[torch.Generator] | None, generator: torch.Generator | None) -> torch.Tensor:
    """(n, PROPOSAL_BLOCK, 4) random numbers: 2 uniform [0, 1) (centre), 2 standard normal (size, angle)."""
    if seeds_gens is not None:
        return torch.stack(
            [torch.cat([torch.rand(PROPOSAL_BLOCK, 2, generator=g), torch.randn(PROPOSAL_BLOCK, 2, generator=g)], dim=1) for g in seeds_gens]
        )
    return torch.cat([torch.rand(n, PROPOSAL_BLOCK, 2, generator=generator), torch.randn(n, PROPOSAL_BLOCK, 2, generator=generator)], dim=2)


def composite(
    n: int,
    size: int = 64,
    volume_fraction: Tensorish = 0.3,
    mean_radius_px: Tensorish = 6.0,
    aspect_ratio: Tensorish = 1.0,
    orientation_deg: Tensorish = 0.0,
    orientation_spread_deg: Tensorish = 0.0,
    radius_spread: float = 0.2,
    max_overlap: float = 0.2,
    max_rejections: int = 20,
    seed: Seeds = None,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> CompositeResult:
    """Particle-in-matrix micrographs (0 matrix, 1 particle) at a target particle area fraction.

    Random sequential addition with light rejection, batched over samples: at every iteration
    each unfinished sample proposes one ellipse (uniform random centre, periodic wrap-around;
    equivalent radius r = √(ab) = mean_radius_px · exp(s z − s²/2), s = ``radius_spread``;
    semi-axes a = r√AR, b = r/√AR; long axis at orientation_deg + orientation_spread_deg · z').
    A proposal is rejected when more than ``max_overlap`` of its area lies on existing particles
    (waived after ``max_rejections`` rejections in a row, so dense targets still finish: overlaps
    then make clusters) or when it would overshoot the target by more than the tolerance. A
    proposal larger than the remaining deficit is shrunk to it, so the achieved fraction ends
    within ±0.005 of the target (±1 px on grids under 15 px). Aligned ellipses (spread 0,
    aspect > 1) give an anisotropic microstructure; aspect 1 gives disks.

    Args:
        n: number of samples.
        size: grid side, px (≥ 8).
        volume_fraction: target particle area fraction per sample, in (0, 0.7].
        mean_radius_px: mean equivalent-disk radius, px, with r·√aspect_ratio ≤ size/4.
        aspect_ratio: long / short semi-axis, ≥ 1.
        orientation_deg: mean long-axis angle from +x (columns) towards +y (rows), deg.
        orientation_spread_deg: std of the long-axis angle, deg (≥ 0; ~90 is nearly random).
        radius_spread: std of log r (0 = monodisperse).
        max_overlap: largest fraction of a new particle's area allowed on existing particles.
        max_rejections: consecutive rejections after which overlap is allowed.
        seed: sample i uses seed + i (int) or seed[i] (n ints); exclusive with ``generator``.
        generator: CPU torch.Generator for the batch (when no seed); neither: torch's global one.
        device: where to compute and return (default CPU).

    Returns:
        CompositeResult with ``micrograph`` (n, size, size) uint8 and the achieved fractions.
    """
    check_grid(n, size)
    device = torch.device(device) if device is not None else torch.device("cpu")
    f32 = torch.float32
    target = per_sample(volume_fraction, n, "volume_fraction", device, f32)
    require((target > 0) & (target <= MAX_VOLUME_FRACTION), target, "volume_fraction", f"in (0, {MAX_VOLUME_FRACTION}]")
    aspect = per_sample(aspect_ratio, n, "aspect_ratio", device, f32)
    require(aspect >= 1, aspect, "aspect_ratio", "≥ 1 (long / short axis)")
    radius = per_sample(mean_radius_px, n, "mean_radius_px", device, f32)
    require((radius >= 1) & (radius * aspect.sqrt() <= size / 4), radius, "mean_radius_px", f"≥ 1 px with mean_radius_px·√aspect_ratio ≤ size/4 = {size / 4:g} px")
    theta0 = per_sample(orientation_deg, n, "orientation_deg", device, f32)
    spread = per_sample(orientation_spread_deg, n, "orientation_spread_deg", device, f32)
    require(spread >= 0, spread, "orientation_spread_deg", "≥ 0 deg")
    if not 0 <= radius_spread <= 1:
        raise MatgenError(f"radius_spread must be in [0, 1] (std of log radius; got {radius_spread})")
    if not 0 <= max_overlap <= 1:
        raise MatgenError(f"max_overlap must be in [0, 1] (got {max_overlap})")
    seeds = optional_sample_seeds(seed, n, generator)
    gens = None if seeds is None else seeded_generators(seeds)

    area_px = size * size
    target_px = target * area_px
    tol_px = max(0.005 * area_px, 1.0)
    micrograph = torch.zeros(n, size, size, dtype=torch.bool, device=device)
    count = torch.zeros(n, dtype=f32, device=device)
    streak = torch.zeros(n, dtype=torch.int64, device=device)
    placed = torch.zeros(n, dtype=torch.int64, device=device)
    pool = _proposals(n, gens, generator).to(device)
    max_iterations = 100 * PROPOSAL_BLOCK
    for it in range(max_iterations):
        active = (count < target_px - tol_px).nonzero().squeeze(1)  # (m,)
        if active.numel() == 0:
            break
        if it and it % PROPOSAL_BLOCK == 0:
            pool = _proposals(n, gens, generator).to(device)
        p = pool[active, it % PROPOSAL_BLOCK]  # (m, 4)
        r = radius[active] * torch.exp(radius_spread * p[:, 2] - radius_spread**2 / 2)
        r = torch.minimum(r, (size / 2 - 1) / aspect[active].sqrt())
        deficit = target_px[active] - count[active]
        r = (r * (deficit / (math.pi * r * r)).clamp(max=1).sqrt()).clamp(min=0.6)
        semi = torch.stack([r * aspect[active].sqrt(), r / aspect[active].sqrt()], dim=1)
        angle = torch.deg2rad(theta0[active] + spread[active] * p[:, 3])
        mask = ellipse_masks(size, p[:, :2] * size, semi, angle)  # (m, S, S)
        old = micrograph[active]
        area = mask.sum(dim=(-2, -1)).to(f32)
        new = (mask & ~old).sum(dim=(-2, -1)).to(f32)
        overlap = (area - new) / area.clamp(min=1)
        accept = (new > 0) & (count[active] + new <= target_px[active] + tol_px)
        accept &= (overlap <= max_overlap) | (streak[active] >= max_rejections)
        micrograph[active] = old | (mask & accept[:, None, None])
        count[active] += torch.where(accept, new, torch.zeros_like(new))
        streak[active] = torch.where(accept, torch.zeros_like(streak[active]), streak[active] + 1)
        placed[active] += accept.long()
    return CompositeResult(
        micrograph=micrograph.to(torch.uint8),
        volume_fraction=count / area_px,
        target_volume_fraction=target,
        mean_radius_px=radius,
        aspect_ratio=aspect,
        orientation_deg=theta0,
        orientation_spread_deg=spread,
        particles=placed,
        seeds=None if seeds is None else torch.tensor(seeds, dtype=torch.int64),
    )
