"""Network backbones for every data rank: U-Net denoiser, VAE encoder/decoder, guidance regressor, latent autoencoder.

Each network is built from a dataclass config (saved as JSON beside safetensors weights) with
``dims`` = 1 for spectra (B, C, L) or 2 for micrographs (B, C, H, W); presets tiny / small /
base (/ large for the U-Net) are in ``*_PRESETS`` and ``*_preset(name, **overrides)``.
Conditions enter as one embedding (B, D) from :class:`ConditionEncoder`.
"""

from matgen.nets.autoencoder import AUTOENCODER_PRESETS, Autoencoder, AutoencoderConfig, autoencoder_preset
from matgen.nets.embeddings import ConditionEncoder, ConditionSpec, random_drop_mask, sinusoidal_embedding
from matgen.nets.encoders import (
    REGRESSOR_PRESETS, VAE_PRESETS, ConvDecoder, ConvEncoder, Regressor, RegressorConfig, VAEConfig, regressor_preset,
    vae_preset,
)
from matgen.nets.unet import UNET_PRESETS, ResBlock, SelfAttention, UNet, UNetConfig, unet_preset

__all__ = [
    "AUTOENCODER_PRESETS", "Autoencoder", "AutoencoderConfig", "autoencoder_preset",
    "ConditionEncoder", "ConditionSpec", "random_drop_mask", "sinusoidal_embedding",
    "ConvDecoder", "ConvEncoder", "Regressor", "RegressorConfig", "VAEConfig", "VAE_PRESETS", "REGRESSOR_PRESETS",
    "regressor_preset", "vae_preset",
    "ResBlock", "SelfAttention", "UNet", "UNetConfig", "UNET_PRESETS", "unet_preset",
]
