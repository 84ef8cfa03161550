"""The files of a run directory, named in one place, and whether a run is complete.

Layout (every file written to a temporary name and renamed, so a crash never leaves half a file)::

    RUN/
      config.json            format, matgen version, model (net config, condition specs with units
                             and training ranges, schedule, prediction), data (path, sha256,
                             normalisation, shape, axis), train (every training option), records
                             such as ``finetuned_from``
      model.safetensors      EMA weights: what `matgen sample` loads
      metrics.csv            step, loss, val_loss, lr, samples_per_s
      checkpoint/            what --resume needs to continue exactly
        state.json           step, total steps, optimizer hyper-parameters, numpy RNG state, loss accumulator
        model.safetensors    raw (non-EMA) weights
        ema.safetensors      the AveragedModel (EMA weights and n_averaged)
        optimizer.safetensors  AdamW moments and step counts
        rng.safetensors      torch CPU (and CUDA) RNG states
      .checkpoint.old/       the previous checkpoint while a new one replaces it (a crash there falls back to it)

Nothing is pickled: tensors go through safetensors, everything else through JSON.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
METRICS = "metrics.csv"
CHECKPOINT = "checkpoint"
OLD_CHECKPOINT = ".checkpoint.old"
CHECKPOINT_STATE = "state.json"
MODEL_CARD = "MODEL_CARD.md"
MEASUREMENTS = "measurements.json"


class RunFiles:
    """The paths of the run directory ``root`` (nothing is read or created by making one)."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    @property
    def config(self) -> Path:
        return self.root / CONFIG

    @property
    def weights(self) -> Path:
        return self.root / WEIGHTS

    @property
    def model_card(self) -> Path:
        return self.root / MODEL_CARD

    @property
    def measurements(self) -> Path:
        return self.root / MEASUREMENTS

    @property
    def metrics(self) -> Path:
        return self.root / METRICS

    @property
    def checkpoint(self) -> Path:
        return self.root / CHECKPOINT

    @property
    def old_checkpoint(self) -> Path:
        return self.root / OLD_CHECKPOINT

    def holds_run(self) -> bool:
        """True when a run here has something to lose: saved weights or a checkpoint.

        A folder with only config.json (training stopped before its first save) holds nothing
        trained, so a new run may start there without ``force``.
        """
        return self.weights.exists() or self.checkpoint_folder() is not None

    def checkpoint_folder(self) -> Path | None:
        """The checkpoint to resume from: ``checkpoint/``, else ``.checkpoint.old/`` left by a crash, else None."""
        for folder in (self.checkpoint, self.old_checkpoint):
            if (folder / CHECKPOINT_STATE).is_file():
                return folder
        return None

    def checkpoint_state(self) -> dict | None:
        """The checkpoint's state.json (step, total_steps, ...), or None without a checkpoint."""
        folder = self.checkpoint_folder()
        if folder is None:
            return None
        try:
            return json.loads((folder / CHECKPOINT_STATE).read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None

    def clear_outputs(self) -> None:
        """Remove the weights, metrics and checkpoints of an earlier run (before training afresh here)."""
        self.weights.unlink(missing_ok=True)
        self.metrics.unlink(missing_ok=True)
        for folder in (self.checkpoint, self.old_checkpoint):
            shutil.rmtree(folder, ignore_errors=True)


def is_complete(run_dir: str | os.PathLike) -> bool:
    """True when the run in ``run_dir`` trained to its last step and saved its weights."""
    files = RunFiles(run_dir)
    state = files.checkpoint_state()
    if state is None or not files.weights.is_file():
        return False
    return int(state.get("step", 0)) >= int(state.get("total_steps", 1 << 62))
