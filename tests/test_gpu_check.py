"""benchmarks/gpu_check.py, the script a session with a CUDA device runs, run on the CPU against itself (``--device
cpu --quick``, ~45 s): every check passes and every figure is written, so the script does not rot between the
sessions that have a GPU. On a machine with CUDA the same script compares the GPU with the CPU."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_gpu_check_runs_end_to_end_on_the_cpu(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--device", "cpu", "--quick",
                             "--out", str(tmp_path)], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all checks passed" in result.stdout and "ddp            skipped" in result.stdout
    figures = json.loads((tmp_path / "gpu_check.json").read_text())
    assert figures["network fp32"] == 0.0 and figures["sampling"] == 1.0 and figures["elastic"] == 0.0
    assert figures["training_samples_per_s_device"] > 0 and figures["ms_per_256x256_float64"] > 0


def test_the_gpu_check_without_a_gpu_says_so_in_one_line():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the check would run")
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py")], capture_output=True,
                            text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 2 and "no CUDA device" in result.stderr and "Traceback" not in result.stderr
