"""FFT elastic homogenization against closed forms: single phase, laminates, Hashin–Shtrikman bounds."""

import math

import pytest
import torch

from matgen.errors import MatgenError
from matgen.physics.elastic import homogenize, plane_stiffness, projection_operator
from matgen.physics.phases import DEFAULT_PHASES, PHASES, phase_by_name

AL, SIC = PHASES["Al"], PHASES["SiC"]


def stiffness(phase, plane="stress"):
    return plane_stiffness(phase.youngs_modulus_gpa, phase.poisson_ratio, plane)


def smoothed_noise_labels(n, size, seed=0, fraction=0.5):
    """(n, size, size) isotropic-on-average periodic two-phase label maps."""
    g = torch.Generator().manual_seed(seed)
    noise = torch.nn.functional.pad(torch.rand(n, 1, size, size, generator=g), (3, 3, 3, 3), mode="circular")
    smooth = torch.nn.functional.avg_pool2d(noise, 7, 1)[:, 0]
    cut = smooth.flatten(1).quantile(1 - fraction, dim=1)[:, None, None]
    return (smooth > cut).long()


def disk(size, radius=0.3):
    c = (torch.arange(size, dtype=torch.float64) + 0.5) / size - 0.5
    return ((c[:, None] ** 2 + c[None, :] ** 2) < radius**2).long()[None]


@pytest.mark.parametrize("name", ["Al", "SiC"])
def test_single_phase_returns_its_own_moduli(name):
    phase = PHASES[name]
    label = 1 if name == "SiC" else 0
    r = homogenize(torch.full((2, 8, 12), label))
    E, nu = phase.youngs_modulus_gpa, phase.poisson_ratio
    torch.testing.assert_close(r.youngs_x_gpa, torch.full((2,), E, dtype=torch.float64), rtol=1e-9, atol=0)
    torch.testing.assert_close(r.youngs_y_gpa, torch.full((2,), E, dtype=torch.float64), rtol=1e-9, atol=0)
    torch.testing.assert_close(r.youngs_mean_gpa, torch.full((2,), E, dtype=torch.float64), rtol=1e-9, atol=0)
    torch.testing.assert_close(r.shear_gpa, torch.full((2,), E / (2 * (1 + nu)), dtype=torch.float64), rtol=1e-9, atol=0)


def laminate_stiffness(C_a, C_b, f_b):
    """Exact effective Voigt stiffness of layers normal to x (Backus-type averaging).

    Across the layers the tractions (s11, s12) are uniform, along them the strain eps22 is
    uniform. With n = (11, 12) and t = (22): C_nn* = <C_nn^-1>^-1, C_nt* = C_nn* <C_nn^-1 C_nt>,
    C_tt* = <C_tt - C_tn C_nn^-1 C_nt> + <C_tn C_nn^-1> C_nn* <C_nn^-1 C_nt>.
    """
    n, t = [0, 2], [1]
    avg = lambda fn: (1 - f_b) * fn(C_a) + f_b * fn(C_b)  # noqa: E731
    inv_nn = lambda C: torch.linalg.inv(C[n][:, n])  # noqa: E731
    C_nn = torch.linalg.inv(avg(inv_nn))
    C_nt = C_nn @ avg(lambda C: inv_nn(C) @ C[n][:, t])
    C_tt = avg(lambda C: C[t][:, t] - C[t][:, n] @ inv_nn(C) @ C[n][:, t]) + avg(
        lambda C: C[t][:, n] @ inv_nn(C)) @ C_nn @ avg(lambda C: inv_nn(C) @ C[n][:, t])
    out = torch.zeros(3, 3, dtype=torch.float64)
    for (i, I) in enumerate(n):
        for (j, J) in enumerate(n):
            out[I, J] = C_nn[i, j]
        out[I, 1] = out[1, I] = C_nt[i, 0]
    out[1, 1] = C_tt[0, 0]
    return out


@pytest.mark.parametrize("scheme", ["rotated", "fourier"])
@pytest.mark.parametrize("phases", [DEFAULT_PHASES, ("Al", "pore")])
def test_laminate_matches_exact_solution_in_both_directions(scheme, phases):
    x = torch.zeros(1, 16, 40, dtype=torch.long)
    x[..., :, 5:15] = 1  # stripes along y, f = 10 / 40 along x
    r = homogenize(x, phases=phases, scheme=scheme)
    C_a, C_b = (stiffness(phase_by_name(p) if isinstance(p, str) else p) for p in phases)
    exact = laminate_stiffness(C_a, C_b, 0.25)
    S = torch.linalg.inv(exact)
    torch.testing.assert_close(r.youngs_x_gpa[0], 1 / S[0, 0], rtol=5e-3, atol=0)
    torch.testing.assert_close(r.youngs_y_gpa[0], 1 / S[1, 1], rtol=5e-3, atol=0)
    torch.testing.assert_close(r.stiffness_gpa[0], exact, rtol=1e-6, atol=1e-6 * exact.max().item())
    assert r.youngs_y_gpa[0] > 1.5 * r.youngs_x_gpa[0]  # parallel (Voigt-like) beats series (Reuss-like)


def rotate_compliance(S, theta):
    """S' = T S T^T with the engineering-strain Voigt rotation T(theta) (axes turned by theta)."""
    c, s = math.cos(theta), math.sin(theta)
    T = torch.tensor([[c * c, s * s, c * s], [s * s, c * c, -c * s], [-2 * c * s, 2 * c * s, c * c - s * s]], dtype=torch.float64)
    return T @ S @ T.T


@pytest.mark.parametrize("scheme", ["rotated", "fourier"])
def test_diagonal_laminate_matches_the_rotated_exact_solution(scheme):
    """Layers normal to (1, 1): exact on an odd grid, and it exercises the shear coupling of G."""
    n, m = 45, 15
    i = torch.arange(n)
    x = (((i[:, None] + i[None, :]) % n) < m).long()[None]  # f = m / n exactly
    r = homogenize(x, scheme=scheme)
    S_lam = torch.linalg.inv(laminate_stiffness(stiffness(AL), stiffness(SIC), m / n))
    S_xy = rotate_compliance(S_lam, math.pi / 4)
    torch.testing.assert_close(r.youngs_x_gpa[0], 1 / S_xy[0, 0], rtol=1e-6, atol=0)
    torch.testing.assert_close(r.youngs_y_gpa[0], 1 / S_xy[1, 1], rtol=1e-6, atol=0)
    torch.testing.assert_close(r.shear_gpa[0], 1 / S_xy[2, 2], rtol=1e-6, atol=0)
    torch.testing.assert_close(r.compliance_1_gpa[0, 0, 2].abs(), S_xy[0, 2].abs(), rtol=1e-6, atol=1e-12)
    # orientation average is frame independent: compare with the laminate's own average
    theta = torch.arange(720, dtype=torch.float64) * math.pi / 720
    E_mean = torch.stack([1 / rotate_compliance(S_lam, t.item())[0, 0] for t in theta]).mean()
    torch.testing.assert_close(r.youngs_mean_gpa[0], E_mean, rtol=1e-6, atol=0)


def hashin_shtrikman_2d(k1, m1, k2, m2, f2):
    """2-D HS bounds on the plane bulk modulus k and shear modulus m (phase 2 stiffer).

    k_L = k1 + f2 / (1/(k2-k1) + f1/(k1+m1)), m_L = m1 + f2 / (1/(m2-m1) + f1 (k1+2m1)/(2 m1 (k1+m1)));
    the upper bounds swap 1 and 2 (Hashin 1965; Torquato, Random Heterogeneous Materials, ch. 21).
    """
    f1 = 1 - f2
    k_lo = k1 + f2 / (1 / (k2 - k1) + f1 / (k1 + m1))
    k_hi = k2 + f1 / (1 / (k1 - k2) + f2 / (k2 + m2))
    m_lo = m1 + f2 / (1 / (m2 - m1) + f1 * (k1 + 2 * m1) / (2 * m1 * (k1 + m1)))
    m_hi = m2 + f1 / (1 / (m1 - m2) + f2 * (k2 + 2 * m2) / (2 * m2 * (k2 + m2)))
    return (k_lo, k_hi), (m_lo, m_hi)


def test_random_microstructures_lie_inside_hashin_shtrikman_bounds():
    x = smoothed_noise_labels(6, 48, seed=1, fraction=0.4)
    r = homogenize(x)
    C = r.stiffness_gpa
    k_eff = (C[:, 0, 0] + C[:, 1, 1] + 2 * C[:, 0, 1]) / 4  # I:C:I / 4, rotation invariant
    m_eff = (C[:, 0, 0] + C[:, 1, 1] - 2 * C[:, 0, 1] + 4 * C[:, 2, 2]) / 8  # orientation-averaged shear
    plane = lambda p: (p.youngs_modulus_gpa / (2 * (1 - p.poisson_ratio)), p.youngs_modulus_gpa / (2 * (1 + p.poisson_ratio)))  # noqa: E731
    (k1, m1), (k2, m2) = plane(AL), plane(SIC)
    for b in range(x.shape[0]):
        f2 = r.phase_fractions[b, 1].item()
        (k_lo, k_hi), (m_lo, m_hi) = hashin_shtrikman_2d(k1, m1, k2, m2, f2)
        assert k_lo < k_eff[b] < k_hi, (b, k_lo, k_eff[b], k_hi)
        assert m_lo < m_eff[b] < m_hi, (b, m_lo, m_eff[b], m_hi)
        # and the bounds are informative: the orientation-averaged modulus sits between Reuss and Voigt
        E_voigt = (1 - f2) * AL.youngs_modulus_gpa + f2 * SIC.youngs_modulus_gpa
        assert AL.youngs_modulus_gpa < r.youngs_mean_gpa[b] < E_voigt


@pytest.mark.parametrize("scheme", ["rotated", "fourier"])
def test_rotating_by_90_degrees_swaps_x_and_y(scheme):
    x = smoothed_noise_labels(3, 24, seed=2)[:, :, :20]  # non-square on purpose
    a, b = homogenize(x, scheme=scheme), homogenize(torch.rot90(x, 1, (1, 2)), scheme=scheme)
    assert (a.youngs_x_gpa - a.youngs_y_gpa).abs().max() > 1e-3  # anisotropic enough to notice a swap
    torch.testing.assert_close(b.youngs_x_gpa, a.youngs_y_gpa, rtol=1e-6, atol=0)
    torch.testing.assert_close(b.youngs_y_gpa, a.youngs_x_gpa, rtol=1e-6, atol=0)
    torch.testing.assert_close(b.youngs_mean_gpa, a.youngs_mean_gpa, rtol=1e-6, atol=0)


@pytest.mark.parametrize("scheme", ["rotated", "fourier"])
def test_grid_refinement_converges_for_a_disk(scheme):
    E = [homogenize(disk(n), scheme=scheme).youngs_x_gpa.item() for n in (32, 64, 128)]
    assert abs(E[2] - E[1]) < abs(E[1] - E[0])
    assert abs(E[2] - E[1]) / E[2] < 5e-3


def test_contrast_1000_pores_converge_between_zero_and_matrix():
    r = homogenize(disk(48), phases=("Al", "pore"), max_iter=500)
    assert (r.iterations < 500).all() and r.converged.all()
    assert 0 < r.youngs_x_gpa.item() < AL.youngs_modulus_gpa
    torch.testing.assert_close(r.youngs_x_gpa, r.youngs_y_gpa, rtol=1e-6, atol=0)


def test_unconverged_solve_raises_or_flags():
    with pytest.raises(MatgenError, match="did not converge.*max_iter"):
        homogenize(disk(32), phases=("Al", "pore"), max_iter=3)
    r = homogenize(disk(32), phases=("Al", "pore"), max_iter=3, strict=False)
    assert not r.converged.any() and (r.residual > 1e-6).all()


def test_density_is_the_rule_of_mixtures():
    x = smoothed_noise_labels(4, 32, seed=3, fraction=0.3)
    r = homogenize(x)
    f = x.double().mean((1, 2))
    torch.testing.assert_close(r.density_g_cm3, (1 - f) * AL.density_g_cm3 + f * SIC.density_g_cm3, rtol=1e-12, atol=0)
    torch.testing.assert_close(r.phase_fractions.sum(1), torch.ones(4, dtype=torch.float64))


def test_plane_strain_in_plane_modulus_is_e_over_one_minus_nu_squared():
    x = torch.zeros(1, 8, 8, dtype=torch.long)
    stress, strain = homogenize(x, plane="stress"), homogenize(x, plane="strain")
    E, nu = AL.youngs_modulus_gpa, AL.poisson_ratio
    torch.testing.assert_close(stress.youngs_x_gpa.item(), E, rtol=1e-9, atol=0)
    torch.testing.assert_close(strain.youngs_x_gpa.item(), E / (1 - nu**2), rtol=1e-9, atol=0)
    torch.testing.assert_close(strain.shear_gpa, stress.shear_gpa, rtol=1e-9, atol=0)  # G is the same


def test_grey_images_threshold_and_mix():
    g = torch.rand(2, 16, 16, generator=torch.Generator().manual_seed(4), dtype=torch.float32)
    thresholded = homogenize(g, mode="threshold", threshold=0.5)
    labels = homogenize((g >= 0.5).long())
    torch.testing.assert_close(thresholded.stiffness_gpa, labels.stiffness_gpa)
    uniform = homogenize(torch.full((1, 8, 8), 0.25), mode="mix")  # C = 0.75 C_Al + 0.25 C_SiC
    torch.testing.assert_close(uniform.stiffness_gpa[0], 0.75 * stiffness(AL) + 0.25 * stiffness(SIC), rtol=1e-9, atol=0)


def test_projection_is_an_orthogonal_projection_that_kills_the_mean():
    G = projection_operator((6, 8)).permute(2, 3, 0, 1)  # (H, Wr, 3, 3)
    torch.testing.assert_close(G @ G, G, atol=1e-12, rtol=0)
    torch.testing.assert_close(G, G.transpose(-1, -2), atol=1e-12, rtol=0)
    assert G[0, 0].abs().max() == 0


def test_bad_inputs_raise_useful_errors():
    x = torch.zeros(1, 8, 8)
    x[0, 2, 3] = float("nan")
    with pytest.raises(MatgenError, match="NaN"):
        homogenize(x)
    with pytest.raises(MatgenError, match=r"\(B, H, W\).*one channel"):
        homogenize(torch.zeros(2, 3, 8, 8))
    with pytest.raises(MatgenError, match="unknown phase 'unobtainium'; choose from .*SiC"):
        homogenize(torch.zeros(1, 8, 8, dtype=torch.long), phases=("Al", "unobtainium"))
    with pytest.raises(MatgenError, match="label values 0..2 need phases.*only 2 phases"):
        homogenize(torch.tensor([[[0, 1], [2, 0]]]))
    with pytest.raises(MatgenError, match=r"\[0, 1\]"):
        homogenize(torch.full((1, 4, 4), 2.0))
    with pytest.raises(MatgenError, match="unknown plane 'strian'; choose from stress, strain"):
        homogenize(torch.zeros(1, 4, 4, dtype=torch.long), plane="strian")
