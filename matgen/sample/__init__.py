"""Sampling: candidates from a trained run for target conditions, written as a matgen dataset.

    >>> from matgen.sample import sample
    >>> result = sample("runs/density", {"density": 2.9}, n=16, sampler="dpmpp-2m", steps=30, guidance=1.0, seed=0)
    >>> result.dataset                       # 16 micrographs with density = 2.9 g/cm3 as a condition
    >>> result.warnings                      # e.g. a target outside the training range

:mod:`~matgen.sample.targets` turns names and values into the condition matrix;
:mod:`~matgen.sample.generate` runs the samplers (and VAE interpolation); :mod:`~matgen.sample.plot`
draws the PNG.
"""

from matgen.sample.generate import DEFAULT_SPACING, SampleResult, interpolate, sample
from matgen.sample.targets import describe_target, option_name, resolve_targets, valid_targets

__all__ = ["DEFAULT_SPACING", "SampleResult", "describe_target", "interpolate", "option_name", "resolve_targets",
           "sample", "valid_targets"]
