import pytest
import torch

from noise2noise.unet import UNet

PAPER_LAYERS = ["ENC_CONV0", "ENC_CONV1", "ENC_CONV2", "ENC_CONV3", "ENC_CONV4", "ENC_CONV5", "ENC_CONV6",
                "DEC_CONV5A", "DEC_CONV5B", "DEC_CONV4A", "DEC_CONV4B", "DEC_CONV3A", "DEC_CONV3B",
                "DEC_CONV2A", "DEC_CONV2B", "DEC_CONV1A", "DEC_CONV1B", "DEC_CONV1C"]


def test_paper_unet_has_991203_parameters_for_rgb():
    assert sum(p.numel() for p in UNet(3, 3).parameters()) == 991_203


def test_paper_unet_keeps_the_papers_layer_names_and_widths():
    net = UNet(3, 3)
    assert [name for name, _ in net.named_children()] == PAPER_LAYERS
    assert net.ENC_CONV0.in_channels == 3 and net.ENC_CONV6.out_channels == 48
    assert net.DEC_CONV5A.in_channels == 96 and net.DEC_CONV4A.in_channels == 144
    assert (net.DEC_CONV1A.in_channels, net.DEC_CONV1A.out_channels) == (99, 64)
    assert (net.DEC_CONV1B.out_channels, net.DEC_CONV1C.out_channels) == (32, 3)


@pytest.mark.parametrize("height,width", [(32, 32), (37, 31), (5, 9), (64, 33)])
def test_any_size_is_padded_and_cropped_back(height, width):
    net = UNet(3, 3, width=8, depth=5)
    out = net(torch.rand(2, 3, height, width))
    assert out.shape == (2, 3, height, width)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("channels_in,channels_out,width,depth", [(1, 1, 16, 3), (3, 1, 8, 1), (4, 3, 12, 2)])
def test_width_depth_and_channels_are_configurable(channels_in, channels_out, width, depth):
    net = UNet(channels_in, channels_out, width=width, depth=depth)
    assert net(torch.rand(1, channels_in, 37, 31)).shape == (1, channels_out, 37, 31)
    assert hasattr(net, f"ENC_CONV{depth + 1}") and not hasattr(net, f"ENC_CONV{depth + 2}")


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("sigma_input", [False, True])
def test_inference_without_gradients_computes_what_training_computes(memory_format, sigma_input):
    # without gradients the decoder upsamples and concatenates into one buffer (_upsample_concat)
    torch.manual_seed(0)
    net = UNet(3, 3, width=12, depth=3, sigma_input=sigma_input).eval()
    x = torch.rand(2, 3 + sigma_input, 37, 31).contiguous(memory_format=memory_format)
    with torch.no_grad():
        fast = net(x)
    torch.testing.assert_close(fast, net(x), rtol=1e-5, atol=1e-6)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        fast = net(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        slow = net(x)
    assert fast.dtype == slow.dtype
    # on a CPU with native bf16 (AVX512-BF16) oneDNN may sum the one-buffer layout in another order:
    # outputs near zero then differ by about 1e-4, a bf16 rounding step at 0.03
    torch.testing.assert_close(fast, slow, rtol=1.6e-2, atol=1e-3)


def test_padding_does_not_leak_across_images_of_a_batch():
    net = UNet(3, 3, width=8, depth=3).eval()
    x = torch.rand(2, 3, 37, 31)
    together = net(x)
    alone = net(x[1:])
    torch.testing.assert_close(together[1:], alone, rtol=1e-4, atol=1e-5)


def test_a_network_told_sigma_takes_one_more_plane_and_embedded_blind_weights_compute_the_same():
    from noise2noise.unet import embedded_state, sigma_plane

    torch.manual_seed(0)
    blind = UNet(3, 3, width=8, depth=2).eval()
    told = UNet(3, 3, width=8, depth=2, sigma_input=True).eval()
    told.load_state_dict(embedded_state(blind, told))
    images = torch.rand(2, 3, 13, 19)
    plane = sigma_plane(images, torch.tensor([5.0, 40.0]))
    assert plane.shape == (2, 4, 13, 19)
    assert torch.equal(plane[:, :3], images) and torch.allclose(plane[1, 3], torch.full((13, 19), 40 / 50))
    assert torch.equal(told(plane), blind(images))  # zero weights on the plane: the blind network exactly
    with torch.no_grad():
        told.ENC_CONV0.weight[:, 3] += 1.0  # once it uses the plane, sigma changes the output
    assert not torch.allclose(told(sigma_plane(images, 5.0)), told(sigma_plane(images, 40.0)))


@pytest.mark.parametrize("depth, sigma_input", [(1, False), (3, False), (3, True)])
def test_a_narrow_network_embedded_in_a_wider_one_computes_the_same_and_its_new_channels_can_learn(
        depth, sigma_input):
    from noise2noise.unet import embedded_state, sigma_plane

    torch.manual_seed(0)
    narrow = UNet(3, 3, width=6, depth=depth).eval()
    wide = UNet(3, 3, width=11, depth=depth, sigma_input=sigma_input)
    for name, conv in wide.named_children():  # the segments are the layers' real inputs
        assert sum(wide.input_segments()[name]) == conv.in_channels, name
    wide.load_state_dict(embedded_state(narrow, wide))
    images = torch.rand(2, 3, 37, 31)
    given = sigma_plane(images, 25.0) if sigma_input else images
    torch.testing.assert_close(wide.eval()(given), narrow(images), rtol=0, atol=1e-6)
    # a gradient reaches the weights out of the new channels, so training can use them
    wide(given).square().mean().backward()
    out_of_new = wide.DEC_CONV1C.weight.grad[:, narrow.DEC_CONV1B.out_channels:]
    assert out_of_new.abs().sum() > 0
    with pytest.raises(RuntimeError):  # a narrower network does not take a wider one's weights
        narrow.load_state_dict(embedded_state(wide, narrow))


@pytest.mark.parametrize("depth, sigma_input", [(1, False), (3, False), (3, True)])
def test_a_network_grown_by_splitting_channels_computes_the_same_and_its_copies_learn_apart(depth, sigma_input):
    from noise2noise.unet import embedded_state, sigma_plane

    torch.manual_seed(0)
    narrow = UNet(3, 3, width=6, depth=depth).eval()
    wide = UNet(3, 3, width=11, depth=depth, sigma_input=sigma_input)
    wide.load_state_dict(embedded_state(narrow, wide, "split", torch.Generator().manual_seed(0)))
    images = torch.rand(2, 3, 37, 31)
    given = sigma_plane(images, 25.0) if sigma_input else images
    torch.testing.assert_close(wide.eval()(given), narrow(images), rtol=0, atol=1e-5)
    # new channel 6 of the first layer copies channel 0: the same weights in, a different share out
    assert torch.equal(wide.ENC_CONV0.weight[6, :3], narrow.ENC_CONV0.weight[0])
    if sigma_input:
        assert not wide.ENC_CONV0.weight[:, 3].any()  # the plane, which the narrow network lacks
    wide(given).square().mean().backward()
    grad = wide.ENC_CONV0.weight.grad
    assert not torch.allclose(grad[6], grad[0])  # unequal shares: the copies are pushed apart


def test_an_unknown_growth_is_refused_with_the_choices():
    from noise2noise.errors import N2NError
    from noise2noise.unet import embedded_state

    with pytest.raises(N2NError, match="unknown growth 'copy'; choose from split, zero"):
        embedded_state(UNet(3, 3, width=4, depth=1), UNet(3, 3, width=6, depth=1), "copy")


@pytest.mark.parametrize("changes", [{"in_channels": 0}, {"width": -1}, {"depth": 0}, {"out_channels": 1.5}])
def test_a_unet_of_no_channels_or_layers_is_refused_naming_the_argument(changes):
    name = next(iter(changes))
    with pytest.raises(ValueError, match=f"UNet {name}=.* must be a whole number >= 1"):
        UNet(**changes)  # in_channels=0 built a network that takes nothing; width=-1 failed deep in torch


def test_a_unet_takes_numpy_integers_as_plain_ints():
    import numpy as np

    net = UNet(np.int64(1), np.int32(1), width=np.int64(4), depth=np.int16(2))  # as read from arrays or configs
    assert (net.in_channels, net.width, net.depth) == (1, 4, 2) and type(net.width) is int
    assert net(torch.rand(1, 1, 8, 8)).shape == (1, 1, 8, 8)
