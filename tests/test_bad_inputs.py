"""Bad input, table-driven, across every command: each case must end in one ``error:`` line that
says what is wrong, exit code 2, no traceback, no partial output, and every file that was there
before byte-identical afterwards.

The world (a dataset, a trained run, spectra, damaged files and folders) is built once; each case
is a command line with ``{w}`` for the world's folder and the fragments its error must contain.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from matgen.builders import build
from matgen.cli.main import app
from matgen.data import write
from matgen.train import TrainConfig, train

from test_train import TINY

pytestmark = pytest.mark.usefixtures("one_thread")

runner = CliRunner()

CAMPAIGN = """
data = "{w}/data.h5"
run = "{w}/run"
candidates = 4
rounds = 1
finetune_steps = 0
steps = 3
simulator = "elastic"
{extra}
[targets]
{targets}
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    w = tmp_path_factory.mktemp("world")
    data = write(w / "data.h5", build("spinodal", n=24, size=16, seed=1))
    write(w / "raman.h5", build("raman", n=8, points=64, seed=1))
    train(data, TrainConfig(conditions=("density", "modulus"), steps=3, **TINY), w / "run")
    (w / "empty.h5").write_bytes(b"")
    (w / "text.h5").write_text("sample,modulus\nA,120\n")
    (w / "truncated.h5").write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    with h5py.File(w / "plain.h5", "w") as f:
        f["x"] = np.zeros(3)
    shutil.copyfile(data, w / "nan.h5")
    with h5py.File(w / "nan.h5", "r+") as f:
        signals = f["signals"][()].astype("float32")
        signals[0, 0, 0] = np.nan
        del f["signals"]
        f["signals"] = signals
    (w / "notarun").mkdir()
    shutil.copytree(w / "run", w / "run_noweights")
    (w / "run_noweights" / "model.safetensors").unlink()
    shutil.rmtree(w / "run_noweights" / "checkpoint")
    shutil.copytree(w / "run", w / "run_badjson")
    (w / "run_badjson" / "config.json").write_text("{ not json")
    shutil.copytree(w / "run", w / "run_pickle")
    import pickle

    (w / "run_pickle" / "model.safetensors").write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    tomls = {
        "syntax": "candidates = = 4\n",
        "unknown_field": CAMPAIGN.format(w=w, extra="candidatez = 4", targets='density = "2.9 ± 1%"'),
        "zero_candidates": CAMPAIGN.format(w=w, extra="", targets='density = "2.9 ± 1%"').replace(
            "candidates = 4", "candidates = 0"),
        "unknown_target": CAMPAIGN.format(w=w, extra="", targets='hardness = "5 ± 1%"'),
        "nan_target": CAMPAIGN.format(w=w, extra="", targets='density = "nan"'),
        "impossible_target": CAMPAIGN.format(w=w, extra="", targets='density = "9.5 ± 1%"'),
        "unknown_simulator": CAMPAIGN.format(w=w, extra="", targets='density = "2.9 ± 1%"').replace(
            'simulator = "elastic"', 'simulator = "elastik"'),
        "text_rounds": CAMPAIGN.format(w=w, extra="", targets='density = "2.9 ± 1%"').replace(
            "rounds = 1", 'rounds = "three"'),
        "no_targets": CAMPAIGN.format(w=w, extra="", targets=""),
        "missing_data": CAMPAIGN.format(w=w, extra="", targets='density = "2.9 ± 1%"').replace(
            "data.h5", "nothing.h5"),
        "bad_builder_option": 'builder = "composite"\nsimulator = "elastic"\n[builder_options]\nsize = "big"\n'
                              '[targets]\ndensity = "2.9 ± 1%"\n',
        "negative_n": 'builder = "composite"\nsimulator = "elastic"\n[builder_options]\nn = -3\n'
                      '[targets]\ndensity = "2.9 ± 1%"\n',
        "nan_scale": CAMPAIGN.format(w=w, extra="guidance = nan", targets='density = "2.9 ± 1%"'),
    }
    for name, text in tomls.items():
        (w / f"{name}.toml").write_text(text, encoding="utf-8")
    x = np.linspace(200, 1200, 400)
    spectrum = "\n".join(f"{a:.3f}, {np.exp(-((a - 600) / 20) ** 2) + 0.1:.5f}" for a in x)
    for name, files in {
        "spectra_cut": {"a.txt": spectrum, "b.txt": "##NPOINTS=1000\n" + spectrum},
        "spectra_repeat": {"a.txt": spectrum, "b.txt": spectrum + "\n1200.000, 0.7"},
        "spectra_table": {"a.txt": spectrum, "b.txt": spectrum,
                          "table.csv": "file,temperature (K)\na.txt,300\nb.txt,350\nc.txt,400\n"},
    }.items():
        (w / name).mkdir()
        for file, text in files.items():
            (w / name / file).write_text(text)
    from PIL import Image

    (w / "images_cut").mkdir()
    for name in ("a.png", "b.png"):
        Image.fromarray((np.random.default_rng(0).random((32, 32)) * 255).astype(np.uint8)).save(w / "images_cut" / name)
    whole = (w / "images_cut" / "b.png").read_bytes()
    (w / "images_cut" / "b.png").write_bytes(whole[: len(whole) // 2])
    zeroed = bytearray(data.read_bytes())
    zeroed[len(zeroed) // 3: len(zeroed) // 3 + 512] = bytes(512)
    (w / "zeroed.h5").write_bytes(bytes(zeroed))
    (w / "stored").mkdir()
    (w / "stored" / "out.h5").write_bytes(b"precious")  # an output that exists: never overwritten
    return w


S = "sample {w}/run -o {w}/out.h5 -n 2 --steps 3"
CASES = [
    # --- data files: missing, damaged, not matgen's -----------------------------------------------
    ("info-missing", "data info {w}/nothing.h5", ["nothing.h5"]),
    ("info-empty", "data info {w}/empty.h5", ["empty.h5"]),
    ("info-text", "data info {w}/text.h5", ["text.h5"]),
    ("info-truncated", "data info {w}/truncated.h5", ["truncated.h5"]),
    ("info-plain", "data info {w}/plain.h5", ["plain.h5"]),
    ("info-folder", "data info {w}/notarun", ["notarun"]),
    ("plot-truncated", "data plot {w}/truncated.h5 -o {w}/out.png", ["truncated.h5"]),
    ("plot-unknown-colour", "data plot {w}/data.h5 -o {w}/out.png --color-by hardness", ["hardness"]),
    ("split-bad-fractions", "data split {w}/data.h5 --fractions 0.8,0.5 -o {w}/parts", ["fractions"]),
    ("split-unknown-group", "data split {w}/data.h5 --by batch -o {w}/parts", ["batch"]),
    ("build-bad-size", "data build spinodal -o {w}/out.h5 --n 4 --size 4", ["size must be at least 8"]),
    ("build-zero-n", "data build spinodal -o {w}/out.h5 --n 0", ["n (number of samples) must be at least 1"]),
    ("build-reversed-range", "data build spinodal -o {w}/out.h5 --n 4 --anneal-time 300..100", ["300..100"]),
    ("build-existing", "data build spinodal -o {w}/stored/out.h5 --n 4", ["exists; pass --force"]),
    ("build-into-folder", "data build spinodal -o {w}/notarun --n 4", ["is a folder"]),
    ("build-under-a-file", "data build spinodal -o {w}/data.h5/x.h5 --n 4", ["is a file, not a folder"]),
    ("build-not-h5", "data build spinodal -o {w}/out.csv --n 4", ["should end in .h5"]),
    ("import-missing-folder", "data import {w}/nofolder -o {w}/out.h5", ["nofolder"]),
    ("import-header-says-more", "data import {w}/spectra_cut -o {w}/out.h5 --kind raman",
     ["b.txt", "##NPOINTS=1000 but the file holds 400 data points"]),
    ("import-repeated-x", "data import {w}/spectra_repeat -o {w}/out.h5 --kind raman", ["b.txt", "repeats x = 1200"]),
    ("import-table-names-a-missing-file", "data import {w}/spectra_table -o {w}/out.h5 --kind raman "
     "--table {w}/spectra_table/table.csv", ["c.txt"]),
    ("import-image-cut-short", "data import {w}/images_cut -o {w}/out.h5", ["b.png", "cut short"]),
    ("import-into-a-folder", "data import {w}/spectra_cut -o {w}/notarun --kind raman", ["is a folder"]),
    ("info-zeroed", "data info {w}/zeroed.h5", ["zeroed.h5"]),
    ("train-zeroed", "train {w}/zeroed.h5 -o {w}/newrun --steps 2", ["zeroed.h5"]),
    ("plot-zero-limit", "data plot {w}/data.h5 -o {w}/out.png --limit 0", ["--limit 0"]),
    # --- training ----------------------------------------------------------------------------------
    ("train-missing-data", "train {w}/nothing.h5 -o {w}/newrun --steps 2", ["nothing.h5"]),
    ("train-truncated", "train {w}/truncated.h5 -o {w}/newrun --steps 2", ["truncated.h5"]),
    ("train-nan", "train {w}/nan.h5 -o {w}/newrun --steps 2", ["NaN"]),
    ("train-unknown-condition", "train {w}/data.h5 -o {w}/newrun -c hardness --steps 2", ["hardness"]),
    ("train-zero-steps", "train {w}/data.h5 -o {w}/newrun --steps 0", ["steps"]),
    ("train-negative-lr", "train {w}/data.h5 -o {w}/newrun --steps 2 --lr -1", ["lr"]),
    ("train-unknown-net", "train {w}/data.h5 -o {w}/newrun --net huge --steps 2", ["huge"]),
    ("train-unknown-model", "train {w}/data.h5 -o {w}/newrun --model gan --steps 2", ["gan"]),
    ("train-over-a-run", "train {w}/data.h5 -o {w}/run --steps 2", ["already holds a run", "--force"]),
    ("train-steps-and-epochs", "train {w}/data.h5 -o {w}/newrun --steps 2 --epochs 1", ["not both"]),
    ("train-resume-not-a-run", "train -o {w}/notarun --resume", ["notarun"]),
    ("train-resume-changed-options", "train -o {w}/run --resume --lr 0.1", ["only --steps, --epochs and --device"]),
    ("train-resume-no-checkpoint", "train -o {w}/run_noweights --resume", ["no checkpoint to resume from"]),
    ("train-missing-config", "train {w}/data.h5 -o {w}/newrun --config {w}/nothing.toml", ["nothing.toml"]),
    # --- sampling ----------------------------------------------------------------------------------
    ("sample-not-a-run", "sample {w}/notarun -o {w}/out.h5", ["notarun"]),
    ("sample-no-weights", "sample {w}/run_noweights -o {w}/out.h5", ["model.safetensors", "incomplete"]),
    ("sample-bad-config", "sample {w}/run_badjson -o {w}/out.h5", ["config.json"]),
    ("sample-pickled-weights", "sample {w}/run_pickle -o {w}/out.h5", ["model.safetensors"]),
    ("sample-unknown-target", S + " --target-hardness 5", ["unknown target 'hardness'", "density"]),
    ("sample-text-target", S + " --target-density heavy", ["'heavy' is not a number"]),
    ("sample-nan-target", S + " --target-density nan", ["'nan' is not a number", "leave the option out"]),
    ("sample-inf-target", S + " --target-density inf", ["finite"]),
    ("sample-reversed-range", S + " --target-density 3..2", ["runs backwards"]),
    ("sample-negative-guidance", S + " --target-density 2.9 --guidance -1", ["guidance", ">= 0"]),
    ("sample-zero-n", "sample {w}/run -o {w}/out.h5 -n 0", ["at least 1"]),
    ("sample-unknown-sampler", S + " --sampler euler", ["sampler 'euler' does not fit a diffusion run", "dpmpp-2m"]),
    ("sample-too-many-steps", "sample {w}/run -o {w}/out.h5 -n 2 --steps 5000", ["steps"]),
    ("sample-existing-output", "sample {w}/run -o {w}/stored/out.h5 -n 2", ["exists; pass --force"]),
    ("sample-physics-unknown", S + " --target-density 2.9 --physics-guidance elastik", ["elastik"]),
    ("sample-physics-negative", S + " --target-density 2.9 --physics-guidance elastic --physics-scale -1",
     ["physics scale"]),
    ("sample-validate-wrong-kind", S + " --validate raman-bands", ["raman"]),
    ("sample-regressor-not-a-run", S + " --regressor {w}/notarun", ["notarun"]),
    ("interpolate-diffusion-run", "interpolate {w}/run --from-id a --to-id b -o {w}/out.h5", ["VAE"]),
    # --- simulate, augment, evaluate, sweep ---------------------------------------------------------
    ("simulate-missing", "simulate {w}/nothing.h5 -s elastic", ["nothing.h5"]),
    ("simulate-truncated", "simulate {w}/truncated.h5 -s elastic", ["truncated.h5"]),
    ("simulate-wrong-kind", "simulate {w}/raman.h5 -s elastic", ["raman"]),
    ("simulate-unknown", "simulate {w}/data.h5 -s elastik", ["unknown simulator 'elastik'"]),
    ("simulate-bad-hook", "simulate {w}/data.h5 -s nosuchmodule:f --outputs a:", ["nosuchmodule"]),
    ("simulate-no-output-placeholder", "simulate {w}/data.h5 --command 'prog {{input}}' --outputs a:",
     ["{output}"]),
    ("simulate-zero-timeout", "simulate {w}/data.h5 -s elastic --timeout 0", ["timeout"]),
    ("simulate-existing-output", "simulate {w}/data.h5 -s elastic -o {w}/stored/out.h5", ["exists"]),
    ("augment-missing", "augment {w}/nothing.h5 -o {w}/out.h5", ["nothing.h5"]),
    ("augment-unknown-method", "augment {w}/raman.h5 -o {w}/out.h5 --method magic", ["magic"]),
    ("augment-negative-factor", "augment {w}/raman.h5 -o {w}/out.h5 --factor -1", ["factor"]),
    ("augment-existing-output", "augment {w}/raman.h5 -o {w}/stored/out.h5", ["exists; pass --force"]),
    ("evaluate-missing", "evaluate {w}/nothing.h5 -o {w}/eval", ["nothing.h5"]),
    ("evaluate-unknown-label", "evaluate {w}/raman.h5 -o {w}/eval --method physics --label colour", ["colour"]),
    ("sweep-unknown-simulator", "sweep {w}/run --validate elastik --target density=2.9 -n 2 --steps 2,3", ["elastik"]),
    ("sweep-bad-steps", "sweep {w}/run --validate elastic --target density=2.9 -n 2 --steps 3,x", ["x"]),
    # --- campaigns ---------------------------------------------------------------------------------
    ("campaign-missing-config", "campaign run {w}/nothing.toml -o {w}/camp", ["nothing.toml"]),
    ("campaign-syntax", "campaign run {w}/syntax.toml -o {w}/camp", ["syntax.toml"]),
    ("campaign-unknown-field", "campaign run {w}/unknown_field.toml -o {w}/camp", ["candidatez"]),
    ("campaign-zero-candidates", "campaign run {w}/zero_candidates.toml -o {w}/camp", ["candidates"]),
    ("campaign-unknown-target", "campaign run {w}/unknown_target.toml -o {w}/camp", ["hardness"]),
    ("campaign-nan-target", "campaign run {w}/nan_target.toml -o {w}/camp", ["density"]),
    ("campaign-impossible-target", "campaign run {w}/impossible_target.toml -o {w}/camp", ["density"]),
    ("campaign-unknown-simulator", "campaign run {w}/unknown_simulator.toml -o {w}/camp", ["elastik"]),
    ("campaign-text-rounds", "campaign run {w}/text_rounds.toml -o {w}/camp", ["rounds"]),
    ("campaign-no-targets", "campaign run {w}/no_targets.toml -o {w}/camp", ["target"]),
    ("campaign-missing-data", "campaign run {w}/missing_data.toml -o {w}/camp", ["nothing.h5"]),
    ("campaign-bad-builder-option", "campaign run {w}/bad_builder_option.toml -o {w}/camp",
     ["[builder_options]: dataset 'composite': option size should be a whole number"]),
    ("campaign-negative-n", "campaign run {w}/negative_n.toml -o {w}/camp", ["[builder_options]", "n (number of samples)"]),
    ("campaign-nan-guidance", "campaign run {w}/nan_scale.toml -o {w}/camp", ["guidance"]),
    ("campaign-resume-not-a-campaign", "campaign resume {w}/notarun", ["not a campaign directory"]),
    ("campaign-status-missing", "campaign status {w}/nothing", ["nothing"]),
]


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones too) -> the SHA-256 of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def folders(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_dir()}


@pytest.mark.parametrize("name, command, fragments", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_leaves_every_file_as_it_was(world, name, command, fragments):
    import shlex

    before, before_folders = snapshot(world), folders(world)
    result = runner.invoke(app, shlex.split(command.format(w=world)))
    assert result.exit_code == 2, f"{name}: exit {result.exit_code}\n{result.output}"
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), f"{name}:\n{result.output}"
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], f"{name}: {fragment!r} not in {lines[0]!r}"
    assert snapshot(world) == before, f"{name}: files changed or appeared"
    assert folders(world) == before_folders, f"{name}: a folder appeared"


def test_there_are_at_least_sixty_cases():
    assert len(CASES) >= 60 and len({c[0] for c in CASES}) == len(CASES)
