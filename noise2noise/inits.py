"""Weight initialisations, applied to a freshly built network."""

from __future__ import annotations

from torch import nn

from noise2noise.registry import INITS  # noqa: F401 - the names are declared there

_SLOPE = 0.1  # leaky ReLU slope of the U-Net
NORMAL_STD = 0.02  # the fixed sigma of `normal` (the DCGAN/GPT-2 convention)
SPARSE_SHARE, SPARSE_STD = 0.1, 0.01  # `sparse`: share of zeros per column, sigma of the rest


def _apply(model: nn.Module, hidden, output) -> None:
    for conv in model.hidden_convs():
        hidden(conv.weight)
        nn.init.zeros_(conv.bias)
    output(model.output_conv().weight)
    nn.init.zeros_(model.output_conv().bias)


def default_init(model: nn.Module) -> None:
    """Keep PyTorch's own initialisation."""


def kaiming_normal(model: nn.Module) -> None:
    """He et al. 2015 for leaky ReLU 0.1; gain 1 on the linear output layer (the paper)."""
    _apply(model, lambda w: nn.init.kaiming_normal_(w, a=_SLOPE, nonlinearity="leaky_relu"),
           lambda w: nn.init.kaiming_normal_(w, nonlinearity="linear"))


def kaiming_uniform(model: nn.Module) -> None:
    _apply(model, lambda w: nn.init.kaiming_uniform_(w, a=_SLOPE, nonlinearity="leaky_relu"),
           lambda w: nn.init.kaiming_uniform_(w, nonlinearity="linear"))


def xavier_normal(model: nn.Module) -> None:
    _apply(model, nn.init.xavier_normal_, nn.init.xavier_normal_)


def xavier_uniform(model: nn.Module) -> None:
    _apply(model, nn.init.xavier_uniform_, nn.init.xavier_uniform_)


def normal(model: nn.Module) -> None:
    """N(0, 0.02²) for every weight, whatever the layer's fan-in (no variance scaling)."""
    _apply(model, lambda w: nn.init.normal_(w, std=NORMAL_STD), lambda w: nn.init.normal_(w, std=NORMAL_STD))


def sparse(model: nn.Module) -> None:
    """Martens' sparse initialisation, from the seed study's list of inits: each conv's
    weight seen as an out × (in·k·k) matrix, a share 0.1 of every column zero, the rest
    N(0, 0.01²)."""
    fill = lambda w: nn.init.sparse_(w.view(w.shape[0], -1), sparsity=SPARSE_SHARE, std=SPARSE_STD)  # noqa: E731
    _apply(model, fill, fill)


def constant(model: nn.Module) -> None:
    """Every weight 1/fan-in (each output the mean of its inputs): a baseline that keeps the
    signal's scale but never breaks the symmetry between channels."""
    fill = lambda w: nn.init.constant_(w, 1.0 / w[0].numel())  # noqa: E731
    _apply(model, fill, fill)
