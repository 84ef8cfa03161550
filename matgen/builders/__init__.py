"""Built-in datasets made by the physics in :mod:`matgen.physics` (``matgen data build NAME``).

    >>> from matgen.builders import build
    >>> ds = build("spinodal", n=100, size=32, seed=1)      # a matgen Dataset
    >>> from matgen.data import write; write("spinodal.h5", ds)

Each name maps to an options dataclass and a builder function; cards in ``datasets/NAME.md``
describe the physics, the conditions with their units, and the references.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Callable, NamedTuple

from matgen.builders.options import (
    CompositeOptions, EelsOptions, RamanOptions, SpinodalAlloyOptions, SpinodalOptions, XrdOptions,
)
from matgen.common.progress import Progress, no_progress
from matgen.common.ranges import Range, parse_range
from matgen.common.records import check_names
from matgen.errors import MatgenError


class Builder(NamedTuple):
    """A built-in dataset: its options dataclass, the function that builds it, the condition that colours its plot."""

    options: type
    build: Callable
    color_by: str
    summary: str


def _registry() -> dict[str, Builder]:
    from matgen.builders import alloys, micrographs, spectra

    return {
        "spinodal": Builder(SpinodalOptions, micrographs.build_spinodal, "density",
                            "Cahn–Hilliard Al/SiC micrographs with modulus and density (the main job's data)"),
        "spinodal-alloy": Builder(SpinodalAlloyOptions, alloys.build_spinodal_alloy, "anneal_temperature_C",
                                  "Cahn–Hilliard Fe–Cr maps from anneal temperature (°C) and time (h): phase fraction, length"),
        "composite": Builder(CompositeOptions, micrographs.build_composite, "modulus",
                             "particles (disks, ellipses) in a matrix: anisotropic stiffness"),
        "xrd": Builder(XrdOptions, spectra.build_xrd, "wt_quartz", "powder XRD of phase mixtures, weight fractions"),
        "raman": Builder(RamanOptions, spectra.build_raman, "mineral", "Raman spectra of minerals, temperature and stress"),
        "eels": Builder(EelsOptions, spectra.build_eels, "thickness", "EELS low-loss spectra, thickness t/λ"),
    }


BUILDER_NAMES = ("spinodal", "spinodal-alloy", "composite", "xrd", "raman", "eels")


def builder(name: str) -> Builder:
    """The built-in dataset called ``name``; the error lists the names."""
    registry = _registry()
    if name not in registry:
        raise MatgenError(f"unknown built-in dataset '{name}'; choose from {', '.join(registry)}")
    return registry[name]


def make_options(name: str, **overrides):
    """The options of dataset ``name`` with ``overrides`` (ranges may be given as 'LOW..HIGH' strings)."""
    b = builder(name)
    known = {f.name: f for f in fields(b.options)}
    check_names(overrides, list(known), "option", f"dataset '{name}'")
    defaults = b.options()
    values = {}
    for key, value in overrides.items():
        if value is None:
            continue
        current = getattr(defaults, key)
        if isinstance(current, Range) or "Range" in str(known[key].type):
            value = parse_range(value, key, current.log if isinstance(current, Range) else False)
        else:
            value = _typed(value, current, key, name)
        values[key] = value
    options = b.options(**values)
    if options.n < 1:
        raise MatgenError(f"dataset '{name}': n (number of samples) must be at least 1 (got {options.n})")
    return options


def _typed(value, default, key: str, name: str):
    """``value`` as the type of the option's ``default`` (int, float, str, bool); others as given.

    Raises:
        MatgenError: a value of another type (text for a number, a fraction for a whole number).
    """
    def bad(what: str) -> MatgenError:
        return MatgenError(f"dataset '{name}': option {key} should be {what}, got {value!r}")

    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or float(value) != int(value):
            raise bad("a whole number")
        return int(value)
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("a number")
        return float(value)
    if isinstance(default, str) and not isinstance(value, str):
        raise bad("text")
    return value


def build(name: str, progress: Progress = no_progress, **overrides):
    """Build the built-in dataset ``name`` (a :class:`matgen.data.Dataset`) with option overrides."""
    return builder(name).build(make_options(name, **overrides), progress)


__all__ = ["BUILDER_NAMES", "Builder", "Range", "build", "builder", "make_options", "parse_range"]
