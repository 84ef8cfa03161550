"""The in-memory dataset: N signals of one kind, their axis, and named conditions with units.

A :class:`Dataset` is what every importer returns, what :func:`matgen.data.write` stores and
:func:`matgen.data.read` gives back. It holds plain numpy arrays; nothing here touches a file.

Signal shapes:
    micrograph: (N, H, W) or (N, C, H, W); grey images as float32 in [0, 1], label maps as
        integers (one value per phase).
    xrd / raman / eels / spectrum: (N, L) float32 on one shared :class:`Axis` of length L.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Iterable, Sequence

import numpy as np

from matgen.errors import MatgenError

SPECTRUM_KINDS = ("xrd", "raman", "eels", "spectrum")
IMAGE_KINDS = ("micrograph",)
KINDS = IMAGE_KINDS + SPECTRUM_KINDS
ROLES = ("processing", "property", "label", "meta")
SIGNAL_TYPES = ("intensity", "grey", "labels")

#: The axis each spectrum kind is stored on: kind -> (axis name, unit).
KIND_AXES = {
    "xrd": ("two_theta", "deg"),
    "raman": ("raman_shift", "cm-1"),
    "eels": ("energy_loss", "eV"),
}

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclass
class Axis:
    """The shared abscissa of a spectrum dataset.

    Attributes:
        name: what the axis measures, e.g. ``two_theta``, ``raman_shift``, ``energy_loss``.
        unit: its unit, e.g. ``deg``, ``cm-1``, ``eV``.
        values: (L,) float64, strictly increasing.
        wavelength_angstrom: the X-ray wavelength for a 2θ axis (Å), else None.
    """

    name: str
    unit: str
    values: np.ndarray
    wavelength_angstrom: float | None = None

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype=np.float64)

    def matches(self, other: "Axis", rtol: float = 1e-9) -> bool:
        """True when both axes have the same name, unit, wavelength and grid."""
        same_wavelength = (self.wavelength_angstrom is None) == (other.wavelength_angstrom is None) and (
            self.wavelength_angstrom is None
            or np.isclose(self.wavelength_angstrom, other.wavelength_angstrom, rtol=1e-6)
        )
        return (
            self.name == other.name
            and self.unit == other.unit
            and same_wavelength
            and self.values.shape == other.values.shape
            and bool(np.allclose(self.values, other.values, rtol=rtol, atol=0.0))
        )

    def import_options(self) -> str | None:
        """``--range START:END --points N``: what ``matgen data import`` needs to put spectra on this axis
        (None when the axis is not evenly spaced, so that no range and point count give it)."""
        v = self.values
        if len(v) < 2 or not np.allclose(v, np.linspace(v[0], v[-1], len(v)), rtol=1e-9, atol=0.0):
            return None
        return f"--range {float(v[0])!r}:{float(v[-1])!r} --points {len(v)}"

    def reimport_hint(self) -> str:
        """Advice that puts newly imported spectra onto this axis."""
        options = self.import_options()
        if options is None:
            return "import those files together with the others so that they share one axis"
        return f"re-import those files with {options}"

    def describe(self) -> str:
        """One line such as ``raman_shift 200–1199 cm-1, 1000 points``."""
        text = f"{self.name} {self.values[0]:g}–{self.values[-1]:g} {self.unit}, {len(self.values)} points"
        if self.wavelength_angstrom is not None:
            text += f", λ = {self.wavelength_angstrom:g} Å"
        return text


@dataclass
class Condition:
    """One named column of per-row values: a processing parameter, a property, a label or metadata.

    Continuous conditions hold float64 values with NaN for unknown. Categorical ones hold int32
    codes into ``categories`` with -1 for unknown.

    Attributes:
        values: (N,) float64 (continuous) or int32 codes (categorical).
        unit: unit of a continuous value (``degC``, ``h``, ``GPa``); empty when dimensionless.
        role: one of ``processing``, ``property``, ``label``, ``meta``.
        categories: category names of a categorical condition, else None.
        description: free text shown by ``matgen data info``.
    """

    values: np.ndarray
    unit: str = ""
    role: str = "processing"
    categories: tuple[str, ...] | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if self.categories is not None:
            self.categories = tuple(str(c) for c in self.categories)
            self.values = np.asarray(self.values, dtype=np.int32)
        else:
            self.values = np.asarray(self.values, dtype=np.float64)

    @classmethod
    def from_labels(
        cls, labels: Sequence[str | None], role: str = "label", categories: Sequence[str] | None = None,
        description: str = "",
    ) -> "Condition":
        """A categorical condition from per-row names; None or '' means unknown."""
        names = [None if (label is None or label == "") else str(label) for label in labels]
        if categories is None:
            categories = list(dict.fromkeys(n for n in names if n is not None))
        index = {c: i for i, c in enumerate(categories)}
        codes = [index[n] if n is not None else -1 for n in names]
        return cls(np.asarray(codes, dtype=np.int32), unit="", role=role, categories=tuple(categories),
                   description=description)

    @property
    def is_categorical(self) -> bool:
        return self.categories is not None

    @property
    def missing(self) -> np.ndarray:
        """(N,) bool: True where the value is unknown."""
        return self.values < 0 if self.is_categorical else np.isnan(self.values)

    def labels(self) -> np.ndarray:
        """(N,) object array of category names (None where unknown); categorical conditions only."""
        if not self.is_categorical:
            raise TypeError("labels() is for categorical conditions")
        names = np.asarray(list(self.categories) + [None], dtype=object)
        return names[np.where(self.values < 0, len(self.categories), self.values)]

    def take(self, index: np.ndarray) -> "Condition":
        """The same condition restricted to the rows in ``index``."""
        return replace(self, values=self.values[index])

    def describe_unit(self) -> str:
        return self.unit or ("category" if self.is_categorical else "–")


@dataclass
class Dataset:
    """N signals of one kind with their axis, conditions and per-row provenance.

    Attributes:
        kind: ``micrograph``, ``xrd``, ``raman``, ``eels`` or ``spectrum``.
        signals: (N, L) for spectra; (N, H, W) or (N, C, H, W) for micrographs.
        conditions: name -> :class:`Condition`, each with N values.
        ids: (N,) str, stable row ids that never change when rows are split or appended.
        sources: (N,) str, the file a row came from or how it was generated.
        synthetic: (N,) bool, True for generated rows.
        axis: the shared axis of a spectrum dataset (None for micrographs).
        pixel_size: edge length of one pixel in ``pixel_unit`` (micrographs; None if unknown).
        pixel_unit: unit of ``pixel_size``, e.g. ``um``.
        signal_type: ``intensity`` (spectra), ``grey`` (images in [0, 1]) or ``labels`` (phase maps).
        signal_unit: unit of the signal values, e.g. ``counts`` (empty when arbitrary).
        attrs: free dataset-level metadata (title, description, phase names...): str/number values.
    """

    kind: str
    signals: np.ndarray
    conditions: dict[str, Condition] = field(default_factory=dict)
    ids: np.ndarray | None = None
    sources: np.ndarray | None = None
    synthetic: np.ndarray | None = None
    axis: Axis | None = None
    pixel_size: float | None = None
    pixel_unit: str = "um"
    signal_type: str = "intensity"
    signal_unit: str = ""
    attrs: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.signals)
        self.ids = _str_array(self.ids if self.ids is not None else [f"row{i}" for i in range(n)])
        self.sources = _str_array(self.sources if self.sources is not None else [""] * n)
        self.synthetic = np.asarray(self.synthetic if self.synthetic is not None else np.zeros(n, bool), dtype=bool)

    def __len__(self) -> int:
        return len(self.signals)

    @property
    def is_spectrum(self) -> bool:
        return self.kind in SPECTRUM_KINDS

    def take(self, index: Iterable[int] | np.ndarray) -> "Dataset":
        """A new dataset holding the rows in ``index`` (ids and provenance kept)."""
        index = np.asarray(index)
        return replace(
            self,
            signals=self.signals[index],
            conditions={name: c.take(index) for name, c in self.conditions.items()},
            ids=self.ids[index],
            sources=self.sources[index],
            synthetic=self.synthetic[index],
            attrs=dict(self.attrs),
        )

    def condition(self, name: str) -> Condition:
        """The condition called ``name``; a clear error lists the valid names otherwise."""
        if name not in self.conditions:
            valid = ", ".join(self.conditions) or "none"
            raise MatgenError(f"unknown condition '{name}'; this dataset has: {valid}")
        return self.conditions[name]

    def problems(self) -> list[str]:
        """Every way this dataset breaks the format (empty list when it is valid)."""
        return validate(self)

    def check(self) -> "Dataset":
        """Raise a :class:`MatgenError` naming the first problem; returns self when valid."""
        problems = self.problems()
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise MatgenError(problems[0] + more)
        return self


def _str_array(values) -> np.ndarray:
    return np.asarray([str(v) for v in values], dtype=object)


def validate(ds: Dataset) -> list[str]:
    """List every way ``ds`` breaks the dataset format; an empty list means valid."""
    problems: list[str] = []
    if ds.kind not in KINDS:
        return [f"unknown kind '{ds.kind}'; choose from {', '.join(KINDS)}"]
    n = len(ds.signals)
    sig = np.asarray(ds.signals)
    if ds.is_spectrum and sig.ndim != 2:
        problems.append(f"{ds.kind} signals must have shape (N, L), got {sig.shape}")
    if ds.kind == "micrograph" and sig.ndim not in (3, 4):
        problems.append(f"micrograph signals must have shape (N, H, W) or (N, C, H, W), got {sig.shape}")
    if ds.signal_type not in SIGNAL_TYPES:
        problems.append(f"unknown signal_type '{ds.signal_type}'; choose from {', '.join(SIGNAL_TYPES)}")
    if np.issubdtype(sig.dtype, np.floating) and sig.size and not np.isfinite(sig).all():
        bad_rows = np.flatnonzero(~np.isfinite(sig.reshape(n, -1)).all(axis=1))
        problems.append(
            f"{len(bad_rows)} signal(s) contain NaN or inf (first: row {bad_rows[0]}, id '{ds.ids[bad_rows[0]]}')"
        )
    if ds.signal_type == "labels" and not np.issubdtype(sig.dtype, np.integer):
        problems.append(f"label maps must be integers, got {sig.dtype}")
    for what, arr in (("ids", ds.ids), ("sources", ds.sources), ("synthetic", ds.synthetic)):
        if len(arr) != n:
            problems.append(f"{what} has {len(arr)} entries for {n} signals")
    if len(ds.ids) == n:
        unique, counts = np.unique(ds.ids.astype(str), return_counts=True)
        if (counts > 1).any():
            problems.append(f"row ids are not unique: '{unique[counts > 1][0]}' appears {counts.max()} times")
        if any(i == "" for i in unique):
            problems.append("a row id is empty")
    problems += _axis_problems(ds, sig)
    for name, cond in ds.conditions.items():
        problems += _condition_problems(name, cond, n)
    return problems


def _axis_problems(ds: Dataset, sig: np.ndarray) -> list[str]:
    if not ds.is_spectrum:
        if ds.axis is not None:
            return ["a micrograph dataset has no spectral axis"]
        if ds.pixel_size is not None and not (np.isfinite(ds.pixel_size) and ds.pixel_size > 0):
            return [f"pixel size must be a positive number, got {ds.pixel_size}"]
        return []
    if ds.axis is None:
        return [f"a {ds.kind} dataset needs an axis"]
    problems = []
    values = ds.axis.values
    if sig.ndim == 2 and len(values) != sig.shape[1]:
        problems.append(f"axis has {len(values)} points but signals have {sig.shape[1]}")
    if not np.isfinite(values).all():
        problems.append("axis contains NaN or inf")
    elif len(values) > 1 and not (np.diff(values) > 0).all():
        problems.append("axis values must be strictly increasing")
    expected = KIND_AXES.get(ds.kind)
    if expected and (ds.axis.name, ds.axis.unit) != expected:
        problems.append(
            f"a {ds.kind} axis must be {expected[0]} in {expected[1]}, got {ds.axis.name} in {ds.axis.unit or 'no unit'}"
        )
    wl = ds.axis.wavelength_angstrom
    if wl is not None and not (np.isfinite(wl) and wl > 0):
        problems.append(f"X-ray wavelength must be a positive number of Å, got {wl}")
    return problems


def _condition_problems(name: str, cond: Condition, n: int) -> list[str]:
    problems = []
    if not _NAME.match(name):
        problems.append(f"condition name '{name}' must start with a letter and hold only letters, digits and _")
    if cond.role not in ROLES:
        problems.append(f"condition '{name}' has unknown role '{cond.role}'; choose from {', '.join(ROLES)}")
    if len(cond.values) != n:
        problems.append(f"condition '{name}' has {len(cond.values)} values for {n} signals")
    if cond.is_categorical:
        if len(cond.values) and (cond.values.max(initial=-1) >= len(cond.categories) or cond.values.min(initial=0) < -1):
            problems.append(f"condition '{name}' has category codes outside 0..{len(cond.categories) - 1}")
        if len(set(cond.categories)) != len(cond.categories):
            problems.append(f"condition '{name}' repeats a category name")
    elif np.isinf(cond.values).any():
        problems.append(f"condition '{name}' contains inf (use NaN for unknown)")
    return problems


def concat(datasets: Sequence[Dataset]) -> Dataset:
    """One dataset holding the rows of all ``datasets`` in order.

    The datasets must share kind, axis (or image shape) and signal type. Conditions are united: a
    condition missing from one part is unknown (NaN / -1) there; categories are merged by name.
    Raises :class:`MatgenError` on any mismatch.
    """
    if not datasets:
        raise MatgenError("nothing to join: no datasets given")
    first = datasets[0]
    for other in datasets[1:]:
        _check_compatible(first, other)
    names = list(dict.fromkeys(name for d in datasets for name in d.conditions))
    conditions = {name: _concat_condition(name, datasets) for name in names}
    merged = replace(
        first,
        signals=np.concatenate([d.signals for d in datasets]),
        conditions=conditions,
        ids=np.concatenate([d.ids for d in datasets]),
        sources=np.concatenate([d.sources for d in datasets]),
        synthetic=np.concatenate([d.synthetic for d in datasets]),
        attrs={k: v for d in reversed(datasets) for k, v in d.attrs.items()},
    )
    duplicates = _duplicates(merged.ids)
    if duplicates:
        raise MatgenError(
            f"row id '{duplicates[0]}' is in more than one part ({len(duplicates)} clashing ids): "
            "these rows are already in the dataset"
        )
    return merged


def _duplicates(ids: np.ndarray) -> list[str]:
    unique, counts = np.unique(ids.astype(str), return_counts=True)
    return list(unique[counts > 1])


def _check_compatible(a: Dataset, b: Dataset) -> None:
    if a.kind != b.kind:
        raise MatgenError(f"cannot join a {a.kind} dataset with a {b.kind} dataset")
    if a.signals.shape[1:] != b.signals.shape[1:] and not a.is_spectrum:
        height, width = a.signals.shape[-2:]
        raise MatgenError(f"image sizes differ: {a.signals.shape[1:]} vs {b.signals.shape[1:]}; "
                          f"re-import the new images with --resize {height}x{width}")
    if a.signal_type != b.signal_type:
        raise MatgenError(f"cannot join {a.signal_type} signals with {b.signal_type} signals")
    if a.is_spectrum and not a.axis.matches(b.axis):
        raise MatgenError(f"spectral axes differ ({a.axis.describe()} vs {b.axis.describe()}); {a.axis.reimport_hint()}")


def _concat_condition(name: str, datasets: Sequence[Dataset]) -> Condition:
    present = [d.conditions[name] for d in datasets if name in d.conditions]
    template = present[0]
    for c in present[1:]:
        if c.is_categorical != template.is_categorical:
            raise MatgenError(f"condition '{name}' is categorical in one part and numeric in another")
        if c.unit != template.unit:
            raise MatgenError(f"condition '{name}' is in {template.unit or 'no unit'} in one part and "
                              f"{c.unit or 'no unit'} in another; convert one of them")
    if template.is_categorical:
        labels = []
        for d in datasets:
            labels += list(d.conditions[name].labels()) if name in d.conditions else [None] * len(d)
        categories = list(dict.fromkeys(cat for c in present for cat in c.categories))
        return Condition.from_labels(labels, role=template.role, categories=categories,
                                     description=template.description)
    values = [d.conditions[name].values if name in d.conditions else np.full(len(d), np.nan) for d in datasets]
    return replace(template, values=np.concatenate(values))
