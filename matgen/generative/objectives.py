"""Training objective of a VP diffusion model: forward process, prediction targets, loss weights.

Forward process (Ho et al. 2020, eq. 4):   x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps.
The network may predict (``prediction``) any of three equivalent targets, all linear in (x0, eps):

* ``"eps"``  the noise eps (Ho et al. 2020, eq. 14);
* ``"x0"``   the clean sample x0;
* ``"v"``    the velocity v = sqrt(alpha_bar) eps - sqrt(1 - alpha_bar) x0 (Salimans & Ho 2022, sec. 4).

Given x_t, an error in one target is a fixed multiple of the error in x0, with
SNR = alpha_bar / (1 - alpha_bar):  |d eps|^2 = SNR |d x0|^2,  |d v|^2 = (SNR + 1) |d x0|^2.
Min-SNR-gamma weighting (Hang et al. 2023) weights the x0 error by min(SNR, gamma); in each
parameterisation this is  eps: min(SNR, gamma) / SNR,  x0: min(SNR, gamma),  v: min(SNR, gamma) / (SNR + 1).

Shapes: ``x0``, ``eps``, ``x_t`` (B, ...) with any data rank; ``alpha_bar_t`` (B,) per sample.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from matgen.common.distributed import BatchShard, whole_batch
from matgen.errors import MatgenError

PREDICTIONS = ("eps", "x0", "v")


def check_prediction(prediction: str) -> None:
    """Raise MatgenError unless ``prediction`` is one of PREDICTIONS."""
    if prediction not in PREDICTIONS:
        raise MatgenError(f"unknown prediction type {prediction!r}; choose from {', '.join(PREDICTIONS)}")


def append_dims(a: torch.Tensor, ndim: int) -> torch.Tensor:
    """Return a (B,) tensor viewed as (B, 1, ..., 1) with ``ndim`` dimensions, to broadcast over data."""
    return a.reshape(a.shape + (1,) * (ndim - a.ndim))


def snr(alpha_bar: torch.Tensor) -> torch.Tensor:
    """Return the signal-to-noise ratio alpha_bar / (1 - alpha_bar) (= 1 / sigma^2), same shape."""
    return alpha_bar / (1.0 - alpha_bar)


def q_sample(x0: torch.Tensor, alpha_bar_t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """Return x_t (B, ...) = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps, a draw of q(x_t | x0)."""
    a = append_dims(alpha_bar_t, x0.ndim)
    return a.sqrt() * x0 + (1.0 - a).sqrt() * eps


def prediction_target(x0: torch.Tensor, eps: torch.Tensor, alpha_bar_t: torch.Tensor, prediction: str) -> torch.Tensor:
    """Return what a ``prediction``-type network should output for x_t = q_sample(x0, alpha_bar_t, eps)."""
    check_prediction(prediction)
    if prediction == "eps":
        return eps
    if prediction == "x0":
        return x0
    a = append_dims(alpha_bar_t, x0.ndim)
    return a.sqrt() * eps - (1.0 - a).sqrt() * x0


def to_x0_eps(
    output: torch.Tensor, x_t: torch.Tensor, alpha_bar_t: torch.Tensor, prediction: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (x0, eps) implied by a network ``output`` at x_t, inverting x_t = sqrt(a) x0 + sqrt(1 - a) eps.

    eps: x0 = (x_t - sqrt(1 - a) eps) / sqrt(a);  x0: eps = (x_t - sqrt(a) x0) / sqrt(1 - a);
    v: x0 = sqrt(a) x_t - sqrt(1 - a) v,  eps = sqrt(1 - a) x_t + sqrt(a) v  (Salimans & Ho 2022, sec. 4).
    """
    check_prediction(prediction)
    a = append_dims(alpha_bar_t, x_t.ndim)
    sa, sb = a.sqrt(), (1.0 - a).sqrt()
    if prediction == "eps":
        return (x_t - sb * output) / sa, output
    if prediction == "x0":
        return output, (x_t - sa * output) / sb
    return sa * x_t - sb * output, sb * x_t + sa * output


def loss_weight(alpha_bar_t: torch.Tensor, prediction: str, min_snr_gamma: float | None = None) -> torch.Tensor:
    """Return per-sample loss weights (B,): ones, or min-SNR-gamma (Hang et al. 2023) for ``prediction``."""
    check_prediction(prediction)
    if min_snr_gamma is None:
        return torch.ones_like(alpha_bar_t)
    ratio = snr(alpha_bar_t)
    clipped = ratio.clamp(max=min_snr_gamma)
    return {"eps": clipped / ratio, "x0": clipped, "v": clipped / (ratio + 1.0)}[prediction]


def diffusion_loss(
    model_fn: Callable[[torch.Tensor, torch.Tensor, Any], torch.Tensor],
    x0: torch.Tensor,
    cond: Any,
    alpha_bar: torch.Tensor,
    prediction: str = "eps",
    min_snr_gamma: float | None = None,
    generator: torch.Generator | None = None,
    shard: BatchShard | None = None,
) -> torch.Tensor:
    """Return the scalar weighted denoising loss E_t,eps[w_t |target - model_fn(x_t, t, cond)|^2].

    t ~ Uniform{0 .. T-1} and eps ~ N(0, I) are drawn per sample (Ho et al. 2020, Algorithm 1);
    the squared error is averaged over the data dimensions, weighted by :func:`loss_weight`
    and averaged over the batch.

    Args:
        model_fn: network, ``model_fn(x_t (B, ...), t (B,) int64, cond) -> output (B, ...)``.
        x0: clean batch (B, ...).
        cond: condition passed through to ``model_fn`` unchanged (NaN entries = not conditioned).
        alpha_bar: (T,) training schedule.
        prediction: ``"eps"``, ``"x0"`` or ``"v"``.
        min_snr_gamma: gamma of min-SNR weighting (5 in Hang et al. 2023); None for unit weights.
        generator: source of t and eps (on any device; draws are moved to x0's device).
        shard: x0 holds these rows of a larger batch (a process of a DDP run): t and eps are drawn for the
            whole batch and cut to them (default: x0 is the whole batch).
    """
    check_prediction(prediction)
    B, T = x0.shape[0], alpha_bar.shape[0]
    shard = whole_batch(B) if shard is None else shard
    rng_device = generator.device if generator is not None else x0.device
    t = shard.rows(torch.randint(T, (shard.batch,), generator=generator, device=rng_device)).to(x0.device)
    eps = shard.rows(torch.randn(shard.shape(x0.shape), generator=generator, device=rng_device,
                                 dtype=x0.dtype)).to(x0.device)
    alpha_bar_t = alpha_bar.to(device=x0.device, dtype=x0.dtype)[t]  # (B,)
    output = model_fn(q_sample(x0, alpha_bar_t, eps), t, cond)
    target = prediction_target(x0, eps, alpha_bar_t, prediction)
    mse = ((output - target) ** 2).reshape(B, -1).mean(dim=1)  # (B,)
    return (loss_weight(alpha_bar_t, prediction, min_snr_gamma) * mse).mean()
