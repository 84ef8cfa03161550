"""What every model kind shares: the class attributes the registry and the trainer read, and their defaults."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor, nn


class ModelKind(nn.Module):
    """Base of the model kinds (see :mod:`matgen.runs.kinds` for what a kind defines)."""

    kind: ClassVar[str] = ""  # name in config.json and `matgen train --model`
    summary: ClassVar[str] = ""  # one line for --help
    listing_order: ClassVar[int] = 100  # place in listings (built-ins first)
    presets: ClassVar[dict] = {}  # network preset name -> config
    conditions_are_inputs: ClassVar[bool] = True  # False: the model predicts its conditions (a regressor)
    position_features: ClassVar[bool] = True  # non-periodic spectra get absolute-position features

    @classmethod
    def validation_warning(cls, latents: Tensor) -> str | None:
        """A warning from the validation latents (e.g. posterior collapse), or None."""
        return None
