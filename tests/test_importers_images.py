"""Micrograph importer on small images written here: exact grey values, label maps, conditions, tiles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from matgen import data
from matgen.data.conditions import ColumnTyping
from matgen.data.importers import ConditionSource, import_images
from matgen.data.importers.images import cut_tiles, looks_like_labels, tiff_pixel_size_um
from matgen.errors import MatgenError

PATTERN = "{anneal_temperature_C}C-{anneal_time_h:duration}-{cooling}-{replicate}"


def grey8(height: int = 100, width: int = 130, seed: int = 0) -> np.ndarray:
    """(H, W) uint8 with values spread over 0..255 (so it never looks like a label map)."""
    image = np.random.default_rng(seed).integers(0, 256, (height, width), dtype=np.uint8)
    image[0, 0], image[0, 1] = 0, 255
    return image


def save_png(path: Path, pixels: np.ndarray) -> Path:
    Image.fromarray(pixels).save(path)
    return path


def save_tif(path: Path, pixels: np.ndarray, **kwargs) -> Path:
    tifffile.imwrite(path, pixels, **kwargs)
    return path


def test_8bit_png_is_divided_by_255(tmp_path):
    pixels = grey8()
    save_png(tmp_path / "a.png", pixels)
    ds = import_images([tmp_path]).dataset
    assert ds.kind == "micrograph" and ds.signal_type == "grey"
    assert ds.signals.shape == (1, 100, 130) and ds.signals.dtype == np.float32
    np.testing.assert_array_equal(ds.signals[0], (pixels / 255).astype(np.float32))
    assert ds.signals[0, 0, 1] == 1.0 and ds.signals[0, 0, 0] == 0.0
    assert list(ds.ids) == ["a"] and list(ds.sources) == ["a.png"] and not ds.synthetic.any()
    assert ds.pixel_size is None


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_images_are_divided_by_65535(tmp_path, suffix):
    pixels = np.array([[0, 32768, 65535], [1, 1000, 40000]], dtype=np.uint16)
    path = tmp_path / f"a{suffix}"
    save_png(path, pixels) if suffix == ".png" else save_tif(path, pixels)
    ds = import_images([path]).dataset
    assert ds.signal_type == "grey"
    np.testing.assert_allclose(ds.signals[0], pixels / 65535, rtol=1e-7)
    assert ds.signals[0, 0, 1] == np.float32(32768 / 65535)


def test_float_tiff_in_unit_range_is_kept(tmp_path):
    pixels = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    save_tif(tmp_path / "f.tif", pixels)
    np.testing.assert_array_equal(import_images([tmp_path]).dataset.signals[0], pixels)


def test_float_tiff_outside_unit_range_asks_for_normalisation(tmp_path):
    save_tif(tmp_path / "f.tif", np.array([[0.0, 2.5]], dtype=np.float32))
    with pytest.raises(MatgenError, match=r"f\.tif.*outside \[0, 1\].*normalise"):
        import_images([tmp_path])


def test_nan_in_float_tiff_is_a_bad_file(tmp_path):
    save_tif(tmp_path / "nan.tif", np.array([[0.1, np.nan], [0.2, 0.3]], dtype=np.float32))
    with pytest.raises(MatgenError, match=r"nan\.tif.*NaN"):
        import_images([tmp_path])


def test_rgb_with_equal_channels_is_exact_and_colour_becomes_luminance(tmp_path):
    pixels = grey8(4, 5)
    save_png(tmp_path / "g.png", np.stack([pixels] * 3, axis=-1))
    np.testing.assert_array_equal(import_images([tmp_path / "g.png"]).dataset.signals[0], pixels / np.float32(255))
    colour = np.zeros((2, 2, 3), np.uint8)
    colour[..., 0] = 255  # pure red: Y = 0.299
    save_png(tmp_path / "red.png", colour)
    np.testing.assert_allclose(import_images([tmp_path / "red.png"]).dataset.signals[0], 0.299, rtol=1e-6)


def test_binary_mask_becomes_an_integer_label_map(tmp_path):
    mask = (np.arange(20 * 30).reshape(20, 30) % 7 == 0).astype(np.uint8)
    save_tif(tmp_path / "m1.tif", mask)
    save_tif(tmp_path / "m2.tif", 1 - mask)
    ds = import_images([tmp_path]).dataset
    assert ds.signal_type == "labels" and np.issubdtype(ds.signals.dtype, np.integer)
    np.testing.assert_array_equal(ds.signals[0], mask)
    assert set(np.unique(ds.signals)) == {0, 1}


def test_int64_label_map_with_background_minus_one(tmp_path):
    phases = np.array([[-1, 0, 1], [2, 3, -1]], dtype=np.int64)
    save_tif(tmp_path / "u.tif", phases)
    ds = import_images([tmp_path]).dataset
    assert ds.signal_type == "labels" and ds.signals.dtype == np.int16
    np.testing.assert_array_equal(ds.signals[0], phases)


def test_looks_like_labels_threshold():
    assert looks_like_labels(np.array([[0, 1, 15]], np.uint8))
    assert not looks_like_labels(np.array([[0, 1, 16]], np.uint8))
    assert not looks_like_labels(np.array([[0.0, 1.0]]))


def test_forced_types_and_unknown_type(tmp_path):
    mask = np.array([[0, 1], [1, 0]], np.uint8)
    save_png(tmp_path / "m.png", mask)
    ds = import_images([tmp_path], image_type="grey").dataset
    np.testing.assert_array_equal(ds.signals[0], mask / np.float32(255))
    assert import_images([tmp_path], image_type="labels").dataset.signal_type == "labels"
    with pytest.raises(MatgenError, match=r"unknown image type 'gray'; choose from auto, grey, labels"):
        import_images([tmp_path], image_type="gray")


def test_mixed_grey_and_labels_name_both_files(tmp_path):
    save_png(tmp_path / "grey.png", grey8(10, 10))
    save_png(tmp_path / "mask.png", np.zeros((10, 10), np.uint8))
    with pytest.raises(MatgenError, match=r"grey\.png reads as grey, mask\.png as a label map.*--image-type"):
        import_images([tmp_path])


def test_conditions_from_a_table(tmp_path):
    for i in range(3):
        save_png(tmp_path / f"img{i}.png", grey8(8, 8, seed=i))
    (tmp_path / "conditions.csv").write_text(
        "file,anneal_temperature_C,anneal_time_h,cooling\n"
        "img0.png,800,24,Q\nimg1.png,970,0.5,FC\nimg2.png,750,,Q\n"
    )
    ds = import_images([tmp_path], ConditionSource(table=tmp_path / "conditions.csv")).dataset
    temperature, time, cooling = (ds.condition(n) for n in ("anneal_temperature_C", "anneal_time_h", "cooling"))
    assert temperature.unit == "°C" and time.unit == "h"
    np.testing.assert_array_equal(temperature.values, [800, 970, 750])
    np.testing.assert_array_equal(time.values[:2], [24, 0.5]) and np.isnan(time.values[2])
    assert cooling.is_categorical and set(cooling.categories) == {"Q", "FC"}
    assert list(cooling.labels()) == ["Q", "FC", "Q"]


def test_conditions_from_a_name_pattern_with_durations(tmp_path):
    for name in ("800C-24H-Q-1", "970C-5M-Q-1", "800C-3H-WQ-2"):
        save_tif(tmp_path / f"{name}.tif", grey8(8, 8))
    ds = import_images([tmp_path], ConditionSource(name_pattern=PATTERN)).dataset
    assert list(ds.ids) == ["800C-24H-Q-1", "800C-3H-WQ-2", "970C-5M-Q-1"]
    assert ds.condition("anneal_temperature_C").unit == "°C"
    np.testing.assert_array_equal(ds.condition("anneal_temperature_C").values, [800, 800, 970])
    time = ds.condition("anneal_time_h")
    assert time.unit == "h"
    np.testing.assert_allclose(time.values, [24, 3, 5 / 60])
    assert list(ds.condition("cooling").labels()) == ["Q", "WQ", "Q"]
    assert ds.condition("replicate").role == "meta"


def test_user_spec_is_kept_with_pattern_durations(tmp_path):
    save_tif(tmp_path / "800C-24H-Q-1.tif", grey8(8, 8))
    spec = ColumnTyping(roles={"anneal_temperature_C": "property"})
    ds = import_images([tmp_path], ConditionSource(name_pattern=PATTERN), spec=spec).dataset
    assert ds.condition("anneal_temperature_C").role == "property"
    assert ds.condition("anneal_time_h").values[0] == 24


def test_tiles_of_100_by_130_into_32(tmp_path):
    first, second = grey8(100, 130, seed=1), grey8(100, 130, seed=2)
    save_png(tmp_path / "800C-24H-Q-1.png", first)
    save_png(tmp_path / "970C-5M-Q-1.png", second)
    ds = import_images([tmp_path], ConditionSource(name_pattern=PATTERN), tile=32).dataset
    assert ds.signals.shape == (2 * 3 * 4, 32, 32)
    assert ds.ids[0] == "800C-24H-Q-1#t0-0" and ds.ids[11] == "800C-24H-Q-1#t2-3"
    np.testing.assert_array_equal(ds.signals[6], first[32:64, 64:96] / np.float32(255))  # tile (1, 2)
    np.testing.assert_array_equal(ds.signals[12 + 11], second[64:96, 96:128] / np.float32(255))
    assert ds.condition("tile_row").role == "meta"
    np.testing.assert_array_equal(ds.condition("tile_row").values[:12], np.repeat([0, 1, 2], 4))
    np.testing.assert_array_equal(ds.condition("tile_col").values[:12], np.tile([0, 1, 2, 3], 3))
    np.testing.assert_array_equal(ds.condition("anneal_temperature_C").values, [800] * 12 + [970] * 12)
    assert set(ds.sources) == {"800C-24H-Q-1.png", "970C-5M-Q-1.png"}


def test_tiles_let_images_of_different_sizes_in(tmp_path):
    save_png(tmp_path / "a.png", grey8(64, 64))
    save_png(tmp_path / "b.png", grey8(70, 40))
    assert len(import_images([tmp_path], tile=32).dataset) == 4 + 2


def test_cut_tiles_drops_the_ragged_edge():
    image = np.arange(10 * 7).reshape(10, 7)
    tiles = cut_tiles(image, 3)
    assert tiles.shape == (3, 2, 3, 3)
    np.testing.assert_array_equal(tiles[2, 1], image[6:9, 3:6])


def test_image_smaller_than_a_tile_is_bad(tmp_path):
    save_png(tmp_path / "big.png", grey8(64, 64))
    save_png(tmp_path / "small.png", grey8(20, 64))
    with pytest.raises(MatgenError, match=r"small\.png.*smaller than one 32×32 tile"):
        import_images([tmp_path], tile=32)
    result = import_images([tmp_path], tile=32, skip_bad=True)
    assert len(result.dataset) == 4 and result.skipped[0][0].endswith("small.png")


def test_resize_halves_and_scales_pixel_size(tmp_path):
    pixels = np.kron(grey8(10, 13), np.ones((2, 2), np.uint8))  # 20 × 26, every 2×2 block equal
    save_png(tmp_path / "a.png", pixels)
    ds = import_images([tmp_path], resize=(10, 13), pixel_size=0.5).dataset
    assert ds.signals.shape == (1, 10, 13)
    assert ds.pixel_size == pytest.approx(1.0) and ds.pixel_unit == "um"
    np.testing.assert_allclose(ds.signals[0], grey8(10, 13) / 255, atol=1e-6)


def test_resized_label_maps_keep_only_their_phases(tmp_path):
    rng = np.random.default_rng(3)
    save_tif(tmp_path / "a.tif", rng.choice(np.array([0, 2, 5], np.uint8), (50, 60)))
    save_tif(tmp_path / "b.tif", rng.choice(np.array([0, 2, 5], np.uint8), (40, 80)))
    ds = import_images([tmp_path], resize=(33, 47)).dataset
    assert ds.signal_type == "labels" and ds.signals.shape == (2, 33, 47)
    assert set(np.unique(ds.signals)) <= {0, 2, 5}


def test_different_sizes_need_resize_or_tile(tmp_path):
    save_png(tmp_path / "a.png", grey8(20, 30))
    save_png(tmp_path / "b.png", grey8(25, 30))
    with pytest.raises(MatgenError, match=r"a\.png is 20×30 px.*b\.png is 25×30 px.*--resize.*--tile"):
        import_images([tmp_path])


def test_resizing_different_widths_with_one_pixel_size_is_refused(tmp_path):
    save_png(tmp_path / "a.png", grey8(20, 30))
    save_png(tmp_path / "b.png", grey8(20, 60))
    with pytest.raises(MatgenError, match=r"pixel sizes differ.*--tile"):
        import_images([tmp_path], resize=(10, 15), pixel_size=1.0)
    assert import_images([tmp_path], resize=(10, 15)).dataset.pixel_size is None


def test_pixel_size_from_tiff_resolution_tags(tmp_path):
    # 20 000 px/cm = 0.5 µm/px
    save_tif(tmp_path / "cm.tif", grey8(8, 8), resolution=(20000, 20000), resolutionunit="CENTIMETER")
    assert import_images([tmp_path / "cm.tif"]).dataset.pixel_size == pytest.approx(0.5)
    assert import_images([tmp_path / "cm.tif"], pixel_unit="nm").dataset.pixel_size == pytest.approx(500)
    save_tif(tmp_path / "ij.tif", grey8(8, 8), imagej=True, resolution=(4.0, 4.0), metadata={"unit": "micron"})
    assert import_images([tmp_path / "ij.tif"]).dataset.pixel_size == pytest.approx(0.25)
    save_tif(tmp_path / "dpi.tif", grey8(8, 8), resolution=(72, 72), resolutionunit="INCH")
    assert import_images([tmp_path / "dpi.tif"]).dataset.pixel_size is None  # a software default
    assert import_images([tmp_path / "dpi.tif"], pixel_size=0.1).dataset.pixel_size == 0.1


def test_tiff_pixel_size_of_an_untagged_file(tmp_path):
    save_tif(tmp_path / "plain.tif", grey8(4, 4))
    with tifffile.TiffFile(tmp_path / "plain.tif") as tif:
        assert tiff_pixel_size_um(tif.pages[0].tags, tif.imagej_metadata) is None


def test_bad_pixel_size_and_tile_arguments(tmp_path):
    save_png(tmp_path / "a.png", grey8(8, 8))
    with pytest.raises(MatgenError, match="pixel size must be a positive number"):
        import_images([tmp_path], pixel_size=-1.0)
    with pytest.raises(MatgenError, match="tile size must be a positive whole number"):
        import_images([tmp_path], tile=0)
    with pytest.raises(MatgenError, match="resize takes two positive whole numbers"):
        import_images([tmp_path], resize=(10,))


def test_missing_and_empty_folders(tmp_path):
    with pytest.raises(MatgenError, match=r"nowhere: no such file or folder"):
        import_images([tmp_path / "nowhere"])
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    with pytest.raises(MatgenError, match=r"empty: no images found \(looked for .*\.png"):
        import_images([tmp_path / "empty"])


def test_corrupt_image_is_named_and_skip_bad_imports_the_rest(tmp_path):
    save_png(tmp_path / "good.png", grey8(8, 8))
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    (tmp_path / "broken.tif").write_bytes(b"II*\x00garbage")
    with pytest.raises(MatgenError, match=r"broken\.png: cannot be read as an image.*--skip-bad"):
        import_images([tmp_path])
    seen = []
    result = import_images([tmp_path], skip_bad=True, progress=lambda i, n, name: seen.append((i, n, name)))
    assert list(result.dataset.ids) == ["good"]
    assert sorted(Path(f).name for f, _ in result.skipped) == ["broken.png", "broken.tif"]
    assert seen[-1][:2] == (3, 3) and len(seen) == 3


def test_table_errors(tmp_path):
    save_png(tmp_path / "a.png", grey8(8, 8))
    save_png(tmp_path / "b.png", grey8(8, 8, seed=1))
    table = tmp_path / "t.csv"
    table.write_text("file,anneal_temperature_C\na.png,800\nb.png,900\nghost.png,700\n")
    with pytest.raises(MatgenError, match=r"t\.csv: line 4 names 'ghost\.png'"):
        import_images([tmp_path], ConditionSource(table=table))
    table.write_text("file,anneal_temperature_C\na.png,800\n")
    with pytest.raises(MatgenError, match=r"b\.png: not listed in t\.csv"):
        import_images([tmp_path], ConditionSource(table=table))
    table.write_text("file,anneal_temperature_C\na.png,800\nb.png,hot\n")
    with pytest.raises(MatgenError, match=r"t\.csv line 3: 'hot' in numeric condition 'anneal_temperature_C'"):
        import_images([tmp_path], ConditionSource(table=table))


def test_skip_bad_drops_a_file_missing_from_the_table(tmp_path):
    save_png(tmp_path / "a.png", grey8(8, 8))
    save_png(tmp_path / "b.png", grey8(8, 8, seed=1))
    table = tmp_path / "t.csv"
    table.write_text("file,anneal_temperature_C\na.png,800\n")
    result = import_images([tmp_path], ConditionSource(table=table), skip_bad=True)
    assert list(result.dataset.ids) == ["a"] and result.dataset.condition("anneal_temperature_C").values[0] == 800
    assert Path(result.skipped[0][0]).name == "b.png"


def test_name_that_does_not_fit_the_pattern(tmp_path):
    save_png(tmp_path / "800C-24H-Q-1.png", grey8(8, 8))
    save_png(tmp_path / "overview.png", grey8(8, 8))
    with pytest.raises(MatgenError, match=r"overview\.png: file name does not fit the pattern"):
        import_images([tmp_path], ConditionSource(name_pattern=PATTERN))


def test_round_trip_through_hdf5(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("800C-24H-Q-1", "970C-5M-Q-2"):
        save_tif(folder / f"{name}.tif", (grey8(40, 40) % 2).astype(np.uint8))
    ds = import_images([folder], ConditionSource(name_pattern=PATTERN), tile=16, pixel_size=1 / 26).dataset
    data.write(tmp_path / "masks.h5", ds)
    back = data.read(tmp_path / "masks.h5")
    np.testing.assert_array_equal(back.signals, ds.signals)
    assert back.signal_type == "labels" and back.pixel_size == pytest.approx(1 / 26) and back.pixel_unit == "um"
    assert list(back.ids) == list(ds.ids) and list(back.sources) == list(ds.sources)
    for name, condition in ds.conditions.items():
        np.testing.assert_array_equal(back.condition(name).values, condition.values)
        assert back.condition(name).unit == condition.unit and back.condition(name).role == condition.role


# ---------------------------------------------------------------- what a file says about itself


def test_the_size_hint_gives_values_the_options_accept(tmp_path):
    from matgen.cli.data import _parse_size

    save_png(tmp_path / "a.png", grey8(20, 30))
    save_png(tmp_path / "b.png", grey8(25, 30))
    with pytest.raises(MatgenError, match=r"pass --resize 20x30 to resample them all to the first one's size, "
                                          r"or --tile 16 to cut them into equal tiles") as error:
        import_images([tmp_path])
    assert _parse_size("20x30") == (20, 30)  # what the CLI makes of the hint
    assert import_images([tmp_path], resize=_parse_size("20x30")).dataset.signals.shape == (2, 20, 30)
    assert len(import_images([tmp_path], tile=16).dataset) == 2
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("suffix", [".png", ".tif", ".bmp", ".jpg"])
def test_an_image_cut_short_is_named_with_the_size_its_header_announces(tmp_path, suffix):
    path = tmp_path / f"cut{suffix}"
    if suffix == ".tif":
        save_tif(path, grey8(64, 80), rowsperstrip=8)
    else:
        Image.fromarray(grey8(64, 80)).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 6 // 10])
    save_png(tmp_path / "good.png", grey8(64, 80))
    with pytest.raises(MatgenError, match=rf"cut\{suffix}: is cut short: its header says 64×80 px \(H×W\) but the file "
                                          r"ends before the last pixel .*; copy the file again"):
        import_images([tmp_path])
    result = import_images([tmp_path], skip_bad=True)
    assert list(result.dataset.ids) == ["good"] and "cut short" in result.skipped[0][1]


def test_non_square_pixels_in_the_tags_need_a_pixel_size(tmp_path):
    save_tif(tmp_path / "a.tif", grey8(8, 8), resolution=(20000, 10000), resolutionunit="CENTIMETER")
    with pytest.raises(MatgenError, match=r"a\.tif has non-square pixels: its resolution tags say 0\.5 µm wide and 1 µm "
                                          r"high; pass --pixel-size"):
        import_images([tmp_path])
    assert import_images([tmp_path], pixel_size=0.5).dataset.pixel_size == 0.5


def test_numeric_condition_without_a_unit_is_a_warning(tmp_path):
    save_png(tmp_path / "a.png", grey8(8, 8))
    save_png(tmp_path / "b.png", grey8(8, 8, seed=1))
    table = tmp_path / "t.csv"
    table.write_text("file,hardness,anneal_temperature_C\na.png,300,800\nb.png,310,900\n")
    result = import_images([tmp_path], ConditionSource(table=table))
    assert len(result.warnings) == 1 and result.warnings[0].startswith("condition 'hardness' is a number without a unit")
    assert "'hardness (GPa)'" in result.warnings[0]


def test_the_tile_hint_is_a_tile_that_fits(tmp_path):
    save_png(tmp_path / "big.png", grey8(64, 64))
    save_png(tmp_path / "small.png", grey8(20, 64))
    with pytest.raises(MatgenError, match=r"small\.png: is 20×64 px, smaller than one 32×32 tile; use --tile 20 or smaller"):
        import_images([tmp_path], tile=32)
    assert len(import_images([tmp_path], tile=20).dataset) == 9 + 3


def test_appending_images_of_another_size_names_the_resize_that_fits(tmp_path):
    from matgen.data import concat

    a = data.Dataset("micrograph", np.zeros((1, 16, 24), np.float32), signal_type="grey", ids=["a"])
    b = data.Dataset("micrograph", np.zeros((1, 8, 8), np.float32), signal_type="grey", ids=["b"])
    with pytest.raises(MatgenError, match=r"image sizes differ: \(16, 24\) vs \(8, 8\); re-import the new images with "
                                          r"--resize 16x24"):
        concat([a, b])
