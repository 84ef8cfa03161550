"""What a round (or a baseline) achieved: hits, errors, diversity; the campaign report and its table.

A *summary* condenses one set of simulated candidates against the targets
(:mod:`matgen.campaign.targets`):

    hit rate        hits / candidates (a failed candidate is a miss)
    median error    per target, the median relative error over the evaluated candidates
    best            the candidate ranked first: hits first, then by its largest relative error
    new hits        hits that are new designs: no exact copy of a row of the data so far (the
                    nearest-training baseline's hits are training rows: 0 new) nor of another hit
    diversity       the mean pairwise RMS distance of the candidates' signals as the network sees
                    them (:mod:`matgen.evaluate.diversity`), beside the same measure for as many
                    training samples (diversity_train); unique_fraction counts signals that are
                    not an exact copy of another candidate
    morphology      micrographs only (:mod:`matgen.evaluate.morphology`): the median two-point
                    distance to the nearest training micrograph over the data's own, and the
                    share of pixels in specks (islands of at most 2 px) beside the training data's

Hits, errors and the ranking come from one :func:`~matgen.campaign.targets.score_candidates` per set of
candidates, which feeds both the per-candidate rows (results.json) and the summary.

The report gathers the rounds' summaries and the baselines' and is written as report.json; the
command line renders :func:`table` with rich (the library never prints).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Mapping

import numpy as np

from matgen.campaign.targets import Scores
from matgen.evaluate.diversity import mean_pairwise_distance, unique_fraction


@dataclass
class Summary:
    """One round's (or baseline's) candidates measured against the targets."""

    name: str  # "round 1", "nearest training", "unguided"
    round: int  # 1, 2, ... for rounds; 0 for a baseline
    candidates: int  # candidates sampled (or picked)
    evaluated: int  # the simulator returned their properties
    failed: int  # the simulator could not evaluate them
    hits: int  # evaluated candidates that meet every target
    median_error: dict = field(default_factory=dict)  # target -> median relative error over the evaluated
    best: dict | None = None  # id, hit, achieved {target: value}, relative_error {target: value}
    diversity: float | None = None  # mean pairwise RMS distance of the candidates (network units)
    diversity_train: float | None = None  # the same for as many training samples
    unique_fraction: float = 1.0  # candidates that are no exact copy of another
    failures: dict = field(default_factory=dict)  # reason -> count (the five commonest)
    seconds: float = 0.0  # wall time of the round
    new_hits: int | None = None  # hits that are new designs: no copy of a row of the data so far, nor of each other
    morphology: dict | None = None  # micrographs: s2_ratio (median), speckle (mean), speckle_train (evaluate.morphology)
    screening: dict | None = None  # pool, predictor_calls, per-target mae and within_1_sigma (campaign.screening)

    @property
    def hit_rate(self) -> float:
        return self.hits / self.candidates if self.candidates else 0.0

    @property
    def failure_rate(self) -> float:
        return self.failed / self.candidates if self.candidates else 0.0

    def to_dict(self) -> dict:
        return {**asdict(self), "hit_rate": self.hit_rate, "failure_rate": self.failure_rate}

    @classmethod
    def from_dict(cls, d: Mapping) -> "Summary":
        d = {k: v for k, v in d.items() if k not in ("hit_rate", "failure_rate")}
        d["median_error"] = {k: float("nan") if v is None else v for k, v in d.get("median_error", {}).items()}
        return cls(**d)


def candidate_rows(ids, scores: Scores, achieved: Mapping[str, np.ndarray], failures,
                   sampled: Mapping[str, np.ndarray] | None = None) -> list[dict]:
    """Per candidate: id, the values it was sampled for, every achieved output, the error, hit, relative errors."""
    rows = []
    for i, row_id in enumerate(ids):
        rows.append({
            "id": str(row_id),
            "sampled": {k: float(v[i]) for k, v in (sampled or {}).items()},
            "achieved": {k: float(v[i]) for k, v in achieved.items()},
            "error": str(failures[i]),
            "hit": bool(scores.hit[i]),
            "relative_error": {k: float(v[i]) for k, v in scores.errors.items()},
        })
    return rows


def summarize(name: str, round_: int, ids, scores: Scores, achieved: Mapping[str, np.ndarray], failures,
              x: np.ndarray | None = None, x_train: np.ndarray | None = None, seconds: float = 0.0,
              new_hits: int | None = None, morphology: dict | None = None, screening: dict | None = None) -> Summary:
    """The Summary of N candidates scored by ``scores``: ``achieved`` output -> (N,) (NaN = failed), ``failures``
    (N,) reasons ('' = evaluated), ``x`` (N, D) their signals in network units and ``x_train`` (M, D) training
    ones; ``new_hits`` and ``morphology`` as the caller measured them (module docstring)."""
    failures = np.asarray(failures, dtype=object)
    failed = failures != ""
    n = len(failures)
    hit = scores.hit & ~failed
    median = {k: (float(np.median(v[~failed])) if (~failed).any() else float("nan")) for k, v in scores.errors.items()}
    best = None
    if n and (~failed).any():
        i = int(scores.order[0])
        best = {"id": str(ids[i]), "hit": bool(hit[i]), "achieved": {k: float(achieved[k][i]) for k in scores.errors},
                "relative_error": {k: float(v[i]) for k, v in scores.errors.items()}}
    reasons = Counter(str(r) for r in failures[failed])
    return Summary(name, round_, n, int((~failed).sum()), int(failed.sum()), int(hit.sum()), median, best,
                   mean_pairwise_distance(x) if x is not None else None,
                   mean_pairwise_distance(x_train) if x_train is not None else None,
                   unique_fraction(x) if x is not None else 1.0, dict(reasons.most_common(5)), float(seconds),
                   new_hits, morphology, screening)


@dataclass
class CampaignReport:
    """Everything a campaign found, as report.json holds it."""

    directory: str  # the campaign directory
    status: str  # running, done or stopped
    reason: str  # why it ended (or where it is)
    targets: dict  # name -> description with unit, e.g. "density 2.95 ± 0.5% g/cm3"
    units: dict  # name -> unit
    rounds: list = field(default_factory=list)  # Summary per complete or evaluated round
    baselines: dict = field(default_factory=dict)  # "nearest" / "unguided" -> Summary
    simulator: str = ""  # the simulator's name
    pictures: dict = field(default_factory=dict)  # name -> PNG path

    @property
    def total_hits(self) -> int:
        return sum(s.hits for s in self.rounds)

    @property
    def simulator_calls(self) -> int:
        """Candidates sent to the simulator in the rounds (baselines not counted)."""
        return sum(s.candidates for s in self.rounds)

    @property
    def predictor_calls(self) -> int:
        """Property predictions of the screening ensemble in the rounds (pool candidates x members)."""
        return sum((s.screening or {}).get("predictor_calls", 0) for s in self.rounds)

    def to_dict(self) -> dict:
        return {"format": "matgen-campaign-report", "directory": self.directory, "status": self.status,
                "reason": self.reason, "targets": self.targets, "units": self.units, "simulator": self.simulator,
                "total_hits": self.total_hits, "simulator_calls": self.simulator_calls,
                "predictor_calls": self.predictor_calls,
                "rounds": [s.to_dict() for s in self.rounds],
                "baselines": {k: s.to_dict() for k, s in self.baselines.items()}, "pictures": self.pictures}

    @classmethod
    def from_dict(cls, d: Mapping) -> "CampaignReport":
        return cls(d["directory"], d["status"], d["reason"], dict(d["targets"]), dict(d["units"]),
                   [Summary.from_dict(s) for s in d.get("rounds", [])],
                   {k: Summary.from_dict(s) for k, s in d.get("baselines", {}).items()}, d.get("simulator", ""),
                   dict(d.get("pictures", {})))


def _pct(value: float | None) -> str:
    return "–" if value is None or value != value else f"{100 * value:.1f}%"


def _number(value: float) -> str:
    return f"{value:.4g}"


def table(report: CampaignReport) -> tuple[list[str], list[list[str]]]:
    """(columns, rows) of the per-round table: the baselines first, then each round.

    Columns: round, candidates, evaluated, failed, hits, hit rate, new hits, the median relative
    error of each target, diversity (relative to the training data's), morphology and the best
    candidate with its values.
    """
    names = list(report.targets)
    units = {n: report.units.get(n, "") for n in names}
    columns = ["round", "candidates", "evaluated", "failed", "hits", "hit rate", "new hits"]
    columns += [f"error {n}" for n in names]
    columns += ["diversity", "S₂ distance · specks", "best: " + ", ".join(f"{n} ({units[n]})" if units[n] else n for n in names)]
    rows = []
    for summary in list(report.baselines.values()) + list(report.rounds):
        best = "–"
        if summary.best is not None:
            values = ", ".join(_number(summary.best["achieved"][n]) for n in names)
            best = f"{values}{' hit' if summary.best['hit'] else ''} ({summary.best['id']})"
        diversity = "–"
        if summary.diversity is not None and summary.diversity_train:
            diversity = f"{summary.diversity / summary.diversity_train:.2f}× train"
        elif summary.diversity is not None:
            diversity = f"{summary.diversity:.3g}"
        m = summary.morphology
        shape = "–" if m is None else f"{m['s2_ratio']:.2f}× · {_pct(m['speckle'])} (data {_pct(m['speckle_train'])})"
        rows.append([summary.name, str(summary.candidates), str(summary.evaluated), str(summary.failed),
                     str(summary.hits), _pct(summary.hit_rate), "–" if summary.new_hits is None else str(summary.new_hits)]
                    + [_pct(summary.median_error.get(n)) for n in names] + [diversity, shape, best])
    return columns, rows
