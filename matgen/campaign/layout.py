"""The campaign directory: every file name in one place, and :meth:`Layout.once`, the one resume mechanism.

Layout (every file is written to a temporary name and renamed, so a crash or ``kill -9`` leaves
each file either complete or absent)::

    CAMPAIGN/
      campaign.json            the config (targets as text), matgen version
      state.json               status (running, done, stopped), why, the current round and phase, pid
      log.txt                  one timestamped line per step
      data/initial.h5          the starting data (built, or a copy of the given file)
      runs/initial/            the first model, when the campaign trained it
      baselines/nearest/       the training samples nearest to the targets: candidates.h5, store/,
                               results.json, summary.json
      baselines/unguided/      unguided samples of the first model: the same files
      baselines/random/        random search: fresh samples of the built-in dataset (a builder's
                               own parameters drawn at random), when the campaign has a builder
      rounds/01/               round 1: run/ (the model it sampled from, fine-tuned on the data
                               so far; absent in round 1, which samples the first model),
                               with screening pool.h5 (every candidate sampled) and screen.json
                               (the predictor's beliefs and the choice), candidates.h5 (those
                               simulated), store/ (simulator results, batch by batch),
                               results.json (per candidate: sampling target, achieved, error, hit),
                               summary.json, data.h5 (training data + this round's evaluated
                               candidates), round.json (written last: the round is complete)
      report.json, errors.png, scatter.png, best.png, calibration.png (with screening)

**Resume.** Every step of a campaign is ``layout.once(output, make)``: it is done only when its
output is absent, and ``make`` writes that output (atomically) as its last act. So a campaign run
again -- after a crash, ``kill -9`` or Ctrl-C -- redoes exactly the steps whose output is
missing, and a file deleted by hand is rebuilt from the files it depends on. The simulator store
keeps every finished batch, so a round killed while simulating evaluates only what is missing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

CONFIG = "campaign.json"
STATE = "state.json"
LOG = "log.txt"
REPORT = "report.json"
PICTURES = {"errors": "errors.png", "scatter": "scatter.png", "best": "best.png", "calibration": "calibration.png"}
BASELINES = ("nearest", "unguided", "random")


class StepFiles:
    """The files of one set of candidates: a baseline's folder or a round's."""

    def __init__(self, folder: Path):
        self.folder = folder

    @property
    def run(self) -> Path:
        """The model the round sampled from, fine-tuned on the data so far (rounds after the first)."""
        return self.folder / "run"

    @property
    def candidates(self) -> Path:
        return self.folder / "candidates.h5"

    @property
    def pool(self) -> Path:
        """With screening: every candidate sampled, of which candidates.h5 holds those chosen to simulate."""
        return self.folder / "pool.h5"

    @property
    def screen(self) -> Path:
        """With screening: the predictor's mean, sigma and hit probability of each pool candidate, and the choice."""
        return self.folder / "screen.json"

    @property
    def store(self) -> Path:
        """The simulator's result store (one JSON file per finished batch)."""
        return self.folder / "store"

    @property
    def results(self) -> Path:
        """Per candidate: sampling target, achieved properties, error, hit, relative errors."""
        return self.folder / "results.json"

    @property
    def summary(self) -> Path:
        return self.folder / "summary.json"

    @property
    def data(self) -> Path:
        """The training data after the round: the data so far plus its evaluated candidates."""
        return self.folder / "data.h5"

    @property
    def record(self) -> Path:
        """round.json: written last, the round is complete (its model, data and summary)."""
        return self.folder / "round.json"


class Layout:
    """Paths inside a campaign directory, and :meth:`once`."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).expanduser().resolve()  # absolute: runs and records name their files

    @property
    def config(self) -> Path:
        return self.root / CONFIG

    @property
    def state(self) -> Path:
        return self.root / STATE

    @property
    def log(self) -> Path:
        return self.root / LOG

    @property
    def report(self) -> Path:
        return self.root / REPORT

    def picture(self, name: str) -> Path:
        """``errors``, ``scatter`` or ``best``: the report's PNGs."""
        return self.root / PICTURES[name]

    @property
    def initial_data(self) -> Path:
        return self.root / "data" / "initial.h5"

    @property
    def initial_run(self) -> Path:
        return self.root / "runs" / "initial"

    def baseline(self, name: str) -> StepFiles:
        return StepFiles(self.root / "baselines" / name)

    def round(self, r: int) -> StepFiles:
        return StepFiles(self.root / "rounds" / f"{r:02d}")

    def round_numbers(self) -> list[int]:
        """The rounds that have a folder, in order."""
        return [int(folder.name) for folder in sorted((self.root / "rounds").glob("[0-9][0-9]"))]

    def rounds_done(self) -> list[int]:
        """The complete rounds (those with round.json), in order."""
        return [r for r in self.round_numbers() if self.round(r).record.is_file()]

    @staticmethod
    def once(output: Path, make: Callable[[Path], object], done: Callable[[Path], bool] = Path.is_file) -> Path:
        """``output`` after making it with ``make(output)`` unless it is already ``done`` (default: the file exists).

        ``make`` must write ``output`` last and atomically, so that ``done`` is true only for a
        finished step. Returns ``output``.
        """
        if not done(output):
            make(output)
        return output
