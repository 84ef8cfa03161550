"""Variational autoencoder: the β-VAE objective, KL annealing, free bits, collapse diagnostics, a wrapper.

A VAE (Kingma & Welling 2014) has an encoder q(z | x, c) = N(mu, diag(sigma^2)) and a decoder
p(x | z, c); with a condition c it is a conditional VAE (Sohn et al. 2015). It is trained by
minimising the negative ELBO, with the KL term weighted by beta (Higgins et al. 2017, eq. 4)::

    L(x) = -E_q[log p(x | z, c)] + beta * KL(q(z | x, c) || N(0, I)),   z = mu + sigma * eps.

Both terms are in nats per sample: the reconstruction is summed over the data dimensions and
the KL over the latent dimensions, so beta = 1 is the true ELBO and beta has the same meaning
whatever the signal size. The pieces are pure functions; :class:`ConditionalVAE` only wires a
network to them::

    vae = ConditionalVAE(ConvEncoder(cfg), ConvDecoder(cfg), cond_encoder=ConditionEncoder(specs, cfg.cond_dim))
    out = vae(x, cond_values, drop=random_drop_mask(B, K), beta=kl_weight(step, 1.0, 10_000), free_bits=0.05)
    out["loss"].backward()
    count, _ = active_units(mu_over_validation_set)          # (N, Z) posterior means
    warning = posterior_collapse_warning(count, Z)           # str or None
    x_new = vae.sample_prior(4, targets, seeds=range(seed, seed + 4))

Posterior collapse (q(z | x) = p(z) for some or all units, so the decoder ignores them) is fought
with KL annealing (Bowman et al. 2016; cyclical: Fu et al. 2019) and free bits (Kingma et al.
2016), and measured by active units (Burda et al. 2016).

Notation: ``B`` batch, ``Z`` latent width, ``N`` data set size, ``K`` conditions.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from matgen.common.distributed import BatchShard
from matgen.common.seeding import seeded_generators
from matgen.errors import MatgenError
from matgen.generative.samplers import Generators, per_sample_noise, randn_like

#: Condition values: (B, K) or one (K,) row for the whole batch, NaN = not given; None when unconditional.
CondValues = Union[Tensor, Sequence[float], Sequence[Sequence[float]], None]

KL_SCHEDULES = ("linear", "cyclical")
INTERPOLATIONS = ("slerp", "linear")


# --- the objective ---------------------------------------------------------------------------


def reparameterize(mu: Tensor, logvar: Tensor, generator: Generators = None, shard: BatchShard | None = None) -> Tensor:
    """Return z = mu + exp(logvar / 2) * eps (B, Z), eps ~ N(0, I) (Kingma & Welling 2014, sec. 2.4).

    ``generator`` is one torch.Generator, a list of one per sample (row i then depends on
    generator i alone), or None for the global RNG; ``shard``: mu holds these rows of a larger batch
    (see :func:`~matgen.generative.samplers.randn_like`).
    """
    return mu + (0.5 * logvar).exp() * randn_like(mu, generator, shard)


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """Return KL(N(mu, sigma^2) || N(0, 1)) per sample and latent dimension (B, Z), in nats.

    KL_j = 1/2 (mu_j^2 + sigma_j^2 - 1 - log sigma_j^2)  (Kingma & Welling 2014, app. B);
    zero exactly when mu_j = 0 and sigma_j = 1.
    """
    return 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar)


def free_bits_kl(kl_per_dim: Tensor, free_bits_nats: float = 0.0) -> Tensor:
    """Return the scalar KL term sum_j max(lambda, mean_b KL_bj) (free bits, Kingma et al. 2016).

    Each latent dimension's batch-mean KL is clamped below at lambda = ``free_bits_nats``: a
    dimension already under lambda nats gives no gradient, so the optimiser cannot push it to
    zero (collapse) to pay for the rest. With lambda = 0 this is the batch mean of the summed KL.
    Kingma et al. clamp groups of latents; here every dimension is its own group.

    Args:
        kl_per_dim: (B, Z) per-sample, per-dimension KL, as from :func:`gaussian_kl`.
        free_bits_nats: lambda, nats per latent dimension (>= 0).
    """
    if free_bits_nats < 0:
        raise MatgenError(f"free bits must be >= 0 nats per latent dimension; got {free_bits_nats}")
    return kl_per_dim.mean(dim=0).clamp(min=free_bits_nats).sum()


def kl_weight(
    step: int, beta: float = 1.0, warmup_steps: int = 0, schedule: str = "linear", cycles: int = 4, ratio: float = 0.5
) -> float:
    """Return the KL weight beta_t at training ``step`` (0-based): it rises from 0 to ``beta``.

    * ``"linear"`` (KL annealing, Bowman et al. 2016, sec. 3.1): beta_t = beta min(1, t / warmup_steps).
    * ``"cyclical"`` (Fu et al. 2019): the first ``warmup_steps`` steps are ``cycles`` periods of
      P = warmup_steps / cycles steps; in each, beta_t = beta min(1, tau / ratio) with
      tau = (t mod P) / P, i.e. a linear ramp over the first ``ratio`` of the period, then beta
      (Fu et al. use 4 cycles and ratio 0.5 over the whole run). Linear is cycles = 1, ratio = 1.

    After ``warmup_steps`` the weight stays at ``beta``; ``warmup_steps = 0`` means no annealing.
    """
    if schedule not in KL_SCHEDULES:
        raise MatgenError(f"unknown KL schedule {schedule!r}; choose from {', '.join(KL_SCHEDULES)}")
    if warmup_steps < 0 or cycles < 1 or not 0 < ratio <= 1:
        raise MatgenError(
            f"KL annealing needs warmup_steps >= 0, cycles >= 1, 0 < ratio <= 1; got {warmup_steps}, {cycles}, {ratio}"
        )
    if step >= warmup_steps:
        return float(beta)
    if schedule == "linear":
        return beta * step / warmup_steps
    period = warmup_steps / cycles
    tau = (step % period) / period
    return beta * min(1.0, tau / ratio)


def gaussian_nll(x: Tensor, x_mean: Tensor, sigma: float = 1.0) -> Tensor:
    """Return -log N(x; x_mean, sigma^2 I) per sample (B,), in nats, summed over the data dimensions.

    -log p = sum_i [(x_i - x_mean_i)^2 / (2 sigma^2) + log(2 pi sigma^2) / 2]; sigma in data units.
    """
    sq = (x - x_mean).square().flatten(1)  # (B, D)
    return (sq / (2.0 * sigma**2) + 0.5 * math.log(2.0 * math.pi * sigma**2)).sum(dim=1)


def mse(x: Tensor, x_mean: Tensor) -> Tensor:
    """Return 1/2 sum_i (x_i - x_mean_i)^2 per sample (B,): :func:`gaussian_nll` with sigma = 1, less its constant.

    Why MSE: a decoder that outputs the mean of a Gaussian of fixed sigma has
    -log p(x | z) = |x - x_mean|^2 / (2 sigma^2) + const, so MSE *is* the ELBO's reconstruction
    term. In normalised units (unit variance per dimension) sigma = 1 says "errors as large as
    the data's spread are plausible", and a smaller sigma is the same as a smaller beta:
    |x - x_mean|^2 / (2 sigma^2) + beta KL is proportional to |x - x_mean|^2 / 2 + beta sigma^2 KL.
    """
    return 0.5 * (x - x_mean).square().flatten(1).sum(dim=1)


def bernoulli_nll(x: Tensor, logits: Tensor) -> Tensor:
    """Return -log Bernoulli(x; sigmoid(logits)) per sample (B,), in nats, summed over the data dimensions.

    Binary cross-entropy with logits, for binary (segmented, two-phase) micrographs with x in {0, 1}
    (values in [0, 1] are accepted as soft labels); the decoder outputs logits.
    """
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(dim=1)


#: Reconstruction terms -log p(x | z) by name: ``recon(x, decoder_output) -> (B,)`` nats.
RECON_LOSSES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {"mse": mse, "bce": bernoulli_nll}


def check_recon(recon: str) -> None:
    """Raise MatgenError unless ``recon`` names a reconstruction loss in RECON_LOSSES."""
    if recon not in RECON_LOSSES:
        raise MatgenError(f"unknown reconstruction loss {recon!r}; choose from {', '.join(RECON_LOSSES)}")


def vae_loss(
    x: Tensor, x_recon: Tensor, mu: Tensor, logvar: Tensor, beta: float = 1.0, free_bits: float = 0.0, recon: str = "mse"
) -> dict[str, Tensor]:
    """Return the β-VAE loss and its parts: loss = mean_b recon_b + beta * free-bits KL (Higgins et al. 2017, eq. 4).

    Args:
        x: data (B, ...) in normalised units ("mse") or in [0, 1] ("bce").
        x_recon: decoder output at z ~ q(z | x): the mean ("mse") or the logits ("bce"), shaped like x.
        mu, logvar: posterior parameters (B, Z).
        beta: KL weight (see :func:`kl_weight`); 1 gives the negative ELBO.
        free_bits: lambda of :func:`free_bits_kl`, nats per latent dimension.
        recon: ``"mse"`` (Gaussian, fixed sigma = 1) or ``"bce"`` (Bernoulli).

    Returns:
        ``loss`` (scalar, to backpropagate); ``recon`` (scalar) batch-mean -log p(x | z) in nats;
        ``kl`` (scalar) batch-mean KL summed over the latent dimensions, unclamped, in nats;
        ``kl_per_dim`` (Z,) batch-mean KL per latent dimension. Detach the parts before logging.
    """
    check_recon(recon)
    rec = RECON_LOSSES[recon](x, x_recon).mean()
    kl_bz = gaussian_kl(mu, logvar)  # (B, Z)
    loss = rec + beta * free_bits_kl(kl_bz, free_bits)
    return {"loss": loss, "recon": rec, "kl": kl_bz.sum(dim=1).mean(), "kl_per_dim": kl_bz.mean(dim=0)}


# --- diagnostics -----------------------------------------------------------------------------


def active_units(mu: Tensor, threshold: float = 0.01) -> tuple[int, Tensor]:
    """Return (number of active latent units, per-dimension variance (Z,)) (Burda et al. 2016).

    Unit j is active when A_j = Cov_x(E_q[z_j | x]) > ``threshold`` (10^-2 in Burda et al.):
    its posterior mean moves with the input. A collapsed unit has mu_j(x) = 0 for every x.

    Args:
        mu: (N, Z) posterior means E_q[z | x] over a data set (N >= 2), e.g. a validation set.
    """
    if mu.ndim != 2 or mu.shape[0] < 2:
        raise MatgenError(f"active units need posterior means (N, Z) of N >= 2 samples; got shape {tuple(mu.shape)}")
    variance = mu.var(dim=0)  # (Z,)
    return int((variance > threshold).sum()), variance


def posterior_collapse_warning(active: int, total: int, threshold: float = 0.01, min_fraction: float = 0.1) -> str | None:
    """Return a one-line warning when fewer than ``min_fraction`` of the latent units (or none) are active, else None.

    A heuristic: a VAE may rightly use few units when the data has few degrees of freedom, so a
    warning means "look", not "broken". ``threshold`` is only quoted in the message.
    """
    if active > 0 and active >= min_fraction * total:
        return None
    hint = f"(Cov_x E[z|x] > {threshold:g}); lower beta, lengthen the KL warm-up or raise free bits"
    if active == 0:
        return f"posterior collapse: none of the {total} latent units is active {hint}"
    verb = "is" if active == 1 else "are"
    return f"posterior collapse: only {active} of {total} latent units {verb} active {hint}"


# --- latent interpolation ----------------------------------------------------------------------


def interpolate_latents(z0: Tensor, z1: Tensor, steps: int, method: str = "slerp") -> Tensor:
    """Return ``steps`` latents (steps, Z) from z0 to z1 (both included), evenly spaced in t in [0, 1].

    * ``"slerp"`` (White 2016; Shoemake 1985): z_t = [sin((1-t) W) z0 + sin(t W) z1] / sin W, with
      W the angle between z0 and z1. Gaussian latents of high dimension lie near a sphere of
      radius sqrt(Z); the straight line cuts inside it, to latents the prior rarely draws.
      Unit vectors stay unit vectors. Parallel or opposite latents (sin W ~ 0) fall back to linear.
    * ``"linear"``: z_t = (1 - t) z0 + t z1.
    """
    if method not in INTERPOLATIONS:
        raise MatgenError(f"unknown interpolation {method!r}; choose from {', '.join(INTERPOLATIONS)}")
    if z0.ndim != 1 or z0.shape != z1.shape or steps < 2:
        raise MatgenError(f"interpolation needs two latents of the same shape (Z,) and steps >= 2; got {tuple(z0.shape)}, "
                          f"{tuple(z1.shape)}, steps={steps}")
    t = torch.linspace(0.0, 1.0, steps, dtype=z0.dtype, device=z0.device)[:, None]  # (steps, 1)
    cos = torch.dot(z0, z1) / (z0.norm() * z1.norm()).clamp_min(torch.finfo(z0.dtype).tiny)
    omega = torch.arccos(cos.clamp(-1.0, 1.0))
    if method == "linear" or torch.sin(omega).abs() < 1e-6:
        return (1.0 - t) * z0 + t * z1
    return (torch.sin((1.0 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)  # (steps, Z)


# --- the model -------------------------------------------------------------------------------


class ConditionalVAE(nn.Module):
    """q(z | x, c) and p(x | z, c) (Sohn et al. 2015) behind one object; the maths stays in the functions above.

    The parts are duck-typed: ``encoder(x, cond_emb) -> (mu, logvar)`` each (B, Z);
    ``decoder(z, cond_emb) -> x`` (the mean for ``likelihood="mse"``, logits for ``"bce"``);
    ``cond_encoder(values (B, K), drop (B, K) | None) -> cond_emb (B, D)``, NaN = not given (e.g.
    :class:`matgen.nets.ConditionEncoder`). Without a cond_encoder the VAE is unconditional and
    the nets get ``cond_emb=None``. Condition values may be (B, K) or one (K,) row for the batch.
    Gradients are left on: wrap sampling in ``torch.no_grad()`` and call ``.eval()`` as usual.
    """

    def __init__(
        self, encoder: nn.Module, decoder: nn.Module, cond_encoder: nn.Module | None = None,
        likelihood: str = "mse", latent_dim: int | None = None,
    ) -> None:
        super().__init__()
        check_recon(likelihood)
        self.encoder, self.decoder, self.cond_encoder = encoder, decoder, cond_encoder
        self.likelihood = likelihood
        self.latent_dim = latent_dim or getattr(getattr(decoder, "config", None), "latent_dim", None)
        if self.latent_dim is None:
            raise MatgenError("ConditionalVAE needs latent_dim when the decoder has no config.latent_dim")

    def _embed(self, cond_values: CondValues, batch: int, drop: Tensor | None = None) -> Tensor | None:
        """Return the (B, D) condition embedding, or None for an unconditional VAE."""
        if self.cond_encoder is None:
            if cond_values is not None:
                raise MatgenError("this VAE is unconditional: pass no condition values")
            return None
        if cond_values is None:
            raise MatgenError("this VAE is conditional: pass cond_values (B, K) or (K,), NaN where a condition is not given")
        p = next(self.parameters())
        values = torch.as_tensor(cond_values, dtype=p.dtype, device=p.device)
        if values.ndim == 1:
            values = values.expand(batch, -1)  # one target row for the whole batch
        return self.cond_encoder(values, drop)  # (B, D)

    def _mean(self, output: Tensor) -> Tensor:
        """Return the mean of p(x | z) from the decoder output: itself ("mse") or sigmoid(logits) ("bce")."""
        return torch.sigmoid(output) if self.likelihood == "bce" else output

    def forward(
        self, x: Tensor, cond_values: CondValues = None, drop: Tensor | None = None, beta: float = 1.0,
        free_bits: float = 0.0, generator: Generators = None, shard: BatchShard | None = None,
    ) -> dict[str, Tensor]:
        """Return :func:`vae_loss`'s dict for a batch x (B, ...), plus the posterior ``mu`` and ``logvar`` (B, Z).

        ``drop`` (B, K) bool hides conditions from both nets (condition dropout, so the model also
        learns p(x | z) with some or all conditions unknown); ``generator`` draws the reparameterisation noise;
        ``shard``: x holds these rows of a larger batch (a DDP process; free bits then clamp the shard's mean KL).
        """
        emb = self._embed(cond_values, x.shape[0], drop)
        mu, logvar = self.encoder(x, emb)  # 2 x (B, Z)
        x_recon = self.decoder(reparameterize(mu, logvar, generator, shard), emb)  # (B, ...)
        out = vae_loss(x, x_recon, mu, logvar, beta, free_bits, self.likelihood)
        return {**out, "mu": mu, "logvar": logvar}

    def encode(self, x: Tensor, cond_values: CondValues = None) -> tuple[Tensor, Tensor]:
        """Return the posterior (mu, logvar), each (B, Z), of x (B, ...)."""
        return self.encoder(x, self._embed(cond_values, x.shape[0]))

    def decode(self, z: Tensor, cond_values: CondValues = None) -> Tensor:
        """Return the mean of p(x | z, c) (B, ...) for latents z (B, Z), in data units."""
        return self._mean(self.decoder(z, self._embed(cond_values, z.shape[0])))

    def sample_prior(
        self, n: int, cond_values: CondValues = None, generator: torch.Generator | None = None,
        seeds: Sequence[int] | None = None,
    ) -> Tensor:
        """Return n new samples (n, ...): decode z ~ N(0, I) (the mean of p(x | z, c), no pixel noise).

        With ``seeds`` (one per sample, e.g. ``range(seed, seed + n)``) z_i is drawn from its own
        generator, so sample i is the same whatever the batch it is drawn in; otherwise from
        ``generator`` (or the global RNG).
        """
        p = next(self.parameters())
        if seeds is not None:
            seeds = list(seeds)
            if len(seeds) != n:
                raise MatgenError(f"got {len(seeds)} seeds for {n} samples; give one seed per sample")
            z = per_sample_noise((n, self.latent_dim), seeded_generators(seeds), p.device, p.dtype)  # (n, Z)
        else:
            z = randn_like(p.new_empty(n, self.latent_dim), generator)  # (n, Z)
        return self.decode(z, cond_values)

    def reconstruct(
        self, x: Tensor, cond_values: CondValues = None, generator: Generators = None, sample: bool = False
    ) -> Tensor:
        """Return the reconstruction (B, ...) of x: decode the posterior mean, or a draw z ~ q(z | x) if ``sample``."""
        emb = self._embed(cond_values, x.shape[0])
        mu, logvar = self.encoder(x, emb)
        z = reparameterize(mu, logvar, generator) if sample else mu
        return self._mean(self.decoder(z, emb))
