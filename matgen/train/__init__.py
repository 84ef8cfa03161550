"""Training: a dataset file in, a run directory out (config JSON + safetensors weights + metrics).

    >>> from matgen.train import TrainConfig, train, resume, finetune
    >>> result = train("spinodal.h5", TrainConfig(model="diffusion", conditions=("density",)), "runs/density")
    >>> result = finetune("runs/density", "more-data.h5", "runs/density-ft", steps=500)
    >>> result = distill("runs/density", "runs/density-cd", nfe=4, steps=2000)   # 1-4 step sampling

Files: :mod:`~matgen.train.config` (the options, :class:`TrainConfig`), :mod:`~matgen.train.plan`
(options + data -> what is built), :mod:`~matgen.train.loop` (the loop, resume), :mod:`~matgen.train.ddp`
(the loss as a DistributedDataParallel module, for torchrun; docs/scaling.md),
:mod:`~matgen.train.finetuning` (continue a run on new data), :mod:`~matgen.train.distillation` (a consistency
student of a diffusion run). What a run *is* -- its directory,
model kinds, normalisation, :func:`~matgen.runs.load_run` -- lives in :mod:`matgen.runs`.
docs/training.md walks through them.

Importing this package is cheap (the command line reads :class:`TrainConfig`'s defaults at
start-up): the training code and torch load on first use of ``train``, ``resume``, ``finetune`` or ``distill``.
"""

from matgen.train.config import DistillConfig, TrainConfig, read_toml

__all__ = ["DistillConfig", "RunResult", "TrainConfig", "distill", "finetune", "learning_rate", "read_toml", "resume",
           "train"]

_LAZY = {"RunResult": "matgen.train.loop", "learning_rate": "matgen.train.loop", "resume": "matgen.train.loop",
         "train": "matgen.train.loop", "finetune": "matgen.train.finetuning",
         "distill": "matgen.train.distillation"}


def __getattr__(name: str):
    """The training functions, imported (with torch) on first use."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'matgen.train' has no attribute {name!r}")
