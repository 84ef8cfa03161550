"""Samplers: pure functions ``sample_x(denoiser, x, sigmas, cond) -> x0`` with one contract (k-diffusion).

The contract (Karras et al. 2022, sec. 2; Crowson's k-diffusion):

* a denoiser ``D(x, sigma, cond) -> x0_hat`` works in VE form, x = x0 + sigma n, with x (B, ...),
  sigma (B,) and cond passed through untouched (None when unconditional). Its noise estimate is
  eps_hat = (x - D) / sigma and its score (D - x) / sigma^2 (Tweedie).
* ``sigmas`` is a decreasing sequence (N + 1,) ending in 0 (see schedules.sampling_sigmas), and
  ``x`` starts as sigmas[0] * n. For a VP network the exact start is sqrt(1 + sigmas[0]^2) n, the
  VE image of x_T ~ N(0, I); the difference is below 1e-4 relative for sigmas[0] > 70.
* a VP network ``model_fn(x_t, t, cond)`` becomes a denoiser through :func:`vp_denoiser`, the one
  place where parameterisations meet samplers; guidance (guidance.py) wraps denoisers too.

Why not diffusers' schedulers: a diffusers scheduler is a stateful object whose ``step()`` keeps
the solver history and the timestep bookkeeping between calls and switches behaviour on many
flags. Here a sampler is ~20 lines of the paper's update in one loop, with no state outside the
call, so each update can be read next to its equation and tested against closed forms
(tests/test_samplers.py), and every sampler runs any network through the same denoiser.

Every sampler has the signature
``(denoiser, x, sigmas, cond=None, *, generator=None, callback=None) -> x0``.
Randomness: the stochastic samplers (ddpm, ddim with eta > 0) draw from ``generator``, either one
torch.Generator for the batch or a list of one generator per sample (see
:func:`matgen.common.seeding.seeded_generators`); with a list, sample i draws only from its own generator, so seed
s + i gives the same sample whatever the batch size. The deterministic ones ignore it.
Progress: ``callback(step_index, total)`` is called after each step; the library never prints.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence, Union

import torch

from matgen.common.distributed import BatchShard, whole_batch
from matgen.errors import MatgenError
from matgen.generative.objectives import append_dims, check_prediction, to_x0_eps
from matgen.generative.schedules import alpha_bar_from_sigma, sigma_to_t

Denoiser = Callable[[torch.Tensor, torch.Tensor, Any], torch.Tensor]
Callback = Callable[[int, int], None]
Generators = Union[torch.Generator, Sequence[torch.Generator], None]


def per_sample_noise(
    shape: Sequence[int],
    generators: Sequence[torch.Generator],
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Return N(0, I) noise (B, ...) whose row i is drawn from generators[i] alone (B = len(generators))."""
    if len(generators) != shape[0]:
        raise MatgenError(f"got {len(generators)} generators for a batch of {shape[0]} samples; give one per sample")
    rows = [torch.randn(tuple(shape[1:]), generator=g, device=g.device, dtype=dtype) for g in generators]
    return torch.stack(rows).to(device)


def randn_like(x: torch.Tensor, generator: Generators = None, shard: BatchShard | None = None) -> torch.Tensor:
    """Return N(0, I) noise shaped like x from one generator, a per-sample list, or the global RNG.

    ``shard``: x holds these rows of a larger batch (a DDP process); one generator (or the global RNG)
    then draws for the whole batch and the shard's rows are returned. Per-sample generators are per row already.
    """
    if generator is None or isinstance(generator, torch.Generator):
        device = generator.device if generator is not None else x.device
        shard = whole_batch(x.shape[0]) if shard is None else shard
        return shard.rows(torch.randn(shard.shape(x.shape), generator=generator, device=device,
                                      dtype=x.dtype)).to(x.device)
    return per_sample_noise(x.shape, generator, x.device, x.dtype)


def _denoise(denoiser: Denoiser, x: torch.Tensor, sigma: float, cond: Any) -> torch.Tensor:
    """Return D(x, sigma) with the scalar sigma broadcast to the batch (B,)."""
    return denoiser(x, x.new_full((x.shape[0],), sigma), cond)


def sample_ddim(
    denoiser: Denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    cond: Any = None,
    *,
    eta: float = 0.0,
    generator: Generators = None,
    callback: Callback | None = None,
) -> torch.Tensor:
    """Return samples x0 (B, ...) by DDIM (Song et al. 2021, eq. 12), written in VE form.

    Dividing eq. 12 by sqrt(alpha_bar_next) gives, with eps_hat = (x - D) / sigma,
        x_next = D + sigma_down eps_hat + sigma_up z,
        sigma_up = eta sigma_next sqrt(1 - sigma_next^2 / sigma^2)   (eq. 16, sigma_t(eta) / sqrt(alpha_bar_next)),
        sigma_down = sqrt(sigma_next^2 - sigma_up^2).
    eta = 0 is the deterministic DDIM = Euler's method on the probability-flow ODE dx/dsigma = eps_hat
    (first order); eta = 1 is ancestral DDPM sampling (see :func:`sample_ddpm`).
    """
    sig = sigmas.tolist()
    n = len(sig) - 1
    for i in range(n):
        s, s_next = sig[i], sig[i + 1]
        x0 = _denoise(denoiser, x, s, cond)
        eps = (x - x0) / s
        s_up = min(s_next, eta * s_next * math.sqrt(max(0.0, 1.0 - s_next**2 / s**2)))
        x = x0 + math.sqrt(s_next**2 - s_up**2) * eps
        if s_up > 0:
            x = x + s_up * randn_like(x, generator)
        if callback is not None:
            callback(i, n)
    return x


def sample_ddpm(
    denoiser: Denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    cond: Any = None,
    *,
    generator: Generators = None,
    callback: Callback | None = None,
) -> torch.Tensor:
    """Return samples x0 (B, ...) by ancestral sampling from the DDPM posterior q(x_next | x, x0 = D).

    Ho et al. 2020, eqs. 6-7, divided by sqrt(alpha_bar_next): in VE form the forward process is
    a Brownian motion in sigma^2, and its bridge gives, with r = sigma_next^2 / sigma^2,
        x_next = r x + (1 - r) D(x, sigma) + sigma_next sqrt(1 - r) z,    z ~ N(0, I).
    Identical to DDIM with eta = 1; the last step (sigma_next = 0) returns D.
    """
    sig = sigmas.tolist()
    n = len(sig) - 1
    for i in range(n):
        s, s_next = sig[i], sig[i + 1]
        r = s_next**2 / s**2
        x0 = _denoise(denoiser, x, s, cond)
        x = r * x + (1.0 - r) * x0
        if s_next > 0:
            x = x + s_next * math.sqrt(1.0 - r) * randn_like(x, generator)
        if callback is not None:
            callback(i, n)
    return x


def sample_heun(
    denoiser: Denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    cond: Any = None,
    *,
    generator: Generators = None,
    callback: Callback | None = None,
) -> torch.Tensor:
    """Return samples x0 (B, ...) by Heun's method on the probability-flow ODE (Karras et al. 2022, Algorithm 1).

    d = (x - D(x, sigma)) / sigma; Euler predictor x' = x + (sigma_next - sigma) d, then the
    trapezoidal corrector x_next = x + (sigma_next - sigma)(d + d') / 2 with d' at (x', sigma_next).
    Second order, 2 N - 1 denoiser calls: the last step, to sigma = 0, is Euler (d' undefined).
    Deterministic (S_churn = 0): ``generator`` is ignored, accepted for the common signature.
    """
    sig = sigmas.tolist()
    n = len(sig) - 1
    for i in range(n):
        s, s_next = sig[i], sig[i + 1]
        d = (x - _denoise(denoiser, x, s, cond)) / s
        x_next = x + (s_next - s) * d
        if s_next > 0:
            d_next = (x_next - _denoise(denoiser, x_next, s_next, cond)) / s_next
            x_next = x + (s_next - s) * (d + d_next) / 2
        x = x_next
        if callback is not None:
            callback(i, n)
    return x


def sample_dpmpp_2m(
    denoiser: Denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    cond: Any = None,
    *,
    generator: Generators = None,
    callback: Callback | None = None,
) -> torch.Tensor:
    """Return samples x0 (B, ...) by DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2), as in k-diffusion.

    In lambda = -log sigma with step h = lambda_next - lambda, the exponential integrator of the
    data-prediction ODE is x_next = (sigma_next / sigma) x - expm1(-h) D_hat, where D_hat is D
    on the first step and the multistep extrapolation
        D_hat = D_i + (D_i - D_{i-1}) h / (2 h_prev)
    afterwards (second order, one denoiser call per step). The last step, to sigma = 0, returns D.
    Deterministic: ``generator`` is ignored, accepted for the common signature.
    """
    sig = sigmas.tolist()
    n = len(sig) - 1
    x0_prev, h_prev = None, None
    for i in range(n):
        s, s_next = sig[i], sig[i + 1]
        x0 = _denoise(denoiser, x, s, cond)
        if s_next == 0:
            x = x0
        else:
            h = math.log(s / s_next)
            x0_hat = x0 if x0_prev is None else x0 + (x0 - x0_prev) * h / (2 * h_prev)
            x = (s_next / s) * x - math.expm1(-h) * x0_hat
            x0_prev, h_prev = x0, h
        if callback is not None:
            callback(i, n)
    return x


SAMPLERS = {"ddim": sample_ddim, "ddpm": sample_ddpm, "dpmpp-2m": sample_dpmpp_2m, "heun": sample_heun}


def get_sampler(name: str) -> Callable[..., torch.Tensor]:
    """Return the sampler function registered as ``name`` in SAMPLERS."""
    if name not in SAMPLERS:
        raise MatgenError(f"unknown sampler {name!r}; choose from {', '.join(sorted(SAMPLERS))}")
    return SAMPLERS[name]


def vp_denoiser(
    model_fn: Callable[[torch.Tensor, torch.Tensor, Any], torch.Tensor],
    alpha_bar: torch.Tensor,
    prediction: str = "eps",
    quantize: bool = False,
) -> Denoiser:
    """Return the VE denoiser D(x, sigma, cond) of a VP network ``model_fn(x_t, t, cond)``.

    x_t = x sqrt(alpha_bar(sigma)) = x / sqrt(1 + sigma^2) (Karras et al. 2022, table 1, c_in), t is
    the real timestep of sigma (schedules.sigma_to_t, rounded to the nearest integer when
    ``quantize``, for networks that only know integer t), and the output is converted to x0 with
    objectives.to_x0_eps. ``alpha_bar`` (T,) is the schedule the network was trained with.
    """
    check_prediction(prediction)

    def denoiser(x: torch.Tensor, sigma: torch.Tensor, cond: Any = None) -> torch.Tensor:
        a = alpha_bar_from_sigma(sigma)  # (B,)
        t = sigma_to_t(sigma, alpha_bar)
        x_t = x * append_dims(a.sqrt(), x.ndim)
        output = model_fn(x_t, t.round() if quantize else t, cond)
        return to_x0_eps(output, x_t, a, prediction)[0]

    return denoiser
