"""The ground floor: small helpers every package needs, each written once (docs/architecture.md).

* :mod:`~matgen.common.progress` -- the ``progress(done, total, message)`` callback type;
* :mod:`~matgen.common.seeding` -- per-sample seeds and generators (sample i uses seed + i);
* :mod:`~matgen.common.ranges` -- ``LOW..HIGH`` text and the :class:`Range` of a parameter;
* :mod:`~matgen.common.records` -- dataclass <-> JSON dicts, with one unknown-name error;
* :mod:`~matgen.common.device` -- ``auto`` / ``cpu`` / ``cuda`` to a torch device;
* :mod:`~matgen.common.files` -- atomic writes, SHA-256, JSON and TOML files;
* :mod:`~matgen.common.distributed` -- torchrun's processes: ranks, contiguous shards, gathering in order.

These modules import nothing of matgen but :mod:`matgen.errors`, and torch or numpy only inside
the functions that need them, so anything may import them (the command line at start-up too).
"""
