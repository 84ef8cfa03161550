"""Several processes, one result: torchrun's ranks, contiguous shards, and gathering in order.

``torchrun --nproc-per-node N -m matgen train ...`` starts N processes with RANK, WORLD_SIZE and
LOCAL_RANK in their environment (:func:`torchrun_world`); :func:`join` makes them one process
group (NCCL between GPUs, gloo on the CPU), and without those variables everything here is the
identity of a single process. Work is split into contiguous shards (:func:`shard_range`; a training
batch: :class:`BatchShard`) and put back together in rank order (:func:`gather_in_order`), so
the result equals a single process's. Only rank 0 writes files (:func:`run_on_main`).

Like the rest of :mod:`matgen.common` this imports torch only inside the functions that need it.
"""

from __future__ import annotations

import atexit
import contextlib
import os
from dataclasses import dataclass
from typing import Any, Callable, ContextManager, Iterator, Mapping, Sequence

from matgen.errors import MatgenError

BACKENDS = ("auto", "nccl", "gloo")


@dataclass(frozen=True)
class World:
    """The processes of one training or sampling call, as torchrun numbers them."""

    rank: int = 0  # this process, 0 .. size - 1 (torchrun's RANK)
    size: int = 1  # processes in all, over every node (WORLD_SIZE)
    local_rank: int = 0  # this process on its node (LOCAL_RANK): its GPU is cuda:local_rank

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes the run directory, metrics and outputs."""
        return self.rank == 0


SINGLE = World()  # one process, no torchrun


class RankError(MatgenError):
    """Bad input seen by this process alone (e.g. its GPU is missing): every rank prints its own.

    Other MatgenErrors are raised alike on every rank, and the command line prints them once, on rank 0.
    """


def is_main_process(environ: Mapping[str, str] = os.environ) -> bool:
    """False in torchrun's processes other than rank 0 (read from RANK alone, so safe at import time)."""
    return environ.get("RANK", "0").strip() in ("0", "")


def torchrun_world(environ: Mapping[str, str] = os.environ) -> World:
    """The World that torchrun's RANK, WORLD_SIZE and LOCAL_RANK describe; :data:`SINGLE` without them.

    Raises:
        MatgenError: the variables are not whole numbers or are inconsistent.
    """
    if "RANK" not in environ and "WORLD_SIZE" not in environ:
        return SINGLE
    try:
        rank, size = int(environ.get("RANK", "0")), int(environ.get("WORLD_SIZE", "1"))
        local_rank = int(environ.get("LOCAL_RANK", str(rank)))
    except ValueError:
        raise MatgenError("RANK, WORLD_SIZE and LOCAL_RANK must be whole numbers (torchrun sets them); unset them to "
                          "run one process") from None
    if not (size >= 1 and 0 <= rank < size and 0 <= local_rank <= rank):
        raise MatgenError(f"RANK={rank}, WORLD_SIZE={size}, LOCAL_RANK={local_rank} do not fit together; launch with "
                          "torchrun, or unset them to run one process")
    return World(rank, size, local_rank)


def shard_range(n: int, rank: int, size: int) -> range:
    """The indices of shard ``rank`` of range(n) cut into ``size`` contiguous shards in rank order.

    The first n % size shards hold one index more; shards beyond n are empty. Concatenated in rank
    order they are range(n) again.
    """
    base, extra = divmod(n, size)
    start = rank * base + min(rank, extra)
    return range(start, start + base + (rank < extra))


@dataclass(frozen=True)
class BatchShard:
    """Rows start .. stop - 1 of a global batch of ``batch`` rows: what one process computes of a training step.

    Every random draw of the step is made for the whole batch and then cut to these rows
    (``shard.rows(torch.randn(shard.shape(x.shape), generator=g))``), so row i gets the same noise,
    timestep and condition dropout whatever the number of processes, and the processes' rows
    together are the single-process batch. The loss of a process is the mean over its rows;
    DistributedDataParallel averages the gradients of equal shards into the whole batch's.
    """

    start: int
    stop: int
    batch: int

    def shape(self, shard_shape: Sequence[int]) -> tuple[int, ...]:
        """The shape (batch, ...) of a whole-batch draw for a tensor of the shard's shape (stop - start, ...)."""
        return (self.batch, *tuple(shard_shape)[1:])

    def rows(self, whole: Any) -> Any:
        """This shard's rows (stop - start, ...) of a whole-batch tensor (batch, ...)."""
        return whole[self.start: self.stop]


def whole_batch(n: int) -> BatchShard:
    """The shard of a single process: all n rows."""
    return BatchShard(0, n, n)


def batch_shard(batch_size: int, world: World) -> BatchShard:
    """The rows of the global batch that ``world.rank`` computes: the rank-th of ``world.size`` equal slices.

    Raises:
        MatgenError: the batch does not split into equal shards (DDP's mean of shard means is the batch
            mean only then).
    """
    if batch_size % world.size:
        raise MatgenError(f"the batch size {batch_size} does not split evenly over {world.size} processes; give a "
                          f"--batch-size that is a multiple of {world.size} (the global batch, all processes together)")
    per_rank = batch_size // world.size
    return BatchShard(world.rank * per_rank, (world.rank + 1) * per_rank, batch_size)


def choose_backend(backend: str, device_type: str) -> str:
    """The process-group backend: ``auto`` is nccl for CUDA and gloo for the CPU.

    Raises:
        MatgenError: an unknown backend, or nccl for a CPU run.
    """
    if backend not in BACKENDS:
        raise MatgenError(f"unknown process-group backend '{backend}'; choose from {', '.join(BACKENDS)}")
    if backend == "auto":
        return "nccl" if device_type == "cuda" else "gloo"
    if backend == "nccl" and device_type != "cuda":
        raise MatgenError("the nccl backend connects CUDA GPUs, but this run is on the cpu; use --backend gloo (or "
                          "auto), or --device cuda on GPU machines")
    return backend


def join(device: str | None = "auto", backend: str = "auto", environ: Mapping[str, str] = os.environ) -> World:
    """Join torchrun's process group (once per process) and return this process's World.

    Without torchrun's variables, or with WORLD_SIZE 1, nothing is started and the World is one
    process. ``device`` (auto, cpu, cuda) picks the backend (:func:`choose_backend`); on CUDA
    this process's GPU becomes cuda:LOCAL_RANK.

    Raises:
        MatgenError: a bad backend or device (:class:`RankError`: this node has no GPU for LOCAL_RANK).
    """
    import torch
    import torch.distributed as dist

    from matgen.common.device import resolve_device

    world = torchrun_world(environ)
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size(), world.local_rank)
    resolved = resolve_device(device)
    chosen = choose_backend(backend, resolved.type)
    if world.size == 1:
        return world
    if not dist.is_available():
        raise MatgenError("this torch build has no torch.distributed; run one process (without torchrun)")
    if resolved.type == "cuda":
        torch.cuda.set_device(process_device(resolved, world))
    dist.init_process_group(chosen, rank=world.rank, world_size=world.size)
    atexit.register(leave)
    return world


def leave() -> None:
    """Leave the process group, if this process is in one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def current_world() -> World:
    """The World of the process group this process joined (:func:`join`), else one process."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return SINGLE
    return World(dist.get_rank(), dist.get_world_size(), torchrun_world().local_rank)


def process_device(device, world: World):
    """This process's torch device: cuda:LOCAL_RANK for a CUDA run of several processes, else ``device``.

    Raises:
        RankError: LOCAL_RANK has no GPU on this node, or one GPU was named for several processes.
    """
    import torch

    device = torch.device(device)
    if device.type != "cuda" or world.size == 1:
        return device
    if device.index is not None and device.index != world.local_rank:
        raise RankError(f"under torchrun each process uses cuda:LOCAL_RANK; give --device cuda, not {device}")
    count = torch.cuda.device_count()
    if world.local_rank >= count:
        raise RankError(f"process {world.rank} (LOCAL_RANK {world.local_rank}) has no GPU: this node has {count}; "
                        f"start at most {count} processes per node (--nproc-per-node {count})")
    return torch.device("cuda", world.local_rank)


def mean_over_ranks(value, world: World) -> float:
    """The mean over the processes of a scalar tensor (each process's shard loss); itself for one process."""
    if world.size == 1:
        return float(value)
    import torch.distributed as dist

    total = value.detach().float().reshape(1).clone()
    dist.all_reduce(total)
    return float(total) / world.size


def gather_in_order(part: Sequence, world: World) -> list:
    """Every process's ``part`` (a list, e.g. of numpy arrays) joined in rank order; every process gets the whole."""
    if world.size == 1:
        return list(part)
    import torch.distributed as dist

    parts: list = [None] * world.size
    dist.all_gather_object(parts, list(part))
    return [item for p in parts for item in p]


def barrier(world: World) -> None:
    """Wait until every process got here (nothing to wait for in one process)."""
    if world.size > 1:
        import torch.distributed as dist

        dist.barrier()


def run_on_main(fn: Callable[[], Any], world: World) -> Any:
    """Call ``fn()`` on rank 0 alone and return its result on every rank.

    An exception in ``fn`` is raised on rank 0 as it is and on the other ranks as a MatgenError with
    its message, so every process stops alike (none waits forever for rank 0).
    """
    if world.size == 1:
        return fn()
    import torch.distributed as dist

    box, error = [None, None], None
    if world.is_main:
        try:
            box[1] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised below, after the others are told
            error = exc
            box[0] = str(exc) or type(exc).__name__
    dist.broadcast_object_list(box, src=0)
    if error is not None:
        raise error
    if box[0] is not None:
        raise MatgenError(box[0])
    return box[1]


@contextlib.contextmanager
def held_by_main(context: ContextManager, world: World) -> Iterator[None]:
    """Enter ``context`` (e.g. a folder lock) on rank 0 alone for the block; an error entering it stops every rank."""
    with contextlib.ExitStack() as stack:
        def enter() -> None:
            stack.enter_context(context)

        run_on_main(enter, world)
        yield
