"""Morphology of two-phase maps: phase fraction, two-point correlation, characteristic length.

The analysis that spinodal (:mod:`matgen.physics.spinodal`) and particulate
(:mod:`matgen.physics.particles`) microstructures share, on periodic (n, H, W) maps: binary
micrographs (phase 1 where the value is 1) or continuous fields. ``k2`` = |k|² in (rad/px)² on the
``torch.fft.rfft2`` layout.
"""

from __future__ import annotations

import math

import torch


def squared_wavenumbers(size: int, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(size, size // 2 + 1) |k|² in (rad/px)² for the ``torch.fft.rfft2`` layout of a size × size grid."""
    ky = 2 * math.pi * torch.fft.fftfreq(size, device=device, dtype=dtype)  # (size,) rows
    kx = 2 * math.pi * torch.fft.rfftfreq(size, device=device, dtype=dtype)  # (size//2+1,) columns
    return ky[:, None] ** 2 + kx[None, :] ** 2


def phase_fraction(micrograph: torch.Tensor) -> torch.Tensor:
    """(n,) area fraction of phase 1 in each (n, H, W) micrograph."""
    return (micrograph == 1).float().mean(dim=(-2, -1))


def two_point_correlation(micrograph: torch.Tensor) -> torch.Tensor:
    """(n, H, W) periodic two-point correlation S₂(r) of phase 1, origin at [0, 0].

    S₂(r) = ⟨I(x) I(x + r)⟩ = IFFT(|FFT(I)|²) / (H W) for the indicator I of phase 1; S₂(0) is the
    phase fraction φ and S₂ → φ² at large r. Index [dy, dx] is the shift (rows, columns), periodic;
    ``torch.fft.fftshift(S2, dim=(-2, -1))`` puts r = 0 in the centre for display.
    """
    indicator = (micrograph == 1).to(torch.float64)  # float64: FFT round-off far below 1/(H W)
    spectrum = torch.fft.rfft2(indicator).abs() ** 2
    h, w = micrograph.shape[-2:]
    return (torch.fft.irfft2(spectrum, s=(h, w)) / (h * w)).to(torch.float32)


def characteristic_length_px(field: torch.Tensor) -> torch.Tensor:
    """(n,) characteristic length L = 2π / k₁ (px) of each (n, size, size) field.

    k₁ = Σ_k |k| S(k) / Σ_k S(k) is the first moment of the structure factor S(k) = |FFT(u − ū)|²
    over all wave vectors 0 < |k| ≤ π rad/px (Zhu et al., 1999, Eq. 12). Works on binary
    micrographs and on concentration fields; a field with no fluctuation gives NaN.
    """
    u = field.to(torch.float64)
    u = u - u.mean(dim=(-2, -1), keepdim=True)
    s_k = torch.fft.rfft2(u).abs() ** 2  # (n, size, size//2+1)
    weight = torch.ones(s_k.shape[-1], dtype=u.dtype, device=u.device)
    weight[1:] = 2.0  # the half-spectrum counts the columns 0 < kx < π twice ...
    if field.shape[-1] % 2 == 0:
        weight[-1] = 1.0  # ... but not the Nyquist column
    k = squared_wavenumbers(field.shape[-1], device=u.device, dtype=u.dtype).sqrt()
    inside = (k > 0) & (k <= math.pi)
    s_k = s_k * weight * inside
    k1 = (k * s_k).sum(dim=(-2, -1)) / s_k.sum(dim=(-2, -1))
    return (2 * math.pi / k1).to(torch.float32)
