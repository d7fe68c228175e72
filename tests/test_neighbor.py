import pytest
import torch

from noise2noise.neighbor import neighbour_choice, regulariser, subsample
from noise2noise.unet import build_model


def test_sub_images_take_two_adjacent_distinct_pixels_of_every_2x2_cell():
    height, width = 6, 10
    index = torch.arange(height * width, dtype=torch.float32).view(1, 1, height, width).repeat(4, 3, 1, 1)
    first, second = neighbour_choice(index, generator=torch.Generator().manual_seed(0))
    g1, g2 = subsample(index, first), subsample(index, second)
    assert g1.shape == g2.shape == (4, 3, 3, 5)
    rows_1, cols_1 = (g1 // width).long(), (g1 % width).long()
    rows_2, cols_2 = (g2 // width).long(), (g2 % width).long()
    cell_rows, cell_cols = torch.meshgrid(torch.arange(3), torch.arange(5), indexing="ij")
    for rows, cols in ((rows_1, cols_1), (rows_2, cols_2)):  # each pixel from its own cell
        assert torch.equal(rows // 2, cell_rows.expand_as(rows)) and torch.equal(cols // 2, cell_cols.expand_as(cols))
    distance = (rows_1 - rows_2).abs() + (cols_1 - cols_2).abs()
    assert torch.equal(distance, torch.ones_like(distance))  # different pixels sharing an edge
    assert torch.equal(g1[:, :1].expand_as(g1), g1)  # one choice for all channels of a pixel


def test_all_eight_ordered_neighbour_pairs_occur_about_equally():
    noisy = torch.zeros(16, 1, 64, 64)
    first, second = neighbour_choice(noisy, generator=torch.Generator().manual_seed(0))
    counts = torch.bincount((first * 4 + second).flatten(), minlength=16).float()
    used = counts[counts > 0]
    assert len(used) == 8
    assert (used / counts.sum() - 1 / 8).abs().max() < 0.01


def test_odd_sides_are_refused():
    with pytest.raises(ValueError, match="even sides"):
        neighbour_choice(torch.zeros(1, 1, 5, 6))


def test_regulariser_vanishes_for_the_identity_and_ramps_up_with_progress():
    noisy = torch.rand(2, 3, 16, 16)
    first, second = neighbour_choice(noisy, generator=torch.Generator().manual_seed(0))
    g1, g2 = subsample(noisy, first), subsample(noisy, second)
    identity = torch.nn.Identity()
    term = regulariser(identity, g1, g2, 1.0, noisy=noisy, first=first, second=second, gamma=2.0)
    assert term.item() == pytest.approx(0.0, abs=1e-12)  # f(g1(y)) - g2(y) equals g1(f(y)) - g2(f(y))
    net = build_model("unet", 3, 3, 8, 2)
    prediction = net(g1)
    at_start = regulariser(net, prediction, g2, 0.0, noisy=noisy, first=first, second=second, gamma=2.0)
    at_end = regulariser(net, prediction, g2, 1.0, noisy=noisy, first=first, second=second, gamma=2.0)
    assert at_start.item() == 0.0 and at_end.item() > 0
    at_end.backward()
    assert net.ENC_CONV0.weight.grad is not None  # through f(g1(y)); f(y) carries no gradient
