"""The trained model as its own package: the run directory, the model kinds, and the data as a network sees it.

    >>> from matgen.runs import load_run, read_config
    >>> run = load_run("runs/density")                   # Run: path, model (EMA weights), config, weights hash
    >>> config = read_config("runs/density")             # RunConfig(model, data, train, records)
    >>> x = to_network(dataset.signals, run.data)        # (N, C, *S) in about [-1, 1]

Files: :mod:`~matgen.runs.files` (the names in a run directory, :func:`is_complete`),
:mod:`~matgen.runs.config` (config.json: :class:`ModelConfig`, :class:`RunConfig`),
:mod:`~matgen.runs.tensors` (safetensors), :mod:`~matgen.runs.checkpoint` (the resume checkpoint),
:mod:`~matgen.runs.metrics` (metrics.csv), :mod:`~matgen.runs.normalisation` (:class:`DataSpec`,
signals to network tensors and back), :mod:`~matgen.runs.conditions` (condition columns),
:mod:`~matgen.runs.kinds` (diffusion, vae, regressor: one module each), :mod:`~matgen.runs.run`
(:class:`Run`, :func:`load_run`). Training lives in :mod:`matgen.train`; everything that only
*uses* a trained model (sampling, campaigns, augmentation) imports this package, never that one.
"""

from matgen.runs.conditions import condition_matrix, condition_specs
from matgen.runs.config import ModelConfig, RunConfig, read_config, write_config
from matgen.runs.files import RunFiles, is_complete
from matgen.runs.kinds import MODEL_KINDS, build_model, model_class
from matgen.runs.normalisation import DataSpec, check_fits, describe_data, from_network, soft_signals, to_network
from matgen.runs.run import Run, load_run

__all__ = [
    "DataSpec", "MODEL_KINDS", "ModelConfig", "Run", "RunConfig", "RunFiles", "build_model", "check_fits",
    "condition_matrix", "condition_specs", "describe_data", "from_network", "is_complete", "load_run", "model_class",
    "read_config", "soft_signals", "to_network", "write_config",
]
