"""Physics of the microstructure generators: conservation, lever rule, coarsening, anisotropy."""

import math

import pytest
import torch

from matgen.errors import MatgenError
from matgen.physics.morphology import characteristic_length_px, phase_fraction, two_point_correlation
from matgen.physics.particles import composite
from matgen.physics.spinodal import cahn_hilliard, spinodal, time_steps


def test_mass_is_conserved():
    c_bar = torch.tensor([-0.3, 0.0, 0.2, 0.45])
    r = spinodal(4, size=32, mean_composition=c_bar, anneal_time=150.0, seed=1)
    assert torch.allclose(r.concentration.double().mean(dim=(1, 2)), c_bar.double(), atol=1e-6)
    assert r.concentration.abs().max() > 0.9  # it did separate: near the equilibrium phases ±1


def test_phase_fraction_follows_the_lever_rule():
    r = spinodal(12, size=48, mean_composition=torch.tensor([-0.3] * 6 + [0.0] * 6), anneal_time=300.0, seed=0)
    phi = phase_fraction(r.micrograph)
    minority, symmetric = phi[:6], phi[6:]
    assert minority.max() < 0.42  # lever rule (1 + c̄)/2 = 0.35
    assert (minority - 0.35).abs().max() < 0.05
    assert (symmetric - 0.5).abs().max() < 0.05


def test_coarsening_follows_lifshitz_slyozov():
    times = [100.0, 300.0, 900.0]
    lengths = [characteristic_length_px(spinodal(6, size=64, anneal_time=t, seed=3).concentration).mean().item() for t in times]
    assert lengths[0] < lengths[1] < lengths[2]
    exponent = (math.log(lengths[2]) - math.log(lengths[0])) / (math.log(times[2]) - math.log(times[0]))
    assert 0.2 < exponent < 0.45  # L ~ t^{1/3}, with the usual slower early-time transient


def test_wider_interface_gives_larger_features():
    r = spinodal(12, size=64, anneal_time=200.0, interface_width_px=torch.tensor([0.7] * 6 + [2.0] * 6), seed=5)
    length = characteristic_length_px(r.micrograph)
    assert length[6:].min() > length[:6].max()


def test_sample_i_is_reproducible_whatever_the_batch():
    a = spinodal(3, size=32, anneal_time=40.0, seed=10)
    b = spinodal(1, size=32, anneal_time=40.0, seed=[11])
    assert torch.allclose(a.concentration[1], b.concentration[0], atol=1e-5)
    assert torch.equal(a.micrograph[1], b.micrograph[0])
    assert (a.concentration[0] - a.concentration[1]).abs().max() > 0.5
    c = composite(3, size=32, seed=10)
    d = composite(1, size=32, seed=[11])
    assert torch.equal(c.micrograph[1], d.micrograph[0])
    assert not torch.equal(c.micrograph[0], c.micrograph[1])


def test_solver_is_periodic_and_translation_equivariant():
    g = torch.Generator().manual_seed(0)
    c0 = 0.05 * torch.randn(2, 32, 32, generator=g)
    dt = time_steps(torch.tensor([60.0, 60.0]), torch.tensor([1.0, 1.0]), dt=0.25)
    c = cahn_hilliard(c0, 0.5, dt)
    rolled = cahn_hilliard(torch.roll(c0, shifts=(7, -11), dims=(1, 2)), 0.5, dt)
    assert torch.allclose(rolled, torch.roll(c, shifts=(7, -11), dims=(1, 2)), atol=1e-4)


def test_two_point_correlation_limits():
    r = composite(4, size=64, volume_fraction=0.3, seed=2)
    s2 = two_point_correlation(r.micrograph)
    assert torch.allclose(s2[:, 0, 0], phase_fraction(r.micrograph), atol=1e-6)
    # far from the origin S2 tends to φ² (independent points)
    assert (s2[:, 32, 32] - r.volume_fraction**2).abs().max() < 0.06


def test_composite_hits_the_volume_fraction():
    target = torch.tensor([0.05, 0.2, 0.3, 0.5, 0.7, 0.3])
    r = composite(6, size=64, volume_fraction=target, aspect_ratio=torch.tensor([1.0, 1, 1, 2, 1, 3]), seed=4)
    assert (r.volume_fraction - target).abs().max() <= 0.01
    assert torch.allclose(phase_fraction(r.micrograph), r.volume_fraction)
    assert r.micrograph.dtype == torch.uint8 and set(r.micrograph.unique().tolist()) <= {0, 1}


def _correlation_lengths(micrograph):
    """(along x, along y) px: where the mean S2 along each axis first falls halfway to φ²."""
    s2 = two_point_correlation(micrograph).mean(dim=0)
    phi = s2[0, 0]
    half = (phi + phi**2) / 2
    along_x, along_y = s2[0, :32], s2[:32, 0]
    return (along_x > half).sum().item(), (along_y > half).sum().item()


def test_aligned_ellipses_are_anisotropic_and_disks_isotropic():
    ellipses = composite(16, size=64, volume_fraction=0.3, aspect_ratio=3.0, orientation_deg=0.0, seed=0)
    lx, ly = _correlation_lengths(ellipses.micrograph)
    assert lx > 2 * ly  # long axes along x
    rotated = composite(16, size=64, volume_fraction=0.3, aspect_ratio=3.0, orientation_deg=90.0, seed=0)
    rx, ry = _correlation_lengths(rotated.micrograph)
    assert ry > 2 * rx
    disks = composite(16, size=64, volume_fraction=0.3, aspect_ratio=1.0, seed=0)
    dx, dy = _correlation_lengths(disks.micrograph)
    assert abs(dx - dy) <= 1


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"size": 4}, "at least 8"),
        ({"mean_composition": 0.7}, "inside the spinodal"),
        ({"mean_composition": torch.tensor([0.0, -1.2])}, "inside the spinodal"),
        ({"anneal_time": -1.0}, "≥ 0"),
        ({"interface_width_px": 20.0}, "between 0.5 and size/8"),
        ({"mean_composition": torch.zeros(3)}, "one value per sample"),
        ({"seed": 0, "generator": torch.Generator()}, "either seed or generator"),
    ],
)
def test_spinodal_bad_input(kwargs, match):
    with pytest.raises(MatgenError, match=match):
        spinodal(2, **{"size": 16, "anneal_time": 1.0, **kwargs})


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"volume_fraction": 0.8}, r"in \(0, 0.7\]"),
        ({"volume_fraction": 0.0}, r"in \(0, 0.7\]"),
        ({"aspect_ratio": 0.5}, "≥ 1"),
        ({"mean_radius_px": 20.0}, "size/4"),
        ({"size": 7}, "at least 8"),
    ],
)
def test_composite_bad_input(kwargs, match):
    with pytest.raises(MatgenError, match=match):
        composite(2, **kwargs)
