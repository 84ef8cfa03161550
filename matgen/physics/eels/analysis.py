"""Back from measured EELS: thickness by the log-ratio method, plasmon position, edge onsets (numpy).

:func:`thickness_log_ratio` integrates the ZLP between the minima either side of it
(Gaussian ZLP kept whole; see its docstring for the biases), :func:`plasmon_peak_ev` fits a
parabola to the top of the first plasmon, :func:`edge_onsets_ev` finds the steepest relative rises
above the power-law background.

The log-ratio method: the zero-loss area is exactly exp(−t/λ) of the total (plural scattering is
Poisson, :mod:`matgen.physics.eels.forward`), so t/λ = ln(I_t / I_0) (R.F. Egerton, *Electron
Energy-Loss Spectroscopy in the Electron Microscope*, 3rd ed., Springer 2011, §5.1).
"""

from __future__ import annotations

import numpy as np
import torch

from matgen.errors import MatgenError


def _as_numpy(energy_loss_ev, spectrum) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Axis (L,), spectra (B, L) as float64 arrays and the batch shape; MatgenError for a bad axis or NaN."""
    x, y = (np.asarray(a.detach().cpu() if isinstance(a, torch.Tensor) else a, dtype=float) for a in (energy_loss_ev, spectrum))
    if x.ndim != 1 or y.shape[-1:] != x.shape or len(x) < 8:
        raise MatgenError(f"the spectrum (..., L) must match the 1-D energy axis (L ≥ 8); got {y.shape} and {x.shape}")
    if not np.all(np.diff(x) > 0):
        raise MatgenError("the energy axis must increase strictly; sort it first")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise MatgenError("the energy axis or spectrum holds NaN or inf; clean or crop it first")
    return x, y.reshape(-1, len(x)), y.shape[:-1]


def _moving_average(y: np.ndarray, width: int) -> np.ndarray:
    width = max(1, width | 1)
    padded = np.pad(y, width // 2, mode="edge")
    return np.convolve(padded, np.ones(width) / width, mode="valid")


def zero_loss_bounds(x: np.ndarray, y: np.ndarray, search_ev: float) -> tuple[int, int]:
    """First and last channel of the ZLP: from its top (climbed to from the highest channel with
    |E| ≤ search_ev, so a slightly miscalibrated axis still works) out to the first minima."""
    near = np.flatnonzero(np.abs(x) <= search_ev)
    if len(near) == 0:
        raise MatgenError(f"no channel within ±{search_ev} eV of zero loss; "
                          "a low-loss spectrum must contain the zero-loss peak")
    smooth = _moving_average(y, 3)
    peak = near[np.argmax(smooth[near])]
    while 0 < peak < len(x) - 1 and max(smooth[peak - 1], smooth[peak + 1]) > smooth[peak]:  # climb to the top
        peak += 1 if smooth[peak + 1] > smooth[peak - 1] else -1
    left, right = peak, peak
    while left > 0 and smooth[left - 1] <= smooth[left]:
        left -= 1
    while right < len(x) - 1 and smooth[right + 1] <= smooth[right]:
        right += 1
    return left, right


def thickness_log_ratio(energy_loss_ev, spectrum, zlp_window_ev: tuple[float, float] | None = None,
                        zero_search_ev: float = 2.0) -> np.ndarray:
    """t/λ = ln(I_t / I_0) of each low-loss spectrum (Egerton §5.1), shape spectrum.shape[:-1].

    I_t integrates the whole spectrum, I_0 the zero-loss peak between the minima on either side of
    its maximum (the highest channel within ±``zero_search_ev`` of 0 eV; minima of a 3-channel
    moving average), or over ``zlp_window_ev`` = (low, high) eV when given. The minima method keeps
    the Gaussian ZLP whole and takes in only the weak low-energy onset of the plasmon, but cuts
    Lorentzian ZLP tails; intensity beyond the axis end is missing from I_t (both bias t/λ low).
    """
    x, y, batch = _as_numpy(energy_loss_ev, spectrum)
    widths = np.gradient(x)
    out = []
    for row in y:
        if zlp_window_ev is None:
            left, right = zero_loss_bounds(x, row, zero_search_ev)
            i0 = np.sum((row * widths)[left: right + 1])
        else:
            i0 = np.sum((row * widths)[(x >= zlp_window_ev[0]) & (x <= zlp_window_ev[1])])
        total = np.sum(row * widths)
        out.append(np.log(total / i0) if i0 > 0 and total > 0 else np.nan)
    return np.asarray(out).reshape(batch)


def soft_thickness_log_ratio(energy_loss_ev, spectra: torch.Tensor, zlp_window_ev: tuple[float, float] | None = None,
                             zero_search_ev: float = 2.0) -> torch.Tensor:
    """:func:`thickness_log_ratio` of torch spectra (B, L), differentiable in the intensities (the zero-loss
    window held at its value); NaN (no gradient) where a spectrum has no zero-loss peak or no intensity."""
    x = np.asarray(energy_loss_ev, dtype=float)
    widths = torch.as_tensor(np.gradient(x), dtype=spectra.dtype, device=spectra.device)
    windows = np.zeros(spectra.shape, dtype=bool)
    found = np.ones(len(spectra), dtype=bool)
    for k, row in enumerate(spectra.detach().cpu().double().numpy()):
        if zlp_window_ev is not None:
            windows[k] = (x >= zlp_window_ev[0]) & (x <= zlp_window_ev[1])
            continue
        try:
            left, right = zero_loss_bounds(x, row, zero_search_ev)
        except MatgenError:
            found[k] = False
            continue
        windows[k, left: right + 1] = True
    area = spectra * widths
    i0 = (area * torch.as_tensor(windows, device=spectra.device)).sum(-1)
    total = area.sum(-1)
    ok = torch.as_tensor(found, device=spectra.device) & (i0 > 0) & (total > 0)
    ratio = torch.where(ok, total / torch.where(ok, i0, torch.ones_like(i0)), torch.ones_like(total))
    return torch.where(ok, torch.log(ratio), torch.full_like(total, float("nan")))


def plasmon_peak_ev(energy_loss_ev, spectrum, zero_search_ev: float = 2.0, smooth_ev: float = 0.5) -> np.ndarray:
    """Energy (eV) of the first plasmon: the highest point past the ZLP, refined by a parabola fit.

    The spectrum is smoothed over ``smooth_ev``; the parabola is fitted by least squares to the
    points above 80 % of the peak around it. Shape spectrum.shape[:-1].
    """
    x, y, batch = _as_numpy(energy_loss_ev, spectrum)
    width = max(3, int(round(smooth_ev / np.mean(np.diff(x)))))
    out = []
    for row in y:
        _, right = zero_loss_bounds(x, row, zero_search_ev)
        smooth = _moving_average(row, width)
        peak = right + int(np.argmax(smooth[right:]))
        lo, hi = peak, peak
        while lo > right and smooth[lo - 1] >= 0.8 * smooth[peak]:
            lo -= 1
        while hi < len(x) - 1 and smooth[hi + 1] >= 0.8 * smooth[peak]:
            hi += 1
        if hi - lo < 2:
            out.append(x[peak])
            continue
        c2, c1, _ = np.polyfit(x[lo: hi + 1] - x[peak], smooth[lo: hi + 1], 2)
        out.append(x[peak] - c1 / (2 * c2) if c2 < 0 else x[peak])
    return np.asarray(out).reshape(batch)


def edge_onsets_ev(energy_loss_ev, spectrum, smooth_ev: float = 1.0, threshold: float = 8.0,
                   min_separation_ev: float = 5.0) -> list[np.ndarray]:
    """Onset energies (eV) of the edges in each spectrum: the steepest relative rises of J.

    On a power-law background A E^(−r) the relative slope J'(E)/J(E − 4σ) is about −r/E, small and
    smooth; an edge adds a sharp positive peak whose maximum is the inflection of its rising flank,
    which for a resolution-broadened step is the threshold E_k itself (dividing by the pre-edge level
    rather than J(E) keeps the peak there). J is smoothed by a Gaussian of σ = ``smooth_ev``; a rise
    counts when the relative slope exceeds its median by ``threshold`` robust standard deviations
    (1.4826 × MAD); of rises closer than ``min_separation_ev`` the first is kept.
    """
    x, y, batch = _as_numpy(energy_loss_ev, spectrum)
    step = np.mean(np.diff(x))
    sigma = max(smooth_ev / step, 1.0)
    half = int(np.ceil(4 * sigma))
    kernel = np.exp(-0.5 * (np.arange(-half, half + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    inner = slice(half + 1, len(x) - half - 1)
    results = []
    for row in y:
        smooth = np.convolve(np.pad(row, half, mode="edge"), kernel, mode="valid")
        before = np.concatenate([np.full(half, smooth[0]), smooth[:-half]])  # the level 4σ below, pre-edge
        slope = (np.gradient(smooth, x) / np.maximum(before, 1e-12 * max(smooth.max(), 1e-300)))[inner]
        xs = x[inner]
        centre = np.median(slope)
        spread = 1.4826 * np.median(np.abs(slope - centre)) + 1e-12
        above = slope > centre + threshold * spread
        maxima = np.flatnonzero(above[1:-1] & (slope[1:-1] >= slope[:-2]) & (slope[1:-1] > slope[2:])) + 1
        onsets: list[float] = []
        for i in maxima:
            y0, y1, y2 = slope[i - 1], slope[i], slope[i + 1]
            denom = y0 - 2 * y1 + y2
            energy = xs[i] + (0.5 * (y0 - y2) / denom if denom != 0 else 0.0) * step
            if not onsets or energy - onsets[-1] >= min_separation_ev:
                onsets.append(energy)
        results.append(np.asarray(onsets))
    return results
