"""From the training options and the dataset to what gets built: the ModelConfig and the DataSpec.

The network's rank and channels follow the data (spectra: 1-D, micrographs: 2-D), the preset
gives its widths (``net_options`` replace single fields), and the model kind's size multiple
decides the padding of spectra (see :mod:`matgen.runs.normalisation`). The condition embedding
is as wide as the preset's time embedding. Condition statistics (mean, std, min, max) come from
the training part only, so the "training range" a sample target is checked against is the one
the model saw. A kind that predicts its conditions (the regressor) needs them continuous
(standardised with those statistics); it sees the data exactly as a diffusion run on the same
data does. What is kind-specific is each kind's ``plan`` (:mod:`matgen.runs.kinds`).
"""

from __future__ import annotations

import numpy as np

from matgen.data.dataset import Dataset
from matgen.errors import MatgenError
from matgen.nets import UNET_PRESETS
from matgen.runs import DataSpec, ModelConfig, condition_specs, describe_data, model_class
from matgen.runs.normalisation import PERIODIC_BUILDERS
from matgen.train.config import TrainConfig

#: Absolute-position features (sin/cos of the place on the axis) for the networks of non-periodic
#: spectra: without them a convolutional network cannot learn at which wavenumber a band belongs.
SPECTRUM_POSITION_FEATURES = 16


def size_multiple(config: TrainConfig) -> int:
    """Every signal size must be a multiple of this (the model kind's, for its preset and net_options)."""
    return model_class(config.model).size_multiple(config.net, config.net_options)


def check_finite_signals(ds: Dataset, path: str) -> None:
    """Raise a MatgenError naming the rows whose signals hold NaN or inf (a network cannot learn them)."""
    finite = np.isfinite(ds.signals.reshape(len(ds), -1)).all(axis=1)
    if not finite.all():
        first = ", ".join(str(i) for i in ds.ids[~finite][:3])
        raise MatgenError(f"{path}: {int((~finite).sum())} row(s) hold NaN or inf in their signals (first: {first}); "
                          "remove those rows or re-import the files they came from")


def plan(ds: Dataset, train_part: Dataset, path: str, sha256: str, config: TrainConfig) -> tuple[ModelConfig, DataSpec]:
    """Return the ModelConfig and DataSpec of a run on ``ds`` (statistics from ``train_part``).

    Raises:
        MatgenError: an unknown condition (the message lists the dataset's), a size that does not
            fit the network, or options that do not suit the data.
    """
    config.check()
    kind = model_class(config.model)
    for name in config.conditions:
        ds.condition(name)  # unknown name -> MatgenError listing the dataset's conditions
    if not kind.conditions_are_inputs:
        check_continuous(ds, config.conditions)
    check_finite_signals(ds, path)
    circular = config.circular
    if circular is None:
        circular = not ds.is_spectrum and str(ds.attrs.get("builder", "")) in PERIODIC_BUILDERS
    data = describe_data(ds, path, sha256, config.spectrum_norm, circular, size_multiple(config))
    data.roles = {name: ds.conditions[name].role for name in config.conditions}
    specs = condition_specs(train_part, config.conditions)
    options = dict(config.net_options)
    width = options.get("time_dim", UNET_PRESETS[config.net].time_dim)
    cond_dim = int(options.pop("cond_dim", width)) if specs and kind.conditions_are_inputs else 0
    common = dict(dims=1 if ds.is_spectrum else 2, in_channels=data.channels, circular=data.circular)
    if ds.is_spectrum and not data.circular and kind.position_features:
        # a band's place on the axis matters: tell the convolutional network where it is
        options.setdefault("position_features", SPECTRUM_POSITION_FEATURES)
    try:
        model = kind.plan(config, data, specs, cond_dim, common, options)
    except TypeError as exc:
        raise MatgenError(f"net_options: {exc}") from None
    return kind.calibrate(model, train_part, data, config), data


def check_continuous(ds: Dataset, names) -> None:
    """Raise a MatgenError naming the dataset's continuous conditions when one of ``names`` is categorical."""
    categorical = [name for name in names if ds.condition(name).is_categorical]
    if categorical:
        numeric = [name for name, c in ds.conditions.items() if not c.is_categorical]
        raise MatgenError(f"condition '{categorical[0]}' is categorical; regressor guidance is for continuous "
                          f"properties (this dataset has: {', '.join(numeric) or 'none'})")
