"""What the rosettasciio-backed readers share: loading a reader, reading without tracebacks, axes.

rosettasciio returns each signal as a dict with ``data``, ``axes`` (one dict per array dimension,
with ``name``, ``units``, ``scale``, ``offset``, ``size``) and ``metadata``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from matgen.errors import MatgenError


def one_line(error: BaseException) -> str:
    """The first line of an exception's message (its type name when the message is empty)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def read_signals(module: str, path: Path) -> list[dict]:
    """The signal dicts of ``path`` read by ``rsciio.<module>``; a parser failure becomes one MatgenError line."""
    try:
        reader = __import__(f"rsciio.{module}", fromlist=["file_reader"]).file_reader
    except ImportError:
        raise MatgenError("reading this format needs rosettasciio; install it: pip install rosettasciio") from None
    try:
        return reader(str(path))
    except Exception as e:  # third-party parser: one line, not a traceback
        raise MatgenError(f"{path}: rosettasciio could not read it ({one_line(e)}); is the file complete?") from None


def axis_values(axis: dict) -> np.ndarray:
    """(size,) calibrated values ``offset + scale·i`` of a rosettasciio axis (or its explicit values)."""
    if axis.get("axis") is not None:  # non-uniform axis
        return np.asarray(axis["axis"], dtype=np.float64)
    size = int(axis.get("size"))
    return float(axis.get("offset", 0.0) or 0.0) + float(axis.get("scale", 1.0) or 1.0) * np.arange(size)


def signal_unit(metadata: dict) -> str:
    """``counts`` from a quantity such as ``Electrons (Counts)``; '' when not stated."""
    quantity = str(metadata.get("Signal", {}).get("quantity") or "")
    m = re.search(r"\(([^)]*)\)", quantity)
    unit = (m[1] if m else "").strip()
    return "counts" if unit.lower() == "counts" else unit
