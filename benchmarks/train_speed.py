"""Training and sampling speed of matgen's default U-Nets, against lucidrains' denoising-diffusion-pytorch.

    python benchmarks/train_speed.py                                   # matgen only
    bash benchmarks/setup_peer.sh                                      # once: a venv with the peer
    benchmarks/.peer-venv/bin/python benchmarks/train_speed.py --peer  # matgen and the peer, same run

For the default 1-D (spectra, L = 1024) and 2-D (micrographs, 64×64) models it prints:
training samples/s (forward + backward + AdamW step of the ε-prediction loss, batch 32), sampling
ms per network evaluation (a forward pass at batch 16 under inference mode), and the achieved
GFLOP/s (FLOPs counted by torch's FlopCounterMode) as a fraction of a 2048³ float32 matmul timed
in the same run. With ``--peer``, the same figures for the peer's ``Unet1D`` / ``Unet`` sized to
the nearest parameter count (its ``dim`` searched), and the ratio ours / peer. The peer imports
torchvision at module level; an empty stub stands in for it (torchvision is never installed).
Figures are best-of-``--repeats`` medians, comparable run to run as ratios on a shared machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import types

import torch
from torch.utils.flop_counter import FlopCounterMode

from matgen.nets import UNet, unet_preset

BATCH_TRAIN = 32
BATCH_SAMPLE = 16
SHAPES = {1: (1, 1024), 2: (1, 64, 64)}


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    """Best float32 GFLOP/s of an n×n×n matmul."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def train_step_fn(model, x0: torch.Tensor, forward):
    """One ε-prediction training step (noising, forward, MSE, backward, AdamW)."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    g = torch.Generator().manual_seed(0)

    def step():
        t = torch.randint(0, 1000, (len(x0),), generator=g)
        alpha_bar = torch.cos(t / 1000 * torch.pi / 2).clamp_min(1e-3) ** 2
        shape = (-1,) + (1,) * (x0.dim() - 1)
        eps = torch.randn(x0.shape, generator=g)
        x_t = alpha_bar.sqrt().view(shape) * x0 + (1 - alpha_bar).sqrt().view(shape) * eps
        loss = torch.nn.functional.mse_loss(forward(model, x_t, t.float()), eps)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def measure(model, dims: int, forward, repeats: int, steps: int) -> dict:
    """Training samples/s, sampling ms/evaluation, and FLOPs per training step of ``model``."""
    x0 = torch.randn(BATCH_TRAIN, *SHAPES[dims])
    step = train_step_fn(model, x0, forward)
    step()  # warm-up
    with FlopCounterMode(display=False) as counter:
        step()
    flops = counter.get_total_flops()
    train = statistics.median(min(_timed(step) for _ in range(steps)) for _ in range(repeats))
    xs = torch.randn(BATCH_SAMPLE, *SHAPES[dims])
    ts = torch.full((BATCH_SAMPLE,), 500.0)
    with torch.inference_mode():
        forward(model, xs, ts)
        sample = statistics.median(min(_timed(lambda: forward(model, xs, ts)) for _ in range(steps)) for _ in range(repeats))
    return {"params": parameters(model), "samples_per_s": BATCH_TRAIN / train, "ms_per_eval": 1e3 * sample,
            "gflops": flops / train / 1e9}


def ours(dims: int, preset: str) -> torch.nn.Module:
    return UNet(unet_preset(preset, dims=dims, in_channels=1, out_channels=1))


def peer(dims: int, target_params: int) -> torch.nn.Module:
    """The peer's U-Net of the given rank whose parameter count is nearest ``target_params``."""
    for name in ("torchvision", "torchvision.transforms", "torchvision.utils"):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules["torchvision"].transforms = sys.modules["torchvision.transforms"]
    sys.modules["torchvision"].utils = sys.modules["torchvision.utils"]
    from denoising_diffusion_pytorch import Unet, Unet1D

    def build(dim: int):
        if dims == 1:
            return Unet1D(dim=dim, channels=1)
        return Unet(dim=dim, channels=1, flash_attn=False)

    best = min(range(4, 129, 4), key=lambda d: abs(parameters(build(d)) - target_params))
    return build(best)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small", help="matgen U-Net preset (the default of matgen train)")
    parser.add_argument("--peer", action="store_true", help="also time denoising-diffusion-pytorch (needs its venv)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--dims", default="1,2")
    args = parser.parse_args()
    peak = matmul_gflops()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; 2048³ float32 matmul: {peak:.1f} GFLOP/s")
    for dims in (int(d) for d in args.dims.split(",")):
        model = ours(dims, args.preset)
        a = measure(model, dims, lambda m, x, t: m(x, t), args.repeats, args.steps)
        shape = "×".join(map(str, SHAPES[dims][1:]))
        print(f"{dims}-D {shape} matgen {args.preset}: {a['params'] / 1e6:.2f} M params, "
              f"{a['samples_per_s']:.1f} train samples/s, {a['ms_per_eval']:.1f} ms/eval (batch {BATCH_SAMPLE}), "
              f"{a['gflops']:.1f} GFLOP/s = {a['gflops'] / peak:.2f} of matmul")
        if args.peer:
            b = measure(peer(dims, a["params"]), dims, lambda m, x, t: m(x, t), args.repeats, args.steps)
            print(f"{dims}-D {shape} peer: {b['params'] / 1e6:.2f} M params, {b['samples_per_s']:.1f} train samples/s, "
                  f"{b['ms_per_eval']:.1f} ms/eval, {b['gflops']:.1f} GFLOP/s = {b['gflops'] / peak:.2f} of matmul")
            print(f"{dims}-D ratio matgen/peer: training {a['samples_per_s'] / b['samples_per_s']:.2f}×, "
                  f"sampling {b['ms_per_eval'] / a['ms_per_eval']:.2f}×")


if __name__ == "__main__":
    main()
