"""Inverse design against what a user would otherwise do, at the same simulator budget.

    python benchmarks/inverse_design.py [--seeds 3] [--targets a,b1,b2] [--methods ...] [--budget 128] [--out DIR] [--quick]

For each seed one first model is trained (the main job's: 1,000 composites of 32 px, tiny U-Net,
600 steps), then for each target every method spends the same number of simulator calls
(``--budget``; the loop: rounds of 32):

* ``loop + physics``: the campaign with physics guidance (the main job);
* ``loop``: the same campaign without it (the previous main job's method);
* ``loop + screening``: without physics guidance, but sampling 16 x the candidates and simulating
  the best by the screening ensemble (``oversample = 16``);
* ``nearest``: the training rows nearest to the target (training rows: 0 new designs);
* ``unguided``: samples of the first model with no target;
* ``random``: random search: fresh samples of the builder, its processing parameters (fraction,
  particle size, aspect ratio, orientation) drawn at random from its ranges;
* ``bo``: Bayesian optimisation of the builder's processing parameters (BoTorch: a GP on the
  4 parameters in the unit cube, qLogNoisyExpectedImprovement in batches of 8 after 8 Sobol
  points; the objective is minus the summed squared residuals of the targets in units of their
  tolerance, one-sided for bounds). Needs ``pip install -e ".[bench]"``; skipped without it.

Targets (density ± 0.5 % fixes the SiC fraction at 0.39, where the data reach modulus_x 110-149 GPa
and modulus_x / modulus_y <= 1.25): ``a`` modulus_x 136 ± 3 % (in the data), ``b1`` modulus_x
>= 155 GPa, ``b2`` modulus_x >= 145 GPa with modulus_y <= 110 GPa (both beyond the data).

Prints, per target and method (mean over seeds): hits, distinct new hits, simulator calls per
new hit, and the designs' morphology against the data (two-point distance ratio, specks); writes
``hits_vs_calls_TARGET.png`` and ``inverse_design.json`` to ``--out``. One heavy job: run it on a
quiet machine (about 15 minutes per seed with the default budget on 2 CPU cores; ``--reuse`` picks up
an interrupted run). The figures of 2026-12-01 are in ``benchmarks/results/inverse_design.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import time
from pathlib import Path

import numpy as np
import torch

TARGETS = {
    "a": {"density": "2.90 ± 0.5%", "modulus_x": "136 ± 3%"},
    "b1": {"density": "2.90 ± 0.5%", "modulus_x": ">= 155"},
    "b2": {"density": "2.90 ± 0.5%", "modulus_x": ">= 145", "modulus_y": "<= 110"},
}
MODEL_CONDITIONS = ("density", "modulus_x")  # the first model's (the main job's)
BO_PARAMETERS = ("volume_fraction", "mean_radius_px", "aspect_ratio", "orientation_deg")
METHODS = ("loop + physics", "loop", "loop + screening", "nearest", "unguided", "random", "bo")


def scored(targets: dict, properties: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(hit (N,), penalty (N,)): every target met, and the summed squared residuals in tolerance units."""
    from matgen.campaign.targets import hits

    penalty = np.zeros(len(next(iter(properties.values()))))
    for name, t in targets.items():
        low, high, scale = t.physics_interval(0.0)
        a = properties[name]
        penalty += ((np.clip(a - high, 0, None) + np.clip(low - a, 0, None)) / scale) ** 2
    return hits(targets, properties), np.nan_to_num(penalty, nan=1e6)


def new_hit_curve(hit: np.ndarray, signals: np.ndarray, training: np.ndarray) -> np.ndarray:
    """(N,) cumulative count of distinct hits that are no training row, in evaluation order."""
    seen = {np.ascontiguousarray(row).tobytes() for row in training}
    curve, count = [], 0
    for is_hit, row in zip(hit, signals):
        key = np.ascontiguousarray(row).tobytes()
        if is_hit and key not in seen:
            seen.add(key)
            count += 1
        curve.append(count)
    return np.asarray(curve)


def shape_of(signals: np.ndarray, training: np.ndarray) -> dict:
    from matgen.evaluate.morphology import morphology

    m = morphology((signals == 1).astype(np.int64), (training == 1).astype(np.int64))
    return {"s2_ratio": m["s2_ratio_median"], "speckle": m["speckle_mean"], "speckle_train": m["speckle_train"]}


def run_campaign(work: Path, targets_text: dict, data: Path, run: Path, rounds: int, physics: bool, seed: int,
                 oversample: int = 1, reuse: bool = False):
    """The loop's candidates (all rounds, in order) and their properties, from its directory
    (with ``reuse``, a finished campaign of the same config there is read, not run again)."""
    from matgen.campaign import Campaign, CampaignConfig
    from matgen.data import concat, read
    from matgen.demo import demo_config

    config = CampaignConfig(**{**demo_config(seed=seed).to_dict(), "targets": targets_text, "builder": None,
                               "builder_options": {}, "data": str(data), "run": str(run), "rounds": rounds,
                               "baselines": False, "physics_guidance": "elastic" if physics else None,
                               "oversample": oversample})
    if not (reuse and (work / "report.json").is_file()):
        shutil.rmtree(work, ignore_errors=True)
    Campaign(config, work).run()  # on a finished campaign of the same config: reads it back
    parts = [read(work / "rounds" / f"{r:02d}" / "candidates.h5") for r in range(1, rounds + 1)]
    results = [json.loads((work / "rounds" / f"{r:02d}" / "results.json").read_text())["candidates"]
               for r in range(1, rounds + 1)]
    rows = [row for doc in results for row in doc]
    props = {k: np.asarray([np.nan if row["error"] else row["achieved"][k] for row in rows]) for k in targets_text}
    return concat(parts).signals, props


def random_search(n: int, seed: int):
    from matgen.builders import build

    ds = build("composite", n=n, size=32, seed=seed + 1)
    return ds.signals, {k: c.values for k, c in ds.conditions.items() if not c.is_categorical}


def bayesian_optimisation(targets: dict, n: int, seed: int, batch: int = 8):
    """BoTorch over the builder's 4 processing parameters; one built (and simulated) micrograph per evaluation."""
    import warnings

    from botorch.acquisition.logei import qLogNoisyExpectedImprovement
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms import Normalize, Standardize
    from botorch.optim import optimize_acqf
    from gpytorch.mlls import ExactMarginalLogLikelihood
    from torch.quasirandom import SobolEngine

    from matgen.builders import build
    from matgen.builders.options import CompositeOptions, default_mean_radius

    warnings.filterwarnings("ignore", category=RuntimeWarning)  # botorch's retries of a failed inner optimisation
    o = CompositeOptions(size=32)
    ranges = [o.volume_fraction, default_mean_radius(32), o.aspect_ratio, o.orientation_deg]
    lows = torch.tensor([r.low for r in ranges], dtype=torch.float64)
    spans = torch.tensor([r.high - r.low for r in ranges], dtype=torch.float64)

    def evaluate(u: torch.Tensor, start: int):
        signals, props = [], []
        for i, row in enumerate(lows + u * spans):
            params = {name: f"{float(v)}" for name, v in zip(BO_PARAMETERS, row)}
            ds = build("composite", n=1, size=32, seed=seed * 100_000 + start + i, **params)
            signals.append(ds.signals[0])
            props.append({k: float(c.values[0]) for k, c in ds.conditions.items() if not c.is_categorical})
        return signals, props

    X = SobolEngine(4, scramble=True, seed=seed).draw(batch).to(torch.float64)
    signals, props = evaluate(X, 0)
    while len(signals) < n:
        named = {k: np.asarray([p[k] for p in props]) for k in props[0]}
        y = -torch.as_tensor(scored(targets, named)[1], dtype=torch.float64)[:, None]
        y = -torch.log1p(-y)  # the penalty spans decades: fit log(1 + penalty)
        gp = SingleTaskGP(X, y, input_transform=Normalize(4), outcome_transform=Standardize(1))
        fit_gpytorch_mll(ExactMarginalLogLikelihood(gp.likelihood, gp))
        acq = qLogNoisyExpectedImprovement(gp, X, prune_baseline=True)
        q = min(batch, n - len(signals))
        bounds = torch.stack([torch.zeros(4), torch.ones(4)]).to(torch.float64)
        new, _ = optimize_acqf(acq, bounds, q=q, num_restarts=8, raw_samples=256)
        more_signals, more_props = evaluate(new, len(signals))
        X = torch.cat([X, new])
        signals += more_signals
        props += more_props
    return np.stack(signals), {k: np.asarray([p[k] for p in props]) for k in props[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--targets", default="a,b1,b2")
    parser.add_argument("--methods", default="loop + physics,loop,nearest,unguided,random,bo",
                        help="comma-separated, from: " + ", ".join(METHODS))
    parser.add_argument("--budget", type=int, default=128, help="simulator calls per method (the loop: rounds of 32)")
    parser.add_argument("--out", type=Path, default=Path("inverse_design_results"))
    parser.add_argument("--reuse", action="store_true", help="keep what --out holds from an interrupted run of the "
                        "same settings (first models, finished campaigns) instead of redoing it")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 200 composites, 100 steps, budget 32")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from matgen.builders import build
    from matgen.campaign.baselines import nearest_samples
    from matgen.campaign.targets import parse_targets
    from matgen.data import read, write
    from matgen.runs import is_complete
    from matgen.sample import sample
    from matgen.simulators import get_simulator
    from matgen.train import TrainConfig, train

    n_data, steps, budget = (200, 100, 32) if args.quick else (1000, 600, args.budget)
    rounds = max(1, budget // 32)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    elastic = get_simulator("elastic")
    methods = [m.strip() for m in args.methods.split(",")]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        parser.error(f"unknown method {unknown[0]!r}; choose from {', '.join(METHODS)}")
    try:
        import botorch  # noqa: F401
    except ImportError:
        if "bo" in methods:
            print("botorch is not installed (pip install -e \".[bench]\"): Bayesian optimisation is skipped")
            methods.remove("bo")
    results: dict = {name: {m: [] for m in methods} for name in args.targets.split(",")}
    for seed in range(args.seeds):
        data = write(out / f"seed{seed}" / "composite.h5", build("composite", n=n_data, size=32, seed=seed))
        run = out / f"seed{seed}" / "run"
        start = time.perf_counter()
        if not (args.reuse and is_complete(run)):
            train(data, TrainConfig(conditions=MODEL_CONDITIONS, net="tiny", steps=steps, lr=1e-3, batch_size=32,
                                    warmup_steps=60, eval_every=200, log_every=50, seed=seed), run, force=True)
        print(f"seed {seed}: first model in {time.perf_counter() - start:.0f} s")
        training = read(data).signals
        for name in results:
            targets = parse_targets(TARGETS[name])
            for method in methods:
                start = time.perf_counter()
                if method in ("loop", "loop + screening") and not set(targets) <= set(MODEL_CONDITIONS):
                    print(f"  seed {seed} target {name} {method:15s} n/a: the model is not conditioned on "
                          f"{', '.join(sorted(set(targets) - set(MODEL_CONDITIONS)))} (only physics guidance steers "
                          "a property that is not a condition)")
                    continue
                if method.startswith("loop"):
                    signals, props = run_campaign(out / f"seed{seed}" / f"{name}-{method.replace(' + ', '-')}",
                                                  TARGETS[name], data, run, rounds, "physics" in method, seed,
                                                  16 if "screening" in method else 1, args.reuse)
                elif method == "nearest":
                    picked = nearest_samples(read(data), targets, budget, 0.05)
                    signals, props = picked.signals, elastic(picked).properties
                elif method == "unguided":
                    drawn = sample(run, None, n=budget, steps=25, seed=seed + 100_000).dataset
                    signals, props = drawn.signals, elastic(drawn).properties
                elif method == "random":
                    signals, props = random_search(budget, seed)
                else:
                    signals, props = bayesian_optimisation(targets, budget, seed)
                hit, _ = scored(targets, props)
                curve = new_hit_curve(hit, signals, training)
                entry = {"hits": int(hit.sum()), "new_hits": int(curve[-1]), "curve": curve.tolist(),
                         "seconds": time.perf_counter() - start, **shape_of(signals, training)}
                results[name][method].append(entry)
                print(f"  seed {seed} target {name} {method:15s} hits {entry['hits']:3d} new {entry['new_hits']:3d} "
                      f"S2 {entry['s2_ratio']:.2f}x specks {100 * entry['speckle']:.2f}% ({entry['seconds']:.0f} s)")
                (out / "inverse_design.json").write_text(json.dumps(results, indent=1) + "\n")  # after each method
    report(results, budget, out)


def report(results: dict, budget: int, out: Path) -> None:
    from matgen.data.plot import pyplot, save_png

    plt = pyplot()
    for name, methods in results.items():
        print(f"\ntarget {name}: {TARGETS[name]} ({budget} simulator calls per method, mean over seeds)")
        print(f"  {'method':15s} {'hits':>6s} {'new hits':>9s} {'calls/new hit':>14s} {'S2 dist':>8s} {'specks':>8s}")
        fig, ax = plt.subplots(figsize=(5, 3.6))
        for method, runs in methods.items():
            if not runs:
                continue
            hits = np.mean([r["hits"] for r in runs])
            new = np.mean([r["new_hits"] for r in runs])
            per = budget / new if new else math.inf
            print(f"  {method:15s} {hits:6.1f} {new:9.1f} {per:14.2f} {np.mean([r['s2_ratio'] for r in runs]):7.2f}x "
                  f"{100 * np.mean([r['speckle'] for r in runs]):7.2f}%")
            curve = np.mean([r["curve"] for r in runs], axis=0)
            ax.plot(np.arange(1, len(curve) + 1), curve, label=method)
        ax.set_xlabel("simulator calls")
        ax.set_ylabel("distinct new hits (mean over seeds)")
        ax.set_title(", ".join(f"{k} {v}" for k, v in TARGETS[name].items()), fontsize=8)
        ax.legend(fontsize=7)
        fig.tight_layout()
        print(f"  picture {save_png(fig, out / f'hits_vs_calls_{name}.png')}")


if __name__ == "__main__":
    main()
