"""``latent``: a denoising model on the scaled latents of a frozen autoencoder run (latent diffusion, Rombach et al. 2022).

    z = s mean(q(z | x))         the training inputs: posterior means (deterministic), scaled by s
    inner model on z             diffusion now (``options["inner"]``), conditioned exactly as a pixel model
    x0 = decode(z0 / s)          what a sample becomes (:meth:`LatentModel.finish`)

The latent scale factor s = 1 / std(training latents) (sec. 4.3.2) is measured once, when the
run is planned, over the whole training part (:meth:`LatentModel.calibrate`), and stored in
``config.json`` (``model.options``) with the autoencoder run's path, weights' SHA-256, ModelConfig
and the latent shape (C_z, *S / f). The autoencoder's weights are copied into this run at step 0
(:meth:`LatentModel.initialise`) and saved with it, frozen, so the run samples without the
autoencoder run. The inner model is built through the registry from this run's own ModelConfig
with ``kind = options["inner"]``; every sampling hook is its, so a ``flow`` inner with the
diffusion interface drops in. Its denoiser works on latents: regressor guidance does not fit,
physics guidance decodes through :meth:`finish`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import torch
from torch import Tensor

from matgen.common.device import resolve_device
from matgen.common.distributed import BatchShard
from matgen.common.files import file_sha256
from matgen.errors import MatgenError
from matgen.generative.latent import latent_scale_factor
from matgen.nets import UNET_PRESETS
from matgen.runs.config import ModelConfig, read_config
from matgen.runs.files import RunFiles
from matgen.runs.kinds.autoencoder import AutoencoderModel
from matgen.runs.kinds.base import ModelKind
from matgen.runs.kinds.diffusion import DiffusionModel
from matgen.runs.normalisation import to_network
from matgen.runs.tensors import load_weights

INNER = "diffusion"  # the default denoising kind of a latent run (TrainConfig.latent_model)
ENCODE_BATCH = 256  # signals per encoder call when encoding a whole dataset part


class _ClassOrInstance:
    """A method bound to the instance when called on one, else to the class: a latent run's samplers are its inner
    kind's, while the class (campaign checks, listings) answers for the default inner kind."""

    def __init__(self, method):
        self.function = method.__func__

    def __get__(self, instance, owner):
        return self.function.__get__(owner if instance is None else instance)


class LatentModel(ModelKind):
    """A frozen :class:`AutoencoderModel` and an inner denoising model over its scaled latents s z (B, C_z, *S / f)."""

    kind: ClassVar[str] = "latent"
    summary: ClassVar[str] = "latent diffusion on an autoencoder run"
    listing_order: ClassVar[int] = 6
    presets: ClassVar[dict] = UNET_PRESETS
    samplers: ClassVar[dict[str, str]] = dict(DiffusionModel.samplers)  # the instance's: its inner kind's
    default_sampler: ClassVar[str] = DiffusionModel.default_sampler
    denoises_signals: ClassVar[bool] = False
    check_sampler = _ClassOrInstance(ModelKind.check_sampler)

    def __init__(self, config: ModelConfig):
        super().__init__()
        from matgen.runs.kinds import build_model

        self.config = config
        options = config.options
        self.autoencoder = AutoencoderModel(ModelConfig.from_dict(options["autoencoder"]["config"]))
        self.autoencoder.requires_grad_(False).eval()  # frozen: AdamW never moves it, the EMA keeps it exactly
        self.inner = build_model(replace(config, kind=options["inner"], options=options.get("inner_options", {})))
        self.scale = float(options["scale_factor"])  # s
        self.latent_shape = tuple(options["latent_shape"])  # (C_z, *S / f)
        self.samplers, self.default_sampler = self.inner.samplers, self.inner.default_sampler

    def train(self, mode: bool = True) -> "LatentModel":
        """Train mode for the inner model; the frozen autoencoder stays in eval mode (no dropout when encoding)."""
        super().train(mode)
        self.autoencoder.eval()
        return self

    @classmethod
    def size_multiple(cls, preset: str, net_options: dict) -> int:
        """1: the run takes its autoencoder's data shape (:meth:`plan` checks the data against it)."""
        return 1

    @classmethod
    def plan(cls, options, data, specs, cond_dim: int, common: dict, net_options: dict) -> ModelConfig:
        """The ModelConfig of a new latent run on the autoencoder run ``options.autoencoder`` (``data`` takes its
        padded shape); the scale factor comes later, from :meth:`calibrate`.

        Raises:
            MatgenError: the run is not an autoencoder, was trained on other data, or its latents do not fit the U-Net.
        """
        from matgen.runs.kinds import model_class

        path = Path(options.autoencoder)
        ae = read_config(path)
        if ae.model.kind != AutoencoderModel.kind:
            raise MatgenError(f"{path} is a {ae.model.kind} run; --autoencoder takes a run trained with --model "
                              "autoencoder on the same data")
        check_same_data(data, ae.data, path)
        data.shape = tuple(ae.data.shape)  # spectra: padded as the autoencoder's were
        net = AutoencoderModel(ae.model).net.config
        latent_shape = net.latent_shape(data.shape)
        inner = model_class(options.latent_model)
        multiple = inner.size_multiple(options.net, net_options)
        if any(s % multiple for s in latent_shape[1:]):
            raise MatgenError(f"the autoencoder's latents are {'x'.join(map(str, latent_shape[1:]))}, not multiples of "
                              f"{multiple} as the {options.net} U-Net needs; use --net tiny or train the autoencoder "
                              "on larger signals")
        inner_config = inner.plan(options, replace(data, channels=latent_shape[0], shape=latent_shape[1:]), specs,
                                  cond_dim, {**common, "in_channels": latent_shape[0]}, net_options)
        record = {"run": str(path.resolve()), "weights_sha256": file_sha256(RunFiles(path).weights),
                  "config": ae.model.to_dict(), "downsampling": net.downsampling}
        return replace(inner_config, kind=cls.kind, options={
            "inner": inner.kind, "inner_options": inner_config.options, "autoencoder": record,
            "latent_shape": list(latent_shape), "scale_factor": None, "training_latents": "posterior mean"})

    @classmethod
    def calibrate(cls, model: ModelConfig, train_part, data, options) -> ModelConfig:
        """``model`` with the scale factor s = 1 / std of the training part's latents (posterior means)."""
        autoencoder = load_autoencoder(model.options["autoencoder"])
        device = resolve_device(options.device)
        x = torch.as_tensor(to_network(train_part.signals, data))  # (N, C, *S)
        with torch.no_grad():
            z = encode_means(autoencoder.to(device), x.to(device))  # (N, C_z, *S / f)
        return replace(model, options={**model.options, "scale_factor": latent_scale_factor(z)})

    def initialise(self) -> None:
        """Copy the autoencoder run's weights into the frozen autoencoder."""
        self.autoencoder.load_state_dict(load_autoencoder(self.config.options["autoencoder"]).state_dict())

    def training_inputs(self, x: Tensor, part) -> Tensor:
        """The scaled posterior means s mean(q(z | x)) (N, C_z, *S / f) of the signals x (N, C, *S)."""
        return encode_means(self.autoencoder, x) * self.scale

    def training_loss(self, x0: Tensor, cond: Tensor, drop: Tensor | None, generator: torch.Generator, options,
                      step: int, shard: BatchShard | None = None) -> Tensor:
        """The inner model's loss on a batch of scaled latents x0 (B, C_z, *S / f)."""
        return self.inner.training_loss(x0, cond, drop, generator, options, step, shard)

    def validation_loss(self, x0: Tensor, cond: Tensor, generator: torch.Generator, options):
        """The inner model's validation loss on scaled latents."""
        return self.inner.validation_loss(x0, cond, generator, options)

    def denoiser(self, guidance: float = 0.0):
        """The inner model's D(z, sigma, cond) on scaled latents, classifier-free guided with weight ``guidance``."""
        return self.inner.denoiser(guidance)

    def sampling_grid(self, sampler: str, steps: int, spacing: str | None = None) -> Tensor:
        return self.inner.sampling_grid(sampler, steps, spacing)

    def sampler_function(self, sampler: str):
        return self.inner.sampler_function(sampler)

    def start_scale(self, sigma_max: float) -> float:
        return self.inner.start_scale(sigma_max)

    def sample_shape(self, signal_shape: tuple[int, ...]) -> tuple[int, ...]:
        """(C_z, *S / f): the sampler works on latents."""
        return self.latent_shape

    def finish(self, x: Tensor, cond: Tensor | None) -> Tensor:
        """Signals decode(z / s) (B, C, *S) in network units from scaled latents z (B, C_z, *S / f)."""
        return self.autoencoder.decode(x / self.scale)


def load_autoencoder(record: dict) -> AutoencoderModel:
    """The autoencoder of a latent run's ``options["autoencoder"]`` record, with its run's weights.

    Raises:
        MatgenError: the autoencoder run is gone or its weights changed since the latent run was planned.
    """
    weights = RunFiles(record["run"]).weights
    if not weights.is_file() or file_sha256(weights) != record["weights_sha256"]:
        raise MatgenError(f"{record['run']}: the autoencoder's weights are missing or changed since this latent run was "
                          "planned; train the latent model again on the autoencoder as it is now")
    model = AutoencoderModel(ModelConfig.from_dict(record["config"]))
    load_weights(model, weights)
    return model.eval()


def encode_means(autoencoder: AutoencoderModel, x: Tensor) -> Tensor:
    """The posterior means (N, C_z, *S / f) of x (N, C, *S), encoded ENCODE_BATCH signals at a time."""
    return torch.cat([autoencoder.encode(x[i: i + ENCODE_BATCH])[0] for i in range(0, len(x), ENCODE_BATCH)])


def check_same_data(data, ae_data, path: Path) -> None:
    """Raise a MatgenError unless ``data`` has the form of the autoencoder's training data ``ae_data``."""
    if _describe(data) != _describe(ae_data):
        raise MatgenError(f"{path} was trained on {_describe(ae_data)}; this data is {_describe(data)}: train an "
                          "autoencoder on it first (matgen train DATA.h5 -o AE --model autoencoder)")


def _describe(data) -> str:
    """``2-phase label micrographs 32x32``, ``max-normalised xrd spectra of 64 points``: what must match."""
    if data.length:
        return f"{data.norm}-normalised {data.kind} spectra of {data.length} points"
    phases = f"{data.n_phases}-phase " if data.norm == "labels" else ""
    return (f"{phases}{data.signal_type} {data.kind}s {'x'.join(map(str, data.shape))} with {data.channels} "
            "channel(s)")


MODEL = LatentModel
