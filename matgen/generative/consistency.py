"""Consistency models: the boundary-condition parameterisation, the distillation loss and multistep sampling.

A consistency function f(x, sigma) maps every point of a probability-flow ODE trajectory to its
end at sigma_min (Song et al. 2023, "Consistency Models", eq. 3). It is parameterised so that the
boundary condition f(x, sigma_min) = x holds exactly (ibid., eq. 7 and appendix C):

    f(x, sigma) = c_skip(sigma) x + (1 - c_skip(sigma)) D_theta(x, sigma),
    c_skip(sigma) = sigma_data^2 / ((sigma - sigma_min)^2 + sigma_data^2),

where D_theta is a denoiser of the teacher's architecture, initialised from the teacher
(consistency tuning, Geng et al. 2024, "ECT"), so at sigma >> sigma_data the student starts as the
teacher's one-step denoiser. Distillation (ibid., Algorithm 2, with the choices of Song & Dhariwal
2023, "iCT": the online network under stop-gradient as target, no EMA target network, pseudo-Huber
distance, weight 1 / (sigma_{i+1} - sigma_i)):

    x0 ~ data, n ~ N(0, I), i ~ U{1, ..., N - 1} on a Karras grid sigma_1 = sigma_min < ... < sigma_N = sigma_max
    y_{i+1} = x0 + sigma_{i+1} n
    y_i = one teacher ODE step (Heun or Euler) from sigma_{i+1} to sigma_i      (the teacher: a guided denoiser)
    loss = E[ d(f(y_{i+1}, sigma_{i+1}), stopgrad f(y_i, sigma_i)) / (sigma_{i+1} - sigma_i) ]

Sampling (ibid., Algorithm 1) needs one network call per step: x0 = f(x, sigmas[0]); then for each
later sigma s > 0, x = x0 + sqrt(s^2 - sigma_min^2) z and x0 = f(x, s).

Notation map: ``sigma_min``, ``sigma_max``, ``sigma_data`` as in the papers; ``levels`` = N;
``solver`` the teacher's ODE step; ``distance`` d. Every function takes any denoiser-shaped
callable ``D(x, sigma (B,), cond) -> x0_hat`` (samplers.py), so the tests can use closed forms.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from matgen.common.distributed import BatchShard, whole_batch
from matgen.errors import MatgenError
from matgen.generative.objectives import append_dims
from matgen.generative.samplers import Callback, Denoiser, Generators, randn_like
from matgen.generative.schedules import karras_sigmas

SOLVERS = ("heun", "euler")
DISTANCES = ("pseudo-huber", "l2")


def c_skip(sigma: torch.Tensor, sigma_min: float, sigma_data: float = 0.5) -> torch.Tensor:
    """Return c_skip(sigma) = sigma_data^2 / ((sigma - sigma_min)^2 + sigma_data^2), exactly 1 at sigma_min (eq. 7)."""
    return sigma_data**2 / ((sigma - sigma_min) ** 2 + sigma_data**2)


def consistency_student(denoiser: Denoiser, sigma_min: float, sigma_data: float = 0.5) -> Denoiser:
    """Return f(x, sigma, cond) = c_skip x + (1 - c_skip) D(x, sigma, cond), so that f(x, sigma_min) = x exactly."""

    def student(x: torch.Tensor, sigma: torch.Tensor, cond: Any = None) -> torch.Tensor:
        skip = append_dims(c_skip(sigma, sigma_min, sigma_data), x.ndim).to(x.dtype)  # (B, 1, ...)
        return skip * x + (1 - skip) * denoiser(x, sigma, cond)

    return student


def distillation_levels(levels: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> torch.Tensor:
    """Return the N = ``levels`` noise levels (N,) float64, increasing from sigma_min to sigma_max (Karras eq. 5)."""
    if levels < 2:
        raise MatgenError(f"consistency distillation needs at least 2 noise levels, got {levels}")
    return karras_sigmas(levels, sigma_min, sigma_max, rho)[:-1].flip(0)


def teacher_step(denoiser: Denoiser, x: torch.Tensor, sigma: torch.Tensor, sigma_next: torch.Tensor, cond: Any = None,
                 solver: str = "heun") -> torch.Tensor:
    """Return x at sigma_next (B,) after one probability-flow ODE step from x (B, ...) at sigma (B,), both > 0.

    Euler: x' = x + (sigma_next - sigma) d, d = (x - D(x, sigma)) / sigma (Karras et al. 2022, Algorithm 1);
    Heun adds the trapezoidal correction with d' at (x', sigma_next).
    """
    if solver not in SOLVERS:
        raise MatgenError(f"unknown teacher solver {solver!r}; choose from {', '.join(SOLVERS)}")
    h = append_dims(sigma_next - sigma, x.ndim)  # (B, 1, ...)
    d = (x - denoiser(x, sigma, cond)) / append_dims(sigma, x.ndim)
    x_next = x + h * d
    if solver == "heun":
        d_next = (x_next - denoiser(x_next, sigma_next, cond)) / append_dims(sigma_next, x.ndim)
        x_next = x + h * (d + d_next) / 2
    return x_next


def distance(a: torch.Tensor, b: torch.Tensor, kind: str = "pseudo-huber", c: float | None = None) -> torch.Tensor:
    """Return d(a, b) (B,) per sample: ``l2`` |a - b|^2 / D, or ``pseudo-huber`` sqrt(|a - b|^2 + c^2) - c with
    c = 0.00054 sqrt(D) by default (iCT, sec. 3.3), D the number of values per sample."""
    sq = (a - b).flatten(1).pow(2).sum(1)  # (B,)
    dim = a[0].numel()
    if kind == "l2":
        return sq / dim
    if kind == "pseudo-huber":
        c = 0.00054 * math.sqrt(dim) if c is None else c
        return (sq + c**2).sqrt() - c
    raise MatgenError(f"unknown consistency distance {kind!r}; choose from {', '.join(DISTANCES)}")


def consistency_distillation_loss(student: Denoiser, teacher: Denoiser, x0: torch.Tensor, cond: Any,
                                  levels: torch.Tensor, generator: torch.Generator, solver: str = "heun",
                                  kind: str = "pseudo-huber", shard: BatchShard | None = None) -> torch.Tensor:
    """Return the scalar consistency distillation loss of the batch x0 (B, C, *S) (Algorithm 2, iCT weights).

    Args:
        student: f(x, sigma, cond), e.g. :func:`consistency_student` of a trainable denoiser.
        teacher: the teacher's (guided) denoiser D(x, sigma, cond); only evaluated, never differentiated.
        cond: passed to both unchanged (NaN entries: not given).
        levels: the N noise levels (N,), increasing (:func:`distillation_levels`).
        generator: every random draw (the level index i and the noise n) comes from it.
        solver: the teacher's ODE step, heun or euler.
        kind: the distance d, pseudo-huber or l2.
        shard: x0 holds these rows of a larger batch (a DDP process): i and n are drawn for the whole batch and cut.
    """
    shard, device = whole_batch(x0.shape[0]) if shard is None else shard, generator.device
    i = shard.rows(torch.randint(0, len(levels) - 1, (shard.batch,), generator=generator, device=device))  # (B,)
    n = shard.rows(torch.randn(shard.shape(x0.shape), generator=generator, device=device, dtype=x0.dtype))  # (B, C, *S)
    i, n = i.to(x0.device), n.to(x0.device)
    table = levels.to(x0.device)
    sigma, sigma_next = table[i].to(x0.dtype), table[i + 1].to(x0.dtype)  # (B,) sigma_i < sigma_{i+1}
    y_next = x0 + append_dims(sigma_next, x0.ndim) * n
    with torch.no_grad():
        y = teacher_step(teacher, y_next, sigma_next, sigma, cond, solver)
        target = student(y, sigma, cond)  # stop-gradient target (iCT: no EMA teacher network)
    weight = 1.0 / (table[i + 1] - table[i])  # (B,) float64: the small differences near sigma_min keep their digits
    return (weight.to(x0.dtype) * distance(student(y_next, sigma_next, cond), target, kind)).mean()


def sample_consistency(
    denoiser: Denoiser,
    x: torch.Tensor,
    sigmas: torch.Tensor,
    cond: Any = None,
    *,
    sigma_min: float = 0.002,
    generator: Generators = None,
    callback: Callback | None = None,
) -> torch.Tensor:
    """Return samples x0 (B, ...) by multistep consistency sampling (Song et al. 2023, Algorithm 1).

    ``denoiser`` is the consistency function f; ``x`` starts at sigmas[0] (x = start scale * n) and
    ``sigmas`` (steps + 1,) ends in 0: one call of f per step. Before each later call the sample is
    noised back to its level s: x = x0 + sqrt(s^2 - sigma_min^2) z, z drawn from ``generator``
    (one per sample: sample i depends only on its own generator).
    """
    sig = sigmas.tolist()
    n = len(sig) - 1
    x0 = x
    for i in range(n):
        s = sig[i]
        if i > 0:
            x = x0 + math.sqrt(max(s**2 - sigma_min**2, 0.0)) * randn_like(x0, generator)
        x0 = denoiser(x, x.new_full((x.shape[0],), s), cond)
        if callback is not None:
            callback(i, n)
    return x0
