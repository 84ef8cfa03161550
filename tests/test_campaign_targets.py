"""Campaign maths and options without a model: targets, hits, errors, sampling values, summaries, the config."""

import math

import numpy as np
import pytest

from matgen.campaign import CampaignConfig, CampaignReport, Summary, Target, parse_target, read_campaign_config, table
from matgen.campaign.baselines import nearest_rows, target_point
from matgen.campaign.report import summarize
from matgen.campaign.targets import errors, hits, meets, ranking, relative_error, score_candidates
from matgen.data import Condition, Dataset
from matgen.errors import MatgenError
from matgen.evaluate.diversity import mean_pairwise_distance, unique_fraction

NAN = math.nan


@pytest.mark.parametrize("text, kind, low, high", [
    ("2.95 ± 1%", "value", 2.95 - 0.0295, 2.95 + 0.0295),
    ("2.95 +- 0.02", "value", 2.93, 2.97),
    ("2.95+/-0.02", "value", 2.93, 2.97),
    ("140..160", "range", 140.0, 160.0),
    (">= 150", "min", 150.0, math.inf),
    ("> 150", "min", 150.0, math.inf),
    ("<=3", "max", -math.inf, 3.0),
    ("≤ 3", "max", -math.inf, 3.0),
    ("200", "value", 190.0, 210.0),  # a bare number: ±5 %
    (200, "value", 190.0, 210.0),
    ({"value": 2.95, "tolerance": "1%"}, "value", 2.95 - 0.0295, 2.95 + 0.0295),
    ({"value": 2.95, "tolerance": 0.02}, "value", 2.93, 2.97),
    ({"low": 140, "high": 160}, "range", 140.0, 160.0),
    ({"min": 150}, "min", 150.0, math.inf),
    ({"max": 3}, "max", -math.inf, 3.0),
])
def test_every_target_form_reads_to_its_admissible_interval(text, kind, low, high):
    t = parse_target("modulus", text)
    assert t.kind == kind and t.low == pytest.approx(low) and t.high == pytest.approx(high)
    again = parse_target("modulus", t.text())  # the text form round-trips (config files, campaign.json)
    assert again.kind == t.kind and again.low == pytest.approx(t.low) and again.high == pytest.approx(t.high)


@pytest.mark.parametrize("text, match", [
    ("about 3", "cannot read 'about 3'"),
    ("160..140", "LOW <= HIGH"),
    ("2.95 ± -1", "tolerance >= 0"),
    ({"value": 3, "low": 1}, "a table takes"),
    (True, "is not a target"),
    ([1, 2], "is not a target"),
])
def test_a_malformed_target_names_the_forms(text, match):
    with pytest.raises(MatgenError, match=match):
        parse_target("modulus", text)


def test_hits_need_every_target_met_and_count_the_tolerance_ends_in():
    targets = {"density": Target.around("density", 3.0, 0.01), "modulus": Target.at_least("modulus", 150.0)}
    achieved = {"density": np.array([3.0, 3.03, 3.0301, 2.97, 3.0, NAN]),
                "modulus": np.array([150.0, 200.0, 200.0, 149.99, NAN, 160.0])}
    assert meets(targets["density"], achieved["density"]).tolist() == [True, True, False, True, True, False]
    assert hits(targets, achieved).tolist() == [True, True, False, False, False, False]
    absolute = Target.around("modulus", 100.0, 2.0, relative=False)
    assert meets(absolute, np.array([98.0, 102.0, 102.1, 97.9])).tolist() == [True, True, False, False]
    between = Target.between("modulus", 140.0, 160.0)
    assert meets(between, np.array([140.0, 160.0, 139.9, 160.1])).tolist() == [True, True, False, False]
    assert meets(Target.at_most("density", 2.9), np.array([2.9, 2.91])).tolist() == [True, False]


def test_relative_errors_are_exact_and_zero_inside_a_range_or_bound():
    assert relative_error(Target.around("m", 200.0, 0.05), np.array([190.0, 230.0, NAN])).tolist()[:2] == \
        pytest.approx([0.05, 0.15])
    between = Target.between("m", 100.0, 200.0)
    assert relative_error(between, np.array([150.0, 90.0, 220.0])) == pytest.approx([0.0, 0.1, 0.1])
    assert relative_error(Target.at_least("m", 150.0), np.array([120.0, 160.0])) == pytest.approx([0.2, 0.0])
    assert relative_error(Target.at_most("m", 2.0), np.array([2.5, 1.0])) == pytest.approx([0.25, 0.0])
    assert np.isnan(relative_error(between, np.array([NAN]))[0])


def test_ranking_puts_hits_first_then_the_smallest_worst_error_and_failures_last():
    targets = {"a": Target.around("a", 100.0, 0.05), "b": Target.around("b", 10.0, 0.1)}
    achieved = {"a": np.array([110.0, 101.0, NAN, 104.0, 100.0]), "b": np.array([10.0, 10.9, 10.0, 10.0, 12.0])}
    # errors: 0 (0.10, 0), 1 (0.01, 0.09) hit, 2 failed, 3 (0.04, 0) hit, 4 (0, 0.2)
    assert ranking(targets, achieved).tolist() == [3, 1, 0, 4, 2]
    assert errors(targets, achieved)["b"][4] == pytest.approx(0.2)


def test_ranges_and_bounds_become_sampling_values_inside_the_admissible_side():
    assert Target.around("m", 150.0, 0.03).sampling_values(3).tolist() == [150.0] * 3
    assert Target.between("m", 100.0, 200.0).sampling_values(3).tolist() == [125.0, 150.0, 175.0]
    assert Target.between("m", 100.0, 200.0).sampling_values(1).tolist() == [150.0]
    assert Target.at_least("m", 200.0).sampling_values(2, margin=0.05)[0] == pytest.approx(210.0)
    # capped at the top of the training range while that still satisfies the bound
    assert Target.at_least("m", 200.0).sampling_values(1, 0.05, trained=(100.0, 205.0))[0] == 205.0
    assert Target.at_least("m", 200.0).sampling_values(1, 0.05, trained=(100.0, 190.0))[0] == pytest.approx(210.0)
    assert Target.at_most("d", 3.0).sampling_values(1, 0.05, trained=(2.9, 3.1))[0] == 2.9


def _summary_of(achieved, failures):
    targets = {"density": Target.around("density", 3.0, 0.01), "modulus": Target.at_least("modulus", 150.0)}
    ids = [f"c-{i}" for i in range(len(failures))]
    return summarize("round 1", 1, ids, score_candidates(targets, achieved), achieved, np.asarray(failures, dtype=object))


def test_a_summary_counts_hits_failures_and_median_errors_over_the_evaluated():
    achieved = {"density": np.array([3.0, 3.06, NAN, 2.99]), "modulus": np.array([160.0, 155.0, NAN, 120.0])}
    s = _summary_of(achieved, ["", "", "timed out after 5 s", ""])
    assert (s.candidates, s.evaluated, s.failed, s.hits) == (4, 3, 1, 1)
    assert s.hit_rate == 0.25 and s.failure_rate == 0.25
    assert s.median_error["density"] == pytest.approx(np.median([0.0, 0.02, 1 / 300]))
    assert s.median_error["modulus"] == pytest.approx(0.0)  # errors 0, 0, 0.2
    assert s.best["id"] == "c-0" and s.best["hit"] and s.failures == {"timed out after 5 s": 1}
    assert Summary.from_dict(s.to_dict()) == s


def test_diversity_is_the_mean_pairwise_rms_distance():
    a = -np.ones((4, 4))
    b = a.copy()
    b[:2, :2] = 1.0  # a quarter of the pixels differ by 2: RMS = 2 sqrt(1/4) = 1
    assert mean_pairwise_distance(np.stack([a, b])) == pytest.approx(1.0)
    assert mean_pairwise_distance(np.stack([a, a, b])) == pytest.approx(2 / 3)
    assert mean_pairwise_distance(a[None]) is None
    assert unique_fraction(np.stack([a, a, b, b])) == 0.5


def test_nearest_rows_use_z_scores_of_the_target_properties():
    density = np.array([2.80, 2.95, 3.00, 2.95, NAN])
    modulus = np.array([100.0, 150.0, 200.0, 180.0, 150.0])
    ds = Dataset("micrograph", np.zeros((5, 4, 4), np.uint8),
                 {"density": Condition(density, "g/cm3", "property"), "modulus": Condition(modulus, "GPa", "property")},
                 signal_type="labels")
    targets = {"density": Target.around("density", 2.95, 0.01), "modulus": Target.at_least("modulus", 170.0)}
    point = target_point(targets, ds, margin=0.05)
    assert point == {"density": 2.95, "modulus": pytest.approx(178.5)}  # the bound 170 moved 5 % up
    # z-scores over rows 0-3 (row 4 has no density: never picked): the point is (0.33, 0.56),
    # row 3 (0.33, 0.60), row 1 (0.33, -0.20), row 2 (1.00, 1.13), row 0 (-1.67, -1.53)
    assert nearest_rows(ds, point, 3).tolist() == [3, 1, 2]
    assert target_point({"modulus": Target.at_least("modulus", 195.0)}, ds, 0.05) == {"modulus": 200.0}  # capped


def _report():
    nearest = _summary_of({"density": np.array([3.0]), "modulus": np.array([151.0])}, [""])
    nearest.name, nearest.round = "nearest training", 0
    round1 = _summary_of({"density": np.array([3.0, NAN]), "modulus": np.array([149.0, NAN])}, ["", "ValueError: x"])
    return CampaignReport("c", "done", "ran all 1 round(s)", {"density": "density 3 ± 1% g/cm3",
                          "modulus": "modulus >= 150 GPa"}, {"density": "g/cm3", "modulus": "GPa"}, [round1],
                          {"nearest": nearest})


def test_the_table_has_a_row_per_baseline_and_round_and_the_report_round_trips():
    report = _report()
    columns, rows = table(report)
    assert columns[:6] == ["round", "candidates", "evaluated", "failed", "hits", "hit rate"]
    assert [r[0] for r in rows] == ["nearest training", "round 1"]
    assert rows[1][1:6] == ["2", "1", "1", "0", "0.0%"] and rows[0][5] == "100.0%"
    assert rows[0][-1].startswith("3, 151 hit")
    assert CampaignReport.from_dict(report.to_dict()).to_dict() == report.to_dict()
    assert report.to_dict()["total_hits"] == 0 and report.simulator_calls == 2


def test_rounds_and_budget_decide_the_round_sizes():
    base = dict(targets={"modulus": ">= 150"}, builder="spinodal")
    assert CampaignConfig(**base, candidates=8, rounds=3).round_sizes() == [8, 8, 8]
    assert CampaignConfig(**base, candidates=8, rounds=5, budget=20).round_sizes() == [8, 8, 4]
    assert CampaignConfig(**base, candidates=8, rounds=2, budget=100).round_sizes() == [8, 8]


@pytest.mark.parametrize("fields, match", [
    ({}, "give the starting point"),
    ({"builder": "spinodal", "data": "x.h5"}, "not both"),
    ({"builder": "spinodal", "candidates": 0}, "candidates must be a whole number >= 1"),
    ({"builder": "spinodal", "rounds": 1.5}, "rounds must be a whole number"),
    ({"builder": "spinodal", "sampler": "heunn"}, "unknown sampler 'heunn'; choose from"),
    ({"builder": "spinodal", "max_failure_rate": 2}, "between 0 and 1"),
    ({"builder": "spinodal", "timeout_s": -1}, "timeout_s must be a positive"),
    ({"builder": "spinodal", "finetune_steps": -1}, "finetune_steps must be"),
    ({"builder": "spinodal", "budget": 0}, "budget"),
    ({"builder": "spinodal", "train": "tiny"}, "train must be a table"),
    ({"builder": "spinodal", "executor": "dask://head-node"}, "should be dask://HOST:PORT"),
    ({"builder": "spinodal", "executor": 4}, "executor must be text"),
])
def test_malformed_configs_name_the_field(fields, match):
    with pytest.raises(MatgenError, match=match):
        CampaignConfig(targets={"modulus": ">= 150"}, **fields).check()


def test_a_toml_config_reads_with_paths_relative_to_it(tmp_path):
    (tmp_path / "c.toml").write_text('data = "data/s.h5"\ncandidates = 4\n[targets]\ndensity = "2.95 ± 1%"\n'
                                     'modulus = "140..160"\n[train]\nnet = "tiny"\n', encoding="utf-8")
    config = read_campaign_config(tmp_path / "c.toml")
    assert config.data == str((tmp_path / "data" / "s.h5").resolve()) and config.candidates == 4
    assert config.targets["modulus"].kind == "range" and config.train == {"net": "tiny"}
    assert CampaignConfig.from_dict(config.to_dict()).to_dict() == config.to_dict()
    (tmp_path / "bad.toml").write_text('candidats = 4\nbuilder = "spinodal"\n[targets]\nmodulus = ">= 1"\n')
    with pytest.raises(MatgenError, match="unknown option 'candidats'; choose from targets, data"):
        read_campaign_config(tmp_path / "bad.toml")
    (tmp_path / "broken.toml").write_text('candidates = \n')
    with pytest.raises(MatgenError, match="not a valid TOML file"):
        read_campaign_config(tmp_path / "broken.toml")
    with pytest.raises(MatgenError, match="no such config file; give a campaign .toml"):
        read_campaign_config(tmp_path / "missing.toml")


def _results(rows):
    return {"candidates": [{"sampled": q, "achieved": a, "error": e} for q, a, e in rows]}


def test_steering_asks_next_round_for_the_request_plus_the_median_miss():
    from matgen.campaign.requests import steering_offsets

    targets = {"density": Target.around("density", 2.90, 0.005), "modulus": Target.at_least("modulus", 150.0)}
    trained = {"density": (2.7, 3.0), "modulus": (100.0, 200.0)}
    first = _results([({"density": 2.90, "modulus": 157.5}, {"density": d, "modulus": m}, "")
                      for d, m in ((2.91, 170.0), (2.92, 175.0), (2.93, 180.0))]
                     + [({"density": 2.90, "modulus": 157.5}, {"density": None, "modulus": None}, "timed out")])
    offsets = steering_offsets(targets, first, 1.0, 0.05, trained)
    assert offsets["density"] == pytest.approx(-0.02)  # asked 2.90, got 2.92 (failed row left out)
    assert offsets["modulus"] == 0.0  # a bound already exceeded is not pulled back
    second = _results([({"density": 2.88, "modulus": 157.5}, {"density": 2.905, "modulus": 140.0}, "")])
    offsets = steering_offsets(targets, second, 0.5, 0.05, trained)
    assert offsets["density"] == pytest.approx(-0.02 - 0.5 * 0.005)
    assert offsets["modulus"] == pytest.approx(0.5 * 17.5)  # short of the moved bound 157.5 by 17.5
    wild = _results([({"density": 2.90, "modulus": 157.5}, {"density": 2.0, "modulus": 150.0}, "")])
    assert steering_offsets(targets, wild, 1.0, 0.05, trained)["density"] == pytest.approx(3.075 - 2.90)  # clipped
    assert steering_offsets(targets, wild, 0.0, 0.05, trained) == {} and steering_offsets(targets, None, 1, 0, {}) == {}


def test_import_matgen_and_campaign_help_stay_free_of_torch_and_campaign_is_exported_lazily():
    import subprocess
    import sys

    code = ("import sys, matgen; from matgen.cli.main import app; from typer.testing import CliRunner; "
            "r = CliRunner().invoke(app, ['campaign', 'run', '--help']); assert r.exit_code == 0, r.output; "
            "print([m for m in ('torch', 'numpy', 'h5py') if m in sys.modules]); "
            "from matgen import Campaign; print(Campaign.__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "[]" and out[1] == "matgen.campaign.loop"
