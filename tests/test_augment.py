import pytest
import torch

from noise2noise.augment import AUGMENTS, INPUT_NOISE_STD
from noise2noise.config import TrainConfig
from noise2noise.data import Generators, TensorPairs
from noise2noise.train import fit

CPU = torch.device("cpu")


def pair(n=6, h=32, w=32):
    """A pair whose target equals its input, with every pixel distinct (so a geometric
    change shows) in [0, 1]."""
    image = torch.arange(n * 3 * h * w, dtype=torch.float32).reshape(n, 3, h, w) / (n * 3 * h * w)
    return image, image.clone()


@pytest.mark.parametrize("name", sorted(AUGMENTS))
@pytest.mark.parametrize("size", [(32, 32), (37, 31)])
def test_input_and_target_keep_the_same_geometry(name, size):
    noisy_input, noisy_target = pair(6, *size)
    out_input, out_target = AUGMENTS[name](noisy_input, noisy_target, Generators.seeded(0, CPU))
    assert out_input.shape == out_target.shape and out_input.shape[:2] == (6, 3)
    if name == "gaussian":  # noise on the input only: the target and the layout stay
        assert torch.equal(out_target, noisy_target)
        assert (out_input - noisy_input).std().item() == pytest.approx(INPUT_NOISE_STD, rel=0.1)
    else:
        assert torch.equal(out_input, out_target)


@pytest.mark.parametrize("name", sorted(AUGMENTS))
def test_same_seed_same_augmentation(name):
    a = AUGMENTS[name](*pair(), Generators.seeded(3, CPU))
    b = AUGMENTS[name](*pair(), Generators.seeded(3, CPU))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_dihedral_uses_all_eight_symmetries_on_squares_and_keeps_non_squares_shaped():
    image = torch.rand(1, 3, 8, 8).expand(400, 3, 8, 8).contiguous()
    out, _ = AUGMENTS["dihedral"](image, image.clone(), Generators.seeded(0, CPU))
    assert len({tuple(o.flatten().tolist()) for o in out}) == 8
    tall = torch.rand(50, 3, 9, 5)
    out, _ = AUGMENTS["dihedral"](tall, tall.clone(), Generators.seeded(0, CPU))
    assert out.shape == tall.shape and not torch.equal(out, tall)


def test_crop_cuts_a_three_quarter_window_of_each_pair():
    noisy_input, noisy_target = pair(5, 32, 32)
    out, _ = AUGMENTS["crop"](noisy_input, noisy_target, Generators.seeded(0, CPU))
    assert out.shape == (5, 3, 24, 24)
    for original, window in zip(noisy_input, out):  # the window is a shifted sub-image
        top, left = divmod(int(torch.nonzero(original[0] == window[0, 0, 0])[0] @ torch.tensor([32, 1])), 32)
        assert torch.equal(original[:, top : top + 24, left : left + 24], window)


@pytest.mark.parametrize("name", sorted(AUGMENTS))
def test_training_runs_with_every_augmentation(name, course_pairs):
    cfg = TrainConfig(width=8, depth=2, batch_size=8, augment=name, time_budget=None, epochs=1, device="cpu")
    assert fit(cfg, TensorPairs(*course_pairs), progress=False).steps == 3


def test_channels_reorders_each_pairs_colour_channels_alike_and_leaves_grey_batches():
    image = torch.rand(1, 3, 5, 7).expand(300, 3, 5, 7).contiguous()
    target = image + 1.0
    out, out_target = AUGMENTS["channels"](image, target, Generators.seeded(0, CPU))
    assert torch.equal(out_target, out + 1.0)  # the same order for the input and its target
    orders = {tuple(int((o[k, 0, 0] == image[0, :, 0, 0]).nonzero()) for k in range(3)) for o in out}
    assert len(orders) == 6  # all 3! orders occur
    assert torch.equal(out.sort(dim=1).values, image.sort(dim=1).values)  # each pixel keeps its values
    grey = torch.rand(4, 1, 5, 7)
    assert torch.equal(AUGMENTS["channels"](grey, grey.clone(), Generators.seeded(0, CPU))[0], grey)
