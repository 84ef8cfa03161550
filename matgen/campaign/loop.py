"""The campaign: sample candidates for the targets, simulate them, learn from them, repeat; resumable anywhere.

    >>> from matgen import Campaign
    >>> report = Campaign("campaign.toml", "campaigns/stiff").run()     # or a CampaignConfig, or a dict
    >>> report.rounds[-1].hit_rate, report.baselines["nearest"].hit_rate
    >>> Campaign.resume("campaigns/stiff")                              # after a crash or kill -9

Before any work, :meth:`Campaign.check` builds the simulator and checks every target
(:mod:`matgen.campaign.checks`): a known form, a property the simulator returns *and* a condition
of the model (the message lists the valid ones with units and ranges), and reachable
(``simulator.infeasible``, e.g. a modulus outside the bounds that a density target's phase
fraction allows).

Then (layout in :mod:`matgen.campaign.state`):

1. the starting data (built, or copied into the campaign) and the first model (given, or trained);
2. the baselines (:mod:`matgen.campaign.baselines`), simulated like a round;
3. round r = 1, 2, ...:
   a. the model: round 1 samples the first model; round r > 1 fine-tunes round r-1's model
      on the data so far (:func:`matgen.train.finetune`, ``finetune_steps``); doing it at the
      start of the next round means no fine-tune is spent after the last round;
   b. sample ``candidates`` for the targets (:mod:`matgen.campaign.requests`: the targets'
      sampling values, steered by round r-1's median misses), seeds seed + 100000 r + i, ids
      ``campaign-rRR-IIII``;
   c. simulate them with a per-round result store: a killed round evaluates only what is missing;
   d. relabel every evaluated candidate with the properties it actually has and append it to the
      training data (a failed one is left out): even a miss teaches the model;
   e. summarise (hits, median relative error per target, diversity) and decide: stop when the
      failure rate passes ``max_failure_rate`` (status ``stopped``), when ``stop_after_hits``
      hits are found, or after the last round / the budget (status ``done``).

Each step is skipped when its file exists, so ``run`` on an existing campaign directory (or
:meth:`Campaign.resume`) continues where it stopped; sampling is deterministic by seed and
results already in a store are never recomputed. The library never prints: ``progress(done,
total, message)`` reports work, ``on_summary(summary)`` each finished baseline and round.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from matgen.campaign import state as st
from matgen.campaign.checks import Context, check_campaign
from matgen.campaign.config import CampaignConfig, read_config
from matgen.campaign.report import CampaignReport, Summary, candidate_rows, summarize
from matgen.campaign.requests import sampling_targets, steering_offsets
from matgen.campaign.state import CampaignStatus, status
from matgen.campaign.targets import Target
from matgen.common.files import atomic_path
from matgen.common.progress import Progress, no_progress
from matgen.errors import MatgenError

OnSummary = Callable[[Summary], None]
#: The options `resume` may change: how far the campaign goes, not what it does.
RESUME_OPTIONS = ("rounds", "budget", "stop_after_hits", "max_failure_rate")
ROUND_SEED_STRIDE = 100_000


def _resolve_paths(config: CampaignConfig) -> CampaignConfig:
    for key in ("data", "run", "regressor"):
        value = getattr(config, key)
        if isinstance(value, (str, os.PathLike)):
            setattr(config, key, str(Path(value).expanduser().resolve()))
    return config


class Campaign:
    """A closed-loop campaign in a directory (module docstring).

    Args:
        config: a :class:`CampaignConfig`, a dict of its fields, or the path of a TOML file.
        directory: the campaign directory (created; an existing one must hold the same campaign).
        simulator: a simulator object or function to use instead of ``config.simulator`` (e.g. a
            function defined in a script; pass it again to :meth:`resume`).
    """

    def __init__(self, config: CampaignConfig | Mapping | str | os.PathLike, directory: str | os.PathLike,
                 simulator=None):
        if isinstance(config, (str, os.PathLike)):
            config = read_config(config)
        elif isinstance(config, Mapping):
            config = CampaignConfig.from_dict(config)
        elif isinstance(config, CampaignConfig):
            config.check()
        else:
            raise MatgenError(f"a campaign config is a CampaignConfig, a dict or a TOML path, not {type(config).__name__}")
        self.config = _resolve_paths(config)
        self.layout = st.Layout(directory)
        self.simulator_override = simulator
        self._context: Context | None = None

    # --- opening and inspecting -------------------------------------------------------------------

    @classmethod
    def open(cls, directory: str | os.PathLike, simulator=None, **overrides) -> "Campaign":
        """The campaign stored in ``directory``; ``overrides`` (rounds, budget, stop_after_hits,
        max_failure_rate) extend or shorten it and are saved in campaign.json."""
        layout = st.Layout(directory)
        if not layout.config.is_file():
            raise MatgenError(f"{directory} is not a campaign directory (no {st.CONFIG}); start one with "
                              "`matgen campaign run CONFIG.toml -o DIR`")
        doc = st.read_json(layout.config)
        bad = sorted(k for k, v in overrides.items() if v is not None and k not in RESUME_OPTIONS)
        if bad:
            raise MatgenError(f"a resumed campaign keeps its options; only {', '.join(RESUME_OPTIONS)} may change "
                              f"(got {', '.join(bad)})")
        values = {**doc["config"], **{k: v for k, v in overrides.items() if v is not None}}
        campaign = cls(CampaignConfig.from_dict(values, where=str(layout.config)), directory, simulator)
        if any(v is not None for v in overrides.values()):
            campaign._write_config(replace=True)
        return campaign

    @classmethod
    def resume(cls, directory: str | os.PathLike, progress: Progress = no_progress, on_summary: OnSummary | None = None,
               simulator=None, **overrides) -> CampaignReport:
        """Continue the campaign in ``directory`` where it stopped; returns the report (see :meth:`run`)."""
        return cls.open(directory, simulator, **overrides).run(progress, on_summary)

    def status(self) -> CampaignStatus:
        """Where the campaign stands, from its files."""
        return status(self.layout.root)

    @property
    def report(self) -> CampaignReport:
        """The report as it stands (report.json after a run; otherwise assembled from the round files)."""
        if self.layout.report.is_file():
            return CampaignReport.from_dict(st.read_json(self.layout.report))
        state = st.read_state(self.layout)
        return self._assemble(state["status"], state["reason"])

    def check(self) -> Context:
        """Build the simulator and check every target against it and the model, before any work
        (:func:`matgen.campaign.checks.check_campaign`); the result is kept.

        Raises:
            MatgenError: a malformed config, a target that is not a simulator output or not a
                condition of the model (listing the valid ones), an impossible target, data that
                does not fit the given run, or a unit that differs between data and simulator.
        """
        if self._context is None:
            self._context = check_campaign(self.config, self.simulator_override)
        return self._context

    # --- the run -------------------------------------------------------------------------------------

    def run(self, progress: Progress = no_progress, on_summary: OnSummary | None = None) -> CampaignReport:
        """Run (or continue) the campaign; returns the report (status done or stopped, and why).

        Raises:
            MatgenError: bad input (before any work, see :meth:`check`), or a directory that holds
                a different campaign.
        """
        on_summary = on_summary or (lambda summary: None)
        self.check()
        self._write_config()
        L = self.layout
        st.log(L, "campaign started" if not L.rounds_done() else f"campaign resumed after round {L.rounds_done()[-1]}")
        self._set("running", "preparing", 0, "data")
        data = self._initial_data(progress)
        model = self._initial_run(data, progress)
        x_train = self._train_reference(model, data)
        if self.config.baselines:
            for name in st.BASELINES:
                on_summary(self._baseline(name, model, data, x_train, progress))
        sizes = self.config.round_sizes()
        summaries: list[Summary] = []
        outcome = ("done", "")
        for r, n in enumerate(sizes, start=1):
            record = L.round(r) / "round.json"
            if record.is_file():
                doc = st.read_json(record)
                model, data, summary = doc["model"], doc["data"], Summary.from_dict(doc["summary"])
            else:
                model = self._model_for_round(r, model, data, progress)
                summary, data = self._round(r, n, model, data, x_train, progress)
                st.write_json(record, {"model": str(model), "data": str(data), "summary": summary.to_dict()})
            summaries.append(summary)
            on_summary(summary)
            outcome = self._stop(summaries, r, len(sizes))
            if outcome[1]:
                break
        status_, reason = outcome
        st.log(L, f"{status_}: {reason}")
        self._set(status_, reason, len(summaries), "")
        report = self._assemble(status_, reason)
        report.pictures = self._pictures(report)
        st.write_json(L.report, report.to_dict())
        return report

    def _set(self, status_: str, reason: str, round_: int, phase: str) -> None:
        st.set_state(self.layout, status_, reason, round_, phase)

    def _write_config(self, replace: bool = False) -> None:
        from matgen import __version__

        doc = {"format": st.FORMAT, "format_version": st.FORMAT_VERSION, "matgen_version": __version__,
               "config": self.config.to_dict()}
        if self.layout.config.is_file() and not replace:
            old = st.read_json(self.layout.config).get("config", {})
            differ = sorted(k for k in set(old) | set(doc["config"]) if old.get(k) != doc["config"].get(k))
            if differ:
                raise MatgenError(f"{self.layout.root} already holds a different campaign ({', '.join(differ)} "
                                  f"differ); continue it with `matgen campaign resume {self.layout.root}` or choose "
                                  "another directory")
            return
        self.layout.root.mkdir(parents=True, exist_ok=True)
        st.write_json(self.layout.config, doc)

    def _stop(self, summaries: list[Summary], r: int, planned: int) -> tuple[str, str]:
        """(status, reason) when the campaign ends after round r, else ("running", "")."""
        c, last = self.config, summaries[-1]
        if last.failure_rate > c.max_failure_rate:
            reason = next(iter(last.failures), "unknown")
            return "stopped", (f"{last.failed} of {last.candidates} candidates of round {r} failed "
                               f"({last.failure_rate:.0%} > max_failure_rate {c.max_failure_rate:.0%}); "
                               f"commonest reason: {reason}")
        hits = sum(s.hits for s in summaries)
        if c.stop_after_hits is not None and hits >= c.stop_after_hits:
            return "done", f"found {hits} hit(s) by round {r} (stop_after_hits = {c.stop_after_hits})"
        if r == planned:
            spent = sum(s.candidates for s in summaries)
            if c.budget is not None and spent >= c.budget:
                return "done", f"spent the budget of {c.budget} simulator calls in {r} round(s); {hits} hit(s)"
            return "done", f"ran all {r} round(s); {hits} hit(s)"
        return "running", ""

    # --- the starting point ------------------------------------------------------------------------

    def _initial_data(self, progress: Progress) -> Path:
        """data/initial.h5: the built-in dataset built, or the given (or the run's) data copied."""
        L, c = self.layout, self.config
        path = L.initial_data
        if path.is_file():
            return path
        if c.builder is not None:
            from matgen.builders import build
            from matgen.data import write

            st.log(L, f"building {c.builder} {c.builder_options}")
            write(path, build(c.builder, progress=_labelled(progress, f"building {c.builder}"), **c.builder_options))
        else:
            from matgen.train.run import read_config as read_run

            source = Path(c.data) if c.data is not None else Path(read_run(c.run)[1].path)
            with atomic_path(path) as tmp:
                shutil.copyfile(source, tmp)
            st.log(L, f"copied the starting data {source}")
        return path

    def _initial_run(self, data: Path, progress: Progress) -> Path:
        """The first model: the given run, or one trained (resumed when interrupted) in runs/initial."""
        from matgen.train import resume, train

        if self.config.run is not None:
            return Path(self.config.run)
        run_dir = self.layout.initial_run
        done, started = _training_done(run_dir)
        if done:
            return run_dir
        bar = _labelled(progress, "training the first model")
        self._set("running", "training the first model", 0, "training")
        if started:
            st.log(self.layout, "resuming the training of the first model")
            resume(run_dir, progress=bar)
        else:
            config = self.config.train_config()
            st.log(self.layout, f"training the first model: {config.model}, {config.net}, {config.steps} steps, "
                                f"conditions {', '.join(config.conditions)}")
            train(data, config, run_dir, progress=bar, force=True)
        return run_dir

    def _train_reference(self, model: Path, data: Path) -> np.ndarray:
        """Training signals (as many as a round's candidates) in network units, for the diversity reference."""
        from matgen.data import read
        from matgen.train.prepare import to_network
        from matgen.train.run import read_config as read_run

        ds = read(data)
        rows = np.random.default_rng(self.config.seed).permutation(len(ds))[: self.config.candidates]
        return to_network(ds.signals[np.sort(rows)], read_run(model)[1])

    # --- one set of candidates: simulate, summarise --------------------------------------------------

    def _evaluate(self, folder: Path, name: str, round_: int, candidates, sampled: dict, model: Path,
                  x_train: np.ndarray, progress: Progress, t0: float):
        """Simulate ``candidates`` (resuming from folder/store), write results.json and summary.json."""
        from matgen.simulators import run_simulator
        from matgen.train.prepare import to_network
        from matgen.train.run import read_config as read_run

        c, ctx = self.config, self.check()
        self._set("running", f"simulating {name}", round_, "simulating")
        evaluation = run_simulator(ctx.simulator, candidates, workers=c.workers, batch_size=c.simulator_batch,
                                   timeout_s=c.timeout_s, store=folder / "store",
                                   progress=_labelled(progress, f"{name}: simulating"))
        ids = candidates.ids.astype(str)
        rows = candidate_rows(ids, ctx.targets, evaluation.properties, evaluation.errors, sampled)
        st.write_json(folder / "results.json", {"name": name, "round": round_, "units": ctx.units, "candidates": rows})
        x = to_network(candidates.signals, read_run(model)[1])
        summary = summarize(name, round_, ids, ctx.targets, evaluation.properties, evaluation.errors, x, x_train,
                            time.perf_counter() - t0)
        st.write_json(folder / "summary.json", summary.to_dict())
        st.log(self.layout, f"{name}: {summary.evaluated}/{summary.candidates} evaluated, {summary.failed} failed, "
                            f"{summary.hits} hit(s)")
        return summary, evaluation

    def _baseline(self, name: str, model: Path, data: Path, x_train: np.ndarray, progress: Progress) -> Summary:
        """Pick (nearest) or sample (unguided) the baseline's candidates once, then simulate them."""
        from matgen.data import read, write

        folder = self.layout.baseline(name)
        if (folder / "summary.json").is_file():
            return Summary.from_dict(st.read_json(folder / "summary.json"))
        c, ctx, t0 = self.config, self.check(), time.perf_counter()
        title = {"nearest": "nearest training", "unguided": "unguided"}[name]
        path = folder / "candidates.h5"
        if not path.is_file():
            if name == "nearest":
                from matgen.campaign.baselines import nearest_samples

                picked = nearest_samples(read(data), ctx.targets, c.candidates, c.bound_margin)
            else:
                picked = self._sample(model, None, c.candidates, c.seed + ROUND_SEED_STRIDE, "unguided",
                                      _labelled(progress, "unguided: sampling"), guidance=0.0)
            write(path, picked)
        candidates = read(path)
        sampled = {k: _column(candidates, k) if name == "nearest" else np.full(len(candidates), np.nan)
                   for k in ctx.targets}
        summary, _ = self._evaluate(folder, title, 0, candidates, sampled, model, x_train, progress, t0)
        return summary

    # --- a round ---------------------------------------------------------------------------------------

    def _model_for_round(self, r: int, previous: Path, data: Path, progress: Progress) -> Path:
        """Round 1: the first model. Later: the previous model fine-tuned on the data so far (resumed if killed)."""
        from matgen.train.finetune import finetune
        from matgen.train.loop import resume

        c = self.config
        if r == 1 or c.finetune_steps == 0:
            return Path(previous)
        run_dir = self.layout.round(r) / "run"
        done, started = _training_done(run_dir)
        if done:
            return run_dir
        self._set("running", f"round {r}: fine-tuning", r, "fine-tuning")
        bar = _labelled(progress, f"round {r}: fine-tuning")
        if started:
            st.log(self.layout, f"round {r}: resuming the fine-tune")
            resume(run_dir, progress=bar)
        else:
            st.log(self.layout, f"round {r}: fine-tuning {previous} for {c.finetune_steps} steps on {data}")
            finetune(previous, data, run_dir, c.finetune_steps, lr=c.finetune_lr, seed=c.seed + r,
                     device=c.device, progress=bar, force=True)
        return run_dir

    def _round(self, r: int, n: int, model: Path, data: Path, x_train: np.ndarray,
               progress: Progress) -> tuple[Summary, Path]:
        """Sample, simulate, summarise and relabel round r; returns its summary and the data after it."""
        from matgen.data import read, write

        folder, t0 = self.layout.round(r), time.perf_counter()
        path = folder / "candidates.h5"
        if not path.is_file():
            self._set("running", f"round {r}: sampling", r, "sampling")
            offsets = self._steering(r, model)
            candidates = self._sample(model, self.check().targets, n, self.config.seed + ROUND_SEED_STRIDE * r,
                                      f"campaign-r{r:02d}", _labelled(progress, f"round {r}: sampling"), offsets=offsets)
            asked = ", ".join(f"{k} {np.median(_column(candidates, k)):.4g}" for k in self.check().targets)
            st.log(self.layout, f"round {r}: sampled {n} candidates, asking (median) {asked}")
            write(path, candidates)
        candidates = read(path)
        sampled = {k: _column(candidates, k) for k in self.check().targets}
        summary, evaluation = self._evaluate(folder, f"round {r}", r, candidates, sampled, model, x_train,
                                             progress, t0)
        self._set("running", f"round {r}: relabelling", r, "relabelling")
        return summary, self._relabel(folder, candidates, evaluation, data)

    def _steering(self, r: int, model: Path) -> dict[str, float]:
        """The request offsets of round r from round r-1's misses (:func:`steering_offsets`)."""
        from matgen.train.run import read_config as read_run

        previous = self.layout.round(r - 1) / "results.json"
        if r == 1 or not previous.is_file() or self.config.steer == 0:
            return {}
        specs = list(read_run(model)[0].conditions)
        if self.config.regressor is not None:
            specs += list(read_run(self.config.regressor)[0].conditions)
        trained = {s.name: (s.minimum, s.maximum) for s in reversed(specs) if s.minimum is not None}
        return steering_offsets(self.check().targets, st.read_json(previous), self.config.steer,
                                self.config.bound_margin, trained)

    def _sample(self, model: Path, targets: dict[str, Target] | None, n: int, seed: int, prefix: str,
                progress: Progress, guidance: float | None = None, offsets: Mapping[str, float] | None = None):
        """n candidates of ``model`` for ``targets`` (None: unguided), ids ``{prefix}-IIII``."""
        from matgen.sample import sample
        from matgen.train import load_run
        from matgen.common.device import resolve_device

        c = self.config
        run = load_run(model, device=resolve_device(c.device))
        given = None if targets is None else sampling_targets(targets, run, c.bound_margin, n, c.regressor, offsets)
        result = sample(run, given, n=n, sampler=c.sampler, steps=c.steps,
                        guidance=c.guidance if guidance is None else guidance, seed=seed, progress=progress,
                        regressor=c.regressor if targets is not None else None, regressor_scale=c.regressor_scale)
        for warning in result.warnings:
            st.log(self.layout, f"{prefix}: warning: {warning}")
        ds = result.dataset
        ds.ids = np.asarray([f"{prefix}-{i:04d}" for i in range(len(ds))], dtype=object)
        return ds

    def _relabel(self, folder: Path, candidates, evaluation, data: Path) -> Path:
        """data.h5 of the round: the data so far plus every evaluated candidate with its achieved properties."""
        from matgen.data import concat, read, write
        from matgen.simulators import with_properties

        path = folder / "data.h5"
        if path.is_file():
            return path
        relabelled = with_properties(candidates, self.check().simulator, evaluation)
        relabelled.conditions.pop("simulation_error", None)
        ok = np.flatnonzero(~evaluation.failed)
        base = read(data)
        merged = concat([base, relabelled.take(ok)]) if len(ok) else base
        write(path, merged)
        st.log(self.layout, f"{folder.name}: {len(ok)} evaluated candidate(s) added to the data ({len(merged)} rows)")
        return path

    # --- the report --------------------------------------------------------------------------------------

    def _assemble(self, status_: str, reason: str) -> CampaignReport:
        L = self.layout
        ctx = self._context
        targets = self.config.parsed_targets()
        units = ctx.units if ctx is not None else _stored_units(L)
        baselines, rounds = st.read_summaries(L)
        simulator = getattr(ctx.simulator, "name", "") if ctx is not None else ""
        return CampaignReport(str(L.root), status_, reason,
                              {k: t.describe(units.get(k, "")) for k, t in targets.items()}, units, rounds, baselines,
                              simulator)

    def _pictures(self, report: CampaignReport) -> dict[str, str]:
        from matgen.campaign.plots import best_candidates, plot_best, plot_errors, plot_scatter

        L = self.layout
        results = {}
        for name in st.BASELINES:
            if (L.baseline(name) / "results.json").is_file():
                results[name] = st.read_json(L.baseline(name) / "results.json")
        for folder in sorted((L.root / "rounds").glob("[0-9][0-9]")):
            if (folder / "results.json").is_file():
                results[f"round {int(folder.name)}"] = st.read_json(folder / "results.json")
        targets = self.config.parsed_targets()
        pictures = {"errors": str(plot_errors(report, L.root / "errors.png"))}
        if any(doc["candidates"] for doc in results.values()):
            pictures["scatter"] = str(plot_scatter(targets, report.units, results, L.root / "scatter.png"))
        best = best_candidates(L, targets, report.units)
        if best is not None:
            pictures["best"] = str(plot_best(best, L.root / "best.png", report))
        return pictures


# --- pure helpers -------------------------------------------------------------------------------------


def _training_done(run_dir: Path) -> tuple[bool, bool]:
    """(finished, started): whether ``run_dir``'s checkpoint reached its last step, and whether there is one."""
    state = run_dir / "checkpoint" / "state.json"
    if not state.is_file():
        return False, False
    doc = st.read_json(state)
    return int(doc.get("step", 0)) >= int(doc.get("total_steps", 1 << 62)) and (run_dir / "model.safetensors").is_file(), True


def _labelled(progress: Progress, label: str) -> Progress:
    def update(done: int, total: int, message: str) -> None:
        progress(done, total, f"{label}: {message}" if message else label)

    return update


def _column(ds, name: str) -> np.ndarray:
    cond = ds.conditions.get(name)
    if cond is None or cond.is_categorical:
        return np.full(len(ds), np.nan)
    return cond.values.astype(np.float64)


def _stored_units(layout: st.Layout) -> dict:
    for path in sorted(layout.root.glob("**/results.json")):
        return dict(st.read_json(path).get("units", {}))
    return {}

