"""Pictures of an evaluation: real vs synthetic per class, and each arm's score with its spread."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from matgen.data.dataset import Dataset
from matgen.data.plot import pyplot, save_png
from matgen.evaluate.downstream import DownstreamResult
from matgen.evaluate.spectra import class_names, unit_range

#: At most this many classes are drawn (the most populous real ones).
MAX_CLASSES = 12
#: Quality metrics in the unit of the spectral axis.
UNIT_KEYS = ("peak_position_error", "peak_fwhm_error")


def plot_overlays(real: Dataset, synthetic: Dataset, label: str | None, path: str | Path, title: str = "") -> Path:
    """PNG of real (grey) and synthetic (orange) spectra of each class, each scaled to [0, 1], means bold."""
    plt = pyplot()
    real_names, syn_names = class_names(real, label), class_names(synthetic, label)
    counts = {c: int((real_names == c).sum()) for c in dict.fromkeys(real_names) if c and (syn_names == c).any()}
    classes = sorted(counts, key=lambda c: -counts[c])[:MAX_CLASSES]
    cols = min(4, max(1, len(classes)))
    rows = max(1, int(np.ceil(len(classes) / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.4 * rows + 0.6), squeeze=False)
    x = real.axis.values
    a, b = unit_range(real.signals), unit_range(synthetic.signals)
    for ax in axes.flat:
        ax.axis("off")
    for ax, name in zip(axes.flat, classes):
        ax.axis("on")
        for y in a[real_names == name][:20]:
            ax.plot(x, y, color="0.6", lw=0.4, alpha=0.5)
        for y in b[syn_names == name][:20]:
            ax.plot(x, y, color="tab:orange", lw=0.4, alpha=0.4)
        ax.plot(x, a[real_names == name].mean(0), color="k", lw=1.1, label="real mean")
        ax.plot(x, b[syn_names == name].mean(0), color="tab:red", lw=1.1, ls="--", label="synthetic mean")
        ax.set_title(f"{name} ({counts[name]} real, {int((syn_names == name).sum())} syn.)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_xlim(x[0], x[-1])
    if classes:
        axes.flat[0].legend(fontsize=7, loc="upper right")
    fig.supxlabel(f"{real.axis.name} ({real.axis.unit})", fontsize=9)
    fig.suptitle(title or "real (grey) vs synthetic (orange), each spectrum scaled to [0, 1]", fontsize=10)
    fig.tight_layout()
    return save_png(fig, path, dpi=100)


def plot_micrograph_overlays(real: Dataset, synthetic: Dataset, path: str | Path, title: str = "") -> Path:
    """PNG of four real and four synthetic micrographs above the radially averaged S₂ of both sets."""
    from matgen.evaluate.micrographs import indicator, radial_profile, s2_maps

    plt = pyplot()
    fig = plt.figure(figsize=(10, 6))
    for k, (ds, what) in enumerate(((real, "real"), (synthetic, "synthetic"))):
        for j in range(min(4, len(ds))):
            ax = fig.add_subplot(3, 4, 4 * k + j + 1)
            ax.imshow(indicator(ds)[j], cmap="gray", interpolation="nearest")
            ax.set_title(f"{what} {j + 1}", fontsize=8)
            ax.axis("off")
    ax = fig.add_subplot(3, 1, 3)
    for ds, what, style in ((real, "real", "k-"), (synthetic, "synthetic", "r--")):
        profile = radial_profile(s2_maps(indicator(ds)).mean(0))
        ax.plot(np.arange(len(profile)) * (ds.pixel_size or 1.0), profile, style, label=what)
    ax.set_xlabel(f"r ({real.pixel_unit if real.pixel_size else 'px'})")
    ax.set_ylabel("S₂(r)")
    ax.legend(fontsize=8)
    fig.suptitle(title or "real vs synthetic micrographs and their two-point correlation", fontsize=10)
    fig.tight_layout()
    return save_png(fig, path, dpi=100)


def plot_scores(result: DownstreamResult, path: str | Path, title: str = "") -> Path:
    """PNG of each arm's mean score with ± one standard deviation over seeds, seeds as dots, gains annotated."""
    plt = pyplot()
    summary = result.summary()
    fig, ax = plt.subplots(figsize=(1.4 * len(summary) + 3, 4.2))
    colours = ["0.5" if s["arm"] == "real" else "tab:blue" if s["arm"].startswith("real+") else "tab:orange"
               for s in summary]
    positions = np.arange(len(summary))
    ax.bar(positions, [s["mean"] for s in summary], yerr=[s["std"] for s in summary], color=colours, capsize=4, alpha=0.85)
    for i, s in enumerate(summary):
        values = result.scores[s["arm"]]
        ax.plot(np.full(len(values), i) + np.linspace(-0.15, 0.15, len(values)), values, "k.", ms=3)
        if s["arm"] != "real":
            ax.annotate(f"{s['gain_mean']:+.3f}\n±{s['gain_std']:.3f}", (i, s["mean"] + s["std"]),
                        textcoords="offset points", xytext=(0, 4), ha="center", fontsize=7)
    ax.set_xticks(positions, [s["arm"] for s in summary], rotation=20, fontsize=8)
    unit = f" ({result.task.unit})" if result.task.kind == "regression" and result.task.unit else ""
    ax.set_ylabel(("test accuracy" if result.task.kind == "classification" else "test MAE") + unit)
    if result.task.kind == "classification":
        ax.set_ylim(0, 1.12)
    ax.set_title(title or f"{result.task.label}: {len(result.seeds)} seeds, split by {result.group or 'row'}, "
                 f"{result.model.model}; gain vs real (paired) above the bars", fontsize=9)
    fig.tight_layout()
    return save_png(fig, path, dpi=100)


def plot_quality(result: DownstreamResult, path: str | Path, keys: tuple[str, ...] = (
        "spectral_angle_deg", "peak_position_error", "peak_fwhm_error", "peak_height_error", "copied_fraction")) -> Path:
    """PNG of the sample-quality metrics per augmenter (mean ± std over seeds), one panel per metric."""
    from matgen.evaluate.downstream import summarize_quality

    plt = pyplot()
    summaries = {name: summarize_quality(q) for name, q in result.quality.items() if q}
    keys = tuple(k for k in keys if any(k in s for s in summaries.values()))
    fig, axes = plt.subplots(1, max(1, len(keys)), figsize=(2.6 * max(1, len(keys)), 3.2), squeeze=False)
    names = list(summaries)
    for ax, key in zip(axes.flat, keys):
        means = [summaries[n].get(key, {}).get("mean", np.nan) for n in names]
        stds = [summaries[n].get(key, {}).get("std", np.nan) for n in names]
        ax.bar(np.arange(len(names)), means, yerr=stds, capsize=4, color="tab:orange", alpha=0.85)
        ax.set_xticks(np.arange(len(names)), names, fontsize=8, rotation=15)
        unit = next((q[0].get("axis_unit") for q in result.quality.values() if q), "")
        ax.set_title(key.replace("_", " ") + (f" ({unit})" if key in UNIT_KEYS and unit else ""), fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle("sample quality against the real test split (mean ± std over seeds)", fontsize=9)
    fig.tight_layout()
    return save_png(fig, path, dpi=100)
