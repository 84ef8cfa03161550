"""Typing raw table / file-name text into conditions with units."""

import numpy as np
import pytest

from matgen.data.conditions import (
    ColumnTyping, NamePattern, build_conditions, parse_duration_hours, read_table, split_name_unit,
)
from matgen.errors import MatgenError


@pytest.mark.parametrize(
    "header, expected",
    [
        ("anneal_temperature_C", ("anneal_temperature_C", "°C")),
        ("anneal_time_h", ("anneal_time_h", "h")),
        ("cooling_rate_K_s", ("cooling_rate_K_s", "K/s")),
        ("density_g_cm3", ("density_g_cm3", "g/cm³")),
        ("modulus (GPa)", ("modulus", "GPa")),
        ("Young's modulus [GPa]", ("Young_s_modulus", "GPa")),
        ("mineral", ("mineral", "")),
        ("\ufeffrruff_id", ("rruff_id", "")),
    ],
)
def test_units_come_from_the_header(header, expected):
    assert split_name_unit(header) == expected


@pytest.mark.parametrize("text, hours", [("24H", 24), ("5M", 5 / 60), ("90min", 1.5), ("2d", 48), ("30s", 30 / 3600)])
def test_durations(text, hours):
    assert parse_duration_hours(text) == pytest.approx(hours)


def test_build_conditions_types_roles_and_missing():
    rows = [
        {"anneal_temperature_C": "800", "cooling": "Q", "sample_id": "A1", "modulus (GPa)": "70.5"},
        {"anneal_temperature_C": "", "cooling": "WQ", "sample_id": "A2", "modulus (GPa)": "NaN"},
        {"anneal_temperature_C": "970", "cooling": "", "sample_id": "A3", "modulus (GPa)": "71"},
    ]
    c = build_conditions(rows, ["r1", "r2", "r3"], ColumnTyping(roles={"modulus": "property"}))
    t = c["anneal_temperature_C"]
    assert t.unit == "°C" and t.role == "processing" and not t.is_categorical
    np.testing.assert_array_equal(t.values, [800, np.nan, 970])
    assert c["cooling"].role == "label" and list(c["cooling"].labels()) == ["Q", "WQ", None]
    assert c["sample_id"].role == "meta"
    assert c["modulus"].role == "property" and c["modulus"].unit == "GPa" and np.isnan(c["modulus"].values[1])


def test_non_numeric_value_in_numeric_condition_names_the_row():
    rows = [{"temperature_C": "800"}, {"temperature_C": "hot"}]
    with pytest.raises(MatgenError, match=r"labels.csv line 3: 'hot' in numeric condition 'temperature_C' is not a number"):
        build_conditions(rows, ["labels.csv line 2", "labels.csv line 3"])


def test_categorical_override_and_unknown_role():
    rows = [{"batch": "1"}, {"batch": "2"}]
    assert build_conditions(rows, ["a", "b"], ColumnTyping(categorical=["batch"]))["batch"].categories == ("1", "2")
    with pytest.raises(MatgenError, match="unknown role 'output'"):
        build_conditions(rows, ["a", "b"], ColumnTyping(roles={"batch": "output"}))
    with pytest.raises(MatgenError, match="unknown condition.*batch"):
        build_conditions(rows, ["a", "b"], ColumnTyping(roles={"modulus": "property"}))


def test_name_pattern_matches_real_style_names():
    p = NamePattern("{anneal_temperature_C}C-{anneal_time_h:duration}-{cooling}-{replicate}")
    assert p.match("800C-24H-Q-1") == {"anneal_temperature_C": "800", "anneal_time_h": "24H", "cooling": "Q", "replicate": "1"}
    assert p.match("970C-5M-Q-3")["anneal_time_h"] == "5M"
    assert p.match("scan_001") is None
    assert p.durations == ["anneal_time_h"]
    c = build_conditions([p.match("970C-5M-Q-3")], ["f"], ColumnTyping(durations=p.durations))
    assert c["anneal_time_h"].values[0] == pytest.approx(1 / 12) and c["anneal_time_h"].unit == "h"


@pytest.mark.parametrize("pattern, message", [("plain", "has no {field}"), ("{a}-{a}", "twice"), ("{a:date}", "unknown field type")])
def test_bad_patterns(pattern, message):
    with pytest.raises(MatgenError, match=message):
        NamePattern(pattern)


def test_read_table_sniffs_delimiters_and_reports_ragged_rows(tmp_path):
    (tmp_path / "t.tsv").write_text("file\tT_C\na.txt\t800\n", encoding="utf-8")
    assert read_table(tmp_path / "t.tsv") == (["file", "T_C"], [{"file": "a.txt", "T_C": "800"}])
    (tmp_path / "bad.csv").write_text("file,T_C\na.txt,800,extra\n")
    with pytest.raises(MatgenError, match="bad.csv line 2: 3 cells for 2 columns"):
        read_table(tmp_path / "bad.csv")
    with pytest.raises(MatgenError, match="conditions table not found"):
        read_table(tmp_path / "missing.csv")


def test_a_numeric_column_without_a_unit_gets_a_warning_that_shows_the_header_to_write():
    rows = [{"modulus": "70", "hardness (HV)": "300", "ratio (1)": "0.5", "sample_id": "7", "replicate": "1",
             "cooling": "Q", "anneal_time_h": "2"},
            {"modulus": "71", "hardness (HV)": "310", "ratio (1)": "0.6", "sample_id": "8", "replicate": "2",
             "cooling": "WQ", "anneal_time_h": "4"}]
    warnings = []
    c = build_conditions(rows, ["t.csv line 2", "t.csv line 3"], warnings=warnings)
    assert warnings == ["condition 'modulus' is a number without a unit; if it has one, put it in the column name, "
                        "e.g. 'modulus (GPa)' (or 'modulus (1)' for a pure number), and import again"]
    assert c["modulus"].unit == "" and c["ratio"].unit == "1" and c["hardness"].unit == "HV"
    assert c["sample_id"].role == "meta" and c["replicate"].role == "meta"  # ids need no unit
    build_conditions(rows, ["a", "b"], ColumnTyping(roles={"modulus": "meta"}), warnings=(quiet := []))
    assert quiet == []
