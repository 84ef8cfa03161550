"""From the training options and the dataset to what gets built: the ModelConfig and the DataSpec.

The network's rank and channels follow the data (spectra: 1-D, micrographs: 2-D), the preset
gives its widths (``net_options`` replace single fields), and its size multiple decides the
padding of spectra (see :mod:`matgen.train.prepare`). The condition embedding is as wide as the
preset's time embedding. Condition statistics (mean, std, min, max) come from the training part
only, so the "training range" a sample target is checked against is the one the model saw.
A regressor predicts its conditions instead of taking them (standardised with those statistics):
they must be continuous, and it sees the data exactly as a diffusion run on the same data does.
"""

from __future__ import annotations

from matgen.data.dataset import Dataset
from matgen.errors import MatgenError
from matgen.nets import REGRESSOR_PRESETS, UNET_PRESETS, VAE_PRESETS, regressor_preset, unet_preset, vae_preset
from matgen.train.config import ModelConfig, TrainConfig
from matgen.train.prepare import PERIODIC_BUILDERS, DataSpec, condition_specs, describe_data

#: Absolute-position features (sin/cos of the place on the axis) for the networks of non-periodic
#: spectra: without them a convolutional network cannot learn at which wavenumber a band belongs.
SPECTRUM_POSITION_FEATURES = 16


def size_multiple(config: TrainConfig) -> int:
    """Every signal size must be a multiple of this: 2^(levels - 1) (U-Net, regressor), 2^levels (VAE)."""
    presets = {"vae": VAE_PRESETS, "regressor": REGRESSOR_PRESETS}.get(config.model, UNET_PRESETS)
    mults = config.net_options.get("channel_mults", presets[config.net].channel_mults)
    return 2 ** (len(mults) - (0 if config.model == "vae" else 1))


def plan(ds: Dataset, train_part: Dataset, path: str, sha256: str, config: TrainConfig) -> tuple[ModelConfig, DataSpec]:
    """Return the ModelConfig and DataSpec of a run on ``ds`` (statistics from ``train_part``).

    Raises:
        MatgenError: an unknown condition (the message lists the dataset's), a size that does not
            fit the network, or options that do not suit the data.
    """
    config.check()
    for name in config.conditions:
        ds.condition(name)  # unknown name -> MatgenError listing the dataset's conditions
    if config.model == "regressor":
        check_continuous(ds, config.conditions)
    circular = config.circular
    if circular is None:
        circular = not ds.is_spectrum and str(ds.attrs.get("builder", "")) in PERIODIC_BUILDERS
    data = describe_data(ds, path, sha256, config.spectrum_norm, circular, size_multiple(config))
    data.roles = {name: ds.conditions[name].role for name in config.conditions}
    specs = condition_specs(train_part, config.conditions)
    options = dict(config.net_options)
    width = options.get("time_dim", UNET_PRESETS[config.net].time_dim)
    cond_dim = int(options.pop("cond_dim", width)) if specs and config.model != "regressor" else 0
    common = dict(dims=1 if ds.is_spectrum else 2, in_channels=data.channels, circular=data.circular)
    if ds.is_spectrum and not data.circular and config.model != "vae":
        # a band's place on the axis matters: tell the convolutional network where it is
        options.setdefault("position_features", SPECTRUM_POSITION_FEATURES)
    try:
        if config.model == "diffusion":
            net = unet_preset(config.net, out_channels=data.channels, cond_dim=cond_dim, **common, **options).to_dict()
        elif config.model == "vae":
            net = vae_preset(config.net, signal_shape=data.shape, cond_dim=cond_dim, **common, **options).to_dict()
        else:
            net = regressor_preset(config.net, n_outputs=len(specs), **common, **options).to_dict()
    except TypeError as exc:
        raise MatgenError(f"net_options: {exc}") from None
    likelihood = ""  # not used by diffusion
    if config.model == "vae":
        binary = data.norm == "labels" and data.n_phases == 2
        likelihood = ("bce" if binary else "mse") if config.likelihood == "auto" else config.likelihood
        if likelihood == "bce" and not binary:
            raise MatgenError("the bce likelihood is for two-phase label maps; use --likelihood mse for this data")
    prediction = "" if config.model == "regressor" else config.prediction
    model = ModelConfig(config.model, net, specs, cond_dim, prediction, config.schedule, config.timesteps, likelihood)
    return model, data


def check_continuous(ds: Dataset, names) -> None:
    """Raise a MatgenError naming the dataset's continuous conditions when one of ``names`` is categorical."""
    categorical = [name for name in names if ds.condition(name).is_categorical]
    if categorical:
        numeric = [name for name, c in ds.conditions.items() if not c.is_categorical]
        raise MatgenError(f"condition '{categorical[0]}' is categorical; regressor guidance is for continuous "
                          f"properties (this dataset has: {', '.join(numeric) or 'none'})")
