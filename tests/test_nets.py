"""Networks: shapes in both ranks, preset sizes, null conditions, save/reload, periodic equivariance."""

import json
import math

import pytest
import torch
from safetensors.torch import load_file, save_file

from matgen.errors import MatgenError
from matgen.nets import (
    REGRESSOR_PRESETS, UNET_PRESETS, VAE_PRESETS, ConditionEncoder, ConditionSpec, ConvDecoder, ConvEncoder, Regressor,
    RegressorConfig, UNet, UNetConfig, VAEConfig, random_drop_mask, regressor_preset, sinusoidal_embedding, unet_preset,
    vae_preset,
)

#: Documented U-Net sizes (dims=2, 1 channel): tiny trains on a CPU in CI, large is for a GPU.
UNET_PARAMS_2D = {"tiny": (50e3, 150e3), "small": (1e6, 4e6), "base": (8e6, 25e6), "large": (30e6, 60e6)}
UNET_PARAMS_1D = {"tiny": (50e3, 150e3), "small": (0.5e6, 2e6), "base": (4e6, 12e6), "large": (15e6, 30e6)}
SPECS = [
    ConditionSpec("anneal_temperature_C", "continuous", "°C", mean=600.0, std=100.0, minimum=400.0, maximum=800.0),
    ConditionSpec("phase", "categorical", categories=("ferrite", "austenite", "martensite")),
    ConditionSpec("modulus", "continuous", "GPa", mean=200.0, std=20.0),
]


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def shape_for(dims: int, batch: int = 2, channels: int = 1, size: int = 32) -> tuple[int, ...]:
    return (batch, channels) + (size,) * dims


@pytest.mark.parametrize("dims", [1, 2])
@pytest.mark.parametrize("cond_dim", [0, 8])
def test_unet_output_has_the_input_shape(dims, cond_dim):
    torch.manual_seed(0)
    net = UNet(unet_preset("tiny", dims=dims, in_channels=3, out_channels=3, cond_dim=cond_dim))
    x = torch.randn(shape_for(dims, channels=3))
    cond_emb = torch.randn(2, cond_dim) if cond_dim else None
    assert net(x, torch.rand(2), cond_emb).shape == x.shape
    assert net(x, torch.tensor(0.5), cond_emb).shape == x.shape  # one timestep for the whole batch


@pytest.mark.parametrize("name", list(UNET_PRESETS))
def test_unet_presets_have_their_documented_sizes(name):
    for dims, ranges in ((2, UNET_PARAMS_2D), (1, UNET_PARAMS_1D)):
        with torch.device("meta"):  # nothing allocated, even for large
            count = n_params(UNet(unet_preset(name, dims=dims)))
        low, high = ranges[name]
        assert low <= count <= high, (name, dims, count)


def test_sinusoidal_embedding_values():
    emb = sinusoidal_embedding(torch.tensor([0.0, 2.0]), 7)
    assert emb.shape == (2, 7)
    assert torch.equal(emb[0], torch.tensor([1.0, 1, 1, 0, 0, 0, 0]))  # cos(0) = 1, sin(0) = 0, zero pad
    assert emb[1, 0] == pytest.approx(math.cos(2.0)) and emb[1, 3] == pytest.approx(math.sin(2.0))


def test_condition_encoder_unknown_and_dropped_give_the_null_token():
    torch.manual_seed(0)
    enc = ConditionEncoder(SPECS, 16)
    nan = float("nan")
    given = torch.tensor([[650.0, 1.0, 210.0]])
    assert enc(given).shape == (1, 16)
    all_null = enc.null.sum(dim=0)
    assert torch.equal(enc(torch.full((1, 3), nan))[0], all_null)
    assert torch.equal(enc(given, drop=torch.ones(1, 3, dtype=torch.bool))[0], all_null)
    assert torch.equal(enc.null_embedding(4), all_null.expand(4, -1))
    for k in range(3):
        unknown = given.clone()
        unknown[0, k] = nan
        dropped = torch.zeros(1, 3, dtype=torch.bool)
        dropped[0, k] = True
        assert torch.equal(enc(unknown), enc(given, drop=dropped)), k
        assert not torch.allclose(enc(unknown), enc(given)), k  # a given value is not the null token
    coded = given.clone()
    coded[0, 1] = -1.0  # the dataset's code for an unknown category
    unknown = given.clone()
    unknown[0, 1] = nan
    assert torch.equal(enc(coded), enc(unknown))


def test_condition_encoder_continuous_and_categorical_values():
    torch.manual_seed(0)
    enc = ConditionEncoder(SPECS, 16)
    nan = float("nan")
    phases = enc(torch.tensor([[nan, 0.0, nan], [nan, 1.0, nan], [nan, 2.0, nan]]))
    rest = enc.null[0] + enc.null[2]
    for code in range(3):  # each category is its own row of the table
        assert torch.allclose(phases[code], enc.table.weight[code] + rest)
    assert torch.cdist(phases, phases).triu(1).sum() > 0
    temps = enc(torch.tensor([[500.0, nan, nan], [700.0, nan, nan]]))
    assert not torch.allclose(temps[0], temps[1])
    with pytest.raises(MatgenError, match="this model takes 3: anneal_temperature_C, phase, modulus"):
        enc(torch.zeros(1, 2))


def test_condition_spec_json_round_trip_and_errors():
    for spec in SPECS:
        assert ConditionSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    spec = ConditionSpec.from_values("density_g_cm3", torch.tensor([1.0, 3.0, float("nan")]).numpy(), "g/cm³")
    assert (spec.mean, spec.std, spec.minimum, spec.maximum, spec.unit) == (2.0, 1.0, 1.0, 3.0, "g/cm³")
    assert ConditionSpec.from_values("phase", None, categories=["a", "b"]).n_categories == 2
    with pytest.raises(MatgenError, match="choose from continuous, categorical"):
        ConditionSpec("x", "ordinal")
    with pytest.raises(MatgenError, match="n_categories"):
        ConditionSpec("x", "categorical")
    with pytest.raises(MatgenError, match="unknown ConditionSpec field"):
        ConditionSpec.from_dict({"name": "x", "units": "K"})


def test_random_drop_mask_rate_and_reproducibility():
    mask = random_drop_mask(4000, 5, 0.15, torch.Generator().manual_seed(1))
    assert mask.shape == (4000, 5) and mask.dtype == torch.bool
    assert abs(mask.float().mean().item() - 0.15) < 0.01
    assert torch.equal(mask, random_drop_mask(4000, 5, 0.15, torch.Generator().manual_seed(1)))


@pytest.mark.parametrize("config_class", [UNetConfig, VAEConfig, RegressorConfig])
def test_config_json_round_trip(config_class):
    config = config_class()
    assert config_class.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(MatgenError, match="unknown .*field"):
        config_class.from_dict({"dimz": 2})


def test_save_and_reload_gives_identical_outputs(tmp_path):
    torch.manual_seed(0)
    config = unet_preset("tiny", dims=1, cond_dim=16, attention_levels=(2,))
    net, enc = UNet(config).eval(), ConditionEncoder(SPECS, 16)
    save_file(net.state_dict(), tmp_path / "unet.safetensors")
    save_file(enc.state_dict(), tmp_path / "cond.safetensors")
    (tmp_path / "config.json").write_text(json.dumps({"unet": config.to_dict(), "conditions": [s.to_dict() for s in SPECS]}))

    saved = json.loads((tmp_path / "config.json").read_text())
    net2 = UNet(UNetConfig.from_dict(saved["unet"])).eval()
    enc2 = ConditionEncoder([ConditionSpec.from_dict(s) for s in saved["conditions"]], 16)
    net2.load_state_dict(load_file(tmp_path / "unet.safetensors"))
    enc2.load_state_dict(load_file(tmp_path / "cond.safetensors"))
    x, t = torch.randn(3, 1, 64), torch.rand(3)
    values = torch.tensor([[650.0, 1.0, float("nan")], [float("nan"), 2.0, 190.0], [500.0, -1.0, 230.0]])
    with torch.no_grad():
        assert torch.equal(net(x, t, enc(values)), net2(x, t, enc2(values)))


@pytest.mark.parametrize("dims", [1, 2])
def test_circular_unet_is_translation_equivariant(dims):
    torch.manual_seed(0)
    config = unet_preset("tiny", dims=dims, circular=True, attention_levels=(1, 2))
    net = UNet(config).eval()
    assert config.size_multiple == 4
    x, t = torch.randn(shape_for(dims, size=16 if dims == 2 else 32)), torch.rand(2)
    shifts, axes = ((4, -8), (2, 3)) if dims == 2 else ((12,), (2,))
    with torch.no_grad():
        y, y_rolled = net(x, t), net(torch.roll(x, shifts, axes), t)
    assert torch.allclose(y_rolled, torch.roll(y, shifts, axes), atol=1e-5)
    plain = UNet(unet_preset("tiny", dims=dims, attention_levels=(1, 2))).eval()
    with torch.no_grad():  # zero padding sees the borders: not equivariant
        assert not torch.allclose(plain(torch.roll(x, shifts, axes), t), torch.roll(plain(x, t), shifts, axes), atol=1e-3)


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    net = UNet(unet_preset("tiny", dims=2, cond_dim=16, attention_levels=(1, 2), dropout=0.1))
    enc = ConditionEncoder(SPECS, 16)
    nan = float("nan")
    values = torch.tensor([[650.0, 0.0, 190.0], [nan, 1.0, nan], [500.0, 2.0, 230.0], [nan, nan, 210.0]])
    x = torch.randn(4, 1, 16, 16)
    loss = net(x, torch.rand(4) * 1000, enc(values, drop=random_drop_mask(4, 3))).square().mean()
    loss.backward()
    modules = {"unet": net, "condition encoder": enc}
    for label, module in modules.items():
        for name, p in module.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, f"{label}: no gradient reaches {name}"


@pytest.mark.parametrize("dims,signal_shape", [(1, (64,)), (2, (32, 16))])
def test_vae_encoder_decoder_shapes(dims, signal_shape):
    torch.manual_seed(0)
    config = vae_preset("tiny", dims=dims, in_channels=2, signal_shape=signal_shape, cond_dim=8)
    encoder, decoder = ConvEncoder(config), ConvDecoder(config)
    x, cond_emb = torch.randn((3, 2) + signal_shape), torch.randn(3, 8)
    mu, logvar = encoder(x, cond_emb)
    assert mu.shape == logvar.shape == (3, config.latent_dim)
    assert decoder(mu, cond_emb).shape == x.shape
    with pytest.raises(MatgenError, match="cond_dim=8: pass cond_emb"):
        encoder(x)


@pytest.mark.parametrize("dims", [1, 2])
def test_regressor_predicts_k_values_and_has_a_gradient_in_x(dims):
    torch.manual_seed(0)
    regressor = Regressor(regressor_preset("tiny", dims=dims, n_outputs=3, attention_levels=(2,)))
    x = torch.randn(shape_for(dims, batch=4), requires_grad=True)
    y = regressor(x, torch.rand(4))
    assert y.shape == (4, 3)
    (grad,) = torch.autograd.grad(y.sum(), x)  # what regressor guidance uses
    assert grad.shape == x.shape and grad.abs().sum() > 0


def test_every_preset_builds():
    for presets, build in ((VAE_PRESETS, lambda c: (ConvEncoder(c), ConvDecoder(c))),
                           (REGRESSOR_PRESETS, Regressor)):
        for name in presets:
            with torch.device("meta"):
                build(presets[name])


def test_bad_configs_and_inputs_raise_with_the_valid_choices():
    with pytest.raises(MatgenError, match=r"dims must be 1 \(spectra.*or 2"):
        UNetConfig(dims=3)
    with pytest.raises(MatgenError, match="channel_mults must hold one positive multiplier per level"):
        UNetConfig(channel_mults=())
    with pytest.raises(MatgenError, match="groups=8 must divide"):
        UNetConfig(base_channels=12)
    with pytest.raises(MatgenError, match=r"attention_levels must be level indices in 0..3"):
        UNetConfig(attention_levels=(4,))
    with pytest.raises(MatgenError, match="unknown preset 'huge'; choose from tiny, small, base, large"):
        unet_preset("huge")
    with pytest.raises(MatgenError, match="unknown UNetConfig field"):
        unet_preset("tiny", dim=1)
    net = UNet(unet_preset("tiny", dims=1))
    with pytest.raises(MatgenError, match="size 30 is not a multiple of 4.*e.g. 28 or 32"):
        net(torch.randn(2, 1, 30), torch.rand(2))
    with pytest.raises(MatgenError, match=r"takes \(B, C, L\) with C = 1"):
        net(torch.randn(2, 1, 8, 8), torch.rand(2))
    with pytest.raises(MatgenError, match="cond_dim=0: pass cond_emb"):
        net(torch.randn(2, 1, 32), torch.rand(2), torch.randn(2, 4))
    with pytest.raises(MatgenError, match="every size must be a positive multiple of 8"):
        VAEConfig(channel_mults=(1, 2, 2), signal_shape=(60, 64))
    with pytest.raises(MatgenError, match="must have 1 size"):
        VAEConfig(dims=1, signal_shape=(64, 64))


def test_position_features_tell_a_1d_network_where_it_is():
    from matgen.nets.unet import position_features

    feats = position_features((64,), 4)
    assert feats.shape == (1, 4, 64)
    u = torch.linspace(0, 1, 64)
    assert torch.allclose(feats[0, 1], torch.sin(2 * torch.pi * u), atol=1e-6)  # k = 1: sin(2π u)
    assert torch.allclose(feats[0, 2], torch.cos(torch.pi * u), atol=1e-6)
    torch.manual_seed(0)
    # a blank input on a periodic axis: without position features the output is uniform along it
    x = torch.zeros(1, 1, 64)
    blank = UNet(unet_preset("tiny", dims=1, circular=True))(x, torch.tensor([10.0]))
    assert blank[0, 0].std() < 1e-6
    net = UNet(unet_preset("tiny", dims=1, circular=True, position_features=8))
    assert net(x, torch.tensor([10.0]))[0, 0].std() > 1e-4
    assert UNetConfig.from_dict({k: v for k, v in net.config.to_dict().items() if k != "position_features"}).position_features == 0
    with pytest.raises(MatgenError, match="position_features must be an even number"):
        unet_preset("tiny", dims=1, position_features=3)
