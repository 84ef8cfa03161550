"""Simulator batches on a Dask cluster: the same numbers, a killed worker, a lost scheduler, timeouts, the CLI.

The cluster is a ``distributed.LocalCluster`` of 2 worker processes with one thread each, shared
by the module. The simulators live in tests/dask_simulators.py, which the workers import (their
sys.path is the test's). Rows are counted through files: ``Logged`` appends a row's id to
``finished`` only after its work is done, so a batch whose worker was killed half-way is not
counted, and a row counted twice was evaluated twice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from matgen.builders import build
from matgen.cli.main import app
from matgen.data import Dataset, write
from matgen.errors import MatgenError
from matgen.simulators import get_simulator, run_simulator
from matgen.simulators.executors import ExecutorSpec, parse_executor

from dask_simulators import Logged, area_fraction
from test_train import assert_one_line_error

pytestmark = pytest.mark.usefixtures("one_thread")

runner = CliRunner()
NO_DASK = 'Dask tests need distributed: pip install "matgen[cluster]"'


@pytest.fixture(scope="module")
def client():
    """A Client of a LocalCluster of 2 worker processes, one thread each (closed after the module)."""
    distributed = pytest.importorskip("distributed", reason=NO_DASK)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            yield client


@pytest.fixture()
def short_connect_timeout():
    """Dask gives up connecting to a scheduler after 2 s instead of 30 s."""
    dask = pytest.importorskip("dask", reason=NO_DASK)
    pytest.importorskip("distributed", reason=NO_DASK)
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        yield


def maps(n: int) -> Dataset:
    """n random 8 x 8 label maps with ids r0, r1, ..."""
    rng = np.random.default_rng(0)
    return Dataset(kind="micrograph", signals=rng.integers(0, 2, (n, 8, 8)).astype(np.uint8),
                   ids=[f"r{i}" for i in range(n)], signal_type="labels")


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def stored_ids(store: Path) -> list[str]:
    return [i for f in store.glob("batch-*.json") for i in json.loads(f.read_text())["ids"]]


def in_background(action) -> threading.Thread:
    thread = threading.Thread(target=action, daemon=True)
    thread.start()
    return thread


# --- the executor's text forms (no Dask needed) ----------------------------------------------------


def test_executor_text_forms_and_bad_ones_name_the_valid_forms():
    assert parse_executor("local") == ExecutorSpec("local")
    assert parse_executor("dask://10.0.0.5:8786") == ExecutorSpec("dask", address="tcp://10.0.0.5:8786")
    assert parse_executor("dask-local") == ExecutorSpec("dask-local")
    assert parse_executor("dask-local:3") == ExecutorSpec("dask-local", workers=3)
    with pytest.raises(MatgenError, match="unknown executor 'slurm'; choose from local, dask://HOST:PORT or "
                                          r"dask-local\[:N\]"):
        parse_executor("slurm")
    with pytest.raises(MatgenError, match="should be dask://HOST:PORT"):
        parse_executor("dask://10.0.0.5")
    with pytest.raises(MatgenError, match="dask-local:N with N >= 1"):
        parse_executor("dask-local:0")


def test_without_distributed_a_dask_executor_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed raises ImportError
    with pytest.raises(MatgenError, match=r'needs Dask\'s distributed package: pip install "matgen\[cluster\]"'):
        run_simulator(get_simulator("elastic"), build("spinodal", n=2, size=16), executor="dask://127.0.0.1:8786")
    data = write(tmp_path / "d.h5", build("spinodal", n=2, size=16))
    result = runner.invoke(app, ["simulate", str(data), "-s", "elastic", "--executor", "dask-local:2"])
    assert_one_line_error(result, 'pip install "matgen[cluster]"')


def test_any_concurrent_futures_executor_runs_the_batches():
    ds = maps(5)
    with ThreadPoolExecutor(2) as pool:
        ev = run_simulator("elastic", build("spinodal", n=3, size=16), batch_size=1, executor=pool)
        assert not ev.failed.any()
        sim = get_simulator(lambda samples: {"a": np.zeros(len(samples))}, outputs="a:")
        with pytest.raises(MatgenError, match="cannot be sent to the ThreadPoolExecutor"):
            run_simulator(sim, ds, executor=pool)


# --- on a Dask cluster -----------------------------------------------------------------------------


def test_the_same_numbers_as_the_local_pool(client):
    sim, ds = get_simulator("elastic"), build("spinodal", n=6, size=16, seed=3)
    local = run_simulator(sim, ds, batch_size=2)
    on_dask = run_simulator(sim, ds, batch_size=2, executor=client)
    assert not on_dask.failed.any()
    for o in sim.outputs:
        np.testing.assert_array_equal(on_dask.properties[o.name], local.properties[o.name])


def test_a_worker_killed_mid_batch_loses_nothing_and_evaluates_nothing_twice(client, tmp_path):
    """SIGKILL one worker process while it is inside a batch (after two batches are stored).

    "Evaluated twice" means: the simulator *finished* a row twice (its id is twice in
    ``finished``, which is written after the work). The batch on the killed worker was started
    (its ids are in ``started`` under the killed pid) but never finished there; Dask's scheduler
    re-ran it on a worker that was alive, where it finished once.
    """
    started, finished, store = tmp_path / "started", tmp_path / "finished", tmp_path / "store"
    sim = Logged(started, finished, sleep_s=1.0)
    workers = set(client.run(os.getpid).values())
    killed: list[tuple[int, str]] = []

    def kill_a_worker_inside_a_batch():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            done = set(lines(finished))
            busy = [(int(pid), i) for pid, i in (line.split() for line in lines(started))
                    if i not in done and int(pid) in workers]
            if len(stored_ids(store)) >= 4 and busy:
                os.kill(busy[0][0], signal.SIGKILL)
                killed.append(busy[0])
                return
            time.sleep(0.02)

    thread = in_background(kill_a_worker_inside_a_batch)
    ev = run_simulator(sim, maps(12), store=store, executor=client)
    thread.join()
    assert killed, "no worker was killed"
    pid, row = killed[0]
    assert not ev.failed.any() and sorted(stored_ids(store)) == sorted(maps(12).ids)  # nothing lost
    np.testing.assert_allclose(ev.properties["area"], area_fraction(maps(12)))
    assert sorted(lines(finished)) == sorted(maps(12).ids)  # every row finished exactly once
    runs_of_row = [p for p, i in (line.split() for line in lines(started)) if i == row]
    assert len(runs_of_row) == 2 and runs_of_row[0] == str(pid) != runs_of_row[1]  # killed there, re-run elsewhere


def test_a_row_that_kills_its_worker_every_time_fails_alone_with_the_reason(client, tmp_path):
    """Dask re-runs a batch whose worker died up to allowed-failures times (lowered to 0 here, to be quick);
    then the batch's rows are tried one by one, and only the row that kills its worker fails."""
    ds = maps(4)
    ds.ids[2] = "bad"
    scheduler = client.cluster.scheduler
    allowed, scheduler.allowed_failures = scheduler.allowed_failures, 0
    try:
        ev = run_simulator(Logged(tmp_path / "started", tmp_path / "finished", die="bad"), ds, batch_size=2,
                           executor=client, store=tmp_path / "store")
    finally:
        scheduler.allowed_failures = allowed
    assert ev.errors.tolist() == ["", "", "its Dask worker died each time it ran it (KilledWorker: "
                                  "distributed.scheduler.allowed-failures reached; the worker logs say why)", ""]
    assert sorted(lines(tmp_path / "finished")) == ["r0", "r1", "r3"] and len(stored_ids(tmp_path / "store")) == 4
    client.wait_for_workers(2, timeout=60)  # the nanny has restarted it, for the tests after this one


def test_a_simulator_the_workers_cannot_import_is_one_error(client, tmp_path, monkeypatch):
    (tmp_path / "only_here.py").write_text("import numpy as np\n\ndef area(samples):\n"
                                           "    return {'area': np.zeros(len(samples))}\n\narea.outputs = ['area:']\n")
    monkeypatch.syspath_prepend(str(tmp_path))  # on this process's path, not on the workers'
    with pytest.raises(MatgenError, match=r"the simulator cannot be loaded on the Dask scheduler at tcp://\S+ \(.*"
                                          r"cannot import 'only_here'.*\); install its package where the workers run"):
        run_simulator(get_simulator("only_here:area"), maps(3), executor=client, store=tmp_path / "store")
    assert stored_ids(tmp_path / "store") == []  # not a fault of the rows: none is recorded as failed


def test_a_batch_past_its_timeout_fails_alone_and_the_rest_still_run(client, tmp_path):
    ds = maps(4)
    ds.ids[1] = "bad"
    sim = Logged(tmp_path / "started", tmp_path / "finished", hang="bad")
    start = time.monotonic()
    ev = run_simulator(sim, ds, batch_size=2, timeout_s=1.0, executor=client)
    assert ev.errors.tolist() == ["", "timed out after 1 s (left running in a worker thread: an executor cannot "
                                      "kill one)", "", ""]
    np.testing.assert_allclose(ev.properties["area"][[0, 2, 3]], area_fraction(ds)[[0, 2, 3]])
    assert time.monotonic() - start < 20  # two timeouts (the pair, then 'bad' alone), not the 30 s hang


def test_cli_campaign_hands_the_executor_to_the_library(monkeypatch, tmp_path):
    from matgen.campaign import Campaign

    seen = {}

    def fake_open(directory, simulator=None, executor=None, **overrides):
        seen.update(directory=directory, executor=executor)
        raise MatgenError("stopped here")

    monkeypatch.setattr(Campaign, "open", staticmethod(fake_open))
    result = runner.invoke(app, ["campaign", "resume", str(tmp_path / "c"), "--executor", "dask://head:8786"])
    assert_one_line_error(result, "stopped here")
    assert seen == {"directory": tmp_path / "c", "executor": "dask://head:8786"}
    config = tmp_path / "c.toml"
    config.write_text('builder = "spinodal"\n[targets]\ndensity = "2.9 ± 1%"\n')
    result = runner.invoke(app, ["campaign", "run", str(config), "--executor", "dask-local:x"])
    assert_one_line_error(result, "dask-local:N with N >= 1")


SCHEDULER = """
import time
from distributed import LocalCluster
cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp", dashboard_address=None)
print(cluster.scheduler_address, flush=True)
time.sleep(300)
"""


def test_a_lost_scheduler_is_one_error_and_a_new_cluster_evaluates_only_the_missing_rows(client, tmp_path,
                                                                                         short_connect_timeout):
    """The scheduler (and its one in-process worker) is another process, killed with SIGKILL mid-run."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    process = subprocess.Popen([sys.executable, "-c", SCHEDULER], stdout=subprocess.PIPE, text=True, env=env)
    try:
        address = process.stdout.readline().strip()
        assert address.startswith("tcp://"), address
        started, finished, store = tmp_path / "started", tmp_path / "finished", tmp_path / "store"

        def kill_the_scheduler():
            deadline = time.monotonic() + 60
            while len(stored_ids(store)) < 4 and time.monotonic() < deadline:
                time.sleep(0.02)
            process.kill()

        thread = in_background(kill_the_scheduler)
        with pytest.raises(MatgenError) as lost:
            run_simulator(Logged(started, finished, sleep_s=1.0), maps(12), store=store,
                          executor=address.replace("tcp://", "dask://"))
        thread.join()
    finally:
        process.kill()
        process.wait()
    message = str(lost.value)
    assert "\n" not in message and message.startswith(f"the Dask scheduler at {address} is unreachable")
    assert f"results so far are stored in {store}; run again with the same store against a running cluster" in message
    before = set(stored_ids(store))
    assert 4 <= len(before) < 12
    assert sorted(lines(finished)) == sorted(before)  # the batch running when it died never finished
    first = len(lines(finished))
    ev = run_simulator(Logged(started, finished), maps(12), store=store, executor=client)  # a new cluster
    again = lines(finished)[first:]
    assert sorted(again) == sorted(set(maps(12).ids) - before)  # only the missing rows, each once
    np.testing.assert_allclose(ev.properties["area"], area_fraction(maps(12)))


def test_cli_simulate_on_a_dask_scheduler_and_a_bad_address_is_one_line(client, tmp_path, short_connect_timeout):
    data = write(tmp_path / "d.h5", build("spinodal", n=4, size=16, seed=1))
    address = client.scheduler.address.replace("tcp://", "dask://")
    result = runner.invoke(app, ["simulate", str(data), "-s", "elastic", "--executor", address, "--store",
                                 str(tmp_path / "store"), "-o", str(tmp_path / "out.h5")])
    assert result.exit_code == 0, result.output
    assert "simulated 4 row(s) with elastic" in result.output and len(stored_ids(tmp_path / "store")) == 4
    start = time.monotonic()
    result = runner.invoke(app, ["simulate", str(data), "-s", "elastic", "--executor", "dask://127.0.0.1:9",
                                 "-o", str(tmp_path / "other.h5")])
    assert_one_line_error(result, "cannot reach the Dask scheduler at tcp://127.0.0.1:9")
    assert time.monotonic() - start < 15 and not (tmp_path / "other.h5").exists()
    result = runner.invoke(app, ["simulate", str(data), "-s", "elastic", "--executor", "dask:8786"])
    assert_one_line_error(result, "unknown executor 'dask:8786'; choose from local, dask://HOST:PORT")
