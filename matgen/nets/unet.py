"""The denoising U-Net for 1-D spectra (B, C, L) and 2-D micrographs (B, C, H, W): one code, two ranks.

Architecture (Ho et al. 2020; Dhariwal & Nichol 2021, "ADM"), with n = len(channel_mults) levels:

    stem conv -> n levels down: num_res_blocks x [ResBlock (+ self-attention)], then a stride-2 conv
    (not after the last level) -> middle: ResBlock, self-attention, ResBlock -> n levels up:
    num_res_blocks x [concat skip, ResBlock (+ self-attention)], then nearest x2 + conv (not after
    the first level) -> GroupNorm, SiLU, conv.

A ResBlock is GroupNorm, SiLU, conv, then GroupNorm modulated by the time (+ condition)
embedding as scale and shift (FiLM: h * (1 + scale) + shift), SiLU, dropout, conv, plus the
(1x1-projected) input. ``dims`` picks Conv1d or Conv2d; nothing else differs between ranks.

Sizes: the network downsamples n - 1 times, so every spatial size must be a multiple of
2^(n-1); other sizes raise a MatgenError naming the nearest allowed ones (padding would break the
periodicity of circular micrographs, so we do not pad silently). With ``circular=True`` every
conv pads periodically and the network is exactly translation-equivariant for shifts that are
multiples of 2^(n-1).

The timestep ``t`` enters :func:`sinusoidal_embedding` unscaled (fastest frequency 1 rad per
unit): pass DDPM step indices 0..999 or EDM's c_noise = ln(sigma) / 4, not t in [0, 1]. The
condition embedding is projected and added to the time embedding, so it reaches every ResBlock.

Speed: no preset attends at full resolution; the memory format is left as given (channels_last
was not faster for training on a 2-core CPU).

Notation: ``B`` batch, ``C`` channels, ``S`` spatial size(s) (L, or H, W), ``T`` time_dim.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from matgen.common.records import check_names, field_names, to_record
from matgen.errors import MatgenError
from matgen.nets.embeddings import sinusoidal_embedding

CONV = {1: nn.Conv1d, 2: nn.Conv2d}


class NetConfig:
    """JSON round trip for the network config dataclasses (tuples saved as lists)."""

    def to_dict(self) -> dict:
        """A JSON-ready dict of the fields."""
        return to_record(self)

    @classmethod
    def from_dict(cls, d: dict):
        """The config saved by :meth:`to_dict`.

        Raises:
            MatgenError: a key is not a field of this config.
        """
        check_fields(cls, d)
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def check_fields(cls, names) -> None:
    """Raise a MatgenError listing the fields of dataclass ``cls`` when ``names`` holds another."""
    check_names(names, field_names(cls), f"{cls.__name__} field")


def check_backbone(config) -> None:
    """Raise a MatgenError naming the allowed values when a backbone config cannot be built."""
    name = type(config).__name__
    if config.dims not in CONV:
        raise MatgenError(f"{name}.dims must be 1 (spectra, (B, C, L)) or 2 (micrographs, (B, C, H, W)); got {config.dims}")
    if not config.channel_mults or any(m < 1 for m in config.channel_mults):
        raise MatgenError(
            f"{name}.channel_mults must hold one positive multiplier per level, e.g. (1, 2, 4); got {config.channel_mults}"
        )
    if config.num_res_blocks < 1:
        raise MatgenError(f"{name}.num_res_blocks must be at least 1; got {config.num_res_blocks}")
    for m in config.channel_mults:
        if (config.base_channels * m) % config.groups:
            raise MatgenError(
                f"{name}: GroupNorm groups={config.groups} must divide every level's channels "
                f"base_channels x channel_mults = {[config.base_channels * m for m in config.channel_mults]}"
            )
    levels = getattr(config, "attention_levels", ())
    if any(not 0 <= i < len(config.channel_mults) for i in levels):
        last = len(config.channel_mults) - 1
        raise MatgenError(f"{name}.attention_levels must be level indices in 0..{last}; got {levels}")


def check_size(x: Tensor, dims: int, channels: int, multiple: int) -> None:
    """Raise a MatgenError unless x is (B, channels, *S) with each of its ``dims`` sizes a multiple of ``multiple``."""
    if x.ndim != dims + 2 or x.shape[1] != channels:
        want = "(B, C, L)" if dims == 1 else "(B, C, H, W)"
        raise MatgenError(f"the network takes {want} with C = {channels}; got shape {tuple(x.shape)}")
    for size in x.shape[2:]:
        if size % multiple:
            nearest = " or ".join(str(n) for n in (size // multiple * multiple, (size // multiple + 1) * multiple) if n)
            raise MatgenError(
                f"size {size} is not a multiple of {multiple} (the network halves it {int(math.log2(multiple))} times); "
                f"resample or crop to a multiple of {multiple}, e.g. {nearest}"
            )


@dataclass
class UNetConfig(NetConfig):
    """Shape of a :class:`UNet`; saved as JSON beside the weights."""

    dims: int = 2  # 1 for spectra (B, C, L), 2 for micrographs (B, C, H, W)
    in_channels: int = 1  # channels of the signal
    out_channels: int = 1  # channels predicted (eps, x0 or v: same as in_channels)
    base_channels: int = 32  # channels at full resolution
    channel_mults: tuple[int, ...] = (1, 2, 2, 4)  # channels per level = base_channels x mult; len = levels
    num_res_blocks: int = 2  # ResBlocks per level on the way down (and up)
    attention_levels: tuple[int, ...] = (3,)  # levels (0 = full resolution) with self-attention
    mid_attention: bool = True  # self-attention between the two middle ResBlocks
    head_channels: int = 32  # channels per attention head
    groups: int = 8  # GroupNorm groups; must divide every level's channels
    dropout: float = 0.0  # dropout inside ResBlocks
    circular: bool = False  # periodic padding (periodic micrographs): exact translation equivariance
    time_dim: int = 128  # width of the time (+ condition) embedding fed to every ResBlock
    cond_dim: int = 0  # width of the condition embedding (ConditionEncoder dim); 0 = unconditional
    position_features: int = 0  # sin/cos features of the absolute position added after the stem (spectra); 0 = off

    def __post_init__(self) -> None:
        self.channel_mults = tuple(self.channel_mults)
        self.attention_levels = tuple(self.attention_levels)
        check_backbone(self)
        if self.position_features < 0 or self.position_features % 2:
            raise MatgenError(f"UNetConfig.position_features must be an even number >= 0; got {self.position_features}")
        if self.cond_dim < 0:
            raise MatgenError(f"UNetConfig.cond_dim must be >= 0 (0 = unconditional); got {self.cond_dim}")

    @property
    def size_multiple(self) -> int:
        """Every spatial size must be a multiple of this: 2^(levels - 1)."""
        return 2 ** (len(self.channel_mults) - 1)


#: Parameter counts (in = out = 1 channel, cond_dim = 0), dims=2 / dims=1: tiny 128k / 65k,
#: small 2.5M / 1.2M, base 16.2M / 7.8M, large 37.7M / 18.7M. tiny trains on a CPU in CI; large
#: is for a GPU. Pick the rank and channels with ``unet_preset("tiny", dims=1, in_channels=...)``.
UNET_PRESETS: dict[str, UNetConfig] = {
    "tiny": UNetConfig(base_channels=12, channel_mults=(1, 2, 2), num_res_blocks=1, attention_levels=(),
                       groups=4, time_dim=64),
    "small": UNetConfig(base_channels=32, channel_mults=(1, 2, 2, 4), num_res_blocks=1, attention_levels=(3,),
                        time_dim=128),
    "base": UNetConfig(base_channels=64, channel_mults=(1, 2, 2, 4), num_res_blocks=2, attention_levels=(2, 3),
                       time_dim=256),
    "large": UNetConfig(base_channels=96, channel_mults=(1, 2, 2, 4), num_res_blocks=2, attention_levels=(2, 3),
                        time_dim=512, groups=32),
}


def unet_preset(name: str, **overrides) -> UNetConfig:
    """The preset ``name`` with fields replaced, e.g. ``unet_preset("tiny", dims=1, cond_dim=64)``.

    Raises:
        MatgenError: unknown preset or field.
    """
    return preset(UNET_PRESETS, name, **overrides)


def preset(presets: dict, name: str, **overrides):
    """``presets[name]`` with fields replaced; a MatgenError names the presets or fields on a typo."""
    if name not in presets:
        raise MatgenError(f"unknown preset '{name}'; choose from {', '.join(presets)}")
    check_fields(type(presets[name]), overrides)
    return replace(presets[name], **overrides)


def conv(dims: int, c_in: int, c_out: int, kernel: int = 3, stride: int = 1, circular: bool = False) -> nn.Module:
    """A Conv1d/Conv2d with 'same' padding (periodic when ``circular``)."""
    mode = "circular" if circular and kernel > 1 else "zeros"
    return CONV[dims](c_in, c_out, kernel, stride=stride, padding=kernel // 2, padding_mode=mode)


class ResBlock(nn.Module):
    """x + conv(SiLU(FiLM(GroupNorm(conv(SiLU(GroupNorm(x))))))), FiLM from the embedding (B, E)."""

    def __init__(self, dims: int, c_in: int, c_out: int, emb_dim: int, groups: int, dropout: float, circular: bool):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, c_in)
        self.conv1 = conv(dims, c_in, c_out, circular=circular)
        self.film = nn.Linear(emb_dim, 2 * c_out) if emb_dim else None  # -> scale, shift
        self.norm2 = nn.GroupNorm(groups, c_out)
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.conv2 = conv(dims, c_out, c_out, circular=circular)
        self.skip = conv(dims, c_in, c_out, kernel=1) if c_in != c_out else nn.Identity()

    def forward(self, x: Tensor, emb: Tensor | None) -> Tensor:
        """x (B, C_in, *S), emb (B, E) already through SiLU -> (B, C_out, *S)."""
        h = self.conv1(F.silu(self.norm1(x)))  # (B, C_out, *S)
        h = self.norm2(h)
        if self.film is not None:
            scale, shift = self.film(emb)[(...,) + (None,) * (x.ndim - 2)].chunk(2, dim=1)  # 2 x (B, C_out, 1[, 1])
            h = torch.addcmul(shift, h, scale + 1)  # h * (1 + scale) + shift
        h = self.conv2(self.dropout(F.silu(h)))  # (B, C_out, *S)
        return self.skip(x) + h


class SelfAttention(nn.Module):
    """x + multi-head self-attention over all positions of a feature map (no positional encoding)."""

    def __init__(self, dims: int, channels: int, head_channels: int, groups: int):
        super().__init__()
        self.heads = max(1, channels // head_channels)
        while channels % self.heads:  # heads must split the channels evenly
            self.heads -= 1
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv = conv(dims, channels, 3 * channels, kernel=1)
        self.out = conv(dims, channels, channels, kernel=1)

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, *S) -> (B, C, *S)."""
        B, C = x.shape[:2]
        qkv = self.qkv(self.norm(x)).reshape(B, 3, self.heads, C // self.heads, -1)  # (B, 3, h, C/h, N)
        q, k, v = qkv.transpose(-1, -2).unbind(dim=1)  # 3 x (B, h, N, C/h)
        a = F.scaled_dot_product_attention(q, k, v)  # (B, h, N, C/h)
        a = a.transpose(-1, -2).reshape(x.shape)  # (B, C, *S)
        return x + self.out(a)


def attention_or_identity(c: UNetConfig, level: int, channels: int) -> nn.Module:
    """Self-attention where ``level`` is one of ``c.attention_levels``, else nothing."""
    return SelfAttention(c.dims, channels, c.head_channels, c.groups) if level in c.attention_levels else nn.Identity()


class Upsample(nn.Module):
    """Nearest-neighbour x2 then a conv: (B, C, *S) -> (B, C, *2S)."""

    def __init__(self, dims: int, channels: int, circular: bool):
        super().__init__()
        self.conv = conv(dims, channels, channels, circular=circular)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class TimeEmbedding(nn.Module):
    """t (B,) -> sinusoidal (B, F) -> Linear, SiLU, Linear -> (B, T)."""

    def __init__(self, freq_dim: int, dim: int):
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: Tensor) -> Tensor:
        return self.mlp(sinusoidal_embedding(t, self.freq_dim))  # (B, T)


class Level(nn.Module):
    """One resolution level: ResBlocks, each followed by self-attention or nothing, then a resampler."""

    def __init__(self, blocks: list[ResBlock], attentions: list[nn.Module], resample: nn.Module):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.attentions = nn.ModuleList(attentions)
        self.resample = resample


def position_features(shape: tuple[int, ...], count: int, device=None, dtype=None) -> Tensor:
    """(1, count, *shape) fixed features sin(2^k π u), cos(2^k π u), k < count/2, of the position u ∈ [0, 1] along the last axis.

    A convolutional network with no positional encoding only knows where it is near the padded
    ends; spectra need absolute position (a mineral's band belongs at its wavenumber), so the
    :class:`DownPath` adds a learned projection of these after the stem when ``position_features`` > 0.
    """
    u = torch.linspace(0, 1, shape[-1], device=device, dtype=dtype)  # (L,)
    freq = math.pi * 2.0 ** torch.arange(count // 2, device=device, dtype=dtype)  # (count/2,)
    feats = torch.cat([torch.sin(freq[:, None] * u), torch.cos(freq[:, None] * u)])  # (count, L)
    return feats.reshape((1, count) + (1,) * (len(shape) - 1) + (shape[-1],)).expand((1, count) + tuple(shape))


class DownPath(nn.Module):
    """Stem conv and the levels down; shared by :class:`UNet` and the guidance ``Regressor``."""

    def __init__(self, c: UNetConfig):
        super().__init__()
        self.stem = conv(c.dims, c.in_channels, c.base_channels, circular=c.circular)
        self.n_position = c.position_features
        self.position = conv(c.dims, c.position_features, c.base_channels, kernel=1) if c.position_features else None
        self.levels = nn.ModuleList()
        self.skip_channels: list[int] = []
        ch = c.base_channels
        for i, mult in enumerate(c.channel_mults):
            blocks, attentions = [], []
            for _ in range(c.num_res_blocks):
                blocks.append(ResBlock(c.dims, ch, c.base_channels * mult, c.time_dim, c.groups, c.dropout, c.circular))
                ch = c.base_channels * mult
                attentions.append(attention_or_identity(c, i, ch))
                self.skip_channels.append(ch)
            last = i == len(c.channel_mults) - 1
            down = nn.Identity() if last else conv(c.dims, ch, ch, stride=2, circular=c.circular)
            self.levels.append(Level(blocks, attentions, down))
        self.out_channels = ch

    def forward(self, x: Tensor, emb: Tensor) -> tuple[Tensor, list[Tensor]]:
        """x (B, C_in, *S), emb (B, T) -> h (B, C_n, *S / 2^(n-1)) and the skips, first to last."""
        h = self.stem(x)  # (B, C_0, *S)
        if self.position is not None:
            h = h + self.position(position_features(x.shape[2:], self.n_position, x.device, h.dtype))  # (B, C_0, *S)
        skips = []
        for level in self.levels:
            for block, attention in zip(level.blocks, level.attentions):
                h = attention(block(h, emb))  # (B, C_i, *S_i)
                skips.append(h)
            h = level.resample(h)  # (B, C_i, *S_i / 2), the last level keeps its size
        return h, skips


class UNet(nn.Module):
    """The denoiser backbone: (x, t, cond_emb) -> a tensor shaped like x (eps, x0 or v)."""

    def __init__(self, config: UNetConfig):
        super().__init__()
        c = self.config = config
        self.time = TimeEmbedding(c.base_channels, c.time_dim)
        self.cond = nn.Linear(c.cond_dim, c.time_dim) if c.cond_dim else None
        self.down = DownPath(c)
        ch = self.down.out_channels

        def block(c_in: int, c_out: int) -> ResBlock:
            return ResBlock(c.dims, c_in, c_out, c.time_dim, c.groups, c.dropout, c.circular)

        self.mid1 = block(ch, ch)
        self.mid_attention = SelfAttention(c.dims, ch, c.head_channels, c.groups) if c.mid_attention else nn.Identity()
        self.mid2 = block(ch, ch)
        skip_channels = list(self.down.skip_channels)
        self.up = nn.ModuleList()
        for i in reversed(range(len(c.channel_mults))):
            out = c.base_channels * c.channel_mults[i]
            blocks, attentions = [], []
            for _ in range(c.num_res_blocks):
                blocks.append(block(ch + skip_channels.pop(), out))
                ch = out
                attentions.append(attention_or_identity(c, i, ch))
            self.up.append(Level(blocks, attentions, Upsample(c.dims, ch, c.circular) if i > 0 else nn.Identity()))
        self.out_norm = nn.GroupNorm(c.groups, ch)
        self.out = conv(c.dims, ch, c.out_channels, circular=c.circular)

    def forward(self, x: Tensor, t: Tensor, cond_emb: Tensor | None = None) -> Tensor:
        """Return (B, C_out, *S) for x (B, C_in, *S), t (B,) or () and cond_emb (B, cond_dim).

        Raises:
            MatgenError: x has the wrong rank, channels or a size that is not a multiple of
                ``config.size_multiple``; cond_emb is missing for a conditional net or given to
                an unconditional one.
        """
        c = self.config
        check_size(x, c.dims, c.in_channels, c.size_multiple)
        emb = self.time(t.expand(x.shape[0]))  # (B, T)
        if (cond_emb is None) != (self.cond is None):
            raise MatgenError(
                f"this U-Net has cond_dim={c.cond_dim}: pass cond_emb (B, {c.cond_dim}) exactly when cond_dim > 0 "
                "(the unconditional embedding is ConditionEncoder.null_embedding)"
            )
        if self.cond is not None:
            emb = emb + self.cond(cond_emb)  # (B, T)
        emb = F.silu(emb)
        h, skips = self.down(x, emb)  # (B, C_n, *S_n)
        h = self.mid2(self.mid_attention(self.mid1(h, emb)), emb)
        for level in self.up:
            for block, attention in zip(level.blocks, level.attentions):
                h = attention(block(torch.cat([h, skips.pop()], dim=1), emb))  # (B, C_i, *S_i)
            h = level.resample(h)  # (B, C_i, *2 S_i), the first level keeps its size
        return self.out(F.silu(self.out_norm(h)))  # (B, C_out, *S)
