"""Physics-guided sampling: a simulator's differentiable form steers the sampler towards property targets.

A simulator with a differentiable form (``simulator.differentiable(signals, requests) -> {output: (B,)}``,
e.g. ``elastic``: :func:`matgen.physics.elastic.soft_properties`; ``requests`` the requested rows of
the batch, whose axis and conditions a spectrum analysis needs) is evaluated on the denoised
estimate at every denoiser call: x0 in network units -> a soft version of the signals the sample
will become (:func:`soft_field`) -> the outputs a -> each target's residual in units of its
tolerance,

    r = (a - high) / scale  where a > high,   (a - low) / scale  where a < low,   0 inside,

so a value target (low = high = v) is pulled to v, and a range or a bound is a one-sided
penalty. :func:`matgen.generative.constraint_guidance` moves x0 by the damped Gauss-Newton step
that zeroes the linearised residuals, times ``physics_scale`` (0: unguided, exactly).

**Label maps.** A two-phase label map is x0 > 0 at the end. Its soft field is the smooth
threshold phi = sigmoid(k x0), k = :data:`LABEL_SHARPNESS` (phi = 0.0003 .. 0.9997 at x0 = -1 .. 1),
not the linear (x0 + 1) / 2: the linear field's gradient favours greying whole regions, which
the final threshold undoes, while the sharp one moves the interfaces, which it keeps. With the
linear field the elastic guidance barely moved the thresholded modulus (0-1 hits of 32 at
146 GPa, on the main job's composite model, 25 dpmpp-2m steps, density 2.90 g/cm3); with k = 4,
8 and 20 it gave 1, 25 and 5 (Euclidean steps, scale 2).

**Smooth steps.** The Euclidean minimum-norm step changes single pixels where the simulator is
most sensitive, which thresholding turns into specks (2.4 % of pixels in islands of at most 2 px,
the data 0.2 %). Images are therefore stepped in the metric of a periodic Gaussian smoother of
:data:`SMOOTHING_PX` (the step G^2 J^T (J G^2 J^T)^-1 r meets the same linearised targets): it
moves interfaces. On the same model, for density 2.90 g/cm3 with modulus_x >= 155 GPa (beyond the
data), 32 samples: Euclidean steps at scale 3 gave 17 hits and 2.4 % specks; smooth steps (1 px)
31 hits at scale 2 and 1.0 % specks (the unguided model alone makes 0.9 to 1.3 %); 2 px
smoothed too much (9 hits). Each call's step is partly undone by the later part of the sampler,
so the default scale over-relaxes: 2 gave 29, 30, 26 and 31 hits of 32 at modulus_x 136 ± 3 %,
146 ± 3 %, 160 ± 3 % and >= 155 GPa (unguided: 6, 0, 0, 0); 1.5 gave 32, 30 and 31, and 2.5
23, 22 (docs/training.md).

**Spectra** (``xrd-phases``, ``raman-bands``, ``eels-thickness``): the analysis itself in torch,
with what it decides (windows, the band's channel, the fit's active set) held at its value, so
it gives the analysis's own value. They are stepped in the metric of a 1-D Gaussian smoother of
:data:`SPECTRUM_SMOOTHING_CHANNELS`: a Euclidean step reshapes single channels, on which the
Raman band vertex (a parabola through 1/y) diverges within a few steps; smoothed, a 200 K
request is met in 3-4 steps. On the runs of ``benchmarks/conditional_spectra.py`` (scale 2):
XRD MAE 3.46 -> 0.30 wt%, Raman median |dT| 269 -> 3.5 K, EELS t/lambda 43 -> 2.3 % (docs/spectra.md).

**A VAE** has no denoiser to steer: its prior draw z is moved instead, by :data:`LATENT_STEPS`
Gauss-Newton steps in latent space through the decoder, each ``physics_scale / LATENT_STEPS`` of a
full step (:func:`physics_guided_latents`), so the same scale means about the same pull.

Each target is an :class:`Interval` of per-sample arrays (n,): sample i is steered towards its own
request, so a range spread over the samples (``--target-modulus-x 130..150``) gives each sample
its own goal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import torch

from matgen.errors import MatgenError
from matgen.generative import constraint_guidance
from matgen.generative.samplers import Denoiser
from matgen.runs import DataSpec, soft_signals

#: k of the smooth threshold phi = sigmoid(k x0) through which a label map's properties are differentiated.
LABEL_SHARPNESS = 8.0
#: Standard deviation (px) of the periodic Gaussian smoother in whose metric image samples are stepped.
SMOOTHING_PX = 1.0
#: Standard deviation (channels) of the Gaussian smoother in whose metric spectra are stepped (module docstring).
SPECTRUM_SMOOTHING_CHANNELS = 2.0
#: Gauss-Newton steps a VAE's latent takes towards the targets.
LATENT_STEPS = 10
#: The tolerance a target given as a bare number is steered with, relative to its value: it weighs
#: the targets against each other where they conflict (a consistent set is met exactly).
DEFAULT_RELATIVE_SCALE = 0.01


@dataclass(frozen=True)
class Interval:
    """Per-sample admissible values of one simulator output (each (n,), in the output's unit)."""

    low: np.ndarray  # lowest admissible value (-inf: no lower bound)
    high: np.ndarray  # highest admissible value (inf: no upper bound)
    scale: np.ndarray  # the tolerance residuals are measured in (> 0)

    @classmethod
    def around(cls, values, relative_scale: float = DEFAULT_RELATIVE_SCALE) -> "Interval":
        """Exactly ``values`` (n,), with a tolerance of ``relative_scale`` × |value|."""
        v = np.asarray(values, dtype=np.float64)
        return cls(v, v, np.maximum(relative_scale * np.abs(v), 1e-12))

    @classmethod
    def of(cls, low, high, scale, n: int) -> "Interval":
        """``low``, ``high``, ``scale`` (numbers or (n,) arrays) broadcast to n samples."""
        parts = [np.broadcast_to(np.asarray(v, dtype=np.float64), (n,)).copy() for v in (low, high, scale)]
        if not (parts[2] > 0).all() or (parts[0] > parts[1]).any():
            raise MatgenError("a physics target needs low <= high and a positive scale")
        return cls(*parts)

    def take(self, rows) -> "Interval":
        return Interval(self.low[rows], self.high[rows], self.scale[rows])


def interval_residuals(values: torch.Tensor, low: torch.Tensor, high: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """(B,) residuals of ``values`` (B,) outside [low, high], in units of ``scale``; 0 inside."""
    return (torch.clamp(values - high, min=0.0) - torch.clamp(low - values, min=0.0)) / scale


def physics_simulator(spec, kind: str, label_phases: int | None = None):
    """The simulator named (or given) by ``spec``, checked to have a differentiable form for data of ``kind``
    (``label_phases``: the number of phases of label maps, None for other signals).

    Raises:
        MatgenError: an unknown simulator, one without a differentiable form (the message names
            those that have one), or one for another kind of data.
    """
    from matgen.simulators import get_simulator, simulator_names

    simulator = get_simulator(spec)
    if getattr(simulator, "differentiable", None) is None:
        able = [n for n in simulator_names() if getattr(get_simulator(n), "differentiable", None) is not None]
        raise MatgenError(f"simulator '{simulator.name}' has no differentiable form, so it cannot guide sampling; "
                          f"use one that has: {', '.join(able) or 'none'}")
    kinds = tuple(getattr(simulator, "kinds", ()) or ())
    if kinds and kind not in kinds:
        raise MatgenError(f"physics guidance by '{simulator.name}' takes {' or '.join(kinds)} data, but this data "
                          f"is {kind}")
    if label_phases is not None and label_phases != 2:
        raise MatgenError(f"physics guidance needs two-phase label maps (a soft phase field); this data has "
                          f"{label_phases} phases")
    return simulator


def soft_field(x0: torch.Tensor, data: DataSpec) -> torch.Tensor:
    """The soft signals (B, ...) of denoised estimates x0 (B, C, *S): sigmoid(k x0) for two-phase label maps
    (module docstring), else :func:`matgen.runs.soft_signals`."""
    if data.norm == "labels":
        phi = torch.sigmoid(LABEL_SHARPNESS * x0)
        return phi if data.stored_channels else phi[:, 0]
    return soft_signals(x0, data)


def target_residuals(simulator, data: DataSpec, intervals: Mapping[str, Interval], rows, requests=None):
    """r(x0) -> (B, K): each target's residual (tolerance units) for the samples ``rows`` of the batch, x0 in network units.

    ``requests``: the requested rows of the whole call (a Dataset: axis, conditions), of which the
    simulator's differentiable form is given the batch's (a band's expected position needs its mineral)."""
    names = list(intervals)
    batch = {name: intervals[name].take(rows) for name in names}
    batch_requests = requests.take(np.asarray(rows)) if requests is not None else None

    def residuals(x0: torch.Tensor) -> torch.Tensor:
        outputs = simulator.differentiable(soft_field(x0, data), batch_requests)
        columns = []
        for name in names:
            b = batch[name]
            low, high, sc = (torch.as_tensor(v, dtype=x0.dtype, device=x0.device) for v in (b.low, b.high, b.scale))
            value = outputs[name].to(x0.dtype)
            measured = torch.isfinite(value)  # a row the form cannot measure (no band yet) is not steered
            columns.append(torch.where(measured, interval_residuals(torch.where(measured, value, 0.0), low, high, sc),
                                       torch.zeros_like(value)))
        return torch.stack(columns, 1)  # (B, K)

    return residuals


def physics_guided_latents(decode, z: torch.Tensor, simulator, data: DataSpec, intervals: Mapping[str, Interval],
                           rows, scale: float, requests=None) -> torch.Tensor:
    """Latents z (B, Z) moved towards ``intervals`` by LATENT_STEPS Gauss-Newton steps through ``decode`` (z -> x0)."""
    from matgen.generative.guidance import gauss_newton_step

    if scale == 0 or not intervals:
        return z
    residuals = target_residuals(simulator, data, intervals, rows, requests)
    for _ in range(LATENT_STEPS):
        z = z - (scale / LATENT_STEPS) * gauss_newton_step(lambda latent: residuals(decode(latent)), z)
    return z


def physics_guided(denoiser: Denoiser, simulator, data: DataSpec, intervals: Mapping[str, Interval],
                   rows, scale: float, decode=None, requests=None) -> Denoiser:
    """``denoiser`` steered towards ``intervals`` (output name -> Interval) for the samples ``rows`` of the batch.

    ``decode`` (latent -> signals in network units) for a denoiser of latents: the residuals are those of the decoded
    estimate, and the step is taken in the latent (unsmoothed). ``requests``: see :func:`target_residuals`."""
    if scale == 0 or not intervals:
        return denoiser
    residuals = target_residuals(simulator, data, intervals, rows, requests)
    if decode is not None:
        return constraint_guidance(denoiser, lambda z0: residuals(decode(z0)), scale)
    micrograph = data.kind == "micrograph"
    smoother = gaussian_smoother(SMOOTHING_PX if micrograph else SPECTRUM_SMOOTHING_CHANNELS, dims=2 if micrograph else 1)
    return constraint_guidance(denoiser, residuals, scale, smoother=smoother)


def gaussian_smoother(sigma_px: float, dims: int = 2):
    """G: a periodic Gaussian blur of standard deviation ``sigma_px`` over the last ``dims`` (2 or 1) dimensions (a
    symmetric map)."""

    def smooth(field: torch.Tensor) -> torch.Tensor:
        if dims == 1:
            L = field.shape[-1]
            k = torch.fft.rfftfreq(L, dtype=torch.float64, device=field.device)
            gain = torch.exp(-2 * math.pi**2 * sigma_px**2 * k**2)
            return torch.fft.irfft(torch.fft.rfft(field.double()) * gain, n=L).to(field.dtype)
        H, W = field.shape[-2:]
        ky = torch.fft.fftfreq(H, dtype=torch.float64, device=field.device)[:, None]
        kx = torch.fft.rfftfreq(W, dtype=torch.float64, device=field.device)[None, :]
        gain = torch.exp(-2 * math.pi**2 * sigma_px**2 * (ky**2 + kx**2))  # the Gaussian's Fourier transform
        return torch.fft.irfft2(torch.fft.rfft2(field.double()) * gain, s=(H, W)).to(field.dtype)

    return smooth


def check_scale(scale: float) -> float:
    """``scale`` as a float, or a MatgenError unless it is a finite number >= 0."""
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale >= 0):
        raise MatgenError(f"the physics scale must be a number >= 0 (0: unguided; 1: one Gauss-Newton step at "
                          f"each denoiser call), got {scale}")
    return float(scale)
