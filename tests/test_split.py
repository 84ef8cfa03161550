"""Group-aware train/val/test splits."""

import numpy as np
import pytest

from matgen.data import Axis, Condition, Dataset
from matgen.data.split import split, split_indices
from matgen.errors import MatgenError


def grouped(n_groups=30, per_group=3, seed=0):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, per_group + 1, n_groups)
    groups = np.repeat([f"R{g:03d}" for g in range(n_groups)], sizes)
    minerals = np.repeat([["quartz", "calcite", "gypsum"][g % 3] for g in range(n_groups)], sizes)
    n = len(groups)
    return Dataset("raman", rng.random((n, 8)).astype(np.float32),
                   {"rruff_id": Condition.from_labels(list(groups), role="meta"),
                    "mineral": Condition.from_labels(list(minerals))},
                   ids=[f"s{i}" for i in range(n)], axis=Axis("raman_shift", "cm-1", np.arange(8.0)))


def test_no_group_on_two_sides_and_all_rows_used():
    ds = grouped()
    parts = split(ds, (0.6, 0.2, 0.2), by="rruff_id", seed=3)
    seen = [set(p.conditions["rruff_id"].labels()) for p in parts.values()]
    assert not (seen[0] & seen[1]) and not (seen[0] & seen[2]) and not (seen[1] & seen[2])
    ids = np.concatenate([p.ids for p in parts.values()])
    assert sorted(ids) == sorted(ds.ids)
    sizes = [len(p) / len(ds) for p in parts.values()]
    np.testing.assert_allclose(sizes, [0.6, 0.2, 0.2], atol=0.08)


def test_same_seed_same_split_other_seed_other_split():
    ds = grouped()
    a = split(ds, (0.7, 0.3), by="rruff_id", seed=1)
    b = split(ds, (0.7, 0.3), by="rruff_id", seed=1)
    c = split(ds, (0.7, 0.3), by="rruff_id", seed=2)
    assert list(a["train"].ids) == list(b["train"].ids)
    assert list(a["train"].ids) != list(c["train"].ids)
    assert set(a) == {"train", "val"}


def test_stratify_puts_every_class_in_every_part():
    ds = grouped(n_groups=60)
    parts = split(ds, (0.6, 0.2, 0.2), by="rruff_id", stratify="mineral", seed=0)
    for part in parts.values():
        assert set(part.conditions["mineral"].labels()) == {"quartz", "calcite", "gypsum"}


def test_split_indices_exact_on_singletons():
    parts = split_indices(np.arange(100).astype(str), (0.5, 0.3, 0.2), seed=0)
    assert [len(p) for p in parts] == [50, 30, 20]


@pytest.mark.parametrize("fractions, message", [((0.5, 0.6), "sum to 1"), ((1.0,), "2 or 3"), ((-0.1, 1.1), "non-negative")])
def test_bad_fractions(fractions, message):
    with pytest.raises(MatgenError, match=message):
        split(grouped(), fractions)


def test_unknown_group_column():
    with pytest.raises(MatgenError, match="unknown condition 'sample'.*rruff_id, mineral"):
        split(grouped(), (0.5, 0.5), by="sample")


def test_stratify_with_many_small_classes_keeps_every_class_in_train_and_sizes_close():
    # 25 classes of 2-4 single-row groups each, like the RRUFF minerals
    rng = np.random.default_rng(0)
    labels = [f"m{c}" for c in range(25) for _ in range(rng.integers(2, 5))]
    n = len(labels)
    ds = Dataset("raman", np.zeros((n, 4), np.float32), {"mineral": Condition.from_labels(labels)},
                 ids=[f"s{i}" for i in range(n)], axis=Axis("raman_shift", "cm-1", np.arange(4.0)))
    parts = split(ds, (0.7, 0.15, 0.15), stratify="mineral", seed=0)
    assert set(parts["train"].conditions["mineral"].labels()) == set(labels)
    np.testing.assert_allclose([len(p) / n for p in parts.values()], [0.7, 0.15, 0.15], atol=0.05)
