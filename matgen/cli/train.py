"""`matgen train DATA.h5 -o RUN`: train a conditional diffusion model, a VAE or a guidance regressor; one library call.

Options come from, in rising order: the TrainConfig defaults, ``--config run.toml``, the command
line. Library imports happen inside the command so that `matgen --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from matgen.cli.options import Backend, default_help
from matgen.errors import MatgenError
from matgen.train.config import TrainConfig

DEFAULTS = TrainConfig()


def _opt(help_text: str, *names: str):
    return typer.Option(*names, help=help_text, show_default=False)


def _field(help_text: str, name: str, *names: str):
    """An option of the TrainConfig field ``name``, its help ending in the field's default."""
    return _opt(default_help(help_text, DEFAULTS, name), *names)


def train(
    output: Annotated[Path, _opt("Run directory to write: config.json, model.safetensors (EMA weights), metrics.csv, "
                                 "checkpoint/ (for --resume).", "--output", "-o")],
    data: Annotated[Optional[Path], typer.Argument(help="Training dataset (.h5); with --resume it defaults to the run's.",
                                                   show_default=False)] = None,
    model: Annotated[Optional[str], _field("diffusion (U-Net denoiser), flow (flow matching / rectified flow: "
                                           "fewer sampler steps), vae (conditional VAE), regressor (predicts "
                                           "the --condition properties from noisy inputs, for `matgen sample "
                                           "--regressor`), autoencoder (for latent diffusion) or latent (diffusion on "
                                           "an --autoencoder run's latents)", "model")] = None,
    autoencoder: Annotated[Optional[Path], _opt("Latent: the autoencoder run (trained with --model autoencoder on the "
                                                "same data) whose scaled latents the latent model diffuses.")] = None,
    condition: Annotated[Optional[List[str]], _opt(
        "Dataset condition(s) to condition on, comma-separated or repeated (e.g. density,anneal_time); any subset; "
        "their units and training ranges are stored in the run. A regressor predicts them instead (continuous "
        "ones only). `matgen data info DATA` lists them.",
        "--condition", "-c")] = None,
    config: Annotated[Optional[Path], _opt("A run.toml of training options (any TrainConfig field, plus a "
                                           "\\[net_options] table); command-line options override it.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --output exactly where its checkpoint "
                                         "stopped (weights, optimizer, EMA, RNG, data order). Only --steps, --epochs "
                                         "and --device may change.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Start afresh in an --output that already holds a run.")] = False,
    net: Annotated[Optional[str], _field("Network size: tiny (CPU tests), small, base or large (diffusion only)",
                                         "net")] = None,
    steps: Annotated[Optional[int], _field("Optimizer steps", "steps")] = None,
    epochs: Annotated[Optional[float], _opt("Train for this many passes over the training rows instead of --steps.")] = None,
    batch_size: Annotated[Optional[int], _field("Samples per step", "batch_size")] = None,
    lr: Annotated[Optional[float], _field("Peak AdamW learning rate after the linear warm-up; cosine decay to "
                                          "min_lr_ratio × lr (a --config option)", "lr")] = None,
    warmup_steps: Annotated[Optional[int], _field("Linear warm-up steps, at most a tenth of the run",
                                                  "warmup_steps")] = None,
    grad_clip: Annotated[Optional[float], _field("Clip the gradient norm to this; 0 = off", "grad_clip")] = None,
    ema_decay: Annotated[Optional[float], _field("EMA decay of the weights that are saved for sampling, capped so its "
                                                 "horizon is at most a tenth of the run", "ema_decay")] = None,
    val_fraction: Annotated[Optional[float], _field("Fraction of rows held out for the validation loss",
                                                    "val_fraction")] = None,
    eval_every: Annotated[Optional[int], _field("Validation loss every this many steps", "eval_every")] = None,
    log_every: Annotated[Optional[int], _field("A metrics.csv row every this many steps", "log_every")] = None,
    checkpoint_every: Annotated[Optional[int], _field("Save checkpoint/ every this many steps",
                                                      "checkpoint_every")] = None,
    seed: Annotated[Optional[int], _field("Seed of the split, data order, noise and initial weights", "seed")] = None,
    device: Annotated[Optional[str], _field("auto (CUDA when available), cpu or cuda; bf16 autocast on CUDA",
                                            "device")] = None,
    prediction: Annotated[Optional[str], _field("Diffusion: what the U-Net predicts, eps, x0 or v",
                                                "prediction")] = None,
    schedule: Annotated[Optional[str], _field("Diffusion and regressor: noise schedule, linear or cosine; a regressor "
                                              "must share its diffusion run's", "schedule")] = None,
    min_snr: Annotated[Optional[float], _field("Diffusion: min-SNR-gamma loss weighting; 0 = unit weights",
                                               "min_snr")] = None,
    cond_drop: Annotated[Optional[float], _field("Probability each condition is hidden per sample in training, for "
                                                 "classifier-free guidance and partial targets", "cond_drop")] = None,
    beta: Annotated[Optional[float], _field("VAE: weight of the KL term", "beta")] = None,
    kl_warmup: Annotated[Optional[int], _field("VAE: steps over which the KL weight rises from 0 to beta",
                                               "kl_warmup")] = None,
    free_bits: Annotated[Optional[float], _field("VAE: free bits, nats per latent dimension", "free_bits")] = None,
    likelihood: Annotated[Optional[str], _field("VAE: mse, bce, or auto = bce for two-phase label maps",
                                                "likelihood")] = None,
    kl_weight: Annotated[Optional[float], _field("Autoencoder: weight of the summed KL against the summed squared "
                                                 "error (LDM's 1e-6)", "kl_weight")] = None,
    latent_model: Annotated[Optional[str], _field("Latent: the model trained on the autoencoder's latents, diffusion or "
                                                  "flow", "latent_model")] = None,
    circular: Annotated[Optional[bool], _opt("Periodic padding (default: on for the built-in periodic micrographs, "
                                             "spinodal and composite; off otherwise).", "--circular/--no-circular")] = None,
    spectrum_norm: Annotated[Optional[str], _field("Spectra, per spectrum: max (s / max s) or log-max "
                                                   "(log1p(1000 s / max s) / log1p(1000))", "spectrum_norm")] = None,
    backend: Backend = "auto",
) -> None:
    """Train a conditional diffusion model, VAE or guidance regressor on a matgen dataset; Ctrl-C saves a checkpoint.

    Under `torchrun --nproc-per-node N -m matgen train ...` the N processes train one model together
    (DistributedDataParallel; --batch-size is the global batch), as docs/scaling.md describes."""
    from matgen.cli.progress import progress_bar
    from matgen.common.distributed import join
    from matgen.runs import read_config
    from matgen.train import read_toml
    from matgen.train import resume as resume_run
    from matgen.train import train as train_run

    conditions = None if condition is None else tuple(c.strip() for item in condition for c in item.split(",") if c.strip())
    options = dict(model=model, conditions=conditions, net=net, steps=steps, epochs=epochs, batch_size=batch_size, lr=lr,
                   warmup_steps=warmup_steps, grad_clip=grad_clip, ema_decay=ema_decay, val_fraction=val_fraction,
                   eval_every=eval_every, log_every=log_every, checkpoint_every=checkpoint_every, seed=seed,
                   device=device, prediction=prediction, schedule=schedule, cond_drop=cond_drop, beta=beta,
                   kl_warmup=kl_warmup, free_bits=free_bits, likelihood=likelihood, circular=circular,
                   spectrum_norm=spectrum_norm, kl_weight=kl_weight, latent_model=latent_model,
                   autoencoder=None if autoencoder is None else str(autoencoder))
    if resume:
        fixed = sorted(k for k, v in options.items() if v is not None and k not in ("steps", "epochs", "device"))
        fixed += ["--config"] if config is not None else []
        fixed += ["--min-snr"] if min_snr is not None else []
        if fixed:
            raise MatgenError(f"--resume continues with the run's own options; only --steps, --epochs and --device may "
                              f"change (got {', '.join(fixed)})")
        join(device or read_config(output).train.get("device", "auto"), backend)  # torchrun: one process group
        with progress_bar("training") as progress:
            result = resume_run(output, data, steps=steps, epochs=epochs, device=device, progress=progress)
    else:
        if data is None:
            raise MatgenError("give the training dataset: matgen train DATA.h5 -o RUN_DIR (or --resume to continue a run)")
        if steps is not None and epochs is not None:
            raise MatgenError("give --steps or --epochs, not both")
        base = read_toml(config) if config is not None else TrainConfig()
        if steps is not None and epochs is None:
            base.epochs = None
        train_config = base.override(**options)
        if min_snr is not None:
            train_config.min_snr = min_snr if min_snr > 0 else None
        join(train_config.device, backend)  # under torchrun: one process group
        with progress_bar("training") as progress:
            result = train_run(data, train_config, output, progress=progress, force=force)
    _report(result)


def _report(result) -> None:
    from matgen.cli.show import console

    val = f", val loss {result.val_loss:.4g}" if result.val_loss is not None else ""
    loss = f"loss {result.loss:.4g}" if result.loss is not None else "no new steps"
    console.print(f"[green]trained[/green] {result.steps} steps → {result.run_dir} ({loss}{val}, "
                  f"{result.samples_per_s:.0f} samples/s)", highlight=False)
    from matgen.cli.progress import print_warnings

    print_warnings(result.warnings)


def reflow(
    flow_run: Annotated[Path, typer.Argument(help="A flow run (matgen train --model flow).", show_default=False)],
    output: Annotated[Path, _opt("New run directory; it also keeps the pairs as reflow-pairs.h5.", "--output", "-o")],
    steps: Annotated[int, typer.Option(help="Optimizer steps of the reflow training (fine-tuning the flow run on "
                                       "its pairs).")] = 2000,
    copies: Annotated[int, typer.Option(help="(noise, sample) pairs per training row, each with its own noise.")] = 4,
    sampler: Annotated[str, typer.Option(help="ODE solver making the pairs: heun, euler or midpoint.")] = "heun",
    sample_steps: Annotated[int, typer.Option(help="Steps of that solver per pair.")] = 32,
    seed: Annotated[int, typer.Option(help="Pair i uses noise seed + i; also seeds the training.")] = 0,
    lr: Annotated[Optional[float], _opt("Peak learning rate (default: the flow run's).")] = None,
    device: Annotated[Optional[str], _opt("auto, cpu or cuda (default: as the flow run was trained).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace a run already in --output.")] = False,
) -> None:
    """Straighten a flow run's paths (Liu et al. 2023): sample (noise, sample) pairs for the training rows' conditions,
    then train on them, so that 1-4 Euler steps give good samples (`matgen sample OUT --sampler euler --steps 2`)."""
    from matgen.cli.progress import progress_bar
    from matgen.train.reflow import reflow as reflow_run

    with progress_bar("reflow") as progress:
        result = reflow_run(flow_run, output, steps=steps, copies=copies, sampler=sampler, sample_steps=sample_steps,
                            seed=seed, lr=lr, device=device, progress=progress, force=force)
    _report(result)
