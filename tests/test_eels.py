"""EELS forward model and analysis: Drude plasmons, Poisson plural scattering, edges, log-ratio thickness."""

import math

import numpy as np
import pytest
import torch

from matgen.errors import MatgenError
from matgen.physics import eels


pytestmark = pytest.mark.usefixtures("one_thread")  # small tensors: one thread (tests/conftest.py)


LOW = eels.energy_axis_ev(4096, 0.1, -10.0)  # −10 ... 399.5 eV: the whole plural-scattering tail of Al
AL, SI = eels.material("Al"), eels.material("Si")


def test_energy_axis_is_offset_plus_dispersion_times_channel():
    axis = eels.energy_axis_ev(2048, 0.25, -20.0)
    assert axis.dtype == torch.float64 and axis.shape == (2048,)
    assert axis[0].item() == -20.0 and axis[80].item() == 0.0 and axis[-1].item() == pytest.approx(-20 + 0.25 * 2047)


def test_drude_loss_function_peak_and_bethe_sum_rule():
    e = torch.arange(1, 400001, dtype=torch.float64) * 0.005  # 0.005 ... 2000 eV
    for m in (AL, SI):
        elf = eels.drude_loss_function(e, m.plasmon_energy_ev, m.plasmon_width_ev)[0]
        peak = eels.drude_peak_energy_ev(m.plasmon_energy_ev, m.plasmon_width_ev).item()
        assert e[elf.argmax()].item() == pytest.approx(peak, abs=0.005)
        # E_max ≈ √(E_p² − ΔE_p²/4): just below E_p
        assert peak == pytest.approx(math.sqrt(m.plasmon_energy_ev**2 - m.plasmon_width_ev**2 / 4), abs=0.01)
        # ∫ E Im(−1/ε) dE = π E_p² / 2 (the tail beyond 2 keV holds ΔE_p E_p² / 2000 eV of it)
        first_moment = (torch.trapezoid(e * elf, e) + m.plasmon_width_ev * m.plasmon_energy_ev**2 / 2000).item()
        assert first_moment == pytest.approx(math.pi * m.plasmon_energy_ev**2 / 2, rel=1e-3)


def test_zero_loss_peak_has_unit_area_and_the_resolution_as_fwhm():
    axis = eels.energy_axis_ev(4001, 0.005, -10.0)
    z = eels.zero_loss_peak(axis, 0.7)[0]
    assert (z.sum() * 0.005).item() == pytest.approx(1.0, abs=1e-9)
    above = axis[z >= z.max() / 2]
    assert (above[-1] - above[0]).item() == pytest.approx(0.7, abs=0.011)
    tails = eels.zero_loss_peak(axis, 0.7, lorentzian_fraction=0.3)[0]
    assert tails[axis > 5].sum() > 100 * z[axis > 5].sum()  # Lorentzian tails reach far


def test_angular_factor_steepens_the_plasmon_tail():
    plain = eels.plasmon_ssd(LOW, 15.0, 0.53)[0]
    collected = eels.plasmon_ssd(LOW, 15.0, 0.53, collection_semiangle_mrad=10.0)[0]
    for s in (plain, collected):
        assert (s.sum() * 0.1).item() == pytest.approx(1.0, abs=1e-12) and s[LOW < 0].sum() == 0
    at = {e: int(round((e + 10) / 0.1)) for e in (100, 200)}
    drude = eels.drude_loss_function(torch.tensor([100.0, 200.0]), 15.0, 0.53)[0]
    assert plain[at[200]] / plain[at[100]] == pytest.approx((drude[1] / drude[0]).item(), rel=1e-4)
    assert plain[at[200]] / plain[at[100]] == pytest.approx(1 / 8, rel=0.04)  # Drude tail → E^-3
    assert collected[at[200]] / collected[at[100]] < 0.9 * plain[at[200]] / plain[at[100]]  # ln(1 + β²/θ_E²) falls


def test_zero_loss_share_is_exp_minus_t_over_lambda():
    mu = torch.tensor([0.1, 0.5, 1.0, 2.0, 3.0], dtype=torch.float64)
    spectra = eels.low_loss_spectra(LOW, AL.plasmon_energy_ev, AL.plasmon_width_ev, mu, 0.5)
    zlp = eels.zero_loss_peak(LOW, 0.5)
    share = torch.exp(-mu) * zlp.sum(-1) / spectra.sum(-1)
    np.testing.assert_allclose(share.numpy(), torch.exp(-mu).numpy(), rtol=2e-4)
    # nothing inelastic below zero loss: there the spectrum is the scaled ZLP alone
    below = LOW < -3
    np.testing.assert_allclose(spectra[:, below].numpy(), (torch.exp(-mu)[:, None] * zlp[:, below]).numpy(), rtol=1e-9, atol=1e-15)


def test_fourier_log_equals_the_explicit_poisson_sum():
    mu, length = 1.3, len(LOW)
    lattice = eels.energy_axis_ev(4 * length, 0.1)
    s = eels.plasmon_ssd(lattice, 15.0, 0.53)[0].numpy()[:length] * 0.1  # probabilities per channel
    weights = eels.poisson_weights(mu, 20)[0].numpy()
    assert weights.sum() == pytest.approx(1.0, abs=1e-12) and weights[2] / weights[1] == pytest.approx(mu / 2)
    d, fold = np.zeros(length), np.zeros(length)
    fold[0] = 1.0
    for p_n in weights:  # Σ_n P_n s^{⊗n}, one convolution per order
        d += p_n * fold
        fold = np.convolve(fold, s)[:length]
    expected = np.convolve(eels.zero_loss_peak(LOW, 0.5)[0].numpy(), d)[:length]
    got = eels.low_loss_spectra(LOW, 15.0, 0.53, mu, 0.5)[0].numpy()
    assert np.abs(got - expected).max() < 1e-5 * expected.max()


def test_second_plasmon_at_twice_the_first_with_the_poisson_ratio():
    mu = torch.tensor([0.5, 1.0, 1.5], dtype=torch.float64)
    spectra = eels.low_loss_spectra(LOW, 15.0, 0.53, mu, 0.5).numpy()
    x = LOW.numpy()
    first, second = np.abs(x - 15.0) < 6, np.abs(x - 30.0) < 6
    e_max = eels.drude_peak_energy_ev(15.0, 0.53).item()
    for j, m in zip(spectra, mu.tolist()):
        assert j[second].sum() / j[first].sum() == pytest.approx(m / 2, rel=0.02)  # P2 / P1 = (t/λ) / 2
        assert x[second][np.argmax(j[second])] == pytest.approx(2 * e_max, abs=0.06)


@pytest.mark.parametrize("dispersion_ev", [0.1, 0.25])
def test_log_ratio_recovers_thickness_from_noisy_spectra(dispersion_ev):
    axis = eels.energy_axis_ev(2048, dispersion_ev, -10.0)
    mu = torch.tensor([0.2, 0.5, 1.0, 1.5, 2.0] * 2, dtype=torch.float64)
    e_p = torch.tensor([AL.plasmon_energy_ev] * 5 + [SI.plasmon_energy_ev] * 5, dtype=torch.float64)
    width = torch.tensor([AL.plasmon_width_ev] * 5 + [SI.plasmon_width_ev] * 5, dtype=torch.float64)
    resolution = torch.tensor([0.5] * 5 + [1.0] * 5, dtype=torch.float64)
    spectra = eels.low_loss_spectra(axis, e_p, width, mu, resolution, collection_semiangle_mrad=10.0)
    counts = eels.counts_for_total(spectra, 1e6, seed=0)
    np.testing.assert_allclose(eels.thickness_log_ratio(axis, counts), mu.numpy(), rtol=0.02)
    window = eels.thickness_log_ratio(axis, spectra[:1], zlp_window_ev=(-3.0, 3.0))
    assert window[0] == pytest.approx(0.2, rel=1e-3)


def test_plasmon_peak_sits_at_the_drude_maximum():
    axis = eels.energy_axis_ev(2048, 0.1, -10.0)
    spectra = eels.low_loss_spectra(axis, torch.tensor([15.0, 16.7]), torch.tensor([0.53, 3.7]), 0.3, 0.6)
    peaks = eels.plasmon_peak_ev(axis, eels.counts_for_total(spectra, 1e6, seed=4))
    assert peaks[0] == pytest.approx(eels.drude_peak_energy_ev(15.0, 0.53).item(), abs=0.05)
    assert peaks[1] == pytest.approx(eels.drude_peak_energy_ev(16.7, 3.7).item(), abs=0.15)
    assert float(eels.plasmon_peak_ev(axis, spectra[0])) == pytest.approx(14.998, abs=0.01)


CORE = eels.energy_axis_ev(1800, 0.25, 250.0)  # 250 ... 699.75 eV


def test_edges_appear_at_their_onsets():
    spectra = eels.core_loss_spectra(CORE, ["C K", "N K", "O K", "Ti L2,3"], torch.tensor([1.0, 0.3, 0.5, 0.8]), 3.5, 1.0)
    (onsets,) = eels.edge_onsets_ev(CORE, eels.counts_for_total(spectra, 1e8, seed=2))
    assert len(onsets) == 5
    np.testing.assert_allclose(onsets[[0, 1, 4]], [284.0, 401.0, 532.0], atol=0.3)  # K edges: the threshold itself
    np.testing.assert_allclose(onsets[2:4], [456.0, 462.0], atol=1.1)  # Ti L3, L2: the white-line flanks


def test_edge_jump_ratio_over_a_power_law_background():
    spectrum = eels.core_loss_spectra(CORE, ["C K"], 1.5, background_exponent=3.2, resolution_fwhm_ev=1.0)[0].numpy()
    x = CORE.numpy()
    # background × E^r is constant, up to the Gaussian blur of a curved power law: 1 + σ² r (r + 1) / 2E²
    blur = 1 + (1.0 / (2 * math.sqrt(2 * math.log(2)))) ** 2 * 3.2 * 4.2 / (2 * x**2)
    flattened = spectrum * (x / 250.0) ** 3.2 / blur
    np.testing.assert_allclose(flattened[(x > 255) & (x < 279)], 1.0, rtol=1e-6)
    np.testing.assert_allclose(flattened[(x > 289) & (x < 690)], 2.5, rtol=1e-6)  # step = jump × background
    slope = np.polyfit(np.log(x[(x > 255) & (x < 279)]), np.log(spectrum[(x > 255) & (x < 279)]), 1)[0]
    assert slope == pytest.approx(-3.2, abs=1e-4)


def test_white_lines_sit_at_l3_and_l2():
    axis = eels.energy_axis_ev(600, 0.1, 610.0)
    spectrum = eels.core_loss_spectra(axis, ["Mn L2,3"], 1.0, 3.0, 0.5, white_line_height=4.0)[0].numpy()
    x = axis.numpy()
    maxima = np.flatnonzero((spectrum[1:-1] > spectrum[:-2]) & (spectrum[1:-1] > spectrum[2:])) + 1
    np.testing.assert_allclose(x[maxima], [640.0, 651.0], atol=0.2)
    assert spectrum[maxima[0]] > spectrum[maxima[1]]  # L3 : L2 = 2 : 1 in area


def test_plural_scattering_repeats_an_edge_one_plasmon_higher():
    thin, thick = (eels.core_loss_spectra(CORE, ["O K"], 1.0, 3.0, 1.0, thickness_t_over_lambda=t,
                                          plasmon_energy_ev=15.0, plasmon_width_ev=2.0) for t in (0.0, 1.0))
    np.testing.assert_allclose(eels.edge_onsets_ev(CORE, thin)[0], [532.0], atol=0.1)
    np.testing.assert_allclose(eels.edge_onsets_ev(CORE, thick)[0], [532.0, 547.0], atol=0.3)


def test_material_spectra_over_a_low_and_a_core_loss_window():
    low = eels.eels_spectra(eels.energy_axis_ev(4096, 0.25, -10.0), "al", [0.5, 1.0], 0.6, total_counts=1e7, seed=0)
    assert low.material == "Al" and low.edges == ("Al L2,3",)
    assert low.spectra.sum(-1).tolist() == pytest.approx([1e7, 1e7], rel=1e-3)
    # the Al L2,3 edge adds (t/λ) · 1e-4 · 73 / 2 to the inelastic intensity the log-ratio counts
    np.testing.assert_allclose(eels.thickness_log_ratio(low.energy_loss_ev, low.spectra), [0.5, 1.0], rtol=0.01)
    np.testing.assert_allclose(eels.plasmon_peak_ev(low.energy_loss_ev, low.spectra), 15.0, atol=0.05)
    core = eels.eels_spectra(eels.energy_axis_ev(1200, 0.25, 400.0), "SiO2", [0.3, 0.8], 0.8, total_counts=1e7, seed=0)
    assert core.edges == ("Si L2,3", "O K")
    onsets = eels.edge_onsets_ev(core.energy_loss_ev, core.spectra)
    np.testing.assert_allclose(onsets[0], [532.0], atol=0.3)
    np.testing.assert_allclose(onsets[1], [532.0, 532.0 + 22.4], atol=0.5)  # a plasmon replica in the thicker one


def test_counts_for_total_are_poisson_with_the_requested_total():
    rates = eels.low_loss_spectra(eels.energy_axis_ev(512, 0.25, -5.0), 15.0, 2.0, 1.0, 1.0)
    counts = eels.counts_for_total(rates.expand(3000, -1), 2e4, generator=torch.Generator().manual_seed(0))
    totals = counts.sum(-1)
    assert totals.mean().item() == pytest.approx(2e4, rel=3 / math.sqrt(2e4 * 3000))
    assert totals.std().item() == pytest.approx(math.sqrt(2e4), rel=0.05)
    mean, var = counts.mean(0), counts.var(0)
    busy = mean > 20
    assert (var[busy] / mean[busy]).mean().item() == pytest.approx(1.0, abs=0.02)  # index of dispersion of Poisson


def test_sample_i_is_reproducible_whatever_the_batch():
    axis = eels.energy_axis_ev(512, 0.25, -10.0)
    batch = eels.eels_spectra(axis, "Si", [0.5, 1.0, 1.5], total_counts=1e5, seed=10)
    single = eels.eels_spectra(axis, "Si", [1.0], total_counts=1e5, seed=[11])
    assert torch.equal(batch.spectra[1], single.spectra[0]) and batch.seeds.tolist() == [10, 11, 12]
    again = eels.eels_spectra(axis, "Si", [0.5, 1.0, 1.5], total_counts=1e5, seed=10)
    assert torch.equal(batch.spectra, again.spectra)
    other = eels.eels_spectra(axis, "Si", [1.0], total_counts=1e5, seed=[12])
    assert not torch.equal(other.spectra[0], single.spectra[0])


def test_tables_are_complete_and_free_electron_estimates_match():
    assert len(eels.MATERIALS) >= 8 and len(eels.EDGES) >= 20
    for m in eels.MATERIALS.values():
        assert m.source and 0 < m.plasmon_width_ev < m.plasmon_energy_ev and m.edges
        assert all(eels.edge(k).onset_ev > 0 for k in m.edges)
    for e in eels.EDGES.values():
        assert e.l2_onset_ev is None or e.l2_onset_ev > e.onset_ev
    assert eels.edge("mn l23") is eels.EDGES["Mn L2,3"] and eels.material("sio2").name == "SiO2"
    # Egerton Table 3.2 "calculated" column: Al 15.8 eV (z = 3), Si 16.6 eV (z = 4)
    assert eels.free_electron_plasmon_energy_ev(3, 2.70, 26.98) == pytest.approx(15.8, abs=0.05)
    assert eels.free_electron_plasmon_energy_ev(4, 2.33, 28.09) == pytest.approx(16.6, abs=0.05)
    assert eels.free_electron_plasmon_energy_ev(3, 2.70, 26.98) == pytest.approx(AL.plasmon_energy_ev, rel=0.06)


def test_follows_the_axis_dtype_and_device():
    axis = eels.energy_axis_ev(1024, 0.2, -10.0, dtype=torch.float32)
    spectra = eels.low_loss_spectra(axis, 15.0, 0.53, torch.tensor([0.5, 1.0]), 0.6)
    assert spectra.dtype == torch.float32 and spectra.shape == (2, 1024)
    np.testing.assert_allclose(eels.thickness_log_ratio(axis, spectra), [0.5, 1.0], rtol=1e-3)
    if torch.cuda.is_available():
        gpu = eels.low_loss_spectra(axis.cuda(), 15.0, 0.53, torch.tensor([0.5, 1.0]), 0.6)
        assert gpu.is_cuda
        np.testing.assert_allclose(gpu.cpu().numpy(), spectra.numpy(), rtol=1e-4, atol=1e-6)


def test_bad_input():
    with pytest.raises(MatgenError, match="thickness t/λ must be ≥ 0"):
        eels.low_loss_spectra(LOW, 15.0, 0.5, -0.2, 0.5)
    with pytest.raises(MatgenError, match="thickness t/λ must be finite"):
        eels.low_loss_spectra(LOW, 15.0, 0.5, float("nan"), 0.5)
    with pytest.raises(MatgenError, match="unknown material 'Unobtainium'; choose from Li, Na, Mg, Al, Si"):
        eels.eels_spectra(LOW, "Unobtainium", 1.0)
    with pytest.raises(MatgenError, match="unknown edge 'Xx K'; choose from Li K, B K, C K"):
        eels.core_loss_spectra(CORE, ["Xx K"], 1.0)
    with pytest.raises(MatgenError, match="must increase strictly"):
        eels.low_loss_spectra(LOW.flip(0), 15.0, 0.5, 1.0)
    with pytest.raises(MatgenError, match="evenly spaced"):
        eels.low_loss_spectra(torch.linspace(1, 20, 64) ** 2, 15.0, 0.5, 1.0)
    with pytest.raises(MatgenError, match="NaN or inf"):
        eels.low_loss_spectra(torch.cat([LOW[:-1], torch.tensor([float("nan")], dtype=LOW.dtype)]), 15.0, 0.5, 1.0)
    with pytest.raises(MatgenError, match="energy resolution FWHM"):
        eels.low_loss_spectra(LOW, 15.0, 0.5, 1.0, 0.0)
    with pytest.raises(MatgenError, match="same length"):
        eels.low_loss_spectra(LOW, torch.tensor([15.0, 16.0]), 0.5, torch.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(MatgenError, match="must start above 0 eV"):
        eels.core_loss_spectra(LOW, ["C K"], 1.0)
    with pytest.raises(MatgenError, match=r"edge_jump must be a number, \(E,\) or a finite \(B, E\) = \(1, 2\)"):
        eels.core_loss_spectra(CORE, ["C K", "O K"], torch.ones(3))
    with pytest.raises(MatgenError, match="either seed or generator"):
        eels.eels_spectra(LOW, "Al", 1.0, total_counts=1e4, seed=1, generator=torch.Generator())
    with pytest.raises(MatgenError, match="NaN or inf; clean or crop"):
        eels.thickness_log_ratio(LOW, torch.full((4096,), float("nan")))
    with pytest.raises(MatgenError, match="must contain the zero-loss peak"):
        eels.thickness_log_ratio(CORE, torch.ones(1800))


# --------------------------------------------------------------------------- real spectra


def test_real_low_loss_thickness_and_plasmon_are_plausible(shared_data):
    from matgen.data.importers.gatan import read_hspy
    from matgen.data.importers.msa import read_msa

    folder = shared_data / "eels/exspy_hyperspy_testdata"
    for (record,) in (read_msa(folder / "lowloss_spectrum.msa"), read_hspy(folder / "Cr_L_ll.hspy")):
        t = float(eels.thickness_log_ratio(record.x, record.y))
        assert 0.1 < t < 3.0
        # the ZLP area by mirroring its low-energy half agrees with the area between the minima
        top = np.argmax(np.where(np.abs(record.x) < 2, record.y, -np.inf))
        step = np.mean(np.diff(record.x))
        mirrored = np.log(record.y.sum() / (2 * record.y[:top].sum() + record.y[top]))
        assert t == pytest.approx(mirrored, rel=0.15)
        assert 15 < float(eels.plasmon_peak_ev(record.x, record.y)) < 35
        assert step > 0


def test_real_core_loss_edges_are_found(shared_data):
    from matgen.data.importers.gatan import read_hspy
    from matgen.data.importers.msa import read_msa

    folder = shared_data / "eels/exspy_hyperspy_testdata"
    (record,) = read_msa(folder / "coreloss_spectrum.msa")  # Mn oxide: O K and Mn L2,3, axis not calibrated to < 7 eV
    (onsets,) = eels.edge_onsets_ev(record.x, record.y)
    o_k = onsets[np.argmin(np.abs(onsets - 532))]
    l3 = onsets[np.argmin(np.abs(onsets - 640))]
    l2 = onsets[np.argmin(np.abs(onsets - 651 - (l3 - 640)))]
    assert abs(o_k - 532) < 7 and abs(l3 - 640) < 7
    assert l2 - l3 == pytest.approx(651 - 640, abs=1.0)  # spin-orbit splitting: independent of the offset
    (chromium,) = read_hspy(folder / "Cr_L_cl.hspy")
    (cr_onsets,) = eels.edge_onsets_ev(chromium.x, chromium.y)
    assert cr_onsets[0] == pytest.approx(eels.edge("Cr L2,3").onset_ev, abs=3.0)


def test_tabulated_mn_edge_matches_real_mno(shared_data):
    def l3_peak_ev(name):
        data = np.loadtxt(shared_data / f"eels/mn_L23_mnedgenet/{name}.csv", delimiter=",", skiprows=1, encoding="utf-8-sig")
        return data[np.argmax(data[:, 1]), 0]

    assert l3_peak_ev("Data3_MnO") == pytest.approx(eels.edge("Mn L2,3").onset_ev, abs=1.0)
    # the L3 maximum moves up with the Mn valence: Mn²⁺ < Mn³⁺ < Mn⁴⁺
    assert l3_peak_ev("Data3_MnO") < l3_peak_ev("Data3_LaMnO3") < l3_peak_ev("Data3_MnO2")
