"""Fine-tuning: continue a trained run on (new) data from its last state, into a new run directory.

    >>> from matgen.train import finetune
    >>> result = finetune("runs/density", "more-data.h5", "runs/density-ft", steps=500)
    >>> run = matgen.runs.load_run("runs/density-ft")   # samples like any run; `matgen train --resume` continues it

What carries over from the base run: the network and its ModelConfig (so the condition specs,
with their units and *training ranges*, stay as they were: new data outside those ranges is
simply extrapolated by the condition encoder, and sampling still warns about targets outside the
original range), the DataSpec's normalisation, the raw and EMA weights and, when the base run's
``checkpoint/`` is there, the AdamW moments (else the optimizer starts fresh from the EMA weights).
What is new: the data (its path and SHA-256 in config.json, with ``finetuned_from`` naming the
base run, its weights and step count), the number of steps, and the learning-rate schedule,
:func:`matgen.train.learning_rate` over the fine-tune alone:

    warm-up over max(1, steps // 10) steps to ``lr`` (default: the base run's peak lr),
    then cosine decay to min_lr_ratio x lr,

because the base run ended at its minimum lr and the optimizer's moments need a few steps to
adapt to the new data before the full rate is applied. The EMA continues from the base run's
average with a horizon of at most a tenth of the fine-tune. The result is a complete run
directory: it loads with :func:`~matgen.runs.load_run`, and an interrupted fine-tune continues
exactly with :func:`~matgen.train.resume` (the step counter counts the fine-tune's own steps).
The base run is only read.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from matgen.common.files import file_sha256
from matgen.common.distributed import batch_shard, held_by_main, join, run_on_main, torchrun_world
from matgen.common.locks import folder_lock
from matgen.common.progress import Progress, no_progress
from matgen.data import read
from matgen.errors import MatgenError
from matgen.runs import DataSpec, RunFiles, check_fits, read_config
from matgen.runs.checkpoint import load_checkpoint
from matgen.runs.config import write_config
from matgen.runs.tensors import load_weights
from matgen.train.config import TrainConfig
from matgen.train.loop import RunResult, _fit, _split


def finetune_config(base: TrainConfig, steps: int, lr: float | None = None, seed: int | None = None,
                    device: str | None = None) -> TrainConfig:
    """The TrainConfig of a fine-tune: the base run's options with the fine-tune's length, schedule and seed."""
    if not (isinstance(steps, int) and steps >= 1):
        raise MatgenError(f"fine-tune steps must be a whole number >= 1, got {steps}")
    return replace(base, steps=steps, epochs=None, lr=base.lr if lr is None else float(lr),
                   warmup_steps=max(1, steps // 10), seed=base.seed if seed is None else int(seed),
                   device=base.device if device is None else device).check()


def finetune(base_run: str | Path, data_path: str | Path, run_dir: str | Path, steps: int, lr: float | None = None,
             seed: int | None = None, device: str | None = None, progress: Progress = no_progress,
             force: bool = False, model_options: dict | None = None) -> RunResult:
    """Continue ``base_run`` for ``steps`` optimizer steps on the dataset file ``data_path`` into ``run_dir``.

    Args:
        base_run: a run directory (read only).
        data_path: the data to train on (usually the base run's data plus new rows).
        run_dir: the new run directory.
        steps: optimizer steps of the fine-tune.
        lr: peak learning rate (default: the base run's).
        seed: seeds the split, data order and noise (default: the base run's).
        device: where to train (default: as the base run was configured).
        force: replace a run already in ``run_dir``.
        model_options: entries added to the model's ``options`` (a reflow run: ``{"reflow": True}``).

    Raises:
        MatgenError: no base run, data that does not fit it (kind, shape, phases, axis, a missing
            condition), ``run_dir`` holding a run (without ``force``) or being the base run.
    """
    base_run, run_dir = Path(base_run), Path(run_dir)
    base = read_config(base_run)
    model_config, base_data = base.model, base.data
    if model_options:
        model_config = replace(model_config, options={**model_config.options, **model_options})
    base_config = TrainConfig.from_dict(base.train, where=str(RunFiles(base_run).config))
    if run_dir.resolve() == base_run.resolve():
        raise MatgenError(f"{run_dir} is the base run; fine-tune into a new directory")
    if RunFiles(run_dir).holds_run() and not force:
        raise MatgenError(f"{run_dir} already holds a run; continue it with resume() or pass force=True")
    config = finetune_config(base_config, steps, lr, seed, device)
    batch_shard(config.batch_size, torchrun_world())
    world = join(config.device)  # under torchrun: one process group, as train()
    ds = read(data_path)
    check_fits(ds, base_data, str(data_path))
    for spec in model_config.conditions:
        ds.condition(spec.name)  # a condition of the model the new data lacks -> MatgenError listing the data's
    train_part, val_part = _split(ds, config)
    data = replace(base_data, path=str(Path(data_path).resolve()), sha256=file_sha256(data_path),
                   n_train=len(train_part), n_val=0 if val_part is None else len(val_part))
    def start() -> None:
        RunFiles(run_dir).clear_outputs()
        write_config(run_dir, model_config, data, config.to_dict(), {"finetuned_from": _origin(base_run, base_data)})

    with held_by_main(folder_lock(run_dir, "run"), world):
        run_on_main(start, world)
        return _fit(run_dir, train_part, val_part, model_config, data, config, progress, resume=False,
                    start_from=lambda model, ema, optimizer: _load_base(base_run, model, ema, optimizer))


def _load_base(base_run: Path, model, ema, optimizer) -> None:
    """Weights, EMA and AdamW state of the base run's checkpoint; without one, its EMA weights for both."""
    files = RunFiles(base_run)
    if files.checkpoint_folder() is not None:
        load_checkpoint(base_run, model, ema, optimizer)
        return
    load_weights(model, files.weights)
    ema.module.load_state_dict(model.state_dict())


def _origin(base_run: Path, base_data: DataSpec) -> dict:
    files = RunFiles(base_run)
    state = files.checkpoint_state()
    steps = state.get("step") if state is not None else None
    return {"run": str(base_run.resolve()), "weights_sha256": file_sha256(files.weights),
            "steps": steps, "data": base_data.path, "data_sha256": base_data.sha256}
