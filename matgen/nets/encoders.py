"""Convolutional VAE encoder/decoder and the guidance regressor, built from the U-Net's blocks.

* :class:`ConvEncoder` maps x (B, C, *S) and an optional condition embedding to the mean and
  log-variance (B, Z) of a Gaussian latent (Kingma & Welling 2014). Per level: ResBlocks (FiLM by
  the condition embedding), then a stride-2 conv; every level halves the signal, so each size
  must be a multiple of 2^levels. The low-resolution map is flattened (it keeps where a peak or a
  grain is) and a linear layer gives (mu, logvar).
* :class:`ConvDecoder` mirrors it: z (B, Z) -> linear -> (B, C_n, *S / 2^n) -> per level ResBlocks
  and nearest x2 + conv -> (B, C, *S).
* :class:`Regressor` is the U-Net's down path (time-conditioned ResBlocks) + global average pool +
  MLP: it predicts K properties from a noisy x_t and its timestep, for regressor guidance
  (Dhariwal & Nichol 2021, sec. 4, with a regressor in place of the classifier).

Notation: ``B`` batch, ``C`` channels, ``S`` spatial size(s), ``Z`` latent width, ``K`` properties.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from matgen.errors import MatgenError
from matgen.nets.unet import (
    DownPath, NetConfig, ResBlock, TimeEmbedding, UNetConfig, Upsample, check_backbone, check_size, conv, preset,
)


@dataclass
class VAEConfig(NetConfig):
    """Shape of a :class:`ConvEncoder` / :class:`ConvDecoder` pair; saved as JSON beside the weights."""

    dims: int = 2  # 1 for spectra (B, C, L), 2 for micrographs (B, C, H, W)
    in_channels: int = 1  # channels of the signal (also the decoder's output channels)
    signal_shape: tuple[int, ...] = (64, 64)  # (L,) or (H, W); each a multiple of 2^len(channel_mults)
    base_channels: int = 32  # channels at full resolution
    channel_mults: tuple[int, ...] = (1, 2, 4, 4)  # channels per level = base_channels x mult
    num_res_blocks: int = 1  # ResBlocks per level
    groups: int = 8  # GroupNorm groups; must divide every level's channels
    dropout: float = 0.0  # dropout inside ResBlocks
    circular: bool = False  # periodic padding (periodic micrographs)
    latent_dim: int = 64  # Z: width of the latent vector
    cond_dim: int = 0  # width of the condition embedding (ConditionEncoder dim); 0 = unconditional

    def __post_init__(self) -> None:
        self.channel_mults = tuple(self.channel_mults)
        self.signal_shape = tuple(self.signal_shape)
        check_backbone(self)
        if len(self.signal_shape) != self.dims:
            raise MatgenError(f"VAEConfig.signal_shape {self.signal_shape} must have {self.dims} size(s) (dims={self.dims})")
        if any(s % self.size_multiple or s <= 0 for s in self.signal_shape):
            raise MatgenError(
                f"VAEConfig.signal_shape {self.signal_shape}: every size must be a positive multiple of "
                f"{self.size_multiple} (the encoder halves it {len(self.channel_mults)} times); resample or crop"
            )
        if self.latent_dim < 1 or self.cond_dim < 0:
            raise MatgenError(f"VAEConfig needs latent_dim >= 1 and cond_dim >= 0; got {self.latent_dim}, {self.cond_dim}")

    @property
    def size_multiple(self) -> int:
        """Every spatial size must be a multiple of this: 2^levels."""
        return 2 ** len(self.channel_mults)

    @property
    def low_shape(self) -> tuple[int, ...]:
        """Spatial size(s) at the bottleneck: signal_shape / 2^levels."""
        return tuple(s // self.size_multiple for s in self.signal_shape)


#: Parameter counts, encoder + decoder, for (64, 64) micrographs / (512,) spectra, 1 channel,
#: unconditional: tiny 225k / 143k, small 2.4M / 1.5M, base 15.1M / 7.7M. Set dims and
#: signal_shape with ``vae_preset``.
VAE_PRESETS: dict[str, VAEConfig] = {
    "tiny": VAEConfig(base_channels=16, channel_mults=(1, 2, 2), groups=8, latent_dim=16),
    "small": VAEConfig(base_channels=32, channel_mults=(1, 2, 4, 4), latent_dim=64),
    "base": VAEConfig(base_channels=64, channel_mults=(1, 2, 4, 4), num_res_blocks=2, latent_dim=128, groups=32),
}


def vae_preset(name: str, **overrides) -> VAEConfig:
    """The VAE preset ``name`` with fields replaced, e.g. ``vae_preset("tiny", dims=1, signal_shape=(512,))``."""
    return preset(VAE_PRESETS, name, **overrides)


class CondMLP(nn.Module):
    """cond_emb (B, cond_dim) -> SiLU(Linear) (B, cond_dim): the FiLM input of every ResBlock."""

    def __init__(self, cond_dim: int):
        super().__init__()
        self.linear = nn.Linear(cond_dim, cond_dim)

    def forward(self, cond_emb: Tensor) -> Tensor:
        return F.silu(self.linear(cond_emb))


def _cond(module: nn.Module, cond_emb: Tensor | None, cond_dim: int) -> Tensor | None:
    """The FiLM embedding, or None for an unconditional net; rejects a missing or unexpected cond_emb."""
    if (cond_emb is None) != (cond_dim == 0):
        raise MatgenError(
            f"this {type(module).__name__} has cond_dim={cond_dim}: pass cond_emb (B, {cond_dim}) exactly when cond_dim > 0"
        )
    return module.cond(cond_emb) if cond_dim else None


class ConvEncoder(nn.Module):
    """q(z | x, c): x (B, C, *S) [, cond_emb (B, cond_dim)] -> mu, logvar, each (B, Z)."""

    def __init__(self, config: VAEConfig):
        super().__init__()
        c = self.config = config
        self.cond = CondMLP(c.cond_dim) if c.cond_dim else None
        self.stem = conv(c.dims, c.in_channels, c.base_channels, circular=c.circular)
        self.blocks = nn.ModuleList()
        self.downs = nn.ModuleList()
        ch = c.base_channels
        for mult in c.channel_mults:
            for _ in range(c.num_res_blocks):
                self.blocks.append(ResBlock(c.dims, ch, c.base_channels * mult, c.cond_dim, c.groups, c.dropout, c.circular))
                ch = c.base_channels * mult
            self.downs.append(conv(c.dims, ch, ch, stride=2, circular=c.circular))
        self.norm = nn.GroupNorm(c.groups, ch)
        self.head = nn.Linear(ch * math.prod(c.low_shape), 2 * c.latent_dim)

    def forward(self, x: Tensor, cond_emb: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Return (mu, logvar), each (B, Z)."""
        c = self.config
        check_size(x, c.dims, c.in_channels, c.size_multiple)
        if tuple(x.shape[2:]) != c.signal_shape:
            raise MatgenError(f"this encoder takes signals of size {c.signal_shape}; got {tuple(x.shape[2:])}")
        emb = _cond(self, cond_emb, c.cond_dim)
        h = self.stem(x)  # (B, C_0, *S)
        blocks = iter(self.blocks)
        for down in self.downs:
            for _ in range(c.num_res_blocks):
                h = next(blocks)(h, emb)  # (B, C_i, *S_i)
            h = down(h)  # (B, C_i, *S_i / 2)
        h = F.silu(self.norm(h)).flatten(1)  # (B, C_n * prod(S_n))
        mu, logvar = self.head(h).chunk(2, dim=1)  # 2 x (B, Z)
        return mu, logvar


class ConvDecoder(nn.Module):
    """p(x | z, c): z (B, Z) [, cond_emb (B, cond_dim)] -> x (B, C, *signal_shape)."""

    def __init__(self, config: VAEConfig):
        super().__init__()
        c = self.config = config
        self.cond = CondMLP(c.cond_dim) if c.cond_dim else None
        ch = c.base_channels * c.channel_mults[-1]
        self.low_channels = ch
        self.head = nn.Linear(c.latent_dim, ch * math.prod(c.low_shape))
        self.blocks = nn.ModuleList()
        self.ups = nn.ModuleList()
        for mult in reversed(c.channel_mults):
            for _ in range(c.num_res_blocks):
                self.blocks.append(ResBlock(c.dims, ch, c.base_channels * mult, c.cond_dim, c.groups, c.dropout, c.circular))
                ch = c.base_channels * mult
            self.ups.append(Upsample(c.dims, ch, c.circular))
        self.norm = nn.GroupNorm(c.groups, ch)
        self.out = conv(c.dims, ch, c.in_channels, circular=c.circular)

    def forward(self, z: Tensor, cond_emb: Tensor | None = None) -> Tensor:
        """Return x (B, C, *signal_shape) decoded from z (B, Z)."""
        c = self.config
        if z.ndim != 2 or z.shape[1] != c.latent_dim:
            raise MatgenError(f"the decoder takes z of shape (B, {c.latent_dim}); got {tuple(z.shape)}")
        emb = _cond(self, cond_emb, c.cond_dim)
        h = self.head(z).view(z.shape[0], self.low_channels, *c.low_shape)  # (B, C_n, *S_n)
        blocks = iter(self.blocks)
        for up in self.ups:
            for _ in range(c.num_res_blocks):
                h = next(blocks)(h, emb)  # (B, C_i, *S_i)
            h = up(h)  # (B, C_i, *2 S_i)
        return self.out(F.silu(self.norm(h)))  # (B, C, *S)


@dataclass
class RegressorConfig(NetConfig):
    """Shape of a guidance :class:`Regressor`; saved as JSON beside the weights."""

    dims: int = 2  # 1 for spectra (B, C, L), 2 for micrographs (B, C, H, W)
    in_channels: int = 1  # channels of the signal
    n_outputs: int = 1  # K: number of properties predicted
    base_channels: int = 32  # channels at full resolution
    channel_mults: tuple[int, ...] = (1, 2, 2, 4)  # channels per level = base_channels x mult
    num_res_blocks: int = 1  # ResBlocks per level
    attention_levels: tuple[int, ...] = ()  # levels (0 = full resolution) with self-attention
    head_channels: int = 32  # channels per attention head
    groups: int = 8  # GroupNorm groups; must divide every level's channels
    dropout: float = 0.0  # dropout inside ResBlocks
    circular: bool = False  # periodic padding (periodic micrographs)
    time_dim: int = 128  # width of the time embedding fed to every ResBlock
    hidden: int = 128  # width of the MLP head after the global average pool
    position_features: int = 0  # absolute-position features after the stem (spectra); 0 = off, see UNetConfig

    def __post_init__(self) -> None:
        self.channel_mults = tuple(self.channel_mults)
        self.attention_levels = tuple(self.attention_levels)
        check_backbone(self)
        if self.n_outputs < 1:
            raise MatgenError(f"RegressorConfig.n_outputs must be >= 1; got {self.n_outputs}")

    def backbone(self) -> UNetConfig:
        """The U-Net config whose down path this regressor uses."""
        return UNetConfig(
            dims=self.dims, in_channels=self.in_channels, out_channels=self.in_channels, base_channels=self.base_channels,
            channel_mults=self.channel_mults, num_res_blocks=self.num_res_blocks, attention_levels=self.attention_levels,
            mid_attention=False, head_channels=self.head_channels, groups=self.groups, dropout=self.dropout,
            circular=self.circular, time_dim=self.time_dim, position_features=self.position_features,
        )


#: Parameter counts (dims=2 / dims=1, 1 channel, K = 1): tiny 43k / 24k, small 576k / 275k, base 5.0M / 2.5M.
REGRESSOR_PRESETS: dict[str, RegressorConfig] = {
    "tiny": RegressorConfig(base_channels=12, channel_mults=(1, 2, 2), groups=4, time_dim=64, hidden=64),
    "small": RegressorConfig(base_channels=32, channel_mults=(1, 2, 2, 4), time_dim=128, hidden=128),
    "base": RegressorConfig(base_channels=64, channel_mults=(1, 2, 2, 4), num_res_blocks=2, attention_levels=(3,),
                            time_dim=256, hidden=256),
}


def regressor_preset(name: str, **overrides) -> RegressorConfig:
    """The regressor preset ``name`` with fields replaced, e.g. ``regressor_preset("tiny", dims=1, n_outputs=3)``."""
    return preset(REGRESSOR_PRESETS, name, **overrides)


class Regressor(nn.Module):
    """y_hat(x_t, t): noisy x (B, C, *S) and its timestep (B,) -> K property predictions (B, K)."""

    def __init__(self, config: RegressorConfig):
        super().__init__()
        self.config = config
        backbone = config.backbone()
        self.size_multiple = backbone.size_multiple
        self.time = TimeEmbedding(config.base_channels, config.time_dim)
        self.down = DownPath(backbone)
        ch = self.down.out_channels
        self.norm = nn.GroupNorm(config.groups, ch)
        self.head = nn.Sequential(nn.Linear(ch, config.hidden), nn.SiLU(), nn.Linear(config.hidden, config.n_outputs))

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        """Return (B, K) predictions (in the normalised units the regressor was trained on)."""
        c = self.config
        check_size(x, c.dims, c.in_channels, self.size_multiple)
        emb = F.silu(self.time(t.expand(x.shape[0])))  # (B, T)
        h, _ = self.down(x, emb)  # (B, C_n, *S_n)
        h = F.silu(self.norm(h)).flatten(2).mean(dim=-1)  # (B, C_n)
        return self.head(h)  # (B, K)
