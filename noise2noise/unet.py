"""The Noise2Noise U-Net (Lehtinen et al. 2018, appendix table 2), any input size."""

from __future__ import annotations

import numbers

import torch
import torch.nn.functional as F
from torch import nn

from noise2noise.registry import ARCHS, GROWTHS

# activations of the output layer; a loss names the one it needs (losses.output_activation)
OUTPUTS = {"linear": lambda t: t, "sigmoid": torch.sigmoid}


def _conv(in_channels: int, out_channels: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)


class UNet(nn.Module):
    """N×n×H×W -> N×m×H×W. Layer names follow the paper (ENC_CONV0 ... DEC_CONV1C).

    ``depth`` counts the 2×2 max-pools (paper: 5) and ``width`` the encoder channels
    (paper: 48; decoders use 2·width, DEC_CONV1A/1B use 4/3 and 2/3 of width).
    Sides that are not multiples of 2**depth are padded (reflect) and cropped back.
    ``output`` names the activation of the last layer (paper: linear; sigmoid for BCE).
    ``sigma_input``: the network is told the Gaussian noise level, as FFDNet is (Zhang et al.
    2018): its input holds one more channel, ``sigma_plane``, after the image's ``in_channels``.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, width: int = 48,
                 depth: int = 5, output: str = "linear", sigma_input: bool = False) -> None:
        super().__init__()
        if output not in OUTPUTS:
            raise ValueError(f"unknown output activation {output!r}; choose from {', '.join(OUTPUTS)}")
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels), ("width", width),
                            ("depth", depth)):  # 0 channels built a network that takes nothing
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"UNet {name}={value!r} must be a whole number >= 1")
        # NumPy's integers too, as plain ints (they are saved in checkpoints and shown)
        in_channels, out_channels, width, depth = int(in_channels), int(out_channels), int(width), int(depth)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.width, self.depth, self.output, self.sigma_input = width, depth, output, sigma_input
        self.slope = 0.1
        seen = (in_channels, int(sigma_input))  # what the first layer and the last skip see
        self._input_segments: dict[str, tuple[int, ...]] = {}
        self._layer("ENC_CONV0", seen, width)
        for k in range(1, depth + 2):  # ENC_CONV1 .. ENC_CONV{depth+1}
            self._layer(f"ENC_CONV{k}", (width,), width)
        channels = width  # output of the bottleneck ENC_CONV{depth+1}
        for k in range(depth, 1, -1):  # DEC_CONV{depth}A/B .. DEC_CONV2A/B
            self._layer(f"DEC_CONV{k}A", (channels, width), 2 * width)  # (upsampled, skip)
            self._layer(f"DEC_CONV{k}B", (2 * width,), 2 * width)
            channels = 2 * width
        dec1a, dec1b = round(width * 4 / 3), round(width * 2 / 3)
        self._layer("DEC_CONV1A", (channels, *seen), dec1a)  # (upsampled, image, sigma plane)
        self._layer("DEC_CONV1B", (dec1a,), dec1b)
        self._layer("DEC_CONV1C", (dec1b,), out_channels)  # linear output

    def _layer(self, name: str, input_segments: tuple[int, ...], out_channels: int) -> None:
        """Adds the 3×3 convolution ``name``, whose input is the concatenation of parts of
        ``input_segments`` channels (recorded for ``input_segments``)."""
        self._input_segments[name] = input_segments
        setattr(self, name, _conv(sum(input_segments), out_channels))

    @property
    def multiple_px(self) -> int:
        return 2**self.depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        x = pad_to_multiple(x, self.multiple_px)
        # in place: a convolution's output is not needed by its backward, and leaky ReLU's own
        # backward needs only its result (slope > 0); it saved 4-8% of a CPU training step
        act = lambda t: F.leaky_relu(t, self.slope, inplace=True)  # noqa: E731
        skips = [x]
        h = act(self.ENC_CONV0(x))
        for k in range(1, self.depth + 1):
            h = F.max_pool2d(act(getattr(self, f"ENC_CONV{k}")(h)), 2)  # POOLk
            skips.append(h)
        h = act(getattr(self, f"ENC_CONV{self.depth + 1}")(h))
        skips.pop()  # the deepest pool feeds the bottleneck, not a concat
        for k in range(self.depth, 1, -1):
            h = _upsample_concat(h, skips.pop())
            h = act(getattr(self, f"DEC_CONV{k}A")(h))
            h = act(getattr(self, f"DEC_CONV{k}B")(h))
        h = _upsample_concat(h, skips.pop())
        h = act(self.DEC_CONV1A(h))
        h = act(self.DEC_CONV1B(h))
        return OUTPUTS[self.output](self.DEC_CONV1C(h)[..., :height, :width])

    def hidden_convs(self) -> list[nn.Conv2d]:
        return [m for name, m in self.named_children() if name != "DEC_CONV1C"]

    def output_conv(self) -> nn.Conv2d:
        return self.DEC_CONV1C

    def input_segments(self) -> dict[str, tuple[int, ...]]:
        """Each layer's input channels, as the parts concatenated in ``forward``: (upsampled,
        skip) for a decoder's first layer; the last skip is (image, sigma plane)."""
        return dict(self._input_segments)


# The sigma plane holds sigma / 50: 0..1 over the levels users meet, as the pixels are. With
# sigma / 255 (0..0.2), widened blind grey weights trained 48k crops barely used it: its
# first-layer weights stayed at 1/18 of the image's (docs/models.md, "A grey network told σ").
SIGMA_PLANE_UNIT_255 = 50.0


def sigma_plane(images: torch.Tensor, sigma_255: torch.Tensor | float) -> torch.Tensor:
    """N×C×H×W images in [0, 1] -> N×(C+1)×H×W: a ``sigma_input`` network's input, the images
    then one plane holding each image's noise level sigma (in 0..255 units) / 50
    (``sigma_255``: one number, or one per image of shape N or N×1×1×1)."""
    n, _, height, width = images.shape
    level = torch.as_tensor(sigma_255, dtype=images.dtype, device=images.device).reshape(-1, 1, 1, 1)
    level = level / SIGMA_PLANE_UNIT_255
    return torch.cat([images, level.expand(n, 1, height, width)], dim=1)


def embedded_state(small: UNet, large: UNet, growth: str = "zero",
                   generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """The weights of ``large`` that compute exactly what ``small`` computes: a network of the
    same depth and channels, as wide or wider, told sigma or not (Net2Net's function-preserving
    growth, Chen et al. 2016). Each of ``small``'s channels keeps its weights; what the new
    channels start as is the ``growth`` (``registry.GROWTHS``: ``zero_growth``,
    ``split_growth``; ``generator`` draws the split's shares). An input channel that ``small``
    lacks (the sigma plane) gets zero weight either way."""
    return GROWTHS[growth](small, large, generator)


def zero_growth(small: UNet, large: UNet, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """New channels keep ``large``'s own random initial weights on their inputs (a zero-weight
    channel would never learn) and get zero weight into the old channels, so they change
    nothing until training uses them. (``generator`` is unused.)"""
    grown = {name: value.detach().clone() for name, value in large.state_dict().items()}
    small_inputs, large_inputs = small.input_segments(), large.input_segments()
    for name, conv in small.named_children():
        weight, bias = conv.weight.detach(), conv.bias.detach()
        old_out = weight.shape[0]
        target = grown[f"{name}.weight"]
        target[:old_out] = 0.0  # old outputs see nothing of the new input channels
        start_small = start_large = 0
        for size_small, size_large in zip(small_inputs[name], large_inputs[name], strict=True):
            target[:old_out, start_large:start_large + size_small] = weight[:, start_small:start_small + size_small]
            start_small, start_large = start_small + size_small, start_large + size_large
        grown[f"{name}.bias"][:old_out] = bias
    return grown


def split_growth(small: UNet, large: UNet, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """New channels are copies of old ones: new channel k of a layer copies old channel k mod
    the old width, and each copy's weight into the next layers is a random share of the
    original's (``generator``), the shares of one channel summing to one. Copies compute the
    same (leaky ReLU is positively homogeneous), so the output is unchanged; they start out
    useful, and their unequal shares give them unequal gradients, so they learn apart."""
    grown = {name: value.detach().clone() for name, value in large.state_dict().items()}
    small_inputs, large_inputs = small.input_segments(), large.input_segments()
    for name, conv in small.named_children():
        weight, bias = conv.weight.detach(), conv.bias.detach()
        rows = _copied_channels(weight.shape[0], grown[f"{name}.weight"].shape[0])
        sources, shares, start_small = [], [], 0
        for size_small, size_large in zip(small_inputs[name], large_inputs[name], strict=True):
            copied = _copied_channels(size_small, size_large)  # no original: any column, its share is 0
            sources.append(start_small + copied if size_small else torch.zeros(size_large, dtype=torch.long))
            shares.append(_shares(copied, size_small, size_large, generator))
            start_small += size_small
        grown[f"{name}.weight"] = weight[rows][:, torch.cat(sources)] * torch.cat(shares)[None, :, None, None]
        grown[f"{name}.bias"] = bias[rows].clone()
    return grown


def _copied_channels(old: int, new: int) -> torch.Tensor:
    """For each of ``new`` channels, the old channel it copies: itself, then k mod ``old``
    (0 when there is no old channel: ``_shares`` gives such a channel a zero share)."""
    index = torch.arange(new)
    return torch.where(index < old, index, (index - old) % max(old, 1))


def _shares(copied: torch.Tensor, old: int, new: int, generator: torch.Generator | None) -> torch.Tensor:
    """Each of ``new`` input channels' share of its original's weight: random and positive,
    summing to one over the copies of one channel; zero for a channel with no original."""
    if old == 0:
        return torch.zeros(new)
    raw = torch.rand(new, generator=generator) + 0.5  # shares within 1:3 of each other
    total = torch.zeros(old).index_add_(0, copied, raw)
    return raw / total[copied]


def _upsample_concat(low: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
    """N×c×h×w and N×s×2h×2w -> N×(c+s)×2h×2w: ``low`` upsampled 2× (nearest), then ``skip``.

    Without gradients both are copied straight into one channels-last buffer, the upsampling
    as a broadcast: on a 768×512 photo (2 CPU cores) that took 1.20 s per image against 1.46 s
    for interpolate then cat, which copies each twice. With gradients the broadcast's backward
    (a sum over the copies) made a 32 px training step 5% slower, so training keeps cat."""
    if torch.is_grad_enabled():
        return torch.cat([F.interpolate(low, scale_factor=2.0, mode="nearest"), skip], 1)
    n, low_c, height, width = low.shape
    out = torch.empty(n, 2 * height, 2 * width, low_c + skip.shape[1], device=low.device,
                      dtype=torch.promote_types(low.dtype, skip.dtype))  # the dtype cat would give
    pixels = out.view(n, height, 2, width, 2, -1)  # each low pixel's 2×2 block
    pixels[..., :low_c].copy_(low.permute(0, 2, 3, 1)[:, :, None, :, None, :].expand(n, height, 2, width, 2, low_c))
    out[..., low_c:].copy_(skip.permute(0, 2, 3, 1))
    return out.permute(0, 3, 1, 2)  # N×C×H×W, stored channels last


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    height, width = x.shape[-2:]
    pad_h, pad_w = -height % multiple, -width % multiple
    if not (pad_h or pad_w):
        return x
    # reflect needs the pad to be smaller than the side; tiny images fall back to replicate
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)


def build_model(arch: str, in_channels: int, out_channels: int, width: int, depth: int,
                output: str = "linear", sigma_input: bool = False) -> nn.Module:
    return ARCHS[arch](in_channels=in_channels, out_channels=out_channels, width=width, depth=depth,
                       output=output, sigma_input=sigma_input)
