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

Then the round loop (this module) over the steps of :mod:`matgen.campaign.steps`:

1. the starting data (built, or copied into the campaign) and the first model (given, or trained);
2. the baselines (:mod:`matgen.campaign.baselines`), evaluated like a round;
3. round r = 1, 2, ...: the model (round 1 samples the first model; round r > 1 fine-tunes round
   r-1's model on the data so far, :func:`matgen.train.finetune`, so no fine-tune is spent after
   the last round), candidates sampled and simulated, scored, relabelled into the data; then
   :func:`decide`: stop when the failure rate passes ``max_failure_rate`` (status ``stopped``),
   when ``stop_after_hits`` hits are found, or after the last round / the budget (status ``done``).

Every step is done once, keyed by its output file (:meth:`matgen.campaign.layout.Layout.once`),
so ``run`` on an existing campaign directory (or :meth:`Campaign.resume`) continues where it
stopped; sampling is deterministic by seed and results already in a store are never recomputed.
The library never prints: ``progress(done, total, message)`` reports work,
``on_summary(summary)`` each finished baseline and round.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Mapping

from matgen.campaign import state as st
from matgen.campaign.checks import Context, check_campaign
from matgen.campaign.config import CampaignConfig, read_campaign_config
from matgen.campaign.layout import Layout
from matgen.campaign.report import CampaignReport, Summary
from matgen.campaign.state import CampaignStatus, status
from matgen.campaign.steps import Steps, assemble_report, draw_pictures
from matgen.common.files import write_json
from matgen.common.locks import folder_lock
from matgen.common.progress import Progress, no_progress
from matgen.errors import MatgenError

OnSummary = Callable[[Summary], None]
#: The options `resume` may change: how far the campaign goes, and where its simulations run, not what it does.
RESUME_OPTIONS = ("rounds", "budget", "stop_after_hits", "max_failure_rate", "executor")
#: The options that say where the work runs, not what it is: a campaign run again may change them.
WHERE_OPTIONS = ("executor",)


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
        executor: where simulator batches run instead of ``config.executor``: a ``distributed.Client``,
            any ``concurrent.futures.Executor`` (left open: it is the caller's), or the text forms
            of ``config.executor`` (:mod:`matgen.simulators.executors`).
    """

    def __init__(self, config: CampaignConfig | Mapping | str | os.PathLike, directory: str | os.PathLike,
                 simulator=None, executor=None):
        if isinstance(config, (str, os.PathLike)):
            config = read_campaign_config(config)
        elif isinstance(config, Mapping):
            config = CampaignConfig.from_dict(config)
        elif isinstance(config, CampaignConfig):
            config.check()
        else:
            raise MatgenError(f"a campaign config is a CampaignConfig, a dict or a TOML path, not {type(config).__name__}")
        self.config = _resolve_paths(config)
        self.layout = Layout(directory)
        if isinstance(executor, str):
            self.config.executor = executor
            self.config.check()
            executor = None
        self.simulator_override = simulator
        self.executor_override = executor
        self._context: Context | None = None

    # --- opening and inspecting -------------------------------------------------------------------

    @classmethod
    def open(cls, directory: str | os.PathLike, simulator=None, executor=None, **overrides) -> "Campaign":
        """The campaign stored in ``directory``; ``overrides`` (rounds, budget, stop_after_hits,
        max_failure_rate, executor as text) extend or shorten it, or move its simulations, and are
        saved in campaign.json; ``executor`` (a Client or Executor) runs its simulator batches."""
        layout = Layout(directory)
        if not layout.config.is_file():
            raise MatgenError(f"{directory} is not a campaign directory (no {layout.config.name}); start one with "
                              "`matgen campaign run CONFIG.toml -o DIR`")
        doc = st.read_record(layout.config)
        bad = sorted(k for k, v in overrides.items() if v is not None and k not in RESUME_OPTIONS)
        if bad:
            raise MatgenError(f"a resumed campaign keeps its options; only {', '.join(RESUME_OPTIONS)} may change "
                              f"(got {', '.join(bad)})")
        values = {**doc["config"], **{k: v for k, v in overrides.items() if v is not None}}
        campaign = cls(CampaignConfig.from_dict(values, where=str(layout.config)), directory, simulator, executor)
        if any(v is not None for v in overrides.values()):
            with folder_lock(layout.root, "campaign"):
                campaign._write_config(replace=True)
        return campaign

    @classmethod
    def resume(cls, directory: str | os.PathLike, progress: Progress = no_progress, on_summary: OnSummary | None = None,
               simulator=None, executor=None, **overrides) -> CampaignReport:
        """Continue the campaign in ``directory`` where it stopped; returns the report (see :meth:`run`).

        Results already in its stores are not simulated again, whatever ``executor`` runs the rest.
        """
        return cls.open(directory, simulator, executor, **overrides).run(progress, on_summary)

    def status(self) -> CampaignStatus:
        """Where the campaign stands, from its files."""
        return status(self.layout.root)

    @property
    def report(self) -> CampaignReport:
        """The report as it stands (report.json after a run; otherwise assembled from the round files)."""
        if self.layout.report.is_file():
            return CampaignReport.from_dict(st.read_record(self.layout.report))
        state = st.read_state(self.layout)
        return assemble_report(self.layout, self.config, state["status"], state["reason"], self._context)

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
        from matgen.simulators.executors import open_engine

        context = self.check()
        with folder_lock(self.layout.root, "campaign"):  # a second process on this folder stops here
            with open_engine(self.executor_override or self.config.executor, self.config.workers) as engine:
                return self._run(context, progress, on_summary or (lambda summary: None), engine)

    def _run(self, context: Context, progress: Progress, on_summary: OnSummary, engine) -> CampaignReport:
        from matgen.runs import read_config

        steps = Steps(self.config, self.layout, context, progress, engine)
        self._write_config()
        done = self.layout.rounds_done()
        steps.log("campaign started" if not done else f"campaign resumed after round {done[-1]}")
        steps.set_state("running", "preparing", 0, "data")
        data = steps.initial_data()
        model = steps.first_model(data)
        data_spec = read_config(model).data
        x_train = steps.train_reference(data, data_spec)
        for name in steps.baseline_names():
            on_summary(steps.baseline(name, model, data, data_spec, x_train))
        sizes = self.config.round_sizes()
        summaries: list[Summary] = []
        outcome = ("done", "")
        for r, n in enumerate(sizes, start=1):
            model = steps.model_for_round(r, model, data)
            summary, data = steps.round(r, n, model, data, x_train)
            summaries.append(summary)
            record_round(model, self.layout.root, summary)
            on_summary(summary)
            outcome = decide(self.config, summaries, r, len(sizes))
            if outcome[1]:
                break
        status_, reason = outcome
        steps.log(f"{status_}: {reason}")
        steps.set_state(status_, reason, len(summaries), "")
        report = assemble_report(self.layout, self.config, status_, reason, self._context)
        report.pictures = draw_pictures(self.layout, self.config, report)
        write_json(self.layout.report, report.to_dict())
        return report

    def _write_config(self, replace: bool = False) -> None:
        from matgen.version import __version__

        doc = {"format": st.FORMAT, "format_version": st.FORMAT_VERSION, "matgen_version": __version__,
               "config": self.config.to_dict()}
        if self.layout.config.is_file() and not replace:
            stored = st.read_record(self.layout.config).get("config", {})
            # as this version reads it: a field added since the campaign started takes its default
            old = CampaignConfig.from_dict(stored, where=str(self.layout.config)).to_dict()
            differ = sorted(k for k in set(old) | set(doc["config"]) if old.get(k) != doc["config"].get(k))
            if set(differ) - set(WHERE_OPTIONS):
                raise MatgenError(f"{self.layout.root} already holds a different campaign ({', '.join(differ)} "
                                  f"differ); continue it with `matgen campaign resume {self.layout.root}` or choose "
                                  "another directory")
            if not differ:
                return
        self.layout.root.mkdir(parents=True, exist_ok=True)
        write_json(self.layout.config, doc)


def record_round(run_dir, campaign_dir, summary: Summary) -> None:
    """The round's hits in the model card of the run that sampled it."""
    from matgen.runs.card import add_measurement

    errors = ", ".join(f"{k} {v:.3g}" for k, v in summary.median_error.items())
    add_measurement(run_dir, f"campaign {Path(campaign_dir).resolve()} {summary.name}",
                    f"{summary.hits} hits in {summary.candidates} candidates (median relative error: {errors})",
                    {"hit_rate": round(summary.hit_rate, 4), "new_hits": summary.new_hits})


def decide(config: CampaignConfig, summaries: list[Summary], r: int, planned: int) -> tuple[str, str]:
    """(status, reason) when the campaign ends after round r of ``planned``, else ("running", "")."""
    c, last = config, summaries[-1]
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
