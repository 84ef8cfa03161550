"""examples/fe_simulator.py: an independent finite-element simulator, plugged in as an external program."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from matgen.builders import build
from matgen.physics.elastic import homogenize
from matgen.simulators import get_simulator, run_simulator

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "fe_simulator.py"
sys.path.insert(0, str(EXAMPLE.parent))
import fe_simulator as fe  # noqa: E402

OUTPUTS = ["density:g/cm3", "modulus:GPa", "modulus_x:GPa", "modulus_y:GPa", "shear_modulus:GPa", "phase_fraction:"]


def test_finite_elements_are_exact_for_one_phase_and_for_laminates():
    assert fe.properties(np.zeros((6, 6), int))["modulus_x"] == pytest.approx(70.0)
    assert fe.properties(np.ones((6, 6), int))["shear_modulus"] == pytest.approx(410.0 / (2 * 1.14))
    layers = np.zeros((12, 12), int)
    layers[:6] = 1  # SiC layers along x: the exact laminate, which the FFT solver also gives
    exact = homogenize(torch.as_tensor(layers), tol=1e-11)
    props = fe.properties(layers)
    assert props["modulus_x"] == pytest.approx(float(exact.youngs_x_gpa), rel=1e-9)
    assert props["modulus_y"] == pytest.approx(float(exact.youngs_y_gpa), rel=1e-9)
    assert props["density"] == pytest.approx(0.5 * (2.70 + 3.21))


def test_the_example_runs_as_an_external_program_and_agrees_with_the_fft_simulator(tmp_path):
    samples = build("composite", n=4, size=16, seed=2)
    external = get_simulator([sys.executable, str(EXAMPLE), "{input}", "{output}"], outputs=OUTPUTS,
                             output_suffix=".csv", timeout_s=120)
    ev = run_simulator(external, samples)
    assert not ev.failed.any()
    fft = get_simulator("elastic")(samples).properties
    np.testing.assert_allclose(ev.properties["density"], fft["density"], rtol=1e-6)
    rel = (fft["modulus_x"] - ev.properties["modulus_x"]) / ev.properties["modulus_x"]
    assert np.all(np.abs(rel) < 0.05) and np.all(rel < 0.005)  # Q4 elements on 2 x 2 per pixel are a little stiffer
