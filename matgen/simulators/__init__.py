"""Simulators: a batch of samples in, named properties with units out (docs/simulators.md).

    >>> from matgen.simulators import get_simulator, run_simulator, with_properties
    >>> sim = get_simulator("elastic", phases=("Al", "SiC"))          # or "pkg.mod:func", or an argv
    >>> ev = run_simulator(sim, samples, workers=2, timeout_s=60, store="results/")
    >>> ev.properties["modulus"], ev.errors                             # (N,) GPa, NaN + reason where failed
    >>> relabelled = with_properties(samples, sim, ev)                  # the properties as conditions

Built-ins: ``elastic``, ``xrd-phases``, ``eels-thickness``, ``raman-bands``; user hooks are a
``package.module:function``, an external program (argv with ``{input}`` / ``{output}``) or a
package's entry point in the group ``matgen.simulators``.
"""

from matgen.simulators.base import Evaluation, Output, Simulator, parse_outputs
from matgen.simulators.registry import BUILTIN_SIMULATORS, ENTRY_POINT_GROUP, get_simulator, simulator_names
from matgen.simulators.runner import run_simulator, with_properties

__all__ = [
    "BUILTIN_SIMULATORS", "ENTRY_POINT_GROUP", "Evaluation", "Output", "Simulator", "get_simulator",
    "parse_outputs", "run_simulator", "simulator_names", "with_properties",
]
