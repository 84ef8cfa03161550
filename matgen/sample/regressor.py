"""Regressor guidance at sampling time: a regressor run steers a diffusion run's samples towards property targets.

A regressor run (``matgen train --model regressor``) predicts standardised continuous conditions
z = (y - mean) / std from the noisy x_t of the diffusion schedule. Sampling wraps the diffusion
run's denoiser D with :func:`matgen.generative.regressor_guidance`:

    D_s(x, sigma, c) = D(x, sigma, c) + s sigma^2 grad_x log p(z* | x),
    log p(z* | x) = -|r(x / sqrt(1 + sigma^2), t(sigma)) - z*|^2 / 2,

with z* the targets standardised by the regressor's training statistics, so the likelihood width
is one training standard deviation of each property and the scale s sets how hard it pulls (0:
the unguided denoiser, exactly). Targets left out (NaN) are not steered. The regressor reads the
diffusion run's x_t, so both runs must share the data's kind, shape and normalisation and the
noise schedule; :func:`check_regressor_fits` refuses a pair that does not.
"""

from __future__ import annotations

import math
import os

import numpy as np
import torch

from matgen.errors import MatgenError
from matgen.generative import regressor_guidance
from matgen.generative.samplers import Denoiser
from matgen.runs import Run, load_run

TRAIN_HINT = "train one with `matgen train DATA.h5 --model regressor --condition NAME -o REG_RUN`"


def load_regressor(regressor: Run | str | os.PathLike, run: Run) -> Run:
    """Return the regressor run, on the device of ``run``'s model, after :func:`check_regressor_fits`.

    Raises:
        MatgenError: a missing or damaged run, a run that is not a regressor, or one that does not fit ``run``.
    """
    if not isinstance(regressor, Run):
        regressor = load_run(regressor)
    check_regressor_fits(regressor, run)
    regressor.model.to(next(run.model.parameters()).device).eval()
    return regressor


def check_regressor_fits(regressor: Run, run: Run) -> None:
    """Raise a one-line MatgenError unless ``regressor`` is a regressor run that reads ``run``'s x_t.

    Checked: the data kind, network shape, channels, normalisation (and phases of label maps),
    the spectra's length, and the noise schedule and its timesteps.
    """
    if regressor.kind != "regressor":
        raise MatgenError(f"{regressor.path} is a {regressor.kind} run, not a regressor; {TRAIN_HINT}")
    if not getattr(run.model, "denoises_signals", False):
        raise MatgenError(f"regressor guidance steers a sampler of signals (diffusion, flow, consistency); {run.path} "
                          f"is a {run.kind} run")
    a, b = regressor.data, run.data
    pairs = {"data kind": (a.kind, b.kind), "data shape": ("x".join(map(str, a.shape)), "x".join(map(str, b.shape))),
             "channels": (a.channels, b.channels), "normalisation": (a.norm, b.norm), "length": (a.length, b.length)}
    if run.kind == "diffusion":  # the other kinds' denoisers work at any sigma
        pairs.update(schedule=(regressor.model_config.schedule, run.model_config.schedule),
                     timesteps=(regressor.model_config.timesteps, run.model_config.timesteps))
    if a.norm == b.norm == "labels":
        pairs["phases"] = (a.n_phases, b.n_phases)
    differ = [f"{name} {mine} vs {theirs}" for name, (mine, theirs) in pairs.items() if mine != theirs]
    if differ:
        raise MatgenError(f"regressor {regressor.path} does not fit {run.path} ({'; '.join(differ)}, regressor vs "
                          "diffusion run); train the regressor on data like the diffusion run's, with the same schedule "
                          "and timesteps")


def check_scale(scale: float) -> float:
    """Return ``scale`` as a float, or raise a MatgenError unless it is a finite number >= 0."""
    if not (math.isfinite(scale) and scale >= 0):
        raise MatgenError(f"the regressor scale must be a number >= 0 (0: no steering), got {scale}")
    return float(scale)


def steered(denoiser: Denoiser, regressor: Run, values: np.ndarray, scale: float) -> Denoiser:
    """Return ``denoiser`` steered towards the targets ``values`` (B, P) in the regressor's units (NaN: not steered)."""
    model = regressor.model
    z = model.standardise(torch.as_tensor(values, device=model.mean.device))  # (B, P)
    return regressor_guidance(denoiser, model.predictor(), z, scale)
