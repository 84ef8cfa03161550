"""Built-in spectra datasets: XRD of phase mixtures, Raman of minerals, EELS low-loss of materials.

Every builder draws per-sample parameters from the seed, simulates with :mod:`matgen.physics`
and labels each spectrum with what made it (cards: ``datasets/xrd.md``, ``datasets/raman.md``,
``datasets/eels.md``). Signals are counts (Poisson noise included) on one shared axis.
"""

from __future__ import annotations


import numpy as np
import torch

from matgen.builders.common import chunks, continuous, provenance
from matgen.builders.options import EelsOptions, RamanOptions, XrdOptions
from matgen.common.progress import Progress, no_progress
from matgen.common.seeding import spawned_seeds
from matgen.data.dataset import Axis, Condition, Dataset
from matgen.errors import MatgenError

#: Spectra simulated per progress step.
CHUNK = 100


def _check_axis(n: int, points: int, low: float, high: float, what: str) -> None:
    if n < 1:
        raise MatgenError(f"n (number of samples) must be at least 1 (got {n})")
    if points < 16:
        raise MatgenError(f"points must be at least 16 (got {points})")
    if not low < high:
        raise MatgenError(f"the {what} range {low:g}..{high:g} is empty; give LOW..HIGH with LOW < HIGH")


def random_fractions(rng: np.random.Generator, n: int, phases: int) -> np.ndarray:
    """(n, phases) fractions summing to 1: a random non-empty subset of phases, Dirichlet(1) over it."""
    present = np.zeros((n, phases), dtype=bool)
    counts = rng.integers(1, phases + 1, n)
    for i, k in enumerate(counts):
        present[i, rng.choice(phases, k, replace=False)] = True
    raw = np.where(present, rng.exponential(size=(n, phases)), 0.0)
    return raw / raw.sum(1, keepdims=True)


# --------------------------------------------------------------------------- XRD


def build_xrd(options: XrdOptions = XrdOptions(), progress: Progress = no_progress) -> Dataset:
    """The xrd dataset: Hill–Howard mixtures of reference phases with weight fractions as labels."""
    from matgen.data.importers.structures import reference_structures
    from matgen.physics import xrd
    from matgen.physics.references import MARGIN_DEG, load_reference_set

    o = options
    _check_axis(o.n, o.points, *o.two_theta_deg, "2θ")
    size_range = o.crystallite_size_nm.check("crystallite_size_nm", 1.0)
    strain_range = o.microstrain.check("microstrain", 0.0, 0.05)
    zero_range = o.zero_shift_deg.check("zero_shift_deg", -1.0, 1.0)
    counts_range = o.max_counts.check("max_counts", 1.0)
    bg_range = o.background.check("background", 0.0, 10.0)
    axis = torch.linspace(*o.two_theta_deg, o.points, dtype=torch.float64)
    window = (max(o.two_theta_deg[0] - MARGIN_DEG, 0.5), min(o.two_theta_deg[1] + MARGIN_DEG, 179.5))
    structures = load_reference_set(o.phases, reference_structures)
    names = [name.rsplit("/", 1)[-1].split(".")[0] for name, _ in structures]
    refls = [xrd.reflections(s, o.wavelength_angstrom, window, name=n) for n, (_, s) in zip(names, structures)]
    rng = np.random.default_rng(o.seed)
    weights = random_fractions(rng, o.n, len(refls))
    size, strain = size_range.draw(rng, o.n), strain_range.draw(rng, o.n)
    zero, counts, bg = zero_range.draw(rng, o.n), counts_range.draw(rng, o.n), bg_range.draw(rng, o.n)
    seeds = spawned_seeds(o.seed, o.n)
    background_shape = 0.5 + torch.exp(-3 * (axis - axis[0]) / (axis[-1] - axis[0]))  # flat + decaying, (L,)
    signals = np.empty((o.n, o.points), dtype=np.float32)
    for part in chunks(o.n, CHUNK):
        for i in range(part.start, part.stop):
            inst = xrd.Instrument(o.wavelength_angstrom, kalpha2_ratio=o.kalpha2_ratio, zero_shift_deg=float(zero[i]))
            effects = xrd.SampleEffects(crystallite_size_nm=float(size[i]), microstrain=float(strain[i]))
            basis = [xrd.PhasePattern(r.name, xrd.phase_pattern(axis, r, inst, effects), r.density_g_cm3,
                                      r.cell_volume_angstrom3) for r in refls]
            pattern = xrd.mixture_patterns(torch.as_tensor(weights[i:i + 1]), basis)[0]
            pattern = pattern / pattern.max()
            pattern = pattern + bg[i] * background_shape
            generator = torch.Generator().manual_seed(seeds[i])
            signals[i] = xrd.counts_at_peak(pattern[None], float(counts[i]), generator)[0].numpy()
        progress(part.stop, o.n, "xrd")
    conditions = {f"wt_{name}": continuous(100 * weights[:, k], "wt%", "property", f"weight fraction of {name}")
                  for k, name in enumerate(names)}
    conditions.update({
        "crystallite_size": continuous(size, "nm", "property", "Scherrer crystallite size"),
        "microstrain": continuous(strain, "", "property", "micro-strain ε (broadening 4ε tanθ)"),
        "zero_shift": continuous(zero, "deg", "meta", "2θ zero shift / sample displacement"),
        "max_counts": continuous(counts, "counts", "meta", "counts at the strongest point before noise"),
    })
    return Dataset(
        kind="xrd", signals=signals, conditions=conditions,
        axis=Axis("two_theta", "deg", axis.numpy(), wavelength_angstrom=o.wavelength_angstrom),
        signal_unit="counts",
        **provenance("xrd", o, title="powder XRD of phase mixtures (Hill–Howard)", phases=",".join(names)),
    )


# --------------------------------------------------------------------------- EELS


def build_eels(options: EelsOptions = EelsOptions(), progress: Progress = no_progress) -> Dataset:
    """The eels dataset: low-loss spectra of tabulated materials with thickness and resolution as labels."""
    from matgen.physics import eels

    o = options
    if not o.dispersion_ev > 0:
        raise MatgenError(f"the dispersion must be positive, eV per channel (got {o.dispersion_ev})")
    _check_axis(o.n, o.points, o.offset_ev, o.offset_ev + o.points * o.dispersion_ev, "energy-loss")
    for name in o.materials:
        eels.material(name)
    thickness = o.thickness.check("thickness", 0.0, 10.0)
    resolution = o.resolution_ev.check("resolution_ev", 0.01)
    counts_range = o.total_counts.check("total_counts", 1.0)
    axis = eels.energy_axis_ev(o.points, o.dispersion_ev, o.offset_ev)
    rng = np.random.default_rng(o.seed)
    material = rng.integers(0, len(o.materials), o.n)
    t_lambda, fwhm, counts = thickness.draw(rng, o.n), resolution.draw(rng, o.n), counts_range.draw(rng, o.n)
    seeds = np.asarray(spawned_seeds(o.seed, o.n))
    signals = np.empty((o.n, o.points), dtype=np.float32)
    done = 0
    for k, name in enumerate(o.materials):
        rows = np.flatnonzero(material == k)
        for part in chunks(len(rows), CHUNK):
            index = rows[part]
            result = eels.eels_spectra(axis, name, torch.as_tensor(t_lambda[index]), torch.as_tensor(fwhm[index]),
                                       o.edge_step_per_ev, torch.as_tensor(counts[index]), seed=seeds[index].tolist())
            signals[index] = result.spectra.numpy()
            done += len(index)
            progress(done, o.n, f"eels {name}")
    conditions = {
        "material": Condition(material.astype(np.int32), role="label", categories=tuple(o.materials),
                              description="material (plasmon energy and edges from matgen.physics.eels)"),
        "thickness": continuous(t_lambda, "", "property", "relative thickness t/λ (inelastic mean free path units)"),
        "resolution": continuous(fwhm, "eV", "meta", "zero-loss peak FWHM (energy resolution)"),
        "total_counts": continuous(counts, "counts", "meta", "electrons recorded in the spectrum"),
    }
    return Dataset(
        kind="eels", signals=signals, conditions=conditions,
        axis=Axis("energy_loss", "eV", axis.numpy()),
        signal_unit="counts",
        **provenance("eels", o, title="EELS low-loss spectra (Drude plasmons, Poisson multiple scattering)"),
    )


# --------------------------------------------------------------------------- Raman


def build_raman(options: RamanOptions = RamanOptions(), progress: Progress = no_progress) -> Dataset:
    """The raman dataset: spectra of tabulated minerals labelled with mineral, temperature and stress."""
    from matgen.physics import raman

    o = options
    _check_axis(o.n, o.points, *o.shift_cm1, "Raman shift")
    axis = torch.linspace(*o.shift_cm1, o.points, dtype=torch.float64)
    if o.minerals is None:
        minerals = tuple(name for name, phase in raman.RAMAN_PHASES.items()
                         if o.shift_cm1[0] <= phase.strongest.position_cm1 <= o.shift_cm1[1])
    else:
        minerals = tuple(raman.raman_phase(name).name for name in o.minerals)
    temperature = o.temperature_k.check("temperature_k", 1.0, 3000.0)
    stress = o.stress_gpa.check("stress_gpa", -20.0, 50.0)
    fluorescence = o.fluorescence.check("fluorescence", 0.0)
    if not (o.peak_counts > 0 and o.spike_rate >= 0 and o.laser_nm > 0):
        raise MatgenError("peak counts and laser wavelength must be positive and the spike rate ≥ 0")
    rng = np.random.default_rng(o.seed)
    mineral = rng.integers(0, len(minerals), o.n)
    t, p, phi = temperature.draw(rng, o.n), stress.draw(rng, o.n), fluorescence.draw(rng, o.n)
    seeds = np.asarray(spawned_seeds(o.seed, o.n))
    signals = np.empty((o.n, o.points), dtype=np.float32)
    done = 0
    for k, name in enumerate(minerals):
        rows = np.flatnonzero(mineral == k)
        for part in chunks(len(rows), CHUNK):
            index = rows[part]
            spectra = raman.raman_spectra(
                axis, [name], torch.ones(len(index), 1, dtype=torch.float64), torch.as_tensor(t[index]),
                torch.as_tensor(p[index]), o.laser_nm, torch.as_tensor(phi[index]), spike_rate=o.spike_rate,
                peak_counts=o.peak_counts, seed=seeds[index].tolist())
            signals[index] = spectra.numpy()
            done += len(index)
            progress(done, o.n, f"raman {name}")
    conditions = {
        "mineral": Condition(mineral.astype(np.int32), role="label", categories=minerals,
                             description="phase (bands from matgen.physics.raman)"),
        "temperature": continuous(t, "K", "processing", "sample temperature (band shift and broadening)"),
        "stress": continuous(p, "GPa", "processing", "hydrostatic stress, compression positive (band shift)"),
        "fluorescence": continuous(phi, "", "meta", "fluorescence background amplitude (strongest band = 1)"),
    }
    return Dataset(
        kind="raman", signals=signals, conditions=conditions, axis=Axis("raman_shift", "cm-1", axis.numpy()),
        signal_unit="counts",
        **provenance("raman", o, title="Raman spectra of minerals (literature bands)", laser_nm=o.laser_nm),
    )
