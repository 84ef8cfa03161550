"""Files: atomic writes (a crash never leaves half a file under the final name), SHA-256, JSON and TOML."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Iterator

from matgen.errors import MatgenError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``.

    Write the whole file to the yielded path. If the block raises (or the process dies), the
    final name keeps its previous content (or stays absent) and the temporary file is removed.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(final)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        yield tmp
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def remove_stale_temporaries(final: Path) -> list[Path]:
    """Remove the temporary files (or folders) of ``final`` left by processes that died mid-write
    (``kill -9``, power loss): ``.NAME.tmp-PID-*`` whose PID no longer runs. Returns what was removed."""
    return remove_dead_temporaries(final.parent, f".{final.name}.tmp-")


def remove_dead_temporaries(folder: Path, prefix: str) -> list[Path]:
    """Remove ``folder/PREFIX<PID>-*`` (files or folders) whose process ``PID`` no longer runs."""
    removed = []
    for tmp in Path(folder).glob(f"{prefix}*"):
        pid = tmp.name[len(prefix):].split("-")[0]
        if pid.isdigit() and not _running(int(pid)):
            with contextlib.suppress(OSError):
                if tmp.is_dir():
                    shutil.rmtree(tmp)
                else:
                    tmp.unlink()
                removed.append(tmp)
    return removed


def _running(pid: int) -> bool:
    if pid == os.getpid() or os.name != "posix":  # on Windows os.kill(pid, 0) would terminate the process
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):  # someone else's process, or a platform without signals: leave it
        return True
    return True


def check_writable(path: str | os.PathLike) -> Path:
    """``path`` as a Path, once it is sure a file can be written there (before any long work).

    The nearest existing folder on the way must be a writable folder; an existing ``path`` must
    not be a folder.

    Raises:
        MatgenError: what is in the way, and what to do.
    """
    from matgen.errors import MatgenError

    final = Path(path)
    if final.is_dir():
        raise MatgenError(f"{final} is a folder; give a file name such as {final / 'out.h5'}")
    folder = final.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise MatgenError(f"cannot write {final}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise MatgenError(f"cannot write {final}: no permission to write in {folder}; choose another place")
    return final


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def file_sha256(path: str | os.PathLike) -> str:
    """Return the hex SHA-256 of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def jsonable(value: Any) -> Any:
    """``value`` ready for strict JSON: NaN and inf as None, numpy (or torch) arrays and scalars as Python values,
    keys as str."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: str | os.PathLike, doc, indent: int = 1) -> Path:
    """Write ``doc`` as indented strict JSON atomically (NaN and inf written as null, :func:`jsonable`); returns the path."""
    return write_text_atomic(path, json.dumps(jsonable(doc), indent=indent, ensure_ascii=False, allow_nan=False) + "\n")


def read_json(path: str | os.PathLike, what: str = "file", hint: str = "") -> Any:
    """The JSON document at ``path``.

    Raises:
        MatgenError: ``{path}: damaged {what} ({error}); {hint}`` when it is not JSON.
    """
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MatgenError(f"{path}: damaged {what} ({exc}){'; ' + hint if hint else ''}") from None


def read_toml_table(path: str | os.PathLike, hint: str) -> dict:
    """The table in the TOML file ``path``.

    Raises:
        MatgenError: Python 3.10 (no tomllib), the file is missing (the message adds ``hint``), or not TOML.
    """
    try:
        import tomllib
    except ImportError:  # Python 3.10
        raise MatgenError(f"{path}: config files need Python 3.11 or newer (tomllib)") from None
    path = Path(path)
    if not path.is_file():
        raise MatgenError(f"{path}: no such config file; {hint}")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise MatgenError(f"{path}: not a valid TOML file ({exc})") from None
