"""The options of every built-in dataset, one dataclass each (``matgen data build NAME --help`` reads the defaults here).

Ranges are :class:`~matgen.common.ranges.Range` objects (``LOW..HIGH`` on the command line) in
the unit the comment names. This module imports neither torch nor numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

from matgen.common.ranges import Range


@dataclass
class SpinodalOptions:
    """Options of the ``spinodal`` dataset (defaults: the main job's dataset)."""

    n: int = 2000  # number of micrographs
    size: int = 64  # micrograph side, px
    seed: int = 0  # same seed, same file
    mean_composition: Range = Range(-0.3, 0.3)  # c̄ (dimensionless); phase-1 fraction ≈ (1 + c̄)/2
    anneal_time: Range = Range(150.0, 1500.0, log=True)  # Cahn–Hilliard model time (dimensionless)
    interface_width_px: Range = Range(1.0, 1.5)  # ξ = √(2κ), px; narrower = deeper quench
    phases: tuple[str, str] = ("Al", "SiC")  # phase 0 (c < 0) and phase 1 (c > 0), see matgen.physics.phases
    plane: str = "stress"  # plane stress (thin sheet) or plane strain
    device: str = "auto"  # auto, cpu or cuda


@dataclass
class SpinodalAlloyOptions:
    """Options of the ``spinodal-alloy`` dataset: Cahn–Hilliard maps of a named alloy from lab processing."""

    n: int = 500  # number of micrographs
    size: int = 64  # micrograph side, px
    seed: int = 0  # same seed, same file
    alloy: str = "Fe-Cr"  # named alloy system of matgen.physics.alloys (constants and their sources there)
    anneal_temperature_c: Range = Range(475.0, 525.0)  # anneal temperature, °C, below the gap's T_c (Fe-Cr: 580 °C)
    anneal_time_h: Range = Range(100.0, 1000.0, log=True)  # anneal time, h (log-uniform)
    solute_fraction: Range = Range(0.42, 0.42)  # atom fraction x of the solute (Fe-Cr: Cr), inside the spinodal
    pixel_size_nm: float = 2.0  # edge of one pixel, nm: fixes the model time scale t_model = M(T) t / a²
    device: str = "auto"  # auto, cpu or cuda


@dataclass
class CompositeOptions:
    """Options of the ``composite`` dataset: elliptical particles in a matrix."""

    n: int = 1000  # number of micrographs
    size: int = 64  # micrograph side, px
    seed: int = 0  # same seed, same file
    volume_fraction: Range = Range(0.05, 0.5)  # target particle area fraction
    mean_radius_px: Range | None = None  # equivalent-disk radius √(ab), px; None: default_mean_radius(size)
    aspect_ratio: Range = Range(1.0, 3.0)  # long / short semi-axis
    orientation_deg: Range = Range(0.0, 180.0)  # long-axis angle from +x towards +y, deg
    orientation_spread_deg: float = 10.0  # std of each particle's angle about the sample's, deg
    phases: tuple[str, str] = ("Al", "SiC")  # matrix, particle
    plane: str = "stress"  # plane stress or plane strain
    device: str = "auto"  # auto, cpu or cuda


def default_mean_radius(size: int) -> Range:
    """The composite particles' default equivalent-disk radius: 3..7 px at 64 px, scaled with the size, at least 1..1.5 px."""
    return Range(max(1.0, 3.0 * size / 64), max(1.5, 7.0 * size / 64))


@dataclass
class XrdOptions:
    """Options of the ``xrd`` dataset: powder mixtures of reference phases."""

    n: int = 1000  # number of patterns
    points: int = 2048  # points on the 2θ axis
    seed: int = 0  # same seed, same file
    two_theta_deg: tuple[float, float] = (10.0, 80.0)  # axis range, deg 2θ
    phases: str = "quartz,corundum,calcite,rutile"  # built-in names, a CIF folder or a structures JSON
    wavelength_angstrom: float = 1.54056  # Kα1; Cu by default
    kalpha2_ratio: float = 0.5  # I(Kα2)/I(Kα1): 0.5 for an unfiltered Cu tube, 0 monochromatic
    crystallite_size_nm: Range = Range(30.0, 300.0, log=True)  # Scherrer size
    microstrain: Range = Range(0.0, 0.002)  # ε, broadening 4ε tanθ
    zero_shift_deg: Range = Range(-0.02, 0.02)  # sample displacement / zero error, deg
    max_counts: Range = Range(5e3, 5e4, log=True)  # counts at each pattern's strongest point
    background: Range = Range(0.01, 0.1)  # flat + decaying background, fraction of the strongest peak


@dataclass
class RamanOptions:
    """Options of the ``raman`` dataset: one mineral per spectrum, at a temperature and stress."""

    n: int = 1000  # number of spectra
    points: int = 1024  # points on the Raman-shift axis
    seed: int = 0  # same seed, same file
    shift_cm1: tuple[float, float] = (100.0, 1800.0)  # axis range, cm⁻¹
    minerals: tuple[str, ...] | None = None  # phases of matgen.physics.raman; None: every one with a band in range
    temperature_k: Range = Range(295.0, 800.0)  # sample temperature, K
    stress_gpa: Range = Range(-1.0, 1.0)  # hydrostatic stress, GPa (compression positive)
    laser_nm: float = 532.0  # excitation wavelength, nm
    fluorescence: Range = Range(0.0, 0.5)  # fluorescence amplitude (strongest band = 1)
    spike_rate: float = 0.1  # mean cosmic-ray spikes per spectrum
    peak_counts: float = 2000.0  # counts at the strongest band (shot noise)


@dataclass
class EelsOptions:
    """Options of the ``eels`` dataset: low-loss spectra (zero loss + plasmons + shallow edges)."""

    n: int = 1000  # number of spectra
    points: int = 1024  # channels
    seed: int = 0  # same seed, same file
    offset_ev: float = -5.0  # energy loss of the first channel, eV
    dispersion_ev: float = 0.2  # eV per channel (1024 channels reach 200 eV: the plasmon tails of thick oxides)
    materials: tuple[str, ...] = ("Al", "Si", "Mg", "SiO2", "Al2O3", "MgO", "graphite", "diamond")  # see matgen.physics.eels
    thickness: Range = Range(0.1, 2.0)  # t/λ, dimensionless
    resolution_ev: Range = Range(0.5, 1.5)  # zero-loss FWHM, eV
    total_counts: Range = Range(1e5, 1e7, log=True)  # electrons per spectrum
    edge_step_per_ev: float = 1e-4  # edge step per eV per unit t/λ, relative to the total intensity
