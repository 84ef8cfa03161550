"""The training data of a run (:class:`DataSpec`) and its signals to the network's tensors and back.

The network sees x (N, C, *S) with values in about [-1, 1]:

* label maps with phases 0 .. P-1:  x = 2 l / (P - 1) - 1;  back: l = round((x + 1) (P - 1) / 2),
  clipped to 0 .. P-1, which for two phases is thresholding x at 0.
* grey micrographs g in [0, 1]:     x = 2 g - 1;  back: g = clip((x + 1) / 2, 0, 1).
* spectra s (N, L), each spectrum on its own (``spectrum_norm``), to u in [0, 1], then x = 2 u - 1:
  ``max``: u = s / max|s|; ``log-max``: u = log1p(k max(s, 0) / max s) / log1p(k), k = 1000,
  which lifts weak bands (EELS plasmons beside the zero-loss peak). The inverse gives relative
  intensities (max ~ 1): the absolute scale (counts) of a spectrum is not modelled.

Shapes: micrographs (N, H, W) become (N, 1, H, W), (N, C, H, W) stay; spectra (N, L) become
(N, 1, L') with L' the next multiple of the network's size multiple, padded at the end by repeating
the last value (sampling crops back to L). A micrograph size that is not a multiple raises a
MatgenError: padding would break the periodicity of circular micrographs.

Condition columns are in :mod:`matgen.runs.conditions`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from matgen.data.dataset import Axis, Dataset
from matgen.errors import MatgenError

#: Built-in datasets whose micrographs are periodic (circular padding on by default).
PERIODIC_BUILDERS = ("spinodal", "composite")
LOG_MAX_K = 1000.0  # k of the log-max spectrum normalisation


@dataclass
class DataSpec:
    """What the training data was and how to turn network outputs back into it; saved in config.json."""

    path: str  # the training dataset file
    sha256: str  # its SHA-256 (a resumed run checks it trains on the same file)
    kind: str  # micrograph, xrd, raman, eels or spectrum
    signal_type: str  # labels, grey or intensity
    norm: str  # labels, grey, max or log-max (see the module docstring)
    shape: tuple[int, ...]  # (L',) or (H, W) as the network sees it
    channels: int = 1  # C
    length: int = 0  # spectra: the dataset's L (samples are cropped back to it); 0 for micrographs
    stored_channels: bool = False  # micrographs stored (N, C, H, W) rather than (N, H, W)
    n_phases: int = 2  # label maps: phases 0 .. n_phases - 1
    circular: bool = False  # periodic padding in the network
    signal_unit: str = ""  # unit of the dataset's signals
    axis: dict | None = None  # spectra: name, unit, values, wavelength_angstrom
    pixel_size: float | None = None  # micrographs: pixel edge in pixel_unit
    pixel_unit: str = "um"
    roles: dict = field(default_factory=dict)  # condition name -> role in the training dataset
    builder: str = ""  # the built-in dataset it came from ("" when imported)
    n_train: int = 0  # training rows
    n_val: int = 0  # validation rows

    def to_dict(self) -> dict:
        d = asdict(self)
        d["shape"] = list(self.shape)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "DataSpec":
        d = dict(d)
        d["shape"] = tuple(d["shape"])
        return cls(**d)


def describe_data(
    ds: Dataset, path: str, sha256: str, spectrum_norm: str, circular: bool | None, multiple: int,
) -> DataSpec:
    """The DataSpec of ``ds`` for a network whose sizes must be multiples of ``multiple``.

    Raises:
        MatgenError: an empty dataset, label maps with negative phases, or a micrograph size that
            is not a multiple of ``multiple``.
    """
    if len(ds) == 0:
        raise MatgenError(f"{path}: the dataset is empty; nothing to fine-tune on")
    builder = str(ds.attrs.get("builder", ""))
    if ds.is_spectrum:
        length = ds.signals.shape[1]
        padded = -(-length // multiple) * multiple
        axis = {"name": ds.axis.name, "unit": ds.axis.unit, "values": ds.axis.values.tolist(),
                "wavelength_angstrom": ds.axis.wavelength_angstrom}
        return DataSpec(path, sha256, ds.kind, ds.signal_type, spectrum_norm, (padded,), 1, length,
                        signal_unit=ds.signal_unit, axis=axis, circular=bool(circular), builder=builder)
    stored_channels = ds.signals.ndim == 4
    channels = ds.signals.shape[1] if stored_channels else 1
    shape = tuple(ds.signals.shape[-2:])
    if any(size % multiple for size in shape):
        raise MatgenError(f"{path}: micrographs are {shape[0]}x{shape[1]} px but this network needs sizes that are "
                          f"multiples of {multiple}; {_resize_hint(shape, multiple, builder)}")
    n_phases = 2
    if ds.signal_type == "labels":
        low, high = int(ds.signals.min()), int(ds.signals.max())
        if low < 0:
            raise MatgenError(f"{path}: label maps hold phase {low}; phases must be 0, 1, 2, ...")
        n_phases = max(2, high + 1)
    if circular is None:
        circular = builder in PERIODIC_BUILDERS
    return DataSpec(path, sha256, ds.kind, ds.signal_type, "labels" if ds.signal_type == "labels" else "grey",
                    shape, channels, 0, stored_channels, n_phases, bool(circular), ds.signal_unit,
                    pixel_size=ds.pixel_size, pixel_unit=ds.pixel_unit, builder=builder)


def _resize_hint(shape: tuple[int, int], multiple: int, builder: str = "") -> str:
    """How to make micrographs of ``shape`` (H, W) again with both sizes multiples of ``multiple``:
    re-import with ``--resize`` / ``--tile``, or rebuild a built-in dataset (``builder``) with ``--size``."""
    down = [size // multiple * multiple or multiple for size in shape]
    up = [-(-size // multiple) * multiple for size in shape]
    options = [f"--resize {down[0]}x{down[1]}"] + ([f"--resize {up[0]}x{up[1]}"] if up != down else [])
    tile = min(shape) // multiple * multiple
    if tile:
        options.append(f"--tile {tile}")
    if builder and shape[0] == shape[1]:
        other = f" (or --size {up[0]})" if up != down else ""
        return (f"rebuild it with `matgen data build {builder} --size {down[0]} -o NEW.h5`{other} and train on the new "
                f"file (micrographs imported from files: add {' or '.join(options)} to `matgen data import`)")
    return (f"add {' or '.join(options)} to the `matgen data import` command that made the file "
            "(with --force to replace it) and train on the new file")


def to_network(signals: np.ndarray, spec: DataSpec) -> np.ndarray:
    """Return x (N, C, *shape) float32 in about [-1, 1] from dataset signals (N, L) / (N, [C,] H, W)."""
    s = np.asarray(signals, dtype=np.float64)
    if spec.norm == "labels":
        u = s / (spec.n_phases - 1)
    elif spec.norm == "grey":
        u = np.clip(s, 0.0, 1.0)
    else:
        if s.shape[1] != spec.length:
            raise MatgenError(f"spectra have {s.shape[1]} points; this model was trained on {spec.length}")
        scale = np.abs(s).max(axis=1, keepdims=True)
        u = s / np.where(scale > 0, scale, 1.0)  # (N, L)
        if spec.norm == "log-max":
            u = np.log1p(LOG_MAX_K * np.clip(u, 0.0, None)) / np.log1p(LOG_MAX_K)
        u = np.pad(u, ((0, 0), (0, spec.shape[0] - spec.length)), mode="edge")  # (N, L')
    x = 2.0 * u - 1.0
    if not spec.stored_channels:
        x = x[:, None]  # (N, 1, *S)
    return x.astype(np.float32)


def from_network(x: np.ndarray, spec: DataSpec, grey: bool = False) -> np.ndarray:
    """Return dataset signals from network outputs x (N, C, *shape): the inverse of :func:`to_network`.

    Label maps come back as uint8 phases; with ``grey`` as float32 values (x + 1) / 2 in [0, 1]
    instead (the soft map before thresholding). Spectra come back cropped to L, as relative
    intensities.
    """
    u = (np.asarray(x, dtype=np.float64) + 1.0) / 2.0
    if not spec.stored_channels:
        u = u[:, 0]
    if spec.norm == "labels" and not grey:
        return np.clip(np.rint(u * (spec.n_phases - 1)), 0, spec.n_phases - 1).astype(np.uint8)
    if spec.norm in ("labels", "grey"):
        return np.clip(u, 0.0, 1.0).astype(np.float32)
    u = u[:, : spec.length]
    if spec.norm == "log-max":
        u = np.expm1(np.clip(u, 0.0, None) * np.log1p(LOG_MAX_K)) / LOG_MAX_K
    return u.astype(np.float32)


def soft_signals(x, spec: DataSpec):
    """The differentiable inverse of :func:`to_network` before any rounding, for a torch x (B, C, *shape).

    Label maps and grey micrographs give (B, [C,] H, W) values in [0, 1] (for two-phase label maps:
    the soft phase-1 field phi, which :func:`from_network` thresholds at 0.5); spectra give the
    relative intensities (B, L) cropped to the training length, as :func:`from_network` does.
    """
    import torch

    u = ((x + 1.0) / 2.0).clamp(0.0, 1.0) if spec.norm in ("labels", "grey") else (x + 1.0) / 2.0
    if not spec.stored_channels:
        u = u[:, 0]
    if spec.norm in ("labels", "grey"):
        return u
    u = u[:, : spec.length]
    if spec.norm == "log-max":
        u = torch.expm1(u.clamp_min(0.0) * math.log1p(LOG_MAX_K)) / LOG_MAX_K
    return u


def check_fits(ds: Dataset, data: DataSpec, where: str) -> None:
    """Raise a MatgenError unless ``ds`` holds signals of the same kind and form as a run's training data (``data``)."""
    if ds.kind != data.kind or ds.signal_type != data.signal_type:
        raise MatgenError(f"{where} holds {ds.signal_type} {ds.kind} signals; the run was trained on "
                          f"{data.signal_type} {data.kind} signals")
    if len(ds) == 0:
        raise MatgenError(f"{where}: the dataset is empty; nothing to fine-tune on")
    if ds.is_spectrum and data.axis is not None and not np.allclose(ds.axis.values, data.axis["values"]):
        run_axis = Axis(data.axis["name"], data.axis["unit"], data.axis["values"], data.axis.get("wavelength_angstrom"))
        raise MatgenError(f"{where}: the spectral axis ({ds.axis.describe()}) differs from the run's "
                          f"({run_axis.describe()}); {run_axis.reimport_hint()}")
    shape = tuple(to_network(ds.signals[:1], data).shape[1:])
    if shape != (data.channels, *data.shape):
        raise MatgenError(f"{where}: signals of shape {shape[1:]} do not fit the run's {tuple(data.shape)}")
    if data.norm == "labels" and int(ds.signals.max()) >= data.n_phases:
        raise MatgenError(f"{where}: label maps hold phase {int(ds.signals.max())}; the run knows phases "
                          f"0..{data.n_phases - 1}")
