"""The simulator contract: a batch of samples (a :class:`~matgen.data.Dataset`) in, named properties out.

A simulator is stateless. It declares what it accepts (``kinds``) and what it returns
(``outputs``: names, units, the physically possible range), and ``simulator(samples)`` returns an
:class:`Evaluation`: one (N,) float64 array per declared output, NaN where a sample could not be
evaluated, and per sample an error message ('' when it was evaluated)::

    >>> sim = get_simulator("elastic")
    >>> [(o.name, o.unit) for o in sim.outputs]        # [('modulus', 'GPa'), ..., ('density', 'g/cm3')]
    >>> ev = sim(samples)                               # samples: a micrograph Dataset of N label maps
    >>> ev.properties["modulus"]                        # (N,) GPa, NaN where ev.errors[i] != ''

Built-in simulators live in one module each beside this file and are registered by name in
:mod:`matgen.simulators.registry`; user hooks (``package.module:function``, external programs,
entry points) are adapted to this same contract there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from matgen.errors import MatgenError


@dataclass(frozen=True)
class Output:
    """One property a simulator returns.

    Attributes:
        name: the property name, also the dataset condition it becomes (e.g. ``modulus``).
        unit: its unit (``GPa``, ``g/cm3``, ``wt%``; empty when dimensionless).
        description: one line for tables and --help.
        low, high: the physically possible range (e.g. between the softest and the stiffest phase);
            a campaign refuses a target outside it before any work starts. None: unbounded.
        tolerance: how close (absolute, in ``unit``) a sample must come to its target to count as
            reaching it in requested-vs-achieved checks; None: within 5 % relative.
        measures: the condition this output is compared with when it is not its own name (e.g.
            ``band_temperature`` measures ``temperature``); '' : the condition called ``name``.
    """

    name: str
    unit: str = ""
    description: str = ""
    low: float | None = None
    high: float | None = None
    tolerance: float | None = None
    measures: str = ""

    @property
    def target(self) -> str:
        """The condition name a request for this output is written under (``measures`` or ``name``)."""
        return self.measures or self.name

    def condition(self, values, simulator: str = ""):
        """The (N,) values of this output as a continuous ``property`` condition with its unit and description."""
        from matgen.data import Condition

        description = self.description or f"computed by simulator '{simulator}'"
        return Condition(np.asarray(values, dtype=np.float64), unit=self.unit, role="property", description=description)

    def outside(self, value: float) -> bool:
        """True when ``value`` lies outside [low, high] (an impossible target)."""
        return (self.low is not None and value < self.low) or (self.high is not None and value > self.high)


@dataclass
class Evaluation:
    """What a simulator returns for N samples.

    Attributes:
        properties: output name -> (N,) float64, NaN where the sample failed.
        errors: (N,) object array of str: '' where the sample was evaluated, else why it failed.
    """

    properties: dict[str, np.ndarray]
    errors: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        n = len(next(iter(self.properties.values()))) if self.properties else 0
        self.properties = {k: np.asarray(v, dtype=np.float64).reshape(-1) for k, v in self.properties.items()}
        if self.errors is None:
            self.errors = np.full(n, "", dtype=object)
        self.errors = np.asarray(self.errors, dtype=object)

    def __len__(self) -> int:
        return len(self.errors)

    @property
    def failed(self) -> np.ndarray:
        """(N,) bool: True where the sample could not be evaluated."""
        return self.errors != ""

    @classmethod
    def all_failed(cls, names, n: int, reason: str) -> "Evaluation":
        """N failed samples, each with ``reason``."""
        return cls({k: np.full(n, np.nan) for k in names}, np.full(n, reason, dtype=object))


def check_kind(simulator, samples) -> None:
    """MatgenError unless ``samples.kind`` is one of ``simulator.kinds`` (an empty ``kinds`` takes any)."""
    kinds = tuple(getattr(simulator, "kinds", ()) or ())
    if kinds and samples.kind not in kinds:
        raise MatgenError(f"simulator '{simulator.name}' takes {' or '.join(kinds)} data, but these samples are "
                          f"{samples.kind}; choose a simulator for {samples.kind} (matgen simulate --list)")


_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class Simulator:
    """Base class of the built-in simulators (a user hook only needs the same attributes and __call__).

    Attributes:
        name: registry name, e.g. ``elastic``.
        kinds: dataset kinds it accepts (``micrograph``, ``xrd``, ``raman``, ``eels``).
        outputs: the properties it returns.
        description: one line for ``matgen simulate --list``.
    """

    name: str = ""
    kinds: tuple[str, ...] = ()  # empty: any kind
    outputs: tuple[Output, ...] = ()
    description: str = ""
    batch_size: int = 32  # rows per call when the runner is not told otherwise

    def __call__(self, samples) -> Evaluation:  # samples: matgen.data.Dataset
        raise NotImplementedError

    def bind(self, samples) -> "Simulator":
        """This simulator adapted to a dataset's metadata (e.g. the phases in ``samples.attrs``); default: itself.

        :func:`~matgen.simulators.runner.run_simulator` and ``with_properties`` bind before use.
        """
        return self

    def check(self, samples) -> None:
        """Raise a MatgenError when ``samples`` as a whole cannot be simulated (wrong kind, shape); before any work."""
        check_kind(self, samples)

    #: A differentiable form, or None: ``differentiable(signals, requests)`` takes a torch tensor of the
    #: samples' signals in their dataset units (soft maps in [0, 1] for label maps; relative
    #: intensities (B, L) for spectra) and the requested rows (a Dataset of B rows: axis, conditions;
    #: None when there is none) and returns output name -> (B,) torch tensor with gradients, 0 and no
    #: gradient where a row cannot be measured (physics-guided sampling, :mod:`matgen.sample.physics`).
    differentiable = None
    #: The outputs ``differentiable`` returns, when not all of :attr:`outputs` (physics guidance steers these only).
    guided_outputs: tuple[str, ...] | None = None

    def conditions(self, values) -> dict:
        """Output name -> (N,) values as dataset conditions (continuous ``property``, with unit and description),
        in the order of :attr:`outputs`."""
        return {o.name: o.condition(values[o.name], self.name) for o in self.outputs}

    def tolerances(self, samples) -> dict[str, np.ndarray]:
        """Output name -> (N,) absolute tolerance (its unit) of requested-vs-achieved checks; absent: 5 % relative.

        The default repeats each output's declared ``tolerance``; a simulator whose tolerance
        depends on the sample (the Raman band of its mineral) overrides it.
        """
        return {o.name: np.full(len(samples), float(o.tolerance)) for o in self.outputs if o.tolerance is not None}

    def infeasible(self, targets: dict[str, float]) -> str | None:
        """Why these targets (output name -> value in its unit) cannot all be reached, or None.

        The default checks each target against its output's [low, high]; a simulator that knows
        joint limits (e.g. the modulus bounds that a density's phase fraction allows) overrides it.
        """
        for name, value in targets.items():
            o = next((o for o in self.outputs if o.name == name), None)
            if o is not None and o.outside(value):
                lo = "-inf" if o.low is None else f"{o.low:g}"
                hi = "inf" if o.high is None else f"{o.high:g}"
                return (f"target {name} = {value:g} {o.unit} is outside what simulator '{self.name}' can return "
                        f"({lo}..{hi} {o.unit})")
        return None

    def output(self, name: str) -> Output:
        """The declared output called ``name``; a MatgenError lists the valid names."""
        for o in self.outputs:
            if o.name == name:
                return o
        raise MatgenError(f"simulator '{self.name}' has no output '{name}'; it returns "
                          f"{', '.join(o.name for o in self.outputs)}")


def parse_outputs(outputs) -> tuple[Output, ...]:
    """Declared outputs from ``"modulus:GPa,density:g/cm3"``, a list of ``"name:unit"`` strings or Output objects.

    Raises:
        MatgenError: empty, a name that is not a valid condition name, or a name given twice.
    """
    if outputs is None:
        raise MatgenError("declare the simulator's outputs, e.g. outputs=['modulus:GPa', 'density:g/cm3'] "
                          "(--outputs modulus:GPa,density:g/cm3)")
    items: Sequence = outputs.split(",") if isinstance(outputs, str) else list(outputs)
    parsed = []
    for item in items:
        if isinstance(item, Output):
            parsed.append(item)
            continue
        name, _, unit = str(item).strip().partition(":")
        parsed.append(Output(name.strip(), unit.strip()))
    if not parsed:
        raise MatgenError("the outputs list is empty; give at least one name:unit")
    for o in parsed:
        if not _NAME.match(o.name):
            raise MatgenError(f"output name '{o.name}' must start with a letter and hold only letters, digits and _")
    names = [o.name for o in parsed]
    if len(set(names)) != len(names):
        raise MatgenError(f"output '{next(n for n in names if names.count(n) > 1)}' is declared twice")
    return tuple(parsed)
