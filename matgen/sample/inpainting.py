"""Fill masked ranges of spectra with a trained model, conditioned on the rest: RePaint on the run's denoiser.

    >>> from matgen.sample import inpaint
    >>> result = inpaint("runs/raman", data, masks=[(450, 480)], seed=0)   # cm-1 on the data's axis
    >>> result.dataset.signals                # observed points exactly as given, the masked ones filled

Per row, the points to fill are those inside any of ``masks`` (``(low, high)`` in the axis unit)
plus those that are NaN in the signals. Each spectrum is normalised as the run's training data
(:func:`matgen.runs.to_network`) by its observed maximum, filled by
:func:`matgen.generative.inpaint.repaint` with the run's (guided) VE denoiser on the sigma grid of
its default sampler, and scaled back; observed points are then copied back bit for bit. So a band
hidden by the mask comes back with a height relative to the observed maximum: a masked band taller
than everything observed is rarely restored to full height (the model learnt spectra whose
maximum is 1). The model's conditions come from ``targets`` where given, else from the file's
columns of the same names, else are left unconditioned (NaN). Row i uses seed + i.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from typing import Mapping, Sequence

import numpy as np
import torch

from matgen.common.progress import Progress, no_progress
from matgen.common.seeding import seeded_generators
from matgen.data.dataset import Axis, Condition, Dataset, validate
from matgen.errors import MatgenError
from matgen.generative.inpaint import repaint
from matgen.runs import Run, condition_matrix, from_network, to_network
from matgen.runs.normalisation import check_fits
from matgen.sample.options import DEFAULTS, INPAINT_JUMP, INPAINT_RESAMPLE
from matgen.sample.targets import TargetValue, resolve_targets

INPAINT_KINDS = ("diffusion", "flow", "consistency")


def unknown_points(data: Dataset, masks: Sequence[tuple[float, float]]) -> np.ndarray:
    """(N, L) bool: True where a point is to be filled (inside a mask range, in axis units, or NaN).

    Raises:
        MatgenError: a range that is empty or lies outside the axis.
    """
    x = np.asarray(data.axis.values, dtype=np.float64)
    lo_axis, hi_axis = float(x.min()), float(x.max())
    unit = data.axis.unit or ""
    inside = np.zeros(len(x), dtype=bool)
    for low, high in masks:
        if not low < high:
            raise MatgenError(f"mask {low:g}..{high:g} {unit} is empty; give LOW..HIGH with LOW < HIGH")
        if high < lo_axis or low > hi_axis:
            raise MatgenError(f"mask {low:g}..{high:g} {unit} lies outside the axis {lo_axis:g}..{hi_axis:g} {unit}; "
                              "give a range on it")
        inside |= (x >= low) & (x <= high)
    return ~np.isfinite(np.asarray(data.signals, dtype=np.float64)) | inside[None, :]


def check_inpaintable(run: Run, data: Dataset, unknown: np.ndarray, where: str = "the data") -> None:
    """Raise a one-line MatgenError unless the run can fill ``unknown`` (N, L) in ``data``."""
    if run.kind not in INPAINT_KINDS:
        raise MatgenError(f"{run.path} is a {run.kind} run; inpainting needs a denoiser on the signals: a "
                          f"{', '.join(INPAINT_KINDS)} run (matgen train --model diffusion)")
    if not data.is_spectrum or run.data.axis is None:
        raise MatgenError(f"inpainting fills ranges of spectra; {where} holds {data.kind} and the run makes "
                          f"{run.data.kind}")
    if len(data) == 0:
        raise MatgenError(f"{where} is empty; nothing to inpaint")
    problems = [p for p in validate(data) if "NaN or inf" not in p]  # NaN marks points to fill
    if problems:
        raise MatgenError(f"{where}: {problems[0]}")
    axis = run.data.axis
    run_axis = Axis(axis["name"], axis["unit"], np.asarray(axis["values"]), axis.get("wavelength_angstrom"))
    if not data.axis.matches(run_axis):
        raise MatgenError(f"{where}: the spectral axis ({data.axis.describe()}) differs from the run's "
                          f"({run_axis.describe()}); {run_axis.reimport_hint()}")
    check_fits(replace(data, signals=np.nan_to_num(data.signals)), run.data, where)
    if not unknown.any():
        raise MatgenError("no point is masked; give --mask LOW..HIGH in the axis unit or NaN values in the signals")
    full = np.flatnonzero(unknown.all(1))
    if len(full):
        raise MatgenError(f"row '{data.ids[full[0]]}' is masked everywhere ({len(full)} such row(s)); inpainting "
                          "needs observed points to condition on")


def inpaint(
    run: Run | str | os.PathLike,
    data: Dataset,
    masks: Sequence[tuple[float, float]] = (),
    targets: Mapping[str, TargetValue] | None = None,
    steps: int = DEFAULTS.steps,
    jump: int = INPAINT_JUMP,
    resample: int = INPAINT_RESAMPLE,
    guidance: float = DEFAULTS.guidance,
    seed: int = DEFAULTS.seed,
    batch_size: int = DEFAULTS.batch_size,
    device: str | None = None,
    progress: Progress = no_progress,
):
    """Return a :class:`~matgen.sample.generate.SampleResult`: ``data`` with its masked points filled.

    Args:
        run: a diffusion, flow or consistency run (or its directory) trained on spectra on this axis.
        data: the spectra; NaN points are filled too.
        masks: (low, high) ranges in the axis unit (e.g. cm-1), filled in every row.
        targets: condition name -> value (as :func:`matgen.sample.sample`); overrides the file's column.
        steps: sigma grid steps; jump, resample: RePaint's j and r (about resample x steps network calls).
        guidance: classifier-free guidance weight w.
        seed: row i uses seed + i.

    Raises:
        MatgenError: a run of another kind or axis, a mask off the axis, no masked point, a row masked everywhere.
    """
    from matgen.sample.generate import SampleResult, _run

    run = _run(run, device)
    unknown = unknown_points(data, masks)
    check_inpaintable(run, data, unknown)
    n = len(data)
    values = condition_matrix(data, run.conditions, missing_ok=True).astype(np.float64)  # (N, K)
    given, warnings = resolve_targets(run.conditions, targets, n)
    values = np.where(np.isnan(given), values, given)
    observed = np.where(unknown, 0.0, np.asarray(data.signals, dtype=np.float64))  # (N, L)
    scale = np.abs(observed).max(1, keepdims=True)
    scale = np.where(scale > 0, scale, 1.0)
    y = to_network(observed, run.data)  # (N, 1, L')
    length = run.data.length
    known = np.pad(~unknown, ((0, 0), (0, y.shape[-1] - length)), mode="edge")[:, None]  # (N, 1, L')
    model = run.model.eval()
    p = next(model.parameters())
    sampler = model.check_sampler(DEFAULTS.sampler)
    sigmas = model.sampling_grid(sampler, steps)
    denoiser = model.denoiser(guidance)
    out, batches = [], list(range(0, n, batch_size))
    with torch.no_grad():
        for b, start in enumerate(batches):
            idx = np.arange(start, min(n, start + batch_size))
            gens = seeded_generators([seed + int(i) for i in idx])
            x = model.start_noise(gens, y.shape[1:], sigmas[0].item())
            cond = torch.as_tensor(values[idx], dtype=p.dtype, device=p.device) if run.conditions else None

            def callback(k: int, total: int, b=b) -> None:
                progress(b * total + k + 1, len(batches) * total, f"rows {idx[0]}..{idx[-1]}, step {k + 1}/{total}")

            x = repaint(denoiser, x, sigmas, torch.as_tensor(known[idx], device=p.device),
                        torch.as_tensor(y[idx], dtype=p.dtype, device=p.device), cond, jump=jump, resample=resample,
                        generator=gens, callback=callback)
            out.append(model.finish(x, cond).float().cpu().numpy())
    filled = from_network(np.concatenate(out), run.data) * scale  # (N, L) in the data's unit
    signals = np.where(unknown, filled, data.signals).astype(data.signals.dtype)
    attrs = {**data.attrs, "inpaint_run": str(run.path), "inpaint_checkpoint_sha256": run.weights_sha256,
             "inpaint_masks": json.dumps([[float(lo), float(hi)] for lo, hi in masks]), "inpaint_nan_masked": True,
             "inpaint_seed": seed, "inpaint_steps": steps, "inpaint_jump": jump, "inpaint_resample": resample,
             "inpaint_guidance": float(guidance), "inpaint_sampler": f"repaint ({sampler} grid)",
             "inpaint_targets": json.dumps({k: str(v) for k, v in (targets or {}).items()})}
    synthetic = np.asarray(data.synthetic if data.synthetic is not None else np.zeros(n, bool)) | unknown.any(1)
    conditions = {**data.conditions, "inpainted_points": Condition(
        unknown.sum(1).astype(np.float64), "", "meta", description="points of the row filled by inpainting")}
    return SampleResult(replace(data, signals=signals, conditions=conditions, synthetic=synthetic, attrs=attrs).check(),
                        warnings)
