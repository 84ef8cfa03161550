"""Training throughput of one process against several under torchrun (DistributedDataParallel), same model and batch.

    python benchmarks/ddp_throughput.py [--nproc 2] [--steps 40] [--batch 32] [--size 32] [--net tiny] [--device cpu]

Trains the same run twice with ``matgen train`` on random 2-phase label maps (one condition), the
same global batch and seed: once as one process with ``--nproc`` torch threads
(OMP_NUM_THREADS=nproc), once as ``torchrun --standalone --nproc-per-node NPROC`` with one thread
per process (OMP_NUM_THREADS=1; gloo on the CPU, NCCL with --device cuda). So both use the same
cores; the question is whether DDP's split of the batch beats intra-op threads. Prints each run's
samples/s (median of the metrics.csv rows after the first, which holds start-up) and the ratio.
Both runs train the same model (tests/test_ddp.py checks that). Run it on a quiet machine: any
other load changes both figures. About a minute on 2 CPU cores with the defaults.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def random_maps(path: Path, n: int, size: int, seed: int = 0) -> Path:
    """Write n random 2-phase label maps (n, size, size) with their phase fraction as the condition."""
    from matgen.data import Condition, Dataset, write

    rng = np.random.default_rng(seed)
    noise = np.fft.fft2(rng.normal(size=(n, size, size)))
    k2 = np.fft.fftfreq(size)[:, None] ** 2 + np.fft.fftfreq(size)[None] ** 2
    field = np.real(np.fft.ifft2(noise * np.exp(-k2 / 0.1**2)))  # smooth periodic fields
    labels = (field > 0).astype(np.uint8)
    fraction = Condition(labels.mean(axis=(1, 2)), "", "property", description="phase-1 area fraction")
    return write(path, Dataset("micrograph", labels, {"fraction": fraction}, signal_type="labels",
                               attrs={"builder": "spinodal"}))


def train(data: Path, run: Path, nproc: int, threads: int, args) -> float:
    """Train ``run`` with ``nproc`` processes of ``threads`` threads each; return its median samples/s."""
    options = ["train", str(data), "-o", str(run), "--net", args.net, "--steps", str(args.steps), "--batch-size",
               str(args.batch), "--condition", "fraction", "--device", args.device, "--val-fraction", "0",
               "--log-every", str(max(1, args.steps // 6)), "--checkpoint-every", str(args.steps), "--force"]
    launcher = [sys.executable, "-m", "matgen"] if nproc == 1 else \
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc), "-m", "matgen"]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(launcher + options, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(launcher[2:])} failed:\n{done.stderr[-12000:]}")
    from matgen.runs.metrics import read_metrics

    rates = [row["samples_per_s"] for row in read_metrics(run)]
    return statistics.median(rates[1:] or rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nproc", type=int, default=2, help="processes of the DDP run, and threads of the single one")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch", type=int, default=32, help="the global batch (a multiple of --nproc)")
    parser.add_argument("--size", type=int, default=32, help="micrograph size, px")
    parser.add_argument("--net", default="tiny")
    parser.add_argument("--device", default="cpu", help="cpu (gloo) or cuda (NCCL, one GPU per process)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = random_maps(Path(tmp) / "maps.h5", n=4 * args.batch, size=args.size)
        single_threads = args.nproc if args.device == "cpu" else 1
        one = train(data, Path(tmp) / "one", 1, single_threads, args)
        many = train(data, Path(tmp) / "many", args.nproc, 1, args)
    print(f"{args.net} U-Net, {args.size}x{args.size} label maps, global batch {args.batch}, {args.steps} steps, "
          f"{args.device}")
    print(f"1 process, {single_threads} thread(s):           {one:8.1f} samples/s")
    print(f"{args.nproc} processes (DDP), 1 thread each:  {many:8.1f} samples/s")
    print(f"ratio DDP / single:                {many / one:8.2f}")


if __name__ == "__main__":
    main()
