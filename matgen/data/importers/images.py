"""Micrograph importer: a folder of PNG/TIFF/JPEG/BMP images -> one ``micrograph`` dataset.

Each file becomes one row (or, with ``tile``, one row per tile), shape (N, H, W). Two signal types:

* ``grey``: float32 in [0, 1]. 8-bit images are divided by 255, 16-bit ones by 65535; float images
  are kept as they are when every value lies in [0, 1] (else the file is bad: normalise it first).
  A colour image whose channels are equal is read as that one channel; a truly coloured one
  becomes its luminance, Y = 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601, what Pillow's ``"L"`` mode
  uses). An alpha channel is dropped.
* ``labels``: integer phase maps (one value per phase, -1 allowed for background), stored as
  uint8 when every value is in 0..255, else int16 (or int32). With ``image_type="auto"`` an
  integer image whose values all lie in -1..15 is taken for a label map (the UHCS masks {0, 1},
  its int64 maps with -1 background); anything else is grey. A palette image with a coloured
  palette is read as its palette indices (a colour-coded phase map).

Pixel size: the ``pixel_size`` argument; else the TIFF resolution tags when they mean something
(ImageJ's ``unit=micron``/``nm``/``mm``, or a ResolutionUnit of centimetre, or inch at a value that
is not a screen/print dpi such as 72 or 300); else unknown (None). Resizing scales it by
old width / new width.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from matgen.common.progress import Progress, no_progress
from matgen.data.conditions import ColumnTyping, build_conditions
from matgen.data.dataset import Condition, Dataset
from matgen.data.importers.common import (
    BadFiles, ConditionSource, ImportResult, conditions_for_files, find_files, row_id,
    spec_with_pattern,
)
from matgen.errors import MatgenError

IMAGE_EXTENSIONS = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp")
IMAGE_TYPES = ("auto", "grey", "labels")

#: ``auto`` calls an integer image a label map when all its values lie in this range.
LABEL_VALUE_RANGE = (-1, 15)
#: Length of one pixel-size unit in µm (for reading TIFF resolution tags into ``pixel_unit``).
UM_PER_UNIT = {"nm": 1e-3, "um": 1.0, "µm": 1.0, "micron": 1.0, "mm": 1e3, "cm": 1e4, "m": 1e6}
#: Resolutions (pixels per inch) that image software writes by default: they say nothing about the sample.
_DEFAULT_DPI = {1.0, 72.0, 96.0, 150.0, 300.0, 600.0, 1200.0}
_LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])


class BadImage(ValueError):
    """A file that cannot be imported; the message says why (goes to :class:`BadFiles`)."""


@dataclass
class RawImage:
    """One image as read from its file, before typing.

    Attributes:
        pixels: (H, W) in the file's dtype (colour already reduced to one channel).
        pixel_size_um: edge of one pixel (µm) from the file's tags, or None.
        is_colour: True when the pixels are the luminance of a truly coloured image.
        pixel_height_um: height of one pixel (µm) when the tags say it differs from its width, else None.
    """

    pixels: np.ndarray
    pixel_size_um: float | None = None
    is_colour: bool = False
    pixel_height_um: float | None = None


@dataclass
class LoadedImage:
    """One image ready for the dataset.

    Attributes:
        kind: ``grey`` or ``labels``.
        pixels: (H, W) float32 in [0, 1] (grey) or int32 phases (labels), after resizing.
        width_scale: original width / current width (1 when not resized): pixel sizes scale by it.
        pixel_size_um: edge of one original pixel (µm) from the file's tags, or None.
        pixel_height_um: height of one original pixel (µm) when the tags make it differ from its width.
    """

    kind: str
    pixels: np.ndarray
    width_scale: float = 1.0
    pixel_size_um: float | None = None
    pixel_height_um: float | None = None


def import_images(
    inputs: Sequence[str | Path],
    source: ConditionSource = ConditionSource(),
    spec: ColumnTyping | None = None,
    tile: int | None = None,
    resize: tuple[int, int] | None = None,
    image_type: str = "auto",
    pixel_size: float | None = None,
    pixel_unit: str = "um",
    skip_bad: bool = False,
    progress: Progress = no_progress,
) -> ImportResult:
    """A micrograph dataset (N, H, W) from image files, with their conditions.

    Args:
        inputs: one folder (searched recursively) or a list of image files.
        source: where the conditions come from (table and/or file-name pattern).
        spec: role overrides and categorical / duration columns; the pattern's ``{x:duration}``
            fields are added to its durations.
        tile: cut each image into non-overlapping tile × tile pieces (ragged edge dropped); each
            piece is a row with id ``<file>#t<r>-<c>`` and meta conditions ``tile_row``, ``tile_col``.
        resize: (H, W) in pixels to resample every image to (before tiling); area average (or
            bilinear when enlarging) for grey, nearest for label maps so that only phase values appear.
        image_type: ``auto``, ``grey`` or ``labels`` (see the module docstring).
        pixel_size: edge of one pixel in ``pixel_unit`` for every file (overrides TIFF tags).
        pixel_unit: unit of the pixel size, e.g. ``um``, ``nm``.
        skip_bad: leave out unreadable files (listed in the result) instead of raising.
        progress: ``progress(done, total, file name)`` after each file.

    Raises:
        MatgenError: a bad argument, a bad file (unless ``skip_bad``), images of different sizes
            without ``tile``/``resize``, grey images mixed with label maps, or differing pixel sizes.
    """
    _check_arguments(tile, resize, image_type, pixel_size)
    root, files = find_files(inputs, IMAGE_EXTENSIONS, "images")
    bad = BadFiles(skip_bad)
    files, rows, where = conditions_for_files(files, root, source, bad)
    loaded = []  # (index into files, LoadedImage)
    for i, path in enumerate(files):
        try:
            loaded.append((i, load_image(path, image_type, resize, tile)))
        except BadImage as error:
            bad.report(path, str(error))
        progress(i + 1, len(files), path.name)
    if not loaded:
        raise MatgenError(f"{root}: no image could be imported; {len(bad.skipped)} file(s) were skipped")
    kept_files = [files[i] for i, _ in loaded]
    images = [image for _, image in loaded]
    kind = _common_kind(kept_files, [image.kind for image in images])
    pixels = [image.pixels for image in images]
    if tile is None:
        _check_same_size(kept_files, pixels)
    size = _common_pixel_size(kept_files, images, pixel_size, pixel_unit)
    kept_rows, kept_where = [rows[i] for i, _ in loaded], [where[i] for i, _ in loaded]
    notes: list[str] = []  # warnings (the module `warnings` is Python's)
    conditions = build_conditions(kept_rows, kept_where, spec_with_pattern(spec, source), notes)
    signals, ids, sources, owner, tile_rc = _rows(root, kept_files, pixels, tile)
    conditions = {name: c.take(owner) for name, c in conditions.items()}
    if tile is not None:
        conditions["tile_row"] = Condition(tile_rc[:, 0], role="meta", description="tile row in its image")
        conditions["tile_col"] = Condition(tile_rc[:, 1], role="meta", description="tile column in its image")
    if kind == "labels":
        signals = signals.astype(label_dtype(signals))
    dataset = Dataset(
        kind="micrograph", signals=signals, conditions=conditions, ids=ids, sources=sources,
        synthetic=np.zeros(len(signals), bool), pixel_size=size, pixel_unit=pixel_unit, signal_type=kind,
    )
    return ImportResult(dataset.check(), bad.skipped, notes)


def _check_arguments(tile, resize, image_type, pixel_size) -> None:
    if image_type not in IMAGE_TYPES:
        raise MatgenError(f"unknown image type '{image_type}'; choose from {', '.join(IMAGE_TYPES)}")
    if tile is not None and (int(tile) != tile or tile < 1):
        raise MatgenError(f"tile size must be a positive whole number of pixels, got {tile}")
    if resize is not None and (len(resize) != 2 or any(int(v) != v or v < 1 for v in resize)):
        raise MatgenError(f"resize takes two positive whole numbers (height, width in pixels), got {resize}")
    if pixel_size is not None and not (np.isfinite(pixel_size) and pixel_size > 0):
        raise MatgenError(f"pixel size must be a positive number, got {pixel_size}")


def load_image(
    path: Path, image_type: str = "auto", resize: tuple[int, int] | None = None, tile: int | None = None
) -> LoadedImage:
    """Read, type and resize one image; checks that it holds at least one tile.

    Raises:
        BadImage: the file cannot be used (the message says why).
    """
    raw = read_image(path)
    kind = image_kind(raw, image_type)
    pixels = to_labels(raw.pixels) if kind == "labels" else to_grey(raw)
    width = pixels.shape[1]
    if resize is not None:
        pixels = resize_image(pixels, resize, labels=kind == "labels")
    if tile is not None:
        cut_tiles(pixels, tile)
    return LoadedImage(kind, pixels, width / pixels.shape[1], raw.pixel_size_um, raw.pixel_height_um)


# --- reading --------------------------------------------------------------------------------------


def read_image(path: Path) -> RawImage:
    """The pixels of one image file (TIFF through tifffile, the rest through Pillow).

    Raises:
        BadImage: the file cannot be opened, holds several pages, or has an unusable layout.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the library never prints; a file it cannot use is reported
        return _read_any(path)


def _read_any(path: Path) -> RawImage:
    if path.suffix.lower() in (".tif", ".tiff"):
        try:
            return _read_tiff(path)
        except BadImage:
            raise
        except Exception as error:  # tifffile raises many types; Pillow may still read it
            if _cut_short(error):
                raise BadImage(_cut_short_reason(path, error)) from None
            try:
                return _read_pillow(path)
            except Exception:
                raise BadImage(f"cannot be read as a TIFF image ({_short(error)})") from None
    try:
        return _read_pillow(path)
    except BadImage:
        raise
    except Exception as error:
        if _cut_short(error):
            raise BadImage(_cut_short_reason(path, error)) from None
        raise BadImage(f"cannot be read as an image ({_short(error)})") from None


def _cut_short(error: Exception) -> bool:
    """True for the errors of a file that ends before the pixels its header announces."""
    text = str(error).lower()
    return any(s in text for s in ("truncated", "failed to read", "incomplete", "unexpected end"))


def _cut_short_reason(path: Path, error: Exception) -> str:
    """'is cut short: its header says H×W px but ...' with the size the header announces when it can be read."""
    try:
        from PIL import Image

        with Image.open(path) as image:
            width, height = image.size
        said = f"its header says {height}×{width} px (H×W) but "
    except Exception:
        said = ""
    return f"is cut short: {said}the file ends before the last pixel ({_short(error)}); copy the file again"


def _short(error: Exception) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text[:120]}" if text else type(error).__name__


def _read_tiff(path: Path) -> RawImage:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        pixels = series.asarray()
        size_um = tiff_pixel_size_um(tif.pages[0].tags, tif.imagej_metadata)
        height_um = tiff_pixel_size_um(tif.pages[0].tags, tif.imagej_metadata, "YResolution")
    samples = series.pages[0].samplesperpixel if series.pages else 1
    if pixels.ndim == 3 and samples > 1 and pixels.shape[0] == samples and pixels.shape[-1] != samples:
        pixels = np.moveaxis(pixels, 0, -1)  # planar (C, H, W) -> (H, W, C)
    if pixels.ndim == 3 and samples == 1:
        raise BadImage(f"holds a stack of {pixels.shape[0]} images; split it into one file per image")
    raw = _one_channel(pixels, size_um)
    if size_um is not None and height_um is not None and not np.isclose(size_um, height_um, rtol=1e-6):
        raw.pixel_height_um = height_um
    return raw


def _read_pillow(path: Path) -> RawImage:
    from PIL import Image

    with Image.open(path) as image:
        image.load()
        if getattr(image, "n_frames", 1) > 1:
            raise BadImage(f"holds {image.n_frames} frames; split it into one file per image")
        if image.mode == "P":
            image = _palette_image(image)
        elif image.mode not in ("1", "L", "LA", "I", "F", "RGB", "RGBA") and not image.mode.startswith("I;16"):
            image = image.convert("RGB")
        pixels = np.asarray(image)
    if pixels.dtype == bool:
        pixels = pixels.astype(np.uint8)
    if pixels.dtype == np.int32 and pixels.size and pixels.min() >= 0 and pixels.max() <= 65535:
        pixels = pixels.astype(np.uint16)  # Pillow's mode "I" for a 16-bit file
    return _one_channel(pixels, None)


def _palette_image(image):
    """A grey palette -> its grey values; a coloured palette -> the indices (a phase map)."""
    palette = np.asarray(image.getpalette() or [], dtype=np.int32).reshape(-1, 3)
    used = np.unique(np.asarray(image))
    used = used[used < len(palette)]
    grey = len(palette) == 0 or bool((palette[used] == palette[used, :1]).all())
    return image.convert("L") if grey else image


def _one_channel(pixels: np.ndarray, size_um: float | None) -> RawImage:
    """(H, W) or (H, W, C) -> one channel: equal channels kept exactly, colour -> luminance."""
    if pixels.ndim == 2:
        return RawImage(pixels, size_um)
    if pixels.ndim != 3 or pixels.shape[-1] not in (2, 3, 4):
        raise BadImage(f"has shape {pixels.shape}; expected a 2-D grey image or an RGB(A) image")
    colour = pixels[..., :1] if pixels.shape[-1] == 2 else pixels[..., :3]  # drop alpha
    if (colour == colour[..., :1]).all():
        return RawImage(np.ascontiguousarray(colour[..., 0]), size_um)
    scale = np.iinfo(pixels.dtype).max if np.issubdtype(pixels.dtype, np.integer) else 1.0
    luma = (colour.astype(np.float64) @ _LUMA_WEIGHTS) / scale
    return RawImage(luma, size_um, is_colour=True)


def tiff_pixel_size_um(tags, imagej_metadata: dict | None = None, tag_name: str = "XResolution") -> float | None:
    """Edge of one pixel (µm) from TIFF XResolution/ResolutionUnit (or ImageJ's unit), else None.

    XResolution is pixels per unit (``tag_name="YResolution"`` gives the pixel's height). ImageJ writes ResolutionUnit "none" and names the unit in its
    metadata (``unit=micron``); ResolutionUnit 3 is centimetre, 2 inch. Inch resolutions equal to a
    common screen/print dpi (72, 96, 300...) are defaults of image software and are ignored.
    """
    tag = tags.get(tag_name)
    if tag is None:
        return None
    value = tag.value  # a rational (numerator, denominator): pixels per unit
    per_unit = (value[0] / value[1] if value[1] else 0.0) if isinstance(value, tuple) else float(value)
    if not (np.isfinite(per_unit) and per_unit > 0):
        return None
    unit_tag = tags.get("ResolutionUnit")
    unit = int(unit_tag.value) if unit_tag is not None else 2
    imagej_unit = str((imagej_metadata or {}).get("unit", "")).replace("\\u00B5", "µ").strip().lower()
    if imagej_unit in UM_PER_UNIT:
        return UM_PER_UNIT[imagej_unit] / per_unit
    if unit == 3:
        return 1e4 / per_unit
    if unit == 2 and round(per_unit, 6) not in _DEFAULT_DPI:
        return 25400.0 / per_unit
    return None


# --- typing ---------------------------------------------------------------------------------------


def image_kind(raw: RawImage, image_type: str = "auto") -> str:
    """``grey`` or ``labels`` for one image: ``image_type`` unless it is ``auto``.

    Raises:
        BadImage: a colour image asked to be a label map.
    """
    if image_type == "labels" and raw.is_colour:
        raise BadImage("is a colour image and cannot be a label map; save the phases as one integer per pixel")
    if image_type != "auto":
        return image_type
    return "labels" if looks_like_labels(raw.pixels) else "grey"


def looks_like_labels(pixels: np.ndarray) -> bool:
    """True for an integer image whose values all lie in :data:`LABEL_VALUE_RANGE` (-1..15)."""
    if not (np.issubdtype(pixels.dtype, np.integer) or pixels.dtype == bool) or pixels.size == 0:
        return False
    low, high = LABEL_VALUE_RANGE
    return bool(pixels.min() >= low and pixels.max() <= high)


def to_grey(raw: RawImage) -> np.ndarray:
    """(H, W) float32 in [0, 1]: 8-bit / 255, 16-bit / 65535, float kept when already in [0, 1].

    Raises:
        BadImage: NaN/inf pixels, float values outside [0, 1], or a signed/32-bit integer image.
    """
    pixels = raw.pixels
    if pixels.dtype in (np.uint8, np.uint16):
        return (pixels / np.iinfo(pixels.dtype).max).astype(np.float32)
    if pixels.dtype == bool:
        return pixels.astype(np.float32)
    if np.issubdtype(pixels.dtype, np.floating):
        if not np.isfinite(pixels).all():
            raise BadImage(f"has {int((~np.isfinite(pixels)).sum())} NaN or infinite pixel(s); fill or crop them")
        low, high = float(pixels.min()), float(pixels.max())
        if low < 0.0 or high > 1.0:
            raise BadImage(
                f"float pixel values run from {low:g} to {high:g}, outside [0, 1]; normalise the image "
                "(e.g. (x - min) / (max - min)) or save it as 8/16-bit"
            )
        return pixels.astype(np.float32)
    raise BadImage(
        f"is a {pixels.dtype} image (values {pixels.min()}..{pixels.max()}); grey images must be 8- or 16-bit "
        "or float in [0, 1]; convert it, or pass --image-type labels if it is a phase map"
    )


def to_labels(pixels: np.ndarray) -> np.ndarray:
    """(H, W) int32 phase map; a float image must hold whole numbers.

    Raises:
        BadImage: non-integral or out-of-range values.
    """
    if np.issubdtype(pixels.dtype, np.floating):
        if not np.isfinite(pixels).all() or not (pixels == np.round(pixels)).all():
            raise BadImage("is a float image with non-integer values, so not a label map; pass --image-type grey")
    if pixels.size and (pixels.min() < np.iinfo(np.int32).min or pixels.max() > np.iinfo(np.int32).max):
        raise BadImage("has label values beyond the 32-bit integer range; renumber the phases")
    return pixels.astype(np.int32)


def label_dtype(signals: np.ndarray) -> np.dtype:
    """The smallest of uint8 / int16 / int32 that holds every phase value in ``signals``."""
    low, high = (int(signals.min()), int(signals.max())) if signals.size else (0, 0)
    if low >= 0 and high <= 255:
        return np.dtype(np.uint8)
    if low >= -32768 and high <= 32767:
        return np.dtype(np.int16)
    return np.dtype(np.int32)


# --- geometry -------------------------------------------------------------------------------------


def resize_image(pixels: np.ndarray, size_hw: tuple[int, int], labels: bool) -> np.ndarray:
    """(H, W) -> size_hw with Pillow: area average when shrinking (bilinear when enlarging) for grey,
    nearest neighbour for label maps (so only their phase values appear)."""
    from PIL import Image

    height, width = int(size_hw[0]), int(size_hw[1])
    if pixels.shape == (height, width):
        return pixels
    if labels:
        image = Image.fromarray(pixels.astype(np.int32))
        return np.asarray(image.resize((width, height), Image.Resampling.NEAREST)).astype(np.int32)
    shrinking = height <= pixels.shape[0] and width <= pixels.shape[1]
    method = Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR
    image = Image.fromarray(pixels.astype(np.float32))
    resized = np.asarray(image.resize((width, height), method))
    return np.clip(resized, 0.0, 1.0).astype(np.float32)


def cut_tiles(pixels: np.ndarray, tile: int) -> np.ndarray:
    """(H, W) -> (H // tile, W // tile, tile, tile) non-overlapping tiles; the ragged edge is dropped.

    Raises:
        BadImage: the image is smaller than one tile.
    """
    height, width = pixels.shape
    rows, cols = height // tile, width // tile
    if rows == 0 or cols == 0:
        raise BadImage(f"is {height}×{width} px, smaller than one {tile}×{tile} tile; use --tile {min(height, width)} "
                       "or smaller")
    cropped = pixels[: rows * tile, : cols * tile]
    return cropped.reshape(rows, tile, cols, tile).swapaxes(1, 2)


# --- assembling -----------------------------------------------------------------------------------


def _common_kind(files: Sequence[Path], kinds: Sequence[str]) -> str:
    for other, kind in zip(files, kinds):
        if kind != kinds[0]:
            grey, labels = (files[0], other) if kinds[0] == "grey" else (other, files[0])
            raise MatgenError(
                f"grey images and label maps are mixed: {grey.name} reads as grey, {labels.name} as a label map; "
                "import them separately, or pass --image-type grey or --image-type labels"
            )
    return kinds[0]


def _check_same_size(files: Sequence[Path], pixels: Sequence[np.ndarray]) -> None:
    """Raise, with the ``--resize`` and ``--tile`` values that would fit them, when the images differ in size."""
    for path, image in zip(files, pixels):
        if image.shape != pixels[0].shape:
            (h0, w0), (h1, w1) = pixels[0].shape, image.shape
            tile = 2 ** int(np.log2(min(min(p.shape) for p in pixels)))  # the largest power of 2 every image holds
            raise MatgenError(
                f"images differ in size: {files[0].name} is {h0}×{w0} px (H×W), {path.name} is {h1}×{w1} px; "
                f"pass --resize {h0}x{w0} to resample them all to the first one's size, or --tile {tile} to cut "
                "them into equal tiles"
            )


def _common_pixel_size(
    files: Sequence[Path], images: Sequence[LoadedImage], pixel_size: float | None, pixel_unit: str
) -> float | None:
    """One pixel size (in ``pixel_unit``) for the dataset after resizing, or None when unknown.

    Raises:
        MatgenError: the files' pixel sizes differ (from tags, or because resizing images of
            different widths gives them different pixel sizes), or a file's tags give it
            non-square pixels and no ``pixel_size`` overrides them.
    """
    if pixel_size is None:
        for path, image in zip(files, images):
            if image.pixel_height_um is not None:
                raise MatgenError(
                    f"{path.name} has non-square pixels: its resolution tags say {image.pixel_size_um:.6g} µm wide "
                    f"and {image.pixel_height_um:.6g} µm high; pass --pixel-size to set the size of every pixel, "
                    "or resample the image to square pixels"
                )
    if pixel_size is None and pixel_unit not in UM_PER_UNIT:
        return None  # tags are in µm and this unit has no known length
    per_file = []
    for image in images:
        size = pixel_size if pixel_size is not None else (
            None if image.pixel_size_um is None else image.pixel_size_um / UM_PER_UNIT[pixel_unit])
        per_file.append(None if size is None else size * image.width_scale)
    first = per_file[0]
    for path, size in zip(files, per_file):
        same = (size is None and first is None) or (
            size is not None and first is not None and bool(np.isclose(size, first, rtol=1e-6)))
        if not same:
            shown = [("unknown" if s is None else f"{s:.6g} {pixel_unit}") for s in (first, size)]
            fix = ("resizing images of different widths changes their pixel sizes differently; use --tile instead"
                   if pixel_size is not None else "import them separately, or pass --pixel-size to set one")
            raise MatgenError(f"pixel sizes differ: {files[0].name} has {shown[0]}, {path.name} has {shown[1]}; {fix}")
    return None if first is None else float(first)


def _rows(
    root: Path, files: Sequence[Path], pixels: Sequence[np.ndarray], tile: int | None
) -> tuple[np.ndarray, list[str], list[str], np.ndarray, np.ndarray]:
    """Stack images (or their tiles) into rows.

    Returns signals (N, H, W), ids, sources, the index of each row's image (N,), and each row's
    (tile_row, tile_col) (N, 2).
    """
    signals, ids, sources, owner, tile_rc = [], [], [], [], []
    for index, (path, image) in enumerate(zip(files, pixels)):
        source = _relative(root, path)
        if tile is None:
            signals.append(image)
            ids.append(row_id(root, path))
            sources.append(source)
            owner.append(index)
            tile_rc.append((0, 0))
            continue
        tiles = cut_tiles(image, tile)  # (rows, cols, T, T)
        for r in range(tiles.shape[0]):
            for c in range(tiles.shape[1]):
                signals.append(tiles[r, c])
                ids.append(row_id(root, path, f"t{r}-{c}"))
                sources.append(source)
                owner.append(index)
                tile_rc.append((r, c))
    return np.stack(signals), ids, sources, np.asarray(owner), np.asarray(tile_rc, dtype=np.float64)


def _relative(root: Path, path: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.name
