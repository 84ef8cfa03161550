"""Flow matching and rectified flow (Lipman et al. 2023; Liu et al. 2023) in the one denoiser contract.

The linear path between data x0 and noise eps ~ N(0, I) is

    x_t = (1 - t) x0 + t eps,    t in [0, 1],    velocity  v = dx_t / dt = eps - x0,

and a network v(x_t, t, c) is trained to regress eps - x0 (:func:`flow_loss`); samples solve the
ODE dx/dt = v from t = 1 (noise) to t = 0. Dividing by (1 - t) gives the VE form every sampler
and guidance of this package use (samplers.py):

    x = x_t / (1 - t) = x0 + sigma eps,    sigma = t / (1 - t),    t = sigma / (1 + sigma),

and the denoised estimate is D = x_t - t v (:func:`flow_denoiser`). So a flow network runs every
VE sampler (DPM-Solver++ included), classifier-free guidance on D is exactly the guided velocity
(1 + w) v(c) - w v(null) (D is affine in v at fixed x_t and t), and regressor and physics guidance
steer it unchanged. The flow samplers below integrate in t itself, where the path is straight:
Euler (first order; identical to DDIM on the VE denoiser), Heun (second order, the last step to
t = 0 is Euler because v is not defined there through D) and the explicit midpoint rule (second
order, 2 calls per step).

Notation: ``t`` flow time (1 = noise), ``T_MAX`` the start (just below 1, so sigma stays finite:
the prior mismatch is (1 - T_MAX) x0), ``x_t`` flow state, ``x`` VE state, ``v`` velocity.

Reflow (Liu et al. 2023, sec. 2.2): pairs (eps, x0_hat = ODE(eps)) of a trained flow define a
new coupling; a flow trained on x_t = (1 - t) x0_hat + t eps has straighter paths, measured by
:func:`straightness` (their eq. 5), so few Euler steps suffice.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from matgen.common.distributed import BatchShard, whole_batch
from matgen.errors import MatgenError
from matgen.generative.objectives import append_dims
from matgen.generative.samplers import Callback, Denoiser, Generators
from matgen.generative.schedules import karras_sigmas

T_MAX = 1.0 - 1e-4  # flow time of the first sampler step: sigma = 9999
T_MIN = 1e-3  # the smallest non-zero flow time of the Karras grid
SPACINGS = ("uniform", "karras")

Velocity = Callable[[torch.Tensor, torch.Tensor, Any], torch.Tensor]


def flow_path(x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Return x_t = (1 - t) x0 + t eps (B, ...) at flow times t (B,)."""
    t = append_dims(t, x0.ndim).to(x0.dtype)
    return (1.0 - t) * x0 + t * eps


def flow_loss(velocity: Velocity, x0: torch.Tensor, cond: Any, generator: torch.Generator,
              eps: torch.Tensor | None = None, shard: BatchShard | None = None) -> torch.Tensor:
    """Return the conditional flow-matching loss mean |v(x_t, t, c) - (eps - x0)|^2 (Lipman et al. 2023, eq. 23).

    t ~ U(0, 1) and eps ~ N(0, I) are drawn from ``generator`` (one per batch); ``eps`` (B, ...) given: the
    paired noise of a reflow coupling (Liu et al. 2023, Algorithm 1) instead of independent noise. ``shard``:
    x0 holds these rows of a larger batch (a DDP process), t and eps are drawn for the whole batch and cut.
    """
    shard = whole_batch(x0.shape[0]) if shard is None else shard
    t = shard.rows(torch.rand(shard.batch, generator=generator, device=generator.device,
                              dtype=torch.float32)).to(x0.device)
    if eps is None:
        eps = shard.rows(torch.randn(shard.shape(x0.shape), generator=generator, device=generator.device,
                                     dtype=x0.dtype)).to(x0.device)
    v = velocity(flow_path(x0, eps, t), t, cond)
    return ((v.float() - (eps - x0).float()) ** 2).mean()


def flow_denoiser(velocity: Velocity) -> Denoiser:
    """Return the VE denoiser D(x, sigma, cond) = x_t - t v(x_t, t, cond), t = sigma / (1 + sigma), x_t = x / (1 + sigma)."""

    def denoiser(x: torch.Tensor, sigma: torch.Tensor, cond: Any = None) -> torch.Tensor:
        sigma = sigma.to(torch.float64)
        t = sigma / (1.0 + sigma)  # (B,)
        x_t = x / append_dims(1.0 + sigma, x.ndim).to(x.dtype)
        return x_t - append_dims(t, x.ndim).to(x.dtype) * velocity(x_t, t.to(x.dtype), cond)

    return denoiser


def flow_sigmas(steps: int, spacing: str = "uniform", t_max: float = T_MAX) -> torch.Tensor:
    """Return the decreasing VE grid (steps + 1,) float64 ending in 0 of a flow sampler.

    ``uniform``: t_i = t_max (1 - i / steps), equal steps in flow time (rectified flow's grid);
    ``karras``: Karras et al. 2022 eq. 5 between sigma(T_MIN) and sigma(t_max).
    """
    if not (isinstance(steps, int) and steps >= 1):
        raise MatgenError(f"steps must be a whole number >= 1, got {steps}")
    if spacing == "uniform":
        t = t_max * (1.0 - torch.arange(steps + 1, dtype=torch.float64) / steps)
        return t / (1.0 - t)
    if spacing == "karras":
        return karras_sigmas(steps, T_MIN / (1 - T_MIN), t_max / (1 - t_max))
    raise MatgenError(f"unknown flow spacing {spacing!r}; choose from {', '.join(SPACINGS)}")


def _velocity(denoiser: Denoiser, x_t: torch.Tensor, t: float, cond: Any) -> torch.Tensor:
    """v(x_t, t) = (x_t - D(x_t / (1 - t), t / (1 - t))) / t of the VE denoiser, 0 < t < 1."""
    sigma = t / (1.0 - t)
    x0 = denoiser(x_t / (1.0 - t), x_t.new_full((x_t.shape[0],), sigma), cond)
    return (x_t - x0) / t


def _flow_times(sigmas: torch.Tensor) -> list[float]:
    return [s / (1.0 + s) for s in sigmas.tolist()]


def sample_flow_euler(denoiser: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, cond: Any = None, *,
                      generator: Generators = None, callback: Callback | None = None) -> torch.Tensor:
    """Return samples (B, ...) by Euler's method on dx_t/dt = v: x_t' = x_t + (t' - t) v(x_t, t). One call per step.

    ``x`` is the VE start sigmas[0] ... (x_t = x / (1 + sigma)); deterministic, ``generator`` is ignored."""
    ts = _flow_times(sigmas)
    x_t = x / (1.0 + sigmas[0].item())
    for i in range(len(ts) - 1):
        x_t = x_t + (ts[i + 1] - ts[i]) * _velocity(denoiser, x_t, ts[i], cond)
        if callback is not None:
            callback(i, len(ts) - 1)
    return x_t


def sample_flow_heun(denoiser: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, cond: Any = None, *,
                     generator: Generators = None, callback: Callback | None = None) -> torch.Tensor:
    """Return samples (B, ...) by Heun's method in flow time: x' = x_t + h v, x_t' = x_t + h (v + v(x', t')) / 2.

    Second order, 2 N - 1 calls: the last step, to t = 0, is Euler (it lands on D itself)."""
    ts = _flow_times(sigmas)
    x_t = x / (1.0 + sigmas[0].item())
    for i in range(len(ts) - 1):
        h = ts[i + 1] - ts[i]
        v = _velocity(denoiser, x_t, ts[i], cond)
        x_next = x_t + h * v
        if ts[i + 1] > 0:
            x_next = x_t + h * (v + _velocity(denoiser, x_next, ts[i + 1], cond)) / 2
        x_t = x_next
        if callback is not None:
            callback(i, len(ts) - 1)
    return x_t


def sample_flow_midpoint(denoiser: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, cond: Any = None, *,
                         generator: Generators = None, callback: Callback | None = None) -> torch.Tensor:
    """Return samples (B, ...) by the explicit midpoint rule: x_t' = x_t + h v(x_t + h v / 2, t + h / 2). 2 calls per step."""
    ts = _flow_times(sigmas)
    x_t = x / (1.0 + sigmas[0].item())
    for i in range(len(ts) - 1):
        h = ts[i + 1] - ts[i]
        half = x_t + (h / 2) * _velocity(denoiser, x_t, ts[i], cond)
        x_t = x_t + h * _velocity(denoiser, half, ts[i] + h / 2, cond)
        if callback is not None:
            callback(i, len(ts) - 1)
    return x_t


FLOW_SAMPLERS = {"euler": sample_flow_euler, "heun": sample_flow_heun, "midpoint": sample_flow_midpoint}


def straightness(denoiser: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, cond: Any = None) -> torch.Tensor:
    """Return each sample's relative straightness error (B,) of the Euler path on ``sigmas``:

        S = sum_i h_i |v_i - (x_1 - x_0) / t_max|^2 / (t_max |(x_1 - x_0) / t_max|^2)

    (Liu et al. 2023, eq. 5, normalised by the squared mean velocity): 0 for a straight path, so one Euler step
    is exact; it measures what reflow buys."""
    ts = _flow_times(sigmas)
    x_t = x / (1.0 + sigmas[0].item())
    start, velocities, weights = x_t, [], []
    for i in range(len(ts) - 1):
        v = _velocity(denoiser, x_t, ts[i], cond)
        velocities.append(v)
        weights.append(ts[i] - ts[i + 1])
        x_t = x_t + (ts[i + 1] - ts[i]) * v
    mean_v = (start - x_t) / ts[0]  # (B, ...): the straight line's velocity
    dims = tuple(range(1, x.ndim))
    error = sum(w * ((v - mean_v) ** 2).sum(dims) for v, w in zip(velocities, weights))
    return error / (ts[0] * (mean_v**2).sum(dims).clamp_min(1e-30))
