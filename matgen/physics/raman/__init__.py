"""Raman spectra of crystalline phases, in three rooms:

* :mod:`~matgen.physics.raman.phases` -- the literature table: each phase's bands at 295 K, zero
  stress and 532 nm, and how they move with temperature and stress, with sources
  (:data:`RAMAN_PHASES`, :func:`raman_phase`);
* :mod:`~matgen.physics.raman.forward` -- the batched forward model: Bose–Einstein populations,
  Lorentzian Stokes and anti-Stokes bands, fluorescence, cosmic spikes, shot noise
  (:func:`raman_spectra`);
* :mod:`~matgen.physics.raman.analysis` -- back from a measured spectrum: despiking, arPLS
  baseline, band positions (:func:`band_positions_cm1`, :func:`strongest_band_cm1`), and a band's
  shift back to temperature or stress (:func:`temperature_from_band_k`, :func:`stress_from_band_gpa`).

Every public name of the three is importable from here: ``from matgen.physics.raman import raman_spectra``.
"""

from matgen.physics.raman.analysis import (
    band_positions_cm1, baseline_arpls, despike, expected_band_cm1, noise_sigma, reference_band_coefficients,
    soft_band_positions_cm1, stress_from_band_gpa, strongest_band_cm1, temperature_from_band_k,
)
from matgen.physics.raman.forward import (
    C2_CM_K, FLUORESCENCE_ABSORPTION_NM, FLUORESCENCE_ABSORPTION_SIGMA_CM1, FLUORESCENCE_EMISSION_NM,
    FLUORESCENCE_EMISSION_SIGMA_CM1, HC_EV_NM, BandState, band_spectrum, bose_einstein, cosmic_spikes,
    fluorescence_background, lorentzian, phase_bands, raman_spectra, shot_noise,
)
from matgen.physics.raman.phases import (
    GENERIC_BROADENING_CM1_K, GENERIC_PRESSURE_SHIFT_PER_GPA, GENERIC_TEMPERATURE_SHIFT_PER_K, RAMAN_PHASES,
    REFERENCE_LASER_NM, REFERENCE_TEMPERATURE_K, RamanBand, RamanPhase, raman_phase,
)

__all__ = [
    "BandState", "C2_CM_K", "FLUORESCENCE_ABSORPTION_NM", "FLUORESCENCE_ABSORPTION_SIGMA_CM1",
    "FLUORESCENCE_EMISSION_NM", "FLUORESCENCE_EMISSION_SIGMA_CM1", "GENERIC_BROADENING_CM1_K",
    "GENERIC_PRESSURE_SHIFT_PER_GPA", "GENERIC_TEMPERATURE_SHIFT_PER_K", "HC_EV_NM", "RAMAN_PHASES",
    "REFERENCE_LASER_NM", "REFERENCE_TEMPERATURE_K", "RamanBand", "RamanPhase", "band_positions_cm1",
    "expected_band_cm1", "reference_band_coefficients", "stress_from_band_gpa", "temperature_from_band_k",
    "band_spectrum", "baseline_arpls", "bose_einstein", "cosmic_spikes", "despike", "fluorescence_background",
    "lorentzian", "noise_sigma", "phase_bands", "raman_phase", "raman_spectra", "shot_noise", "soft_band_positions_cm1",
    "strongest_band_cm1",
]
