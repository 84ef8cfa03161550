"""Training: a dataset file in, a run directory out (config JSON + safetensors weights + metrics).

    >>> from matgen.train import TrainConfig, train, load_run
    >>> result = train("spinodal.h5", TrainConfig(model="diffusion", conditions=("density",)), "runs/density")
    >>> run = load_run("runs/density")            # the EMA model, its conditions with units and ranges

Files: :mod:`~matgen.train.config` (the options), :mod:`~matgen.train.prepare` (signals and
conditions to tensors and back), :mod:`~matgen.train.plan` (options + data -> what is built),
:mod:`~matgen.train.models` (DiffusionModel, VAEModel, RegressorModel), :mod:`~matgen.train.loop` (the
loop), :mod:`~matgen.train.run` (the run directory), :mod:`~matgen.train.finetune` (continue a run on
new data). docs/training.md walks through them.
"""

from matgen.train.config import ModelConfig, TrainConfig, read_toml
from matgen.train.finetune import finetune
from matgen.train.loop import RunResult, learning_rate, resume, train
from matgen.train.models import DiffusionModel, RegressorModel, VAEModel, build_model
from matgen.train.prepare import DataSpec
from matgen.train.run import Run, load_run

__all__ = [
    "DataSpec", "DiffusionModel", "ModelConfig", "RegressorModel", "Run", "RunResult", "TrainConfig", "VAEModel",
    "build_model", "finetune", "learning_rate", "load_run", "read_toml", "resume", "train",
]
