"""Where a campaign stands: state.json, the log, and the status read from the directory's files.

:func:`status` reads only files (no simulator or model is loaded), so `matgen campaign status`
answers at once, also while another process runs the campaign.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from matgen.campaign.layout import BASELINES, Layout
from matgen.common.files import read_json, write_json, write_text_atomic
from matgen.errors import MatgenError

FORMAT = "matgen-campaign"
FORMAT_VERSION = 1


def read_record(path: Path) -> dict:
    """The JSON file ``path`` of a campaign; a damaged one is a MatgenError naming the file."""
    return read_json(path, "campaign file", "delete it to redo that step")


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
    return read_record(layout.state)


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
        raise MatgenError(f"{directory} is not a campaign directory (no {L.config.name})")
    config = CampaignConfig.from_dict(read_record(L.config)["config"], where=str(L.config))
    state = read_state(L)
    status_ = state["status"]
    if status_ == "running" and not _alive(state.get("pid")):
        status_ = "interrupted"
    baselines, rounds = read_summaries(L)
    evaluated = sum(stored_rows(L.round(r).store) for r in L.round_numbers() if L.round(r).store.exists())
    return CampaignStatus(str(L.root), status_, state.get("reason", ""), int(state.get("round", 0)),
                          state.get("phase", ""), len(L.rounds_done()), len(config.round_sizes()),
                          sum(s.hits for s in rounds), evaluated, list(baselines.values()) + rounds)


def read_summaries(layout: Layout) -> tuple[dict, list]:
    """The Summary of each finished baseline (name -> Summary) and of each evaluated round, in order."""
    from matgen.campaign.report import Summary

    L = layout
    baselines = {name: Summary.from_dict(read_record(L.baseline(name).summary))
                 for name in BASELINES if L.baseline(name).summary.is_file()}
    rounds = [Summary.from_dict(read_record(L.round(r).summary)) for r in L.round_numbers()
              if L.round(r).summary.is_file()]
    return baselines, rounds


def _alive(pid) -> bool:
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except (OSError, ValueError):
        return False
    return True
