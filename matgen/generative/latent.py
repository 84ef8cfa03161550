"""Latent diffusion maths (Rombach et al. 2022): the autoencoder's objective and the latent scale factor.

    loss = autoencoder_loss(x, x_hat, mean, logvar, kl_weight)      # eq. (25) of app. G, without the GAN term
    s = latent_scale_factor(z)                                     # sec. 4.3.2: z -> s z has unit variance
    x0_hat = decode(z0 / s)                                         # what a latent sample becomes

Notation: x (B, C, *S) signals in network units, z (B, C_z, *S / f) latents, s the scale factor.
"""

from __future__ import annotations

import torch
from torch import Tensor

from matgen.common.distributed import BatchShard, whole_batch
from matgen.generative.vae import gaussian_kl


def autoencoder_loss(x: Tensor, x_hat: Tensor, mean: Tensor, logvar: Tensor, kl_weight: float) -> Tensor:
    """Return the scalar loss  mean_i (x_i - x_hat_i)^2 + w sum_j KL_j / N_x  of a batch.

    Both terms are per signal element (N_x = C prod(S) per sample), so ``kl_weight`` w is the weight of
    the summed KL against the summed squared error, as LDM's 1e-6 (Rombach et al. 2022, app. G): a
    small w only keeps the latent from drifting to huge values, it does not make it N(0, I).
    KL_j = KL(N(mean_j, exp(logvar_j)) || N(0, 1)) per latent element (Kingma & Welling 2014, app. B).
    """
    recon = (x - x_hat).square().mean()
    kl = gaussian_kl(mean.flatten(1), logvar.flatten(1)).sum(dim=1).mean() / x[0].numel()
    return recon + kl_weight * kl


def sample_posterior(mean: Tensor, logvar: Tensor, generator: torch.Generator,
                     shard: BatchShard | None = None) -> Tensor:
    """Return z = mean + exp(logvar / 2) eps (B, C_z, *S / f), eps ~ N(0, I) from ``generator``
    (``shard``: mean holds these rows of a larger batch, eps is drawn for the whole batch and cut)."""
    shard = whole_batch(mean.shape[0]) if shard is None else shard
    eps = shard.rows(torch.randn(shard.shape(mean.shape), generator=generator, device=generator.device)).to(mean)
    return mean + (0.5 * logvar).exp() * eps


def latent_scale_factor(z: Tensor) -> float:
    """Return s = 1 / std(z) over every element of the training latents z (N, C_z, *S / f) (Rombach et al. 2022,
    sec. 4.3.2): the diffusion then sees s z with unit variance, as its noise schedule assumes."""
    std = float(z.double().std())
    return 1.0 / std if std > 0 else 1.0
