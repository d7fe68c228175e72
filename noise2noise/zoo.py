"""The model zoo: denoisers shipped with the package, by name.

Wherever a model is asked for (``n2n denoise|evaluate|export --model``,
``Model().load_pretrained_model(...)``) a shipped model's name and a checkpoint path both
work; ``resolve_model`` is the one place that tells them apart. Each model's training
config is ``models/NAME.toml`` in the source tree, so ``n2n train --config
models/NAME.toml`` retrains it. Weights are stored once, in ``noise2noise/weights/NAME.pt``,
as float16 (half the size; the outputs move by under 0.01 grey levels on average, see
``tests/test_zoo.py``) and are restored to float32 when loaded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from noise2noise.errors import N2NError
from noise2noise.registry import Registry

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_MODEL = "gaussian"
DEFAULT_GREY_MODEL = "gaussian-gray"  # what `n2n denoise` without --model uses for greyscale files
NOT_MEASURED = "not yet measured"


@dataclass(frozen=True)
class ShippedModel:
    """The facts a user needs to choose a shipped model."""

    name: str
    noise: str  # the noise model it was trained on, with its levels
    channels: str
    training_data: str
    training: str  # how long and how far it trained
    hardware: str
    psnr: str  # measured next to BM3D, with the command, or NOT_MEASURED
    stages: tuple[str, ...] = ()  # its training runs in order, as config names in models/; () is (name,)

    @property
    def weights(self) -> Path:
        return WEIGHTS_DIR / f"{self.name}.pt"

    @property
    def runs(self) -> tuple[str, ...]:
        """The config names of its training runs in the order they ran. Each run after the
        first goes on from the packed weights of the one before (``packed_stage``)."""
        return self.stages or (self.name,)

    @property
    def configs(self) -> tuple[str, ...]:
        """Its training configs in the order they ran, relative to the source tree's root."""
        return tuple(f"models/{run}.toml" for run in self.runs)

    @property
    def config(self) -> str:
        """The config of the run that gave the shipped weights."""
        return self.configs[-1]

    def packed_stage(self, index: int) -> str:
        """Where stage ``index`` (0: the first run) is packed for the next run to start from:
        the ``init_weights`` of that run's config. Named after the run it holds, so models
        that share a run share its packed file and models that branch never collide."""
        return f"runs/{self.runs[index]}.pt"

    @property
    def trained(self) -> bool:
        """Whether its weights ship with this copy of the package."""
        return self.weights.is_file()

    @property
    def run_checkpoint(self) -> str:
        """Where ``train_command`` leaves the weights that ship."""
        return f"runs/{self.runs[-1]}/checkpoint.pt"

    @property
    def train_command(self) -> str:
        steps = []
        for index, (run, config) in enumerate(zip(self.runs, self.configs)):
            if index:
                steps.append(f"pack_weights('runs/{self.runs[index - 1]}/checkpoint.pt', "
                             f"'{self.packed_stage(index - 1)}')")
            steps.append(f"n2n train --config {config} --out runs/{run}")
        return "; ".join(steps)


MODELS = Registry("shipped model")
_RECIPE = "Adam 1e-3, cosine decay after a 2% warm-up, weight EMA 0.999"
_H200 = "one NVIDIA H200 shared by the three zoo trainings side by side, torch 2.11.0+cu130, bf16 autocast"


def _quality_command(name: str, options: str = "") -> str:
    """The benchmarks/quality.py command that measured a model's PSNR line."""
    return f"python benchmarks/quality.py --split val{options} --models {name} --methods noisy,nlm,bm3d"


def _add(model: ShippedModel) -> None:
    MODELS.register(model.name)(model)


_add(ShippedModel(
    name="gaussian", noise="Gaussian, sigma 0..50 (blind: one network for every level; trained as long, a network "
                           "for sigma 25 alone is 0.16 dB better at 25 and 2-4 dB worse at 15 and 50, "
                           "docs/models.md), clipped",
    channels="RGB (n2n denoise sends greyscale files to gaussian-gray: this network keeps most of a grey "
             "image's noise, docs/denoise.md)",
    training_data="CBSD432: 128x128 crops of its 367 training photos (the other 65 held out)",
    training="stage 1: 8 min, 8,609 steps of 32 pairs (275k crops), " + _RECIPE + "; stage 2: 8 min alone on "
             "the GPU, 39,939 steps of 32 pairs (1.28M crops) from stage 1's weights, Adam 3e-4, the same schedule "
             "and EMA; stage 3: 7 min on the CPU, 500 steps of 32 pairs (16k crops of 64x64) from stage 2's "
             "weights with low sigma drawn more often (sigma = 50 u^8, noise_level_power 8), the same optimiser; "
             "stage 4: 7 min on the CPU, 500 more steps as stage 3's from its weights with the targets' noise "
             "unclipped (clip_targets false: no learnt bias near black and white); stage 5: 7 min on the GPU, "
             "6,252 steps of 32 pairs (200k crops of 128x128) as stage 4's from its weights, half of the crops "
             "from copies of the photos halved once (train_scales 2: finer detail per pixel); stage 6: 8 min on "
             "the GPU, 5,627 steps of 32 pairs (180k crops of 128x128) as stage 5's from its weights, the colour "
             "channels of each pair in a random order (augment channels: no colour balance learnt from CBSD432); "
             "stage 7: 2 min alone on the GPU, 9,378 steps of 32 pairs (300k crops) as stage 6's from its weights",
    hardware="stage 1: " + _H200 + "; stages 2 and 5: one NVIDIA H100, torch 2.11.0+cu130, bf16 autocast (stage 5 "
             "beside three other runs); stages 6 and 7: one NVIDIA H200 (stage 6 beside four other runs), the same "
             "software; stages 3 and 4: a 2-core AMD EPYC CPU (one thread, beside another run), torch 2.13.0+cpu, "
             "bf16 autocast",
    psnr="all 65 held-out CBSD432 photos, sigma 15 / 25 / 50: 34.07 / 31.44 / 28.04 dB (BM3D 33.60 / 30.61 / "
         "26.25, NLM 30.74 / 28.17 / 24.14); " + _quality_command("gaussian") + "; the nine scikit-image images "
         "(the same with --data embedded --split all): 34.59 / 32.43 / 29.42 (BM3D 34.37 / 31.43 / 26.77); eight "
         "photos from the package index (benchmarks/wheel_photos.py): 34.61 / 32.25 / 28.97 (BM3D 34.34 / 31.59 / "
         "27.03), behind BM3D on one of them, barbara's fine periodic stripes, by 0.6-1.0 dB; "
         "the retina crop at sigma 25 with its colour channels in each of the six orders: 37.13-38.58 (stage 5: "
         "33.06-38.58, docs/zoo/gpu_stage6/channel_order-F.txt); it keeps the part of the noise that the colour "
         "channels share (gaussian-correlated does not); these are the network's outputs as they are "
         "(--no-mean-match): mean matching, the default (one constant a channel, then over a 32 px window), gives "
         "34.08 / 31.45 / 28.05 on the 65 photos and 34.84 / 32.66 / 29.62 on the nine scikit-image images, and "
         "puts the retina crop at sigma 25 ahead of BM3D, 38.73 against 38.62 (docs/models.md, Mean matching, and "
         "Mean matching over a window)",
    stages=("gaussian", "gaussian.stage2", "gaussian.stage3", "gaussian.stage4", "gaussian.stage5",
            "gaussian.stage6", "gaussian.stage7")))
_add(ShippedModel(
    name="gaussian-correlated", noise="Gaussian-correlated: sigma 0..50 (blind), the colour channels' noise correlated "
                                      "by a rho drawn per image in 0..1, as a camera's is after demosaicing; clipped",
    channels="RGB",
    training_data="CBSD432: 128x128 crops of its 367 training photos",
    training="gaussian's first two stages, then 3 min from their packed weights: 4,858 steps of 32 pairs (155k "
             "crops), Adam 3e-4, cosine decay after a 2% warm-up, weight EMA 0.999; stage 2: 6 min from those "
             "weights, 6,252 steps of 32 pairs (200k crops) with low sigma drawn more often (noise_level_power 8) "
             "and the targets' noise unclipped (clip_targets false), the same optimiser; stage 3: 7 min from stage "
             "2's weights, 4,689 steps of 32 pairs (150k crops), the colour channels of each pair in a random order "
             "(augment channels), the same optimiser",
    hardware="gaussian's, then one NVIDIA H100 shared with a control run (stage 2: with three other runs), "
             "torch 2.11.0+cu130, bf16 autocast; stage 3: one NVIDIA H200 beside four other runs, the same "
             "software",
    psnr="first 16 held-out CBSD432 photos, sigma 15 / 25 / 50: independent noise 34.01 / 31.44 / 28.11 dB "
         "(gaussian 34.15 / 31.56 / 28.18, BM3D 33.63 / 30.76 / 26.63; " + _quality_command(
             "gaussian-correlated", " --max-images 16") + "); channels correlated by 0.5: 32.60 / 30.15 / 26.94 "
         "(gaussian 28.04 / 24.04 / 18.75), by 1: 31.86 / 29.48 / 26.29 (gaussian 24.81 / 20.49 / 14.98; "
         "python benchmarks/passthrough.py --models gaussian,gaussian-correlated --max-images 16 --levels 15,25,50 "
         "--channel-correlation RHO)",
    stages=("gaussian", "gaussian.stage2", "gaussian-correlated", "gaussian-correlated.stage2",
            "gaussian-correlated.stage3")))
_add(ShippedModel(
    name="gaussian-gray", noise="Gaussian, sigma 0..50, clipped; told sigma (sigma_input: one more input plane; "
                                "n2n denoise takes --noise-level or estimates sigma from each image)",
    channels="greyscale",
    training_data="CBSD432 converted to greyscale: 128x128 crops of the 367 training photos (stages 3 and 4: 64x64)",
    training="stage 1: 8 min, 14,388 steps of 32 pairs (460k crops), " + _RECIPE + "; stage 2: 3 min from stage "
             "1's weights, 6,252 steps of 32 pairs (200k crops) with low sigma drawn more often (noise_level_power "
             "8) and the targets' noise unclipped (clip_targets false), Adam 1e-3 (stage 1's), the same schedule "
             "and EMA; stage 3: 12 min from stage 2's weights told sigma (the plane's weights starting at zero), "
             "1,500 steps of 32 pairs (48k crops of 64x64), Adam 3e-4, stage 2's other settings; stage 4: 23 min, "
             "1,500 more steps as stage 3's from its weights; stage 5: 15 min, 375 steps of 32 pairs (12k crops of "
             "128x128) as stage 4's from its weights; stage 6: 6 min, 11,381 steps of 32 pairs (364k crops of "
             "128x128) as stage 5's from its weights",
    hardware="stage 1: " + _H200 + "; stage 2: one NVIDIA H100 beside a poisson run, torch 2.11.0+cu130, bf16 "
             "autocast; stages 3-5: a 2-core AMD EPYC CPU (stage 4 one thread, beside another run), torch "
             "2.13.0+cpu, bf16 autocast; stage 6: one NVIDIA H200 beside two other runs, torch 2.11.0+cu130, "
             "bf16 autocast",
    psnr="all 65 held-out CBSD432 photos in grey, sigma 15 / 25 / 50: 31.92 / 29.44 / 26.32 dB with sigma "
         "estimated from each photo, 31.90 / 29.45 / 26.32 given sigma (BM3D 31.43 / 28.78 / 25.24; stage 5: "
         "31.84 / 29.39 / 26.26 estimated); " + _quality_command("gaussian-gray") + "; the eight wheel photos of "
         "benchmarks/wheel_photos.py in grey: 33.57 / 31.14 / 27.85 estimated (BM3D 33.28 / 30.65 / 26.66); "
         "the nine scikit-image images in grey (--data embedded --split all): 34.06 / 31.76 / 28.60 estimated "
         "(BM3D 33.41 / 30.57 / 26.37), ahead on every image at every level",
    stages=("gaussian-gray", "gaussian-gray.stage2", "gaussian-gray.stage3", "gaussian-gray.stage4",
            "gaussian-gray.stage5", "gaussian-gray.stage6")))
_add(ShippedModel(
    name="poisson", noise="Poisson, photon scale lambda 5..50 (blind), clipped", channels="RGB",
    training_data="CBSD432: 128x128 crops of its 367 training photos",
    training="stage 1: 8 min, 8,566 steps of 32 pairs (274k crops), " + _RECIPE + "; stage 2 (its GPU draws "
             "were correlated at high photon counts, docs/models.md): 67 min, 1,000 steps of 32 pairs (32k crops) "
             "from stage 1's weights, Adam 3e-4, the same schedule and EMA; stage 3: 4 min from stage 2's weights, "
             "5,813 steps of 32 pairs (186k crops; stopped at 93% of its 200k budget, the rate at 1.2% of its "
             "peak, when the GPU's time ran out) with mild noise drawn more often (noise_level_power 0.5) and the "
             "targets' noise unclipped (clip_targets false), the same optimiser; stage 4: 7 min from stage 3's "
             "weights, 4,689 steps of 32 pairs (150k crops) as stage 3's, the colour channels of each pair in a "
             "random order (augment channels: no colour balance learnt from CBSD432)",
    hardware="stage 1: " + _H200 + "; stage 2: a 2-core AMD EPYC CPU (one thread, beside another run), "
             "torch 2.13.0+cpu, bf16 autocast; stage 3: one NVIDIA H100 beside the gaussian-gray run, "
             "torch 2.11.0+cu130, bf16 autocast; stage 4: one NVIDIA H200 beside four other runs, the same "
             "software",
    psnr="first 16 held-out CBSD432 photos, lambda 5 / 15 / 50: 25.98 / 28.82 / 31.77 dB (BM3D on the Anscombe "
         "transform 23.97 / 27.38 / 30.78, NLM 21.31 / 24.79 / 26.96; stage 3 26.02 / 28.82 / 31.77); "
         + _quality_command("poisson", " --max-images 16 --noise poisson") + "; the retina crop at lambda 15 with "
         "its colour channels in each of the six orders: 35.67-36.47 (stage 3: 29.87-36.04, "
         "docs/zoo/gpu_stage6/channel_order-poisson15.txt)",
    stages=("poisson", "poisson.stage2", "poisson.stage3", "poisson.stage4")))


def resolve_model(name_or_path: str | Path | None = None, option: str = "--model") -> Path:
    """The checkpoint file of a shipped model's name, or a checkpoint path as given (a run
    folder: its checkpoint.pt); None: the default shipped model. A name with a checkpoint or a
    run folder of the same name in the current folder is refused as ambiguous (./gaussian is
    the file). ``option`` is what the error messages tell the user to pass."""
    named = name_or_path is not None  # the default is the shipped model, whatever the folder holds
    if name_or_path is None:
        name_or_path = DEFAULT_MODEL
    if isinstance(name_or_path, str) and name_or_path in MODELS:
        here = Path(name_or_path)
        if named and (here.is_file() or (here / "checkpoint.pt").is_file()):  # either may be meant: refuse
            what = "file" if here.is_file() else "run folder"  # a checkpoint or not: its name alone is ambiguous
            raise N2NError(f"{option} {name_or_path}: names a shipped model, and there is a {what} ./{name_or_path} "
                           f"here too; write ./{name_or_path} for that one, or run from another folder for the "
                           "shipped model")
        model = MODELS[name_or_path]
        if not model.trained:
            raise N2NError(f"shipped model {model.name!r} is not trained yet; train it with "
                           f"`{model.train_command}` and pass {option} {model.run_checkpoint}")
        return model.weights
    if not isinstance(name_or_path, (str, os.PathLike)) or not str(name_or_path).strip():
        # an empty one would be the current folder, and a run folder there would be taken unasked
        raise N2NError(f"model {name_or_path!r}: expected a shipped model's name or a checkpoint file's path")
    path = Path(name_or_path)
    if path.is_dir() and (path / "checkpoint.pt").is_file():  # a run folder (n2n train --out) stands for its checkpoint
        return path / "checkpoint.pt"
    if path.is_dir():
        raise N2NError(f"{path}: a folder without a checkpoint.pt; give a checkpoint file or a run folder (n2n train "
                       "--out)")
    if os.path.exists(path) and not path.is_file():  # a device, a pipe: it exists, so "no such file" would mislead
        raise N2NError(f"{path}: not a regular file; give a checkpoint file (.pt) or a run folder (n2n train --out)")
    if not path.is_file():
        names = ", ".join(name for name, model in MODELS.items() if model.trained)
        raise N2NError(f"{path}: no such checkpoint file, nor a shipped model of that name; give a "
                       f"checkpoint.pt or one of {names} (n2n models lists them)")
    return path


def describe(model: ShippedModel) -> str:
    """A shipped model's facts as indented text lines."""
    facts = {"noise": model.noise, "channels": model.channels, "training data": model.training_data,
             "training": model.training, "hardware": model.hardware, "PSNR": model.psnr,
             "config": f"{', then '.join(model.configs)}  ({model.train_command})"}
    if model.trained:
        facts["weights"] = str(model.weights)
    return "\n".join([model.name, *(f"  {key + ':':<15}{value}" for key, value in facts.items())])


def list_models() -> str:
    """What ``n2n models`` prints: the shipped models, then those not trained yet."""
    trained = [describe(m) for m in MODELS.values() if m.trained]
    planned = [f"  {m.name:<15}{m.noise}; {m.channels}: `{m.train_command}`" for m in MODELS.values()
               if not m.trained]
    text = "\n\n".join(trained) if trained else "no shipped model in this copy of the package"
    if planned:
        text += "\n\nnot trained yet (their configs are in the source tree):\n" + "\n".join(planned)
    return text


def pack_weights(checkpoint_path: str | Path, out_path: str | Path, overwrite: bool = False,
                 float16: bool = True) -> Path:
    """Write a checkpoint as a model to ship: weights in float16, the config and the record
    of its training kept, the optimiser and random states dropped (about half the size
    of the float32 weights alone). ``float16=False`` keeps float32 weights: a GPU run's
    weights brought back for a float32 reference (tests/data/gaussian_fp32_reference.pt)."""

    from noise2noise import checkpoint
    from noise2noise.outputs import check_outputs, write_torch

    check_outputs([out_path], [checkpoint_path], overwrite, suffixes=(".pt", ".pth"))
    payload = checkpoint.load(checkpoint_path)
    weights = payload["model"]
    if float16:
        too_large = [k for k, v in weights.items() if v.is_floating_point() and v.abs().max() > 6e4]
        if too_large:  # float16 tops out at 65504
            raise N2NError(f"{checkpoint_path}: weight {too_large[0]} exceeds float16's range; ship it as it is")
        weights = {k: v.half() if v.is_floating_point() else v for k, v in weights.items()}
    kept: dict[str, Any] = {k: payload[k] for k in ("format", "config", "model_args", "code_version", "step",
                                                   "images", "train_time_s", "finished") if k in payload}
    kept["model"] = weights
    return write_torch(out_path, kept)
