"""GPU check: training (bf16 autocast), sampling, the elastic solver and a 2-process DDP step on a CUDA device,
each checked against the CPU within a stated tolerance, with throughput. Under 5 minutes on one GPU.

    python benchmarks/gpu_check.py [--device cuda] [--out DIR] [--quick]

Checks (tolerance; why):

1. ``network fp32``: one denoiser call of the same weights on the same input, CUDA vs CPU: max
   |ΔD| / max|D| ≤ 1e-3 (cuDNN convolutions may use TF32, ~1e-3 relative).
2. ``network bf16``: the same call under bf16 autocast, as training runs it: ≤ 3e-2 (bf16 keeps 8
   bits of mantissa, ~4e-3 per operation, accumulated through the U-Net).
3. ``training``: the same run (seed, data, 60 steps) on CUDA with bf16 autocast and on the CPU:
   the mean loss of the last 20 steps agrees within 25 % (the steps' noise comes from a generator
   on the run's device, so the two runs see different noise: only the level can agree), and is finite.
4. ``sampling``: 16 label maps from the CPU-trained run, sampled on CUDA and on the CPU with the
   same seeds (the starting noise comes from CPU generators on every device): ≥ 99 % identical
   pixels (rounding differences flip pixels whose value is near the threshold).
5. ``elastic``: FFT homogenization of 8 two-phase 256×256 maps, float64, CUDA vs CPU: the
   orientation-mean Young's modulus within 1e-5 relative (both solve to CG tol 1e-6).
6. ``ddp``: with two or more GPUs, ``torchrun --nproc-per-node 2 -m matgen train`` (NCCL) against
   one GPU, same global batch: weights within 2e-2 (bf16 rounding differs with the shard size);
   skipped with one GPU.

Throughput printed: training samples/s (CPU and CUDA), ms per network call (batch 64, fp32 and
bf16), sampling samples/s, ms per 256×256 homogenization (float64 and float32). Writes
``gpu_check.json`` to ``--out``. Exit code 1 when a check fails. ``--device cpu`` runs every step
on the CPU against itself (a smoke run of the script on a machine without a GPU).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

TOLERANCES = {"network fp32": 1e-3, "network bf16": 3e-2, "training": 0.25, "sampling": 0.99, "elastic": 1e-5,
              "ddp": 2e-2}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _config(device: str, steps: int):
    from matgen.train import TrainConfig

    return TrainConfig(conditions=("density",), net="tiny", steps=steps, batch_size=32, lr=1e-3, warmup_steps=5,
                       eval_every=steps, log_every=1, checkpoint_every=steps, seed=0, device=device)


def _last_losses(run_result, count: int = 20) -> float:
    losses = [r["loss"] for r in run_result.metrics if r.get("loss") is not None]
    return float(np.mean(losses[-count:]))


def check_network(cpu_run: Path, device: torch.device) -> dict:
    """Checks 1-2 and ms per network call."""
    from matgen.runs import load_run

    run_cpu, run_dev = load_run(cpu_run), load_run(cpu_run)
    run_dev.model.to(device)
    g = torch.Generator().manual_seed(0)
    shape = (64, run_cpu.data.channels, *run_cpu.data.shape)
    x, sigma = torch.randn(shape, generator=g), torch.full((64,), 1.0)
    cond = torch.full((64, len(run_cpu.conditions)), 0.5) if run_cpu.conditions else None
    with torch.no_grad():
        reference = run_cpu.model.eval().denoiser(0.0)(x, sigma, cond)
        denoiser = run_dev.model.eval().denoiser(0.0)
        args = (x.to(device), sigma.to(device), None if cond is None else cond.to(device))
        fp32 = denoiser(*args).float().cpu()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            bf16 = denoiser(*args).float().cpu()
        timings = {}
        for label, enabled in (("fp32", False), ("bf16", device.type == "cuda")):
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled):
                denoiser(*args)
                _sync(device)
                start = time.perf_counter()
                for _ in range(10):
                    denoiser(*args)
                _sync(device)
            timings[label] = (time.perf_counter() - start) / 10 * 1e3
    scale = reference.abs().max().item()
    return {"network fp32": (fp32 - reference).abs().max().item() / scale,
            "network bf16": (bf16 - reference).abs().max().item() / scale,
            "ms_per_call_fp32_batch64": timings["fp32"], "ms_per_call_bf16_batch64": timings["bf16"]}


def check_sampling(cpu_run: Path, device: torch.device) -> dict:
    """Check 4 and sampling throughput."""
    from matgen.sample import sample

    kwargs = dict(n=16, steps=10, seed=0, batch_size=16)
    on_cpu = sample(cpu_run, {"density": 2.9}, device="cpu", **kwargs).dataset.signals
    sample(cpu_run, {"density": 2.9}, device=str(device), **kwargs)  # warm-up
    _sync(device)
    start = time.perf_counter()
    on_device = sample(cpu_run, {"density": 2.9}, device=str(device), **kwargs).dataset.signals
    _sync(device)
    seconds = time.perf_counter() - start
    return {"sampling": float(np.mean(on_cpu == on_device)), "sampling_samples_per_s": 16 / seconds}


def check_elastic(device: torch.device, n: int) -> dict:
    """Check 5 and ms per 256×256 homogenization."""
    from matgen.physics.elastic import homogenize

    sys.path.insert(0, str(Path(__file__).parent))
    from elastic_speed import micrographs

    maps = micrographs(n, 256)
    reference = homogenize(maps, dtype=torch.float64, tol=1e-6).youngs_mean_gpa
    out, timings = {}, {}
    for dtype, tol in ((torch.float64, 1e-6), (torch.float32, 1e-5)):
        on_device = maps.to(device)
        homogenize(on_device[:1], dtype=dtype, tol=tol)  # warm-up
        _sync(device)
        start = time.perf_counter()
        result = homogenize(on_device, dtype=dtype, tol=tol)
        _sync(device)
        timings[str(dtype).split(".")[1]] = (time.perf_counter() - start) / n * 1e3
        if dtype == torch.float64:
            out["elastic"] = ((result.youngs_mean_gpa.cpu() - reference).abs() / reference).max().item()
    out.update({f"ms_per_256x256_{k}": v for k, v in timings.items()})
    return out


def check_ddp(data: Path, work: Path, device: torch.device) -> dict:
    """Check 6: two GPUs (NCCL) against one, same global batch; skipped with fewer than two GPUs."""
    if device.type != "cuda" or torch.cuda.device_count() < 2:
        return {"ddp": None, "ddp_skipped": f"{torch.cuda.device_count() if device.type == 'cuda' else 0} GPU(s)"}
    from safetensors.torch import load_file

    common = ["train", str(data), "--net", "tiny", "--steps", "20", "--batch-size", "32", "--condition", "density",
              "--device", "cuda"]
    one = subprocess.run([sys.executable, "-m", "matgen", *common, "-o", str(work / "one")], capture_output=True,
                         text=True, timeout=240)
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                          "-m", "matgen", *common, "-o", str(work / "two")], capture_output=True, text=True,
                         timeout=240)
    if one.returncode or two.returncode:
        return {"ddp": float("inf"), "ddp_error": (one.stderr + two.stderr)[-2000:]}
    a, b = load_file(str(work / "one" / "model.safetensors")), load_file(str(work / "two" / "model.safetensors"))
    return {"ddp": max((a[k].float() - b[k].float()).abs().max().item() for k in a)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/gpu_check"))
    parser.add_argument("--quick", action="store_true", help="fewer steps and maps (a smoke run)")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: run on a machine with a GPU, or --device cpu for a smoke run", file=sys.stderr)
        return 2
    from matgen.builders import build
    from matgen.data import write
    from matgen.train import train

    device = torch.device(args.device)
    args.out.mkdir(parents=True, exist_ok=True)
    steps = 20 if args.quick else 60
    started = time.time()
    name = torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu"
    print(f"torch {torch.__version__}, device {name}, CUDA devices {torch.cuda.device_count()}, "
          f"CPU threads {torch.get_num_threads()}")
    figures: dict = {"device": name, "torch": torch.__version__}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = write(work / "composite.h5", build("composite", n=256, size=32, seed=0))
        cpu = train(data, _config("cpu", steps), work / "cpu")
        dev = train(data, _config(args.device, steps), work / "dev")
        cpu_loss, dev_loss = _last_losses(cpu), _last_losses(dev)
        figures.update(training=abs(dev_loss - cpu_loss) / cpu_loss if np.isfinite(dev_loss) else float("inf"),
                       training_loss_cpu=cpu_loss, training_loss_device=dev_loss,
                       training_samples_per_s_cpu=cpu.samples_per_s, training_samples_per_s_device=dev.samples_per_s)
        figures.update(check_network(work / "cpu", device))
        figures.update(check_sampling(work / "cpu", device))
        figures.update(check_elastic(device, 2 if args.quick else 8))
        figures.update(check_ddp(data, work, device))
    figures["seconds"] = time.time() - started
    failed = []
    for check, tolerance in TOLERANCES.items():
        value = figures.get(check)
        if value is None:
            print(f"{check:14s} skipped ({figures.get('ddp_skipped', '')})")
            continue
        ok = value >= tolerance if check == "sampling" else value <= tolerance
        failed += [] if ok else [check]
        bound = f">= {tolerance:g}" if check == "sampling" else f"<= {tolerance:g}"
        print(f"{check:14s} {value:.3g} (tolerance {bound}) {'ok' if ok else 'FAILED'}")
    for key, value in figures.items():
        if key not in TOLERANCES and isinstance(value, float):
            print(f"{key:34s} {value:.4g}")
    (args.out / "gpu_check.json").write_text(json.dumps(figures, indent=1, default=str))
    print(f"{'all checks passed' if not failed else 'FAILED: ' + ', '.join(failed)} in {figures['seconds']:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
