"""The two trainable models, each a network + condition encoder (+ noise schedule) built from a ModelConfig.

* :class:`DiffusionModel`: a U-Net denoiser trained with :func:`matgen.generative.diffusion_loss`;
  ``model.denoiser(w)`` is the VE denoiser D(x, sigma, cond) every sampler runs, with
  classifier-free guidance of weight w when the model is conditional.
* :class:`VAEModel`: a :class:`matgen.generative.vae.ConditionalVAE` on the same normalised
  signals; with the Bernoulli likelihood it works on u = (x + 1) / 2 in [0, 1] and hands x back.

Both take condition values (B, K) in the conditions' units (categorical: codes), NaN = not
given, and a drop mask (B, K) for condition dropout. ``build_model(config)`` makes either.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from matgen.generative import classifier_free_guidance, diffusion_loss, get_schedule, vp_denoiser
from matgen.generative.vae import ConditionalVAE
from matgen.nets import ConditionEncoder, ConvDecoder, ConvEncoder, UNet, UNetConfig, VAEConfig
from matgen.train.config import ModelConfig


class DiffusionModel(nn.Module):
    """eps / x0 / v prediction U-Net(x_t, t, ConditionEncoder(cond)) with its VP schedule alpha_bar (T,)."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.net = UNet(UNetConfig.from_dict(config.net))
        self.cond_encoder = ConditionEncoder(config.conditions, config.cond_dim) if config.conditions else None
        self.alpha_bar = get_schedule(config.schedule, config.timesteps)  # (T,) float64, not a weight
        self.prediction = config.prediction

    def forward(self, x_t: Tensor, t: Tensor, cond: Tensor | None = None, drop: Tensor | None = None) -> Tensor:
        """Return the network output (B, C, *S) for x_t (B, C, *S), t (B,), cond (B, K), drop (B, K)."""
        emb = None if self.cond_encoder is None else self.cond_encoder(cond, drop)  # (B, D)
        return self.net(x_t, t, emb)

    def loss(self, x0: Tensor, cond: Tensor, drop: Tensor | None, generator: torch.Generator,
             min_snr: float | None = None) -> Tensor:
        """Return the scalar weighted denoising loss of the batch x0 (B, C, *S) (Ho et al. 2020, Algorithm 1)."""
        return diffusion_loss(lambda x_t, t, c: self(x_t, t, c, drop), x0, cond, self.alpha_bar,
                              self.prediction, min_snr, generator)

    def denoiser(self, guidance: float = 0.0):
        """Return D(x, sigma, cond) -> x0_hat, classifier-free guided with weight ``guidance`` when conditional."""
        denoiser = vp_denoiser(self, self.alpha_bar, self.prediction)
        if guidance and self.cond_encoder is not None:
            denoiser = classifier_free_guidance(denoiser, guidance)
        return denoiser


class VAEModel(nn.Module):
    """A conditional VAE on normalised signals x in [-1, 1] (the decoder returns x in the same units)."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        net = VAEConfig.from_dict(config.net)
        cond_encoder = ConditionEncoder(config.conditions, config.cond_dim) if config.conditions else None
        self.vae = ConditionalVAE(ConvEncoder(net), ConvDecoder(net), cond_encoder, config.likelihood)
        self.bernoulli = config.likelihood == "bce"

    def _in(self, x: Tensor) -> Tensor:
        return (x + 1.0) / 2.0 if self.bernoulli else x  # Bernoulli data must be in [0, 1]

    def _out(self, u: Tensor) -> Tensor:
        return 2.0 * u - 1.0 if self.bernoulli else u

    def _cond(self, cond: Tensor | None) -> Tensor | None:
        return cond if self.vae.cond_encoder is not None else None

    def loss_parts(self, x0: Tensor, cond: Tensor, drop: Tensor | None, generator: torch.Generator,
                   beta: float = 1.0, free_bits: float = 0.0) -> dict[str, Tensor]:
        """Return :func:`matgen.generative.vae.vae_loss`'s dict (loss, recon, kl, kl_per_dim) plus mu, logvar."""
        return self.vae(self._in(x0), self._cond(cond), drop, beta, free_bits, generator)

    def loss(self, x0: Tensor, cond: Tensor, drop: Tensor | None, generator: torch.Generator,
             beta: float = 1.0, free_bits: float = 0.0) -> Tensor:
        """Return the scalar beta-VAE loss, nats per sample."""
        return self.loss_parts(x0, cond, drop, generator, beta, free_bits)["loss"]

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


MODEL_CLASSES = {"diffusion": DiffusionModel, "vae": VAEModel}


def build_model(config: ModelConfig) -> nn.Module:
    """Return the untrained DiffusionModel or VAEModel that ``config`` describes."""
    return MODEL_CLASSES[config.kind](config)
