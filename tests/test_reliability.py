"""Fault injection: bad input, runs killed mid-training, divergence and untrusted files.

Each catalogue case builds one fault in a temporary folder, runs the ``n2n`` command on
it and checks the promise: exit status 2, one error line naming the fault, no
traceback, and the folder exactly as it was (no partial output, nothing deleted).
docs/reliability.md lists the cases.
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from noise2noise import checkpoint, registry
from noise2noise.cli import main
from noise2noise.config import TrainConfig
from noise2noise.data import SyntheticPairs
from noise2noise.images import load_folder
from noise2noise.noise import GaussianNoise
from noise2noise.train import Diverged, fit
from noise2noise.unet import build_model

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--width", "8", "--depth", "2", "--batch-size", "8", "--val-patches", "16", "--quiet"]
TINY_PKL_VAL = [arg for arg in TINY if arg not in ("--val-patches", "16")]  # a val_data.pkl is validated whole
U8 = torch.uint8
PROGRESS_BAR = re.compile(r"^\w+: +\d+%\|")  # tqdm's bar on stderr is not an error line


class _RunsCode:
    """Unpickling this creates a file: the attack that weights_only must stop."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def run(capsys, *argv) -> tuple[int, str, str]:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_:  # argparse rejects an option
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(root: Path) -> dict[str, tuple]:
    """Every file (size, mtime, content hash: byte for byte) and folder under root."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns, hashlib.sha1(p.read_bytes()).digest())
            if p.is_file() else "dir" for p in sorted(root.rglob("*"))}


# ---- building the faults ------------------------------------------------------------------

def pkl(t: Path, content, name: str = "train_data.pkl") -> Path:
    torch.save(content, t / name)
    return t / name


def pair(shape_a, shape_b=None, dtype=U8, fill=None):
    """Two tensors whose images differ in their first value (identical pairs are refused on their own)."""
    make = (lambda s: torch.full(s, fill, dtype=dtype)) if fill is not None else (lambda s: torch.zeros(s, dtype=dtype))
    second = make(shape_b or shape_a)
    if second.numel():
        second.view(second.shape[0], -1)[:, 0] = 1 if fill in (None, 0) else 0
    return make(shape_a), second


def text(path: Path, content: str) -> Path:
    path.write_text(content)
    return path


def latin1(path: Path, content: str) -> Path:
    path.write_bytes(content.encode("latin-1"))
    return path


def floats(fill: float):
    return pair((4, 3, 8, 8), dtype=torch.float32, fill=fill)


def malicious(t: Path, name: str) -> Path:
    payload = {"format": checkpoint.FORMAT, "model": _RunsCode(t / "pwned")}
    (t / name).write_bytes(pickle.dumps(payload, protocol=2))  # torch's own protocol: the refusal names the call
    return t / name


def truncated(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def folder(t: Path, name: str, files: dict[str, bytes | np.ndarray] | None = None) -> Path:
    (t / name).mkdir()
    for file, content in (files or {}).items():
        (t / name / file).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            (t / name / file).write_bytes(content)
        else:
            iio.imwrite(t / name / file, content)
    return t / name


def tiff_bytes(array: np.ndarray, axes: str | None = None) -> bytes:
    import tifffile

    buffer = io.BytesIO()
    tifffile.imwrite(buffer, array, photometric="minisblack", metadata={"axes": axes} if axes else None)
    return buffer.getvalue()


def animated_png() -> bytes:
    from PIL import Image

    frames = [Image.fromarray(np.full((40, 40, 3), 60 * i, np.uint8)) for i in range(3)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "PNG", save_all=True, append_images=frames[1:])
    return buffer.getvalue()


def png_bytes(t: Path, photos: Path) -> bytes:
    return (photos / "img0.png").read_bytes()


def link(path: Path, target: Path) -> Path:
    path.symlink_to(target)
    return path


def copy(source: Path, target: Path) -> Path:
    shutil.copyfile(source, target)
    return target


def study_file(t: Path, photos: Path) -> Path:
    return text(t / "tiny.toml", f'[base]\ndata = "{photos}"\nwidth = 8\n[tables.t]\naxes = {{ lr = [0.001] }}\n')


def resumable(model_file: Path) -> dict:
    return {**finished_state(model_file), "finished": False}


def train(t: Path, *extra) -> list:
    return ["train", "--out", t / "run", *TINY, *extra]


def checkpoint_file(t: Path, name: str, **payload) -> Path:
    torch.save({"format": checkpoint.FORMAT, **payload}, t / name)
    return t / name


def diverged_model(t: Path, model_file: Path) -> Path:
    """model_file with finite but huge weights, as a too large step leaves them: its output overflows."""
    model, _ = checkpoint.load_model(model_file)
    with torch.no_grad():
        for weight in model.parameters():
            weight.mul_(1e12)
    return checkpoint.save(t / "diverged.pt", model, TrainConfig(width=8, depth=2))


def deep_path(t: Path, length_bytes: int, name: str = "out") -> Path:
    """The path t/ddd.../name of ``length_bytes`` bytes from the root, each folder name a legal
    200 or fewer: its folder nearly as long."""
    folder, room = t.absolute(), length_bytes - len(name) - 1
    while len(str(folder)) + 201 < room:
        folder = folder / ("d" * 200)
    return folder / ("e" * (room - len(str(folder)) - 1)) / name


def run_folder(t: Path, payload: dict) -> Path:
    (t / "run").mkdir()
    torch.save(payload, t / "run" / "checkpoint.pt")
    return t / "run"


def finished_state(model_file: Path) -> dict:
    state = checkpoint.load(model_file)
    return {**state, "optimizer": {}, "step": 10, "images": 80, "train_time_s": 1.0,
            "rng_cpu": torch.Generator().get_state(), "rng_device": torch.Generator().get_state(),
            "finished": True}


def unknown_name_cases():
    return [pytest.param(lambda t, p, m, kind=kind: train(t, "--data", p, f"--{kind}", "bogus"),
                         f"unknown {kind} 'bogus'; choose from", id=f"unknown-{kind}-name")
            for kind in registry.kinds()]


# Each case: build(tmp, photo_folder, model_file) -> argv, and a piece of the error line.
CASES = [
    # course tensor files (.pkl): the pair, its shape, dtype and values
    pytest.param(lambda t, p, m: train(t, "--data", pkl(t, pair((4, 3, 32, 32), (4, 3, 32, 16)))),
                 "differ in shape", id="pkl-pair-shapes-differ"),
    pytest.param(lambda t, p, m: train(t, "--data", pkl(t, pair((4, 3, 32, 32), (5, 3, 32, 32)))),
                 "differ in shape", id="pkl-pair-counts-differ"),
    pytest.param(lambda t, p, m: train(t, "--data", pkl(t, pair((4, 2, 32, 32)))),
                 "expected N×C×H×W images with C in (1, 3), got shape (4, 2, 32, 32)", id="pkl-two-channels"),
    pytest.param(lambda t, p, m: train(t, "--data", pkl(t, pair((3, 32, 32)))),
                 "got shape (3, 32, 32)", id="pkl-no-batch-dimension"),
    pytest.param(lambda t, p, m: train(t, "--data", pkl(t, pair((0, 3, 32, 32)))),
                 "shape (0, 3, 32, 32) holds no pixels", id="pkl-no-images"),
    pytest.param(lambda t, p, m: train(t, "--data", pkl(t, pair((4, 3, 8, 8), dtype=torch.int64))),
                 "expected uint8 or float pixels, got torch.int64", id="pkl-int64-pixels"),
    pytest.param(lambda t, p, m: train(t, "--data", pkl(t, floats(300.0))),
                 "values must lie in 0..255, found 300..300", id="pkl-values-above-255"),
    pytest.param(lambda t, p, m: train(t, "--data", pkl(t, floats(-1.0))),
                 "values must lie in 0..255", id="pkl-negative-values"),
    pytest.param(lambda t, p, m: train(t, "--data", pkl(t, floats(float("nan")))),
                 "contains NaN or infinite values", id="pkl-nan-pixels"),
    pytest.param(lambda t, p, m: train(t, "--data", pkl(t, floats(float("inf")))),
                 "contains NaN or infinite values", id="pkl-inf-pixels"),
    pytest.param(lambda t, p, m: train(t, "--data", pkl(t, {"noisy": torch.zeros(1)})),
                 "expected a pair of tensors", id="pkl-dict-not-course-format"),
    pytest.param(lambda t, p, m: train(t, "--data", pkl(t, (*pair((4, 3, 8, 8)), torch.zeros(1)))),
                 "expected a pair of tensors", id="pkl-three-tensors"),
    pytest.param(lambda t, p, m: train(t, "--data", pkl(t, ("noisy", "clean"))),
                 "expected a tensor, got str", id="pkl-pair-of-strings"),
    pytest.param(lambda t, p, m: train(t, "--data", text(t / "train_data.pkl", "noisy_1,noisy_2\n")),
                 "train_data.pkl: not a course data file of tensors", id="pkl-is-a-text-file"),
    pytest.param(lambda t, p, m: train(t, "--data", truncated(pkl(t, pair((8, 3, 32, 32))))),
                 "train_data.pkl: not a course data file of tensors", id="pkl-truncated"),
    pytest.param(lambda t, p, m: train(t, "--data", malicious(t, "train_data.pkl")),
                 "refused to load", id="pkl-malicious-pickle"),
    pytest.param(lambda t, p, m: train(t, "--data", t / "nope.pkl"), "nope.pkl: no such file", id="pkl-missing"),
    pytest.param(lambda t, p, m: ["train", "--out", t / "run", *TINY_PKL_VAL, "--data", pkl(t, pair((8, 3, 32, 32))),
                                  "--val-data", pkl(t, pair((4, 1, 32, 32)), "val_data.pkl")],
                 "validation data has 1 channels but training data has 3", id="pkl-val-channels-differ"),
    # folders of clean images
    pytest.param(lambda t, p, m: train(t, "--data", t / "missing"), "missing: no such file or folder",
                 id="folder-missing"),
    pytest.param(lambda t, p, m: train(t, "--data", folder(t, "empty")), "empty: no images found",
                 id="folder-empty"),
    pytest.param(lambda t, p, m: train(t, "--data", folder(t, "web", {"a.webp": b"RIFF", "raw/b.CR2": b"II*"})),
                 "web: no images found (n2n reads .png, .jpg, .jpeg, .tif, .tiff, .bmp, .jfif, .jpe from a folder; it "
                 "holds 2 file(s) such as a.webp: convert them to PNG or TIFF)", id="folder-of-webp-and-raw-only"),
    pytest.param(lambda t, p, m: train(t, "--data", folder(t, "notes", {"notes.png": b"not a picture"})),
                 "notes.png: not a readable image", id="image-not-an-image"),
    pytest.param(lambda t, p, m: train(t, "--data", folder(t, "cut", {"cut.png": png_bytes(t, p)[:300]})),
                 "cut.png: not a readable image", id="image-truncated"),
    pytest.param(lambda t, p, m: train(t, "--data", folder(t, "i", {"f.tif": tiff_bytes(np.full((40, 40), -5,
                                                                                                 np.int32))})),
                 "f.tif: int32 pixels from -5 to -5: integer images are read as 0..65535, and these have negative "
                 "values; save it as float32 TIFF",
                 id="image-int32-pixels"),
    pytest.param(lambda t, p, m: train(t, "--data", folder(t, "nan", {"f.tif": tiff_bytes(np.full((40, 40), np.nan,
                                                                                                 np.float32))})),
                 "f.tif: 1600 pixel value(s) are NaN or infinite (the first at S=0, Y=0, X=0, C=0)",
                 id="image-nan-pixels"),
    pytest.param(lambda t, p, m: train(t, "--data", folder(t, "anim", {"a.png": animated_png()})),
                 "a.png: PNG with 3 frames (animated or multi-page); n2n reads still images and TIFF stacks",
                 id="image-animated"),
    pytest.param(lambda t, p, m: train(t, "--data", folder(t, "pairs", {
        "A/x.tif": tiff_bytes(np.zeros((3, 40, 40), np.uint16), "ZYX"),
        "B/x.tif": tiff_bytes(np.zeros((2, 40, 40), np.uint16), "ZYX")})),
                 "x.tif: a stack of 2 images but its partner", id="pairs-stack-counts-differ"),
    pytest.param(lambda t, p, m: train(t, "--data", folder(t, "pairs", {
        "A/x.png": np.zeros((40, 40, 3), np.uint8), "B/x.png": np.zeros((40, 40), np.uint8)})),
                 "x.png: a uint8 greyscale image, but its partner", id="pairs-channels-differ"),
    pytest.param(lambda t, p, m: train(t, "--data", folder(t, "shots", {
        **{f"{scene}_{shot}.png": np.zeros((40, 40, 3), np.uint8) for scene in "xy" for shot in "12"},
        "single.png": np.zeros((40, 40, 3), np.uint8)})),  # trained as 5 clean photos with noise added, exit 0
                 "shots: 4 file(s) named name_1.*/name_2.* and 1 other(s) such as single.png: pairs of noisy shots "
                 "or clean photos?", id="pairs-folder-with-a-stray-file"),
    pytest.param(lambda t, p, m: train(t, "--data", folder(t, "outer", {
        "inner/A/x.png": np.zeros((40, 40, 3), np.uint8), "inner/B/x.png": np.zeros((40, 40, 3), np.uint8)})),
                 "inner: holds A/ and B/ pairs inside", id="pairs-folder-one-level-down"),
    pytest.param(lambda t, p, m: train(t, "--data", p, "--val-data", p),  # validation scored training images
                 "the validation data overlap the training data", id="val-data-is-the-training-data"),
    pytest.param(lambda t, p, m: train(t, "--data", p, "--val-data", folder(t, "ab", {
        "A/x.png": np.zeros((40, 40, 3), np.uint8), "B/x.png": np.zeros((40, 40, 3), np.uint8)})),
                 "ab: holds pairs of noisy shots, but --val-data takes clean images", id="val-data-is-a-pairs-folder"),
    # settings these data would not use: trained with exit 0 while config.json recorded them
    pytest.param(lambda t, p, m: train(t, "--data", pkl(t, pair((4, 3, 32, 32))), "--crop-px", "16"),
                 "tensor pairs are trained on whole, each once an epoch, so crop_px=16 would not be used; leave it out",
                 id="tensor-pairs-with-crop-px"),
    pytest.param(lambda t, p, m: train(t, "--data", pkl(t, pair((4, 3, 32, 32))), "--val-fraction", "0.5"),
                 "noisy images have no clean ones to hold out, so val_fraction=0.5 would not be used",
                 id="pairs-with-val-fraction"),
    pytest.param(lambda t, p, m: train(t, "--data", pkl(t, pair((6, 3, 32, 32))), "--batch-size", "7"),
                 "an epoch holds 6 pairs, so batch_size=7 would not be used (every step would train on at most 6); "
                 "use --batch-size 6 or fewer", id="tensor-pairs-fewer-than-a-batch"),
    pytest.param(lambda t, p, m: train(t, "--data", p, "--pairs-per-epoch", "5"),
                 "an epoch holds 5 pairs, so batch_size=8 would not be used", id="pairs-per-epoch-below-batch"),
    pytest.param(lambda t, p, m: train(t, "--data", p, "--noisy-data", "--mode", "neighbor2neighbor",
                                       "--noise-level", "50"),
                 "single noisy images are used as they are and, with no --val-data, nothing adds noise",
                 id="noisy-data-with-noise-options"),
    pytest.param(lambda t, p, m: train(t, "--data", p, "--val-fraction", "0.3", "--val-data", folder(t, "val", {
        "v.png": np.zeros((40, 40, 3), np.uint8)})),
                 "--val-data is the validation, so val_fraction=0.3", id="val-data-with-val-fraction"),
    pytest.param(lambda t, p, m: train(t, "--data", folder(t, "pairs", {
        "x_1.png": np.zeros((40, 40), np.uint8), "x_2.png": np.zeros((40, 40), np.uint16)})),
                 "x_2.png: a uint16 greyscale image, but its partner", id="pairs-bit-depth-differ"),
    pytest.param(lambda t, p, m: train(t, "--data", folder(t, "holiday", {
        "beach_1.png": np.zeros((40, 40, 3), np.uint8), "beach_2.png": np.full((40, 40, 3), 9, np.uint8)}),
        "--noise", "poisson", "--noise-level", "5"),
                 "holiday: holds pairs of noisy images; noise='poisson' with noise_level=[5.0, 5.0] is for clean "
                 "photos", id="pairs-folder-with-noise-options"),
    pytest.param(lambda t, p, m: train(t, "--data", p, "--crop-px", "96"),
                 "img0.png: image is 75×67 px, smaller than the 96 px crop", id="image-smaller-than-crop"),
    pytest.param(lambda t, p, m: train(t, "--data", p / "img0.png"), "img0.png: expected a folder of images",
                 id="data-is-a-single-image"),
    pytest.param(lambda t, p, m: train(t, "--data", p, "--val-data", folder(t, "val")), "val: no images found",
                 id="val-folder-empty"),
    # budgets, batches, learning rates and other config values
    pytest.param(lambda t, p, m: train(t, "--batch-size", "0"), "batch_size=0 must be a positive integer",
                 id="batch-size-zero"),
    pytest.param(lambda t, p, m: train(t, "--batch-size", "-4"), "batch_size=-4 must be a positive integer",
                 id="batch-size-negative"),
    pytest.param(lambda t, p, m: train(t, "--lr", "0"), "lr=0.0 must be a finite number > 0", id="lr-zero"),
    pytest.param(lambda t, p, m: train(t, "--lr=-1e-3"), "lr=-0.001 must be a finite number > 0", id="lr-negative"),
    pytest.param(lambda t, p, m: train(t, "--lr", "nan"), "lr=nan must be a finite number > 0", id="lr-nan"),
    pytest.param(lambda t, p, m: train(t, "--lr", "inf"), "lr=inf must be a finite number > 0", id="lr-inf"),
    pytest.param(lambda t, p, m: train(t, "--lr", "fast"), "argument --lr: invalid float value", id="lr-not-a-number"),
    pytest.param(lambda t, p, m: train(t, "--time-budget", "0"), "time_budget='0s' must be > 0",
                 id="time-budget-zero"),
    pytest.param(lambda t, p, m: train(t, "--time-budget=-5m"),
                 "time_budget='-5m' is neither a duration nor an amount of work", id="time-budget-negative"),
    pytest.param(lambda t, p, m: train(t, "--time-budget", "none"), "needs time_budget or epochs",
                 id="no-budget-no-epochs"),
    pytest.param(lambda t, p, m: train(t, "--epochs", "0"), "epochs=0 must be a positive integer or none",
                 id="epochs-zero"),
    pytest.param(lambda t, p, m: train(t, "--pairs-per-epoch", "-1"), "pairs_per_epoch=-1 must be a positive",
                 id="pairs-per-epoch-negative"),
    pytest.param(lambda t, p, m: train(t, "--crop-px", "31"), "crop_px=31 must be even", id="crop-odd"),
    pytest.param(lambda t, p, m: train(t, "--width", "0"), "width=0 must be a positive integer", id="width-zero"),
    pytest.param(lambda t, p, m: train(t, "--noise-level", "-5"), "noise_level='-5' must be a finite number >= 0",
                 id="noise-level-negative"),
    pytest.param(lambda t, p, m: train(t, "--noise-level", "300"),
                 "noise_level=300 is outside [0, 255]: for noise='gaussian' it is the sigma",
                 id="noise-level-above-255"),
    pytest.param(lambda t, p, m: train(t, "--val-fraction", "1"), "val_fraction=1.0 must be a number in [0, 1)",
                 id="val-fraction-one"),
    pytest.param(lambda t, p, m: train(t, "--checkpoint-every-s", "-1"),
                 "checkpoint_every_s=-1.0 must be a finite number >= 0",
                 id="checkpoint-interval-negative"),
    *unknown_name_cases(),
    pytest.param(lambda t, p, m: train(t, "--config", t / "nope.toml"), "nope.toml: cannot read config",
                 id="config-file-missing"),
    pytest.param(lambda t, p, m: train(t, "--config", text(t / "bad.toml", "lr = = 3\n")),
                 "bad.toml: not a valid config file", id="config-file-not-toml"),
    pytest.param(lambda t, p, m: train(t, "--config", text(t / "bad.toml", "learning_rate = 0.1\n")),
                 "bad.toml: unknown config field 'learning_rate'", id="config-file-unknown-field"),
    pytest.param(lambda t, p, m: train(t, "--config", text(t / "bad.toml", 'lr = "fast"\n')),
                 "bad.toml: config field lr='fast' must be a finite number > 0",
                 id="config-file-wrong-type"),
    pytest.param(lambda t, p, m: train(t, "--config", text(t / "bad.toml", "time_budget_s = inf\n")),
                 "bad.toml: config field time_budget=inf must be a finite duration",
                 id="config-file-infinite-budget"),
    pytest.param(lambda t, p, m: train(t, "--noise-level", "nan"), "noise_level='nan' must be a finite number",
                 id="noise-level-nan"),
    pytest.param(lambda t, p, m: train(t, "--noise-level", "inf"), "noise_level='inf' must be a finite number",
                 id="noise-level-inf"),
    pytest.param(lambda t, p, m: ["evaluate", "--model", m, "--data", p, "--noise-level", "nan"],
                 "noise_level='nan' must be a finite number", id="evaluate-noise-level-nan"),
    pytest.param(lambda t, p, m: ["denoise", folder(t, "unit", {
        "a.tif": np.linspace(0, 1, 400, dtype=np.float32).reshape(20, 20), "b.png": np.zeros((20, 20), np.uint8)}),
        "-o", t / "out", "--model", "gaussian-gray", "--noise-level", "25"],
                 "a.tif: noise level 25 is in the image's own units, and this float32 image spans 0..1: that is sigma "
                 "6375 on 0..255", id="denoise-noise-level-beyond-the-image-range"),
    pytest.param(lambda t, p, m: ["data"], "required: {export-course,add-noise}", id="data-without-a-command"),
    # a level that no part of the denoising uses was taken and ignored, with exit 0
    pytest.param(lambda t, p, m: ["denoise", p / "img0.png", "-o", t / "o.png", "--model", "gaussian", "--noise-level",
                                  "25", "--no-mean-match"],
                 "noise level 25 would not be used: the network is not told sigma and mean matching is off",
                 id="denoise-noise-level-unused"),
    pytest.param(lambda t, p, m: ["data", "add-noise", folder(t, "flat", {"f.png": np.full((20, 20), 1000, np.uint16)})
                                  / "f.png", "-o", t / "n.png"],
                 "f.png: every pixel is 1000; the noise level of a uint16 image is in 1/255 of its own min..max range",
                 id="add-noise-constant-16-bit"),
    pytest.param(lambda t, p, m: ["denoise", p / "img0.png", "-o", t / ("x" * 252 + ".png"), "--model", m],
                 "is 256 bytes long, and file systems take at most 255", id="denoise-output-name-too-long"),  # exit 1
    pytest.param(lambda t, p, m: ["train", "--data", p, "--out", t.joinpath(*["d" * 200] * 21)],
                 "the path is too long to write (4", id="train-out-path-too-long"),  # exit 1, 4 kB of path
    pytest.param(lambda t, p, m: ["train", "--data", p, "--out", deep_path(t, 4085)],
                 "bytes with a temporary file in it; the system takes at most 4095); choose a shorter --out",
                 id="train-out-path-nearly-too-long"),  # config.json.tmp did not fit: exit 1, 4 kB line
    pytest.param(lambda t, p, m: ["denoise", p / "img0.png", "-o", deep_path(t, 4085, "o.png"), "--model", m],
                 "with a temporary file beside it", id="denoise-output-path-nearly-too-long"),
    pytest.param(lambda t, p, m: ["data", "add-noise", p, "-o", t / "n.png"],
                 "photos: is a folder; give one image file", id="add-noise-input-is-a-folder"),  # "no such image file"
    pytest.param(lambda t, p, m: ["denoise", "/dev/null", "-o", t / "n.png", "--model", m],
                 "/dev/null: not a regular file; give an image file", id="denoise-input-is-a-device"),
    pytest.param(lambda t, p, m: ["data", "add-noise", p / "img0.png", "-o", link(t / "link.png", t / "gone.png")],
                 "link.png: already exists; pass --overwrite", id="add-noise-output-is-a-link-to-a-missing-file"),
    pytest.param(lambda t, p, m: ["data", "add-noise", p / "img0.png", "-o", t / "n.png", "--noise",
                                  "poisson", "--noise-level", "1e-46"],  # NaN pixels, written black, exit 0
                 "noise_level=1e-46 is outside [0.001, 1e+09]", id="add-noise-poisson-scale-underflows"),
    pytest.param(lambda t, p, m: ["data", "add-noise", p / "img0.png", "-o", t / "n.png", "--noise-level", "inf"],
                 "noise_level='inf' must be a finite number", id="add-noise-level-inf"),
    pytest.param(lambda t, p, m: ["data", "export-course", p, "--out", t / "c", "--noise-level", "nan"],
                 "noise_level='nan' must be a finite number", id="export-noise-level-nan"),
    pytest.param(lambda t, p, m: train(t, "--seed", str(2**63)),
                 "seed=9223372036854775808 must be an integer in 0..9223372036854775807", id="seed-beyond-64-bits"),
    pytest.param(lambda t, p, m: train(t, "--seed=-1"), "seed=-1 must be an integer in 0..9223372036854775807",
                 id="seed-negative"),
    pytest.param(lambda t, p, m: ["evaluate", "--model", m, "--data", p, "--out", "/proc/n2n-table.json"],
                 "/proc/n2n-table.json: cannot write there", id="evaluate-out-where-no-file-can-be-made",
                 marks=pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="Linux /proc")),
    # identical pairs (a frame copied twice, one tensor passed twice) trained a network that returns its input
    pytest.param(lambda t, p, m: train(t, "--data", pkl(t, (torch.zeros(4, 3, 8, 8, dtype=U8),) * 2), "--time-budget",
                                       "2 steps"),
                 "train_data.pkl: the two images of all 4 pairs are identical", id="tensor-pairs-identical"),
    pytest.param(lambda t, p, m: train(t, "--data", folder(t, "shots", {"A/s.png": png_bytes(t, p),
                                                                       "B/s.png": png_bytes(t, p)}),
                                       "--time-budget", "2 steps"),
                 "s.png: the two images of the pair are identical", id="folder-pair-identical"),
    # a folder of noisy pairs, as train reads it, was taken as clean photos: noise added to noisy shots, or
    # methods scored against a noisy shot, with exit 0
    pytest.param(lambda t, p, m: ["data", "export-course", folder(t, "shots", {f"s{i}_{k}.png": png_bytes(t, p)
                                                                            for i in range(2) for k in (1, 2)}),
                                  "--out", t / "c", "--pairs", "8", "--val-pairs", "4"],
                 "shots: holds 2 pair(s) of noisy shots", id="export-course-of-a-pairs-folder"),
    pytest.param(lambda t, p, m: ["evaluate", "--methods", "noisy", "--data", folder(t, "shots", {
        "A/s.png": png_bytes(t, p), "B/s.png": png_bytes(t, p)})],
                 "shots: holds 1 pair(s) of noisy shots", id="evaluate-on-a-pairs-folder"),
    pytest.param(lambda t, p, m: ["data", "export-course", folder(t, "mixed", {
        "photo.png": png_bytes(t, p), "x/A/s.png": png_bytes(t, p), "x/B/s.png": png_bytes(t, p)}),
        "--out", t / "c", "--pairs", "8", "--val-pairs", "4"],
                 "mixed/x: holds A/ and B/ pairs inside", id="export-course-with-pairs-inside"),
    pytest.param(lambda t, p, m: ["evaluate", "--model", m, "--data", p, "--seed=-1"],
                 "seed=-1 must be an integer in 0..", id="evaluate-seed-negative"),
    pytest.param(lambda t, p, m: ["evaluate", "--model", m, "--data", pkl(t, pair((4, 3, 32, 32)), "val_data.pkl"),
                                  "--noise-level", "50", "--split", "val"],
                 "val_data.pkl: a course tensor file holds its own noisy and clean images, so --split, --noise-level "
                 "would not be used; leave them out", id="evaluate-pkl-with-noise-options"),
    pytest.param(lambda t, p, m: ["evaluate", "--data", p, "--methods", "N2N"],  # listed only bm3d, nlm, noisy
                 "--methods: unknown method 'N2N'; choose from bm3d, nlm, noisy, n2n (the --model) and n2c",
                 id="evaluate-method-unknown"),
    pytest.param(lambda t, p, m: ["evaluate", "--model", m, "--data", pkl(t, pair((4, 1, 32, 32)), "val_data.pkl")],
                 "val_data.pkl: holds 1-channel images, and the model takes 3-channel ones; evaluate a 1-channel "
                 "model (the shipped one: --model gaussian-gray)", id="evaluate-pkl-other-channels"),  # RuntimeError
    pytest.param(lambda t, p, m: ["evaluate", "--data", p, "--methods", "noisy", "--model", t / "nope.pt"],
                 "--model is for method n2n, which --methods noisy leaves out: it would not be used",
                 id="evaluate-model-unused"),
    pytest.param(lambda t, p, m: ["evaluate", "--data", p, "--model", m, "--methods", "noisy,n2n", "--clean-model",
                                  m], "--clean-model is for method n2c", id="evaluate-clean-model-unused"),
    pytest.param(lambda t, p, m: ["evaluate", "--data", p, "--methods", "noisy", "--tta"],
                 "--tta ensembles methods n2n and n2c", id="evaluate-tta-unused"),
    pytest.param(lambda t, p, m: ["evaluate", "--data", p, "--model", m, "--split", "all", "--val-fraction", "0.5"],
                 "--val-fraction sets the held-out share of --split val or train, and --split all takes every image",
                 id="evaluate-val-fraction-unused"),
    pytest.param(lambda t, p, m: train(t, "--data", p, "--init-weights", t / "nope.pt"),
                 "nope.pt: no such checkpoint file, nor a shipped model of that name", id="init-weights-missing"),
    pytest.param(lambda t, p, m: train(t, "--data", p, "--width", "4", "--init-weights", m),
                 "holds a network of width 8, wider than the config's 4; set width to 8 or more to train on from it",
                 id="init-weights-wider-than-config"),
    pytest.param(lambda t, p, m: train(t, "--data", p, "--depth", "3", "--init-weights", m),
                 "holds a network of depth 2, the config asks for 3; set depth to 2 to train on from it",
                 id="init-weights-other-depth"),
    pytest.param(lambda t, p, m: train(t, "--clip", "false"), "n2n train: error: unrecognized arguments: false",
                 id="bool-option-with-value"),
    pytest.param(lambda t, p, m: ["--quiet", *train(t)], "n2n: error: unrecognized arguments: --quiet",
                 id="command-option-before-the-command"),  # was blamed on 'n2n train'
    pytest.param(lambda t, p, m: ["data", "add-noise", p / "img0.png", "-o", t / "o.png", "--sigma", "5"],
                 "n2n data add-noise: error: unrecognized arguments: --sigma 5", id="subcommand-unknown-option"),
    pytest.param(lambda t, p, m: train(t, "--config", text(t / "bad.toml", 'clip = "false"\n')),
                 "bad.toml: config field clip='false' must be true or false (a boolean, not text: write false",
                 id="config-file-bool-as-text"),
    pytest.param(lambda t, p, m: train(t, "--config", text(t / "bad.toml", 'compile_model = "no"\n')),
                 "compile_model='no' must be true or false", id="config-file-bool-as-no"),
    pytest.param(lambda t, p, m: train(t, "--config", text(t / "bad.toml", "seed = 99999999999999999999\n")),
                 "seed=99999999999999999999 must be an integer in 0..", id="config-file-huge-int"),
    pytest.param(lambda t, p, m: train(t, "--config", text(t / "bad.toml", "batch_size = 2.5\n")),
                 "batch_size=2.5 must be a positive integer", id="config-file-float-for-int"),
    pytest.param(lambda t, p, m: train(t, "--config", text(t / "bad.toml", "noise_level = nan\n")),
                 "noise_level=nan must be a finite number", id="config-file-nan-noise-level"),
    pytest.param(lambda t, p, m: train(t, "--config", latin1(t / "bad.toml", "noise = 'gauß'\n")),
                 "bad.toml: not UTF-8 text (byte 0xdf at offset 12); save the config as UTF-8",
                 id="config-file-not-utf8"),
    pytest.param(lambda t, p, m: ["sweep", latin1(t / "study.toml", "title = 'Größe'\n"), "--out", t / "s"],
                 "study.toml: not UTF-8 text (byte 0xf6 at offset 11); save the study file as UTF-8",
                 id="study-file-not-utf8"),
    pytest.param(lambda t, p, m: train(t, "--data", p, "--device", "cuda", "--time-budget", "none", "--epochs", "1"),
                 "no CUDA GPU is available", id="device-cuda-without-gpu",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")),
    pytest.param(lambda t, p, m: train(t, "--data", p, "--lr", "1e6", "--optimizer", "sgd", "--warmup", "0",
                                       "--log-every", "1", "--time-budget", "none", "--epochs", "1",
                                       "--pairs-per-epoch", "64"),
                 "diverged at step", id="loss-diverges"),
    pytest.param(lambda t, p, m: train(t, "--data", p, "--lr", "1e10", "--optimizer", "sgd", "--time-budget", "2 steps",
                                       "--crop-px", "32", "--batch-size", "4", "--val-whole-images", "0"),
                 # the loss was finite, the step after it was not: NaN validation, a finished run, exit 0
                 "diverged at step 2: the network's output on the validation images is not finite",
                 id="output-diverges"),
    pytest.param(lambda t, p, m: train(t, "--data", pkl(t, pair((8, 3, 32, 32), fill=200)), "--lr", "1e10",
                                       "--optimizer", "sgd", "--time-budget", "2 steps", "--batch-size", "4"),
                 # no validation to show it: saved as a finished run, exit 0
                 "diverged at step 2: the network's output is not finite", id="output-diverges-without-validation"),
    # output folders
    pytest.param(lambda t, p, m: text(t / "run", "a file") and train(t), "run: exists and is not a folder",
                 id="out-is-a-file"),
    pytest.param(lambda t, p, m: text(t / "afile", "") and ["train", "--out", t / "afile" / "run", *TINY],
                 "afile is a file; choose another --out", id="out-unwritable-parent-is-a-file"),
    pytest.param(lambda t, p, m: folder(t, "run", {"keep.txt": b"precious"}) and train(t, "--data", p),
                 "folder exists and is not empty", id="out-existing-run"),
    pytest.param(lambda t, p, m: folder(t, "run", {"config.json": b"{}", "keep.txt": b"precious"})
                 and train(t, "--overwrite", "--data", t / "missing"),
                 "missing: no such file or folder", id="overwrite-with-bad-data-keeps-old-run"),
    pytest.param(lambda t, p, m: ["train", "--resume", "--out", t / "run"], "no checkpoint.pt to resume from",
                 id="resume-without-checkpoint"),
    pytest.param(lambda t, p, m: run_folder(t, {**checkpoint.load(m), "finished": False})
                 and ["train", "--resume", "--out", t / "run"], "holds no training state", id="resume-weights-only"),
    pytest.param(lambda t, p, m: run_folder(t, finished_state(m)) and ["train", "--resume", "--out", t / "run"],
                 "that run already finished", id="resume-finished-run"),
    pytest.param(lambda t, p, m: folder(t, "run") and malicious(t / "run", "checkpoint.pt")
                 and ["train", "--resume", "--out", t / "run"], "refused to load", id="resume-malicious-checkpoint"),
    pytest.param(lambda t, p, m: run_folder(t, finished_state(m)) and truncated(t / "run" / "checkpoint.pt")
                 and ["train", "--resume", "--out", t / "run"], "a damaged zip archive",
                 id="resume-truncated-checkpoint"),
    pytest.param(lambda t, p, m: ["train", "--resume", "--out", t / "run", "--lr", "0.1"],
                 "drop --lr", id="resume-with-new-options"),
    # checkpoints given to evaluate and denoise
    pytest.param(lambda t, p, m: ["evaluate", "--model", malicious(t, "evil.pt"), "--data", p],
                 "evil.pt: not a safe noise2noise checkpoint, refused to load (Unsupported global",
                 id="model-malicious-evaluate"),
    pytest.param(lambda t, p, m: ["denoise", p / "img0.png", "-o", t / "out.png", "--model", malicious(t, "evil.pt")],
                 "evil.pt: not a safe noise2noise checkpoint, refused to load", id="model-malicious-denoise"),
    pytest.param(lambda t, p, m: ["denoise", p / "img0.png", "-o", t / "o.png", "--model", t / "nope.pt"],
                 "nope.pt: no such checkpoint file", id="model-missing"),
    pytest.param(lambda t, p, m: ["denoise", p / "img0.png", "-o", t / "o.png", "--model", pkl(t, pair((2, 3, 8, 8)))],
                 "not a noise2noise checkpoint", id="model-is-a-course-file"),
    pytest.param(lambda t, p, m: ["denoise", p / "img0.png", "-o", t / "o.png", "--model",
                                  checkpoint_file(t, "empty.pt", config={})],
                 "empty.pt: damaged checkpoint, no usable network", id="model-without-network"),
    pytest.param(lambda t, p, m: ["denoise", p / "img0.png", "-o", t / "o.png", "--model", checkpoint_file(
        t, "mixed.pt", **{**checkpoint.load(m), "model_args": {**checkpoint.load(m)["model_args"], "width": 16}})],
                 "mixed.pt: weights do not fit the recorded network", id="model-weights-mismatch"),
    # evaluate, denoise and export-course inputs and outputs
    pytest.param(lambda t, p, m: ["evaluate", "--model", m, "--data", p, "--max-images", "0"],
                 "argument --max-images: expected a positive integer", id="evaluate-max-images-zero"),
    pytest.param(lambda t, p, m: ["evaluate", "--model", m, "--data", p, "--max-images", "1.5"],
                 "argument --max-images: expected a positive integer, got '1.5'", id="evaluate-max-images-not-whole"),
    pytest.param(lambda t, p, m: ["evaluate", "--model", m, "--data", p, "--noise", "pink"],
                 "unknown noise 'pink'", id="evaluate-unknown-noise"),
    pytest.param(lambda t, p, m: ["evaluate", "--model", m, "--data", t / "missing"],
                 "missing: no such file or folder", id="evaluate-data-missing"),
    pytest.param(lambda t, p, m: text(t / "afile", "") and ["evaluate", "--model", m, "--data", p,
                                                                   "--max-images", "1", "--out", t / "afile" / "ev"],
                 "cannot write there", id="evaluate-out-unwritable"),
    pytest.param(lambda t, p, m: ["denoise", p / "img0.png", "-o", t / "o.png", "--model", diverged_model(t, m)],
                 "the network's output is not finite (NaN or infinite): its weights are broken",  # was a black image
                 id="denoise-diverged-model"),
    pytest.param(lambda t, p, m: ["evaluate", "--model", diverged_model(t, m), "--data", p, "--noise-level", "25"],
                 "the network's output is not finite", id="evaluate-diverged-model"),
    pytest.param(lambda t, p, m: ["denoise", t / "missing.png", "-o", t / "o.png", "--model", m],
                 "missing.png: no such file or folder", id="denoise-input-missing"),
    pytest.param(lambda t, p, m: folder(t, "in", {"x.png": b"GIF89a junk"}) and
                 ["denoise", t / "in" / "x.png", "-o", t / "o.png", "--model", m],
                 "x.png: not a readable image", id="denoise-input-not-an-image"),
    pytest.param(lambda t, p, m: ["denoise", p / "img0.png", "-o", p / "img0.png", "--model", m],
                 "img0.png: the output would overwrite this input", id="denoise-output-is-input"),
    pytest.param(lambda t, p, m: ["denoise", p, "-o", p, "--model", m],
                 "the output would overwrite this input", id="denoise-folder-onto-itself"),
    pytest.param(lambda t, p, m: text(t / "afile", "") and ["denoise", p / "img0.png", "-o",
                                                                   t / "afile" / "o.png", "--model", m],
                 "cannot write there", id="denoise-out-unwritable"),
    pytest.param(lambda t, p, m: ["denoise", folder(t, "in", {"f.tif": tiff_bytes(np.ones((40, 40), np.float32))})
                                  / "f.tif", "-o", t / "o.png", "--model", m],
                 "o.png: PNG cannot hold this float32 greyscale image; write it as TIFF (.tif)",
                 id="denoise-float-to-png"),
    pytest.param(lambda t, p, m: ["denoise", folder(t, "in", {"a.png": np.full((40, 40, 4), 9, np.uint8)}) / "a.png",
                                  "-o", t / "o.jpg", "--model", m],
                 "o.jpg: JPEG cannot hold this uint8 RGBA image", id="denoise-alpha-to-jpeg"),
    pytest.param(lambda t, p, m: ["denoise", folder(t, "in", {"z.tif": tiff_bytes(np.ones((3, 40, 40), np.uint8),
                                                                                    "ZYX")}) / "z.tif",
                                  "-o", t / "o.png", "--model", m],
                 "o.png: PNG cannot hold a uint8 greyscale stack of 3 images (ZYX)", id="denoise-stack-to-png"),
    pytest.param(lambda t, p, m: ["denoise", folder(t, "in", {"two.tif": tiff_bytes(np.ones((40, 50, 2), np.uint8))})
                                  / "two.tif", "-o", t / "o.tif", "--model", m],
                 "two.tif: names no axes, so it reads as 40 images of 50x2 px; if its last axis holds 2 channels, "
                 "save it with its axes", id="denoise-tiff-channels-last-without-axes"),
    pytest.param(lambda t, p, m: ["denoise", folder(t, "in", {"a.png": png_bytes(t, p), "b.png": b"junk"}),
                                  "-o", t / "out", "--model", m],
                 "b.png: not a readable image", id="denoise-folder-with-a-bad-file"),
    pytest.param(lambda t, p, m: text(t / "afile", "") and [
        "data", "export-course", p, "--out", t / "afile" / "c", "--pairs", "8", "--val-pairs", "4"],
                 "cannot write there", id="export-out-unwritable"),
    pytest.param(lambda t, p, m: ["data", "export-course", folder(t, "one", {"a.png": png_bytes(t, p)}),
                                  "--out", t / "c", "--pairs", "8", "--val-pairs", "4"],
                 "need at least 2 images", id="export-single-image"),
    pytest.param(lambda t, p, m: ["data", "export-course", p, "--out", t / "c", "--pairs", "0"],
                 "argument --pairs: expected a positive integer, got '0'", id="export-zero-pairs"),
    # outputs: nothing replaced without --overwrite; nothing written over or inside the inputs
    pytest.param(lambda t, p, m: folder(t, "run") and copy(m, t / "run" / "checkpoint.pt")
                 and ["export", "--onnx", t / "run" / "checkpoint.pt", "--overwrite"],
                 "checkpoint.pt: unknown suffix '.pt'; end the name with one of .onnx",
                 id="export-onnx-onto-a-checkpoint"),
    pytest.param(lambda t, p, m: copy(m, t / "c.onnx") and ["export", "--onnx", t / "c.onnx", "--model", t / "c.onnx",
                                                            "--overwrite"],
                 "c.onnx: the output would overwrite this input", id="export-onnx-onto-its-own-model"),
    pytest.param(lambda t, p, m: text(t / "x.onnx", "old") and ["export", "--onnx", t / "x.onnx", "--model", m],
                 "x.onnx: already exists; pass --overwrite to replace it", id="export-onnx-exists"),
    pytest.param(lambda t, p, m: ["export", "--onnx", t / "x.onnx", "--model", "/dev/null"],
                 "/dev/null: not a regular file; give a checkpoint file", id="export-model-is-a-device"),  # "no such"
    pytest.param(lambda t, p, m: ["export", "--onnx", t / "x.onnx", "--model", diverged_model(t, m)],
                 "the network's output is not finite", id="export-diverged-model"),  # wrote it with exit 0
    pytest.param(lambda t, p, m: ["export", "--onnx", t / "model", "--model", m], "model: no file suffix; end the name "
                 "with one of .onnx", id="export-onnx-without-suffix"),
    pytest.param(lambda t, p, m: copy(p / "img1.png", t / "o.png")
                 and ["denoise", p / "img0.png", "-o", t / "o.png", "--model", m],
                 "o.png: already exists; pass --overwrite to replace it", id="denoise-output-exists"),
    pytest.param(lambda t, p, m: folder(t, "o") and copy(p / "img3.png", t / "o" / "img3.png")
                 and ["denoise", p, "-o", t / "o", "--model", m],
                 "img3.png: already exists, as do 0 more of the 5 outputs; pass --skip-existing to denoise only the "
                 "others (to finish an interrupted run), --overwrite to replace them",
                 id="denoise-folder-output-exists"),
    pytest.param(lambda t, p, m: ["denoise", p, "-o", "", "--model", m],
                 "argument -o/--out: expected a path, got an empty string (an unset variable?)",
                 id="denoise-out-empty"),
    # an empty data path was the current folder: a run folder landed inside the user's photos
    pytest.param(lambda t, p, m: train(t, "--data", ""), "config field data='' is empty; give a path or 'embedded'",
                 id="train-data-empty"),
    pytest.param(lambda t, p, m: train(t, "--data", p, "--val-data", ""), "config field val_data='' is empty",
                 id="train-val-data-empty"),
    pytest.param(lambda t, p, m: ["evaluate", "--data", "", "--model", m],
                 "argument --data: expected a path, got an empty string", id="evaluate-data-empty"),
    pytest.param(lambda t, p, m: ["data", "export-course", "", "--out", t / "course"],
                 "expected a path, got an empty string", id="export-course-source-empty"),
    pytest.param(lambda t, p, m: ["denoise", p, "-o", t / "o", "--model", ""],
                 "model '': expected a shipped model's name or a checkpoint file's path", id="denoise-model-empty"),
    pytest.param(lambda t, p, m: ["denoise", t / "nope\nx.png", "-o", t / "o.png", "--model", m],
                 "nope\\nx.png: no such file or folder", id="denoise-path-with-a-newline"),
    pytest.param(lambda t, p, m: ["denoise", p, "-o", t / "o", "--model", m, "--overwrite", "--skip-existing"],
                 "--overwrite replaces the outputs that exist and --skip-existing keeps them; pass one of them",
                 id="denoise-overwrite-and-skip-existing"),
    pytest.param(lambda t, p, m: ["denoise", p, "-o", p / "clean", "--model", m, "--overwrite"],
                 "clean: inside the input folder", id="denoise-into-its-input-folder"),
    pytest.param(lambda t, p, m: ["denoise", p / "img0.png", "-o", t / "o.xyz", "--model", m],
                 "o.xyz: unknown suffix '.xyz'; end the name with one of .png", id="denoise-unknown-suffix"),
    pytest.param(lambda t, p, m: ["data", "add-noise", p / "img0.png", "-o", t / "noisy"],
                 "noisy: no file suffix; end the name with one of .png", id="add-noise-without-suffix"),
    pytest.param(lambda t, p, m: ["evaluate", "--model", m, "--data", p, "--out", p / "eval"],
                 "eval: inside the input folder", id="evaluate-out-inside-data"),
    pytest.param(lambda t, p, m: ["data", "export-course", p, "--out", p / "course", "--pairs", "8"],
                 "course: inside the input folder", id="export-course-out-inside-source"),
    pytest.param(lambda t, p, m: ["train", "--data", p, "--out", p / "run", *TINY],
                 "run: inside the input folder", id="train-out-inside-data"),
    # denoise options and devices
    pytest.param(lambda t, p, m: ["denoise", p / "img0.png", "-o", t / "o.png", "--batch-size", "-1"],
                 "argument --batch-size: expected a positive integer, got '-1'", id="denoise-batch-size-negative"),
    pytest.param(lambda t, p, m: ["denoise", p / "img0.png", "-o", t / "o.png", "--batch-size", "0"],
                 "argument --batch-size: expected a positive integer", id="denoise-batch-size-zero"),
    pytest.param(lambda t, p, m: ["denoise", p / "img0.png", "-o", t / "o.png", "--tile", "-8"],
                 "argument --tile: expected an integer >= 0, got '-8'", id="denoise-tile-negative"),
    pytest.param(lambda t, p, m: ["denoise", p / "img0.png", "-o", t / "o.png", "--overlap", "-1"],
                 "argument --overlap: expected an integer >= 0", id="denoise-overlap-negative"),
    pytest.param(lambda t, p, m: ["denoise", p / "img0.png", "-o", t / "o.png", "--model", m, "--device", "tpu"],
                 "device 'tpu' is not known; use auto, cpu, cuda, cuda:N or mps", id="denoise-unknown-device"),
    # run folders: a run killed before its first checkpoint, finished runs, staging leftovers
    pytest.param(lambda t, p, m: folder(t, "run", {"config.json": b"{}", "metrics.jsonl": b""})
                 and train(t, "--data", p),
                 "holds a run that stopped before its first checkpoint, so there is nothing to resume; pass "
                 "--overwrite", id="out-holds-a-run-killed-before-its-first-checkpoint"),
    pytest.param(lambda t, p, m: folder(t, "run", {"config.json": b"{}", "metrics.jsonl": b""})
                 and ["train", "--resume", "--out", t / "run"],
                 "no checkpoint.pt to resume from, the run there stopped before its first checkpoint; start it again "
                 "with --overwrite", id="resume-a-run-killed-before-its-first-checkpoint"),
    pytest.param(lambda t, p, m: run_folder(t, finished_state(m)) and text(t / "run" / "results.json", "{}")
                 and train(t, "--data", p), "holds a finished run; pass --overwrite to replace it",
                 id="out-holds-a-finished-run"),
    pytest.param(lambda t, p, m: run_folder(t, {**resumable(m), "config": {**resumable(m)["config"],
                                                                           "data": str(t / "gone")}})
                 and text(t / "run" / "config.json", "{}") and text(t / "run" / "metrics.jsonl", '{"step": 99}\n')
                 and ["train", "--resume", "--out", t / "run"],  # config.json and the log were rewritten first
                 "gone: no such file or folder", id="resume-that-fails-leaves-the-folder-as-it-was"),
    pytest.param(lambda t, p, m: run_folder(t, {**resumable(m), "optimizer": {"state": {}, "param_groups": []}})
                 and ["train", "--resume", "--out", t / "run"],  # was ValueError, exit 1
                 "the checkpoint to resume does not match its own config (ValueError", id="resume-checkpoint-mismatch"),
    pytest.param(lambda t, p, m: text(t / "model.onnx", "\x08\x07\x12\x07pytorch")
                 and train(t, "--data", p, "--init-weights", t / "model.onnx"),  # was "Unsupported operand 8"
                 "model.onnx: not a safe noise2noise checkpoint: its first bytes are no zip archive or pickle",
                 id="init-weights-an-onnx-file"),
    pytest.param(lambda t, p, m: run_folder(t, finished_state(m)) and text(t / "run" / "results.json", "{}")
                 and train(t, "--data", p, "--overwrite", "--init-weights", t / "run"),  # the record named itself
                 "run, which --overwrite replaces: the new run's config.json would name a start that is gone",
                 id="overwrite-a-run-starting-from-itself"),
    pytest.param(lambda t, p, m: run_folder(t, {**resumable(m), "step": "x"})
                 and ["train", "--resume", "--out", t / "run"],  # was TypeError, exit 1, mid-run
                 "the checkpoint to resume does not match its own config (TypeError: step='x' is not a count)",
                 id="resume-checkpoint-step-not-a-count"),
    pytest.param(lambda t, p, m: ["train", "--resume", "--overwrite", "--out", t / "run"],
                 "--resume continues the run in --out and --overwrite replaces it; pass one of them",
                 id="resume-and-overwrite"),
    pytest.param(lambda t, p, m: run_folder(t, resumable(m)) and folder(t, ".run.n2n-next", {"config.json": b"{}"})
                 and ["train", "--resume", "--out", t / "run"],
                 "an --overwrite run into it was killed before it finished; the previous run is unchanged",
                 id="resume-after-a-killed-overwrite-run"),
    # sweeps
    pytest.param(lambda t, p, m: text(t / "out", "x") and ["sweep", study_file(t, p), "--out", t / "out"],
                 "out: exists and is not a folder", id="sweep-out-is-a-file"),
    pytest.param(lambda t, p, m: ["sweep", study_file(t, p), "--out", "/proc/n2n-study"],  # looks writable
                 "/proc/n2n-study: cannot write there", id="sweep-out-cannot-be-made",
                 marks=pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="Linux /proc")),
    pytest.param(lambda t, p, m: folder(t, "study", {"study.json": b'{"study": "other.toml"}'})
                 and ["sweep", study_file(t, p), "--out", t / "study"],
                 "study: holds the results of study other.toml; choose another --out", id="sweep-out-of-another-study"),
    pytest.param(lambda t, p, m: folder(t, "notes", {"tables.md": b"mine", "runs.csv": b"a,b\n"})
                 and ["sweep", study_file(t, p), "--out", t / "notes"],
                 "notes: holds 2 file(s) or folder(s) (such as runs.csv) and no study.json, so it is not a study's "
                 "folder", id="sweep-out-holds-other-files"),
    pytest.param(lambda t, p, m: text(t / "two.toml", f'[base]\nwidth = 8\n[tables.a]\naxes = {{ data = ["{p}"] }}\n'
                                                   f'[tables.b]\naxes = {{ data = ["{t / "gone"}"] }}\n')
                 and ["sweep", t / "two.toml", "--out", t / "study"],
                 "gone: no such file or folder", id="sweep-a-later-table-data-missing"),
    pytest.param(lambda t, p, m: ["sweep", study_file(t, p), "--out", t / "study", "--budget", "0"],
                 "--budget='0' must be > 0", id="sweep-budget-zero"),  # was blamed on [tables.t] time_budget
    pytest.param(lambda t, p, m: text(t / "s.toml", f'time_budget = "forever"\n[base]\ndata = "{p}"\n'
                                                 '[tables.a]\naxes = { lr = [0.001] }\n')
                 and ["sweep", t / "s.toml", "--out", t / "study"],
                 "s.toml: time_budget='forever' is neither a duration nor an amount of work",
                 id="sweep-study-budget-invalid"),
    pytest.param(lambda t, p, m: ["data", "export-course", p, "--out", t / "c", "--val-pairs", "0"],
                 "argument --val-pairs: expected a positive integer", id="export-course-val-pairs-zero"),
    pytest.param(lambda t, p, m: text(t / "s.toml", f'[base]\ndata = "{p}"\nval_fraction = 0.0\n'
                                                 '[tables.a]\naxes = { lr = [0.001] }\n')
                 and ["sweep", t / "s.toml", "--out", t / "study"],  # study.json was written first, and stayed
                 "a study needs validation data", id="sweep-without-validation-data"),
    pytest.param(lambda t, p, m: text(t / "s.toml", f'[base]\ndata = "{p}"\n[tables.a]\naxes = {{ lr = [0.001] }}\n'
                                                 '[[claims]]\ntable = ["a"]\nclaim = "x"\nbetter = { lr = 0.001 }\n'
                                                 'worse = { lr = 0.001 }\n')
                 and ["sweep", t / "s.toml", "--out", t / "study"],  # was TypeError: unhashable type, exit 1
                 "s.toml [[claims]] #1: no table ['a']", id="sweep-claim-table-is-a-list"),
    pytest.param(lambda t, p, m: text(t / "s.toml", f'[base]\ndata = "{p}"\n[tables.a]\naxes = {{ lr = [0.001] }}\n'
                                                 'set = "x"\n')
                 and ["sweep", t / "s.toml", "--out", t / "study"],  # was TypeError, exit 1
                 "[tables.a]: set must be a table of config fields", id="sweep-set-is-not-a-table"),
    pytest.param(lambda t, p, m: text(t / "s.toml", f'[base]\ndata = "{p}"\n[tables.a]\n'
                                                 'axes = { noise_level = [25, "25"] }\n')
                 and ["sweep", t / "s.toml", "--out", t / "study"],  # one run, shown as two rows, exit 0
                 "the cells {'noise_level': 25} and {'noise_level': '25'} are the same run once read",
                 id="sweep-axis-values-give-the-same-run"),
    pytest.param(lambda t, p, m: folder(t, "other", {"study.json": b'{"study": "other.toml"}', "runs.jsonl": b"",
                                                     "tables.md": b"theirs"})
                 and ["sweep", study_file(t, p), "--out", t / "other", "--report-only"],  # rewrote their tables.md
                 "other: holds the results of study other.toml", id="sweep-report-only-into-another-study"),
    pytest.param(lambda t, p, m: ["sweep", study_file(t, p), "--report-only", "--jobs", "0"],
                 "argument --jobs: expected a positive integer, got '0'", id="sweep-jobs-zero"),
    pytest.param(lambda t, p, m: ["sweep", study_file(t, p), "--report-only", "--jobs", "2"],
                 "--report-only trains no run, so --jobs 2 would not be used", id="sweep-report-only-with-jobs"),
]


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    """A tiny untrained RGB checkpoint (width 8, depth 2): enough to exercise evaluate and denoise."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    return checkpoint.save(path, build_model("unet", 3, 3, 8, 2), TrainConfig(width=8, depth=2))


@pytest.mark.parametrize("build,message", CASES)
def test_bad_input_gets_one_line_a_nonzero_exit_and_leaves_no_trace(build, message, tmp_path, photo_folder,
                                                                    model_file, capsys):
    argv = build(tmp_path, photo_folder, model_file)
    before = snapshot(tmp_path)
    code, _, err = run(capsys, *argv)
    lines = [line for line in err.strip().splitlines() if not PROGRESS_BAR.match(line)]
    assert code == 2, err
    assert len(lines) == 1 and "Traceback" not in err and "unexpected error" not in err, err
    assert message in lines[0]
    assert snapshot(tmp_path) == before  # nothing half-made, nothing deleted, no pickled code ran


def test_a_sweep_that_needs_a_missing_extra_makes_no_folder(tmp_path, photo_folder, capsys, monkeypatch):
    import noise2noise.tensorboard
    from noise2noise.errors import N2NError

    def missing() -> None:  # as without the tensorboard package, whether or not this machine has it
        raise N2NError("config field tensorboard=true needs the tensorboard package")

    monkeypatch.setattr(noise2noise.tensorboard, "require_tensorboard", missing)
    monkeypatch.setattr("noise2noise.sweep.require_tensorboard", missing, raising=False)
    study = text(tmp_path / "tb.toml", f'[base]\ndata = "{photo_folder}"\ntensorboard = true\n'
                                       '[tables.a]\naxes = { lr = [0.001] }\n')
    code, _, err = run(capsys, "sweep", study, "--out", tmp_path / "deep" / "study")
    assert code == 2 and "needs the tensorboard package" in one_line(err)
    assert not (tmp_path / "deep").exists()  # the folders were made before the check, and stayed


@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_data_embedded_beside_a_folder_named_embedded_is_refused_as_ambiguous(command, tmp_path, photo_folder,
                                                                                model_file, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(photo_folder, tmp_path / "embedded")  # the user's own photos, in a folder of that name
    argv = train(tmp_path, "--data", "embedded") if command == "train" else \
        ["evaluate", "--model", model_file, "--data", "embedded"]
    before = snapshot(tmp_path)
    code, _, err = run(capsys, *argv)
    assert code == 2 and "write ./embedded for the folder" in one_line(err), err
    assert snapshot(tmp_path) == before


def test_the_catalogue_is_large_enough():
    assert len(CASES) >= 30


# ---- untrusted files -----------------------------------------------------------------------

def test_every_torch_load_in_the_package_is_weights_only():
    calls = []
    for path in sorted((ROOT / "noise2noise").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load":
                owner = ast.unparse(node.func.value)
                assert owner not in ("pickle", "dill", "cloudpickle"), f"{path.name}: {owner}.load"
                if owner == "torch":
                    weights_only = {k.arg: k.value for k in node.keywords}.get("weights_only")
                    assert isinstance(weights_only, ast.Constant) and weights_only.value is True, \
                        f"{path.name}:{node.lineno} torch.load without weights_only=True"
                    calls.append(path.name)
    assert calls == ["checkpoint.py"]  # checkpoint.safe_load: the one door for tensor files


def test_a_malicious_checkpoint_is_refused_by_the_python_api_without_running(tmp_path):
    from noise2noise import N2NError, load_model

    with pytest.raises(N2NError, match="refused to load"):
        load_model(malicious(tmp_path, "evil.pt"))
    assert not (tmp_path / "pwned").exists()


# ---- crash safety: resume ------------------------------------------------------------------

class _Interrupted:
    """A pair source whose ``fault`` strikes after ``after`` batches (a kill, or a NaN batch)."""

    def __init__(self, source, after: int, fault: str) -> None:
        self.source, self.after, self.fault, self.given = source, after, fault, 0
        self.channels = source.channels

    def __len__(self) -> int:
        return len(self.source)

    def to(self, device):
        self.source.to(device)
        return self

    def batches(self, batch_size, gens):
        for batch in self.source.batches(batch_size, gens):
            if self.given == self.after:
                if self.fault == "kill":
                    raise KeyboardInterrupt
                if self.fault.startswith("ctrl-c"):  # a real SIGINT, as Ctrl-C sends: it lands mid-step
                    for _ in range(2 if self.fault == "ctrl-c x2" else 1):
                        signal.raise_signal(signal.SIGINT)
                    if self.fault.endswith("no batch"):
                        return
                    self.given += 1
                    yield batch
                    continue
                batch.noisy_target = torch.full_like(batch.noisy_target, float("nan"))
            self.given += 1
            yield batch


def tiny_config(**changes) -> TrainConfig:
    return TrainConfig(**{"width": 8, "depth": 2, "batch_size": 8, "pairs_per_epoch": 24, "time_budget": None,
                          "epochs": 2, "schedule": "cosine", "log_every": 1, "device": "cpu",
                          "checkpoint_every_s": 1e-9, **changes})  # a checkpoint after every step


@pytest.mark.parametrize("ema", [0.0, 0.9])
def test_resume_continues_exactly_where_the_checkpoint_left_off(tmp_path, photo_folder, ema):
    """Weights, optimiser moments, weight average, schedule, step and both random streams:
    an interrupted and resumed run ends with the very weights of a run that was never
    interrupted."""
    images = load_folder(photo_folder)
    source = lambda: SyntheticPairs(images, GaussianNoise((25.0, 25.0)), 32, 24)  # noqa: E731, 3 batches/epoch
    cfg = tiny_config(ema=ema, warmup=0.3)
    whole = fit(cfg, source(), progress=False)
    with pytest.raises(KeyboardInterrupt):
        fit(cfg, _Interrupted(source(), after=4, fault="kill"), out_dir=tmp_path, progress=False)
    state = checkpoint.load(tmp_path / "checkpoint.pt")
    assert (state["step"], state["epoch_batches"], state["finished"]) == (4, 1, False)  # mid-way through epoch 2
    assert ("raw_model" in state) == bool(ema)  # "model" is the average; the raw weights go on training
    resumed = fit(cfg, source(), out_dir=tmp_path, resume=state, progress=False)
    assert resumed.steps == whole.steps == 6
    for name, tensor in whole.model.state_dict().items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name
    for name, tensor in whole.state.model.state_dict().items():
        assert torch.equal(tensor, resumed.state.model.state_dict()[name]), name
    saved, _ = checkpoint.load_model(tmp_path / "checkpoint.pt")  # what denoise, evaluate and export load
    for name, tensor in saved.state_dict().items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name
    if ema:
        assert resumed.model is resumed.state.ema.module
        assert not torch.equal(resumed.model.ENC_CONV0.weight, resumed.state.model.ENC_CONV0.weight)


def test_a_finished_run_trains_on_with_a_larger_budget_as_if_given_it_from_the_start(tmp_path, photo_folder,
                                                                                     capsys):
    """`n2n train --out RUN --resume --time-budget LARGER` goes on from the finished run's
    checkpoint (weights, optimiser moments, step, random streams): with a constant rate it
    ends with the very weights of a run given the larger budget at the start."""
    common = ["--data", photo_folder, "--crop-px", "32", "--pairs-per-epoch", "24", "--val-whole-images", "0",
              "--schedule", "constant", "--device", "cpu"]
    assert run(capsys, *train(tmp_path, *common, "--time-budget", "4 steps"))[0] == 0
    assert run(capsys, "train", "--out", tmp_path / "whole", *TINY, *common, "--time-budget", "7 steps")[0] == 0
    code, _, err = run(capsys, "train", "--out", tmp_path / "run", "--resume", "--time-budget", "7 steps", "--quiet")
    assert code == 0, err
    assert json.loads((tmp_path / "run" / "results.json").read_text())["steps"] == 7
    assert json.loads((tmp_path / "run" / "config.json").read_text())["time_budget"] == "7 steps"
    extended = checkpoint.load(tmp_path / "run" / "checkpoint.pt")
    whole = checkpoint.load(tmp_path / "whole" / "checkpoint.pt")
    assert extended["finished"] and extended["step"] == whole["step"] == 7
    for name, tensor in whole["model"].items():
        assert torch.equal(tensor, extended["model"][name]), name
    steps = [json.loads(line)["step"] for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
             if json.loads(line)["kind"] == "train"]
    assert steps == sorted(set(steps))  # one history, no step logged twice
    for budget, message in (("5 steps", "has already trained 7 steps of its 7 steps; give a larger --time-budget"),
                            ("1h", "trains to a budget in steps; give the larger budget in steps too")):
        code, _, err = run(capsys, "train", "--out", tmp_path / "run", "--resume", "--time-budget", budget)
        assert code == 2 and message in one_line(err), err
    before = snapshot(tmp_path / "run")  # a limit of another kind may be spent already: exit 0, 0 steps, once
    code, _, err = run(capsys, "train", "--out", tmp_path / "run", "--resume", "--epochs", "1")
    assert code == 2 and "trains to time_budget='7 steps' and no epochs; to train it on, give a larger " \
        "--time-budget" in one_line(err), err
    assert snapshot(tmp_path / "run") == before



def test_an_interrupted_extension_is_a_run_to_resume_not_a_finished_one(tmp_path, photo_folder, capsys,
                                                                        monkeypatch):
    import noise2noise.train

    common = ["--data", photo_folder, "--crop-px", "32", "--pairs-per-epoch", "24", "--val-whole-images", "0"]
    assert run(capsys, *train(tmp_path, *common, "--time-budget", "2 steps"))[0] == 0

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(noise2noise.train, "fit", interrupted)
    code, _, _ = run(capsys, "train", "--out", tmp_path / "run", "--resume", "--time-budget", "9 steps")
    assert code == 130 and not (tmp_path / "run" / "results.json").exists()  # it described the 2-step run
    monkeypatch.undo()
    code, _, err = run(capsys, *train(tmp_path, *common, "--time-budget", "9 steps"))
    assert code == 2 and "use --resume to continue that run" in one_line(err)  # was: "holds a finished run"


def test_a_run_from_init_weights_resumes_without_them(tmp_path, photo_folder, model_file):
    """The resumed run holds its own weights: the file it started from may be gone."""
    images = load_folder(photo_folder)
    source = lambda: SyntheticPairs(images, GaussianNoise((25.0, 25.0)), 32, 24)  # noqa: E731, 3 batches/epoch
    start = tmp_path / "start.pt"
    start.write_bytes(model_file.read_bytes())
    cfg = tiny_config(init_weights=str(start))
    whole = fit(cfg, source(), progress=False)
    (tmp_path / "run").mkdir()
    with pytest.raises(KeyboardInterrupt):
        fit(cfg, _Interrupted(source(), after=4, fault="kill"), out_dir=tmp_path / "run", progress=False)
    start.unlink()
    resumed = fit(cfg, source(), out_dir=tmp_path / "run", resume=checkpoint.load(tmp_path / "run" / "checkpoint.pt"),
                  progress=False)
    for name, tensor in whole.model.state_dict().items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name


@pytest.fixture()
def python_sigint():
    """Python's own Ctrl-C handler for the test, whatever the runner inherited: a job started
    in the background by a non-interactive shell (as CI may be) starts with SIGINT ignored."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("ema", [0.0, 0.9])
def test_ctrl_c_checkpoints_the_step_in_flight_and_resume_loses_nothing(tmp_path, photo_folder, ema, python_sigint):
    """Ctrl-C mid-step: the step completes, is checkpointed, then KeyboardInterrupt goes on;
    with no periodic checkpoint at all, the resumed run still ends as an uninterrupted one."""
    images = load_folder(photo_folder)
    source = lambda: SyntheticPairs(images, GaussianNoise((25.0, 25.0)), 32, 24)  # noqa: E731, 3 batches/epoch
    cfg = tiny_config(ema=ema, checkpoint_every_s=0)  # no checkpoint but the interrupt's
    whole = fit(cfg, source(), progress=False)
    with pytest.raises(KeyboardInterrupt):
        fit(cfg, _Interrupted(source(), after=3, fault="ctrl-c"), out_dir=tmp_path, progress=False)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # fit put Python's handler back
    state = checkpoint.load(tmp_path / "checkpoint.pt")
    assert (state["step"], state["epoch_batches"], state["finished"]) == (4, 1, False)  # the step in flight
    resumed = fit(cfg, source(), out_dir=tmp_path, resume=state, progress=False)
    assert resumed.steps == whole.steps == 6
    for name, tensor in whole.model.state_dict().items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name


def test_a_second_ctrl_c_stops_at_once_and_an_interrupt_without_a_step_or_a_folder_saves_nothing(
        tmp_path, photo_folder, python_sigint):
    images = load_folder(photo_folder)
    source = lambda: SyntheticPairs(images, GaussianNoise((25.0, 25.0)), 32, 24)  # noqa: E731
    cfg = tiny_config(checkpoint_every_s=0)
    with pytest.raises(KeyboardInterrupt):  # the second one raises inside the step: nothing consistent to save
        fit(cfg, _Interrupted(source(), after=2, fault="ctrl-c x2"), out_dir=tmp_path, progress=False)
    with pytest.raises(KeyboardInterrupt):  # before any step completed
        fit(cfg, _Interrupted(source(), after=0, fault="ctrl-c no batch"), out_dir=tmp_path, progress=False)
    with pytest.raises(KeyboardInterrupt):  # no run folder to write to
        fit(cfg, _Interrupted(source(), after=2, fault="ctrl-c"), progress=False)
    assert not (tmp_path / "checkpoint.pt").exists()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_error_raised_while_handling_ctrl_c_exits_130_as_an_interrupt(capsys, monkeypatch):
    import noise2noise.cli

    def import_cut_short(args):  # as a library may turn Ctrl-C inside its lazy import into its own error
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise ImportError("cannot import name 'JpegImagePlugin' (partially initialized module)") from None

    monkeypatch.setattr(noise2noise.cli, "_cmd_models", import_cut_short)
    code, _, err = run(capsys, "models")
    assert code == 130 and err.strip() == "n2n models: interrupted"

    def import_cut_short_by_sigterm(args):
        try:
            raise noise2noise.cli._Terminated
        except KeyboardInterrupt:
            raise ImportError("cannot import name 'JpegImagePlugin' (partially initialized module)") from None

    monkeypatch.setattr(noise2noise.cli, "_cmd_models", import_cut_short_by_sigterm)
    code, _, err = run(capsys, "models")
    assert code == 128 + signal.SIGTERM and err.strip() == "n2n models: terminated (SIGTERM)"
    monkeypatch.setattr(noise2noise.cli, "_cmd_models", lambda args: 1 / 0)
    code, _, err = run(capsys, "models")
    assert code == 1 and "unexpected error: ZeroDivisionError" in err  # a bug stays a bug


def test_a_garbled_metrics_log_is_rewound_to_the_checkpoint_not_a_crash(tmp_path):
    from noise2noise.rundir import _rewind_log

    log = tmp_path / "metrics.jsonl"  # rows of ours, then lines of other shapes (once TypeError, exit 1)
    log.write_bytes(b'{"kind": "train", "step": 5}\n{"kind": "train", "step": 12}\n{"step": "x"}\n[1, 2]\n'
                    b'\xff\xfe\n{"kind": "val", "step": 10}\n')
    _rewind_log(log, 10)
    assert [json.loads(row)["step"] for row in log.read_text().splitlines()] == [5, 10]


def test_a_new_run_interrupted_before_its_first_step_leaves_no_folder(tmp_path, photo_folder, monkeypatch,
                                                                     python_sigint):
    import noise2noise.train

    images = load_folder(photo_folder)
    interrupted = _Interrupted(SyntheticPairs(images, GaussianNoise((25.0, 25.0)), 32, 24), 0, "ctrl-c no batch")
    monkeypatch.setattr(noise2noise.train, "build_training_data", lambda cfg, new_run=True: (interrupted, None))
    with pytest.raises(KeyboardInterrupt) as caught:
        noise2noise.train.run_training(tiny_config(data=str(photo_folder)), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists() and not hasattr(caught.value, "resumable_run")


def _metrics(run: Path) -> list[dict]:
    rows = []
    for line in (run / "metrics.jsonl").read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:  # the line the kill cut short
            pass
    return [r for r in rows if r["kind"] == "train"]


def test_a_killed_run_resumes_losing_at_most_one_checkpoint_interval(tmp_path, photo_folder, capsys):
    run_dir, budget_s, interval_s = tmp_path / "run", 6.0, 1.0
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    n2n = [sys.executable, "-m", "noise2noise", "train", "--out", str(run_dir), "--quiet"]
    first = subprocess.Popen([*n2n, "--data", str(photo_folder), "--val-fraction", "0.4", *TINY,
                              "--time-budget", str(budget_s), "--checkpoint-every-s", str(interval_s),
                              "--log-every", "1", "--eval-every-s", "0"],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not (run_dir / "checkpoint.pt").exists():
        assert first.poll() is None, first.stderr.read().decode()
        assert time.monotonic() < deadline, "no checkpoint within 120 s"
        time.sleep(0.05)
    time.sleep(1.5)  # let unsaved work pile up past the first checkpoint
    os.kill(first.pid, signal.SIGKILL)
    assert first.wait() == -signal.SIGKILL

    saved = checkpoint.load(run_dir / "checkpoint.pt")
    logged = _metrics(run_dir)
    assert not saved["finished"] and 0 < saved["train_time_s"] < budget_s
    step_s = max(b["time_s"] - a["time_s"] for a, b in zip(logged, logged[1:]))
    lost_s, lost_steps = logged[-1]["time_s"] - saved["train_time_s"], logged[-1]["step"] - saved["step"]
    print(f"killed at step {logged[-1]['step']} ({logged[-1]['time_s']:.2f} s trained); checkpoint at step "
          f"{saved['step']} ({saved['train_time_s']:.2f} s): lost {lost_steps} steps, {lost_s:.2f} s")
    assert 0 <= lost_s <= interval_s + step_s  # at most one checkpoint interval (and the step that crossed it)

    resumed = subprocess.run([*n2n, "--resume"], env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    final = checkpoint.load(run_dir / "checkpoint.pt")
    results = json.loads((run_dir / "results.json").read_text())
    print(f"resumed to step {final['step']}, {final['train_time_s']:.2f} s of a {budget_s} s budget")
    assert final["finished"] and final["step"] > saved["step"] and results["steps"] == final["step"]
    assert budget_s <= final["train_time_s"] <= budget_s + step_s + 0.5  # the remaining budget, not a new one
    steps = [r["step"] for r in _metrics(run_dir)]
    assert steps == sorted(set(steps)) and steps[-1] == final["step"]  # one history: lost steps logged once
    assert not list(run_dir.glob(".*.tmp*"))  # no half-written files

    code = main(["denoise", str(photo_folder / "img1.png"), "-o", str(tmp_path / "clean.png"),
                 "--model", str(run_dir / "checkpoint.pt")])
    assert code == 0, capsys.readouterr().err
    assert iio.imread(tmp_path / "clean.png").shape == iio.imread(photo_folder / "img1.png").shape


# ---- divergence ----------------------------------------------------------------------------

def test_divergence_names_the_step_and_keeps_the_last_good_checkpoint(tmp_path, photo_folder):
    source = SyntheticPairs(load_folder(photo_folder), GaussianNoise((25.0, 25.0)), 32, 64)
    with pytest.raises(Diverged, match=r"diverged at step 4: .*lower the learning rate \(e.g. --lr 0.0001\); "
                                       r"the last good checkpoint \(step 3\) is kept"):
        fit(tiny_config(schedule="constant", log_every=50), _Interrupted(source, after=3, fault="nan"),
            out_dir=tmp_path, progress=False)
    model, payload = checkpoint.load_model(tmp_path / "checkpoint.pt")
    assert payload["step"] == 3 and not payload["finished"]
    assert all(torch.isfinite(p).all() for p in model.parameters())


# ---- resources: out of memory, a full disk -------------------------------------------------

def raising(fault: BaseException):
    def fail(*args, **kwargs):
        raise fault

    return fail


def one_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if not PROGRESS_BAR.match(line)]
    assert len(lines) == 1 and "Traceback" not in err and "unexpected error" not in err, err
    return lines[0]


CPU_OOM = ("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: you tried to "
           "allocate 68719476736 bytes. Error code 12 (Cannot allocate memory)")
DISK_FULL = ("[enforce fail at inline_container.cc:778] . PytorchStreamWriter failed writing file data/0: "
             "file write failed")
QUICK_TRAIN = ["--time-budget", "none", "--epochs", "1", "--pairs-per-epoch", "16", "--val-fraction", "0.4"]

# (command, fault: monkeypatch -> None, piece of the error line)
RESOURCE_FAULTS = [
    pytest.param(lambda t, p, m: train(t, "--data", p, *QUICK_TRAIN),
                 lambda mp: mp.setattr("noise2noise.unet.UNet.forward", raising(torch.OutOfMemoryError(
                     "CUDA out of memory. Tried to allocate 20.00 GiB"))),
                 "out of memory: lower --batch-size, --width or --crop-px", id="train-gpu-out-of-memory"),
    pytest.param(lambda t, p, m: train(t, "--data", p, *QUICK_TRAIN),
                 lambda mp: mp.setattr("noise2noise.unet.UNet.forward", raising(RuntimeError(CPU_OOM))),
                 "out of memory: lower --batch-size, --width or --crop-px", id="train-cpu-out-of-memory"),
    pytest.param(lambda t, p, m: train(t, "--data", p, *QUICK_TRAIN),
                 lambda mp: mp.setattr("torch.save", raising(RuntimeError(DISK_FULL))),
                 "checkpoint.pt: the disk is full; free some space", id="train-disk-full-at-checkpoint"),
    pytest.param(lambda t, p, m: ["denoise", p / "img0.png", "-o", t / "o.png", "--model", m],
                 lambda mp: mp.setattr("noise2noise.unet.UNet.forward", raising(torch.OutOfMemoryError("oom"))),
                 "out of memory: lower --tile or --batch-size", id="denoise-out-of-memory"),
    pytest.param(lambda t, p, m: ["denoise", p / "img0.png", "-o", t / "o.png", "--model", m],
                 lambda mp: mp.setattr("PIL.Image.MAX_IMAGE_PIXELS", 2000),  # img0.png has 75×67 = 5,025 pixels
                 "img0.png: too large for Pillow to decode safely (Image size (5025 pixels) exceeds limit of 4000 "
                 "pixels, could be decompression bomb DOS attack.); if the image is genuine, save it as TIFF",
                 id="denoise-image-above-pillow-limit"),
    pytest.param(lambda t, p, m: ["evaluate", "--model", m, "--data", p, "--max-images", "1"],
                 lambda mp: mp.setattr("noise2noise.unet.UNet.forward", raising(MemoryError())),
                 "out of memory: evaluate smaller images", id="evaluate-memory-error"),
    pytest.param(lambda t, p, m: ["denoise", p / "img0.png", "-o", t / "o.png", "--model", m],
                 lambda mp: mp.setattr(iio, "imwrite", raising(OSError(28, "No space left on device"))),
                 "o.png: the disk is full; free some space", id="denoise-disk-full"),
    pytest.param(lambda t, p, m: ["data", "export-course", p, "--out", t / "c", "--pairs", "8", "--val-pairs", "4"],
                 lambda mp: mp.setattr("torch.save", raising(RuntimeError(DISK_FULL))),
                 "train_data.pkl: the disk is full", id="export-course-disk-full"),
]


@pytest.mark.parametrize("build,fault,message", RESOURCE_FAULTS)
def test_running_out_of_memory_or_disk_is_a_user_error(build, fault, message, tmp_path, photo_folder, model_file,
                                                       capsys, monkeypatch):
    argv = build(tmp_path, photo_folder, model_file)
    before = snapshot(tmp_path)
    fault(monkeypatch)
    code, _, err = run(capsys, *argv)
    assert code == 2 and message in one_line(err), err
    assert snapshot(tmp_path) == before  # no half-written file, and a run that never checkpointed is removed


def test_an_error_starts_on_a_clean_line_below_a_progress_bar(tmp_path, photo_folder, capsys, monkeypatch):
    monkeypatch.setattr("noise2noise.unet.UNet.forward", raising(torch.OutOfMemoryError("CUDA out of memory")))
    code, _, err = run(capsys, *[a for a in train(tmp_path, "--data", photo_folder) if a != "--quiet"])
    assert code == 2 and "%|" in err  # the bar was drawn
    assert err.splitlines()[-1] == "n2n train: error: out of memory: lower --batch-size, --width or --crop-px"


# ---- run folders: --overwrite, locks, SIGTERM ----------------------------------------------

def test_overwrite_replaces_a_run_only_once_the_new_one_has_finished(tmp_path, photo_folder, capsys, monkeypatch):
    run_dir = tmp_path / "run"
    assert run(capsys, *train(tmp_path, "--data", photo_folder, *QUICK_TRAIN))[0] == 0
    (run_dir / "notes.txt").write_text("mine")  # not a run's files: they stay through --overwrite
    (run_dir / "eval").mkdir()
    (run_dir / "eval" / "results.json").write_text("{}")
    (run_dir / "tb").mkdir()  # a run's TensorBoard folder: it goes with the old run
    (run_dir / "tb" / "events").write_text("old run")
    files = lambda: {str(p.relative_to(run_dir)): p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}  # noqa: E731
    before, beside = files(), sorted(os.listdir(tmp_path))
    replace = train(tmp_path, "--data", photo_folder, *QUICK_TRAIN, "--overwrite", "--seed", "1")

    code, _, err = run(capsys, *replace, "--lr", "1e6", "--optimizer", "sgd", "--warmup", "0", "--log-every", "1")
    assert code == 2 and "diverged at step 2" in one_line(err) and f"{run_dir} still holds the previous run" in err
    for fault, status in [(torch.OutOfMemoryError("CUDA out of memory"), 2), (KeyboardInterrupt(), 130)]:
        with monkeypatch.context() as patch:
            patch.setattr("noise2noise.unet.UNet.forward", raising(fault))
            assert run(capsys, *replace)[0] == status
        assert files() == before  # byte for byte
        assert sorted(os.listdir(tmp_path)) == beside  # no staging folder left beside it

    code, stdout, err = run(capsys, *replace)
    assert code == 0, err
    assert json.loads((run_dir / "config.json").read_text())["seed"] == 1
    assert (run_dir / "checkpoint.pt").read_bytes() != before["checkpoint.pt"]
    assert files()["notes.txt"] == b"mine" and files()["eval/results.json"] == b"{}"
    assert not (run_dir / "tb").exists() and sorted(os.listdir(tmp_path)) == beside  # nothing left beside it


HOLD_LOCK = ("import sys, time; from pathlib import Path; from noise2noise.rundir import FolderLock; "
             "FolderLock(Path(sys.argv[1])).acquire(); print('locked', flush=True); time.sleep(600)")


def test_a_run_folder_in_use_is_refused_naming_the_holder_and_a_killed_holder_leaves_no_lock(
        tmp_path, photo_folder, model_file, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    torch.save(resumable(model_file), run_dir / "checkpoint.pt")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(run_dir)], env=env, stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == b"locked"
        before = snapshot(tmp_path)
        for argv in (train(tmp_path, "--data", photo_folder), train(tmp_path, "--data", photo_folder, "--overwrite"),
                     ["train", "--resume", "--out", run_dir], ["sweep", study_file(tmp_path, photo_folder), "--out",
                                                               run_dir]):
            code, _, err = run(capsys, *argv)
            assert code == 2 and f"run: in use by another n2n run (pid {holder.pid}); wait for it" in one_line(err)
        (tmp_path / "tiny.toml").unlink()
        assert snapshot(tmp_path) == before
    finally:
        holder.kill()
        holder.wait()
    assert (run_dir / ".n2n-lock").is_file()  # left by the kill; the kernel released its flock
    (run_dir / "checkpoint.pt").unlink()
    code, _, err = run(capsys, *train(tmp_path, "--data", photo_folder, *QUICK_TRAIN))
    assert code == 0, err
    assert not (run_dir / ".n2n-lock").exists()  # a run removes its lock file as it ends


def test_resume_into_a_live_run_before_its_first_checkpoint_says_it_is_in_use(tmp_path, capsys):
    """It said 'start it again with --overwrite', which the live run's lock then refused."""
    from noise2noise.rundir import FolderLock

    run_dir = tmp_path / "run"
    folder(tmp_path, "run", {"config.json": b"{}", "metrics.jsonl": b""})
    lock = FolderLock(run_dir).acquire()  # another open file description: flock refuses it as another process's
    try:
        code, _, err = run(capsys, "train", "--resume", "--out", run_dir)
    finally:
        lock.release()
    assert code == 2 and f"run: in use by another n2n run (pid {os.getpid()}); wait for it" in one_line(err), err


def test_sigterm_checkpoints_the_step_in_flight_and_resume_finishes_the_same_steps(tmp_path, photo_folder):
    """SIGTERM (no periodic checkpoint): the run keeps a checkpoint of its last completed step,
    stays resumable and unlocked, and --resume trains exactly the steps left, with one history."""
    from noise2noise.rundir import load_resume_state

    run_dir, steps = tmp_path / "run", 400
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    n2n = [sys.executable, "-m", "noise2noise", "train", "--out", str(run_dir)]
    first = subprocess.Popen([*n2n, "--data", str(photo_folder), *TINY, "--time-budget", f"{steps} steps",
                              "--log-every", "1", "--eval-every-s", "0", "--checkpoint-every-s", "0",
                              "--val-whole-images", "1"],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (run_dir / "metrics.jsonl").exists():
        assert first.poll() is None, first.stderr.read()
        assert time.monotonic() < deadline, "no metrics.jsonl within 120 s"
        time.sleep(0.05)
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=60) == 128 + signal.SIGTERM
    assert first.stderr.read().strip().splitlines()[-1] == (
        f"n2n train: terminated (SIGTERM); {run_dir} keeps its checkpoint: `n2n train --out {run_dir} --resume` "
        "continues it")
    saved = load_resume_state(run_dir)
    assert not saved["finished"] and 0 < saved["step"] < steps
    assert saved["step"] == _metrics(run_dir)[-1]["step"]  # the step in flight completed and was kept
    assert sorted(p.name for p in run_dir.glob(".*")) == []  # unlocked, no half-written files

    resumed = subprocess.run([*n2n, "--resume"], env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"trained {steps} steps" in resumed.stdout and "validation on whole images (1 held out" in resumed.stdout
    assert [r["step"] for r in _metrics(run_dir)] == list(range(1, steps + 1))  # one history, no step lost
    assert checkpoint.load(run_dir / "checkpoint.pt")["finished"]


# ---- output paths relative to the inputs (Hypothesis) ------------------------------------

def test_denoise_never_writes_over_or_inside_its_inputs_whatever_the_layout(model_file, photo):
    """Whatever -o is (the input, inside it, beside it, an existing file or folder), denoise
    either writes new files outside its inputs, or, given --overwrite, also replaces existing
    outputs; otherwise it exits 2 with one line and changes nothing."""
    import contextlib
    import io
    import tempfile

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    names = st.sampled_from(["photos", "sub", "out", "img0.png", "new.png", "new"])

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(source=st.sampled_from(["photos", "photos/img0.png", "photos/sub/img1.png"]),
           base=st.sampled_from([".", "photos", "photos/sub", "out"]), parts=st.lists(names, max_size=2),
           overwrite=st.booleans())
    def check(source, base, parts, overwrite):
        with tempfile.TemporaryDirectory() as folder:
            t = Path(folder)
            (t / "photos" / "sub").mkdir(parents=True)
            (t / "out").mkdir()
            iio.imwrite(t / "photos" / "img0.png", photo[:37, :31])
            iio.imwrite(t / "photos" / "sub" / "img1.png", photo[40:71, 50:87])
            iio.imwrite(t / "out" / "img0.png", photo[:9, :9])  # an earlier output
            # the files this command reads; another file under photos/ is fair game for -o FILE --overwrite
            read = sorted((t / source).rglob("*.png")) if (t / source).is_dir() else [t / source]
            inputs = {p: p.read_bytes() for p in read}
            before = snapshot(t)
            out = t.joinpath(base, *parts)
            argv = ["denoise", t / source, "-o", out, "--model", model_file, "--quiet", "--device", "cpu"]
            err = io.StringIO()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                code = main([str(a) for a in argv + ["--overwrite"] * overwrite])
            assert all(p.read_bytes() == content for p, content in inputs.items())  # never an input
            if code != 0:
                assert code == 2 and len(err.getvalue().strip().splitlines()) == 1, err.getvalue()
                assert snapshot(t) == before
                return
            after = snapshot(t)
            new = [t / name for name in after if name not in before]
            changed = [name for name, stat in before.items() if after.get(name) != stat and stat != "dir"]
            if (t / source).is_dir():  # nothing written into the folder it reads
                assert not any(path.is_relative_to(t / source) for path in new), new
            assert all(path.is_relative_to(out) or path == out or path.is_dir() for path in new), new
            assert overwrite or not changed, changed

    check()


def test_a_killed_overwrite_run_leaves_the_old_run_and_the_next_overwrite_clears_its_staging(
        tmp_path, photo_folder, capsys):
    run_dir, staging = tmp_path / "run", tmp_path / ".run.n2n-next"
    assert run(capsys, *train(tmp_path, "--data", photo_folder, *QUICK_TRAIN))[0] == 0
    staging.mkdir()  # what SIGKILL leaves of an --overwrite run: its own files, beside the old run
    (staging / "config.json").write_text("{}")
    (staging / ".n2n-lock").write_text("12345\n")  # stale: no process holds it
    code, _, err = run(capsys, "train", "--resume", "--out", run_dir)
    assert code == 2 and "that run already finished; nothing to resume (give a larger --time-budget" in one_line(err)
    code, _, err = run(capsys, *train(tmp_path, "--data", photo_folder, *QUICK_TRAIN, "--overwrite", "--seed", "2"))
    assert code == 0, err
    assert json.loads((run_dir / "config.json").read_text())["seed"] == 2
    assert sorted(os.listdir(tmp_path)) == ["photos", "run"]


def test_a_run_resumes_only_on_the_data_it_started_with(tmp_path, photo_folder, capsys, monkeypatch):
    photos = tmp_path / "mine"
    shutil.copytree(photo_folder, photos)
    common = ["--crop-px", "32", "--pairs-per-epoch", "24", "--val-whole-images", "0", "--time-budget"]
    monkeypatch.chdir(tmp_path)  # "mine" is relative: a resume from another folder would read another one
    assert run(capsys, *train(tmp_path, "--data", "mine", *common, "2 steps"))[0] == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert len(config["data_fingerprint"]) == 16 and TrainConfig.from_dict(config).data == "mine"
    sorted(photos.iterdir())[0].unlink()  # once trained on with exit 0, and a validation split that moved
    before = snapshot(tmp_path / "run")
    code, _, err = run(capsys, "train", "--out", tmp_path / "run", "--resume", "--time-budget", "4 steps")
    assert code == 2 and "mine: its files are not those the run in" in one_line(err), err
    assert snapshot(tmp_path / "run") == before
    shutil.copytree(photo_folder, photos, dirs_exist_ok=True)  # the same files again: it goes on
    assert run(capsys, "train", "--out", tmp_path / "run", "--resume", "--time-budget", "4 steps")[0] == 0


# ---- writing files: loops, pairs, signals, the same bytes ---------------------------------
def test_an_output_on_a_symbolic_link_loop_is_refused_in_one_line(tmp_path, photo_folder, model_file, capsys):
    """Path.resolve() raised RuntimeError on the loop: exit 1 with 'unexpected error'."""
    link(tmp_path / "loop.png", tmp_path / "loop.png")
    link(tmp_path / "loop", tmp_path / "loop")
    for out in ("loop.png", "loop/x.png"):
        code, _, err = run(capsys, "denoise", photo_folder / "img0.png", "-o", tmp_path / out, "--model", model_file)
        assert code == 2 and "points back to itself (a loop)" in one_line(err), err
    assert (tmp_path / "loop.png").is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loop", "loop.png", "photos"]


def test_export_course_writes_both_files_or_neither(tmp_path, photo_folder, monkeypatch):
    """train_data.pkl was renamed into place before val_data.pkl was written: a failure
    between them left a train file from one export beside a val file from another."""
    import noise2noise.data
    from noise2noise.data import export_course
    from noise2noise.errors import N2NError

    out = tmp_path / "course"
    kwargs = dict(pairs=8, val_pairs=4, crop_px=16, noise="gaussian", noise_level=(25.0, 25.0))
    export_course(str(photo_folder), out, seed=0, **kwargs)
    before = snapshot(out)
    writer = noise2noise.data.torch_writer

    def failing_second(content):
        if isinstance(content, tuple) and content[0].shape[0] == 4:  # the val pair: a full disk
            def fail(tmp):
                raise OSError(28, "No space left on device")
            return fail
        return writer(content)

    monkeypatch.setattr(noise2noise.data, "torch_writer", failing_second)
    with pytest.raises(N2NError, match="the disk is full"):
        export_course(str(photo_folder), out, seed=1, overwrite=True, **kwargs)
    assert snapshot(out) == before  # no new train_data.pkl beside the old val_data.pkl, no temporary file


def test_export_course_with_one_seed_writes_the_same_bytes(tmp_path, photo_folder):
    """torch.save named the archive inside each .pkl after its temporary file: the same seed
    gave different files, so a user could not check a download or a re-export by its hash."""
    from noise2noise.data import export_course

    kwargs = dict(pairs=8, val_pairs=4, crop_px=16, noise="gaussian", noise_level=(25.0, 25.0), seed=3)
    first = export_course(str(photo_folder), tmp_path / "a", **kwargs)
    second = export_course(str(photo_folder), tmp_path / "b", **kwargs)
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]


@pytest.mark.parametrize("out_dir", ["", " ", None])
def test_export_course_without_a_folder_is_refused(out_dir, tmp_path, photo_folder, monkeypatch):
    """'' wrote into the working folder; None raised TypeError."""
    from noise2noise.data import export_course
    from noise2noise.errors import N2NError

    monkeypatch.chdir(tmp_path)
    with pytest.raises(N2NError, match="give the folder to write train_data.pkl and val_data.pkl in"):
        export_course(str(photo_folder), out_dir, pairs=8, val_pairs=4, crop_px=16, noise="gaussian",
                      noise_level=(25.0, 25.0))
    assert [p.name for p in tmp_path.iterdir()] == ["photos"]  # nothing written beside them


def test_sigterm_while_writing_leaves_no_temporary_file(tmp_path, photo_folder, capsys, monkeypatch):
    """Only train and sweep turned SIGTERM into a clean stop: a `kill` during add-noise,
    export-course or denoise left a hidden half-written .tmp file beside the output."""
    import noise2noise.outputs

    writer = noise2noise.outputs.torch_writer

    def killed_midway(content):
        def write(tmp):
            writer(content)(tmp)  # the file is written, not yet renamed into place
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises in the main thread before this ends
        return write

    monkeypatch.setattr("noise2noise.data.torch_writer", killed_midway)
    handler = signal.getsignal(signal.SIGTERM)
    code, _, err = run(capsys, "data", "export-course", photo_folder, "--out", tmp_path / "c",
                       "--pairs", "8", "--val-pairs", "4")
    assert code == 128 + signal.SIGTERM and one_line(err) == "n2n data export-course: terminated (SIGTERM)", err
    assert not (tmp_path / "c").exists()  # neither file, no temporary one, no folder made for them
    assert signal.getsignal(signal.SIGTERM) is handler  # restored for the caller of main()


@pytest.mark.parametrize("option,value,message", [
    ("pairs", 0, "pairs=0 must be a positive integer; the default is 50000"),  # not "... 100000"
    ("val_pairs", -1, "val_pairs=-1 must be a positive integer; the command's default is 1000"),
    ("crop_px", 15, "crop_px=15 must be even"),
])
def test_export_course_names_its_own_arguments(option, value, message, tmp_path, photo_folder):
    """export_course(pairs=0) said 'config field pairs_per_epoch=0': a name it does not take."""
    from noise2noise.data import export_course
    from noise2noise.errors import N2NError

    kwargs = {**dict(pairs=8, val_pairs=4, crop_px=16, noise="gaussian", noise_level=(25.0, 25.0)), option: value}
    with pytest.raises(N2NError) as error:
        export_course(str(photo_folder), tmp_path / "c", **kwargs)
    assert str(error.value).startswith(message) and "config field" not in str(error.value)


def test_a_full_disk_under_torch_save_is_told_as_a_full_disk(tmp_path):
    """torch.save to a file object on a full disk raised RuntimeError('unexpected pos ...') with
    the OSError only as its context: exit 1 and 'unexpected error' before."""
    from noise2noise.errors import N2NError
    from noise2noise.outputs import atomic_write

    def full_disk_write(tmp):
        try:
            raise OSError(28, "No space left on device")
        except OSError:
            raise RuntimeError("[enforce fail at inline_container.cc:783] . PytorchStreamWriter failed writing "
                               "file data/0: unexpected pos 64 vs 0") from None

    def full_disk_write_plain(tmp):
        try:
            raise OSError(28, "No space left on device")
        except OSError:
            raise RuntimeError("unexpected pos 64 vs 0")  # noqa: B904 (the context is what a full disk leaves)

    for write in (full_disk_write, full_disk_write_plain):
        with pytest.raises(N2NError, match="m.pt: the disk is full; free some space"):
            atomic_write(tmp_path / "m.pt", write)
    assert list(tmp_path.iterdir()) == []


def test_temporary_names_stay_under_the_name_limit_for_non_ascii_names(tmp_path):
    """A stem of 120 'é' (240 bytes) made a temporary name of over 255 bytes (ENAMETOOLONG)."""
    from noise2noise.outputs import NAME_MAX, atomic_write

    seen = []
    target = tmp_path / ("é" * 120 + ".png")
    atomic_write(target, lambda tmp: (seen.append(tmp.name), tmp.write_bytes(b"x")))
    assert target.read_bytes() == b"x" and len(seen[0].encode()) <= NAME_MAX
    seen[0].encode()  # cut between characters, never inside one


def test_a_failed_rename_of_files_written_together_names_the_one_that_failed(tmp_path, monkeypatch):
    from noise2noise.errors import N2NError
    from noise2noise.outputs import atomic_write_all

    real_replace = os.replace

    def second_rename_fails(src, dst):
        if str(dst).endswith("b.pkl"):
            raise OSError(5, "Input/output error")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", second_rename_fails)
    writes = {tmp_path / "a.pkl": lambda t: t.write_bytes(b"a"), tmp_path / "b.pkl": lambda t: t.write_bytes(b"b")}
    with pytest.raises(N2NError) as error:
        atomic_write_all(writes)
    assert str(error.value).startswith(f"{tmp_path / 'b.pkl'}: writing failed (Input/output error); "
                                       f"{tmp_path / 'a.pkl'} already written, the rest not")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pkl"]  # no temporary file left


def test_the_output_check_tries_each_folder_once_names_a_full_disk_and_leaves_no_probe(tmp_path, monkeypatch):
    """The check creates and removes a file where outputs go (os.access says yes to root, /proc
    too): once per folder, not once per output; ENOSPC there is told as a full disk."""
    import tempfile

    from noise2noise.errors import N2NError
    from noise2noise.outputs import check_out_folder, check_outputs

    real_mkstemp, made = tempfile.mkstemp, []

    def counted(*args, **kwargs):
        made.append(kwargs.get("dir"))
        return real_mkstemp(*args, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", counted)
    (tmp_path / "b").mkdir()
    check_outputs([tmp_path / "a" / f"{i}.png" for i in range(50)] + [tmp_path / "b" / "x.png"])
    assert sorted(map(str, made)) == sorted([str(tmp_path), str(tmp_path / "b")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"] and not any((tmp_path / "b").iterdir())

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tempfile, "mkstemp", full_disk)
    for check in (lambda: check_outputs([tmp_path / "o.png"]), lambda: check_out_folder(tmp_path / "run")):
        with pytest.raises(N2NError, match=r"the disk is full \(.*\); free some space or choose another"):
            check()


def test_a_left_probe_file_does_not_make_an_empty_run_folder_look_used(tmp_path, photo_folder, capsys):
    """A probe is named as a temporary file, which a run folder may hold: an interrupt between
    its creation and removal must not make an empty folder refuse a new run."""
    from noise2noise.outputs import check_out_folder

    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "seen").mkdir()
    names = []
    real_unlink = os.unlink
    os.unlink = lambda path: (names.append(Path(path).name), real_unlink(path))
    try:
        check_out_folder(tmp_path / "run" / "seen")
    finally:
        os.unlink = real_unlink
    (tmp_path / "run" / "seen").rmdir()
    (tmp_path / "run" / names[0]).write_bytes(b"")  # as if an interrupt had left it
    code, _, err = run(capsys, *train(tmp_path, "--data", photo_folder, "--time-budget", "2 steps"))
    assert code == 0, err
    assert (tmp_path / "run" / "results.json").is_file()


def test_a_new_run_folder_that_changed_and_changed_back_while_locking_stays_locked(tmp_path, monkeypatch):
    """A file that came and went between the check and the lock (another command's probe)
    made RunFolder.create release its lock and return a run folder that held none."""
    from noise2noise import rundir
    from noise2noise.errors import N2NError

    out, visitor = tmp_path / "run", tmp_path / "run" / "visitor.txt"
    real_acquire, real_refuse = rundir.FolderLock.acquire, rundir.refuse_if_locked

    def acquire_then_a_file_appears(self):
        lock = real_acquire(self)
        visitor.write_bytes(b"")
        monkeypatch.setattr(rundir.FolderLock, "acquire", real_acquire)
        return lock

    def the_file_goes_again(folder):
        visitor.unlink(missing_ok=True)
        return real_refuse(folder)

    monkeypatch.setattr(rundir.FolderLock, "acquire", acquire_then_a_file_appears)
    monkeypatch.setattr(rundir, "refuse_if_locked", the_file_goes_again)
    rundir.RunFolder.create(out)
    with pytest.raises(N2NError, match="in use by another n2n run"):
        rundir.FolderLock(out).acquire()


def test_run_training_resume_refuses_a_config_that_differs_from_the_runs(tmp_path, model_file):
    """The CLI refuses --resume with other options; the Python API trained on with the saved
    config and said nothing of the one it was given."""
    from noise2noise import run_training
    from noise2noise.errors import N2NError

    run_folder(tmp_path, resumable(model_file))
    saved = TrainConfig(width=8, depth=2)
    with pytest.raises(N2NError, match=r"continues .*run with its saved config, and the one given differs in width, "
                                       r"lr; pass cfg=None"):
        run_training(saved.replace(lr=0.5, width=16), tmp_path / "run", resume=True, progress=False)
    assert checkpoint.load(tmp_path / "run" / "checkpoint.pt")["step"] == 10  # untouched


def test_run_training_extends_a_run_twice_from_the_same_config(tmp_path, photo_folder):
    """The first extension saved its budget, and the second, with the same cfg, was refused as
    'differs in time_budget'."""
    from noise2noise import run_training

    cfg = TrainConfig(data=str(photo_folder), width=8, depth=2, time_budget="2 steps", batch_size=2, crop_px=16,
                      val_patches=4, val_whole_images=0, pairs_per_epoch=8, device="cpu")
    run_training(cfg, tmp_path / "run", progress=False)
    for steps in (4, 6):
        run_training(cfg, tmp_path / "run", resume=True, extend={"time_budget": f"{steps} steps"}, progress=False)
        assert checkpoint.load(tmp_path / "run" / "checkpoint.pt")["step"] == steps
