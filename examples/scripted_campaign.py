"""A campaign scripted in Python, with the simulator written as a plain function (about 3 minutes on a CPU).

    python examples/scripted_campaign.py [CAMPAIGN_DIR]

The "simulator" here is the user's own code: it receives a batch of candidates (a matgen
Dataset of label maps, 0 = Al, 1 = SiC) and returns, per candidate, the Young's modulus along x
(GPa) from matgen's FFT solver and the density (g/cm3) by the rule of mixtures. Any function with
that contract works: a call into your FEM code, a lookup in a lab database, a trained surrogate.
A candidate your code cannot evaluate gets NaN (or raise: matgen records the reason and goes on).

The campaign starts from 400 particle-composite micrographs (32 x 32 px), trains a tiny model
conditioned on density and modulus_x, and runs 2 rounds of 16 candidates towards a composite that
is stiff along x at a fixed SiC fraction: the particles must be designed to lie along x. Run it
twice: the second run finds everything on disk and only reprints the report.
"""

import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from matgen import Campaign
from matgen.campaign import CampaignConfig, table
from matgen.physics.elastic import homogenize


def stiffness_along_x(samples):
    """Young's modulus along x (GPa) and density (g/cm3) of two-phase Al/SiC label maps."""
    maps = torch.as_tensor(np.asarray(samples.signals, dtype=np.int64))  # (N, H, W)
    result = homogenize(maps, phases=("Al", "SiC"), dtype=torch.float32, tol=1e-5)
    return {"modulus_x": result.youngs_x_gpa.numpy(), "density": result.density_g_cm3.numpy()}


stiffness_along_x.outputs = ["modulus_x:GPa", "density:g/cm3"]  # what it returns, with units


def main(directory: Path) -> None:
    config = CampaignConfig(
        builder="composite", builder_options={"n": 400, "size": 32, "seed": 1},
        train={"net": "tiny", "steps": 300, "lr": 1e-3, "batch_size": 32},
        targets={"density": "2.90 ± 0.5%", "modulus_x": "132 ± 3%"},  # at f = 0.39 SiC, stiff along x
        candidates=16, rounds=2, finetune_steps=60, steps=20, seed=0,
    )

    def progress(done: int, total: int, message: str) -> None:
        if total and (done == total or done % max(1, total // 10) == 0):  # every tenth of each step
            print(f"\r{message[:70]:70s} {done}/{total}", end="", flush=True)

    def on_summary(summary) -> None:
        errors = ", ".join(f"{k} {100 * v:.1f}%" for k, v in summary.median_error.items())
        print(f"\r{summary.name}: {summary.hits}/{summary.candidates} hits, median error {errors}" + " " * 20)

    report = Campaign(config, directory, simulator=stiffness_along_x).run(progress, on_summary)
    columns, rows = table(report)
    print("\n" + " | ".join(columns))
    for row in rows:
        print(" | ".join(row))
    print(f"{report.status}: {report.reason}\nreport: {directory / 'report.json'}; pictures: "
          f"{', '.join(report.pictures.values())}")


if __name__ == "__main__":  # the guard matters: simulators may run in worker processes
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="matgen-campaign-")))
