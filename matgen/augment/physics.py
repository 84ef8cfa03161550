"""Physics-informed augmentation: perturb real spectra the way another instrument or sample would.

Each kind has a bounds dataclass (the largest perturbation of every effect, in units named in the
field; 0 switches an effect off) and a pipeline that draws each effect's size uniformly within its
bounds and applies the pure functions of :mod:`matgen.augment.effects` in physical order: the
sample first (strain, thickness, broadening, orientation), then the instrument (scale, background,
zero error, noise, spikes). Additive effects are fractions of the parent's maximum, so a synthetic
row keeps its parent's scale (counts stay counts).

Synthetic row i of :func:`physics_augment` draws everything from ``numpy.random.default_rng(seed + i)``,
so it can be regenerated alone. Its id is ``<parent id>~phys<seed + i>``, its source names the parent,
the seed and every drawn value, and it keeps all of its parent's conditions (labels included; an
EELS ``thickness`` t/λ moves with the sample, :data:`CONDITION_EFFECTS`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import Callable, ClassVar, Mapping

import numpy as np

from matgen.augment import effects as fx
from matgen.common.progress import Progress, no_progress
from matgen.common.records import check_names, field_names
from matgen.data.dataset import SPECTRUM_KINDS, Condition, Dataset
from matgen.errors import MatgenError


#: The categories of the ``augmentation`` meta condition every augmented dataset carries.
AUGMENTATIONS = ("none", "physics", "generative")


@dataclass
class PhysicsBounds:
    """The largest perturbation of each effect (base of the per-kind bounds); 0 switches an effect off."""

    kind: ClassVar[str] = ""
    intensity_scale: float = 0.1  # max |relative change| of the overall intensity (0.1: factor 0.9..1.1)
    noise: float = 0.01  # max noise std at the strongest point, fraction of the maximum (Poisson-shaped)

    def override(self, values: Mapping[str, float | str] | None) -> "PhysicsBounds":
        """A copy with the bounds in ``values`` replaced (numbers or number strings).

        Raises:
            MatgenError: an unknown name (the message lists this kind's bounds) or a bad value.
        """
        values = {str(name).strip().replace("-", "_"): value for name, value in (values or {}).items()}
        check_names(values, field_names(self), f"{self.kind} bound")
        new = {}
        for key, value in values.items():
            try:
                new[key] = float(value)
            except (TypeError, ValueError):
                raise MatgenError(f"bound {key} '{value}' is not a number") from None
        return replace(self, **new).check()

    def check(self) -> "PhysicsBounds":
        """Return self, or raise a MatgenError naming a bound that is negative, infinite or too large."""
        for name, value in asdict(self).items():
            if not (np.isfinite(value) and value >= 0):
                raise MatgenError(f"bound {name} must be a finite number ≥ 0 (0 switches the effect off), got {value}")
        if self.intensity_scale >= 1:
            raise MatgenError(f"bound intensity_scale must be < 1 (the factor 1 ± it stays positive), "
                              f"got {self.intensity_scale}")
        return self

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class XrdBounds(PhysicsBounds):
    """Powder XRD: sample displacement, lattice strain, crystallite size, texture, background, counting."""

    kind: ClassVar[str] = "xrd"
    zero_shift_deg: float = 0.05  # max |zero error / sample displacement| of the whole pattern, deg 2θ
    strain: float = 0.002  # max |lattice strain| Δd/d; peaks move by Bragg's law, Δ2θ ≈ −2 s tan θ
    size_broadening_deg: float = 0.05  # max added Gaussian FWHM as 2θ → 0, growing as 1/cos θ (Scherrer), deg 2θ
    texture: float = 0.2  # max |log| of a smooth multiplicative field over the peaks (preferred orientation)
    texture_length_deg: float = 5.0  # correlation length of the texture field, deg 2θ
    background: float = 0.05  # max added smooth (cubic Bernstein) background, fraction of the maximum

    def check(self) -> "XrdBounds":
        super().check()
        if self.strain >= 0.1:
            raise MatgenError(f"bound strain must be < 0.1 (10 % of d), got {self.strain}")
        if self.texture_length_deg <= 0:
            raise MatgenError(f"bound texture_length_deg must be positive, got {self.texture_length_deg}")
        return self


@dataclass
class RamanBounds(PhysicsBounds):
    """Raman: calibration and stress shift, resolution, orientation, fluorescence, shot noise, cosmic rays."""

    kind: ClassVar[str] = "raman"
    shift_cm1: float = 3.0  # max |shift| of the whole spectrum (calibration, stress), cm-1
    broadening_cm1: float = 4.0  # max added Gaussian FWHM (spectrometer resolution, disorder), cm-1
    orientation: float = 0.2  # max |log| of a smooth multiplicative field over the bands (crystal orientation)
    orientation_length_cm1: float = 100.0  # correlation length of that field, cm-1
    fluorescence: float = 0.1  # max height of a broad fluorescence background, fraction of the maximum
    spike_rate: float = 0.2  # mean number of cosmic-ray spikes per spectrum (Poisson)
    spike_height: float = 0.5  # max spike height, fraction of the maximum

    def check(self) -> "RamanBounds":
        super().check()
        if self.orientation_length_cm1 <= 0:
            raise MatgenError(f"bound orientation_length_cm1 must be positive, got {self.orientation_length_cm1}")
        return self


@dataclass
class EelsBounds(PhysicsBounds):
    """EELS: energy drift, resolution, specimen thickness (plural scattering), beam current, counting."""

    kind: ClassVar[str] = "eels"
    drift_ev: float = 0.2  # max |energy drift| of the whole spectrum, eV
    broadening_ev: float = 0.3  # max added Gaussian FWHM (energy resolution), eV
    thickness: float = 0.1  # max |change of t/λ|; plural scattering re-convolved by Fourier-log (needs the ZLP)


@dataclass
class SpectrumBounds(PhysicsBounds):
    """Any other spectrum: shift, broadening, scale, background, noise, in the axis's unit."""

    kind: ClassVar[str] = "spectrum"
    shift: float = 0.0  # max |shift| of the whole spectrum, axis unit (0: off; set it for your axis)
    broadening: float = 0.0  # max added Gaussian FWHM, axis unit (0: off)
    background: float = 0.05  # max added smooth (cubic Bernstein) background, fraction of the maximum


# --------------------------------------------------------------------------- one spectrum per kind


def perturb_xrd(two_theta_deg: np.ndarray, y: np.ndarray, b: XrdBounds, rng: np.random.Generator):
    """Return (perturbed pattern (L,), drawn values) of one powder pattern."""
    y_max = fx.scale_of(y)
    p = {"strain": rng.uniform(-b.strain, b.strain), "size_broadening_deg": rng.uniform(0, b.size_broadening_deg),
         "texture": rng.uniform(0, b.texture), "intensity_scale": 1 + rng.uniform(-b.intensity_scale, b.intensity_scale),
         "background": rng.uniform(0, b.background), "zero_shift_deg": rng.uniform(-b.zero_shift_deg, b.zero_shift_deg),
         "noise": rng.uniform(0, b.noise)}
    y = fx.strain_two_theta(two_theta_deg, y, p["strain"])
    y = fx.gaussian_broaden(two_theta_deg, y, fx.scherrer_fwhm_deg(two_theta_deg, p["size_broadening_deg"]))
    y = fx.texture(y, fx.smooth_field(two_theta_deg, b.texture_length_deg, rng), p["texture"])
    y = y * p["intensity_scale"]
    y = y + fx.polynomial_background(two_theta_deg, p["background"] * y_max, rng)
    y = fx.shift_spectrum(two_theta_deg, y, p["zero_shift_deg"])
    return fx.poisson_shaped_noise(y, p["noise"], y_max, rng), p


def perturb_raman(raman_shift_cm1: np.ndarray, y: np.ndarray, b: RamanBounds, rng: np.random.Generator):
    """Return (perturbed spectrum (L,), drawn values) of one Raman spectrum."""
    x, y_max = raman_shift_cm1, fx.scale_of(y)
    p = {"shift_cm1": rng.uniform(-b.shift_cm1, b.shift_cm1), "broadening_cm1": rng.uniform(0, b.broadening_cm1),
         "orientation": rng.uniform(0, b.orientation),
         "intensity_scale": 1 + rng.uniform(-b.intensity_scale, b.intensity_scale),
         "fluorescence": rng.uniform(0, b.fluorescence), "noise": rng.uniform(0, b.noise)}
    y = fx.shift_spectrum(x, y, p["shift_cm1"])
    y = fx.gaussian_broaden(x, y, p["broadening_cm1"])
    y = fx.texture(y, fx.smooth_field(x, b.orientation_length_cm1, rng), p["orientation"])
    y = y * p["intensity_scale"]
    y = y + fx.fluorescence_bump(x, p["fluorescence"] * y_max, rng)
    y = fx.poisson_shaped_noise(y, p["noise"], y_max, rng)
    return y + fx.spikes(len(x), b.spike_rate, b.spike_height * y_max, rng), p


def perturb_eels(energy_loss_ev: np.ndarray, y: np.ndarray, b: EelsBounds, rng: np.random.Generator):
    """Return (perturbed spectrum (L,), drawn values) of one EELS spectrum."""
    x, y_max = energy_loss_ev, fx.scale_of(y)
    p = {"thickness": rng.uniform(-b.thickness, b.thickness), "broadening_ev": rng.uniform(0, b.broadening_ev),
         "drift_ev": rng.uniform(-b.drift_ev, b.drift_ev),
         "intensity_scale": 1 + rng.uniform(-b.intensity_scale, b.intensity_scale), "noise": rng.uniform(0, b.noise)}
    p["thickness"] = fx.thickness_change_applied(x, y, p["thickness"])  # 0 without a zero-loss peak
    y = fx.change_thickness(x, y, p["thickness"])
    y = fx.gaussian_broaden(x, y, p["broadening_ev"])
    y = fx.shift_spectrum(x, y, p["drift_ev"])
    y = y * p["intensity_scale"]
    return fx.poisson_shaped_noise(y, p["noise"], y_max, rng), p


def perturb_spectrum(x: np.ndarray, y: np.ndarray, b: SpectrumBounds, rng: np.random.Generator):
    """Return (perturbed spectrum (L,), drawn values) of a spectrum of any other kind (axis units)."""
    y_max = fx.scale_of(y)
    p = {"shift": rng.uniform(-b.shift, b.shift), "broadening": rng.uniform(0, b.broadening),
         "intensity_scale": 1 + rng.uniform(-b.intensity_scale, b.intensity_scale),
         "background": rng.uniform(0, b.background), "noise": rng.uniform(0, b.noise)}
    y = fx.shift_spectrum(x, y, p["shift"])
    y = fx.gaussian_broaden(x, y, p["broadening"])
    y = y * p["intensity_scale"] + fx.polynomial_background(x, p["background"] * y_max, rng)
    return fx.poisson_shaped_noise(y, p["noise"], y_max, rng), p


#: kind -> {condition: drawn effect}: a continuous, unitless condition of that name moves with the effect,
#: so the label stays true (a sample made thicker by Δ t/λ has thickness + Δ).
CONDITION_EFFECTS: dict[str, dict[str, str]] = {"eels": {"thickness": "thickness"}}

#: kind -> (its bounds dataclass, the function that perturbs one spectrum of it).
PERTURBATIONS: dict[str, tuple[type[PhysicsBounds], Callable]] = {
    "xrd": (XrdBounds, perturb_xrd),
    "raman": (RamanBounds, perturb_raman),
    "eels": (EelsBounds, perturb_eels),
    "spectrum": (SpectrumBounds, perturb_spectrum),
}


def physics_bounds(kind: str, overrides: Mapping[str, float | str] | None = None) -> PhysicsBounds:
    """The default bounds of ``kind`` (docs/augment.md tabulates them), with ``overrides`` replaced.

    Raises:
        MatgenError: a kind without physics augmentation (micrographs) or an unknown bound.
    """
    if kind not in PERTURBATIONS:
        raise MatgenError(f"physics augmentation is for spectra ({', '.join(SPECTRUM_KINDS)}), not {kind}; "
                          "augment micrographs with --method generative")
    return PERTURBATIONS[kind][0]().override(overrides)


def resolve_bounds(kind: str, bounds: PhysicsBounds | Mapping[str, float | str] | None) -> PhysicsBounds:
    """``bounds`` as the bounds of ``kind``: None -> the defaults, a mapping -> the defaults overridden."""
    if bounds is None or isinstance(bounds, Mapping):
        return physics_bounds(kind, bounds)
    if not isinstance(bounds, PERTURBATIONS.get(kind, (type(None),))[0]):
        raise MatgenError(f"{type(bounds).__name__} are not the bounds of a {kind} dataset; use physics_bounds('{kind}')")
    return bounds.check()


def observed_background(raman_shift_cm1: np.ndarray, signals: np.ndarray, max_rows: int = 200) -> float:
    """The median over spectra (N, L) of the broad background's height as a fraction of the spectrum's range.

    Per spectrum: the arPLS baseline (features longer than 300 cm-1, :func:`matgen.physics.raman.baseline_arpls`),
    (max b - min b) / (max y - min y); at most ``max_rows`` spectra, evenly spaced, are looked at."""
    from matgen.physics.raman import baseline_arpls

    rows = signals[np.linspace(0, len(signals) - 1, min(len(signals), max_rows)).astype(int)].astype(np.float64)
    heights = []
    for y in rows:
        span = float(np.ptp(y))
        if span > 0 and np.isfinite(span):
            b = baseline_arpls(raman_shift_cm1, y)
            heights.append(float(np.ptp(b)) / span)
    return float(np.median(heights)) if heights else 0.0


def fit_to_data(bounds: PhysicsBounds, ds: Dataset, given: Mapping | None) -> PhysicsBounds:
    """Raman: the fluorescence bound capped at the background the real spectra show (:func:`observed_background`),
    unless ``given`` sets it. A classifier of baseline-free spectra (e.g. RRUFF's processed ones) is taught a
    nuisance its test data never has by a larger one (docs/augment.md, measured)."""
    if not isinstance(bounds, RamanBounds) or "fluorescence" in {str(k).replace("-", "_") for k in (given or {})}:
        return bounds
    real = ds.signals[~ds.synthetic]
    if not len(real):
        return bounds
    return replace(bounds, fluorescence=min(bounds.fluorescence, round(observed_background(ds.axis.values, real), 4)))


# --------------------------------------------------------------------------- rows


def physics_augment(ds: Dataset, parents: np.ndarray, seed: int = 0,
                    bounds: PhysicsBounds | Mapping[str, float | str] | None = None,
                    progress: Progress = no_progress) -> Dataset:
    """Return the synthetic rows only: row i perturbs row ``parents[i]`` of ``ds`` with ``default_rng(seed + i)``.

    Args:
        ds: a spectrum dataset (xrd, raman, eels, spectrum).
        parents: (M,) indices of the rows to perturb; repeats make several variants of a row.
        seed: row i uses seed + i.
        bounds: the kind's :class:`PhysicsBounds`, a mapping of overrides, or None (defaults).

    Returns:
        M rows with their parents' conditions (an EELS ``thickness`` t/λ moved by the change
        made, :data:`CONDITION_EFFECTS`), ``synthetic`` True, ``augmentation`` = physics, ids
        ``<parent id>~phys<seed + i>`` and sources listing the drawn perturbations.

    Raises:
        MatgenError: a micrograph dataset, bad bounds, or a parent index out of range.
    """
    b = resolve_bounds(ds.kind, bounds)
    perturb = PERTURBATIONS[ds.kind][1]
    parents = np.asarray(parents, dtype=np.int64).reshape(-1)
    if len(parents) and (parents.min() < 0 or parents.max() >= len(ds)):
        raise MatgenError(f"parent rows must be in 0..{len(ds) - 1}, got {parents.min()}..{parents.max()}")
    x = ds.axis.values
    signals = np.empty((len(parents), ds.signals.shape[1]), dtype=np.result_type(ds.signals.dtype, np.float32))
    ids, sources, draws = [], [], []
    for i, parent in enumerate(parents):
        y, drawn = perturb(x, ds.signals[parent].astype(np.float64), b, np.random.default_rng(seed + i))
        signals[i] = y
        draws.append(drawn)
        ids.append(f"{ds.ids[parent]}~phys{seed + i}")
        values = " ".join(f"{k}={v:.4g}" for k, v in drawn.items())
        sources.append(f"matgen augment physics of {ds.ids[parent]} seed {seed + i}: {values}")
        if (i + 1) % 50 == 0 or i + 1 == len(parents):
            progress(i + 1, len(parents), "physics")
    rows = ds.take(parents)
    rows.signals, rows.ids, rows.sources = signals, np.asarray(ids, dtype=object), np.asarray(sources, dtype=object)
    rows.synthetic = np.ones(len(parents), dtype=bool)
    for name, effect in CONDITION_EFFECTS.get(ds.kind, {}).items():
        cond = rows.conditions.get(name)
        if cond is not None and not cond.is_categorical and cond.unit == "":
            rows.conditions[name] = replace(cond, values=cond.values + np.asarray([d[effect] for d in draws]))
    rows.conditions["augmentation"] = augmentation_condition("physics", len(parents))
    rows.attrs["augment_bounds"] = json.dumps(b.to_dict())
    return rows


def augmentation_condition(method: str, n: int) -> Condition:
    """The ``augmentation`` meta condition (none / physics / generative) of n rows made by ``method``."""
    return Condition.from_labels([method] * n, role="meta", categories=AUGMENTATIONS,
                                 description="how the row was made: none (real), physics or generative")
