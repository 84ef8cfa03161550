"""What the U-Net kinds share (diffusion, flow): the network, its condition encoder, size multiple and plan.

Not a kind itself (no ``MODEL``): :mod:`~matgen.runs.kinds.diffusion` and :mod:`~matgen.runs.kinds.flow` build on it.
"""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor

from matgen.nets import UNET_PRESETS, ConditionEncoder, UNet, UNetConfig, unet_preset
from matgen.runs.config import ModelConfig
from matgen.runs.kinds.base import ModelKind


class UNetKind(ModelKind):
    """U-Net(x_t, t, ConditionEncoder(cond)) with classifier-free condition dropout (``drop``)."""

    presets: ClassVar[dict] = UNET_PRESETS
    denoises_signals: ClassVar[bool] = True

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.net = UNet(UNetConfig.from_dict(config.net))
        self.cond_encoder = ConditionEncoder(config.conditions, config.cond_dim) if config.conditions else None

    @classmethod
    def size_multiple(cls, preset: str, net_options: dict) -> int:
        """2^(levels - 1): the U-Net halves the size at each level but the first."""
        return 2 ** (len(net_options.get("channel_mults", cls.presets[preset].channel_mults)) - 1)

    @classmethod
    def network(cls, options, data, cond_dim: int, common: dict, net_options: dict) -> dict:
        """The UNetConfig (as a dict) of a new run: the preset ``options.net`` with ``net_options`` replaced."""
        return unet_preset(options.net, out_channels=data.channels, cond_dim=cond_dim, **common, **net_options).to_dict()

    def forward(self, x_t: Tensor, t: Tensor, cond: Tensor | None = None, drop: Tensor | None = None) -> Tensor:
        """Return the network output (B, C, *S) for x_t (B, C, *S), network time t (B,), cond (B, K), drop (B, K)."""
        emb = None if self.cond_encoder is None else self.cond_encoder(cond, drop)  # (B, D)
        return self.net(x_t, t, emb)
