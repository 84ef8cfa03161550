"""Consistency distillation: a diffusion run in, a ``consistency`` run out that samples in 1, 2 or 4 steps.

    >>> from matgen.train import distill
    >>> result = distill("runs/density", "runs/density-cd", nfe=4, steps=2000, guidance=1.0)
    >>> run = matgen.runs.load_run("runs/density-cd")   # `matgen sample` draws it with the consistency sampler

The student run is a normal run directory (config.json with model kind ``consistency``,
model.safetensors, checkpoint/, metrics.csv) trained on the teacher's training data (path and
SHA-256 from the teacher's config.json, the teacher's split), so :func:`~matgen.train.resume`
continues it exactly and :func:`~matgen.train.finetune` fine-tunes it. What is distilled, and
how, is in :mod:`matgen.generative.consistency` and :mod:`matgen.runs.kinds.consistency`.

The training options are the teacher's with the distillation's length, batch size, learning
rate, seed and device (:class:`~matgen.train.config.DistillConfig`); the warm-up is a tenth of the
run, as in a fine-tune. The noise range is the teacher's: sigma_min its smallest level, sigma_max
its largest capped at ``sigma_max`` (80 by default, Karras et al. 2022: a cosine schedule reaches
~2e4, where nothing is left to learn).
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
from matgen.runs import RunFiles, load_run, model_class, read_config
from matgen.runs.config import write_config
from matgen.runs.kinds.consistency import ConsistencyModel
from matgen.train.config import DistillConfig, TrainConfig
from matgen.train.loop import RunResult, _fit, _split


def distill(teacher_run: str | Path, run_dir: str | Path, config: DistillConfig | None = None,
            data_path: str | Path | None = None, progress: Progress = no_progress, force: bool = False,
            **options) -> RunResult:
    """Distil the diffusion run ``teacher_run`` into a consistency run in ``run_dir``; return what was done.

    Args:
        teacher_run: a diffusion run directory (read only).
        run_dir: the new run directory.
        config: the distillation options (default :class:`DistillConfig`); ``options`` replace single ones
            (``nfe=4, steps=500, guidance=1.0``).
        data_path: the teacher's training data, when it moved (its SHA-256 must match).
        force: replace a run already in ``run_dir``.

    Raises:
        MatgenError: no teacher run, a teacher that is not drawn by a sampler (a VAE, a regressor) or is
            already a consistency run, a missing or changed training file, ``run_dir`` holding a run
            (without ``force``) or being the teacher, or a bad option.
    """
    config = (config or DistillConfig()).override(**options).check()
    teacher_run, run_dir = Path(teacher_run), Path(run_dir)
    base = read_config(teacher_run)
    check_teacher(teacher_run, base.model.kind)
    if run_dir.resolve() == teacher_run.resolve():
        raise MatgenError(f"{run_dir} is the teacher run; distil into a new directory")
    if RunFiles(run_dir).holds_run() and not force:
        raise MatgenError(f"{run_dir} already holds a run; continue it with `matgen train --resume -o {run_dir}` or "
                          "pass --force to start afresh")
    path = Path(data_path) if data_path is not None else Path(base.data.path)
    if not path.is_file():
        raise MatgenError(f"{path}: the teacher's training data is missing; give its new path with --data")
    if file_sha256(path) != base.data.sha256:
        raise MatgenError(f"{path} is not the file the teacher trained on (its SHA-256 differs from its config.json); "
                          "distil on the original data")
    teacher = load_run(teacher_run).model
    grid = teacher.sampling_grid(teacher.default_sampler, 2, "karras")  # (3,): sigma_max, sigma_min, 0
    model_config = ConsistencyModel.from_teacher(
        base.model, teacher_run, sigma_min=grid[1].item(), sigma_max=min(grid[0].item(), config.sigma_max),
        levels=config.levels, guidance=float(config.guidance), nfe=config.nfe, solver=config.solver,
        distance=config.distance, sigma_data=config.sigma_data)
    train_config = student_train_config(TrainConfig.from_dict(base.train, where=str(RunFiles(teacher_run).config)),
                                        config)
    train_part, val_part = _split(read(path), train_config)
    data = replace(base.data, path=str(path.resolve()), n_train=len(train_part),
                   n_val=0 if val_part is None else len(val_part))
    origin = {"run": str(teacher_run.resolve()), "weights_sha256": model_config.options["teacher"]["weights_sha256"],
              "kind": base.model.kind, "distillation": config.__dict__}
    batch_shard(train_config.batch_size, torchrun_world())
    world = join(train_config.device)  # under torchrun: one process group, as train()

    def start() -> None:
        RunFiles(run_dir).clear_outputs()
        write_config(run_dir, model_config, data, train_config.to_dict(), {"distilled_from": origin})

    with held_by_main(folder_lock(run_dir, "run"), world):
        run_on_main(start, world)
        return _fit(run_dir, train_part, val_part, model_config, data, train_config, progress, resume=False)


def check_teacher(teacher_run: Path, kind: str) -> None:
    """Raise a MatgenError unless a run of ``kind`` can teach: drawn by a sampler, denoising signals, not a student."""
    model = model_class(kind)
    if kind == ConsistencyModel.kind:
        raise MatgenError(f"{teacher_run} is already a consistency run; distil from the diffusion run it came from")
    if not model.samplers or not model.denoises_signals:
        raise MatgenError(f"{teacher_run} is a {kind} run; consistency distillation needs a diffusion teacher "
                          "(matgen train DATA.h5 --model diffusion)")


def student_train_config(teacher: TrainConfig, config: DistillConfig) -> TrainConfig:
    """The TrainConfig of a student: the teacher's options with the distillation's length, schedule, seed, device."""
    return replace(teacher, model=ConsistencyModel.kind, steps=config.steps, epochs=None,
                   warmup_steps=max(1, config.steps // 10),
                   batch_size=teacher.batch_size if config.batch_size is None else config.batch_size,
                   lr=teacher.lr if config.lr is None else float(config.lr),
                   seed=teacher.seed if config.seed is None else int(config.seed),
                   device=teacher.device if config.device is None else config.device).check()
