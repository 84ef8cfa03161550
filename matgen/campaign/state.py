"""The campaign directory: where each piece of state lives, and atomic JSON, dataset and log writes.

Layout (every file is written to a temporary name and renamed, so a crash or ``kill -9`` leaves
each file either complete or absent)::

    CAMPAIGN/
      campaign.json            the config (targets as text), matgen version, simulator name
      state.json               status (running, done, stopped), why, the current round and phase
      log.txt                  one timestamped line per step
      data/initial.h5          the starting data (built, or a copy of the given file)
      runs/initial/            the first model, when the campaign trained it
      baselines/nearest/       the training samples nearest to the targets: candidates.h5, store/,
                               results.json, summary.json
      baselines/unguided/      unguided samples of the first model: the same files
      rounds/01/               round 1: run/ (the model it sampled from, fine-tuned on the data
                               so far; absent in round 1, which samples the first model),
                               candidates.h5, store/ (simulator results, batch by batch),
                               results.json (per candidate: sampling target, achieved, error, hit),
                               summary.json, data.h5 (training data + this round's evaluated
                               candidates), round.json (written last: the round is complete)
      report.json, errors.png, scatter.png, best.png

A piece of work is redone only when its file is absent; the simulator store keeps every finished
batch, so a killed round resumes without evaluating a candidate twice.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from matgen.common.files import write_text_atomic
from matgen.errors import MatgenError

CONFIG = "campaign.json"
STATE = "state.json"
LOG = "log.txt"
REPORT = "report.json"
FORMAT = "matgen-campaign"
FORMAT_VERSION = 1
BASELINES = ("nearest", "unguided")


class Layout:
    """Paths inside a campaign directory."""

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser().resolve()  # absolute: round.json records model and data paths

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

    @property
    def initial_data(self) -> Path:
        return self.root / "data" / "initial.h5"

    @property
    def initial_run(self) -> Path:
        return self.root / "runs" / "initial"

    def baseline(self, name: str) -> Path:
        return self.root / "baselines" / name

    def round(self, r: int) -> Path:
        return self.root / "rounds" / f"{r:02d}"

    def rounds_done(self) -> list[int]:
        """The complete rounds (those with round.json), in order."""
        done = []
        for folder in sorted((self.root / "rounds").glob("[0-9][0-9]")):
            if (folder / "round.json").is_file():
                done.append(int(folder.name))
        return done


def write_json(path: Path, doc) -> Path:
    """Write ``doc`` as indented JSON atomically (NaN written as null)."""
    return write_text_atomic(path, json.dumps(_clean(doc), indent=1, ensure_ascii=False) + "\n")


def read_json(path: Path) -> dict:
    """The JSON document at ``path``; a damaged one is a MatgenError naming the file."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MatgenError(f"{path}: damaged campaign file ({exc}); delete it to redo that step") from None


def _clean(value):
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return _clean(value.item())
    return value


def log(layout: Layout, message: str) -> None:
    """Append one timestamped line to log.txt (the whole file is rewritten atomically)."""
    old = layout.log.read_text(encoding="utf-8") if layout.log.is_file() else ""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    write_text_atomic(layout.log, old + f"{stamp}  {message}\n")


def set_state(layout: Layout, status: str, reason: str = "", round_: int = 0, phase: str = "") -> None:
    """Write state.json: status (running, done, stopped), why, and the current round and phase."""
    write_json(layout.state, {"status": status, "reason": reason, "round": round_, "phase": phase,
                              "pid": os.getpid(), "updated": time.strftime("%Y-%m-%d %H:%M:%S")})


def read_state(layout: Layout) -> dict:
    """state.json, or a 'new' state when absent."""
    if not layout.state.is_file():
        return {"status": "new", "reason": "", "round": 0, "phase": ""}
    return read_json(layout.state)


@dataclass
class CampaignStatus:
    """Where a campaign directory stands (read from its files; nothing is computed)."""

    directory: str
    status: str  # new, running, interrupted (running when it was killed), done or stopped
    reason: str  # why it ended, or what it is doing
    round: int  # the round in progress (or last finished)
    phase: str  # what that round is doing: fine-tuning, sampling, simulating, relabelling
    rounds_done: int  # complete rounds
    rounds_planned: int  # rounds the config allows (rounds, budget)
    hits: int  # hits over the evaluated rounds
    evaluated: int  # candidates the simulator has finished in the rounds, the current one included
    summaries: list = field(default_factory=list)  # Summary of each baseline, then each evaluated round


def status(directory: str | os.PathLike) -> CampaignStatus:
    """Where the campaign in ``directory`` stands, from its files (no simulator or model is loaded)."""
    from matgen.campaign.config import CampaignConfig
    from matgen.simulators.store import stored_rows

    L = Layout(directory)
    if not L.config.is_file():
        raise MatgenError(f"{directory} is not a campaign directory (no {CONFIG})")
    config = CampaignConfig.from_dict(read_json(L.config)["config"], where=str(L.config))
    state = read_state(L)
    status_ = state["status"]
    if status_ == "running" and not _alive(state.get("pid")):
        status_ = "interrupted"
    baselines, rounds = read_summaries(L)
    evaluated = sum(stored_rows(store) for store in (L.root / "rounds").glob("[0-9][0-9]/store"))
    return CampaignStatus(str(L.root), status_, state.get("reason", ""), int(state.get("round", 0)),
                          state.get("phase", ""), len(L.rounds_done()), len(config.round_sizes()),
                          sum(s.hits for s in rounds), evaluated, list(baselines.values()) + rounds)


def read_summaries(layout: Layout) -> tuple[dict, list]:
    """The Summary of each finished baseline (name -> Summary) and of each evaluated round, in order."""
    from matgen.campaign.report import Summary

    L = layout
    baselines = {name: Summary.from_dict(read_json(L.baseline(name) / "summary.json"))
                 for name in BASELINES if (L.baseline(name) / "summary.json").is_file()}
    rounds = [Summary.from_dict(read_json(p)) for p in sorted((L.root / "rounds").glob("[0-9][0-9]/summary.json"))]
    return baselines, rounds


def _alive(pid) -> bool:
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except (OSError, ValueError):
        return False
    return True
