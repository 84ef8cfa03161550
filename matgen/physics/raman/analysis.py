"""Band positions back from a measured Raman spectrum (numpy).

**Analysis** (:func:`band_positions_cm1`, :func:`strongest_band_cm1`; numpy): cosmic spikes found
against a running median and bridged by a local quadratic (:func:`despike`); the baseline removed
by asymmetrically reweighted penalised least squares (arPLS, Baek et al. 2015, on the Whittaker
smoother of Eilers & Boelens 2005; :func:`baseline_arpls`); a light Gaussian smoothing; local
maxima kept when their height and prominence beat both a fraction of the tallest and a multiple
of the noise; each refined by a least-squares parabola through 1/y over its points above half
height — a Lorentzian's reciprocal is exactly a parabola, so an isolated band is located exactly
without noise, and to a fraction of a channel with it (noise-limited: ~0.3 cm⁻¹ rms for a band
10σ high and 9 cm⁻¹ wide on a 1 cm⁻¹ grid).

**Band shift -> temperature or stress** (:func:`temperature_from_band_k`, :func:`stress_from_band_gpa`):
the forward model's linear position of the reference band, ω = ω₀ + dω/dT (T − T₀) + dω/dP P,
solved for T at a known P or for P at a known T. One band position fixes one unknown: the other
must be known (the requested or stated value). A temperature error ΔT is a band error
|dω/dT| ΔT; so "within 30 K" means within 30 |dω/dT| cm⁻¹, ~0.3–1 cm⁻¹ for the table's phases.
"""

from __future__ import annotations

import math

import numpy as np

from matgen.errors import MatgenError


def _analysis_input(raman_shift_cm1, spectrum) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(raman_shift_cm1, dtype=float)
    y = np.asarray(spectrum, dtype=float)
    if x.ndim != 1 or y.shape != x.shape or len(x) < 5:
        raise MatgenError(f"axis and spectrum must be 1-D of the same length >= 5, got {x.shape} and {y.shape}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise MatgenError(f"the spectrum has {int((~np.isfinite(y)).sum())} NaN/inf channels (or the axis has some); "
                          "drop or interpolate them first")
    if not (np.diff(x) > 0).all():
        raise MatgenError("the Raman shift axis must increase strictly; sort it (np.argsort) first")
    return x, y


def _spike_channels(y: np.ndarray, width: int, threshold: float, sigma: float) -> np.ndarray:
    """(L,) bool: channels standing far above their running median (see :func:`despike`)."""
    from scipy.ndimage import median_filter

    excess = y - median_filter(y, size=width, mode="mirror")  # mirror: an end channel is not its own neighbour
    background = median_filter(y, size=8 * width, mode="mirror")
    high = excess > threshold * sigma
    spikes = high & (excess > 0.7 * (y - background))
    beside = np.zeros_like(spikes)
    beside[1:] |= spikes[:-1]
    beside[:-1] |= spikes[1:]
    return spikes | (high & beside)


def despike(spectrum: np.ndarray, width: int = 7, threshold: float = 6.0, passes: int = 3) -> np.ndarray:
    """(L,) spectrum with cosmic-ray spikes (runs of 1–3 channels) replaced by a local quadratic fit.

    A channel is a spike where y − median_width(y) exceeds ``threshold`` × the noise σ
    (:func:`noise_sigma`) and also 70 % of its height above the local background (the median
    over 8 × width channels): a Lorentzian band of FWHM >= 3 channels stands at most ~64 % above
    its own 7-channel median, a spike almost 100 %. (Bands narrower than 3 channels look like
    spikes: sample finer.) A neighbour of a spike is one too if its own excess passes the first
    test. Each run of spike channels is replaced by a least-squares quadratic through up to 3
    clean channels on either side, which follows a band's curvature; the search is repeated on
    the result (up to ``passes`` times) to catch spikes that hid each other inside one window.
    """
    y = np.asarray(spectrum, dtype=float)
    sigma = noise_sigma(y)
    spikes = np.zeros(len(y), dtype=bool)
    out = y.copy()
    channels = np.arange(len(y))
    for _ in range(passes):
        found = _spike_channels(out, width, threshold, sigma) & ~spikes
        if not found.any():
            break
        spikes |= found
        clean = channels[~spikes]
        if len(clean) < 2:
            return y.copy()
        out = y.copy()
        runs = np.split(np.flatnonzero(spikes), np.flatnonzero(np.diff(np.flatnonzero(spikes)) > 1) + 1)
        for run in runs:
            near = np.concatenate([clean[clean < run[0]][-3:], clean[clean > run[-1]][:3]])
            coefficients = np.polyfit(near - run[0], y[near], min(2, len(near) - 1))
            out[run] = np.polyval(coefficients, run - run[0])
    return out


def baseline_arpls(raman_shift_cm1: np.ndarray, spectrum: np.ndarray, length_cm1: float = 300.0,
                   iterations: int = 30, tolerance: float = 1e-3) -> np.ndarray:
    """(L,) baseline by asymmetrically reweighted penalised least squares (arPLS).

    Minimises Σ w_i (y_i − z_i)² + λ Σ (Δ²z_i)² (the Whittaker smoother of Eilers & Boelens, 2005)
    and re-weights w = 1 / (1 + exp(2 (d − (2s − m)) / s)) from the residuals d = y − z, with m and
    s the mean and standard deviation of the negative ones (Baek, Park, Ahn & Choo, Analyst 140
    (2015) 250): points within the noise keep weight ~1, bands above it get ~0, so the baseline
    runs through the middle of the noise rather than along its lower envelope. The smoother
    passes features longer than about ``length_cm1``: λ = (length / (2π Δω))⁴ for spacing Δω.
    """
    from scipy.linalg import solveh_banded

    x, y = _analysis_input(raman_shift_cm1, spectrum)
    size = len(y)
    lam = (length_cm1 / (2 * math.pi * np.mean(np.diff(x)))) ** 4
    penalty = np.zeros((3, size))  # upper banded form of λ DᵀD, D the second-difference matrix
    penalty[2] = 6.0
    penalty[2, [0, -1]] = 1.0
    penalty[2, [1, -2]] = 5.0
    penalty[1, 1:] = -4.0
    penalty[1, [1, -1]] = -2.0
    penalty[0, 2:] = 1.0
    penalty *= lam
    w = np.ones(size)
    for _ in range(iterations):
        system = penalty.copy()
        system[2] += w
        z = solveh_banded(system, w * y)
        d = y - z
        negative = d[d < 0]
        if len(negative) < 2 or not negative.std() > 0:
            break
        m, s = negative.mean(), negative.std()
        new_w = 1.0 / (1.0 + np.exp(np.clip(2 * (d - (2 * s - m)) / s, -50, 50)))
        done = np.linalg.norm(new_w - w) / np.linalg.norm(w) < tolerance
        w = new_w
        if done:
            break
    return z


def _vertex(x: np.ndarray, y: np.ndarray, i: int) -> float:
    """Position of the band whose highest channel is i, from a parabola through 1/y over its top.

    The points above half height are used: a Lorentzian's reciprocal is exactly a parabola.
    """
    lo, hi = _top_window(y, i)
    xs, ys = x[lo:hi + 1], y[lo:hi + 1]
    if (ys > 0).all():
        a, b, _ = np.polyfit(xs - x[i], 1 / ys, 2, w=ys**2)  # weights: σ(1/y) = σ(y) / y²
        if a > 0 and abs(b / (2 * a)) <= x[hi] - x[lo]:
            return float(x[i] - b / (2 * a))
    y0, y1, y2 = y[i - 1], y[i], y[i + 1]  # fall back: parabola through y at 3 points
    denom = y0 - 2 * y1 + y2
    return float(x[i] + (0.5 * (y0 - y2) / denom if denom else 0.0) * (x[i + 1] - x[i]))


def _top_window(y: np.ndarray, i: int) -> tuple[int, int]:
    """First and last channel (at least i - 1 .. i + 1) of the band at channel i above its half height (≤ 50 each side)."""
    half = 0.5 * y[i]
    lo, hi = i, i
    while lo > 0 and y[lo - 1] > half and i - lo < 50:
        lo -= 1
    while hi < len(y) - 1 and y[hi + 1] > half and hi - i < 50:
        hi += 1
    return min(lo, i - 1), max(hi, i + 1)


def _peaks(y: np.ndarray, min_height: float, floor: float, distance: int, edge: int) -> np.ndarray:
    """Increasing indices of local maxima with height and prominence above a threshold, >= distance apart.

    The threshold is the larger of ``floor`` and ``min_height`` × the tallest local maximum (not
    the global maximum, which may be an edge). Prominence is the height above the higher of the
    lowest points between the peak and the nearest taller point on each side (or the spectrum's
    end); of maxima closer than ``distance`` channels the tallest is kept. Maxima within ``edge``
    channels of either end are left out: a band there cannot be located, nor a spike told from one.
    """
    candidates = np.flatnonzero((y[1:-1] > y[:-2]) & (y[1:-1] >= y[2:])) + 1
    candidates = candidates[(candidates >= edge) & (candidates < len(y) - edge)]
    if not len(candidates):
        return candidates
    threshold = max(floor, min_height * y[candidates].max())
    candidates = candidates[y[candidates] > threshold]
    kept: list[int] = []
    for i in candidates[np.argsort(-y[candidates], kind="stable")]:
        left, right = y[:i][::-1], y[i + 1:]
        taller_left, taller_right = np.flatnonzero(left > y[i]), np.flatnonzero(right > y[i])
        left_min = left[: taller_left[0] if len(taller_left) else None].min()
        right_min = right[: taller_right[0] if len(taller_right) else None].min()
        if y[i] - max(left_min, right_min) > threshold and all(abs(i - j) >= distance for j in kept):
            kept.append(int(i))
    return np.asarray(sorted(kept), dtype=int)


def noise_sigma(spectrum: np.ndarray) -> float:
    """Robust per-channel noise σ of a spectrum: 1.4826 × MAD of the first differences / √2."""
    diff = np.diff(np.asarray(spectrum, dtype=float))
    return float(1.4826 * np.median(np.abs(diff - np.median(diff))) / math.sqrt(2))


def _find_bands(raman_shift_cm1, spectrum, min_height: float = 0.05, min_separation_cm1: float = 5.0,
                smooth_cm1: float = 1.0, noise_factor: float = 5.0, despike_width: int = 7,
                baseline_cm1: float | None = 300.0) -> tuple[np.ndarray, np.ndarray]:
    x, y, idx = _band_channels(raman_shift_cm1, spectrum, min_height, min_separation_cm1, smooth_cm1, noise_factor,
                               despike_width, baseline_cm1)
    positions = np.asarray([_vertex(x, y, i) for i in idx])
    return positions, y[idx]


def _band_channels(raman_shift_cm1, spectrum, min_height: float, min_separation_cm1: float, smooth_cm1: float,
                   noise_factor: float, despike_width: int,
                   baseline_cm1: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(axis (L,), the spectrum as the bands are located in (L,): despiked, baseline-free, smoothed; the bands'
    highest channels (B,)), the steps of :func:`band_positions_cm1` before the parabola."""
    from scipy.ndimage import gaussian_filter1d

    x, y = _analysis_input(raman_shift_cm1, spectrum)
    step = float(np.mean(np.diff(x)))
    y = despike(y, despike_width) if despike_width else y
    if baseline_cm1:
        y = y - baseline_arpls(x, y, baseline_cm1)
    sigma = noise_sigma(y)
    if smooth_cm1:
        y = gaussian_filter1d(y, smooth_cm1 / step, mode="nearest")
        impulse = np.zeros(8 * int(smooth_cm1 / step + 1) + 1)
        impulse[len(impulse) // 2] = 1.0
        sigma *= math.sqrt(np.sum(gaussian_filter1d(impulse, smooth_cm1 / step) ** 2))  # white noise after smoothing
    distance = max(1, int(round(min_separation_cm1 / step)))
    idx = _peaks(y, min_height, noise_factor * sigma, distance, max(2, despike_width))
    return x, y, idx


def band_positions_cm1(raman_shift_cm1: np.ndarray, spectrum: np.ndarray, min_height: float = 0.05,
                       min_separation_cm1: float = 5.0, smooth_cm1: float = 1.0, noise_factor: float = 5.0,
                       despike_width: int = 7, baseline_cm1: float | None = 300.0) -> np.ndarray:
    """Band positions (cm⁻¹, increasing) in one spectrum (L,), after removing spikes and baseline.

    Steps: :func:`despike` (``despike_width`` channels; 0 skips it); :func:`baseline_arpls`
    (features longer than ``baseline_cm1``; None skips it); a Gaussian smoothing of σ =
    ``smooth_cm1`` (symmetric, so it moves no isolated band; 0 skips it); local maxima whose
    height and prominence exceed both ``min_height`` × the tallest and ``noise_factor`` × the
    smoothed noise σ, at least ``min_separation_cm1`` apart; each refined by a parabola through
    1/y over its points above half height (exact for an isolated Lorentzian before smoothing).
    """
    return _find_bands(raman_shift_cm1, spectrum, min_height, min_separation_cm1, smooth_cm1, noise_factor,
                       despike_width, baseline_cm1)[0]


def strongest_band_cm1(raman_shift_cm1: np.ndarray, spectrum: np.ndarray, **options) -> float | np.ndarray:
    """Position (cm⁻¹) of the tallest band of a spectrum (L,), or of each of (B, L); NaN where none.

    ``options`` are those of :func:`band_positions_cm1`.
    """
    y = np.asarray(spectrum, dtype=float)
    if y.ndim == 2:
        return np.asarray([strongest_band_cm1(raman_shift_cm1, row, **options) for row in y])
    positions, heights = _find_bands(raman_shift_cm1, y, **options)
    return float(positions[np.argmax(heights)]) if len(positions) else float("nan")


# --------------------------------------------------------------------------- the differentiable twin


def soft_band_positions_cm1(raman_shift_cm1: np.ndarray, spectra, near_cm1, min_height: float = 0.05,
                            baseline_cm1: float = 300.0, smooth_cm1: float = 1.0):
    """(B,) torch positions (cm⁻¹) of the band nearest ``near_cm1`` (B,) in each of ``spectra`` (B, L), with
    their gradient; NaN (no gradient) where a spectrum has no band or ``near_cm1`` is NaN.

    The same value as the analysis (:func:`band_positions_cm1` after :func:`despike` and
    :func:`baseline_arpls`, the band nearest ``near_cm1``), differentiated with the spikes, the
    baseline, the band's channel and its half-height window held at their values: the
    smoothing is linear (its matrix, :func:`_smoothing_matrix`), and the weighted parabola through
    1/y is solved in torch (:func:`_soft_vertex`).
    """
    import torch

    x = np.asarray(raman_shift_cm1, dtype=float)
    step = float(np.mean(np.diff(x)))
    smooth = torch.as_tensor(_smoothing_matrix(len(x), smooth_cm1 / step if smooth_cm1 else 0.0),
                             dtype=torch.float64, device=spectra.device)
    near = np.broadcast_to(np.asarray(near_cm1, dtype=float), (len(spectra),))
    out = []
    for row, target in zip(spectra, near):
        values = row.detach().double().cpu().numpy()
        if not (np.isfinite(target) and np.isfinite(values).all()):
            out.append(torch.full((), math.nan, dtype=torch.float64, device=spectra.device))
            continue
        clean = despike(values)
        fixed = clean - values - baseline_arpls(x, clean, baseline_cm1)  # held constant: despike and baseline
        _, located, idx = _band_channels(x, values + fixed, min_height, 5.0, smooth_cm1, 5.0, 0, None)
        if not len(idx):
            out.append(torch.full((), math.nan, dtype=torch.float64, device=spectra.device))
            continue
        i = int(idx[np.argmin([abs(_vertex(x, located, j) - target) for j in idx])])
        y = smooth @ (row.double() + torch.as_tensor(fixed, device=spectra.device))
        out.append(_soft_vertex(x, y, i))
    return torch.stack(out)


def _smoothing_matrix(length: int, sigma_channels: float) -> np.ndarray:
    """(L, L) matrix G of ``gaussian_filter1d(·, sigma_channels, mode="nearest")``: smoothed = G @ y (identity for 0)."""
    from scipy.ndimage import gaussian_filter1d

    eye = np.eye(length)
    return gaussian_filter1d(eye, sigma_channels, axis=0, mode="nearest") if sigma_channels > 0 else eye


def _soft_vertex(x: np.ndarray, y, i: int):
    """:func:`_vertex` of a torch spectrum y (L,), differentiable in y (its window held at its value)."""
    import torch

    values = y.detach().cpu().numpy()
    lo, hi = _top_window(values, i)
    ys = y[lo:hi + 1]
    d = torch.as_tensor(x[lo:hi + 1] - x[i], dtype=y.dtype, device=y.device)
    if (values[lo:hi + 1] > 0).all():
        weight = ys**2  # np.polyfit's w: rows scaled by it
        design = torch.stack([d**2, d, torch.ones_like(d)], 1) * weight[:, None]
        a, b, _ = torch.linalg.solve(design.T @ design, design.T @ (weight / ys))
        if a.item() > 0 and abs((b / (2 * a)).item()) <= x[hi] - x[lo]:
            return x[i] - b / (2 * a)
    y0, y1, y2 = y[i - 1], y[i], y[i + 1]
    denom = y0 - 2 * y1 + y2
    offset = 0.5 * (y0 - y2) / denom if denom.item() else torch.zeros((), dtype=y.dtype, device=y.device)
    return x[i] + offset * (x[i + 1] - x[i])


# --------------------------------------------------------------------------- band shift <-> temperature, stress


def reference_band_coefficients(phase) -> tuple[float, float, float]:
    """(ω₀ cm⁻¹, dω/dT cm⁻¹/K, dω/dP cm⁻¹/GPa) of a phase's reference (strongest) band, as the forward model uses them."""
    from matgen.physics.raman.phases import raman_phase

    phase = raman_phase(phase)
    band = phase.strongest
    dwdt = phase.temperature_shift_cm1_k if band.temperature_shift_cm1_k is None else band.temperature_shift_cm1_k
    dwdp = phase.pressure_shift_cm1_gpa if band.pressure_shift_cm1_gpa is None else band.pressure_shift_cm1_gpa
    return band.position_cm1, float(dwdt), float(dwdp)


def expected_band_cm1(phase, temperature_k, stress_gpa):
    """Position (cm⁻¹) of the reference band at T (K) and P (GPa): ω = ω₀ + dω/dT (T − T₀) + dω/dP P (the forward model's positions, at 532 nm)."""
    from matgen.physics.raman.phases import REFERENCE_TEMPERATURE_K

    omega0, dwdt, dwdp = reference_band_coefficients(phase)
    return omega0 + dwdt * (np.asarray(temperature_k) - REFERENCE_TEMPERATURE_K) + dwdp * np.asarray(stress_gpa)


def temperature_from_band_k(phase, position_cm1, stress_gpa):
    """Temperature (K) a reference band at ``position_cm1`` means at stress P (GPa): the inverse of :func:`expected_band_cm1`."""
    from matgen.physics.raman.phases import REFERENCE_TEMPERATURE_K

    omega0, dwdt, dwdp = reference_band_coefficients(phase)
    return REFERENCE_TEMPERATURE_K + (np.asarray(position_cm1) - omega0 - dwdp * np.asarray(stress_gpa)) / dwdt


def stress_from_band_gpa(phase, position_cm1, temperature_k):
    """Stress (GPa) a reference band at ``position_cm1`` means at temperature T (K): the inverse of :func:`expected_band_cm1`."""
    from matgen.physics.raman.phases import REFERENCE_TEMPERATURE_K

    omega0, dwdt, dwdp = reference_band_coefficients(phase)
    return (np.asarray(position_cm1) - omega0 - dwdt * (np.asarray(temperature_k) - REFERENCE_TEMPERATURE_K)) / dwdp
