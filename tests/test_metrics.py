import math

import pytest
import torch

from noise2noise.errors import say_once
from noise2noise.metrics import psnr_db, ssim


def test_psnr_is_the_course_definition():
    clean = torch.rand(5, 3, 16, 16)
    denoised = (clean + 0.05 * torch.randn(5, 3, 16, 16)).clamp(0, 1)
    expected = (-10 * torch.log10(((denoised - clean) ** 2).mean((1, 2, 3)) + 10**-8)).mean().item()
    assert psnr_db(denoised, clean) == pytest.approx(expected, rel=1e-6)


def test_psnr_is_a_mean_over_images_not_over_pixels():
    clean = torch.zeros(2, 1, 4, 4)
    denoised = torch.stack([torch.full((1, 4, 4), 0.1), torch.full((1, 4, 4), 0.01)])
    assert psnr_db(denoised, clean) == pytest.approx((20 + 40) / 2, abs=1e-3)


def test_identical_images_hit_the_epsilon_ceiling():
    x = torch.rand(1, 3, 8, 8)
    assert psnr_db(x, x) == pytest.approx(80.0)
    assert math.isclose(ssim(x, x), 1.0, abs_tol=1e-9)


def test_ssim_drops_with_noise_and_handles_tiny_images():
    clean = torch.rand(2, 3, 32, 32)
    noisy = (clean + 0.2 * torch.randn_like(clean)).clamp(0, 1)
    assert ssim(noisy, clean) < 0.9
    assert 0 < ssim(noisy[:, :, :5, :6], clean[:, :, :5, :6]) <= 1


@pytest.mark.parametrize("denoised, clean, message", [
    (torch.rand(2, 3, 8, 8), torch.rand(1, 3, 8, 8), r"differ in shape"),  # psnr broadcast, ssim scored one pair
    (torch.rand(3, 8), torch.rand(3, 8), r"expected C×H×W or N×C×H×W images, got shape \(3, 8\)"),
    (torch.rand(0, 3, 8, 8), torch.rand(0, 3, 8, 8), r"got shape \(0, 3, 8, 8\)"),  # was NaN
])
def test_metrics_refuse_images_they_cannot_pair(denoised, clean, message):
    from noise2noise.errors import N2NError

    for metric in (psnr_db, ssim):
        with pytest.raises(N2NError, match=message):
            metric(denoised, clean)


def test_metrics_warn_about_images_in_0_255(capsys):
    clean = torch.rand(1, 3, 16, 16) * 255
    say_once.cache_clear()  # the line is said once a process: another test may have said it
    psnr_db(clean, clean)
    assert "divide 0..255 images by 255" in capsys.readouterr().err
