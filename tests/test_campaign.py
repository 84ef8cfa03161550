"""Campaigns on a tiny model: two rounds end to end, resume after a kill, faults, user hooks, bad input.

Every campaign here samples 16 x 16 spinodal maps from a 2-level U-Net with 8 channels trained
for 20 steps, so a round takes a second or two on one CPU thread. Simulator calls are counted
through a file that each call appends its row ids to (it works across worker processes).
"""

import json
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from typer.testing import CliRunner

from matgen.campaign import Campaign, CampaignConfig, status
from matgen.campaign.targets import hits, parse_targets
from matgen.cli.main import app
from matgen.data import read, write
from matgen.errors import MatgenError
from matgen.runs import load_run

pytestmark = pytest.mark.usefixtures("one_thread")

TINY_NET = {"base_channels": 8, "channel_mults": [1, 2], "time_dim": 32}
TRAIN = {"net": "tiny", "net_options": TINY_NET, "steps": 20, "batch_size": 16, "lr": 2e-3, "warmup_steps": 2,
         "eval_every": 10, "log_every": 10}
TARGETS = {"density": "2.95 ± 1%", "modulus": "140..165"}

#: User hooks, written to a module beside the data so that worker processes can import them too.
HOOKS = '''
import os, time
import numpy as np
from matgen.simulators import get_simulator

ELASTIC = get_simulator("elastic")


def _count(samples):
    with open(os.environ["CAMPAIGN_CALLS"], "a") as handle:
        handle.write("".join(f"{i}\\n" for i in samples.ids))


def _index(row_id):
    return int(str(row_id).rsplit("-", 1)[1])


def counting(samples):
    """The elastic simulator, counting calls; exits like kill -9 when CAMPAIGN_DIE_AT names a row it is given."""
    die = os.environ.get("CAMPAIGN_DIE_AT")
    if die and die in set(samples.ids):
        os._exit(9)
    _count(samples)
    ev = ELASTIC(samples)
    return {"density": ev.properties["density"], "modulus": ev.properties["modulus"]}


counting.outputs = ["density:g/cm3", "modulus:GPa"]


def faulty(samples):
    """Row index mod 5: 1 raises, 2 returns NaN, 3 returns a wrong shape, 4 hangs (with CAMPAIGN_HANG)."""
    _count(samples)
    index = [_index(i) for i in samples.ids]
    if any(k % 5 == 1 for k in index):
        raise ValueError("the mesher failed")
    if os.environ.get("CAMPAIGN_HANG") and any(k % 5 == 4 for k in index):
        time.sleep(60)
    ev = ELASTIC(samples)
    out = {"density": ev.properties["density"], "modulus": ev.properties["modulus"].copy()}
    if any(k % 5 == 3 for k in index):
        return {k: np.append(v, 1.0) for k, v in out.items()}
    out["modulus"][[k % 5 == 2 for k in index]] = np.nan
    return out


faulty.outputs = ["density:g/cm3", "modulus:GPa"]


def broken(samples):
    raise RuntimeError("licence server unreachable")


broken.outputs = ["density:g/cm3", "modulus:GPa"]
'''

#: An external program: reads the HDF5 input with h5py, writes CSV; exits 3 when it meets row 2.
PROGRAM = '''
import sys
import h5py
import numpy as np

with h5py.File(sys.argv[1], "r") as f:
    maps = f["signals"][...]
    ids = [i.decode() if isinstance(i, bytes) else str(i) for i in f["rows/id"][...]]
if any(i.endswith("-0002") for i in ids):
    sys.stderr.write("solver diverged\\n")
    sys.exit(3)
fraction = maps.reshape(len(maps), -1).mean(axis=1)
with open(sys.argv[2], "w") as out:
    out.write("id,density,modulus\\n")
    for i, f in zip(ids, fraction):
        out.write(f"{i},{2.70 + 0.51 * f},{70 + 340 * f}\\n")
'''


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The data (48 spinodal maps, 16 x 16 px), a tiny trained run, and the hooks module on sys.path."""
    from matgen.builders import build
    from matgen.train import TrainConfig, train

    folder = tmp_path_factory.mktemp("campaign")
    data = write(folder / "spinodal.h5", build("spinodal", n=48, size=16, seed=0, anneal_time="150..300"))
    train(data, TrainConfig(conditions=("density", "modulus"), device="cpu", **TRAIN), folder / "run")
    (folder / "campaign_hooks.py").write_text(HOOKS, encoding="utf-8")
    (folder / "program.py").write_text(PROGRAM, encoding="utf-8")
    sys.path.insert(0, str(folder))
    yield folder
    sys.path.remove(str(folder))


@pytest.fixture
def calls(tmp_path, monkeypatch):
    """The file simulator calls append row ids to; returns a function giving {id: times evaluated}."""
    path = tmp_path / "calls.txt"
    monkeypatch.setenv("CAMPAIGN_CALLS", str(path))

    def counts() -> dict:
        ids = path.read_text().split() if path.exists() else []
        return {i: ids.count(i) for i in ids}

    return counts


def config(world, **fields) -> CampaignConfig:
    values = dict(targets=TARGETS, data=str(world / "spinodal.h5"), run=str(world / "run"), candidates=6, rounds=2,
                  steps=4, finetune_steps=6, baselines=False, device="cpu", seed=0)
    return CampaignConfig(**{**values, **fields})


def test_a_two_round_campaign_trains_samples_simulates_relabels_finetunes_and_reports(world, tmp_path):
    cfg = CampaignConfig(targets=TARGETS, builder="spinodal", builder_options={"n": 40, "size": 16,
                         "anneal_time": "150..300"}, train=TRAIN, candidates=6, rounds=2, steps=4, finetune_steps=6,
                         device="cpu")
    seen = []
    report = Campaign(cfg, tmp_path / "c").run(on_summary=seen.append)
    c = tmp_path / "c"
    for name in ("campaign.json", "state.json", "log.txt", "report.json", "errors.png", "scatter.png", "best.png",
                 "data/initial.h5", "runs/initial/model.safetensors", "baselines/nearest/results.json",
                 "baselines/unguided/summary.json", "rounds/01/candidates.h5", "rounds/01/data.h5",
                 "rounds/02/run/model.safetensors", "rounds/02/round.json"):
        assert (c / name).is_file(), name
    assert not (c / "rounds" / "01" / "run").exists()  # round 1 samples the first model
    assert report.status == "done" and report.reason.startswith("ran all 2 round(s)")
    assert [s.name for s in seen] == ["nearest training", "unguided", "random search", "round 1", "round 2"]
    random = read(c / "baselines" / "random" / "candidates.h5")  # the builder's own parameters, another seed
    assert len(random) == 6 and random.ids[0] == "random-0000" and random.attrs["builder"] == "spinodal"
    assert report.baselines["nearest"].new_hits == 0  # its hits are training rows, not new designs
    assert all(s.new_hits == s.hits for s in report.rounds)  # the rounds' hits are all new and distinct
    shape = report.rounds[0].morphology
    assert shape["s2_ratio"] > 0 and 0 <= shape["speckle"] <= 1 and 0 <= shape["speckle_train"] <= 1
    targets = parse_targets(TARGETS)
    doc = json.loads((c / "report.json").read_text())
    assert doc["total_hits"] == sum(r["hits"] for r in doc["rounds"]) and doc["simulator_calls"] == 12
    for r, summary in enumerate(report.rounds, start=1):
        rows = json.loads((c / "rounds" / f"{r:02d}" / "results.json").read_text())["candidates"]
        achieved = {k: np.asarray([row["achieved"][k] for row in rows]) for k in targets}
        assert summary.hits == int(hits(targets, achieved).sum()) == sum(row["hit"] for row in rows)
        assert summary.hit_rate == summary.hits / 6 and summary.evaluated + summary.failed == 6
        candidates = read(c / "rounds" / f"{r:02d}" / "candidates.h5")
        assert list(candidates.ids) == [f"campaign-r{r:02d}-{i:04d}" for i in range(6)]
        # the simulator agrees with the physics the dataset carries: re-simulate one candidate by hand
        import torch

        from matgen.simulators.elastic import elastic_properties

        exact = elastic_properties(torch.as_tensor(candidates.signals[:1]), ("Al", "SiC"), "stress")
        assert rows[0]["achieved"]["modulus"] == pytest.approx(exact["modulus"][0], rel=1e-6)
    data = read(c / "rounds" / "02" / "data.h5")
    assert len(data) == 40 + 12 and data.synthetic.sum() == 12
    relabelled = data.take(np.flatnonzero(data.synthetic))
    rows1 = json.loads((c / "rounds" / "01" / "results.json").read_text())["candidates"]
    assert relabelled.conditions["modulus"].values[:6] == pytest.approx([row["achieved"]["modulus"] for row in rows1])
    run = load_run(c / "rounds" / "02" / "run")
    assert json.loads((c / "rounds" / "02" / "run" / "config.json").read_text())["finetuned_from"]["run"] == \
        str((c / "runs" / "initial").resolve())
    assert run.data.path == str((c / "rounds" / "01" / "data.h5").resolve())
    now = status(c)
    assert (now.status, now.rounds_done, now.rounds_planned, now.evaluated) == ("done", 2, 2, 12)
    # running it again does nothing more; extending it runs one more round from round 2's data
    again = Campaign.resume(c, rounds=3)
    assert len(again.rounds) == 3 and (c / "rounds" / "03" / "run" / "config.json").is_file()
    assert Campaign.open(c).config.rounds == 3


def test_a_killed_round_resumes_without_losing_or_repeating_a_simulation(world, tmp_path, calls):
    """kill -9 (os._exit) in a subprocess half-way through round 2's simulations, then resume."""
    c = tmp_path / "c"
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(world)!r})
        import torch
        torch.set_num_threads(1)
        from matgen.campaign import Campaign, CampaignConfig
        cfg = CampaignConfig(targets={TARGETS!r}, data={str(world / 'spinodal.h5')!r}, run={str(world / 'run')!r},
                             candidates=6, rounds=2, steps=4, finetune_steps=6, baselines=False, device="cpu",
                             simulator="campaign_hooks:counting", simulator_batch=2)
        Campaign(cfg, {str(c)!r}).run()
    """)
    env = {**os.environ, "CAMPAIGN_DIE_AT": "campaign-r02-0004"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 9, done.stderr
    before = calls()
    assert len(before) == 6 + 4 and all(v == 1 for v in before.values())  # round 1 and two batches of round 2
    assert status(c).status == "interrupted" and status(c).evaluated == 10
    report = Campaign.resume(c, simulator=None)
    after = calls()
    assert sorted(after) == sorted([f"campaign-r{r:02d}-{i:04d}" for r in (1, 2) for i in range(6)])
    assert all(v == 1 for v in after.values()), after  # nothing evaluated twice
    assert [s.evaluated + s.failed for s in report.rounds] == [6, 6]
    rows = json.loads((c / "rounds" / "02" / "results.json").read_text())["candidates"]
    assert [row["id"] for row in rows] == [f"campaign-r02-{i:04d}" for i in range(6)]
    assert len(read(c / "rounds" / "02" / "data.h5")) == 48 + 12  # no result lost, none counted twice
    assert report.status == "done"


def test_simulations_run_on_the_executor_given_and_another_one_continues_the_same_campaign(world, tmp_path, calls):
    """Any concurrent.futures.Executor (a Dask Client's too: tests/test_dask.py) runs the simulator batches; where
    they run is not what the campaign is, so a run told another executor continues it instead of refusing it."""
    from concurrent.futures import ThreadPoolExecutor

    class CountingPool(ThreadPoolExecutor):
        submitted = 0

        def submit(self, *args, **kwargs):
            CountingPool.submitted += 1
            return super().submit(*args, **kwargs)

    c = tmp_path / "c"
    with CountingPool(2) as pool:
        report = Campaign(config(world, rounds=1, simulator="campaign_hooks:counting", simulator_batch=2), c,
                          executor=pool).run()
        assert report.status == "done" and CountingPool.submitted == 3 and sum(calls().values()) == 6
        moved = config(world, rounds=1, simulator="campaign_hooks:counting", simulator_batch=2,
                       executor="dask://scheduler.example:8786")  # (never reached: the pool given wins)
        assert Campaign(moved, c, executor=pool).run().status == "done" and CountingPool.submitted == 3
        assert Campaign.open(c).config.executor == "dask://scheduler.example:8786"  # resume uses the latest
        report = Campaign.resume(c, rounds=2, executor=pool)
    assert len(report.rounds) == 2 and CountingPool.submitted == 6 and sorted(calls().values()) == [1] * 12
    with pytest.raises(MatgenError, match="unknown executor 'slurm'; choose from local, dask://HOST:PORT"):
        Campaign.open(c, executor="slurm")


def test_a_damaged_file_deleted_as_advised_is_rebuilt_on_resume(world, tmp_path):
    """The advice "delete it to redo that step" works: a later marker (summary.json, round.json) does
    not stop the step from being redone; and a campaign.json from before a field was added resumes."""
    c = tmp_path / "c"
    first = Campaign(config(world, rounds=1, baselines=True, simulator="campaign_hooks:counting"), c).run()
    doc = json.loads((c / "campaign.json").read_text())
    del doc["config"]["oversample"]  # written by a version without screening
    (c / "campaign.json").write_text(json.dumps(doc))
    for name in ("baselines/nearest/results.json", "rounds/01/results.json"):
        before = (c / name).read_text()
        (c / name).write_text("{ damaged")
        with pytest.raises(MatgenError, match=f"{re.escape(name)}: damaged campaign file .*delete it to redo that step"):
            Campaign.resume(c)
        (c / name).unlink()
        report = Campaign.resume(c)
        assert json.loads((c / name).read_text()) == json.loads(before), name
        assert [s.hits for s in report.rounds] == [s.hits for s in first.rounds]
        assert report.baselines["nearest"].hits == first.baselines["nearest"].hits


def test_an_interrupt_inside_the_simulator_resumes_in_process(world, tmp_path, calls, monkeypatch):
    """Ctrl-C (KeyboardInterrupt) in the second batch of round 1: the first batch is kept, the rest done once."""
    import campaign_hooks

    state = {"batches": 0}

    def interrupting(samples):
        state["batches"] += 1
        if state["batches"] == 2:
            raise KeyboardInterrupt
        return campaign_hooks.counting(samples)

    interrupting.outputs = campaign_hooks.counting.outputs
    cfg = config(world, rounds=1, simulator_batch=3)
    with pytest.raises(KeyboardInterrupt):
        Campaign(cfg, tmp_path / "c", simulator=interrupting).run()
    assert len(calls()) == 3
    report = Campaign.resume(tmp_path / "c", simulator=interrupting)
    assert sorted(calls()) == [f"campaign-r01-{i:04d}" for i in range(6)] and set(calls().values()) == {1}
    assert report.rounds[0].evaluated == 6


def test_target_text_is_parsed_once_per_campaign(world, tmp_path, monkeypatch):
    """The config turns each target's text into a Target; nothing after it parses text again."""
    from matgen.campaign import targets

    parsed = []
    real = targets.parse_target_text
    monkeypatch.setattr(targets, "parse_target_text", lambda name, text: parsed.append(name) or real(name, text))
    cfg = config(world, rounds=2, candidates=3, baselines=True)
    assert sorted(parsed) == ["density", "modulus"]
    report = Campaign(cfg, tmp_path / "c").run()
    assert len(report.rounds) == 2 and sorted(parsed) == ["density", "modulus"]  # two rounds, baselines, report


def test_a_deleted_step_file_is_rebuilt_from_the_store_without_simulating_again(world, tmp_path, calls):
    """Resume is one mechanism, Layout.once: every step whose output is missing is redone, and only those."""
    from matgen.campaign import Layout

    cfg = config(world, rounds=1, simulator="campaign_hooks:counting")
    first = Campaign(cfg, tmp_path / "c").run()
    files = Layout(tmp_path / "c").round(1)
    before = {path.name: path.read_bytes() for path in (files.results, files.data, files.record)}
    summary = json.loads(files.summary.read_text())
    for path in (files.results, files.summary, files.data, files.record, Layout(tmp_path / "c").report):
        path.unlink()
    again = Campaign.resume(tmp_path / "c", simulator=None)
    assert set(calls().values()) == {1} and len(calls()) == 6  # the store answered: no candidate simulated twice
    assert files.results.read_bytes() == before["results.json"] and files.record.is_file()
    assert read(files.data).ids.tolist() == read(tmp_path / "c" / "rounds" / "01" / "data.h5").ids.tolist()
    assert again.rounds[0].hits == first.rounds[0].hits == summary["hits"]
    assert {k: v for k, v in json.loads(files.summary.read_text()).items() if k != "seconds"} == \
        {k: v for k, v in summary.items() if k != "seconds"}


def test_physics_guidance_steers_the_rounds_and_a_simulator_for_other_data_is_refused(world, tmp_path):
    cfg = config(world, rounds=1, candidates=4, physics_guidance="elastic", physics_scale=1.0,
                 targets={"density": "2.95 ± 1%", "modulus": ">= 150"})
    report = Campaign(cfg, tmp_path / "c").run()
    candidates = read(tmp_path / "c" / "rounds" / "01" / "candidates.h5")
    assert candidates.attrs["physics"] == "elastic" and report.rounds[0].evaluated == 4
    targets = json.loads(candidates.attrs["physics_targets"])
    assert targets["density"] == [2.95, 2.95] and targets["modulus"] == [pytest.approx(157.5), None]  # bound + 5 %
    with pytest.raises(MatgenError, match="physics guidance by 'raman-bands' takes raman data, but this data is micrograph"):
        Campaign(config(world, physics_guidance="raman-bands"), tmp_path / "d").run()
    assert not (tmp_path / "d").exists()


def test_screening_samples_a_pool_predicts_it_and_simulates_only_the_best(world, tmp_path, calls):
    cfg = config(world, rounds=1, candidates=4, oversample=3, screen_members=2, screen_epochs=2,
                 simulator="campaign_hooks:counting")
    report = Campaign(cfg, tmp_path / "c").run()
    files = tmp_path / "c" / "rounds" / "01"
    screen = json.loads((files / "screen.json").read_text())
    assert len(read(files / "pool.h5")) == 12 and screen["pool"] == 12 and len(screen["chosen"]) == 4
    chosen = read(files / "candidates.h5")
    assert list(chosen.ids) == [f"campaign-r01-{i:04d}" for i in screen["chosen"]]
    assert len(calls()) == 4  # the simulator saw the 4 chosen only
    p_hit = np.asarray(screen["p_hit"])
    assert p_hit[screen["chosen"]].min() >= np.sort(p_hit)[-8]  # among the best (near-duplicates may be passed over)
    s = report.rounds[0]
    assert s.screening["predictor_calls"] == 24 and set(s.screening["mae"]) == {"density", "modulus"}
    assert report.predictor_calls == 24 and report.simulator_calls == 4
    assert (tmp_path / "c" / "calibration.png").stat().st_size > 1000 and "calibration" in report.pictures
    with pytest.raises(MatgenError, match="oversample must be a whole number >= 1"):
        config(world, oversample=0).check()


def test_simulator_faults_are_recorded_per_candidate_and_the_campaign_goes_on(world, tmp_path, calls):
    cfg = config(world, rounds=2, candidates=5, simulator="campaign_hooks:faulty", max_failure_rate=0.8)
    report = Campaign(cfg, tmp_path / "c").run()
    assert report.status == "done" and len(report.rounds) == 2
    for r in (1, 2):
        rows = json.loads((tmp_path / "c" / "rounds" / f"{r:02d}" / "results.json").read_text())["candidates"]
        reasons = [row["error"] for row in rows]
        assert reasons[0] == "" and reasons[4] == ""
        assert "ValueError: the mesher failed" in reasons[1]
        assert "NaN" in reasons[2] and "modulus" in reasons[2]
        assert "shape (2,)" in reasons[3] and "expected (1,)" in reasons[3]
        assert rows[1]["achieved"]["modulus"] is None and not rows[1]["hit"]  # NaN is null in JSON
        assert report.rounds[r - 1].failed == 3 and report.rounds[r - 1].evaluated == 2
    assert len(read(tmp_path / "c" / "rounds" / "02" / "data.h5")) == 48 + 4  # failed candidates are not added


def test_a_hanging_simulator_times_out_and_its_candidate_fails(world, tmp_path, calls, monkeypatch):
    monkeypatch.setenv("CAMPAIGN_HANG", "1")
    cfg = config(world, rounds=1, candidates=5, simulator="campaign_hooks:faulty", timeout_s=2.0,
                 max_failure_rate=0.9)
    report = Campaign(cfg, tmp_path / "c").run()
    rows = json.loads((tmp_path / "c" / "rounds" / "01" / "results.json").read_text())["candidates"]
    assert "timed out after 2 s" in rows[4]["error"] and rows[0]["error"] == ""
    assert report.rounds[0].failed == 4 and report.status == "done"


def test_an_external_program_that_exits_non_zero_fails_its_candidate_only(world, tmp_path):
    argv = [sys.executable, str(world / "program.py"), "{input}", "{output}"]
    cfg = config(world, rounds=1, candidates=4, simulator=argv,
                 simulator_options={"outputs": ["density:g/cm3", "modulus:GPa"], "output_suffix": ".csv"})
    report = Campaign(cfg, tmp_path / "c").run()
    rows = json.loads((tmp_path / "c" / "rounds" / "01" / "results.json").read_text())["candidates"]
    assert "solver diverged" in rows[2]["error"] and "3" in rows[2]["error"]
    assert [r["error"] == "" for r in rows] == [True, True, False, True]
    candidates = read(tmp_path / "c" / "rounds" / "01" / "candidates.h5")
    fraction = candidates.signals.reshape(4, -1).mean(axis=1)
    assert rows[0]["achieved"]["density"] == pytest.approx(2.70 + 0.51 * fraction[0])
    assert report.rounds[0].failed == 1


def test_a_failure_rate_above_the_limit_stops_the_campaign_with_the_reason(world, tmp_path):
    cfg = config(world, rounds=3, simulator="campaign_hooks:broken", max_failure_rate=0.5)
    report = Campaign(cfg, tmp_path / "c").run()
    assert report.status == "stopped" and len(report.rounds) == 1
    assert "6 of 6 candidates of round 1 failed (100% > max_failure_rate 50%)" in report.reason
    assert "licence server unreachable" in report.reason
    assert not (tmp_path / "c" / "rounds" / "02").exists() and status(tmp_path / "c").status == "stopped"
    result = CliRunner().invoke(app, ["campaign", "status", str(tmp_path / "c")])
    assert result.exit_code == 0 and "stopped" in result.output and "licence server" in result.output


def test_stop_after_hits_ends_the_campaign_early(world, tmp_path):
    cfg = config(world, rounds=3, targets={"density": "2.5..3.3"}, stop_after_hits=1)
    report = Campaign(cfg, tmp_path / "c").run()
    assert len(report.rounds) == 1 and report.total_hits >= 1 and "stop_after_hits = 1" in report.reason


@pytest.mark.parametrize("fields, match", [
    ({"targets": {"hardness": ">= 3"}}, "target 'hardness' is not a property simulator 'elastic' returns; it returns: "
                                        "phase_fraction, modulus"),
    ({"targets": {"shear_modulus": ">= 30"}}, "unknown target 'shear_modulus': not a condition of the model; it "
                                              "takes: density: g/cm3, trained"),
    ({"targets": {"modulus": ">= 450"}}, "impossible target: target modulus = 450 GPa is outside"),
    ({"targets": {"density": "2.95 ± 1%", "modulus": "300 ± 2%"}}, "impossible target: .*cannot be reached at "
                                                                   "density 2.95"),
    ({"simulator": "elasticc"}, "unknown simulator 'elasticc'"),
    ({"targets": {"modulus": "stiff"}}, "cannot read 'stiff'"),
])
def test_bad_targets_are_refused_before_any_work(world, tmp_path, fields, match):
    with pytest.raises(MatgenError, match=match):
        Campaign(config(world, **fields), tmp_path / "c").run()
    assert not (tmp_path / "c").exists()


def test_cli_runs_a_campaign_and_bad_input_is_one_line_exit_2(world, tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text(textwrap.dedent(f"""
        data = "{world / 'spinodal.h5'}"
        run = "{world / 'run'}"
        candidates = 4
        rounds = 1
        steps = 4
        baselines = false
        device = "cpu"
        [targets]
        density = "2.95 ± 1%"
        modulus = "140..165"
    """), encoding="utf-8")
    result = CliRunner().invoke(app, ["campaign", "run", str(toml), "-o", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    assert "round 1" in result.output and "hit rate" in result.output and "report.json" in result.output
    assert "done: ran all 1 round(s)" in result.output
    status_out = CliRunner().invoke(app, ["campaign", "status", str(tmp_path / "c")])
    assert status_out.exit_code == 0 and "1/1 rounds done" in status_out.output
    bad = {
        "unknown target": ('[targets]\nhardness = ">= 3"\n', "not a property simulator 'elastic' returns"),
        "impossible": ('[targets]\nmodulus = ">= 500"\n', "impossible target"),
        "malformed": ('candidates = "many"\n[targets]\nmodulus = ">= 100"\n', "candidates must be a whole number"),
    }
    for name, (tail, fragment) in bad.items():
        path = tmp_path / f"{name.replace(' ', '_')}.toml"
        path.write_text(f'data = "{world / "spinodal.h5"}"\nrun = "{world / "run"}"\n' + tail, encoding="utf-8")
        result = CliRunner().invoke(app, ["campaign", "run", str(path), "-o", str(tmp_path / name)])
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.output
        assert fragment in lines[0] and not (tmp_path / name).exists()
    other = toml.read_text().replace("candidates = 4", "candidates = 5")
    toml.write_text(other)
    clash = CliRunner().invoke(app, ["campaign", "run", str(toml), "-o", str(tmp_path / "c")])
    assert clash.exit_code == 2 and "already holds a different campaign (candidates differ)" in clash.output
    missing = CliRunner().invoke(app, ["campaign", "resume", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "not a campaign directory" in missing.output
