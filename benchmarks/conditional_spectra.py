"""Spectra from composition and state: requested vs achieved, measured by matgen's own analysis functions.

    python benchmarks/conditional_spectra.py [--kinds xrd,raman,eels] [--n 600] [--steps 4000] [--per 8]
        [--model flow] [--out DIR] [--physics-scale S] [--reuse] [--quick]

For each built-in spectrum dataset: build it (``--n`` rows), train a conditional model (``--model``
flow or diffusion, the ``tiny`` U-Net), sample at requested conditions across the training range,
analyse the samples with the kind's simulator and print one table of requested vs achieved:

* ``xrd``: conditioned on the weight fractions ``wt_<phase>`` (random compositions summing to 100);
  achieved: the whole-pattern fit ``xrd-phases``. Target: MAE ≤ 3 wt% (over phases and samples).
* ``raman``: conditioned on mineral, temperature (K) and stress (GPa); achieved: the reference band
  that ``raman-bands`` measures, read as temperature at the requested stress and as stress at the
  requested temperature (the table's coefficients). Target: the band within the shift that 30 K
  causes, i.e. |ΔT| ≤ 30 K (the ``within`` column counts it).
* ``eels``: conditioned on material and thickness t/λ; achieved: the log-ratio ``eels-thickness``.
  Target: median relative error ≤ 5 %.

With ``--physics-scale S`` each table also has rows sampled with physics guidance by that
simulator's differentiable form (``matgen sample --physics-guidance``, the same analysis steering
the sampler) at scale S. ``--reuse`` samples from the runs already in ``--out``.

Each table also has a ``floor`` row: the same analysis on ``--per`` × groups rows of the built data
itself (the analysis's own error, what a perfect generator would score). ``--quick`` is a smoke
run (~3 minutes on 2 CPU cores: tiny data, few steps; the figures then say nothing about quality).
Writes ``conditional_spectra.json`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

TARGETS = {"xrd": "MAE ≤ 3 wt%", "raman": "|ΔT| ≤ 30 K (the band within the 30 K shift)",
           "eels": "median relative error ≤ 5 %"}


def dataset_options(kind: str, quick: bool) -> dict:
    """Builder options per kind (fewer points than the defaults; quick: fewer still and a few groups)."""
    if kind == "xrd":
        return {"points": 512 if quick else 1024}
    if kind == "raman":
        minerals = ("silicon", "calcite", "anatase") if quick else ("silicon", "quartz", "calcite", "anatase",
                                                                     "diamond", "hematite")
        return {"points": 512 if quick else 1024, "minerals": minerals}
    return {"points": 256 if quick else 512, "dispersion_ev": 0.8 if quick else 0.4,
            "materials": ("Al", "Si") if quick else ("Al", "Si", "SiO2", "MgO")}


def requests(kind: str, ds, groups: int, seed: int = 0) -> list[dict]:
    """The requested targets, one dict per sample() call (ranges spread over its samples)."""
    rng = np.random.default_rng(seed)
    if kind == "xrd":
        from matgen.builders.spectra import random_fractions

        names = [k for k in ds.conditions if k.startswith("wt_")]
        return [{n: float(v) for n, v in zip(names, 100 * w)} for w in random_fractions(rng, groups, len(names))]
    if kind == "raman":
        minerals = ds.conditions["mineral"].categories
        return [{"mineral": minerals[g % len(minerals)], "temperature": "320..760",
                 "stress": float([-0.6, 0.0, 0.6][(g // len(minerals)) % 3])} for g in range(groups)]
    materials = ds.conditions["material"].categories
    return [{"material": materials[g % len(materials)], "thickness": "0.2..1.8"} for g in range(groups)]


def floor_rows(kind: str, ds, count: int):
    """``count`` rows of the built data (the analysis's own floor), the request columns as they are."""
    return ds.take(np.arange(min(count, len(ds))))


def table(kind: str, samples, simulator_name: str) -> dict:
    """Requested vs achieved of ``samples`` (their conditions hold the requests) by the kind's simulator."""
    from matgen.simulators import get_simulator, run_simulator
    from matgen.simulators.validate import compare_targets

    simulator = get_simulator(simulator_name)
    evaluation = run_simulator(simulator, samples)
    checks = compare_targets(samples, simulator, evaluation)
    rows = [dict(target=c.name, output=c.output, unit=c.unit, requested=c.requested, evaluated=c.evaluated,
                 samples=c.samples, achieved_median=c.achieved_median, abs_error_median=c.abs_error_median,
                 abs_error_mean=c.abs_error_mean, relative_error_median=c.relative_error_median, within=c.within,
                 tolerance=c.tolerance_text) for c in checks]
    summary = {}
    if kind == "xrd":
        errors = np.concatenate([_errors(samples, evaluation, o.name) for o in simulator.bind(samples).outputs])
        summary = {"mae_wt": float(errors.mean()) if len(errors) else float("nan")}
    elif kind == "raman":
        errors = _errors(samples, evaluation, "band_temperature", "temperature")
        summary = {"median_abs_dT_k": float(np.median(errors)) if len(errors) else float("nan"),
                   "within_30k": next((r["within"] for r in rows if r["target"] == "temperature"), float("nan"))}
    else:
        summary = {"median_relative_error": next((r["relative_error_median"] for r in rows), float("nan"))}
    summary["failed"] = int(evaluation.failed.sum())
    return {"rows": rows, "summary": summary}


def _errors(samples, evaluation, output: str, condition: str | None = None) -> np.ndarray:
    cond = samples.conditions[condition or output]
    a, r = evaluation.properties[output], cond.values
    ok = ~cond.missing & ~evaluation.failed & np.isfinite(a)
    return np.abs(a[ok] - r[ok])


def relative_change(plain: np.ndarray, guided: np.ndarray) -> float:
    """Median over samples of ‖guided − plain‖ / ‖plain‖ (same seeds): how much guidance reshaped the spectra."""
    plain, guided = np.asarray(plain, dtype=np.float64), np.asarray(guided, dtype=np.float64)
    return float(np.median(np.linalg.norm(guided - plain, axis=1) / np.linalg.norm(plain, axis=1)))


def plot_pairs(ds, plain, guided, path: Path, count: int = 3) -> None:
    """PNG: ``count`` samples unguided and guided (same seed), each beside the training spectrum nearest its request."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in ds.conditions if n in plain.conditions]
    x = ds.axis.values
    figure, axes = plt.subplots(count, 1, figsize=(9, 2.4 * count), sharex=True)
    for axis, k in zip(np.atleast_1d(axes), np.linspace(0, len(plain) - 1, count).astype(int)):
        distance = np.zeros(len(ds))
        for name in names:
            have, want = ds.conditions[name], plain.conditions[name]
            if have.is_categorical:
                distance += 1e6 * (np.asarray(have.categories)[have.values] != want.categories[want.values[k]])
            else:
                distance += ((have.values - want.values[k]) / (np.std(have.values) + 1e-12)) ** 2
        nearest = int(np.argmin(distance))
        real = ds.signals[nearest] / np.abs(ds.signals[nearest]).max()
        axis.plot(x, real, color="0.7", lw=1, label="training row nearest the request")
        axis.plot(x, plain.signals[k], lw=1, label="generated")
        axis.plot(x, guided.signals[k], lw=1, label="generated, physics guidance")
        axis.set_ylabel("relative intensity")
    np.atleast_1d(axes)[0].legend(fontsize=8)
    np.atleast_1d(axes)[-1].set_xlabel(f"{ds.axis.name} ({ds.axis.unit})")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def run_kind(kind: str, args, out: Path) -> dict:
    from matgen.builders import build
    from matgen.data import concat, write
    from matgen.sample import sample
    from matgen.train import TrainConfig, train

    started = time.time()
    n = args.n
    ds = build(kind, n=n, seed=0, **dataset_options(kind, args.quick))
    data = write(out / f"{kind}.h5", ds)
    conditions = {"xrd": tuple(k for k in ds.conditions if k.startswith("wt_")),
                  "raman": ("mineral", "temperature", "stress"), "eels": ("material", "thickness")}[kind]
    run_dir = out / f"{kind}-{args.model}"
    config = TrainConfig(model=args.model, conditions=conditions, net="tiny", steps=args.steps, batch_size=32,
                         lr=1e-3, warmup_steps=min(200, args.steps // 10), eval_every=max(args.steps, 1),
                         log_every=100, checkpoint_every=max(args.steps, 1), device=args.device)
    reused = args.reuse and (run_dir / "model.safetensors").is_file()
    if not reused:
        train(data, config, run_dir)
    trained = time.time()
    groups = requests(kind, ds, args.groups)
    simulator = {"xrd": "xrd-phases", "raman": "raman-bands", "eels": "eels-thickness"}[kind]

    def generated(physics_scale: float):
        physics = dict(physics=simulator, physics_scale=physics_scale) if physics_scale else {}
        parts = [sample(run_dir, targets, n=args.per, steps=args.sample_steps, seed=100 * g, **physics).dataset
                 for g, targets in enumerate(groups)]
        return concat(parts) if len(parts) > 1 else parts[0]

    plain = generated(0.0)
    result = {"kind": kind, "simulator": simulator, "n": n, "train_steps": args.steps, "model": args.model,
              "target": TARGETS[kind], "reused_run": reused, "generated": table(kind, plain, simulator)}
    sampled = time.time()
    if args.physics_scale:
        guided = generated(args.physics_scale)
        result["physics_scale"] = args.physics_scale
        result["guided"] = table(kind, guided, simulator)
        result["guided"]["summary"]["median_relative_change"] = relative_change(plain.signals, guided.signals)
        plot_pairs(ds, plain, guided, out / f"{kind}-guided.png")
    result.update(floor=table(kind, floor_rows(kind, ds, args.per * len(groups)), simulator),
                  train_seconds=trained - started, sample_seconds=sampled - trained,
                  guided_seconds=time.time() - sampled, seconds=time.time() - started)
    return result


def print_result(result: dict) -> None:
    print(f"\n## {result['kind']}: {result['simulator']} (target {result['target']}; {result['model']}, "
          f"n = {result['n']}, {result['train_steps']} steps, {result['seconds']:.0f} s)")
    header = ("target", "unit", "requested", "eval/asked", "median achieved", "median |err|", "mean |err|",
              "rel. err", "tolerance", "within")
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    labels = {"generated": "", "guided": f" (physics guidance {result.get('physics_scale')})", "floor": " (floor)"}
    for label in [k for k in labels if k in result]:
        for r in result[label]["rows"]:
            name = r["target"] + labels[label]
            print(f"| {name} | {r['unit'] or '–'} | {r['requested']} | {r['evaluated']}/{r['samples']} | "
                  f"{r['achieved_median']:.4g} | {r['abs_error_median']:.3g} | {r['abs_error_mean']:.3g} | "
                  f"{100 * r['relative_error_median']:.1f}% | {r['tolerance']} | {100 * r['within']:.0f}% |")
    print("summary " + "; ".join(f"{label}: {result[label]['summary']}" for label in labels if label in result))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", default="xrd,raman,eels")
    parser.add_argument("--n", type=int, default=600, help="rows per built dataset")
    parser.add_argument("--steps", type=int, default=4000, help="training steps")
    parser.add_argument("--model", default="flow", choices=("flow", "diffusion"))
    parser.add_argument("--groups", type=int, default=12, help="requests (compositions / mineral-stress / material)")
    parser.add_argument("--per", type=int, default=8, help="samples per request")
    parser.add_argument("--sample-steps", type=int, default=16)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/conditional_spectra"))
    parser.add_argument("--physics-scale", type=float, default=0.0,
                        help="also sample with physics guidance by the kind's simulator at this scale (0: not)")
    parser.add_argument("--reuse", action="store_true", help="sample from the runs already in --out (no training)")
    parser.add_argument("--quick", action="store_true", help="smoke run: n 160, 150 steps, 3 groups of 4")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.steps, args.groups, args.per, args.sample_steps = 160, 150, 3, 4, 8
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    for kind in args.kinds.split(","):
        results.append(run_kind(kind.strip(), args, args.out))
        print_result(results[-1])
    (args.out / "conditional_spectra.json").write_text(json.dumps(results, indent=1, default=float))


if __name__ == "__main__":
    main()
