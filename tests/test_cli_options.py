"""A default is said once: `matgen train` and `matgen data build` read theirs from the library's dataclasses."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import click
import pytest
import typer

from matgen.builders.options import (
    CompositeOptions, EelsOptions, RamanOptions, SpinodalAlloyOptions, SpinodalOptions, XrdOptions,
)
from matgen.cli.main import app
from matgen.cli.options import show_value
from matgen.train.config import TrainConfig

CLI = Path(__file__).resolve().parents[1] / "matgen" / "cli"


def _params(*path: str) -> dict[str, click.Parameter]:
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    return {p.name: p for p in command.params}


def _default(help_text: str) -> str | None:
    found = re.search(r"\(default ([^)]*)\)\.$", help_text or "")
    return found.group(1) if found else None


def test_every_train_option_of_a_train_config_field_shows_that_fields_default():
    params = _params("train")
    names = {f.name for f in fields(TrainConfig)} & set(params) - {"conditions", "epochs", "circular", "autoencoder"}
    assert len(names) == 25  # every TrainConfig field the command line sets, but for the four without a plain default
    for name in names:
        assert _default(params[name].help) == show_value(getattr(TrainConfig(), name)), name


@pytest.mark.parametrize("command, options, renamed", [
    ("spinodal", SpinodalOptions, {"interface_width": "interface_width_px"}),
    ("spinodal-alloy", SpinodalAlloyOptions, {"anneal_temperature": "anneal_temperature_c", "anneal_time": "anneal_time_h",
                                            "pixel_size": "pixel_size_nm"}),
    ("composite", CompositeOptions, {"orientation": "orientation_deg", "orientation_spread": "orientation_spread_deg"}),
    ("xrd", XrdOptions, {"two_theta": "two_theta_deg", "crystallite_size": "crystallite_size_nm",
                         "wavelength": "wavelength_angstrom"}),
    ("raman", RamanOptions, {"shift": "shift_cm1", "temperature": "temperature_k", "stress": "stress_gpa",
                             "laser": "laser_nm"}),
    ("eels", EelsOptions, {"offset": "offset_ev", "dispersion": "dispersion_ev", "resolution": "resolution_ev"}),
])
def test_build_options_show_the_defaults_of_the_builders_options(command, options, renamed):
    params = _params("data", "build", command)
    checked = 0
    for name, param in params.items():
        field = renamed.get(name, name)
        if field in {f.name for f in fields(options)} and getattr(options(), field) is not None:
            assert _default(param.help) == show_value(getattr(options(), field)), name
            assert param.default is None  # the library fills it in: the CLI passes only what the user gave
            checked += 1
    assert checked >= 5


def test_no_help_text_states_a_number_as_default_by_hand():
    """Help strings may name a default rule ("default: the run's data"), never a literal number typed in."""
    for path in CLI.glob("*.py"):
        assert not re.search(r"\(default -?[0-9]", path.read_text(encoding="utf-8")), path.name
