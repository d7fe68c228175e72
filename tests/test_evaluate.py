"""The comparison of denoisers on whole images: baselines, models, table rows."""

import importlib.util
import sys

import numpy as np
import pytest
import skimage.data
import torch

from noise2noise.denoise import BORDER_PX, pad_border
from noise2noise.errors import N2NError
from noise2noise.evaluate import (
    METHODS,
    add_noise,
    build_methods,
    channels_for,
    compare_methods,
    evaluation_images,
    format_table,
    inverse_anscombe,
    known_noise,
)
from noise2noise.images import embedded_images
from noise2noise.metrics import psnr_db
from noise2noise.noise import BernoulliNoise, GaussianNoise, PoissonNoise
from noise2noise.unet import build_model

HAS_BM3D = importlib.util.find_spec("bm3d") is not None


@pytest.fixture(scope="module")
def noisy_photo():
    """A 36×40 crop of a held-out photo with Gaussian sigma 25: (name, noisy, clean)."""
    clean = embedded_images("test")[0][1][:, 200:236, 200:240]
    return list(add_noise([("astronaut", clean)], GaussianNoise((25.0, 25.0)), seed=0))


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_baseline_keeps_shape_and_range_and_denoises(name, noisy_photo):
    if name == "bm3d" and not HAS_BM3D:
        pytest.skip("bm3d is an optional extra: pip install 'noise2noise[bm3d]'")
    _, noisy, clean = noisy_photo[0]
    rows, table, outputs = compare_methods(noisy_photo, {"noisy": METHODS["noisy"], name: METHODS[name]},
                                           GaussianNoise((25.0, 25.0)))
    out = outputs[name][0]
    assert out.shape == clean.shape and 0 <= out.min() and out.max() <= 255
    if name != "noisy":
        assert table[1]["psnr_db"] > table[0]["psnr_db"] + 2  # well above the noisy input
        assert table[1]["ssim"] > table[0]["ssim"]


def test_the_table_has_one_row_per_method_and_model_rows_come_from_the_network(noisy_photo):
    net = build_model("unet", 3, 3, 8, 2).eval()
    methods = build_methods(["noisy", "nlm", "n2n"], {"n2n": net})
    rows, table, outputs = compare_methods(noisy_photo * 2, methods, known_noise(GaussianNoise((25.0, 25.0))))
    assert [r["method"] for r in table] == ["noisy", "nlm", "n2n"] and all(r["n_images"] == 2 for r in table)
    assert len(rows) == 6 and {"image", "method", "psnr_db", "ssim", "seconds"} <= set(rows[0])
    assert all(r["seconds_per_image"] >= 0 for r in table)
    noisy = noisy_photo[0][1]
    border = BORDER_PX  # inference sees the image with a reflected border, cropped off after
    expected = net(pad_border(noisy.unsqueeze(0) / 255, border))[..., border:-border, border:-border]
    expected = expected.clamp(0, 1)[0] * 255
    torch.testing.assert_close(outputs["n2n"][0], expected.detach(), atol=1e-3, rtol=1e-4)
    text = format_table(table).splitlines()
    assert text[0].split() == ["method", "PSNR", "dB", "SSIM", "s/image", "images"] and len(text) == 4


def test_unknown_methods_and_missing_models_are_named():
    with pytest.raises(N2NError, match="unknown method 'n2c' .* choose from bm3d, n2n, nlm, noisy"):
        build_methods(["noisy", "n2c"], {"n2n": build_model("unet", 3, 3, 8, 2)})


def test_without_the_bm3d_extra_the_error_says_how_to_install_it(monkeypatch, noisy_photo):
    monkeypatch.setitem(sys.modules, "bm3d", None)  # as if not installed
    with pytest.raises(N2NError, match=r"pip install 'noise2noise\[bm3d\]'"):
        METHODS["bm3d"](noisy_photo[0][1], GaussianNoise((25.0, 25.0)))


def test_bm3d_is_given_the_noise_level_only_when_there_is_one():
    assert known_noise(GaussianNoise((15.0, 15.0))) == GaussianNoise((15.0, 15.0))
    assert known_noise(PoissonNoise((30.0, 30.0))) == PoissonNoise((30.0, 30.0))
    assert known_noise(GaussianNoise((0.0, 50.0))) is None and known_noise(PoissonNoise((5.0, 50.0))) is None
    assert known_noise(BernoulliNoise((0.5, 0.5))) is None


@pytest.mark.skipif(not HAS_BM3D, reason="bm3d is an optional extra")
def test_bm3d_on_poisson_noise_uses_the_anscombe_transform_and_beats_a_guessed_sigma():
    clean = embedded_images("test")[0][1][:, 180:244, 180:244]
    noise = PoissonNoise((10.0, 10.0))
    (_, noisy, clean), = add_noise([("astronaut", clean)], noise, seed=0)
    unit = lambda x: x.unsqueeze(0) / 255.0  # noqa: E731
    with_vst, guessed = METHODS["bm3d"](noisy, noise), METHODS["bm3d"](noisy, None)
    assert with_vst.shape == clean.shape and 0 <= with_vst.min() and with_vst.max() <= 255
    assert psnr_db(unit(with_vst), unit(clean)) > psnr_db(unit(guessed), unit(clean)) + 0.3
    assert abs(with_vst.mean() - clean.mean()) < 1.0  # the unbiased inverse keeps the brightness


def test_theinverse_anscombe_undoes_the_transform_of_the_mean_count():
    counts = np.array([0.0, 1.0, 5.0, 30.0, 200.0])
    rng = np.random.default_rng(0)
    draws = rng.poisson(counts[:, None], size=(5, 200_000))
    mean_transformed = (2 * np.sqrt(draws + 3 / 8)).mean(axis=1)
    np.testing.assert_allclose(inverse_anscombe(mean_transformed), counts, atol=0.05)


def test_evaluation_images_are_whole_and_the_noise_is_reproducible(photo_folder):
    noise = GaussianNoise((25.0, 25.0))
    first = evaluation_images(str(photo_folder), noise, "all", seed=3, max_images=2)
    again = evaluation_images(str(photo_folder), noise, "all", seed=3)
    assert [name for name, _, _ in first] == ["img0.png", "img1.png"] and len(again) == 5
    assert first[0][1].shape == (3, 67, 75)  # the whole image, not a crop
    torch.testing.assert_close(first[1][1], again[1][1])
    with pytest.raises(N2NError, match="split 'val' holds no images"):
        evaluation_images(str(photo_folder), noise, "val", val_fraction=0.0)


def test_a_model_s_tta_row_is_its_self_ensemble(noisy_photo):
    from noise2noise.denoise import denoise_tensor

    torch.manual_seed(0)  # some random inits clip every output to 0, where the 8 views agree
    net = build_model("unet", 3, 3, 8, 2).eval()
    rows, table, outputs = compare_methods(noisy_photo, build_methods(["n2n", "n2n+tta"], {"n2n": net}))
    assert [r["method"] for r in table] == ["n2n", "n2n+tta"]
    noisy = noisy_photo[0][1].unsqueeze(0)
    torch.testing.assert_close(outputs["n2n+tta"][0], denoise_tensor(net, noisy, tta=True)[0])
    assert not torch.allclose(outputs["n2n+tta"][0], outputs["n2n"][0])
    with pytest.raises(N2NError, match=r"unknown method 'nlm\+tta'.*a model's name\+tta"):
        build_methods(["nlm+tta"], {"n2n": net})


def test_models_are_evaluated_on_images_with_their_own_channels():
    grey, rgb = (build_model("unet", in_channels=c, out_channels=c, width=8, depth=2) for c in (1, 3))
    assert channels_for({}) == "auto" and channels_for({"a": grey}) == "grey" and channels_for({"a": rgb}) == "rgb"
    with pytest.raises(N2NError, match="the models take 1 and 3-channel images"):
        channels_for({"a": grey, "b": rgb})


def test_a_baseline_refuses_images_too_small_for_it_before_any_method_runs():
    """bm3d crashed the process on an 8×8 image (a segfault) after the others had run."""
    triples = [("big.png", torch.rand(3, 30, 30) * 255, torch.rand(3, 30, 30) * 255),
               ("small.png", torch.rand(3, 8, 8) * 255, torch.rand(3, 8, 8) * 255)]
    ran = []
    methods = {"noisy": lambda noisy, noise=None: ran.append(1) or noisy, "bm3d": METHODS["bm3d"]}
    with pytest.raises(N2NError, match=r"small.png: too small for bm3d, which needs images of at least 9×9 px"):
        compare_methods(triples, methods)
    assert ran == []


@pytest.mark.parametrize("shape", [(3, 1, 1), (1, 1, 7), (1, 7, 1), (3, 2, 9)])
def test_nlm_keeps_the_shape_of_images_one_pixel_wide(shape):
    noisy = torch.rand(shape) * 255
    assert METHODS["nlm"](noisy).shape == noisy.shape  # scikit-image dropped the axes of length 1


def test_a_tensor_file_whose_clean_images_look_noisy_is_warned_about(tmp_path, capsys):
    from noise2noise.errors import say_once

    say_once.cache_clear()
    clean = torch.from_numpy(skimage.data.astronaut()[:256, :256]).permute(2, 0, 1)[None].float()
    first, second = ((clean + 25 * torch.randn(clean.shape)).clamp(0, 255) for _ in range(2))
    torch.save((first, second), tmp_path / "train_data.pkl")  # two noisy shots, as the course's training file
    torch.save((first, clean), tmp_path / "val_data.pkl")
    evaluation_images(str(tmp_path / "val_data.pkl"))
    assert "looks noisy too" not in capsys.readouterr().err
    evaluation_images(str(tmp_path / "train_data.pkl"))
    assert "its second tensor, taken as the clean images, looks noisy too" in capsys.readouterr().err
