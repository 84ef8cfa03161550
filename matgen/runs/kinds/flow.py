"""``flow``: a U-Net velocity field v(x_t, t, c) trained by flow matching on the linear path (rectified flow).

x_t = (1 - t) x0 + t eps, target eps - x0 (Lipman et al. 2023; Liu et al. 2023), the same U-Net and
condition encoder as ``diffusion``, condition dropout for classifier-free guidance.
``model.denoiser(w)`` is its VE denoiser (:func:`matgen.generative.flow.flow_denoiser`), so the
flow samplers (euler, heun, midpoint: :mod:`matgen.generative.flow`), DPM-Solver++ and every
guidance run it. A reflow run (``matgen reflow``) trains on pairs (its training rows are a flow's
samples, ``noise_seed`` naming the noise each came from): ``options["reflow"]`` is then true and
:meth:`FlowModel.training_inputs` regenerates that noise, so each row keeps its own.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from matgen.common.distributed import BatchShard
from matgen.common.seeding import seeded_generators
from matgen.errors import MatgenError
from matgen.generative import classifier_free_guidance, per_sample_noise
from matgen.generative.flow import FLOW_SAMPLERS, flow_denoiser, flow_loss, flow_sigmas
from matgen.runs.config import ModelConfig
from matgen.runs.kinds.unet import UNetKind

TIME_SCALE = 1000.0  # the U-Net's time embedding sees 1000 t, the range of a diffusion network's timesteps
NOISE_SEED = "noise_seed"  # the condition of a reflow dataset naming each row's noise (sample i: seed + i)


class FlowModel(UNetKind):
    """Velocity U-Net v(x_t, 1000 t, ConditionEncoder(cond)) on the linear path x_t = (1 - t) x0 + t eps."""

    kind: ClassVar[str] = "flow"
    summary: ClassVar[str] = "flow matching (rectified flow)"
    listing_order: ClassVar[int] = 1
    #: the flow samplers on equal steps in flow time; DPM-Solver++ on Karras's grid
    samplers: ClassVar[dict[str, str]] = {"heun": "uniform", "euler": "uniform", "midpoint": "uniform",
                                          "dpmpp-2m": "karras"}
    default_sampler: ClassVar[str] = "heun"

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        self.reflow = bool(config.options.get("reflow", False))

    @classmethod
    def plan(cls, options, data, specs, cond_dim: int, common: dict, net_options: dict) -> ModelConfig:
        """The ModelConfig of a new flow run (``options``: the training options)."""
        return ModelConfig(cls.kind, cls.network(options, data, cond_dim, common, net_options), specs, cond_dim,
                           "velocity", "linear-path", options.timesteps, "")

    def forward(self, x_t: Tensor, t: Tensor, cond: Tensor | None = None, drop: Tensor | None = None) -> Tensor:
        """Return the velocity (B, C, *S) at x_t (B, C, *S), flow times t (B,) in [0, 1], cond (B, K), drop (B, K)."""
        return super().forward(x_t, t * TIME_SCALE, cond, drop)

    def training_inputs(self, x: Tensor, part) -> Tensor:
        """The signals x (N, C, *S); a reflow run: [x, eps] (N, 2C, *S), eps the noise row i was sampled from."""
        if not self.reflow:
            return x
        if NOISE_SEED not in part.conditions:
            raise MatgenError(f"a reflow run trains on pairs with a '{NOISE_SEED}' column; make them with matgen reflow")
        seeds = np.asarray(part.conditions[NOISE_SEED].values, dtype=np.int64).tolist()
        eps = per_sample_noise(x.shape, seeded_generators(seeds), x.device, x.dtype)
        return torch.cat([x, eps], dim=1)

    def loss(self, x: Tensor, cond: Tensor, drop: Tensor | None, generator: torch.Generator,
             shard: BatchShard | None = None) -> Tensor:
        """The flow-matching loss of a batch x (B, C, *S) (a reflow run: [x0, eps] (B, 2C, *S)); ``shard``: x holds
        these rows of a larger batch (a DDP process, see :class:`BatchShard`)."""
        x0, eps = x.chunk(2, dim=1) if self.reflow else (x, None)
        return flow_loss(lambda x_t, t, c: self(x_t, t, c, drop), x0, cond, generator, eps, shard)

    def training_loss(self, x0: Tensor, cond: Tensor, drop: Tensor | None, generator: torch.Generator, options,
                      step: int, shard: BatchShard | None = None) -> Tensor:
        """The loss of one training batch, or of its rows ``shard`` (:meth:`loss`)."""
        return self.loss(x0, cond, drop, generator, shard)

    def validation_loss(self, x0: Tensor, cond: Tensor, generator: torch.Generator, options) -> tuple[Tensor, None]:
        """The training loss without condition dropout, and no latents."""
        return self.loss(x0, cond, None, generator), None

    def sampler_function(self, sampler: str):
        return FLOW_SAMPLERS[sampler] if sampler in FLOW_SAMPLERS else super().sampler_function(sampler)

    def sampling_grid(self, sampler: str, steps: int, spacing: str | None = None) -> Tensor:
        """The VE grid (steps + 1,) of ``spacing`` (default: the sampler's) uniform or karras in flow time."""
        return flow_sigmas(steps, spacing or self.samplers[sampler])

    def start_scale(self, sigma_max: float) -> float:
        """1 + sigma_max: the VE image x_t / (1 - t) of x_t = eps at the first flow time."""
        return 1.0 + sigma_max

    def denoiser(self, guidance: float = 0.0):
        """D(x, sigma, cond) = x_t - t v; with ``guidance`` w the velocity (1 + w) v(c) - w v(null) when conditional."""
        denoiser = flow_denoiser(self)
        if guidance and self.cond_encoder is not None:
            denoiser = classifier_free_guidance(denoiser, guidance)
        return denoiser


MODEL = FlowModel
