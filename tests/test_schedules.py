"""Noise schedules and the training objective against published values and closed forms."""

import math

import pytest
import torch

from matgen.errors import MatgenError
from matgen.generative import (
    PREDICTIONS,
    alpha_bar_from_sigma,
    cosine_alpha_bar,
    diffusion_loss,
    get_schedule,
    karras_sigmas,
    linear_alpha_bar,
    loss_weight,
    prediction_target,
    q_sample,
    sampling_sigmas,
    sigma_from_alpha_bar,
    sigma_to_t,
    snr,
    t_to_sigma,
    to_x0_eps,
)


pytestmark = pytest.mark.usefixtures("one_thread")  # small tensors: one thread (tests/conftest.py)


# ---------------------------------------------------------------- schedules


def test_linear_schedule_has_the_published_endpoints():
    alpha_bar = linear_alpha_bar(1000)
    assert alpha_bar.dtype == torch.float64 and alpha_bar.shape == (1000,)
    assert alpha_bar[0].item() == pytest.approx(1 - 1e-4, rel=1e-12)
    assert alpha_bar[-1].item() == pytest.approx(4.036e-5, rel=1e-3)  # Ho et al. 2020: alpha_bar_T ~ 4e-5
    assert (alpha_bar.diff() < 0).all()


def test_cosine_schedule_follows_eq_17_and_clips_beta():
    T, s = 1000, 0.008
    alpha_bar = cosine_alpha_bar(T, s)
    f = lambda t: math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
    assert 1 - 1e-4 < alpha_bar[0].item() < 1
    assert (alpha_bar.diff() < 0).all()
    for t in (1, 250, 500, 900):  # unclipped steps: alpha_bar_t = f(t) / f(0), t = index + 1
        assert alpha_bar[t - 1].item() == pytest.approx(f(t) / f(0), rel=1e-10)
    betas = 1 - alpha_bar[1:] / alpha_bar[:-1]
    assert betas.max().item() == pytest.approx(0.999, rel=1e-9)  # the last step is clipped
    assert alpha_bar[499] > linear_alpha_bar(T)[499]  # keeps signal longer (Nichol & Dhariwal 2021)


def test_get_schedule_names_the_valid_choices():
    torch.testing.assert_close(get_schedule("linear", 10), linear_alpha_bar(10))
    with pytest.raises(MatgenError, match="unknown noise schedule 'cosin'; choose from cosine, linear"):
        get_schedule("cosin")


def test_sigma_and_alpha_bar_are_inverse():
    alpha_bar = cosine_alpha_bar(1000)
    sigma = sigma_from_alpha_bar(alpha_bar)
    torch.testing.assert_close(sigma**2, (1 - alpha_bar) / alpha_bar)
    torch.testing.assert_close(alpha_bar_from_sigma(sigma), alpha_bar, rtol=1e-12, atol=0)
    torch.testing.assert_close(snr(alpha_bar), 1 / sigma**2, rtol=1e-12, atol=0)


@pytest.mark.parametrize("spacing", ["trailing", "leading", "karras"])
@pytest.mark.parametrize("steps", [1, 10, 50, 1000])
def test_sampling_sigmas_decrease_to_zero(spacing, steps):
    sigmas = sampling_sigmas(linear_alpha_bar(1000), steps, spacing)
    assert sigmas.shape == (steps + 1,) and sigmas.dtype == torch.float64
    assert sigmas[-1] == 0 and (sigmas.diff() < 0).all()


def test_sampling_sigmas_hit_the_right_timesteps():
    alpha_bar = linear_alpha_bar(1000)
    table = sigma_from_alpha_bar(alpha_bar)
    trailing = sampling_sigmas(alpha_bar, 10, "trailing")
    torch.testing.assert_close(trailing[:-1], table[torch.arange(999, 0, -100)])  # 999, 899, ..., 99
    leading = sampling_sigmas(alpha_bar, 10, "leading")
    torch.testing.assert_close(leading[:-1], table[torch.arange(900, -1, -100)])  # 900, 800, ..., 0
    karras = sampling_sigmas(alpha_bar, 10, "karras", rho=7.0)
    assert karras[0].item() == pytest.approx(table[-1].item(), rel=1e-12)
    assert karras[-2].item() == pytest.approx(table[0].item(), rel=1e-12)
    i = 4  # Karras et al. 2022, eq. 5
    expected = (table[-1] ** (1 / 7) + i / 9 * (table[0] ** (1 / 7) - table[-1] ** (1 / 7))) ** 7
    assert karras[i].item() == pytest.approx(expected.item(), rel=1e-12)


def test_sampling_sigmas_reject_bad_input():
    with pytest.raises(MatgenError, match="unknown sigma spacing 'linspace'; choose from trailing, leading, karras"):
        sampling_sigmas(linear_alpha_bar(100), 10, "linspace")
    with pytest.raises(MatgenError, match="steps must be between 1 and the 100 training steps"):
        sampling_sigmas(linear_alpha_bar(100), 101)


def test_karras_sigmas_endpoints():
    sigmas = karras_sigmas(18, 0.002, 80.0)
    assert sigmas[0].item() == pytest.approx(80.0) and sigmas[-2].item() == pytest.approx(0.002) and sigmas[-1] == 0


def test_continuous_timestep_interpolates_log_sigma():
    alpha_bar = cosine_alpha_bar(1000)
    table = sigma_from_alpha_bar(alpha_bar)
    t = torch.tensor([0, 1, 17, 500, 998, 999])
    torch.testing.assert_close(sigma_to_t(table[t], alpha_bar), t.double(), rtol=0, atol=1e-9)
    torch.testing.assert_close(t_to_sigma(t, alpha_bar), table[t], rtol=1e-12, atol=0)
    t_real = torch.rand(200, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 999
    torch.testing.assert_close(sigma_to_t(t_to_sigma(t_real, alpha_bar), alpha_bar), t_real, rtol=0, atol=1e-9)
    mid = t_to_sigma(torch.tensor([17.5], dtype=torch.float64), alpha_bar)  # geometric mean of the neighbours
    assert mid.item() == pytest.approx(math.sqrt(table[17].item() * table[18].item()), rel=1e-12)
    outside = sigma_to_t(torch.tensor([0.0, 1e-9, 1e9]), alpha_bar)
    torch.testing.assert_close(outside, torch.tensor([0.0, 0.0, 999.0]), rtol=0, atol=0)


# ---------------------------------------------------------------- objectives


@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_prediction_types_round_trip(prediction):
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(6, 3, 4, generator=g, dtype=torch.float64)
    eps = torch.randn(6, 3, 4, generator=g, dtype=torch.float64)
    alpha_bar_t = torch.tensor([0.9999, 0.99, 0.7, 0.3, 0.01, 4e-5], dtype=torch.float64)
    x_t = q_sample(x0, alpha_bar_t, eps)
    output = prediction_target(x0, eps, alpha_bar_t, prediction)
    x0_back, eps_back = to_x0_eps(output, x_t, alpha_bar_t, prediction)
    torch.testing.assert_close(x0_back, x0, rtol=0, atol=1e-9)
    torch.testing.assert_close(eps_back, eps, rtol=0, atol=1e-9)


def test_v_is_the_velocity_of_salimans_and_ho():
    phi = torch.tensor([0.3, 1.1], dtype=torch.float64)  # alpha = cos(phi), sigma = sin(phi)
    x0, eps = torch.tensor([[1.5], [-0.5]], dtype=torch.float64), torch.tensor([[0.2], [2.0]], dtype=torch.float64)
    v = prediction_target(x0, eps, torch.cos(phi) ** 2, "v")
    torch.testing.assert_close(v, torch.cos(phi)[:, None] * eps - torch.sin(phi)[:, None] * x0)  # d x_phi / d phi


def test_unknown_prediction_names_the_valid_choices():
    with pytest.raises(MatgenError, match="unknown prediction type 'score'; choose from eps, x0, v"):
        to_x0_eps(torch.zeros(1), torch.zeros(1), torch.ones(1) / 2, "score")


def test_min_snr_weights_equal_the_formulas():
    alpha_bar_t = torch.tensor([0.999, 0.9, 0.5, 0.1, 1e-3], dtype=torch.float64)
    ratio, gamma = alpha_bar_t / (1 - alpha_bar_t), 5.0
    clipped = torch.minimum(ratio, torch.tensor(gamma, dtype=torch.float64))
    torch.testing.assert_close(loss_weight(alpha_bar_t, "eps", gamma), clipped / ratio)
    torch.testing.assert_close(loss_weight(alpha_bar_t, "x0", gamma), clipped)
    torch.testing.assert_close(loss_weight(alpha_bar_t, "v", gamma), clipped / (ratio + 1))
    torch.testing.assert_close(loss_weight(alpha_bar_t, "v"), torch.ones_like(alpha_bar_t))
    assert loss_weight(alpha_bar_t, "eps", gamma)[-1] == 1  # low SNR: plain eps-loss


def test_min_snr_weights_give_the_same_loss_in_every_parameterisation():
    """At fixed x_t an x0 error d implies eps and v errors; weighted, all three losses agree."""
    alpha_bar_t = torch.tensor([0.999, 0.8, 0.2, 1e-3], dtype=torch.float64)
    x_t = torch.tensor([[0.3], [-1.0], [2.0], [0.5]], dtype=torch.float64)
    x0, x0_wrong = torch.zeros(4, 1, dtype=torch.float64), torch.full((4, 1), 0.1, dtype=torch.float64)
    losses = []
    for prediction in PREDICTIONS:
        outputs = []
        for guess in (x0, x0_wrong):
            eps = (x_t - alpha_bar_t[:, None].sqrt() * guess) / (1 - alpha_bar_t[:, None]).sqrt()
            outputs.append(prediction_target(guess, eps, alpha_bar_t, prediction))
        error = ((outputs[0] - outputs[1]) ** 2)[:, 0]
        losses.append(loss_weight(alpha_bar_t, prediction, 5.0) * error)
    torch.testing.assert_close(losses[0], losses[1])
    torch.testing.assert_close(losses[2], losses[1])


@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_diffusion_loss_of_the_ideal_model_is_the_posterior_variance(prediction):
    """For x0 ~ N(mu, s^2) the best model's loss at t is Var[target | x_t], known in closed form."""
    mu, s, T = 0.7, 0.5, 100
    alpha_bar = cosine_alpha_bar(T)

    def ideal(x_t, t, cond):  # E[target | x_t] for Gaussian data
        a = alpha_bar[t][:, None]
        x0 = mu + a.sqrt() * s**2 / (a * s**2 + 1 - a) * (x_t - a.sqrt() * mu)
        eps = (x_t - a.sqrt() * x0) / (1 - a).sqrt()
        return prediction_target(x0, eps, alpha_bar[t], prediction)

    g = torch.Generator().manual_seed(0)
    x0 = mu + s * torch.randn(100_000, 1, generator=g, dtype=torch.float64)
    var_x0 = s**2 * (1 - alpha_bar) / (alpha_bar * s**2 + 1 - alpha_bar)  # Var[x0 | x_t], (T,)
    per_t = {"eps": snr(alpha_bar), "x0": torch.ones_like(alpha_bar), "v": 1 / (1 - alpha_bar)}[prediction] * var_x0
    for gamma in (None, 5.0):
        loss = diffusion_loss(ideal, x0, None, alpha_bar, prediction, gamma, generator=g)
        expected = (loss_weight(alpha_bar, prediction, gamma) * per_t).mean()
        assert loss.item() == pytest.approx(expected.item(), rel=0.03)


def test_diffusion_loss_is_reproducible_and_differentiable():
    alpha_bar = linear_alpha_bar(50)
    weight = torch.tensor(0.5, requires_grad=True)
    model = lambda x_t, t, cond: weight * x_t + cond  # noqa: E731
    x0, cond = torch.ones(8, 2, 3), torch.zeros(8, 1, 1)
    first = diffusion_loss(model, x0, cond, alpha_bar, "v", 5.0, torch.Generator().manual_seed(3))
    again = diffusion_loss(model, x0, cond, alpha_bar, "v", 5.0, torch.Generator().manual_seed(3))
    assert first.shape == () and first.item() == again.item()
    first.backward()
    assert weight.grad is not None and weight.grad != 0
