"""The training options: :class:`TrainConfig`, saved as JSON in the run's ``config.json``.

A ``run.toml`` (read with :mod:`tomllib`) holds any subset of the fields, and the command line
overrides it (``matgen train --help`` shows these defaults, read from this class)::

    model = "diffusion"
    conditions = ["density"]
    net = "small"
    steps = 20000
    lr = 2e-4
    [net_options]            # UNetConfig / VAEConfig / RegressorConfig fields replacing the preset's
    base_channels = 48

This module imports neither torch nor numpy: the command line reads its defaults at start-up.
What a trained network is (its ModelConfig) belongs to the run: :mod:`matgen.runs.config`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from matgen.common.files import read_toml_table
from matgen.common.records import from_record
from matgen.errors import MatgenError

NET_PRESETS = ("tiny", "small", "base", "large")
LIKELIHOODS = ("auto", "mse", "bce")
SPECTRUM_NORMS = ("max", "log-max")
LATENT_MODELS = ("diffusion", "flow")


@dataclass
class TrainConfig:
    """Everything `matgen train` can be told; defaults suit a small GPU run."""

    model: str = "diffusion"  # diffusion, vae, regressor (predicts continuous conditions from noisy x_t), autoencoder, latent
    conditions: tuple[str, ...] = ()  # dataset conditions conditioned on (any subset), or a regressor's outputs
    net: str = "small"  # network preset: tiny, small, base, large (large: diffusion only)
    net_options: dict = field(default_factory=dict)  # UNet/VAE/RegressorConfig fields replacing the preset's
    steps: int = 20_000  # optimizer steps (the length of the learning-rate schedule)
    epochs: float | None = None  # if set, steps = ceil(epochs x training rows / batch_size)
    batch_size: int = 32  # samples per optimizer step
    lr: float = 2e-4  # peak learning rate of AdamW
    weight_decay: float = 0.0  # AdamW decoupled weight decay
    warmup_steps: int = 500  # linear warm-up (at most a tenth of the run), then cosine decay
    min_lr_ratio: float = 0.1  # the cosine decays to min_lr_ratio x lr
    grad_clip: float = 1.0  # clip the global gradient norm to this (0: no clipping)
    ema_decay: float = 0.999  # EMA of the weights; the horizon 1/(1 - decay) is capped at a tenth of the run
    val_fraction: float = 0.1  # rows held out for the validation loss (0: none)
    eval_every: int = 500  # validation loss (with the EMA weights) every this many steps, and at the end
    log_every: int = 50  # a metrics.csv row every this many steps
    checkpoint_every: int = 1000  # checkpoint/ (for --resume) every this many steps, and at the end
    seed: int = 0  # seeds the split, the data order, the noise and the weights
    device: str = "auto"  # auto (CUDA when available), cpu or cuda; bf16 autocast on CUDA only
    # diffusion (the regressor shares schedule and timesteps: it learns on the same noisy x_t)
    prediction: str = "v"  # what the U-Net predicts: eps, x0 or v
    schedule: str = "cosine"  # noise schedule: linear or cosine
    timesteps: int = 1000  # training timesteps T
    min_snr: float | None = 5.0  # min-SNR-gamma loss weighting (None: unit weights)
    cond_drop: float = 0.15  # probability each condition is hidden per sample (classifier-free guidance)
    # VAE
    beta: float = 1.0  # weight of the KL term (beta-VAE)
    kl_warmup: int = 0  # steps over which the KL weight rises linearly from 0 to beta
    free_bits: float = 0.0  # free bits, nats per latent dimension
    likelihood: str = "auto"  # mse, bce (two-phase label maps), or auto (bce for two-phase label maps)
    # latent diffusion: the autoencoder, and the latent model on its run
    kl_weight: float = 1e-6  # weight of the summed KL against the summed squared error (LDM: 1e-6)
    autoencoder: str | None = None  # latent: the autoencoder run (--model autoencoder) whose latents it diffuses
    latent_model: str = "diffusion"  # latent: the denoising kind trained on the latents, diffusion or flow
    # data
    circular: bool | None = None  # periodic padding; None: on for the built-in periodic micrographs
    spectrum_norm: str = "max"  # spectra: max (s / max s) or log-max (log1p(1000 s / max s) / log1p(1000))

    def __post_init__(self) -> None:
        if isinstance(self.conditions, str):
            self.conditions = tuple(c.strip() for c in self.conditions.split(",") if c.strip())
        self.conditions = tuple(self.conditions)
        self.net_options = dict(self.net_options)

    def check(self) -> "TrainConfig":
        """Return self, or raise a MatgenError naming the bad option and its valid values."""
        from matgen.generative import PREDICTIONS, SCHEDULES
        from matgen.runs.kinds import MODEL_KINDS

        choices = {"model": tuple(MODEL_KINDS), "latent_model": LATENT_MODELS, "net": NET_PRESETS, "prediction": PREDICTIONS,
                   "schedule": tuple(SCHEDULES), "likelihood": LIKELIHOODS, "spectrum_norm": SPECTRUM_NORMS}
        for name, valid in choices.items():
            if getattr(self, name) not in valid:
                raise MatgenError(f"unknown {name} '{getattr(self, name)}'; choose from {', '.join(valid)}")
        kind = MODEL_KINDS[self.model]
        if self.net not in kind.presets:
            what = "the VAE" if self.model == "vae" else f"the {self.model}"
            raise MatgenError(f"{what} has presets {', '.join(list(kind.presets)[:-1])} and "
                              f"{list(kind.presets)[-1]}; --net {self.net} is for diffusion")
        if (self.model == "latent") != (self.autoencoder is not None):
            raise MatgenError("a latent model needs its autoencoder run: --autoencoder AE_RUN (trained with --model "
                              "autoencoder)" if self.model == "latent" else
                              f"--autoencoder is for --model latent, not {self.model}; drop it or train a latent model")
        if not kind.conditions_are_inputs and not self.conditions:
            raise MatgenError(f"a {self.model} predicts continuous conditions: name them with --condition, e.g. "
                              "--condition modulus,density")
        positive = {"steps": self.steps, "batch_size": self.batch_size, "eval_every": self.eval_every,
                    "log_every": self.log_every, "checkpoint_every": self.checkpoint_every, "timesteps": self.timesteps}
        for name, value in positive.items():
            if not (isinstance(value, int) and value >= 1):
                raise MatgenError(f"{name} must be a whole number >= 1, got {value}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise MatgenError(f"lr must be a positive number, got {self.lr}")
        if self.epochs is not None and not self.epochs > 0:
            raise MatgenError(f"epochs must be positive, got {self.epochs}")
        bounded = {"cond_drop": (self.cond_drop, 0.0, 0.99), "val_fraction": (self.val_fraction, 0.0, 0.5),
                   "ema_decay": (self.ema_decay, 0.0, 0.999999), "min_lr_ratio": (self.min_lr_ratio, 0.0, 1.0)}
        for name, (value, lo, hi) in bounded.items():
            if not lo <= value <= hi:
                raise MatgenError(f"{name} must be between {lo:g} and {hi:g}, got {value}")
        for name in ("weight_decay", "grad_clip", "beta", "free_bits", "kl_warmup", "warmup_steps", "kl_weight"):
            if getattr(self, name) < 0:
                raise MatgenError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.min_snr is not None and not self.min_snr > 0:
            raise MatgenError(f"min_snr must be positive (or unset for unit weights), got {self.min_snr}")
        if len(set(self.conditions)) != len(self.conditions):
            raise MatgenError(f"a condition is named twice in {', '.join(self.conditions)}")
        return self

    def to_dict(self) -> dict:
        """A JSON-ready dict of the fields."""
        d = asdict(self)
        d["conditions"] = list(self.conditions)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "the config") -> "TrainConfig":
        """The config with the fields in ``d`` (keys may use - for _); unknown keys raise a MatgenError."""
        return from_record(cls, d, "option", where, dashes=True)

    def override(self, **values) -> "TrainConfig":
        """A copy with the options that are not None replaced (command-line values over the file's)."""
        return replace(self, **{k: v for k, v in values.items() if v is not None})


def read_toml(path: str | Path) -> TrainConfig:
    """The TrainConfig in a ``run.toml`` file (any subset of the fields).

    Raises:
        MatgenError: the file is missing, not TOML, or names an unknown option.
    """
    return TrainConfig.from_dict(read_toml_table(path, "give a run.toml with training options"), where=str(path))


@dataclass
class DistillConfig:
    """What `matgen distill` can be told: consistency distillation of a diffusion run (docs/training.md)."""

    nfe: int = 4  # the student's default sampling steps (network calls): 1, 2 or 4
    steps: int = 2000  # optimizer steps of the distillation
    guidance: float = 0.0  # classifier-free guidance weight w of the teacher, baked into the student
    levels: int = 18  # N: noise levels of the Karras discretisation (more: a closer teacher ODE, slower learning)
    solver: str = "heun"  # the teacher's ODE step between neighbouring levels: heun or euler
    distance: str = "pseudo-huber"  # the consistency distance: pseudo-huber (iCT) or l2
    sigma_max: float = 80.0  # the highest noise level (capped by the teacher's)
    sigma_data: float = 0.5  # sigma_data of the boundary-condition parameterisation (data in about [-1, 1])
    batch_size: int | None = None  # samples per step (None: the teacher's)
    lr: float | None = None  # peak learning rate (None: the teacher's)
    seed: int | None = None  # split, data order and noise (None: the teacher's, so the validation rows are its own)
    device: str | None = None  # auto, cpu or cuda (None: as the teacher was configured)

    def check(self) -> "DistillConfig":
        """Return self, or raise a MatgenError naming the bad option and its valid values."""
        whole = {"nfe": self.nfe, "steps": self.steps, "levels": self.levels}
        for name, value in whole.items():
            if not (isinstance(value, int) and value >= (2 if name == "levels" else 1)):
                raise MatgenError(f"{name} must be a whole number >= {2 if name == 'levels' else 1}, got {value}")
        if not (isinstance(self.guidance, (int, float)) and math.isfinite(self.guidance) and self.guidance >= 0):
            raise MatgenError(f"the guidance weight must be a number >= 0 (0: the conditional teacher), got "
                              f"{self.guidance}")
        for name, valid in {"solver": ("heun", "euler"), "distance": ("pseudo-huber", "l2")}.items():
            if getattr(self, name) not in valid:
                raise MatgenError(f"unknown {name} '{getattr(self, name)}'; choose from {', '.join(valid)}")
        for name in ("sigma_max", "sigma_data"):
            if not (getattr(self, name) > 0 and math.isfinite(getattr(self, name))):
                raise MatgenError(f"{name} must be a positive number, got {getattr(self, name)}")
        return self

    def override(self, **values) -> "DistillConfig":
        """A copy with the given options replaced; an unknown one raises a MatgenError listing the options."""
        from dataclasses import fields

        names = [f.name for f in fields(self)]
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise MatgenError(f"unknown distillation option '{unknown[0]}'; choose from {', '.join(names)}")
        return replace(self, **values)
