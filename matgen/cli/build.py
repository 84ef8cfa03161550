"""`matgen data build NAME -o FILE.h5`: make a built-in dataset from matgen's physics.

One command per dataset, each body one call into :func:`matgen.builders.build`. Ranges are
given as LOW..HIGH in the option's unit (a single value fixes the parameter).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from matgen.builders.options import (
    CompositeOptions, EelsOptions, RamanOptions, SpinodalAlloyOptions, SpinodalOptions, XrdOptions, default_mean_radius,
)
from matgen.cli.options import Force, OutputH5, Png, check_output, default_help, show_value
from matgen.errors import MatgenError

app = typer.Typer(help="Build a dataset from matgen's physics: micrographs with elastic properties, or XRD, "
                       "Raman and EELS spectra with their labels. Same seed, same file.", no_args_is_help=True)

SPINODAL, COMPOSITE, XRD, RAMAN, EELS = SpinodalOptions(), CompositeOptions(), XrdOptions(), RamanOptions(), EelsOptions()
ALLOY = SpinodalAlloyOptions()
RANGE_HELP = "Give LOW..HIGH, or one value to fix it"


def _opt(text: str, defaults, name: str, *names: str):
    """An option whose help ends in the default of field ``name`` of the builder's options ``defaults``."""
    return typer.Option(*names, help=default_help(text, defaults, name), show_default=False)


def _range(text: str, defaults, name: str):
    return Annotated[Optional[str], _opt(f"{text} {RANGE_HELP}", defaults, name)]


def _n(defaults):
    return Annotated[Optional[int], _opt("Number of samples", defaults, "n", "--n")]


def _seed(defaults):
    return Annotated[Optional[int], _opt("Random seed: the same seed gives the same file", defaults, "seed")]


def _size(defaults):
    return Annotated[Optional[int], _opt("Micrograph side in pixels", defaults, "size")]


def _phases(defaults):
    return Annotated[Optional[str], _opt("Two phases, matrix first (see matgen.physics.phases: Al, SiC, Al2O3, pore)",
                                         defaults, "phases")]


def _plane(defaults):
    return Annotated[Optional[str], _opt("Elastic state: stress (thin sheet) or strain", defaults, "plane")]


def _device(defaults):
    return Annotated[Optional[str], _opt("Where to simulate: auto (CUDA when available), cpu or cuda", defaults,
                                         "device")]


MeanCompositionRange = _range("Mean order parameter c̄ (dimensionless, |c̄| < 0.577); the SiC area fraction is about "
                              "(1 + c̄)/2.", SPINODAL, "mean_composition")
AnnealTimeRange = _range("Cahn–Hilliard anneal time (dimensionless model time; drawn log-uniformly).", SPINODAL,
                         "anneal_time")
InterfaceWidthRange = _range("Interface width ξ in px (0.5 to size/8); a narrower interface is a deeper quench.",
                             SPINODAL, "interface_width_px")
VolumeFractionRange = _range("Particle area fraction (0 to 0.7).", COMPOSITE, "volume_fraction")
MeanRadiusRange = Annotated[Optional[str], typer.Option(
    help=f"Mean equivalent-disk particle radius in px. {RANGE_HELP} (default {show_value(default_mean_radius(64))} "
         "at 64 px, scaled with --size).", show_default=False)]
AspectRatioRange = _range("Particle long / short axis (≥ 1).", COMPOSITE, "aspect_ratio")
OrientationRange = _range("Mean particle long-axis angle from +x in degrees.", COMPOSITE, "orientation_deg")
TwoThetaRange = _range("2θ range of the axis in degrees.", XRD, "two_theta_deg")
CrystalliteSizeRange = _range("Scherrer crystallite size in nm (log-uniform).", XRD, "crystallite_size_nm")
MicrostrainRange = _range("Micro-strain ε (dimensionless).", XRD, "microstrain")
MaxCountsRange = _range("Counts at each pattern's strongest point (log-uniform).", XRD, "max_counts")
ShiftRange = _range("Raman shift range of the axis in cm⁻¹.", RAMAN, "shift_cm1")
TemperatureRange = _range("Sample temperature in K.", RAMAN, "temperature_k")
StressRange = _range("Stress in GPa, compressive positive.", RAMAN, "stress_gpa")
ThicknessRange = _range("Relative thickness t/λ (dimensionless).", EELS, "thickness")
ResolutionRange = _range("Zero-loss FWHM (energy resolution) in eV.", EELS, "resolution_ev")
TotalCountsRange = _range("Electrons per spectrum (log-uniform).", EELS, "total_counts")


def _tuple(text: Optional[str]) -> Optional[tuple[str, ...]]:
    return None if text is None else tuple(p.strip() for p in text.split(",") if p.strip())


def _run(name: str, output: Path, force: bool, png: bool, **overrides) -> None:
    from matgen.builders import build, builder
    from matgen.cli.progress import progress_bar
    from matgen.cli.show import console, print_info
    from matgen.data import write
    from matgen.data.plot import plot_dataset

    check_output(output, force)
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
    n: _n(SPINODAL) = None,
    size: _size(SPINODAL) = None,
    seed: _seed(SPINODAL) = None,
    mean_composition: MeanCompositionRange = None,
    anneal_time: AnnealTimeRange = None,
    interface_width: InterfaceWidthRange = None,
    phases: _phases(SPINODAL) = None,
    plane: _plane(SPINODAL) = None,
    device: _device(SPINODAL) = None,
    force: Force = False,
    png: Png = True,
) -> None:
    """Spinodal (Cahn–Hilliard) two-phase micrographs with modulus (GPa) and density (g/cm³): the main job's data."""
    _run("spinodal", output, force, png, n=n, size=size, seed=seed, mean_composition=mean_composition,
         anneal_time=anneal_time, interface_width_px=interface_width, phases=_tuple(phases), plane=plane, device=device)


@app.command("spinodal-alloy")
def spinodal_alloy(
    output: OutputH5,
    n: _n(ALLOY) = None,
    size: _size(ALLOY) = None,
    seed: _seed(ALLOY) = None,
    alloy: Annotated[Optional[str], _opt("Named alloy system whose constants (T_c, Q, D0, with sources) map "
                                         "processing onto the model; see matgen.physics.alloys", ALLOY, "alloy")] = None,
    anneal_temperature: _range("Anneal temperature in °C (degrees Celsius), below the alloy's critical temperature "
                               "(Fe-Cr: 580 °C); it sets the composition amplitude and interface width.", ALLOY,
                               "anneal_temperature_c") = None,
    anneal_time: _range("Anneal time in hours (drawn log-uniformly); model time = D0 exp(-Q/RT) t / pixel².", ALLOY,
                        "anneal_time_h") = None,
    solute_fraction: _range("Atom fraction of the solute (Fe-Cr: Cr, 0 to 1), inside the spinodal.", ALLOY,
                            "solute_fraction") = None,
    pixel_size: Annotated[Optional[float], _opt("Pixel edge in nm: the length unit of the maps and of the model time",
                                                ALLOY, "pixel_size_nm")] = None,
    device: _device(ALLOY) = None,
    force: Force = False,
    png: Png = True,
) -> None:
    """Cahn–Hilliard maps of a named alloy (Fe–Cr) from anneal temperature (°C) and time (h), with phase fraction and
    characteristic length (nm)."""
    _run("spinodal-alloy", output, force, png, n=n, size=size, seed=seed, alloy=alloy,
         anneal_temperature_c=anneal_temperature, anneal_time_h=anneal_time, solute_fraction=solute_fraction,
         pixel_size_nm=pixel_size, device=device)


@app.command()
def composite(
    output: OutputH5,
    n: _n(COMPOSITE) = None,
    size: _size(COMPOSITE) = None,
    seed: _seed(COMPOSITE) = None,
    volume_fraction: VolumeFractionRange = None,
    mean_radius: MeanRadiusRange = None,
    aspect_ratio: AspectRatioRange = None,
    orientation: OrientationRange = None,
    orientation_spread: Annotated[Optional[float], _opt("Std of each particle's angle about the sample's, degrees",
                                                        COMPOSITE, "orientation_spread_deg")] = None,
    phases: _phases(COMPOSITE) = None,
    plane: _plane(COMPOSITE) = None,
    device: _device(COMPOSITE) = None,
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
    n: _n(XRD) = None,
    points: Annotated[Optional[int], _opt("Points on the 2θ axis", XRD, "points")] = None,
    seed: _seed(XRD) = None,
    two_theta: TwoThetaRange = None,
    phases: Annotated[Optional[str], _opt("Phases to mix: built-in names (quartz, corundum, calcite, rutile, anatase, "
                                          "hematite, zincite, periclase, halite, silicon, aluminium), a CIF folder or "
                                          "a structures JSON", XRD, "phases")] = None,
    wavelength: Annotated[Optional[float], _opt("X-ray wavelength in Å (Cu Kα1: 1.54056)", XRD,
                                                "wavelength_angstrom")] = None,
    kalpha2_ratio: Annotated[Optional[float], _opt("Kα2/Kα1 intensity ratio: 0.5 for an unfiltered Cu tube, 0 for "
                                                   "monochromatic", XRD, "kalpha2_ratio")] = None,
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
    n: _n(RAMAN) = None,
    points: Annotated[Optional[int], _opt("Points on the Raman-shift axis", RAMAN, "points")] = None,
    seed: _seed(RAMAN) = None,
    shift: ShiftRange = None,
    minerals: Annotated[Optional[str], typer.Option(help="Comma-separated phases from matgen.physics.raman (default: "
                                                    "every one with a band on the axis).", show_default=False)] = None,
    temperature: TemperatureRange = None,
    stress: StressRange = None,
    laser: Annotated[Optional[float], _opt("Laser wavelength in nm", RAMAN, "laser_nm")] = None,
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
    n: _n(EELS) = None,
    points: Annotated[Optional[int], _opt("Channels", EELS, "points")] = None,
    seed: _seed(EELS) = None,
    offset: Annotated[Optional[float], _opt("Energy loss of the first channel in eV", EELS, "offset_ev")] = None,
    dispersion: Annotated[Optional[float], _opt("eV per channel", EELS, "dispersion_ev")] = None,
    materials: Annotated[Optional[str], _opt("Comma-separated materials from matgen.physics.eels", EELS,
                                             "materials")] = None,
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
