"""The defaults of sampling, said once: :func:`matgen.sample.sample` and `matgen sample --help` both read them.

This module imports neither torch nor numpy, so the command line reads it at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SampleOptions:
    """How samples are drawn when nothing else is said."""

    n: int = 16  # number of samples
    sampler: str = "auto"  # the run kind's default (diffusion dpmpp-2m, flow heun, consistency consistency) or a name
    steps: int = 30  # sampler steps (network calls: 1 per step, 2 for heun)
    guidance: float = 0.0  # classifier-free guidance weight w (0: the conditional model alone)
    seed: int = 0  # sample i uses seed + i
    batch_size: int = 64  # samples per network call (does not change the samples)
    regressor_scale: float = 1.0  # regressor guidance scale (likelihood one training std wide)
    physics_scale: float = 2.0  # physics guidance: Gauss-Newton steps per denoiser call (over-relaxed; see sample.physics)


DEFAULTS = SampleOptions()
INPAINT_JUMP = 5  # RePaint jump length j: steps re-noised at each resampling point (matgen.generative.inpaint)
INPAINT_RESAMPLE = 5  # RePaint resamplings r per jump point (1: plain replacement); network calls ≈ r × steps
