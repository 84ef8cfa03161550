"""The VAE objective, annealing, diagnostics and interpolation against closed forms.

A VAE with a linear encoder and decoder and a fixed-sigma Gaussian likelihood is probabilistic
PCA (Tipping & Bishop 1999; Lucas et al. 2019): at its optimum a latent unit is used exactly for
each data covariance eigenvalue above sigma^2 (= 1 for the "mse" loss) and the others collapse.
So the number of active units a trained linear VAE reports is known in advance.
"""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from matgen.errors import MatgenError
from matgen.generative.vae import (
    ConditionalVAE,
    active_units,
    bernoulli_nll,
    free_bits_kl,
    gaussian_kl,
    gaussian_nll,
    interpolate_latents,
    kl_weight,
    mse,
    posterior_collapse_warning,
    reparameterize,
    vae_loss,
)
from matgen.nets.embeddings import ConditionEncoder, ConditionSpec
from matgen.nets.encoders import ConvDecoder, ConvEncoder, vae_preset

F64 = torch.float64


pytestmark = pytest.mark.usefixtures("one_thread")  # small tensors: one thread (tests/conftest.py)


class MLPEncoder(nn.Module):
    """q(z | x, c): [x, cond_emb] -> Linear -> (mu, logvar); linear when hidden = 0."""

    def __init__(self, data_dim, latent_dim, cond_dim=0, hidden=0):
        super().__init__()
        d = data_dim + cond_dim
        self.net = nn.Linear(d, 2 * latent_dim) if not hidden else nn.Sequential(
            nn.Linear(d, hidden), nn.SiLU(), nn.Linear(hidden, 2 * latent_dim))

    def forward(self, x, cond_emb=None):
        h = x if cond_emb is None else torch.cat([x, cond_emb], dim=1)
        return self.net(h).chunk(2, dim=1)


class MLPDecoder(nn.Module):
    """p(x | z, c): [z, cond_emb] -> Linear -> x."""

    def __init__(self, latent_dim, data_dim, cond_dim=0):
        super().__init__()
        self.net = nn.Linear(latent_dim + cond_dim, data_dim)

    def forward(self, z, cond_emb=None):
        return self.net(z if cond_emb is None else torch.cat([z, cond_emb], dim=1))


def train(vae, data, cond=None, steps=300, lr=3e-2, batch=256, seed=0):
    """Adam on random minibatches; returns the first and the last 20-step mean loss."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(vae.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        idx = torch.randint(len(data), (batch,), generator=gen)
        out = vae(data[idx], None if cond is None else cond[idx], generator=gen)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(out["loss"].item())
    return sum(losses[:20]) / 20, sum(losses[-20:]) / 20


# --- the objective ---------------------------------------------------------------------------


def test_gaussian_kl_matches_monte_carlo():
    gen = torch.Generator().manual_seed(0)
    mu = torch.tensor([[0.0, 1.5, -0.7], [2.0, 0.3, 0.0]], dtype=F64)
    logvar = torch.tensor([[0.0, -1.0, 0.8], [0.5, -2.0, 1.5]], dtype=F64)
    n = 200_000
    z = mu + (0.5 * logvar).exp() * torch.randn((n,) + mu.shape, generator=gen, dtype=F64)  # (n, B, Z)
    log_q = -0.5 * ((z - mu) ** 2 / logvar.exp() + logvar + math.log(2 * math.pi))
    log_p = -0.5 * (z**2 + math.log(2 * math.pi))
    terms = log_q - log_p
    mc, se = terms.mean(dim=0), terms.std(dim=0) / math.sqrt(n)
    exact = gaussian_kl(mu, logvar)
    assert exact.shape == (2, 3)
    assert torch.all((mc - exact).abs() < 5 * se + 1e-12)
    assert exact[0, 0] == 0.0  # mu = 0, sigma = 1


def test_gaussian_kl_is_zero_only_at_the_prior():
    grid = torch.arange(-20, 21, dtype=F64) / 10  # contains 0 exactly
    mu, logvar = torch.meshgrid(grid, grid, indexing="ij")
    kl = gaussian_kl(mu.reshape(-1, 1), logvar.reshape(-1, 1)).reshape(41, 41)
    at_prior = (mu == 0) & (logvar == 0)
    assert at_prior.sum() == 1 and kl[at_prior].item() == 0.0
    assert torch.all(kl[~at_prior] > 0)


def test_reparameterize_moments_gradients_and_per_sample_generators():
    mu = torch.tensor([[1.0, -2.0]], dtype=F64, requires_grad=True)
    logvar = torch.tensor([[math.log(0.25), math.log(4.0)]], dtype=F64, requires_grad=True)
    z = reparameterize(mu.expand(100_000, 2), logvar.expand(100_000, 2), torch.Generator().manual_seed(0))
    assert torch.allclose(z.mean(0), mu[0], atol=0.02) and torch.allclose(z.std(0), torch.tensor([0.5, 2.0], dtype=F64), atol=0.02)
    z.sum().backward()
    assert torch.allclose(mu.grad, torch.full((1, 2), 100_000.0, dtype=F64))  # dz/dmu = 1 per sample
    assert logvar.grad.abs().min() > 0
    gens = lambda seeds: [torch.Generator().manual_seed(s) for s in seeds]  # noqa: E731
    m, lv = torch.zeros(3, 4), torch.zeros(3, 4)
    assert torch.equal(reparameterize(m, lv, gens([7, 8, 9]))[1], reparameterize(m[:1], lv[:1], gens([8]))[0])


def test_free_bits_gradient_vanishes_only_below_lambda():
    kl = torch.tensor([[0.01, 0.5, 0.2, 2.0], [0.03, 0.7, 0.4, 1.0]], dtype=F64, requires_grad=True)  # batch means .02 .6 .3 1.5
    lam = 0.25
    value = free_bits_kl(kl, lam)
    assert value.item() == pytest.approx(0.25 + 0.6 + 0.3 + 1.5)
    value.backward()
    below = torch.tensor([True, False, False, False])
    assert torch.all(kl.grad[:, below] == 0)
    assert torch.allclose(kl.grad[:, ~below], torch.full((2, 3), 0.5, dtype=F64))  # d mean_b / d KL_bj = 1 / B
    assert free_bits_kl(kl, 0.0).item() == pytest.approx(kl.sum(1).mean().item())
    with pytest.raises(MatgenError, match="free bits must be >= 0"):
        free_bits_kl(kl, -0.1)


def test_kl_weight_linear_and_cyclical_schedules():
    assert [kl_weight(s, 2.0, 4) for s in (0, 1, 2, 4, 100)] == [0.0, 0.5, 1.0, 2.0, 2.0]
    assert kl_weight(0, 0.5, 0) == 0.5  # no warm-up
    # 2 cycles of 8 steps, ramp over the first half of each
    weights = [kl_weight(s, 1.0, 16, "cyclical", cycles=2, ratio=0.5) for s in range(18)]
    cycle = [0.0, 0.25, 0.5, 0.75, 1.0, 1.0, 1.0, 1.0]
    assert weights == pytest.approx(cycle + cycle + [1.0, 1.0])
    assert [kl_weight(s, 3.0, 10, "cyclical", cycles=1, ratio=1.0) for s in range(12)] == pytest.approx(
        [kl_weight(s, 3.0, 10) for s in range(12)])  # linear is one cycle with ratio 1
    with pytest.raises(MatgenError, match="choose from linear, cyclical"):
        kl_weight(0, 1.0, 10, "cosine")
    with pytest.raises(MatgenError, match="cycles >= 1"):
        kl_weight(0, 1.0, 10, "cyclical", cycles=0)


def test_reconstruction_losses_are_negative_log_likelihoods():
    gen = torch.Generator().manual_seed(0)
    x, x_mean = torch.randn(3, 2, 5, generator=gen, dtype=F64), torch.randn(3, 2, 5, generator=gen, dtype=F64)
    exact = -torch.distributions.Normal(x_mean, 0.3).log_prob(x).sum(dim=(1, 2))
    assert torch.allclose(gaussian_nll(x, x_mean, 0.3), exact)
    assert torch.allclose(mse(x, x_mean), gaussian_nll(x, x_mean, 1.0) - 10 * 0.5 * math.log(2 * math.pi))
    binary = (x > 0).to(F64)
    exact = -torch.distributions.Bernoulli(logits=x_mean).log_prob(binary).sum(dim=(1, 2))
    assert torch.allclose(bernoulli_nll(binary, x_mean), exact)


def test_vae_loss_is_recon_plus_beta_kl():
    gen = torch.Generator().manual_seed(1)
    x, x_recon = torch.rand(4, 6, generator=gen, dtype=F64), torch.randn(4, 6, generator=gen, dtype=F64)
    mu, logvar = torch.randn(4, 3, generator=gen, dtype=F64), torch.randn(4, 3, generator=gen, dtype=F64)
    out = vae_loss(x, x_recon, mu, logvar, beta=0.5, recon="bce")
    kl = gaussian_kl(mu, logvar)
    assert out["recon"].item() == pytest.approx(F.binary_cross_entropy_with_logits(x_recon, x, reduction="sum").item() / 4)
    assert out["kl"].item() == pytest.approx(kl.sum(1).mean().item())
    assert torch.allclose(out["kl_per_dim"], kl.mean(0))
    assert out["loss"].item() == pytest.approx(out["recon"].item() + 0.5 * out["kl"].item())
    clamped = vae_loss(x, x_recon, mu, logvar, beta=1.0, free_bits=10.0)
    assert clamped["loss"].item() == pytest.approx(clamped["recon"].item() + 30.0)
    with pytest.raises(MatgenError, match="choose from mse, bce"):
        vae_loss(x, x_recon, mu, logvar, recon="l1")


# --- diagnostics -----------------------------------------------------------------------------


def test_active_units_counts_the_varying_dimensions():
    gen = torch.Generator().manual_seed(0)
    mu = 0.003 * torch.randn(1000, 8, generator=gen) + torch.arange(8.0)  # constant offsets, tiny jitter
    varying = [1, 4, 6]
    mu[:, varying] += torch.randn(1000, 3, generator=gen) * torch.tensor([1.0, 0.3, 2.0])
    count, variance = active_units(mu)
    assert count == 3 and variance.shape == (8,)
    assert torch.equal(torch.nonzero(variance > 0.01).flatten(), torch.tensor(varying))
    assert active_units(mu, threshold=0.2)[0] == 2  # 0.3^2 = 0.09 falls below
    with pytest.raises(MatgenError, match="N >= 2"):
        active_units(mu[:1])


def test_posterior_collapse_warning_text():
    assert posterior_collapse_warning(1, 16) == (
        "posterior collapse: only 1 of 16 latent units is active (Cov_x E[z|x] > 0.01); "
        "lower beta, lengthen the KL warm-up or raise free bits")
    assert posterior_collapse_warning(3, 64).startswith("posterior collapse: only 3 of 64 latent units are active")
    assert posterior_collapse_warning(0, 4).startswith("posterior collapse: none of the 4 latent units is active")
    assert posterior_collapse_warning(2, 16) is None and posterior_collapse_warning(1, 4) is None


# --- interpolation ---------------------------------------------------------------------------


def test_slerp_endpoints_norm_and_orthogonal_midpoint():
    gen = torch.Generator().manual_seed(0)
    z0, z1 = F.normalize(torch.randn(2, 16, generator=gen, dtype=F64), dim=1)
    path = interpolate_latents(z0, z1, 9)
    assert path.shape == (9, 16)
    assert torch.allclose(path[0], z0) and torch.allclose(path[-1], z1)
    assert torch.allclose(path.norm(dim=1), torch.ones(9, dtype=F64))
    angles = torch.arccos((path[:-1] * path[1:]).sum(1).clamp(-1, 1))
    assert torch.allclose(angles, angles[0].expand(8))  # constant angular speed
    e1, e2 = torch.eye(2, dtype=F64)
    assert torch.allclose(interpolate_latents(e1, e2, 3)[1], torch.tensor([1.0, 1.0], dtype=F64) / math.sqrt(2))
    assert torch.allclose(interpolate_latents(e1, e2, 3, "linear")[1], torch.tensor([0.5, 0.5], dtype=F64))
    assert torch.allclose(interpolate_latents(e1, 2 * e1, 3)[1], 1.5 * e1)  # parallel: falls back to linear
    with pytest.raises(MatgenError, match="choose from slerp, linear"):
        interpolate_latents(e1, e2, 3, "cubic")
    with pytest.raises(MatgenError, match="steps >= 2"):
        interpolate_latents(e1, e2, 1)


# --- training and the wrapper ----------------------------------------------------------------


@pytest.mark.parametrize("singular_values,expected_active", [((3.0,), 1), ((3.0, 2.0), 2)])
def test_linear_vae_uses_one_unit_per_data_direction(singular_values, expected_active):
    """x = A s + 0.01 n in 4-D with s ~ N(0, I_k): covariance eigenvalues s_i^2 > 1 and 1e-4 < 1."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    k = len(singular_values)
    basis, _ = torch.linalg.qr(torch.randn(4, 4, generator=gen, dtype=F64))
    A = basis[:, :k] * torch.tensor(singular_values, dtype=F64)  # (4, k): correlated coordinates
    data = torch.randn(4096, k, generator=gen, dtype=F64) @ A.T + 0.01 * torch.randn(4096, 4, generator=gen, dtype=F64)
    vae = ConditionalVAE(MLPEncoder(4, 4), MLPDecoder(4, 4), latent_dim=4).to(F64)
    first, last = train(vae, data)
    assert last < first - 1.0
    with torch.no_grad():
        mu, _ = vae.encode(data)
        loss = vae(data, generator=torch.Generator().manual_seed(9))["loss"].item()
    count, variance = active_units(mu)
    assert count == expected_active, variance
    # the pPCA optimum of -log p(x) (less D/2 log 2 pi), C = W W^T + I with eigenvalues max(lambda_i, 1):
    # 1/2 [log det C + tr(C^-1 S)]; the linear VAE's ELBO is tight there (Lucas et al. 2019)
    lam = torch.linalg.eigvalsh(torch.cov(data.T))
    optimum = 0.5 * (lam.clamp(min=1).log().sum() + (lam / lam.clamp(min=1)).sum()).item()
    assert loss == pytest.approx(optimum, abs=0.1)
    # an active unit's E[z|x] has variance 1 - sigma^2 / lambda_i = 1 - 1 / s_i^2 (sigma = 1)
    expected = sorted(1 - 1 / s**2 for s in singular_values)
    assert sorted(variance[variance > 0.01].tolist()) == pytest.approx(expected, abs=0.2)
    assert posterior_collapse_warning(count, 4) is None


def test_conditional_decoding_follows_the_condition():
    """x = c w + s v: the condition explains the w direction, so one latent unit carries s and decode(0, c) = c w."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(2)
    w, v = torch.tensor([1.0, 1.0, 0.0], dtype=F64), torch.tensor([0.0, 1.0, -1.0], dtype=F64) * 2.0
    c = 4.0 * torch.rand(4096, 1, generator=gen, dtype=F64) - 2.0  # condition in [-2, 2]
    data = c * w + torch.randn(4096, 1, generator=gen, dtype=F64) * v + 0.01 * torch.randn(4096, 3, generator=gen, dtype=F64)
    spec = ConditionSpec.from_values("temperature_K", c[:, 0].numpy(), "K")
    vae = ConditionalVAE(MLPEncoder(3, 2, cond_dim=8), MLPDecoder(2, 3, cond_dim=8), ConditionEncoder([spec], 8),
                         latent_dim=2).to(F64)
    first, last = train(vae, data, c, steps=400)
    assert last < first
    targets = torch.tensor([[-1.5], [0.0], [1.5]], dtype=F64)
    with torch.no_grad():
        x = vae.decode(torch.zeros(3, 2, dtype=F64), targets)
        count, _ = active_units(vae.encode(data, c)[0])
    assert torch.allclose(x, targets * w, atol=0.25), x
    assert count == 1


def test_sample_prior_is_reproducible_per_seed_whatever_the_batch():
    torch.manual_seed(0)
    spec = ConditionSpec("porosity", mean=0.2, std=0.1)
    vae = ConditionalVAE(MLPEncoder(5, 3, cond_dim=4), MLPDecoder(3, 5, cond_dim=4), ConditionEncoder([spec], 4),
                         latent_dim=3)
    with torch.no_grad():
        batch = vae.sample_prior(4, [0.3], seeds=[10, 11, 12, 13])
        alone = vae.sample_prior(1, [0.3], seeds=[12])
        one_gen = vae.sample_prior(4, [0.3], generator=torch.Generator().manual_seed(5))
        again = vae.sample_prior(4, [0.3], generator=torch.Generator().manual_seed(5))
        unknown = vae.sample_prior(1, [float("nan")], seeds=[12])  # the condition's null token
    assert batch.shape == (4, 5) and torch.allclose(batch[2], alone[0], rtol=0, atol=1e-6)  # same z; matmul rounding may differ
    assert not torch.allclose(batch[1], batch[2])
    assert torch.equal(one_gen, again) and not torch.allclose(batch[2], unknown[0])
    with pytest.raises(MatgenError, match="one seed per sample"):
        vae.sample_prior(3, [0.3], seeds=[1, 2])
    with pytest.raises(MatgenError, match="this VAE is conditional"):
        vae.sample_prior(2)


def test_conv_vae_with_binary_likelihood_and_condition_dropout():
    torch.manual_seed(0)
    config = vae_preset("tiny", dims=1, signal_shape=(16,), channel_mults=(1, 2), latent_dim=4, cond_dim=8)
    spec = ConditionSpec("phase", "categorical", categories=("ferrite", "austenite"))
    vae = ConditionalVAE(ConvEncoder(config), ConvDecoder(config), ConditionEncoder([spec], 8), likelihood="bce")
    x = (torch.rand(3, 1, 16) > 0.5).float()
    cond = torch.tensor([[0.0], [1.0], [float("nan")]])
    out = vae(x, cond, drop=torch.tensor([[False], [True], [False]]), beta=0.1, free_bits=0.05)
    out["loss"].backward()
    assert out["mu"].shape == (3, 4) and out["kl_per_dim"].shape == (4,) and out["loss"].isfinite()
    recon = vae.reconstruct(x, cond)
    assert recon.shape == x.shape and torch.all((recon > 0) & (recon < 1))  # a probability per pixel
    unconditional = ConditionalVAE(ConvEncoder(vae_preset("tiny", dims=1, signal_shape=(16,), channel_mults=(1, 2))),
                                   ConvDecoder(vae_preset("tiny", dims=1, signal_shape=(16,), channel_mults=(1, 2))))
    assert unconditional.sample_prior(2, seeds=[0, 1]).shape == (2, 1, 16)
    with pytest.raises(MatgenError, match="this VAE is unconditional"):
        unconditional.encode(x, cond)
    with pytest.raises(MatgenError, match="choose from mse, bce"):
        ConditionalVAE(ConvEncoder(config), ConvDecoder(config), likelihood="gaussian")
