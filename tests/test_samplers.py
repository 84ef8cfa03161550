"""Samplers and guidance against closed forms for Gaussian data.

For x0 ~ N(mu, s^2) (per dimension) the ideal denoiser is D(x, sigma) = mu + s^2 / (s^2 + sigma^2) (x - mu),
and the probability-flow ODE dx/dsigma = (x - D) / sigma has the exact solution
x(sigma) = mu + (x(sigma_max) - mu) sqrt(s^2 + sigma^2) / sqrt(s^2 + sigma_max^2). So a sampler's
output distribution, its error along each path and its order of accuracy can all be asserted.
"""

import math

import pytest
import torch

from matgen.common.seeding import seeded_generators
from matgen.errors import MatgenError
from matgen.generative import (
    PREDICTIONS,
    SAMPLERS,
    alpha_bar_from_sigma,
    classifier_free_guidance,
    cosine_alpha_bar,
    get_sampler,
    linear_alpha_bar,
    karras_sigmas,
    per_sample_noise,
    prediction_target,
    regressor_guidance,
    sample_ddim,
    sample_ddpm,
    sample_dpmpp_2m,
    sample_heun,
    sampling_sigmas,
    sigma_from_alpha_bar,
    t_to_sigma,
    vp_denoiser,
)
from matgen.generative.objectives import append_dims

F64 = torch.float64
MU = torch.tensor([1.0, -2.0], dtype=F64)  # per-dimension data mean
S = torch.tensor([0.5, 2.0], dtype=F64)  # per-dimension data std
SIGMA_MAX = 80.0


def gaussian_denoiser(mu, s):
    """The ideal denoiser E[x0 | x] of x0 ~ N(mu, s^2), x = x0 + sigma n."""

    def denoiser(x, sigma, cond=None):
        return mu + s**2 / (s**2 + append_dims(sigma, x.ndim) ** 2) * (x - mu)

    return denoiser


def ode_solution(x_max, mu, s, sigma=0.0, sigma_max=SIGMA_MAX):
    """Exact probability-flow ODE solution at sigma from x(sigma_max) = x_max."""
    return mu + (x_max - mu) * ((s**2 + sigma**2) / (s**2 + sigma_max**2)) ** 0.5


pytestmark = pytest.mark.usefixtures("one_thread")  # small tensors: one thread (tests/conftest.py)


def start(n, dims=2, seed=0):
    return SIGMA_MAX * torch.randn(n, dims, generator=torch.Generator().manual_seed(seed), dtype=F64)


def run(name, denoiser, x, sigmas, cond=None, seed=1, **kwargs):
    kwargs["generator"] = torch.Generator().manual_seed(seed)  # every sampler takes one; deterministic ones ignore it
    if name == "ddim-eta1":
        return sample_ddim(denoiser, x, sigmas, cond, eta=1.0, **kwargs)
    return SAMPLERS[name](denoiser, x, sigmas, cond, **kwargs)


# ---------------------------------------------------------------- distribution of the samples

# sampler -> (steps, allowed relative variance error from discretisation). DDPM, DDIM are first
# order (at 1000 and 500 Karras steps their variance is ~1.2% low); Heun, DPM++(2M) second order.
MOMENT_CASES = {
    "ddpm": (1000, 0.02),
    "ddim-eta1": (1000, 0.02),
    "ddim": (500, 0.02),
    "dpmpp-2m": (50, 0.01),
    "heun": (50, 0.01),
}


@pytest.mark.parametrize("name", list(MOMENT_CASES))
def test_samples_have_the_data_mean_and_variance(name):
    steps, allowance = MOMENT_CASES[name]
    n = 25_000
    x = run(name, gaussian_denoiser(MU, S), start(n), karras_sigmas(steps, 0.002, SIGMA_MAX))
    # starting from N(0, sigma_max^2) instead of N(mu, s^2 + sigma_max^2) biases the mean by up to mu s / sigma_max
    mean_tol = 4 * S / math.sqrt(n) + MU.abs() * S / SIGMA_MAX
    var_tol = S**2 * (4 * math.sqrt(2 / n) + allowance)
    assert ((x.mean(0) - MU).abs() < mean_tol).all(), (x.mean(0), MU)
    assert ((x.var(0) - S**2).abs() < var_tol).all(), (x.var(0), S**2)


@pytest.mark.parametrize("name", ["heun", "dpmpp-2m"])
def test_second_order_samplers_follow_the_exact_ode_within_one_percent_at_50_steps(name):
    x_max = start(256)
    x = run(name, gaussian_denoiser(MU, S), x_max, karras_sigmas(50, 0.002, SIGMA_MAX))
    exact = ode_solution(x_max, MU, S)
    assert ((x - exact).abs().amax(0) < 0.01 * (exact - MU).abs().amax(0)).all()


def ode_errors(name, steps_list):
    x_max = start(64)
    exact = ode_solution(x_max, MU, S)
    errors = []
    for steps in steps_list:
        x = run(name, gaussian_denoiser(MU, S), x_max, karras_sigmas(steps, 0.002, SIGMA_MAX))
        errors.append((x - exact).abs().max().item())
    return errors


@pytest.mark.parametrize("name, order", [("ddim", 1), ("heun", 2), ("dpmpp-2m", 2)])
def test_order_of_accuracy(name, order):
    """Doubling the steps divides the ODE error by ~2 (DDIM = Euler) or ~4 (Heun, DPM-Solver++(2M))."""
    errors = ode_errors(name, [25, 50, 100])
    observed = [math.log2(errors[i] / errors[i + 1]) for i in range(2)]
    assert all(abs(p - order) < 0.25 * order for p in observed), (errors, observed)


def test_ddpm_is_ddim_with_eta_one():
    denoiser, sigmas = gaussian_denoiser(MU, S), karras_sigmas(30, 0.002, SIGMA_MAX)
    x = start(16)
    a = sample_ddpm(denoiser, x, sigmas, generator=seeded_generators(range(16)))
    b = sample_ddim(denoiser, x, sigmas, eta=1.0, generator=seeded_generators(range(16)))
    torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    c = sample_ddim(denoiser, x, sigmas, eta=0.0, generator=seeded_generators(range(16)))
    assert not torch.allclose(a, c)


# ---------------------------------------------------------------- contract: seeds, callbacks, shapes, registry


@pytest.mark.parametrize("name", ["ddpm", "ddim"])
def test_sample_i_is_reproducible_whatever_the_batch_size(name):
    denoiser, sigmas = gaussian_denoiser(MU, S), karras_sigmas(20, 0.002, SIGMA_MAX)
    kwargs = {"eta": 0.5} if name == "ddim" else {}

    def generate(seeds):
        gens = seeded_generators(seeds)
        x = SIGMA_MAX * per_sample_noise((len(seeds), 2), gens, dtype=F64)
        return SAMPLERS[name](denoiser, x, sigmas, generator=gens, **kwargs)

    batch = generate(range(100, 106))
    assert torch.equal(generate(range(103, 106)), batch[3:])
    assert torch.equal(generate([101]), batch[1:2])


def test_per_sample_noise_needs_one_generator_per_sample():
    with pytest.raises(MatgenError, match="got 2 generators for a batch of 3 samples"):
        per_sample_noise((3, 4), seeded_generators([1, 2]))


@pytest.mark.parametrize("name, calls", [("ddpm", 5), ("ddim", 5), ("dpmpp-2m", 5), ("heun", 9)])
def test_callback_and_denoiser_calls(name, calls):
    seen, progress = [], []

    def counting(x, sigma, cond):
        seen.append(sigma[0].item())
        return gaussian_denoiser(MU, S)(x, sigma)

    run(name, counting, start(4), karras_sigmas(5, 0.002, SIGMA_MAX), callback=lambda i, n: progress.append((i, n)))
    assert len(seen) == calls and progress == [(i, 5) for i in range(5)]


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_samplers_keep_any_data_rank_and_dtype(name):
    x_max = SIGMA_MAX * torch.randn(3, 2, 5, generator=torch.Generator().manual_seed(0))  # (B, C, L) float32
    mu, s = torch.tensor(0.3), torch.tensor(0.7)
    x = run(name, gaussian_denoiser(mu, s), x_max, karras_sigmas(50, 0.002, SIGMA_MAX))
    assert x.shape == (3, 2, 5) and x.dtype == torch.float32
    if name in ("heun", "dpmpp-2m"):
        assert (x - ode_solution(x_max, mu, s)).abs().max() < 0.01


def test_get_sampler_names_the_valid_choices():
    assert get_sampler("heun") is sample_heun and get_sampler("dpmpp-2m") is sample_dpmpp_2m
    with pytest.raises(MatgenError, match="unknown sampler 'heunn'; choose from ddim, ddpm, dpmpp-2m, heun"):
        get_sampler("heunn")


# ---------------------------------------------------------------- VP networks


def exact_vp_model(alpha_bar, prediction, mu, s, quantize=False):
    """The ideal VP network model_fn(x_t, t, cond) for x0 ~ N(mu, s^2), at real-valued t."""

    def model_fn(x_t, t, cond):
        if quantize:
            assert torch.equal(t, t.round())
            a = alpha_bar[t.long()]
        else:
            a = alpha_bar_from_sigma(t_to_sigma(t, alpha_bar))
        a = append_dims(a, x_t.ndim)
        x0 = mu + a.sqrt() * s**2 / (a * s**2 + 1 - a) * (x_t - a.sqrt() * mu)  # E[x0 | x_t]
        eps = (x_t - a.sqrt() * x0) / (1 - a).sqrt()  # E[eps | x_t]
        return prediction_target(x0, eps, a.flatten(), prediction)

    return model_fn


@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_vp_denoiser_of_the_exact_network_is_the_ideal_denoiser(prediction):
    alpha_bar = cosine_alpha_bar(1000)
    sigma = torch.tensor([0.01, 0.1, 0.37, 1.0, 4.2, 60.0, 900.0], dtype=F64)
    x = sigma[:, None] * torch.randn(7, 2, generator=torch.Generator().manual_seed(0), dtype=F64) + MU
    denoiser = vp_denoiser(exact_vp_model(alpha_bar, prediction, MU, S), alpha_bar, prediction)
    torch.testing.assert_close(denoiser(x, sigma, None), gaussian_denoiser(MU, S)(x, sigma), rtol=1e-9, atol=1e-9)


def test_vp_denoiser_quantized_on_table_sigmas():
    alpha_bar = cosine_alpha_bar(1000)
    sigma = sigma_from_alpha_bar(alpha_bar)[[3, 500, 999]]
    x = torch.ones(3, 2, dtype=F64)
    denoiser = vp_denoiser(exact_vp_model(alpha_bar, "v", MU, S, quantize=True), alpha_bar, "v", quantize=True)
    torch.testing.assert_close(denoiser(x, sigma, None), gaussian_denoiser(MU, S)(x, sigma), rtol=1e-9, atol=1e-9)


def test_sampling_a_vp_network_end_to_end():
    alpha_bar = linear_alpha_bar(1000)
    sigmas = sampling_sigmas(alpha_bar, 50, "karras")
    x_max = sigmas[0] * torch.randn(64, 2, generator=torch.Generator().manual_seed(0), dtype=F64)
    network = vp_denoiser(exact_vp_model(alpha_bar, "v", MU, S), alpha_bar, "v")
    x = sample_dpmpp_2m(network, x_max, sigmas)
    torch.testing.assert_close(x, sample_dpmpp_2m(gaussian_denoiser(MU, S), x_max, sigmas), rtol=0, atol=1e-9)
    exact = ode_solution(x_max, MU, S, sigma_max=sigmas[0])
    assert (x - exact).abs().max() < 0.01 * (exact - MU).abs().max()


def test_unknown_prediction_is_rejected_when_wrapping():
    with pytest.raises(MatgenError, match="choose from eps, x0, v"):
        vp_denoiser(lambda x, t, c: x, cosine_alpha_bar(10), "epsilon")


# ---------------------------------------------------------------- classifier-free guidance

M, SC = 2.0, 0.5  # two classes N(+-M, SC^2); cond = +1 / -1, NaN = unconditional


def class_denoiser(uncond="mixture"):
    """Conditional ideal denoiser; the unconditional one is the mixture's, or N(0, SC^2)'s."""

    def denoiser(x, sigma, cond):
        sigma2 = append_dims(sigma, x.ndim) ** 2
        k = SC**2 / (SC**2 + sigma2)
        mu = torch.where(cond > 0, M, -M)
        if uncond == "mixture":  # posterior-weighted average of the two class denoisers
            log_odds = ((x + M) ** 2 - (x - M) ** 2) / (2 * (SC**2 + sigma2))
            p_plus = torch.sigmoid(log_odds)
            d_uncond = p_plus * (M + k * (x - M)) + (1 - p_plus) * (-M + k * (x + M))
        else:
            d_uncond = k * x
        return torch.where(torch.isnan(cond), d_uncond, mu + k * (x - mu))

    return denoiser


def test_cfg_with_zero_weight_is_the_conditional_denoiser_in_one_batched_call():
    calls = []

    def recording(x, sigma, cond):
        calls.append(x.shape[0])
        return class_denoiser()(x, sigma, cond)

    x, sigma = torch.linspace(-3, 3, 6, dtype=F64)[:, None], torch.full((6,), 0.8, dtype=F64)
    cond = torch.tensor([[1.0], [-1.0], [1.0], [1.0], [-1.0], [1.0]], dtype=F64)
    guided = classifier_free_guidance(recording, 0.0)(x, sigma, cond)
    assert calls == [12]
    torch.testing.assert_close(guided, class_denoiser()(x, sigma, cond), rtol=0, atol=0)


@pytest.mark.parametrize("w", [0.5, 2.0])
def test_cfg_moves_the_mean_by_the_one_plus_w_rule(w):
    """With Gaussian conditional N(M, SC^2) and unconditional N(0, SC^2), guidance samples N((1 + w) M, SC^2)."""
    guided = classifier_free_guidance(class_denoiser(uncond="gaussian"), w)
    sigma = torch.tensor([0.01, 0.5, 3.0, 80.0], dtype=F64)
    x, cond = torch.linspace(-2, 2, 4, dtype=F64)[:, None], torch.ones(4, 1, dtype=F64)
    mu_w = (1 + w) * M  # = mu_uncond + (1 + w)(mu_cond - mu_uncond)
    torch.testing.assert_close(guided(x, sigma, cond), gaussian_denoiser(mu_w, SC)(x, sigma), rtol=1e-12, atol=1e-12)
    x_max = start(512, dims=1)
    x = sample_heun(guided, x_max, karras_sigmas(50, 0.002, SIGMA_MAX), torch.ones(512, 1, dtype=F64))
    exact = ode_solution(x_max, mu_w, SC)
    assert (x - exact).abs().max() < 0.01 * (exact - mu_w).abs().max()


def test_cfg_on_a_two_gaussian_mixture_pushes_away_from_the_unconditional_mean():
    x_max, sigmas = start(4000, dims=1), karras_sigmas(30, 0.002, SIGMA_MAX)
    cond = torch.ones(4000, 1, dtype=F64)
    guided = [classifier_free_guidance(class_denoiser(), w) for w in (0, 1, 3)]
    means = [sample_heun(denoiser, x_max, sigmas, cond).mean().item() for denoiser in guided]
    unconditional = sample_heun(class_denoiser(), x_max, sigmas, torch.full_like(cond, float("nan"))).mean().item()
    assert abs(unconditional) < 0.1  # symmetric mixture
    assert means[0] == pytest.approx(M, abs=4 * SC / math.sqrt(4000) + M * SC / SIGMA_MAX)
    assert M < means[1] < means[2]  # further from 0 than the class mean, more with w


# ---------------------------------------------------------------- regressor guidance

MU0, S0, SY, Y_STAR = 0.5, 1.0, 0.5, 2.5  # x0 ~ N(MU0, S0^2), property y = x0 + SY n, target y*


def exact_regressor_guidance(scale=1.0):
    """Predictor E[y | x] = D(x, sigma) with the exact width Var[y | x] = SY^2 + Var[x0 | x]."""
    denoiser = gaussian_denoiser(MU0, S0)
    width = lambda sigma: (SY**2 + S0**2 * sigma**2 / (S0**2 + sigma**2)).sqrt()  # noqa: E731
    return regressor_guidance(denoiser, lambda x, sigma: denoiser(x, sigma), torch.tensor([Y_STAR]), scale, width)


def test_regressor_guidance_samples_the_exact_posterior():
    """x0 | y* ~ N(MU0 + S0^2 / (S0^2 + SY^2)(y* - MU0), S0^2 SY^2 / (S0^2 + SY^2)); the guided D is its ideal one."""
    mu_post = MU0 + S0**2 / (S0**2 + SY**2) * (Y_STAR - MU0)  # 2.1
    s_post = math.sqrt(S0**2 * SY**2 / (S0**2 + SY**2))
    guided = exact_regressor_guidance()
    sigma = torch.tensor([0.002, 0.3, 1.0, 10.0, 80.0], dtype=F64)
    x = torch.linspace(-3, 3, 5, dtype=F64)[:, None]
    expected = gaussian_denoiser(mu_post, s_post)(x, sigma)
    torch.testing.assert_close(guided(x, sigma, None), expected, rtol=1e-12, atol=1e-12)

    n = 20_000
    x_max = start(n, dims=1)
    with torch.inference_mode():  # guidance computes its gradient even when sampling runs without autograd
        x = sample_heun(guided, x_max, karras_sigmas(50, 0.002, SIGMA_MAX))
    exact = ode_solution(x_max, mu_post, s_post)
    assert (x - exact).abs().max() < 0.01 * (exact - mu_post).abs().max()
    assert x.mean().item() == pytest.approx(mu_post, abs=4 * s_post / math.sqrt(n) + mu_post * s_post / SIGMA_MAX)
    assert x.var().item() == pytest.approx(s_post**2, rel=4 * math.sqrt(2 / n) + 0.01)


def test_regressor_guidance_skips_nan_targets_and_zero_scale():
    denoiser = gaussian_denoiser(MU, S)
    predictor = lambda x, sigma: denoiser(x, sigma)  # noqa: E731  (B, 2): one property per dimension
    x = torch.randn(5, 2, generator=torch.Generator().manual_seed(0), dtype=F64)
    sigma = torch.full((5,), 0.7, dtype=F64)
    guided = regressor_guidance(denoiser, predictor, torch.tensor([3.0, float("nan")], dtype=F64), scale=2.0, std=0.5)
    out, plain = guided(x, sigma, None), denoiser(x, sigma)
    assert torch.equal(out[:, 1], plain[:, 1]) and (out[:, 0] - plain[:, 0]).abs().min() > 1e-3
    assert ((out[:, 0] - plain[:, 0]) * (3.0 - plain[:, 0]) > 0).all()  # pulled toward the target
    unguided = regressor_guidance(denoiser, predictor, torch.tensor([3.0, 1.0], dtype=F64), scale=0.0)
    assert torch.equal(unguided(x, sigma, None), plain)
