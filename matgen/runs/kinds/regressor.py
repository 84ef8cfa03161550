"""``regressor``: predicts the standardised continuous conditions from a noisy x_t, for regressor guidance.

A :class:`matgen.nets.Regressor` predicts z = (y - mean) / std from x_t at a random timestep of
the diffusion schedule; ``model.predictor()`` reads it at a VE noise level. Its output is
preconditioned, z_hat = sqrt(alpha_bar_t) net(x_t, t): as the signal fades, E[z | x_t] shrinks
to the mean (0) like sqrt(alpha_bar_t) (exactly so for Gaussian data), and a network cannot
learn a sensitivity to x_t that falls by orders of magnitude over the last few timesteps of the
cosine schedule. Without the factor its spurious gradient at the highest noise levels,
multiplied by sigma^2 in the guided denoiser, swamps sampling. Its conditions are labels it
predicts, never hidden (condition dropout is ignored).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from matgen.common.distributed import BatchShard, whole_batch
from matgen.generative import alpha_bar_from_sigma, get_schedule, q_sample, sigma_to_t, t_to_sigma
from matgen.generative.objectives import append_dims
from matgen.nets import REGRESSOR_PRESETS, Regressor, RegressorConfig, regressor_preset
from matgen.runs.config import ModelConfig
from matgen.runs.kinds.base import ModelKind


class RegressorModel(ModelKind):
    """Regressor r(x_t, t) = sqrt(alpha_bar_t) net(x_t, t) (B, K) of standardised conditions z = (y - mean) / std.

    alpha_bar (T,) is the VP schedule of the diffusion runs it is to steer; mean and std (K,) are
    the training statistics of the conditions (their ConditionSpecs).
    """

    kind: ClassVar[str] = "regressor"
    summary: ClassVar[str] = "predicts the --condition properties from noisy inputs, for regressor guidance"
    listing_order: ClassVar[int] = 9
    presets: ClassVar[dict] = REGRESSOR_PRESETS
    conditions_are_inputs: ClassVar[bool] = False

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.net = Regressor(RegressorConfig.from_dict(config.net))
        self.alpha_bar = get_schedule(config.schedule, config.timesteps)  # (T,) float64, not a weight
        self.register_buffer("mean", torch.tensor([s.mean for s in config.conditions]), persistent=False)  # (K,)
        self.register_buffer("std", torch.tensor([s.std for s in config.conditions]), persistent=False)  # (K,)

    @classmethod
    def size_multiple(cls, preset: str, net_options: dict) -> int:
        """2^(levels - 1), as the U-Net it reads the inputs of."""
        return 2 ** (len(net_options.get("channel_mults", cls.presets[preset].channel_mults)) - 1)

    @classmethod
    def plan(cls, options, data, specs, cond_dim: int, common: dict, net_options: dict) -> ModelConfig:
        """The ModelConfig of a new regressor run: one output per condition, the diffusion schedule."""
        net = regressor_preset(options.net, n_outputs=len(specs), **common, **net_options)
        return ModelConfig(cls.kind, net.to_dict(), specs, cond_dim, "", options.schedule, options.timesteps, "")

    def forward(self, x_t: Tensor, t: Tensor) -> Tensor:
        """Return z_hat = sqrt(alpha_bar_t) net(x_t, t) (B, K) for x_t (B, C, *S) at (real) timesteps t (B,)."""
        c_out = alpha_bar_from_sigma(t_to_sigma(t, self.alpha_bar)).sqrt()  # (B,)
        return c_out.to(x_t.dtype)[:, None] * self.net(x_t, t)  # (B, K)

    def standardise(self, values: Tensor) -> Tensor:
        """Return z = (y - mean) / std (B, K) of condition values y (B, K) in their units; NaN stays NaN."""
        return (values.to(self.mean) - self.mean) / self.std

    def loss(self, x0: Tensor, cond: Tensor, drop: Tensor | None, generator: torch.Generator,
             min_snr: float | None = None, shard: BatchShard | None = None) -> Tensor:
        """Return the mean squared error of z over the known labels of the batch (NaN labels are skipped).

        x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps with t ~ U{0 .. T-1}, eps ~ N(0, I) per
        sample, as the diffusion model is trained. ``drop`` and ``min_snr`` are ignored. ``shard``: x0 holds these
        rows of a larger batch (a DDP process): t and eps are drawn for the whole batch and cut; the mean is then
        over the shard's known labels, the batch's mean only when every shard knows as many.
        """
        T = self.alpha_bar.shape[0]
        shard = whole_batch(x0.shape[0]) if shard is None else shard
        t = shard.rows(torch.randint(T, (shard.batch,), generator=generator, device=generator.device)).to(x0.device)
        eps = shard.rows(torch.randn(shard.shape(x0.shape), generator=generator, device=generator.device,
                                     dtype=x0.dtype)).to(x0.device)
        alpha_bar_t = self.alpha_bar.to(device=x0.device, dtype=x0.dtype)[t]  # (B,)
        z_hat = self(q_sample(x0, alpha_bar_t, eps), t).float()  # (B, K)
        z = self.standardise(cond)  # (B, K)
        known = ~torch.isnan(z)
        err = torch.where(known, z_hat - z.nan_to_num(), torch.zeros_like(z_hat))
        return (err**2).sum() / known.sum().clamp(min=1)

    def training_loss(self, x0: Tensor, cond: Tensor, drop: Tensor | None, generator: torch.Generator, options,
                      step: int, shard: BatchShard | None = None) -> Tensor:
        """The loss of one training batch, or of its rows ``shard`` (:meth:`loss`)."""
        return self.loss(x0, cond, drop, generator, shard=shard)

    def validation_loss(self, x0: Tensor, cond: Tensor, generator: torch.Generator, options) -> tuple[Tensor, None]:
        """The training loss, and no latents."""
        return self.loss(x0, cond, None, generator), None

    def predictor(self):
        """Return r(x, sigma) -> z (B, K) for a VE sample x = x0 + sigma n: the net at x_t = x / sqrt(1 + sigma^2)."""

        def predict(x: Tensor, sigma: Tensor) -> Tensor:
            x_t = x * append_dims(alpha_bar_from_sigma(sigma).sqrt(), x.ndim)  # (B, C, *S)
            return self(x_t, sigma_to_t(sigma, self.alpha_bar))

        return predict


MODEL = RegressorModel
