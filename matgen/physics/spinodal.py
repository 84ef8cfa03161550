"""Spinodal decomposition: the Cahn–Hilliard equation on a periodic 2-D grid, batched torch.

:func:`spinodal` returns ``(n, size, size)`` tensors on the requested device (CPU by default; the
same code runs unchanged on a GPU) and records the per-sample parameters it used.

The Cahn–Hilliard equation for an order parameter c ∈ [−1, 1] on a periodic grid of 1 px
spacing, mobility M = 1,

    ∂c/∂t = ∇²μ,   μ = f'(c) − κ∇²c,   f(c) = (c² − 1)² / 4,   f'(c) = c³ − c,

the standard symmetric double well with equilibrium phases c = ±1. A flat interface is
c(x) = tanh(x / ξ) with ξ = √(2κ) px: ``interface_width_px`` is ξ, so κ = ξ²/2 (px²). Time is
dimensionless model time in these units. The homogeneous mixture is unstable (spinodal) for
|c̄| < 1/√3; the fastest-growing wavelength is λ_m = 2π ξ / √(1 − 3c̄²) px, and late-stage
coarsening follows Lifshitz–Slyozov, L ~ (σ t)^{1/3} with interfacial tension σ ∝ √κ, so both a
longer anneal and a wider interface give larger features. By the lever rule the area fraction of
phase 1 (c > 0) tends to (1 + c̄)/2.

It is solved with the semi-implicit Fourier-spectral scheme (Chen & Shen, Comput. Phys. Commun.
108 (1998) 147) with the linear stabilising term A(c^{n+1} − c^n) of Eyre (1998) / Zhu, Chen,
Shen & Tikare, Phys. Rev. E 60 (1999) 3564:

    ĉ^{n+1} = (ĉ^n (1 + Δt A k²) − Δt k² f̂'(c^n)) / (1 + Δt A k² + Δt κ k⁴),   A = 2 ≥ max f''.

At k = 0 the update is the identity, so the mean composition (mass) is conserved exactly. The
analysis of the resulting two-phase maps (phase fraction, S₂, characteristic length) is in
:mod:`matgen.physics.morphology`.

Notation: ``c`` concentration (order parameter), ``c_hat`` its ``rfft2``, ``k2`` = |k|² in
(rad/px)², ``kappa`` gradient-energy coefficient κ (px²), ``dt`` time step Δt (model time).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from matgen.common.seeding import Seeds, optional_sample_seeds, seeded_generators
from matgen.errors import MatgenError
from matgen.physics.batching import Tensorish, check_grid, per_sample, require
from matgen.physics.morphology import squared_wavenumbers

#: Upper bound of f''(c) = 3c² − 1 on [−1, 1]: the stabilising constant A of Zhu et al. (1999).
STABILIZER = 2.0
#: Standard deviation of the Gaussian noise added to the mean composition at t = 0.
NOISE_STD = 0.05
#: |c̄| must stay below the spinodal composition 1/√3; outside it small noise does not decompose.
SPINODAL_LIMIT = 1.0 / math.sqrt(3.0)


@dataclass(frozen=True)
class SpinodalResult:
    """Cahn–Hilliard microstructures and the per-sample parameters that made them."""

    concentration: torch.Tensor  # (n, size, size) float, order parameter c ∈ ~[−1, 1]
    micrograph: torch.Tensor  # (n, size, size) uint8, 1 where c > 0, else 0
    mean_composition: torch.Tensor  # (n,) c̄, dimensionless, conserved
    anneal_time: torch.Tensor  # (n,) dimensionless model time
    interface_width_px: torch.Tensor  # (n,) ξ = √(2κ), px
    kappa_px2: torch.Tensor  # (n,) gradient-energy coefficient κ = ξ²/2, px²
    max_dt: torch.Tensor  # (n,) largest time step used (model time)
    steps: int  # number of time steps (the same for every sample; see time_steps)
    seeds: torch.Tensor | None  # (n,) int64 seed of each sample's initial noise; None: a generator


def cahn_hilliard(c0: torch.Tensor, kappa_px2: Tensorish, dt: torch.Tensor, stabilizer: float = STABILIZER) -> torch.Tensor:
    """(n, size, size) concentration after the stabilised semi-implicit spectral steps ``dt``.

    Integrates ∂c/∂t = ∇²(c³ − c − κ∇²c) on a periodic grid (1 px spacing, M = 1) from ``c0``
    (n, size, size) with per-sample κ (px², float or (n,)) and time steps ``dt`` (n, steps)
    (model time; a zero step leaves a sample unchanged):
    ĉ ← (ĉ (1 + Δt A k²) − Δt k² FFT(c³ − c)) / (1 + Δt A k² + Δt κ k⁴) (Chen & Shen 1998;
    stabiliser A from Zhu et al. 1999). The k = 0 mode, the mean composition, never changes.
    """
    size = c0.shape[-1]
    k2 = squared_wavenumbers(size, device=c0.device, dtype=c0.dtype)  # (S, S//2+1)
    kappa = torch.as_tensor(kappa_px2, dtype=c0.dtype, device=c0.device).reshape(-1, 1, 1)
    linear = stabilizer * k2 + kappa * k2**2  # (n, S, S//2+1)
    c_hat = torch.view_as_real(torch.fft.rfft2(c0))  # (n, S, S//2+1, 2): real ops are faster
    for dt_j in dt.to(c0.dtype).T:  # (n,) step j of every sample
        dt_j = dt_j.reshape(-1, 1, 1)
        denominator = 1 + dt_j * linear
        keep = ((1 + dt_j * stabilizer * k2) / denominator).unsqueeze(-1)
        drive = (dt_j * k2 / denominator).unsqueeze(-1)
        c = torch.fft.irfft2(torch.view_as_complex(c_hat), s=(size, size))
        mu_hat = torch.view_as_real(torch.fft.rfft2(c * c * c - c))
        c_hat = torch.addcmul(keep * c_hat, drive, mu_hat, value=-1.0)
    return torch.fft.irfft2(torch.view_as_complex(c_hat), s=(size, size))


def _step_count(t: torch.Tensor, tau: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """(n,) σ(t) = ∫₀ᵗ dt'/h(t'), the number of steps of size h(t) = h0 · max(1, (t/τ)^{2/3}) to reach t."""
    late = tau + 3 * tau ** (2 / 3) * (t.clamp(min=tau) ** (1 / 3) - tau ** (1 / 3))
    return torch.where(t <= tau, t, late) / h0


def _time_at(sigma: torch.Tensor, tau: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`_step_count`: the time t (same shape as ``sigma``) with σ(t) = sigma."""
    u = sigma * h0
    late = ((u - tau).clamp(min=0) / (3 * tau ** (2 / 3)) + tau ** (1 / 3)) ** 3
    return torch.where(u <= tau, u, late)


def time_steps(anneal_time: torch.Tensor, interface_width_px: torch.Tensor, dt: float, steps: int | None = None) -> torch.Tensor:
    """(n, steps) time steps (model time) that end every sample exactly at its anneal time.

    The allowed step grows with the coarsening length L ~ t^{1/3} so that the stabiliser's time
    lag A Δt k² at k ~ 2π/L stays about constant: h(t) = dt ξ² max(1, (t / τ)^{2/3}) with
    τ = 20 ξ² (the end of the early, linear spinodal stage; ξ² is the natural time unit because
    x → ξx, t → ξ²t leaves the equation unchanged). Sample i needs σ_i = ∫ dt/h steps; all take
    ``steps`` = max ⌈σ_i⌉ (or the given number), evenly spaced in σ, so none steps beyond h.
    """
    xi2 = interface_width_px.to(torch.float64) ** 2
    tau, h0 = 20.0 * xi2, dt * xi2
    t = anneal_time.to(torch.float64)
    sigma_end = _step_count(t, tau, h0)  # (n,)
    if steps is None:
        steps = max(int(math.ceil(sigma_end.max().item() - 1e-9)), 0)
    fractions = torch.linspace(0, 1, steps + 1, dtype=torch.float64, device=t.device)  # (steps+1,)
    times = _time_at(sigma_end[:, None] * fractions, tau[:, None], h0[:, None])  # (n, steps+1)
    times[:, -1] = t
    return times.diff(dim=1)


def initial_concentration(
    n: int, size: int, mean_composition: torch.Tensor, seeds: list[int] | None, generator: torch.Generator | None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """(n, size, size) c̄ + Gaussian noise (std NOISE_STD) whose mean is exactly c̄ per sample.

    Noise is drawn on the CPU (from ``torch.Generator().manual_seed(seeds[i])`` for sample i, or
    from ``generator``) and then moved to ``mean_composition``'s device, so the same seeds give the
    same microstructure on CPU and GPU.
    """
    if seeds is not None:
        noise = torch.stack([torch.randn(size, size, generator=g) for g in seeded_generators(seeds)])
    else:
        noise = torch.randn(n, size, size, generator=generator)
    noise = noise.to(device=mean_composition.device, dtype=dtype) * NOISE_STD
    noise = noise - noise.mean(dim=(-2, -1), keepdim=True)
    return mean_composition.to(dtype).reshape(-1, 1, 1) + noise


def spinodal(
    n: int,
    size: int = 64,
    mean_composition: Tensorish = 0.0,
    anneal_time: Tensorish = 200.0,
    interface_width_px: Tensorish = 1.0,
    seed: Seeds = None,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    steps: int | None = None,
    dt: float = 0.25,
    dtype: torch.dtype = torch.float32,
) -> SpinodalResult:
    """Spinodally decomposed microstructures: Cahn–Hilliard fields and binary phase maps.

    Each sample starts from its mean composition plus small noise and is annealed by
    :func:`cahn_hilliard` (equations in the module docstring). All samples take the same number
    of steps, growing with time as the structure coarsens (:func:`time_steps`), and every sample
    ends exactly at its own anneal time.

    Defaults (c̄ = 0, ξ = 1 px, t = 200) give a visibly two-phase, bicontinuous 64 × 64
    microstructure, characteristic length 2π/k₁ ≈ 9 px; c̄ = ±0.3 gives droplets of the minority phase;
    t from ~20 (early, diffuse) to ~2000 (coarse) spans the coarsening range on 64 px.

    Args:
        n: number of samples.
        size: grid side, px (≥ 8).
        mean_composition: c̄ per sample, float or (n,), inside the spinodal |c̄| < 1/√3 ≈ 0.577;
            phase 1 (c > 0) tends to the area fraction (1 + c̄)/2.
        anneal_time: dimensionless model time per sample (≥ 0), float or (n,).
        interface_width_px: interface width ξ = √(2κ) per sample, px, float or (n,), in [0.5, size/8].
        seed: sample i's initial noise uses seed + i (int) or seed[i] (n ints): reproducible
            whatever the batch size. Exclusive with ``generator``.
        generator: CPU torch.Generator for the noise of the whole batch (when no seed).
            Neither: torch's global generator.
        device: where to compute and return (default CPU).
        steps: number of time steps; default: enough that no step exceeds the allowed one.
        dt: allowed time step in units of ξ² during the early stage (t < 20 ξ²); later it grows
            as t^{2/3}. 0.25 keeps the characteristic length within ~5 % of a much finer run.
        dtype: floating dtype of the computation.

    Returns:
        SpinodalResult: ``concentration`` (n, size, size), ``micrograph`` (n, size, size) uint8,
        and the parameters used.
    """
    check_grid(n, size)
    device = torch.device(device) if device is not None else torch.device("cpu")
    c_bar = per_sample(mean_composition, n, "mean_composition", device, torch.float64)
    require(c_bar.abs() < SPINODAL_LIMIT, c_bar, "mean_composition", f"inside the spinodal, -{SPINODAL_LIMIT:.3f} < c < {SPINODAL_LIMIT:.3f}")
    t = per_sample(anneal_time, n, "anneal_time", device, torch.float64)
    require(t >= 0, t, "anneal_time", "≥ 0 (dimensionless model time)")
    xi = per_sample(interface_width_px, n, "interface_width_px", device, torch.float64)
    require((xi >= 0.5) & (xi <= size / 8), xi, "interface_width_px", f"between 0.5 and size/8 = {size / 8:g} px")
    if not dt > 0:
        raise MatgenError(f"dt must be a positive time step (got {dt})")
    if steps is not None and (int(steps) != steps or steps < 1):
        raise MatgenError(f"steps must be a positive integer (got {steps})")
    dt_steps = time_steps(t, xi, dt, None if steps is None else int(steps))  # (n, steps)
    kappa = xi**2 / 2
    seeds = optional_sample_seeds(seed, n, generator)

    c0 = initial_concentration(n, size, c_bar, seeds, generator, dtype)
    c = cahn_hilliard(c0, kappa.to(dtype), dt_steps.to(dtype))
    return SpinodalResult(
        concentration=c,
        micrograph=(c > 0).to(torch.uint8),
        mean_composition=c_bar.to(dtype),
        anneal_time=t.to(dtype),
        interface_width_px=xi.to(dtype),
        kappa_px2=kappa.to(dtype),
        max_dt=(dt_steps.amax(dim=1) if dt_steps.shape[1] else torch.zeros_like(t)).to(dtype),
        steps=dt_steps.shape[1],
        seeds=None if seeds is None else torch.tensor(seeds, dtype=torch.int64),
    )
