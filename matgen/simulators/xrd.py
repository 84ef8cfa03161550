"""``xrd-phases``: powder XRD patterns -> weight fractions of reference phases (wt%), by whole-pattern fit.

For each pattern y (L,) on the dataset's 2θ axis:

1. the basis: every reference phase's per-cell pattern (:func:`matgen.physics.references.reference_patterns`,
   the dataset's wavelength, Kα2 at ``kalpha2_ratio``) at several crystallite sizes
   (``crystallite_sizes_nm``, Scherrer broadening): a non-negative mix of a narrow and a broad
   copy of a phase approximates any peak width in between, so one basis fits samples of
   unknown size;
2. the non-negative least-squares fit with a polynomial background of ``background_order``
   (:func:`matgen.physics.xrd.fit_weight_fractions`), which inverts Hill–Howard,
   w_p = S_p ρ_p V_p² / Σ_i S_i ρ_i V_i²; a phase's fraction is the sum over its size copies
   (each copy has the same ρ V², so the sum is exact);
3. ``wt_<phase>`` = 100 w_p, in wt% (the names and unit of the ``xrd`` built-in dataset); a
   requested fraction counts as reached within ±3 wt% (``TOLERANCE_WT``).

On the built-in ``xrd`` data (sizes 30–300 nm, micro-strain, zero shift, Kα2, background,
counting noise) the fractions come back to 0.2 wt% on average, ≤ ~1 wt% at worst.
"""

from __future__ import annotations

import copy
import re

import numpy as np

from matgen.errors import MatgenError
from matgen.simulators.base import Evaluation, Output, Simulator, check_kind

DEFAULT_PHASES = "quartz,corundum,calcite,rutile"
TOLERANCE_WT = 3.0  # a requested fraction is reached within this many wt% (issue 15: MAE ≤ 3 wt%)


def phase_names(source) -> list[str]:
    """Output-friendly names of the reference phases of ``source`` (as the xrd builder names them)."""
    from matgen.data.importers.structures import reference_structures
    from matgen.physics.references import load_reference_set

    names = [name.rsplit("/", 1)[-1].split(".")[0] for name, _ in load_reference_set(source, reference_structures)]
    return [re.sub(r"[^0-9A-Za-z_]+", "_", n) for n in names]


def weight_outputs(names) -> tuple[Output, ...]:
    """The ``wt_<phase>`` outputs (wt%, 0..100, ±``TOLERANCE_WT``) of these phase names."""
    return tuple(Output(f"wt_{n}", "wt%", f"weight fraction of {n} (whole-pattern fit)", 0.0, 100.0, TOLERANCE_WT)
                 for n in names)


class XrdPhasesSimulator(Simulator):
    """Weight fractions (wt%) of reference phases from powder XRD patterns.

    Args:
        phases: built-in reference names (``"quartz,corundum"`` or a list), a CIF folder or a
            structures JSON; None: the dataset's ``attrs["phases"]``, else quartz,corundum,calcite,rutile.
        kalpha2_ratio: I(Kα2)/I(Kα1) of the instrument (0.5: unfiltered Cu tube; 0: monochromatic).
        crystallite_sizes_nm: Scherrer sizes of the basis copies (module docstring).
        background_order: order of the polynomial background.
        wavelength_angstrom: used when the dataset's axis records no wavelength (Å).
        batch_size: patterns per call.
    """

    name = "xrd-phases"
    kinds = ("xrd",)
    description = "whole-pattern fit against reference phases: weight fractions (wt%)"

    def __init__(self, phases=None, kalpha2_ratio: float = 0.5, crystallite_sizes_nm=(30.0, 80.0, 300.0),
                 background_order: int = 2, wavelength_angstrom: float = 1.54056, batch_size: int = 64):
        if not 0 <= float(kalpha2_ratio) <= 1:
            raise MatgenError(f"kalpha2_ratio must lie in [0, 1] (got {kalpha2_ratio})")
        if isinstance(crystallite_sizes_nm, str):
            crystallite_sizes_nm = [float(s) for s in crystallite_sizes_nm.split(",")]
        sizes = tuple(float(s) for s in crystallite_sizes_nm)
        if not sizes or min(sizes) <= 0:
            raise MatgenError(f"crystallite sizes must be positive nm (got {crystallite_sizes_nm})")
        self.phases = phases
        self.kalpha2_ratio, self.sizes = float(kalpha2_ratio), sizes
        self.background_order, self.wavelength_angstrom = int(background_order), float(wavelength_angstrom)
        self.batch_size = int(batch_size)
        self.names = phase_names(phases or DEFAULT_PHASES)
        self.outputs = weight_outputs(self.names)
        self._basis: dict = {}

    def bind(self, samples) -> "XrdPhasesSimulator":
        """This simulator with the phases fixed: its own, else ``samples.attrs["phases"]``."""
        if self.phases is not None or not getattr(samples, "attrs", {}).get("phases"):
            return self
        bound = copy.copy(self)
        bound.phases = samples.attrs["phases"]
        bound.names = phase_names(bound.phases)
        bound.outputs = weight_outputs(bound.names)
        bound._basis = {}
        return bound

    def check(self, samples) -> None:
        check_kind(self, samples)

    def basis(self, two_theta_deg: np.ndarray, wavelength_angstrom: float) -> list:
        """The fit basis on this axis: every phase at every crystallite size (cached per axis)."""
        import torch

        from matgen.data.importers.structures import reference_structures
        from matgen.physics import xrd
        from matgen.physics.references import reference_patterns

        key = (len(two_theta_deg), float(two_theta_deg[0]), float(two_theta_deg[-1]), wavelength_angstrom)
        if key not in self._basis:
            axis = torch.as_tensor(two_theta_deg, dtype=torch.float64)
            inst = xrd.Instrument(wavelength_angstrom, kalpha2_ratio=self.kalpha2_ratio)
            self._basis[key] = [p for size in self.sizes for p in reference_patterns(
                axis, self.phases or DEFAULT_PHASES, inst, xrd.SampleEffects(crystallite_size_nm=size),
                reference_structures)]
        return self._basis[key]

    def differentiable(self, patterns, requests) -> dict:
        """``wt_<phase>`` (B,) wt% as torch tensors with their gradient, for relative intensities ``patterns`` (B, L)
        on the axis of the ``requests`` rows (:func:`~matgen.physics.xrd.soft_weight_fractions`, summed over each
        phase's size copies)."""
        from matgen.physics.xrd import soft_weight_fractions

        if requests is None or requests.axis is None:
            raise MatgenError("xrd-phases guidance needs the 2θ axis of the requested patterns")
        wavelength = requests.axis.wavelength_angstrom or self.wavelength_angstrom
        basis = self.basis(requests.axis.values, wavelength)
        groups = np.tile(np.arange(len(self.names)), len(self.sizes))  # basis: every phase at each size in turn
        w = soft_weight_fractions(patterns, basis, self.background_order, groups)  # (B, sizes × phases)
        w = 100 * w.reshape(len(patterns), len(self.sizes), len(self.names)).sum(1)
        return {o.name: w[:, k] for k, o in enumerate(self.outputs)}

    def __call__(self, samples) -> Evaluation:
        from matgen.physics.xrd import fit_weight_fractions

        self.check(samples)
        y = np.asarray(samples.signals, dtype=np.float64)
        wavelength = samples.axis.wavelength_angstrom or self.wavelength_angstrom
        errors = np.full(len(y), "", dtype=object)
        errors[~np.isfinite(y).all(1)] = "pattern has NaN or inf points"
        errors[(errors == "") & ~(np.nan_to_num(y).max(1) > 0)] = "pattern has no positive intensity"
        result = Evaluation.all_failed([o.name for o in self.outputs], len(y), "")
        result.errors = errors
        ok = np.flatnonzero(errors == "")
        if len(ok):
            w = fit_weight_fractions(y[ok], self.basis(samples.axis.values, wavelength), self.background_order).numpy()
            w = 100 * w.reshape(len(ok), len(self.sizes), len(self.names)).sum(1)  # (B, P) wt%
            none = w.sum(1) <= 0
            result.errors[ok[none]] = "no reference phase fits the pattern (all scales zero)"
            for k, o in enumerate(self.outputs):
                result.properties[o.name][ok[~none]] = w[~none, k]
        return result
