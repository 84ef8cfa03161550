"""The trainable models, each a network (+ condition encoder, + noise schedule) built from a ModelConfig.

* :class:`DiffusionModel`: a U-Net denoiser trained with :func:`matgen.generative.diffusion_loss`;
  ``model.denoiser(w)`` is the VE denoiser D(x, sigma, cond) every sampler runs, with
  classifier-free guidance of weight w when the model is conditional.
* :class:`VAEModel`: a :class:`matgen.generative.vae.ConditionalVAE` on the same normalised
  signals; with the Bernoulli likelihood it works on u = (x + 1) / 2 in [0, 1] and hands x back.
* :class:`RegressorModel`: a :class:`matgen.nets.Regressor` that predicts the standardised
  continuous conditions z = (y - mean) / std from x_t at a random timestep of the diffusion
  schedule; ``model.predictor()`` reads it at a VE noise level, for regressor guidance.
  Its output is preconditioned, z_hat = sqrt(alpha_bar_t) net(x_t, t): as the signal fades,
  E[z | x_t] shrinks to the mean (0) like sqrt(alpha_bar_t) (exactly so for Gaussian data), and
  a network cannot learn a sensitivity to x_t that falls by orders of magnitude over the last
  few timesteps of the cosine schedule. Without the factor its spurious gradient at the highest
  noise levels, multiplied by sigma^2 in the guided denoiser, swamps sampling.

All take condition values (B, K) in the conditions' units (categorical: codes), NaN = not
given, and a drop mask (B, K) for condition dropout (which the regressor ignores: its conditions
are labels, never hidden). ``build_model(config)`` makes any of them.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from matgen.generative import (
    alpha_bar_from_sigma, classifier_free_guidance, diffusion_loss, get_schedule, q_sample, sigma_to_t, t_to_sigma,
    vp_denoiser,
)
from matgen.generative.objectives import append_dims
from matgen.generative.vae import ConditionalVAE
from matgen.nets import (
    ConditionEncoder, ConvDecoder, ConvEncoder, Regressor, RegressorConfig, UNet, UNetConfig, VAEConfig,
)
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


class RegressorModel(nn.Module):
    """Regressor r(x_t, t) = sqrt(alpha_bar_t) net(x_t, t) (B, K) of standardised conditions z = (y - mean) / std.

    alpha_bar (T,) is the VP schedule of the diffusion runs it is to steer; mean and std (K,) are
    the training statistics of the conditions (their ConditionSpecs).
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.net = Regressor(RegressorConfig.from_dict(config.net))
        self.alpha_bar = get_schedule(config.schedule, config.timesteps)  # (T,) float64, not a weight
        self.register_buffer("mean", torch.tensor([s.mean for s in config.conditions]), persistent=False)  # (K,)
        self.register_buffer("std", torch.tensor([s.std for s in config.conditions]), persistent=False)  # (K,)

    def forward(self, x_t: Tensor, t: Tensor) -> Tensor:
        """Return z_hat = sqrt(alpha_bar_t) net(x_t, t) (B, K) for x_t (B, C, *S) at (real) timesteps t (B,)."""
        c_out = alpha_bar_from_sigma(t_to_sigma(t, self.alpha_bar)).sqrt()  # (B,)
        return c_out.to(x_t.dtype)[:, None] * self.net(x_t, t)  # (B, K)

    def standardise(self, values: Tensor) -> Tensor:
        """Return z = (y - mean) / std (B, K) of condition values y (B, K) in their units; NaN stays NaN."""
        return (values.to(self.mean) - self.mean) / self.std

    def loss(self, x0: Tensor, cond: Tensor, drop: Tensor | None, generator: torch.Generator,
             min_snr: float | None = None) -> Tensor:
        """Return the mean squared error of z over the known labels of the batch (NaN labels are skipped).

        x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps with t ~ U{0 .. T-1}, eps ~ N(0, I) per
        sample, as the diffusion model is trained. ``drop`` and ``min_snr`` are ignored.
        """
        B, T = x0.shape[0], self.alpha_bar.shape[0]
        t = torch.randint(T, (B,), generator=generator, device=generator.device).to(x0.device)
        eps = torch.randn(x0.shape, generator=generator, device=generator.device, dtype=x0.dtype).to(x0.device)
        alpha_bar_t = self.alpha_bar.to(device=x0.device, dtype=x0.dtype)[t]  # (B,)
        z_hat = self(q_sample(x0, alpha_bar_t, eps), t).float()  # (B, K)
        z = self.standardise(cond)  # (B, K)
        known = ~torch.isnan(z)
        err = torch.where(known, z_hat - z.nan_to_num(), torch.zeros_like(z_hat))
        return (err**2).sum() / known.sum().clamp(min=1)

    def predictor(self):
        """Return r(x, sigma) -> z (B, K) for a VE sample x = x0 + sigma n: the net at x_t = x / sqrt(1 + sigma^2)."""

        def predict(x: Tensor, sigma: Tensor) -> Tensor:
            x_t = x * append_dims(alpha_bar_from_sigma(sigma).sqrt(), x.ndim)  # (B, C, *S)
            return self(x_t, sigma_to_t(sigma, self.alpha_bar))

        return predict


MODEL_CLASSES = {"diffusion": DiffusionModel, "vae": VAEModel, "regressor": RegressorModel}


def build_model(config: ModelConfig) -> nn.Module:
    """Return the untrained DiffusionModel, VAEModel or RegressorModel that ``config`` describes."""
    return MODEL_CLASSES[config.kind](config)
