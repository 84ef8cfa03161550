"""The generative methods side by side: DDPM + DPM-Solver++, flow matching, a consistency student, latent diffusion.

    python benchmarks/generative_methods.py [--tasks composite,raman] [--steps 800] [--out DIR] [--quick]

At equal network size (the ``tiny`` U-Net preset) and equal training steps, on two tasks:

* ``composite``: the main job's data (1,000 composites of 32 px; conditions density and
  modulus_x). Three targets across the data (the medians of its density terciles, each with the
  median modulus_x of that tercile), 32 samples each. Adherence: the median relative error of
  density and of modulus_x that the elastic simulator measures on the samples. Morphology: the
  two-point distance of each sample to its nearest training map relative to the data's own
  nearest-neighbour distances (1 = like the data).
* ``raman``: the 240 real RRUFF spectra (``../shared/data/raman_rruff``, 512 points, condition
  ``mineral``), 8 samples per mineral. Adherence: the share of samples that a classifier trained on
  the real spectra alone (``matgen evaluate``'s CNN) assigns to the requested mineral. Shape: the
  kernel MMD² of samples vs real spectra (``mmd2``; the real spectra's own baseline beside it).

Methods and settings (NFE = network calls per sample; guidance w = 0 everywhere):
``ddpm`` DPM-Solver++(2M) at 50, 25, 10 NFE; ``flow`` Heun at 31, 15, 7, 3 NFE (16, 8, 4, 2 steps)
and Euler at 32, 16, 8, 4; ``student`` the consistency student distilled from the flow run,
at 4, 2, 1 NFE; ``latent`` diffusion on the latents of an autoencoder (DPM-Solver++ 25). Times
are per sample on one CPU thread (the whole batch's wall time / samples), and per training step.

Writes ``generative_methods.json`` and ``generative_methods.md`` to ``--out``; one heavy job, so run
it on a quiet machine (about 40 minutes on 2 CPU cores). The figures of a run are in
``benchmarks/results/generative_methods.md``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

TINY_NET = {"net": "tiny"}
SETTINGS = {
    "ddpm": [("dpmpp-2m", 50), ("dpmpp-2m", 25), ("dpmpp-2m", 10)],
    "flow": [("heun", 16), ("heun", 8), ("heun", 4), ("heun", 2), ("euler", 32), ("euler", 16), ("euler", 8),
             ("euler", 4)],
    "student": [("consistency", 4), ("consistency", 2), ("consistency", 1)],
    "latent": [("dpmpp-2m", 25), ("dpmpp-2m", 10)],
}
RUN_OF = {"ddpm": "ddpm", "flow": "flow", "student": "student", "latent": "latent"}


def nfe(sampler: str, steps: int) -> int:
    """Network calls per sample: Heun 2 N - 1, midpoint 2 N, the others N."""
    return {"heun": 2 * steps - 1, "midpoint": 2 * steps}.get(sampler, steps)


def train_models(data: Path, out: Path, conditions: tuple, steps: int, methods: list[str], seed: int = 0,
                 lr: float = 1e-3) -> dict:
    """Train the runs the methods need into ``out``; returns {run name: (run dir, seconds per training step)}."""
    from matgen.runs import is_complete
    from matgen.train import TrainConfig, train

    base = dict(conditions=conditions, steps=steps, lr=lr, batch_size=32, warmup_steps=min(100, steps // 10),
                eval_every=max(1, steps // 4), log_every=50, seed=seed, **TINY_NET)
    plans = {"ddpm": dict(model="diffusion"), "flow": dict(model="flow"),
             "autoencoder": dict(model="autoencoder", conditions=())}  # an autoencoder is unconditional
    wanted = {"ddpm"} & set(methods) | ({"flow"} if {"flow", "student"} & set(methods) else set())
    wanted |= {"autoencoder"} if "latent" in methods else set()
    runs = {}
    for name in [n for n in ("ddpm", "flow", "autoencoder") if n in wanted]:
        runs[name] = _train_once(out / name, lambda d, n=name: train(data, TrainConfig(**{**base, **plans[n]}), d,
                                                                      force=True), steps, is_complete)
    if "latent" in methods:
        config = TrainConfig(**{**base, "model": "latent", "autoencoder": str(out / "autoencoder")})
        runs["latent"] = _train_once(out / "latent", lambda d: train(data, config, d, force=True), steps, is_complete)
    if "student" in methods:
        from matgen.train import distill

        student_steps = max(1, steps // 2)
        runs["student"] = _train_once(out / "student", lambda d: distill(out / "flow", d, nfe=4, steps=student_steps,
                                                                          force=True), student_steps, is_complete)
    return runs


def _train_once(run_dir: Path, fit, steps: int, is_complete) -> tuple[Path, float]:
    timing = run_dir / "train_seconds.json"
    if is_complete(run_dir) and timing.is_file():
        return run_dir, json.loads(timing.read_text())["per_step"]
    start = time.perf_counter()
    fit(run_dir)
    per_step = (time.perf_counter() - start) / steps
    timing.write_text(json.dumps({"per_step": per_step}))
    print(f"  trained {run_dir.name}: {per_step * 1000:.0f} ms per step")
    return run_dir, per_step


def timed_sample(run_dir: Path, targets, n: int, sampler: str, steps: int, seed: int):
    from matgen.sample import sample

    start = time.perf_counter()
    result = sample(run_dir, targets, n=n, sampler=sampler, steps=steps, seed=seed, batch_size=64)
    return result.dataset, (time.perf_counter() - start) / n


def composite_task(out: Path, steps: int, methods: list[str], quick: bool) -> list[dict]:
    from matgen.builders import build
    from matgen.data import read, write
    from matgen.evaluate.morphology import morphology
    from matgen.simulators import get_simulator

    data = write(out / "composite.h5", build("composite", n=200 if quick else 1000, size=32, seed=0))
    ds = read(data)
    density, modulus = ds.conditions["density"].values, ds.conditions["modulus_x"].values
    edges = np.quantile(density, [0, 1 / 3, 2 / 3, 1])
    targets = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        rows = (density >= lo) & (density <= hi)
        targets.append({"density": float(np.median(density[rows])), "modulus_x": float(np.median(modulus[rows]))})
    runs = train_models(data, out, ("density", "modulus_x"), steps, methods)
    elastic, training, rows = get_simulator("elastic"), ds.signals, []
    n = 8 if quick else 32
    for method in methods:
        run_dir, step_seconds = runs[RUN_OF[method]]
        for sampler, sampler_steps in SETTINGS[method]:
            errors = {"density": [], "modulus_x": []}
            samples, seconds = [], []
            for k, target in enumerate(targets):
                drawn, per_sample = timed_sample(run_dir, target, n, sampler, sampler_steps, seed=1000 * k)
                achieved = elastic(drawn).properties
                for name in errors:
                    errors[name] += list(np.abs(achieved[name] - target[name]) / target[name])
                samples.append(drawn.signals)
                seconds.append(per_sample)
            shape = morphology((np.concatenate(samples) == 1).astype(np.int64), (training == 1).astype(np.int64))
            row = {"task": "composite", "method": method, "sampler": sampler, "steps": sampler_steps,
                   "nfe": nfe(sampler, sampler_steps), "density_error": float(np.nanmedian(errors["density"])),
                   "modulus_x_error": float(np.nanmedian(errors["modulus_x"])),
                   "s2_ratio": float(shape["s2_ratio_median"]), "seconds_per_sample": float(np.mean(seconds)),
                   "seconds_per_train_step": step_seconds}
            row["property_error"] = float(np.nanmedian(errors["density"] + errors["modulus_x"]))
            rows.append(row)
            print(f"  composite {method:8s} {sampler:11s} {row['nfe']:3d} NFE: density {row['density_error']:.4f} "
                  f"modulus_x {row['modulus_x_error']:.4f} S2 {row['s2_ratio']:.2f}x "
                  f"{1000 * row['seconds_per_sample']:.1f} ms/sample")
    _record(runs, rows, "composite")
    return rows


def raman_task(out: Path, steps: int, methods: list[str], quick: bool, shared: Path) -> list[dict]:
    from matgen.data import read, write
    from matgen.data.importers.common import ConditionSource
    from matgen.data.importers.spectra import import_spectra
    from matgen.evaluate import evaluate
    from matgen.evaluate.models import PredictorConfig

    folder = shared / "raman_rruff"
    path = out / "rruff.h5"
    if not path.is_file():
        ds = import_spectra([folder / "spectra"], source=ConditionSource(table=folder / "labels.csv"),
                            points=512).dataset
        write(path, ds)
    real = read(path)
    minerals = sorted(set(real.conditions["mineral"].labels()))
    runs = train_models(path, out, ("mineral",), steps, methods)
    rows, n = [], 2 if quick else 8
    for method in methods:
        run_dir, step_seconds = runs[RUN_OF[method]]
        for sampler, sampler_steps in SETTINGS[method]:
            from matgen.data import concat

            parts, seconds = [], []
            for k, mineral in enumerate(minerals):
                drawn, per_sample = timed_sample(run_dir, {"mineral": mineral}, n, sampler, sampler_steps, seed=100 * k)
                parts.append(drawn)
                seconds.append(per_sample)
            synthetic = concat(parts)
            report = evaluate(real, synthetic, label="mineral", run_downstream=False,
                              model=PredictorConfig(epochs=10 if quick else 40))
            row = {"task": "raman", "method": method, "sampler": sampler, "steps": sampler_steps,
                   "nfe": nfe(sampler, sampler_steps), "adherence": float(report.adherence),
                   "mmd2": float(report.quality["mmd2"]), "seconds_per_sample": float(np.mean(seconds)),
                   "seconds_per_train_step": step_seconds}
            rows.append(row)
            print(f"  raman {method:8s} {sampler:11s} {row['nfe']:3d} NFE: adherence {row['adherence']:.3f} "
                  f"MMD2 {row['mmd2']:.4f} {1000 * row['seconds_per_sample']:.1f} ms/sample")
    _record(runs, rows, "raman")
    return rows


def _record(runs: dict, rows: list[dict], task: str) -> None:
    """Each run's best setting into its model card."""
    from matgen.runs.card import add_measurement

    key = "property_error" if task == "composite" else "adherence"
    for method in {r["method"] for r in rows}:
        mine = [r for r in rows if r["method"] == method]
        best = (min if task == "composite" else max)(mine, key=lambda r: r[key])
        add_measurement(runs[RUN_OF[method]][0], "benchmarks/generative_methods.py",
                        f"{task}: best {key.replace('_', ' ')} {best[key]:.4g} with {best['sampler']} at {best['nfe']} NFE",
                        {key: best[key], "nfe": best["nfe"], "ms_per_sample": 1000 * best["seconds_per_sample"]})


def table(rows: list[dict]) -> str:
    lines = []
    for task in ("composite", "raman"):
        mine = [r for r in rows if r["task"] == task]
        if not mine:
            continue
        if task == "composite":
            lines += ["", "**composite** (median relative error by the elastic simulator; S2: 1 = like the data)", "",
                      "| method | sampler | NFE | density error | modulus_x error | both | S2 distance | ms / sample | "
                      "ms / train step |", "|---|---|---|---|---|---|---|---|---|"]
            lines += [f"| {r['method']} | {r['sampler']} | {r['nfe']} | {r['density_error']:.4f} | "
                      f"{r['modulus_x_error']:.4f} | {r['property_error']:.4f} | {r['s2_ratio']:.2f}x | "
                      f"{1000 * r['seconds_per_sample']:.1f} | {1000 * r['seconds_per_train_step']:.0f} |" for r in mine]
        else:
            lines += ["", "**raman** (adherence: share assigned to the requested mineral by a real-only classifier)", "",
                      "| method | sampler | NFE | adherence | MMD² | ms / sample | ms / train step |",
                      "|---|---|---|---|---|---|---|"]
            lines += [f"| {r['method']} | {r['sampler']} | {r['nfe']} | {r['adherence']:.3f} | {r['mmd2']:.4f} | "
                      f"{1000 * r['seconds_per_sample']:.1f} | {1000 * r['seconds_per_train_step']:.0f} |" for r in mine]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="composite,raman")
    parser.add_argument("--methods", default="ddpm,flow,student,latent", help="from: " + ", ".join(SETTINGS))
    parser.add_argument("--steps", type=int, default=800, help="training steps of every model (the student: half)")
    parser.add_argument("--out", type=Path, default=Path("generative_methods_results"))
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 200 composites, 40 steps, few samples")
    args = parser.parse_args()
    torch.set_num_threads(1)
    methods = [m.strip() for m in args.methods.split(",")]
    unknown = [m for m in methods if m not in SETTINGS]
    if unknown:
        parser.error(f"unknown method {unknown[0]!r}; choose from {', '.join(SETTINGS)}")
    steps = 40 if args.quick else args.steps
    rows = []
    for task in args.tasks.split(","):
        out = args.out / task
        out.mkdir(parents=True, exist_ok=True)
        print(f"{task}:")
        if task == "composite":
            rows += composite_task(out, steps, methods, args.quick)
        elif task == "raman":
            rows += raman_task(out, steps, methods, args.quick, args.shared)
        else:
            parser.error(f"unknown task {task!r}; choose from composite, raman")
        (args.out / "generative_methods.json").write_text(json.dumps(rows, indent=1) + "\n")
    (args.out / "generative_methods.md").write_text(table(rows))
    print(table(rows))


if __name__ == "__main__":
    main()
