"""The course API (EPFL EE-559 mini-project 1): ``Model()``, ``load_pretrained_model()``,
``train(train_input, train_target, num_epochs)``, ``predict(test_input)``."""

from __future__ import annotations

import math
import numbers
from pathlib import Path

import torch
from torch import nn

from noise2noise import checkpoint
from noise2noise.config import INT64_MAX, TrainConfig
from noise2noise.data import TensorPairs, check_tensor
from noise2noise.denoise import run_network
from noise2noise.devices import resolve_device
from noise2noise.errors import N2NError, say_once
from noise2noise.inits import INITS
from noise2noise.train import TrainState, fit
from noise2noise.unet import build_model
from noise2noise.zoo import resolve_model


class Model:
    """An RGB Noise2Noise denoiser. Tensors are N×3×H×W with values 0..255 in and out;
    it runs on the GPU when there is one and on the CPU otherwise.

    Training goes on across ``train()`` calls: the optimiser's moments, the step count,
    the schedule's position and the weight average are kept, so n calls of one epoch
    train as one call of n epochs."""

    def __init__(self) -> None:
        # the recommended config, trained by epochs as the course API asks, at a constant rate
        # without the weight average as measured in benchmarks/course_api.py: the harness gives no
        # horizon, and a schedule laid over one call would decay and restart at every call
        self.config = TrainConfig(time_budget=None, epochs=1, schedule="constant", warmup=0.0, ema=0.0)
        self.device = resolve_device(self.config.device)
        with torch.random.fork_rng(devices=[]):  # the same init every time; the caller's random stream untouched
            torch.manual_seed(self.config.seed)
            self.model = build_model(self.config.arch, 3, 3, self.config.width, self.config.depth)
            INITS[self.config.init](self.model)
        self.model.to(self.device, memory_format=torch.channels_last)
        self.state: TrainState | None = None  # made by the first train() call, from self.config then
        self.untrained = True  # until load_pretrained_model() or train(): predict() says so

    def load_pretrained_model(self, path: str | None = None) -> None:
        """Load a shipped model by name (default: 'gaussian') or a checkpoint ``path``;
        training starts afresh from its weights."""
        path = resolve_model(path)
        network, _ = checkpoint.load_model(path)
        if network.in_channels != 3:
            raise N2NError(f"{path}: the course Model is RGB, this checkpoint has "
                           f"{network.in_channels} channels")
        if getattr(network, "sigma_input", False):
            raise N2NError(f"{path}: this network is told the noise level (sigma_input), and the course "
                           "Model trains on noisy pairs of unknown level; use a blind model such as 'gaussian'")
        self.model = network.to(self.device, memory_format=torch.channels_last)
        self.state, self.untrained = None, False

    def train(self, train_input: torch.Tensor, train_target: torch.Tensor, num_epochs: int) -> None:
        """Train on noisy pairs: ``train_input``, ``train_target`` N×3×H×W, 0..255
        (uint8 or float), for ``num_epochs`` more passes."""
        if isinstance(num_epochs, bool) or not isinstance(num_epochs, numbers.Integral) or num_epochs < 1:
            raise N2NError(f"train(): num_epochs={num_epochs!r} must be a whole number of epochs, 1 or more")
        pairs = TensorPairs(train_input, train_target, where="train(train_input, train_target)", channels=(3,))
        if self.state is None:
            self.device = resolve_device(self.config.device)
            self.state = TrainState.start(self.config, 3, self.device, self.model)
        # this call's passes over this call's pairs, as steps on from the step count of the calls
        # before (counted in epochs of the new pairs, a call with more pairs after fewer trained too long)
        steps = int(num_epochs) * math.ceil(len(pairs) / self.config.batch_size)
        if self.state.step + steps > INT64_MAX:
            raise N2NError(f"train(): num_epochs={num_epochs} of {len(pairs)} pairs is more steps than a run counts "
                           f"({INT64_MAX:,}); give fewer epochs")
        self.untrained = False
        fit(self.config.replace(epochs=None, time_budget=f"{self.state.step + steps} steps"), pairs, state=self.state)

    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write the network that predicts as a checkpoint (.pt or .pth) that
        ``load_pretrained_model(path)`` and ``n2n denoise --model`` load, e.g. the course
        folder's ``bestmodel.pth``. An existing file is replaced only with ``overwrite=True``,
        and then only once the new one is whole."""
        from noise2noise.outputs import check_outputs

        if isinstance(path, (str, Path)) and str(path).strip() and Path(path).is_file() and not overwrite:
            raise N2NError(f"{path}: already exists; save(path, overwrite=True) replaces it")
        if not isinstance(path, (str, Path)) or not str(path).strip():
            raise N2NError(f"save(path): expected a file path, got {path!r}")
        check_outputs([path], overwrite=True, suffixes=(".pt", ".pth"), option="path")
        return checkpoint.save(path, self.network, self.config)

    @property
    def network(self) -> nn.Module:
        """The network that predicts: the weight average when ``config.ema`` > 0."""
        return self.state.network if self.state is not None else self.model

    def predict(self, test_input: torch.Tensor) -> torch.Tensor:
        """Denoise N×3×H×W images (0..255, any H×W); returns float 0..255 of the same
        shape, on the input's device."""
        check_tensor(test_input, "predict(test_input)", channels=(3,))
        if self.untrained:
            say_once("warning: predict(): this Model has neither been trained nor loaded, so its output is an "
                     "untrained network's; call load_pretrained_model() or train() first")
        return run_network(self.network, test_input, batch_size=64, device=self.device)
