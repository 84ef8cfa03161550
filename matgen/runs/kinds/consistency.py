"""``consistency``: a student distilled from a diffusion teacher that samples in 1, 2 or 4 network calls.

The model holds two networks of the teacher's kind and architecture: ``teacher``, frozen (its
weights never change and get no gradient), and ``student``, the trainable denoiser D_theta, both
loaded from the teacher run's EMA weights before step 0 (:meth:`ConsistencyModel.initialise`).
The consistency function is f(x, sigma) = c_skip x + (1 - c_skip) D_theta(x, sigma) with
f(x, sigma_min) = x exactly, trained by consistency distillation against one ODE step of the
teacher's *guided* denoiser (:mod:`matgen.generative.consistency`), so the guidance weight w
chosen at distillation is baked into the student. Both networks are saved in the run's weights,
so a run resumes and samples without its teacher's directory.

``config.options`` (written by :meth:`ConsistencyModel.from_teacher`, used by ``matgen distill``):

    teacher        {kind, model (its ModelConfig), run (path), weights_sha256}
    sigma_min, sigma_max, sigma_data    the noise range of the student and sigma_data of c_skip
    levels         N, the Karras discretisation of the distillation
    guidance       the classifier-free guidance weight w baked into the student
    solver         the teacher's ODE step: heun or euler
    distance       pseudo-huber or l2
    nfe            the default number of sampling steps (network calls)
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import ClassVar

import torch
from torch import Tensor

from matgen.common.distributed import BatchShard
from matgen.common.files import file_sha256
from matgen.errors import MatgenError
from matgen.generative.consistency import (
    consistency_distillation_loss,
    consistency_student,
    distillation_levels,
    sample_consistency,
)
from matgen.generative.schedules import karras_sigmas
from matgen.nets import UNET_PRESETS
from matgen.runs.config import ModelConfig
from matgen.runs.files import RunFiles
from matgen.runs.kinds.base import ModelKind
from matgen.runs.tensors import load_weights

DISTILL_HINT = "a consistency run is distilled from a trained diffusion run: matgen distill TEACHER_RUN -o STUDENT_RUN"


class ConsistencyModel(ModelKind):
    """A frozen teacher and its consistency student f(x, sigma, cond), of the teacher's architecture."""

    kind: ClassVar[str] = "consistency"
    summary: ClassVar[str] = "consistency student distilled from a diffusion run (1-4 step sampling)"
    listing_order: ClassVar[int] = 2
    presets: ClassVar[dict] = UNET_PRESETS
    samplers: ClassVar[dict[str, str]] = {"consistency": "karras"}
    default_sampler: ClassVar[str] = "consistency"
    denoises_signals: ClassVar[bool] = True

    def __init__(self, config: ModelConfig):
        super().__init__()
        from matgen.runs.kinds import build_model  # the registry imports this module: import it when building

        self.config = config
        o = config.options
        teacher_config = ModelConfig.from_dict(o["teacher"]["model"])
        self.teacher = build_model(teacher_config).requires_grad_(False).eval()
        self.student = build_model(teacher_config)
        self.sigma_min, self.sigma_max = float(o["sigma_min"]), float(o["sigma_max"])
        self.sigma_data = float(o["sigma_data"])
        self.levels = distillation_levels(int(o["levels"]), self.sigma_min, self.sigma_max)  # (N,) float64, no weight
        self.guidance = float(o["guidance"])

    @classmethod
    def from_teacher(cls, teacher: ModelConfig, teacher_run: str | Path, sigma_min: float, sigma_max: float,
                     levels: int, guidance: float, nfe: int, solver: str = "heun", distance: str = "pseudo-huber",
                     sigma_data: float = 0.5) -> ModelConfig:
        """The ModelConfig of a student of the run ``teacher_run`` (its ModelConfig ``teacher``)."""
        weights = RunFiles(teacher_run).weights
        options = {"teacher": {"kind": teacher.kind, "model": teacher.to_dict(),
                               "run": str(Path(teacher_run).resolve()), "weights_sha256": file_sha256(weights)},
                   "sigma_min": sigma_min, "sigma_max": sigma_max, "sigma_data": sigma_data, "levels": levels,
                   "guidance": guidance, "solver": solver, "distance": distance, "nfe": nfe}
        return ModelConfig(cls.kind, teacher.net, teacher.conditions, teacher.cond_dim, teacher.prediction,
                           teacher.schedule, teacher.timesteps, teacher.likelihood, options)

    @classmethod
    def size_multiple(cls, preset: str, net_options: dict) -> int:
        raise MatgenError(DISTILL_HINT)

    @classmethod
    def plan(cls, options, data, specs, cond_dim: int, common: dict, net_options: dict) -> ModelConfig:
        raise MatgenError(DISTILL_HINT)

    def train(self, mode: bool = True) -> "ConsistencyModel":
        """Train or evaluate the student; the teacher always evaluates (no dropout in its ODE steps)."""
        super().train(mode)
        self.teacher.eval()
        return self

    def initialise(self) -> None:
        """Load the teacher run's EMA weights into teacher and student (its SHA-256 must be the recorded one)."""
        t = self.config.options["teacher"]
        weights = RunFiles(t["run"]).weights
        if not weights.is_file():
            raise MatgenError(f"{t['run']}: the teacher run's weights are missing; distil from an existing run")
        if file_sha256(weights) != t["weights_sha256"]:
            raise MatgenError(f"{weights} changed since the distillation was set up (its SHA-256 differs); "
                              "start the distillation again with --force")
        load_weights(self.teacher, weights)
        self.student.load_state_dict(self.teacher.state_dict())

    def training_inputs(self, x: Tensor, part) -> Tensor:
        """What the teacher trains on (for a diffusion teacher: the signals)."""
        return self.teacher.training_inputs(x, part)

    def loss(self, x0: Tensor, cond: Tensor, drop: Tensor | None, generator: torch.Generator,
             shard: BatchShard | None = None) -> Tensor:
        """The consistency distillation loss of the batch x0 (B, C, *S); ``drop`` (B, K) hides conditions (NaN);
        ``shard``: x0 holds these rows of a larger batch (a DDP process, see :class:`BatchShard`)."""
        if drop is not None and cond.shape[1]:
            cond = cond.masked_fill(drop, float("nan"))  # NaN: not given, to the teacher and the student alike
        o = self.config.options
        return consistency_distillation_loss(self.denoiser(), self.teacher.denoiser(self.guidance), x0, cond,
                                             self.levels, generator, o["solver"], o["distance"], shard)

    def training_loss(self, x0: Tensor, cond: Tensor, drop: Tensor | None, generator: torch.Generator, options,
                      step: int, shard: BatchShard | None = None) -> Tensor:
        """The loss of one training batch, or of its rows ``shard`` (:meth:`loss`)."""
        return self.loss(x0, cond, drop, generator, shard)

    def validation_loss(self, x0: Tensor, cond: Tensor, generator: torch.Generator, options) -> tuple[Tensor, None]:
        """The training loss without condition dropout, and no latents."""
        return self.loss(x0, cond, None, generator), None

    def sampling_grid(self, sampler: str, steps: int, spacing: str | None = None) -> Tensor:
        """The sigmas (steps + 1,): the first ``steps`` of Karras's grid of steps + 1 levels from sigma_max to
        sigma_min, then 0 (1 step: sigma_max; 2 steps: sigma_max and the rho-midpoint, ~2.5 for 0.002..80).

        The last Karras level, sigma_min, is left out: f(x, sigma_min) = x would spend a network call on nothing.
        """
        if spacing not in (None, "karras"):
            raise MatgenError(f"a consistency run samples on the karras grid; leave out spacing '{spacing}'")
        if not (isinstance(steps, int) and 1 <= steps <= 64):
            raise MatgenError(f"a consistency run samples in 1 to 64 steps (1, 2 or 4 are usual), got {steps}")
        karras = karras_sigmas(steps + 1, self.sigma_min, self.sigma_max)  # (steps + 2,): sigma_max .. sigma_min, 0
        return torch.cat([karras[:steps], karras.new_zeros(1)])

    def sampler_function(self, sampler: str):
        """Multistep consistency sampling (Algorithm 1) with this run's sigma_min."""
        return functools.partial(sample_consistency, sigma_min=self.sigma_min)

    def start_scale(self, sigma_max: float) -> float:
        """The teacher's (a VP diffusion teacher: sqrt(1 + sigma_max^2))."""
        return self.teacher.start_scale(sigma_max)

    def sample_shape(self, signal_shape: tuple[int, ...]) -> tuple[int, ...]:
        return self.teacher.sample_shape(signal_shape)

    def finish(self, x: Tensor, cond: Tensor | None) -> Tensor:
        return self.teacher.finish(x, cond)

    def denoiser(self, guidance: float = 0.0):
        """Return the consistency function f(x, sigma, cond) -> x0_hat of the student.

        The guidance weight w is baked in at distillation: ``guidance`` must be 0 (the student as
        distilled) or that w; another value would need a second distillation, so it is refused.
        """
        if guidance and not math.isclose(guidance, self.guidance):
            raise MatgenError(f"this consistency run has classifier-free guidance w = {self.guidance:g} baked in; "
                              f"sample with --guidance 0, or distil again with --guidance {guidance:g}")
        return consistency_student(self.student.denoiser(0.0), self.sigma_min, self.sigma_data)


MODEL = ConsistencyModel
