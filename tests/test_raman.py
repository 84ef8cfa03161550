"""Raman forward model and band picking: table positions, heating, stress, mixtures, spikes, real RRUFF spectra."""

import csv
import math

import numpy as np
import pytest
import torch

from matgen.common.seeding import sample_generators
from matgen.errors import MatgenError
from matgen.physics import raman

AXIS = torch.arange(50.0, 3200.0, 0.5, dtype=torch.float64)
X = AXIS.numpy()
#: Strongest bands of the demo's example minerals (matgen.demo takes its bands from this table).
DEMO_STRONGEST_CM1 = {"quartz": 464.0, "calcite": 1086.0, "diamond": 1332.0, "anatase": 144.0, "rutile": 447.0,
                      "gypsum": 1008.0}


def single_band(position_cm1=500.0, fwhm_cm1=4.0, **coefficients):
    return raman.RamanPhase("test", "X", (raman.RamanBand(position_cm1, 1.0, fwhm_cm1),), "a test band", **coefficients)


def window_area(x, y, lo, hi):
    inside = (x >= lo) & (x <= hi)
    return float(np.trapezoid(y[inside], x[inside]))


def measured_fwhm(x, y, near_cm1):
    inside = np.abs(x - near_cm1) < 30
    xs, ys = x[inside], y[inside]
    half = ys.max() / 2
    i, j = np.flatnonzero(ys >= half)[[0, -1]]
    left = np.interp(half, ys[i - 1:i + 1], xs[i - 1:i + 1])
    right = np.interp(half, ys[j:j + 2][::-1], xs[j:j + 2][::-1])
    return right - left


def test_table_has_documented_phases_and_aliases():
    assert len(raman.RAMAN_PHASES) >= 14
    for name, phase in raman.RAMAN_PHASES.items():
        assert name == phase.name == name.lower() and len(phase.source) > 40
        assert phase.strongest.intensity == 1.0
    for name, position in DEMO_STRONGEST_CM1.items():
        assert raman.raman_phase(name).strongest.position_cm1 == position
    assert raman.raman_phase("Si").strongest.position_cm1 == 520.7
    assert raman.raman_phase("ZnO") is raman.RAMAN_PHASES["zincite"]
    assert raman.raman_phase(" MoS2 ") is raman.RAMAN_PHASES["molybdenite"]
    assert raman.raman_phase("QUARTZ") is raman.RAMAN_PHASES["quartz"]
    graphite = raman.raman_phase("graphite")
    assert [b.position_cm1 for b in graphite.bands] == [1350.0, 1582.0, 2700.0]
    assert raman.RAMAN_PHASES["silicon"].generic == ()
    assert set(raman.RAMAN_PHASES["calcite"].generic) == {
        "temperature_shift_cm1_k", "temperature_broadening_cm1_k", "pressure_shift_cm1_gpa"}
    generic_dw_dp = 1086 * raman.GENERIC_PRESSURE_SHIFT_PER_GPA  # 5.4 cm⁻¹/GPa
    assert raman.RAMAN_PHASES["calcite"].pressure_shift_cm1_gpa == pytest.approx(generic_dw_dp)


@pytest.mark.parametrize("name", sorted(raman.RAMAN_PHASES))
def test_strongest_band_lands_at_the_table_position(name):
    phase = raman.RAMAN_PHASES[name]
    y = raman.band_spectrum(AXIS, name)[0].numpy()
    assert raman.strongest_band_cm1(X, y) == pytest.approx(phase.strongest.position_cm1, abs=0.3)
    assert y.max() == pytest.approx(1.0, rel=0.03)  # unit height at 295 K (plus neighbours' tails)


def test_heating_shifts_and_widens_by_the_coefficients():
    silicon = raman.RAMAN_PHASES["silicon"]
    hot = raman.band_spectrum(AXIS, "silicon", temperature_k=torch.tensor([295.0, 595.0])).numpy()  # (2, L)
    positions = raman.strongest_band_cm1(X, hot)
    assert positions[0] == pytest.approx(520.7, abs=0.02)
    assert positions[1] - positions[0] == pytest.approx(silicon.temperature_shift_cm1_k * 300, abs=0.05)  # -6.6
    fine = torch.arange(480.0, 560.0, 0.01, dtype=torch.float64)
    fine_spectra = raman.band_spectrum(fine, "silicon", temperature_k=torch.tensor([295.0, 595.0]))
    widths = [measured_fwhm(fine.numpy(), row.numpy(), center) for row, center in zip(fine_spectra, positions)]
    assert widths == pytest.approx([3.5, 3.5 + silicon.temperature_broadening_cm1_k * 300], abs=0.01)  # 3.5 -> 6.5
    # generic slope for quartz: (1/ω) dω/dT = -2.5e-5 / K
    quartz = raman.band_spectrum(AXIS, "quartz", temperature_k=495.0)[0].numpy()
    assert raman.strongest_band_cm1(X, quartz) - 464.0 == pytest.approx(-2.5e-5 * 464 * 200, abs=0.05)


def test_band_area_follows_bose_einstein_and_anti_stokes_is_boltzmann():
    phase = single_band(500.0, 4.0)
    x = torch.arange(-1500.0, 1500.0, 0.05, dtype=torch.float64)
    xs = x.numpy()
    cold, hot = raman.band_spectrum(x, phase, temperature_k=torch.tensor([295.0, 600.0])).numpy()
    omega_hot = 500.0 + phase.temperature_shift_cm1_k * (600 - 295)

    def n(omega, t):
        return 1 / math.expm1(raman.C2_CM_K * omega / t)

    def inside(omega, fwhm, lo, hi):  # share of a Lorentzian's area between lo and hi
        return (math.atan((hi - omega) / (fwhm / 2)) - math.atan((lo - omega) / (fwhm / 2))) / math.pi

    def expected_windows(stokes, omega, fwhm, t):  # Stokes area and its anti-Stokes partner exp(-c2 ω / T) as large
        anti_stokes = stokes * math.exp(-raman.C2_CM_K * omega / t)
        return [stokes * inside(omega, fwhm, lo, hi) + anti_stokes * inside(-omega, fwhm, lo, hi)
                for lo, hi in ((0, 1500), (-1500, 0))]

    stokes_cold = math.pi * 4.0 / 2  # unit height × πΓ/2
    stokes_hot = stokes_cold * (n(omega_hot, 600) + 1) / (n(500, 295) + 1)  # Bose–Einstein
    fwhm_hot = 4.0 + phase.temperature_broadening_cm1_k * (600 - 295)
    for y, expected in ((cold, expected_windows(stokes_cold, 500.0, 4.0, 295)),
                        (hot, expected_windows(stokes_hot, omega_hot, fwhm_hot, 600))):
        measured = [window_area(xs, y, 0, 1500), window_area(xs, y, -1500, 0)]
        assert measured == pytest.approx(expected, rel=1e-4)
    assert xs[np.argmax(np.where(xs < 0, hot, 0))] == pytest.approx(-omega_hot, abs=0.05)


def test_compression_raises_and_tension_lowers_the_bands():
    stress = torch.tensor([0.0, 2.0, -1.0])
    silicon = raman.strongest_band_cm1(X, raman.band_spectrum(AXIS, "silicon", stress_gpa=stress).numpy())
    np.testing.assert_allclose(silicon - 520.7, [0.0, 2 * 5.2, -5.2], atol=0.03)
    diamond = raman.strongest_band_cm1(X, raman.band_spectrum(AXIS, "diamond", stress_gpa=stress).numpy())
    np.testing.assert_allclose(diamond - 1332.0, [0.0, 2 * 2.9, -2.9], atol=0.03)
    # quartz: the 206 cm⁻¹ soft mode moves twice as fast as the 464 band (Asell & Nicol 1968)
    squeezed = raman.band_spectrum(AXIS, "quartz", stress_gpa=2.0)[0].numpy()
    found = raman.band_positions_cm1(X, squeezed, min_height=0.2)
    assert found[np.argmin(np.abs(found - 482))] == pytest.approx(464 + 2 * 9.0, abs=0.1)
    assert found[np.argmin(np.abs(found - 242))] == pytest.approx(206 + 2 * 18.0, abs=0.3)


def test_fractions_scale_spectra_and_band_areas_linearly():
    fractions = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.25, 0.75], [0.5, 0.5]], dtype=torch.float64)
    y = raman.raman_spectra(AXIS, ["quartz", "calcite"], fractions).numpy()
    np.testing.assert_allclose(y[2], 0.25 * y[0] + 0.75 * y[1], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(y[3], 0.5 * y[0] + 0.5 * y[1], rtol=1e-12, atol=1e-15)
    # at 295 K every band has area fraction × height × πΓ/2, so a window holds a closed-form sum
    phases = ["diamond", "silicon"]
    fractions = torch.tensor([[0.2, 0.8], [0.7, 0.3]], dtype=torch.float64)
    y = raman.raman_spectra(AXIS, phases, fractions).numpy()

    def expected_area(row_fractions, lo, hi):
        total = 0.0
        for name, f in zip(phases, row_fractions):
            for b in raman.raman_phase(name).bands:
                half = b.fwhm_cm1 / 2
                share = (math.atan((hi - b.position_cm1) / half) - math.atan((lo - b.position_cm1) / half)) / math.pi
                total += f * b.intensity * math.pi * half * share
        return total

    for row, row_fractions in zip(y, fractions.tolist()):
        for lo, hi in ((1300, 1364), (490, 550)):  # the diamond line, the silicon line
            assert window_area(X, row, lo, hi) == pytest.approx(expected_area(row_fractions, lo, hi), rel=1e-3)


def test_laser_moves_dispersive_carbon_bands_and_fluorescence():
    lasers = torch.tensor([532.0, 785.0])
    graphite = raman.band_spectrum(AXIS, "graphite", laser_nm=lasers).numpy()
    de_ev = 1239.841984 / 785 - 1239.841984 / 532  # -0.751 eV
    d_band = [raman.band_positions_cm1(X, row, min_height=0.1) for row in graphite]
    shifts = [found[np.argmin(np.abs(found - target))] for found, target in
              zip(d_band, (1350.0, 1350.0 + 50 * de_ev))]
    assert shifts[1] - shifts[0] == pytest.approx(50 * de_ev, abs=0.3)  # D: ~50 cm⁻¹/eV
    assert raman.strongest_band_cm1(X, graphite).tolist() == pytest.approx([1582.0, 1582.0], abs=0.02)  # G: none
    glow = raman.fluorescence_background(AXIS, lasers, 1.0).numpy()
    at_1000 = np.argmin(np.abs(X - 1000))
    assert glow[1, at_1000] < 0.05 * glow[0, at_1000]  # a red laser excites far less fluorescence


def test_spikes_are_removed_before_band_picking():
    kwargs = dict(peak_counts=1e5, seed=3)
    clean = raman.raman_spectra(AXIS, ["silicon"], torch.ones(4, 1, dtype=torch.float64), **kwargs).numpy()
    spiky = raman.raman_spectra(AXIS, ["silicon"], torch.ones(4, 1, dtype=torch.float64), spike_rate=20,
                                spike_height=(2.0, 20.0), **kwargs).numpy()
    assert (spiky - clean).max() > 2 and ((spiky - clean) > 0).sum() >= 4 * 10
    for c, s in zip(clean, spiky):
        assert np.abs(raman.despike(s) - c).max() < 0.05
    assert raman.strongest_band_cm1(X, spiky).tolist() == pytest.approx([520.7] * 4, abs=0.1)


def test_band_positions_recovered_from_noisy_spectra_with_fluorescence_and_spikes():
    x = torch.arange(100.0, 1800.0, 1.0, dtype=torch.float64)
    phases = ["quartz", "calcite", "silicon"]
    fractions = torch.tensor([[0.4, 0.3, 0.3]], dtype=torch.float64).repeat(8, 1)
    y = raman.raman_spectra(x, phases, fractions, fluorescence=3.0, spike_rate=5, peak_counts=3e4, seed=0).numpy()
    bands = [(b.position_cm1, b.intensity * f) for p, f in zip(phases, fractions[0].tolist())
             for b in raman.raman_phase(p).bands if 100 < b.position_cm1 < 1800]
    strong = [position for position, height in bands if height >= 0.1]
    assert len(strong) == 6  # 128, 206, 281, 464, 520.7, 1086
    for row in y:
        found = raman.band_positions_cm1(x.numpy(), row)
        assert max(np.abs(found - position).min() for position in strong) < 1.0
        assert max(min(abs(q - position) for position, _ in bands) for q in found) < 3.0  # nothing spurious


def test_seeds_make_each_sample_reproducible_whatever_the_batch():
    kwargs = dict(fluorescence=2.0, spike_rate=3, peak_counts=500, read_noise_counts=3)
    fractions = torch.tensor([[0.2, 0.8], [0.5, 0.5], [0.9, 0.1]], dtype=torch.float64)
    batch = raman.raman_spectra(AXIS, ["anatase", "rutile"], fractions, seed=[5, 6, 7], **kwargs)
    alone = raman.raman_spectra(AXIS, ["anatase", "rutile"], fractions[1:2], seed=[6], **kwargs)
    assert torch.equal(batch[1], alone[0])
    assert torch.equal(batch, raman.raman_spectra(AXIS, ["anatase", "rutile"], fractions, seed=5, **kwargs))
    other = raman.raman_spectra(AXIS, ["anatase", "rutile"], fractions, seed=50, **kwargs)
    assert not torch.equal(batch, other)
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    assert torch.equal(raman.raman_spectra(AXIS, ["anatase"], fractions[:, :1], generator=g1, **kwargs),
                       raman.raman_spectra(AXIS, ["anatase"], fractions[:, :1], generator=g2, **kwargs))


def test_follows_the_axis_dtype_and_device():
    axis32 = AXIS.to(torch.float32)
    y = raman.raman_spectra(axis32, ["diamond"], [[1.0]], temperature_k=400.0, peak_counts=1e4, seed=0)
    assert y.dtype == torch.float32 and y.shape == (1, len(AXIS))
    if torch.cuda.is_available():
        kwargs = dict(temperature_k=400.0, fluorescence=1.0, spike_rate=3, seed=0)  # no Poisson: draws depend on rates
        on_gpu = raman.raman_spectra(AXIS.cuda(), ["diamond", "silicon"], [[0.5, 0.5]], **kwargs)
        assert on_gpu.device.type == "cuda"
        on_cpu = raman.raman_spectra(AXIS, ["diamond", "silicon"], [[0.5, 0.5]], **kwargs)
        torch.testing.assert_close(on_gpu.cpu(), on_cpu)


def test_noise_is_poisson_and_spikes_come_at_the_given_rate():
    generators = sample_generators(4, seed=0)
    flat = torch.full((4, 20000), 0.5, dtype=torch.float64)
    noisy = raman.shot_noise(flat, peak_counts=1000.0, generators=generators)
    assert noisy.mean().item() == pytest.approx(0.5, rel=2e-3)
    assert noisy.var().item() == pytest.approx(0.5 / 1000, rel=0.03)  # Poisson: variance = mean counts
    assert torch.equal(noisy * 1000, torch.round(noisy * 1000))  # whole counts
    spikes = raman.cosmic_spikes(1500, 200, rate=2.0, height=(3.0, 30.0))
    first = (spikes > 0) & ~torch.cat([torch.zeros(1500, 1, dtype=torch.bool), spikes[:, :-1] > 0], 1)
    assert first.sum(1).double().mean().item() == pytest.approx(2.0, rel=0.1)  # events per spectrum
    assert spikes.max().item() <= 2 * 30.0 and spikes[first].min().item() >= 3.0


def test_bad_input():
    with pytest.raises(MatgenError, match=r"unknown Raman phase 'unobtainium'; choose from .*quartz"):
        raman.raman_phase("unobtainium")
    with pytest.raises(MatgenError, match=r"fractions must be \(B, 2\)"):
        raman.raman_spectra(AXIS, ["quartz", "calcite"], torch.ones(3))
    with pytest.raises(MatgenError, match="non-negative"):
        raman.raman_spectra(AXIS, ["quartz", "calcite"], [[-0.1, 0.5]])
    with pytest.raises(MatgenError, match="sum to at most 1"):
        raman.raman_spectra(AXIS, ["quartz", "calcite"], [[0.7, 0.5]])
    with pytest.raises(MatgenError, match="NaN"):
        raman.raman_spectra(AXIS, ["quartz", "calcite"], [[float("nan"), 0.5]])
    with pytest.raises(MatgenError, match="positive absolute temperature"):
        raman.raman_spectra(AXIS, ["quartz"], [[1.0]], temperature_k=-20.0)
    with pytest.raises(MatgenError, match="one value per sample"):
        raman.raman_spectra(AXIS, ["quartz"], [[1.0], [0.5]], stress_gpa=[1.0, 2.0, 3.0])
    with pytest.raises(MatgenError, match="either seed or generator"):
        raman.raman_spectra(AXIS, ["quartz"], [[1.0]], seed=1, generator=torch.Generator())
    with pytest.raises(MatgenError, match="needs at least one band"):
        raman.RamanPhase("empty", "X", (), "none")
    spectrum = raman.band_spectrum(AXIS, "quartz")[0].numpy()
    with pytest.raises(MatgenError, match="1 NaN/inf channels"):
        raman.band_positions_cm1(X, np.where(np.arange(len(X)) == 10, np.nan, spectrum))
    with pytest.raises(MatgenError, match="increase strictly"):
        raman.band_positions_cm1(X[::-1], spectrum)


def test_rruff_strongest_bands_match_the_table(shared_data):
    from matgen.data.importers.spectra import import_spectra

    folder = shared_data / "raman_rruff"
    with (folder / "labels.csv").open(encoding="utf-8-sig") as f:
        rows = [row for row in csv.DictReader(f) if row["mineral"].lower() in raman.RAMAN_PHASES]
    ds = import_spectra([folder / row["file"] for row in rows]).dataset  # the mineral comes from each header
    x = ds.axis.values
    minerals = ds.conditions["mineral"].labels()
    compared = {}
    for mineral in sorted(set(minerals)):
        phase = raman.raman_phase(mineral)
        inside = [b for b in phase.bands if x[0] < b.position_cm1 < x[-1]]
        if not inside:  # diamond's 1332 cm⁻¹ line lies beyond this 200-1199 cm⁻¹ axis
            continue
        expected = max(inside, key=lambda b: b.intensity).position_cm1
        compared[phase.name] = (raman.strongest_band_cm1(x, ds.signals[minerals == mineral].mean(axis=0)), expected)
    assert {"quartz", "calcite", "aragonite", "gypsum", "hematite", "zircon", "forsterite"} <= set(compared)
    for name, (measured, expected) in compared.items():
        assert measured == pytest.approx(expected, abs=3.0), name  # zircon: metamict natural grains sit ~3 lower
