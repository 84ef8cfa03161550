"""Dataclasses to and from JSON-ready dicts, with the one "unknown name" error.

Every config in matgen is a dataclass saved as JSON (TrainConfig, CampaignConfig, the network
configs, ConditionSpec, a builder's options): :func:`to_record` writes one (tuples as lists),
:func:`from_record` reads one back, refusing a name the dataclass does not have with a message
that lists the valid ones, as :func:`check_names` does for any set of names.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import Any, Iterable, Mapping, Sequence

from matgen.errors import MatgenError


def check_names(given: Iterable[str], valid: Sequence[str], what: str, where: str = "") -> None:
    """Raise ``{where}: unknown {what} 'a', 'b'; choose from x, y, z`` when ``given`` holds a name not in ``valid``."""
    unknown = sorted(set(given) - set(valid))
    if unknown:
        prefix = f"{where}: " if where else ""
        names = ", ".join(repr(str(name)) for name in unknown)
        raise MatgenError(f"{prefix}unknown {what} {names}; choose from {', '.join(valid)}")


def field_names(cls) -> list[str]:
    """The field names of dataclass ``cls`` (a class or an instance), in order."""
    return [f.name for f in fields(cls)]


def to_jsonable(value: Any) -> Any:
    """``value`` with dataclasses as dicts and tuples as lists, all the way down (JSON-ready)."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


def to_record(obj) -> dict:
    """The fields of the dataclass instance ``obj`` as a JSON-ready dict (:func:`to_jsonable`)."""
    return to_jsonable(obj)


def from_record(cls, record: Mapping[str, Any], what: str = "option", where: str = "", dashes: bool = False):
    """The dataclass ``cls`` built from ``record``.

    Args:
        what: what a key is called in the error (``option``, ``UNetConfig field``).
        where: what the record came from (a file), for the error.
        dashes: read ``-`` in keys as ``_`` (as a command line or TOML file may write them).

    Raises:
        MatgenError: a key that is not a field (the message lists the fields), or a value the
            dataclass refuses.
    """
    values = {str(k).replace("-", "_") if dashes else str(k): v for k, v in record.items()}
    check_names(values, field_names(cls), what, where)
    try:
        return cls(**values)
    except TypeError as exc:
        raise MatgenError(f"{where}: {exc}" if where else str(exc)) from None
