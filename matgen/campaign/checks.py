"""Everything a campaign checks before any work: the simulator, the targets, the model's conditions, units.

:func:`check_campaign` builds the simulator and refuses, with one MatgenError each:

* a malformed config or target (:meth:`CampaignConfig.check`);
* a target that the simulator does not return (the message lists its outputs);
* a target that is not a continuous condition of the model (or of the regressor): the message
  lists the valid targets with their units and training ranges; without a run, the conditions
  the first model will be trained on must be conditions of the data;
* a starting run that is a regressor, or data that does not fit the run (kind, shape, phases);
* a property the data holds in another unit than the simulator returns it;
* an impossible target: no combination of the targets' probe values (a value; a range's ends and
  middle; a bound) passes ``simulator.infeasible`` (e.g. a modulus outside the bounds that a
  density's phase fraction allows).

For a built-in dataset only two rows are built here, enough to know its conditions and units.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from matgen.campaign.config import CampaignConfig
from matgen.campaign.targets import Target
from matgen.errors import MatgenError


@dataclass
class Context:
    """What the checks found: the simulator (bound to the data) and the targets' units."""

    simulator: object
    units: dict[str, str]  # target name -> the unit the simulator returns it in


def check_campaign(config: CampaignConfig, simulator=None) -> Context:
    """Build the simulator (``simulator`` overrides ``config.simulator``) and check every target; returns the Context.

    Raises:
        MatgenError: any of the faults in the module docstring.
    """
    from matgen.simulators import get_simulator

    config.check()
    targets = config.targets
    spec = simulator if simulator is not None else config.simulator
    sim = get_simulator(spec, **dict(config.simulator_options))
    probe = probe_data(config)
    if hasattr(sim, "bind"):
        sim = sim.bind(probe)
    outputs = {o.name: o for o in sim.outputs}
    for name in targets:
        if name not in outputs:
            raise MatgenError(f"target '{name}' is not a property simulator '{sim.name}' returns; it "
                              f"returns: {', '.join(outputs)}")
    check_conditions(config, targets, probe)
    for name, o in outputs.items():
        cond = probe.conditions.get(name)
        if cond is not None and not cond.is_categorical and cond.unit != o.unit:
            raise MatgenError(f"the data holds {name} in {cond.unit or 'no unit'} but simulator '{sim.name}' returns "
                              f"it in {o.unit or 'no unit'}; convert one of them")
    check_feasible(sim, targets)
    if config.physics_guidance is not None:
        check_physics(config, probe)
    if config.oversample > 1:
        missing = [name for name in targets if name not in probe.conditions]
        if missing:
            raise MatgenError(f"screening (oversample = {config.oversample}) learns the targets from the data, which "
                              f"lacks {', '.join(missing)}; set oversample = 1 or start from data that holds them")
    return Context(sim, {n: outputs[n].unit for n in targets})


def check_physics(config: CampaignConfig, probe) -> None:
    """The physics-guidance simulator has a differentiable form for the data and returns at least one target."""
    from matgen.sample.physics import physics_simulator

    phases = max(2, int(probe.signals.max()) + 1) if probe.signal_type == "labels" else None
    simulator = physics_simulator(config.physics_guidance, probe.kind, phases)
    steered = [name for name in config.targets if name in {o.name for o in simulator.outputs}]
    if not steered:
        raise MatgenError(f"physics_guidance '{simulator.name}' returns none of the targets "
                          f"({', '.join(config.targets)}); it returns {', '.join(o.name for o in simulator.outputs)}")


def probe_data(config: CampaignConfig):
    """The starting data, or (for a built-in dataset) two rows of it: enough to check names and units."""
    from matgen.data import read

    if config.data is not None:
        return read(config.data)
    if config.builder is not None:
        from matgen.builders import build, make_options

        try:  # every option, n included, before any file
            make_options(config.builder, **config.builder_options)
        except MatgenError as exc:
            raise MatgenError(f"[builder_options]: {exc}") from None
        options = {k: v for k, v in config.builder_options.items() if k != "n"}
        return build(config.builder, n=2, **options)
    from matgen.runs import read_config

    path = Path(read_config(config.run).data.path)
    if not path.is_file():
        raise MatgenError(f"the run's training data {path} is missing; give the starting data as data = \"DATA.h5\"")
    return read(path)


def check_conditions(config: CampaignConfig, targets: Mapping[str, Target], probe) -> None:
    """Every target must be a continuous condition of the model (or of the regressor), or -- with physics
    guidance -- an output of the physics simulator, which then steers it alone."""
    from matgen.runs import check_fits, model_class, read_config
    from matgen.sample.targets import valid_targets

    specs = []
    if config.run is not None:
        run = read_config(config.run)
        model, data = run.model, run.data
        if not model_class(model.kind).conditions_are_inputs:
            raise MatgenError(f"{config.run} is a regressor run; a campaign samples from a diffusion or VAE run "
                              "(give the regressor as regressor = \"RUN\")")
        check_fits(probe, data, str(config.data or config.builder or data.path))
        if model_class(model.kind).samplers:
            model_class(model.kind).check_sampler(config.sampler)
        specs = list(model.conditions)
        names = [s.name for s in specs]
    else:
        first = model_class(config.train_config().model)
        if first.samplers:
            first.check_sampler(config.sampler)
        names = list(config.train_config().conditions)
        for name in names:
            probe.condition(name)  # an unknown one -> MatgenError listing the data's conditions
    if config.regressor is not None:
        reg = read_config(config.regressor).model
        specs += list(reg.conditions)
        names += [s.name for s in reg.conditions]
    steered = physics_outputs(config)
    for name in targets:
        if name not in names and name not in steered:
            valid = valid_targets(specs) if specs else ", ".join(names) or "none"
            also = f"; physics guidance by {config.physics_guidance} steers {', '.join(steered)}" if steered else ""
            raise MatgenError(f"unknown target '{name}': not a condition of the model; it takes: {valid}{also}")
        if name in probe.conditions and probe.conditions[name].is_categorical:
            raise MatgenError(f"target '{name}' is categorical; a campaign target is a number the simulator returns")


def physics_outputs(config: CampaignConfig) -> list[str]:
    """The outputs of the physics-guidance simulator ([] without physics guidance)."""
    if config.physics_guidance is None:
        return []
    from matgen.simulators import get_simulator

    return [o.name for o in get_simulator(config.physics_guidance).outputs]


def check_feasible(simulator, targets: Mapping[str, Target]) -> None:
    """MatgenError when no combination of the targets' probe values is reachable (``simulator.infeasible``)."""
    infeasible = getattr(simulator, "infeasible", None)
    if infeasible is None:
        return
    names = list(targets)
    reasons = []
    for combo in itertools.product(*[targets[k].probes() for k in names]):
        reason = infeasible(dict(zip(names, combo)))
        if reason is None:
            return
        reasons.append(reason)
    raise MatgenError(f"impossible target: {reasons[0]}")
