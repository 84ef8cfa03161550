"""Noise schedules: discrete VP tables alpha_bar (T,), their VE noise levels sigma, and sampling grids.

A variance-preserving (VP) model is trained on x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps
for integer t = 0 .. T-1 (index t here is step t + 1 of Ho et al. 2020, so alpha_bar[0] ~ 1 and
alpha_bar[T-1] ~ 0). Dividing by sqrt(alpha_bar_t) gives the variance-exploding (VE) form that the
samplers use (Karras et al. 2022, sec. 2; k-diffusion):

    x = x_t / sqrt(alpha_bar_t) = x0 + sigma eps,    sigma = sqrt((1 - alpha_bar) / alpha_bar),

so one table of sigmas (increasing with t) describes any VP schedule, and a sampler only needs a
decreasing sequence sigma_0 > sigma_1 > ... > sigma_N = 0.

Notation: ``T`` training steps, ``t`` timestep index (integer in training, real in [0, T-1] when
a sampler asks for a sigma between table entries), ``alpha_bar`` (T,), ``sigma`` (T,) or (B,).
Every table is float64: ``1 - alpha_bar`` near t = 0 is ~1e-4 and loses digits in float32.
"""

from __future__ import annotations

import math

import torch

from matgen.errors import MatgenError

SPACINGS = ("trailing", "leading", "karras")


def linear_alpha_bar(T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """Return alpha_bar (T,) of the linear schedule, beta_t = linspace(1e-4, 0.02) (Ho et al. 2020, sec. 4).

    alpha_bar_t = prod_{s <= t} (1 - beta_s); for T = 1000, alpha_bar[-1] ~ 4.0e-5.
    """
    betas = torch.linspace(beta_start, beta_end, T, dtype=torch.float64)
    return torch.cumprod(1.0 - betas, dim=0)


def cosine_alpha_bar(T: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Return alpha_bar (T,) of the cosine schedule (Nichol & Dhariwal 2021, eq. 17).

    f(t) = cos^2((t / T + s) / (1 + s) * pi / 2), beta_t = min(1 - f(t) / f(t - 1), 0.999) for
    t = 1 .. T; the clipping keeps the last steps from being singular (ibid., sec. 3.2).
    """
    t = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    betas = (1.0 - f[1:] / f[:-1]).clamp(max=max_beta)
    return torch.cumprod(1.0 - betas, dim=0)


SCHEDULES = {"linear": linear_alpha_bar, "cosine": cosine_alpha_bar}


def get_schedule(name: str, T: int = 1000) -> torch.Tensor:
    """Return alpha_bar (T,) of the registered schedule ``name`` (a key of SCHEDULES)."""
    if name not in SCHEDULES:
        raise MatgenError(f"unknown noise schedule {name!r}; choose from {', '.join(sorted(SCHEDULES))}")
    return SCHEDULES[name](T)


def sigma_from_alpha_bar(alpha_bar: torch.Tensor) -> torch.Tensor:
    """Return the VE noise level sigma = sqrt((1 - alpha_bar) / alpha_bar), same shape."""
    return ((1.0 - alpha_bar) / alpha_bar).sqrt()


def alpha_bar_from_sigma(sigma: torch.Tensor) -> torch.Tensor:
    """Return alpha_bar = 1 / (1 + sigma^2), the inverse of :func:`sigma_from_alpha_bar`."""
    return 1.0 / (1.0 + sigma**2)


def karras_sigmas(steps: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> torch.Tensor:
    """Return (steps + 1,) sigmas from sigma_max down to sigma_min, then 0 (Karras et al. 2022, eq. 5).

    sigma_i = (sigma_max^(1/rho) + i / (steps - 1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho;
    rho = 7 puts most steps at low noise, where the ODE curves most.
    """
    ramp = torch.linspace(0, 1, steps, dtype=torch.float64)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    sigmas = (hi + ramp * (lo - hi)) ** rho
    return torch.cat([sigmas, sigmas.new_zeros(1)])


def sampling_sigmas(alpha_bar: torch.Tensor, steps: int, spacing: str = "trailing", rho: float = 7.0) -> torch.Tensor:
    """Return a decreasing sampling grid sigmas (steps + 1,), float64, ending in 0.

    Args:
        alpha_bar: (T,) training schedule.
        steps: number of sampler steps N (network evaluations for first-order samplers).
        spacing: ``"trailing"`` t_i = round(T - i T / N) - 1, which starts at the last training
            step t = T - 1 (Lin et al. 2024); ``"leading"`` t_i = (N - 1 - i) (T // N),
            the DDIM default, which never visits the noisiest steps; ``"karras"`` eq. 5 of
            Karras et al. 2022 between the table's sigma_min and sigma_max (for Heun, DPM-Solver).
        rho: the Karras exponent (``"karras"`` only).
    """
    T = alpha_bar.shape[0]
    if not 1 <= steps <= T:
        raise MatgenError(f"steps must be between 1 and the {T} training steps, got {steps}")
    sigma = sigma_from_alpha_bar(alpha_bar.double())
    if spacing == "karras":
        return karras_sigmas(steps, sigma[0].item(), sigma[-1].item(), rho)
    if spacing == "trailing":
        t = torch.round(torch.arange(T, 0, -T / steps, dtype=torch.float64)).long() - 1
    elif spacing == "leading":
        t = (torch.arange(steps - 1, -1, -1) * (T // steps)).long()
    else:
        raise MatgenError(f"unknown sigma spacing {spacing!r}; choose from {', '.join(SPACINGS)}")
    return torch.cat([sigma[t], sigma.new_zeros(1)])


def sigma_to_t(sigma: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
    """Return the real timestep t (same shape as sigma) in [0, T-1] whose sigma it is.

    log sigma is interpolated linearly between table entries (as k-diffusion's DiscreteSchedule),
    so a network trained on integer t can be queried at any sigma; sigma outside the table is
    clamped to t = 0 or T - 1.
    """
    log_table = sigma_from_alpha_bar(alpha_bar.double()).log().to(sigma.device)  # (T,) increasing
    log_sigma = sigma.double().clamp(min=1e-300).log()
    high = torch.searchsorted(log_table, log_sigma.contiguous()).clamp(1, len(log_table) - 1)
    low = high - 1
    w = ((log_sigma - log_table[low]) / (log_table[high] - log_table[low])).clamp(0, 1)
    return (low + w).to(sigma.dtype)


def t_to_sigma(t: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
    """Return sigma at real timesteps t in [0, T-1], interpolating log sigma (inverse of sigma_to_t)."""
    dtype = t.dtype if t.is_floating_point() else torch.float64
    log_table = sigma_from_alpha_bar(alpha_bar.double()).log().to(t.device)
    t = t.double().clamp(0, len(log_table) - 1)
    low = t.floor().long().clamp(max=len(log_table) - 2)
    w = t - low
    return ((1 - w) * log_table[low] + w * log_table[low + 1]).exp().to(dtype)
