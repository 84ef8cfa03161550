"""``diffusion``: a U-Net denoiser (eps / x0 / v prediction) with its VP noise schedule.

Trained with :func:`matgen.generative.diffusion_loss` (Ho et al. 2020, Algorithm 1, with
min-SNR-gamma weights); ``model.denoiser(w)`` is the VE denoiser D(x, sigma, cond) every sampler
runs, with classifier-free guidance of weight w when the model is conditional. Conditions
(B, K) are in their units (categorical: codes), NaN = not given; ``drop`` (B, K) hides
conditions for classifier-free guidance training.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from matgen.common.distributed import BatchShard
from matgen.generative import classifier_free_guidance, diffusion_loss, get_schedule, sampling_sigmas, vp_denoiser
from matgen.runs.config import ModelConfig
from matgen.runs.kinds.unet import UNetKind


class DiffusionModel(UNetKind):
    """eps / x0 / v prediction U-Net(x_t, t, ConditionEncoder(cond)) with its VP schedule alpha_bar (T,)."""

    kind: ClassVar[str] = "diffusion"
    summary: ClassVar[str] = "U-Net denoiser"
    listing_order: ClassVar[int] = 0
    #: first-order ancestral/DDIM steps on the training steps (trailing, Lin et al. 2024); the ODE solvers on Karras's grid
    samplers: ClassVar[dict[str, str]] = {"ddpm": "trailing", "ddim": "trailing", "dpmpp-2m": "karras", "heun": "karras"}
    default_sampler: ClassVar[str] = "dpmpp-2m"

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        self.alpha_bar = get_schedule(config.schedule, config.timesteps)  # (T,) float64, not a weight
        self.prediction = config.prediction

    @classmethod
    def plan(cls, options, data, specs, cond_dim: int, common: dict, net_options: dict) -> ModelConfig:
        """The ModelConfig of a new diffusion run (``options``: the training options)."""
        return ModelConfig(cls.kind, cls.network(options, data, cond_dim, common, net_options), specs, cond_dim,
                           options.prediction, options.schedule, options.timesteps, "")

    def loss(self, x0: Tensor, cond: Tensor, drop: Tensor | None, generator: torch.Generator,
             min_snr: float | None = None, shard: BatchShard | None = None) -> Tensor:
        """Return the scalar weighted denoising loss of the batch x0 (B, C, *S) (Ho et al. 2020, Algorithm 1);
        ``shard``: x0 holds these rows of a larger batch (a DDP process, see :class:`BatchShard`)."""
        return diffusion_loss(lambda x_t, t, c: self(x_t, t, c, drop), x0, cond, self.alpha_bar,
                              self.prediction, min_snr, generator, shard)

    def training_loss(self, x0: Tensor, cond: Tensor, drop: Tensor | None, generator: torch.Generator, options,
                      step: int, shard: BatchShard | None = None) -> Tensor:
        """The loss of one training batch (or of its rows ``shard``): :meth:`loss` with ``options.min_snr``."""
        return self.loss(x0, cond, drop, generator, options.min_snr, shard)

    def validation_loss(self, x0: Tensor, cond: Tensor, generator: torch.Generator, options) -> tuple[Tensor, None]:
        """The training loss without condition dropout, and no latents."""
        return self.loss(x0, cond, None, generator, options.min_snr), None

    def sampling_grid(self, sampler: str, steps: int, spacing: str | None = None) -> Tensor:
        """The sigma grid (steps + 1,) of the training schedule, ``spacing`` (default: the sampler's) trailing, leading
        or karras."""
        return sampling_sigmas(self.alpha_bar, steps, spacing or self.samplers[sampler])

    def denoiser(self, guidance: float = 0.0):
        """Return D(x, sigma, cond) -> x0_hat, classifier-free guided with weight ``guidance`` when conditional."""
        denoiser = vp_denoiser(self, self.alpha_bar, self.prediction)
        if guidance and self.cond_encoder is not None:
            denoiser = classifier_free_guidance(denoiser, guidance)
        return denoiser


MODEL = DiffusionModel
