"""Where simulator batches run: this machine (the default), a Dask cluster, or any ``concurrent.futures.Executor``.

``run_simulator(..., executor=...)`` and a campaign's ``executor`` take:

* ``None`` or ``"local"``: this machine, as always (in this process, ``workers`` processes, or
  threads for external programs; :mod:`matgen.simulators.runner`);
* ``"dask://HOST:PORT"``: the Dask scheduler there (``tcp://HOST:PORT``); its workers need
  matgen and the simulator's module installed;
* ``"dask-local"`` or ``"dask-local:N"``: a Dask ``LocalCluster`` of N worker processes (default
  ``workers``), one thread each, started for the run and closed after it;
* a ``distributed.Client`` (left open: it is the caller's), or any ``concurrent.futures.Executor``.

Everything but ``local`` becomes an :class:`Engine`: the Executor, plus the few things the runner
must know of it (how many batches to hand it at once, which exception is a batch's own fault,
why it can no longer run anything). The runner programs against ``submit`` / ``wait`` alone, so
another engine needs only its own :class:`Engine`. Results never stay in the engine: the runner
stores each batch the moment it arrives (:mod:`matgen.simulators.store`).

Faults on Dask: a worker that dies mid-batch has its batch re-run on another worker by the Dask
scheduler itself (up to ``distributed.scheduler.allowed-failures`` times, default 3; no
``retries=``: the batch function never raises for a simulator fault, it returns the reason).
After that the batch fails with ``KilledWorker``, and the runner's own rule applies: its rows
are tried one by one, and a row that still kills its worker fails with that reason. A scheduler
that disappears ends the run with one MatgenError; stored results stay in the store. The time
to connect is Dask's ``distributed.comm.timeouts.connect`` (default 30 s; e.g. the environment
variable ``DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT=5s``).
"""

from __future__ import annotations

import concurrent.futures as cf
import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

from matgen.errors import MatgenError
from matgen.simulators.batches import SimulatorUnavailable, describe_fault, pickled_simulator, run_batch

FORMS = "local, dask://HOST:PORT or dask-local[:N]"
INSTALL = 'pip install "matgen[cluster]"'


@dataclass(frozen=True)
class ExecutorSpec:
    """An executor given as text, parsed."""

    kind: str  # "local", "dask" (a running scheduler) or "dask-local" (a cluster started for the run)
    address: str | None = None  # the scheduler's address, tcp://HOST:PORT (kind "dask")
    workers: int | None = None  # worker processes of a dask-local cluster (None: the run's ``workers``)


def parse_executor(text: str) -> ExecutorSpec:
    """The executor that ``text`` names (``local``, ``dask://HOST:PORT``, ``dask-local[:N]``).

    Raises:
        MatgenError: another form; the message lists the valid ones.
    """
    text = str(text).strip()
    if text in ("", "local"):
        return ExecutorSpec("local")
    if text.startswith("dask://"):
        host, sep, port = text[len("dask://"):].rstrip("/").rpartition(":")
        if sep and host and port.isdigit():
            return ExecutorSpec("dask", address=f"tcp://{host}:{port}")
        raise MatgenError(f"executor '{text}' should be dask://HOST:PORT, e.g. dask://10.0.0.5:8786")
    kind, sep, count = text.partition(":")
    if kind == "dask-local":
        if not sep:
            return ExecutorSpec("dask-local")
        if count.isdigit() and int(count) >= 1:
            return ExecutorSpec("dask-local", workers=int(count))
        raise MatgenError(f"executor '{text}' should be dask-local:N with N >= 1 worker processes")
    raise MatgenError(f"unknown executor '{text}'; choose from {FORMS}")


@dataclass
class Engine:
    """A ``concurrent.futures.Executor`` and what the runner needs to know of it."""

    executor: cf.Executor  # submit(fn, *args) -> Future
    where: str  # names it in messages: "the Dask scheduler at tcp://10.0.0.5:8786"
    in_flight: Callable[[], int]  # batches to hand it at once (more would wait in its queue)
    batch_fault: Callable[[BaseException], str | None] = lambda exc: None  # a batch's own fault (as a reason), or None
    reachable: Callable[[], bool] = lambda: True  # False once the engine itself is gone (a lost scheduler)

    def why_lost(self, exc: BaseException | None) -> str:
        """One line: why no more batches can run here (``exc``: what a submit or a future raised; None: cancelled)."""
        if not self.reachable():
            return f"{self.where} is unreachable (connection lost{': ' + describe_fault(exc) if exc else ''})"
        return f"{self.where} stopped running batches ({describe_fault(exc) if exc else 'it cancelled them'})"


@contextmanager
def open_engine(executor, workers: int = 1) -> Iterator[Engine | None]:
    """The Engine for ``executor`` (module docstring), closed afterwards if opened here; None for local.

    Raises:
        MatgenError: a malformed spec, Dask not installed, or a scheduler that cannot be reached.
    """
    if executor is None or isinstance(executor, Engine):
        yield executor
        return
    if isinstance(executor, cf.Executor):
        yield executor_engine(executor)
        return
    if callable(getattr(executor, "get_executor", None)):  # a distributed.Client (duck-typed: no import needed)
        yield client_engine(executor)
        return
    if not isinstance(executor, str):
        raise MatgenError(f"an executor is {FORMS}, a distributed.Client or a concurrent.futures.Executor, "
                          f"not a {type(executor).__name__}")
    spec = parse_executor(executor)
    if spec.kind == "local":
        yield None
        return
    distributed = _import_distributed(executor)
    if spec.kind == "dask":
        client = _connect(distributed, spec.address)
        try:
            yield client_engine(client)
        finally:
            _close_quietly(client)
        return
    cluster = distributed.LocalCluster(n_workers=spec.workers or workers, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    client = distributed.Client(cluster)
    try:
        yield client_engine(client, where=f"the local Dask cluster at {cluster.scheduler_address}")
    finally:
        _close_quietly(client)
        cluster.close()


class ExecutorLost(Exception):
    """The executor can run no more batches (its one-line reason is the message)."""


class FuturesBackend:
    """The runner's backend for an Engine: each batch one future of its Executor, ``slots`` of them in flight."""

    def __init__(self, engine, simulator, samples, timeout_s: float | None):
        self.engine, self.samples, self.timeout_s = engine, samples, timeout_s
        self.payload = pickled_simulator(simulator, engine.where)
        self.running: dict = {}  # future -> the runner's task (its rows in .index)
        self.lost: str | None = None  # why the executor can run nothing more, once it is known

    @property
    def slots(self) -> int:
        return self.engine.in_flight()

    def submit(self, task) -> None:
        if self.lost is not None:
            raise ExecutorLost(self.lost)
        try:
            future = self.engine.executor.submit(run_batch, self.payload, self.samples.take(task.index), self.timeout_s)
        except Exception as exc:  # a shut-down or broken executor
            raise ExecutorLost(self.engine.why_lost(exc)) from None
        self.running[future] = task

    def wait(self):
        """The batches that finished, each with its Evaluation or reason; raises ExecutorLost once none can finish."""
        if self.lost is not None:
            raise ExecutorLost(self.lost)
        done, _ = cf.wait(list(self.running), return_when=cf.FIRST_COMPLETED)
        finished = []
        for future in done:  # the batches that arrived are handed back (and stored) before any loss is reported
            task = self.running.pop(future)
            if future.cancelled():
                self.lost = self.lost or self.engine.why_lost(None)
                continue
            exc = future.exception()
            if exc is None:
                finished.append((task, future.result()))
            elif isinstance(exc, SimulatorUnavailable):
                raise MatgenError(f"the simulator cannot be loaded on {self.engine.where} ({exc}); install its "
                                  "package where the workers run") from None
            elif self.engine.batch_fault(exc) is not None:  # e.g. a batch that killed its worker every time
                finished.append((task, self.engine.batch_fault(exc)))
            else:
                self.lost = self.lost or self.engine.why_lost(exc)
        if self.lost is not None and not finished:
            raise ExecutorLost(self.lost)
        return finished

    def close(self) -> None:
        for future in self.running:
            future.cancel()  # (a running Dask task is released; its thread finishes on the worker)
        self.running.clear()


def executor_engine(executor: cf.Executor) -> Engine:
    """Any ``concurrent.futures.Executor``: as many batches in flight as it has workers (``_max_workers``, else
    the CPUs)."""
    workers = getattr(executor, "_max_workers", None) or os.cpu_count() or 1
    return Engine(executor, f"the {type(executor).__name__}", lambda: workers)


def client_engine(client, where: str | None = None) -> Engine:
    """A ``distributed.Client``: as many batches in flight as the cluster has live worker threads (asked anew
    before each submit, so a worker that died and is restarting gets none: a batch waiting on a worker that dies
    would count as one of that worker's failures too); KilledWorker is the batch's own fault."""
    where = where or f"the Dask scheduler at {getattr(client.scheduler, 'address', None) or '?'}"
    return Engine(client.get_executor(pure=False), where, lambda: _live_threads(client), _killed_worker,
                  reachable=lambda: client.status == "running")


def _live_threads(client) -> int:
    """The cluster's worker threads now (at least 1: a batch handed to a cluster without workers waits for them)."""
    if client.status != "running":
        return 1  # the next wait reports the lost scheduler
    try:
        return max(1, sum(client.nthreads().values()))
    except Exception:  # the scheduler is going: likewise
        return 1


def _killed_worker(exc: BaseException) -> str | None:
    if type(exc).__name__ == "KilledWorker":
        return ("its Dask worker died each time it ran it (KilledWorker: distributed.scheduler.allowed-failures "
                "reached; the worker logs say why)")
    return None


def _import_distributed(text: str):
    try:
        import distributed
    except ImportError:
        raise MatgenError(f"executor '{text}' needs Dask's distributed package: {INSTALL}") from None
    return distributed


def _connect(distributed, address: str):
    try:
        return distributed.Client(address)
    except (OSError, TimeoutError) as exc:
        raise MatgenError(f"cannot reach the Dask scheduler at {address} ({describe_fault(exc)}); start one there "
                          "(`dask scheduler`, or a dask-jobqueue cluster: docs/scaling.md) or give another "
                          "address") from None


def _close_quietly(client) -> None:
    """Close a client we opened; one whose scheduler is gone logs no tracebacks meanwhile (the MatgenError says it)."""
    import logging

    logger = logging.getLogger("distributed.client")
    level = logger.level
    if client.status != "running":
        logger.setLevel(logging.CRITICAL)
    try:
        client.close(timeout=5)
    except Exception:  # it cannot close cleanly without its scheduler; nothing is lost with it
        pass
    finally:
        logger.setLevel(level)
