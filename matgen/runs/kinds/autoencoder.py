"""``autoencoder``: the KL-regularised autoencoder whose spatial latents a ``latent`` run diffuses (Rombach et al. 2022).

An :class:`matgen.nets.autoencoder.Autoencoder` on the normalised signals x in [-1, 1] (label
maps too: MSE on their [-1, 1] form). Training minimises the squared error of the decoded
posterior sample plus ``kl_weight`` x the KL per signal element
(:func:`matgen.generative.latent.autoencoder_loss`); the validation loss is the reconstruction
MSE of the posterior mean alone, so it reads as a mean squared error in network units. It is
unconditional and not drawn by a sampler: ``matgen train DATA -o LDM --model latent
--autoencoder RUN`` trains a diffusion model on its latents.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from matgen.common.distributed import BatchShard
from matgen.errors import MatgenError
from matgen.generative.latent import autoencoder_loss, sample_posterior
from matgen.nets.autoencoder import AUTOENCODER_PRESETS, Autoencoder, AutoencoderConfig, autoencoder_preset
from matgen.runs.config import ModelConfig
from matgen.runs.kinds.base import ModelKind

#: The message of every attempt to draw samples from an autoencoder run.
NOT_SAMPLED = ("an autoencoder run is not drawn by a sampler; train a latent model on it: "
               "matgen train DATA.h5 -o LDM --model latent --autoencoder AE_RUN, then sample LDM")


class AutoencoderModel(ModelKind):
    """Encoder q(z | x) and decoder x_hat(z) with a spatial latent z (B, C_z, *S / f)."""

    kind: ClassVar[str] = "autoencoder"
    summary: ClassVar[str] = "autoencoder for latent diffusion"
    listing_order: ClassVar[int] = 5
    presets: ClassVar[dict] = AUTOENCODER_PRESETS
    position_features: ClassVar[bool] = False  # reconstruction is local: no absolute position needed
    #: the U-Net's largest size multiple: an autoencoder's latents then fit every U-Net preset of a latent run
    latent_unet_multiple: ClassVar[int] = 8

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.net = Autoencoder(AutoencoderConfig.from_dict(config.net))

    @classmethod
    def size_multiple(cls, preset: str, net_options: dict) -> int:
        """f x 8: the encoder's downsampling f, times what any U-Net preset needs of its latents."""
        mults = net_options.get("channel_mults", cls.presets[preset].channel_mults)
        return 2 ** (len(mults) - 1) * cls.latent_unet_multiple

    @classmethod
    def check_sampler(cls, sampler: str) -> str:
        """Always a MatgenError: an autoencoder generates nothing by itself."""
        raise MatgenError(NOT_SAMPLED)

    @classmethod
    def plan(cls, options, data, specs, cond_dim: int, common: dict, net_options: dict) -> ModelConfig:
        """The ModelConfig of a new autoencoder run.

        Raises:
            MatgenError: conditions were named (the autoencoder is unconditional).
        """
        if specs:
            raise MatgenError("an autoencoder is unconditional; drop --condition here and give it to the latent run "
                              "trained on this one")
        net = autoencoder_preset(options.net, **common, **net_options)
        return ModelConfig(cls.kind, net.to_dict(), [], 0, "", "", 0, "mse")

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Return (mean, logvar), each (B, C_z, *S / f), of x (B, C, *S) in network units."""
        return self.net.encode(x)

    def decode(self, z: Tensor) -> Tensor:
        """Return x_hat (B, C, *S) in network units from z (B, C_z, *S / f)."""
        return self.net.decode(z)

    def training_loss(self, x0: Tensor, cond: Tensor, drop: Tensor | None, generator: torch.Generator, options,
                      step: int, shard: BatchShard | None = None) -> Tensor:
        """Squared error of decode(z), z ~ q(z | x0), plus ``options.kl_weight`` x KL per signal element."""
        mean, logvar = self.encode(x0)
        x_hat = self.decode(sample_posterior(mean, logvar, generator, shard))
        return autoencoder_loss(x0, x_hat, mean, logvar, options.kl_weight)

    def validation_loss(self, x0: Tensor, cond: Tensor, generator: torch.Generator, options) -> tuple[Tensor, None]:
        """The reconstruction MSE per element of decode(mean), and no latents."""
        return (self.decode(self.encode(x0)[0]) - x0).square().mean(), None


MODEL = AutoencoderModel
