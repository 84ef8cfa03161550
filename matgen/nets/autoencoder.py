"""The KL-regularised autoencoder of latent diffusion, with a spatial latent: one code for spectra and micrographs.

Architecture (Rombach et al. 2022, sec. 3.1 and app. G; Esser et al. 2021's encoder/decoder
without attention or the adversarial loss), with n = len(channel_mults) levels:

    encoder: stem conv -> n levels: num_res_blocks x ResBlock, then a stride-2 conv (not after the
             last level) -> middle ResBlock -> GroupNorm, SiLU, conv -> mean, log-variance (B, 2 C_z, *S / f)
    decoder: conv C_z -> C_n -> middle ResBlock -> n levels up: num_res_blocks x ResBlock, then
             nearest x2 + conv (not after the first level) -> GroupNorm, SiLU, conv -> (B, C, *S)

so the latent z (B, C_z, *S / f) keeps the signal's layout at f = 2^(n - 1) times coarser
resolution: (B, C_z, L / f) for spectra, (B, C_z, H / f, W / f) for micrographs. The ResBlocks
are the U-Net's (:class:`matgen.nets.unet.ResBlock`) without an embedding; ``circular`` pads every
conv periodically, as in the U-Net. ``dims`` picks Conv1d or Conv2d; nothing else differs.

Notation: ``B`` batch, ``C`` signal channels, ``C_z`` latent channels, ``S`` spatial size(s), ``f``
the downsampling factor.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from matgen.errors import MatgenError
from matgen.nets.unet import NetConfig, ResBlock, Upsample, check_backbone, check_size, conv, preset


@dataclass
class AutoencoderConfig(NetConfig):
    """Shape of an :class:`Autoencoder`; saved as JSON beside the weights."""

    dims: int = 2  # 1 for spectra (B, C, L), 2 for micrographs (B, C, H, W)
    in_channels: int = 1  # channels of the signal (also the decoder's output channels)
    base_channels: int = 32  # channels at full resolution
    channel_mults: tuple[int, ...] = (1, 2, 2)  # channels per level = base_channels x mult; f = 2^(levels - 1)
    num_res_blocks: int = 1  # ResBlocks per level (encoder and decoder)
    latent_channels: int = 4  # C_z: channels of the latent map
    groups: int = 8  # GroupNorm groups; must divide every level's channels
    dropout: float = 0.0  # dropout inside ResBlocks
    circular: bool = False  # periodic padding (periodic micrographs)

    def __post_init__(self) -> None:
        self.channel_mults = tuple(self.channel_mults)
        check_backbone(self)
        if self.latent_channels < 1:
            raise MatgenError(f"AutoencoderConfig.latent_channels must be >= 1; got {self.latent_channels}")

    @property
    def downsampling(self) -> int:
        """f: the latent is f times coarser than the signal along every axis, 2^(levels - 1)."""
        return 2 ** (len(self.channel_mults) - 1)

    def latent_shape(self, signal_shape: tuple[int, ...]) -> tuple[int, ...]:
        """(C_z, *S / f) of signals of spatial size ``signal_shape`` (L,) or (H, W)."""
        return (self.latent_channels, *(s // self.downsampling for s in signal_shape))


#: Parameter counts (encoder + decoder, 1 channel, dims=2 / dims=1): tiny 154k / 53k,
#: small 1.6M / 0.55M, base 9.4M / 3.2M. All have f = 4 and C_z = 4 (LDM's "KL-f4").
AUTOENCODER_PRESETS: dict[str, AutoencoderConfig] = {
    "tiny": AutoencoderConfig(base_channels=16, channel_mults=(1, 2, 2), groups=8),
    "small": AutoencoderConfig(base_channels=32, channel_mults=(1, 2, 4)),
    "base": AutoencoderConfig(base_channels=64, channel_mults=(1, 2, 4), num_res_blocks=2, groups=32),
}


def autoencoder_preset(name: str, **overrides) -> AutoencoderConfig:
    """The autoencoder preset ``name`` with fields replaced, e.g. ``autoencoder_preset("tiny", dims=1)``."""
    return preset(AUTOENCODER_PRESETS, name, **overrides)


class Autoencoder(nn.Module):
    """q(z | x) = N(mean, exp(logvar)) with mean, logvar (B, C_z, *S / f), and the decoder x_hat(z) (B, C, *S)."""

    def __init__(self, config: AutoencoderConfig):
        super().__init__()
        c = self.config = config

        def block(c_in: int, c_out: int) -> ResBlock:
            return ResBlock(c.dims, c_in, c_out, 0, c.groups, c.dropout, c.circular)

        widths = [c.base_channels * m for m in c.channel_mults]
        self.stem = conv(c.dims, c.in_channels, c.base_channels, circular=c.circular)
        self.down = nn.ModuleList()
        ch = c.base_channels
        for i, width in enumerate(widths):
            for _ in range(c.num_res_blocks):
                self.down.append(block(ch, width))
                ch = width
            if i < len(widths) - 1:
                self.down.append(conv(c.dims, ch, ch, stride=2, circular=c.circular))
        self.enc_mid = block(ch, ch)
        self.enc_norm = nn.GroupNorm(c.groups, ch)
        self.enc_out = conv(c.dims, ch, 2 * c.latent_channels, circular=c.circular)  # -> mean, logvar

        self.dec_in = conv(c.dims, c.latent_channels, ch, circular=c.circular)
        self.dec_mid = block(ch, ch)
        self.up = nn.ModuleList()
        for i in reversed(range(len(widths))):
            for _ in range(c.num_res_blocks):
                self.up.append(block(ch, widths[i]))
                ch = widths[i]
            if i > 0:
                self.up.append(Upsample(c.dims, ch, c.circular))
        self.dec_norm = nn.GroupNorm(c.groups, ch)
        self.dec_out = conv(c.dims, ch, c.in_channels, circular=c.circular)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Return (mean, logvar), each (B, C_z, *S / f), of q(z | x) for x (B, C, *S); logvar clamped to [-30, 20]."""
        c = self.config
        check_size(x, c.dims, c.in_channels, c.downsampling)
        h = self.stem(x)  # (B, C_0, *S)
        for layer in self.down:
            h = layer(h, None) if isinstance(layer, ResBlock) else layer(h)  # (B, C_i, *S_i)
        h = self.enc_out(F.silu(self.enc_norm(self.enc_mid(h, None))))  # (B, 2 C_z, *S / f)
        mean, logvar = h.chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def decode(self, z: Tensor) -> Tensor:
        """Return x_hat (B, C, *S) from z (B, C_z, *S / f)."""
        c = self.config
        check_size(z, c.dims, c.latent_channels, 1)
        h = self.dec_mid(self.dec_in(z), None)  # (B, C_n, *S / f)
        for layer in self.up:
            h = layer(h, None) if isinstance(layer, ResBlock) else layer(h)  # (B, C_i, *S_i)
        return self.dec_out(F.silu(self.dec_norm(h)))  # (B, C, *S)
