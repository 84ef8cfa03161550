"""The training loop: AdamW, warm-up + cosine learning rate, gradient clipping, EMA, validation, resume.

One optimizer step (:func:`train_step`) draws its batch and its noise from pure functions of
(seed, step) -- the data order is an endless stream of per-epoch permutations, the noise a
generator seeded by (seed, step) -- so a run resumed from its checkpoint continues exactly as if
it had never stopped: weights, AdamW moments, EMA, step and RNG states are all restored, and the
learning rate is a pure function of the step. On a CPU ``train 20 steps`` and ``train 10 steps,
interrupt, resume 10 steps`` give bit-identical weights (tests/test_train.py).

Under torchrun the processes train one model with DistributedDataParallel: each computes the rows
:func:`~matgen.common.distributed.batch_shard` of every global batch, drawing the whole batch's
noise and cutting its rows, so the run is the single-process run up to rounding
(tests/test_ddp.py); rank 0 alone validates and writes metrics and checkpoints (docs/scaling.md).

EMA: torch's own :class:`~torch.optim.swa_utils.AveragedModel` with ``get_ema_multi_avg_fn``; its
weights compute the validation loss and are what ``model.safetensors`` holds for sampling.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from matgen.common.device import resolve_device
from matgen.common.distributed import (
    SINGLE, BatchShard, World, barrier, batch_shard, current_world, held_by_main, join, mean_over_ranks,
    process_device, run_on_main, torchrun_world, whole_batch,
)
from matgen.common.files import file_sha256
from matgen.common.locks import folder_lock
from matgen.common.progress import Progress, no_progress
from matgen.data import read
from matgen.data.dataset import Dataset
from matgen.data.split import split
from matgen.errors import MatgenError
from matgen.nets import random_drop_mask
from matgen.runs import DataSpec, ModelConfig, RunFiles, build_model, condition_matrix, read_config, to_network
from matgen.runs.card import write_model_card
from matgen.runs.checkpoint import load_checkpoint, save_checkpoint
from matgen.runs.config import RUN_FORMAT, write_config
from matgen.runs.metrics import read_metrics, write_metrics
from matgen.runs.tensors import save_tensors
from matgen.train.config import TrainConfig
from matgen.train.ddp import training_objective
from matgen.train.plan import plan


@dataclass
class RunResult:
    """What a call to :func:`train` or :func:`resume` did."""

    run_dir: Path  # the run directory
    steps: int  # optimizer steps done in total
    loss: float | None  # the last logged training loss
    val_loss: float | None  # the last validation loss (EMA weights); None without a validation part
    samples_per_s: float  # training throughput of this call
    metrics: list[dict] = field(default_factory=list)  # every metrics.csv row
    warnings: list[str] = field(default_factory=list)  # e.g. VAE posterior collapse


def learning_rate(step: int, lr: float, warmup_steps: int, total_steps: int, min_ratio: float = 0.1) -> float:
    """Return the learning rate at 0-based ``step``.

    1. warm-up, step < W:   lr (step + 1) / W
    2. cosine decay:        lr (r + (1 - r) (1 + cos(pi p)) / 2),  p = (step - W) / (total - W)
    3. past the end:        lr r      (r = ``min_ratio``)
    """
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    if step >= total_steps:
        return lr * min_ratio
    p = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return lr * (min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * p)))


def schedule_lengths(config: TrainConfig, n_train: int) -> tuple[int, int, float]:
    """Return (total steps, warm-up steps, EMA decay) for a run over ``n_train`` rows.

    ``epochs`` (when set) gives steps = ceil(epochs n_train / batch_size); the warm-up is at most
    a tenth of the run and the EMA horizon 1 / (1 - decay) at most a tenth of it too, so a short
    run's EMA does not still average its first, untrained weights.
    """
    steps = config.steps if config.epochs is None else max(1, math.ceil(config.epochs * n_train / config.batch_size))
    warmup = min(config.warmup_steps, steps // 10)
    decay = min(config.ema_decay, max(0.0, 1.0 - 10.0 / steps))
    return steps, warmup, decay


def batch_indices(seed: int, step: int, n: int, batch_size: int) -> np.ndarray:
    """Return the rows (batch_size,) of batch ``step``: positions step B .. (step + 1) B - 1 of an endless
    stream of epoch permutations, epoch e being ``default_rng([seed, e]).permutation(n)``."""
    rows, position = [], step * batch_size
    while len(rows) < batch_size:
        epoch, offset = divmod(position, n)
        take = np.random.default_rng([seed, epoch]).permutation(n)[offset: offset + batch_size - len(rows)]
        rows.extend(take.tolist())
        position += len(take)
    return np.asarray(rows)


def step_generator(seed: int, step: int, device: torch.device) -> torch.Generator:
    """Return the generator of step ``step``'s noise, timesteps and condition dropout: seeded by (seed, step)."""
    state = int(np.random.SeedSequence([seed, step]).generate_state(1, dtype=np.uint64)[0] >> 1)
    return torch.Generator(device).manual_seed(state)


def _autocast(device: torch.device):
    """bf16 autocast on CUDA; nothing on the CPU (where bf16 is slow and loses the resume bit-identity)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, cond: torch.Tensor,
               config: TrainConfig, step: int, generator: torch.Generator, shard: BatchShard | None = None,
               objective: nn.Module | None = None, world: World = SINGLE) -> float:
    """Do one optimizer step on the batch x (B, C, *S), cond (B, K); return its loss.

    In a run of several processes (``world``) x and cond are the rows ``shard`` of the global batch,
    ``objective`` is the DDP module of :func:`~matgen.train.ddp.training_objective`, and the loss
    returned is the global batch's (the mean of the processes' shard losses); every process then
    holds the same updated weights.
    """
    model.train()
    shard = whole_batch(len(x)) if shard is None else shard
    K = cond.shape[1]
    drop = shard.rows(random_drop_mask(shard.batch, K, config.cond_drop, generator, generator.device)).to(x.device) \
        if K else None
    with _autocast(x.device):
        loss = (objective or training_objective(model, SINGLE))(x, cond, drop, generator, config, step, shard)
    value = mean_over_ranks(loss.detach(), world)  # every process stops alike on a non-finite loss
    if not math.isfinite(value):
        raise MatgenError(f"the training loss became {value} at step {step + 1}; lower --lr or check the data")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if config.grad_clip > 0:
        nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
    optimizer.step()
    return value


@torch.no_grad()
def validate(model: nn.Module, x: torch.Tensor, cond: torch.Tensor, config: TrainConfig) -> tuple[float, str | None]:
    """Return (validation loss, warning) with fixed noise, so successive values compare.

    The loss is the model kind's ``validation_loss`` (diffusion and regressor: the training
    objective without condition dropout; VAE: the negative ELBO, nats per sample); the warning
    is its ``validation_warning`` of the latents it returned (VAE: posterior collapse), or None.
    """
    model.eval()
    generator = torch.Generator(x.device).manual_seed(config.seed + 1)
    total, latents = 0.0, []
    for start in range(0, len(x), config.batch_size):
        xb, cb = x[start: start + config.batch_size], cond[start: start + config.batch_size]
        with _autocast(x.device):
            loss, latent = model.validation_loss(xb, cb, generator, config)
        if latent is not None:
            latents.append(latent)
        total += float(loss) * len(xb)
    warning = type(model).validation_warning(torch.cat(latents)) if latents else None
    return total / len(x), warning


def _split(ds: Dataset, config: TrainConfig) -> tuple[Dataset, Dataset | None]:
    if config.val_fraction == 0 or len(ds) < 4:
        return ds, None
    parts = split(ds, (1.0 - config.val_fraction, config.val_fraction), seed=config.seed)
    return parts["train"], (parts["val"] if len(parts["val"]) else None)


def _tensors(part: Dataset, model: nn.Module, config: ModelConfig, data: DataSpec, device: torch.device):
    """(inputs, conditions (N, K)) of ``part``: the kind's ``training_inputs`` of its signals in network units."""
    x = torch.as_tensor(to_network(part.signals, data)).to(device)  # (N, C, *S)
    with torch.no_grad():
        x = model.training_inputs(x, part)
    cond = torch.as_tensor(condition_matrix(part, config.conditions)).to(device)  # (N, K)
    return x, cond


def train(data_path: str | Path, config: TrainConfig, run_dir: str | Path, progress: Progress = no_progress,
          force: bool = False) -> RunResult:
    """Train a model on the dataset file ``data_path`` into ``run_dir``; return what was done.

    Under torchrun every process calls this alike: they join one process group (nccl on CUDA, gloo
    on the CPU; :func:`matgen.common.distributed.join` called first chooses another), each computes
    its rows of every global batch, and rank 0 alone writes ``run_dir`` (docs/scaling.md); the
    result equals a single process's run.

    Raises:
        MatgenError: ``run_dir`` already holds a run (without ``force``), the dataset is unreadable,
            a condition is unknown (the message lists the dataset's), an option is invalid, or the
            batch size does not split evenly over the processes.
    """
    config.check()
    batch_shard(config.batch_size, torchrun_world())  # refused before any work when it does not split evenly
    world = join(config.device)
    run_dir, files = Path(run_dir), RunFiles(run_dir)
    run_on_main(lambda: _check_free(files, force), world)
    ds = read(data_path)
    train_part, val_part = _split(ds, config)
    model_config, data = plan(ds, train_part, str(Path(data_path).resolve()), file_sha256(data_path), config)
    data.n_train, data.n_val = len(train_part), 0 if val_part is None else len(val_part)

    def start() -> None:
        _check_free(files, force)  # again: another process may have trained here meanwhile
        files.clear_outputs()
        write_config(run_dir, model_config, data, config.to_dict())

    with held_by_main(folder_lock(run_dir, "run"), world):
        run_on_main(start, world)
        return _fit(run_dir, train_part, val_part, model_config, data, config, progress, resume=False)


def _check_free(files: RunFiles, force: bool) -> None:
    if files.holds_run() and not force:
        raise MatgenError(f"{files.root} already holds a run; continue it with --resume or pass --force to start "
                          "afresh")


def resume(run_dir: str | Path, data_path: str | Path | None = None, steps: int | None = None,
           epochs: float | None = None, device: str | None = None, progress: Progress = no_progress) -> RunResult:
    """Continue the run in ``run_dir`` from its checkpoint, exactly where it stopped.

    The number of processes may differ from the run's so far (under torchrun, as :func:`train`): the
    checkpoint holds the global state, and every process cuts its rows from the same global batches.

    Args:
        data_path: the training data (default: the path in config.json); its SHA-256 must match.
        steps, epochs: a new run length (the cosine schedule is stretched from here on, so the
            result is no longer identical to a run of that length from scratch).
        device: where to continue (default: as configured).

    Raises:
        MatgenError: no run or no checkpoint there, the data file changed, or the batch size does
            not split evenly over the processes.
    """
    run_dir = Path(run_dir)
    run_config = read_config(run_dir)
    model_config, data = run_config.model, run_config.data
    config = TrainConfig.from_dict(run_config.train, where=str(RunFiles(run_dir).config))
    path = Path(data_path) if data_path is not None else Path(data.path)
    if not path.is_file():
        raise MatgenError(f"{path}: the run's training data is missing; give its new path as DATA")
    if file_sha256(path) != data.sha256:
        raise MatgenError(f"{path} is not the file this run trained on (its SHA-256 differs from config.json); "
                          "resume with the original data")
    if steps is not None or epochs is not None:
        config = config.override(steps=steps, epochs=epochs)
        if steps is not None and epochs is None:
            config.epochs = None
    config = config.override(device=device).check()
    batch_shard(config.batch_size, torchrun_world())
    world = join(config.device)
    ds = read(path)
    train_part, val_part = _split(ds, config)
    with held_by_main(folder_lock(run_dir, "run"), world):  # waits for every process: all have read config.json
        run_on_main(lambda: write_config(run_dir, model_config, data, config.to_dict(), run_config.records), world)
        return _fit(run_dir, train_part, val_part, model_config, data, config, progress, resume=True)


def _fit(run_dir: Path, train_part: Dataset, val_part: Dataset | None, model_config: ModelConfig, data: DataSpec,
         config: TrainConfig, progress: Progress, resume: bool, start_from=None) -> RunResult:
    """Run the optimizer steps (fresh or from the checkpoint) with logging, evaluation and checkpoints.

    ``start_from(model, ema, optimizer)``, if given, loads another run's state before step 0 (fine-tuning).
    In a process group (:func:`~matgen.common.distributed.join`) every process trains its slice of each
    batch; rank 0 alone writes, and the others wait for it at the end.
    """
    world = current_world()
    device = process_device(resolve_device(config.device), world)
    total, warmup, decay = schedule_lengths(config, len(train_part))
    cuda = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):  # the caller's global RNG is left as it was
        torch.manual_seed(config.seed)
        model = build_model(model_config).to(device)
        ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=False)
        optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        start, rows, acc = 0, [], [0.0, 0]
        if start_from is not None:
            start_from(model, ema, optimizer)
            ema.to(device)
        elif not resume:
            model.initialise()  # a teacher's or an autoencoder's weights, for the kinds that start from one
            ema.module.load_state_dict(model.state_dict())
        if resume:
            state = load_checkpoint(run_dir, model, ema, optimizer)
            start, acc = int(state["step"]), [float(state["loss_sum"]), int(state["loss_count"])]
            rows = [r for r in read_metrics(run_dir) if r["step"] <= start]
        x_train, c_train = _tensors(train_part, model, model_config, data, device)
        x_val, c_val = _tensors(val_part, model, model_config, data, device) if val_part is not None else (None, None)
        loop = _Loop(run_dir, model, ema, optimizer, config, total, warmup, progress, world)
        result = loop.run(start, rows, acc, x_train, c_train, x_val, c_val)
    if world.is_main:
        write_model_card(run_dir)
    barrier(world)  # the run directory is complete when any process returns
    return result


class _Loop:
    """The stateful part of a training call: steps, metrics rows, checkpoints (rank 0 writes them, validates and
    reports progress; every process steps)."""

    def __init__(self, run_dir, model, ema, optimizer, config: TrainConfig, total: int, warmup: int, progress,
                 world: World = SINGLE):
        self.run_dir, self.model, self.ema, self.optimizer = run_dir, model, ema, optimizer
        self.config, self.total, self.warmup = config, total, warmup
        self.world, self.shard = world, batch_shard(config.batch_size, world)
        self.objective = training_objective(model, world)
        self.progress = progress if world.is_main else no_progress
        self.warnings: list[str] = []

    def save(self, step: int, acc: list) -> None:
        if not self.world.is_main:
            return
        save_checkpoint(self.run_dir, self.model, self.ema, self.optimizer,
                        {"step": step, "loss_sum": acc[0], "loss_count": acc[1], "total_steps": self.total})
        save_tensors(RunFiles(self.run_dir).weights, self.ema.module.state_dict(),
                     {"format": RUN_FORMAT, "step": str(step), "weights": "ema"})

    def run(self, start, rows, acc, x_train, c_train, x_val, c_val) -> RunResult:
        c, device = self.config, x_train.device
        n, B = len(x_train), c.batch_size
        if B > n:
            self.warnings.append(f"batch size {B} is larger than the {n} training rows: each step repeats rows "
                                 f"(--batch-size {n} or less avoids it)")
        consistent, done, saved = True, start, start
        clock, seen, t0, trained = time.perf_counter(), 0, time.perf_counter(), 0
        message = f"resumed at step {start}" if start else "training"
        self.progress(start, self.total, message)
        try:
            for step in range(start, self.total):
                lr = learning_rate(step, c.lr, self.warmup, self.total, c.min_lr_ratio)
                for group in self.optimizer.param_groups:
                    group["lr"] = lr
                index = torch.as_tensor(self.shard.rows(batch_indices(c.seed, step, n, B)), device=device)
                consistent = False
                loss = train_step(self.model, self.optimizer, x_train[index], c_train[index], c, step,
                                  step_generator(c.seed, step, device), self.shard, self.objective, self.world)
                self.ema.update_parameters(self.model)
                done = step + 1
                acc[0] += loss
                acc[1] += 1
                seen, trained = seen + B, trained + B
                last = done == self.total
                evaluate_now = x_val is not None and (done % c.eval_every == 0 or last)
                if done % c.log_every == 0 or evaluate_now or last:
                    if device.type == "cuda":
                        torch.cuda.synchronize(device)
                    now = time.perf_counter()
                    row = {"step": done, "loss": acc[0] / acc[1], "val_loss": None, "lr": lr,
                           "samples_per_s": round(seen / max(now - clock, 1e-9), 2)}
                    if evaluate_now and self.world.is_main:  # the EMA weights are the same in every process
                        row["val_loss"], warning = validate(self.ema.module, x_val, c_val, c)
                        if warning and last:
                            self.warnings.append(warning)
                    rows.append(row)
                    if self.world.is_main:
                        write_metrics(self.run_dir, rows)
                    acc[:] = [0.0, 0]
                    clock, seen = time.perf_counter(), 0
                    message = _message(rows)
                consistent = True  # the step, its EMA update and its metrics row are all done
                if done % c.checkpoint_every == 0 or last:
                    self.save(done, acc)
                    saved = done
                self.progress(done, self.total, message)
        except KeyboardInterrupt:
            if consistent and done > saved:  # never save a half-done step (e.g. a half-applied AdamW update)
                self.save(done, acc)
            raise
        logged = [r for r in rows if r.get("loss") is not None]
        vals = [r["val_loss"] for r in rows if r.get("val_loss") is not None]
        elapsed = time.perf_counter() - t0
        return RunResult(self.run_dir, done, logged[-1]["loss"] if logged else None, vals[-1] if vals else None,
                         trained / elapsed if trained else 0.0, rows, self.warnings)


def _message(rows: list[dict]) -> str:
    """``loss 0.0412 val 0.0398 812/s`` from the latest rows."""
    last = rows[-1]
    val = next((r["val_loss"] for r in reversed(rows) if r.get("val_loss") is not None), None)
    text = f"loss {last['loss']:.4g}"
    if val is not None:
        text += f" val {val:.4g}"
    return text + f" {last['samples_per_s']:.0f}/s"
