"""``RUN/MODEL_CARD.md``: what a run is, what it was trained on, what it is for, and what it achieved.

Written at the end of every training call (train, resume, fine-tune, reflow, distill) from
``config.json`` and ``metrics.csv``, and again whenever a measurement is added: a benchmark or a
campaign calls :func:`add_measurement`, which appends to ``RUN/measurements.json`` (the record)
and re-renders the card, so the card always says what matgen measured of this model.
"""

from __future__ import annotations

import datetime
import math
import os
from pathlib import Path

from matgen.common.files import read_json, write_json, write_text_atomic
from matgen.runs.config import RunConfig, read_config
from matgen.runs.files import RunFiles
from matgen.runs.metrics import read_metrics

#: What each kind is for and where it stops, in a line or two.
KIND_NOTES = {
    "diffusion": ("Conditional generation for the conditions below; 25-50 sampler steps (dpmpp-2m).",
                  "Trained on a small lab dataset: samples stay close to its distribution; beyond the training range "
                  "of a condition the model extrapolates and sampling warns."),
    "flow": ("Conditional generation with fewer sampler steps (heun at 8-32 steps, euler after reflow).",
             "As diffusion: close to the training distribution; a reflow run trades some quality for speed."),
    "consistency": ("Fast conditional generation in 1, 2 or 4 network calls (a student distilled from a teacher run).",
                    "Learns its teacher's ODE, errors included; guidance is baked in at the distilled weight."),
    "autoencoder": ("The first stage of latent diffusion: encodes signals to a 4x smaller latent and decodes them.",
                    "Not a generator; fine texture may be smoothed by the reconstruction."),
    "latent": ("Conditional generation with a diffusion model on an autoencoder's latents: faster training steps.",
               "Its samples are no sharper than the autoencoder's reconstructions."),
    "vae": ("Fast conditional generation and latent interpolation.",
            "Samples are smoother (blurrier) than diffusion samples."),
    "regressor": ("Steers a diffusion or flow sampler towards property targets (matgen sample --regressor).",
                  "Predicts its conditions from noisy inputs; not a property predictor for clean data."),
}


def render_model_card(config: RunConfig, metrics: list[dict], measurements: list[dict], name: str,
                      parameters: int | None = None) -> str:
    """The Markdown text of a run's model card."""
    model, data = config.model, config.data
    use, limits = KIND_NOTES.get(model.kind, ("Conditional generation (see docs/training.md).",
                                              "Stays close to its training data."))
    size = "x".join(str(s) for s in data.shape)
    lines = [f"# Model card: {name}", "",
             f"A matgen `{model.kind}` model, written by matgen {config.matgen_version or '?'}.", "",
             "## Data", "",
             f"- File: `{data.path}` (SHA-256 `{data.sha256[:16]}...`)",
             f"- Kind: {data.kind}, {data.signal_type} signals, {size} as the network sees them, {data.channels} "
             f"channel(s), normalisation `{data.norm}`",
             f"- Rows: {data.n_train} for training, {data.n_val} for validation"]
    if data.axis:
        values = data.axis.get("values") or []
        span = f" from {values[0]:.6g} to {values[-1]:.6g}" if len(values) else ""
        lines.append(f"- Axis: {data.axis.get('name', '')} ({data.axis.get('unit', '')}){span}")
    if data.builder:
        lines.append(f"- Built-in dataset: {data.builder}")
    lines += ["", "## Conditions", ""]
    if not model.conditions:
        lines.append("None: the model is unconditional.")
    else:
        lines += ["| condition | unit | training range |", "|---|---|---|"]
        for spec in model.conditions:
            if spec.kind == "categorical":
                lines.append(f"| {spec.name} | category | {', '.join(spec.categories)} |")
            else:
                lines.append(f"| {spec.name} | {spec.unit or '-'} | {_num(spec.minimum)} .. {_num(spec.maximum)} |")
    lines += ["", "## Model", "", f"- Kind: `{model.kind}`"]
    if parameters:
        lines.append(f"- Parameters: {parameters:,}")
    if model.options:
        shown = {k: v for k, v in model.options.items() if not isinstance(v, (dict, list))}
        if shown:
            lines.append("- Options: " + ", ".join(f"{k} = {v}" for k, v in shown.items()))
    if "finetuned_from" in config.records:
        lines.append(f"- Fine-tuned from: `{config.records['finetuned_from'].get('run', '?')}`")
    train = config.train
    lines += ["", "## Training", "",
              f"- Steps: {_last(metrics, 'step') or train.get('steps')}, batch size {train.get('batch_size')}, "
              f"peak learning rate {train.get('lr')}, seed {train.get('seed')}"]
    seconds = training_seconds(metrics, int(train.get("batch_size") or 1))
    if seconds:
        lines.append(f"- Training time: {seconds:.0f} s (from metrics.csv)")
    loss, val = _last(metrics, "loss"), _last(metrics, "val_loss")
    if loss is not None:
        lines.append(f"- Final training loss {loss:.4g}" + (f", validation loss {val:.4g}" if val is not None else ""))
    lines += ["", "## Intended use", "", use, "", "## Known limits", "", limits,
              "Condition values outside the training ranges above are extrapolation.", "",
              "## What it achieved", ""]
    if not measurements:
        lines.append("Nothing measured yet: `matgen sample --validate`, a campaign or a benchmark records it here.")
    for m in measurements:
        figures = ", ".join(f"{k} {_num(v)}" for k, v in m.get("figures", {}).items())
        lines.append(f"- {m.get('date', '')} {m.get('source', '')}: {m.get('summary', '')}"
                     + (f" ({figures})" if figures else ""))
    return "\n".join(lines) + "\n"


def write_model_card(run_dir: str | os.PathLike) -> Path:
    """Render ``RUN/MODEL_CARD.md`` from the run's files (atomically); returns its path."""
    files = RunFiles(run_dir)
    text = render_model_card(read_config(run_dir), read_metrics(Path(run_dir)), read_measurements(run_dir),
                             Path(run_dir).resolve().name, stored_parameters(files.weights))
    return write_text_atomic(files.model_card, text)


def stored_parameters(weights: Path) -> int | None:
    """The number of values in a safetensors file (None when absent), read from its header alone."""
    if not weights.is_file():
        return None
    from safetensors import safe_open

    with safe_open(str(weights), framework="numpy") as handle:
        return sum(int(math.prod(handle.get_slice(k).get_shape())) for k in handle.keys())


def training_seconds(metrics: list[dict], batch_size: int) -> float:
    """Training time summed from metrics.csv: each row's steps x batch size / its samples per second."""
    total, previous = 0.0, 0
    for row in metrics:
        step, rate = row.get("step"), row.get("samples_per_s")
        if step is not None and rate:
            total += (step - previous) * batch_size / rate
            previous = step
    return total


def read_measurements(run_dir: str | os.PathLike) -> list[dict]:
    """The measurements recorded for the run ([] when none)."""
    path = RunFiles(run_dir).measurements
    return list(read_json(path, "measurements file")) if path.is_file() else []


def add_measurement(run_dir: str | os.PathLike, source: str, summary: str, figures: dict | None = None) -> Path:
    """Record what ``source`` (a benchmark, a campaign round) measured of the run, and re-render its card.

    A new measurement from the same ``source`` replaces the earlier one (a resumed campaign does not repeat itself)."""
    entry = {"date": datetime.date.today().isoformat(), "source": source, "summary": summary,
             "figures": dict(figures or {})}
    kept = [m for m in read_measurements(run_dir) if m.get("source") != source]
    write_json(RunFiles(run_dir).measurements, kept + [entry])
    return write_model_card(run_dir)


def _last(rows: list[dict], key: str):
    values = [r.get(key) for r in rows if r.get(key) is not None]
    return values[-1] if values else None


def _num(value) -> str:
    if value is None:
        return "?"
    return f"{value:.4g}" if isinstance(value, float) else str(value)
