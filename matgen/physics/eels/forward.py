"""Electron energy-loss spectra: zero loss, plasmons, plural scattering and core-loss edges, batched torch.

Main reference: R.F. Egerton, *Electron Energy-Loss Spectroscopy in the Electron Microscope*,
3rd ed., Springer 2011 (below "Egerton"). Every function is batched torch (CPU or GPU; it
follows the device and dtype of the energy axis). The tables of edges and plasmons are
:mod:`matgen.physics.eels.materials`; the analysis back from a spectrum is
:mod:`matgen.physics.eels.analysis`.

**Axis.** A spectrometer with dispersion δ (eV/channel) and offset E₀ records channel i at energy
loss E_i = E₀ + iδ (:func:`energy_axis_ev`). Channel values are intensities per eV, averaged over
the channel [E_i − δ/2, E_i + δ/2], so Σ_i J_i δ is the number of electrons (an area).

**Zero loss.** Electrons that lost nothing form the zero-loss peak (ZLP), a Gaussian of FWHM equal
to the energy resolution, optionally a pseudo-Voigt η·Lorentzian + (1 − η)·Gaussian for the
extended tails of a real gun/spectrometer; unit area.

**Plasmon (single scattering).** The Drude dielectric function ε(E) = 1 − E_p² / (E² + iEΔE_p) of
a free-electron gas with plasmon energy E_p and damping (width) ΔE_p gives the energy-loss function
(Egerton ch. 3)

    Im(−1/ε) = E ΔE_p E_p² / ((E² − E_p²)² + (E ΔE_p)²).

Per unit u = E² it is a Lorentzian, Im(−1/ε) dE = (ΔE_p E_p²/2) du / ((u − a)² + b²), a = E_p² −
ΔE_p²/2, b = ΔE_p √(E_p² − ΔE_p²/4), so its integral over a channel is closed form,
F(E) = (ΔE_p E_p² / 2b) atan((E² − a)/b);
as a function of E it peaks at E_max² = [q + √(q² + 12E_p⁴)]/6, q = 2E_p² − ΔE_p²
(:func:`drude_peak_energy_ev`; E_max ≈ √(E_p² − ΔE_p²/4), a hair below E_p), and it obeys the
Bethe sum rule ∫ E Im(−1/ε) dE = (π/2) E_p². Integrating the Lorentzian angular distribution
dσ/dΩ ∝ Im(−1/ε)/(θ² + θ_E²) up to the collection semi-angle β multiplies it by
ln(1 + β²/θ_E²), with the characteristic angle θ_E = E/(γ m₀v²) (Egerton ch. 3); this factor is
optional (``collection_semiangle_mrad``). The single-scattering distribution (SSD) s(E) is either
form normalised to unit area. Free-electron estimate: E_p = ħ√(n e²/ε₀m₀) = 28.82 eV √(zρ/A)
(z valence electrons per formula unit, ρ in g/cm³, A in g/mol; :func:`free_electron_plasmon_energy_ev`).

**Plural scattering.** Inelastic events along a path of thickness t are independent, so the number
n of events is Poisson with mean t/λ (λ the inelastic mean free path; Egerton ch. 3):
P_n = exp(−t/λ) (t/λ)ⁿ / n!, and the n-fold part has the shape of s convolved n times. Summing all
orders in Fourier space (the relation behind Fourier-log deconvolution, Egerton ch. 4),

    J(E) = Z(E) ⊗ d(E),   d = FT⁻¹[exp(t/λ · (ŝ(ν) − 1))] = Σ_n P_n s^{⊗n},

so the zero-loss area is exactly exp(−t/λ) of the total. That is the log-ratio method of thickness
measurement (Egerton §5.1): t/λ = ln(I_t / I_0)
(:func:`~matgen.physics.eels.analysis.thickness_log_ratio`).

**Core-loss edges.** An inner shell of binding energy E_k adds, from the onset E_k up, a saw-tooth
(hydrogenic-like) edge: a step that decays as a power law (E/E_k)^(−s). A spin-orbit split L2,3
edge of a 3d metal is a 2/3 step at L3 plus a 1/3 step at L2 (2p3/2 : 2p1/2 occupancy), with
optional white lines (2p → 3d), Lorentzians of area ratio L3 : L2 = 2 : 1. Everything sits on the
power-law background A·E^(−r), r ≈ 2–5 (Egerton ch. 4), and is broadened by the resolution and,
for a thick sample, convolved with the plasmon plural-scattering distribution d above, which
repeats each edge E_p higher. Real near-edge structure (ELNES), delayed maxima (Al, Si L2,3) and
white-line ratios that vary with valence are not modelled.

**Counting noise** (:func:`counts_for_total`). Electrons are counted: Poisson noise at a given
total number of counts per spectrum; sample i uses seed + i (or seed[i]), so it is reproducible
whatever the batch.

Notation: ``energy_loss_ev`` (L,) axis E; ``plasmon_energy_ev`` E_p, ``plasmon_width_ev`` ΔE_p;
``thickness_t_over_lambda`` t/λ; ``resolution_fwhm_ev`` ZLP FWHM; per-sample parameters are floats
or (B,) tensors; spectra are (B, L).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch

from matgen.common.seeding import Seeds, optional_sample_seeds, seeded_generators
from matgen.errors import MatgenError
from matgen.physics.batching import Tensorish, per_sample, require
from matgen.physics.eels.materials import Edge, edge, material
from matgen.physics.noise import poisson_counts

ELECTRON_REST_ENERGY_KEV = 510.99895
#: ħ √(e² N_A / (ε₀ m₀) · 1 cm⁻³ mol) in eV: E_p = 28.82 eV √(z ρ[g/cm³] / A[g/mol]).
FREE_ELECTRON_PLASMON_EV = 28.816
#: Half-width of the ZLP window on either side, in units of its FWHM (Gaussian tail < 1e-70).
ZLP_HALF_WIDTH_FWHM = 8.0
#: With Lorentzian tails the ZLP is kept over ±100 FWHM (the Lorentzian area outside is < 0.4 %).
ZLP_HALF_WIDTH_LORENTZ_FWHM = 100.0


# --------------------------------------------------------------------------- checks and helpers


def _axis(energy_loss_ev) -> tuple[torch.Tensor, float]:
    """The axis as a floating tensor and its step δ (eV); MatgenError unless 1-D, finite, even, increasing."""
    e = torch.as_tensor(energy_loss_ev)
    e = e if e.is_floating_point() else e.to(torch.float64)
    if e.ndim != 1 or len(e) < 8:
        raise MatgenError(f"the energy axis must be 1-D with at least 8 channels (got shape {tuple(e.shape)})")
    if not bool(torch.isfinite(e).all()):
        raise MatgenError("the energy axis holds NaN or inf; give finite energies (eV)")
    steps = torch.diff(e.double())
    if not bool((steps > 0).all()):
        raise MatgenError("the energy axis must increase strictly; sort it or build it with energy_axis_ev")
    step = float(steps.mean())
    if float((steps - step).abs().max()) > 1e-3 * step:
        raise MatgenError("the energy axis must be evenly spaced (one dispersion in eV/channel); resample it first")
    return e, step


def _batch_size(*values) -> int:
    sizes = {torch.as_tensor(v).numel() for v in values if v is not None and torch.as_tensor(v).ndim > 0}
    if len(sizes) > 1:
        raise MatgenError(f"per-sample parameters must all have the same length (got lengths {sorted(sizes)})")
    return sizes.pop() if sizes else 1


def _fft_convolve(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(B, Na + Nb − 1) linear convolution along the last axis: out[n] = Σ_k b[k] a[n − k]."""
    size = a.shape[-1] + b.shape[-1] - 1
    n = 1 << (size - 1).bit_length()
    return torch.fft.irfft(torch.fft.rfft(a, n) * torch.fft.rfft(b, n), n)[..., :size]


def _apply_kernel(values_at, axis: torch.Tensor, step: float, kernel: torch.Tensor, first_shift: int) -> torch.Tensor:
    """(B, L) Σ_m kernel[m] v(E_i − (first_shift + m) δ) for v = ``values_at(energies)`` on the axis lattice."""
    m = kernel.shape[-1]
    j = torch.arange(-(first_shift + m - 1), len(axis) - first_shift, device=axis.device, dtype=axis.dtype)
    values = values_at(axis[0] + j * step)  # (B, L + M − 1) on the axis lattice, extended below and above
    return _fft_convolve(values, kernel)[..., m - 1: m - 1 + len(axis)].clamp_min(0)  # FFT round-off ~1e-17 < 0


# --------------------------------------------------------------------------- forward model


def energy_axis_ev(channels: int, dispersion_ev: float, offset_ev: float = 0.0, dtype: torch.dtype = torch.float64,
                   device: torch.device | str | None = None) -> torch.Tensor:
    """(channels,) energy loss E_i = offset + i · dispersion (eV) of each spectrometer channel."""
    if int(channels) != channels or channels < 8:
        raise MatgenError(f"channels must be an integer ≥ 8 (got {channels})")
    if not (math.isfinite(dispersion_ev) and dispersion_ev > 0) or not math.isfinite(offset_ev):
        raise MatgenError(f"the dispersion must be positive (eV/channel) and the offset finite "
                          f"(got {dispersion_ev}, {offset_ev})")
    return offset_ev + dispersion_ev * torch.arange(int(channels), dtype=dtype, device=device)


def drude_loss_function(energy_loss_ev: torch.Tensor, plasmon_energy_ev: Tensorish,
                        plasmon_width_ev: Tensorish) -> torch.Tensor:
    """(B, L) Im(−1/ε) = E ΔE_p E_p² / ((E² − E_p²)² + (E ΔE_p)²) of the Drude model; 0 for E ≤ 0."""
    e = torch.as_tensor(energy_loss_ev)
    e = e if e.is_floating_point() else e.double()
    n = _batch_size(plasmon_energy_ev, plasmon_width_ev)
    ep = per_sample(plasmon_energy_ev, n, "plasmon energy", e.device, e.dtype)[:, None]  # (B, 1)
    de = per_sample(plasmon_width_ev, n, "plasmon width", e.device, e.dtype)[:, None]
    value = e * de * ep**2 / ((e**2 - ep**2) ** 2 + (e * de) ** 2)
    return torch.where(e > 0, value, torch.zeros_like(value))


def drude_peak_energy_ev(plasmon_energy_ev: Tensorish, plasmon_width_ev: Tensorish) -> torch.Tensor:
    """Energy (eV) of the maximum of Im(−1/ε): E² = [q + √(q² + 12 E_p⁴)] / 6, q = 2E_p² − ΔE_p²."""
    ep, de = torch.as_tensor(plasmon_energy_ev, dtype=torch.float64), torch.as_tensor(plasmon_width_ev, dtype=torch.float64)
    q = 2 * ep**2 - de**2
    return torch.sqrt((q + torch.sqrt(q**2 + 12 * ep**4)) / 6)


def free_electron_plasmon_energy_ev(valence_electrons: float, density_g_cm3: float, molar_mass_g_mol: float) -> float:
    """Free-electron plasmon energy E_p = 28.82 eV √(z ρ / A) (eV), z valence electrons per formula unit."""
    return FREE_ELECTRON_PLASMON_EV * math.sqrt(valence_electrons * density_g_cm3 / molar_mass_g_mol)


def characteristic_angle_mrad(energy_loss_ev: torch.Tensor, beam_energy_kev: float = 200.0) -> torch.Tensor:
    """θ_E = E / (γ m₀ v²) (mrad) for energy loss E (eV) at the given beam energy (keV)."""
    gamma = 1 + beam_energy_kev / ELECTRON_REST_ENERGY_KEV
    gamma_m_v2_ev = gamma * ELECTRON_REST_ENERGY_KEV * 1e3 * (1 - 1 / gamma**2)
    return 1e3 * torch.as_tensor(energy_loss_ev) / gamma_m_v2_ev


def plasmon_ssd(energy_loss_ev, plasmon_energy_ev: Tensorish, plasmon_width_ev: Tensorish,
                collection_semiangle_mrad: float | None = None, beam_energy_kev: float = 200.0) -> torch.Tensor:
    """(B, L) unit-area single-scattering distribution of the bulk plasmon (1/eV), channel-averaged.

    Im(−1/ε) integrated over each channel (closed form, see the module docstring), times
    ln(1 + β²/θ_E²) at the channel centre when a collection semi-angle β (mrad) is given; 0 for E < 0.
    Normalised so that Σ s δ = 1 over the given axis.
    """
    e, step = _axis(energy_loss_ev)
    n = _batch_size(plasmon_energy_ev, plasmon_width_ev)
    ep = per_sample(plasmon_energy_ev, n, "plasmon energy", e.device, e.dtype)[:, None]  # (B, 1)
    de = per_sample(plasmon_width_ev, n, "plasmon width", e.device, e.dtype)[:, None]
    require(ep > 0, ep, "the plasmon energy (eV)", "positive")
    require(de > 0, de, "the plasmon width (eV)", "positive")
    if bool((de >= 2 * ep).any()):
        raise MatgenError("the plasmon width must be below twice the plasmon energy (an overdamped plasmon has no peak)")
    a, b = ep**2 - de**2 / 2, de * torch.sqrt(ep**2 - de**2 / 4)

    def antiderivative(x):
        return de * ep**2 / (2 * b) * torch.atan((x.clamp_min(0) ** 2 - a) / b)

    s = (antiderivative(e + step / 2) - antiderivative(e - step / 2)) / step  # (B, L)
    if collection_semiangle_mrad is not None:
        if not collection_semiangle_mrad > 0:
            raise MatgenError(f"the collection semi-angle must be positive mrad (got {collection_semiangle_mrad})")
        centre = torch.maximum(e, torch.full_like(e, step / 4))
        s = s * torch.log1p((collection_semiangle_mrad / characteristic_angle_mrad(centre, beam_energy_kev)) ** 2)
    return s / (s.sum(-1, keepdim=True) * step)


def zero_loss_peak(energy_loss_ev, resolution_fwhm_ev: Tensorish, lorentzian_fraction: float = 0.0) -> torch.Tensor:
    """(B, L) zero-loss peak (1/eV) of unit area on the infinite axis, centred at 0, channel-averaged.

    (1 − η) Gaussian + η Lorentzian, both of FWHM = the energy resolution (eV); η = ``lorentzian_fraction``.
    """
    e, step = _axis(energy_loss_ev)
    n = _batch_size(resolution_fwhm_ev)
    fwhm = per_sample(resolution_fwhm_ev, n, "the energy resolution", e.device, e.dtype)[:, None]  # (B, 1)
    require(fwhm > 0, fwhm, "the energy resolution FWHM (eV)", "positive")
    if not 0 <= lorentzian_fraction <= 1:
        raise MatgenError(f"the Lorentzian fraction of the zero-loss peak must be in [0, 1] (got {lorentzian_fraction})")
    sigma = fwhm / (2 * math.sqrt(2 * math.log(2)))
    hi, lo = e + step / 2, e - step / 2
    gauss = 0.5 * (torch.erf(hi / (sigma * math.sqrt(2))) - torch.erf(lo / (sigma * math.sqrt(2))))
    lorentz = (torch.atan(hi / (fwhm / 2)) - torch.atan(lo / (fwhm / 2))) / math.pi
    return ((1 - lorentzian_fraction) * gauss + lorentzian_fraction * lorentz) / step


def poisson_weights(thickness_t_over_lambda: Tensorish, orders: int) -> torch.Tensor:
    """(B, orders + 1) probability P_n = exp(−t/λ) (t/λ)ⁿ / n! of exactly n inelastic events."""
    mu = torch.as_tensor(thickness_t_over_lambda, dtype=torch.float64).reshape(-1, 1)
    if not bool(torch.isfinite(mu).all()) or bool((mu < 0).any()):
        raise MatgenError(f"the thickness t/λ must be finite and ≥ 0 (got {mu.flatten().tolist()})")
    n = torch.arange(orders + 1, dtype=torch.float64)
    return torch.exp(-mu + n * torch.log(mu.clamp_min(1e-300)) - torch.lgamma(n + 1)).where(mu > 0, (n == 0).double())


def loss_distribution(step_ev: float, channels: int, plasmon_energy_ev: Tensorish, plasmon_width_ev: Tensorish,
                      thickness_t_over_lambda: Tensorish, collection_semiangle_mrad: float | None = None,
                      beam_energy_kev: float = 200.0, like: torch.Tensor | None = None) -> torch.Tensor:
    """(B, channels) probabilities d_k of losing kδ in all: Σ_n P_n s^{⊗n}, by the Fourier-log relation.

    d = FT⁻¹[exp(t/λ (ŝ − 1))] with s the plasmon SSD on the lattice kδ; computed on a lattice four
    times longer so that the periodic wrap-around of the FFT stays in the far tail (over that long
    lattice Σ_k d_k = 1); d_0 holds the exp(−t/λ) unscattered electrons.
    """
    like = torch.zeros(1, dtype=torch.float64) if like is None else like
    n_fft = 1 << (4 * channels - 1).bit_length()
    lattice = step_ev * torch.arange(n_fft, dtype=like.dtype, device=like.device)
    s = plasmon_ssd(lattice, plasmon_energy_ev, plasmon_width_ev, collection_semiangle_mrad, beam_energy_kev)
    n = _batch_size(thickness_t_over_lambda, plasmon_energy_ev, plasmon_width_ev)
    mu = per_sample(thickness_t_over_lambda, n, "the thickness t/λ", like.device, like.dtype)[:, None]  # (B, 1)
    require(mu >= 0, mu, "the thickness t/λ", "≥ 0")
    d = torch.fft.irfft(torch.exp(mu * (torch.fft.rfft(s * step_ev) - 1)), n_fft)
    return d[..., :channels]


def low_loss_spectra(energy_loss_ev, plasmon_energy_ev: Tensorish, plasmon_width_ev: Tensorish,
                     thickness_t_over_lambda: Tensorish, resolution_fwhm_ev: Tensorish = 0.8,
                     lorentzian_fraction: float = 0.0, collection_semiangle_mrad: float | None = None,
                     beam_energy_kev: float = 200.0) -> torch.Tensor:
    """(B, L) low-loss spectra J = Z ⊗ Σ_n P_n s^{⊗n} (1/eV, unit area on the infinite axis).

    The zero-loss part is exactly exp(−t/λ) Z (Z: :func:`zero_loss_peak`, normalised to unit area
    on the extended grid the convolution uses), the rest is plural plasmon scattering; the axis may
    start anywhere (the ZLP below the window is still folded in).
    """
    e, step = _axis(energy_loss_ev)
    n = _batch_size(plasmon_energy_ev, plasmon_width_ev, thickness_t_over_lambda, resolution_fwhm_ev)
    fwhm = per_sample(resolution_fwhm_ev, n, "the energy resolution", e.device, e.dtype)[:, None]
    require(fwhm > 0, fwhm, "the energy resolution FWHM (eV)", "positive")
    half = float(fwhm.max()) * (ZLP_HALF_WIDTH_LORENTZ_FWHM if lorentzian_fraction > 0 else ZLP_HALF_WIDTH_FWHM)
    if float(e[-1]) < -half:
        return torch.zeros(n, len(e), dtype=e.dtype, device=e.device)
    shifts = int(math.ceil((float(e[-1]) + half) / step)) + 1  # losses kδ that can move the ZLP onto the axis
    d = loss_distribution(step, shifts, plasmon_energy_ev, plasmon_width_ev, thickness_t_over_lambda,
                          collection_semiangle_mrad, beam_energy_kev, like=e)

    def zlp(energies):
        z = zero_loss_peak(energies, fwhm.flatten(), lorentzian_fraction)
        return z / (z.sum(-1, keepdim=True) * step)

    return _apply_kernel(zlp, e, step, d, 0)


def edge_shapes(energy_loss_ev, edges: Sequence[str | Edge], decay_exponent: Tensorish = 3.0, white_line_height: float = 3.0,
                white_line_width_ev: float = 1.0, white_line_offset_ev: float = 0.0) -> torch.Tensor:
    """(E, L) intrinsic edge shapes (no resolution), continuum step 1 at onset, channel-averaged.

    Saw-tooth H(E − E_k) (E/E_k)^(−s), s = ``decay_exponent`` (a (B,) tensor gives (B, E, L)); a
    split L2,3 edge is 2/3 of it at L3 plus 1/3 at L2. White lines: Lorentzians of FWHM
    ``white_line_width_ev`` at onset + ``white_line_offset_ev``, peak height ``white_line_height`` ×
    the step they sit on (L3 : L2 area 2 : 1).
    """
    e, step = _axis(energy_loss_ev)
    found = [edge(k) if isinstance(k, str) else k for k in edges]
    half = white_line_width_ev / 2
    s = torch.as_tensor(decay_exponent, dtype=e.dtype).to(e.device)
    batched = s.ndim == 1
    s = s.reshape(-1, 1)  # (B or 1, 1)

    def sawtooth(onset):
        inside = ((e + step / 2 - onset) / step).clamp(0, 1)  # part of each channel above the onset
        return inside * (torch.maximum(e, torch.full_like(e, onset)) / onset) ** (-s)  # (B or 1, L)

    def white_line(onset):
        c = onset + white_line_offset_ev
        return half / step * (torch.atan((e + step / 2 - c) / half) - torch.atan((e - step / 2 - c) / half))

    shapes = []
    for k in found:
        parts = [(k.onset_ev, 1.0)] if k.l2_onset_ev is None else [(k.onset_ev, 2 / 3), (k.l2_onset_ev, 1 / 3)]
        shape = sum(w * sawtooth(onset) for onset, w in parts)
        if k.white_lines:
            shape = shape + sum(w * white_line_height * white_line(onset) for onset, w in parts)
        shapes.append(shape)
    out = torch.stack(shapes, 1) if shapes else torch.zeros(len(s), 0, len(e), dtype=e.dtype, device=e.device)
    return out if batched else out[0]


def core_loss_spectra(energy_loss_ev, edges: Sequence[str | Edge], edge_jump: Tensorish,
                      background_exponent: Tensorish = 3.0, resolution_fwhm_ev: Tensorish = 1.0,
                      thickness_t_over_lambda: Tensorish = 0.0, plasmon_energy_ev: Tensorish = 15.0,
                      plasmon_width_ev: Tensorish = 2.0, edge_decay_exponent: float | None = None,
                      white_line_height: float = 3.0, white_line_width_ev: float = 1.0) -> torch.Tensor:
    """(B, L) core-loss spectra: a power-law background plus edges of jump ratio j, broadened.

    The single-scattering spectrum c(E) = (E/E₀)^(−r) + Σ_k j_k (E_k/E₀)^(−r) shape_k(E)
    (:func:`edge_shapes`; E₀ the first channel) is convolved with the zero-loss peak (resolution)
    and, for t/λ > 0, with the plasmon plural-scattering distribution, which adds replicas of each
    edge E_p above it. For t/λ = 0 the background is 1 at E₀ and each edge steps up by j_k times the
    background at its onset (``edge_jump``: a number, (E,) or (B, E)); the edges decay like the
    background unless ``edge_decay_exponent`` is given. Intensity below E₀/2 is left out.
    """
    e, step = _axis(energy_loss_ev)
    if float(e[0]) <= 0:
        raise MatgenError(f"a core-loss axis must start above 0 eV (got {float(e[0]):g}); "
                          "use low_loss_spectra or eels_spectra for a window with the zero loss")
    found = [edge(k) if isinstance(k, str) else k for k in edges]
    jump = torch.as_tensor(edge_jump, dtype=e.dtype).to(e.device)
    n = _batch_size(background_exponent, resolution_fwhm_ev, thickness_t_over_lambda, plasmon_energy_ev, plasmon_width_ev,
                    jump[:, 0] if jump.ndim == 2 else None)
    jump = jump.expand(n, len(found)) if jump.ndim < 2 and jump.numel() in (1, len(found)) else jump  # one per edge
    if jump.shape != (n, len(found)) or not bool(torch.isfinite(jump).all()):
        raise MatgenError(f"edge_jump must be a number, (E,) or a finite (B, E) = ({n}, {len(found)}) tensor "
                          f"(got {tuple(jump.shape)})")
    require(jump >= 0, jump, "edge_jump", "≥ 0")
    r = per_sample(background_exponent, n, "the background exponent", e.device, e.dtype)[:, None]
    mu = per_sample(thickness_t_over_lambda, n, "the thickness t/λ", e.device, e.dtype)[:, None]
    require(mu >= 0, mu, "the thickness t/λ", "≥ 0")
    decay = r.flatten() if edge_decay_exponent is None else torch.full_like(r.flatten(), float(edge_decay_exponent))
    onsets = torch.as_tensor([k.onset_ev for k in found], dtype=e.dtype, device=e.device)  # (E,)
    e0 = float(e[0])

    def single(energies):
        shapes = edge_shapes(energies, found, decay, white_line_height, white_line_width_ev)  # (B, E, N)
        edges_part = ((jump * (onsets / e0) ** (-r))[..., None] * shapes).sum(1)
        background = (energies.clamp_min(e0 / 2) / e0) ** (-r)  # (B, N)
        return torch.where(energies >= e0 / 2, background + edges_part, torch.zeros_like(background))

    fwhm = per_sample(resolution_fwhm_ev, n, "the energy resolution", e.device, e.dtype)[:, None]
    ep = per_sample(plasmon_energy_ev, n, "plasmon energy", e.device, e.dtype)[:, None]  # (B, 1)
    de = per_sample(plasmon_width_ev, n, "plasmon width", e.device, e.dtype)[:, None]
    mu_max = float(mu.max())
    plural_ev = 0.0 if mu_max == 0 else (mu_max + 6 * math.sqrt(mu_max) + 6) * float(ep.max()) + 20 * float(de.max())
    kernel, first = _zero_loss_kernel(e, step, (ep.flatten(), de.flatten(), mu.flatten(), fwhm.flatten()),
                                      min(plural_ev, float(e[-1]) - e0 / 2))
    return _apply_kernel(single, e, step, kernel, first)


def _zero_loss_kernel(e: torch.Tensor, step: float, low_loss_args: tuple, reach_ev: float) -> tuple[torch.Tensor, int]:
    """Low-loss spectrum as channel probabilities on the shifts mδ, m = first, first + 1, ..., up to reach_ev."""
    fwhm = torch.as_tensor(low_loss_args[3])
    require(fwhm > 0, fwhm, "the energy resolution FWHM (eV)", "positive")
    half = ZLP_HALF_WIDTH_FWHM * float(fwhm.max())
    first = -int(math.ceil(half / step))
    last = int(math.ceil(max(reach_ev, half) / step))
    lattice = step * torch.arange(first, last + 1, dtype=e.dtype, device=e.device)
    return low_loss_spectra(lattice, *low_loss_args) * step, first


def counts_for_total(spectra: torch.Tensor, total_counts: Tensorish, seed: Seeds = None,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """(B, L) Poisson counts of spectra scaled to ``total_counts`` expected counts per spectrum.

    ``total_counts`` is a number or one per spectrum. Sample i draws from its own generator seeded
    with seed + i (or seed[i]), so it is reproducible whatever the batch; without a seed the batch
    draws from ``generator`` (or torch's global one). Draws are made on the CPU in float64, then
    moved to the spectra's device and dtype.
    """
    rates = torch.as_tensor(spectra)
    if not bool(torch.isfinite(rates).all()) or bool((rates < 0).any()):
        raise MatgenError("spectra must be finite and non-negative to add counting noise")
    rates = rates.reshape(-1, rates.shape[-1])
    total = per_sample(total_counts, len(rates), "total_counts", rates.device, rates.dtype)[:, None]
    require(total > 0, total, "total_counts", "positive")
    rates = rates / rates.sum(-1, keepdim=True).clamp_min(1e-300) * total
    seeds = optional_sample_seeds(seed, len(rates), generator)
    counts = poisson_counts(rates.detach().double().cpu(), generator if seeds is None else seeded_generators(seeds))
    return counts.to(device=rates.device, dtype=rates.dtype).reshape(torch.as_tensor(spectra).shape)


@dataclass(frozen=True)
class EELSSpectra:
    """Simulated spectra of one material and the per-sample parameters that made them."""

    spectra: torch.Tensor  # (B, L) counts per channel (or 1/eV intensities when no counts were asked)
    energy_loss_ev: torch.Tensor  # (L,) axis, eV
    material: str
    thickness_t_over_lambda: torch.Tensor  # (B,) t/λ
    resolution_fwhm_ev: torch.Tensor  # (B,) ZLP FWHM, eV
    edges: tuple[str, ...]  # the material's edges below the axis end (the order of edge_step_per_ev)
    seeds: torch.Tensor | None  # (B,) int64 seed of each sample's noise; None: a generator or no noise


def eels_spectra(energy_loss_ev, material_name: str, thickness_t_over_lambda: Tensorish, resolution_fwhm_ev: Tensorish = 0.8,
                 edge_step_per_ev: Tensorish = 1e-4, total_counts: Tensorish | None = None, seed: Seeds = None,
                 generator: torch.Generator | None = None, collection_semiangle_mrad: float | None = None,
                 beam_energy_kev: float = 200.0) -> EELSSpectra:
    """Spectra of a tabulated material over any window: zero loss, plasmons and its edges, counted.

    J = J_low + (t/λ) c ⊗ J_low, where J_low is :func:`low_loss_spectra` with the material's plasmon
    and c = Σ_k h_k shape_k(E) its edges below the axis end (:func:`edge_shapes`), h_k =
    ``edge_step_per_ev`` (a number, (E,) or (B, E)): the edge step per eV per unit t/λ, relative to the
    total intensity (order 1e-4 for L2,3 and K edges of the main elements). The background under the
    edges is the plasmon tail and the tails of lower edges. The edges add (t/λ) ∫c dE of inelastic
    scattering that the log-ratio of the result counts too (∫c ≈ h_k E_k / 2 each, for r = 3). With
    ``total_counts``, Poisson counts (:func:`counts_for_total`).
    """
    e, step = _axis(energy_loss_ev)
    m = material(material_name)
    h = torch.as_tensor(edge_step_per_ev, dtype=e.dtype).to(e.device)
    n = _batch_size(thickness_t_over_lambda, resolution_fwhm_ev, h[:, 0] if h.ndim == 2 else None)
    mu = per_sample(thickness_t_over_lambda, n, "the thickness t/λ", e.device, e.dtype)[:, None]
    require(mu >= 0, mu, "the thickness t/λ", "≥ 0")
    fwhm = per_sample(resolution_fwhm_ev, n, "the energy resolution", e.device, e.dtype)[:, None]
    inside = tuple(k for k in m.edges if edge(k).onset_ev < float(e[-1]))  # lower edges' tails reach in
    args = (m.plasmon_energy_ev, m.plasmon_width_ev, mu.flatten(), fwhm.flatten(), 0.0,
            collection_semiangle_mrad, beam_energy_kev)
    spectra = low_loss_spectra(e, *args)
    if inside:
        h = h.expand(n, len(inside)) if h.ndim < 2 and h.numel() in (1, len(inside)) else h  # one per edge
        if h.shape != (n, len(inside)) or not bool(torch.isfinite(h).all()):
            raise MatgenError(f"edge_step_per_ev must be a finite number, (E,) or (B, E) = ({n}, {len(inside)}) "
                              f"for the edges {', '.join(inside)}")
        require(h >= 0, h, "edge_step_per_ev", "≥ 0")
        first_onset = min(edge(k).onset_ev for k in inside)
        kernel, first = _zero_loss_kernel(e, step, args, float(e[-1]) - first_onset)

        def single(energies):
            return mu * (h[..., None] * edge_shapes(energies, inside)[None]).sum(1)

        spectra = spectra + _apply_kernel(single, e, step, kernel, first)
    seeds = optional_sample_seeds(seed, n, generator)
    if total_counts is not None:
        spectra = counts_for_total(spectra, total_counts, seed=seeds, generator=generator)
    return EELSSpectra(spectra, e, m.name, mu.flatten(), fwhm.flatten(), inside,
                       None if seeds is None else torch.as_tensor(seeds, dtype=torch.int64))

