"""DistributedDataParallel for the training loop: a model kind's training loss as a module DDP can wrap.

DDP averages the gradients over the processes during the backward pass of what ran through its
forward, so the step's forward must be DDP's: :class:`TrainingLoss` makes ``model.training_loss``
that forward; the optimizer, the EMA and the checkpoints keep working on the model itself.
"""

from __future__ import annotations

import inspect
import warnings

from torch import nn

from matgen.common.distributed import World


class TrainingLoss(nn.Module):
    """``model.training_loss`` as a forward pass; its parameters are the model's."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x, cond, drop, generator, config, step, shard):
        """The loss of the rows ``shard`` (x (b, C, *S), cond (b, K), drop (b, K)) of a global batch."""
        return self.model.training_loss(x, cond, drop, generator, config, step, shard)


def training_objective(model: nn.Module, world: World) -> nn.Module:
    """The module whose forward is ``model.training_loss``: DDP-wrapped for several processes (gradients averaged
    over them at backward), else a plain :class:`TrainingLoss`."""
    objective = TrainingLoss(model)
    if world.size == 1:
        return objective
    from torch.nn.parallel import DistributedDataParallel

    # the buffers are constants (no kind keeps running statistics): no broadcast before every forward
    newer = "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters  # torch >= 2.13
    no_sync = {"forward_sync_buffers": False} if newer else {"broadcast_buffers": False}
    # harmless: the gradient of a (1, D, D) weight (the condition encoder's w2) has another stride on its size-1 axis
    warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
    # empty parameters never get a gradient (a condition encoder's tables without categorical or without continuous
    # conditions): DDP must then look for unused ones, and leaves their .grad None as one process does
    empty = any(p.numel() == 0 for p in model.parameters() if p.requires_grad)
    return DistributedDataParallel(objective, find_unused_parameters=empty, **no_sync)
