"""What every importer shares: finding the files, pairing them with their conditions, bad-file policy.

Conditions come from a table (CSV: a file column plus one column per condition), from the file
names through a :class:`~matgen.data.conditions.NamePattern`, or both (the table wins on a clash).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from matgen.data.conditions import ColumnTyping, NamePattern, file_column, read_table
from matgen.data.dataset import Dataset
from matgen.errors import MatgenError


@dataclass
class ImportResult:
    """What an import produced: the dataset, the files left out with the reason for each, and warnings
    (one line each, e.g. a numeric condition without a unit) that the CLI prints in yellow."""

    dataset: Dataset
    skipped: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class BadFiles:
    """Collects bad files: raises on the first one, or records it when ``skip_bad`` is set."""

    def __init__(self, skip_bad: bool):
        self.skip_bad = skip_bad
        self.skipped: list[tuple[str, str]] = []

    def report(self, where: str | Path, reason: str) -> None:
        if not self.skip_bad:
            raise MatgenError(f"{where}: {reason}; fix it or pass --skip-bad to import the rest")
        self.skipped.append((str(where), reason))


def find_files(inputs: Sequence[str | Path], extensions: Iterable[str], what: str) -> tuple[Path, list[Path]]:
    """The import root and the sorted files with one of ``extensions`` under ``inputs``.

    ``inputs`` is one folder (searched recursively) or a list of files. The root is the folder,
    or the files' common parent; row ids are paths relative to it.

    Raises:
        MatgenError: an input is missing, or no file of a known extension is found.
    """
    extensions = {e.lower() for e in extensions}
    paths = [Path(p) for p in inputs]
    if not paths:
        raise MatgenError(f"no input given; name a folder of {what} or the files themselves")
    for p in paths:
        if not p.exists():
            raise MatgenError(f"{p}: no such file or folder; check the path")
    if len(paths) == 1 and paths[0].is_dir():
        root = paths[0]
        files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in extensions
                       and not p.name.startswith("."))
        if not files:
            raise MatgenError(
                f"{root}: no {what} found (looked for {', '.join(sorted(extensions))}); is it the right folder?"
            )
        return root, files
    files = []
    for p in paths:
        if p.is_dir():
            raise MatgenError(f"{p} is a folder; give either one folder or a list of files")
        files.append(p)
    parents = {p.resolve().parent for p in files}
    root = Path(*_common_parts([p.parts for p in parents])) if len(parents) > 1 else parents.pop()
    return root, sorted(files)


def _common_parts(parts: list[tuple[str, ...]]) -> tuple[str, ...]:
    common = []
    for items in zip(*parts):
        if len(set(items)) != 1:
            break
        common.append(items[0])
    return tuple(common) or ("/",)


def row_id(root: Path, path: Path, suffix: str = "") -> str:
    """A stable row id: the path relative to the import root, without extension, plus ``#suffix``."""
    try:
        rel = path.resolve().relative_to(root.resolve())
    except ValueError:
        rel = Path(path.name)
    text = rel.with_suffix("").as_posix()
    return f"{text}#{suffix}" if suffix else text


@dataclass
class ConditionSource:
    """Where per-file conditions come from: a table and/or a file-name pattern."""

    table: Path | None = None
    file_column: str | None = None
    name_pattern: str | None = None

    def __post_init__(self) -> None:
        if self.table is not None:
            self.table = Path(self.table)


def spec_with_pattern(spec: ColumnTyping | None, source: ConditionSource) -> ColumnTyping:
    """The user's condition spec plus the name pattern's ``{field:duration}`` fields."""
    spec = spec or ColumnTyping()
    pattern = NamePattern(source.name_pattern).durations if source.name_pattern else []
    durations = tuple(dict.fromkeys([*spec.durations, *pattern]))
    return ColumnTyping(roles=spec.roles, categorical=spec.categorical, durations=durations)


def conditions_for_files(
    files: Sequence[Path], root: Path, source: ConditionSource, bad: BadFiles
) -> tuple[list[Path], list[dict[str, str]], list[str]]:
    """Pair each file with its raw condition texts.

    Returns the files kept, one dict (column -> text) per kept file, and for each a description
    of where its conditions came from (for error messages). Files the table misses, table rows
    that name absent files, and names the pattern does not fit are reported through ``bad``.
    """
    pattern = NamePattern(source.name_pattern) if source.name_pattern else None
    table_rows: dict[Path, tuple[dict[str, str], str]] = {}
    if source.table is not None:
        table_rows = _table_by_file(files, root, source, bad)
    kept, rows, where = [], [], []
    for f in files:
        raw: dict[str, str] = {}
        origin = f.name
        if pattern is not None:
            fields = pattern.match(f.stem)
            if fields is None:
                bad.report(f, f"file name does not fit the pattern '{source.name_pattern}'")
                continue
            raw.update(fields)
            origin = f"file name {f.name}"
        if source.table is not None:
            entry = table_rows.get(f.resolve())
            if entry is None:
                bad.report(f, f"not listed in {source.table.name}; add a row for it")
                continue
            raw.update(entry[0])
            origin = entry[1]
        kept.append(f)
        rows.append(raw)
        where.append(origin)
    return kept, rows, where


def _table_by_file(
    files: Sequence[Path], root: Path, source: ConditionSource, bad: BadFiles
) -> dict[Path, tuple[dict[str, str], str]]:
    header, rows = read_table(source.table)
    column = file_column(header, source.table, source.file_column)
    by_name: dict[str, list[Path]] = {}
    for f in files:
        by_name.setdefault(f.name, []).append(f)
        by_name.setdefault(f.stem, []).append(f)
    known = {f.resolve() for f in files}
    result: dict[Path, tuple[dict[str, str], str]] = {}
    for line, row in enumerate(rows, start=2):
        where = f"{source.table.name} line {line}"
        name = row[column]
        match = _resolve(name, [source.table.parent, root], known, by_name)
        if match is None:
            bad.report(source.table, f"line {line} names '{name}', which is not among the imported files")
            continue
        if match in result:
            raise MatgenError(f"{source.table} line {line}: '{name}' is listed twice; keep one row per file")
        result[match] = ({k: v for k, v in row.items() if k != column}, where)
    return result


def _resolve(name: str, bases: Sequence[Path], known: set[Path], by_name: dict[str, list[Path]]) -> Path | None:
    for base in bases:
        candidate = (base / name).resolve()
        if candidate in known:
            return candidate
    candidates = by_name.get(Path(name).name) or by_name.get(name) or []
    return candidates[0].resolve() if len(candidates) == 1 else None
