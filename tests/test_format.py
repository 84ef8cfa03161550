"""The HDF5 dataset format: round trips, appending, atomic writes, versions, validation."""

import re
from pathlib import Path

import h5py
import numpy as np
import pytest

from matgen.data import Axis, Condition, Dataset, append, concat, read, write
from matgen.data import hdf5
from matgen.errors import MatgenError


def raman(n=5, ids=None, minerals=None):
    rng = np.random.default_rng(n)
    return Dataset(
        kind="raman",
        signals=rng.random((n, 40)).astype(np.float32),
        conditions={
            "mineral": Condition.from_labels(minerals or (["quartz", "calcite", None, "quartz", "zircon"] * n)[:n]),
            "laser_nm": Condition(np.linspace(514, 785, n), unit="nm", role="meta"),
            "anneal_temperature_C": Condition([np.nan] + [800.0] * (n - 1), unit="°C"),
        },
        ids=ids or [f"s{i}" for i in range(n)],
        sources=[f"spectra/s{i}.txt" for i in range(n)],
        axis=Axis("raman_shift", "cm-1", np.linspace(200, 1199, 40)),
        signal_unit="counts",
        attrs={"title": "test set"},
    )


def micrographs(n=3, labels=False):
    rng = np.random.default_rng(1)
    signals = rng.integers(0, 3, (n, 2, 16, 16)).astype(np.uint8) if labels else rng.random((n, 16, 16)).astype(np.float32)
    return Dataset("micrograph", signals, {"anneal_time_h": Condition([1.0, 8.0, 24.0][:n], unit="h")},
                   pixel_size=0.0385, signal_type="labels" if labels else "grey")


def assert_same(a: Dataset, b: Dataset):
    assert a.kind == b.kind and a.signal_type == b.signal_type and a.signal_unit == b.signal_unit
    np.testing.assert_array_equal(a.signals, b.signals)
    assert a.signals.dtype == b.signals.dtype
    assert list(a.ids) == list(b.ids) and list(a.sources) == list(b.sources)
    np.testing.assert_array_equal(a.synthetic, b.synthetic)
    assert list(a.conditions) == list(b.conditions)
    for name, c in a.conditions.items():
        d = b.conditions[name]
        assert (c.unit, c.role, c.categories) == (d.unit, d.role, d.categories)
        np.testing.assert_array_equal(c.values, d.values)
    if a.axis is not None:
        assert a.axis.matches(b.axis)
    assert a.pixel_size == b.pixel_size and a.attrs == b.attrs


def test_spectra_round_trip_keeps_everything(tmp_path):
    ds = raman()
    ds.synthetic[2] = True
    back = read(write(tmp_path / "r.h5", ds))
    assert_same(ds, back)
    assert list(back.conditions["mineral"].labels()) == ["quartz", "calcite", None, "quartz", "zircon"]
    assert np.isnan(back.conditions["anneal_temperature_C"].values[0])
    assert back.conditions["anneal_temperature_C"].unit == "°C"


@pytest.mark.parametrize("labels", [False, True])
def test_micrograph_round_trip(tmp_path, labels):
    ds = micrographs(labels=labels)
    back = read(write(tmp_path / "m.h5", ds))
    assert_same(ds, back)
    assert back.signals.shape == ((3, 2, 16, 16) if labels else (3, 16, 16))


def test_xrd_wavelength_is_stored(tmp_path):
    ds = Dataset("xrd", np.ones((2, 5), np.float32), axis=Axis("two_theta", "deg", np.arange(5.0) + 10, 1.5406))
    assert read(write(tmp_path / "x.h5", ds)).axis.wavelength_angstrom == pytest.approx(1.5406)


def test_file_is_chunked_compressed_and_appendable(tmp_path):
    path = write(tmp_path / "r.h5", raman(50))
    with h5py.File(path) as f:
        assert f["signals"].chunks is not None and f["signals"].compression == "gzip"
        assert f["signals"].maxshape[0] is None
        assert f.attrs["format_version"] == hdf5.FORMAT_VERSION


def test_append_merges_categories_and_new_conditions(tmp_path):
    path = write(tmp_path / "r.h5", raman(5))
    extra = raman(2, ids=["new0", "new1"], minerals=["gypsum", "quartz"])
    extra.conditions["modulus"] = Condition([70.0, 71.0], unit="GPa", role="property")
    del extra.conditions["laser_nm"]
    append(path, extra)
    back = read(path)
    assert len(back) == 7
    assert list(back.conditions["mineral"].labels()[-2:]) == ["gypsum", "quartz"]
    assert back.conditions["mineral"].categories == ("quartz", "calcite", "zircon", "gypsum")
    assert np.isnan(back.conditions["modulus"].values[:5]).all() and back.conditions["modulus"].values[5] == 70
    assert np.isnan(back.conditions["laser_nm"].values[5:]).all()
    np.testing.assert_array_equal(back.signals[5:], extra.signals)


def test_append_refuses_rows_already_there(tmp_path):
    path = write(tmp_path / "r.h5", raman(5))
    with pytest.raises(MatgenError, match="row id 's0'.*already in the dataset"):
        append(path, raman(2))
    assert len(read(path)) == 5


def test_append_refuses_other_axis_or_units(tmp_path):
    path = write(tmp_path / "r.h5", raman(5))
    other = raman(1, ids=["x"])
    other.axis = Axis("raman_shift", "cm-1", np.linspace(100, 1199, 40))
    with pytest.raises(MatgenError, match="spectral axes differ"):
        append(path, other)
    other = raman(1, ids=["x"])
    other.conditions["laser_nm"].unit = "um"
    with pytest.raises(MatgenError, match="laser_nm.*convert"):
        append(path, other)


def test_crash_during_write_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    path = write(tmp_path / "r.h5", raman(5))
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise RuntimeError("power cut")

    monkeypatch.setattr(hdf5, "_write_file", crash)
    with pytest.raises(RuntimeError):
        write(path, raman(7))
    with pytest.raises(RuntimeError):
        write(tmp_path / "new.h5", raman(7))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.h5"]


def test_invalid_dataset_is_not_written(tmp_path):
    ds = raman()
    ds.signals[1, 3] = np.nan
    with pytest.raises(MatgenError, match="NaN or inf.*'s1'"):
        write(tmp_path / "bad.h5", ds)
    assert not (tmp_path / "bad.h5").exists()


def test_newer_format_version_is_refused_clearly(tmp_path):
    path = write(tmp_path / "r.h5", raman())
    with h5py.File(path, "a") as f:
        f.attrs["format_version"] = hdf5.FORMAT_VERSION + 1
    with pytest.raises(MatgenError, match="format version 2, newer.*upgrade matgen"):
        read(path)


@pytest.mark.parametrize(
    "content, message",
    [(None, "no such file"), (b"not hdf5 at all", "not a readable HDF5 file"), ("plain-h5", "not a matgen dataset")],
)
def test_bad_files_give_clear_errors(tmp_path, content, message):
    path = tmp_path / "x.h5"
    if content == "plain-h5":
        with h5py.File(path, "w") as f:
            f["a"] = 1
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(MatgenError, match=message):
        read(path)


def test_truncated_file_is_reported_as_damaged(tmp_path):
    path = write(tmp_path / "r.h5", raman(200))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(MatgenError, match="r.h5"):
        read(path)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: setattr(d, "kind", "sem"), "unknown kind 'sem'"),
        (lambda d: setattr(d, "axis", Axis("raman_shift", "eV", d.axis.values)), "raman axis must be raman_shift in cm-1"),
        (lambda d: setattr(d, "axis", Axis("raman_shift", "cm-1", d.axis.values[::-1])), "strictly increasing"),
        (lambda d: setattr(d, "ids", np.array(["a"] * 5, dtype=object)), "not unique"),
        (lambda d: d.conditions.update(bad=Condition(np.ones(3))), "'bad' has 3 values for 5"),
        (lambda d: d.conditions.update(x=Condition(np.ones(5), role="output")), "unknown role 'output'"),
        (lambda d: d.conditions.update({"2theta": Condition(np.ones(5))}), "must start with a letter"),
        (lambda d: setattr(d, "signals", d.signals[:, :, None]), r"shape \(N, L\)"),
    ],
)
def test_validation_names_the_problem(mutate, message):
    ds = raman()
    mutate(ds)
    assert any(re.search(message, p) for p in ds.problems()), ds.problems()


def test_take_and_concat_keep_ids():
    ds = raman(5)
    part = ds.take([4, 1])
    assert list(part.ids) == ["s4", "s1"]
    assert list(part.conditions["mineral"].labels()) == ["zircon", "calcite"]
    joined = concat([ds.take([0, 1]), ds.take([2, 3, 4])])
    assert list(joined.ids) == list(ds.ids)
    with pytest.raises(MatgenError, match="cannot join a raman dataset with a micrograph"):
        concat([ds, micrographs()])


def test_unknown_condition_lists_valid_names():
    with pytest.raises(MatgenError, match="unknown condition 'modulus'; this dataset has: mineral, laser_nm, anneal_temperature_C"):
        raman().condition("modulus")


# ---------------------------------------------------------------- damaged files

FIXTURE_V0_1 = Path(__file__).parent / "fixtures" / "v0_1" / "composite.h5"


def _damage(path: Path, how: str, where: float) -> None:
    """Zero 512 bytes at ``where`` (a fraction of the file), or cut the file there (a writer killed mid-write)."""
    data = path.read_bytes()
    at = int(where * len(data))
    path.write_bytes(data[:at] + (b"\0" * 512 + data[at + 512:] if how == "zero" else b""))


@pytest.mark.parametrize("make", [lambda: raman(200), lambda: micrographs(3)], ids=["spectra", "micrographs"])
@pytest.mark.parametrize("how, where", [("zero", 0.0), ("zero", 0.02), ("zero", 0.1), ("zero", 0.3), ("zero", 0.6),
                                        ("zero", 0.9), ("cut", 0.05), ("cut", 0.5), ("cut", 0.99)])
def test_a_damaged_file_gives_one_clean_error_or_reads_correctly(tmp_path, make, how, where):
    from matgen.data.check import check_file

    ds = make()
    path = write(tmp_path / "d.h5", ds)
    _damage(path, how, where)
    try:
        back = read(path)
    except MatgenError as error:
        message = str(error)
        assert "\n" not in message and message.startswith(f"{path}: ")
        assert re.search(r"damaged HDF5 file \(.+\); restore it from a copy or re-create it$", message) or (
            where == 0.0 and "not a readable HDF5 file" in message), message
        problems = check_file(path)
        assert problems and all("\n" not in p for p in problems)
        return
    assert_same(ds, back)  # the damage hit bytes the file does not use
    assert check_file(path) == []


def test_damage_to_a_truncated_file_names_both_sizes(tmp_path):
    path = write(tmp_path / "d.h5", raman(200))
    size = path.stat().st_size
    _damage(path, "cut", 0.5)
    with pytest.raises(MatgenError, match=rf"d\.h5: damaged HDF5 file \(truncated: {size // 2} of {size} bytes\); "
                                          r"restore it from a copy or re-create it"):
        read(path)


def test_every_array_and_text_is_checksummed(tmp_path):
    path = write(tmp_path / "r.h5", raman(5))
    with h5py.File(path) as f:
        arrays = []
        f.visititems(lambda name, item: arrays.append(item) if isinstance(item, h5py.Dataset) else None)
        assert len(arrays) == 8 and all(a.fletcher32 for a in arrays)  # signals, axis, 3 rows, 3 conditions
        assert f["rows/id"].dtype.kind == "S" and f["rows/source"].dtype.kind == "S"  # in checksummed chunks


def test_files_with_variable_length_strings_still_read():
    ds = read(FIXTURE_V0_1)  # written by matgen 0.1.0
    assert ds.kind == "micrograph" and len(ds) == 48 and ds.attrs["builder"] == "composite"


def test_a_zeroed_global_heap_is_an_error_not_an_endless_loop(tmp_path):
    """libhdf5 loops forever on a global heap object of index 0 and size 0 (zeroed bytes); matgen checks first."""
    import subprocess
    import sys

    path = tmp_path / "old.h5"
    data = bytearray(FIXTURE_V0_1.read_bytes())
    heap = data.find(b"GCOL")
    assert heap > 0
    data[heap + 16:heap + 16 + 512] = bytes(512)  # the first objects of the collection
    path.write_bytes(bytes(data))
    with pytest.raises(MatgenError, match=rf"old\.h5: damaged HDF5 file \(global heap at byte {heap} is broken at byte "
                                          rf"{heap + 16}\); restore it from a copy or re-create it"):
        read(path)
    code = f"from matgen.data.check import check_file; print(check_file({str(path)!r}))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "global heap" in done.stdout, done.stderr


def test_what_a_file_says_is_checked_on_reading(tmp_path):
    path = write(tmp_path / "r.h5", raman(5))
    with h5py.File(path, "a") as f:
        f["signals"][2, 5] = np.nan
    with pytest.raises(MatgenError, match=r"r\.h5: 1 signal\(s\) contain NaN or inf \(first: row 2, id 's2'\); "
                                          r"`matgen data check .*r\.h5` lists every problem"):
        read(path)
    with h5py.File(path, "a") as f:
        del f["rows/id"]
    with pytest.raises(MatgenError, match=r"r\.h5: /rows/id is missing, so this is not a complete matgen dataset; "
                                          r"`matgen data check .*r\.h5` lists every problem"):
        read(path)


def test_the_axis_hint_names_the_import_options_that_give_this_axis():
    axis = Axis("energy_loss", "eV", np.linspace(-5.0, 100.0, 211))
    assert axis.import_options() == "--range -5.0:100.0 --points 211"
    assert Axis("x", "", np.linspace(0.1, 0.7, 7)).import_options() == "--range 0.1:0.7 --points 7"
    assert Axis("x", "", [1.0, 2.0, 4.0]).import_options() is None
    assert "together" in Axis("x", "", [1.0, 2.0, 4.0]).reimport_hint()
    with pytest.raises(MatgenError, match=r"spectral axes differ .*; re-import those files with --range 200\.0:1199\.0 "
                                          r"--points 40"):
        other = raman(1, ids=["x"])
        other.axis = Axis("raman_shift", "cm-1", np.linspace(100, 1199, 40))
        concat([raman(), other])
