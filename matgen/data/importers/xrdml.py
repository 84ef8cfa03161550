"""PANalytical ``.xrdml`` X-ray diffraction scans (XML), read with the standard library.

Layout (any XRDML schema version; namespaces are ignored)::

    xrdMeasurement/usedWavelength/kAlpha1          Å (kAlpha2, ratioKAlpha2KAlpha1 kept as metadata)
    xrdMeasurement/scan/dataPoints/positions[@axis='2Theta']
        startPosition + endPosition  (equally spaced) | listPositions (space-separated)
    xrdMeasurement/scan/dataPoints/counts | intensities   (space-separated)
    xrdMeasurement/scan/dataPoints/commonCountingTime      s

Each scan becomes one record: kind ``xrd``, axis ``two_theta`` in ``deg``, signal in counts.
What the file says is checked against its data: listed positions and per-point arrays
(``beamAttenuationFactors``) must count as many points as the intensities, the 2θ unit must be
degrees, start and end must differ, and the wavelength must be a positive number.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from matgen.data.importers.records import SpectrumRecord
from matgen.errors import MatgenError


def _local(tag: str) -> str:
    """An element's tag without its ``{namespace}``."""
    return tag.rsplit("}", 1)[-1]


def _child(element: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in element if _local(c.tag) == name), None)


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in element if _local(c.tag) == name]


def _descendants(element: ET.Element, name: str) -> list[ET.Element]:
    return [e for e in element.iter() if _local(e.tag) == name]


def _floats(element: ET.Element | None, what: str) -> np.ndarray:
    if element is None or not (element.text or "").strip():
        raise MatgenError(f"no {what} in the scan")
    try:
        return np.asarray(element.text.split(), dtype=np.float64)
    except ValueError:
        raise MatgenError(f"{what} holds text that is not numbers") from None


def _number(element: ET.Element, what: str) -> float:
    try:
        return float((element.text or "").strip())
    except ValueError:
        raise MatgenError(f"{what} is '{(element.text or '').strip()[:20]}', not a number") from None


def _wavelength(measurement: ET.Element) -> tuple[float | None, dict[str, str]]:
    """Kα1 in Å and metadata (Kα2 in Å, the Kα2/Kα1 ratio) from ``usedWavelength``."""
    used = next(iter(_descendants(measurement, "usedWavelength")), None)
    if used is None:
        return None, {}
    metadata = {}
    k2, ratio = _child(used, "kAlpha2"), _child(used, "ratioKAlpha2KAlpha1")
    if k2 is not None and (k2.text or "").strip():
        metadata["kalpha2_angstrom"] = k2.text.strip()
    if ratio is not None and (ratio.text or "").strip():
        metadata["kalpha2_ratio"] = ratio.text.strip()
    k1 = _child(used, "kAlpha1")
    if k1 is None or not (k1.text or "").strip():
        return None, metadata
    wavelength = _number(k1, "kAlpha1")
    if not (np.isfinite(wavelength) and wavelength > 0):
        raise MatgenError(f"kAlpha1 is {k1.text.strip()} Å; an X-ray wavelength must be a positive number")
    return wavelength, metadata


def _two_theta_deg(points: ET.Element, n: int) -> np.ndarray:
    """(n,) 2θ in degrees from ``positions[@axis='2Theta']`` (start/end or an explicit list)."""
    positions = next((p for p in _children(points, "positions") if p.get("axis") == "2Theta"), None)
    if positions is None:
        raise MatgenError("the scan has no 2Theta positions (is it a rocking curve or a map?)")
    unit = (positions.get("unit") or "deg").strip()
    if unit.lower() not in ("deg", "degree", "degrees", "°"):
        raise MatgenError(f"its 2Theta positions are in '{unit}', not degrees; convert the scan to degrees")
    listed = _child(positions, "listPositions")
    if listed is not None:
        return _floats(listed, "listPositions")
    start, end = _child(positions, "startPosition"), _child(positions, "endPosition")
    if start is None or end is None:
        raise MatgenError("2Theta positions have neither startPosition/endPosition nor listPositions")
    first, last = _number(start, "startPosition"), _number(end, "endPosition")
    if n > 1 and first == last:
        raise MatgenError(f"startPosition and endPosition are both {first:g}° for {n} intensities; the scan has no 2θ range")
    return np.linspace(first, last, n)


def _scan_record(points: ET.Element, wavelength: float | None, metadata: dict[str, str]) -> SpectrumRecord:
    counts = _child(points, "counts")
    if counts is None:
        counts = _child(points, "intensities")
    y = _floats(counts, "counts or intensities")
    x = _two_theta_deg(points, len(y))
    if len(x) != len(y):
        raise MatgenError(f"{len(x)} 2Theta positions for {len(y)} intensities; the file may be cut short: export it again")
    for name in ("beamAttenuationFactors", "intensities" if _local(counts.tag) == "counts" else "counts"):
        other = _child(points, name)
        if other is not None and (other.text or "").strip() and len(_floats(other, name)) != len(y):
            raise MatgenError(f"{len(_floats(other, name))} {name} for {len(y)} {_local(counts.tag)}; "
                              "the file may be cut short: export it again")
    metadata = dict(metadata)
    time = _child(points, "commonCountingTime")
    if time is not None and (time.text or "").strip():
        metadata["counting_time_s"] = time.text.strip()
    return SpectrumRecord(
        x=x, y=y, axis_name="two_theta", axis_unit="deg", kind="xrd", metadata=metadata,
        wavelength_angstrom=wavelength, signal_unit=counts.get("unit", "counts") or "counts",
    )


def parse_xrdml(data: bytes | str) -> list[SpectrumRecord]:
    """One record per scan in an XRDML document (parts ``scan1``, ``scan2``... when several).

    Raises:
        MatgenError: the text is not XML, or a scan lacks 2θ positions or intensities.
    """
    try:
        root = ET.fromstring(data.encode("utf-8") if isinstance(data, str) else data)
    except ET.ParseError as e:
        raise MatgenError(f"not valid XML ({e})") from None
    measurements = _descendants(root, "xrdMeasurement") or [root]
    records = []
    for measurement in measurements:
        wavelength, metadata = _wavelength(measurement)
        for scan in _descendants(measurement, "scan"):
            for points in _children(scan, "dataPoints"):
                records.append(_scan_record(points, wavelength, metadata))
    if not records:
        raise MatgenError("no scan/dataPoints found; is this an XRDML file?")
    if len(records) > 1:
        for i, record in enumerate(records, start=1):
            record.part = f"scan{i}"
    return records


def read_xrdml(path: str | Path) -> list[SpectrumRecord]:
    """The scans of a PANalytical ``.xrdml`` file (see :func:`parse_xrdml`)."""
    path = Path(path)
    try:
        return parse_xrdml(path.read_bytes())
    except MatgenError as e:
        raise MatgenError(f"{path}: {e}") from None
