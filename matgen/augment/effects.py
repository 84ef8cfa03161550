"""The perturbations a real instrument and sample make to a spectrum: one small pure numpy function each.

Every function takes the axis ``x`` (L,) (strictly increasing, in the kind's unit: 2θ in deg, Raman
shift in cm⁻¹, energy loss in eV) and one spectrum ``y`` (L,), and returns a new (L,) float64
spectrum; nothing is changed in place. Parameters carry their unit in their name; a generic one
(``shift``, ``fwhm``) is in the axis's unit. Random ones take a numpy ``Generator``.

* Moving the spectrum resamples it on the axis (linear interpolation); beyond the ends the end
  value is held, so a shifted spectrum has no gap.
* Broadening is a Gaussian convolution. A Gaussian band of FWHM w convolved with a Gaussian of
  FWHM b has FWHM √(w² + b²) (widths of independent broadenings add in quadrature); a Lorentzian
  band becomes a Voigt profile.
* XRD lattice strain: d → d (1 + s), so by Bragg's law λ = 2 d sin θ each peak moves to
  sin θ' = sin θ / (1 + s), i.e. Δ(2θ) ≈ −2 s tan θ: the shift grows with angle, unlike a zero error.
* XRD size broadening (Scherrer): β(2θ) = K λ / (D cos θ), a width that grows as 1 / cos θ.
* EELS thickness: the low-loss spectrum is J = Z ⊗ FT⁻¹[exp(t/λ (ŝ − 1))] (Egerton §4.1; see
  :mod:`matgen.physics.eels`), so changing t/λ by Δ multiplies its Fourier transform by
  exp(Δ (ŝ − 1)), with t/λ ŝ = ln(Ĵ/Ẑ) (Z the measured zero-loss peak): Fourier-log
  deconvolution done forwards, exact in the noise-free limit (:func:`change_thickness`).
"""

from __future__ import annotations

import math

import numpy as np

from matgen.errors import MatgenError

FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))  # a Gaussian's FWHM / σ
KERNEL_REACH_SIGMA = 4.0  # a Gaussian kernel is cut off at ±4 σ


def scale_of(y: np.ndarray) -> float:
    """The spectrum's scale, max |y| (1 for an all-zero spectrum): additive effects are fractions of it."""
    m = float(np.max(np.abs(y))) if len(y) else 0.0
    return m if m > 0 and math.isfinite(m) else 1.0


# --------------------------------------------------------------------------- moving the spectrum


def shift_spectrum(x: np.ndarray, y: np.ndarray, shift: float) -> np.ndarray:
    """Return y moved by ``shift`` (axis unit) along the axis: y'(x) = y(x − shift), ends held."""
    return np.interp(x - shift, x, y)


def strain_two_theta(two_theta_deg: np.ndarray, y: np.ndarray, strain: float) -> np.ndarray:
    """Return the pattern of the lattice strained by ``strain`` (Δd/d): peaks move to sin θ' = sin θ / (1 + s).

    The output at 2θ' is the input at 2θ = 2 asin((1 + s) sin θ'); angles whose source would be
    beyond 180° hold the last value.
    """
    theta = np.radians(two_theta_deg) / 2
    source_deg = 2 * np.degrees(np.arcsin(np.clip((1 + strain) * np.sin(theta), -1.0, 1.0)))
    return np.interp(source_deg, two_theta_deg, y)


def bragg_peak_two_theta_deg(two_theta_deg: float, strain: float) -> float:
    """Where a peak at ``two_theta_deg`` moves under lattice strain ``strain`` (Bragg's law), deg 2θ."""
    theta = math.radians(two_theta_deg) / 2
    return 2 * math.degrees(math.asin(math.sin(theta) / (1 + strain)))


# --------------------------------------------------------------------------- broadening


def gaussian_broaden(x: np.ndarray, y: np.ndarray, fwhm: float | np.ndarray) -> np.ndarray:
    """Return y convolved with a unit-area Gaussian of FWHM ``fwhm`` (axis unit; a number or (L,) per point).

    y'_i = Σ_j G_i(x_j − x_i) y_j / Σ_j G_i(x_j − x_i), with G_i of the FWHM at x_i, cut at ±4σ_i:
    the weights are normalised at each point, so a flat spectrum stays flat up to the ends and a
    non-uniform axis is handled. A zero width leaves y as it is.
    """
    y = np.asarray(y, dtype=np.float64)
    sigma = np.broadcast_to(np.asarray(fwhm, dtype=np.float64), x.shape) / FWHM_PER_SIGMA  # (L,)
    if not np.any(sigma > 0):
        return y.copy()
    step = float(np.min(np.diff(x)))
    reach = int(math.ceil(KERNEL_REACH_SIGMA * float(sigma.max()) / step))
    sigma = np.maximum(sigma, 1e-12 * step)
    total, weight = np.zeros_like(y), np.zeros_like(y)
    n = len(x)
    for k in range(-min(reach, n - 1), min(reach, n - 1) + 1):
        i = np.arange(max(0, -k), min(n, n - k))  # output points whose neighbour i + k exists
        w = np.exp(-0.5 * ((x[i + k] - x[i]) / sigma[i]) ** 2)
        total[i] += w * y[i + k]
        weight[i] += w
    return total / weight


def scherrer_fwhm_deg(two_theta_deg: np.ndarray, fwhm_at_zero_deg: float) -> np.ndarray:
    """(L,) size-broadening FWHM β(2θ) = β₀ / cos θ, deg 2θ (Scherrer: β₀ = K λ / D in radians)."""
    return fwhm_at_zero_deg / np.cos(np.radians(two_theta_deg) / 2)


def scherrer_size_nm(fwhm_at_zero_deg: float, wavelength_angstrom: float, k: float = 0.9) -> float:
    """The crystallite size D = K λ / β₀ whose Scherrer broadening is β₀ (deg 2θ) at 2θ → 0, nm."""
    return k * wavelength_angstrom / 10 / math.radians(fwhm_at_zero_deg) if fwhm_at_zero_deg > 0 else math.inf


# --------------------------------------------------------------------------- intensity


def smooth_field(x: np.ndarray, length: float, rng: np.random.Generator, terms: int = 8) -> np.ndarray:
    """(L,) a smooth random field with max |g| = 1 and correlation length about ``length`` (axis unit).

    g(x) ∝ Σ_k a_k cos(2π f_k x + φ_k), a_k ~ N(0, 1), f_k ~ U(0, 1/length), φ_k ~ U(0, 2π).
    """
    a = rng.standard_normal(terms)
    f = rng.uniform(0.0, 1.0 / length, terms)
    phi = rng.uniform(0.0, 2 * math.pi, terms)
    g = (a[:, None] * np.cos(2 * math.pi * f[:, None] * (x - x[0])[None, :] + phi[:, None])).sum(0)
    peak = np.max(np.abs(g))
    return g / peak if peak > 0 else g


def texture(y: np.ndarray, field: np.ndarray, strength: float) -> np.ndarray:
    """Return y exp(strength g): a smooth multiplicative field (preferred orientation), factor within e^(±strength)."""
    return y * np.exp(strength * field)


def polynomial_background(x: np.ndarray, level: float, rng: np.random.Generator, degree: int = 3) -> np.ndarray:
    """(L,) a smooth background 0 ≤ b ≤ ``level``: Σ c_k B_k(ξ), Bernstein polynomials of ``degree``, c_k ~ U(0, level).

    ξ = (x − x₀)/(x_L − x₀) in [0, 1]; the Bernstein basis is non-negative and sums to 1, so the
    background never exceeds ``level``.
    """
    xi = (x - x[0]) / (x[-1] - x[0])
    c = rng.uniform(0.0, level, degree + 1)
    basis = np.stack([math.comb(degree, k) * xi ** k * (1 - xi) ** (degree - k) for k in range(degree + 1)])
    return c @ basis


def fluorescence_bump(x: np.ndarray, height: float, rng: np.random.Generator) -> np.ndarray:
    """(L,) a broad fluorescence background: a Gaussian of peak ``height`` whose centre lies within
    half an axis span of the axis and whose σ is 0.5–1.5 spans (so 0 ≤ it ≤ height on the axis)."""
    span = x[-1] - x[0]
    centre = rng.uniform(x[0] - span / 2, x[-1] + span / 2)
    sigma = rng.uniform(0.5, 1.5) * span
    return height * np.exp(-0.5 * ((x - centre) / sigma) ** 2)


def poisson_shaped_noise(y: np.ndarray, fraction: float, y_max: float, rng: np.random.Generator) -> np.ndarray:
    """Return y + ε, ε_i ~ N(0, σ_i²), σ_i = fraction √(y_max max(y_i, 0)): Poisson-shaped noise
    (variance ∝ intensity) whose standard deviation at the strongest point is ``fraction`` y_max."""
    sigma = fraction * np.sqrt(y_max * np.clip(y, 0.0, None))
    return y + sigma * rng.standard_normal(len(y))


def spikes(length: int, rate: float, height: float, rng: np.random.Generator) -> np.ndarray:
    """(length,) cosmic-ray spikes: Poisson(rate) of them, each of height up to ``height`` (log-uniform
    from a tenth of it), on 1–2 channels (:func:`matgen.physics.raman.cosmic_spikes`)."""
    import torch

    from matgen.physics.raman import cosmic_spikes

    if rate <= 0 or height <= 0:
        return np.zeros(length)
    generator = torch.Generator().manual_seed(int(rng.integers(0, 2**62)))
    return cosmic_spikes(1, length, rate, (height / 10, height), [generator])[0].numpy()


# --------------------------------------------------------------------------- EELS thickness

#: The Fourier transform is trusted where |Ẑ(ν)| ≥ this fraction of Ẑ(0) (beyond, ŝ ≈ 0 is used).
ZLP_BAND = 1e-3


def zero_loss_cut(energy_loss_ev: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    """(L,) the zero-loss peak cut out between the minima beside it (0 elsewhere), as
    :func:`matgen.physics.eels.thickness_log_ratio` cuts it; None when the axis has no zero-loss peak."""
    from matgen.physics.eels.analysis import zero_loss_bounds

    if not (energy_loss_ev[0] < 0 < energy_loss_ev[-1]):
        return None
    try:
        left, right = zero_loss_bounds(energy_loss_ev, y, 2.0)
    except MatgenError:
        return None
    zlp = np.zeros_like(y)
    zlp[left: right + 1] = y[left: right + 1]
    return zlp if 0 < zlp.sum() < y.sum() else None


def thickness_change_applied(energy_loss_ev: np.ndarray, y: np.ndarray, delta_t_over_lambda: float,
                             min_t_over_lambda: float = 0.05) -> float:
    """The change of t/λ :func:`change_thickness` can make: 0 without a zero-loss peak on the axis or below
    ``min_t_over_lambda`` (ŝ is not measurable there), a thinning clipped at half of t/λ = ln(I_t / I_0)."""
    x, y = np.asarray(energy_loss_ev, dtype=np.float64), np.asarray(y, dtype=np.float64)
    zlp = zero_loss_cut(x, y) if delta_t_over_lambda else None
    if zlp is None:
        return 0.0
    mu = math.log(y.sum() / zlp.sum())
    return max(delta_t_over_lambda, -mu / 2) if mu >= min_t_over_lambda else 0.0


def change_thickness(energy_loss_ev: np.ndarray, y: np.ndarray, delta_t_over_lambda: float) -> np.ndarray:
    """Return the low-loss spectrum of a sample thicker by Δ = ``delta_t_over_lambda`` (t/λ units).

    With the zero-loss peak Z cut out between the minima beside it (:func:`zero_loss_cut`) and
    μ = t/λ = ln(I_t / I_0):

        Ĵ' = Ĵ exp(Δ (ŝ − 1)),   μ ŝ = ln(Ĵ / Ẑ)      (Fourier-log deconvolution, Egerton §4.1)

    on a zero-padded grid four times longer (no wrap-around), the complex log's phase unwrapped
    from ν = 0 while |Ẑ| ≥ 10⁻³ Ẑ(0), and ŝ = 0 (the plasmon SSD has no high frequencies) beyond.
    Plural scattering of the plasmons and of any edge is re-convolved; the single-scattering edge
    jump (∝ t) is not rescaled, and intensity pushed past the axis end is lost. Δ is first limited
    by :func:`thickness_change_applied` (a spectrum without a zero-loss peak comes back unchanged).
    """
    x, y = np.asarray(energy_loss_ev, dtype=np.float64), np.asarray(y, dtype=np.float64)
    delta = thickness_change_applied(x, y, delta_t_over_lambda)
    if delta == 0:
        return y.copy()
    zlp = zero_loss_cut(x, y)
    mu = math.log(y.sum() / zlp.sum())
    n_fft = 1 << (4 * len(y) - 1).bit_length()
    j_hat, z_hat = np.fft.rfft(y, n_fft), np.fft.rfft(zlp, n_fft)
    band = np.abs(z_hat) >= ZLP_BAND * abs(z_hat[0])
    end = int(np.argmin(band)) if not band.all() else len(band)  # the first frequency out of the band
    mu_s_hat = np.zeros(len(j_hat), dtype=np.complex128)  # μ ŝ = ln(Ĵ/Ẑ), 0 where ŝ → 0
    r = j_hat[:end] / z_hat[:end]
    mu_s_hat[:end] = np.log(np.abs(r)) + 1j * np.unwrap(np.angle(r))
    return np.fft.irfft(j_hat * np.exp(delta / mu * mu_s_hat - delta), n_fft)[: len(y)]  # Ĵ exp(Δ (ŝ − 1))
