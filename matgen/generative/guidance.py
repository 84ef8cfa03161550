"""Guidance: wrappers that turn a denoiser D(x, sigma, cond) into a guided one with the same contract.

Both act on the score, which in VE form is (D - x) / sigma^2 (Tweedie), so a change of score
s -> s + g is a change of denoiser D -> D + sigma^2 g, and eps_hat = (x - D) / sigma changes by
-sigma g. Any sampler in samplers.py runs a guided denoiser unchanged.

* Classifier-free guidance (Ho & Salimans 2022, eq. 6), in the lecture notes' convention
      eps_tilde = (1 + w) eps(x, c) - w eps(x, null),
  w = 0 purely conditional, w > 0 stronger conditioning. eps is affine in D at fixed x, so the
  same combination applies to D. The "null" condition is NaN (matgen's "not conditioned").
* Regressor guidance: classifier guidance (Dhariwal & Nichol 2021, Algorithm 1) for a continuous
  property. A differentiable predictor r(x, sigma) of the property of the clean sample, read from
  the noisy x, with a Gaussian likelihood log p(y* | x) = -|r(x, sigma) - y*|^2 / (2 std^2), shifts
      D -> D + scale sigma^2 grad_x log p(y* | x).
  With r = E[y | x] and std^2 = Var[y | x] at every sigma, scale = 1 samples p(x0 | y*) exactly
  (tests/test_samplers.py checks this for Gaussian data). A constant std, which ignores that r is
  less certain at high noise, over-steers: in that test it puts the mean past the target.
* Constraint guidance (physics-constrained generation with a differentiable simulator): the
  denoised estimate x0 = D(x, sigma, c) is moved towards the constraints r(x0) = 0, r (B, K) the
  targets' residuals in units of their tolerance, by a damped Gauss-Newton (minimum-norm) step
      D -> D - scale J^T (J J^T + lambda I)^-1 r,    J = dr/dx0 (K x D per sample),
  evaluated at every denoiser call, so every sampler steers through it. scale = 1 solves the
  linearised constraints exactly at each call (the residual of a linear r is 0 after it); the
  minimum-norm step changes x0 as little as that needs, along the directions the simulator is
  sensitive to, and a satisfied constraint (r = 0) is held to first order. With a smoother G (a
  symmetric linear operator on fields shaped like x0) the norm is |G^-1 step|, and the step
      G^2 J^T (J G^2 J^T + lambda I)^-1 r
  meets the same linearised constraints with a smooth change: for images it moves interfaces
  instead of flipping single pixels.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from matgen.generative.objectives import append_dims
from matgen.generative.samplers import Denoiser


def classifier_free_guidance(denoiser: Denoiser, w: float, uncond: torch.Tensor | None = None) -> Denoiser:
    """Return the denoiser (1 + w) D(x, sigma, cond) - w D(x, sigma, uncond), one batched call of 2 B.

    Args:
        denoiser: conditional denoiser; ``cond`` is a tensor (B, ...) whose NaN entries mean
            "not conditioned" (the model was trained with condition dropout to NaN).
        w: guidance weight, w = 0 returns the conditional denoiser.
        uncond: the null condition, broadcastable to ``cond``; default all NaN.
    """

    def guided(x: torch.Tensor, sigma: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        null = torch.full_like(cond, float("nan")) if uncond is None else uncond.to(cond).expand_as(cond)
        both = denoiser(torch.cat([x, x]), torch.cat([sigma, sigma]), torch.cat([cond, null]))  # (2B, ...)
        x0_cond, x0_uncond = both.chunk(2)
        return x0_cond + w * (x0_cond - x0_uncond)

    return guided


def regressor_guidance(
    denoiser: Denoiser,
    predictor: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    target: torch.Tensor,
    scale: float = 1.0,
    std: float | Callable[[torch.Tensor], torch.Tensor] = 1.0,
) -> Denoiser:
    """Return the denoiser D + scale sigma^2 grad_x log p(target | x), log p = -|r(x, sigma) - target|^2 / (2 std^2).

    Args:
        denoiser: the denoiser to steer; its ``cond`` is passed through unchanged.
        predictor: differentiable r(x (B, ...), sigma (B,)) -> (B, P) property estimate from the
            noisy VE sample x (for a regressor trained on VP x_t, feed it x / sqrt(1 + sigma^2)).
        target: y* (P,) or (B, P), in the predictor's units; NaN entries are not steered.
        scale: guidance scale (Dhariwal & Nichol's s); 0 returns ``denoiser`` unchanged.
        std: likelihood width, in the target's units: a float, or a function of sigma (B,) ->
            (B,) or (B, P) for a predictor that is less certain at high noise.
    """

    def guided(x: torch.Tensor, sigma: torch.Tensor, cond: Any = None) -> torch.Tensor:
        x0 = denoiser(x, sigma, cond)
        if scale == 0:
            return x0
        with torch.inference_mode(False), torch.enable_grad():  # samplers may run in inference mode
            x_in, sigma_in = x.detach().clone().requires_grad_(True), sigma.detach().clone()
            y = predictor(x_in, sigma_in)  # (B, P)
            width = std(sigma_in) if callable(std) else torch.as_tensor(std)
            width = append_dims(width.to(y), y.ndim) if width.ndim == 1 else width.to(y)
            goal = target.to(y).expand_as(y)
            known = ~torch.isnan(goal)
            resid = torch.where(known, (y - goal.nan_to_num()) / width, torch.zeros_like(y))
            (grad,) = torch.autograd.grad(-0.5 * (resid**2).sum(), x_in)
        return x0 + scale * append_dims(sigma**2, x.ndim) * grad

    return guided


def constraint_guidance(
    denoiser: Denoiser,
    residuals: Callable[[torch.Tensor], torch.Tensor],
    scale: float = 1.0,
    damping: float = 1e-6,
    smoother: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> Denoiser:
    """Return the denoiser D - scale G^2 J^T (J G^2 J^T + lambda I)^-1 r(D), r = ``residuals`` of the denoised estimate.

    Args:
        denoiser: the denoiser to steer; its ``cond`` is passed through unchanged.
        residuals: differentiable r(x0 (B, ...)) -> (B, K), each constraint's residual in units of
            its tolerance (0 where it is met); samples must not interact (row b depends on x0[b] only).
        scale: fraction of the Gauss-Newton step taken at each call; 0 returns ``denoiser`` unchanged.
        damping: lambda relative to the mean diagonal of J G^2 J^T (keeps conflicting or flat
            constraints from blowing up the step).
        smoother: G, a symmetric linear map of (B, ...) fields shaped like x0 (default: identity).
    """

    def guided(x: torch.Tensor, sigma: torch.Tensor, cond: Any = None) -> torch.Tensor:
        x0 = denoiser(x, sigma, cond)
        if scale == 0:
            return x0
        return x0 - scale * gauss_newton_step(residuals, x0, damping, smoother)

    return guided


def gauss_newton_step(residuals: Callable[[torch.Tensor], torch.Tensor], x0: torch.Tensor, damping: float = 1e-6,
                      smoother: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """The minimum-norm step G^2 J^T (J G^2 J^T + lambda I)^-1 r (B, ...) that zeroes the linearised residuals
    r(x0) (B, K), in the norm |G^-1 step| of the smoother G (default identity: the Euclidean minimum-norm step)."""
    smooth = smoother if smoother is not None else (lambda field: field)
    with torch.inference_mode(False), torch.enable_grad():  # samplers may run in inference mode
        x_in = x0.detach().clone().requires_grad_(True)
        r = residuals(x_in)  # (B, K)
        rows = [torch.autograd.grad(r[:, k].sum(), x_in, retain_graph=k + 1 < r.shape[1])[0]
                for k in range(r.shape[1])]  # K x (B, ...): samples do not interact, so the sum's gradient is per sample
    JG = torch.stack([smooth(row) for row in rows], 1).flatten(2).double()  # (B, K, D): the rows of J G
    M = JG @ JG.transpose(1, 2)  # (B, K, K) = J G^2 J^T
    lam = damping * M.diagonal(dim1=1, dim2=2).mean(-1).clamp_min(1e-30)  # (B,)
    eye = torch.eye(r.shape[1], dtype=M.dtype, device=M.device)
    y = torch.linalg.solve(M + lam[:, None, None] * eye, r.detach().double()[..., None])  # (B, K, 1)
    step = smooth((JG.transpose(1, 2) @ y)[..., 0].reshape(x0.shape))
    finite = torch.isfinite(step).flatten(1).all(1)  # a sample whose constraints cannot be linearised here is left be
    return torch.where(finite.view(-1, *[1] * (x0.dim() - 1)), step, torch.zeros_like(step)).to(x0.dtype)
