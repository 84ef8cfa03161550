"""Which physics effects help which predictor: an ablation of the Raman augmentation on real RRUFF spectra.

    python benchmarks/physics_augmentation.py [--seeds 5] [--factor 3] [--arms ...] [--out DIR]

The downstream protocol of ``matgen evaluate`` (split by ``rruff_id``, so every spectrum of a
sample is on one side; the augmentation sees the training split only) with three predictors on
the same splits and synthetic rows: 1-NN (cosine), softmax regression (``linear``) and the small
CNN. Arms: real only; real + physics with the default bounds; and, for each effect, real +
physics with that effect alone switched off (``-NAME``), or with a named set of bounds
(``--arms "safe=shift_cm1:1.5,broadening_cm1:2"``). A harmful effect is one whose removal raises a
predictor's score. Prints the mean ± std over seeds of each arm's paired gain over real only, per
predictor, and writes ``physics_augmentation.json`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import fields
from pathlib import Path

import numpy as np
import torch


def parse_arm(text: str) -> tuple[str, dict]:
    """``name=a:1,b:2`` -> (name, {a: 1.0, b: 2.0}); ``-effect`` -> (``-effect``, {effect: 0})."""
    if text.startswith("-"):
        return text, {text[1:]: 0.0}
    name, _, spec = text.partition("=")
    pairs = [p.split(":") for p in spec.split(",") if p]
    return name, {k: float(v) for k, v in pairs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--factor", type=float, default=3.0, help="synthetic rows per real training row")
    parser.add_argument("--arms", default="", help="extra arms: name=bound:value,... (repeat with ;)")
    parser.add_argument("--ablate", action="store_true", help="one arm per effect switched off")
    parser.add_argument("--predictors", default="knn,linear,cnn")
    parser.add_argument("--out", type=Path, default=Path("physics_augmentation_results"))
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from matgen.augment import augment
    from matgen.augment.physics import RamanBounds
    from matgen.data.importers.common import ConditionSource
    from matgen.data.importers.spectra import import_spectra
    from matgen.evaluate import PredictorConfig, downstream_by_predictor, verdict

    folder = args.shared / "raman_rruff"
    real = import_spectra([folder / "spectra"], source=ConditionSource(table=folder / "labels.csv"), points=512).dataset
    arms = {"physics": {}}
    if args.ablate:
        arms.update(parse_arm(f"-{f.name}") for f in fields(RamanBounds)
                    if isinstance(getattr(RamanBounds(), f.name), float) and getattr(RamanBounds(), f.name) > 0
                    and not f.name.endswith("length_cm1"))
    arms.update(parse_arm(a) for a in args.arms.split(";") if a)

    def augmenter(bounds: dict):
        return lambda train, seed: augment(train, "physics", factor=args.factor, seed=seed, bounds=bounds or None)

    models = [PredictorConfig(model=m) for m in args.predictors.split(",")]
    start = time.perf_counter()
    results = downstream_by_predictor(real, {name: augmenter(b) for name, b in arms.items()}, "mineral", "rruff_id",
                                      list(range(args.seeds)), 0.3, models, synthetic_only=False)
    print(f"{len(real)} RRUFF spectra, {args.seeds} seeds, factor {args.factor:g}, {time.perf_counter() - start:.0f} s")
    table = {}
    for predictor, result in results.items():
        real_scores = np.asarray(result.scores["real"])
        table[predictor] = {"real": [float(real_scores.mean()), float(real_scores.std(ddof=1))]}
        for row in result.summary():
            if row["arm"].startswith("real+"):
                table[predictor][row["arm"][5:]] = [row["mean"], row["std"], row["gain_mean"], row["gain_std"]]
    print(f"{'arm':28s}" + "".join(f"{p:>26s}" for p in table))
    print(f"{'real':28s}" + "".join(f"{t['real'][0]:>17.3f} ± {t['real'][1]:.3f}" for t in table.values()))
    for name in arms:
        print(f"{name:28s}" + "".join(f"{t[name][0]:>9.3f} {t[name][2]:+.3f} ± {t[name][3]:.3f}" for t in table.values()))
    for line in verdict(results):
        print(line)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "physics_augmentation.json").write_text(json.dumps({"arms": arms, "scores": table}, indent=1) + "\n")


if __name__ == "__main__":
    main()
