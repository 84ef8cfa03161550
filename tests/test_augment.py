"""Physics-informed augmentation: each effect against its closed form, the bounds, labels, flags, counts, seeds."""

import json
import math

import numpy as np
import pytest

from matgen.augment import (
    EelsBounds, RamanBounds, XrdBounds, augment, factor_parents, physics_augment, physics_bounds,
)
from matgen.augment import effects as fx
from matgen.augment.physics import perturb_eels, perturb_raman, perturb_xrd
from matgen.data import Axis, Condition, Dataset, read, write
from matgen.errors import MatgenError

pytestmark = pytest.mark.usefixtures("one_thread")


def lorentzian(x, centre, fwhm):
    return 1.0 / (1.0 + ((x - centre) / (fwhm / 2)) ** 2)


def gaussian(x, centre, fwhm):
    return np.exp(-0.5 * ((x - centre) / (fwhm / fx.FWHM_PER_SIGMA)) ** 2)


def fwhm_of(x, y):
    """Full width at half maximum of the single peak in y, with linearly interpolated crossings."""
    top = int(np.argmax(y))
    half = y[top] / 2
    left = top - np.argmax(y[top::-1] < half)
    right = top + np.argmax(y[top:] < half)
    x_left = np.interp(half, [y[left], y[left + 1]], [x[left], x[left + 1]])
    x_right = np.interp(half, [y[right], y[right - 1]], [x[right], x[right - 1]])
    return x_right - x_left


def vertex(x, y):
    """The peak position refined by a parabola through the top three points."""
    i = int(np.argmax(y))
    a, b, c = y[i - 1], y[i], y[i + 1]
    return x[i] + 0.5 * (a - c) / (a - 2 * b + c) * (x[1] - x[0])


@pytest.fixture(scope="module")
def raman_set():
    from matgen.builders import build

    return build("raman", n=90, points=512, seed=3, minerals=("quartz", "calcite", "rutile", "diamond", "gypsum"))


def only(bounds_class, **values):
    """Bounds with every effect off except ``values``."""
    zero = {name: 0.0 for name in bounds_class().to_dict() if not name.endswith("_length_cm1")
            and not name.endswith("_length_deg")}
    return bounds_class().override({**zero, **values})


# --------------------------------------------------------------------------- effects against closed forms


def test_shift_moves_a_band_by_the_shift_within_a_grid_step():
    x = np.linspace(200, 1200, 2001)  # 0.5 cm-1 grid
    y = lorentzian(x, 464.0, 8.0)
    for shift in (-2.7, 0.3, 3.0):
        moved = fx.shift_spectrum(x, y, shift)
        assert x[np.argmax(moved)] - 464.0 == pytest.approx(shift, abs=0.5)
        assert vertex(x, moved) - vertex(x, y) == pytest.approx(shift, abs=0.02)
    assert fx.shift_spectrum(x, np.ones_like(x), 50.0) == pytest.approx(np.ones_like(x))  # ends held, no gap


def test_gaussian_broadening_adds_widths_in_quadrature():
    x = np.linspace(0, 200, 4001)
    w = 6.0
    for b in (2.0, 8.0, 15.0):
        broadened = fx.gaussian_broaden(x, gaussian(x, 100.0, w), b)
        assert fwhm_of(x, broadened) == pytest.approx(math.hypot(w, b), rel=5e-3)
    lor = fx.gaussian_broaden(x, lorentzian(x, 100.0, w), 8.0)  # a Voigt: Olivero & Longbothum 1977
    voigt = 0.5346 * w + math.sqrt(0.2166 * w ** 2 + 8.0 ** 2)
    assert fwhm_of(x, lor) == pytest.approx(voigt, rel=0.01)
    assert fx.gaussian_broaden(x, np.full_like(x, 3.0), 20.0) == pytest.approx(np.full_like(x, 3.0))
    assert np.array_equal(fx.gaussian_broaden(x, lor, 0.0), lor)


def test_xrd_strain_moves_peaks_by_braggs_law_more_at_high_angle():
    x = np.linspace(10, 140, 13001)  # 0.01 deg
    y = gaussian(x, 30.0, 0.1) + gaussian(x, 120.0, 0.1)
    strain = 0.003
    strained = fx.strain_two_theta(x, y, strain)
    low, high = x < 75, x >= 75
    found_low, found_high = vertex(x[low], strained[low]), vertex(x[high], strained[high])
    assert found_low == pytest.approx(fx.bragg_peak_two_theta_deg(30.0, strain), abs=2e-3)
    assert found_high == pytest.approx(fx.bragg_peak_two_theta_deg(120.0, strain), abs=2e-3)
    # Δ2θ ≈ −2 s tan θ: about −0.092° at 30°, −0.595° at 120°
    assert found_low - 30 == pytest.approx(-2 * strain * math.degrees(math.tan(math.radians(15))), rel=0.02)
    assert found_high - 120 == pytest.approx(-2 * strain * math.degrees(math.tan(math.radians(60))), rel=0.02)


def test_scherrer_broadening_grows_as_one_over_cos_theta():
    x = np.linspace(10, 140, 13001)
    w, beta0 = 0.1, 0.08
    y = gaussian(x, 30.0, w) + gaussian(x, 120.0, w)
    out = fx.gaussian_broaden(x, y, fx.scherrer_fwhm_deg(x, beta0))
    for centre in (30.0, 120.0):
        part = np.abs(x - centre) < 5
        expected = math.hypot(w, beta0 / math.cos(math.radians(centre / 2)))
        assert fwhm_of(x[part], out[part]) == pytest.approx(expected, rel=0.01)
    assert fx.scherrer_size_nm(0.05, 1.5406) == pytest.approx(158.9, abs=0.5)


def test_noise_level_is_the_fraction_at_the_maximum_and_poisson_shaped():
    rng = np.random.default_rng(0)
    flat = np.full(40000, 200.0)
    noisy = fx.poisson_shaped_noise(flat, 0.02, 200.0, rng)
    assert np.std(noisy - flat) == pytest.approx(0.02 * 200.0, rel=0.03)
    quarter = fx.poisson_shaped_noise(np.full(40000, 50.0), 0.02, 200.0, rng)  # σ ∝ √y: half the std at a quarter level
    assert np.std(quarter - 50.0) == pytest.approx(0.5 * 0.02 * 200.0, rel=0.03)


def test_eels_thickness_change_matches_the_forward_model():
    from matgen.physics import eels

    axis = eels.energy_axis_ev(1024, 0.2, -5.0)
    x = axis.numpy()
    al = eels.material("Al")

    def spectrum(t):
        return eels.low_loss_spectra(axis, al.plasmon_energy_ev, al.plasmon_width_ev, t, 1.0)[0].numpy()

    for t, delta in ((0.5, 0.3), (1.0, -0.4)):
        changed = fx.change_thickness(x, spectrum(t), delta)
        target = spectrum(t + delta)
        assert np.abs(changed - target).max() < 1e-3 * target.max()
        assert eels.thickness_log_ratio(x, changed) == pytest.approx(t + delta, abs=2e-3)
    counts = np.random.default_rng(1).poisson(spectrum(0.5) * 1e5) / 1e5  # with shot noise
    assert eels.thickness_log_ratio(x, fx.change_thickness(x, counts, 0.3)) == pytest.approx(0.8, abs=0.01)
    core = x + 100  # an axis without the zero-loss peak: left as it is
    assert np.array_equal(fx.change_thickness(core, spectrum(0.5), 0.3), spectrum(0.5))


# --------------------------------------------------------------------------- bounds


def test_no_effect_exceeds_its_bound_over_many_draws():
    x = np.linspace(200, 1200, 2001)
    y = 100 * lorentzian(x, 700.0, 8.0)
    shifts, scales = [], []
    for seed in range(150):
        rng = np.random.default_rng(seed)
        out, drawn = perturb_raman(x, y, only(RamanBounds, shift_cm1=3.0), rng)
        shifts.append(vertex(x, out) - 700.0)
        assert abs(drawn["shift_cm1"]) <= 3.0
        out, _ = perturb_raman(x, y, only(RamanBounds, intensity_scale=0.1), np.random.default_rng(seed))
        scales.append(out.max() / y.max())
        out, _ = perturb_raman(x, y, only(RamanBounds, fluorescence=0.1), np.random.default_rng(seed))
        assert 0 <= (out - y).min() and (out - y).max() <= 0.1 * y.max() + 1e-9
        out, _ = perturb_raman(x, y, only(RamanBounds, orientation=0.2), np.random.default_rng(seed))
        ratio = out[y > 1] / y[y > 1]
        assert ratio.min() >= math.exp(-0.2) - 1e-12 and ratio.max() <= math.exp(0.2) + 1e-12
        out, _ = perturb_raman(x, y, only(RamanBounds, spike_rate=3.0, spike_height=0.5), np.random.default_rng(seed))
        assert 0 <= (out - y).min() and (out - y).max() <= 0.5 * y.max() + 1e-9
    assert max(np.abs(shifts)) <= 3.0 + 0.02 and max(np.abs(shifts)) > 2.5  # the bound is reached, not passed
    assert 0.9 - 1e-9 <= min(scales) and max(scales) <= 1.1 + 1e-9


def test_xrd_and_eels_pipelines_stay_within_their_bounds():
    x = np.linspace(10, 80, 3501)
    y = 1000 * gaussian(x, 60.0, 0.1)
    for seed in range(40):
        out, drawn = perturb_xrd(x, y, only(XrdBounds, zero_shift_deg=0.05), np.random.default_rng(seed))
        assert abs(vertex(x, out) - 60.0) <= 0.05 + 1e-3 and abs(drawn["zero_shift_deg"]) <= 0.05
        out, drawn = perturb_xrd(x, y, only(XrdBounds, background=0.05), np.random.default_rng(seed))
        assert 0 <= (out - y).min() and (out - y).max() <= 0.05 * 1000 + 1e-9
        out, drawn = perturb_xrd(x, y, XrdBounds(), np.random.default_rng(seed))
        assert abs(drawn["strain"]) <= 0.002 and drawn["size_broadening_deg"] <= 0.05
    e = np.linspace(-5, 100, 526)
    spectrum = gaussian(e, 0.0, 1.0) + 0.2 * gaussian(e, 15.0, 4.0)
    for seed in range(20):
        out, drawn = perturb_eels(e, spectrum, only(EelsBounds, drift_ev=0.2), np.random.default_rng(seed))
        assert abs(vertex(e, out)) <= 0.2 + 1e-3 and abs(drawn["drift_ev"]) <= 0.2


def test_bounds_defaults_overrides_and_errors():
    raman = physics_bounds("raman")
    assert isinstance(raman, RamanBounds) and raman.shift_cm1 == 3.0
    assert physics_bounds("raman", {"shift-cm1": "5", "noise": 0}).shift_cm1 == 5.0
    assert physics_bounds("xrd").strain == 0.002 and physics_bounds("eels").thickness == 0.1
    with pytest.raises(MatgenError, match="unknown raman bound 'shift_deg'; choose from .*shift_cm1"):
        physics_bounds("raman", {"shift_deg": 1})
    with pytest.raises(MatgenError, match="must be a finite number ≥ 0"):
        physics_bounds("raman", {"noise": -1})
    with pytest.raises(MatgenError, match="intensity_scale must be < 1"):
        physics_bounds("xrd", {"intensity_scale": 1.5})
    with pytest.raises(MatgenError, match="'x' is not a number"):
        physics_bounds("eels", {"drift_ev": "x"})
    with pytest.raises(MatgenError, match="physics augmentation is for spectra .* not micrograph"):
        physics_bounds("micrograph")


# --------------------------------------------------------------------------- rows: labels, flags, counts, seeds


def test_labels_are_kept_and_a_real_only_classifier_calls_augmented_quartz_quartz(raman_set):
    ds = raman_set
    labels = ds.conditions["mineral"].labels()
    out = augment(ds, factor=2, seed=5)
    syn = np.flatnonzero(out.synthetic)
    parent_of = {str(i): k for k, i in enumerate(ds.ids)}
    for row in syn:
        parent = parent_of[str(out.ids[row]).split("~")[0]]
        assert out.conditions["mineral"].labels()[row] == labels[parent]
        assert out.conditions["temperature"].values[row] == ds.conditions["temperature"].values[parent]

    def unit(s):
        s = s - np.median(s, axis=-1, keepdims=True)
        return s / np.linalg.norm(s, axis=-1, keepdims=True)

    classes = sorted(set(labels))
    centroids = np.stack([unit(ds.signals[labels == c]).mean(0) for c in classes])  # real rows only
    quartz = syn[out.conditions["mineral"].labels()[syn] == "quartz"]
    assert len(quartz) >= 20
    predicted = np.asarray(classes)[np.argmax(unit(out.signals[quartz]) @ centroids.T, axis=1)]
    assert (predicted == "quartz").all()
    real_accuracy = np.mean(np.asarray(classes)[np.argmax(unit(ds.signals) @ centroids.T, axis=1)] == labels)
    all_predicted = np.asarray(classes)[np.argmax(unit(out.signals[syn]) @ centroids.T, axis=1)]
    synthetic_accuracy = np.mean(all_predicted == out.conditions["mineral"].labels()[syn])
    assert synthetic_accuracy >= min(0.97, real_accuracy - 0.02)  # as recognisable as the real rows (98.9 %)


def test_originals_unchanged_flags_ids_sources_and_provenance(raman_set, tmp_path):
    ds = raman_set
    out = augment(ds, factor=1, seed=7, bounds={"shift_cm1": 2})
    n = len(ds)
    assert np.array_equal(out.signals[:n], ds.signals) and list(out.ids[:n]) == list(ds.ids)
    assert not out.synthetic[:n].any() and out.synthetic[n:].all() and len(out) == 2 * n
    for name, cond in ds.conditions.items():
        assert np.array_equal(out.conditions[name].values[:n], cond.values)
    origin = out.conditions["augmentation"]
    assert origin.role == "meta" and set(origin.labels()[:n]) == {"none"} and set(origin.labels()[n:]) == {"physics"}
    assert str(out.ids[n]).endswith("~phys7") and str(out.ids[-1]).endswith(f"~phys{7 + n - 1}")
    assert out.sources[n].startswith(f"matgen augment physics of {str(out.ids[n]).split('~')[0]} seed 7: shift_cm1=")
    assert out.attrs["augment_method"] == "physics" and out.attrs["augment_seed"] == 7
    assert json.loads(out.attrs["augment_bounds"])["shift_cm1"] == 2.0
    assert out.signals.dtype == ds.signals.dtype
    back = read(write(tmp_path / "aug.h5", out))  # round trip through the file format
    assert back.synthetic.sum() == n and list(back.conditions["augmentation"].labels()) == list(origin.labels())
    assert np.array_equal(back.signals, out.signals)
    # the parent's scale is kept (counts stay counts): without moving or broadening the bands (a 3.3 cm-1 grid),
    # the maximum changes by the scale, the fluorescence and the noise only
    kept = augment(ds, factor=1, seed=7, bounds={"broadening_cm1": 0, "orientation": 0, "spike_rate": 0, "shift_cm1": 0})
    parents = [list(ds.ids).index(str(i).split("~")[0]) for i in kept.ids[n:]]
    ratio = kept.signals[n:].max(1) / ds.signals[parents].max(1)
    assert 0.85 < ratio.min() and ratio.max() < 1.25


def test_factor_and_balance_counts_are_exact(raman_set):
    ds = raman_set
    parents = factor_parents(np.arange(10), 2.5, seed=0)
    assert len(parents) == 25 and set(np.bincount(parents, minlength=10)) <= {2, 3}
    assert len(augment(ds, factor=0.5)) == len(ds) + 45
    assert len(augment(ds, factor=0)) == len(ds)
    counts = np.bincount(ds.conditions["mineral"].values)
    out = augment(ds, balance="mineral")
    assert set(np.bincount(out.conditions["mineral"].values)) == {counts.max()}
    assert out.attrs["augment_balance"] == "mineral"
    double = augment(ds, balance="mineral", factor=1)
    assert set(np.bincount(double.conditions["mineral"].values)) == {2 * counts.max()}
    with pytest.raises(MatgenError, match="unknown condition 'colour'; this dataset has: mineral"):
        augment(ds, balance="colour")
    with pytest.raises(MatgenError, match="--balance needs a categorical condition; 'temperature' is continuous"):
        augment(ds, balance="temperature")
    with pytest.raises(MatgenError, match="must be a number ≥ 0"):
        augment(ds, factor=-1)


def test_same_seed_same_rows_and_each_row_regenerates_alone(raman_set):
    ds = raman_set.take(np.arange(12))
    parents = np.asarray([0, 3, 3, 7, 11])
    a, b = physics_augment(ds, parents, seed=4), physics_augment(ds, parents, seed=4)
    assert np.array_equal(a.signals, b.signals) and list(a.ids) == list(b.ids)
    assert not np.allclose(physics_augment(ds, parents, seed=5).signals, a.signals)
    alone = physics_augment(ds, parents[2:3], seed=4 + 2)
    assert np.array_equal(alone.signals[0], a.signals[2]) and alone.ids[0] == a.ids[2]
    assert np.array_equal(augment(ds, factor=2, seed=1).signals, augment(ds, factor=2, seed=1).signals)


def test_xrd_and_eels_datasets_augment_with_default_bounds():
    from matgen.builders import build

    xrd = build("xrd", n=6, points=512, seed=0, phases="quartz,corundum")
    eels = build("eels", n=4, points=1024, seed=2)
    for ds in (xrd, eels):
        out = augment(ds, factor=2, seed=0)
        assert len(out) == 3 * len(ds) and np.isfinite(out.signals).all() and out.check()
    out = augment(eels, factor=1, seed=0, bounds={"thickness": 0.3, "drift_ev": 0, "broadening_ev": 0,
                                                    "intensity_scale": 0, "noise": 0})
    from matgen.physics.eels import thickness_log_ratio

    before = thickness_log_ratio(eels.axis.values, eels.signals)
    after = thickness_log_ratio(eels.axis.values, out.signals[4:])
    parents = [list(eels.ids).index(str(i).split("~")[0]) for i in out.ids[4:]]
    applied = np.asarray([float(s.split("thickness=")[1].split()[0]) for s in out.sources[4:]])
    assert np.all(applied >= -before[parents] / 2 - 1e-9)  # a thinning is clipped at half the thickness
    assert after == pytest.approx(before[parents] + applied, abs=0.03)
    label = eels.conditions["thickness"].values  # the t/λ label moves with the sample, so it stays true
    assert out.conditions["thickness"].values[4:] == pytest.approx(label[parents] + applied, abs=1e-4)  # 4 digits
    assert out.conditions["material"].values[4:] == pytest.approx(eels.conditions["material"].values[parents])


def test_bad_input_is_refused():
    micro = Dataset(kind="micrograph", signals=np.zeros((2, 8, 8), np.float32), signal_type="grey")
    with pytest.raises(MatgenError, match="physics augmentation is for spectra, not micrographs"):
        augment(micro)
    spectra = Dataset(kind="raman", signals=np.ones((3, 16), np.float32), ids=["s0", "s1", "s2"], axis=Axis("raman_shift", "cm-1",
                      np.linspace(100, 400, 16)), conditions={"mineral": Condition.from_labels(["a", "b", "a"])})
    with pytest.raises(MatgenError, match="unknown augmentation method 'gan'; choose from physics, generative, both"):
        augment(spectra, method="gan")
    with pytest.raises(MatgenError, match="--method generative needs a trained model: give --model RUN_DIR, or "
                                          "--train-steps"):
        augment(spectra, method="generative")
    with pytest.raises(MatgenError, match="XrdBounds are not the bounds of a raman dataset"):
        augment(spectra, bounds=XrdBounds())
    with pytest.raises(MatgenError, match="no real"):
        augment(Dataset(**{**spectra.__dict__, "synthetic": np.ones(3, bool)}))
    with pytest.raises(MatgenError, match="parent rows must be in 0..2"):
        physics_augment(spectra, np.asarray([5]))
    once = augment(spectra, seed=0)
    with pytest.raises(MatgenError, match="row id 's0~phys.' is already in the dataset .* another --seed"):
        augment(once, seed=0)
    twice = augment(once, seed=100)  # earlier synthetic rows are kept as they are and parent nothing
    assert len(twice) == 9 and np.array_equal(twice.signals[:6], once.signals)
    assert list(twice.conditions["augmentation"].labels()) == ["none"] * 3 + ["physics"] * 6


def test_the_fluorescence_bound_is_capped_at_the_background_the_real_spectra_show():
    from matgen.augment.physics import RamanBounds, fit_to_data, observed_background

    x = np.linspace(200.0, 1200.0, 512)
    rng = np.random.default_rng(0)
    centres = rng.uniform(300, 1100, 20)
    bands = 1.0 / (1.0 + ((x[None] - centres[:, None]) / 4.0) ** 2)  # (20, L) one Lorentzian band each
    background = 0.3 * np.exp(-0.5 * ((x - 700.0) / 300.0) ** 2)  # broad, 0.3 of the band's height
    assert observed_background(x, bands) < 0.01
    assert abs(observed_background(x, bands + background) - 0.3 / 1.3) < 0.03  # height / range
    ds = Dataset("raman", bands.astype(np.float32), {"mineral": Condition.from_labels(["a", "b"] * 10)},
                 axis=Axis("raman_shift", "cm-1", x))
    capped = fit_to_data(RamanBounds(), ds, None)
    assert capped.fluorescence < 0.01 and capped.shift_cm1 == RamanBounds().shift_cm1
    assert fit_to_data(RamanBounds(), ds, {"fluorescence": 0.1}).fluorescence == 0.1  # the user's value stands
    out = augment(ds, "physics", seed=0)
    assert json.loads(out.attrs["augment_bounds"])["fluorescence"] == capped.fluorescence
