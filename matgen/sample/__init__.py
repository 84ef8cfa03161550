"""Sampling: candidates from a trained run for target conditions, written as a matgen dataset.

    >>> from matgen.sample import sample
    >>> result = sample("runs/density", {"density": 2.9}, n=16, sampler="dpmpp-2m", steps=30, guidance=1.0, seed=0)
    >>> result.dataset                       # 16 micrographs with density = 2.9 g/cm3 as a condition
    >>> result.warnings                      # e.g. a target outside the training range

:mod:`~matgen.sample.options` holds the defaults (torch-free); :mod:`~matgen.sample.targets` turns
names and values into the condition matrix; :mod:`~matgen.sample.generate` runs the samplers (and
VAE interpolation); :mod:`~matgen.sample.inpainting` fills masked ranges of spectra (RePaint);
:mod:`~matgen.sample.regressor` and :mod:`~matgen.sample.physics` steer them
(regressor guidance; a simulator's differentiable form); :mod:`~matgen.sample.plot` draws the PNG.

Importing this package is cheap (the command line reads :data:`~matgen.sample.options.DEFAULTS` at
start-up): the sampling code and torch load on first use of its functions.
"""

from matgen.sample.options import DEFAULTS, SampleOptions

__all__ = ["DEFAULTS", "DEFAULT_SPACING", "SampleOptions", "SampleResult", "describe_target", "inpaint", "interpolate",
           "option_name", "resolve_targets", "sample", "valid_targets"]

_LAZY = {"DEFAULT_SPACING": "matgen.sample.generate", "SampleResult": "matgen.sample.generate",
         "interpolate": "matgen.sample.generate", "inpaint": "matgen.sample.inpainting", "sample": "matgen.sample.generate",
         "describe_target": "matgen.sample.targets", "option_name": "matgen.sample.targets",
         "resolve_targets": "matgen.sample.targets", "valid_targets": "matgen.sample.targets"}


def __getattr__(name: str):
    """The sampling functions, imported (with torch) on first use."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'matgen.sample' has no attribute {name!r}")
