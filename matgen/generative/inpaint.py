"""RePaint inpainting (Lugmayr et al. 2022) with any VE denoiser: fill the unknown points of x0 given the known ones.

In the VE form of this package, x = x0 + sigma n (samplers.py), with a mask m (1 where y is
observed, 0 where x0 is to be filled) and a decreasing grid sigma_0 > ... > sigma_N = 0, each
step of Algorithm 1 of the paper reads:

    x_known = y + sigma_i z                                    # the observation noised to sigma_i (eq. 8a)
    x       = m x_known + (1 - m) x                            # eq. 8c
    x0_hat  = D(x, sigma_i, c)
    x       = r x + (1 - r) x0_hat + sigma_{i+1} sqrt(1 - r) z',   r = sigma_{i+1}^2 / sigma_i^2   # eq. 8b

(the DDPM posterior q(x_{i+1} | x_i, x0_hat), as :func:`~matgen.generative.samplers.sample_ddpm`).
The unknown part only hears about y through the denoiser, so after a step it can disagree with
the known part; RePaint's resampling (sec. 4.2) harmonises them: go back up ``jump`` steps with
the forward kernel x <- x + sqrt(sigma_{i-1}^2 - sigma_i^2) z and down again, ``resample`` - 1
times at every ``jump``-th step (:func:`repaint_schedule`, the paper's ``get_schedule_jump``).
For Gaussian data and the exact denoiser, the samples' mean over the unknown part approaches the
conditional mean E[x_u | x_k = y] as resampling grows (tests/test_inpaint.py). The result holds
y exactly where m = 1.

Any VE denoiser works: a diffusion network through ``vp_denoiser``, a flow network through
``flow_denoiser``, classifier-free guided ones. Cost: about ``resample`` x steps denoiser calls.

Notation: ``known`` m (B, ...) bool, ``y`` observation (B, ...), ``sigmas`` (N + 1,), ``jump`` j,
``resample`` r (the paper's jump_length and jump_n_sample).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from matgen.errors import MatgenError
from matgen.generative.samplers import Callback, Denoiser, Generators, randn_like


def repaint_schedule(steps: int, jump: int = 1, resample: int = 1) -> list[int]:
    """Return the sigma indices visited, 0 (noise) .. ``steps`` (clean), with RePaint's resampling jumps.

    After arriving at index i = steps, steps - j, steps - 2j, ... (i > j) the path goes back up j
    indices and down again, ``resample`` - 1 times (Lugmayr et al. 2022, sec. 4.2 and their code).
    """
    if steps < 1 or jump < 1 or resample < 1:
        raise MatgenError(f"steps, jump and resample must be at least 1 (got {steps}, {jump}, {resample})")
    jumps = {i: resample - 1 for i in range(steps, jump, -jump)}
    path, i = [0], 0
    while i < steps:
        i += 1
        path.append(i)
        if jumps.get(i, 0) > 0:
            jumps[i] -= 1
            for _ in range(jump):
                i -= 1
                path.append(i)
    return path


def repaint(
    denoiser: Denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    known: torch.Tensor,
    y: torch.Tensor,
    cond: Any = None,
    *,
    jump: int = 1,
    resample: int = 1,
    generator: Generators = None,
    callback: Callback | None = None,
) -> torch.Tensor:
    """Return x0 (B, ...): y where ``known``, the denoiser's fill elsewhere (module docstring).

    Args:
        denoiser: D(x, sigma, cond) -> x0_hat in VE form.
        x: the start, sigmas[0]-scaled noise (B, ...).
        sigmas: decreasing (N + 1,) ending in 0.
        known: (B, ...) bool, True where y is observed.
        y: (B, ...) the observation (values where not known are ignored).
        jump, resample: RePaint's jump length j and number of resamplings r (1, 1: plain replacement).
        generator: one torch.Generator or one per sample (sample i draws only from its own).
        callback: called (k, total) after each transition of the schedule.
    """
    sig = sigmas.tolist()
    path = repaint_schedule(len(sig) - 1, jump, resample)
    m = known.to(x.dtype)
    y = torch.where(known, y, torch.zeros_like(y))
    total = len(path) - 1
    for k, (i, j) in enumerate(zip(path[:-1], path[1:])):
        s, s_next = sig[i], sig[j]
        if j < i:  # a resampling jump up: the forward kernel from sigma_i to sigma_j > sigma_i
            x = x + math.sqrt(s_next**2 - s**2) * randn_like(x, generator)
        else:
            x = m * (y + s * randn_like(x, generator)) + (1 - m) * x
            x0 = denoiser(x, x.new_full((x.shape[0],), s), cond)
            r = s_next**2 / s**2
            x = r * x + (1.0 - r) * x0
            if s_next > 0:
                x = x + s_next * math.sqrt(1.0 - r) * randn_like(x, generator)
        if callback is not None:
            callback(k, total)
    return m * y + (1 - m) * x
