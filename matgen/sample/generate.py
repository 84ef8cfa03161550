"""Generate candidates from a trained run: diffusion sampling, VAE prior sampling, VAE latent interpolation.

Sample i of a call with ``seed`` draws every random number (its starting noise, and the noise of
a stochastic sampler; a VAE's latent) from its own generator seeded ``seed + i``, so any sample
can be regenerated alone (``n=1, seed=seed + i``) whatever the batch size, and under torchrun the
processes share the batches and gather them in order (docs/scaling.md). The diffusion path is

    sigmas = model.sampling_grid(sampler, steps, spacing)        # decreasing, ends in 0
    x = model.start_scale(sigmas[0]) n,  n ~ N(0, I)             # the VE image of the prior
    x0 = model.finish(sampler(D_w, x, sigmas, cond), cond)       # D_w: classifier-free guided denoiser

and the output is turned back into the training data's form (label maps thresholded, spectra
cropped and de-normalised) by :func:`matgen.runs.from_network`. With a regressor run,
D_w is further steered towards the regressor's targets (:mod:`matgen.sample.regressor`).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np
import torch

from matgen.common.distributed import gather_in_order, join, shard_range
from matgen.common.files import jsonable
from matgen.common.progress import Progress, no_progress
from matgen.common.seeding import seeded_generators
from matgen.data.dataset import Axis, Condition, Dataset
from matgen.errors import MatgenError
from matgen.generative.vae import INTERPOLATIONS, interpolate_latents
from matgen.nets.embeddings import ConditionSpec
from matgen.runs import Run, condition_matrix, from_network, load_run, to_network
from matgen.runs.kinds.diffusion import DiffusionModel
from matgen.sample import regressor as steering
from matgen.sample.options import DEFAULTS
from matgen.sample.physics import Interval, physics_guided, physics_guided_latents, physics_simulator
from matgen.sample.physics import check_scale as check_physics_scale
from matgen.sample.targets import TargetValue, resolve_targets, split_targets, target_column
from matgen.version import __version__


#: The sigma grid each diffusion sampler uses by default (every kind's own: its ``samplers``).
DEFAULT_SPACING = dict(DiffusionModel.samplers)


@dataclass
class SampleResult:
    """Generated rows and what the caller should be told about them."""

    dataset: Dataset  # the samples, in the training data's form, with targets as conditions and provenance
    warnings: list[str] = field(default_factory=list)  # extrapolated targets, ignored options
    grey: Dataset | None = None  # label-map runs: the same rows as grey maps in [0, 1] before thresholding


def _run(run: Run | str | os.PathLike, device: str | None) -> Run:
    if not isinstance(run, Run):
        run = load_run(run)
    if device is not None:
        from matgen.common.device import resolve_device

        run.model.to(resolve_device(device))
    return run


def sample(
    run: Run | str | os.PathLike,
    targets: Mapping[str, TargetValue] | None = None,
    n: int = DEFAULTS.n,
    sampler: str = DEFAULTS.sampler,
    steps: int = DEFAULTS.steps,
    guidance: float = DEFAULTS.guidance,
    seed: int = DEFAULTS.seed,
    batch_size: int = DEFAULTS.batch_size,
    device: str | None = None,
    spacing: str | None = None,
    progress: Progress = no_progress,
    regressor: Run | str | os.PathLike | None = None,
    regressor_scale: float = DEFAULTS.regressor_scale,
    physics=None,
    physics_scale: float = DEFAULTS.physics_scale,
    physics_targets: Mapping[str, Interval] | None = None,
) -> SampleResult:
    """Return n samples of a trained run for the given targets (NaN / absent = not conditioned).

    Under torchrun every process calls this alike (with the model on its own device): each draws a
    contiguous share of the batches, and every process returns all n samples, identical to one
    process's (:func:`~matgen.common.distributed.gather_in_order`); rank 0 writes them.

    Args:
        run: a loaded :class:`~matgen.runs.Run` or its directory.
        targets: condition name -> value in its unit, ``(low, high)`` or ``"low..high"`` (spread
            evenly over the samples), or a category name; see :mod:`matgen.sample.targets`.
        n: number of samples.
        sampler: one of the run kind's samplers (``auto``: its default): diffusion ddpm, ddim, dpmpp-2m or heun;
            flow euler, heun, midpoint or dpmpp-2m; consistency consistency; a VAE decodes prior draws.
        steps: sampler steps.
        guidance: classifier-free guidance weight w (0: the conditional model alone).
        seed: sample i uses seed + i.
        batch_size: samples per network call (does not change the samples).
        device: auto, cpu or cuda (default: where the run's model is).
        spacing: sigma grid (diffusion: trailing, leading, karras; flow: uniform, karras); default per sampler.
        regressor: a regressor run (or its directory) that steers the diffusion sampler towards
            the targets of its conditions; the targets of the run's own conditions still go to
            its condition encoder (and classifier-free guidance). A target may be in both.
        regressor_scale: regressor guidance scale s (0: unsteered); see :mod:`matgen.sample.regressor`.
        physics: a simulator with a differentiable form (a name such as ``elastic``, or the object)
            that steers the sampler towards the targets of its outputs (:mod:`matgen.sample.physics`);
            a target may be an output only (then it is not a condition of the model) or both.
        physics_scale: multiple of the Gauss-Newton step towards the targets at each denoiser call
            (0: unguided, exactly; 1: the linearised targets met at each call; the default
            over-relaxes, see :mod:`matgen.sample.physics`).
        physics_targets: output name -> :class:`~matgen.sample.physics.Interval` (per-sample low,
            high, tolerance) instead of the targets' values (a campaign's ranges and bounds).

    Raises:
        MatgenError: unknown target names or categories (listing the valid ones), a bad sampler
            or step count, a regressor run that does not fit the run, a regressor for a VAE run,
            or a simulator without a differentiable form.
    """
    run = _run(run, device)
    if run.kind == "regressor":
        raise MatgenError(f"{run.path} is a regressor run: it steers sampling rather than generating; sample from a "
                          "diffusion run and pass this one as --regressor")
    if n < 1 or batch_size < 1:
        raise MatgenError(f"n and batch size must be at least 1, got n={n}, batch size={batch_size}")
    if not (isinstance(guidance, (int, float)) and math.isfinite(guidance) and guidance >= 0):
        raise MatgenError(f"the classifier-free guidance weight must be a number >= 0 (0: the conditional model "
                          f"alone; 1-3 sharpens the conditioning), got {guidance}")
    reg = None
    if regressor is not None:
        regressor_scale = steering.check_scale(regressor_scale)
        reg = steering.load_regressor(regressor, run)
    phys, intervals, physical, requests = None, {}, {}, None
    if physics is not None:
        physics_scale = check_physics_scale(physics_scale)
        phys = physics_simulator(physics, run.data.kind, run.data.n_phases if run.data.norm == "labels" else None)
        requests = _requests(run, targets, n, seed)
        phys = phys.bind(requests)  # e.g. raman-bands: the state outputs of the requested minerals
        targets, intervals, physical = _physics_targets(run, reg, phys, targets, physics_targets, n, requests)
    values, steer_values, warnings = _resolve(run, reg, targets, n)
    model = run.model.eval()
    p = next(model.parameters())
    is_vae = run.kind == "vae"
    if is_vae:
        if guidance:
            warnings.append("--guidance is for diffusion models; the VAE decodes prior samples without it")
        sampler_name, steps, spacing, guidance = "prior", 0, "", 0.0
    else:
        sampler_name = model.check_sampler(sampler)
        sampler_fn = model.sampler_function(sampler_name)
        sigmas = model.sampling_grid(sampler_name, steps, spacing)
        spacing = spacing or model.samplers[sampler_name]
        denoiser = model.denoiser(guidance)
    batches = list(range(0, n, batch_size))
    world = join(p.device.type)  # under torchrun: each process draws a contiguous share of the batches
    mine = [batches[b] for b in shard_range(len(batches), world.rank, world.size)]
    out = []
    with torch.no_grad():
        for b, start in enumerate(mine):
            idx = list(range(start, min(n, start + batch_size)))
            seeds = [seed + i for i in idx]
            cond = torch.as_tensor(values[idx], dtype=p.dtype, device=p.device) if run.conditions else None
            if is_vae and phys is not None:
                z = physics_guided_latents(lambda latent: model.decode(latent, cond), model.prior_latents(seeds),
                                           phys, run.data, intervals, idx, physics_scale, requests)
                x = model.decode(z, cond)
                progress(b + 1, len(mine), f"samples {idx[0]}..{idx[-1]}")
            elif is_vae:
                x = model.sample_prior(cond, seeds)
                progress(b + 1, len(mine), f"samples {idx[0]}..{idx[-1]}")
            else:
                gens = seeded_generators(seeds)  # CPU generators: the same noise on every device
                x = model.start_noise(gens, (run.data.channels, *run.data.shape), sigmas[0].item())

                def callback(i: int, total: int, b=b) -> None:
                    progress(b * total + i + 1, len(mine) * total, f"samples {idx[0]}..{idx[-1]}, step {i + 1}/{total}")

                guided = denoiser
                if steer_values is not None:
                    guided = steering.steered(denoiser, reg, steer_values[idx], regressor_scale)
                if phys is not None:
                    guided = physics_guided(guided, phys, run.data, intervals, idx, physics_scale,
                                            decode=None if model.denoises_signals else (lambda z: model.finish(z, cond)),
                                            requests=requests)
                x = model.finish(sampler_fn(guided, x, sigmas, cond, generator=gens, callback=callback), cond)
            out.append(x.float().cpu().numpy())
    x = np.concatenate(gather_in_order(out, world))  # (n, C, *S): every process's batches in order
    provenance = {"sampler": sampler_name, "steps": steps, "guidance": float(guidance), "spacing": spacing,
                  "targets": json.dumps({k: _jsonable(v) for k, v in (targets or {}).items()}, default=str)}
    specs, roles = list(run.conditions), dict(run.data.roles)
    if reg is not None:
        provenance.update(regressor_run=str(Path(reg.path).resolve()), regressor_sha256=reg.weights_sha256,
                          regressor_scale=regressor_scale)
        specs, roles, values = _with_steered(run, reg, values, steer_values)
    if phys is not None:
        provenance.update(physics=phys.name, physics_scale=physics_scale, physics_targets=json.dumps(jsonable(
            {k: [float(np.min(v.low)), float(np.max(v.high))] for k, v in intervals.items()})))  # open end: null
        specs += [ConditionSpec(name, unit=phys.output(name).unit) for name in physical]
        roles = {**roles, **{name: "property" for name in physical}}
        if physical:
            values = np.concatenate([values, np.stack(list(physical.values()), 1)], axis=1)
    ids = [f"sample-{seed + i}" for i in range(n)]
    sources = [f"matgen sample {run.path} seed {seed + i}" for i in range(n)]
    rows = dict(ids=ids, sources=sources, seed=seed, provenance=provenance, specs=specs, roles=roles)
    result = SampleResult(_dataset(run, from_network(x, run.data), values, **rows), warnings)
    if run.data.norm == "labels":
        result.grey = _dataset(run, from_network(x, run.data, grey=True), values, **rows)
    return result


def _resolve(run: Run, reg: Run | None, targets: Mapping[str, TargetValue] | None,
             n: int) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """Return the run's condition values (n, K), the regressor's targets (n, P) (None: nothing to steer), warnings."""
    if reg is None:
        values, warnings = resolve_targets(run.conditions, targets, n)
        return values, None, warnings
    own, steered = split_targets(run.conditions, reg.conditions, targets)
    values, warnings = resolve_targets(run.conditions, own, n)
    steer_values, more = resolve_targets(reg.conditions, steered, n)
    warnings += [w for w in more if w not in warnings]  # a target of both is checked against both ranges
    if np.isnan(steer_values).all():
        names = ", ".join(s.name for s in reg.conditions)
        warnings.append(f"no target given for the regressor's {names}: sampled without regressor guidance")
        steer_values = None
    return values, steer_values, warnings


def _with_steered(run: Run, reg: Run, values: np.ndarray,
                  steer_values: np.ndarray | None) -> tuple[list, dict, np.ndarray]:
    """Return (specs, roles, values (n, K + P')) of the rows: the run's conditions, then the regressor's others."""
    own = {s.name for s in run.conditions}
    extra = [k for k, s in enumerate(reg.conditions) if s.name not in own]
    specs = list(run.conditions) + [reg.conditions[k] for k in extra]
    roles = {**run.data.roles, **{reg.conditions[k].name: reg.data.roles.get(reg.conditions[k].name, "property")
                                  for k in extra}}
    steer_values = np.full((len(values), len(reg.conditions)), np.nan) if steer_values is None else steer_values
    return specs, roles, np.concatenate([values, steer_values[:, extra]], axis=1)


def _requests(run: Run, targets: Mapping[str, TargetValue] | None, n: int, seed: int) -> Dataset:
    """The n requested rows as a dataset (the run's axis, its conditions' targets; blank signals): what a
    simulator's differentiable form is told about each sample (e.g. the mineral whose band to place)."""
    own = {s.name for s in run.conditions}
    values, _ = resolve_targets(run.conditions, {k: v for k, v in (targets or {}).items()
                                                 if k.replace("-", "_") in own}, n)
    blank = from_network(np.zeros((n, run.data.channels, *run.data.shape), np.float32), run.data)
    ids = [f"request-{seed + i}" for i in range(n)]
    return _dataset(run, blank, values, ids, ids, seed, {})


def _physics_targets(run: Run, reg: Run | None, simulator, targets: Mapping[str, TargetValue] | None,
                     given: Mapping | None, n: int, requests: Dataset) -> tuple[dict, dict, dict]:
    """Split off the targets the simulator steers: (targets left for the model and regressor, output name ->
    Interval, output name -> (n,) requested values of the outputs that are no condition of either run).

    A target steers every output named so or measuring it (``raman-bands``: ``temperature`` steers
    ``band_temperature``), with the output's tolerance (``simulator.tolerances``) as its scale where
    it declares one, else 1 % of the value."""
    outputs = {o.name: o for o in simulator.outputs}
    tolerances = simulator.tolerances(requests)
    conditions = {s.name for s in run.conditions} | ({s.name for s in reg.conditions} if reg is not None else set())
    left, intervals, physical = {}, {}, {}
    for raw_name, value in (targets or {}).items():
        name = raw_name.replace("-", "_")
        steered = [o for o in outputs.values() if name in (o.name, o.target)]
        for output in steered if given is None else []:
            column = target_column(ConditionSpec(name, unit=output.unit), value, n)
            tolerance = tolerances.get(output.name)
            intervals[output.name] = (Interval.around(column) if tolerance is None
                                      else Interval(column, column, np.maximum(tolerance, 1e-12)))
            if output.name == name and name not in conditions:
                physical[name] = column
        if name in conditions or not steered:
            left[raw_name] = value  # the model's (or an unknown name: resolve_targets names the valid ones)
    for name, interval in (given or {}).items():
        if name not in outputs:
            raise MatgenError(f"'{name}' is not an output of simulator '{simulator.name}'; it returns "
                              f"{', '.join(outputs)}")
        intervals[name] = interval
    guided = simulator.guided_outputs
    if guided is not None and any(name not in guided for name in intervals):
        name = next(name for name in intervals if name not in guided)
        raise MatgenError(f"physics guidance by '{simulator.name}' steers {', '.join(guided)}, not '{name}'; drop that "
                          "target or validate it afterwards with --validate")
    steerable = [name for name in outputs if guided is None or name in guided]
    if not steerable:  # raman-bands: its state outputs exist only for samples of a named mineral
        raise MatgenError(f"physics guidance by '{simulator.name}' steers {', '.join(guided)}, which it measures only "
                          f"with {getattr(simulator, 'guidance_needs', 'other samples')}")
    if not intervals:
        targets_text = ", ".join(dict.fromkeys(outputs[name].target for name in steerable))
        raise MatgenError(f"physics guidance by '{simulator.name}' needs a target among its outputs: {targets_text}")
    return left, intervals, physical


def check_interpolation(run: Run, method: str = "slerp") -> None:
    """Raise a MatgenError unless ``run`` is a VAE and ``method`` a known path (before reading any ends)."""
    if run.kind != "vae":
        raise MatgenError(f"{run.path} is a {run.kind} model; latent interpolation needs a VAE run (matgen train --model vae)")
    if method not in INTERPOLATIONS:
        raise MatgenError(f"unknown interpolation {method!r}; choose from {', '.join(INTERPOLATIONS)}")


def interpolate(
    run: Run | str | os.PathLike,
    a: Dataset,
    b: Dataset,
    steps: int = 8,
    method: str = "slerp",
    device: str | None = None,
) -> SampleResult:
    """Return ``steps`` samples along the VAE latent path from row 0 of ``a`` to row 0 of ``b``.

    Each end is encoded with its own conditions (a condition the file lacks is not given) to its
    posterior mean; the path is spherical (slerp) or straight between them, and each point is
    decoded with the conditions interpolated linearly (a categorical one only where both ends agree).

    Raises:
        MatgenError: the run is not a VAE, or an end is not of the training data's kind and size.
    """
    run = _run(run, device)
    model = run.model.eval()
    check_interpolation(run, method)
    p = next(model.parameters())
    ends = []
    for name, end in (("a", a), ("b", b)):
        if len(end) == 0 or end.kind != run.data.kind:
            raise MatgenError(f"end {name} must hold a {run.data.kind} row like the training data (got {len(end)} "
                              f"{end.kind} row(s))")
        x = to_network(end.signals[:1], run.data)
        if tuple(x.shape[2:]) != tuple(run.data.shape):
            raise MatgenError(f"end {name} has size {tuple(x.shape[2:])}; the model was trained on {tuple(run.data.shape)}")
        ends.append((torch.as_tensor(x, device=p.device), condition_matrix(end.take([0]), run.conditions, missing_ok=True)[0]))
    (xa, ca), (xb, cb) = ends
    t = np.linspace(0.0, 1.0, steps)[:, None]  # (steps, 1)
    values = (1 - t) * ca + t * cb  # (steps, K); NaN where an end is NaN
    for k, spec in enumerate(run.conditions):
        if spec.kind == "categorical":
            values[:, k] = ca[k] if ca[k] == cb[k] else np.nan
    with torch.no_grad():
        za = model.encode(xa, _cond(ca, p))[0]
        zb = model.encode(xb, _cond(cb, p))[0]
        z = interpolate_latents(za, zb, steps, method)  # (steps, Z)
        cond = torch.as_tensor(values, dtype=p.dtype, device=p.device) if run.conditions else None
        x = model.decode(z, cond).float().cpu().numpy()
    ids = [f"interpolation-{i:03d}" for i in range(steps)]
    sources = [f"matgen interpolate {run.path} {a.ids[0]} -> {b.ids[0]} step {i}" for i in range(steps)]
    provenance = {"sampler": f"latent {method}", "steps": steps, "guidance": 0.0, "spacing": "",
                  "from_id": str(a.ids[0]), "to_id": str(b.ids[0])}
    ds = _dataset(run, from_network(x, run.data), values, ids, sources, 0, provenance)
    ds.conditions["t"] = Condition(t[:, 0], "", "meta", description="position on the latent path, 0 (a) to 1 (b)")
    return SampleResult(ds)


def _cond(row: np.ndarray, p: torch.Tensor) -> torch.Tensor | None:
    return torch.as_tensor(row[None], dtype=p.dtype, device=p.device) if len(row) else None


def _jsonable(value: TargetValue):
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _dataset(run: Run, signals: np.ndarray, values: np.ndarray, ids, sources, seed: int, provenance: dict,
             specs: list | None = None, roles: dict | None = None) -> Dataset:
    """The generated rows as a matgen dataset: the targets (NaN = not given) of ``specs`` (default the model's
    conditions) as conditions with their ``roles`` (default the training data's), and provenance."""
    data = run.data
    specs = run.conditions if specs is None else specs
    roles = data.roles if roles is None else roles
    conditions = {}
    for k, spec in enumerate(specs):
        role = roles.get(spec.name, "property")
        about = "target given to the generator (NaN / unknown = not conditioned)"
        if spec.kind == "categorical":
            codes = np.where(np.isnan(values[:, k]), -1, values[:, k]).astype(np.int32)
            conditions[spec.name] = Condition(codes, "", role, spec.categories, about)
        else:
            conditions[spec.name] = Condition(values[:, k], spec.unit, role, description=about)
    axis = None
    if data.axis is not None:
        axis = Axis(data.axis["name"], data.axis["unit"], np.asarray(data.axis["values"]), data.axis["wavelength_angstrom"])
    signal_type = "labels" if signals.dtype == np.uint8 else ("grey" if data.kind == "micrograph" else "intensity")
    attrs = {"title": f"{len(signals)} {run.kind} samples from {run.path.name}", "run_dir": str(Path(run.path).resolve()),
             "checkpoint_sha256": run.weights_sha256, "model_kind": run.kind, "seed": seed,
             "training_data": data.path, "training_data_sha256": data.sha256, "matgen_version": __version__,
             **provenance}
    if data.norm in ("max", "log-max"):
        attrs["intensity"] = "relative: each spectrum's maximum is about 1 (the model does not learn absolute counts)"
    return Dataset(kind=data.kind, signals=signals, conditions=conditions, ids=ids, sources=sources,
                   synthetic=np.ones(len(signals), bool), axis=axis, pixel_size=data.pixel_size,
                   pixel_unit=data.pixel_unit, signal_type=signal_type,
                   signal_unit=data.signal_unit if data.norm == "grey" else "", attrs=attrs).check()
