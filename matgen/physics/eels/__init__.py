"""Electron energy-loss spectra, in three rooms:

* :mod:`~matgen.physics.eels.materials` -- the tables: core-loss edges (:data:`EDGES`) and bulk
  plasmons of materials (:data:`MATERIALS`), with their sources, looked up by :func:`edge` and
  :func:`material`;
* :mod:`~matgen.physics.eels.forward` -- the batched forward model: energy axis, Drude plasmon,
  zero-loss peak, plural scattering, core-loss edges, counting noise (:func:`eels_spectra`);
* :mod:`~matgen.physics.eels.analysis` -- back from a spectrum: thickness by the log-ratio method
  (:func:`thickness_log_ratio`), plasmon position, edge onsets.

Every public name of the three is importable from here: ``from matgen.physics.eels import eels_spectra``.
"""

from matgen.physics.eels.analysis import edge_onsets_ev, plasmon_peak_ev, thickness_log_ratio
from matgen.physics.eels.forward import (
    ELECTRON_REST_ENERGY_KEV, FREE_ELECTRON_PLASMON_EV, ZLP_HALF_WIDTH_FWHM, ZLP_HALF_WIDTH_LORENTZ_FWHM,
    EELSSpectra, characteristic_angle_mrad, core_loss_spectra, counts_for_total, drude_loss_function,
    drude_peak_energy_ev, edge_shapes, eels_spectra, energy_axis_ev, free_electron_plasmon_energy_ev,
    loss_distribution, low_loss_spectra, plasmon_ssd, poisson_weights, zero_loss_peak,
)
from matgen.physics.eels.materials import (
    BROAD, EDGES, EELS_ATLAS, EGERTON, MATERIALS, RAETHER, Edge, Material, edge, material,
)

__all__ = [
    "BROAD", "EDGES", "EELSSpectra", "EELS_ATLAS", "EGERTON", "ELECTRON_REST_ENERGY_KEV", "FREE_ELECTRON_PLASMON_EV",
    "MATERIALS", "RAETHER", "ZLP_HALF_WIDTH_FWHM", "ZLP_HALF_WIDTH_LORENTZ_FWHM", "Edge", "Material",
    "characteristic_angle_mrad", "core_loss_spectra", "counts_for_total", "drude_loss_function", "drude_peak_energy_ev",
    "edge", "edge_onsets_ev", "edge_shapes", "eels_spectra", "energy_axis_ev", "free_electron_plasmon_energy_ev",
    "loss_distribution", "low_loss_spectra", "material", "plasmon_peak_ev", "plasmon_ssd", "poisson_weights",
    "thickness_log_ratio", "zero_loss_peak",
]
