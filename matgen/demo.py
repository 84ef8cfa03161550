"""The main job on built-in data: the spinodal dataset, and the data pipeline on an example lab folder.

:func:`run_demo` builds the spinodal dataset (``datasets/spinodal.md``: Cahn–Hilliard Al/SiC
micrographs with modulus and density) and draws it; then :func:`write_example_lab` writes the
kind of files a lab has (``datasets/example-lab.md``: RRUFF-style Raman text files with a labels
table, micrographs as PNGs named by their processing condition) and the demo imports, checks,
splits and plots them: every step a user takes with their own data.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from matgen.atomic import write_text_atomic
from matgen.data.importers.common import Progress, no_progress

#: Minerals of the example Raman files; their bands come from matgen.physics.raman's literature table.
EXAMPLE_MINERALS = ("quartz", "calcite", "diamond", "anatase", "rutile", "gypsum")
LASERS_NM = (532, 785)
RAMAN_AXIS_CM1 = np.arange(150.0, 1400.0, 1.0)


def lorentzian(x: np.ndarray, center: float, fwhm: float) -> np.ndarray:
    """Peak-normalised Lorentzian at ``center`` with full width at half maximum ``fwhm`` (units of x)."""
    half = fwhm / 2
    return half**2 / ((x - center) ** 2 + half**2)


def example_raman_spectrum(mineral: str, rng: np.random.Generator, laser_nm: int) -> np.ndarray:
    """(L,) intensity on :data:`RAMAN_AXIS_CM1`: the mineral's bands, a fluorescence slope and noise."""
    from matgen.physics.raman import raman_phase

    x = RAMAN_AXIS_CM1
    y = sum(b.intensity * lorentzian(x, b.position_cm1 + rng.normal(0, 1.0), b.fwhm_cm1 * rng.uniform(0.9, 1.2))
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


@dataclass
class DemoResult:
    """Files the main job wrote, and what each check said."""

    lab: dict[str, Path]
    datasets: dict[str, Path] = field(default_factory=dict)
    splits: dict[str, dict[str, Path]] = field(default_factory=dict)
    pictures: dict[str, Path] = field(default_factory=dict)
    problems: dict[str, list[str]] = field(default_factory=dict)


def run_demo(out_dir: str | Path, seed: int = 0, progress: Progress = no_progress, spinodal_n: int = 2000,
             spinodal_size: int = 64) -> DemoResult:
    """The main job on built-in data: build the spinodal dataset, then write lab files, import, check, split, plot.

    Returns where everything went; raises nothing on valid data (problems found by the file check
    are listed in the result).
    """
    from matgen.builders import build
    from matgen.data import write
    from matgen.data.check import check_file
    from matgen.data.importers import ConditionSource, import_images, import_spectra
    from matgen.data.plot import plot_dataset
    from matgen.data.split import split

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    spinodal = build("spinodal", progress=progress, n=spinodal_n, size=spinodal_size, seed=seed)
    result = DemoResult(lab=write_example_lab(out / "lab", seed=seed))
    result.datasets["spinodal"] = write(out / "spinodal.h5", spinodal)
    result.problems["spinodal"] = check_file(result.datasets["spinodal"])
    result.pictures["spinodal"] = plot_dataset(spinodal, out / "spinodal.png", color_by="density")
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
