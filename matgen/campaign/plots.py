"""The campaign's pictures: error and hit rate per round, achieved versus target, the best candidates.

* ``errors.png``: per target, the median relative error of each round (line) with the baselines
  as dashed horizontal lines; beside it the hit rate per round, the baselines likewise;
* ``scatter.png``: what the candidates achieved, per round (colour) and baseline (grey), against
  the admissible region of the targets: for two or more targets the first two as x and y with
  the target box, else the one target per round;
* ``best.png``: the best candidates (micrographs or spectra, :func:`matgen.data.plot.plot_dataset`)
  titled with what they achieved;
* ``calibration.png`` (with screening): the screening ensemble's prediction (mean ± sigma) of
  each simulated candidate against what the simulator found, per target, coloured by round.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping

import numpy as np

from matgen.campaign.report import CampaignReport
from matgen.campaign.targets import Target
from matgen.data.plot import pyplot, save_png

BASELINE_STYLE = {"nearest": ("nearest training", "tab:gray", "s"), "unguided": ("unguided", "tab:brown", "^"),
                  "random": ("random search", "tab:olive", "v")}


def plot_errors(report: CampaignReport, path: str | Path) -> Path:
    """Write errors.png (median relative error per target and hit rate, per round, with baselines); returns it."""
    plt = pyplot()
    names = list(report.targets)
    fig, axes = plt.subplots(1, len(names) + 1, figsize=(3.6 * (len(names) + 1), 3.2), squeeze=False)
    rounds = [s.round for s in report.rounds]
    panels = [(n, lambda s, n=n: 100 * _nan(s.median_error.get(n)), f"median |error| {n} (%)") for n in names]
    panels.append(("hit rate", lambda s: 100 * s.hit_rate, "hit rate (%)"))
    for ax, (title, value, label) in zip(axes[0], panels):
        if rounds:
            ax.plot(rounds, [_nan(value(s)) for s in report.rounds], "o-", color="tab:blue", label="campaign")
        for key, summary in report.baselines.items():
            name, colour, _ = BASELINE_STYLE.get(key, (key, "k", "o"))
            ax.axhline(_nan(value(summary)), ls="--", color=colour, label=name)
        ax.set_xlabel("round")
        ax.set_ylabel(label)
        ax.set_title(report.targets.get(title, title), fontsize=9)
        if rounds:
            ax.set_xticks(rounds)
        ax.set_ylim(bottom=0)
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    return save_png(fig, Path(path))


def _nan(value) -> float:
    return math.nan if value is None else float(value)


def _achieved(doc: Mapping, name: str) -> np.ndarray:
    return np.asarray([row["achieved"].get(name, math.nan) if not row["error"] else math.nan
                       for row in doc["candidates"]], dtype=np.float64)


def _band(ax, t: Target, axis: str) -> None:
    """Shade the admissible interval of ``t`` along ``axis`` (x or y)."""
    lo, hi = t.low, t.high
    span = ax.axvspan if axis == "x" else ax.axhspan
    line = ax.axvline if axis == "x" else ax.axhline
    if math.isfinite(lo) and math.isfinite(hi):
        span(lo, hi, color="tab:green", alpha=0.15, lw=0)
    for end in (lo, hi):
        if math.isfinite(end):
            line(end, color="tab:green", lw=0.8)
    if t.kind == "value":
        line(t.value, color="tab:green", ls=":", lw=0.8)


def plot_scatter(targets: Mapping[str, Target], units: Mapping[str, str], results: Mapping[str, Mapping],
                 path: str | Path) -> Path:
    """Write scatter.png: achieved properties per round and baseline against the targets; returns it.

    ``results`` maps "nearest" / "unguided" / "round R" to a results.json document.
    """
    plt = pyplot()
    names = list(targets)
    rounds = [k for k in results if k.startswith("round")]
    colours = plt.get_cmap("viridis")(np.linspace(0.0, 0.9, max(1, len(rounds))))
    fig, ax = plt.subplots(figsize=(5.2, 4.2))
    label = {n: f"{n} ({units.get(n)})" if units.get(n) else n for n in names}
    if len(names) >= 2:
        x_name, y_name = names[:2]
        for key, doc in results.items():
            if key in BASELINE_STYLE:
                name, colour, marker = BASELINE_STYLE[key]
                ax.scatter(_achieved(doc, x_name), _achieved(doc, y_name), s=14, c=colour, marker=marker, label=name,
                           alpha=0.7)
        for key, colour in zip(rounds, colours):
            ax.scatter(_achieved(results[key], x_name), _achieved(results[key], y_name), s=16, color=colour, label=key)
        _band(ax, targets[x_name], "x")
        _band(ax, targets[y_name], "y")
        ax.set_xlabel(label[x_name])
        ax.set_ylabel(label[y_name])
    else:
        name = names[0]
        keys = [k for k in results if k in BASELINE_STYLE] + rounds
        for i, key in enumerate(keys):
            y = _achieved(results[key], name)
            colour = BASELINE_STYLE[key][1] if key in BASELINE_STYLE else colours[rounds.index(key)]
            jitter = np.random.default_rng(i).uniform(-0.15, 0.15, len(y))
            ax.scatter(i + jitter, y, s=14, color=colour)
        ax.set_xticks(range(len(keys)))
        ax.set_xticklabels([BASELINE_STYLE[k][0] if k in BASELINE_STYLE else k for k in keys], rotation=30, fontsize=8)
        _band(ax, targets[name], "y")
        ax.set_ylabel(label[name])
    ax.set_title("achieved vs target (green: within tolerance)", fontsize=9)
    if len(names) >= 2:
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return save_png(fig, Path(path))


def best_candidates(layout, targets: Mapping[str, Target], units: Mapping[str, str], k: int = 8):
    """The k best evaluated candidates over all rounds (hits first, then by largest relative error), as a
    dataset whose conditions are their achieved target properties; None when nothing was evaluated."""
    from matgen.campaign.state import read_record
    from matgen.campaign.targets import ranking
    from matgen.data import Condition, concat, read

    parts = []
    for r in layout.round_numbers():
        files = layout.round(r)
        if not files.results.is_file():
            continue
        rows = [row for row in read_record(files.results)["candidates"] if not row["error"]]
        if not rows:
            continue
        ds = read(files.candidates)
        index = {str(i): j for j, i in enumerate(ds.ids)}
        keep = ds.take([index[row["id"]] for row in rows])
        keep.conditions = {n: Condition(np.asarray([row["achieved"][n] for row in rows]), units.get(n, ""), "property",
                                        description="achieved (simulated)") for n in targets}
        parts.append(keep)
    if not parts:
        return None
    ds = concat(parts)
    achieved = {n: ds.conditions[n].values for n in targets}
    return ds.take(ranking(targets, achieved)[:k])


def plot_calibration(screens: Mapping[int, Mapping], results: Mapping[int, Mapping], units: Mapping[str, str],
                     path: str | Path) -> Path:
    """Write calibration.png: predicted (mean ± sigma) vs achieved for each round's simulated candidates; returns it.

    ``screens`` and ``results`` map a round to its screen.json and results.json documents.
    """
    plt = pyplot()
    names = next(iter(screens.values()))["names"]
    fig, axes = plt.subplots(1, len(names), figsize=(3.8 * len(names), 3.5), squeeze=False)
    colours = plt.get_cmap("viridis")(np.linspace(0.0, 0.9, max(1, len(screens))))
    for colour, (r, doc) in zip(colours, sorted(screens.items())):
        chosen = np.asarray(doc["chosen"])
        mean, sigma = np.asarray(doc["mean"])[chosen], np.asarray(doc["sigma"])[chosen]
        for k, (ax, name) in enumerate(zip(axes[0], names)):
            achieved = _achieved(results[r], name)
            ax.errorbar(achieved, mean[:, k], yerr=sigma[:, k], fmt="o", ms=3, lw=0.6, color=colour, label=f"round {r}")
    for ax, name in zip(axes[0], names):
        lo, hi = ax.get_xlim()
        ax.plot([lo, hi], [lo, hi], color="k", lw=0.6)
        unit = f" ({units.get(name)})" if units.get(name) else ""
        ax.set_xlabel(f"{name} achieved{unit}")
        ax.set_ylabel(f"{name} predicted{unit}")
    axes[0][-1].legend(fontsize=7)
    fig.suptitle("screening predictor: predicted (mean ± sigma) vs simulated", fontsize=9)
    fig.tight_layout()
    return save_png(fig, Path(path))


def plot_best(best, path: str | Path, report: CampaignReport) -> Path:
    """Write best.png: the best candidates (a dataset whose conditions are their achieved properties); returns it."""
    from matgen.data.plot import plot_dataset

    targets = "; ".join(report.targets.values())
    return plot_dataset(best, path, color_by=None, limit=len(best), title=f"best candidates · targets {targets}")
