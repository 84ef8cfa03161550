"""Simulators: the built-ins against physics and the built-in datasets, user hooks, faults, the store, workers.

The hook functions live in a small module written to a temporary folder and put on sys.path
(worker processes import it again from there); external programs are tiny Python scripts run
as [sys.executable, script, "{input}", "{output}"].
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from matgen.builders import build
from matgen.data import Dataset, read, write
from matgen.errors import MatgenError
from matgen.simulators import (
    Evaluation, Output, Simulator, get_simulator, run_simulator, simulator_names, with_properties,
)
from matgen.simulators.elastic import hashin_shtrikman, phase_moduli, voigt_reuss
from matgen.simulators.validate import compare_targets, validated_dataset

pytestmark = pytest.mark.usefixtures("one_thread")

HOOKS = '''
import os, time
import numpy as np
from matgen.simulators import Output, Simulator


def area(samples):
    """Phase-1 area fraction of each label map."""
    x = np.asarray(samples.signals).reshape(len(samples), -1)
    return {"area": x.mean(1), "ones": np.ones(len(samples))}


area.outputs = ["area:", "ones:"]


def _bad(samples):
    return np.asarray(samples.ids) == "bad"


def raising(samples):
    if _bad(samples).any():
        raise ValueError("cannot mesh sample bad")
    return area(samples)


def hanging(samples):
    if _bad(samples).any():
        time.sleep(60)
    return area(samples)


def nan_for_bad(samples):
    out = area(samples)
    out["area"][_bad(samples)] = np.nan
    return out


def wrong_shape(samples):
    out = area(samples)
    out["area"] = out["area"][~_bad(samples)]
    return out


def missing(samples):
    out = area(samples)
    if _bad(samples).any():
        del out["ones"]
    return out


def logged(samples):
    with open(os.environ["MATGEN_TEST_LOG"], "a") as log:
        log.write("".join(f"{i}\\n" for i in samples.ids))
    time.sleep(float(os.environ.get("MATGEN_TEST_SLEEP", "0")))
    return area(samples)


logged.outputs = area.outputs


class Scaled(Simulator):
    """area times a factor"""

    name = "scaled"
    kinds = ("micrograph",)

    def __init__(self, factor=1.0):
        self.factor = factor
        self.outputs = (Output("scaled_area", "um2"),)

    def __call__(self, samples):
        return {"scaled_area": self.factor * area(samples)["area"]}
'''

CSV_SCRIPT = '''
import sys
import h5py
inp, out = sys.argv[1], sys.argv[2]
with h5py.File(inp, "r") as f:
    x, ids = f["signals"][()], f["rows/id"].asstr()[()]
if "fail" in sys.argv:
    sys.stderr.write("starting\\nsolver diverged\\n")
    sys.exit(3)
with open(out, "w") as handle:
    handle.write("id,area (um2),ones,error\\n")
    for i, row in reversed(list(zip(ids, x))):  # reversed: rows are aligned by id
        bad = i == "bad"
        handle.write(f"{i},{'' if bad else row.mean()},1,{'no mesh for this one' if bad else ''}\\n")
'''

H5_SCRIPT = '''
import sys
import h5py
with h5py.File(sys.argv[1], "r") as f:
    x = f["signals"][()]
with h5py.File(sys.argv[2], "w") as f:
    f["area"] = x.reshape(len(x), -1).mean(1)
    f["ones"] = x.reshape(len(x), -1).mean(1) * 0 + 1
'''


@pytest.fixture(scope="module")
def hooks(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hooks")
    (folder / "matgen_test_hooks.py").write_text(HOOKS)
    (folder / "csv_sim.py").write_text(CSV_SCRIPT)
    (folder / "h5_sim.py").write_text(H5_SCRIPT)
    sys.path.insert(0, str(folder))
    yield folder
    sys.path.remove(str(folder))
    sys.modules.pop("matgen_test_hooks", None)


def maps(n=6, bad: int | None = 1, seed=0) -> Dataset:
    """n random 8x8 label maps; row ``bad`` has the id 'bad' (which the fault hooks trip on)."""
    rng = np.random.default_rng(seed)
    ids = [f"r{i}" if i != bad else "bad" for i in range(n)]
    return Dataset(kind="micrograph", signals=rng.integers(0, 2, (n, 8, 8)).astype(np.uint8), ids=ids,
                   signal_type="labels")


def expected_area(ds: Dataset) -> np.ndarray:
    return ds.signals.reshape(len(ds), -1).mean(1)


@pytest.fixture(scope="module")
def spinodal():
    return build("spinodal", n=24, size=16, seed=3)


# --- elastic ---------------------------------------------------------------------------------------


def test_elastic_laminate_along_the_layers_is_the_voigt_average():
    laminate = np.zeros((1, 16, 16), np.uint8)
    laminate[:, 4:12, :] = 1  # layers along x: uniform strain along them, so E_x = <E> exactly (plane stress)
    ev = get_simulator("elastic")(Dataset(kind="micrograph", signals=laminate, signal_type="labels"))
    assert ev.properties["modulus_x"][0] == pytest.approx(0.5 * 70 + 0.5 * 410, rel=1e-6)
    assert ev.properties["phase_fraction"][0] == 0.5
    assert ev.properties["density"][0] == pytest.approx(0.5 * 2.70 + 0.5 * 3.21)
    assert ev.properties["modulus_y"][0] < ev.properties["modulus"][0] < ev.properties["modulus_x"][0]


def test_elastic_reproduces_the_spinodal_datasets_stored_properties(spinodal):
    sim = get_simulator("elastic")
    ev = run_simulator(sim, spinodal, batch_size=10)
    assert not ev.failed.any()
    for o in sim.outputs:
        np.testing.assert_allclose(ev.properties[o.name], spinodal.conditions[o.name].values, rtol=1e-4)
        assert spinodal.conditions[o.name].unit == o.unit


def test_elastic_grey_maps_are_thresholded_and_bad_rows_fail_alone(spinodal):
    grey = spinodal.take(range(4))
    grey.signals = np.where(grey.signals == 1, 0.8, 0.3).astype(np.float32)
    grey.signals[2, 0, 0] = np.nan
    grey.signal_type = "grey"
    ev = get_simulator("elastic")(grey)
    assert ev.errors.tolist() == ["", "", "micrograph has NaN or inf pixels", ""]
    np.testing.assert_allclose(ev.properties["modulus"][[0, 1, 3]], spinodal.conditions["modulus"].values[[0, 1, 3]],
                               rtol=1e-4)
    assert np.isnan(ev.properties["modulus"][2])
    labels = spinodal.take(range(2))
    labels.signals = labels.signals.copy()
    labels.signals[1, 0, 0] = 2
    assert "labels 0..2" in get_simulator("elastic")(labels).errors[1]


def test_hashin_shtrikman_and_voigt_reuss_bounds_in_numbers():
    m = phase_moduli(("Al", "SiC"), "stress")  # plane stress: K = E / 2(1 - nu), G = E / 2(1 + nu)
    np.testing.assert_allclose(m["K"], [70 / 1.34, 410 / 1.72])
    np.testing.assert_allclose(m["G"], [70 / 2.66, 410 / 2.28])
    hs, vr = hashin_shtrikman(0.5, m), voigt_reuss(0.5, m)
    np.testing.assert_allclose(hs["K"], (94.83734, 118.66564), rtol=1e-6)
    np.testing.assert_allclose(hs["G"], (52.36182, 69.35752), rtol=1e-6)
    np.testing.assert_allclose(hs["E"], (134.94249, 175.09236), rtol=1e-6)
    np.testing.assert_allclose(vr["E"], (1 / (0.5 / 70 + 0.5 / 410), 241.19369), rtol=1e-6)  # Reuss: harmonic mean
    for f in (0.0, 1.0):  # a single phase: every bound collapses onto it
        assert hashin_shtrikman(f, m)["E"][0] == pytest.approx(hashin_shtrikman(f, m)["E"][1])
        assert voigt_reuss(f, m)["E"][1] == pytest.approx([70, 410][int(f)])


def test_built_in_micrographs_lie_inside_the_hashin_shtrikman_bounds(spinodal):
    m = phase_moduli(("Al", "SiC"), "stress")
    low, high = hashin_shtrikman(spinodal.conditions["phase_fraction"].values, m)["E"]
    modulus = spinodal.conditions["modulus"].values
    assert ((low <= modulus) & (modulus <= high)).all()


def test_elastic_infeasible_checks_range_then_the_bounds_the_density_allows():
    sim = get_simulator("elastic")
    assert "outside what simulator 'elastic' can return (70..410 GPa)" in sim.infeasible({"modulus": 450})
    # density 2.955 g/cm3 fixes f = 0.5 (Al 2.70, SiC 3.21): HS allows 134.9..175.1 GPa
    reason = sim.infeasible({"density": 2.955, "modulus": 180})
    assert "phase-1 fraction 0.500" in reason and "Hashin–Shtrikman bounds allow 134.9..175.1 GPa" in reason
    assert sim.infeasible({"density": 2.955, "modulus": 150}) is None
    assert sim.infeasible({"density": 2.955, "modulus": 130}) is not None
    assert get_simulator("elastic", bounds="voigt-reuss").infeasible({"density": 2.955, "modulus": 130}) is None
    assert "Voigt–Reuss bounds allow 119.6..241.2" in sim.infeasible({"phase_fraction": 0.5, "modulus_x": 250})


def test_elastic_options_phases_and_plane():
    sim = get_simulator("elastic", phases="Al,Al2O3", plane="strain")
    assert sim.output("density").high == 3.95 and sim.output("modulus").high == pytest.approx(380 / (1 - 0.22**2))
    with pytest.raises(MatgenError, match="unknown phase 'Cu'; choose from"):
        get_simulator("elastic", phases=("Al", "Cu"))
    with pytest.raises(MatgenError, match="has no option 'phase'; its options are: phases, plane"):
        get_simulator("elastic", phase="Al")
    bound = get_simulator("elastic").bind(Dataset(kind="micrograph", signals=np.zeros((1, 8, 8), np.uint8),
                                                  signal_type="labels", attrs={"phases": "Al,Al2O3"}))
    assert bound.phases == ("Al", "Al2O3")


def test_a_simulator_refuses_the_wrong_kind_before_any_work(spinodal):
    eels = build("eels", n=2, points=64)
    with pytest.raises(MatgenError, match="simulator 'elastic' takes micrograph data, but these samples are eels"):
        run_simulator("elastic", eels)


# --- spectra ---------------------------------------------------------------------------------------


def test_xrd_phases_recovers_the_builders_weight_fractions():
    ds = build("xrd", n=8, seed=2)
    sim = get_simulator("xrd-phases")
    ev = run_simulator(sim, ds)
    assert [o.name for o in sim.outputs] == [f"wt_{p}" for p in ds.attrs["phases"].split(",")]
    for o in sim.outputs:
        assert o.unit == "wt%" == ds.conditions[o.name].unit
        np.testing.assert_allclose(ev.properties[o.name], ds.conditions[o.name].values, atol=2.0)
    total = sum(ev.properties[o.name] for o in sim.outputs)
    np.testing.assert_allclose(total, 100.0)
    blank = ds.take([0, 1])
    blank.signals = np.zeros_like(blank.signals)
    assert set(sim(blank).errors) == {"pattern has no positive intensity"}


def test_eels_thickness_matches_the_builders_t_over_lambda():
    ds = build("eels", n=16, seed=1)
    ev = run_simulator("eels-thickness", ds)
    np.testing.assert_allclose(ev.properties["thickness"], ds.conditions["thickness"].values, rtol=0.03)
    blank = ds.take(range(2))
    blank.signals = blank.signals.copy()
    blank.signals[1] = np.nan
    ev = get_simulator("eels-thickness")(blank)
    assert ev.errors[1] == "spectrum has NaN or inf channels" and np.isfinite(ev.properties["thickness"][0])


def test_raman_bands_finds_the_strongest_band_where_the_physics_put_it():
    from matgen.physics import raman

    ds = build("raman", n=12, seed=4)
    ev = run_simulator("raman-bands", ds)
    assert not ev.failed.any()
    mineral = ds.conditions["mineral"]
    true_position, true_fwhm = [], []
    for i in range(len(ds)):
        phase = raman.raman_phase(mineral.categories[mineral.values[i]])
        state = raman.phase_bands(phase, torch.tensor([ds.conditions["temperature"].values[i]]),
                                  torch.tensor([ds.conditions["stress"].values[i]]), torch.tensor([532.0]).double())
        k = phase.bands.index(phase.strongest)
        true_position.append(state.position_cm1[0, k].item())
        true_fwhm.append(state.fwhm_cm1[0, k].item())
    np.testing.assert_allclose(ev.properties["band_position"], true_position, atol=0.5)  # cm-1; axis step 1.7 cm-1
    assert np.median(np.abs(ev.properties["band_fwhm"] / true_fwhm - 1)) < 0.1
    assert (ev.properties["n_bands"] >= 1).all()
    flat = ds.take([0])
    flat.signals = np.full_like(flat.signals, 100.0)
    assert get_simulator("raman-bands")(flat).errors[0] == "no Raman band above the noise"


# --- user hooks ------------------------------------------------------------------------------------


def test_a_python_function_hook_by_module_and_name(hooks):
    ds = maps()
    sim = get_simulator("matgen_test_hooks:area")  # outputs from the function's attribute
    assert [o.name for o in sim.outputs] == ["area", "ones"] and sim.description.startswith("Phase-1 area")
    ev = run_simulator(sim, ds)
    np.testing.assert_allclose(ev.properties["area"], expected_area(ds))
    sim = get_simulator("matgen_test_hooks:raising", outputs="area:um2,ones:")
    assert sim.output("area").unit == "um2"
    scaled = get_simulator("matgen_test_hooks:Scaled", factor=2.0)  # a Simulator class, built with options
    np.testing.assert_allclose(run_simulator(scaled, ds).properties["scaled_area"], 2 * expected_area(ds))


def test_bad_hook_specs_name_the_valid_forms(hooks):
    with pytest.raises(MatgenError, match="unknown simulator 'elastc'; choose from elastic, xrd-phases, "
                                          "eels-thickness, raman-bands.*package.module:function.*{input} and {output}"):
        get_simulator("elastc")
    with pytest.raises(MatgenError, match="cannot import 'no_such_module_x'"):
        get_simulator("no_such_module_x:f", outputs="a:")
    with pytest.raises(MatgenError, match="module 'matgen_test_hooks' has no 'nope'; its callables are: .*area"):
        get_simulator("matgen_test_hooks:nope")
    with pytest.raises(MatgenError, match="declare the simulator's outputs"):
        get_simulator("matgen_test_hooks:raising")
    with pytest.raises(MatgenError, match="need a {output} placeholder"):
        get_simulator([sys.executable, "x.py", "{input}"], outputs="a:")
    with pytest.raises(MatgenError, match="program 'no-such-program-x' not found"):
        get_simulator(["no-such-program-x", "{input}", "{output}"], outputs="a:")


def test_entry_points_register_simulators_by_name(hooks, monkeypatch):
    from matgen.simulators import registry

    class Point:
        name, value = "lab-fem", "matgen_test_hooks:Scaled"

        def load(self):
            import matgen_test_hooks

            return matgen_test_hooks.Scaled

    monkeypatch.setattr(registry, "_entry_points", lambda: {"lab-fem": Point()})
    assert simulator_names() == ["elastic", "xrd-phases", "eels-thickness", "raman-bands", "lab-fem"]
    assert get_simulator("lab-fem", factor=3.0).factor == 3.0


@pytest.mark.parametrize("script, suffix", [("csv_sim.py", ".csv"), ("h5_sim.py", ".h5")])
def test_an_external_program_writing_csv_or_hdf5(hooks, script, suffix):
    ds = maps(bad=1 if suffix == ".csv" else None)
    sim = get_simulator([sys.executable, str(hooks / script), "{input}", "{output}"], outputs=["area:um2", "ones:"],
                        output_suffix=suffix, timeout_s=60)
    ev = run_simulator(sim, ds, batch_size=4)
    good = np.asarray(ds.ids) != "bad"
    np.testing.assert_allclose(ev.properties["area"][good], expected_area(ds)[good], rtol=1e-6)
    if suffix == ".csv":  # the program's own error column
        assert ev.errors.tolist() == ["", "no mesh for this one", "", "", "", ""]


def test_an_external_program_that_exits_non_zero_fails_its_rows_with_its_last_stderr_line(hooks):
    sim = get_simulator([sys.executable, str(hooks / "csv_sim.py"), "{input}", "{output}", "fail"],
                        outputs="area:um2", output_suffix=".csv")
    ev = run_simulator(sim, maps(n=3))
    assert ev.failed.all() and np.isnan(ev.properties["area"]).all()
    assert set(ev.errors) == {"csv_sim.py exited with code 3: solver diverged"}


# --- faults ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("hook, reason", [
    ("raising", "ValueError: cannot mesh sample bad"),
    ("nan_for_bad", "returned NaN for area"),
    ("wrong_shape", "returned shape (0,) for 'area', expected (1,) (one value per sample)"),
    ("missing", "returned no 'ones' (declared outputs: area, ones; returned: area)"),
])
def test_a_faulty_sample_fails_alone_with_its_reason(hooks, hook, reason):
    ds = maps(n=6, bad=1)
    ev = run_simulator(get_simulator(f"matgen_test_hooks:{hook}", outputs="area:,ones:"), ds, batch_size=3)
    assert ev.errors.tolist() == ["", reason, "", "", "", ""]
    good = np.arange(6) != 1
    np.testing.assert_allclose(ev.properties["area"][good], expected_area(ds)[good])
    assert np.isnan(ev.properties["area"][1]) and np.isnan(ev.properties["ones"][1])


def test_a_hanging_sample_is_killed_at_the_timeout_and_the_rest_still_run(hooks):
    ds = maps(n=4, bad=2)
    start = time.monotonic()
    ev = run_simulator(get_simulator("matgen_test_hooks:hanging", outputs="area:,ones:"), ds, batch_size=2,
                       timeout_s=1.5)
    assert ev.errors.tolist() == ["", "", "timed out after 1.5 s (worker killed)", ""]
    np.testing.assert_allclose(ev.properties["area"][[0, 1, 3]], expected_area(ds)[[0, 1, 3]])
    assert time.monotonic() - start < 50  # the 60 s sleep was cut short


SPAWNING_SCRIPT = '''
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
open(sys.argv[1], "w").write(str(child.pid))
time.sleep(120)
'''


def test_a_timed_out_program_is_killed_with_the_programs_it_started(tmp_path):
    script, pid_file = tmp_path / "spawn.py", tmp_path / "child.pid"
    script.write_text(SPAWNING_SCRIPT)
    sim = get_simulator([sys.executable, str(script), str(pid_file), "{input}", "{output}"], outputs="area:",
                        timeout_s=3)
    start = time.monotonic()
    ev = run_simulator(sim, maps(n=2))
    assert time.monotonic() - start < 30  # the grandchild holding the pipes did not keep us waiting
    assert set(ev.errors) == {"spawn.py timed out after 3 s (program killed)"}
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        if _is_zombie(child):
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"the program's child {child} outlived the timeout")


SLEEPING_PROGRAM = '''
import os, sys, time
open(sys.argv[1], "w").write(str(os.getpid()))
time.sleep(120)
'''

RUN_PROGRAM = '''
import sys
from matgen.builders import build
from matgen.simulators import get_simulator, run_simulator
sim = get_simulator([sys.executable, sys.argv[1], sys.argv[2], "{input}", "{output}"], outputs="a:", timeout_s=300)
run_simulator(sim, build("spinodal", n=1, size=16))
'''


def test_kill_9_of_matgen_ends_its_external_program_and_the_next_run_clears_its_temporary_folder(tmp_path):
    import tempfile

    from matgen.simulators.hooks import TEMP_PREFIX

    program, pid_file = tmp_path / "sleep.py", tmp_path / "program.pid"
    program.write_text(SLEEPING_PROGRAM)
    matgen = subprocess.Popen([sys.executable, "-c", RUN_PROGRAM, str(program), str(pid_file)])
    deadline = time.monotonic() + 60
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline and matgen.poll() is None, "the program never started"
        time.sleep(0.05)
    matgen.kill()  # kill -9: no finally, no clean-up in matgen
    matgen.wait()
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{child}") and not _is_zombie(child):
        assert time.monotonic() < deadline, f"the external program {child} outlived matgen"
        time.sleep(0.05)
    left = list(Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}{matgen.pid}-*"))
    assert left  # kill -9 left its batch folder ...
    script = tmp_path / "csv_sim.py"
    script.write_text(CSV_SCRIPT)
    sim = get_simulator([sys.executable, str(script), "{input}", "{output}"], outputs="area:", output_suffix=".csv")
    assert not run_simulator(sim, maps(n=2, bad=None)).failed.any()
    assert not any(p.exists() for p in left)  # ... which the next run removed


def _is_zombie(pid: int) -> bool:
    from pathlib import Path

    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z"


@pytest.mark.parametrize("source, fragment", [
    ("def broken(:\n", "has a syntax error at matgen_broken_hook.py:1"),
    ("raise RuntimeError('licence server down')\n", "failed while importing: RuntimeError: licence server down"),
])
def test_a_hook_module_that_fails_to_import_is_a_clear_error(tmp_path, monkeypatch, source, fragment):
    (tmp_path / "matgen_broken_hook.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(MatgenError, match=re.escape(fragment)):
        get_simulator("matgen_broken_hook:f", outputs="a:")


def test_a_simulator_that_cannot_be_sent_to_workers_is_refused_before_work():
    sim = get_simulator(lambda samples: {"a": np.zeros(len(samples))}, outputs="a:")
    with pytest.raises(MatgenError, match="cannot be sent to worker processes"):
        run_simulator(sim, maps(n=2), workers=2)
    assert run_simulator(sim, maps(n=2)).properties["a"].tolist() == [0.0, 0.0]  # in-process is fine


# --- the store and workers ------------------------------------------------------------------------


class Counting(Simulator):
    name = "counting"
    outputs = (Output("area", ""),)

    def __init__(self):
        self.calls: list[str] = []

    def __call__(self, samples):
        self.calls += list(samples.ids)
        return {"area": expected_area(samples)}


def test_the_store_keeps_each_batch_and_a_second_run_evaluates_nothing_again(tmp_path):
    ds = maps(n=7, bad=None)
    sim = Counting()
    first = run_simulator(sim, ds.take(range(5)), batch_size=2, store=tmp_path / "store")
    files = sorted((tmp_path / "store").glob("batch-*.json"))
    assert len(files) == 3 and sorted(sim.calls) == [f"r{i}" for i in range(5)]
    record = json.loads(files[0].read_text())
    assert record["format"] == "matgen-simulation-batch" and record["simulator"] == "counting"
    assert record["units"] == {"area": ""} and len(record["ids"]) == len(record["properties"]["area"])
    sim.calls.clear()
    again = run_simulator(sim, ds, batch_size=2, store=tmp_path / "store")  # 5 stored, 2 new
    assert sorted(sim.calls) == ["r5", "r6"]
    np.testing.assert_array_equal(again.properties["area"][:5], first.properties["area"])
    np.testing.assert_allclose(again.properties["area"], expected_area(ds))
    sim.calls.clear()
    run_simulator(sim, ds, store=tmp_path / "store")
    assert sim.calls == []
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "batch-x.json").write_text('{"format": "matgen-simulation-batch", "ids": [], '
                                                      '"errors": [], "properties": {"b": []}, "simulator": "b"}')
    with pytest.raises(MatgenError, match="holds results of simulator 'b' without output 'area'"):
        run_simulator(sim, ds, store=tmp_path / "other")


def test_failed_rows_are_stored_too_and_not_run_again(hooks, tmp_path):
    ds = maps(n=3, bad=0)
    store = tmp_path / "store"
    run_simulator(get_simulator("matgen_test_hooks:raising", outputs="area:,ones:"), ds, store=store)
    ev = run_simulator(get_simulator("matgen_test_hooks:area"), ds, store=store)  # same outputs, nothing re-run
    assert ev.errors.tolist() == ["ValueError: cannot mesh sample bad", "", ""]


KILLED_RUN = '''
import sys
sys.path.insert(0, sys.argv[1])
from matgen.data import read
from matgen.simulators import get_simulator, run_simulator
run_simulator(get_simulator("matgen_test_hooks:logged"), read(sys.argv[2]), batch_size=2, store=sys.argv[3])
'''


def test_kill_9_in_the_middle_loses_no_stored_result_and_evaluates_nothing_twice(hooks, tmp_path, monkeypatch):
    ds = maps(n=12, bad=None)
    data, store, log = write(tmp_path / "data.h5", ds), tmp_path / "store", tmp_path / "first.log"
    script = tmp_path / "run.py"
    script.write_text(KILLED_RUN)
    env = dict(os.environ, MATGEN_TEST_LOG=str(log), MATGEN_TEST_SLEEP="0.4")
    process = subprocess.Popen([sys.executable, str(script), str(hooks), str(data), str(store)], env=env)
    deadline = time.monotonic() + 60
    while len(list(store.glob("batch-*.json"))) < 2 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    stored = {i for f in store.glob("batch-*.json") for i in json.loads(f.read_text())["ids"]}
    left = [p.name for p in store.glob(".*")]
    assert 4 <= len(stored) < 12 and left in ([], [".matgen.lock"])  # whole batches only, no temporary file left
    second = tmp_path / "second.log"
    monkeypatch.setenv("MATGEN_TEST_LOG", str(second))
    monkeypatch.setenv("MATGEN_TEST_SLEEP", "0")
    ev = run_simulator(get_simulator("matgen_test_hooks:logged"), ds, batch_size=2, store=store)
    evaluated_again = second.read_text().split()
    assert not set(evaluated_again) & stored and set(evaluated_again) | stored == set(ds.ids)
    assert len(evaluated_again) == len(set(evaluated_again))
    np.testing.assert_allclose(ev.properties["area"], expected_area(ds))
    assert not list(store.glob(".*"))  # the dead process's lock file went with the next run


def test_two_workers_give_the_same_rows_as_one(hooks, tmp_path):
    ds = maps(n=9, bad=4)
    sim = get_simulator("matgen_test_hooks:raising", outputs="area:,ones:")
    one = run_simulator(sim, ds, batch_size=2)
    two = run_simulator(sim, ds, workers=2, batch_size=2, store=tmp_path / "store")
    np.testing.assert_array_equal(one.properties["area"], two.properties["area"])
    assert one.errors.tolist() == two.errors.tolist() and two.errors[4] == "ValueError: cannot mesh sample bad"
    assert len(list((tmp_path / "store").glob("batch-*.json"))) == 5 + 1  # the failed pair was retried row by row


@pytest.mark.slow
def test_two_workers_give_the_same_numbers_as_one(spinodal):
    sim = get_simulator("elastic")
    one = run_simulator(sim, spinodal.take(range(8)), batch_size=2)
    two = run_simulator(sim, spinodal.take(range(8)), workers=2, batch_size=2)
    assert not two.failed.any()
    for o in sim.outputs:
        np.testing.assert_array_equal(one.properties[o.name], two.properties[o.name])


# --- into the data ---------------------------------------------------------------------------------


def test_with_properties_replaces_conditions_and_keeps_the_failure_reason(hooks, tmp_path):
    ds = maps(n=3, bad=2)
    from matgen.data import Condition

    ds.conditions["area"] = Condition(np.array([9.0, 9.0, 9.0]), unit="mm2", role="processing")
    sim = get_simulator("matgen_test_hooks:raising", outputs="area:um2,ones:")
    out = with_properties(ds, sim, run_simulator(sim, ds))
    area = out.conditions["area"]
    assert area.unit == "um2" and area.role == "property" and np.isnan(area.values[2])
    np.testing.assert_allclose(area.values[:2], expected_area(ds)[:2])
    assert list(out.conditions["simulation_error"].labels()) == [None, None, "ValueError: cannot mesh sample bad"]
    # 9 mm2 cannot stand in a um2 column, so the old column is kept whole beside it
    assert out.conditions["area_previous"].unit == "mm2" and out.conditions["area_previous"].values.tolist() == [9.0] * 3
    ds.conditions["area"] = Condition(np.array([9.0, 9.0, 9.0]), unit="um2", role="property")
    same_unit = with_properties(ds, sim, run_simulator(sim, ds)).conditions
    assert same_unit["area"].values[2] == 9.0 and "area_previous" not in same_unit  # a known value is never lost
    np.testing.assert_allclose(same_unit["area"].values[:2], expected_area(ds)[:2])
    back = read(write(tmp_path / "out.h5", out))
    assert back.conditions["simulation_error"].role == "meta" and back.attrs["simulator"] == sim.name


def test_requested_versus_achieved(spinodal):
    from dataclasses import replace

    from matgen.data import Condition

    sim = get_simulator("elastic")
    samples = replace(spinodal.take(range(4)), conditions={
        "density": Condition(np.full(4, 2.9), unit="g/cm3"), "modulus": Condition(np.full(4, np.nan), unit="GPa")})
    ev = sim(samples)
    ev.errors[3] = "boom"
    (check,) = compare_targets(samples, sim, ev)
    achieved = spinodal.conditions["density"].values[:3]
    assert check.name == "density" and check.requested == "2.9" and check.samples == 4 and check.evaluated == 3
    assert check.achieved_median == pytest.approx(np.median(achieved))
    assert check.abs_error_median == pytest.approx(np.median(np.abs(achieved - 2.9)))
    assert check.within == pytest.approx((np.abs(achieved / 2.9 - 1) <= 0.05).sum() / 4)
    out = validated_dataset(samples, sim, ev)
    assert out.conditions["density_target"].values.tolist() == [2.9] * 4
    assert out.conditions["density"].role == "property" and np.isnan(out.conditions["density"].values[3])


def test_evaluation_rows_align_even_for_a_custom_simulator_returning_an_evaluation():
    class Direct(Simulator):
        name, outputs = "direct", (Output("x", "m"),)

        def __call__(self, samples):
            return Evaluation({"x": np.arange(len(samples), dtype=float)}, ["", "no"] * (len(samples) // 2))

    ev = run_simulator(Direct(), maps(n=4, bad=None), batch_size=4)
    assert ev.errors.tolist() == ["", "no", "", "no"] and np.isnan(ev.properties["x"][[1, 3]]).all()
    assert ev.properties["x"][[0, 2]].tolist() == [0.0, 2.0]
