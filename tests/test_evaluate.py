"""matgen.evaluate: metrics on cases with known answers, the group-split protocol, label preservation."""

import json
import math

import numpy as np
import pytest

from matgen.data.dataset import Axis, Condition, Dataset
from matgen.errors import MatgenError
from matgen.evaluate import (
    PredictorConfig, downstream, find_peaks, fixed_synthetic, memorisation, mmd2_unbiased, nearest_distances, peak_errors,
    s2_distance, s2_maps, sample_quality, spectral_angle_deg, split_by_group, write_report,
)
from matgen.evaluate.downstream import task_of
from matgen.evaluate.micrographs import micrograph_quality, radial_profile

pytestmark = pytest.mark.usefixtures("one_thread")

#: Raman-shift axis of the test spectra: 200-1198 cm-1 in 2 cm-1 steps.
AXIS = np.arange(200.0, 1200.0, 2.0)
STEP = 2.0
#: Band positions (cm-1) and heights of three made-up minerals.
BANDS = {"alpha": [(350, 1.0), (700, 0.5)], "beta": [(464, 1.0), (900, 0.4), (1080, 0.3)], "gamma": [(520, 1.0), (1000, 0.6)]}


def lorentzian(x, center, fwhm, height=1.0):
    return height / (1.0 + ((x - center) / (fwhm / 2)) ** 2)


def spectrum(bands, shift=0.0, fwhm=10.0, noise=0.0, rng=None):
    y = sum(lorentzian(AXIS, c + shift, fwhm, h) for c, h in bands) + 0.02
    if noise:
        y = y + rng.normal(0, noise, len(AXIS))
    return y


def spectra_set(groups_per_class=8, per_group=3, seed=0, shift=0.0, fwhm=10.0, noise=0.01, prefix="r"):
    """A raman dataset: each group (a 'sample') has its own band offset of a few cm-1; rows add noise."""
    rng = np.random.default_rng(seed)
    rows, minerals, samples = [], [], []
    for name, bands in BANDS.items():
        for g in range(groups_per_class):
            offset = rng.uniform(-3, 3)
            for _ in range(per_group):
                rows.append(spectrum(bands, shift + offset, fwhm, noise, rng))
                minerals.append(name)
                samples.append(f"{name}-{g}")
    n = len(rows)
    return Dataset(
        kind="raman", signals=np.asarray(rows, dtype=np.float32) * 1000,
        conditions={"mineral": Condition.from_labels(minerals, categories=list(BANDS)),
                    "sample": Condition.from_labels(samples, role="meta")},
        ids=[f"{prefix}{i}" for i in range(n)], axis=Axis("raman_shift", "cm-1", AXIS))


# --------------------------------------------------------------------------- peaks and angles


def test_find_peaks_locates_positions_widths_and_heights():
    y = lorentzian(AXIS, 463.3, 12.0) + lorentzian(AXIS, 800.0, 20.0, 0.5)
    peaks = find_peaks(AXIS, y)
    assert len(peaks) == 2
    np.testing.assert_allclose(peaks.position, [463.3, 800.0], atol=0.3)  # strongest first
    np.testing.assert_allclose(peaks.fwhm, [12.0, 20.0], atol=0.6)
    np.testing.assert_allclose(peaks.height, [1.0, 0.5], atol=0.02)


def test_identical_spectra_score_perfectly():
    y = spectrum(BANDS["beta"])
    errors = peak_errors(AXIS, y, y.copy())
    assert errors.position == 0 and errors.fwhm == 0 and errors.height == 0
    assert errors.recall == 1 and errors.precision == 1
    assert spectral_angle_deg(y, 3 * y) == pytest.approx(0.0, abs=1e-5)  # the angle ignores the scale


@pytest.mark.parametrize("shift", [4.0, 7.0, -11.0])
def test_shifted_peaks_score_the_shift(shift):
    errors = peak_errors(AXIS, spectrum(BANDS["beta"]), spectrum(BANDS["beta"], shift=shift))
    assert errors.position == pytest.approx(abs(shift), abs=STEP)
    assert errors.fwhm == pytest.approx(0.0, abs=STEP) and errors.recall == 1


def test_broadened_peaks_score_the_width_change():
    errors = peak_errors(AXIS, spectrum(BANDS["alpha"], fwhm=10.0), spectrum(BANDS["alpha"], fwhm=16.0))
    assert errors.fwhm == pytest.approx(6.0, abs=STEP)
    assert errors.position == pytest.approx(0.0, abs=0.5)


def test_spectral_angle_of_disjoint_spectra_is_90_degrees():
    a, b = np.zeros(10), np.zeros(10)
    a[2], b[7] = 1.0, 1.0
    assert spectral_angle_deg(a, b) == pytest.approx(90.0)
    np.testing.assert_allclose(spectral_angle_deg(np.stack([a, b]), a), [0.0, 90.0], atol=1e-6)


# --------------------------------------------------------------------------- MMD and copies


def test_mmd_is_near_zero_for_identical_sets_and_grows_with_a_shift():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5))
    assert abs(mmd2_unbiased(x, x.copy())) < 2 / 60 + 1e-9  # unbiased: slightly negative for x = y
    same = mmd2_unbiased(x, rng.normal(size=(60, 5)))
    shifted = mmd2_unbiased(x, rng.normal(size=(60, 5)) + 1.5)
    assert abs(same) < 0.03 and shifted > 10 * max(abs(same), 1e-3)


def test_mmd_needs_two_rows_a_side():
    with pytest.raises(MatgenError, match="at least 2 rows"):
        mmd2_unbiased(np.zeros((1, 3)), np.zeros((4, 3)))


def test_copy_detector_flags_exact_copies_and_not_fresh_samples():
    train = spectra_set(seed=1, prefix="t")
    held_out = spectra_set(seed=2, prefix="h")
    fresh = spectra_set(seed=3, prefix="f")
    reference = nearest_distances(held_out.signals / held_out.signals.max(1, keepdims=True),
                                  train.signals / train.signals.max(1, keepdims=True))
    copies = memorisation(np.zeros(len(train)), reference)
    assert copies.copied_fraction == 1.0
    q_fresh = sample_quality(held_out, fresh, train=train, label="mineral")
    q_copies = sample_quality(held_out, train, train=train, label="mineral")
    assert q_copies["copied_fraction"] == 1.0
    assert q_fresh["copied_fraction"] < 0.2


def test_sample_quality_of_identical_sets_is_perfect_and_of_shifted_sets_scores_the_shift():
    real = spectra_set(noise=0.0)
    same = sample_quality(real, real, label="mineral", group="sample")
    assert same["spectral_angle_deg"] == pytest.approx(0.0, abs=1e-4)
    assert same["peak_position_error"] == 0 and same["peak_fwhm_error"] == 0 and same["peak_recall"] == 1
    assert abs(same["mmd2"]) < 2 / len(real)
    assert same["classes_compared"] == 3
    shifted = sample_quality(real, spectra_set(noise=0.0, shift=8.0, prefix="s"), label="mineral", group="sample")
    assert shifted["peak_position_error"] == pytest.approx(8.0, abs=STEP)
    assert shifted["mmd2"] > 0.01 and shifted["spectral_angle_deg"] > 10


def test_sample_quality_refuses_another_axis_or_kind():
    real = spectra_set()
    other = spectra_set()
    other.axis = Axis("raman_shift", "cm-1", AXIS + 1.0)
    with pytest.raises(MatgenError, match="axis"):
        sample_quality(real, other)
    images = Dataset(kind="micrograph", signals=np.zeros((2, 8, 8), np.int32), signal_type="labels")
    with pytest.raises(MatgenError, match="cannot compare micrograph"):
        sample_quality(real, images)


# --------------------------------------------------------------------------- micrographs


def stripes(n=2, size=32, period=16, width=4, vertical=True):
    x = np.arange(size)
    row = ((x % period) < width).astype(np.int32)
    image = np.tile(row, (size, 1)) if vertical else np.tile(row[:, None], (1, size))
    return np.repeat(image[None], n, axis=0)


def test_s2_of_a_stripe_laminate_matches_its_closed_form():
    period, width = 16, 4
    s2 = s2_maps(stripes(1, 32, period, width))[0]
    r = np.arange(32)
    rr = r % period
    expected = (np.maximum(width - rr, 0) + np.maximum(rr - (period - width), 0)) / period  # shift along x
    np.testing.assert_allclose(s2[0], expected, atol=1e-6)
    np.testing.assert_allclose(s2[:, 0], width / period, atol=1e-6)  # along the stripes: S2 = φ
    assert radial_profile(s2)[0] == pytest.approx(width / period)


def test_s2_distance_is_zero_for_identical_sets_and_not_for_rotated_stripes():
    a = stripes()
    assert s2_distance(a, a.copy()) == 0.0
    assert s2_distance(a, stripes(vertical=False)) > 0.05


def test_micrograph_quality_reports_phase_fractions():
    real = Dataset(kind="micrograph", signals=stripes(width=4), signal_type="labels")
    syn = Dataset(kind="micrograph", signals=stripes(width=8), signal_type="labels")
    q = micrograph_quality(real, syn)
    assert q["phase_fraction_real"] == pytest.approx(0.25) and q["phase_fraction_synthetic"] == pytest.approx(0.5)
    assert q["phase_fraction_error"] == pytest.approx(0.25)
    assert micrograph_quality(real, real)["s2_distance"] == 0.0


def laminates(n, seed, prefix):
    """Label maps of 16 x 16 px: vertical or horizontal stripes of random width and offset with 5 % of the pixels
    flipped, labelled by direction."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for i in range(n):
        vertical = i % 2 == 0
        image = np.roll(stripes(1, 16, 8, int(rng.integers(2, 6)), vertical)[0], int(rng.integers(8)), axis=1 if vertical else 0)
        images.append(np.where(rng.random(image.shape) < 0.05, 1 - image, image))
        labels.append("vertical" if vertical else "horizontal")
    return Dataset(kind="micrograph", signals=np.asarray(images, dtype=np.int32), signal_type="labels",
                   conditions={"direction": Condition.from_labels(labels, categories=["vertical", "horizontal"])},
                   ids=[f"{prefix}{i}" for i in range(n)])


def test_micrographs_go_through_quality_and_a_2d_cnn():
    real = laminates(40, 0, "r")
    copies = real.take(np.arange(20))
    copies.ids = np.asarray([f"c{i}" for i in range(20)], dtype=object)
    q = sample_quality(real, copies)
    assert q["copied_fraction"] == 1.0 and q["s2_distance"] < 0.02
    assert sample_quality(real, laminates(20, 1, "f"))["copied_fraction"] < 0.3
    result = downstream(real, {}, "direction", seeds=[0], model=PredictorConfig(epochs=20))
    assert result.scores["real"][0] >= 0.9


def test_micrograph_quality_compares_simulated_properties_when_simulators_exist():
    pytest.importorskip("matgen.simulators")
    from matgen.builders import build

    ds = build("composite", n=4, size=32)
    q = sample_quality(ds.take([0, 1]), ds.take([0, 1]), simulator="elastic")
    assert q["modulus_error"] == 0.0 and q["density_error"] == 0.0 and q["modulus_real"] > 0


# --------------------------------------------------------------------------- the downstream protocol

FAST = PredictorConfig(epochs=25)


def synthetic_rows(train, rows, signals, labels, tag):
    """``train`` plus synthetic rows with these signals and mineral codes."""
    from matgen.data.dataset import concat

    part = train.take(rows)
    part.signals = signals.astype(np.float32)
    part.conditions["mineral"] = Condition(np.asarray(labels, dtype=np.int32), role="label", categories=tuple(BANDS))
    part.ids = np.asarray([f"{tag}-{i}" for i in range(len(rows))], dtype=object)
    part.synthetic = np.ones(len(rows), bool)
    return concat([train, part])


def noise_augmenter(train, seed):
    """Useless synthetic rows: random noise, 3 per training row, labelled at random."""
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(len(train)), 3)
    signals = rng.uniform(0, train.signals.max(), (len(rows), train.signals.shape[1]))
    return synthetic_rows(train, rows, signals, rng.integers(0, 3, len(rows)), f"noise{seed}")


def mislabelling_augmenter(train, seed):
    """Harmful synthetic rows: copies of the training rows, 3 each, labelled with the next class."""
    rows = np.repeat(np.arange(len(train)), 3)
    signals = train.signals[rows]
    return synthetic_rows(train, rows, signals, (train.conditions["mineral"].values[rows] + 1) % 3, f"wrong{seed}")


def test_splits_never_put_one_group_on_both_sides():
    ds = spectra_set()
    task = task_of(ds, "mineral")
    groups = ds.conditions["sample"].labels()
    for seed in range(5):
        train, test = split_by_group(ds, task, "sample", seed, 0.3)
        assert not set(groups[train]) & set(groups[test])
        assert len(train) + len(test) == len(ds)
        assert set(ds.conditions["mineral"].values[test]) == {0, 1, 2}  # stratified: every class tested


def test_real_only_is_near_perfect_on_an_easy_task_and_bad_synthetic_rows_do_not_help():
    ds = spectra_set(groups_per_class=6, per_group=2)
    result = downstream(ds, {"noise": noise_augmenter, "wrong": mislabelling_augmenter}, "mineral", "sample",
                        seeds=[0, 1], model=PredictorConfig(epochs=15), quality=False)
    scores = {row["arm"]: row for row in result.summary()}
    assert scores["real"]["mean"] >= 0.95
    # random noise with random labels: useless (at best ignored), at chance alone, and the real-only model disagrees
    assert scores["real+noise"]["mean"] <= scores["real"]["mean"] + 1e-9 and scores["real+noise"]["gain_mean"] <= 0
    assert scores["noise only"]["mean"] < 0.6 and np.mean(result.adherence["noise"]) < 0.6
    # copies labelled with the wrong class outnumber the real rows 3 to 1: accuracy collapses
    assert scores["real+wrong"]["mean"] < scores["real"]["mean"] - 0.5 and scores["real+wrong"]["gain_mean"] < -0.5
    assert np.mean(result.adherence["wrong"]) < 0.1
    assert result.synthetic_rows["noise"] == [3 * s["train_rows"] for s in result.splits]
    for split in result.splits:
        assert split["train_groups"] + split["test_groups"] == 18


def test_physics_augmentation_keeps_labels_and_is_judged_in_the_protocol():
    from matgen.augment import augment

    ds = spectra_set()
    result = downstream(ds, {"physics": lambda train, seed: augment(train, "physics", factor=1, seed=seed)},
                        "mineral", "sample", seeds=[0], model=PredictorConfig(model="knn"))
    assert result.adherence["physics"][0] >= 0.95
    quality = result.quality["physics"][0]
    assert quality["peak_recall"] > 0.9 and quality["peak_position_error"] < 4.0  # bounds: shift ≤ 3 cm-1
    assert result.scores["real+physics"][0] >= 0.95


def test_regression_reports_mae_and_a_positive_gain_means_lower_error():
    rng = np.random.default_rng(0)
    shifts = rng.uniform(-40, 40, 90)
    ds = Dataset(kind="raman", signals=np.asarray([spectrum(BANDS["alpha"], s, noise=0.01, rng=rng) for s in shifts],
                                                  dtype=np.float32),
                 conditions={"strain_shift": Condition(shifts, unit="cm-1", role="property")},
                 axis=Axis("raman_shift", "cm-1", AXIS))

    def copies(train, seed):  # synthetic rows identical to the training rows: no new information
        from matgen.data.dataset import concat

        part = train.take(np.arange(len(train)))
        part.ids = np.asarray([f"copy{i}" for i in range(len(part))], dtype=object)
        part.synthetic = np.ones(len(part), bool)
        return concat([train, part])

    result = downstream(ds, {"copies": copies}, "strain_shift", None, seeds=[0], model=PredictorConfig(model="knn", neighbours=3))
    assert result.task.kind == "regression" and result.task.unit == "cm-1"
    assert result.scores["real"][0] < 0.2 * np.std(shifts)  # MAE in cm-1
    row = {r["arm"]: r for r in result.summary()}["real+copies"]
    assert row["gain_mean"] == pytest.approx(result.scores["real"][0] - result.scores["real+copies"][0])


def test_protocol_errors_name_the_problem():
    ds = spectra_set()
    with pytest.raises(MatgenError, match="unknown condition 'colour'"):
        downstream(ds, {}, "colour")
    one_group = spectra_set(groups_per_class=1, per_group=3)
    one_group.conditions["sample"] = Condition.from_labels(["s"] * len(one_group), role="meta")
    with pytest.raises(MatgenError, match="at least 2 groups"):
        downstream(one_group, {}, "mineral", "sample", seeds=[0])
    with pytest.raises(MatgenError, match="made no synthetic row"):
        downstream(ds, {"none": lambda train, seed: train}, "mineral", "sample", seeds=[0], model=PredictorConfig(model="knn"))


def test_fixed_synthetic_set_leaves_out_rows_of_test_groups():
    from matgen.augment import augment

    ds = spectra_set()
    synthetic = augment(ds, "physics", factor=1, seed=5)
    synthetic = synthetic.take(np.flatnonzero(synthetic.synthetic))
    train = ds.take(np.arange(0, 36))  # the groups of alpha and the first four of beta
    out = fixed_synthetic(synthetic, "sample")(train, 0)
    added = out.take(np.flatnonzero(out.synthetic))
    assert len(added) == 36 and set(added.conditions["sample"].labels()) == set(train.conditions["sample"].labels())


# --------------------------------------------------------------------------- label preservation


def test_a_physics_augmented_quartz_spectrum_is_classified_as_quartz():
    """A classifier trained on real (simulated) spectra only calls physics-augmented quartz spectra quartz."""
    from matgen.augment import augment
    from matgen.builders import build
    from matgen.evaluate import features, fit

    real = build("raman", n=120, points=512, seed=0, minerals=("quartz", "calcite", "rutile", "anatase", "zircon"),
                 shift_cm1=(100.0, 1200.0))
    labels = real.conditions["mineral"].labels()
    predictor = fit(features(real), real.conditions["mineral"].values, "classification", 5, FAST)
    quartz = np.flatnonzero(labels == "quartz")[:5]
    augmented = augment(real.take(quartz), "physics", factor=2, seed=3)
    synthetic = augmented.take(np.flatnonzero(augmented.synthetic))
    assert len(synthetic) == 10 and set(synthetic.conditions["mineral"].labels()) == {"quartz"}
    predicted = np.asarray(real.conditions["mineral"].categories)[predictor.predict(features(synthetic))]
    assert (predicted == "quartz").all(), predicted


def test_rruff_quartz_augmented_stays_quartz_for_a_real_only_classifier(shared_data):
    from matgen.augment import augment
    from matgen.data.importers.common import ConditionSource
    from matgen.data.importers.spectra import import_spectra
    from matgen.evaluate import features, fit

    folder = shared_data / "raman_rruff"
    ds = import_spectra([folder / "spectra"], source=ConditionSource(table=folder / "labels.csv"), points=512).dataset
    task = task_of(ds, "mineral")
    train_rows, test_rows = split_by_group(ds, task, "rruff_id", 0, 0.3)
    train, test = ds.take(train_rows), ds.take(test_rows)
    predictor = fit(features(train), train.conditions["mineral"].values, "classification", len(task.classes),
                    PredictorConfig(model="knn"))
    quartz = test.take(np.flatnonzero(test.conditions["mineral"].labels() == "Quartz"))
    assert len(quartz) >= 2  # quartz samples the classifier never saw
    augmented = augment(quartz, "physics", factor=3, seed=0)
    synthetic = augmented.take(np.flatnonzero(augmented.synthetic))
    predicted = np.asarray(task.classes)[predictor.predict(features(synthetic))]
    assert np.mean(predicted == "Quartz") >= 0.9, predicted


# --------------------------------------------------------------------------- metrics.json


def test_metrics_json_is_strict_json_with_nan_as_null(tmp_path):
    path = write_report({"a": float("nan"), "b": np.float32(1.5), "c": [np.int64(2), math.inf]}, tmp_path / "m.json")
    assert json.loads(path.read_text()) == {"a": None, "b": 1.5, "c": [2, None]}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]  # no temporary file left


def test_speckle_index_counts_pixels_in_small_periodic_islands():
    from matgen.evaluate.morphology import speckle_index

    stripes = np.zeros((1, 8, 8), int)
    stripes[0, :, :4] = 1  # two bands: no island
    specks = stripes.copy()
    specks[0, 2, 6] = 1  # one isolated pixel of phase 1
    specks[0, 5, 1] = 0  # and one of phase 0
    edge = np.zeros((1, 8, 8), int)
    edge[0, 0, 0] = edge[0, 0, 7] = 1  # a 2-pixel island across the periodic edge
    big = np.zeros((1, 8, 8), int)
    big[0, 2:4, 2:4] = 1  # a 4-pixel particle is no speck
    assert speckle_index(stripes).tolist() == [0.0] and speckle_index(specks).tolist() == [2 / 64]
    assert speckle_index(edge).tolist() == [2 / 64] and speckle_index(big).tolist() == [0.0]


def test_morphology_ratio_is_zero_for_a_copy_and_about_one_for_a_fresh_draw_of_the_same_process():
    from matgen.builders import build
    from matgen.evaluate.morphology import morphology

    train = build("composite", n=80, size=32, seed=0).signals
    fresh = build("composite", n=20, size=32, seed=9).signals
    noise = (np.random.default_rng(0).random((20, 32, 32)) < 0.35).astype(np.uint8)
    assert morphology(train[:5], train)["s2_ratio_median"] == pytest.approx(0.0, abs=1e-9)
    ratio = morphology(fresh, train)["s2_ratio_median"]
    assert 0.5 < ratio < 2.0 and morphology(noise, train)["s2_ratio_median"] > 2 * ratio
    assert morphology(noise, train)["speckle_mean"] > 10 * morphology(fresh, train)["speckle_mean"]
