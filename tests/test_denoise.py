"""Denoising users' files: tiling with blending, bit depths, modes, folders, errors."""

import re
import types

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from noise2noise import checkpoint, denoise
from noise2noise.augment import SYMMETRIES, symmetry, undo_symmetry
from noise2noise.cli import main
from noise2noise.config import TrainConfig
from noise2noise.denoise import (
    MIN_MATCH_PIXELS,
    denoise_array,
    denoise_files,
    denoise_image,
    denoise_tensor,
    match_means,
    tile_geometry,
    tile_starts,
)
from noise2noise.errors import N2NError
from noise2noise.metrics import psnr_db
from noise2noise.unet import UNet, pad_to_multiple

# measured in test_tiled_equals_whole_image_inference: at most 0.071 grey levels (of 255)
# with a 32 px overlap for the trained depth-2 U-Net (docs/denoise.md)
TILING_TOLERANCE = 0.5


@pytest.fixture(scope="module")
def trained_unet(photo) -> UNet:
    """A narrow U-Net trained for a few Noise2Noise steps on crops of a real photo."""
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    net = UNet(3, 3, width=8, depth=2).to(memory_format=torch.channels_last)
    optimiser = torch.optim.Adam(net.parameters(), lr=3e-3)
    clean = torch.from_numpy(photo).permute(2, 0, 1).float() / 255
    for _ in range(30):
        corners = torch.randint(0, 128 - 24, (8, 2), generator=generator)
        crops = torch.stack([clean[:, y : y + 24, x : x + 24] for y, x in corners.tolist()])
        noisy_input, noisy_target = ((crops + 0.1 * torch.randn(crops.shape, generator=generator))
                                     .contiguous(memory_format=torch.channels_last)  # ~8× faster on CPU
                                     for _ in range(2))
        loss = (net(noisy_input) - noisy_target).pow(2).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return net.eval()


def identity(channels: int) -> nn.Conv2d:
    """A 1×1 convolution that returns its input: pixel-exact round trips."""
    conv = nn.Conv2d(channels, channels, 1)
    with torch.no_grad():
        conv.weight.copy_(torch.eye(channels)[:, :, None, None])
        conv.bias.zero_()
    return conv


def noisy_photo(photo: np.ndarray, seed: int = 0) -> torch.Tensor:
    clean = torch.from_numpy(photo).permute(2, 0, 1).float()
    noise = 25 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(seed))
    return (clean + noise).clamp(0, 255).round()


@pytest.mark.parametrize("size,tile,stride", [(128, 64, 32), (100, 64, 48), (64, 64, 32), (20, 64, 32), (65, 8, 4)])
def test_tiles_cover_the_side_and_end_at_the_border(size, tile, stride):
    starts = tile_starts(size, tile, stride)
    covered = np.zeros(size, bool)
    for start in starts:
        covered[start : start + tile] = True
    assert covered.all() and starts[0] == 0 and starts[-1] == max(size - tile, 0)
    assert all(0 < b - a <= stride for a, b in zip(starts, starts[1:]))


@pytest.mark.parametrize("height,width", [(45, 61), (37, 31), (16, 70)])
def test_blending_is_exact_for_a_pixelwise_model(height, width):
    # a 1×1 convolution sees no tile border, so any error here is in the blend weights
    torch.manual_seed(0)
    model = nn.Conv2d(3, 3, 1).eval()
    image = torch.rand(3, height, width) * 255
    tiled = denoise_image(model, image, tile_px=16, overlap_px=8, batch_size=3)
    assert tiled.shape == (3, height, width)
    assert torch.allclose(tiled, denoise_tensor(model, image[None])[0], atol=1e-3)


def test_tiled_equals_whole_image_inference(trained_unet, photo):
    noisy = noisy_photo(photo)[:, :117, :101]  # odd sides: the padding path too
    whole = denoise_tensor(trained_unet, noisy[None])[0]
    tiled = denoise_image(trained_unet, noisy, tile_px=64, overlap_px=32, batch_size=2)
    seamed = denoise_image(trained_unet, noisy, tile_px=64, overlap_px=0, batch_size=2)
    clean = torch.from_numpy(photo[:117, :101]).permute(2, 0, 1).float()
    assert psnr_db(whole / 255, clean / 255) > psnr_db(noisy / 255, clean / 255) + 1  # the net denoises
    assert (tiled - whole).abs().max() < TILING_TOLERANCE
    # without overlap the tile borders show: the blending is what makes tiles agree
    assert (seamed - whole).abs().max() > 20 * (tiled - whole).abs().max()


class CountingBatches(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net, self.in_channels, self.multiple_px = net, net.in_channels, net.multiple_px
        self.batch_sizes: list[int] = []

    def forward(self, x):
        self.batch_sizes.append(x.shape[0])
        return self.net(x)


def test_tiles_are_batched_and_small_images_are_not_tiled(trained_unet):
    model = CountingBatches(trained_unet)
    denoise_image(model, torch.rand(3, 84, 74) * 255, tile_px=48, overlap_px=16, batch_size=4)
    assert model.batch_sizes == [4, 4, 1]  # 3×3 tiles of the 100×90 image with its reflected border
    model.batch_sizes.clear()
    denoise_image(model, torch.rand(3, 48, 40) * 255, tile_px=48, overlap_px=16, batch_size=4)
    assert model.batch_sizes == [1]


@pytest.mark.parametrize("name,channels", [("grey16.png", 1), ("rgb16.tif", 3), ("rgba16.tiff", 4), ("grey16.tif", 1)])
def test_16_bit_files_keep_all_their_bits(tmp_path, name, channels):
    rng = np.random.default_rng(0)
    shape = (37, 45) if channels == 1 else (37, 45, channels)
    image = rng.integers(0, 65536, shape, dtype=np.uint16)
    iio.imwrite(tmp_path / name, image)
    model = identity(1 if channels == 1 else 3)
    [written] = denoise_files(model, [tmp_path / name], tmp_path / "out", tile_px=16, overlap_px=8, progress=False)
    restored = iio.imread(written)
    assert written == tmp_path / "out" / name
    assert restored.dtype == np.uint16 and restored.shape == image.shape
    assert np.abs(restored.astype(int) - image).max() <= 1  # not squeezed through 8 bits


def test_folders_are_mirrored_recursively_in_every_format(tmp_path, trained_unet, photo):
    source = tmp_path / "shoot"
    (source / "day1" / "raw").mkdir(parents=True)
    noisy = noisy_photo(photo).permute(1, 2, 0).numpy().astype(np.uint8)
    iio.imwrite(source / "a.png", noisy[:70, :90])
    iio.imwrite(source / "day1" / "b.jpg", noisy[:50, :61], quality=95)
    iio.imwrite(source / "day1" / "raw" / "c.tif", noisy[:33, :40, 0])
    alpha = np.arange(1600, dtype=np.uint8).reshape(40, 40)
    iio.imwrite(source / "day1" / "d.png", np.dstack([noisy[:40, :40], alpha]))
    written = denoise_files(trained_unet, [source], tmp_path / "clean", tile_px=32, overlap_px=16, progress=False)
    expected = {"a.png": (70, 90, 3), "day1/b.jpg": (50, 61, 3), "day1/raw/c.tif": (33, 40), "day1/d.png": (40, 40, 4)}
    assert sorted(str(p.relative_to(tmp_path / "clean")) for p in written) == sorted(expected)
    for name, shape in expected.items():
        before, after = iio.imread(source / name), iio.imread(tmp_path / "clean" / name)
        assert after.shape == shape and after.dtype == np.uint8
        assert np.abs(after.astype(float) - before).mean() > 1  # it was denoised, not copied
    assert (iio.imread(tmp_path / "clean" / "day1" / "d.png")[:, :, 3] == alpha).all()


def test_several_inputs_go_under_their_names_and_clashes_are_refused(tmp_path, photo):
    for folder in ("x", "y"):
        (tmp_path / folder).mkdir()
        iio.imwrite(tmp_path / folder / "same.png", photo[:20, :20])
    model = identity(3)
    written = denoise_files(model, [tmp_path / "x", tmp_path / "y" / "same.png"], tmp_path / "out", progress=False)
    assert written == [tmp_path / "out" / "x" / "same.png", tmp_path / "out" / "same.png"]
    with pytest.raises(N2NError, match="would both be written to"):
        denoise_files(model, [tmp_path / "x" / "same.png", tmp_path / "y" / "same.png"], tmp_path / "o2")
    with pytest.raises(N2NError, match="would overwrite this input"):
        denoise_files(model, [tmp_path / "x"], tmp_path / "x")


def test_16_bit_colour_png_is_refused_not_silently_truncated(tmp_path):
    import struct
    import zlib

    # written by hand: Pillow (behind imageio) cannot write 16-bit RGB PNG, and reads it as 8-bit
    rows = b"".join(b"\x00" + np.full((2, 3), 1000, ">u2").tobytes() for _ in range(2))
    chunk = lambda kind, data: (struct.pack(">I", len(data)) + kind + data
                                + struct.pack(">I", zlib.crc32(kind + data)))
    header = struct.pack(">IIBBBBB", 2, 2, 16, 2, 0, 0, 0)  # 2×2, 16-bit, RGB
    (tmp_path / "deep.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                                        + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    with pytest.raises(N2NError, match=r"deep.png: 16-bit PNG with colour or alpha is not supported"):
        denoise_files(identity(3), [tmp_path / "deep.png"], tmp_path / "out", progress=False)
    image16 = np.full((8, 8, 3), 1000, np.uint16)
    iio.imwrite(tmp_path / "deep.tif", image16)
    with pytest.raises(N2NError, match=r"out.png: PNG cannot hold this uint16 RGB image; write it as TIFF"):
        denoise_files(identity(3), [tmp_path / "deep.tif"], tmp_path / "out.png", progress=False)


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def save_unet(path, in_channels: int):
    torch.manual_seed(0)
    net = UNet(in_channels, in_channels, width=8, depth=2)
    return checkpoint.save(path, net, TrainConfig(width=8, depth=2))


def test_cli_denoises_a_large_image_in_tiles(tmp_path, capsys, photo):
    iio.imwrite(tmp_path / "big.png", photo[:100, :90])
    code, out, err = run(capsys, "denoise", tmp_path / "big.png", "-o", tmp_path / "big_clean.png", "--model",
                         save_unet(tmp_path / "rgb.pt", 3), "--tile", "48", "--overlap", "16", "--batch-size", "2",
                         "--device", "cpu", "--quiet")
    assert code == 0, err
    assert "wrote 1 image(s)" in out and iio.imread(tmp_path / "big_clean.png").shape == (100, 90, 3)


def test_cli_errors_name_the_file_and_the_problem(tmp_path, capsys, photo):
    iio.imwrite(tmp_path / "colour.png", photo[:20, :20])
    code, _, err = run(capsys, "denoise", tmp_path / "colour.png", "-o", tmp_path / "out", "--model",
                       save_unet(tmp_path / "grey.pt", 1), "--quiet")
    line = one_error_line(err)
    assert code == 2 and "colour.png: this model was trained on greyscale images" in line
    code, _, err = run(capsys, "denoise", tmp_path / "colour.png", "-o", tmp_path / "out", "--model",
                       save_unet(tmp_path / "rgb.pt", 3), "--tile", "16", "--overlap", "16", "--quiet")
    assert code == 2 and "tile 16 px with overlap 16 px leaves no stride" in one_error_line(err) \
        and "use a tile of 20 px or more, or a smaller overlap" in err  # depth 2: a multiple of 4


def test_a_model_for_other_channels_is_refused_naming_the_file(tmp_path, photo):
    iio.imwrite(tmp_path / "rgb.png", photo[:20, :20])
    with pytest.raises(N2NError, match=r"rgb.png: the model maps 4 to 3 channels; image files need a greyscale"):
        denoise_files(UNet(4, 3, width=8, depth=1), [tmp_path / "rgb.png"], tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_a_flat_image_stays_flat_up_to_its_edges(trained_unet):
    """The reflected border keeps the convolutions' zero padding off real pixels: the outer
    pixels of a flat image come out like its interior."""
    flat = torch.full((1, 3, 40, 52), 128.0)
    out = denoise_tensor(trained_unet, flat)[0]
    bare = denoise_tensor(trained_unet, flat, border_px=0)[0]
    edge = lambda x: torch.cat([x[:, :2].flatten(), x[:, -2:].flatten(), x[..., :2].flatten(), x[..., -2:].flatten()])
    interior = (out[:, 10:-10, 10:-10] - 128).abs().max()
    assert (edge(out) - 128).abs().max() <= interior + 2.0
    assert (edge(bare) - 128).abs().max() > (edge(out) - 128).abs().max()  # the border is what fixes it


def test_tta_of_a_convolution_is_the_convolution_with_its_kernel_averaged_over_the_8_symmetries():
    # conv_K(g·x) = g·conv_{g⁻¹K}(x), so the mean of the 8 views turned back is conv with the
    # symmetrised kernel: an independent check of the views and of their inverses
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 3, 3, padding=1, bias=False)
    with torch.no_grad():  # positive weights summing to 1: outputs stay in 0..1, clamping never acts
        conv.weight.copy_(torch.rand(3, 3, 3, 3))
        conv.weight.div_(conv.weight.sum(dim=(1, 2, 3), keepdim=True))
    image = torch.rand(2, 3, 37, 31) * 255  # not square: odd quarter turns make it 31×37
    symmetric = torch.stack([symmetry(conv.weight, k) for k in range(SYMMETRIES)]).mean(0)
    expected = torch.nn.functional.conv2d(image / 255, symmetric, padding=1) * 255
    ensemble = denoise_tensor(conv, image, tta=True, border_px=0)  # zero padding, as conv2d above
    assert ensemble.shape == (2, 3, 37, 31)
    torch.testing.assert_close(ensemble, expected.detach(), atol=1e-3, rtol=1e-5)
    assert (ensemble - denoise_tensor(conv, image, border_px=0)).abs().mean() > 0.1  # not the plain output


def test_tta_is_the_mean_of_the_8_views_of_the_padded_image_each_turned_back():
    torch.manual_seed(0)
    model = UNet(3, 3, width=8, depth=2).eval()
    image = torch.rand(2, 3, 37, 31) * 255
    padded = pad_to_multiple(image, model.multiple_px)  # once, on the image's own bottom and right
    views = [undo_symmetry(denoise_tensor(model, symmetry(padded, k), border_px=0), k)[..., :37, :31]
             for k in range(SYMMETRIES)]
    ensemble = denoise_tensor(model, image, batch_size=1, tta=True, border_px=0)
    assert ensemble.shape == (2, 3, 37, 31)
    torch.testing.assert_close(ensemble, torch.stack(views).mean(0), atol=1e-3, rtol=1e-5)
    torch.testing.assert_close(views[0], denoise_tensor(model, image, border_px=0))  # view 0 is plain inference
    assert (ensemble - views[0]).abs().mean() > 0.1


def test_the_8_symmetries_are_distinct_and_undone_exactly():
    square, tall = torch.rand(1, 1, 5, 5), torch.rand(2, 3, 7, 4)
    assert len({tuple(symmetry(square, k).flatten().tolist()) for k in range(SYMMETRIES)}) == SYMMETRIES
    for k in range(SYMMETRIES):
        assert symmetry(tall, k).shape[-2:] == ((4, 7) if k % 2 else (7, 4))
        assert torch.equal(undo_symmetry(symmetry(tall, k), k), tall)


def test_tta_in_tiles_matches_tta_on_the_whole_image(trained_unet, photo):
    noisy = noisy_photo(photo)[:, :117, :101]
    whole = denoise_tensor(trained_unet, noisy[None], tta=True)[0]
    tiled = denoise_image(trained_unet, noisy, tile_px=64, overlap_px=32, batch_size=2, tta=True)
    assert tiled.shape == noisy.shape and (tiled - whole).abs().max() < TILING_TOLERANCE
    clean = torch.from_numpy(photo[:117, :101]).permute(2, 0, 1).float()
    plain = denoise_tensor(trained_unet, noisy[None])[0]
    assert psnr_db(whole / 255, clean / 255) > psnr_db(plain / 255, clean / 255)  # averaging 8 views helps


def test_cli_denoise_with_tta_keeps_the_size(tmp_path, capsys, photo):
    iio.imwrite(tmp_path / "odd.png", photo[:37, :31])
    code, out, err = run(capsys, "denoise", tmp_path / "odd.png", "-o", tmp_path / "odd_clean.png", "--model",
                         save_unet(tmp_path / "rgb.pt", 3), "--tta", "--device", "cpu", "--quiet")
    assert code == 0, err
    assert iio.imread(tmp_path / "odd_clean.png").shape == (37, 31, 3)


def test_precision_auto_is_exact_float32_on_the_cpu_and_bf16_is_close(trained_unet, photo):
    noisy = noisy_photo(photo)[None]
    fp32 = denoise_tensor(trained_unet, noisy, precision="fp32")
    assert torch.equal(denoise_tensor(trained_unet, noisy), fp32)  # 'auto' on a CPU: float32, exactly
    bf16 = denoise_tensor(trained_unet, noisy, precision="bf16")
    difference = (bf16 - fp32).abs()
    # bf16 keeps 8 bits of mantissa: the output moves by a fraction of a grey level, not more
    assert 0 < difference.mean() < 1.0 and difference.max() < 8
    with pytest.raises(N2NError, match="precision 'fp16' is not known; choose from auto, fp32, bf16"):
        denoise_tensor(trained_unet, noisy, precision="fp16")


def test_skip_existing_finishes_an_interrupted_folder_run_and_keeps_what_it_wrote(tmp_path, capsys, photo):
    for name in ("a", "b", "c"):
        iio.imwrite(tmp_path / f"{name}.png", photo[:40, :36])
    model = save_unet(tmp_path / "rgb.pt", 3)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "b.png").write_bytes(b"written before the interrupt")  # kept as it is
    argv = ["denoise", tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.png", "-o", tmp_path / "out",
            "--model", model, "--quiet"]
    code, _, err = run(capsys, *argv)
    assert code == 2 and "b.png: already exists, as do 0 more of the 3 outputs; pass --skip-existing" in err
    code, out, err = run(capsys, *argv, "--skip-existing")
    assert code == 0 and "wrote 2 image(s)" in out, err
    assert (tmp_path / "out" / "b.png").read_bytes() == b"written before the interrupt"
    assert iio.imread(tmp_path / "out" / "c.png").shape == (40, 36, 3)
    code, out, err = run(capsys, *argv, "--skip-existing")
    assert code == 0 and "nothing to denoise" in out, err
    (tmp_path / "out" / "c.png").unlink()
    (tmp_path / "out" / "c.png").symlink_to(tmp_path / "missing.png")  # a link to a file that is gone
    code, out, err = run(capsys, *argv, "--skip-existing")
    assert code == 0 and "nothing to denoise" in out, err  # kept as it is, not written through
    assert not (tmp_path / "missing.png").exists()
    (tmp_path / "out" / "c.png").unlink()
    (tmp_path / "out" / "c.png").mkdir()  # a folder where an image should be is not an output kept
    code, out, err = run(capsys, *argv, "--skip-existing")
    assert code == 2 and "c.png: is a folder; give a file name" in err and "wrote" not in out, err


@pytest.mark.parametrize("flat", [np.full((40, 36), 1000, np.uint16), np.full((40, 36), 0.5, np.float32)])
def test_a_constant_16_bit_or_float_image_through_a_network_told_sigma_stays_constant(tmp_path, capsys, flat):
    # its sigma is estimated on a 0..255 map of a zero range: it crashed dividing by that range
    iio.imwrite(tmp_path / "flat.tif", flat)
    code, _, err = run(capsys, "denoise", tmp_path / "flat.tif", "-o", tmp_path / "out.tif", "--model",
                       "gaussian-gray", "--device", "cpu")
    assert code == 0, err
    np.testing.assert_array_equal(iio.imread(tmp_path / "out.tif"), flat)


@pytest.mark.parametrize("native", [False, True])
def test_bf16_on_a_cpu_without_native_bf16_warns_once(monkeypatch, capsys, native):
    from noise2noise import devices, errors

    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: native)
    errors.say_once.cache_clear()
    for precision in ("bf16", "bf16", "auto", "fp32"):
        with devices.autocast(torch.device("cpu"), precision):
            pass
    err = capsys.readouterr().err
    assert err.count("warning: this CPU has no native bf16") == (0 if native else 1), err
    errors.say_once.cache_clear()


def test_cli_denoise_and_evaluate_take_a_precision(tmp_path, capsys, photo):
    iio.imwrite(tmp_path / "odd.png", photo[:37, :31])
    model = save_unet(tmp_path / "rgb.pt", 3)
    code, _, err = run(capsys, "denoise", tmp_path / "odd.png", "-o", tmp_path / "odd_clean.png", "--model", model,
                       "--precision", "bf16", "--device", "cpu", "--quiet")
    assert code == 0, err
    assert iio.imread(tmp_path / "odd_clean.png").shape == (37, 31, 3)
    code, out, err = run(capsys, "evaluate", "--model", model, "--data", tmp_path, "--precision", "bf16",
                         "--device", "cpu")
    assert code == 0 and "n2n" in out, err
    with pytest.raises(SystemExit) as exit_info:  # argparse's own one line and status 2
        run(capsys, "denoise", tmp_path / "odd.png", "-o", tmp_path / "x.png", "--model", model,
            "--precision", "half", "--quiet")
    assert exit_info.value.code == 2 and "invalid choice: 'half'" in one_error_line(capsys.readouterr().err)


@pytest.fixture(scope="module")
def told_unet() -> UNet:
    """An untrained narrow U-Net told sigma, whose output depends on the sigma plane."""
    torch.manual_seed(0)
    net = UNet(3, 3, width=8, depth=2, sigma_input=True).eval()
    with torch.no_grad():
        net.ENC_CONV0.weight[:, 3] += 2.0
    return net


def test_a_network_told_sigma_gets_the_given_sigma_or_one_estimated_per_image(told_unet, photo):
    from noise2noise.noise import estimate_sigma_255

    noisy = torch.stack([noisy_photo(photo, seed=0), noisy_photo(photo, seed=1) * 0.5])
    estimated = estimate_sigma_255(noisy)
    assert estimated[0] > 20 and estimated[1] < 15
    assert torch.equal(denoise_tensor(told_unet, noisy), denoise_tensor(told_unet, noisy, sigma_255=estimated))
    assert not torch.allclose(denoise_tensor(told_unet, noisy, sigma_255=5.0),
                              denoise_tensor(told_unet, noisy, sigma_255=50.0))
    blind = UNet(3, 3, width=8, depth=2).eval()  # a blind network ignores sigma
    assert torch.equal(denoise_tensor(blind, noisy, sigma_255=5.0), denoise_tensor(blind, noisy))


def test_denoising_builds_no_autograd_graph(told_unet):
    """Inference keeps no graph: the output does not require grad though the weights do."""
    assert all(p.requires_grad for p in told_unet.parameters())
    assert not denoise_tensor(told_unet, torch.full((2, 3, 16, 16), 128.0), sigma_255=25.0).requires_grad


@pytest.mark.parametrize("levels", [[5.0, 10.0], float("nan"), -1.0, [25.0, float("inf"), 5.0]])
def test_a_wrong_number_of_levels_or_a_bad_level_gives_one_line(told_unet, levels):
    with pytest.raises(N2NError, match=r"must be a finite sigma >= 0 in 0\.\.255 units \(one, or one per image: 3\)"):
        denoise_tensor(told_unet, torch.full((3, 3, 16, 16), 128.0), sigma_255=levels)


def test_tiles_of_a_network_told_sigma_share_the_whole_image_s_estimate(told_unet, photo):
    from noise2noise.noise import estimate_sigma_255

    noisy = noisy_photo(photo)
    noisy[:, :64] = noisy[:, :64] * 0.5 + 64  # half the noise in the top half: tiles' own estimates would differ
    whole = float(estimate_sigma_255(noisy[None])[0])
    tiled = denoise_image(told_unet, noisy, tile_px=48, overlap_px=16)
    assert torch.equal(tiled, denoise_image(told_unet, noisy, tile_px=48, overlap_px=16, sigma_255=whole))
    assert not torch.equal(tiled, denoise_image(told_unet, noisy, tile_px=48, overlap_px=16, sigma_255=whole / 2))


def test_a_16_bit_image_s_noise_level_is_in_its_own_units(told_unet, photo):
    from noise2noise.denoise import denoise_array

    photo = photo.copy()
    photo[0, 0], photo[0, 1] = 0, 255  # the 8-bit range, so the 16-bit span maps onto it exactly
    wide = photo.astype(np.uint16) * 200 + 1000  # a span of 255 * 200
    given = denoise_array(told_unet, wide, tile_px=None, noise_level=25.0 * 200)
    same = denoise_array(told_unet, photo, tile_px=None, noise_level=25.0)
    assert np.abs(given.astype(np.float64) / 200 - 5 - same).max() <= 1.0  # rounding of the two formats


def test_an_estimated_noise_level_is_told_in_the_image_s_own_units(told_unet, photo):
    from noise2noise.denoise import denoise_array

    noisy = noisy_photo(photo).permute(1, 2, 0).numpy().astype(np.uint8)
    noisy[0, 0], noisy[0, 1] = 0, 255  # the 8-bit range, so the 16-bit span maps onto it exactly
    told_8, told_16 = [], []
    plain = denoise_array(told_unet, noisy, tile_px=None, on_estimate=told_8.append)
    denoise_array(told_unet, np.stack([noisy, noisy]).astype(np.uint16) * 200, tile_px=None,
                  on_estimate=told_16.append)
    assert len(told_8) == 1 and 20 < told_8[0] < 30 and told_16 == pytest.approx([200 * told_8[0]] * 2, rel=1e-4)
    assert np.array_equal(plain, denoise_array(told_unet, noisy, tile_px=None, noise_level=told_8[0]))
    given = []
    denoise_array(told_unet, noisy, tile_px=None, noise_level=25.0, on_estimate=given.append)
    assert given == []  # nothing estimated when the level is given


def test_cli_denoise_says_the_levels_it_estimated_unless_quiet(tmp_path, capsys, told_unet, photo):
    path = checkpoint.save(tmp_path / "told.pt", told_unet, TrainConfig(width=8, depth=2, sigma_input=True))
    folder = tmp_path / "in"
    folder.mkdir()
    for seed in (0, 1):
        image = noisy_photo(photo, seed=seed).permute(1, 2, 0).numpy().astype(np.uint8)
        iio.imwrite(folder / f"{seed}.png", image[:40, :30])
    code, _, err = run(capsys, "denoise", folder / "0.png", "-o", tmp_path / "one.png", "--model", path,
                       "--device", "cpu")
    assert code == 0 and re.search(r"0\.png: noise level estimated as sigma \d+(\.\d+)? \(in the image's own units\); "
                                   "give --noise-level to set it", err), err
    code, _, err = run(capsys, "denoise", folder, "-o", tmp_path / "all", "--model", path, "--device", "cpu")
    assert code == 0 and "noise levels estimated for 2 images in 2 file(s): sigma " in err, err
    for options in (["--quiet"], ["--noise-level", "20"]):
        code, _, err = run(capsys, "denoise", folder, "-o", tmp_path / f"q{len(options)}", "--model", path,
                           "--device", "cpu", *options)
        assert code == 0 and "estimated" not in err, err


def test_cli_denoise_takes_a_noise_level_and_refuses_a_bad_one(tmp_path, capsys, told_unet, photo):
    path = checkpoint.save(tmp_path / "told.pt", told_unet, TrainConfig(width=8, depth=2, sigma_input=True))
    iio.imwrite(tmp_path / "in.png", photo[:40, :30])
    outputs = {}
    for level in ("5", "50"):
        code, _, err = run(capsys, "denoise", tmp_path / "in.png", "-o", tmp_path / f"out{level}.png", "--model",
                           path, "--noise-level", level, "--device", "cpu", "--quiet")
        assert code == 0, err
        outputs[level] = iio.imread(tmp_path / f"out{level}.png")
    assert outputs["5"].shape == (40, 30, 3) and not np.array_equal(outputs["5"], outputs["50"])
    code, _, err = run(capsys, "denoise", tmp_path / "in.png", "-o", tmp_path / "bad.png", "--model", path,
                       "--noise-level", "nan", "--quiet")
    assert code == 2 and "noise level nan must be a finite sigma >= 0" in one_error_line(err)
    assert not (tmp_path / "bad.png").exists()


def retina_coloured(side: int = 256, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(clean, noisy) N×C×H×W 0..255: a gentle gradient around the retina crop's mean colour,
    red near white, with Gaussian noise of sigma 25 clipped as an 8-bit file clips it."""
    ramp = torch.linspace(-8, 8, side)
    clean = torch.tensor([224.0, 88.0, 61.0])[:, None, None] + ramp[None, :, None] + ramp[None, None, :]
    noisy = (clean + 25 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(seed))).round().clamp(0, 255)
    return clean[None], noisy[None]


def test_match_means_removes_a_channel_bias_near_white_and_leaves_an_unbiased_output():
    clean, noisy = retina_coloured()
    biased = clean + torch.tensor([2.7, 0.0, -1.2])[None, :, None, None]  # L64b's red, stage 7's blue
    matched = match_means(biased, noisy, torch.tensor([25.0]))
    assert (matched - clean).mean((0, 2, 3)).abs().max() < 0.3
    assert (match_means(clean, noisy, torch.tensor([25.0])) - clean).mean((0, 2, 3)).abs().max() < 0.3
    # without the clipping model the red channel's noisy mean, lowered by clipping at 255, misleads it
    unclipped = match_means(biased, noisy, torch.tensor([25.0]), clipped=False)
    assert (unclipped - clean)[:, 0].mean() < -0.8


def test_match_means_is_shrunk_and_bounded_and_skips_small_images():
    clean, noisy = retina_coloured()
    far = (clean + 40.0).clamp(0, 255)  # a gap far beyond what a denoiser leaves: at most sigma/2 is moved
    assert ((match_means(far, noisy, torch.tensor([25.0])) - far).abs() <= 12.5 + 1e-4).all()  # both steps together
    clean = torch.full((1, 3, 256, 256), 128.0)  # noise of sigma 200 makes the noisy mean uncertain: shrunk
    noisy = clean + 200 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(1))
    raw_gap = (noisy - clean).mean((2, 3)).abs()
    moved = (match_means(clean, noisy, torch.tensor([200.0]), clipped=False, window_px=None) - clean).mean((2, 3))
    assert (moved.abs() < raw_gap).all()
    small = clean[..., :128, :128] + 5.0
    assert 128 * 128 < MIN_MATCH_PIXELS and torch.equal(match_means(small, small - 5.0, torch.tensor([25.0])), small)


def test_match_means_removes_a_bias_that_varies_across_the_image_in_bounded_memory(monkeypatch):
    clean, noisy = retina_coloured(side=320)
    bias = torch.zeros_like(clean)
    bias[:, 0, :, :160], bias[:, 0, :, 160:] = 3.0, -3.0  # red too bright on the left, too dark on the right
    global_only = match_means(clean + bias, noisy, torch.tensor([25.0]), window_px=None)
    matched = match_means(clean + bias, noisy, torch.tensor([25.0]))
    far = torch.cat([torch.arange(0, 64), torch.arange(256, 320)])  # columns two windows from the step
    assert (global_only - clean)[:, 0][..., far].abs().mean() > 2.5  # one constant: the mean was already right
    assert (matched - clean)[:, 0][..., far].mean(1).abs().max() < 0.8
    assert (matched - clean)[:, 1:].abs().max() < 1.0  # green and blue stay where they were
    monkeypatch.setattr(denoise, "_ROWS_AT_ONCE", 8)  # rows matched a few at a time: the same result
    torch.testing.assert_close(match_means(clean + bias, noisy, torch.tensor([25.0])), matched)


def test_only_networks_trained_for_gaussian_noise_match_means_and_tiles_match_as_one_image(tmp_path, trained_unet,
                                                                                          photo):
    flags = {noise: checkpoint.load_model(checkpoint.save(tmp_path / f"{noise}.pt", trained_unet,
                                                          TrainConfig(width=8, depth=2, noise=noise)))[0].mean_match
             for noise in ("gaussian", "gaussian-correlated", "poisson", "impulse")}
    assert flags == {"gaussian": True, "gaussian-correlated": True, "poisson": False, "impulse": False}
    network = checkpoint.load_model(tmp_path / "gaussian.pt")[0]
    noisy = torch.nn.functional.interpolate(noisy_photo(photo)[None], size=(264, 250))[0].round()  # 66k pixels
    raw = denoise_tensor(network, noisy[None], mean_match=None)[0]
    whole = denoise_tensor(network, noisy[None])[0]
    assert (whole - raw).abs().max() > 0.05  # the narrow network leaves its channels biased: matching moves them
    shift = whole - raw  # one constant a channel, then a slowly varying one (LOCAL_MATCH_PX)
    assert (shift[:, 1:] - shift[:, :-1]).abs().mean() < 0.05 * shift.abs().mean()
    tiled = denoise_image(network, noisy, tile_px=128, overlap_px=32, batch_size=2)
    assert (tiled - whole).abs().max() < TILING_TOLERANCE
    poisson = checkpoint.load_model(tmp_path / "poisson.pt")[0]
    assert torch.equal(denoise_tensor(poisson, noisy[None]), denoise_tensor(poisson, noisy[None], mean_match=None))
    with pytest.raises(N2NError, match="mean_match 'yes': choose from clipped, unclipped or None"):
        denoise_tensor(network, noisy[None], mean_match="yes")


def test_cli_denoise_matches_means_unless_told_not_to(tmp_path, capsys, trained_unet, photo):
    model = checkpoint.save(tmp_path / "gaussian.pt", trained_unet, TrainConfig(width=8, depth=2))
    big = np.ascontiguousarray(np.tile(photo, (2, 3, 1))[:256, :270])  # over MIN_MATCH_PIXELS
    iio.imwrite(tmp_path / "in.png", big)
    for flag, name in (([], "matched.png"), (["--no-mean-match"], "raw.png")):
        code, _, err = run(capsys, "denoise", tmp_path / "in.png", "-o", tmp_path / name, "--model", model,
                           "--quiet", *flag)
        assert code == 0, err
    matched, raw = iio.imread(tmp_path / "matched.png").astype(float), iio.imread(tmp_path / "raw.png").astype(float)
    network = checkpoint.load_model(model)[0]
    expected = denoise_image(network, torch.from_numpy(big).permute(2, 0, 1).float(), mean_match=None)
    assert np.abs(raw - expected.permute(1, 2, 0).round().numpy()).max() <= 1
    assert np.abs((matched - raw).mean((0, 1))).max() > 0.05


@settings(max_examples=300, deadline=None, derandomize=True)
@given(tile_px=st.integers(1, 1100), overlap_px=st.integers(0, 600), depth=st.integers(1, 5))
def test_tiles_overlap_at_least_as_asked_or_the_geometry_is_refused(tile_px, overlap_px, depth):
    model = types.SimpleNamespace(multiple_px=2**depth)
    try:
        tile, stride = tile_geometry(model, tile_px, overlap_px)
    except N2NError:
        return
    # --tile 63 --overlap 31 once gave a 32 px tile at a 32 px stride: no overlap, seams every tile
    assert tile - stride >= overlap_px and tile % 2**depth == 0 and stride % 2**depth == 0 and stride > 0


def test_a_tile_that_rounds_below_its_overlap_is_refused_naming_the_rounding():
    with pytest.raises(N2NError, match=r"tile 63 px \(32 px once rounded down to a multiple of 32\) with overlap 31"):
        tile_geometry(types.SimpleNamespace(multiple_px=32), 63, 31)
    assert tile_geometry(types.SimpleNamespace(multiple_px=32), 80, 16) == (64, 32)  # 32 px of overlap, not 0


def test_denoise_array_takes_big_endian_and_read_only_arrays_as_they_are(recwarn):
    from noise2noise.denoise import denoise_array

    grey = np.random.default_rng(0).integers(0, 65536, (9, 7)).astype(np.uint16)
    big_endian = grey.astype(">u2")  # a 16-bit PGM or a raw buffer: it was refused as "pixel type >u2"
    big_endian.flags.writeable = False  # np.asarray of a Pillow image: torch warned over two lines
    out = denoise_array(identity(1), big_endian, tile_px=None)
    assert out.dtype == np.uint16 and np.abs(out.astype(int) - grey).max() <= 257
    assert not [w for w in recwarn if "not writable" in str(w.message)]


def test_denoise_array_takes_a_2d_grey_image_and_refuses_shapes_and_values_it_cannot_give_back():
    from noise2noise.denoise import denoise_array

    grey = np.random.default_rng(0).integers(0, 256, (9, 7)).astype(np.uint8)
    out = denoise_array(identity(1), grey, tile_px=None)
    assert out.shape == (9, 7) and out.dtype == np.uint8 and np.abs(out.astype(int) - grey).max() <= 1
    for bad, message in ((np.zeros((4, 4, 5), np.uint8), "got shape \\(4, 4, 5\\)"),  # was cut to 3 channels
                         (np.zeros((0, 4, 3), np.uint8), "got shape \\(0, 4, 3\\)"),
                         (np.zeros((1, 2, 4, 4, 3), np.uint8), "got shape"),
                         (np.zeros((4, 4, 3), np.int16), "pixel type int16 is not taken"),
                         (np.full((4, 4, 3), np.nan, np.float32), "NaN or infinite"),
                         (np.array([[[-1e308] * 3, [1e308] * 3]]), "too far apart")):  # was all NaN out
        with pytest.raises(N2NError, match=message):
            denoise_array(identity(3), bad, tile_px=None)


@pytest.mark.parametrize("call, message", [
    (lambda m, x: denoise_image(m, x[0], tile_px=16, overlap_px=0, batch_size=-1),
     "batch_size=-1 must be a whole number >= 1"),  # the tile loop ran no batch: the image came back all NaN
    (lambda m, x: denoise_array(m, x[0].permute(1, 2, 0).numpy(), tile_px=16, overlap_px=0, batch_size=0),
     "batch_size=0 must be a whole number >= 1"),
    (lambda m, x: denoise_tensor(m, x, border_px=-1), "border_px=-1 must be a whole number >= 0"),  # gave 1×1
    (lambda m, x: denoise_tensor(m, x.clone().fill_(float("nan"))), "contains NaN or infinite values"),
    (lambda m, x: denoise_tensor(m, x * 4 + 600), "are far outside 0..255"),
    (lambda m, x: denoise_tensor(m, x > 128), "expected uint8 or float pixels, got torch.bool"),
    (lambda m, x: denoise_tensor(m, x[:0]), "shape (0, 3, 24, 20) holds no pixels; give at least one image"),
    (lambda m, x: denoise_tensor(m, x.numpy()), "expected a torch tensor, got ndarray (NumPy images: use"),
    (lambda m, x: denoise_tensor("gaussian", x), "model: expected a network"),
    (lambda m, x: denoise_tensor(m, x, device="tpu"), "device 'tpu' is not known"),
    (lambda m, x: denoise_image(m, x.numpy()[0]), "expected one C×H×W torch tensor, got ndarray"),
    (lambda m, x: denoise_array(m, x.numpy()[0]), "got shape (3, 24, 20); a stack of grey images (Z×Y×X, as "
                                                  "tifffile reads one) goes in as array[..., None], a C×H×W colour "
                                                  "image (PyTorch's order) as array.transpose(1, 2, 0)"),
    (lambda m, x: denoise_array(m, np.zeros((6, 24, 20), np.uint16)), "got shape (6, 24, 20); a stack of grey "
                                                                      "images (Z×Y×X) goes in as array[..., None]"),
])
def test_the_python_denoising_functions_refuse_what_they_cannot_use_in_one_line(call, message):
    model = UNet(in_channels=3, width=8, depth=2)
    with pytest.raises(N2NError, match=re.escape(message)):
        call(model, torch.rand(1, 3, 24, 20) * 255)


def test_torch_s_own_device_names_are_taken():
    # cpu:0 and torch.device("cpu", 0) are what tensor.device and user code print
    model = UNet(in_channels=3, width=8, depth=2)
    images = torch.rand(1, 3, 16, 16) * 255
    for device in ("cpu:0", torch.device("cpu", 0)):
        assert denoise_tensor(model, images, device=device).shape == images.shape


def test_yes_no_arguments_must_be_true_or_false_and_one_path_is_one_input(tmp_path, trained_unet, photo):
    """overwrite='no' is true to Python: it replaced an existing file (and a finished run, in
    run_training); a single path was iterated character by character ('/' walked the disk)."""
    from noise2noise import run_training

    iio.imwrite(tmp_path / "in.png", photo[:40, :40])
    (tmp_path / "out.png").write_bytes(b"mine")
    x = torch.from_numpy(photo[:40, :40]).permute(2, 0, 1)[None].float()
    calls = {
        "denoise_files": lambda: denoise_files(trained_unet, [tmp_path / "in.png"], tmp_path / "out.png",
                                               overwrite="no", progress=False),
        "denoise_tensor": lambda: denoise_tensor(trained_unet, x, tta="no"),
        "denoise_image": lambda: denoise_image(trained_unet, x[0], tta="yes"),
        "denoise_array": lambda: denoise_array(trained_unet, photo[:40, :40], mean_match="no"),
        "run_training": lambda: run_training(TrainConfig(), tmp_path / "run", overwrite="no"),
    }
    for caller, call in calls.items():
        with pytest.raises(N2NError, match=rf"^{caller}: \w+='(no|yes)' must be True or False$"):
            call()
    assert (tmp_path / "out.png").read_bytes() == b"mine" and not (tmp_path / "run").exists()
    assert denoise_tensor(trained_unet, x, tta=np.bool_(False)).shape == x.shape  # NumPy's booleans are fine
    written = denoise_files(trained_unet, str(tmp_path / "in.png"), tmp_path / "one.png", progress=False)
    assert written == [tmp_path / "one.png"] and iio.imread(written[0]).shape == (40, 40, 3)


def test_a_sigma_beyond_the_whole_range_is_refused_by_the_tensor_functions():
    """denoise_tensor(sigma_255=1e6) returned a black image (denoise_array and the CLI refused it)."""
    told_sigma, _ = checkpoint.load_model("gaussian-gray")
    x = torch.full((1, 1, 24, 24), 127.0)
    for call in (lambda: denoise_tensor(told_sigma, x, sigma_255=1000),
                 lambda: denoise_image(told_sigma, x[0], sigma_255=1e6)):
        with pytest.raises(N2NError, match=r"finite sigma >= 0 in 0..255 units, at most 255 \(the whole range\)"):
            call()
    assert denoise_tensor(told_sigma, x, sigma_255=255).shape == x.shape


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without CUDA")
def test_device_0_means_the_first_gpu_as_in_torch(trained_unet):
    """device=0 was read as 'not given' and ran on the model's device without a word."""
    with pytest.raises(N2NError, match="device 'cuda:0' requested but no CUDA GPU is available"):
        denoise_tensor(trained_unet, torch.full((1, 3, 24, 24), 127.0), device=0)


def test_an_unused_noise_level_is_refused_whatever_shape_it_is_given_in(tmp_path, trained_unet, photo):
    """A one-element array made the refusal itself fail (TypeError formatting it)."""
    iio.imwrite(tmp_path / "in.png", photo[:40, :40])
    for level in (25, [25.0], np.array([25.0]), torch.tensor(25.0)):
        with pytest.raises(N2NError, match=r"^noise level 25 would not be used: the network is not told sigma"):
            denoise_files(trained_unet, [tmp_path / "in.png"], tmp_path / "o.png", noise_level=level, progress=False)
