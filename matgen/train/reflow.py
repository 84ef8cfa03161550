"""Reflow (Liu et al. 2023, sec. 2.2, Algorithm 1): straighten a flow run's paths by training on its own pairs.

    >>> from matgen.train.reflow import reflow
    >>> result = reflow("runs/flow", "runs/flow-2", steps=2000)     # then: matgen sample runs/flow-2 --sampler euler --steps 2

1. **Pairs.** For every row of the flow run's training data (``copies`` times), noise eps_i from seed
   ``seed + i`` is carried by the run's ODE sampler (``sampler``, ``sample_steps``, no guidance) to
   x0_i under that row's conditions. The pairs are written as a dataset, ``RUN/reflow-pairs.h5``:
   the samples in the data's form, the row's conditions, and ``noise_seed`` = seed + i, from which
   the noise is drawn again (:meth:`matgen.runs.kinds.flow.FlowModel.training_inputs`).
2. **Training.** The flow run is fine-tuned (:func:`matgen.train.finetuning.finetune`) on the
   pairs with x_t = (1 - t) x0_i + t eps_i: the new coupling's paths do not cross, so the new
   flow's are straighter and few Euler steps suffice (measured by
   :func:`matgen.generative.flow.straightness`).

Label maps are thresholded in the pairs file, so their pairs end at the nearest label map of the
ODE's endpoint rather than at the endpoint itself (the coupling is still deterministic).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from matgen.common.distributed import barrier, join
from matgen.common.progress import Progress, no_progress
from matgen.common.seeding import seeded_generators
from matgen.data import read, write
from matgen.data.dataset import Condition
from matgen.errors import MatgenError
from matgen.runs import RunFiles, condition_matrix, from_network, load_run, read_config
from matgen.runs.kinds.flow import NOISE_SEED
from matgen.train.finetuning import finetune
from matgen.train.loop import RunResult

PAIRS = "reflow-pairs.h5"


def reflow(flow_run: str | Path, run_dir: str | Path, steps: int = 2000, copies: int = 4, sampler: str = "heun",
           sample_steps: int = 32, seed: int = 0, batch_size: int = 64, lr: float | None = None,
           device: str | None = None, progress: Progress = no_progress, force: bool = False) -> RunResult:
    """Make (noise, sample) pairs with the flow run ``flow_run`` and fine-tune it on them into ``run_dir``.

    Args:
        steps: optimizer steps of the reflow training.
        copies: pairs per training row (each with its own noise).
        sampler, sample_steps: the ODE solver making the pairs (a flow sampler) and its steps.
        seed: pair i uses noise seed + i.
        lr, device: as :func:`matgen.train.finetune`.

    Raises:
        MatgenError: not a flow run, its training data missing, a bad option, or ``run_dir`` holding a run.
    """
    run = load_run(flow_run)
    if run.kind != "flow":
        raise MatgenError(f"{flow_run} is a {run.kind} run; reflow straightens a flow run (matgen train --model flow)")
    if not (isinstance(copies, int) and copies >= 1):
        raise MatgenError(f"copies must be a whole number >= 1, got {copies}")
    run_dir = Path(run_dir)
    if run_dir.resolve() == Path(flow_run).resolve():
        raise MatgenError(f"{run_dir} is the flow run itself; reflow into a new directory")
    if RunFiles(run_dir).holds_run() and not force:
        raise MatgenError(f"{run_dir} already holds a run; pass --force to replace it")
    data_path = Path(run.data.path)
    if not data_path.is_file():
        raise MatgenError(f"{data_path}: the flow run's training data is missing; reflow needs its conditions")
    ds = read(data_path)
    rows = np.tile(np.arange(len(ds)), copies)
    pairs = ds.take(rows)
    x0 = endpoints(run, condition_matrix(pairs, run.conditions), seed, sampler, sample_steps, batch_size, progress)
    seeds = np.arange(seed, seed + len(rows))
    conditions = {**pairs.conditions, NOISE_SEED: Condition(seeds.astype(np.float64), "", "meta",
                                                            description="seed of the noise this sample was drawn from")}
    pairs = replace(pairs, signals=from_network(x0, run.data).astype(ds.signals.dtype, copy=False),
                    conditions=conditions, ids=np.asarray([f"reflow-{s}" for s in seeds]),
                    sources=np.asarray([f"matgen reflow {flow_run} noise seed {s}" for s in seeds]),
                    synthetic=np.ones(len(rows), bool), attrs={**ds.attrs, "reflow_of": str(Path(flow_run).resolve())})
    path, world = run_dir / PAIRS, join(device or read_config(flow_run).train.get("device", "auto"))
    if world.is_main:  # under torchrun every process makes the same pairs; rank 0 writes them
        run_dir.mkdir(parents=True, exist_ok=True)
        write(path, pairs.check())
    barrier(world)
    return finetune(flow_run, path, run_dir, steps, lr=lr, seed=seed, device=device, progress=progress, force=True,
                    model_options={"reflow": True})


def endpoints(run, values: np.ndarray, seed: int, sampler: str, steps: int, batch_size: int,
              progress: Progress = no_progress) -> np.ndarray:
    """The ODE endpoints x0 (N, C, *S) in network units of noise seeds seed .. seed + N - 1 under conditions (N, K)."""
    model = run.model.eval()
    sampler = model.check_sampler(sampler)
    solve, sigmas, denoiser = model.sampler_function(sampler), model.sampling_grid(sampler, steps), model.denoiser(0.0)
    p = next(model.parameters())
    shape, out = (run.data.channels, *run.data.shape), []  # (C, *S)
    with torch.no_grad():
        for start in range(0, len(values), batch_size):
            idx = range(start, min(len(values), start + batch_size))
            gens = seeded_generators([seed + i for i in idx])
            x = model.start_noise(gens, shape, sigmas[0].item())
            cond = torch.as_tensor(values[list(idx)], dtype=p.dtype, device=p.device) if run.conditions else None
            out.append(solve(denoiser, x, sigmas, cond).float().cpu().numpy())
            progress(idx[-1] + 1, len(values), "reflow pairs")
    return np.concatenate(out)
