"""XRD forward model: Bragg positions, broadening, preferred orientation, Hill–Howard mixtures."""

import math

import numpy as np
import pytest
import torch

from matgen.errors import MatgenError
from matgen.physics import references, xrd

pytest.importorskip("pymatgen")

AXIS = torch.linspace(20, 80, 6001, dtype=torch.float64)
RANGE = (15.0, 85.0)
A_SI = references.REFERENCE_PHASES["silicon"].lattice_abc_angstrom[0]  # 5.431021 Å
A_NACL = references.REFERENCE_PHASES["halite"].lattice_abc_angstrom[0]  # 5.6402 Å


def silicon():
    return references.reference_structure("silicon")


def rock_salt():
    return references.reference_structure("halite")


def aluminium():
    return references.reference_structure("aluminium")


def phase(structure, instrument=None, effects=None):
    refl = xrd.reflections(structure, (instrument or xrd.Instrument()).wavelength_angstrom, RANGE)
    return xrd.PhasePattern(refl.name, xrd.phase_pattern(AXIS, refl, instrument, effects),
                            refl.density_g_cm3, refl.cell_volume_angstrom3)


def bragg_deg(d, wavelength=xrd.CU_KALPHA1_ANGSTROM):
    return math.degrees(2 * math.asin(wavelength / (2 * d)))


def first_peak(pattern):
    return xrd.peak_positions_deg(AXIS.numpy(), pattern.numpy())[0]


def test_silicon_111_lands_where_bragg_puts_it():
    d111 = A_SI / math.sqrt(3)
    assert bragg_deg(d111) == pytest.approx(28.44, abs=0.01)
    assert first_peak(phase(silicon()).pattern) == pytest.approx(bragg_deg(d111), abs=0.005)


def test_other_wavelength_strain_and_zero_shift_move_the_peak_as_bragg_says():
    d111 = A_SI / math.sqrt(3)
    cobalt = xrd.Instrument(wavelength_angstrom=1.78897)
    assert first_peak(phase(silicon(), cobalt).pattern) == pytest.approx(bragg_deg(d111, 1.78897), abs=0.005)
    strained = phase(silicon(), effects=xrd.SampleEffects(lattice_strain=0.01)).pattern
    assert first_peak(strained) == pytest.approx(bragg_deg(d111 * 1.01), abs=0.005)
    shifted = phase(silicon(), xrd.Instrument(zero_shift_deg=0.15)).pattern
    assert first_peak(shifted) == pytest.approx(bragg_deg(d111) + 0.15, abs=0.005)


def test_kalpha2_adds_a_half_height_peak_where_bragg_puts_it_for_the_second_line():
    d331 = A_SI / math.sqrt(19)
    single = phase(silicon(), xrd.Instrument(eta=0.0)).pattern
    doublet = phase(silicon(), xrd.Instrument(eta=0.0, kalpha2_ratio=0.5)).pattern
    x = AXIS.numpy()
    window = np.abs(x - bragg_deg(d331)) < 0.6
    peaks = xrd.peak_positions_deg(x[window], doublet.numpy()[window], min_separation_deg=0.1)
    np.testing.assert_allclose(peaks, [bragg_deg(d331), bragg_deg(d331, xrd.CU_KALPHA2_ANGSTROM)], atol=0.005)
    heights = np.interp(peaks, x, doublet.numpy())
    assert heights[1] / heights[0] == pytest.approx(0.5, abs=0.03)  # Lorentz-polarisation change neglected
    assert torch.trapezoid(doublet, AXIS).item() == pytest.approx(1.5 * torch.trapezoid(single, AXIS).item(), rel=0.01)
    with pytest.raises(MatgenError, match="Kα2 / Kα1 intensity ratio must be >= 0"):
        phase(silicon(), xrd.Instrument(kalpha2_ratio=-0.5))


def measured_fwhm(pattern, near_deg):
    x, y = AXIS.numpy(), pattern.numpy()
    window = np.abs(x - near_deg) < 2
    xs, ys = x[window], y[window]
    half = ys.max() / 2
    i, j = np.flatnonzero(ys >= half)[[0, -1]]
    left = np.interp(half, ys[i - 1:i + 1], xs[i - 1:i + 1])
    right = np.interp(half, ys[j:j + 2][::-1], xs[j:j + 2][::-1])
    return right - left


def test_scherrer_and_caglioti_widths_add_in_quadrature():
    instrument = xrd.Instrument(eta=0.0)
    effects = xrd.SampleEffects(crystallite_size_nm=20)
    peak = bragg_deg(A_SI / math.sqrt(3))
    theta = math.radians(peak / 2)
    tan = math.tan(theta)
    instrument_deg2 = instrument.caglioti_u * tan**2 + instrument.caglioti_v * tan + instrument.caglioti_w
    scherrer_deg = math.degrees(0.9 * 1.54056 / (200 * math.cos(theta)))
    expected = math.sqrt(instrument_deg2 + scherrer_deg**2)
    assert measured_fwhm(phase(silicon(), instrument, effects).pattern, peak) == pytest.approx(expected, rel=0.02)
    narrow = measured_fwhm(phase(silicon(), instrument, xrd.SampleEffects(crystallite_size_nm=200)).pattern, peak)
    assert narrow < expected


def test_profiles_are_area_normalised():
    x = torch.linspace(0, 100, 200001, dtype=torch.float64)
    p = xrd.pseudo_voigt(x, torch.tensor([50.0], dtype=torch.float64), torch.tensor([0.2], dtype=torch.float64), 0.0)
    assert torch.trapezoid(p[0], x).item() == pytest.approx(1.0, rel=1e-6)


def test_march_dollase_platelets_strengthen_the_preferred_reflection():
    refl = xrd.reflections(rock_salt(), two_theta_range_deg=RANGE)
    random = xrd.phase_pattern(AXIS, refl)
    textured = xrd.phase_pattern(AXIS, refl, effects=xrd.SampleEffects(march_dollase_r=0.7, preferred_hkl=(1, 0, 0)))
    x = AXIS.numpy()

    def height(pattern, d):
        return pattern.numpy()[np.argmin(np.abs(x - bragg_deg(d)))]

    d200, d220 = A_NACL / 2, A_NACL / math.sqrt(8)
    assert height(textured, d200) / height(textured, d220) > 1.2 * height(random, d200) / height(random, d220)


@pytest.mark.parametrize("weights", [(0.3, 0.7, 0.0), (0.2, 0.5, 0.3), (0.6, 0.1, 0.3)])
def test_hill_howard_weight_fractions_round_trip(weights):
    phases = [phase(silicon()), phase(rock_salt()), phase(aluminium())]
    w = torch.tensor([weights], dtype=torch.float64)
    patterns = xrd.mixture_patterns(w, phases)
    np.testing.assert_allclose(xrd.fit_weight_fractions(patterns, phases).numpy(), w.numpy(), atol=1e-6)
    noisy = xrd.counts_at_peak(xrd.add_background(patterns / patterns.max() * 1000, AXIS, [20, 5]), 20000,
                               torch.Generator().manual_seed(0))
    np.testing.assert_allclose(xrd.fit_weight_fractions(noisy, phases, background_order=1).numpy(), w.numpy(), atol=0.02)


def test_equal_weights_do_not_give_equal_intensity_shares():
    # Hill–Howard: a phase contributes w_p / (rho_p V_p^2) times its per-cell pattern, so equal
    # weights give unequal intensity shares and the fit has to undo that
    phases = [phase(silicon()), phase(aluminium())]
    patterns = xrd.mixture_patterns(torch.tensor([[0.5, 0.5]], dtype=torch.float64), phases)
    parts = [0.5 * p.pattern.sum() / (p.density_g_cm3 * p.cell_volume_angstrom3**2) for p in phases]
    assert patterns.sum().item() == pytest.approx(sum(parts).item(), rel=1e-9)
    assert abs((parts[0] / sum(parts)).item() - 0.5) > 0.02


def test_bad_input():
    phases = [phase(silicon()), phase(aluminium())]
    with pytest.raises(MatgenError, match="sum to 1"):
        xrd.mixture_patterns(torch.tensor([[0.5, 0.6]]), phases)
    with pytest.raises(MatgenError, match=r"must be \(B, 2\)"):
        xrd.mixture_patterns(torch.tensor([[1.0]]), phases)
    with pytest.raises(MatgenError, match="recompute"):
        xrd.phase_pattern(AXIS, xrd.reflections(silicon(), two_theta_range_deg=RANGE), xrd.Instrument(wavelength_angstrom=0.7093))
    with pytest.raises(MatgenError, match="wavelength must be positive"):
        xrd.reflections(silicon(), 0.0)
