"""The structure docs/architecture.md describes, checked from the code's own imports (parsed, not run).

Every import counts, also one inside a function: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "matgen"
MAX_LINES = 600

#: Which package may import which (the rooms of docs/architecture.md, from the ground floor up).
ALLOWED = {
    "errors": set(),
    "version": set(),
    "common": {"errors"},
    "data": {"common", "errors", "version"},
    "nets": {"common", "errors"},
    "generative": {"common", "errors"},
    "physics": {"common", "errors"},
    "simulators": {"common", "data", "errors", "physics"},
    "builders": {"common", "data", "errors", "physics", "simulators", "version"},
    "runs": {"common", "data", "errors", "generative", "nets", "version"},
    "train": {"common", "data", "errors", "generative", "nets", "runs"},
    "sample": {"common", "data", "errors", "evaluate", "generative", "nets", "runs", "simulators", "version"},
    "evaluate": {"common", "data", "errors", "physics", "simulators"},
    "augment": {"common", "data", "errors", "evaluate", "physics", "runs", "sample", "train"},
    "campaign": {"builders", "common", "data", "errors", "evaluate", "generative", "runs", "sample", "simulators",
                 "train", "version"},
    "demo": {"campaign", "common", "data", "physics"},
    "cli": {"augment", "builders", "campaign", "common", "data", "demo", "errors", "evaluate", "runs", "sample",
            "simulators", "train", "version"},
    "__main__": {"cli"},
    "": {"campaign", "errors", "version"},  # matgen/__init__.py: the API entrance (Campaign on first use)
}
#: The modules outside train/ that may import matgen.train: those that train (or configure training).
TRAINERS = {
    "matgen.campaign.config": "CampaignConfig.train_config: the TrainConfig of the first model",
    "matgen.campaign.steps": "trains the first model, fine-tunes between rounds",
    "matgen.augment.generative": "train_on_dataset: augment --train-steps",
    "matgen.cli.train": "matgen train",
    "matgen.cli.distill": "matgen distill",
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in ROOT.rglob("*.py")}


def imports(path: Path) -> set[str]:
    """The matgen modules ``path`` imports (``from pkg import sub`` counts as the submodule, not the package)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "matgen")
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "matgen":
            subs = {f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in MODULES}
            found |= subs
            if len(subs) < len(node.names):
                found.add(node.module)
    return found


GRAPH = {name: {m for m in imports(path) if m in MODULES} for name, path in MODULES.items()}


def room(module: str) -> str:
    """The package a module belongs to: ``matgen.runs.kinds.vae`` -> ``runs``; ``matgen`` -> ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_the_import_graph_reads_the_tree():
    """A check of the checker: it sees known imports, lazy ones included, and submodules as themselves."""
    assert "matgen.runs" in GRAPH["matgen.sample.generate"]  # from matgen.runs import Run (the package)
    assert "matgen.campaign.state" in GRAPH["matgen.campaign.loop"]  # from matgen.campaign import state as st
    assert "matgen.train" in GRAPH["matgen.campaign.steps"]  # inside a function
    assert set(ALLOWED) >= {room(m) for m in MODULES}, "a new package needs its row in ALLOWED"


def test_packages_import_only_the_rooms_below_them():
    wrong = sorted(f"{a} imports {b}" for a, targets in GRAPH.items() for b in targets
                   if room(b) != room(a) and room(b) not in ALLOWED[room(a)])
    assert not wrong, "\n".join(wrong)


def test_only_code_that_trains_imports_matgen_train():
    users = {a for a, targets in GRAPH.items() for b in targets if room(b) == "train" and room(a) != "train"}
    assert users == set(TRAINERS)


def test_simulators_do_not_borrow_from_builders_and_physics_does_not_read_files():
    assert not [a for a, t in GRAPH.items() if room(a) == "simulators" and any(room(b) == "builders" for b in t)]
    assert not [a for a, t in GRAPH.items() if room(a) == "physics" and any(room(b) == "data" for b in t)]


def test_no_module_imports_itself_back_through_any_path():
    """No import cycle at all (Tarjan's strongly connected components), so no two modules import each other."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in GRAPH:
        if v not in index:
            visit(v)
    assert not cycles


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_file_is_over_600_lines(name):
    lines = len(MODULES[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{MODULES[name]} has {lines} lines; split it (STYLE.md: one concept, 100-400 lines)"


def test_the_ground_floor_imports_nothing_heavy_at_import_time():
    """matgen.common and the TrainConfig / builder options the CLI reads at start-up load no torch or numpy."""
    import subprocess
    import sys

    code = ("import sys, matgen.common.progress, matgen.common.seeding, matgen.common.ranges, matgen.common.records, "
            "matgen.common.device, matgen.common.files, matgen.train.config, matgen.builders.options; "
            "print(sorted(m for m in ('torch', 'numpy', 'h5py') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_one_name_means_one_thing():
    """The names that once collided are defined once each (read_config, ModelConfig, ConditionSpec, ...)."""
    defined = defaultdict(list)
    for name, path in MODULES.items():
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
                defined[node.name].append(name)
    for name in ("read_config", "ModelConfig", "ConditionSpec", "check_compatible", "Evaluation", "no_progress",
                 "resolve_device", "parse_range", "counting_noise", "load_toml"):
        assert len(defined.get(name, [])) <= 1, (name, defined[name])
