"""Built-in micrograph datasets: spinodal (Cahn–Hilliard) and particulate composites, with properties.

Each sample is a periodic two-phase label map (0 = matrix phase, 1 = second phase) with the
processing parameters that made it and the properties the ``elastic`` simulator
(:mod:`matgen.simulators.elastic`, FFT homogenization) returns for it: Young's moduli along x and
y, the orientation-averaged Young's modulus, the shear modulus (GPa) and the density by the rule
of mixtures (g/cm³), with the units and descriptions the simulator declares. See the cards
``datasets/spinodal.md`` and ``datasets/composite.md``.
"""

from __future__ import annotations


import numpy as np
import torch

from matgen.builders.common import chunks, continuous, provenance
from matgen.builders.options import CompositeOptions, SpinodalOptions, default_mean_radius
from matgen.common.device import resolve_device
from matgen.common.progress import Progress, no_progress
from matgen.common.seeding import spawned_seeds
from matgen.data.dataset import Dataset
from matgen.errors import MatgenError
from matgen.physics.elastic import PLANES
from matgen.physics.morphology import characteristic_length_px
from matgen.physics.particles import composite
from matgen.physics.phases import phase_by_name
from matgen.physics.spinodal import SPINODAL_LIMIT, spinodal
from matgen.simulators.elastic import ElasticSimulator

#: Samples simulated together; fixed (not device-dependent) so the same seed gives the same file.
CHUNK = 200


def _check_common(n: int, size: int, phases, plane: str) -> None:
    if n < 1:
        raise MatgenError(f"n (number of samples) must be at least 1 (got {n})")
    if size < 8:
        raise MatgenError(f"size must be at least 8 px (got {size})")
    if plane not in PLANES:
        raise MatgenError(f"unknown plane '{plane}'; choose from {', '.join(PLANES)}")
    if len(phases) != 2:
        raise MatgenError(f"give exactly two phases (matrix, second phase), got {len(phases)}")
    for name in phases:
        phase_by_name(name)


def _stack(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def build_spinodal(options: SpinodalOptions = SpinodalOptions(), progress: Progress = no_progress) -> Dataset:
    """The spinodal dataset: Cahn–Hilliard micrographs with processing parameters and elastic properties.

    Samples are simulated in chunks of :data:`CHUNK` sorted by anneal time (a chunk takes as many
    time steps as its longest anneal needs), so the whole set costs little more than its mean.
    """
    o = options
    _check_common(o.n, o.size, o.phases, o.plane)
    c_range = o.mean_composition.check("mean_composition", -SPINODAL_LIMIT + 1e-6, SPINODAL_LIMIT - 1e-6)
    t_range = o.anneal_time.check("anneal_time", 0.0)
    xi_range = o.interface_width_px.check("interface_width_px", 0.5, o.size / 8)
    device = resolve_device(o.device)
    elastic = ElasticSimulator(o.phases, o.plane)
    rng = np.random.default_rng(o.seed)
    c_bar, t, xi = c_range.draw(rng, o.n), t_range.draw(rng, o.n), xi_range.draw(rng, o.n)
    seeds = np.asarray(spawned_seeds(o.seed, o.n))
    order = np.argsort(t, kind="stable")
    micrographs = np.empty((o.n, o.size, o.size), dtype=np.uint8)
    lengths = np.empty(o.n)
    parts = []
    for done, part in enumerate(chunks(o.n, CHUNK)):
        index = order[part]
        result = spinodal(len(index), o.size, torch.as_tensor(c_bar[index]), torch.as_tensor(t[index]),
                          torch.as_tensor(xi[index]), seed=seeds[index].tolist(), device=device)
        micrographs[index] = result.micrograph.cpu().numpy()
        lengths[index] = characteristic_length_px(result.micrograph.float()).cpu().numpy()
        parts.append(elastic.properties(result.micrograph))
        progress(min((done + 1) * CHUNK, o.n), o.n, f"spinodal, anneal time ≤ {t[index].max():.0f}")
    props = {k: np.empty(o.n) for k in parts[0]}
    for k, v in _stack(parts).items():  # chunks came in anneal-time order; put rows back in draw order
        props[k][order] = v
    conditions = {
        "mean_composition": continuous(c_bar, "", "processing", "mean order parameter c̄ of the Cahn–Hilliard run"),
        "anneal_time": continuous(t, "", "processing", "dimensionless Cahn–Hilliard anneal time (coarsening)"),
        "interface_width": continuous(xi, "px", "processing", "interface width ξ = √(2κ) (quench depth), px"),
        **elastic.conditions(props),
        "characteristic_length": continuous(lengths, "px", "property", "2π / first moment of the structure factor"),
    }
    return Dataset(
        kind="micrograph", signals=micrographs, conditions=conditions,
        signal_type="labels", pixel_size=None,
        **provenance("spinodal", o, title="spinodal Al/SiC microstructures (Cahn–Hilliard)", phases=",".join(o.phases)),
    )


def build_composite(options: CompositeOptions = CompositeOptions(), progress: Progress = no_progress) -> Dataset:
    """The composite dataset: elliptical particles in a matrix with processing parameters and properties."""
    o = options
    _check_common(o.n, o.size, o.phases, o.plane)
    f_range = o.volume_fraction.check("volume_fraction", 1e-3, 0.7)
    r_range = (o.mean_radius_px or default_mean_radius(o.size)).check("mean_radius_px", 1.0)
    ar_range = o.aspect_ratio.check("aspect_ratio", 1.0)
    if r_range.high * np.sqrt(ar_range.high) > o.size / 4:
        raise MatgenError(f"particles up to radius {r_range.high:g} px at aspect ratio {ar_range.high:g} do not fit "
                          f"a {o.size} px micrograph (need radius·√aspect ≤ size/4 = {o.size / 4:g} px)")
    angle_range = o.orientation_deg.check("orientation_deg")
    if o.orientation_spread_deg < 0:
        raise MatgenError(f"orientation spread must be ≥ 0 deg (got {o.orientation_spread_deg})")
    device = resolve_device(o.device)
    elastic = ElasticSimulator(o.phases, o.plane)
    rng = np.random.default_rng(o.seed)
    f, r, ar, angle = f_range.draw(rng, o.n), r_range.draw(rng, o.n), ar_range.draw(rng, o.n), angle_range.draw(rng, o.n)
    seeds = spawned_seeds(o.seed, o.n)
    micrographs, parts = [], []
    for done, part in enumerate(chunks(o.n, CHUNK)):
        result = composite(part.stop - part.start, o.size, torch.as_tensor(f[part]), torch.as_tensor(r[part]),
                           torch.as_tensor(ar[part]), torch.as_tensor(angle[part]), o.orientation_spread_deg,
                           seed=seeds[part], device=device)
        micrographs.append(result.micrograph.cpu().numpy())
        parts.append(elastic.properties(result.micrograph))
        progress(part.stop, o.n, "composite")
    props = _stack(parts)
    conditions = {
        "volume_fraction": continuous(f, "", "processing", "target particle area fraction"),
        "mean_radius": continuous(r, "px", "processing", "mean equivalent-disk particle radius √(ab), px"),
        "aspect_ratio": continuous(ar, "", "processing", "particle long / short semi-axis"),
        "orientation": continuous(angle, "deg", "processing", "mean particle long-axis angle from +x towards +y, deg"),
        **elastic.conditions(props),
        "anisotropy": continuous(props["modulus_x"] / props["modulus_y"], "", "property", "modulus_x / modulus_y"),
    }
    return Dataset(
        kind="micrograph", signals=np.concatenate(micrographs), conditions=conditions,
        signal_type="labels", pixel_size=None,
        **provenance("composite", o, title="particle-reinforced composite microstructures", phases=",".join(o.phases)),
    )
