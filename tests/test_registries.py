"""One parametrised walk over every registry entry."""


import pytest
import torch
from conftest import imports_torch

from noise2noise import registry
from noise2noise.augment import AUGMENTS
from noise2noise.config import TrainConfig
from noise2noise.data import Generators
from noise2noise.errors import N2NError
from noise2noise.inits import INITS, NORMAL_STD, SPARSE_SHARE, SPARSE_STD
from noise2noise.losses import LOSSES, masked_loss
from noise2noise.noise import NOISES, build_noise
from noise2noise.optim import OPTIMIZERS, SCHEDULES, lr_factor
from noise2noise.unet import ARCHS, OUTPUTS, build_model


def entries():
    return [(kind, name) for kind in registry.kinds() for name in registry.get(kind)]


@pytest.mark.parametrize("kind,name", entries())
def test_every_entry_is_usable_from_a_config_and_its_implementation_loads(kind, name):
    cfg = TrainConfig(**{kind: name})
    assert getattr(cfg, kind) == name
    assert callable(registry.get(kind)[name])  # its "module:attribute" target exists


def test_a_config_is_built_and_checked_without_importing_torch():
    assert not imports_torch("from noise2noise.config import TrainConfig\n"
                             "TrainConfig(noise='bernoulli', loss='l1', augment='gaussian', mode='noise2clean')")


def test_an_entry_with_an_undeclared_fact_is_refused_when_declared():
    augments = registry.Registry("augment", moves_pixels=False)
    with pytest.raises(ValueError, match="unknown facts \\['moves_pixel'\\]"):
        augments.register("flip", "noise2noise.augment:dihedral", moves_pixel=True)


def test_unknown_names_list_the_choices():
    with pytest.raises(N2NError, match="unknown loss 'l3'; choose from bce, huber, l0, l1, l2"):
        LOSSES["l3"]


@pytest.mark.parametrize("name", sorted(NOISES))
def test_noise_keeps_shape_and_range_and_names_a_registered_loss(name):
    clean = torch.rand(4, 3, 16, 16)
    entry = NOISES.entry(name)
    noise = build_noise(name, entry.default_level, clip=True)
    noisy, valid = noise.draw(clean, torch.Generator().manual_seed(0))
    assert noisy.shape == clean.shape and 0 <= noisy.min() and noisy.max() <= 1
    assert not torch.equal(noisy, clean)
    assert valid is None or valid.shape == (4, 1, 16, 16)
    assert entry.masks_pixels == (valid is not None)  # the fact the config checks augment against
    assert entry.recommended_loss in LOSSES
    entry.levels.check(name, entry.default_level)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_is_zero_for_a_perfect_prediction_and_positive_otherwise(name):
    target = torch.rand(2, 3, 8, 8)
    assert LOSSES[name](target, target, 0.5).item() == pytest.approx(0.0, abs=1e-6)
    assert LOSSES[name](target + 0.1, target, 0.5).item() > 0
    assert LOSSES.entry(name).output in OUTPUTS


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_a_masked_loss_counts_only_valid_pixels(name):
    prediction = torch.rand(2, 3, 8, 8, requires_grad=True)
    target = torch.rand(2, 3, 8, 8)
    everywhere = torch.ones(2, 1, 8, 8)
    torch.testing.assert_close(masked_loss(LOSSES[name], prediction, target, 0.5, everywhere),
                               LOSSES[name](prediction, target, 0.5))
    mask = (torch.rand(2, 1, 8, 8) > 0.5).float()
    wild = torch.where(mask > 0, prediction, torch.full_like(prediction, 7.0))  # junk where invalid
    loss = masked_loss(LOSSES[name], wild, target, 0.5, mask)
    loss.backward()
    assert torch.count_nonzero(prediction.grad * (1 - mask)) == 0  # no gradient from dropped pixels
    assert torch.count_nonzero(prediction.grad * mask) > 0


@pytest.mark.parametrize("name", ["l1", "l2"])
def test_a_masked_loss_is_the_mean_over_the_valid_pixels(name):
    prediction, target = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    mask = (torch.rand(2, 1, 8, 8) > 0.5).float()
    kept = mask.expand_as(target) > 0
    torch.testing.assert_close(masked_loss(LOSSES[name], prediction, target, 0.5, mask),
                               LOSSES[name](prediction[kept], target[kept], 0.5))


@pytest.mark.parametrize("name", sorted(INITS))
def test_init_gives_finite_weights_and_zero_bias(name):
    net = build_model("unet", 3, 3, 8, 2)
    INITS[name](net)
    assert all(torch.isfinite(p).all() for p in net.parameters())
    if name != "default":
        assert torch.count_nonzero(net.DEC_CONV1C.bias) == 0
    if name == "normal":
        assert net.ENC_CONV1.weight.std().item() == pytest.approx(NORMAL_STD, rel=0.15)
    if name == "constant":
        assert torch.all(net.ENC_CONV1.weight == 1 / (8 * 9))
    if name == "sparse":  # every column of out × (in·k·k) has its share of zeros
        columns = net.ENC_CONV1.weight.reshape(8, -1)
        assert ((columns == 0).float().mean(dim=0) >= SPARSE_SHARE).all()
        assert columns[columns != 0].std().item() == pytest.approx(SPARSE_STD, rel=0.2)


@pytest.mark.parametrize("name", sorted(AUGMENTS))
def test_augment_keeps_the_batch_shape_of_input_and_target_equal(name):
    noisy_input, noisy_target = torch.rand(4, 3, 16, 16), torch.rand(4, 3, 16, 16)
    out_input, out_target = AUGMENTS[name](noisy_input, noisy_target, Generators.seeded(0, torch.device("cpu")))
    assert out_input.shape == out_target.shape and out_input.shape[:2] == (4, 3)
    # a pixel that keeps its values, in any channel order, has not moved: its N×1×H×W mask still fits
    moved = out_target.shape != noisy_target.shape or not torch.equal(out_target.sort(dim=1).values,
                                                                      noisy_target.sort(dim=1).values)
    assert AUGMENTS.entry(name).moves_pixels == moved  # the fact the config checks masks against


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimiser_reduces_a_simple_loss(name):
    weight = torch.nn.Parameter(torch.ones(10))
    optimizer = OPTIMIZERS[name]([weight], 0.01, 0.0)
    for _ in range(20):
        optimizer.zero_grad()
        (weight**2).sum().backward()
        optimizer.step()
    assert (weight**2).sum().item() < 10


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedule_stays_within_the_peak(name):
    values = [SCHEDULES[name](i / 100) for i in range(101)]
    assert all(0.0 <= v <= 1.0 for v in values)
    assert max(values) == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_warm_up_ramps_every_schedule_up_from_zero(name):
    schedule = SCHEDULES[name]
    assert lr_factor(name, 0.2, 0.0) == 0.0
    assert lr_factor(name, 0.2, 0.1) == pytest.approx(0.5 * schedule(0.1))
    assert all(lr_factor(name, 0.2, p) == schedule(p) for p in (0.2, 0.5, 0.9, 1.0))
    assert all(lr_factor(name, 0.0, p) == schedule(p) for p in (0.0, 0.5))


def test_linear_decays_from_the_peak_to_zero():
    assert [SCHEDULES["linear"](p) for p in (0.0, 0.25, 1.0)] == [1.0, 0.75, 0.0]


def test_rampdown_is_flat_then_decays_to_zero():
    schedule = SCHEDULES["rampdown"]
    assert schedule(0.0) == schedule(0.7) == 1.0
    assert 0 < schedule(0.85) < 1 and schedule(1.0) == pytest.approx(0.0)


@pytest.mark.parametrize("name", sorted(ARCHS))
def test_arch_maps_images_to_images(name):
    assert build_model(name, 3, 3, 8, 2)(torch.rand(1, 3, 20, 12)).shape == (1, 3, 20, 12)
