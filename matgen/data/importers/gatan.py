"""Gatan DigitalMicrograph ``.dm3/.dm4`` and hyperspy ``.hspy`` spectra, through rosettasciio.

rosettasciio returns each signal as a dict with ``data`` and ``axes`` (one dict per array
dimension, in array order, with ``name``, ``units``, ``scale``, ``offset``, ``size``). The energy
axis is the one whose unit is eV or keV -- not the one flagged ``navigate=False``: DM3 spectrum
images of the NMC set come as (2048, 2, 21) with the energy axis first and flagged ``navigate``.
Every other axis is a position: a spectrum image becomes one record per pixel, with part
``y{i}x{j}`` and ``position`` {``y_um``: offset + i·scale, ``x_um``: ...}.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np

from matgen.data.importers.records import SpectrumRecord
from matgen.data.importers.rosetta import axis_values, read_signals, signal_unit
from matgen.errors import MatgenError

#: Units of an energy axis, as written by vendors -> matgen's spelling.
ENERGY_UNITS = {"ev": "eV", "kev": "keV"}
#: Length units of a position axis -> the suffix used in condition names.
LENGTH_UNITS = {"µm": "um", "μm": "um", "um": "um", "nm": "nm", "mm": "mm", "m": "m", "å": "A", "a": "A"}
#: rosettasciio signal types that mean electron energy-loss spectra.
EELS_TYPES = {"eels", "els"}


def _energy_axis(axes: Sequence[dict]) -> int | None:
    """Index of the first axis whose unit is an energy (eV, keV), or None."""
    for i, axis in enumerate(axes):
        if str(axis.get("units") or "").strip().lower() in ENERGY_UNITS:
            return i
    return None


def _position_name(axis: dict, k: int) -> tuple[str, str]:
    """(short name for part ids, condition name with unit suffix) of a navigation axis."""
    name = re.sub(r"[^0-9A-Za-z]+", "_", str(axis.get("name") or "")).strip("_").lower() or f"a{k}"
    unit = str(axis.get("units") or "").strip()
    suffix = LENGTH_UNITS.get(unit.lower(), re.sub(r"[^0-9A-Za-z]+", "_", unit).strip("_"))
    return name, f"{name}_{suffix}" if suffix else f"{name}_px"


def records_from_signals(signals: Sequence[dict], name: str) -> list[SpectrumRecord]:
    """Spectrum records from rosettasciio signal dicts: one per pixel of each spectrum (image).

    Parts are ``y{i}x{j}`` for the pixels of a spectrum image, prefixed by ``s{k}`` when the file
    holds several signals. Signals without an energy axis (images) are left out.

    Raises:
        MatgenError: no signal has an energy axis (``name`` is an image, not a spectrum), or the
            axes a signal declares disagree with its data (:func:`check_axes`).
    """
    spectra = [s for s in signals if _energy_axis(s["axes"]) is not None]
    if not spectra:
        shape = "×".join(str(n) for n in np.shape(signals[0]["data"])) if signals else "empty"
        raise MatgenError(
            f"{name}: holds an image, not a spectrum ({shape}, no axis in eV or keV); "
            "leave the file out of the spectra (or pass --skip-bad)"
        )
    records = []
    for k, signal in enumerate(spectra):
        check_axes(signal, name)
        prefix = f"s{k}" if len(spectra) > 1 else ""
        records += _signal_records(signal, prefix)
    return records


def check_axes(signal: dict, name: str) -> None:
    """Raise when the axes a signal declares disagree with its data: count, sizes, a zero or non-finite scale.

    Raises:
        MatgenError: names the file, the axis and both numbers.
    """
    shape, axes = np.shape(signal["data"]), signal["axes"]
    if len(axes) != len(shape):
        raise MatgenError(f"{name}: describes {len(axes)} axes but its data has {len(shape)} dimensions "
                          f"({'×'.join(map(str, shape))}); the file is damaged: export it again")
    for i, (axis, size) in enumerate(zip(axes, shape)):
        label = f"axis '{axis.get('name')}'" if axis.get("name") else f"axis {i}"
        declared = len(axis["axis"]) if axis.get("axis") is not None else axis.get("size")
        if declared is not None and int(declared) != size:
            raise MatgenError(f"{name}: its {label} says {int(declared)} points but the data holds {size}; "
                              "the file may be cut short: export it again")
        scale, units = axis.get("scale", 1.0), f" {axis['units']}" if axis.get("units") else ""
        if axis.get("axis") is None and scale is not None and not (np.isfinite(float(scale)) and float(scale) != 0):
            raise MatgenError(f"{name}: its {label} has scale {scale}{units} per point; "
                              "a calibration must be a non-zero number")


def _signal_records(signal: dict, prefix: str) -> list[SpectrumRecord]:
    axes = signal["axes"]
    e = _energy_axis(axes)
    unit = ENERGY_UNITS[str(axes[e]["units"]).strip().lower()]
    x = axis_values(axes[e])
    data = np.moveaxis(np.asarray(signal["data"], dtype=np.float64), e, -1)  # (*nav, L)
    nav = [a for i, a in enumerate(axes) if i != e]
    names = [_position_name(a, k) for k, a in enumerate(nav)]
    values = [axis_values(a) for a in nav]
    metadata = signal.get("metadata", {})
    signal_type = str(metadata.get("Signal", {}).get("signal_type") or "").lower()
    eels = signal_type in EELS_TYPES
    records = []
    for index in np.ndindex(*data.shape[:-1]):
        part = prefix + "".join(f"{short}{i}" for (short, _), i in zip(names, index))
        position = {full: float(v[i]) for (_, full), v, i in zip(names, values, index)}
        records.append(SpectrumRecord(
            x=x, y=data[index], axis_unit=unit, kind="eels" if eels else None,
            axis_name="energy_loss" if eels else "energy", signal_unit=signal_unit(metadata),
            part=part, position=position,
        ))
    return records


def read_dm(path: str | Path) -> list[SpectrumRecord]:
    """The spectra in a Gatan ``.dm3/.dm4`` file: one record per pixel of a spectrum image.

    Raises:
        MatgenError: the file holds an image and no spectrum, or rosettasciio cannot read it.
    """
    path = Path(path)
    return records_from_signals(read_signals("digitalmicrograph", path), str(path))


def read_hspy(path: str | Path) -> list[SpectrumRecord]:
    """The spectra in a hyperspy ``.hspy`` (HDF5) file, with the same axis logic as :func:`read_dm`."""
    path = Path(path)
    return records_from_signals(read_signals("hspy", path), str(path))
