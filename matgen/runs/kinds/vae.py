"""``vae``: a conditional VAE on the normalised signals (Kingma & Welling 2014; Sohn et al. 2015).

A :class:`matgen.generative.vae.ConditionalVAE` of a conv encoder/decoder; with the Bernoulli
likelihood (two-phase label maps) it works on u = (x + 1) / 2 in [0, 1] and hands x back. The
training loss is the beta-VAE loss with KL warm-up and free bits; validation is the negative ELBO
(beta = 1, no free bits) and warns of posterior collapse from the active latent units.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from matgen.common.distributed import BatchShard
from matgen.errors import MatgenError
from matgen.generative.vae import (
    ConditionalVAE, active_units, kl_weight, posterior_collapse_warning,
)
from matgen.nets import VAE_PRESETS, ConditionEncoder, ConvDecoder, ConvEncoder, VAEConfig, vae_preset
from matgen.runs.config import ModelConfig
from matgen.runs.kinds.base import ModelKind


class VAEModel(ModelKind):
    """A conditional VAE on normalised signals x in [-1, 1] (the decoder returns x in the same units)."""

    kind: ClassVar[str] = "vae"
    summary: ClassVar[str] = "conditional VAE"
    listing_order: ClassVar[int] = 3
    presets: ClassVar[dict] = VAE_PRESETS
    position_features: ClassVar[bool] = False

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        net = VAEConfig.from_dict(config.net)
        cond_encoder = ConditionEncoder(config.conditions, config.cond_dim) if config.conditions else None
        self.vae = ConditionalVAE(ConvEncoder(net), ConvDecoder(net), cond_encoder, config.likelihood)
        self.bernoulli = config.likelihood == "bce"

    @classmethod
    def size_multiple(cls, preset: str, net_options: dict) -> int:
        """2^levels: the encoder halves the size at every level."""
        return 2 ** len(net_options.get("channel_mults", cls.presets[preset].channel_mults))

    @classmethod
    def plan(cls, options, data, specs, cond_dim: int, common: dict, net_options: dict) -> ModelConfig:
        """The ModelConfig of a new VAE run; ``auto`` likelihood is bce for two-phase label maps, else mse.

        Raises:
            MatgenError: the bce likelihood asked for data that are not two-phase label maps.
        """
        net = vae_preset(options.net, signal_shape=data.shape, cond_dim=cond_dim, **common, **net_options)
        binary = data.norm == "labels" and data.n_phases == 2
        likelihood = ("bce" if binary else "mse") if options.likelihood == "auto" else options.likelihood
        if likelihood == "bce" and not binary:
            raise MatgenError("the bce likelihood is for two-phase label maps; use --likelihood mse for this data")
        return ModelConfig(cls.kind, net.to_dict(), specs, cond_dim, options.prediction, options.schedule,
                           options.timesteps, likelihood)

    def _in(self, x: Tensor) -> Tensor:
        return (x + 1.0) / 2.0 if self.bernoulli else x  # Bernoulli data must be in [0, 1]

    def _out(self, u: Tensor) -> Tensor:
        return 2.0 * u - 1.0 if self.bernoulli else u

    def _cond(self, cond: Tensor | None) -> Tensor | None:
        return cond if self.vae.cond_encoder is not None else None

    def loss_parts(self, x0: Tensor, cond: Tensor, drop: Tensor | None, generator: torch.Generator,
                   beta: float = 1.0, free_bits: float = 0.0, shard: BatchShard | None = None) -> dict[str, Tensor]:
        """Return :func:`matgen.generative.vae.vae_loss`'s dict (loss, recon, kl, kl_per_dim) plus mu, logvar."""
        return self.vae(self._in(x0), self._cond(cond), drop, beta, free_bits, generator, shard)

    def loss(self, x0: Tensor, cond: Tensor, drop: Tensor | None, generator: torch.Generator,
             beta: float = 1.0, free_bits: float = 0.0, shard: BatchShard | None = None) -> Tensor:
        """Return the scalar beta-VAE loss, nats per sample (``shard``: x0 holds these rows of a larger batch)."""
        return self.loss_parts(x0, cond, drop, generator, beta, free_bits, shard)["loss"]

    def training_loss(self, x0: Tensor, cond: Tensor, drop: Tensor | None, generator: torch.Generator, options,
                      step: int, shard: BatchShard | None = None) -> Tensor:
        """The beta-VAE loss with the KL weight of ``step`` (warm-up over ``options.kl_warmup``) and free bits."""
        beta = kl_weight(step, options.beta, options.kl_warmup)
        return self.loss(x0, cond, drop, generator, beta, options.free_bits, shard)

    def validation_loss(self, x0: Tensor, cond: Tensor, generator: torch.Generator, options) -> tuple[Tensor, Tensor]:
        """The negative ELBO (nats per sample) and the posterior means mu (B, Z)."""
        loss, mu = self.negative_elbo(x0, cond, generator)
        return loss, mu.float()

    @classmethod
    def validation_warning(cls, latents: Tensor) -> str | None:
        """The posterior-collapse warning from the active units of the validation posterior means (N, Z)."""
        if len(latents) < 2:
            return None
        active, _ = active_units(latents)
        return posterior_collapse_warning(active, latents.shape[1])

    def negative_elbo(self, x0: Tensor, cond: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Return (-ELBO per batch mean in nats (beta = 1, no free bits), posterior means mu (B, Z))."""
        out = self.vae(self._in(x0), self._cond(cond), None, 1.0, 0.0, generator)
        return out["loss"], out["mu"]

    def encode(self, x: Tensor, cond: Tensor | None) -> Tensor:
        """Return the posterior means mu (B, Z) of x (B, C, *S)."""
        return self.vae.encode(self._in(x), self._cond(cond))[0]

    def decode(self, z: Tensor, cond: Tensor | None) -> Tensor:
        """Return x (B, C, *S) in [-1, 1] units: the mean of p(x | z, c)."""
        return self._out(self.vae.decode(z, self._cond(cond)))

    def sample_prior(self, cond: Tensor | None, seeds: list[int]) -> Tensor:
        """Return len(seeds) samples (B, C, *S), z_i ~ N(0, I) from generator seeds[i] alone."""
        return self._out(self.vae.sample_prior(len(seeds), self._cond(cond), seeds=seeds))

    def prior_latents(self, seeds: list[int]) -> Tensor:
        """Return z (B, Z), z_i ~ N(0, I) from generator seeds[i] alone (what :meth:`sample_prior` decodes)."""
        from matgen.common.seeding import seeded_generators
        from matgen.generative.samplers import per_sample_noise

        p = next(self.parameters())
        return per_sample_noise((len(seeds), self.vae.latent_dim), seeded_generators(seeds), p.device, p.dtype)


MODEL = VAEModel
