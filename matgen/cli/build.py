"""`matgen data build NAME -o FILE.h5`: make a built-in dataset from matgen's physics.

One command per dataset, each body one call into :func:`matgen.builders.build`. Ranges are
given as LOW..HIGH in the option's unit (a single value fixes the parameter).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from matgen.cli.options import Device, Force, OutputH5, Png, Seed
from matgen.errors import MatgenError

app = typer.Typer(help="Build a dataset from matgen's physics: micrographs with elastic properties, or XRD, "
                       "Raman and EELS spectra with their labels. Same seed, same file.", no_args_is_help=True)

N = Annotated[Optional[int], typer.Option("--n", help="Number of samples (default the dataset's).", show_default=False)]
Size = Annotated[Optional[int], typer.Option(help="Micrograph side in pixels (default 64).", show_default=False)]
Points = Annotated[Optional[int], typer.Option(help="Points on the spectrum axis (default the dataset's).", show_default=False)]
Phases = Annotated[Optional[str], typer.Option(help="Two phases, matrix first, e.g. Al,SiC (see matgen.physics.phases: Al, SiC, Al2O3, pore).", show_default=False)]
Plane = Annotated[str, typer.Option(help="Elastic state: stress (thin sheet) or strain.")]


def _range(help_text: str):
    return Annotated[Optional[str], typer.Option(help=help_text + " Give LOW..HIGH, or one value to fix it.", show_default=False)]


MeanCompositionRange = _range("Mean order parameter c̄ (dimensionless, |c̄| < 0.577); the SiC area fraction is about (1 + c̄)/2 (default -0.3..0.3).")
AnnealTimeRange = _range("Cahn–Hilliard anneal time (dimensionless model time; drawn log-uniformly) (default 150..1500).")
InterfaceWidthRange = _range("Interface width ξ in px (0.5 to size/8); a narrower interface is a deeper quench (default 1..1.5).")
VolumeFractionRange = _range("Particle area fraction (0 to 0.7) (default 0.05..0.5).")
MeanRadiusRange = _range("Mean equivalent-disk particle radius in px (default 3..7).")
AspectRatioRange = _range("Particle long / short axis (≥ 1) (default 1..3).")
OrientationRange = _range("Mean particle long-axis angle from +x in degrees (default 0..180).")
TwoThetaRange = _range("2θ range of the axis in degrees (default 10..80).")
CrystalliteSizeRange = _range("Scherrer crystallite size in nm (log-uniform) (default 30..300).")
MicrostrainRange = _range("Micro-strain ε (dimensionless) (default 0..0.002).")
MaxCountsRange = _range("Counts at each pattern's strongest point (log-uniform) (default 5000..50000).")
ShiftRange = _range("Raman shift range of the axis in cm⁻¹ (default 100..1800).")
TemperatureRange = _range("Sample temperature in K (default 295..800).")
StressRange = _range("Stress in GPa, compressive positive (default -1..1).")
ThicknessRange = _range("Relative thickness t/λ (dimensionless) (default 0.1..2).")
ResolutionRange = _range("Zero-loss FWHM (energy resolution) in eV (default 0.5..1.5).")
TotalCountsRange = _range("Electrons per spectrum (log-uniform) (default 1e5..1e7).")


def _tuple(text: Optional[str]) -> Optional[tuple[str, ...]]:
    return None if text is None else tuple(p.strip() for p in text.split(",") if p.strip())


def _run(name: str, output: Path, force: bool, png: bool, **overrides) -> None:
    from matgen.builders import build, builder
    from matgen.cli.progress import progress_bar
    from matgen.cli.show import console, print_info
    from matgen.data import write
    from matgen.data.plot import plot_dataset

    if output.exists() and not force:
        raise MatgenError(f"{output} exists; pass --force to overwrite it or choose another --output")
    if output.suffix.lower() not in (".h5", ".hdf5"):
        raise MatgenError(f"--output {output} should end in .h5 (a matgen dataset file)")
    with progress_bar(f"building {name}") as progress:
        dataset = build(name, progress=progress, **overrides)
    path = write(output, dataset)
    print_info(dataset, path)
    if png:
        picture = plot_dataset(dataset, output.with_suffix(".png"), color_by=builder(name).color_by)
        console.print(f"picture {picture}")


@app.command()
def spinodal(
    output: OutputH5,
    n: N = None,
    size: Size = None,
    seed: Seed = 0,
    mean_composition: MeanCompositionRange = None,
    anneal_time: AnnealTimeRange = None,
    interface_width: InterfaceWidthRange = None,
    phases: Phases = None,
    plane: Plane = "stress",
    device: Device = "auto",
    force: Force = False,
    png: Png = True,
) -> None:
    """Spinodal (Cahn–Hilliard) two-phase micrographs with modulus (GPa) and density (g/cm³): the main job's data."""
    _run("spinodal", output, force, png, n=n, size=size, seed=seed, mean_composition=mean_composition,
         anneal_time=anneal_time, interface_width_px=interface_width, phases=_tuple(phases), plane=plane, device=device)


@app.command()
def composite(
    output: OutputH5,
    n: N = None,
    size: Size = None,
    seed: Seed = 0,
    volume_fraction: VolumeFractionRange = None,
    mean_radius: MeanRadiusRange = None,
    aspect_ratio: AspectRatioRange = None,
    orientation: OrientationRange = None,
    orientation_spread: Annotated[Optional[float], typer.Option(help="Std of each particle's angle about the sample's, degrees (default 10).", show_default=False)] = None,
    phases: Phases = None,
    plane: Plane = "stress",
    device: Device = "auto",
    force: Force = False,
    png: Png = True,
) -> None:
    """Particles (disks and ellipses) in a matrix with anisotropic moduli (GPa) and density (g/cm³)."""
    _run("composite", output, force, png, n=n, size=size, seed=seed, volume_fraction=volume_fraction,
         mean_radius_px=mean_radius, aspect_ratio=aspect_ratio, orientation_deg=orientation,
         orientation_spread_deg=orientation_spread, phases=_tuple(phases), plane=plane, device=device)


@app.command()
def xrd(
    output: OutputH5,
    n: N = None,
    points: Points = None,
    seed: Seed = 0,
    two_theta: TwoThetaRange = None,
    phases: Annotated[Optional[str], typer.Option(help="Phases to mix: built-in names (quartz, corundum, calcite, rutile, anatase, hematite, zincite, periclase, halite, silicon, aluminium), a CIF folder or a structures JSON (default quartz,corundum,calcite,rutile).", show_default=False)] = None,
    wavelength: Annotated[Optional[float], typer.Option(help="X-ray wavelength in Å (default 1.54056, Cu Kα1).", show_default=False)] = None,
    kalpha2_ratio: Annotated[Optional[float], typer.Option(help="Kα2/Kα1 intensity ratio: 0.5 for an unfiltered Cu tube, 0 for monochromatic (default 0.5).", show_default=False)] = None,
    crystallite_size: CrystalliteSizeRange = None,
    microstrain: MicrostrainRange = None,
    max_counts: MaxCountsRange = None,
    force: Force = False,
    png: Png = True,
) -> None:
    """Powder XRD patterns (counts vs 2θ in degrees) of phase mixtures, labelled with weight fractions (wt%)."""
    axis = None if two_theta is None else tuple(float(v) for v in _two_floats(two_theta, "--two-theta"))
    _run("xrd", output, force, png, n=n, points=points, seed=seed, two_theta_deg=axis, phases=phases,
         wavelength_angstrom=wavelength, kalpha2_ratio=kalpha2_ratio, crystallite_size_nm=crystallite_size,
         microstrain=microstrain, max_counts=max_counts)


@app.command()
def raman(
    output: OutputH5,
    n: N = None,
    points: Points = None,
    seed: Seed = 0,
    shift: ShiftRange = None,
    minerals: Annotated[Optional[str], typer.Option(help="Comma-separated phases from matgen.physics.raman (default all in the table).", show_default=False)] = None,
    temperature: TemperatureRange = None,
    stress: StressRange = None,
    laser: Annotated[Optional[float], typer.Option(help="Laser wavelength in nm (default 532).", show_default=False)] = None,
    force: Force = False,
    png: Png = True,
) -> None:
    """Raman spectra (counts vs shift in cm⁻¹) of minerals with temperature (K) and stress (GPa) effects."""
    axis = None if shift is None else tuple(_two_floats(shift, "--shift"))
    _run("raman", output, force, png, n=n, points=points, seed=seed, shift_cm1=axis, minerals=_tuple(minerals),
         temperature_k=temperature, stress_gpa=stress, laser_nm=laser)


@app.command()
def eels(
    output: OutputH5,
    n: N = None,
    points: Points = None,
    seed: Seed = 0,
    offset: Annotated[Optional[float], typer.Option(help="Energy loss of the first channel in eV (default -5).", show_default=False)] = None,
    dispersion: Annotated[Optional[float], typer.Option(help="eV per channel (default 0.2).", show_default=False)] = None,
    materials: Annotated[Optional[str], typer.Option(help="Comma-separated materials from matgen.physics.eels (default Al,Si,Mg,SiO2,Al2O3,MgO,graphite,diamond).", show_default=False)] = None,
    thickness: ThicknessRange = None,
    resolution: ResolutionRange = None,
    total_counts: TotalCountsRange = None,
    force: Force = False,
    png: Png = True,
) -> None:
    """EELS low-loss spectra (counts vs energy loss in eV) labelled with material and thickness t/λ."""
    _run("eels", output, force, png, n=n, points=points, seed=seed, offset_ev=offset, dispersion_ev=dispersion,
         materials=_tuple(materials), thickness=thickness, resolution_ev=resolution, total_counts=total_counts)


def _two_floats(text: str, option: str) -> tuple[float, float]:
    from matgen.builders import parse_range

    r = parse_range(text, option)
    if not r.low < r.high:
        raise MatgenError(f"{option} {text}: give LOW..HIGH with LOW < HIGH")
    return r.low, r.high
