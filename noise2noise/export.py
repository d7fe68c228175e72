"""Export a trained denoiser to ONNX (dynamic batch, height and width).

The graph maps N×C×H×W float32 images in 0..1 to the network's raw output (as
``model(x)`` in PyTorch: not clamped). Needs the ``onnx`` extra:
``pip install noise2noise[onnx]``.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from pathlib import Path

import torch
from torch import nn

from noise2noise.denoise import NonFiniteOutput
from noise2noise.errors import N2NError
from noise2noise.outputs import atomic_write, check_outputs

ONNX_OPSET = 18


class _AnySizeUNet(nn.Module):
    """The U-Net with its pad-to-a-multiple step written as index arithmetic.

    ``UNet.forward`` picks reflect or replicate padding (and whether to pad at all) in
    Python; ``torch.export`` would bake in the branch of the example input and the graph
    would fail on sides of 2**(depth-1) px or less. Here both choices are tensors, so the
    graph pads every H×W exactly as PyTorch does, then the U-Net sees a multiple and
    pads nothing."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        rows_reflect, rows_replicate = _pad_indices(height, self.net.multiple_px, x.device)
        cols_reflect, cols_replicate = _pad_indices(width, self.net.multiple_px, x.device)
        # as in unet.pad_to_multiple: reflect when both pads are shorter than their sides
        use_reflect = (rows_reflect.min() >= 0) & (cols_reflect.min() >= 0)
        rows = torch.where(use_reflect, rows_reflect, rows_replicate)
        cols = torch.where(use_reflect, cols_reflect, cols_replicate)
        padded = x.index_select(2, rows).index_select(3, cols)
        return self.net(padded)[..., :height, :width]


def _pad_indices(size, multiple: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Source index of every position of a side padded up to a multiple: reflect (negative
    where reflection runs out of pixels) and replicate."""
    index = torch.arange((size + multiple - 1) // multiple * multiple, device=device)
    reflect = torch.where(index < size, index, 2 * (size - 1) - index)
    return reflect, index.clamp(max=size - 1)


def export_onnx(model: nn.Module, path: str | Path, opset: int = ONNX_OPSET, overwrite: bool = False) -> Path:
    """Write ``model`` as an ONNX graph with dynamic N, H and W, atomically; an existing
    file is replaced only with ``overwrite``."""
    check_outputs([path], overwrite=overwrite, suffixes=(".onnx",), option="--onnx")
    try:
        import onnx  # noqa: F401  (torch.onnx needs both)
        import onnxscript  # noqa: F401
    except ImportError as exc:
        raise N2NError(f"ONNX export needs the onnx extra ({exc.name} is missing): "
                       "pip install 'noise2noise[onnx]'") from None
    graph = _AnySizeUNet(model) if hasattr(model, "multiple_px") else model
    graph = graph.eval().cpu()
    multiple = getattr(model, "multiple_px", 1)
    # a network told sigma takes one more channel, the plane of sigma / 50 (unet.sigma_plane)
    example = torch.rand(1, model.in_channels + int(getattr(model, "sigma_input", False)), 2 * multiple + 1,
                         2 * multiple + 3)
    with torch.no_grad():
        if not torch.isfinite(graph(example)).all():  # a diverged run's weights: every image would be black
            raise NonFiniteOutput("fp32")
    dynamic = torch.export.Dim.DYNAMIC
    with torch.no_grad(), _quiet_exporter():
        program = torch.onnx.export(graph, (example,), dynamo=True, opset_version=opset,
                                    input_names=["noisy"], output_names=["denoised"],
                                    dynamic_shapes={"x": {0: dynamic, 2: dynamic, 3: dynamic}},
                                    verbose=False)
    return atomic_write(path, lambda tmp: program.save(tmp))


@contextlib.contextmanager
def _quiet_exporter():
    """Silence the exporter's warnings about torchvision ops and torch internals that the
    U-Net does not use, so the CLI prints one line."""
    onnx_log = logging.getLogger("torch.onnx")
    level = onnx_log.level
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        onnx_log.setLevel(logging.ERROR)
        try:
            yield
        finally:
            onnx_log.setLevel(level)
