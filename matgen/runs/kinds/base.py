"""What every model kind shares: the class attributes the registry, the trainer and the sampler read, and their defaults.

A kind drawn by samplers (diffusion, flow, consistency, latent) gives a VE denoiser
``denoiser(guidance) -> D(x, sigma, cond)`` (:mod:`matgen.generative`), the sigma grid of each
sampler that fits it (:meth:`ModelKind.sampling_grid`), the scale of its starting noise, the
shape its sampler works in and how that becomes a signal (:meth:`ModelKind.finish`); one
sampling path (:mod:`matgen.sample.generate`) then runs them all.
"""

from __future__ import annotations

from typing import ClassVar

import math

from torch import Tensor, nn

from matgen.errors import MatgenError


class ModelKind(nn.Module):
    """Base of the model kinds (see :mod:`matgen.runs.kinds` for what a kind defines)."""

    kind: ClassVar[str] = ""  # name in config.json and `matgen train --model`
    summary: ClassVar[str] = ""  # one line for --help
    listing_order: ClassVar[int] = 100  # place in listings (built-ins first)
    presets: ClassVar[dict] = {}  # network preset name -> config
    conditions_are_inputs: ClassVar[bool] = True  # False: the model predicts its conditions (a regressor)
    position_features: ClassVar[bool] = True  # non-periodic spectra get absolute-position features
    #: sampler name -> its default sigma spacing, for the kinds drawn by samplers ({}: not drawn by one, e.g. the VAE)
    samplers: ClassVar[dict[str, str]] = {}
    default_sampler: ClassVar[str] = ""  # what `matgen sample --sampler auto` uses
    denoises_signals: ClassVar[bool] = False  # its denoiser works on signals (not latents): regressor guidance fits

    @classmethod
    def check_sampler(cls, sampler: str) -> str:
        """The sampler's name (``auto``: the kind's default), or a MatgenError listing the samplers that fit the kind."""
        if sampler == "auto" and cls.default_sampler:
            return cls.default_sampler
        if sampler not in cls.samplers:
            from matgen.runs.kinds import sampler_names

            fits = ", ".join(cls.samplers) or "none (it is not drawn by a sampler)"
            what = "does not fit" if sampler in sampler_names() else "is unknown for"
            raise MatgenError(f"sampler '{sampler}' {what} a {cls.kind} run; choose from {fits}")
        return sampler

    def sampling_grid(self, sampler: str, steps: int, spacing: str | None = None) -> Tensor:
        """The decreasing sigma grid (steps + 1,) float64, ending in 0, of ``sampler`` with ``steps`` steps."""
        raise MatgenError(f"a {self.kind} run is not drawn by a sampler")

    def sampler_function(self, sampler: str):
        """The sampler ``(denoiser, x, sigmas, cond, *, generator, callback) -> x0`` named ``sampler`` for this kind."""
        from matgen.generative import get_sampler

        return get_sampler(sampler)

    def start_scale(self, sigma_max: float) -> float:
        """The standard deviation of the starting noise x = scale n at sigma_max (the VE image of the prior)."""
        return math.sqrt(1.0 + sigma_max**2)

    def start_noise(self, generators, signal_shape: tuple[int, ...], sigma_max: float) -> Tensor:
        """The sampler's start x = start_scale(sigma_max) n (B, *sample_shape) for signals of ``signal_shape`` (C, *S):
        n_i from generators[i] alone (CPU generators give the same noise on every device), so sample i of any call
        with seed s starts from the noise of seed s + i (reflow pairs and inpainting rely on it)."""
        from matgen.generative import per_sample_noise

        p = next(self.parameters())
        shape = (len(generators), *self.sample_shape(tuple(signal_shape)))
        return per_sample_noise(shape, generators, p.device, p.dtype) * self.start_scale(sigma_max)

    def sample_shape(self, signal_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape (C, *S) a sampler works in for signals of ``signal_shape`` (C, *S) (a latent kind: its latents)."""
        return tuple(signal_shape)

    def finish(self, x: Tensor, cond: Tensor | None) -> Tensor:
        """Signals (B, C, *S) in network units from what the sampler returned (a latent kind decodes)."""
        return x

    @classmethod
    def calibrate(cls, model, train_part, data, options):
        """The ModelConfig ``model`` of a new run completed with what the kind measures on its training part (a
        Dataset; ``data``: its DataSpec; ``options``: the training options) before step 0 (a latent kind: its scale)."""
        return model

    def initialise(self) -> None:
        """Load the weights a fresh run starts from (a teacher, an autoencoder); called once before step 0."""

    def training_inputs(self, x: Tensor, part) -> Tensor:
        """What the training steps draw batches from: the signals x (N, C, *S) of the dataset ``part`` in network
        units by default (a latent kind: their latents; a reflow run: signals and their paired noise)."""
        return x

    @classmethod
    def validation_warning(cls, latents: Tensor) -> str | None:
        """A warning from the validation latents (e.g. posterior collapse), or None."""
        return None
