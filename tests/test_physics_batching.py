"""The helpers every batched physics model shares: per-sample parameters, range checks, Poisson draws."""

import numpy as np
import pytest
import torch

from matgen.common.seeding import sample_seeds, seeded_generators
from matgen.errors import MatgenError
from matgen.physics.batching import per_sample, require
from matgen.physics.noise import poisson_counts


def test_per_sample_gives_n_values_and_a_writable_copy_of_a_number():
    t = per_sample(0.5, 3, "x", "cpu", torch.float64)
    assert t.shape == (3,) and t.dtype == torch.float64
    t[0] = 2.0  # a number becomes a real (3,) tensor, not a broadcast view
    assert t.tolist() == [2.0, 0.5, 0.5]
    given = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    assert per_sample(given, 3, "x", "cpu", torch.float64) is given
    with pytest.raises(MatgenError, match=r"x must be a number or one value per sample \(n=2\), got shape \(3,\)"):
        per_sample(given, 2, "x", "cpu", torch.float64)
    with pytest.raises(MatgenError, match=r"x must be finite \(got \[nan, 1.0\]\)"):
        per_sample([float("nan"), 1.0], 2, "x", "cpu", torch.float32)


def test_require_names_the_first_value_that_fails():
    t = torch.tensor([1.0, -2.0, -3.0])
    require(t > -5, t, "t", "above -5")
    with pytest.raises(MatgenError, match=r"t must be positive \(got -2\)"):
        require(t > 0, t, "t", "positive")


def test_one_generator_per_row_draws_each_row_as_if_alone():
    rates = torch.full((3, 500), 40.0, dtype=torch.float64)
    rows = poisson_counts(rates, seeded_generators(sample_seeds(7, 3)))
    alone = poisson_counts(rates[2], torch.Generator().manual_seed(9))
    assert torch.equal(rows[2], alone)
    assert torch.equal(poisson_counts(rates, torch.Generator().manual_seed(1)),
                       torch.poisson(rates, generator=torch.Generator().manual_seed(1)))
    with pytest.raises(MatgenError, match="one generator per row: 3 rows, 2 generators"):
        poisson_counts(rates, seeded_generators([1, 2]))


@pytest.mark.parametrize("seed", [torch.tensor([4, 9]), np.array([4, 9]), [4, 9]])
def test_seed_lists_may_be_tensors_or_arrays(seed):
    assert sample_seeds(seed, 2) == [4, 9]
    assert sample_seeds(torch.tensor(4), 2) == sample_seeds(np.int64(4), 2) == [4, 5]
