"""Consistency distillation against closed forms for Gaussian data, and the `consistency` run end to end.

For x0 ~ N(mu, s^2) (per dimension) the exact VE denoiser is D(x, sigma) = mu + s^2 / (s^2 + sigma^2) (x - mu)
and the probability-flow ODE maps x at sigma to mu + (x - mu) sqrt(s^2 + sigma_min^2) / sqrt(s^2 + sigma^2)
at sigma_min: that is the exact consistency function f*, with f*(x, sigma_min) = x. So the sampler
can be checked with f*, and a student distilled from the exact teacher can be checked against the
teacher's own discretised ODE.
"""

import json
import math
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from matgen.cli.main import app
from matgen.common.seeding import seeded_generators
from matgen.data import write
from matgen.errors import MatgenError
from matgen.generative import sample_heun
from matgen.generative.consistency import (
    consistency_distillation_loss,
    consistency_student,
    distillation_levels,
    sample_consistency,
)
from matgen.generative.objectives import append_dims
from matgen.generative.schedules import karras_sigmas
from matgen.runs import load_run
from matgen.runs.kinds import model_class
from matgen.sample import sample
from matgen.train import TrainConfig, distill, finetune, resume, train

from test_train import TINY, TINY_VAE, assert_one_line_error, toy_dataset

pytestmark = pytest.mark.usefixtures("one_thread")  # small tensors and nets: one thread (tests/conftest.py)

F64 = torch.float64
MU = torch.tensor([1.0, -2.0], dtype=F64)  # per-dimension data mean
S = torch.tensor([0.5, 2.0], dtype=F64)  # per-dimension data std
SIGMA_MIN, SIGMA_MAX = 0.002, 80.0
runner = CliRunner()


def gaussian_denoiser(x, sigma, cond=None):
    """The exact denoiser E[x0 | x] of x0 ~ N(MU, S^2), x = x0 + sigma n."""
    return MU + S**2 / (S**2 + append_dims(sigma, x.ndim) ** 2) * (x - MU)


def gaussian_consistency(x, sigma, cond=None):
    """The exact consistency function: the PF-ODE flow map from sigma to sigma_min."""
    return MU + (x - MU) * ((S**2 + SIGMA_MIN**2) / (S**2 + append_dims(sigma, x.ndim) ** 2)).sqrt()


def grid(steps):
    """The consistency kind's sampling grid (steps + 1,) on 0.002..80."""
    return torch.cat([karras_sigmas(steps + 1, SIGMA_MIN, SIGMA_MAX)[:steps], torch.zeros(1, dtype=F64)])


def prior(n, seed=1):
    """x at sigma_max from its exact marginal N(MU, S^2 + SIGMA_MAX^2)."""
    z = torch.randn(n, 2, generator=torch.Generator().manual_seed(seed), dtype=F64)
    return MU + (S**2 + SIGMA_MAX**2).sqrt() * z


# --- the maths -------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_student_is_exactly_the_identity_at_sigma_min(dtype):
    net = torch.nn.Conv2d(1, 1, 3, padding=1).to(dtype)  # any denoiser: a random network, far from the identity
    f = consistency_student(lambda x, sigma, cond: 100 * net(x), SIGMA_MIN, 0.5)
    x = 3 * torch.randn(4, 1, 8, 8, dtype=dtype)
    with torch.no_grad():
        assert torch.equal(f(x, torch.full((4,), SIGMA_MIN, dtype=dtype)), x)
        assert not torch.allclose(f(x, torch.full((4,), 1.0, dtype=dtype)), x)


@pytest.mark.parametrize("steps", [1, 2, 4])
def test_multistep_sampling_with_the_exact_consistency_function_gives_the_data_distribution(steps):
    n = 20_000
    x = sample_consistency(gaussian_consistency, prior(n), grid(steps), sigma_min=SIGMA_MIN,
                           generator=torch.Generator().manual_seed(2))
    std = (S**2 + SIGMA_MIN**2).sqrt()  # the marginal at sigma_min
    assert ((x.mean(0) - MU).abs() < 4 * S / math.sqrt(n)).all(), x.mean(0)
    assert ((x.std(0) / std - 1).abs() < 4 / math.sqrt(2 * n)).all(), x.std(0)


def test_sample_i_of_the_sampler_depends_only_on_its_own_generator():
    x = prior(6)
    batch = sample_consistency(gaussian_consistency, x, grid(4), sigma_min=SIGMA_MIN,
                               generator=seeded_generators(range(10, 16)))
    alone = sample_consistency(gaussian_consistency, x[3:4], grid(4), sigma_min=SIGMA_MIN,
                               generator=seeded_generators([13]))
    assert torch.equal(batch[3], alone[0]) and not torch.equal(batch[2], batch[3])


class AffineTable(torch.nn.Module):
    """A student denoiser D(x, sigma) = a(sigma) + b(sigma) x per dimension, a and b piecewise linear in log sigma
    between the distillation levels: the exact f* is affine in x, so this family holds it at every level."""

    def __init__(self, levels):
        super().__init__()
        self.log_levels = levels.log()  # (N,)
        self.a = torch.nn.Parameter(torch.zeros(len(levels), 2, dtype=F64))
        self.b = torch.nn.Parameter(torch.zeros(len(levels), 2, dtype=F64))

    def forward(self, x, sigma, cond=None):
        t = self.log_levels
        log_sigma = sigma.log().clamp(t[0], t[-1])
        hi = torch.searchsorted(t, log_sigma.contiguous()).clamp(1, len(t) - 1)
        w = ((log_sigma - t[hi - 1]) / (t[hi] - t[hi - 1]))[:, None]  # (B, 1)
        return (1 - w) * self.a[hi - 1] + w * self.a[hi] + ((1 - w) * self.b[hi - 1] + w * self.b[hi]) * x


def test_a_student_distilled_from_the_exact_teacher_reproduces_its_ode_endpoints_in_1_and_2_steps():
    """18 levels, Heun teacher, 2000 Adam steps: the student matches the teacher's discretised ODE (whose std is
    itself ~6% above the data's at N = 18) to 2% in mean and std in 1 step, 3% in 2 steps."""
    levels = distillation_levels(18, SIGMA_MIN, SIGMA_MAX)
    table = AffineTable(levels)
    f = consistency_student(table, SIGMA_MIN, 0.5)
    optimizer = torch.optim.Adam(table.parameters(), lr=3e-2)
    decay = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, 2000, eta_min=3e-4)
    g = torch.Generator().manual_seed(0)
    for _ in range(2000):
        x0 = MU + S * torch.randn(256, 2, generator=g, dtype=F64)
        loss = consistency_distillation_loss(f, gaussian_denoiser, x0, None, levels, g, "heun", "l2")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        decay.step()
    x = prior(20_000)
    teacher = sample_heun(gaussian_denoiser, x, torch.cat([levels.flip(0), torch.zeros(1, dtype=F64)])[:-1].clone())
    for steps, tolerance in ((1, 0.02), (2, 0.03)):
        with torch.no_grad():
            student = sample_consistency(f, x, grid(steps), sigma_min=SIGMA_MIN,
                                         generator=torch.Generator().manual_seed(2))
        assert ((student.mean(0) - teacher.mean(0)).abs() < tolerance * S).all(), (steps, student.mean(0))
        assert ((student.std(0) / teacher.std(0) - 1).abs() < tolerance).all(), (steps, student.std(0), teacher.std(0))


def test_the_loss_draws_only_from_the_step_generator():
    levels = distillation_levels(18, SIGMA_MIN, SIGMA_MAX)
    x0 = MU + S * torch.randn(256, 2, dtype=F64)
    loss = [consistency_distillation_loss(f, gaussian_denoiser, x0, None, levels, torch.Generator().manual_seed(5),
                                          "heun", "l2")
            for f in (gaussian_consistency, gaussian_consistency, gaussian_denoiser)]
    assert loss[0] == loss[1]
    assert loss[0] < 0.01 * loss[2]  # f* is consistent up to the teacher's Heun error; the denoiser is far from it


# --- the run ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def toy_path(tmp_path_factory):
    return write(tmp_path_factory.mktemp("data") / "toy.h5", toy_dataset())


@pytest.fixture(scope="module")
def teacher_dir(toy_path, tmp_path_factory):
    """A tiny diffusion run conditioned on density (g/cm3) and the categorical texture."""
    out = tmp_path_factory.mktemp("runs") / "teacher"
    train(toy_path, TrainConfig(conditions=("density", "texture"), steps=6, **TINY), out)
    return out


@pytest.fixture(scope="module")
def student_dir(teacher_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "student"
    distill(teacher_dir, out, nfe=2, steps=4, guidance=1.0, levels=8)
    return out


def test_a_student_run_is_a_normal_run_whose_teacher_stays_frozen(teacher_dir, student_dir):
    doc = json.loads((student_dir / "config.json").read_text())
    options = doc["model"]["options"]
    assert doc["model"]["kind"] == "consistency" and doc["train"]["model"] == "consistency"
    assert (options["nfe"], options["guidance"], options["levels"], options["sigma_max"]) == (2, 1.0, 8, 80.0)
    assert options["teacher"]["kind"] == "diffusion" and doc["distilled_from"]["run"] == str(teacher_dir.resolve())
    assert {p.name for p in student_dir.iterdir()} >= {"config.json", "model.safetensors", "metrics.csv", "checkpoint"}
    teacher, student = load_file(teacher_dir / "model.safetensors"), load_file(student_dir / "model.safetensors")
    assert all(torch.equal(teacher[k], student[f"teacher.{k}"]) for k in teacher)
    assert not all(torch.equal(teacher[k], student[f"student.{k}"]) for k in teacher)  # the student learnt
    model = load_run(student_dir).model
    x = torch.randn(2, 1, 16, 16)
    with torch.no_grad():
        assert torch.equal(model.denoiser()(x, torch.full((2,), model.sigma_min), torch.full((2, 2), float("nan"))), x)


def test_resuming_a_distillation_is_bit_identical_to_an_uninterrupted_one_and_it_fine_tunes(teacher_dir, toy_path,
                                                                                              tmp_path):
    distill(teacher_dir, tmp_path / "whole", steps=6, levels=8, guidance=1.0)

    def interrupt_at_3(done, total, message):
        if done == 3:
            raise KeyboardInterrupt  # Ctrl-C: the loop saves a checkpoint of the 3 finished steps

    with pytest.raises(KeyboardInterrupt):
        distill(teacher_dir, tmp_path / "parts", steps=6, levels=8, guidance=1.0, progress=interrupt_at_3)
    assert resume(tmp_path / "parts").steps == 6
    for name in ("model.safetensors", "checkpoint/model.safetensors", "checkpoint/ema.safetensors",
                 "checkpoint/optimizer.safetensors"):
        whole, parts = load_file(tmp_path / "whole" / name), load_file(tmp_path / "parts" / name)
        assert whole.keys() == parts.keys() and all(torch.equal(whole[k], parts[k]) for k in whole), name
    assert finetune(tmp_path / "whole", toy_path, tmp_path / "tuned", steps=2).steps == 2
    assert load_run(tmp_path / "tuned").kind == "consistency"


def test_a_reloaded_student_samples_identically_and_sample_i_is_seed_plus_i(student_dir, tmp_path):
    targets = {"density": 2.9, "texture": "coarse"}
    first = sample(student_dir, targets, n=4, steps=2, seed=10, batch_size=4)
    copy = tmp_path / "copy"
    shutil.copytree(student_dir, copy)
    again = sample(load_run(copy), targets, n=4, steps=2, seed=10, batch_size=4)
    alone = sample(student_dir, targets, n=1, steps=2, seed=13)
    assert np.array_equal(first.grey.signals, again.grey.signals)
    assert np.allclose(first.grey.signals[3], alone.grey.signals[0], atol=1e-5)
    assert first.dataset.attrs["sampler"] == "consistency" and first.dataset.attrs["model_kind"] == "consistency"


def test_guidance_is_baked_in(student_dir):
    assert len(sample(student_dir, {"density": 2.9}, n=1, steps=1, guidance=1.0).dataset) == 1  # the distilled w
    with pytest.raises(MatgenError, match="w = 1 baked in; sample with --guidance 0, or distil again with --guidance "
                                          "2"):
        sample(student_dir, {"density": 2.9}, n=1, steps=1, guidance=2.0)


def test_cli_distills_and_samples_in_the_distilled_steps(teacher_dir, tmp_path):
    student = tmp_path / "student"
    result = runner.invoke(app, ["distill", str(teacher_dir), "-o", str(student), "--nfe", "1", "--steps", "2",
                                 "--levels", "8", "--solver", "euler"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "s.h5"
    result = runner.invoke(app, ["sample", str(student), "-o", str(out), "--target-density", "2.9", "-n", "2"])
    assert result.exit_code == 0, result.output
    from matgen.data import read

    assert (read(out).attrs["sampler"], int(read(out).attrs["steps"])) == ("consistency", 1)
    result = runner.invoke(app, ["sample", str(student), "-o", str(tmp_path / "s4.h5"), "-n", "1", "--steps", "4"])
    assert result.exit_code == 0 and int(read(tmp_path / "s4.h5").attrs["steps"]) == 4


def test_cli_errors_are_one_line(teacher_dir, student_dir, toy_path, tmp_path):
    out = str(tmp_path / "x.h5")
    assert_one_line_error(runner.invoke(app, ["sample", str(teacher_dir), "-o", out, "--sampler", "consistency"]),
                          "sampler 'consistency' does not fit a diffusion run; choose from ddpm, ddim, dpmpp-2m, heun")
    assert_one_line_error(runner.invoke(app, ["sample", str(student_dir), "-o", out, "--sampler", "heun"]),
                          "sampler 'heun' does not fit a consistency run; choose from consistency")
    assert_one_line_error(runner.invoke(app, ["distill", str(tmp_path / "missing"), "-o", str(tmp_path / "s")]),
                          "no such run directory")
    assert_one_line_error(runner.invoke(app, ["distill", str(teacher_dir), "-o", str(student_dir)]),
                          "already holds a run", "--force")
    assert_one_line_error(runner.invoke(app, ["distill", str(student_dir), "-o", str(tmp_path / "s")]),
                          "already a consistency run")
    assert_one_line_error(runner.invoke(app, ["distill", str(teacher_dir), "-o", str(tmp_path / "s"), "--solver",
                                              "rk4"]), "unknown solver 'rk4'; choose from heun, euler")
    vae = tmp_path / "vae"
    train(toy_path, TrainConfig(steps=1, **TINY_VAE), vae)
    assert_one_line_error(runner.invoke(app, ["distill", str(vae), "-o", str(tmp_path / "s")]),
                          "is a vae run; consistency distillation needs a diffusion teacher")
    assert_one_line_error(runner.invoke(app, ["train", str(toy_path), "-o", str(tmp_path / "t"), "--model",
                                              "consistency"]), "matgen distill TEACHER_RUN -o STUDENT_RUN")
    assert model_class("consistency").samplers == {"consistency": "karras"}
