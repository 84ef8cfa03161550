"""CLI start-up time: `matgen --help` and `matgen --version` (target: under 0.5 s each).

    python benchmarks/cli_startup.py [repeats]

Prints the median and best wall time of each command over the repeats, and which heavy modules
(torch, numpy, h5py, pymatgen) the start-up imported (there should be none).
"""

import statistics
import subprocess
import sys
import time

REPEATS = int(sys.argv[1]) if len(sys.argv) > 1 else 7


def wall_times(args: list[str]) -> list[float]:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "matgen", *args], capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return times


if __name__ == "__main__":
    for args in (["--help"], ["--version"], ["data", "--help"]):
        t = wall_times(args)
        print(f"matgen {' '.join(args):14s} median {statistics.median(t):.3f} s  best {min(t):.3f} s  (target < 0.5 s)")
    probe = ("import sys; from matgen.cli.main import app; "
             "print([m for m in ('torch', 'numpy', 'h5py', 'pymatgen', 'rsciio') if m in sys.modules])")
    heavy = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    print(f"heavy modules imported at start-up: {heavy}")
