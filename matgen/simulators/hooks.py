"""User hooks adapted to the simulator contract: a Python function, or an external program.

A Python hook is any function ``f(samples: Dataset) -> {name: (N,) array}`` (or an
:class:`~matgen.simulators.base.Evaluation`), declared outputs given as ``outputs=[...]`` or as a
function attribute ``f.outputs``.

An external program is an argument list run WITHOUT a shell, e.g.
``["python", "fem.py", "{input}", "--out", "{output}"]``. For each batch matgen writes the samples
to ``{input}`` (a matgen HDF5 dataset, :func:`matgen.data.write`), runs the program with a
timeout, and reads ``{output}``:

* ``.csv`` (``output_suffix=".csv"``): a header row, one column per output (``modulus`` or
  ``modulus (GPa)``), one row per sample in input order; an optional ``id`` column aligns rows by
  row id instead, and an optional ``error`` column gives a reason for a row it could not evaluate.
  Empty cells and ``nan`` are NaN.
* ``.h5`` (the default): either a matgen dataset whose conditions hold the outputs, or a plain
  HDF5 file with one (N,) float dataset per output at its root (plus optional ``id`` and ``error``
  string datasets, as in the CSV).

A non-zero exit, a timeout or a missing output file fails the batch with the program's last line
of stderr as the reason.
"""

from __future__ import annotations

import importlib
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from matgen.common.files import remove_dead_temporaries
from matgen.data.columns import read_csv_columns, read_h5_columns
from matgen.errors import MatgenError
from matgen.simulators.base import Evaluation, Simulator, parse_outputs

OUTPUT_SUFFIXES = (".h5", ".csv")
TEMP_PREFIX = "matgen-sim-"  # + PID: each batch's folder of input and output files

#: Run as ``python -c _DIE_WITH_PARENT PARENT_PID PROGRAM ARGS...``: ask Linux to kill this process
#: when its parent dies, then become PROGRAM (same pid, so process-group kills still reach it).
_DIE_WITH_PARENT = """
import ctypes, os, signal, sys
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
except Exception:
    pass
if os.getppid() != int(sys.argv[1]):
    os._exit(137)  # the parent died before the request took effect
try:
    os.execvp(sys.argv[2], sys.argv[2:])
except OSError as exc:
    sys.stderr.write(f"cannot run {sys.argv[2]}: {exc.strerror}\\n")
    os._exit(127)
"""


def import_attribute(spec: str):
    """The attribute named by ``package.module:attribute`` (a hook), imported.

    Raises:
        MatgenError: the module cannot be imported, fails while importing (a syntax error, an
            exception at module level) or has no such attribute (the message lists its callables).
    """
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise MatgenError(f"cannot import '{module_name}' for simulator '{spec}' ({exc}); is it on PYTHONPATH?") from None
    except SyntaxError as exc:
        raise MatgenError(f"module '{module_name}' for simulator '{spec}' has a syntax error at "
                          f"{Path(exc.filename or '?').name}:{exc.lineno}: {exc.msg}; fix the file") from None
    except Exception as exc:  # noqa: BLE001 - a hook's module-level code may raise anything
        raise MatgenError(f"module '{module_name}' for simulator '{spec}' failed while importing: "
                          f"{type(exc).__name__}: {exc}") from None
    if not hasattr(module, attribute):
        public = ", ".join(n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n)))
        raise MatgenError(f"module '{module_name}' has no '{attribute}'; its callables are: {public or 'none'}")
    return getattr(module, attribute)


class PythonSimulator(Simulator):
    """A plain function ``samples -> {name: (N,) array} | Evaluation`` with declared outputs.

    Args:
        function: the hook.
        outputs: ``"name:unit,..."``, a list of such strings or of Output objects; default ``function.outputs``.
        name: shown in tables and errors (default the ``package.module:function`` spec).
        kinds: dataset kinds it accepts (default: any, or ``function.kinds``).
        description: one line (default: the first line of the function's docstring).
        batch_size: rows per call.
        spec: ``package.module:function`` the function was imported from; it is what is sent to
            worker processes, which import it again.
    """

    def __init__(self, function, outputs=None, name: str | None = None, kinds=None, description: str | None = None,
                 batch_size: int = 32, spec: str | None = None):
        self.function = function
        self.spec = spec
        self.name = name or spec or getattr(function, "__name__", "python")
        self.outputs = parse_outputs(outputs if outputs is not None else getattr(function, "outputs", None))
        self.kinds = tuple(kinds if kinds is not None else getattr(function, "kinds", ()))
        doc = (getattr(function, "__doc__", None) or "").strip().splitlines()
        self.description = description if description is not None else (doc[0] if doc else f"Python hook {self.name}")
        self.batch_size = int(batch_size)

    def __call__(self, samples) -> Evaluation:
        raw = self.function(samples)
        if isinstance(raw, Evaluation):
            return raw
        if not isinstance(raw, Mapping):
            raise TypeError(f"{self.name} returned a {type(raw).__name__}, not a dict of (N,) arrays or an Evaluation")
        raw = dict(raw)
        errors = raw.pop("error", None)
        return Evaluation({k: np.asarray(v, dtype=np.float64) for k, v in raw.items()}, errors)

    def __getstate__(self):  # to worker processes: by spec when we have one (re-imported there)
        state = dict(self.__dict__)
        if self.spec is not None:
            state["function"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        if self.function is None:
            self.function = import_attribute(self.spec)


class ExternalSimulator(Simulator):
    """An external program run once per batch: samples to ``{input}`` (HDF5), properties from ``{output}``.

    Args:
        argv: program and arguments, containing ``{input}`` and ``{output}`` (substituted inside an
            argument too, e.g. ``--out={output}``); run without a shell.
        outputs: ``"name:unit,..."``, a list of such strings or of Output objects.
        timeout_s: seconds a batch may take before the program is killed and the batch fails.
        output_suffix: ``.h5`` or ``.csv``: the file the program is asked to write.
        name: shown in tables and errors (default: the program's file name, or the script's after python).
        kinds: dataset kinds it accepts (default any).
        description: one line for ``matgen simulate --list``.
        batch_size: rows per program run.
        cwd: working directory of the program (default: the caller's).
    """

    external = True  # the runner runs these in threads: the program is its own process

    def __init__(self, argv, outputs=None, timeout_s: float = 600.0, output_suffix: str = ".h5", name: str | None = None,
                 kinds=(), description: str | None = None, batch_size: int = 32, cwd: str | None = None):
        self.argv = [str(a) for a in argv]
        if not self.argv:
            raise MatgenError("the external program's argument list is empty; e.g. ['python', 'sim.py', '{input}', '{output}']")
        for placeholder in ("{input}", "{output}"):
            if not any(placeholder in a for a in self.argv):
                raise MatgenError(f"the external program's arguments need a {placeholder} placeholder (got {' '.join(self.argv)})")
        if shutil.which(self.argv[0]) is None and not Path(self.argv[0]).is_file():
            raise MatgenError(f"program '{self.argv[0]}' not found; give a path or a program on PATH")
        if output_suffix not in OUTPUT_SUFFIXES:
            raise MatgenError(f"unknown output_suffix '{output_suffix}'; choose from {', '.join(OUTPUT_SUFFIXES)}")
        if not (timeout_s is None or float(timeout_s) > 0):
            raise MatgenError(f"timeout must be a positive number of seconds (got {timeout_s})")
        self.outputs = parse_outputs(outputs)
        self.timeout_s = None if timeout_s is None else float(timeout_s)
        self.output_suffix = output_suffix
        program = self.argv[1] if Path(self.argv[0]).name.startswith("python") and len(self.argv) > 1 else self.argv[0]
        self.name = name or Path(program).name  # python script.py ...: the script names it
        self.kinds = tuple(kinds)
        self.description = description or "external program: " + " ".join(self.argv)
        self.batch_size = int(batch_size)
        self.cwd = cwd

    def __call__(self, samples) -> Evaluation:
        from matgen.data import write

        remove_dead_temporaries(Path(tempfile.gettempdir()), TEMP_PREFIX)  # left by a killed matgen
        with tempfile.TemporaryDirectory(prefix=f"{TEMP_PREFIX}{os.getpid()}-") as tmp:
            input_path = Path(tmp) / "input.h5"
            output_path = Path(tmp) / f"output{self.output_suffix}"
            write(input_path, samples)
            argv = [a.replace("{input}", str(input_path)).replace("{output}", str(output_path)) for a in self.argv]
            try:
                done = run_program(argv, self.timeout_s, self.cwd)
            except subprocess.TimeoutExpired:
                raise TimeoutError(f"{self.name} timed out after {self.timeout_s:g} s (program killed)") from None
            if done.returncode != 0:
                raise RuntimeError(f"{self.name} exited with code {done.returncode}: {_last_line(done.stderr)}")
            if not output_path.exists():
                raise RuntimeError(f"{self.name} exited 0 but wrote no {output_path.name} "
                                   f"(does it write to the {{output}} argument?) {_last_line(done.stderr)}".strip())
            try:
                table = read_csv_columns(output_path) if self.output_suffix == ".csv" else read_h5_columns(output_path)
            except MatgenError as exc:  # the batch fails with the reason (the runner records RuntimeError messages)
                raise RuntimeError(str(exc)) from None
        return _align(table, [o.name for o in self.outputs], samples.ids.astype(str), self.name)


def run_program(argv: list[str], timeout_s: float | None, cwd=None) -> subprocess.CompletedProcess:
    """Run ``argv`` without a shell in its own process group, capturing text output.

    On a timeout, an interrupt or any error the whole group is killed, so programs the program
    started (an MPI launcher's ranks, a shell script's children) do not outlive it or hold its
    pipes open. On Linux the program also gets SIGKILL when matgen itself dies (``kill -9``),
    through a small launcher that sets ``PR_SET_PDEATHSIG`` and then execs it.

    Raises:
        subprocess.TimeoutExpired: the program ran past ``timeout_s`` seconds (it has been killed).
    """
    if sys.platform.startswith("linux"):  # the program dies with matgen, even on kill -9
        argv = [sys.executable, "-c", _DIE_WITH_PARENT, str(os.getpid()), *argv]
    process = subprocess.Popen(argv, shell=False, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=cwd, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout_s)
    except BaseException:
        _kill_group(process)
        process.communicate()
        raise
    _kill_group(process)  # leftovers the program started in the background
    return subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, AttributeError):  # already gone; or not POSIX
        process.kill()


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1][:300] if lines else "(no stderr)"


def _number(cell) -> float:
    try:
        value = float(cell)
    except (TypeError, ValueError):
        return math.nan if str(cell).strip().lower() in ("", "nan", "na", "none", "null") else _raise_bad(cell)
    return value


def _raise_bad(cell):
    raise ValueError(f"'{cell}' is not a number")


def _align(table: dict[str, list], names: list[str], ids: np.ndarray, program: str) -> Evaluation:
    """An Evaluation for ``ids`` from output columns (by ``id`` when given, else in order)."""
    n = len(ids)
    missing = [name for name in names if name not in table]
    if missing:
        raise RuntimeError(f"{program} wrote no column '{missing[0]}' (it wrote: {', '.join(table) or 'nothing'})")
    errors_in = [str(e) for e in table.get("error", [""] * len(table[names[0]]))]
    if "id" in table:
        where = {str(i): k for k, i in enumerate(table["id"])}
        rows = [where.get(i) for i in ids]
    else:
        if len(table[names[0]]) != n:
            raise RuntimeError(f"{program} wrote {len(table[names[0]])} rows for {n} samples (and no id column)")
        rows = list(range(n))
    properties = {name: np.full(n, np.nan) for name in names}
    errors = np.full(n, "", dtype=object)
    for i, k in enumerate(rows):
        if k is None:
            errors[i] = f"{program} wrote no row for id '{ids[i]}'"
            continue
        try:
            for name in names:
                properties[name][i] = _number(table[name][k])
        except ValueError as exc:
            errors[i] = f"{program} output row {k + 1}: {exc}"
            continue
        if k < len(errors_in) and errors_in[k] not in ("", "nan"):
            errors[i] = errors_in[k]
    return Evaluation(properties, errors)
