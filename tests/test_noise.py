import pytest
import torch

from noise2noise.noise import GaussianNoise


def test_gaussian_sigma_is_in_0_255_units():
    clean = torch.full((8, 3, 64, 64), 0.5)
    noisy = GaussianNoise(level=(25.0, 25.0), clip=False)(clean, torch.Generator().manual_seed(0))
    residual = (noisy - clean) * 255
    assert residual.std().item() == pytest.approx(25.0, rel=0.02)
    assert abs(residual.mean().item()) < 0.3


def test_two_draws_are_independent():
    clean = torch.full((4, 3, 64, 64), 0.5)
    noise, generator = GaussianNoise(level=(25.0, 25.0), clip=False), torch.Generator().manual_seed(0)
    first, second = noise(clean, generator) - clean, noise(clean, generator) - clean
    correlation = torch.corrcoef(torch.stack([first.flatten(), second.flatten()]))[0, 1]
    assert abs(correlation.item()) < 0.02


def test_clipping_is_explicit():
    clean = torch.zeros(2, 1, 32, 32)
    generator = torch.Generator().manual_seed(0)
    assert GaussianNoise((50.0, 50.0), clip=True)(clean, generator).min() == 0
    assert GaussianNoise((50.0, 50.0), clip=False)(clean, generator).min() < 0


def test_a_range_draws_one_sigma_per_image():
    clean = torch.full((64, 1, 32, 32), 0.5)
    noisy = GaussianNoise(level=(0.0, 50.0), clip=False)(clean, torch.Generator().manual_seed(0))
    sigmas = ((noisy - clean) * 255).flatten(1).std(dim=1)
    assert sigmas.min() < 10 and sigmas.max() > 40 and sigmas.max() < 53
