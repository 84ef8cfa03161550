"""The ground floor (matgen.common): per-sample seeds, LOW..HIGH, dataclass records, devices, JSON files, progress."""

from __future__ import annotations

import json
import os
import math
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from matgen.common.device import resolve_device
from matgen.common.files import jsonable, read_json, read_toml_table, write_json
from matgen.common.progress import labelled
from matgen.common.ranges import Range, parse_bounds, parse_range, split_range
from matgen.common.records import check_names, from_record, to_record
from matgen.common.seeding import optional_sample_seeds, sample_generators, sample_seeds, seeded_generators, spawned_seeds
from matgen.errors import MatgenError


def test_sample_i_uses_seed_plus_i_and_draws_from_its_own_generator():
    assert sample_seeds(7, 3) == [7, 8, 9] and sample_seeds(np.int64(7), 2) == [7, 8]
    assert sample_seeds([4, 1], 2) == [4, 1]
    with pytest.raises(MatgenError, match="n=3 ints"):
        sample_seeds([1, 2], 3)
    batch = torch.stack([torch.randn(4, generator=g) for g in seeded_generators(sample_seeds(10, 3))])
    alone = torch.randn(4, generator=seeded_generators([11])[0])
    assert torch.equal(batch[1], alone)  # sample 1 of seed 10 is sample 0 of seed 11
    assert optional_sample_seeds(None, 3) is None
    with pytest.raises(MatgenError, match="either seed or generator"):
        optional_sample_seeds(1, 2, torch.Generator())
    shared = torch.Generator()
    assert sample_generators(2, generator=shared) == [shared, shared]


def test_spawned_seeds_are_independent_streams_fixed_by_the_seed():
    a, b = spawned_seeds(0, 4), spawned_seeds(1, 4)
    assert a == spawned_seeds(0, 4) and not set(a) & set(b) and all(0 <= s < 2**32 for s in a)


def test_low_high_text_is_read_in_one_place():
    assert split_range("110..130") == ("110", "130") and split_range("2.9") is None and split_range(2.9) is None
    assert parse_bounds("200:1200", "--range", separators=("..", ":")) == (200.0, 1200.0)
    assert parse_bounds((1, 2), "x") == (1.0, 2.0) and parse_bounds("5", "x", single=True) == (5.0, 5.0)
    with pytest.raises(MatgenError, match="anneal_time 'ten' is not a range; write LOW..HIGH"):
        parse_bounds("ten", "anneal_time")
    assert parse_range("100..200", "t", log=True) == Range(100.0, 200.0, log=True)
    assert parse_range("3", "t") == Range(3.0, 3.0) and str(Range(1, 2, log=True)) == "1..2 (log-uniform)"
    with pytest.raises(MatgenError, match="is empty"):
        Range(2.0, 1.0).check("t")
    draws = Range(1.0, 100.0, log=True).draw(np.random.default_rng(0), 2000)
    assert draws.min() >= 1.0 and draws.max() <= 100.0 and abs(np.median(np.log10(draws)) - 1.0) < 0.1


@dataclass
class _Options:
    steps: int = 10
    sizes: tuple = (1, 2)


def test_records_round_trip_and_name_the_valid_fields():
    assert to_record(_Options()) == {"steps": 10, "sizes": [1, 2]}
    assert from_record(_Options, {"steps": 3}) == _Options(steps=3)
    assert from_record(_Options, {"steps": 3}, dashes=True).steps == 3
    with pytest.raises(MatgenError, match="run.toml: unknown option 'stpes'; choose from steps, sizes"):
        from_record(_Options, {"stpes": 3}, where="run.toml")
    with pytest.raises(MatgenError, match="unknown bound 'a', 'b'; choose from x"):
        check_names(["b", "a", "x"], ["x"], "bound")


def test_devices_auto_cpu_and_unknown():
    assert resolve_device("cpu").type == "cpu" and resolve_device(None).type in ("cpu", "cuda")
    with pytest.raises(MatgenError, match="unknown device 'gpu'; choose from auto, cpu, cuda"):
        resolve_device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(MatgenError, match="no CUDA GPU is visible"):
            resolve_device("cuda")


def test_json_files_are_strict_and_damage_is_named(tmp_path):
    doc = {"a": math.nan, "b": np.float32(1.5), "c": [np.int64(2), math.inf], 3: np.arange(2)}
    assert jsonable(doc) == {"a": None, "b": 1.5, "c": [2, None], "3": [0, 1]}
    path = write_json(tmp_path / "x.json", doc)
    assert json.loads(path.read_text()) == {"a": None, "b": 1.5, "c": [2, None], "3": [0, 1]}
    path.write_text("{oops")
    with pytest.raises(MatgenError, match="x.json: damaged campaign file .*; delete it"):
        read_json(path, "campaign file", "delete it")
    (tmp_path / "c.toml").write_text("steps = 3\n")
    assert read_toml_table(tmp_path / "c.toml", "hint") == {"steps": 3}
    with pytest.raises(MatgenError, match="no such config file; give one"):
        read_toml_table(tmp_path / "missing.toml", "give one")


def test_labelled_progress_prefixes_every_message():
    seen = []
    update = labelled(lambda done, total, message: seen.append((done, total, message)), "round 2")
    update(1, 4, "sampling")
    update(2, 4, "")
    assert seen == [(1, 4, "round 2: sampling"), (2, 4, "round 2")]


HOLD_LOCK = """
import sys, time
from matgen.common.locks import folder_lock
with folder_lock(sys.argv[1], "run"):
    print("held", flush=True)
    time.sleep(120)
"""


def _holder(folder):
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(folder)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    return process


def test_a_folder_lock_stops_a_second_process_and_dies_with_its_holder(tmp_path):
    import signal

    from matgen.common.locks import LOCK_NAME, folder_lock

    folder = tmp_path / "run"
    holder = _holder(folder)
    try:
        with pytest.raises(MatgenError, match=rf"run is in use: this run is being written by matgen process "
                                              rf"{holder.pid} \(-c .*\); wait for it to finish"):
            with folder_lock(folder, "run"):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)  # kill -9: no clean-up runs ...
        holder.wait()
    with folder_lock(folder, "run"):  # ... yet the lock went with the process
        with folder_lock(folder, "run"):  # re-entrant within a process
            assert (folder / LOCK_NAME).is_file()
        assert (folder / LOCK_NAME).is_file()
    assert not (folder / LOCK_NAME).exists()  # the folder is left as it was


def test_check_writable_names_what_is_in_the_way(tmp_path):
    from matgen.common.files import check_writable

    assert check_writable(tmp_path / "new" / "deeper" / "x.h5") == tmp_path / "new" / "deeper" / "x.h5"
    with pytest.raises(MatgenError, match="is a folder; give a file name"):
        check_writable(tmp_path)
    (tmp_path / "plain").write_text("")
    with pytest.raises(MatgenError, match="plain is a file, not a folder"):
        check_writable(tmp_path / "plain" / "x.h5")


def test_atomic_writes_clear_the_temporaries_of_dead_writers_only(tmp_path):
    import subprocess
    import sys

    from matgen.common.files import write_text_atomic

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / f".out.json.tmp-{dead_pid}-0123abcd"  # left by a writer killed mid-write
    live = tmp_path / f".out.json.tmp-{os.getppid()}-4567cdef"  # a running writer's: not ours to remove
    other = tmp_path / f".other.json.tmp-{dead_pid}-89abcdef"  # another file's
    for path in (stale, live, other):
        path.write_text("half")
    write_text_atomic(tmp_path / "out.json", "{}")
    assert not stale.exists() and live.exists() and other.exists()
    assert (tmp_path / "out.json").read_text() == "{}"
