"""Real micrographs from processing: UHCS spheroidite masks, leave-one-micrograph-out.

    python benchmarks/uhcs_processing.py [--data DIR] [--tile 64] [--steps 1500] [--folds per-condition|all|N]
                                         [--leave micrograph|condition] [--out DIR] [--quick]

Data: the 24 hand-segmented UHCS masks (``../shared/data/micrographs/uhcs/spheroidite-tif/labels``,
DeCost et al.; 0 ferrite, 1 cementite, 26 px/µm), named ``<T>C-<t>-Q-<n>``: processing
800 °C × {3, 8, 24, 85 h} and 970 °C × 5 min, all quenched. Each mask is halved (13 px/µm) and cut
into ``--tile`` px tiles that carry its processing.

For each fold one micrograph (``--leave micrograph``; or every micrograph of one processing,
``--leave condition``: truly unseen processing) is held out; a conditional flow (``net tiny``,
conditioned on anneal_temperature_C and log10_anneal_time_h) is trained on the other tiles,
generates as many tiles as the held-out micrograph has for its processing, and the generated
tiles are compared with its real tiles (:mod:`matgen.evaluate.processing`: phase-fraction error,
relative characteristic-length error, S₂ distance). References: ``same`` — the training tiles of
the same processing (other replicates; the natural spread between micrographs); ``nearest`` —
the training tiles of the nearest OTHER processing in normalised (1/T, ln t), the baseline.

What 24 masks allow: 5 processing conditions, one cooling (Q), and temperature confounded with
time (970 °C only at 5 min), so a model can learn at most a 1-D trend along anneal time at 800 °C
plus one other point; leave-one-micrograph-out tests replicate-to-replicate generation, not
unseen processing, and ``--leave condition`` can only interpolate for 8 h and 24 h. Skips with a
message when the masks are absent. ``--quick``: 32 px tiles, 200 steps, 2 folds (~2-3 minutes).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

PATTERN = "{anneal_temperature_C}C-{anneal_time_h:duration}-{cooling}-{replicate}"
PX_PER_UM = 26.0  # PROVENANCE.md: the spheroidite masks are at 26 px/µm
DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "micrographs" / "uhcs" / "spheroidite-tif" / "labels"


def load_tiles(folder: Path, tile: int):
    """The masks halved (237 × 322 px) and cut into tile × tile rows, with processing and a ``log10_anneal_time_h`` column."""
    from matgen.data.dataset import Condition
    from matgen.data.importers import ConditionSource, import_images

    ds = import_images([folder], ConditionSource(name_pattern=PATTERN), resize=(237, 322), tile=tile,
                       pixel_size=1 / PX_PER_UM).dataset
    ds.conditions["log10_anneal_time_h"] = Condition(np.log10(ds.conditions["anneal_time_h"].values), unit="log10 h",
                                                     role="processing", description="log10 of the anneal time in h")
    return ds


def folds(micrograph: np.ndarray, key: np.ndarray, leave: str, which: str) -> list[np.ndarray]:
    """Row masks of the held-out sets, one micrograph (or one processing) each.

    ``which``: ``all``; ``per-condition`` (leave micrograph: the first micrograph of each processing);
    or a number N: the first N of the per-condition order followed by the rest.
    """
    if leave == "condition":
        names = list(dict.fromkeys(key))
        groups = key
    else:
        firsts: dict[str, str] = {}
        for m, k in zip(micrograph, key):
            firsts.setdefault(k, m)
        names = list(firsts.values()) + [m for m in dict.fromkeys(micrograph) if m not in firsts.values()]
        groups = micrograph
    if which == "per-condition":
        names = names[:len(set(key))]
    elif which != "all":
        names = names[:int(which)]
    return [groups == name for name in names]


def run_fold(ds, held: np.ndarray, key: np.ndarray, args, k: int) -> dict:
    from matgen.data import write
    from matgen.evaluate.processing import compare_sets, nearest_processing
    from matgen.sample import sample
    from matgen.train import TrainConfig, train

    fold_dir = args.out / f"fold{k:02d}"
    fold_dir.mkdir(parents=True, exist_ok=True)
    training = ds.take(np.flatnonzero(~held))
    real = ds.signals[held]
    temp = float(ds.conditions["anneal_temperature_C"].values[held][0])
    hours = float(ds.conditions["anneal_time_h"].values[held][0])
    config = TrainConfig(model="flow", conditions=("anneal_temperature_C", "log10_anneal_time_h"), net="tiny",
                         steps=args.steps, lr=1e-3, batch_size=32, warmup_steps=min(100, args.steps // 10),
                         eval_every=max(1, args.steps // 4), seed=args.seed, device="cpu")
    train(write(fold_dir / "train.h5", training), config, fold_dir / "flow", force=True)
    made = sample(fold_dir / "flow", {"anneal_temperature_C": temp, "log10_anneal_time_h": float(np.log10(hours))},
                  n=len(real), sampler="heun", steps=16, seed=1000 * k, device="cpu").dataset.signals
    row = {"held_out": str(ds.ids[held][0]).split("#")[0], "temperature_C": temp, "time_h": hours,
           "tiles": int(held.sum()), "model": compare_sets(made, real)}
    train_key = key[~held]
    same = train_key == key[held][0]
    if same.any():
        row["same"] = compare_sets(training.signals[same], real)
    others = sorted(set(train_key) - {key[held][0]})
    t_o = np.array([float(o.split("|")[0]) for o in others])
    h_o = np.array([float(o.split("|")[1]) for o in others])
    nearest = others[int(nearest_processing(t_o, h_o, [temp], [hours], 1)[0, 0])]
    row["nearest_processing"] = nearest
    row["nearest"] = compare_sets(training.signals[train_key == nearest], real)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of the UHCS spheroidite label TIFs")
    parser.add_argument("--tile", type=int, default=64, help="tile side in px (after halving: 13 px/µm)")
    parser.add_argument("--steps", type=int, default=1500, help="training steps per fold")
    parser.add_argument("--folds", default="per-condition", help="per-condition (one micrograph each), all, or a number")
    parser.add_argument("--leave", choices=("micrograph", "condition"), default="micrograph")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("uhcs_processing_results"))
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is fastest on a shared 2-core machine)")
    parser.add_argument("--quick", action="store_true", help="32 px tiles, 200 steps, 2 folds")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.quick:
        args.tile, args.steps, args.folds = 32, 200, "2"
    if not args.data.is_dir() or not list(args.data.glob("*.tif")):
        print(f"skipped: the UHCS spheroidite masks are not at {args.data} (see ../shared/data/micrographs/uhcs/"
              "PROVENANCE.md; pass --data DIR)")
        sys.exit(0)
    args.out.mkdir(parents=True, exist_ok=True)
    clock = time.perf_counter()
    ds = load_tiles(args.data, args.tile)
    micrograph = np.array([str(i).split("#")[0] for i in ds.ids])
    key = np.array([f"{t:g}|{h:g}" for t, h in zip(ds.conditions["anneal_temperature_C"].values,
                                                    ds.conditions["anneal_time_h"].values)])
    print(f"{len(ds)} tiles of {args.tile} px from {len(set(micrograph))} masks, {len(set(key))} processing "
          f"conditions ({', '.join(sorted(set(key)))}) in {time.perf_counter() - clock:.0f} s")
    rows = []
    for k, held in enumerate(folds(micrograph, key, args.leave, args.folds)):
        clock = time.perf_counter()
        rows.append(run_fold(ds, held, key, args, k))
        print(f"  fold {k}: {rows[-1]['held_out']} ({time.perf_counter() - clock:.0f} s)")
    report(rows, ds.pixel_size)
    (args.out / "uhcs_processing.json").write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                                               "rows": rows}, indent=1))


def report(rows: list[dict], um_per_px: float) -> None:
    methods = ("model", "same", "nearest")

    def cells(r: dict, metric: str, scale: float, width: int, digits: int) -> str:
        return " ".join(f"{r[m][metric] * scale:{width}.{digits}f}" if m in r else f"{'-':>{width}}" for m in methods)

    print(f"\n{'held out':<14} {'tiles':>5} | {'φ real':>6} {'model':>6} {'same':>6} {'near':>6} | "
          f"{'L µm real':>9} {'model':>6} {'same':>6} {'near':>6} | {'S2 model':>8} {'same':>8} {'near':>8}")
    for r in rows:
        print(f"{r['held_out']:<14} {r['tiles']:5d} | {r['model']['phase_fraction_ref']:6.3f} "
              f"{cells(r, 'phase_fraction', 1, 6, 3)} | {r['model']['length_px_ref'] * um_per_px:9.2f} "
              f"{cells(r, 'length_px', um_per_px, 6, 2)} | {cells(r, 's2_distance', 1, 8, 5)}")
    print(f"\n{'median over folds':<18} {'φ err':>7} {'L err':>7} {'S2 dist':>8}  (same: other replicates of the "
          "held-out processing; nearest: tiles of the nearest other processing, the baseline)")
    for method in methods:
        have = [r[method] for r in rows if method in r]
        if have:
            print(f"{method:<18} {np.median([c['phase_fraction_error'] for c in have]):7.4f} "
                  f"{np.median([c['length_error'] for c in have]):7.1%} {np.median([c['s2_distance'] for c in have]):8.5f}")


if __name__ == "__main__":
    main()
