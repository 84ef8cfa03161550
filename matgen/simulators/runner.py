"""Run a simulator over a dataset: batches, worker processes, timeouts, retries and a resumable store.

``run_simulator`` never raises for a simulator fault. Each batch ends in one of two ways:

* the simulator returned: each declared output must be an (N,) array; a row with NaN/inf in any
  output (or an error message from the simulator) fails alone, with the reason, and all its
  outputs become NaN;
* the batch failed as a whole (the simulator raised, hung past ``timeout_s``, its worker died,
  it returned the wrong shape or left out an output): the batch's rows are tried again one by
  one, so a single bad sample cannot fail its neighbours; a row that fails alone keeps the reason.
  (A batch that hangs therefore costs up to one more timeout per row: keep batches small when a
  simulator may hang.)

Where the work runs:

* ``workers=1`` and no ``timeout_s``: in this process, one batch after another;
* otherwise Python simulators run in ``workers`` worker processes started with ``spawn`` (never
  ``fork``: torch's threads do not survive it), each with its share of the CPU threads; a batch
  past ``timeout_s`` has its worker killed and replaced;
* external programs (:class:`~matgen.simulators.hooks.ExternalSimulator`) run in ``workers``
  threads, each waiting on its own program, which ``subprocess`` kills on timeout;
* with an ``executor`` (a Dask cluster, or any ``concurrent.futures.Executor``;
  :mod:`matgen.simulators.executors`) batches are submitted to it as futures. A batch past
  ``timeout_s`` fails as anywhere else, but an executor cannot kill a Python thread: the
  simulator call is left running in a background thread of its worker until it returns (using
  that worker's CPU meanwhile; external programs are still killed by ``subprocess``). A batch
  whose worker died is re-run by Dask itself, and an executor that is gone (a lost scheduler)
  ends the run with a MatgenError: what arrived before is in the store.

With ``store`` (a folder, :mod:`matgen.simulators.store`), each batch's results are written as
it finishes, and rows whose id is already there are returned from the store, not evaluated:
after a crash, the same call evaluates only what is missing.
"""

from __future__ import annotations

import copy
import math
import os
import pickle
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from matgen.common.locks import folder_lock
from matgen.common.progress import Progress, no_progress
from matgen.errors import MatgenError
from matgen.simulators.base import Evaluation
from matgen.simulators.batches import describe_fault, evaluate_batch, pickled_simulator
from matgen.simulators.executors import ExecutorLost, FuturesBackend, open_engine, parse_executor


# --------------------------------------------------------------------------- backends


@dataclass(eq=False)
class _Task:
    index: np.ndarray  # rows of the samples in this batch


class _Inline:
    """Batches one after another in this process."""

    slots = 1

    def __init__(self, simulator, samples):
        self.simulator, self.samples = simulator, samples
        self._done = None

    def submit(self, task: _Task) -> None:
        self._done = (task, evaluate_batch(self.simulator, self.samples.take(task.index)))

    def wait(self) -> list[tuple[_Task, Evaluation | str]]:
        done, self._done = self._done, None
        return [done]

    def close(self) -> None:
        pass


class _Threads:
    """External programs: ``workers`` threads, each waiting on its own subprocess."""

    def __init__(self, simulator, samples, workers: int):
        from concurrent.futures import ThreadPoolExecutor

        self.simulator, self.samples, self.slots = simulator, samples, workers
        self.pool = ThreadPoolExecutor(workers)
        self.running = {}

    def submit(self, task: _Task) -> None:
        self.running[self.pool.submit(evaluate_batch, self.simulator, self.samples.take(task.index))] = task

    def wait(self):
        from concurrent.futures import FIRST_COMPLETED, wait

        done, _ = wait(list(self.running), return_when=FIRST_COMPLETED)
        return [(self.running.pop(f), f.result()) for f in done]

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def _worker_main(conn, payload: bytes, threads: int) -> None:  # runs in a spawned worker process
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    try:
        simulator = pickle.loads(payload)
        import sys

        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)
    except BaseException as exc:  # the simulator cannot even be rebuilt here
        conn.send(("broken", describe_fault(exc)))
        return
    conn.send(("ready", None))
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        key, batch = message
        conn.send((key, evaluate_batch(simulator, batch)))


class _Processes:
    """Python simulators in ``workers`` spawned processes; a batch past ``timeout_s`` kills its worker."""

    def __init__(self, simulator, samples, workers: int, timeout_s: float | None):
        import multiprocessing

        self.payload = pickled_simulator(simulator, "worker processes")
        self.context = multiprocessing.get_context("spawn")
        self.samples, self.timeout_s, self.slots = samples, timeout_s, workers
        self.threads = max(1, (os.cpu_count() or 1) // workers)
        self.workers: list[dict] = [self._start() for _ in range(workers)]
        self.queue: deque[_Task] = deque()  # submitted, waiting for a ready worker
        self.broken: str | None = None  # why no worker can run this simulator
        self.pending: list[tuple[_Task, Evaluation | str]] = []  # finished, not yet handed back

    def _start(self) -> dict:
        parent, child = self.context.Pipe()
        process = self.context.Process(target=_worker_main, args=(child, self.payload, self.threads), daemon=True)
        process.start()
        child.close()
        return {"process": process, "conn": parent, "ready": False, "task": None, "deadline": math.inf}

    def _kill(self, worker: dict) -> None:
        worker["process"].kill()
        worker["process"].join()
        worker["conn"].close()

    def _replace(self, worker: dict) -> None:
        self._kill(worker)
        self.workers[self.workers.index(worker)] = self._start()

    def submit(self, task: _Task) -> None:
        if self.broken is not None:
            self.pending.append((task, self.broken))
            return
        self.queue.append(task)
        self._dispatch()

    def _dispatch(self) -> None:
        for worker in self.workers:
            if self.queue and worker["ready"] and worker["task"] is None:
                task = self.queue.popleft()
                worker["conn"].send((id(task), self.samples.take(task.index)))
                worker["task"] = task
                worker["deadline"] = time.monotonic() + (self.timeout_s or math.inf)

    def wait(self):
        from multiprocessing.connection import wait

        while not self.pending:
            now = time.monotonic()
            deadline = min(w["deadline"] for w in self.workers)
            conns = [w["conn"] for w in self.workers]
            ready = wait(conns, timeout=None if deadline == math.inf else max(0.0, deadline - now))
            for worker in list(self.workers):
                if worker["conn"] in ready:
                    self._receive(worker)
                elif worker["task"] is not None and time.monotonic() >= worker["deadline"]:
                    task = worker["task"]
                    self._replace(worker)
                    self.pending.append((task, f"timed out after {self.timeout_s:g} s (worker killed)"))
            self._dispatch()
        done, self.pending = self.pending, []
        return done

    def _receive(self, worker: dict) -> None:
        try:
            key, result = worker["conn"].recv()
        except (EOFError, OSError):
            worker["process"].join(timeout=5)
            code = worker["process"].exitcode
            task = worker["task"]
            if not worker["ready"]:
                self._kill(worker)
                self._fail_all(f"a worker process could not start (exit code {code}); a script that runs "
                               "simulators in worker processes needs its code under if __name__ == '__main__':")
                return
            self._replace(worker)
            if task is not None:
                self.pending.append((task, f"worker process died (exit code {code})"))
            return
        if key == "ready":
            worker["ready"] = True
        elif key == "broken":
            self._fail_all(f"the simulator could not be loaded in a worker process: {result}")
        elif worker["task"] is not None:  # (None: the run was failed meanwhile by _fail_all)
            self.pending.append((worker["task"], result))
            worker["task"], worker["deadline"] = None, math.inf

    def _fail_all(self, reason: str) -> None:
        self.broken = reason
        self.pending += [(t, reason) for t in self.queue]
        self.queue.clear()
        for worker in self.workers:
            if worker["task"] is not None:
                self.pending.append((worker["task"], reason))
                worker["task"] = None
            worker["deadline"] = math.inf

    def close(self) -> None:
        for worker in self.workers:
            try:
                worker["conn"].send(None)
            except (OSError, ValueError):
                pass
        for worker in self.workers:
            worker["process"].join(timeout=2)
            if worker["process"].is_alive():
                worker["process"].kill()
                worker["process"].join()


# --------------------------------------------------------------------------- the run


def run_simulator(simulator, samples, workers: int = 1, batch_size: int | None = None, timeout_s: float | None = None,
                  store=None, progress: Progress = no_progress, executor=None) -> Evaluation:
    """Evaluate ``simulator`` on every row of ``samples``; rows of the result align with the samples.

    Args:
        simulator: a Simulator (or a spec for :func:`~matgen.simulators.registry.get_simulator`).
        samples: a :class:`matgen.data.Dataset` of a kind the simulator takes.
        workers: parallel worker processes (threads for external programs).
        batch_size: rows per simulator call (default the simulator's ``batch_size``, lowered so
            every worker gets work).
        timeout_s: seconds a batch may run before it is killed and its rows retried one by one.
        store: a folder keeping each finished batch (module docstring); rows already there are not
            evaluated again.
        progress: ``progress(done, total, message)`` after each batch.
        executor: where batches run (:mod:`matgen.simulators.executors`): None or ``"local"`` (this
            machine, ``workers``), ``"dask://HOST:PORT"``, ``"dask-local[:N]"``, a
            ``distributed.Client`` or any ``concurrent.futures.Executor``.

    Raises:
        MatgenError: bad arguments or samples the simulator cannot take as a whole (before any work);
            an executor that cannot be reached, or that is lost during the run (the results that
            arrived before are in ``store``: the same call continues from them).
    """
    from matgen.simulators.registry import get_simulator
    from matgen.simulators.store import ResultStore

    if not hasattr(simulator, "outputs"):
        simulator = get_simulator(simulator)
    if workers < 1:
        raise MatgenError(f"workers must be at least 1 (got {workers})")
    if batch_size is not None and batch_size < 1:
        raise MatgenError(f"batch size must be at least 1 (got {batch_size})")
    if timeout_s is not None and not timeout_s > 0:
        raise MatgenError(f"timeout must be a positive number of seconds (got {timeout_s})")
    if isinstance(executor, str):
        parse_executor(executor)  # a malformed one is refused even when the store holds every row
    simulator = bound(simulator, samples)
    check = getattr(simulator, "check", None)
    if check is not None:
        check(samples)
    try:
        if store is None:
            return _evaluate(simulator, samples, None, workers, batch_size, timeout_s, progress, executor)
        with folder_lock(store, "simulator store"):  # two processes appending to one store would mix their batches
            return _evaluate(simulator, samples, ResultStore(store, simulator), workers, batch_size, timeout_s,
                             progress, executor)
    except ExecutorLost as exc:
        kept = (f"results so far are stored in {store}; run again with the same store against a running cluster to "
                "continue (stored rows are not evaluated again)" if store is not None else
                "results so far are lost (give a store to keep them)")
        raise MatgenError(f"{exc}; {kept}") from None


def _evaluate(simulator, samples, results, workers: int, batch_size: int | None, timeout_s: float | None,
              progress: Progress, executor=None) -> Evaluation:
    """The rows not in ``results`` (a ResultStore, or None), evaluated in batches where ``executor`` says."""
    names = [o.name for o in simulator.outputs]
    n = len(samples)
    ids = samples.ids.astype(str)
    result = Evaluation.all_failed(names, n, "not evaluated")
    todo = np.arange(n)
    if results is not None:
        known = results.load()
        stored = np.asarray([i in known for i in ids], dtype=bool)
        for k in np.flatnonzero(stored):
            values, error = known[ids[k]]
            for name in names:
                result.properties[name][k] = values[name]
            result.errors[k] = error
        todo = np.flatnonzero(~stored)
    done = n - len(todo)
    progress(done, n, f"{done} from the store" if done else simulator.name)
    if not len(todo):
        return result  # (the executor is not even opened)
    with open_engine(executor, workers) as engine:
        _run_batches(simulator, samples, todo, result, results, workers, batch_size, timeout_s, progress, engine)
    return result


def _run_batches(simulator, samples, todo: np.ndarray, result: Evaluation, results, workers: int,
                 batch_size: int | None, timeout_s: float | None, progress: Progress, engine) -> None:
    """Evaluate the rows ``todo`` into ``result`` (and ``results``, the store), a batch at a time on the backend."""
    names = [o.name for o in simulator.outputs]
    n, ids = len(samples), samples.ids.astype(str)
    done = n - len(todo)
    backend = _backend(simulator, samples, workers, timeout_s, engine)
    share = backend.slots  # every worker (every thread of an executor) gets a batch
    size = batch_size or max(1, min(int(getattr(simulator, "batch_size", 32) or 32), math.ceil(len(todo) / share)))
    queue = deque(_Task(todo[s:s + size]) for s in range(0, len(todo), size))
    started: dict[int, float] = {}
    running = 0
    try:
        while queue or running:
            while queue and running < backend.slots:
                task = queue.popleft()
                started[id(task)] = time.monotonic()
                backend.submit(task)
                running += 1
            for task, outcome in backend.wait():
                running -= 1
                seconds = time.monotonic() - started.pop(id(task), time.monotonic())
                if isinstance(outcome, str) and len(task.index) > 1:
                    queue.extendleft(_Task(task.index[k:k + 1]) for k in reversed(range(len(task.index))))  # one by one
                    continue
                if isinstance(outcome, str):
                    outcome = Evaluation.all_failed(names, len(task.index), outcome)
                for name in names:
                    result.properties[name][task.index] = outcome.properties[name]
                result.errors[task.index] = outcome.errors
                if results is not None:
                    results.save(ids[task.index], outcome.properties, outcome.errors, seconds)
                done += len(task.index)
                failed = int(outcome.failed.sum())
                progress(done, n, f"{simulator.name}" + (f", {failed} failed" if failed else ""))
    finally:
        backend.close()


def _backend(simulator, samples, workers: int, timeout_s: float | None, engine=None):
    if getattr(simulator, "external", False):
        if timeout_s is not None:
            simulator = copy.copy(simulator)
            simulator.timeout_s = float(timeout_s)
        if engine is not None:  # the program is killed at its timeout by subprocess, on the worker
            return FuturesBackend(engine, simulator, samples, None)
        return _Threads(simulator, samples, workers) if workers > 1 else _Inline(simulator, samples)
    if engine is not None:
        return FuturesBackend(engine, simulator, samples, timeout_s)
    if workers == 1 and timeout_s is None:
        return _Inline(simulator, samples)
    return _Processes(simulator, samples, workers, timeout_s)


# --------------------------------------------------------------------------- results into the data


def bound(simulator, samples):
    """``simulator.bind(samples)`` where the simulator has one (user hooks need not)."""
    bind = getattr(simulator, "bind", None)
    return bind(samples) if bind is not None else simulator


def with_properties(samples, simulator, evaluation: Evaluation):
    """The samples with each simulated output as a continuous ``property`` condition, plus ``simulation_error``.

    A condition of the same name is replaced (its unit and description become the output's), but
    a known value is never overwritten by an unknown one: a row the simulator could not evaluate
    keeps the value it had (NaN when it had none; its reason is in ``simulation_error``). Where the
    old condition is in another unit (or categorical) its values cannot be carried over, so it is
    kept whole as ``NAME_previous`` (role ``meta``). ``simulation_error`` is a categorical ``meta``
    condition holding, per row, why the simulator could not evaluate it (unknown, i.e. code -1,
    where it was evaluated). The dataset attr ``simulator`` names the simulator.
    """
    from dataclasses import replace

    from matgen.data import Condition

    simulator = bound(simulator, samples)
    if len(evaluation) != len(samples):
        raise MatgenError(f"the evaluation has {len(evaluation)} rows but the samples {len(samples)}")
    conditions = dict(samples.conditions)
    failed = evaluation.failed
    for o in simulator.outputs:
        new = np.where(failed, np.nan, evaluation.properties[o.name])
        old = samples.conditions.get(o.name)
        if old is not None and not old.is_categorical and (old.unit or "") == (o.unit or ""):
            new = np.where(failed & ~old.missing, old.values, new)  # never replace a known value by NaN
        elif old is not None and failed.any() and not old.missing.all():
            conditions[f"{o.name}_previous"] = replace(old, role="meta")
        conditions[o.name] = o.condition(new, simulator.name)
    conditions["simulation_error"] = Condition.from_labels(
        [e or None for e in evaluation.errors], role="meta",
        description=f"why simulator '{simulator.name}' could not evaluate the row (unknown: evaluated)")
    return replace(samples, conditions=conditions, attrs={**samples.attrs, "simulator": simulator.name})
