"""The model kinds: one module each, found by the registry, so a new kind joins by adding one module.

A kind module defines ``MODEL``, an ``nn.Module`` class built from a
:class:`~matgen.runs.config.ModelConfig`, with

* ``kind`` (its name in config.json and ``matgen train --model``), ``summary`` (one line),
  ``presets`` (network preset name -> config) and ``conditions_are_inputs`` (False when the
  model predicts its conditions, as a regressor does);
* ``size_multiple(preset, net_options)``: every signal size must be a multiple of it;
* ``plan(options, data, specs, cond_dim, common, net_options)``: the ModelConfig of a new run
  (``options``: the training options, :class:`matgen.train.TrainConfig`);
* ``training_loss(x0, cond, drop, generator, options, step, shard=None)`` and
  ``validation_loss(x0, cond, generator, options) -> (loss, latents or None)``; ``shard``
  (a :class:`~matgen.common.distributed.BatchShard`) says which rows of the step's global batch
  x0 holds in a multi-process run: every draw from ``generator`` is made for the whole batch and
  cut to those rows, so the processes together compute the single-process step.

Built in: :mod:`~matgen.runs.kinds.diffusion`, :mod:`~matgen.runs.kinds.vae`,
:mod:`~matgen.runs.kinds.regressor`, :mod:`~matgen.runs.kinds.autoencoder` and
:mod:`~matgen.runs.kinds.latent` (diffusion on an autoencoder run's latents).
"""

from __future__ import annotations

import importlib
import pkgutil

from torch import nn

from matgen.errors import MatgenError


def discover(path, package: str) -> dict[str, type]:
    """kind name -> model class of every module in the package ``package`` (folder ``path``) that defines
    ``MODEL``, ordered by the classes' ``listing_order``."""
    kinds = {}
    for info in sorted(pkgutil.iter_modules(path), key=lambda m: m.name):
        model = getattr(importlib.import_module(f"{package}.{info.name}"), "MODEL", None)
        if model is not None:
            kinds[model.kind] = model
    return dict(sorted(kinds.items(), key=lambda item: item[1].listing_order))


#: kind name -> model class, in the order ``matgen train --help`` lists them.
MODEL_KINDS: dict[str, type] = discover(__path__, __name__)


def model_class(kind: str) -> type:
    """The model class of ``kind``; a MatgenError lists the kinds."""
    if kind not in MODEL_KINDS:
        raise MatgenError(f"unknown model '{kind}'; choose from {', '.join(MODEL_KINDS)}")
    return MODEL_KINDS[kind]


def sampler_names() -> tuple[str, ...]:
    """``auto`` and every sampler some kind is drawn by (each kind checks its own: ``check_sampler``)."""
    names = ["auto"]
    for kind in MODEL_KINDS.values():
        names += [name for name in kind.samplers if name not in names]
    return tuple(names)


def build_model(config) -> nn.Module:
    """Return the untrained model that the :class:`~matgen.runs.config.ModelConfig` ``config`` describes."""
    return model_class(config.kind)(config)
