"""Time to build the built-in datasets (target: the default spinodal set, 2,000 × 64², under 2 min on 2 CPU cores).

    python benchmarks/build_speed.py [--n 2000] [--device auto|cpu|cuda] [--datasets spinodal,composite,xrd,raman,eels]

Builds each dataset with its defaults (``--n`` overrides the count) and prints wall time, process
CPU time (steadier on a shared machine) and time per sample. For spinodal it also splits the time
into the Cahn–Hilliard solve and the elastic homogenization.
"""

import argparse
import time

import numpy as np
import torch

from matgen.builders import build


def time_spinodal_parts(n: int, device: str) -> None:
    from matgen.builders.options import SpinodalOptions
    from matgen.physics.elastic import homogenize
    from matgen.physics.spinodal import spinodal

    o = SpinodalOptions()
    rng = np.random.default_rng(0)
    t = np.sort(o.anneal_time.draw(rng, n))[n // 2]  # a median anneal
    start = time.perf_counter()
    result = spinodal(200, o.size, 0.0, float(t), 1.25, seed=0, device=device)
    solve = (time.perf_counter() - start) / 200
    start = time.perf_counter()
    homogenize(result.micrograph, dtype=torch.float32, tol=1e-5)
    elastic = (time.perf_counter() - start) / 200
    print(f"  spinodal at the median anneal time {t:.0f} ({result.steps} steps): {1e3 * solve:.1f} ms/image; "
          f"homogenization {1e3 * elastic:.1f} ms/image")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--datasets", default="spinodal")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for name in args.datasets.split(","):
        extra = {"device": args.device} if name in ("spinodal", "composite") else {}
        start, start_cpu = time.perf_counter(), time.process_time()
        ds = build(name, n=args.n, **extra)
        wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
        print(f"{name}: {len(ds)} samples in {wall:.1f} s wall ({cpu:.1f} s CPU), {1e3 * wall / len(ds):.1f} ms/sample")
        if name == "spinodal":
            time_spinodal_parts(len(ds), "cuda" if args.device == "cuda" else "cpu")


if __name__ == "__main__":
    main()
