"""The campaign options (:class:`CampaignConfig`): one dataclass, read from TOML or given in Python.

A ``campaign.toml`` holds any of the fields below at its top level, and three tables::

    builder = "spinodal"            # or: data = "spinodal.h5", and/or run = "runs/density"
    candidates = 16
    rounds = 4
    simulator = "elastic"
    finetune_steps = 150
    seed = 0

    [builder_options]               # options of the built-in dataset (matgen data build NAME --help)
    n = 1000
    size = 32

    [train]                         # TrainConfig fields for the first model (when no run is given)
    net = "tiny"
    steps = 600

    [targets]                       # see matgen.campaign.targets for the forms
    density = "2.95 ± 0.5%"
    modulus = "158 ± 3%"

Relative paths (``data``, ``run``, ``regressor``) are relative to the TOML file's folder. The
same fields from Python: ``CampaignConfig(targets={"density": "2.95 ± 0.5%"}, builder="spinodal",
...)``. :meth:`CampaignConfig.check` finds malformed values; whether the targets suit the model
and the simulator is checked by the campaign before any work (:mod:`matgen.campaign.loop`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

from matgen.campaign.targets import parse_targets
from matgen.common.files import read_toml_table
from matgen.common.records import from_record
from matgen.errors import MatgenError
from matgen.sample.options import DEFAULTS as SAMPLING
from matgen.simulators.executors import parse_executor


@dataclass
class CampaignConfig:
    """Everything a campaign is told; defaults suit a small CPU campaign."""

    targets: dict = field(default_factory=dict)  # property -> Target, given as text: "2.95 ± 1%", "140..160", ">= 150"
    # starting point: data and/or a trained run
    data: str | None = None  # a matgen dataset file (.h5) to start from
    builder: str | None = None  # or a built-in dataset to build (spinodal, composite, ...)
    builder_options: dict = field(default_factory=dict)  # its options (n, size, seed, ranges as "LOW..HIGH")
    run: str | None = None  # a trained diffusion/VAE run to start from (default: train one on the data)
    train: dict = field(default_factory=dict)  # TrainConfig fields for that first model; conditions default to the targets
    # each round
    candidates: int = 16  # candidates sampled and simulated per round
    rounds: int = 3  # rounds at most
    budget: int | None = None  # simulator calls at most over all rounds (None: candidates x rounds)
    sampler: str = "auto"  # the model kind's default, or one of its samplers (diffusion: ddpm, ddim, dpmpp-2m, heun)
    steps: int = 25  # sampler steps
    guidance: float = 0.0  # classifier-free guidance weight (0: the conditional model alone)
    regressor: str | None = None  # a regressor run for regressor guidance (optional)
    regressor_scale: float = 1.0  # its guidance scale
    physics_guidance: str | None = None  # a simulator with a differentiable form (elastic, xrd-phases, raman-bands, eels-thickness) steering the sampler
    physics_scale: float = SAMPLING.physics_scale  # its strength: Gauss-Newton steps per denoiser call (0: off)
    bound_margin: float = 0.05  # a bound ">= b" is sampled at b (1 + margin) (see matgen.campaign.targets)
    steer: float = 1.0  # gain of the correction of each round's request by the last round's median miss (0: off)
    simulator: Any = "elastic"  # built-in name, "package.module:function", an argv list with {input}/{output}, or a callable
    simulator_options: dict = field(default_factory=dict)  # options of the simulator (e.g. outputs = ["modulus:GPa"])
    workers: int = 1  # simulator worker processes
    executor: str = "local"  # where simulator batches run: local, dask://HOST:PORT or dask-local[:N] (scaling.md)
    timeout_s: float | None = None  # seconds a simulator batch may run before it fails
    simulator_batch: int | None = None  # candidates per simulator call (default: the simulator's)
    finetune_steps: int = 200  # optimizer steps of fine-tuning after each round (0: never fine-tune)
    finetune_lr: float | None = None  # their peak learning rate (default: the model's training lr)
    oversample: int = 1  # candidates sampled per simulated one: > 1 screens them with a learned predictor first
    screen_members: int = 4  # CNN regressors in the screening ensemble (their spread is the uncertainty)
    screen_epochs: int = 15  # epochs each member trains, on the data so far, every round
    # stopping
    stop_after_hits: int | None = None  # stop once this many hits are found in total
    max_failure_rate: float = 0.5  # stop when more than this fraction of a round's candidates fail
    baselines: bool = True  # also measure the nearest training samples and unguided sampling
    seed: int = 0  # seeds sampling (round r, candidate i: seed + 100000 r + i), training and fine-tuning
    device: str = "auto"  # auto, cpu or cuda for training and sampling

    def __post_init__(self) -> None:
        """Parse the targets once, here: everything after this passes the :class:`Target` objects."""
        if not isinstance(self.targets, Mapping):
            raise MatgenError(f"targets must be a table (name = value pairs), got {self.targets!r}")
        self.targets = parse_targets(self.targets)

    def train_config(self):
        """The TrainConfig of the first model: ``train`` with conditions (default: the targets), seed and device."""
        from matgen.train import TrainConfig

        values = dict(self.train)
        values.setdefault("conditions", tuple(self.targets))
        values.setdefault("seed", self.seed)
        values.setdefault("device", self.device)
        return TrainConfig.from_dict(values, where="[train]").check()

    def round_sizes(self) -> list[int]:
        """Candidates of each round: ``candidates`` per round, the last one cut to what the budget leaves."""
        if self.budget is None:
            return [self.candidates] * self.rounds
        sizes, left = [], self.budget
        while left > 0 and len(sizes) < self.rounds:
            sizes.append(min(self.candidates, left))
            left -= sizes[-1]
        return sizes

    def check(self) -> "CampaignConfig":
        """Return self, or raise a MatgenError naming the bad field and what it takes."""
        from matgen.runs.kinds import sampler_names

        if self.data is None and self.builder is None and self.run is None:
            raise MatgenError("give the starting point: data = \"DATA.h5\", builder = \"spinodal\" (a built-in "
                              "dataset) and/or run = \"RUN_DIR\" (a trained model)")
        if self.data is not None and self.builder is not None:
            raise MatgenError("give data (a file) or builder (a built-in dataset), not both")
        for name in ("candidates", "rounds"):
            if not _whole(getattr(self, name), 1):
                raise MatgenError(f"{name} must be a whole number >= 1, got {getattr(self, name)!r}")
        if self.budget is not None and not _whole(self.budget, 1):
            raise MatgenError(f"budget (simulator calls) must be a whole number >= 1, got {self.budget!r}")
        if self.stop_after_hits is not None and not _whole(self.stop_after_hits, 1):
            raise MatgenError(f"stop_after_hits must be a whole number >= 1, got {self.stop_after_hits!r}")
        for name in ("steps", "workers", "oversample", "screen_members", "screen_epochs"):
            if not _whole(getattr(self, name), 1):
                raise MatgenError(f"{name} must be a whole number >= 1, got {getattr(self, name)!r}")
        if not _whole(self.finetune_steps, 0):
            raise MatgenError(f"finetune_steps must be a whole number >= 0, got {self.finetune_steps!r}")
        if self.simulator_batch is not None and not _whole(self.simulator_batch, 1):
            raise MatgenError(f"simulator_batch must be a whole number >= 1, got {self.simulator_batch!r}")
        if self.sampler not in sampler_names():
            raise MatgenError(f"unknown sampler '{self.sampler}'; choose from {', '.join(sampler_names())}")
        numbers = {"guidance": (self.guidance, 0.0), "regressor_scale": (self.regressor_scale, 0.0),
                   "physics_scale": (self.physics_scale, 0.0),
                   "bound_margin": (self.bound_margin, 0.0), "steer": (self.steer, 0.0)}
        for name, (value, low) in numbers.items():
            if not _real(value) or value < low:
                raise MatgenError(f"{name} must be a number >= {low:g}, got {value!r}")
        if not _real(self.max_failure_rate) or not 0.0 <= self.max_failure_rate <= 1.0:
            raise MatgenError(f"max_failure_rate must be between 0 and 1, got {self.max_failure_rate!r}")
        if self.timeout_s is not None and (not _real(self.timeout_s) or self.timeout_s <= 0):
            raise MatgenError(f"timeout_s must be a positive number of seconds, got {self.timeout_s!r}")
        if not isinstance(self.executor, str):
            raise MatgenError(f"executor must be text (local, dask://HOST:PORT or dask-local[:N]), got "
                              f"{self.executor!r}; pass a Client or an Executor as Campaign(..., executor=...)")
        parse_executor(self.executor)
        if self.finetune_lr is not None and (not _real(self.finetune_lr) or self.finetune_lr <= 0):
            raise MatgenError(f"finetune_lr must be a positive number, got {self.finetune_lr!r}")
        if not _whole(self.seed, 0):
            raise MatgenError(f"seed must be a whole number >= 0, got {self.seed!r}")
        for name in ("builder_options", "train", "simulator_options", "targets"):
            if not isinstance(getattr(self, name), Mapping):
                raise MatgenError(f"{name} must be a table (name = value pairs), got {getattr(self, name)!r}")
        return self

    def to_dict(self) -> dict:
        """A JSON-ready dict (targets as text; a callable simulator as its name)."""
        d = asdict(self)
        d["targets"] = {name: t.text() for name, t in self.targets.items()}
        if callable(self.simulator) or not isinstance(self.simulator, (str, list, tuple)):
            d["simulator"] = _callable_name(self.simulator)
        else:
            d["simulator"] = self.simulator if isinstance(self.simulator, str) else list(self.simulator)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "the campaign config", base: Path | None = None) -> "CampaignConfig":
        """The config with the fields in ``d`` (keys may use - for _); relative paths resolved against ``base``.

        Raises:
            MatgenError: an unknown key (the message lists the fields) or a malformed value.
        """
        d = {str(k).replace("-", "_"): v for k, v in d.items()}
        if base is not None:
            for key in ("data", "run", "regressor"):
                if isinstance(d.get(key), str) and not Path(d[key]).expanduser().is_absolute():
                    d[key] = str((base / Path(d[key]).expanduser()).resolve())
        try:
            return from_record(cls, d, "option").check()
        except MatgenError as exc:
            raise MatgenError(f"{where}: {exc}") from None


def _whole(value, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _real(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _callable_name(obj) -> str:
    module, name = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None) or getattr(obj, "name", "")
    return f"{module}:{name}" if module and name else str(getattr(obj, "name", repr(obj)))


def read_campaign_config(path: str | Path) -> CampaignConfig:
    """The CampaignConfig in a TOML file.

    Raises:
        MatgenError: the file is missing, not TOML, or holds an unknown or malformed option.
    """
    path = Path(path)
    doc = read_toml_table(path, "give a campaign .toml file (examples/*.toml show the fields)")
    return CampaignConfig.from_dict(doc, where=str(path), base=path.resolve().parent)
