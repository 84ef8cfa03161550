"""Raman spectra of phase mixtures: a batched forward model (torch, CPU or GPU).

**Forward model** (:func:`raman_spectra`). B samples, each a mixture of phases p with fractions
f_bp, at temperature T_b, hydrostatic pressure P_b (``stress_gpa``: compressive stress positive,
raising the frequencies) and laser wavelength λ_b, on an axis of Raman shift ω (cm⁻¹):

    y_b(ω) = Σ_p f_bp Σ_i A_i [L(ω; ω_i, Γ_i) + n_i/(n_i + 1) · L(ω; −ω_i, Γ_i)] + F_b(ω) + spikes + noise

* positions, linear about the reference state:
  ω_i = ω_i0 + (dω/dT)_i (T − T₀) + (dω/dP)_i P + (dω/dE)_i (E_L − E₀), E_L = 1239.84 / λ (eV);
  only double-resonance bands (graphite D, 2D) disperse with E_L (Pócsik et al., J. Non-Cryst.
  Solids 227 (1998) 1083; Ferrari & Robertson, Phys. Rev. B 61 (2000) 14095);
* widths Γ_i = max(Γ_i0 + (dΓ/dT)(T − T₀), Γ_i0 / 4);
* L is the area-normalised Lorentzian (Γ/2π) / ((ω − ω_i)² + Γ²/4) of a damped phonon;
* Stokes areas A_i = h_i (π Γ_i0 / 2) (n(ω_i, T) + 1) / (n(ω_i0, T₀) + 1): the table height at T₀,
  a width change conserves the area (the peak falls as Γ₀/Γ), and the Bose–Einstein factor
  n(ω, T) = 1 / (exp(c₂ ω / T) − 1), c₂ = hc/k_B = 1.438777 cm K, scales it with temperature;
* anti-Stokes lines at −ω_i with area A_i n/(n + 1) = A_i exp(−c₂ω_i/T) (detailed balance). The
  ν⁴ (or, for photon counting, ν³) scattering factor and the detector response are left out: both
  are smooth, laser-dependent scales that an intensity calibration absorbs;
* fluorescence F_b(ω) = φ_b · G(ν_L − ν_abs; σ_abs) · G(ν_L − ω − ν_em; σ_em), G(u; σ) = exp(−u²/2σ²),
  in absolute wavenumber ν (cm⁻¹, ν_L = 10⁷/λ): a broad emission band of an impurity, excited
  through its absorption band, so a red laser (785 nm) makes ~50× less of it than 532 nm;
* cosmic-ray spikes: K ~ Poisson(rate) per spectrum, each on one or two adjacent channels, height
  log-uniform in ``spike_height``;
* shot and read noise (:func:`shot_noise`): y → Poisson(N y) / N + N(0, σ_read²) / N,
  N = ``peak_counts`` (counts at unit intensity, i.e. at the strongest band of a pure phase at T₀).

Intensities are in units of that strongest band: a fraction f of a phase gives its strongest band
a height f at T₀. The table has no absolute cross-sections, so f is a Raman-signal fraction, not a
volume fraction.

The bands and their coefficients come from the table of :mod:`matgen.physics.raman.phases`.

Notation: ``raman_shift_cm1`` ω (L,) axis; ``temperature_k`` T; ``stress_gpa`` P; ``laser_nm`` λ;
``fwhm_cm1`` Γ.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import torch

from matgen.common.seeding import Seeds, sample_generators
from matgen.errors import MatgenError
from matgen.physics.batching import Tensorish, per_sample, require
from matgen.physics.noise import poisson_counts
from matgen.physics.raman.phases import REFERENCE_LASER_NM, REFERENCE_TEMPERATURE_K, RamanPhase, raman_phase

#: Second radiation constant c₂ = hc / k_B (cm K): ħω / k_BT = c₂ ω / T for ω in cm⁻¹.
C2_CM_K = 1.438777
#: Photon energy (eV) times wavelength (nm).
HC_EV_NM = 1239.841984
#: Default fluorescence: emission at 600 nm (σ 2500 cm⁻¹), excited through absorption at 480 nm (σ 3000 cm⁻¹).
FLUORESCENCE_EMISSION_NM = 600.0
FLUORESCENCE_EMISSION_SIGMA_CM1 = 2500.0
FLUORESCENCE_ABSORPTION_NM = 480.0
FLUORESCENCE_ABSORPTION_SIGMA_CM1 = 3000.0


class BandState(NamedTuple):
    """Every band of one phase in B conditions: (B, N) tensors."""

    position_cm1: torch.Tensor  # ω_i
    fwhm_cm1: torch.Tensor  # Γ_i
    area: torch.Tensor  # Stokes area A_i (intensity × cm⁻¹)
    anti_stokes_area: torch.Tensor  # A_i n / (n + 1)


def bose_einstein(raman_shift_cm1: torch.Tensor, temperature_k: torch.Tensor) -> torch.Tensor:
    """Phonon occupation n = 1 / (exp(c₂ ω / T) − 1) of modes ω (cm⁻¹) at T (K), broadcast."""
    return 1.0 / torch.expm1(C2_CM_K * raman_shift_cm1 / temperature_k)


def lorentzian(x: torch.Tensor, center: torch.Tensor, fwhm: torch.Tensor) -> torch.Tensor:
    """Area-normalised Lorentzian (Γ/2π) / ((x − c)² + Γ²/4), broadcast over x, center and fwhm."""
    half = fwhm / 2
    return half / (math.pi * ((x - center) ** 2 + half**2))


def phase_bands(phase: str | RamanPhase, temperature_k: torch.Tensor, stress_gpa: torch.Tensor,
                laser_nm: torch.Tensor) -> BandState:
    """(B, N) positions, widths and areas of a phase's N bands at B conditions.

    ``temperature_k``, ``stress_gpa`` and ``laser_nm`` are (B,) tensors; the position, width and
    area equations are the module docstring's, on their dtype and device.
    """
    phase = raman_phase(phase)
    like = temperature_k
    ref = phase.strongest.position_cm1

    def column(values):  # (N,) -> (1, N)
        return torch.tensor(values, dtype=like.dtype, device=like.device)[None, :]

    omega0 = column([b.position_cm1 for b in phase.bands])
    dwdt = column([phase.temperature_shift_cm1_k * b.position_cm1 / ref if b.temperature_shift_cm1_k is None
                   else b.temperature_shift_cm1_k for b in phase.bands])
    dwdp = column([phase.pressure_shift_cm1_gpa * b.position_cm1 / ref if b.pressure_shift_cm1_gpa is None
                   else b.pressure_shift_cm1_gpa for b in phase.bands])
    dispersion = column([b.dispersion_cm1_ev for b in phase.bands])
    fwhm0 = column([b.fwhm_cm1 for b in phase.bands])
    height = column([b.intensity for b in phase.bands])
    t, p = temperature_k[:, None], stress_gpa[:, None]  # (B, 1)
    energy_ev = HC_EV_NM / laser_nm[:, None] - HC_EV_NM / REFERENCE_LASER_NM
    omega = omega0 + dwdt * (t - REFERENCE_TEMPERATURE_K) + dwdp * p + dispersion * energy_ev  # (B, N)
    fwhm = torch.maximum(fwhm0 + phase.temperature_broadening_cm1_k * (t - REFERENCE_TEMPERATURE_K), fwhm0 / 4)
    n = bose_einstein(omega.clamp_min(1e-3), t)
    n0 = bose_einstein(omega0, torch.full_like(omega0, REFERENCE_TEMPERATURE_K))
    area = height * (math.pi * fwhm0 / 2) * (n + 1) / (n0 + 1)
    return BandState(omega, fwhm, area, area * n / (n + 1))


def band_spectrum(raman_shift_cm1: torch.Tensor, phase: str | RamanPhase,
                  temperature_k: Tensorish = REFERENCE_TEMPERATURE_K, stress_gpa: Tensorish = 0.0,
                  laser_nm: Tensorish = REFERENCE_LASER_NM) -> torch.Tensor:
    """(B, L) Stokes and anti-Stokes spectrum of a pure phase (fraction 1) at B conditions.

    Conditions are numbers or (B,) tensors; B is their common length (1 when all are numbers).
    """
    x = _axis(raman_shift_cm1)
    n = max([len(v) for v in (temperature_k, stress_gpa, laser_nm) if _length(v) is not None] or [1])
    t, p, lam = _conditions(n, x, temperature_k, stress_gpa, laser_nm)
    return _phase_spectrum(x, raman_phase(phase), t, p, lam)


def _phase_spectrum(x: torch.Tensor, phase: RamanPhase, t: torch.Tensor, p: torch.Tensor,
                    lam: torch.Tensor) -> torch.Tensor:
    bands = phase_bands(phase, t, p, lam)
    y = torch.zeros(len(t), len(x), dtype=x.dtype, device=x.device)  # (B, L)
    for i in range(bands.position_cm1.shape[1]):  # one band at a time keeps memory at (B, L)
        omega, fwhm = bands.position_cm1[:, i:i + 1], bands.fwhm_cm1[:, i:i + 1]
        y += bands.area[:, i:i + 1] * lorentzian(x, omega, fwhm)
        y += bands.anti_stokes_area[:, i:i + 1] * lorentzian(x, -omega, fwhm)
    return y


def fluorescence_background(raman_shift_cm1: torch.Tensor, laser_nm: Tensorish, amplitude: Tensorish,
                            emission_nm: float = FLUORESCENCE_EMISSION_NM,
                            emission_sigma_cm1: float = FLUORESCENCE_EMISSION_SIGMA_CM1,
                            absorption_nm: float = FLUORESCENCE_ABSORPTION_NM,
                            absorption_sigma_cm1: float = FLUORESCENCE_ABSORPTION_SIGMA_CM1) -> torch.Tensor:
    """(B, L) fluorescence φ · G(ν_L − ν_abs) · G(ν_L − ω − ν_em) in absolute wavenumbers ν = 10⁷/λ.

    ``amplitude`` φ (number or (B,)) is the emission's peak height when excited at the absorption
    maximum, in units of a pure phase's strongest band.
    """
    x = _axis(raman_shift_cm1)
    n = max([len(v) for v in (laser_nm, amplitude) if _length(v) is not None] or [1])
    lam = _sample_values(laser_nm, n, "laser_nm", x)
    phi = _sample_values(amplitude, n, "fluorescence", x)
    require(lam > 0, lam, "laser_nm", "a positive wavelength in nm")
    require(phi >= 0, phi, "fluorescence", "non-negative")
    nu_laser = 1e7 / lam[:, None]  # (B, 1) cm⁻¹
    excitation = torch.exp(-0.5 * ((nu_laser - 1e7 / absorption_nm) / absorption_sigma_cm1) ** 2)
    emission = torch.exp(-0.5 * ((nu_laser - x[None, :] - 1e7 / emission_nm) / emission_sigma_cm1) ** 2)
    return phi[:, None] * excitation * emission


def cosmic_spikes(n: int, length: int, rate: float, height: tuple[float, float] = (2.0, 20.0),
                  generators: Sequence[torch.Generator | None] | None = None) -> torch.Tensor:
    """(n, length) float64 cosmic-ray spikes on the CPU: Poisson(rate) per spectrum, 1–2 channels each.

    Each spike sits at a uniform random channel with a height log-uniform in ``height``; half of
    them also put 30–100 % of that height on the next channel (a track across two pixels).
    """
    if not (rate >= 0 and 0 < height[0] <= height[1]):
        raise MatgenError(f"spike_rate must be >= 0 and spike_height a (low, high) pair with 0 < low <= high "
                          f"(got {rate}, {height})")
    generators = generators or [None] * n
    out = torch.zeros(n, length, dtype=torch.float64)
    log_low, log_high = math.log(height[0]), math.log(height[1])
    for row, g in zip(out, generators):
        k = int(torch.poisson(torch.tensor([float(rate)], dtype=torch.float64), generator=g).item())
        where = torch.randint(0, length, (k,), generator=g)
        size = torch.exp(log_low + (log_high - log_low) * torch.rand(k, generator=g, dtype=torch.float64))
        second = (torch.rand(k, generator=g) < 0.5) & (where + 1 < length)
        share = 0.3 + 0.7 * torch.rand(k, generator=g, dtype=torch.float64)
        row.index_add_(0, where, size)
        row.index_add_(0, (where + 1)[second], (size * share)[second])
    return out


def shot_noise(spectra: torch.Tensor, peak_counts: float, read_noise_counts: float = 0.0,
               generators: Sequence[torch.Generator | None] | None = None) -> torch.Tensor:
    """(B, L) spectra with shot noise Poisson(N y)/N and Gaussian read noise σ_read/N, N = ``peak_counts``.

    Same units as ``spectra`` (N counts at unit intensity). Row i draws from ``generators[i]``
    (None: torch's global generator), its Poisson counts and then its read noise; draws are made
    on the CPU in float64, sample by sample, then moved to the spectra's device and dtype.
    """
    if not (peak_counts > 0 and read_noise_counts >= 0):
        raise MatgenError(f"peak_counts must be > 0 and read_noise_counts >= 0 "
                          f"(got {peak_counts}, {read_noise_counts})")
    generators = generators or [None] * len(spectra)
    rates = (spectra.detach().to("cpu", torch.float64) * peak_counts).clamp_min(0)
    rows = []
    for rate, g in zip(rates, generators):  # row by row: a shared generator draws counts, then read noise
        counts = poisson_counts(rate, g)
        if read_noise_counts:
            counts = counts + read_noise_counts * torch.randn(rate.shape, generator=g, dtype=torch.float64)
        rows.append(counts / peak_counts)
    return torch.stack(rows).to(spectra)


def raman_spectra(
    raman_shift_cm1: torch.Tensor,
    phases: Sequence[str | RamanPhase],
    fractions: torch.Tensor,
    temperature_k: Tensorish = REFERENCE_TEMPERATURE_K,
    stress_gpa: Tensorish = 0.0,
    laser_nm: Tensorish = REFERENCE_LASER_NM,
    fluorescence: Tensorish = 0.0,
    spike_rate: float = 0.0,
    spike_height: tuple[float, float] = (2.0, 20.0),
    peak_counts: float | None = None,
    read_noise_counts: float = 0.0,
    seed: Seeds = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """(B, L) measured-looking Raman spectra of B phase mixtures on the axis ω (cm⁻¹).

    The model is the module docstring's; fluorescence, spikes and noise are off by default.
    Spikes are added after the counting noise (a cosmic ray deposits its charge on top of the
    exposure). Runs on the axis tensor's device in its dtype (float64 for a non-float axis).

    Args:
        raman_shift_cm1: (L,) Raman shift axis, cm⁻¹ (negative values show the anti-Stokes side).
        phases: P table names/aliases (:data:`RAMAN_PHASES`) or RamanPhase objects.
        fractions: (B, P) non-negative Raman-signal fractions, each row summing to at most 1.
        temperature_k: T (K), a number or (B,).
        stress_gpa: hydrostatic pressure P (GPa, compression positive), a number or (B,).
        laser_nm: excitation wavelength λ (nm), a number or (B,).
        fluorescence: fluorescence amplitude φ (see :func:`fluorescence_background`), a number or (B,).
        spike_rate: mean number of cosmic-ray spikes per spectrum.
        spike_height: (low, high) spike heights, in units of a pure phase's strongest band.
        peak_counts: counts at unit intensity for shot noise; None: no counting noise.
        read_noise_counts: detector read noise σ_read per channel, counts (with ``peak_counts``).
        seed: sample i draws its spikes and noise from seed + i (int) or seed[i]: the same seed
            gives the same spectrum whatever the batch. Exclusive with ``generator``.
        generator: CPU torch.Generator for the whole batch; neither: torch's global generator.
    """
    x = _axis(raman_shift_cm1)
    resolved = [raman_phase(p) for p in ([phases] if isinstance(phases, (str, RamanPhase)) else phases)]
    if not resolved:
        raise MatgenError("give at least one phase")
    f = torch.as_tensor(fractions).to(device=x.device, dtype=x.dtype)
    if f.ndim != 2 or f.shape[1] != len(resolved):
        raise MatgenError(f"fractions must be (B, {len(resolved)}), one column per phase, got {tuple(f.shape)}")
    if not torch.isfinite(f).all():
        raise MatgenError("fractions contain NaN or inf; give a finite fraction for every phase (0 for absent)")
    if (f < 0).any() or (f.sum(1) > 1 + 1e-6).any():
        raise MatgenError("fractions must be non-negative and sum to at most 1 in each sample")
    n = len(f)
    t, p, lam = _conditions(n, x, temperature_k, stress_gpa, laser_nm)
    y = fluorescence_background(x, lam, fluorescence)
    for j, phase in enumerate(resolved):
        if bool((f[:, j] > 0).any()):
            y = y + f[:, j:j + 1] * _phase_spectrum(x, phase, t, p, lam)
    generators = sample_generators(n, seed, generator)
    if peak_counts is not None:
        y = shot_noise(y, peak_counts, read_noise_counts, generators)
    if spike_rate:
        y = y + cosmic_spikes(n, len(x), spike_rate, spike_height, generators).to(y)
    return y


def _length(value) -> int | None:
    """len of a (B,) condition, None for a number."""
    if isinstance(value, (int, float)):
        return None
    t = torch.as_tensor(value)
    return None if t.ndim == 0 else len(t)


def _axis(raman_shift_cm1) -> torch.Tensor:
    x = torch.as_tensor(raman_shift_cm1)
    if not x.is_floating_point():
        x = x.to(torch.float64)
    if x.ndim != 1 or len(x) < 2 or not torch.isfinite(x).all():
        raise MatgenError(f"the Raman shift axis must be a finite 1-D array of at least 2 values (cm⁻¹), "
                          f"got shape {tuple(x.shape)}")
    return x


def _sample_values(value: Tensorish, n: int, name: str, x: torch.Tensor) -> torch.Tensor:
    """(n,) :func:`~matgen.physics.batching.per_sample` values on the axis's device and dtype.

    ``torch.as_tensor`` first: a Python number or list is read in torch's default dtype before it
    takes the axis's, as this model always has (0.1 on a float64 axis is float32's 0.1).
    """
    return per_sample(torch.as_tensor(value), n, name, x.device, x.dtype)


def _conditions(n: int, x: torch.Tensor, temperature_k, stress_gpa, laser_nm) -> tuple[torch.Tensor, ...]:
    t = _sample_values(temperature_k, n, "temperature_k", x)
    p = _sample_values(stress_gpa, n, "stress_gpa", x)
    lam = _sample_values(laser_nm, n, "laser_nm", x)
    require(t > 0, t, "temperature_k", "a positive absolute temperature in K")
    require(lam > 0, lam, "laser_nm", "a positive wavelength in nm")
    return t, p, lam

