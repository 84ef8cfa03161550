"""The ``spinodal-alloy`` dataset: Cahn–Hilliard micrographs of a named alloy from processing in lab units.

The ``spinodal`` builder takes dimensionless model parameters; this one takes what a lab writes
down — anneal temperature (°C) and time (h) and the alloy's composition — and maps them through
a regular solution and an Arrhenius mobility (:mod:`matgen.physics.alloys`, constants and sources
there) onto the same solver (:func:`matgen.physics.spinodal.spinodal`):

    θ = T / T_c,  c̄ = (2x̄ − 1) / m_b(θ),  ξ = ξ₀ (1 − θ)^(−1/2) / a,  t_model = D₀ e^(−Q/RT) t / a²

with a the pixel size. Phase 1 of each map is the solute-rich phase (α' in Fe–Cr). See the card
``datasets/spinodal-alloy.md`` and ``docs/processing.md``. The ``spinodal`` dataset is untouched.
"""

from __future__ import annotations

import numpy as np
import torch

from matgen.builders.common import chunks, continuous, provenance
from matgen.builders.options import SpinodalAlloyOptions
from matgen.common.device import resolve_device
from matgen.common.progress import Progress, no_progress
from matgen.common.ranges import Range
from matgen.common.seeding import spawned_seeds
from matgen.data.dataset import Dataset
from matgen.errors import MatgenError
from matgen.physics import alloys as al
from matgen.physics.morphology import characteristic_length_px
from matgen.physics.spinodal import SPINODAL_LIMIT, spinodal

#: Samples simulated together; fixed so the same seed gives the same file.
CHUNK = 200


def check_processing(o: SpinodalAlloyOptions, alloy: al.AlloySystem) -> tuple[Range, Range, Range]:
    """The checked (temperature °C, time h, solute fraction) ranges; a one-line MatgenError says what to change.

    Every draw of the ranges must decompose spinodally on the grid: below T_c, inside the
    spinodal at the hottest temperature, and with an interface between 0.5 px and size/8.
    """
    if o.n < 1 or o.size < 8:
        raise MatgenError(f"n must be at least 1 and size at least 8 px (got n={o.n}, size={o.size})")
    if not o.pixel_size_nm > 0:
        raise MatgenError(f"pixel_size_nm must be a positive length in nm (got {o.pixel_size_nm})")
    tc_c = alloy.critical_temperature_k - al.ZERO_CELSIUS_K
    temp = o.anneal_temperature_c.check("anneal_temperature_c", -al.ZERO_CELSIUS_K)
    if temp.high >= tc_c:
        raise MatgenError(f"anneal temperature {temp.high:g} °C is at or above the {alloy.name} miscibility gap "
                          f"(T_c = {tc_c:g} °C), where the alloy stays one uniform solid solution; choose "
                          f"anneal_temperature_c below {tc_c:g} °C")
    time = o.anneal_time_h.check("anneal_time_h", 0.0)
    x = o.solute_fraction.check("solute_fraction", 1e-6, 1 - 1e-6)
    theta_hot = al.kelvin(temp.high) / alloy.critical_temperature_k
    limit = float(min(al.spinodal_amplitude(theta_hot), al.binodal_amplitude(theta_hot) * SPINODAL_LIMIT))
    far = x.low if abs(2 * x.low - 1) > abs(2 * x.high - 1) else x.high
    if abs(2 * far - 1) >= limit * (1 - 1e-6):
        raise MatgenError(f"{alloy.solute} fraction {far:g} lies outside the spinodal at {temp.high:g} °C "
                          f"(|x - 0.5| < {limit / 2:.3f}), where it decomposes by nucleation and growth, not modelled "
                          "here; choose solute_fraction nearer 0.5 or a lower anneal_temperature_c")
    for t_c, bound in ((temp.low, "low"), (temp.high, "high")):
        xi_nm = float(al.interface_width_nm(al.kelvin(t_c) / alloy.critical_temperature_k, alloy.interface_width0_nm))
        xi_px = xi_nm / o.pixel_size_nm
        if bound == "low" and xi_px < 0.5:
            raise MatgenError(f"at {t_c:g} °C the interface ({xi_nm:.2f} nm) is {xi_px:.2f} px wide, under the 0.5 px "
                              f"the grid resolves; use pixel_size_nm <= {2 * xi_nm:.2f} or a higher anneal_temperature_c")
        if bound == "high" and xi_px > o.size / 8:
            raise MatgenError(f"at {t_c:g} °C, close to T_c = {tc_c:g} °C, the interface ({xi_nm:.2f} nm = {xi_px:.1f} "
                              f"px) is wider than size/8 = {o.size / 8:g} px; lower anneal_temperature_c, or raise "
                              "pixel_size_nm or size")
    return temp, time, x


def alloy_attrs(alloy: al.AlloySystem, pixel_size_nm: float) -> dict:
    """The dataset card's constants (with units in their names) and the source of each, as str/number attrs."""
    return {
        "alloy": alloy.name, "solvent": alloy.solvent, "solute": alloy.solute,
        "critical_temperature_C": alloy.critical_temperature_k - al.ZERO_CELSIUS_K,
        "interaction_J_mol": alloy.interaction_j_mol,
        "activation_energy_kJ_mol": alloy.activation_energy_j_mol / 1e3,
        "diffusivity0_m2_s": alloy.diffusivity0_m2_s,
        "interface_width0_nm": alloy.interface_width0_nm,
        "pixel_size_nm": pixel_size_nm,
        "model": "regular solution f = RT[x ln x + (1-x) ln(1-x)] + Omega x(1-x), T_c = Omega/(2R); "
                 "c_bar = (2x-1)/m_b(T/T_c) with m_b = tanh(m_b T_c/T); xi = xi0 (1 - T/T_c)^-1/2; "
                 "t_model = D0 exp(-Q/RT) t / a^2 (a: pixel size); phase 1 = solute-rich",
        **{f"source_{name}": text for name, text in alloy.sources.items()},
    }


def build_spinodal_alloy(options: SpinodalAlloyOptions = SpinodalAlloyOptions(),
                         progress: Progress = no_progress) -> Dataset:
    """Cahn–Hilliard maps of a named alloy annealed at T (°C) for t (h), with phase fraction and length.

    Samples are simulated in chunks of :data:`CHUNK` sorted by t_model / ξ² (the solver's step
    count grows with it), so the whole set costs little more than its mean.
    """
    o = options
    alloy = al.alloy_system(o.alloy)
    temp, time, x_range = check_processing(o, alloy)
    device = resolve_device(o.device)
    rng = np.random.default_rng(o.seed)
    temp_c, time_h, x = temp.draw(rng, o.n), time.draw(rng, o.n), x_range.draw(rng, o.n)
    theta = al.kelvin(temp_c) / alloy.critical_temperature_k
    m_b = al.binodal_amplitude(theta)  # (n,)
    c_bar = (2 * x - 1) / m_b
    xi_nm = al.interface_width_nm(theta, alloy.interface_width0_nm)
    xi_px = xi_nm / o.pixel_size_nm
    t_model = al.model_time(al.kelvin(temp_c), time_h, o.pixel_size_nm, alloy)
    seeds = np.asarray(spawned_seeds(o.seed, o.n))
    order = np.argsort(t_model / xi_px**2, kind="stable")
    micrographs = np.empty((o.n, o.size, o.size), dtype=np.uint8)
    lengths_px = np.empty(o.n)
    for part in chunks(o.n, CHUNK):
        index = order[part]
        result = spinodal(len(index), o.size, torch.as_tensor(c_bar[index]), torch.as_tensor(t_model[index]),
                          torch.as_tensor(xi_px[index]), seed=seeds[index].tolist(), device=device)
        micrographs[index] = result.micrograph.cpu().numpy()
        lengths_px[index] = characteristic_length_px(result.micrograph.float()).cpu().numpy()
        progress(part.stop, o.n, f"{alloy.name}, up to {temp_c[index].max():.0f} °C / {time_h[index].max():.0f} h")
    solute = alloy.solute
    conditions = {
        "anneal_temperature_C": continuous(temp_c, "°C", "processing", "anneal (and quench-from) temperature, °C"),
        "anneal_time_h": continuous(time_h, "h", "processing", "anneal time at temperature, h"),
        "solute_fraction": continuous(x, "", "processing", f"atom fraction of {solute} in the {alloy.name} alloy"),
        "phase_fraction": continuous(micrographs.reshape(o.n, -1).mean(1), "", "property",
                                     f"area fraction of the {solute}-rich phase (label 1) in the map"),
        "characteristic_length_nm": continuous(lengths_px * o.pixel_size_nm, "nm", "property",
                                               "2π / first moment of the structure factor, nm"),
        "equilibrium_fraction": continuous(al.lever_rule_fraction(x, theta), "", "property",
                                           f"lever-rule fraction of the {solute}-rich phase at T (regular solution)"),
        "composition_amplitude": continuous(m_b, "", "property",
                                            f"x_α' − x_α: {solute} fraction difference of the binodal phases at T"),
        "interface_width_nm": continuous(xi_nm, "nm", "property", "mean-field interface width ξ₀ (1 − T/T_c)^(−1/2), nm"),
        "model_time": continuous(t_model, "", "meta", "Cahn–Hilliard time D₀ exp(−Q/RT) t / a² (dimensionless)"),
    }
    return Dataset(
        kind="micrograph", signals=micrographs, conditions=conditions, signal_type="labels",
        pixel_size=o.pixel_size_nm, pixel_unit="nm",
        **provenance("spinodal-alloy", o, title=f"spinodal {alloy.name} microstructures from anneal temperature and time",
                     phases=f"{alloy.solvent}-rich,{solute}-rich", **alloy_attrs(alloy, o.pixel_size_nm)),
    )
