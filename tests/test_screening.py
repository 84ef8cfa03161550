"""Surrogate screening's maths: the hit probability, the diverse choice, the calibration record."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from matgen.campaign.screening import calibration, choose, hit_probability, predict
from matgen.campaign.targets import parse_targets


def test_the_hit_probability_is_the_product_of_the_gaussian_masses_inside_each_target():
    targets = parse_targets({"density": "2.9 ± 0.02", "modulus": ">= 150"})
    mean = np.array([[2.90, 150.0], [2.95, 170.0]])
    sigma = np.array([[0.01, 10.0], [0.05, 10.0]])
    p = hit_probability(targets, mean, sigma)
    want0 = (norm.cdf(2) - norm.cdf(-2)) * 0.5
    want1 = (norm.cdf(-0.6) - norm.cdf(-1.4)) * norm.cdf(2)
    assert p == pytest.approx([want0, want1])


def test_choose_takes_the_best_but_passes_over_near_duplicates():
    x = np.array([[1.0] * 100, [1.0] * 99 + [-1.0], [-1.0] * 100, [1.0] * 50 + [-1.0] * 50])  # rows 0 and 1: 1 % apart
    score = np.array([0.9, 0.8, 0.1, 0.5])
    assert choose(score, x, 2).tolist() == [0, 3]  # row 1 is a near-duplicate of row 0
    assert choose(score, x, 4).tolist() == [0, 3, 2, 1]  # filled up best first when too few are distinct


def test_predict_has_a_sigma_floor_and_calibration_counts_one_sigma_coverage():
    class Member:
        def __init__(self, value):
            self.value = value

        def predict(self, features):
            return np.full((len(features), 1), self.value)

    mean, sigma = predict([Member(1.0), Member(1.0)], np.zeros((3, 1, 4, 4)), np.array([10.0]))
    assert mean.ravel().tolist() == [1.0] * 3 and sigma.ravel().tolist() == [0.2] * 3  # 2 % of the spread
    found = calibration(np.array([[1.0], [1.0], [1.0]]), np.array([[0.5], [0.5], [0.5]]), np.array([[1.2], [2.0], [np.nan]]))
    assert found["mae"] == [pytest.approx(0.6)] and found["within_1_sigma"] == [0.5]
