"""Speed of FFT elastic homogenization (targets on 2 CPU cores: < 10 ms/image at 64x64, < 200 at 256x256).

    python benchmarks/elastic_speed.py [--device auto|cpu|cuda] [--dtype float64|float32] [--repeats 3]

Micrographs are thresholded smoothed noise (about half SiC in Al, contrast 410/70 = 5.9), solved
for all three unit loads at tol 1e-6 (float64) or 1e-5 (float32). Prints the best time over the repeats per image (wall, and
process CPU time, steadier on a shared machine), the mean CG iterations, and the mean orientation-averaged Young's modulus as a sanity figure.
"""

import argparse
import time

import torch

from matgen.physics.elastic import homogenize


def micrographs(n: int, size: int, seed: int = 0) -> torch.Tensor:
    """Return (n, size, size) periodic Al/SiC label maps: box-smoothed noise split at its median."""
    g = torch.Generator().manual_seed(seed)
    noise = torch.rand(n, 1, size, size, generator=g)
    k = max(3, size // 10) | 1
    padded = torch.nn.functional.pad(noise, (k // 2,) * 4, mode="circular")
    smooth = torch.nn.functional.avg_pool2d(padded, k, 1)[:, 0]
    return (smooth > smooth.flatten(1).median(1).values[:, None, None]).long()


def time_case(n: int, size: int, device: str, dtype: torch.dtype, repeats: int, tol: float) -> None:
    x = micrographs(n, size).to(device)
    homogenize(x[:1], dtype=dtype, tol=tol)  # warm-up
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        start, start_cpu = time.perf_counter(), time.process_time()
        result = homogenize(x, dtype=dtype, tol=tol)
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
        best_cpu = min(best_cpu, time.process_time() - start_cpu)
    print(f"{n:3d} x {size}x{size} {str(dtype):14s} {device:5s}: {best / n * 1e3:8.2f} ms/image wall "
          f"({best:.2f} s batch; process CPU {best_cpu / n * 1e3:.2f} ms/image), "
          f"CG iterations {result.iterations.float().mean():.1f}, "
          f"E_mean {result.youngs_mean_gpa.mean():.1f} GPa")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tol", type=float, default=None,
                        help="CG tolerance (default 1e-6 for float64, 1e-5 for float32: single precision cannot resolve 1e-6)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    dtype = getattr(torch, args.dtype)
    tol = args.tol or (1e-6 if dtype == torch.float64 else 1e-5)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, CG tol {tol:g}")
    time_case(64, 64, device, dtype, args.repeats, tol)
    time_case(8, 256, device, dtype, args.repeats, tol)
