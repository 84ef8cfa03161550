"""Damaged HDF5 files: every h5py error on a user's file becomes one :class:`MatgenError` line.

A file damaged in its headers (a writer killed mid-write, bytes zeroed by a failing disk) makes
h5py raise ``OSError``, ``KeyError``, ``RuntimeError``, ``ValueError`` or ``TypeError`` from
anywhere: opening the file, listing a group, reading an attribute or an array. :func:`open_h5`
opens a file and :func:`guard` wraps the reading, so that each of them reads
``<file>: damaged HDF5 file (<reason>); restore it from a copy or re-create it``.

One kind of damage does not raise but hangs: libhdf5 (up to 2.0 at least) loops forever on a
global heap collection (``GCOL``, where variable-length strings live) in which an object header
reads index 0 and size 0 -- what zeroed bytes inside the collection look like -- and h5py holds
the GIL meanwhile. :func:`global_heap_problem` walks every collection the way libhdf5 does
(``H5HG__cache_heap_deserialize``) before h5py touches the file, and reports that case.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import re
from pathlib import Path
from typing import Iterator

from matgen.errors import MatgenError

#: What h5py raises on a damaged file, wherever the damage is met.
H5_ERRORS = (OSError, KeyError, RuntimeError, ValueError, TypeError)
#: The HDF5 format signature; the superblock starts at byte 0, 512, 1024, 2048...
SIGNATURE = b"\x89HDF\r\n\x1a\n"
_HEAP_MIN_BYTES = 4096  # H5HG_MINSIZE


def damaged(path: str | os.PathLike, reason: str | BaseException) -> MatgenError:
    """The one-line error for a damaged HDF5 file at ``path``."""
    text = short_reason(reason) if isinstance(reason, BaseException) else reason
    return MatgenError(f"{path}: damaged HDF5 file ({text}); restore it from a copy or re-create it")


def short_reason(exc: BaseException) -> str:
    """libhdf5's own reason inside h5py's message (``bad object header version number``), or the message."""
    text = " ".join(str(exc).split()).strip("'\"")
    detail = re.search(r"\(([^()]+)\)", text)
    reason = (detail[1] if detail else text).strip().rstrip(".,;:")
    truncated = re.match(r"truncated file: eof = (\d+).*stored_eof = (\d+)", reason)
    if truncated:
        return f"truncated: {truncated[1]} of {truncated[2]} bytes"
    return reason[:100] or type(exc).__name__


@contextlib.contextmanager
def guard(path: str | os.PathLike) -> Iterator[None]:
    """Turn an h5py error raised inside the block into the damaged-file :class:`MatgenError`."""
    try:
        yield
    except MatgenError:
        raise
    except H5_ERRORS as exc:
        raise damaged(path, exc) from None


def open_h5(path: str | os.PathLike):
    """``h5py.File(path, "r")`` after the checks that keep a damaged file from crashing or hanging.

    Raises:
        MatgenError: the path is missing or a folder, the file is not HDF5 at all, or it is a
            damaged HDF5 file (the message says which and what to do).
    """
    import h5py

    path = Path(path)
    if not path.exists():
        raise MatgenError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise MatgenError(f"{path} is a folder, not an HDF5 file; give the .h5 file inside it")
    if superblock_offset(path) is None:
        raise MatgenError(f"{path}: not a readable HDF5 file (no HDF5 signature); is it of another format?")
    problem = global_heap_problem(path)
    if problem:
        raise damaged(path, problem)
    try:
        return h5py.File(path, "r")
    except H5_ERRORS as exc:
        raise damaged(path, exc) from None


def superblock_offset(path: Path) -> int | None:
    """Byte offset of the HDF5 superblock (0, 512, 1024, ...), or None when the file has none."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        offset = 0
        while offset + len(SIGNATURE) <= size:
            handle.seek(offset)
            if handle.read(len(SIGNATURE)) == SIGNATURE:
                return offset
            offset = 512 if offset == 0 else offset * 2
    return None


def _length_size(mm, base: int) -> int:
    """Bytes of a "length" field, from the superblock (8 unless the writer chose otherwise)."""
    version = mm[base + 8] if base + 9 <= len(mm) else 0
    at = base + (14 if version < 2 else 10)
    size = mm[at] if at < len(mm) else 8
    return size if size in (2, 4, 8, 16) else 8


def global_heap_problem(path: str | os.PathLike) -> str:
    """Why a global heap collection of the HDF5 file would make libhdf5 loop forever ('' when none would).

    Walks each ``GCOL`` collection as libhdf5 does: after its 8 + length-size byte header, objects
    of (index u16, references u16, reserved 4 bytes, size) padded to 8 bytes, up to the
    collection's end; object 0 (free space) counts its own header. An object 0 of size 0 before
    the end never advances. Walks that fail another way are left to libhdf5, which reports them.
    """
    path = Path(path)
    base = superblock_offset(path)
    if base is None or path.stat().st_size == 0:
        return ""
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        length = _length_size(mm, base)
        header = 8 + length
        at = mm.find(b"GCOL")
        while at >= 0:
            size = int.from_bytes(mm[at + 8:at + 8 + length], "little") if at + header <= len(mm) else 0
            if mm[at + 4:at + 8] == b"\x01\x00\x00\x00" and _HEAP_MIN_BYTES <= size <= len(mm) - at:
                stuck = _stuck_object(mm, at, size, header, length)
                if stuck is not None:
                    return f"global heap at byte {at} is broken at byte {stuck}"
            at = mm.find(b"GCOL", at + 4)
    return ""


def _stuck_object(mm, at: int, size: int, header: int, length: int) -> int | None:
    """Byte offset of an object libhdf5 would parse forever in the collection at ``at``, or None."""
    end, p = at + size, at + header
    object_header = 8 + length
    while p < end:
        if p + object_header > end:
            return None  # the tail is free space
        index = int.from_bytes(mm[p:p + 2], "little")
        object_size = int.from_bytes(mm[p + 8:p + 8 + length], "little")
        need = object_header + -(-object_size // 8) * 8 if index else object_size
        if need == 0:
            return p
        if p + need > end:
            return None  # libhdf5 reports an overflow
        p += need
    return None
