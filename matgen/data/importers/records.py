"""The one record every spectrum reader returns (like rosettasciio's: data plus a described axis)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class SpectrumRecord:
    """One spectrum as read from a file, before resampling onto the dataset's common axis.

    Attributes:
        x: (L,) axis values in ``axis_unit``, increasing or decreasing (the importer refuses any other order).
        y: (L,) intensities.
        axis_name: ``two_theta``, ``raman_shift``, ``energy_loss``, or None when the file does not say.
        axis_unit: ``deg``, ``cm-1``, ``eV``..., or None when the file does not say.
        kind: ``xrd``, ``raman``, ``eels`` when the file tells, else None.
        metadata: header values worth keeping as conditions (name -> text), e.g. RRUFF's mineral.
        wavelength_angstrom: X-ray wavelength of a 2θ scan (Å), when the file gives it.
        signal_unit: unit of ``y`` (``counts``), empty when arbitrary.
        part: suffix that tells apart several spectra of one file (``scan2``, ``y0x3``); '' for one.
        position: for a pixel of a spectrum image, (name -> value) such as {"x_um": 0.2, "y_um": 0.0}.
    """

    x: np.ndarray
    y: np.ndarray
    axis_name: str | None = None
    axis_unit: str | None = None
    kind: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    wavelength_angstrom: float | None = None
    signal_unit: str = ""
    part: str = ""
    position: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.x = np.asarray(self.x, dtype=np.float64)
        self.y = np.asarray(self.y, dtype=np.float64)
