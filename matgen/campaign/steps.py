"""The steps of a campaign, each done once and keyed by its output file (:meth:`Layout.once`).

* the starting data (built, or copied into the campaign) and the first model (given, or trained);
* a baseline (:mod:`matgen.campaign.baselines`): its candidates picked or sampled, then evaluated;
* a round: the model (the previous one fine-tuned on the data so far, :mod:`matgen.train`),
  candidates sampled for the targets (:mod:`matgen.campaign.requests`: the targets' sampling
  values, steered by the previous round's median misses), simulated (the simulator store keeps
  every finished batch), scored once (:func:`~matgen.campaign.targets.score_candidates`) into results.json
  and summary.json, and every evaluated candidate relabelled with what it achieved and added to
  the data (a failed one is left out): even a miss teaches the model;
* the report and its pictures.

Round r's candidates use seeds ``seed + 100000 r + i`` and ids ``campaign-rRR-IIII``; sampling
is deterministic by seed, so a round killed before its candidates were written samples the
same candidates again.
"""

from __future__ import annotations

import shutil
import time
from functools import cache
from pathlib import Path
from typing import Mapping

import numpy as np

from matgen.campaign import state as st
from matgen.campaign.checks import Context
from matgen.campaign.config import CampaignConfig
from matgen.campaign.layout import BASELINES, Layout, StepFiles
from matgen.campaign.report import CampaignReport, Summary, candidate_rows, summarize
from matgen.campaign.requests import sampling_targets, steering_offsets, trained_ranges
from matgen.campaign.targets import Target, score_candidates
from matgen.common.files import atomic_path, write_json
from matgen.common.progress import Progress, labelled
from matgen.evaluate.diversity import new_distinct

ROUND_SEED_STRIDE = 100_000
BASELINE_TITLES = {"nearest": "nearest training", "unguided": "unguided", "random": "random search"}


class Steps:
    """The work of one campaign run: its config, directory, checked context and progress callback."""

    def __init__(self, config: CampaignConfig, layout: Layout, context: Context, progress: Progress, engine=None):
        self.config, self.layout, self.context, self.progress = config, layout, context, progress
        self.engine = engine  # where simulator batches run (matgen.simulators.executors; None: this machine)
        self._regressor_specs: list | None = None
        self._signals: dict[Path, np.ndarray] = {}

    def set_state(self, status: str, reason: str, round_: int, phase: str) -> None:
        st.set_state(self.layout, status, reason, round_, phase)

    def log(self, message: str) -> None:
        st.log(self.layout, message)

    def signals(self, path: Path) -> np.ndarray:
        """The signals of the dataset file ``path`` (read once)."""
        if path not in self._signals:
            from matgen.data import read

            self._signals[path] = read(path).signals
        return self._signals[path]

    # --- the starting point ------------------------------------------------------------------

    def initial_data(self) -> Path:
        """data/initial.h5: the built-in dataset built, or the given (or the run's) data copied."""
        return self.layout.once(self.layout.initial_data, self._make_initial_data)

    def _make_initial_data(self, path: Path) -> None:
        c = self.config
        if c.builder is not None:
            from matgen.builders import build
            from matgen.data import write

            self.log(f"building {c.builder} {c.builder_options}")
            write(path, build(c.builder, progress=labelled(self.progress, f"building {c.builder}"), **c.builder_options))
            return
        from matgen.runs import read_config

        source = Path(c.data) if c.data is not None else Path(read_config(c.run).data.path)
        with atomic_path(path) as tmp:
            shutil.copyfile(source, tmp)
        self.log(f"copied the starting data {source}")

    def first_model(self, data: Path) -> Path:
        """The first model: the given run, or one trained (resumed when interrupted) in runs/initial."""
        from matgen.runs import is_complete

        if self.config.run is not None:
            return Path(self.config.run)
        return self.layout.once(self.layout.initial_run, lambda path: self._train_first(path, data), done=is_complete)

    def _train_first(self, run_dir: Path, data: Path) -> None:
        from matgen.runs import RunFiles
        from matgen.train import resume, train

        bar = labelled(self.progress, "training the first model")
        self.set_state("running", "training the first model", 0, "training")
        if RunFiles(run_dir).checkpoint_state() is not None:
            self.log("resuming the training of the first model")
            resume(run_dir, progress=bar)
            return
        config = self.config.train_config()
        self.log(f"training the first model: {config.model}, {config.net}, {config.steps} steps, "
                 f"conditions {', '.join(config.conditions)}")
        train(data, config, run_dir, progress=bar, force=True)

    def train_reference(self, data: Path, data_spec) -> np.ndarray:
        """Training signals (as many as a round's candidates) in network units, for the diversity reference."""
        from matgen.data import read
        from matgen.runs import to_network

        ds = read(data)
        rows = np.random.default_rng(self.config.seed).permutation(len(ds))[: self.config.candidates]
        return to_network(ds.signals[np.sort(rows)], data_spec)

    # --- one set of candidates: simulate, score, summarise ---------------------------------------

    def _simulation(self, files: StepFiles, name: str, round_: int, candidates):
        """A function returning the Evaluation of ``candidates``, simulated (what the store lacks) on first call."""
        from matgen.simulators import run_simulator

        c = self.config

        @cache
        def evaluation():
            self.set_state("running", f"simulating {name}", round_, "simulating")
            return run_simulator(self.context.simulator, candidates, workers=c.workers, batch_size=c.simulator_batch,
                                 timeout_s=c.timeout_s, store=files.store, executor=self.engine,
                                 progress=labelled(self.progress, f"{name}: simulating"))

        return evaluation

    def _evaluate(self, files: StepFiles, name: str, round_: int, candidates, sampled: dict, evaluation,
                  data_spec, x_train: np.ndarray, data: Path, t0: float) -> Summary:
        """results.json and summary.json of ``candidates`` (each once, from one scoring); returns the summary.

        New hits are counted against ``data`` (the data so far), morphology against the starting data.
        """
        from matgen.runs import to_network

        L, targets = self.layout, self.config.targets
        ids = candidates.ids.astype(str)
        scored = cache(lambda: score_candidates(targets, evaluation().properties))
        L.once(files.results, lambda path: write_json(path, {
            "name": name, "round": round_, "units": self.context.units,
            "candidates": candidate_rows(ids, scored(), evaluation().properties, evaluation().errors, sampled)}))
        if files.summary.is_file():
            return Summary.from_dict(st.read_record(files.summary))
        hit = scored().hit & ~evaluation().failed
        summary = summarize(name, round_, ids, scored(), evaluation().properties, evaluation().errors,
                            to_network(candidates.signals, data_spec), x_train, time.perf_counter() - t0,
                            new_distinct(candidates.signals, self.signals(data), hit), self._morphology(candidates),
                            self._calibration(files, evaluation().properties))
        write_json(files.summary, summary.to_dict())
        self.log(f"{name}: {summary.evaluated}/{summary.candidates} evaluated, {summary.failed} failed, "
                 f"{summary.hits} hit(s)")
        return summary

    def _morphology(self, candidates) -> dict | None:
        """Two-point distance and specks of two-phase micrograph candidates against the starting data (else None)."""
        if candidates.kind != "micrograph" or candidates.signal_type != "labels" or int(candidates.signals.max()) > 1:
            return None
        from matgen.evaluate.micrographs import indicator
        from matgen.evaluate.morphology import morphology

        m = morphology(indicator(candidates), indicator(self.signals(self.layout.initial_data)), seed=self.config.seed)
        return {"s2_ratio": m["s2_ratio_median"], "speckle": m["speckle_mean"], "speckle_train": m["speckle_train"]}

    # --- baselines ---------------------------------------------------------------------------------

    def baseline_names(self) -> list[str]:
        """The baselines this campaign measures: nearest training and unguided, and random search with a builder."""
        if not self.config.baselines:
            return []
        return [name for name in BASELINES if name != "random" or self.config.builder is not None]

    def baseline(self, name: str, model: Path, data: Path, data_spec, x_train: np.ndarray) -> Summary:
        """Pick (nearest) or sample (unguided) the baseline's candidates once, then evaluate them."""
        from matgen.data import read, write

        files, t0 = self.layout.baseline(name), time.perf_counter()
        # no shortcut on summary.json: each file is rebuilt when missing (a damaged one the user deleted)
        self.layout.once(files.candidates, lambda path: write(path, self._baseline_candidates(name, model, data)))
        candidates = read(files.candidates)
        sampled = {k: _column(candidates, k) if name == "nearest" else np.full(len(candidates), np.nan)
                   for k in self.config.targets}
        evaluation = self._simulation(files, BASELINE_TITLES[name], 0, candidates)
        return self._evaluate(files, BASELINE_TITLES[name], 0, candidates, sampled, evaluation, data_spec, x_train,
                              data, t0)

    def _baseline_candidates(self, name: str, model: Path, data: Path):
        c = self.config
        if name == "nearest":
            from matgen.campaign.baselines import nearest_samples
            from matgen.data import read

            return nearest_samples(read(data), c.targets, c.candidates, c.bound_margin)
        if name == "random":
            return self._random_search()
        return self._sample(model, None, c.candidates, c.seed + ROUND_SEED_STRIDE, "unguided",
                            labelled(self.progress, "unguided: sampling"), guidance=0.0)

    def _random_search(self):
        """As many fresh samples of the built-in dataset as a round has candidates: its processing parameters
        drawn at random from the builder's ranges (another seed than the starting data's), ids ``random-IIII``."""
        from matgen.builders import build

        c = self.config
        options = {k: v for k, v in c.builder_options.items() if k not in ("n", "seed")}
        ds = build(c.builder, n=c.candidates, seed=int(c.builder_options.get("seed", 0)) + 1,
                   progress=labelled(self.progress, "random search: building"), **options)
        ds.ids = np.asarray([f"random-{i:04d}" for i in range(len(ds))], dtype=object)
        return ds

    # --- a round -----------------------------------------------------------------------------------

    def model_for_round(self, r: int, previous: Path, data: Path) -> Path:
        """Round 1: the first model. Later: the previous model fine-tuned on the data so far (resumed if killed)."""
        from matgen.runs import is_complete

        if r == 1 or self.config.finetune_steps == 0:
            return Path(previous)
        return self.layout.once(self.layout.round(r).run, lambda path: self._finetune(r, path, previous, data),
                                done=is_complete)

    def _finetune(self, r: int, run_dir: Path, previous: Path, data: Path) -> None:
        from matgen.runs import RunFiles
        from matgen.train import finetune, resume

        c = self.config
        self.set_state("running", f"round {r}: fine-tuning", r, "fine-tuning")
        bar = labelled(self.progress, f"round {r}: fine-tuning")
        if RunFiles(run_dir).checkpoint_state() is not None:
            self.log(f"round {r}: resuming the fine-tune")
            resume(run_dir, progress=bar)
            return
        self.log(f"round {r}: fine-tuning {previous} for {c.finetune_steps} steps on {data}")
        finetune(previous, data, run_dir, c.finetune_steps, lr=c.finetune_lr, seed=c.seed + r, device=c.device,
                 progress=bar, force=True)

    def round(self, r: int, n: int, model: Path, data: Path, x_train: np.ndarray) -> tuple[Summary, Path]:
        """Sample, simulate, score and relabel round r (each step once); returns its summary and the data after it."""
        from matgen.data import read, write
        from matgen.runs import read_config

        L, files, t0 = self.layout, self.layout.round(r), time.perf_counter()
        run = read_config(model)  # the model's conditions (training ranges) and data spec, read once a round
        k = self.config.oversample
        if k > 1:  # screening: sample the pool, predict, keep the best n
            L.once(files.pool, lambda path: write(path, self._round_candidates(r, n * k, model, run.model.conditions)))
            L.once(files.screen, lambda path: self._screen(path, r, n, read(files.pool), data, run.data))
            L.once(files.candidates, lambda path: write(path, read(files.pool).take(
                st.read_record(files.screen)["chosen"])))
        else:
            L.once(files.candidates, lambda path: write(path, self._round_candidates(r, n, model, run.model.conditions)))
        candidates = read(files.candidates)
        sampled = {k: _column(candidates, k) for k in self.config.targets}
        evaluation = self._simulation(files, f"round {r}", r, candidates)
        summary = self._evaluate(files, f"round {r}", r, candidates, sampled, evaluation, run.data, x_train, data, t0)
        L.once(files.data, lambda path: self._relabel(path, r, candidates, evaluation(), data))
        L.once(files.record, lambda path: write_json(path, {"model": str(model), "data": str(files.data),
                                                            "summary": summary.to_dict()}))
        return summary, files.data

    def _screen(self, path: Path, r: int, n: int, pool, data: Path, data_spec) -> None:
        """screen.json of round r: an ensemble trained on the data so far predicts the pool; the best n are chosen."""
        from matgen.campaign import screening
        from matgen.data import read
        from matgen.evaluate.models import features
        from matgen.runs import to_network

        c, names = self.config, list(self.config.targets)
        self.set_state("running", f"round {r}: screening {len(pool)} candidates", r, "screening")
        known = read(data)
        values = np.stack([_column(known, k) for k in names], axis=1)  # (N, K)
        ensemble = screening.fit_ensemble(features(known), values, c.screen_members, c.screen_epochs, c.seed + r)
        mean, sigma = screening.predict(ensemble, features(pool), np.nanstd(values, axis=0))
        p_hit = screening.hit_probability(c.targets, mean, sigma)
        chosen = screening.choose(p_hit, to_network(pool.signals, data_spec), n)
        write_json(path, {"names": names, "pool": len(pool), "members": c.screen_members,
                          "predictor_calls": len(pool) * c.screen_members, "mean": mean.tolist(),
                          "sigma": sigma.tolist(), "p_hit": p_hit.tolist(), "chosen": chosen.tolist()})
        self.log(f"round {r}: screened {len(pool)} candidates, chose {len(chosen)} (predicted P(hit) median "
                 f"{np.median(p_hit[chosen]):.2f}, pool {np.median(p_hit):.2f})")

    def _calibration(self, files: StepFiles, achieved: Mapping[str, np.ndarray]) -> dict | None:
        """The screening predictor against what the simulator found for the chosen candidates (None: no screening)."""
        if not files.screen.is_file():
            return None
        from matgen.campaign.screening import calibration

        doc = st.read_record(files.screen)
        chosen, names = np.asarray(doc["chosen"]), doc["names"]
        mean, sigma = np.asarray(doc["mean"])[chosen], np.asarray(doc["sigma"])[chosen]
        found = calibration(mean, sigma, np.stack([achieved[k] for k in names], axis=1))
        return {"pool": doc["pool"], "predictor_calls": doc["predictor_calls"],
                "mae": dict(zip(names, found["mae"])), "within_1_sigma": dict(zip(names, found["within_1_sigma"])),
                "p_hit": float(np.mean(np.asarray(doc["p_hit"])[chosen]))}

    def _round_candidates(self, r: int, n: int, model: Path, specs):
        self.set_state("running", f"round {r}: sampling", r, "sampling")
        offsets = self._steering(r, specs)
        candidates = self._sample(model, self.config.targets, n, self.config.seed + ROUND_SEED_STRIDE * r,
                                  f"campaign-r{r:02d}", labelled(self.progress, f"round {r}: sampling"),
                                  offsets=offsets)
        asked = ", ".join(f"{k} {np.median(_column(candidates, k)):.4g}" for k in self.config.targets)
        self.log(f"round {r}: sampled {n} candidates, asking (median) {asked}")
        return candidates

    def _specs(self, specs) -> list:
        """The model's condition specs, then the regressor's (read once)."""
        if self._regressor_specs is None:
            from matgen.runs import read_config

            regressor = self.config.regressor
            self._regressor_specs = [] if regressor is None else list(read_config(regressor).model.conditions)
        return list(specs) + self._regressor_specs

    def _steering(self, r: int, specs) -> dict[str, float]:
        """The request offsets of round r from round r-1's misses (:func:`steering_offsets`)."""
        previous = self.layout.round(r - 1).results
        if r == 1 or not previous.is_file() or self.config.steer == 0:
            return {}
        return steering_offsets(self.config.targets, st.read_record(previous), self.config.steer,
                                self.config.bound_margin, trained_ranges(self._specs(specs)))

    def _sample(self, model: Path, targets: dict[str, Target] | None, n: int, seed: int, prefix: str,
                progress: Progress, guidance: float | None = None, offsets: Mapping[str, float] | None = None):
        """n candidates of ``model`` for ``targets`` (None: unguided), ids ``{prefix}-IIII``."""
        from matgen.common.device import resolve_device
        from matgen.runs import load_run
        from matgen.sample import sample

        c = self.config
        run = load_run(model, device=resolve_device(c.device))
        given, physics = None, {}
        if targets is not None:
            given = sampling_targets(targets, trained_ranges(self._specs(run.conditions)), c.bound_margin, n, offsets)
            if c.physics_guidance is not None and c.physics_scale > 0:
                physics = dict(physics=c.physics_guidance, physics_scale=c.physics_scale,
                               physics_targets=self._physics_intervals(n))
        result = sample(run, given, n=n, sampler=c.sampler, steps=c.steps,
                        guidance=c.guidance if guidance is None else guidance, seed=seed, progress=progress,
                        regressor=c.regressor if targets is not None else None, regressor_scale=c.regressor_scale,
                        **physics)
        for warning in result.warnings:
            self.log(f"{prefix}: warning: {warning}")
        ds = result.dataset
        ds.ids = np.asarray([f"{prefix}-{i:04d}" for i in range(len(ds))], dtype=object)
        return ds

    def _physics_intervals(self, n: int) -> dict:
        """Output name -> Interval of the targets physics guidance steers (those its simulator returns)."""
        from matgen.sample.physics import Interval
        from matgen.simulators import get_simulator

        outputs = {o.name for o in get_simulator(self.config.physics_guidance).outputs}
        return {name: Interval.of(*t.physics_interval(self.config.bound_margin), n)
                for name, t in self.config.targets.items() if name in outputs}

    def _relabel(self, path: Path, r: int, candidates, evaluation, data: Path) -> None:
        """data.h5 of round r: the data so far plus every evaluated candidate with its achieved properties."""
        from matgen.data import concat, read, write
        from matgen.simulators import with_properties

        self.set_state("running", f"round {r}: relabelling", r, "relabelling")
        relabelled = with_properties(candidates, self.context.simulator, evaluation)
        relabelled.conditions.pop("simulation_error", None)
        ok = np.flatnonzero(~evaluation.failed)
        base = read(data)
        merged = concat([base, relabelled.take(ok)]) if len(ok) else base
        write(path, merged)
        self.log(f"{path.parent.name}: {len(ok)} evaluated candidate(s) added to the data ({len(merged)} rows)")


# --- the report --------------------------------------------------------------------------------------------


def assemble_report(layout: Layout, config: CampaignConfig, status: str, reason: str,
                    context: Context | None = None) -> CampaignReport:
    """The report from the summaries on disk (units from ``context``, else from the stored results)."""
    units = context.units if context is not None else stored_units(layout)
    baselines, rounds = st.read_summaries(layout)
    simulator = getattr(context.simulator, "name", "") if context is not None else ""
    return CampaignReport(str(layout.root), status, reason,
                          {k: t.describe(units.get(k, "")) for k, t in config.targets.items()}, units, rounds,
                          baselines, simulator)


def draw_pictures(layout: Layout, config: CampaignConfig, report: CampaignReport) -> dict[str, str]:
    """errors.png, scatter.png (when anything was evaluated) and best.png; name -> path."""
    from matgen.campaign.plots import best_candidates, plot_best, plot_calibration, plot_errors, plot_scatter

    results = {}
    for name in BASELINES:
        if layout.baseline(name).results.is_file():
            results[name] = st.read_record(layout.baseline(name).results)
    for r in layout.round_numbers():
        if layout.round(r).results.is_file():
            results[f"round {r}"] = st.read_record(layout.round(r).results)
    pictures = {"errors": str(plot_errors(report, layout.picture("errors")))}
    if any(doc["candidates"] for doc in results.values()):
        pictures["scatter"] = str(plot_scatter(config.targets, report.units, results, layout.picture("scatter")))
    best = best_candidates(layout, config.targets, report.units)
    if best is not None:
        pictures["best"] = str(plot_best(best, layout.picture("best"), report))
    screens = {r: st.read_record(layout.round(r).screen) for r in layout.round_numbers()
               if layout.round(r).screen.is_file() and layout.round(r).results.is_file()}
    if screens:
        rounds = {r: st.read_record(layout.round(r).results) for r in screens}
        pictures["calibration"] = str(plot_calibration(screens, rounds, report.units, layout.picture("calibration")))
    return pictures


def stored_units(layout: Layout) -> dict:
    """The targets' units as the first results.json holds them ({} when there is none)."""
    for path in sorted(layout.root.glob("**/results.json")):
        return dict(st.read_record(path).get("units", {}))
    return {}


def _column(ds, name: str) -> np.ndarray:
    cond = ds.conditions.get(name)
    if cond is None or cond.is_categorical:
        return np.full(len(ds), np.nan)
    return cond.values.astype(np.float64)
