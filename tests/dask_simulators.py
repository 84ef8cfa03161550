"""Simulators for tests/test_dask.py, at module level in a module of their own: Dask workers (other
processes) unpickle them by importing this module, which is on their sys.path as on the test's."""

from __future__ import annotations

import os
import signal
import time

import numpy as np

from matgen.simulators import Output, Simulator


def area_fraction(samples) -> np.ndarray:
    """(N,) phase-1 area fraction of each label map."""
    return np.asarray(samples.signals).reshape(len(samples), -1).mean(1)


class Logged(Simulator):
    """The phase-1 area fraction, logging every row it works on and every row it finishes.

    Before the work it appends ``PID ID`` per row to ``started``, then sleeps ``sleep_s`` (a row
    ``hang`` sleeps 30 s more: a hung simulator; a row ``die`` kills its process, as a segfault
    would), and only after the work appends ``ID`` per row to ``finished``: a batch whose process
    is killed on the way is in ``started``, never in ``finished``.
    """

    name = "logged"
    kinds = ("micrograph",)
    outputs = (Output("area", ""),)
    batch_size = 2

    def __init__(self, started: str, finished: str, sleep_s: float = 0.0, hang: str | None = None,
                 die: str | None = None):
        self.started, self.finished, self.sleep_s = str(started), str(finished), sleep_s
        self.hang, self.die = hang, die

    def __call__(self, samples):
        ids = [str(i) for i in samples.ids]
        _append(self.started, [f"{os.getpid()} {i}" for i in ids])
        if self.die in ids:
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(self.sleep_s + (30.0 if self.hang in ids else 0.0))
        area = area_fraction(samples)
        _append(self.finished, ids)
        return {"area": area}


def _append(path: str, lines: list[str]) -> None:
    with open(path, "a", encoding="utf-8") as log:  # one write per batch: appends from many processes never mix
        log.write("".join(f"{line}\n" for line in lines))
