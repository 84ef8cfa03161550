"""How label-true are generated RRUFF spectra, against training steps and guidance?

    python benchmarks/label_adherence.py [--model flow] [--net tiny] [--steps 500,1000,2000,4000] [--guidance 0,2] [--out DIR]
        [--extend]

One conditional model (condition ``mineral``) is trained on the 240 real RRUFF spectra and
extended step by step (``matgen train --resume --steps N``; the cosine schedule is stretched at
each extension). After each stage, 8 spectra per mineral are drawn at each guidance weight and
scored by the CNN of ``matgen evaluate`` trained on the real spectra alone: the share assigned to
the requested mineral (adherence), with the kernel MMD² to the real spectra. Prints the curve
and writes ``label_adherence.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="flow")
    parser.add_argument("--net", default="tiny")
    parser.add_argument("--steps", default="500,1000,2000,4000")
    parser.add_argument("--guidance", default="0,2")
    parser.add_argument("--per-class", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path("label_adherence_results"))
    parser.add_argument("--extend", action="store_true",
                        help="continue the run already in --out (its curve's rows are kept) instead of starting afresh")
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from matgen.data import concat, write
    from matgen.data.importers.common import ConditionSource
    from matgen.data.importers.spectra import import_spectra
    from matgen.evaluate import evaluate
    from matgen.runs import is_complete
    from matgen.sample import sample
    from matgen.train import TrainConfig, resume, train

    folder = args.shared / "raman_rruff"
    real = import_spectra([folder / "spectra"], source=ConditionSource(table=folder / "labels.csv"), points=512).dataset
    args.out.mkdir(parents=True, exist_ok=True)
    data = write(args.out / "rruff.h5", real)
    minerals = sorted(set(real.conditions["mineral"].labels()))
    run = args.out / f"{args.model}-{args.net}"
    previous = args.out / "label_adherence.json"
    rows = json.loads(previous.read_text()) if args.extend and previous.is_file() else []
    for k, steps in enumerate(int(s) for s in args.steps.split(",")):
        start = time.perf_counter()
        if (k == 0 and not args.extend) or not is_complete(run):
            train(data, TrainConfig(model=args.model, conditions=("mineral",), net=args.net, steps=steps, lr=1e-3,
                                    batch_size=32, warmup_steps=min(200, steps // 10), eval_every=500), run, force=True)
        else:
            resume(run, steps=steps)
        trained = time.perf_counter() - start
        for w in (float(g) for g in args.guidance.split(",")):
            parts = [sample(run, {"mineral": m}, n=args.per_class, steps=16, guidance=w, seed=1000 * i).dataset
                     for i, m in enumerate(minerals)]
            report = evaluate(real, concat(parts), label="mineral", run_downstream=False)
            row = {"steps": steps, "guidance": w, "adherence": report.adherence, "mmd2": report.quality["mmd2"],
                   "train_seconds": trained}
            rows.append(row)
            print(f"{args.model} {args.net} {steps:5d} steps, w = {w:g}: adherence {row['adherence']:.3f} "
                  f"MMD2 {row['mmd2']:.4f}", flush=True)
        (args.out / "label_adherence.json").write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
