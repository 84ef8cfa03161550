"""The main job on built-in data: a closed-loop inverse-design campaign, and the lab-folder pipeline.

:func:`run_demo` runs a real campaign (:mod:`matgen.campaign`) on the built-in composite dataset
(``datasets/composite.md``: Al/SiC particle micrographs with moduli and density): it builds the
data, trains a small conditional diffusion model, measures two baselines and runs rounds of
sample → simulate → relabel → fine-tune towards a composite that is stiff along x at a fixed SiC
fraction (:func:`demo_config`). With ``lab=True`` it then runs the data pipeline on an example
lab folder (:func:`write_example_lab`, ``datasets/example-lab.md``: RRUFF-style Raman text files
with a labels table, micrographs as PNGs named by their processing condition): import, check,
split and plot, every step a user takes with their own data.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from matgen.common.files import write_text_atomic
from matgen.common.progress import Progress, no_progress

#: Minerals of the example Raman files; their bands come from matgen.physics.raman's literature table.
EXAMPLE_MINERALS = ("quartz", "calcite", "diamond", "anatase", "rutile", "gypsum")
LASERS_NM = (532, 785)
RAMAN_AXIS_CM1 = np.arange(150.0, 1400.0, 1.0)


def _peak_lorentzian(x: np.ndarray, center: float, fwhm: float) -> np.ndarray:
    """Peak-normalised Lorentzian at ``center`` with full width at half maximum ``fwhm`` (units of x)."""
    half = fwhm / 2
    return half**2 / ((x - center) ** 2 + half**2)


def example_raman_spectrum(mineral: str, rng: np.random.Generator, laser_nm: int) -> np.ndarray:
    """(L,) intensity on :data:`RAMAN_AXIS_CM1`: the mineral's bands, a fluorescence slope and noise."""
    from matgen.physics.raman import raman_phase

    x = RAMAN_AXIS_CM1
    y = sum(b.intensity * _peak_lorentzian(x, b.position_cm1 + rng.normal(0, 1.0), b.fwhm_cm1 * rng.uniform(0.9, 1.2))
            for b in raman_phase(mineral).bands)
    fluorescence = rng.uniform(0.02, 0.15) * (1 + (x - x[0]) / (x[-1] - x[0])) * (1.5 if laser_nm == 532 else 1.0)
    return y + fluorescence + rng.normal(0, 0.01, size=x.shape)


def gaussian_filter_periodic(field_: np.ndarray, sigma_px: float) -> np.ndarray:
    """(H, W) field smoothed by a periodic Gaussian of standard deviation ``sigma_px`` pixels (FFT)."""
    ky = np.fft.fftfreq(field_.shape[0])[:, None]
    kx = np.fft.fftfreq(field_.shape[1])[None, :]
    kernel = np.exp(-2 * (np.pi * sigma_px) ** 2 * (kx**2 + ky**2))
    return np.real(np.fft.ifft2(np.fft.fft2(field_) * kernel))


def example_micrograph(anneal_temperature_c: float, anneal_time_h: float, fraction: float,
                       rng: np.random.Generator, size: int = 96) -> np.ndarray:
    """(size, size) uint8 grey two-phase micrograph whose features coarsen with anneal time and temperature.

    A smoothed random field thresholded at the quantile that gives the second phase its area
    ``fraction``; the smoothing length grows as t^(1/3) (LSW coarsening) and with temperature.
    """
    sigma_px = 1.2 * anneal_time_h ** (1 / 3) * np.exp((anneal_temperature_c - 800.0) / 400.0)
    smooth = gaussian_filter_periodic(rng.normal(size=(size, size)), sigma_px)
    phase = smooth > np.quantile(smooth, 1 - fraction)
    grey = gaussian_filter_periodic(np.where(phase, 0.8, 0.25), 0.7) + rng.normal(0, 0.03, (size, size))
    return np.clip(grey * 255, 0, 255).astype(np.uint8)


def _write_png(path: Path, image: np.ndarray) -> None:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(buffer.getvalue())
    tmp.replace(path)


def write_example_lab(folder: str | Path, seed: int = 0, samples_per_mineral: int = 4) -> dict[str, Path]:
    """Write the example lab folder; returns {"raman": folder, "raman_table": csv, "micrographs": folder}.

    Raman: for each mineral in :data:`EXAMPLE_MINERALS`, ``samples_per_mineral`` samples, each
    measured with both lasers of :data:`LASERS_NM` (one file per measurement, RRUFF-style header),
    listed in ``labels.csv`` (file, mineral, rruff_id, laser_nm). Micrographs: 8-bit PNGs named
    ``{T}C-{t}H-{cooling}-{replicate}.png`` for T in {700, 800, 900} °C and t in {1, 8, 24} h.
    """
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    raman = folder / "raman"
    raman.mkdir(parents=True, exist_ok=True)
    rows = []
    for mineral in EXAMPLE_MINERALS:
        for sample in range(samples_per_mineral):
            sample_id = f"X{len(rows) // len(LASERS_NM):04d}"
            for laser in LASERS_NM:
                name = f"{mineral.capitalize()}__{sample_id}__Raman__{laser}.txt"
                y = example_raman_spectrum(mineral, rng, laser)
                body = "\n".join(f"{x:.1f}, {v:.6f}" for x, v in zip(RAMAN_AXIS_CM1, y))
                header = f"##NAMES={mineral.capitalize()}\n##RRUFFID={sample_id}\n##LASER_WAVELENGTH={laser}\n"
                write_text_atomic(raman / name, header + body + "\n")
                rows.append({"file": name, "mineral": mineral, "rruff_id": sample_id, "laser_nm": laser})
    table = raman / "labels.csv"
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(table, text.getvalue())
    micrographs = folder / "micrographs"
    micrographs.mkdir(parents=True, exist_ok=True)
    for temperature in (700, 800, 900):
        for time_h in (1, 8, 24):
            for replicate in (1, 2):
                cooling = "Q" if replicate == 1 else "AC"
                image = example_micrograph(temperature, time_h, 0.3, rng)
                _write_png(micrographs / f"{temperature}C-{time_h}H-{cooling}-{replicate}.png", image)
    return {"raman": raman, "raman_table": table, "micrographs": micrographs}


#: The main job's campaign: the built-in dataset, the targets and how hard it works (see run_demo).
DEMO_BUILDER = "composite"
DEMO_TARGETS = {"density": "2.90 ± 0.5%", "modulus_x": ">= 155"}


@dataclass
class DemoResult:
    """Files the main job wrote, the campaign's report, and what each check said."""

    report: object = None  # the campaign's CampaignReport (None with campaign=False)
    campaign: Path | None = None  # the campaign directory
    lab: dict[str, Path] = field(default_factory=dict)
    datasets: dict[str, Path] = field(default_factory=dict)
    splits: dict[str, dict[str, Path]] = field(default_factory=dict)
    pictures: dict[str, Path] = field(default_factory=dict)
    problems: dict[str, list[str]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # wall time per phase


def demo_config(seed: int = 0, n: int = 1000, size: int = 32, rounds: int = 4, candidates: int = 32,
                train_steps: int = 600, finetune_steps: int = 150, device: str = "auto"):
    """The CampaignConfig of the main job: design a composite stiffer along x than anything in the data.

    The density target fixes the SiC area fraction (rule of mixtures: 2.90 g/cm3 is f = 0.39); at that
    fraction the particles' shape and orientation decide the Young's modulus along x. The 141
    training samples within the density tolerance reach 110..149 GPa (the Voigt–Reuss bounds allow
    104..205 GPa), so the target, modulus_x >= 155 GPa, lies beyond the data: no training sample
    meets it, and the design must find morphologies the data does not hold. ±0.5 % on the density
    is ±0.015 g/cm3, about ±0.03 in SiC fraction. The sampler is steered by the elastic simulator's
    differentiable form (physics guidance, docs/training.md).
    """
    from matgen.campaign import CampaignConfig

    return CampaignConfig(
        builder=DEMO_BUILDER, builder_options={"n": n, "size": size, "seed": seed},
        train={"net": "tiny", "steps": train_steps, "lr": 1e-3, "batch_size": 32, "warmup_steps": 60,
               "eval_every": 200, "log_every": 50},
        targets=dict(DEMO_TARGETS), candidates=candidates, rounds=rounds, finetune_steps=finetune_steps,
        sampler="dpmpp-2m", steps=25, guidance=0.0, physics_guidance="elastic", seed=seed, device=device,
    )


def run_demo(out_dir: str | Path, seed: int = 0, progress: Progress = no_progress, on_summary=None,
             n: int = 1000, size: int = 32, rounds: int = 4, candidates: int = 32, train_steps: int = 600,
             finetune_steps: int = 150, lab: bool = False, device: str = "auto") -> DemoResult:
    """The main job on built-in data: a closed-loop campaign (docs/campaign.md), optionally the lab-folder pipeline.

    Builds the composite dataset (n micrographs of size x size px with their moduli and density),
    trains a small conditional diffusion model on density and modulus_x, measures the
    baselines (nearest training rows, unguided samples, random search over the builder's
    parameters) and runs ``rounds`` rounds of ``candidates`` candidates towards :data:`DEMO_TARGETS`
    in ``OUT/campaign`` (resumable: running it again continues it). With ``lab`` it then writes an
    example lab folder and imports, checks, splits and plots it (every step a user takes with
    their own data). Returns where everything went and the campaign's report.
    """
    import time

    from matgen.campaign import Campaign
    from matgen.data import read
    from matgen.data.plot import plot_dataset

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = DemoResult(campaign=out / "campaign")
    t0 = time.perf_counter()
    config = demo_config(seed, n, size, rounds, candidates, train_steps, finetune_steps, device)
    result.report = Campaign(config, result.campaign).run(progress, on_summary)
    result.seconds["campaign"] = time.perf_counter() - t0
    result.datasets[DEMO_BUILDER] = result.campaign / "data" / "initial.h5"
    result.pictures[DEMO_BUILDER] = plot_dataset(read(result.datasets[DEMO_BUILDER]), out / f"{DEMO_BUILDER}.png",
                                                 color_by="modulus_x")
    if lab:
        t1 = time.perf_counter()
        run_lab_pipeline(out, result, seed, progress)
        result.seconds["lab"] = time.perf_counter() - t1
    return result


def run_lab_pipeline(out: Path, result: DemoResult, seed: int = 0, progress: Progress = no_progress) -> DemoResult:
    """Write the example lab folder, then import, check, split and plot it into ``out``; fills ``result``."""
    from matgen.data import write
    from matgen.data.check import check_file
    from matgen.data.importers import ConditionSource, import_images, import_spectra
    from matgen.data.plot import plot_dataset
    from matgen.data.split import split

    result.lab = write_example_lab(out / "lab", seed=seed)
    raman = import_spectra([result.lab["raman"]], kind="raman",
                           source=ConditionSource(table=result.lab["raman_table"]), progress=progress).dataset
    micro = import_images([result.lab["micrographs"]], pixel_size=0.1, pixel_unit="um", progress=progress,
                          source=ConditionSource(name_pattern="{anneal_temperature_C}C-{anneal_time_h:duration}-{cooling}-{replicate}")).dataset
    for name, ds in (("raman", raman), ("micrographs", micro)):
        path = write(out / f"{name}.h5", ds)
        result.datasets[name] = path
        result.problems[name] = check_file(path)
        result.pictures[name] = plot_dataset(ds, out / f"{name}.png", color_by="mineral" if name == "raman" else "anneal_time_h")
    parts = split(raman, (0.6, 0.2, 0.2), by="rruff_id", stratify="mineral", seed=seed)
    result.splits["raman"] = {n: write(out / "raman_split" / f"{n}.h5", p) for n, p in parts.items()}
    return result
