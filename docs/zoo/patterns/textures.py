"""Synthetic periodic textures over natural crops (experiment; not product code)."""
import math
import sys

import torch
import torch.nn.functional as F


def textures(base: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """base: N×C×S×S 0..255 natural crops -> the same crops with a warped periodic pattern laid
    over part of each, in a random colour direction."""
    n, c, s, _ = base.shape
    dt = torch.float32
    b = base.float()
    yy, xx = torch.meshgrid(torch.arange(s, dtype=dt), torch.arange(s, dtype=dt), indexing="ij")
    period = torch.exp(torch.empty(n).uniform_(math.log(2.5), math.log(16.0), generator=g))
    theta = torch.rand(n, generator=g) * math.pi
    phase0 = torch.rand(n, generator=g) * 2 * math.pi
    # smooth warp: low-resolution noise upsampled, a few pixels of phase displacement
    warp = F.interpolate(torch.randn(n, 1, 4, 4, generator=g), size=(s, s), mode="bicubic", align_corners=False)[:, 0]
    warp = warp * torch.rand(n, 1, 1, generator=g) * 3.0
    u = xx * torch.cos(theta)[:, None, None] + yy * torch.sin(theta)[:, None, None] + warp
    wave = torch.sin(2 * math.pi * u / period[:, None, None] + phase0[:, None, None])
    sharp = torch.rand(n, 1, 1, generator=g) * 4.0  # 0: sine, large: near square wave
    wave = torch.tanh(wave * (1 + sharp)) / torch.tanh(1 + sharp)
    # a second, crossing wave for half the crops (checks, weaves)
    theta2 = theta + math.pi / 2 + (torch.rand(n, generator=g) - 0.5) * 0.6
    period2 = period * torch.exp(torch.rand(n, generator=g) - 0.5)
    u2 = xx * torch.cos(theta2)[:, None, None] + yy * torch.sin(theta2)[:, None, None] + warp
    wave2 = torch.sin(2 * math.pi * u2 / period2[:, None, None])
    wave = wave + (torch.rand(n, 1, 1, generator=g) < 0.5) * 0.6 * wave2
    # where: the whole crop, or a soft half-plane
    nx, ny = torch.cos(theta * 1.7 + 1), torch.sin(theta * 1.7 + 1)
    offset = (torch.rand(n, generator=g) - 0.5) * s * 0.6
    edge = (xx - s / 2) * nx[:, None, None] + (yy - s / 2) * ny[:, None, None] - offset[:, None, None]
    mask = torch.sigmoid(edge / 1.5)
    mask = torch.where(torch.rand(n, 1, 1, generator=g) < 0.5, torch.ones_like(mask), mask)
    amplitude = torch.empty(n, 1, 1).uniform_(10.0, 90.0, generator=g)
    colour = 0.7 + 0.3 * torch.rand(n, c, generator=g)  # mostly brightness, some colour
    colour = colour / colour.norm(dim=1, keepdim=True) * math.sqrt(c)
    # keep the base's shading but flatten its detail under the pattern
    blurred = F.avg_pool2d(F.pad(b, (4, 4, 4, 4), mode="replicate"), 9, stride=1)
    shade = blurred * (1 - mask[:, None]) + blurred * mask[:, None]
    detail = (b - blurred) * (1 - mask[:, None])
    out = shade + detail + (amplitude * wave * mask)[:, None] * colour[:, :, None, None]
    if base.dtype.is_floating_point:
        return out.clamp(0, 255).to(base.dtype)
    return out.round().clamp(0, 255).to(base.dtype)


def install(share: float) -> None:
    import noise2noise.data as d
    original = d.SyntheticPairs.crops

    def crops(self, count, generator):
        out = original(self, count, generator)
        k = int(round(count * share))
        if k and generator.device.type == "cpu":
            out = out.clone()
            out[:k] = textures(out[:k].cpu(), generator).to(out.device)
        return out

    d.SyntheticPairs.crops = crops


if __name__ == "__main__":
    share = float(sys.argv[1])
    if share > 0:
        install(share)
    from noise2noise.cli import main
    sys.exit(main(sys.argv[2:]))
