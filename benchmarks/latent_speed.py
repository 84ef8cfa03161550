"""Time per training step of latent diffusion against pixel diffusion with the same U-Net preset (target: >= 3x faster).

    python benchmarks/latent_speed.py [--size 64] [--net small] [--batch 16] [--steps 10] [--threads 2] [--device cpu]

Both models come from the registry as ``matgen train`` builds them (64 x 64 conditional label maps,
one condition): ``diffusion`` on x (B, 1, 64, 64), ``latent`` on its autoencoder's latents
(B, 4, 16, 16) (the default autoencoder, f = 4). A latent step is the inner U-Net's step alone: the
training set is encoded once, before step 0 (``training_inputs``), so the frozen autoencoder costs
nothing per step. Prints the median wall time of ``--steps`` timed steps (after two warm-up steps)
of :func:`matgen.train.loop.train_step` for each, and the ratio.
"""

import argparse
import statistics
import time

import torch

from matgen.nets import ConditionSpec, autoencoder_preset, unet_preset
from matgen.runs import ModelConfig, build_model
from matgen.train import TrainConfig
from matgen.train.loop import step_generator, train_step


def configs(size: int, net: str) -> dict[str, tuple[ModelConfig, tuple]]:
    """kind -> (its ModelConfig, the shape (C, *S) of its training inputs) at ``size`` x ``size`` px."""
    specs = [ConditionSpec("fraction", mean=0.5, std=0.1, minimum=0.2, maximum=0.8)]
    width = unet_preset(net).time_dim
    pixel = unet_preset(net, dims=2, in_channels=1, out_channels=1, cond_dim=width, circular=True)
    ae = autoencoder_preset("tiny", dims=2, circular=True)
    z = ae.latent_shape((size, size))
    ae_config = ModelConfig("autoencoder", ae.to_dict(), [], 0, "", "", 0, "mse")
    inner = unet_preset(net, dims=2, in_channels=z[0], out_channels=z[0], cond_dim=width, circular=True)
    latent = ModelConfig("latent", inner.to_dict(), specs, width, options={
        "inner": "diffusion", "autoencoder": {"config": ae_config.to_dict()}, "latent_shape": list(z), "scale_factor": 1.0})
    return {"diffusion": (ModelConfig("diffusion", pixel.to_dict(), specs, width), (1, size, size)),
            "latent": (latent, z)}


def time_steps(config: ModelConfig, shape: tuple, batch: int, steps: int, device: torch.device) -> float:
    """Median seconds per optimizer step of ``config``'s model on random inputs (batch, *shape)."""
    torch.manual_seed(0)
    model = build_model(config).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    options = TrainConfig(batch_size=batch, device=str(device))
    x, cond = torch.randn(batch, *shape, device=device), torch.rand(batch, 1, device=device)
    times = []
    for step in range(steps + 2):
        start = time.perf_counter()
        train_step(model, optimizer, x, cond, options, step, step_generator(0, step, device))
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times[2:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--net", default="small")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    seconds = {}
    for kind, (config, shape) in configs(args.size, args.net).items():  # one at a time
        seconds[kind] = time_steps(config, shape, args.batch, args.steps, device)
        print(f"{kind:9s} {args.net} U-Net on {tuple(shape)}: {1000 * seconds[kind]:.1f} ms/step (batch {args.batch})")
    print(f"latent diffusion is {seconds['diffusion'] / seconds['latent']:.1f}x faster per training step")


if __name__ == "__main__":
    main()
