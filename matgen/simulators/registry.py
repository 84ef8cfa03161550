"""Find a simulator by name: built-ins, entry points, ``package.module:function`` and external programs.

``get_simulator(spec, **options)`` resolves, in this order:

1. a :class:`~matgen.simulators.base.Simulator` (or any object with ``outputs`` and ``__call__``):
   returned as is;
2. a list of strings: an external program's argument list with ``{input}`` and ``{output}``
   placeholders (:class:`~matgen.simulators.hooks.ExternalSimulator`);
3. a built-in name (:data:`BUILTIN_SIMULATORS`);
4. an entry point name in the group ``matgen.simulators`` (a third-party package's simulator);
5. ``package.module:attribute``: a Simulator class or instance, or a plain function
   ``samples -> {name: (N,) array}`` / :class:`~matgen.simulators.base.Evaluation`, which then needs
   ``outputs=["modulus:GPa", ...]`` unless it carries an ``outputs`` attribute.

Anything else is a :class:`~matgen.errors.MatgenError` that lists the valid names and forms.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from matgen.errors import MatgenError
from matgen.simulators.base import Simulator
from matgen.simulators.hooks import ExternalSimulator, PythonSimulator, import_attribute

#: Built-in simulators: name -> "module:class" (imported on first use, so listing them is cheap).
BUILTIN_SIMULATORS: dict[str, str] = {
    "elastic": "matgen.simulators.elastic:ElasticSimulator",
    "xrd-phases": "matgen.simulators.xrd:XrdPhasesSimulator",
    "eels-thickness": "matgen.simulators.eels:EelsThicknessSimulator",
    "raman-bands": "matgen.simulators.raman:RamanBandsSimulator",
}

#: The entry-point group through which packages register simulators by name.
ENTRY_POINT_GROUP = "matgen.simulators"

_SPEC = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def _entry_points() -> dict[str, Any]:
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def simulator_names() -> list[str]:
    """The built-in simulator names followed by those registered through entry points."""
    return list(BUILTIN_SIMULATORS) + sorted(n for n in _entry_points() if n not in BUILTIN_SIMULATORS)


def _valid_forms() -> str:
    return (f"choose from {', '.join(simulator_names())}, give a Python hook as package.module:function "
            "(with outputs name:unit,...), or an external program as an argument list with {input} and {output}")


def get_simulator(spec, **options) -> Simulator:
    """The simulator named by ``spec`` (module docstring), built with ``options``.

    Raises:
        MatgenError: an unknown name, a module or attribute that cannot be imported, a hook without
            declared outputs, or options the simulator does not take.
    """
    if _is_simulator(spec) and not inspect.isclass(spec):
        if options:
            raise MatgenError(f"options {', '.join(options)} cannot be applied to a ready simulator object; "
                              "pass its class or name instead")
        return spec
    if isinstance(spec, (list, tuple)):
        return ExternalSimulator(list(spec), **options)
    if inspect.isclass(spec) or callable(spec):
        return adapt(spec, getattr(spec, "__name__", "python"), options)
    if not isinstance(spec, str) or not spec.strip():
        raise MatgenError(f"no simulator given; {_valid_forms()}")
    spec = spec.strip()
    if spec in BUILTIN_SIMULATORS:
        return _construct(import_attribute(BUILTIN_SIMULATORS[spec]), spec, options)
    points = _entry_points()
    if spec in points:
        try:
            target = points[spec].load()
        except Exception as exc:  # a broken third-party package: say which one
            raise MatgenError(f"simulator '{spec}' (entry point {points[spec].value}) could not be loaded: "
                              f"{type(exc).__name__}: {exc}") from None
        return adapt(target, spec, options)
    if _SPEC.match(spec):
        return adapt(import_attribute(spec), spec, options, spec=spec)
    raise MatgenError(f"unknown simulator '{spec}'; {_valid_forms()}")


def _is_simulator(obj) -> bool:
    return callable(obj) and hasattr(obj, "outputs") and not inspect.isfunction(obj)


def adapt(target, name: str, options: dict, spec: str | None = None) -> Simulator:
    """A simulator from an imported object: a Simulator class (built with ``options``), an instance, or a function."""
    if inspect.isclass(target):
        return _construct(target, name, options)
    if _is_simulator(target):
        if options:
            raise MatgenError(f"simulator '{name}' is a ready object; it takes no options ({', '.join(options)})")
        return target
    if callable(target):
        return PythonSimulator(target, name=name, spec=spec, **options)
    raise MatgenError(f"'{name}' is a {type(target).__name__}, not a simulator: give a function samples -> "
                      "{name: array}, a Simulator class or a Simulator instance")


def _construct(cls, name: str, options: dict) -> Simulator:
    accepted = inspect.signature(cls).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
    unknown = [k for k in options if k not in accepted and not takes_any]
    if unknown:
        valid = ", ".join(accepted) or "none"
        raise MatgenError(f"simulator '{name}' has no option '{unknown[0]}'; its options are: {valid}")
    return cls(**options)
