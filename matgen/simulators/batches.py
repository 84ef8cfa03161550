"""One batch of samples through a simulator: the call, its answer checked, and the form sent to other processes.

Nothing here raises for a simulator fault: a batch ends as an :class:`Evaluation` (rows that
failed alone carry their reason) or as one string, the reason the whole batch failed.
"""

from __future__ import annotations

import pickle
import threading

import numpy as np

from matgen.errors import MatgenError
from matgen.simulators.base import Evaluation


def one_line(text: str, limit: int = 300) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_fault(exc: BaseException) -> str:
    """One line naming what a simulator raised."""
    if isinstance(exc, (TimeoutError, RuntimeError)) and str(exc):
        return one_line(str(exc))
    return one_line(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)


def checked(simulator, raw, n: int) -> Evaluation | str:
    """The simulator's answer for n rows as a clean Evaluation, or the reason the whole batch failed.

    Undeclared outputs are dropped; a row with a non-finite output or an error message is failed
    with every output NaN.
    """
    names = [o.name for o in simulator.outputs]
    if isinstance(raw, Evaluation):
        properties, errors = raw.properties, raw.errors
    elif isinstance(raw, dict):
        properties, errors = dict(raw), raw.get("error")
        properties.pop("error", None)
    else:
        return f"returned a {type(raw).__name__}, not a dict of (N,) arrays or an Evaluation"
    missing = [name for name in names if name not in properties]
    if missing:
        got = ", ".join(k for k in properties) or "nothing"
        return f"returned no '{missing[0]}' (declared outputs: {', '.join(names)}; returned: {got})"
    clean = {}
    for name in names:
        try:
            values = np.asarray(properties[name], dtype=np.float64)
        except (TypeError, ValueError):
            return f"returned non-numeric values for '{name}'"
        if values.shape != (n,):
            return f"returned shape {values.shape} for '{name}', expected ({n},) (one value per sample)"
        clean[name] = values.copy()
    errors = np.full(n, "", dtype=object) if errors is None else np.asarray(errors, dtype=object).reshape(-1)
    if len(errors) != n:
        return f"returned {len(errors)} error messages for {n} samples"
    errors = np.asarray([one_line(e) if e not in (None, "") and str(e) != "nan" else "" for e in errors], dtype=object)
    for i in range(n):
        if not errors[i]:
            bad = [name for name in names if not np.isfinite(clean[name][i])]
            if bad:
                kind = "NaN" if np.isnan(clean[bad[0]][i]) else "inf"
                errors[i] = f"returned {kind} for {', '.join(bad)}"
    failed = errors != ""
    for name in names:
        clean[name][failed] = np.nan
    return Evaluation(clean, errors)


def evaluate_batch(simulator, batch) -> Evaluation | str:
    """Call the simulator on one batch, catching everything it may raise (a string: why it failed)."""
    try:
        raw = simulator(batch)
    except (Exception, SystemExit) as exc:  # a simulator fault, reported, never raised
        return describe_fault(exc)
    return checked(simulator, raw, len(batch))


class SimulatorUnavailable(Exception):
    """The simulator could not be rebuilt where a batch was sent (its module is missing there): no batch can run."""


def run_batch(payload: bytes, batch, timeout_s: float | None) -> Evaluation | str:
    """On an executor's worker: the batch's Evaluation, or why it failed, given up after ``timeout_s``.

    A batch past its timeout is reported as failed, but its thread cannot be killed: it runs on
    in the background until the simulator returns, and its result is dropped.

    Raises:
        SimulatorUnavailable: ``payload`` (the pickled simulator) cannot be loaded here.
    """
    try:
        simulator = pickle.loads(payload)
    except Exception as exc:
        raise SimulatorUnavailable(describe_fault(exc)) from None
    if timeout_s is None:
        return evaluate_batch(simulator, batch)
    outcome: list = []
    thread = threading.Thread(target=lambda: outcome.append(evaluate_batch(simulator, batch)), daemon=True)
    thread.start()
    thread.join(timeout_s)
    if outcome:
        return outcome[0]
    return f"timed out after {timeout_s:g} s (left running in a worker thread: an executor cannot kill one)"


def pickled_simulator(simulator, where: str) -> bytes:
    """The simulator as bytes for other processes (``where`` names them in the error).

    Raises:
        MatgenError: it cannot be pickled (a lambda, a function defined inside another, ...).
    """
    try:
        return pickle.dumps(simulator)
    except Exception as exc:
        raise MatgenError(f"simulator '{simulator.name}' cannot be sent to {where} ({describe_fault(exc)}); define "
                          "it at module level (package.module:function) or run it in this process (workers=1, no "
                          "timeout, executor local)") from None
