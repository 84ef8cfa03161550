"""Flow matching and rectified flow: closed forms for Gaussian data, the guided velocity, reflow, the flow kind end to end."""

import copy
import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn
from typer.testing import CliRunner

from matgen.cli.main import app
from matgen.common.seeding import seeded_generators
from matgen.data import read, write
from matgen.errors import MatgenError
from matgen.generative import per_sample_noise
from matgen.generative.flow import (
    FLOW_SAMPLERS, T_MAX, flow_denoiser, flow_loss, flow_path, flow_sigmas, sample_flow_euler, sample_flow_heun,
    straightness,
)
from matgen.generative.flow import _velocity
from matgen.runs import load_run
from matgen.sample import sample
from matgen.train import TrainConfig, resume, train
from matgen.train.reflow import PAIRS, reflow

from test_train import TINY, assert_one_line_error, toy_dataset

pytestmark = pytest.mark.usefixtures("one_thread")

runner = CliRunner()
MU, S = 1.5, 0.5  # the Gaussian data N(MU, S^2)


def gaussian_denoiser(x, sigma, cond=None):
    """The exact VE denoiser E[x0 | x0 + sigma n = x] of N(MU, S^2) data."""
    w = (S**2 / (S**2 + sigma**2)).to(x.dtype)
    return MU + w[:, None] * (x - MU)


def exact_endpoint(z: torch.Tensor) -> torch.Tensor:
    """The probability-flow map from x_t = z at t = T_MAX to t = 0: the standardised value is kept along the path."""
    total = ((1 - T_MAX) ** 2 * S**2 + T_MAX**2) ** 0.5
    return MU + S / total * (z - (1 - T_MAX) * MU)


def solve(name: str, z: torch.Tensor, steps: int) -> torch.Tensor:
    sigmas = flow_sigmas(steps)
    return FLOW_SAMPLERS[name](gaussian_denoiser, z * (1 + sigmas[0].item()), sigmas)


def test_the_path_and_its_ve_form_agree():
    x0, eps, t = torch.randn(4, 3), torch.randn(4, 3), torch.tensor([0.0, 0.25, 0.5, 0.9])
    x_t = flow_path(x0, eps, t)
    assert torch.allclose(x_t[0], x0[0]) and torch.allclose(x_t[2], (x0[2] + eps[2]) / 2)
    # the VE image x_t / (1 - t) = x0 + sigma eps with sigma = t / (1 - t); the exact velocity eps - x0 gives D = x0
    sigma = t / (1 - t)
    assert torch.allclose(x_t / (1 - t)[:, None], x0 + sigma[:, None] * eps, atol=1e-6)
    D = flow_denoiser(lambda xt, tt, c: eps - x0)(x0 + sigma[:, None] * eps, sigma)
    assert torch.allclose(D, x0, atol=1e-5)


def test_the_grids_run_from_the_first_flow_time_to_zero():
    sigmas = flow_sigmas(4)
    t = sigmas / (1 + sigmas)
    assert torch.allclose(t, torch.tensor([T_MAX, 0.75 * T_MAX, 0.5 * T_MAX, 0.25 * T_MAX, 0.0], dtype=torch.float64))
    karras = flow_sigmas(6, "karras")
    assert karras[-1] == 0 and bool((karras[:-1] > karras[1:]).all())
    with pytest.raises(MatgenError, match="unknown flow spacing 'trailing'; choose from uniform, karras"):
        flow_sigmas(4, "trailing")


@pytest.mark.parametrize("name", ["euler", "heun", "midpoint"])
def test_the_exact_gaussian_field_gives_the_data_mean_and_variance(name):
    z = torch.randn(20000, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x = solve(name, z, 64)
    assert abs(x.mean().item() - MU) < 0.02 and abs(x.std().item() - S) < 0.01
    assert torch.allclose(x, exact_endpoint(z), atol=0.05 if name == "euler" else 1e-3)


@pytest.mark.parametrize("name, low, high", [("euler", 0.75, 1.25), ("heun", 1.75, 2.25), ("midpoint", 1.75, 3.25)])
def test_measured_order_of_the_flow_samplers(name, low, high):
    """Euler is first order, Heun second; the midpoint rule is at least second (third on this field: measured 2.99)."""
    z = torch.linspace(-2.5, 2.5, 11, dtype=torch.float64)[:, None]
    errors = [(solve(name, z, n) - exact_endpoint(z)).abs().max().item() for n in (8, 16, 32, 64)]
    measured = np.log2(np.asarray(errors[:-1]) / np.asarray(errors[1:]))
    assert np.all((measured[1:] > low) & (measured[1:] < high)), (errors, measured)


def test_euler_in_flow_time_is_ddim_on_the_ve_denoiser():
    from matgen.generative import sample_ddim

    z = torch.randn(5, 1, dtype=torch.float64)
    sigmas = flow_sigmas(7)
    x = z * (1 + sigmas[0].item())
    assert torch.allclose(sample_flow_euler(gaussian_denoiser, x, sigmas), sample_ddim(gaussian_denoiser, x, sigmas),
                          atol=1e-10)


# --- reflow on a two-Gaussian mixture -----------------------------------------------------------------

CENTRES = torch.tensor([[-2.0, 0.0], [2.0, 0.0]])


def mixture(n: int, g: torch.Generator) -> torch.Tensor:
    return CENTRES[torch.randint(0, 2, (n,), generator=g)] + 0.3 * torch.randn(n, 2, generator=g)


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(3, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 2))

    def forward(self, x_t, t, cond=None):
        return self.net(torch.cat([x_t, t[:, None].to(x_t.dtype)], 1))


def fit(model: nn.Module, steps: int, pairs=None, seed: int = 0) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        if pairs is None:
            x0, eps = mixture(512, g), None
        else:
            index = torch.randint(0, len(pairs[0]), (512,), generator=g)
            x0, eps = pairs[0][index], pairs[1][index]
        loss = flow_loss(model, x0, None, g, eps)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


def straightness_and_one_step_error(model: nn.Module) -> tuple[float, float]:
    """(mean relative straightness error on 32 Euler steps, mean squared distance of 1-step samples to the nearest mode)."""
    denoiser = flow_denoiser(model)
    z = torch.randn(2000, 2, generator=torch.Generator().manual_seed(99))
    with torch.no_grad():
        grid = flow_sigmas(32)
        bend = straightness(denoiser, z * (1 + grid[0].item()), grid).mean().item()
        one = flow_sigmas(1)
        x = sample_flow_euler(denoiser, z * (1 + one[0].item()), one)
    return bend, ((x[:, None] - CENTRES[None]) ** 2).sum(-1).min(1).values.mean().item()


def test_reflow_straightens_the_paths_and_makes_one_step_samples_land_on_the_modes():
    torch.manual_seed(0)
    first = fit(MLP(), 1000)
    eps = torch.randn(4096, 2, generator=torch.Generator().manual_seed(5))
    grid = flow_sigmas(64)
    with torch.no_grad():
        x0 = sample_flow_heun(flow_denoiser(first), eps * (1 + grid[0].item()), grid)
    second = fit(copy.deepcopy(first), 1000, (x0, eps), seed=1)
    bend1, miss1 = straightness_and_one_step_error(first)
    bend2, miss2 = straightness_and_one_step_error(second)
    # measured: straightness 1.7 -> 0.01, 1-step squared miss 3.0 -> 0.35 (the data's own: 2 x 0.3^2 = 0.18)
    assert bend1 > 0.5 and bend2 < 0.1 * bend1, (bend1, bend2)
    assert miss1 > 1.5 and miss2 < 0.3 * miss1, (miss1, miss2)


# --- the flow kind -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def toy_path(tmp_path_factory):
    return write(tmp_path_factory.mktemp("data") / "toy.h5", toy_dataset())


@pytest.fixture(scope="module")
def flow_dir(toy_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "flow"
    train(toy_path, TrainConfig(model="flow", conditions=("density", "texture"), steps=12, **TINY), out)
    return out


def test_the_guided_velocity_is_the_one_plus_w_rule(flow_dir):
    model = load_run(flow_dir).model
    g = torch.Generator().manual_seed(0)
    x_t, cond = torch.randn(3, 1, 16, 16, generator=g), torch.tensor([[2.9, 0.0], [3.0, 1.0], [2.8, float("nan")]])
    null = torch.full_like(cond, float("nan"))
    with torch.no_grad():
        for t, w in ((0.3, 0.0), (0.6, 2.0), (0.95, 0.5)):
            tt = torch.full((3,), t)
            expected = (1 + w) * model(x_t, tt, cond) - w * model(x_t, tt, null)
            got = _velocity(model.denoiser(w), x_t, t, cond)
            assert torch.allclose(got, expected, atol=2e-5), (t, w)


@pytest.mark.parametrize("sampler", ["heun", "euler", "midpoint", "dpmpp-2m"])
def test_every_flow_sampler_draws_reproducible_label_maps(flow_dir, sampler):
    a = sample(flow_dir, {"density": 2.9}, n=3, sampler=sampler, steps=3, seed=4, batch_size=2)
    b = sample(flow_dir, {"density": 2.9}, n=1, sampler=sampler, steps=3, seed=6)
    assert a.dataset.signals.shape == (3, 16, 16) and a.dataset.signals.dtype == np.uint8
    assert np.array_equal(a.dataset.signals[2], b.dataset.signals[0])  # sample i is seed + i, whatever the batch
    assert a.dataset.attrs["sampler"] == sampler and a.dataset.attrs["model_kind"] == "flow"


def test_auto_picks_heun_and_a_diffusion_sampler_is_refused(flow_dir, tmp_path):
    assert sample(flow_dir, n=1, steps=2).dataset.attrs["sampler"] == "heun"
    with pytest.raises(MatgenError, match="sampler 'ddpm' does not fit a flow run; choose from heun, euler, midpoint"):
        sample(flow_dir, n=1, sampler="ddpm")
    assert_one_line_error(runner.invoke(app, ["sample", str(flow_dir), "-o", str(tmp_path / "s.h5"), "--sampler",
                                              "ddim"]), "does not fit a flow run")


def test_a_flow_run_resumes_bit_identically_and_reloads_to_identical_samples(toy_path, tmp_path):
    config = TrainConfig(model="flow", conditions=("density",), steps=10, warmup_steps=2, checkpoint_every=100, **TINY)
    train(toy_path, config, tmp_path / "whole")

    def stop_at_5(done, total, message):
        if done == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(toy_path, config, tmp_path / "parts", progress=stop_at_5)
    resume(tmp_path / "parts")
    whole, parts = load_file(tmp_path / "whole" / "model.safetensors"), load_file(tmp_path / "parts" / "model.safetensors")
    assert all(torch.equal(whole[k], parts[k]) for k in whole)
    a = sample(tmp_path / "whole", {"density": 2.9}, n=2, steps=3).dataset.signals
    b = sample(load_run(tmp_path / "parts"), {"density": 2.9}, n=2, steps=3).dataset.signals
    assert np.array_equal(a, b)


def test_reflow_trains_on_pairs_that_keep_their_noise(flow_dir, tmp_path):
    result = reflow(flow_dir, tmp_path / "flow2", steps=4, copies=2, sample_steps=3, seed=10)
    assert result.steps == 4
    pairs = read(tmp_path / "flow2" / PAIRS)
    n = len(read(load_run(flow_dir).data.path))
    assert len(pairs) == 2 * n and pairs.conditions["noise_seed"].values[0] == 10
    run2 = load_run(tmp_path / "flow2")
    assert run2.kind == "flow" and run2.model_config.options == {"reflow": True}
    assert json.loads((tmp_path / "flow2" / "config.json").read_text())["finetuned_from"]["run"] == str(flow_dir.resolve())
    # a pair's noise is the noise its sample was drawn from: seed 10 + i, as matgen sample draws it
    x = torch.zeros(2, 1, 16, 16)
    both = run2.model.training_inputs(x, pairs.take([0, 5]))
    assert torch.equal(both[:, 1:], per_sample_noise((2, 1, 16, 16), seeded_generators([10, 15])))
    assert sample(tmp_path / "flow2", n=2, sampler="euler", steps=1).dataset.signals.shape == (2, 16, 16)


def test_reflow_refuses_a_diffusion_run_and_the_cli_is_one_line(toy_path, tmp_path):
    train(toy_path, TrainConfig(conditions=("density",), steps=2, **TINY), tmp_path / "diffusion")
    with pytest.raises(MatgenError, match="is a diffusion run; reflow straightens a flow run"):
        reflow(tmp_path / "diffusion", tmp_path / "out")
    assert_one_line_error(runner.invoke(app, ["reflow", str(tmp_path / "diffusion"), "-o", str(tmp_path / "o")]),
                          "reflow straightens a flow run")


def test_a_campaign_trains_samples_and_finetunes_a_flow_model(tmp_path):
    from matgen.campaign import Campaign, CampaignConfig

    from test_campaign import TARGETS, TRAIN

    options = dict(targets=TARGETS, builder="spinodal", builder_options={"n": 40, "size": 16, "anneal_time": "150..300"},
                   train={**TRAIN, "model": "flow"}, candidates=4, rounds=2, steps=3, finetune_steps=4, baselines=False,
                   device="cpu")
    with pytest.raises(MatgenError, match="sampler 'ddpm' does not fit a flow run; choose from heun"):
        Campaign(CampaignConfig(**options, sampler="ddpm"), tmp_path / "refused").run()
    report = Campaign(CampaignConfig(**options), tmp_path / "c").run()
    assert report.status == "done" and len(report.rounds) == 2
    assert load_run(tmp_path / "c" / "rounds" / "02" / "run").kind == "flow"
    assert read(tmp_path / "c" / "rounds" / "01" / "candidates.h5").attrs["sampler"] == "heun"
    card = (tmp_path / "c" / "runs" / "initial" / "MODEL_CARD.md").read_text()  # round 1 sampled the first model
    first = report.rounds[0]
    assert f"round 1: {first.hits} hits in {first.candidates} candidates" in card
    assert "round 2" in (tmp_path / "c" / "rounds" / "02" / "run" / "MODEL_CARD.md").read_text()
    Campaign.resume(tmp_path / "c")  # nothing more to do: the card's measurements are not repeated
    assert card.count("round 1:") == (tmp_path / "c" / "runs" / "initial" / "MODEL_CARD.md").read_text().count("round 1:")


def test_a_flow_run_distils_into_a_consistency_student(flow_dir, tmp_path):
    from matgen.train.distillation import distill

    result = distill(flow_dir, tmp_path / "student", nfe=2, steps=3, batch_size=8)
    student = load_run(tmp_path / "student")
    assert result.steps == 3 and student.kind == "consistency"
    assert student.model_config.options["sigma_max"] == 80.0  # the flow's 9999 capped
    drawn = sample(student, {"density": 2.9}, n=2, steps=2).dataset
    assert drawn.attrs["sampler"] == "consistency" and drawn.signals.shape == (2, 16, 16)
