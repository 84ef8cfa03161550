"""Diffusion maths for every data rank: schedules, training objective, samplers, guidance.

One denoiser contract joins them (k-diffusion / EDM): ``D(x, sigma, cond) -> x0_hat`` in VE form,
x = x0 + sigma n. A VP network ``model_fn(x_t, t, cond)`` trained with :func:`diffusion_loss`
becomes a denoiser through :func:`vp_denoiser`; guidance wraps denoisers; a sampler turns
noise into samples::

    alpha_bar = get_schedule("cosine")                       # (T,)
    loss = diffusion_loss(net, x0, cond, alpha_bar, "v", min_snr_gamma=5.0)
    D = classifier_free_guidance(vp_denoiser(net, alpha_bar, "v"), w=2.0)
    sigmas = sampling_sigmas(alpha_bar, 30, "karras")
    gens = seeded_generators(range(seed, seed + B))        # matgen.common.seeding: sample i uses seed + i
    x = sigmas[0] * per_sample_noise((B, C, L), gens)
    x0 = get_sampler("dpmpp-2m")(D, x, sigmas, cond)

The code is ours rather than diffusers' schedulers: a sampler here is one pure function of the
paper's update, with no state kept between calls (see samplers.py for the full rationale).
"""

from matgen.generative.inpaint import repaint, repaint_schedule
from matgen.generative.guidance import classifier_free_guidance, constraint_guidance, regressor_guidance
from matgen.generative.objectives import (
    PREDICTIONS,
    diffusion_loss,
    loss_weight,
    prediction_target,
    q_sample,
    snr,
    to_x0_eps,
)
from matgen.generative.samplers import (
    SAMPLERS,
    get_sampler,
    per_sample_noise,
    sample_ddim,
    sample_ddpm,
    sample_dpmpp_2m,
    sample_heun,
    vp_denoiser,
)
from matgen.generative.schedules import (
    SCHEDULES,
    alpha_bar_from_sigma,
    cosine_alpha_bar,
    get_schedule,
    karras_sigmas,
    linear_alpha_bar,
    sampling_sigmas,
    sigma_from_alpha_bar,
    sigma_to_t,
    t_to_sigma,
)

__all__ = [
    "PREDICTIONS",
    "SAMPLERS",
    "SCHEDULES",
    "alpha_bar_from_sigma",
    "classifier_free_guidance",
    "constraint_guidance",
    "cosine_alpha_bar",
    "diffusion_loss",
    "get_sampler",
    "get_schedule",
    "karras_sigmas",
    "linear_alpha_bar",
    "loss_weight",
    "per_sample_noise",
    "prediction_target",
    "q_sample",
    "regressor_guidance",
    "repaint",
    "repaint_schedule",
    "sample_ddim",
    "sample_ddpm",
    "sample_dpmpp_2m",
    "sample_heun",
    "sampling_sigmas",
    "sigma_from_alpha_bar",
    "sigma_to_t",
    "snr",
    "t_to_sigma",
    "to_x0_eps",
    "vp_denoiser",
]
