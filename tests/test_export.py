"""ONNX export: dynamic N, H, W, checked against PyTorch with onnxruntime."""

import sys

import numpy as np
import pytest
import torch

from noise2noise import checkpoint
from noise2noise.cli import main
from noise2noise.config import TrainConfig
from noise2noise.errors import N2NError
from noise2noise.export import export_onnx
from noise2noise.unet import UNet

ONNX_TOLERANCE = 1e-5  # measured: 2e-8 to 1e-7 on 0..1 inputs

pytest.importorskip("onnx")
pytest.importorskip("onnxscript")
ort = pytest.importorskip("onnxruntime")


def test_cli_export_matches_pytorch_for_any_batch_and_size(tmp_path, capsys):
    torch.manual_seed(0)
    net = UNet(3, 3, width=8, depth=2).eval()
    checkpoint.save(tmp_path / "tiny.pt", net, TrainConfig(width=8, depth=2))
    code = main(["export", "--onnx", str(tmp_path / "tiny.onnx"), "--model", str(tmp_path / "tiny.pt")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"wrote {tmp_path / 'tiny.onnx'}" in out
    session = ort.InferenceSession(str(tmp_path / "tiny.onnx"), providers=["CPUExecutionProvider"])
    [noisy] = session.get_inputs()
    assert noisy.name == "noisy" and isinstance(noisy.shape[0], str) and isinstance(noisy.shape[2], str)
    generator = torch.Generator().manual_seed(1)
    # 37×45: not a multiple of 2**depth; 3×100: a side too short to reflect-pad, so PyTorch replicates
    for shape in [(2, 3, 37, 45), (1, 3, 64, 64), (3, 3, 3, 100), (1, 3, 1, 1)]:
        images = torch.rand(shape, generator=generator)
        [denoised] = session.run(None, {"noisy": images.numpy()})
        with torch.no_grad():
            expected = net(images).numpy()
        assert denoised.shape == shape
        assert np.abs(denoised - expected).max() < ONNX_TOLERANCE, shape


def test_a_network_told_sigma_exports_with_the_sigma_plane_as_a_fourth_channel(tmp_path):
    from noise2noise.unet import sigma_plane

    torch.manual_seed(0)
    net = UNet(3, 3, width=8, depth=2, sigma_input=True).eval()
    export_onnx(net, tmp_path / "told.onnx")
    session = ort.InferenceSession(str(tmp_path / "told.onnx"), providers=["CPUExecutionProvider"])
    images = sigma_plane(torch.rand(2, 3, 37, 45, generator=torch.Generator().manual_seed(1)), torch.tensor([5., 40.]))
    [denoised] = session.run(None, {"noisy": images.numpy()})
    with torch.no_grad():
        assert np.abs(denoised - net(images).numpy()).max() < ONNX_TOLERANCE


def test_missing_onnx_packages_are_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # as if not installed
    with pytest.raises(N2NError, match=r"needs the onnx extra .*pip install 'noise2noise\[onnx\]'"):
        export_onnx(UNet(3, 3, width=8, depth=1), tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()
