"""Decoding images as a viewer shows them (modes, EXIF orientation, CMYK, stacks, float),
and writing them back: property tests over modes, dtypes, shapes and orientations."""

import functools
import importlib.util
import io
import warnings

import imageio.v3 as iio
import numpy as np
import pytest
import skimage.data
import tifffile
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageOps
from test_denoise import identity
from torch import nn

from noise2noise.config import TrainConfig
from noise2noise.data import FolderPairs, Generators, build_training_data, load_pairs
from noise2noise.denoise import denoise_array, denoise_files
from noise2noise.errors import N2NError
from noise2noise.images import (
    ImageStack,
    image_size_px,
    list_images,
    load_folder,
    read_image,
    read_stack,
    write_image,
)

FAST = settings(max_examples=40, deadline=None, derandomize=True)

# EXIF orientation -> how a viewer turns the stored H×W×C pixels upright (EXIF 2.3, tag 0x0112),
# written with numpy so that it checks Pillow's exif_transpose and our TIFF path independently
UPRIGHT = {1: lambda a: a, 2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
           5: lambda a: a.swapaxes(0, 1), 6: lambda a: np.rot90(a, -1), 7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],
           8: lambda a: np.rot90(a, 1)}


class Recording(nn.Module):
    """An identity model that counts its calls: proves that no denoising work started."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.net, self.in_channels, self.calls = identity(channels), channels, 0

    def forward(self, x):
        self.calls += 1
        return self.net(x)


def cmyk_to_rgb(cmyk: np.ndarray) -> np.ndarray:
    """The uncalibrated CMYK -> RGB a viewer uses without a colour profile: R = (1-C)(1-K)."""
    ink = cmyk.astype(np.float64) / 255
    return np.round(255 * (1 - ink[..., :3]) * (1 - ink[..., 3:])).astype(np.uint8)


# ---- Pillow modes ---------------------------------------------------------------------------

# mode -> (formats that store it losslessly, the viewer's H×W×C pixels from the source array)
PALETTE = np.random.default_rng(1).integers(0, 256, (256, 3), dtype=np.uint8)
MODES = {
    "1": (("png", "tif", "bmp"), lambda a: (a > 0).astype(np.uint8)[..., None] * 255),
    "L": (("png", "tif", "bmp"), lambda a: a[..., None]),
    "LA": (("png", "tif"), lambda a: a),
    "P": (("png", "gif", "tif"), lambda a: PALETTE[a]),
    "P+transparency": (("png", "gif"), lambda a: np.dstack([PALETTE[a], np.where(a == 7, 0, 255)]).astype(np.uint8)),
    "RGB": (("png", "tif", "bmp"), lambda a: a),
    "RGBA": (("png", "tif"), lambda a: a),
    "I;16": (("png", "tif"), lambda a: a[..., None]),
    "I;16B": (("png", "tif"), lambda a: a.astype(np.uint16)[..., None]),
    "I": (("tif",), lambda a: a.astype(np.uint16)[..., None]),
    "F": (("tif",), lambda a: a[..., None]),
    "CMYK": (("tif",), cmyk_to_rgb),  # TIFF CMYK is stored as is (JPEG's inverted Adobe CMYK below)
}


def source_array(mode: str, height: int, width: int, rng) -> np.ndarray:
    shapes = {"LA": 2, "RGB": 3, "RGBA": 4, "CMYK": 4}
    shape = (height, width, shapes[mode]) if mode in shapes else (height, width)
    if mode == "1":
        return rng.integers(0, 2, shape).astype(bool)
    if mode.startswith("I;16"):
        return rng.integers(0, 65536, shape, dtype=np.uint16).astype(">u2" if mode == "I;16B" else np.uint16)
    if mode == "I":
        return rng.integers(-2, 70000, shape).astype(np.int32)
    if mode == "F":
        return (rng.standard_normal(shape) * 1e3).astype(np.float32)
    return rng.integers(0, 256, shape, dtype=np.uint8)


def pillow_image(mode: str, array: np.ndarray) -> Image.Image:
    if mode.startswith("P"):
        image = Image.fromarray(array, "L").convert("P")
        image.putpalette(PALETTE.tobytes())
        image.putdata(array.ravel().tolist())
        return image
    return Image.fromarray(array, mode) if mode in ("LA", "RGB", "RGBA", "CMYK") else Image.fromarray(array)


@FAST
@given(mode=st.sampled_from(sorted(MODES)), fmt_index=st.integers(0, 2), height=st.integers(1, 9),
       width=st.integers(1, 9), orientation=st.integers(1, 8), seed=st.integers(0, 2**16))
def test_read_image_returns_the_viewer_s_pixels_for_every_pillow_mode(tmp_path_factory, mode, fmt_index, height,
                                                                      width, orientation, seed):
    formats, viewer = MODES[mode]
    fmt = formats[fmt_index % len(formats)]
    array = source_array(mode, height, width, np.random.default_rng(seed))
    path = tmp_path_factory.mktemp("modes") / f"image.{fmt}"
    options = {"transparency": 7} if mode == "P+transparency" else {}
    if fmt in ("png", "tif"):  # the formats whose EXIF orientation Pillow writes and viewers honour
        exif = Image.Exif()
        exif[0x0112] = orientation
        options["exif"] = exif
    else:
        orientation = 1
    pillow_image(mode, array).save(path, **options)
    if mode == "I" and (array.min() < 0 or array.max() > 65535):
        with pytest.raises(N2NError, match=r"image.tif: int32 pixels from -?\d+ to \d+: integer images are read as"):
            read_image(path)
        return
    if fmt == "tif" and mode in ("P", "CMYK") and orientation != 1:  # read by Pillow, which mis-turns them
        with pytest.raises(N2NError, match=rf"image.tif: TIFF of \w+ pixels with an orientation tag \({orientation}"):
            read_image(path)
        return
    expected = UPRIGHT[orientation](viewer(array))
    decoded = read_image(path)
    assert decoded.dtype == expected.dtype and decoded.shape == expected.shape
    np.testing.assert_array_equal(decoded, expected)
    if mode in ("L", "LA", "RGB", "RGBA", "P", "1") and fmt == "png":  # Pillow's own viewer reference agrees
        # (not on TIFF: Pillow 13 applies TIFF orientations 5-8 wrongly, e.g. 6 as a mirror)
        reference = ImageOps.exif_transpose(Image.open(path))
        reference = reference.convert({"1": "L", "P": "RGB"}.get(reference.mode, reference.mode))
        np.testing.assert_array_equal(decoded, np.asarray(reference).reshape(decoded.shape))


def test_other_pillow_modes_are_converted_or_refused_in_one_line(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    Image.fromarray(rgb).convert("RGBX").save(tmp_path / "padded.tif")  # 4th sample is padding, not alpha
    np.testing.assert_array_equal(read_image(tmp_path / "padded.tif"), rgb)
    Image.fromarray(rgb).convert("LAB").save(tmp_path / "lab.tif")
    with pytest.raises(N2NError, match=r"lab.tif: Pillow image mode LAB is not supported; save it as 8/16-bit"):
        read_image(tmp_path / "lab.tif")


def test_images_past_pillow_s_pixel_limit_decode_quietly_and_past_twice_it_are_refused_with_a_way_out(
        tmp_path, photo, monkeypatch):
    import warnings

    Image.fromarray(photo[:40, :50]).save(tmp_path / "big.png")  # 2,000 pixels
    tiff_bytes = io.BytesIO()
    tifffile.imwrite(tiff_bytes, photo[:40, :50])
    (tmp_path / "big.tif").write_bytes(tiff_bytes.getvalue())
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1500)  # warned from 1,500, refused from 3,000
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.array_equal(read_image(tmp_path / "big.png"), photo[:40, :50])
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 900)
    with pytest.raises(N2NError, match=r"big.png: too large for Pillow to decode safely \(Image size \(2000 pixels\) "
                                       r"exceeds limit of 1800 pixels.*\); if the image is genuine, save it as TIFF"):
        read_image(tmp_path / "big.png")
    assert np.array_equal(read_image(tmp_path / "big.tif"), photo[:40, :50])  # the way out works


def test_phone_photo_jpeg_comes_out_upright_and_is_denoised_upright(tmp_path, photo):
    exif = Image.Exif()
    exif[0x0112] = 6  # camera held upright: pixels stored rotated 90° anticlockwise
    Image.fromarray(photo[:40, :70]).save(tmp_path / "phone.jpg", exif=exif, quality=95)
    upright = np.asarray(ImageOps.exif_transpose(Image.open(tmp_path / "phone.jpg")))
    assert read_image(tmp_path / "phone.jpg").shape == (70, 40, 3)
    np.testing.assert_array_equal(read_image(tmp_path / "phone.jpg"), upright)
    [written] = denoise_files(identity(3), [tmp_path / "phone.jpg"], tmp_path / "clean.png", progress=False)
    np.testing.assert_array_equal(np.asarray(Image.open(written)), upright)


# ---- CMYK and YCCK JPEGs --------------------------------------------------------------------

def test_adobe_cmyk_jpeg_becomes_rgb_not_inverted_rgba(tmp_path, photo):
    rng = np.random.default_rng(0)
    cmyk = np.dstack([255 - photo[:24, :33], rng.integers(0, 80, (24, 33), dtype=np.uint8)])
    Image.fromarray(cmyk, "CMYK").save(tmp_path / "print.jpg", quality=100, subsampling=0)
    raw = (tmp_path / "print.jpg").read_bytes()
    assert b"Adobe" in raw  # Photoshop's convention: APP14 marker, inks stored inverted
    stored = np.asarray(Image.open(io.BytesIO(raw)))  # what reading the file as 4 channels used to give
    decoded = read_image(tmp_path / "print.jpg")
    assert decoded.shape == (24, 33, 3) and decoded.dtype == np.uint8
    assert np.abs(decoded.astype(int) - cmyk_to_rgb(cmyk)).max() <= 4  # JPEG quality 100 rounding
    assert np.abs(stored[..., :3].astype(int) - cmyk_to_rgb(cmyk)).mean() > 50


def test_training_and_export_course_see_cmyk_jpegs_in_rgb(tmp_path, photo):
    (tmp_path / "photos").mkdir()
    cmyk = np.dstack([255 - photo[:40, :44], np.full((40, 44), 30, np.uint8)])
    Image.fromarray(cmyk, "CMYK").save(tmp_path / "photos" / "print.jpg", quality=100, subsampling=0)
    [(name, image)] = load_folder(tmp_path / "photos")  # what training and data export-course learn from
    assert name == "print.jpg" and image.shape == (3, 40, 44)
    assert np.abs(image.permute(1, 2, 0).numpy().astype(int) - cmyk_to_rgb(cmyk)).max() <= 4


def _jpeg_ycck(path, cmyk: np.ndarray) -> None:
    """A YCCK JPEG (Adobe transform 2), built by hand: Pillow cannot write YCCK. libjpeg
    stores 255 - ink, turns the three colour components into YCbCr and keeps K."""
    stored = 255.0 - cmyk.astype(np.float64)  # Adobe-inverted samples
    rgb = 255.0 - stored[..., :3]
    y = rgb @ [0.299, 0.587, 0.114]
    cb = rgb @ [-0.168736, -0.331264, 0.5] + 128
    cr = rgb @ [0.5, -0.418688, -0.081312] + 128
    components = np.clip(np.round(np.dstack([y, cb, cr, stored[..., 3]])), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(255 - components, "CMYK").save(buffer, "JPEG", quality=100, subsampling=0)  # Pillow inverts
    data = bytearray(buffer.getvalue())
    app14 = data.index(b"Adobe")
    assert data[app14 + 11] == 0  # transform byte: 0 = CMYK as stored, 2 = YCCK
    data[app14 + 11] = 2
    path.write_bytes(bytes(data))


def test_ycck_jpeg_becomes_rgb(tmp_path, photo):
    cmyk = np.dstack([photo[:20, :30], np.full((20, 30), 40, np.uint8)])
    _jpeg_ycck(tmp_path / "ycck.jpg", cmyk)
    assert Image.open(tmp_path / "ycck.jpg").info["adobe_transform"] == 2
    decoded = read_image(tmp_path / "ycck.jpg")
    assert decoded.shape == (20, 30, 3)
    assert np.abs(decoded.astype(int) - cmyk_to_rgb(cmyk)).max() <= 6


# ---- multi-frame files ----------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["gif", "png", "webp"])
def test_animated_images_are_refused_in_one_line(tmp_path, fmt):
    frames = [Image.fromarray(np.full((8, 9, 3), 40 * i, np.uint8)) for i in range(3)]
    frames[0].save(tmp_path / f"anim.{fmt}", save_all=True, append_images=frames[1:], duration=100, lossless=True)
    with pytest.raises(N2NError, match=rf"anim.{fmt}: \w+ with 3 frames .*save the frames as a multi-page TIFF"):
        read_stack(tmp_path / f"anim.{fmt}")


def test_multi_page_tiff_from_pillow_is_a_stack(tmp_path):
    pages = [np.full((6, 7), 30 * i, np.uint8) for i in range(4)]
    Image.fromarray(pages[0]).save(tmp_path / "pages.tif", save_all=True,
                                   append_images=[Image.fromarray(p) for p in pages[1:]])
    stack = read_stack(tmp_path / "pages.tif")
    assert stack.planes.shape == (4, 6, 7, 1) and stack.lead_shape == (4,)
    np.testing.assert_array_equal(stack.planes[..., 0], np.stack(pages))
    with pytest.raises(N2NError, match=r"pages.tif: a uint8 greyscale stack of 4 images \(IYX\)"):
        read_image(tmp_path / "pages.tif")


# ---- TIFF stacks and float images (tifffile) ------------------------------------------------

STACK_DTYPES = ["uint8", "uint16", "float16", "float32", "float64", "int16", "int32"]


@FAST
@given(dtype=st.sampled_from(STACK_DTYPES), depth=st.integers(1, 3), height=st.integers(1, 8),
       width=st.integers(1, 8), samples=st.sampled_from([None, 2, 3, 4]), imagej=st.booleans(),
       seed=st.integers(0, 2**16))
def test_tiff_stacks_read_as_their_images_and_write_back_identically(tmp_path_factory, dtype, depth, height, width,
                                                                     samples, imagej, seed):
    rng = np.random.default_rng(seed)
    shape = (depth, height, width) + ((samples,) if samples else ())
    if dtype.startswith("float"):
        data = (rng.standard_normal(shape) * 100).astype(dtype)
    else:
        info = np.iinfo(dtype)
        data = rng.integers(max(info.min, -3), min(info.max, 70000), shape, endpoint=True).astype(dtype)
    imagej = imagej and dtype in ("uint8", "uint16", "float32") and samples in (None, 3 if dtype == "uint8" else 0)
    path = tmp_path_factory.mktemp("stacks") / "stack.tif"
    options = {"photometric": "rgb" if samples in (3, 4) else "minisblack"}
    if samples in (2, 4):
        options.update(planarconfig="contig", extrasamples=["unassalpha"])
    if samples == 2:
        options["planarconfig"] = "contig"
    axes = "ZYX" + ("S" if samples else "")
    tifffile.imwrite(path, data, imagej=imagej, metadata={"axes": axes}, **options)
    if data.dtype.kind in "iu" and data.dtype.itemsize > 1 and (data.min() < 0 or data.max() > 65535):
        with pytest.raises(N2NError, match=rf"stack.tif: {dtype} pixels from -?\d+ to \d+: integer images are read"):
            read_stack(path)
        return
    stack = read_stack(path)
    expected = data.reshape(depth, height, width, samples or 1)
    assert stack.planes.dtype == (np.uint16 if dtype in ("int16", "int32") else np.dtype(dtype))
    np.testing.assert_array_equal(stack.planes, expected)
    assert stack.axes == axes or (depth == 1 and stack.axes == axes[1:])  # tifffile squeezes a single Z
    write_image(path.with_name("copy.tif"), stack)
    with tifffile.TiffFile(path.with_name("copy.tif")) as copy, tifffile.TiffFile(path) as original:
        assert copy.series[0].axes == original.series[0].axes and copy.is_imagej == original.is_imagej
        np.testing.assert_array_equal(copy.series[0].asarray(), original.series[0].asarray().astype(stack.planes.dtype))


def test_a_folder_names_the_image_files_it_skips(tmp_path, capsys):
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "b.webp")
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "c.NEF").write_bytes(b"II*")
    (tmp_path / "notes.txt").write_text("not an image, not named")
    assert load_folder(tmp_path) and [p.name for p in list_images(tmp_path)] == ["a.png"]
    err = capsys.readouterr().err
    assert "skipped 2 image file(s) in other formats (b.webp, raw/c.NEF)" in err and "notes.txt" not in err


def test_an_lzw_tiff_is_read_whole_or_refused_with_how_to_read_it(tmp_path):
    if importlib.util.find_spec("imagecodecs"):
        pytest.skip("imagecodecs is installed: tifffile reads LZW itself")
    grey = (np.arange(30 * 40).reshape(30, 40) * 50).astype(np.uint16)
    Image.fromarray(grey).save(tmp_path / "grey16.tif", compression="tiff_lzw")  # Pillow reads 16-bit grey whole
    np.testing.assert_array_equal(read_stack(tmp_path / "grey16.tif").planes[0, ..., 0], grey)
    pages = [Image.fromarray(np.full((20, 20), v, np.uint8)) for v in (10, 20, 30)]
    pages[0].save(tmp_path / "pages.tif", save_all=True, append_images=pages[1:], compression="tiff_lzw")
    with pytest.raises(N2NError, match="pages.tif: LZW-compressed TIFF of 3 pages, which needs the imagecodecs "
                                       "package to be read whole: pip install imagecodecs"):
        read_stack(tmp_path / "pages.tif")  # Pillow would read its first page alone


def test_jpeg_is_written_at_high_quality(tmp_path):
    photo = skimage.data.astronaut()[:256, :256]
    write_image(tmp_path / "out.jpg", photo)
    error = iio.imread(tmp_path / "out.jpg").astype(float) - photo
    assert 10 * np.log10(255**2 / (error**2).mean()) > 38  # Pillow's default quality 75 gave 34.7 dB here


def test_a_folder_skips_hidden_files_and_says_so_once(tmp_path, capsys):
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a.png")
    (tmp_path / "._a.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")  # macOS metadata: not a PNG
    (tmp_path / ".ipynb_checkpoints").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / ".ipynb_checkpoints" / "a-checkpoint.png")
    (tmp_path / ".a.png.k2x9.tmp.png").write_bytes(b"")  # a killed write's temporary file
    assert [p.name for p in list_images(tmp_path)] == ["a.png"] and len(load_folder(tmp_path)) == 1
    err = capsys.readouterr().err
    hidden = "._a.png, .a.png.k2x9.tmp.png, .ipynb_checkpoints/a-checkpoint.png"
    assert err.count(f"skipped 3 hidden file(s) ({hidden})") == 1
    (tmp_path / "a.png").unlink()
    with pytest.raises(N2NError, match="no images found .* it holds 3 hidden file"):
        list_images(tmp_path)


@pytest.mark.parametrize("metadata", [{}, {"metadata": None}], ids=["shaped", "bare-pages"])
def test_a_channels_last_tiff_without_axes_is_refused_not_read_as_strips(tmp_path, metadata):
    # tifffile.imwrite (and imageio) store a numpy 40x50x2 array as 40 pages of 50x2 px, with axes QYX
    # (shaped) or IYX (no metadata); read so, n2n denoised 40 strips and wrote a wrong image with exit 0
    image = np.random.default_rng(0).integers(0, 255, (40, 50, 2), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "two.tif", image, **metadata)
    with pytest.raises(N2NError, match=r"two.tif: names no axes, so it reads as 40 images of 50x2 px; if its last "
                                       r"axis holds 2 channels, save it with its axes"):
        read_stack(tmp_path / "two.tif")
    tifffile.imwrite(tmp_path / "named.tif", image, metadata={"axes": "YXC"})  # the way out the message gives
    stack = read_stack(tmp_path / "named.tif")
    assert stack.axes == "YXC" and stack.planes.shape == (2, 40, 50, 1)
    np.testing.assert_array_equal(stack.planes[1, ..., 0], image[..., 1])
    tifffile.imwrite(tmp_path / "slices.tif", image.transpose(2, 0, 1).copy())  # 2 slices of 40x50: still read
    assert read_stack(tmp_path / "slices.tif").planes.shape == (2, 40, 50, 1)


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "bool"])
def test_min_is_white_tiff_is_shown_as_viewers_show_it(tmp_path, dtype):
    ink = np.random.default_rng(0).integers(0, 2 if dtype == "bool" else 200, (2, 5, 6)).astype(dtype)
    tifffile.imwrite(tmp_path / "scan.tif", ink, photometric="miniswhite", metadata={"axes": "ZYX"})
    white = 255 if dtype == "bool" else np.iinfo(dtype).max
    expected = white - ink.astype(np.uint8 if dtype == "bool" else dtype) * (255 if dtype == "bool" else 1)
    np.testing.assert_array_equal(read_stack(tmp_path / "scan.tif").planes[..., 0], expected)


def test_a_folder_of_float_stacks_gives_training_pairs_in_0_1(tmp_path, photo):
    (tmp_path / "clean").mkdir()
    for i in range(3):
        volume = photo[:, i * 40 : i * 40 + 40, i].astype(np.float32).reshape(2, 64, 40) * 1e-3 - 0.05
        tifffile.imwrite(tmp_path / "clean" / f"v{i}.tif", volume, imagej=True, metadata={"axes": "ZYX"})
    cfg = TrainConfig(data=str(tmp_path / "clean"), crop_px=32, pairs_per_epoch=8, batch_size=8, val_patches=4,
                      val_fraction=0.3)
    source, (val_noisy, val_clean, _) = build_training_data(cfg)
    assert len(source.images) == 4 and source.channels == 1  # 2 of 3 files (one held out), 2 slices each
    noisy_input = next(source.batches(8, Generators.seeded(0, torch.device("cpu")))).noisy_input
    assert noisy_input.shape == (8, 1, 32, 32) and noisy_input.dtype == torch.float32
    assert val_clean.min() >= 0 and val_clean.max() <= 255 and val_clean.max() > 200  # each slice's own range


def test_an_imagej_hyperstack_is_denoised_slice_by_slice_keeping_shape_dtype_axes_and_metadata(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.integers(100, 4000, (3, 2, 13, 11), dtype=np.uint16)  # T, C, Y, X: a 12-bit camera
    tifffile.imwrite(tmp_path / "cells.tif", data, imagej=True, resolution=(2.0, 2.0),
                     metadata={"axes": "TCYX", "spacing": 0.5, "unit": "um", "finterval": 3.0})
    model = Recording(1)
    [written] = denoise_files(model, [tmp_path / "cells.tif"], tmp_path / "out", progress=False)
    assert model.calls == 6  # one 2-D image at a time
    with tifffile.TiffFile(written) as tif:
        assert tif.is_imagej and tif.series[0].axes == "TCYX"
        out = tif.series[0].asarray()
        assert out.shape == data.shape and out.dtype == np.uint16
        assert tif.imagej_metadata["unit"] == "um" and tif.imagej_metadata["finterval"] == 3.0
        assert tif.imagej_metadata["spacing"] == 0.5 and tif.pages[0].resolution == (2.0, 2.0)
    assert np.abs(out.astype(int) - data).max() <= 1  # identity network: each slice mapped back exactly


@FAST
@given(dtype=st.sampled_from(["uint8", "uint16", "float16", "float32"]), channels=st.sampled_from([1, 2, 3, 4]),
       height=st.integers(1, 12), width=st.integers(1, 12), seed=st.integers(0, 2**16))
def test_denoise_round_trips_shape_dtype_range_and_alpha(dtype, channels, height, width, seed):
    rng = np.random.default_rng(seed)
    shape = (height, width, channels)
    if dtype.startswith("float"):
        image = (rng.standard_normal(shape) * 50 - 7).astype(dtype)
    else:
        image = rng.integers(0, np.iinfo(dtype).max, shape, endpoint=True).astype(dtype)
    result = denoise_array(identity(3 if channels >= 3 else 1), image, tile_px=8, overlap_px=4)
    assert result.shape == image.shape and result.dtype == image.dtype
    colour = slice(0, 3 if channels >= 3 else 1)
    if channels in (2, 4):
        np.testing.assert_array_equal(result[..., -1], image[..., -1])
    lo, hi = image[..., colour].min(), image[..., colour].max()
    assert lo <= result[..., colour].min() and result[..., colour].max() <= hi  # the image's own range
    tolerance = {"uint8": 0, "uint16": 1, "float16": 1e-3 * (hi - lo) + 0.1, "float32": 1e-5 * (hi - lo)}[dtype]
    assert np.abs(result.astype(np.float64) - image.astype(np.float64)).max() <= tolerance


def test_a_float32_image_denoises_to_float32_in_its_own_range(tmp_path, photo):
    rng = np.random.default_rng(0)
    clean = photo[:37, :31, 1].astype(np.float32) / 255 * 0.02 - 0.005  # e.g. ΔF/F, far from 0..255
    noisy = clean + rng.normal(0, 0.002, clean.shape).astype(np.float32)
    tifffile.imwrite(tmp_path / "dff.tif", noisy)
    blur = nn.Conv2d(1, 1, 3, padding=1, padding_mode="replicate", bias=False)
    with torch.no_grad():
        blur.weight.fill_(1 / 9)
    blur.in_channels = 1
    [written] = denoise_files(blur, [tmp_path / "dff.tif"], tmp_path / "out", progress=False)
    out = tifffile.imread(written)
    assert out.dtype == np.float32 and out.shape == noisy.shape
    assert noisy.min() <= out.min() and out.max() <= noisy.max()
    assert np.abs(out - clean).mean() < 0.7 * np.abs(noisy - clean).mean()  # denoised, in the data's own units


def test_a_constant_float_image_stays_constant(tmp_path):
    tifffile.imwrite(tmp_path / "flat.tif", np.full((9, 10), 3.25, np.float32))
    model = Recording(1)
    model.net.bias.data.fill_(0.3)  # a model that would shift everything
    [written] = denoise_files(model, [tmp_path / "flat.tif"], tmp_path / "out", progress=False)
    np.testing.assert_array_equal(tifffile.imread(written), np.full((9, 10), 3.25, np.float32))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_pixels_are_refused_in_one_line(tmp_path, bad):
    image = np.zeros((2, 6, 5), np.float32)
    image[1, 4, 3] = bad
    tifffile.imwrite(tmp_path / "bad.tif", image, photometric="minisblack", metadata={"axes": "ZYX"})
    with pytest.raises(N2NError, match=r"bad.tif: 1 pixel value\(s\) are NaN or infinite \(the first at S=1, Y=4, "
                                       r"X=3, C=0\); replace them") as error:
        read_stack(tmp_path / "bad.tif")
    assert "\n" not in str(error.value)


# ---- output formats are checked before any work ---------------------------------------------

@pytest.mark.parametrize("source,target,message", [
    ("float.tif", "out.png", "out.png: PNG cannot hold this float32 greyscale image; write it as TIFF"),
    ("deep.tif", "out.jpg", "out.jpg: JPEG cannot hold this uint16 greyscale image; write it as TIFF"),
    ("alpha.png", "out.jpg", "out.jpg: JPEG cannot hold this uint8 RGBA image; write it as TIFF"),
    ("alpha.png", "out.bmp", "out.bmp: BMP cannot hold this uint8 RGBA image"),
    ("stack.tif", "out.png", "out.png: PNG cannot hold a uint8 greyscale stack of 3 images (ZYX); write it as TIFF"),
])
def test_an_output_format_that_cannot_hold_the_image_is_refused_before_denoising(tmp_path, source, target,
                                                                                  message):
    tifffile.imwrite(tmp_path / "float.tif", np.ones((8, 8), np.float32))
    tifffile.imwrite(tmp_path / "deep.tif", np.full((8, 8), 1000, np.uint16))
    tifffile.imwrite(tmp_path / "stack.tif", np.ones((3, 8, 8), np.uint8), photometric="minisblack",
                     metadata={"axes": "ZYX"})
    Image.fromarray(np.full((8, 8, 4), 9, np.uint8), "RGBA").save(tmp_path / "alpha.png")
    model = Recording(3)
    with pytest.raises(N2NError, match=message.replace("(", r"\(").replace(")", r"\)")):
        denoise_files(model, [tmp_path / source], tmp_path / target, progress=False)
    assert model.calls == 0 and not (tmp_path / target).exists()


def test_a_bad_file_in_a_folder_stops_denoising_before_anything_is_written(tmp_path, photo):
    (tmp_path / "in").mkdir()
    Image.fromarray(photo[:20, :20]).save(tmp_path / "in" / "a.png")
    (tmp_path / "in" / "b.png").write_bytes(b"not a picture")
    model = Recording(3)
    with pytest.raises(N2NError, match="b.png: not a readable image"):
        denoise_files(model, [tmp_path / "in"], tmp_path / "out", progress=False)
    assert model.calls == 0 and not (tmp_path / "out").exists()


# ---- stacks as training data ----------------------------------------------------------------

def test_a_folder_of_stacks_trains_on_every_slice(tmp_path, photo):
    (tmp_path / "clean").mkdir()
    tifffile.imwrite(tmp_path / "clean" / "z.tif", photo[:, :40, 0].reshape(4, 32, 40), imagej=True,
                     metadata={"axes": "ZYX"})
    Image.fromarray(photo[:33, :35, 0]).save(tmp_path / "clean" / "flat.png")
    images = load_folder(tmp_path / "clean")
    assert [name for name, _ in images] == ["flat.png", "z.tif[0]", "z.tif[1]", "z.tif[2]", "z.tif[3]"]
    assert all(image.shape[0] == 1 for _, image in images)
    assert torch.equal(images[2][1][0], torch.from_numpy(photo[32:64, :40, 0]))


def test_float32_and_float64_shots_of_a_pair_are_one_bit_depth(tmp_path, photo):
    # both go through one min..max map as they are: they were refused as of different bit depths
    clean = photo[:40, :48, 1].astype(np.float64) / 255
    tifffile.imwrite(tmp_path / "cells_1.tif", clean.astype(np.float32))
    tifffile.imwrite(tmp_path / "cells_2.tif", clean + 0.01)
    source = load_pairs(str(tmp_path), crop_px=32, pairs_per_epoch=8)
    first, second = source.images[0][:1], source.images[0][1:]
    torch.testing.assert_close(second - first, torch.full_like(first, 0.01 * 255 / (clean.max() + 0.01 - clean.min())),
                               rtol=0, atol=1e-3)


def test_paired_stacks_in_a_and_b_share_one_intensity_map_per_slice(tmp_path, photo):
    for side in "AB":
        (tmp_path / side).mkdir()
    rng = np.random.default_rng(0)
    clean = photo[:, :48, 1].astype(np.float32).reshape(2, 64, 48) * 10
    shots = [clean + rng.normal(0, 30, clean.shape).astype(np.float32) for _ in range(2)]
    shots[1][0, 0, 0] = clean.max() * 3  # one hot pixel in shot B: its span must not rescale shot B alone
    for side, shot in zip("AB", shots):
        tifffile.imwrite(tmp_path / side / "cells.tif", shot, imagej=True, metadata={"axes": "TYX"})
    source = load_pairs(str(tmp_path), crop_px=32, pairs_per_epoch=8)
    assert isinstance(source, FolderPairs) and len(source.images) == 2 and source.channels == 1
    both = source.images[0]  # shot A and shot B of slice 0 stacked on channels
    span = max(shots[0][0].max(), shots[1][0].max()) - min(shots[0][0].min(), shots[1][0].min())
    torch.testing.assert_close(both[1] - both[0], torch.from_numpy(shots[1][0] - shots[0][0]) * 255 / span,
                               rtol=1e-4, atol=1e-3)
    tifffile.imwrite(tmp_path / "B" / "cells.tif", shots[1][:1], imagej=True, metadata={"axes": "TYX"})
    with pytest.raises(N2NError, match=r"B/cells.tif: a stack of 1 images but its partner .*A/cells.tif holds 2"):
        load_pairs(str(tmp_path), crop_px=32, pairs_per_epoch=8)


def test_image_stack_of_one_image_round_trips_through_every_format(tmp_path, photo):
    for name, image in [("a.png", photo[:9, :7]), ("b.jpg", photo[:9, :7, 0]), ("c.bmp", photo[:5, :3]),
                        ("d.tif", photo[:4, :6].astype(np.float32) / 7)]:
        write_image(tmp_path / name, ImageStack.of(image if image.ndim == 3 else image[..., None]))
        decoded = read_image(tmp_path / name)
        assert decoded.shape[:2] == image.shape[:2] and decoded.dtype == image.dtype
        if name != "b.jpg":
            np.testing.assert_array_equal(decoded.reshape(image.shape), image)


@functools.cache  # one profile: its header holds the second it was made, so two calls can differ
def _srgb_profile(space: bytes = b"RGB ") -> bytes:
    from PIL import ImageCms

    profile = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    profile[16:20] = space  # the header's colour space: what the profile describes
    return bytes(profile)


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".tif"])
def test_a_phone_photo_keeps_its_colour_profile_camera_exif_and_dpi_when_denoised(tmp_path, suffix):
    exif = Image.Exif()
    exif[0x0112], exif[0x010F] = 6, "Canon"  # stored sideways, by this camera
    exif.get_ifd(0x8769)[0x829A] = (1, 100)  # exposure time, in the Exif sub-IFD
    exif.get_ifd(0x8769)[0xA002], exif.get_ifd(0x8769)[0xA003] = 40, 24  # PixelX/YDimension, as stored
    photo = skimage.data.astronaut()[:24, :40]
    Image.fromarray(photo).save(tmp_path / "photo.jpg", exif=exif.tobytes(), icc_profile=_srgb_profile(),
                                dpi=(300, 200))
    [written] = denoise_files(Recording(3), [tmp_path / "photo.jpg"], tmp_path / f"out{suffix}", progress=False)
    with Image.open(written) as out:
        assert out.size == (24, 40)  # upright
        assert out.info.get("icc_profile") == _srgb_profile()
        assert np.allclose(out.info["dpi"], (200, 300), atol=0.01)  # turned with the pixels
        if suffix != ".tif":  # tifffile writes no EXIF sub-IFD
            kept = out.getexif()
            assert kept[0x010F] == "Canon" and 0x0112 not in kept  # no orientation: the pixels are upright
            assert kept.get_ifd(0x8769)[0x829A] == (1, 100)
            assert (kept.get_ifd(0x8769)[0xA002], kept.get_ifd(0x8769)[0xA003]) == (24, 40)  # upright


def test_a_colour_profile_that_does_not_describe_the_output_pixels_is_dropped(tmp_path):
    rng = np.random.default_rng(0)
    cmyk = Image.fromarray(rng.integers(0, 256, (8, 8, 4), dtype=np.uint8), "CMYK")
    cmyk.save(tmp_path / "print.jpg", icc_profile=_srgb_profile(b"CMYK"))  # read as RGB: a CMYK profile is wrong
    grey = Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8))
    grey.save(tmp_path / "grey.tif", icc_profile=_srgb_profile())  # an RGB profile on grey pixels
    for name in ("print.jpg", "grey.tif"):
        assert "icc" in read_stack(tmp_path / name).meta
        write_image(tmp_path / f"out-{name}", read_stack(tmp_path / name))
        with Image.open(tmp_path / f"out-{name}") as out:
            assert "icc_profile" not in out.info


def test_a_premultiplied_alpha_tiff_is_read_straight_and_written_back_premultiplied(tmp_path):
    rng = np.random.default_rng(1)
    alpha = rng.integers(0, 256, (9, 7, 1), dtype=np.uint8)
    colour = rng.integers(0, 256, (9, 7, 3), dtype=np.uint8)
    stored = np.concatenate([np.round(colour * (alpha / 255.0)).astype(np.uint8), alpha], axis=-1)
    tifffile.imwrite(tmp_path / "sprite.tif", stored, photometric="rgb", extrasamples=["assocalpha"])
    straight = read_image(tmp_path / "sprite.tif")
    opaque_enough = alpha[..., 0] >= 64  # where 8-bit premultiplied colour keeps enough precision
    assert np.abs(straight[..., :3].astype(int) - colour)[opaque_enough].max() <= 2  # what viewers show
    [tif, png] = [denoise_files(Recording(3), [tmp_path / "sprite.tif"], tmp_path / f"out{suffix}", progress=False)[0]
                  for suffix in (".tif", ".png")]
    with tifffile.TiffFile(tif) as out:
        assert out.pages[0].extrasamples == (tifffile.EXTRASAMPLE.ASSOCALPHA,)
        assert np.abs(out.asarray().astype(int) - stored).max() <= 1
    assert np.abs(iio.imread(png).astype(int) - straight).max() <= 1  # PNG alpha is straight


@pytest.mark.parametrize("dtype", ["int16", "int32", "uint32"])
def test_integer_tiffs_come_back_in_their_own_pixel_type(tmp_path, dtype):
    data = np.random.default_rng(2).integers(0, 4000, (11, 13)).astype(dtype)
    tifffile.imwrite(tmp_path / "frame.tif", data)
    [written] = denoise_files(Recording(1), [tmp_path / "frame.tif"], tmp_path / "out", progress=False)
    out = tifffile.imread(written)
    assert out.dtype == np.dtype(dtype) and np.abs(out.astype(int) - data).max() <= 1


@pytest.mark.parametrize("kind", ["min-is-white", "premultiplied alpha"])
def test_a_wide_integer_tiff_that_its_conversion_takes_past_16_bits_is_refused_naming_the_stored_values(
        tmp_path, kind):
    if kind == "min-is-white":  # 0 is white: read as uint32's maximum minus the stored value
        tifffile.imwrite(tmp_path / "scan.tif", np.arange(100, dtype=np.uint32).reshape(10, 10),
                         photometric="miniswhite")
    else:  # colour 50 under alpha 100 of 2**32 - 1: straight colour near 2**31
        rgba = np.zeros((6, 8, 4), np.uint32)
        rgba[..., :3], rgba[..., 3] = 50, 100
        tifffile.imwrite(tmp_path / "scan.tif", rgba, photometric="rgb", extrasamples=["assocalpha"])
    stored = "0 to 99" if kind == "min-is-white" else "50 to 100"
    with pytest.raises(N2NError, match=rf"scan.tif: uint32 pixels stored from {stored} read as \d+ to \d+ "
                                       rf"\({kind}\), which do not fit 16 bits"):
        read_stack(tmp_path / "scan.tif")


def test_an_ome_stack_keeps_its_physical_sizes_and_a_compressed_tiff_stays_compressed(tmp_path):
    data = np.random.default_rng(3).integers(100, 4000, (3, 10, 12), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "cells.ome.tif", data, ome=True, compression="zlib",
                     metadata={"axes": "ZYX", "PhysicalSizeX": 0.25, "PhysicalSizeXUnit": "µm",
                               "PhysicalSizeY": 0.25, "PhysicalSizeZ": 1.5})
    [written] = denoise_files(Recording(1), [tmp_path / "cells.ome.tif"], tmp_path / "out", progress=False)
    with tifffile.TiffFile(written) as out:
        assert out.is_ome and out.series[0].axes == "ZYX"
        assert out.pages[0].compression == tifffile.COMPRESSION.ADOBE_DEFLATE
        pixels = tifffile.xml2dict(out.ome_metadata)["OME"]["Image"]["Pixels"]
        assert (pixels["PhysicalSizeX"], pixels["PhysicalSizeXUnit"], pixels["PhysicalSizeZ"]) == (0.25, "µm", 1.5)


def test_a_16_bit_grey_png_with_a_transparent_colour_is_refused_rather_than_made_opaque(tmp_path):
    Image.fromarray(np.full((6, 6), 900, np.uint16)).save(tmp_path / "scan.png", transparency=900)
    with pytest.raises(N2NError, match="scan.png: 16-bit greyscale with a transparent colour"):
        read_stack(tmp_path / "scan.png")


def test_a_tiff_read_through_pillow_gives_no_tags_as_exif_and_stays_compressed(tmp_path):
    palette = Image.fromarray(skimage.data.astronaut()[:20, :30]).convert("P")
    palette.save(tmp_path / "map.tif", compression="tiff_lzw", dpi=(72, 72))  # LZW: Pillow reads it
    write_image(tmp_path / "out.jpg", read_stack(tmp_path / "map.tif"))
    write_image(tmp_path / "out.tif", read_stack(tmp_path / "map.tif"))
    with Image.open(tmp_path / "out.jpg") as out:
        assert len(out.getexif()) == 0 and out.info["dpi"] == (72, 72)  # not the page's strip offsets
    with tifffile.TiffFile(tmp_path / "out.tif") as out:
        assert out.pages[0].compression == tifffile.COMPRESSION.ADOBE_DEFLATE


def _jpeg_with_unparseable_exif(path):
    buffer = io.BytesIO()
    Image.fromarray(skimage.data.astronaut()[:20, :30]).save(buffer, "JPEG")
    jpeg, payload = buffer.getvalue(), b"Exif\x00\x00" + b"\x13\x37" * 20  # no TIFF header after "Exif"
    path.write_bytes(jpeg[:2] + b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload + jpeg[2:])


def _tiff_with_resolution_unit_7(path):
    tifffile.imwrite(path, skimage.data.camera()[:20, :30], resolution=(72.0, 72.0), resolutionunit="INCH")
    with tifffile.TiffFile(path) as tif:
        offset = tif.pages[0].tags[296].valueoffset
    content = bytearray(path.read_bytes())
    content[offset : offset + 2] = (7).to_bytes(2, "little")  # no such ResolutionUnit
    path.write_bytes(bytes(content))


def _ome_with_malformed_xml(path):
    tifffile.imwrite(path, skimage.data.camera()[:60, :30].reshape(3, 20, 30), ome=True, metadata={"axes": "ZYX"})
    with tifffile.TiffFile(path) as tif:
        xml = tif.pages[0].description
    tifffile.tiffcomment(path, xml.replace("<Pixels ", "<Pixels << "))


def _jpeg_with_exif_but_no_resolution(path):
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    Image.fromarray(skimage.data.astronaut()[:20, :30]).save(path, exif=exif.tobytes())  # Pillow says 72 dpi


# files whose metadata is broken or beyond what an output holds: each is read and written
# with its pixels intact, the odd field dropped, and not a word of library noise on stderr
ODD_METADATA = {  # case: (builds the file, its suffix, the output's, the output's shape, fields it must not have)
    "jpeg-exif-unparseable": (_jpeg_with_unparseable_exif, ".jpg", ".png", (20, 30, 3), ("exif", "dpi")),
    "tiff-resolution-unit-7": (_tiff_with_resolution_unit_7, ".tif", ".tif", (20, 30), ("dpi",)),
    "ome-xml-malformed": (_ome_with_malformed_xml, ".tif", ".tif", (3, 20, 30), ("ome_pixels",)),
    "tiff-0.1-micron-pixels-to-jpeg": (lambda p: tifffile.imwrite(p, skimage.data.camera()[:20, :30], resolution=(
        1e5, 1e5), resolutionunit="CENTIMETER"), ".tif", ".jpg", (20, 30), ("dpi",)),  # 254,000 dpi: JFIF holds 65,535
    "lzw-tiff-without-resolution": (lambda p: Image.fromarray(skimage.data.astronaut()[:20, :30]).save(
        p, compression="tiff_lzw"), ".tif", ".png", (20, 30, 3), ("dpi",)),  # Pillow says 1 dpi
    "jpeg-exif-without-resolution": (_jpeg_with_exif_but_no_resolution, ".jpg", ".png", (20, 30, 3), ("dpi",)),
}


@pytest.mark.parametrize("case", ODD_METADATA)
def test_odd_metadata_is_dropped_and_the_image_still_comes_out_whole(case, tmp_path, capfd):
    build, source_suffix, out_suffix, shape, dropped = ODD_METADATA[case]
    build(tmp_path / f"in{source_suffix}")
    capfd.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a library warning would reach the user's terminal
        stack = read_stack(tmp_path / f"in{source_suffix}")
        write_image(tmp_path / f"out{out_suffix}", stack)
    assert capfd.readouterr().err == ""
    written = read_stack(tmp_path / f"out{out_suffix}")
    assert written.file_array().shape == shape and not set(dropped) & set(written.meta)
    assert np.array_equal(written.planes, stack.planes) or out_suffix == ".jpg"


def test_premultiplied_int16_and_an_int16_imagej_hyperstack_keep_their_values_and_layout(tmp_path):
    rgba = np.zeros((6, 8, 4), np.int16)
    rgba[..., :3], rgba[:, 4:, :3], rgba[..., 3] = 2000, 3000, 32767  # opaque: int16's alpha maximum
    tifffile.imwrite(tmp_path / "p.tif", rgba, photometric="rgb", extrasamples=["assocalpha"])
    write_image(tmp_path / "p-out.tif", read_stack(tmp_path / "p.tif"))
    assert np.array_equal(tifffile.imread(tmp_path / "p-out.tif"), rgba)
    stack = np.random.default_rng(4).integers(0, 3000, (2, 3, 2, 20, 30)).astype(np.int16)
    tifffile.imwrite(tmp_path / "h.tif", stack, imagej=True, metadata={"axes": "TZCYX", "spacing": 2.5, "unit": "um"})
    write_image(tmp_path / "h-out.tif", read_stack(tmp_path / "h.tif"))
    with tifffile.TiffFile(tmp_path / "h-out.tif") as out:
        assert out.is_imagej and out.series[0].axes == "TZCYX" and out.imagej_metadata["spacing"] == 2.5
        assert np.array_equal(out.asarray(), stack)


@pytest.mark.parametrize("shape", [(30, 40, 2), (3, 30, 40, 2)])
def test_grey_samples_with_a_padding_sample_come_back_as_grey_images_not_strips(tmp_path, shape):
    data = np.random.default_rng(5).integers(0, 4000, shape).astype(np.uint16)
    tifffile.imwrite(tmp_path / "gx.tif", data, photometric="minisblack", planarconfig="contig",
                     extrasamples=["unspecified"], metadata={"axes": "YXS" if len(shape) == 3 else "ZYXS"})
    write_image(tmp_path / "out.tif", read_stack(tmp_path / "gx.tif"))
    with tifffile.TiffFile(tmp_path / "out.tif") as out:  # was 30 pages of 40x1 px
        assert out.series[0].shape == shape[:-1] and np.array_equal(out.asarray(), data[..., 0])
    assert read_stack(tmp_path / "out.tif").planes.shape == (1 if len(shape) == 3 else 3, 30, 40, 1)


def test_browser_jpegs_are_read_and_linked_folders_and_other_formats_are_named(tmp_path, capsys):
    from noise2noise.errors import say_once

    photos, elsewhere = tmp_path / "photos", tmp_path / "elsewhere"
    photos.mkdir(), elsewhere.mkdir()
    photo = skimage.data.astronaut()[:16, :16]
    for name in ("a.jfif", "b.jpe", "c.png"):  # .jfif: how browsers save a JPEG; once skipped without a word
        Image.fromarray(photo).save(photos / name, format="PNG" if name.endswith(".png") else "JPEG")
    Image.fromarray(photo).save(elsewhere / "d.png")
    (photos / "e.tga").write_bytes(b"targa")
    (photos / "linked").symlink_to(elsewhere, target_is_directory=True)
    say_once.cache_clear()  # the notes are said once a process
    assert [p.name for p in list_images(photos)] == ["a.jfif", "b.jpe", "c.png"]
    err = capsys.readouterr().err
    assert "skipped 1 image file(s) in other formats (e.tga)" in err
    assert "skipped 1 linked folder(s) (linked): links to folders are not followed" in err
    (photos / "f.png").symlink_to(tmp_path / "gone.png")  # a link whose photo was moved: skipped without a word
    say_once.cache_clear()
    assert [p.name for p in list_images(photos)] == ["a.jfif", "b.jpe", "c.png"]
    assert "skipped 1 link(s) to missing files (f.png); restore their targets" in capsys.readouterr().err
    only_links = tmp_path / "only_links"
    only_links.mkdir()
    (only_links / "g.png").symlink_to(tmp_path / "gone.png")
    with pytest.raises(N2NError, match="no images found .*; it holds 1 link\\(s\\) to missing files such as g.png"):
        list_images(only_links)
    write_image(tmp_path / "out.jfif", read_image(photos / "a.jfif"))
    with Image.open(tmp_path / "out.jfif") as out:
        assert out.format == "JPEG" and out.size == (16, 16)


def test_a_float_image_whose_range_overflows_is_refused_rather_than_written_as_nan(tmp_path):
    tifffile.imwrite(tmp_path / "h.tif", np.array([[-1e308, 1e308], [0.0, 1.0]]))
    with pytest.raises(N2NError, match=r"h.tif: pixel values from -1e\+308 to 1e\+308 span more than a float can hold"):
        read_stack(tmp_path / "h.tif")


def test_a_tiff_without_an_image_says_so(tmp_path):
    (tmp_path / "empty.tif").write_bytes(b"II*\x00\x08\x00\x00\x00" + bytes(6))  # a header and an empty IFD
    with pytest.raises(N2NError, match="empty.tif: a TIFF that holds no image"):  # was "TIFF axes  have no Y and X"
        read_stack(tmp_path / "empty.tif")


@pytest.mark.parametrize("name,orientation", [("a.jpg", 1), ("sideways.jpg", 6), ("a.png", 1), ("sideways.png", 6),
                                              ("stack.tif", 1)])
def test_image_size_from_the_header_is_the_size_decoding_gives(tmp_path, name, orientation):
    pixels = skimage.data.astronaut()[:24, :40]
    if name.endswith(".tif"):
        tifffile.imwrite(tmp_path / name, np.stack([pixels[..., 0]] * 3), photometric="minisblack")  # 3 of 40×24
    else:
        exif = Image.Exif()
        exif[0x0112] = orientation
        Image.fromarray(pixels).save(tmp_path / name, exif=exif.tobytes())
    planes = read_stack(tmp_path / name).planes
    assert image_size_px(tmp_path / name) == (planes.shape[2], planes.shape[1]) == \
        ((24, 40) if orientation == 6 else (40, 24))


def test_a_tiff_pyramid_or_thumbnail_is_named_as_not_read(tmp_path, capsys):
    from noise2noise import errors

    errors.say_once.cache_clear()
    data = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64)
    with tifffile.TiffWriter(tmp_path / "pyramid.tif") as tif:  # an OME-style level in a SubIFD
        tif.write(data, subifds=1)
        tif.write(data[::2, ::2], subfiletype=1)
    tifffile.imwrite(tmp_path / "plain.tif", data)
    assert read_stack(tmp_path / "plain.tif").planes.shape == read_stack(tmp_path / "pyramid.tif").planes.shape \
        == (1, 64, 64, 1)
    err = capsys.readouterr().err  # the level was dropped from outputs without a word
    assert "pyramid.tif: its reduced-resolution copies (a pyramid or a thumbnail) are not read" in err
    assert "plain.tif" not in err


def test_a_full_disk_while_writing_an_image_is_one_line(tmp_path, monkeypatch, capsys):
    """imageio wrote the file itself: on a full disk its destructor closed the file again and
    printed 'Exception ignored in PluginV3.__del__' with a traceback after the error line."""
    import gc
    import pathlib

    from noise2noise.errors import N2NError
    from noise2noise.images import write_image

    def full_disk(self, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pathlib.Path, "write_bytes", full_disk)
    with pytest.raises(N2NError, match=r"x.png: the disk is full; free some space"):
        write_image(tmp_path / "x.png", np.zeros((40, 40, 3), np.uint8))
    gc.collect()
    assert list(tmp_path.iterdir()) == [] and "Exception ignored" not in capsys.readouterr().err
