"""Image files: decoded as a viewer shows them (the one place that reads pixels), written
back in their own format, dtype and stack layout; and the embedded photographs."""

from __future__ import annotations

import contextlib
import dataclasses
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from noise2noise.errors import N2NError, first_line, is_disk_full, say_once
from noise2noise.outputs import atomic_write

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".jfif", ".jpe")  # .jfif: browsers' JPEGs
# Image files a folder of photos often holds beside those (web formats, camera raw): a folder
# run names them as skipped, so that none goes missing unnoticed.
OTHER_IMAGE_SUFFIXES = (".webp", ".gif", ".heic", ".heif", ".avif", ".jp2", ".jxl", ".ppm", ".pgm", ".pnm", ".tga",
                        ".exr", ".hdr", ".psd",
                        ".dng", ".cr2", ".cr3", ".nef", ".arw", ".orf", ".rw2", ".raf")

# Colour photographs inside the scikit-image wheel; split by image so that no test
# image is ever trained on.
EMBEDDED_TRAIN = ("rocket", "motorcycle_left", "motorcycle_right", "hubble_deep_field",
                  "immunohistochemistry", "retina")
EMBEDDED_TEST = ("astronaut", "chelsea", "coffee")


def list_images(folder: str | Path) -> list[Path]:
    """Image files under ``folder`` (recursively), sorted; a clear error when there are none."""
    folder = Path(folder)
    if not folder.exists():
        raise N2NError(f"{folder}: no such file or folder")
    if not folder.is_dir():
        raise N2NError(f"{folder}: expected a folder of images")
    found = [p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES + OTHER_IMAGE_SUFFIXES and p.is_file()]
    # names starting with '.' are not pictures: macOS's AppleDouble ._x.png, .ipynb_checkpoints/,
    # the temporary file of a write that was killed (outputs.atomic_write)
    hidden = sorted(p for p in found if any(part.startswith(".") for part in p.relative_to(folder).parts))
    found = sorted(set(found) - set(hidden))
    files = sorted(p for p in found if p.suffix.lower() in IMAGE_SUFFIXES)
    skipped = sorted(p for p in found if p.suffix.lower() in OTHER_IMAGE_SUFFIXES)
    # links whose file is gone (a moved dataset, a cleared cache): is_file() is False for them
    broken = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_symlink()
                    and not p.exists() and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    formats = f"n2n reads {', '.join(IMAGE_SUFFIXES)} from a folder"
    if not files:
        held = f"; it holds {len(skipped)} file(s) such as {skipped[0].name}: convert them to PNG or TIFF" \
            if skipped else f"; it holds {len(broken)} link(s) to missing files such as {broken[0].name}" \
            if broken else f"; it holds {len(hidden)} hidden file(s) such as {hidden[0].name}" if hidden else ""
        raise N2NError(f"{folder}: no images found ({formats}{held})")
    if broken:
        say_once(f"warning: {folder}: skipped {len(broken)} link(s) to missing files ({_some(broken, folder)}); "
                 "restore their targets to include them")
    if skipped:
        say_once(f"note: {folder}: skipped {len(skipped)} image file(s) in other formats ({_some(skipped, folder)}); "
                 f"{formats}: convert them to PNG or TIFF to include them")
    linked = sorted(p for p in folder.rglob("*") if p.is_symlink() and p.is_dir())  # rglob does not enter them
    if linked:
        say_once(f"note: {folder}: skipped {len(linked)} linked folder(s) ({_some(linked, folder)}): links to "
                 "folders are not followed; copy the photos in, or give the linked folder as an input of its own")
    if hidden:
        say_once(f"note: {folder}: skipped {len(hidden)} hidden file(s) ({_some(hidden, folder)}): names starting "
                 "with '.' are macOS metadata, notebook checkpoints or temporary files")
    return files


def _some(paths: list[Path], folder: Path) -> str:
    """The first three of ``paths``, relative to ``folder``, for a one-line note."""
    return ", ".join(p.relative_to(folder).as_posix() for p in paths[:3]) + (", ..." if len(paths) > 3 else "")


# The only output formats, and what each can hold: anything else is refused before any work.
# TIFF holds every bit depth, alpha, float pixels and stacks; Pillow reads back only 8-bit
# BMP without alpha, and 16-bit PNG only as plain greyscale.
_WRITABLE = {  # suffix -> (format, {dtype: channel counts it holds}, holds stacks)
    ".png": ("PNG", {"uint8": (1, 2, 3, 4), "uint16": (1,)}, False),
    ".jpg": ("JPEG", {"uint8": (1, 3)}, False),
    ".jpeg": ("JPEG", {"uint8": (1, 3)}, False),
    ".jfif": ("JPEG", {"uint8": (1, 3)}, False),
    ".jpe": ("JPEG", {"uint8": (1, 3)}, False),
    ".bmp": ("BMP", {"uint8": (1, 3)}, False),
    ".tif": ("TIFF", None, True),
    ".tiff": ("TIFF", None, True),
}
_CHANNELS = {1: "greyscale", 2: "grey+alpha", 3: "RGB", 4: "RGBA"}
# numpy views of the 8 EXIF orientations (as Pillow's ImageOps.exif_transpose) on S×H×W×C
_ORIENT = {2: lambda a: a[:, :, ::-1], 3: lambda a: a[:, ::-1, ::-1], 4: lambda a: a[:, ::-1],
           5: lambda a: a.swapaxes(1, 2), 6: lambda a: np.rot90(a, -1, axes=(1, 2)),
           7: lambda a: a.swapaxes(1, 2)[:, ::-1, ::-1], 8: lambda a: np.rot90(a, 1, axes=(1, 2))}
_ORIENTATION = 0x0112  # the EXIF and TIFF tag
# OME Pixels attributes written back (physical pixel and plane spacing, frame interval, with units)
_OME_PIXEL_KEYS = ("PhysicalSizeX", "PhysicalSizeY", "PhysicalSizeZ", "TimeIncrement")
_OME_X_Y = {"PhysicalSizeX": "PhysicalSizeY", "PhysicalSizeY": "PhysicalSizeX",
            "PhysicalSizeXUnit": "PhysicalSizeYUnit", "PhysicalSizeYUnit": "PhysicalSizeXUnit"}
# ICC profile colour spaces (header bytes 16..20) and the channel counts they describe
_ICC_CHANNELS = {b"RGB ": (3, 4), b"GRAY": (1, 2)}
_IMAGEJ_KEYS = ("spacing", "unit", "finterval", "fps", "loop", "mode", "min", "max")
# tifffile's letters for axes that a TIFF does not name (Q: shaped without axes, I: bare pages).
# A numpy H×W×2 array written by tifffile.imwrite or imageio with no axes reads back as H images
# of W×2 px: denoised so, each strip of 2 px would come out as a wrong image with exit 0.
_UNNAMED_AXES = "QI"
_MAX_CHANNELS_LAST = 4  # an unnamed last axis this short is taken for channels, not for X


@dataclass(frozen=True)
class ImageStack:
    """The 2-D images of one file as a viewer shows them, and how to write them back.

    ``planes``: S×H×W×C, S images (1 for a still image), C = 1 grey, 2 grey+alpha, 3 RGB,
    4 RGBA; uint8, uint16 or float (float16/32/64, finite). ``axes`` are the file's axes in
    tifffile letters ('YX', 'YXS', 'ZYX', 'TCYX', ...; S = colour samples): every axis but
    Y, X and S is a stack axis, flattened into S in the file's order (so an ImageJ C axis
    gives one greyscale image per channel)."""

    planes: np.ndarray
    axes: str = "YX"
    lead_shape: tuple[int, ...] = ()  # sizes of the stack axes, in file order
    order: tuple[int, ...] = (0, 1)  # file axes -> (stack axes, Y, X[, S])
    # what the file says beside its pixels, written back where the output format holds it:
    # "icc" (profile bytes), "exif" (bytes, orientation removed), "dpi" (x, y); TIFF only:
    # "imagej", "ome", "imagej_metadata", "ome_pixels", "resolution", "resolutionunit",
    # "assoc_alpha" (premultiplied in the file, straight in ``planes``), "compressed"
    meta: dict = dataclasses.field(default_factory=dict)
    dtype: str | None = None  # the file's pixel type where ``planes`` hold it as uint16 (int16, uint32, ...)

    @classmethod
    def of(cls, image: np.ndarray, meta: dict | None = None) -> ImageStack:
        """One H×W×C image."""
        colour = image.shape[2] > 1
        return cls(image[None], "YXS" if colour else "YX", (), (0, 1, 2) if colour else (0, 1), meta or {})

    def with_planes(self, planes: np.ndarray) -> ImageStack:
        """The same file layout and metadata with new S×H×W×C planes (e.g. denoised)."""
        return dataclasses.replace(self, planes=planes)

    def file_array(self) -> np.ndarray:
        """The planes in the file's own axis order, shape and pixel type."""
        _, height, width, channels = self.planes.shape
        shape = self.lead_shape + (height, width) + ((channels,) if "S" in self.axes else ())
        planes = self.planes
        if self.dtype is not None and planes.dtype.kind in "iu":
            limits = np.iinfo(self.dtype)
            planes = np.clip(planes, max(limits.min, 0), limits.max).astype(self.dtype)
        return planes.reshape(shape).transpose(np.argsort(self.order))

    def describe(self) -> str:
        """e.g. 'uint16 greyscale' or 'float32 RGB stack of 12 images (ZYX)'."""
        what = f"{self.planes.dtype} {_CHANNELS[self.planes.shape[3]]}"
        return what + (f" stack of {len(self.planes)} images ({self.axes})" if self.lead_shape else " image")


def read_stack(path: str | Path) -> ImageStack:
    """Every image of a file, decoded to what an image viewer shows: EXIF orientation
    applied, CMYK/YCCK, palette and 1-bit converted to RGB(A)/grey, TIFF stacks (ImageJ,
    OME, multi-page) split along their axes. Anything else is one N2NError line."""
    path = Path(path)
    if not path.is_file():
        if path.is_dir():
            raise N2NError(f"{path}: is a folder; give one image file")
        if path.exists():  # a device, a pipe, a socket
            raise N2NError(f"{path}: not a regular file; give an image file")
        raise N2NError(f"{path}: no such image file")
    if _is_16bit_colour_png(path):
        raise N2NError(f"{path}: 16-bit PNG with colour or alpha is not supported (Pillow would read it as "
                       "8-bit); save it as 16-bit TIFF")
    try:
        stack = _read_tiff(path) if _is_tiff(path) else _read_pillow(path)
    except N2NError:
        raise
    except Exception as exc:  # Pillow and tifffile raise many types for bad files
        raise N2NError(f"{path}: not a readable image ({first_line(exc)})") from None
    planes = stack.planes
    if not planes.dtype.isnative:  # big-endian TIFF: the same values in this machine's byte order
        stack = stack.with_planes(planes := planes.astype(planes.dtype.newbyteorder("=")))
    if planes.size == 0 or planes.shape[3] not in _CHANNELS:
        raise N2NError(f"{path}: unsupported image shape {stack.file_array().shape} (axes {stack.axes}); "
                       "n2n takes greyscale, grey+alpha, RGB or RGBA images")
    if planes.dtype.kind == "f":
        bad = ~np.isfinite(planes)
        if bad.any():
            where = ", ".join(f"{a}={i}" for a, i in zip("SYXC", np.argwhere(bad)[0]))
            raise N2NError(f"{path}: {int(bad.sum())} pixel value(s) are NaN or infinite (the first at {where}); "
                           "replace them (e.g. with 0) before training or denoising")
        low, high = float(planes.min()), float(planes.max())
        if not np.isfinite(high - low):  # the map onto 0..255 divides by it: every pixel would come out NaN
            raise N2NError(f"{path}: pixel values from {low:g} to {high:g} span more than a float can hold; "
                           "scale them down (e.g. divide by 1e300) before training or denoising")
    elif planes.dtype.kind in "iu" and planes.dtype not in (np.uint8, np.uint16):
        # 16-bit PNG/PGM in some Pillow versions, int16/int32 TIFF: exact as 16-bit when they fit
        low, high = int(planes.min()), int(planes.max())
        if low < 0 or high > 65535:
            what = "negative values" if low < 0 else "values above 65535"
            raise N2NError(f"{path}: {planes.dtype} pixels from {low} to {high}: integer images are read as 0..65535, "
                           f"and these have {what}; save it as float32 TIFF (read by its own min..max), or shift "
                           "it into 0..65535 as uint16")
        # written back in the file's own type where the output is TIFF
        stack = dataclasses.replace(stack, planes=planes.astype(np.uint16),
                                    dtype=str(planes.dtype) if _is_tiff(path) else None)
    elif planes.dtype not in (np.uint8, np.uint16):
        raise N2NError(f"{path}: unsupported pixel type {planes.dtype} (n2n takes 8- or 16-bit or float "
                       "pixels); save it as 16-bit or float32 TIFF")
    return stack


def read_image(path: str | Path) -> np.ndarray:
    """A file holding one image as H×W×C (dtypes as ``read_stack``); a stack is refused."""
    stack = read_stack(path)
    if len(stack.planes) != 1:
        raise N2NError(f"{path}: a {stack.describe()}; this takes single images (n2n denoise and training "
                       "take stacks)")
    return stack.planes[0]


def image_size_px(path: str | Path) -> tuple[int, int]:
    """(width, height) of a file's images, upright as ``read_stack`` gives them: from the
    header where Pillow reads one (no pixels decoded, so a sweep can check every file before
    its first run), else by decoding the file (TIFF, whose stack axes are tifffile's to read)."""
    from PIL import Image

    path = Path(path)
    if not _is_tiff(path):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with Image.open(path) as image:
                    if image.format == "PNG":  # getexif() would decode the pixels, for an eXIf chunk after them
                        exif = Image.Exif()
                        if "exif" in image.info:
                            exif.load(image.info["exif"])
                    else:
                        exif = image.getexif()
                    (width, height), orientation = image.size, exif.get(0x0112, 1)
            return (height, width) if orientation in (5, 6, 7, 8) else (width, height)  # stored sideways
        except Exception:  # not Pillow's: decoding says what is wrong, as training would
            pass
    planes = read_stack(path).planes
    return planes.shape[2], planes.shape[1]


def _is_tiff(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF


def _read_pillow(path: Path) -> ImageStack:
    """A still image through Pillow: H×W×C (the viewer's pixels, upright) and its metadata."""
    from PIL import Image, ImageOps

    try:
        with warnings.catch_warnings():
            # Pillow warns above its pixel limit (89 MP) and refuses above twice it (179 MP); a file it
            # decodes is decoded, without a Python warning that tells the user nothing to do
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            warnings.simplefilter("ignore", UserWarning)  # "Corrupt EXIF data": the pixels are still read
            with Image.open(path) as image:
                frames = getattr(image, "n_frames", 1)
                # MPO: phone JPEGs carrying a preview or depth map as extra frames; the first is the photo
                if frames > 1 and image.format != "MPO":
                    raise N2NError(f"{path}: {image.format} with {frames} frames (animated or multi-page); n2n "
                                   "reads still images and TIFF stacks: save the frames as a multi-page TIFF")
                exif, fmt = _exif(image), image.format  # parsed once: the turned copy would parse it again
                try:
                    image = ImageOps.exif_transpose(image)  # phone photos: pixels stored sideways, upright in viewers
                except Exception:  # an EXIF block Pillow cannot parse: no viewer reads an orientation from it
                    image.load()
    except Image.DecompressionBombError as exc:
        raise N2NError(f"{path}: too large for Pillow to decode safely ({exc}); if the image is genuine, save it "
                       "as TIFF, which n2n reads without that limit") from None
    return ImageStack.of(_pillow_pixels(image, path), _pillow_meta(image, fmt, exif))


def _pillow_meta(image, fmt: str, exif=None) -> dict:
    """What a Pillow image of format ``fmt`` ('JPEG', 'PNG', 'TIFF', ...: a turned copy has
    none) carries beside its pixels (``ImageStack.meta``): ICC profile, EXIF (``exif``, as
    parsed from the file before turning) without its orientation (the pixels are upright now),
    DPI (turned with the pixels); for a TIFF page, whether it was compressed."""
    meta: dict = {}
    if image.info.get("icc_profile"):
        meta["icc"] = image.info["icc_profile"]
    if fmt == "TIFF":  # its "EXIF" is the page's own tags (strip offsets, sizes): not carried
        meta["compressed"] = image.info.get("compression", "raw") != "raw"
    orientation = exif.get(_ORIENTATION, 1) if exif is not None else 1
    dpi = image.info.get("dpi")
    if fmt == "TIFF" and 282 not in image.tag_v2:
        dpi = None  # Pillow says 1 dpi for a page without XResolution
    elif fmt in ("JPEG", "MPO") and image.info.get("jfif_unit") not in (1, 2) and 0x011A not in (exif or {}):
        dpi = None  # Pillow says 72 dpi for a JPEG that gives none
    try:
        if dpi and all(np.isfinite(float(d)) and float(d) > 0 for d in dpi):
            meta["dpi"] = _turned((float(dpi[0]), float(dpi[1])), orientation)
        if exif is not None:
            exif.pop(_ORIENTATION, None)
            if orientation in (5, 6, 7, 8):  # the sizes it records change places with the pixels
                _swap(exif, 0x011A, 0x011B)  # XResolution, YResolution
                _swap(exif.get_ifd(0x8769), 0xA002, 0xA003)  # PixelXDimension, PixelYDimension
            if len(exif):
                meta["exif"] = exif.tobytes()
    except Exception:  # EXIF or DPI values Pillow read but cannot write back: the pixels are what matter
        meta.pop("exif", None)
    return meta


def _exif(image):
    """The image's EXIF (Pillow's ``Exif``), or None where Pillow cannot parse it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Corrupt EXIF data", "Metadata Warning, tag ... had too many entries"
            return image.getexif()
    except Exception:  # SyntaxError, struct.error, ValueError...: an EXIF block no viewer reads either
        return None


def _swap(tags, a: int, b: int) -> None:
    """Exchange the values of two tags of a Pillow ``Exif`` (or one of its IFDs), where present."""
    values = tags.get(a), tags.get(b)
    for tag, value in zip((a, b), values[::-1]):
        if value is None:
            tags.pop(tag, None)
        else:
            tags[tag] = value


def _turned(pair: tuple, orientation: int) -> tuple:
    """An (x, y) pair of a file whose pixels ``orientation`` (5-8) turned by 90 degrees."""
    return pair[::-1] if orientation in (5, 6, 7, 8) else pair


def _pillow_pixels(image, path: Path) -> np.ndarray:
    """A Pillow image of any mode -> H×W×C uint8/uint16/float32, as a viewer shows it."""
    mode = image.mode
    if mode in ("P", "PA"):
        image = image.convert("RGBA" if mode == "PA" or image.has_transparency_data else "RGB")
    elif mode in ("L", "RGB") and image.has_transparency_data:  # a tRNS colour that viewers show transparent
        image = image.convert(mode + "A")
    elif mode.startswith("I") and image.has_transparency_data:  # Pillow has no 16-bit grey+alpha mode
        raise N2NError(f"{path}: 16-bit greyscale with a transparent colour (tRNS) is not supported (its "
                       "transparency would be lost); save it as 16-bit TIFF with an alpha channel")
    elif mode in ("1", "La", "RGBa", "RGBX", "CMYK", "YCbCr", "HSV"):
        # 1-bit -> 0/255 grey; CMYK (JPEG: Adobe-inverted, YCCK decoded by libjpeg) -> RGB
        image = image.convert({"1": "L", "La": "LA", "RGBa": "RGBA"}.get(mode, "RGB"))
    array = np.array(image)  # a writable copy (torch.from_numpy warns on Pillow's read-only view)
    if mode.startswith("I;16"):
        array = array.astype(np.uint16)  # native byte order (I;16B is big-endian)
    elif mode not in ("1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "HSV",
                      "I", "F"):  # I: 32-bit integers, read as 16-bit where they fit (read_stack)
        raise N2NError(f"{path}: Pillow image mode {mode} is not supported; save it as 8/16-bit greyscale or "
                       "RGB(A), or float32 TIFF")
    return array[:, :, None] if array.ndim == 2 else array


def _read_tiff(path: Path) -> ImageStack:
    """A TIFF's series through tifffile (16-bit colour, float, stacks with their axes and
    metadata); one page of palette, CMYK, YCbCr or Lab pixels, or compressed with a codec
    tifffile lacks (LZW, JPEG without imagecodecs), through Pillow. The TIFF orientation
    tag is applied."""
    import tifffile
    from PIL import Image

    with _quiet_tifffile(), tifffile.TiffFile(path) as tif:
        series = [s for s in tif.series if s.kind != "reduced" and not s.keyframe.is_reduced]
        if len(series) < len(tif.series) or any(getattr(s, "levels", [None])[1:] for s in series):
            say_once(f"note: {path}: its reduced-resolution copies (a pyramid or a thumbnail) are not read; only the "
                     "full-resolution image is, and an output written from it holds that alone")
        if not series or not series[0].shape or 0 in series[0].shape:
            raise N2NError(f"{path}: a TIFF that holds no image")
        if len(series) != 1:
            raise N2NError(f"{path}: holds {len(series)} image series (as an OME file of several images, or "
                           "pages of different sizes or types); save each as its own TIFF")
        series = series[0]
        page, data = series.keyframe, None
        orientation = page.tags.get(274)
        orientation = orientation.value if orientation else 1
        if page.photometric in (tifffile.PHOTOMETRIC.MINISBLACK, tifffile.PHOTOMETRIC.MINISWHITE,
                                tifffile.PHOTOMETRIC.RGB):
            try:
                data = series.asarray()
            except ValueError as exc:  # e.g. "<COMPRESSION.LZW: 5> requires the 'imagecodecs' package"
                if "imagecodecs" not in str(exc):
                    raise
                # Pillow reads one page, and 16-bit colour as 8-bit: a stack or deep colour would be lost;
                # and Pillow 13 turns a page with an orientation tag the wrong way (5-8: unrotated)
                oriented = orientation != 1
                if len(series.pages) > 1 or (page.bitspersample > 8 and page.samplesperpixel > 1) or oriented:
                    kind = f"{len(series.pages)} pages" if len(series.pages) > 1 else \
                        f"{page.bitspersample}-bit colour" if not oriented else "pixels with an orientation tag"
                    raise N2NError(f"{path}: {page.compression.name}-compressed TIFF of {kind}, which needs the "
                                   "imagecodecs package to be read whole: pip install imagecodecs, or save it "
                                   "uncompressed or with deflate (zlib)") from None
        if data is None and len(series.pages) > 1:
            raise N2NError(f"{path}: multi-page TIFF of {page.photometric.name} pixels is not supported; save it "
                           "as greyscale or RGB pages")
        if data is None and orientation != 1:  # Pillow 13 turns such pages the wrong way (5-8: unrotated)
            raise N2NError(f"{path}: TIFF of {page.photometric.name} pixels with an orientation tag "
                           f"({orientation}) is not supported; save it upright or as RGB")
        if data is None:
            with Image.open(path) as image:
                return ImageStack.of(_pillow_pixels(image, path), _pillow_meta(image, "TIFF"))
        axes = series.axes
        if "Y" not in axes or "X" not in axes:
            raise N2NError(f"{path}: TIFF axes {axes} have no Y and X; expected images")
        if axes[-2:] == "YX" and axes[:-2] and set(axes[:-2]) <= set(_UNNAMED_AXES) \
                and data.shape[-1] <= _MAX_CHANNELS_LAST < data.shape[-2]:
            count, (height, width) = int(np.prod(data.shape[:-2])), data.shape[-2:]
            raise N2NError(f"{path}: names no axes, so it reads as {count} images of {height}x{width} px; "
                           f"if its last axis holds {width} channels, save it with its axes, e.g. "
                           f"tifffile.imwrite(path, image, metadata={{'axes': 'YXC'}})")
        order = tuple([i for i, a in enumerate(axes) if a not in "YXS"] + [axes.index("Y"), axes.index("X")]
                      + ([axes.index("S")] if "S" in axes else []))
        data = data.transpose(order)
        lead = data.shape[: len(axes) - (3 if "S" in axes else 2)]
        planes = data.reshape(-1, *data.shape[len(lead) :][:2], data.shape[-1] if "S" in axes else 1)
        extra = page.extrasamples[0] if "S" in axes and page.extrasamples else None
        conversion = "premultiplied alpha" if extra == tifffile.EXTRASAMPLE.ASSOCALPHA and planes.shape[-1] in (2, 4) \
            else "min-is-white" if page.photometric == tifffile.PHOTOMETRIC.MINISWHITE else None
        wide = planes.dtype.kind in "iu" and planes.dtype not in (np.uint8, np.uint16)
        stored = (int(planes.min()), int(planes.max())) if conversion and wide else None
        if extra == tifffile.EXTRASAMPLE.UNSPECIFIED:
            planes = planes[..., : planes.shape[-1] - len(page.extrasamples)]  # padding (RGBX), not alpha
        elif extra == tifffile.EXTRASAMPLE.ASSOCALPHA and planes.shape[-1] in (2, 4):
            planes = _premultiplied(planes, undo=True)  # viewers show colour / alpha
        if page.photometric == tifffile.PHOTOMETRIC.MINISWHITE:  # 0 is white: show it as viewers do
            if planes.dtype.kind == "f":
                raise N2NError(f"{path}: float TIFF with 'min-is-white' photometric is not supported")
            planes = ~planes if planes.dtype == bool else np.iinfo(planes.dtype).max - planes
        if stored and (planes.min() < 0 or planes.max() > 65535):  # the file's values, then what they became
            raise N2NError(f"{path}: {planes.dtype} pixels stored from {stored[0]} to {stored[1]} read as "
                           f"{int(planes.min())} to {int(planes.max())} ({conversion}), which do not fit 16 bits; "
                           "save it as 16-bit or float32 TIFF")
        if planes.dtype == bool:  # 1-bit
            planes = planes.astype(np.uint8) * 255
        planes = _ORIENT.get(orientation, lambda a: a)(planes)
        meta = _tiff_meta(tif, series, orientation)
        meta["assoc_alpha"] = extra == tifffile.EXTRASAMPLE.ASSOCALPHA and planes.shape[-1] in (2, 4)
    return ImageStack(np.ascontiguousarray(planes), axes, tuple(lead), order, meta)


def _tiff_meta(tif, series, orientation: int) -> dict:
    """What a TIFF read by tifffile carries beside its pixels (``ImageStack.meta``). ImageJ and
    OME go by the series tifffile made of it: a file whose OME-XML does not parse is read as
    plain pages, and written back so."""
    import tifffile

    page = series.keyframe
    meta: dict = {"imagej": series.kind == "imagej", "ome": series.kind == "ome",
                  "compressed": page.compression != tifffile.COMPRESSION.NONE}
    if meta["imagej"]:
        meta["imagej_metadata"] = {k: v for k, v in (tif.imagej_metadata or {}).items() if k in _IMAGEJ_KEYS}
    if meta["ome"]:
        try:
            image = tifffile.xml2dict(tif.ome_metadata)["OME"]["Image"]
            pixels = (image[0] if isinstance(image, list) else image)["Pixels"]
            meta["ome_pixels"] = {k: v for k, v in pixels.items() if k.startswith(_OME_PIXEL_KEYS)}
        except Exception:  # malformed OME-XML (tifffile read the pages without it) or no sizes: none kept
            pass
        if orientation in (5, 6, 7, 8) and "ome_pixels" in meta:  # X and Y changed places with the pixels
            meta["ome_pixels"] = {_OME_X_Y.get(k, k): v for k, v in meta["ome_pixels"].items()}
    icc = page.tags.get(34675)  # InterColorProfile
    if icc is not None and isinstance(icc.value, bytes):
        meta["icc"] = icc.value
    try:  # XResolution, YResolution: pixel size; a unit tifffile does not know, or a value <= 0, is dropped
        resolution, unit = _turned(page.resolution, orientation), tifffile.RESUNIT(page.resolutionunit)
    except (ValueError, TypeError, ZeroDivisionError, OverflowError):
        return meta
    if 282 in page.tags and 283 in page.tags and all(np.isfinite(r) and r > 0 for r in resolution):
        meta["resolution"], meta["resolutionunit"] = resolution, unit
        per_inch = {tifffile.RESUNIT.INCH: 1.0, tifffile.RESUNIT.CENTIMETER: 2.54}.get(unit)
        if per_inch:
            meta["dpi"] = (resolution[0] * per_inch, resolution[1] * per_inch)
    return meta


@contextlib.contextmanager
def _quiet_tifffile():
    """tifffile logs what it repairs or skips in a file (a bad tag, malformed OME-XML) to
    stderr; what matters of it reaches the user as a refusal or a dropped field instead."""
    import logging

    logger = logging.getLogger("tifffile")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)  # setLevel, not .level =: it clears the logger's cache
    try:
        yield
    finally:
        logger.setLevel(level)


def _premultiplied(planes: np.ndarray, undo: bool = False, file_dtype: np.dtype | None = None) -> np.ndarray:
    """Colour times alpha (premultiplied, TIFF 'associated alpha'), or with ``undo`` colour
    divided by alpha (straight, as viewers show it; 0 where alpha is 0). Alpha runs to the
    maximum of ``file_dtype`` (default the planes') for integers, to 1 for floats."""
    file_dtype = np.dtype(file_dtype or planes.dtype)
    top = float(np.iinfo(file_dtype).max) if file_dtype.kind in "iu" else 1.0
    colour, alpha = planes[..., :-1].astype(np.float64), planes[..., -1:].astype(np.float64)
    if undo:
        colour = np.divide(colour * top, alpha, out=np.zeros_like(colour), where=alpha > 0)
    else:
        colour = colour * alpha / top
    if planes.dtype.kind in "iu":
        colour = np.clip(np.round(colour), 0, top)
    return np.concatenate([colour.astype(planes.dtype), planes[..., -1:]], axis=-1)


def check_writable(path: str | Path, stack: ImageStack) -> None:
    """Refuse, in one line and before any work, a target format that cannot hold ``stack``
    or that n2n could not read back."""
    path = Path(path)
    fmt = _WRITABLE.get(path.suffix.lower())
    if fmt is None:
        raise N2NError(f"{path}: cannot write '{path.suffix}' files; choose .tif, .png, .jpg (.jpeg, .jfif, .jpe) "
                       "or .bmp")
    name, holds, holds_stacks = fmt
    planes = stack.planes
    if holds is not None and planes.shape[3] not in holds.get(str(planes.dtype), ()):
        raise N2NError(f"{path}: {name} cannot hold this {stack.describe()}; write it as TIFF (.tif), which "
                       "takes every bit depth, alpha, float pixels and stacks")
    if len(planes) > 1 and not holds_stacks:
        raise N2NError(f"{path}: {name} cannot hold a {stack.describe()}; write it as TIFF (.tif)")


# Pillow writes JPEG at quality 75 unless told: a denoised photo lost detail its input (often
# saved at 90-95 by cameras and editors) had kept
_SAVE_OPTIONS = {suffix: {"quality": 95} for suffix in (".jpg", ".jpeg", ".jfif", ".jpe")}
# the largest DPI each format stores: JFIF density is 16 bits; PNG pHYs and BMP hold pixels per metre
# in 32 bits (BMP's signed)
_MAX_DPI = {".jpg": 65535, ".jpeg": 65535, ".jfif": 65535, ".jpe": 65535, ".png": (2**32 - 1) * 0.0254,
            ".bmp": (2**31 - 1) * 0.0254}


def write_image(path: str | Path, image: np.ndarray | ImageStack) -> Path:
    """Write an H×W×C image or an ``ImageStack`` atomically; the suffix picks the format
    (TIFF stacks keep their axes and ImageJ/OME metadata; ``ImageStack.meta`` is written
    where the format holds it)."""
    stack = image if isinstance(image, ImageStack) else ImageStack.of(image)
    check_writable(path, stack)
    suffix = Path(path).suffix.lower()
    if suffix in (".tif", ".tiff"):
        return atomic_write(path, lambda tmp: _write_tiff(tmp, stack))
    import imageio.v3 as iio

    pixels = stack.planes[0]
    pixels = pixels[:, :, 0] if pixels.shape[2] == 1 else pixels
    options, meta, icc = dict(_SAVE_OPTIONS.get(suffix, {})), stack.meta, _icc(stack)
    if icc:
        options["icc_profile"] = icc
    # EXIF: not in BMP; a JPEG holds at most 64 KiB of it (a long one from a PNG is dropped)
    if "exif" in meta and suffix != ".bmp" and (suffix == ".png" or len(meta["exif"]) < 65_000):
        options["exif"] = meta["exif"]
    if "dpi" in meta and max(meta["dpi"]) <= _MAX_DPI.get(suffix, 0) and min(meta["dpi"]) >= 0.5:
        options["dpi"] = meta["dpi"]  # else dropped: a value the format cannot hold would be written wrapped
    try:
        # encoded in memory, then written as bytes: imageio writing a file itself closed it again on a full
        # disk, in a destructor, and printed that second failure as a traceback after the one-line error
        encoded = iio.imwrite("<bytes>", pixels, extension=suffix, **options)
    except (OSError, TypeError, ValueError, OverflowError) as exc:  # a mode a format refuses that _WRITABLE missed
        if is_disk_full(exc):  # some plugins encode through a temporary file
            raise N2NError(f"{path}: the disk is full; free some space or choose another output (nothing was "
                           "written)") from None
        raise N2NError(f"{path}: cannot write this {stack.describe()} ({first_line(exc)}); TIFF (.tif) takes every "
                       "bit depth and alpha") from None
    return atomic_write(path, lambda tmp: tmp.write_bytes(encoded))


def _icc(stack: ImageStack) -> bytes | None:
    """The source's ICC profile where it describes these pixels: a CMYK profile (of a CMYK
    source read as RGB) or an RGB profile on grey pixels would make viewers show wrong colours."""
    icc = stack.meta.get("icc")
    fits = icc and stack.planes.shape[3] in _ICC_CHANNELS.get(bytes(icc[16:20]), ())
    return icc if fits else None


def _write_tiff(tmp: Path, stack: ImageStack) -> None:
    import tifffile

    meta = stack.meta
    channels = stack.planes.shape[3]
    options: dict = {"photometric": "rgb" if channels >= 3 else "minisblack", "iccprofile": _icc(stack)}
    if meta.get("compressed"):
        options["compression"] = "zlib"  # lossless and needs no codec package, whatever the source used
    if channels > 1:
        options["planarconfig"] = "contig" if stack.axes.endswith("S") else "separate"
        if channels in (2, 4):
            options["extrasamples"] = ["assocalpha" if meta.get("assoc_alpha") else "unassalpha"]
            if meta.get("assoc_alpha"):
                stack = stack.with_planes(_premultiplied(stack.planes, file_dtype=stack.dtype))
    if "resolution" in meta:
        options["resolution"], options["resolutionunit"] = meta["resolution"], meta["resolutionunit"]
    elif "dpi" in meta:
        options["resolution"], options["resolutionunit"] = meta["dpi"], tifffile.RESUNIT.INCH
    data, axes = stack.file_array(), stack.axes
    if "S" in axes and channels == 1:  # grey samples whose padding sample was dropped: no sample axis left
        data, axes = data.squeeze(axes.index("S")), axes.replace("S", "")
    imagej = meta.get("imagej") and channels != 4 \
        and np.dtype(stack.dtype or stack.planes.dtype) in (np.uint8, np.uint16, np.int16, np.float32)
    if imagej:
        options.update(imagej=True, metadata={**meta.get("imagej_metadata", {}), "axes": axes})
    elif meta.get("ome"):
        options.update(ome=True, metadata={**meta.get("ome_pixels", {}), "axes": axes})
    elif stack.lead_shape:
        options["metadata"] = {"axes": axes}
    else:
        options["metadata"] = None  # a plain image: no shape description
    tifffile.imwrite(tmp, data, **options)


def _is_16bit_colour_png(path: Path) -> bool:
    """PNG header says 16 bits per sample and colour type RGB (2), grey+alpha (4) or RGBA (6):
    Pillow reads only 16-bit plain greyscale PNG at full depth."""
    with open(path, "rb") as f:
        header = f.read(26)
    return len(header) == 26 and header[:8] == b"\x89PNG\r\n\x1a\n" and header[24] == 16 and header[25] in (2, 4, 6)


def is_grey(planes: np.ndarray) -> bool:
    """Whether ...×H×W×C images are greyscale: one channel (with or without alpha), or RGB(A)
    whose three colour channels are equal everywhere (a grey photo saved as RGB)."""
    if planes.shape[-1] <= 2:
        return True
    return bool(np.array_equal(planes[..., 0], planes[..., 1]) and np.array_equal(planes[..., 0], planes[..., 2]))


def intensity_span(*images: np.ndarray) -> tuple[float, float]:
    """(lo, hi): the intensities mapped onto 0..255 for the network. 8-bit: (0, 255), as
    is. 16-bit and float: the colour channels' min and max over ``images`` (alpha aside),
    so no pixel is clipped and the map back is exact; both shots of a real noisy pair share
    one span, so their intensities stay comparable."""
    if all(image.dtype == np.uint8 for image in images):
        return 0.0, 255.0
    colour = [image[..., : (3 if image.shape[-1] >= 3 else 1)] for image in images]
    return float(min(c.min() for c in colour)), float(max(c.max() for c in colour))


def scale_to_255(span: tuple[float, float]) -> float:
    """What ``to_chw_255`` multiplies intensities by (after subtracting lo): 255 / (hi - lo),
    0 for a constant image. A noise level in the image's own units scales by it too."""
    lo, hi = span
    return 255.0 / (hi - lo) if hi > lo else 0.0


def to_chw_255(array: np.ndarray, channels: int, span: tuple[float, float] | None = None):
    """H×W×C array -> C×H×W torch tensor in 0..255 (uint8 for 8-bit sources, float32
    otherwise, mapped from ``span``, default ``intensity_span(array)``; a constant image
    maps to 0), converted to ``channels`` (1 or 3; alpha dropped)."""
    import torch

    colour = array[:, :, : (3 if array.shape[2] >= 3 else 1)]
    if array.dtype != np.uint8:
        span = span or intensity_span(array)
        colour = ((colour.astype(np.float64) - span[0]) * scale_to_255(span)).astype(np.float32)
    if channels == 3 and colour.shape[2] == 1:
        colour = np.repeat(colour, 3, axis=2)
    elif channels == 1 and colour.shape[2] == 3:
        colour = (colour.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]
    # contiguous and writable (a copy of a read-only array, e.g. np.asarray of a Pillow image): torch warns otherwise
    tensor = torch.from_numpy(np.require(colour.transpose(2, 0, 1), requirements=("C", "W")))
    if array.dtype != np.uint8:
        return tensor
    return tensor.round().to(torch.uint8) if tensor.is_floating_point() else tensor


def from_chw_255(image, like: np.ndarray, span: tuple[float, float] | None = None,
                 within_span: bool = True) -> np.ndarray:
    """The inverse of ``to_chw_255``: a C×H×W tensor in 0..255 -> an H×W×C array with the
    dtype of ``like``, mapped back onto ``span`` (default ``intensity_span(like)``, so
    float images keep their own range), and ``like``'s alpha channel passed through.
    ``within_span``: clipped to the span (a denoised image); else only to what the pixel
    type holds (added noise, which may leave a 16-bit or float image's own range)."""
    result = image.permute(1, 2, 0).cpu().numpy()
    if like.dtype == np.uint8:
        result = np.clip(np.round(result), 0, 255).astype(np.uint8)
    else:
        lo, hi = span or intensity_span(like)
        limits = (lo, hi) if within_span else (0, 65535) if like.dtype == np.uint16 else \
            (float(np.finfo(like.dtype).min), float(np.finfo(like.dtype).max))
        result = np.clip(result.astype(np.float64) * ((hi - lo) / 255.0) + lo, *limits)
        result = np.round(result).astype(like.dtype) if like.dtype == np.uint16 else result.astype(like.dtype)
    if like.shape[2] in (2, 4):  # alpha channel
        result = np.concatenate([result, like[:, :, -1:]], axis=2)
    return result


CHANNELS = {"grey": 1, "rgb": 3}  # what a network is fed, by the name a config gives it


def common_channels(stacks: list[ImageStack], channels: str = "auto") -> int:
    """The channel count the images are fed to a network with: ``channels`` 'grey' (1; colour
    converted to ITU-R 601 luma, as Pillow's convert('L')) or 'rgb' (3; grey repeated), or for
    'auto' 1 when every image is greyscale (with or without alpha), else 3."""
    if channels != "auto":
        return CHANNELS[channels]
    return 1 if all(stack.planes.shape[3] <= 2 for stack in stacks) else 3


def plane_names(name: str, stack: ImageStack) -> list[str]:
    """A name per image of a file: the file's own for a still image, ``name[i]`` in a stack."""
    return [name] if len(stack.planes) == 1 else [f"{name}[{i}]" for i in range(len(stack.planes))]


def load_stacks(folder: str | Path, files: list[Path] | None = None,
                channels: str = "auto") -> list[list[tuple[str, object]]]:
    """Per file of a folder, its images as (name, C×H×W tensor 0..255): one for a still
    image, one per plane of a stack, with the channels ``common_channels`` gives them."""
    files = list_images(folder) if files is None else files
    stacks = [read_stack(f) for f in files]
    channels, root = common_channels(stacks, channels), Path(folder)
    return [[(name, to_chw_255(plane, channels))
             for name, plane in zip(plane_names(str(f.relative_to(root)) if f.is_relative_to(root) else f.name,
                                                stack), stack.planes)]
            for f, stack in zip(files, stacks)]


def load_folder(folder: str | Path, files: list[Path] | None = None,
                channels: str = "auto") -> list[tuple[str, object]]:
    """Clean images of a folder as (name, C×H×W tensor 0..255), stacks split into their
    2-D images (see ``load_stacks``)."""
    return [image for images in load_stacks(folder, files, channels) for image in images]


def embedded_images(split: str, channels: str = "auto") -> list[tuple[str, object]]:
    """The bundled scikit-image photographs of one split ('train' or 'test'), RGB unless
    ``channels`` is 'grey'."""
    import skimage.data

    names = {"train": EMBEDDED_TRAIN, "test": EMBEDDED_TEST}[split]
    out = []
    for name in names:
        if name.startswith("motorcycle"):
            left, right, _ = skimage.data.stereo_motorcycle()
            array = left if name.endswith("left") else right
        else:
            array = getattr(skimage.data, name)()
        out.append((name, to_chw_255(np.asarray(array), CHANNELS.get(channels, 3))))
    return out
