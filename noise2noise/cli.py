"""The ``n2n`` command: a thin shell over the Python API (torch is imported lazily)."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import sys
from pathlib import Path
from typing import Any

from noise2noise import __version__, registry
from noise2noise.config import (
    DENOISE_OVERLAP_PX,
    DENOISE_TILE_BATCH,
    DENOISE_TILE_PX,
    FIELD_TYPES,
    PRECISIONS,
    TrainConfig,
)
from noise2noise.errors import N2NError, resource_error

_ALIASES: dict[str, list[str]] = {}
DEVICE_HELP = "where the network runs: auto (CUDA, then MPS, then the CPU), cpu, cuda, cuda:N or mps (default: auto)"
MEAN_MATCH_HELP = ("leave a Gaussian model's output as the network gives it: by default each colour channel is moved "
                   "by one constant so that its mean fits the noisy image's, then over a 32 px window "
                   "(docs/denoise.md, Mean matching)")
PRECISION_HELP = ("the network's arithmetic: auto (bf16 on CUDA, float32 on a CPU: exact), fp32, or bf16 (on a CPU "
                  "with AVX512-BF16 or AMX about 1.7x faster, for at most 0.02 dB measured; README, Speed)")


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.register("action", "parsers", _Subcommands)


class _Subcommands(argparse._SubParsersAction):
    """Subcommands whose unknown arguments are reported by the command they were given to
    ('n2n train: error: unrecognized arguments: false'), not by 'n2n'; one placed before the
    command stays n2n's ('n2n --quiet train')."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        attr = argparse._UNRECOGNIZED_ARGS_ATTR
        before = len(getattr(namespace, attr, ()))
        super().__call__(parser, namespace, values, option_string)
        extras = getattr(namespace, attr, [])[before:]
        if extras:
            self.choices[values[0]].error(f"unrecognized arguments: {' '.join(extras)}")


def int_at_least(low: int, words: str):
    """An argparse type: a whole number >= ``low``, else its one line (``words``: what is expected;
    argparse's own line for a non-number would name this function)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low:
            raise argparse.ArgumentTypeError(f"expected {words}, got {text!r}")
        return value
    return parse


def _path(text: str) -> Path:
    """An argparse type for paths: an empty one (an unset shell variable, -o "$OUT") would be
    the current folder, where outputs would land unasked."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a path, got an empty string (an unset variable?)")
    return Path(text)


def _source(text: str) -> str:
    """An argparse type for image sources ('embedded' or a path): not empty, kept as typed
    (./embedded is a folder of that name)."""
    _path(text)
    return text


_positive_int = int_at_least(1, "a positive integer")
_non_negative_int = int_at_least(0, "an integer >= 0")


def _optional(convert):
    def parse(text: str):
        return None if text.strip().lower() == "none" else convert(text)

    parse.__name__ = convert.__name__
    return parse


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One option per TrainConfig field (--batch-size for batch_size ...), typed from its
    annotation; a bool field is a flag pair (--clip / --no-clip). The text is converted
    here, the values are checked by TrainConfig."""
    group = parser.add_argument_group("training config (defaults are the recommended setting)")
    for f in dataclasses.fields(TrainConfig):
        flag = f"--{f.name.replace('_', '-')}"
        kind, optional = FIELD_TYPES[f.name]
        choices = f"; choose from {', '.join(registry.get(f.name))}" if f.name in registry.kinds() else ""
        default = "none" if f.default is None else f.default
        if kind is bool:
            group.add_argument(flag, *_ALIASES.get(f.name, []), dest=f.name, action=argparse.BooleanOptionalAction,
                               default=argparse.SUPPRESS,
                               help=f"{f.metadata['help']} (default: {flag if f.default else '--no-' + flag[2:]})")
            continue
        convert = {int: int, float: float}.get(kind, str)  # noise_level 'lo,hi', time_budget '10m': text
        group.add_argument(flag, *_ALIASES.get(f.name, []), dest=f.name, default=argparse.SUPPRESS,
                           type=_optional(convert) if optional else convert,
                           metavar=f.name.split("_")[-1].upper() if f.name != "data" else "SOURCE",
                           help=f"{f.metadata['help']}{choices} (default: {default})")


def _given_config_fields(args: argparse.Namespace) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    return {k: v for k, v in vars(args).items() if k in names}  # options not given are absent


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    if getattr(args, "config", None):  # options override the file
        return TrainConfig.from_file(args.config, overrides=_given_config_fields(args))
    return TrainConfig.from_dict(_given_config_fields(args))


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="n2n", description="Train and use Noise2Noise image denoisers: "
                     "learn from pairs of noisy images, no clean image needed.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    # --debug also after the command (n2n train --debug ...); SUPPRESS keeps one given before it
    debug = OneLineParser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show full tracebacks on errors")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    commands.add_parser = functools.partial(commands.add_parser, parents=[debug])

    train = commands.add_parser("train", help="train a denoiser (default: embedded photos, "
                                "Gaussian sigma=25, 10-minute budget)",
                                description="Train a denoiser, validate it on held-out images and "
                                "write config.json, metrics.jsonl, checkpoint.pt, results.json and "
                                "samples.png to --out.")
    train.add_argument("--out", type=_path, default=Path("runs/train"), help="run folder (default: runs/train)")
    train.add_argument("--config", type=_path, help="TOML file of config fields (options override it)")
    train.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint; "
                       "with a larger --time-budget or --epochs, train a finished run on")
    train.add_argument("--overwrite", action="store_true", help="replace the run in --out once the new one has "
                       "finished (a failed new run leaves it as it was; other files in --out are kept)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    add_config_arguments(train)

    evaluate = commands.add_parser("evaluate", help="compare denoisers (noisy input, NLM, BM3D, our models) "
                                   "on clean images with added noise",
                                   description="Add noise to clean images (whole images, any size), "
                                   "denoise them with each method and print a table of PSNR, SSIM and "
                                   "seconds per image.")
    evaluate.add_argument("--model", help="method n2n: a shipped model's name (n2n models lists them) or a "
                          "checkpoint.pt (default: gaussian)")
    evaluate.add_argument("--clean-model", help="a Noise2Clean checkpoint.pt or run folder (mode noise2clean) "
                          "for method n2c, the upper bound")
    evaluate.add_argument("--methods", default=None, help="comma-separated, from noisy, nlm, bm3d, n2n, n2c, "
                          "n2n+tta, n2c+tta (default: noisy,n2n, plus n2c with --clean-model); bm3d needs the "
                          "bm3d extra")
    evaluate.add_argument("--tta", action="store_true", help="also evaluate each model with the test-time "
                          "self-ensemble (rows n2n+tta, n2c+tta: mean over 8 flips/rotations, 8x the time)")
    evaluate.add_argument("--device", default="auto", help=DEVICE_HELP)
    evaluate.add_argument("--precision", choices=PRECISIONS, default="auto", help=PRECISION_HELP)
    evaluate.add_argument("--no-mean-match", dest="mean_match", action="store_false", help=MEAN_MATCH_HELP)
    evaluate.add_argument("--data", default="embedded", type=_source, help="'embedded' (bundled photos), a "
                          "folder of clean images, or a course val_data.pkl (default: embedded)")
    evaluate.add_argument("--split", choices=("all", "train", "val"), default=None,
                          help="images of --data: the held-out share training kept for validation (val), "
                          "the rest (train) or all (default: val for embedded, all for a folder)")
    evaluate.add_argument("--val-fraction", type=float, default=None, help="held-out share of --split "
                          "(default: the --model run's val_fraction, else 0.15)")
    evaluate.add_argument("--noise", default=None, help="noise model (default: gaussian)")
    evaluate.add_argument("--noise-level", default=None, help="noise level, e.g. 25 "
                          "(default: the noise's own: gaussian 25)")
    evaluate.add_argument("--seed", type=int, default=None, help="seed of the added noise (default: 0)")
    evaluate.add_argument("--max-images", type=_positive_int, default=None, help="evaluate at most N images")
    evaluate.add_argument("--out", type=_path, help="write results.json and samples.png here")
    evaluate.add_argument("--overwrite", action="store_true", help="replace results.json/samples.png in --out")

    denoise = commands.add_parser("denoise", help="denoise image files or folders",
                                  description="Denoise PNG/JPEG/TIFF images of any size, keeping size, "
                                  "bit depth and alpha.")
    denoise.add_argument("inputs", nargs="+", type=_path, metavar="IMAGE", help="image files or folders")
    denoise.add_argument("-o", "--out", type=_path, required=True,
                         help="output file (one input) or folder")
    denoise.add_argument("--model", help="a shipped model's name (n2n models lists them) or a checkpoint.pt "
                         "(default: gaussian, and gaussian-gray for greyscale files)")
    denoise.add_argument("--device", default="auto", help=DEVICE_HELP)
    denoise.add_argument("--precision", choices=PRECISIONS, default="auto", help=PRECISION_HELP)
    denoise.add_argument("--no-mean-match", dest="mean_match", action="store_false", help=MEAN_MATCH_HELP)
    denoise.add_argument("--tta", action="store_true", help="test-time self-ensemble: average the outputs for "
                         "the 8 flips/rotations of each image (8x the time; n2n evaluate --tta shows the gain)")
    denoise.add_argument("--noise-level", type=float, default=None, metavar="SIGMA",
                         help="the Gaussian noise's sigma in the images' own units (0..255 for 8-bit images), "
                              "for a model told sigma (n2n models) and for mean matching (--no-mean-match turns it "
                              "off); default: estimated from each image")
    denoise.add_argument("--overwrite", action="store_true", help="replace output files that already exist")
    denoise.add_argument("--skip-existing", action="store_true", help="leave output files that already exist as "
                         "they are and denoise the other inputs (to finish an interrupted folder run)")
    denoise.add_argument("--tile", type=_non_negative_int, default=DENOISE_TILE_PX, metavar="PX",
                         help=f"denoise images larger than this in PX×PX tiles; 0: never tile "
                              f"(default: {DENOISE_TILE_PX})")
    denoise.add_argument("--overlap", type=_non_negative_int, default=DENOISE_OVERLAP_PX, metavar="PX",
                         help=f"overlap of neighbouring tiles, blended smoothly (default: {DENOISE_OVERLAP_PX})")
    denoise.add_argument("--batch-size", type=_positive_int, default=DENOISE_TILE_BATCH,
                         help=f"tiles per forward pass (default: {DENOISE_TILE_BATCH})")
    denoise.add_argument("--quiet", action="store_true", help="no progress bar")

    export_model = commands.add_parser("export", help="export a model to ONNX",
                                       description="Write a model as ONNX with dynamic batch, height and "
                                       "width: N×C×H×W float32 in 0..1 in (a model told sigma: one more "
                                       "channel after the image's, sigma/50 everywhere, sigma in 0..255 units), "
                                       "the network's output out. Needs pip install 'noise2noise[onnx]'.")
    export_model.add_argument("--onnx", type=_path, required=True, metavar="FILE", help="the .onnx file to write")
    export_model.add_argument("--model", help="a shipped model's name (n2n models lists them) or a "
                              "checkpoint.pt (default: gaussian)")
    export_model.add_argument("--overwrite", action="store_true", help="replace an existing .onnx file")

    sweep = commands.add_parser("sweep", help="run a study: tables of config grids over seeds",
                                description="Train every setting of a study file's tables for each of its "
                                "seeds under one time budget, appending each finished run to "
                                "runs.jsonl (a re-run skips finished runs), then write tables.md, "
                                "runs.csv, curves.png and samples.png of the best run.")
    sweep.add_argument("study", type=_path, metavar="STUDY.toml", help="study file (see studies/seed.toml)")
    sweep.add_argument("--out", type=_path, help="study folder (default: runs/STUDY-NAME)")
    sweep.add_argument("--budget", help="time budget per run, overriding the study's, e.g. 30s or 10m")
    sweep.add_argument("--device", help="where every run trains, overriding the study's device "
                       "(auto, cpu, cuda, cuda:N or mps); finished runs count whatever device they used")
    sweep.add_argument("--jobs", type=_positive_int, default=1, help="runs trained at the same time, each in its own "
                       "process with an equal share of the CPU cores (default: 1)")
    sweep.add_argument("--report-only", action="store_true", help="only rewrite the tables and figures")

    commands.add_parser("models", help="list the shipped models (names for --model)",
                        description="List the models shipped with the package: noise, channels, "
                        "training data and time, hardware, measured PSNR next to BM3D, config file.")

    data = commands.add_parser("data", help="data tools")
    data_commands = data.add_subparsers(dest="data_command", required=True, parser_class=OneLineParser)
    data_commands.add_parser = functools.partial(data_commands.add_parser, parents=[debug])
    export = data_commands.add_parser("export-course", help="write course-format train_data.pkl and "
                                      "val_data.pkl from clean photos",
                                      description="Cut random crops from clean photos (split by image) "
                                      "and write noisy pairs as the course's train_data.pkl "
                                      "(noisy_1, noisy_2) and val_data.pkl (noisy, clean), uint8 N×C×H×W.")
    export.add_argument("source", type=_source, help="'embedded' or a folder of clean images")
    export.add_argument("--out", type=_path, required=True, help="folder for the two .pkl files")
    export.add_argument("--overwrite", action="store_true", help="replace existing .pkl files in --out")
    export.add_argument("--pairs", type=_positive_int, default=50_000, help="training pairs (default: 50000)")
    export.add_argument("--val-pairs", type=_positive_int, default=1000, help="validation pairs (default: 1000)")
    export.add_argument("--crop-px", type=int, default=32, help="crop side (default: 32)")
    export.add_argument("--noise", default="gaussian", help="noise model (default: gaussian)")
    export.add_argument("--noise-level", default=None, help="noise level (default: the noise's own)")
    export.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    add_noise = data_commands.add_parser("add-noise", help="write a noisy copy of an image",
                                         description="Add synthetic noise to an image file (same size, "
                                         "bit depth and alpha), e.g. to try a model on a photo.")
    add_noise.add_argument("image", type=_path, help="image file")
    add_noise.add_argument("-o", "--out", type=_path, required=True, help="output image file")
    add_noise.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    add_noise.add_argument("--noise", default="gaussian", help="noise model (default: gaussian)")
    add_noise.add_argument("--noise-level", default=None, help="noise level (default: the noise's own)")
    add_noise.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    for subcommands in (commands, data_commands):  # a missing one is named by its choices, not by its dest
        subcommands.metavar = "{" + ",".join(subcommands.choices) + "}"
    return parser


def _cmd_train(args: argparse.Namespace) -> None:
    from noise2noise.train import EXTENDABLE, run_training

    extend = {}
    if args.resume:  # a resumed run uses its saved config; a larger budget extends it
        given = _given_config_fields(args)
        extend = {k: v for k, v in given.items() if k in EXTENDABLE}
        fixed = ["--config"] * bool(args.config) + [f"--{k.replace('_', '-')}" for k in given if k not in extend]
        if fixed:
            raise N2NError(f"--resume continues {args.out} with its saved config; drop {', '.join(fixed)} "
                           "(only --time-budget and --epochs may grow; or start a new run in another --out)")
    cfg = None if args.resume else config_from_args(args)
    result = run_training(cfg, args.out, resume=args.resume, overwrite=args.overwrite,
                          progress=not args.quiet, extend=extend)
    if result.out_dir is None:  # a data-parallel rank other than 0: rank 0 reports
        return
    print(f"trained {result.steps} steps in {result.train_time_s:.0f} s; outputs in {args.out}")
    if result.metrics:
        m = result.metrics
        print(f"validation ({m['n_images']} images): {m['psnr_db']:.2f} dB PSNR, SSIM {m['ssim']:.4f} "
              f"(noisy input {m['psnr_noisy_db']:.2f} dB, SSIM {m['ssim_noisy']:.4f})")
    if result.validation_whole:
        w = result.validation_whole
        print(f"validation on whole images ({w['n_images']} held out, noise level {w['noise_level']:g}): "
              f"{w['psnr_db']:.2f} dB PSNR, SSIM {w['ssim']:.4f} "
              f"(noisy input {w['psnr_noisy_db']:.2f} dB, SSIM {w['ssim_noisy']:.4f})")


def _load_network(name_or_path: str | None):
    from noise2noise.checkpoint import load_model
    from noise2noise.zoo import resolve_model

    return load_model(resolve_model(name_or_path))[0]


def _cmd_evaluate(args: argparse.Namespace) -> None:
    from noise2noise.checkpoint import code_version, load_model
    from noise2noise.data import is_course_file
    from noise2noise.devices import resolve_device
    from noise2noise.evaluate import (
        ESTIMATED_SUFFIX,
        METHODS,
        TTA_SUFFIX,
        build_methods,
        channels_for,
        compare_methods,
        evaluation_images,
        format_table,
        known_noise,
    )
    from noise2noise.figures import sample_figure
    from noise2noise.noise import build_noise
    from noise2noise.outputs import check_out_folder, check_outputs, write_json
    from noise2noise.zoo import resolve_model

    # options that choose images of a folder and the noise added to them: a course tensor file
    # holds its own (noisy, clean) pairs, and would silently ignore them
    image_options = ("split", "val_fraction", "noise", "noise_level", "seed")
    if is_course_file(args.data) and (given := [f"--{n.replace('_', '-')}" for n in image_options
                                                if getattr(args, n) is not None]):
        raise N2NError(f"{args.data}: a course tensor file holds its own noisy and clean images, so "
                       f"{', '.join(given)} would not be used; leave {'it' if len(given) == 1 else 'them'} out, "
                       "or evaluate a folder of clean images (--data FOLDER)")
    args.noise, args.seed = args.noise or "gaussian", args.seed if args.seed is not None else 0
    clean_model = resolve_model(args.clean_model, "--clean-model") if args.clean_model else None
    if args.out:
        model_path = resolve_model(args.model) if args.model else None  # a name or a path
        inputs = [p for p in (Path(args.data), model_path, clean_model) if p is not None and p.exists()]
        check_out_folder(args.out, inputs)
        held = [name for name in ("checkpoint.pt", "study.json") if (args.out / name).is_file()]
        if held:  # its own results.json and samples.png would be replaced by these, --overwrite or not
            raise N2NError(f"{args.out}: the folder of a {'training run' if held[0] == 'checkpoint.pt' else 'study'} "
                           f"(it holds {held[0]}), whose results.json is its own; write the evaluation elsewhere, "
                           f"e.g. --out {args.out / 'eval'}")
        check_outputs([args.out / "results.json", args.out / "samples.png"], inputs, args.overwrite)

    names = ("noisy,n2n" + (",n2c" if args.clean_model else "") if args.methods is None else args.methods
             ).replace(" ", "").split(",")
    if "" in names or len(set(names)) < len(names):
        raise N2NError(f"--methods {args.methods!r}: give distinct method names separated by commas, e.g. noisy,n2n")
    if args.tta:  # each model's self-ensemble in the row after it
        names = [m for name in names for m in ([name, name + TTA_SUFFIX] if name in ("n2n", "n2c") else [name])]
    wanted = {name.removesuffix(TTA_SUFFIX).removesuffix(ESTIMATED_SUFFIX) for name in names}
    unknown = sorted(wanted - {*METHODS, "n2n", "n2c"})
    if unknown:  # before a model loads: build_methods would not list the models not loaded
        lower = f"; did you mean {unknown[0].lower()}?" if unknown[0].lower() in {*METHODS, "n2n", "n2c"} else ""
        raise N2NError(f"--methods: unknown method {unknown[0]!r}; choose from {', '.join(sorted(METHODS))}, n2n (the "
                       f"--model) and n2c (the --clean-model), n2n and n2c also as NAME{TTA_SUFFIX}{lower}")
    device = resolve_device(args.device)
    models, run_configs = {}, []
    if "n2c" in wanted:
        if args.clean_model is None:
            raise N2NError("method n2c needs --clean-model, a checkpoint trained with --mode noise2clean")
        models["n2c"], payload = load_model(clean_model)
        run_configs.append(payload.get("config", {}))
        if payload.get("config", {}).get("mode") != "noise2clean":  # its row would be labelled the upper bound
            raise N2NError(f"--clean-model {args.clean_model}: trained with mode "
                           f"{payload.get('config', {}).get('mode')!r}, but n2c is the clean-target upper bound; "
                           "give a checkpoint trained with --mode noise2clean")
    if "n2n" in wanted:
        models["n2n"], payload = load_model(resolve_model(args.model))
        run_configs.append(payload.get("config", {}))
    models = {name: model.to(device) for name, model in models.items()}
    methods = build_methods(names, models, args.precision, args.mean_match)
    chosen = f"which --methods {','.join(names)} leaves out"
    unused = [(option, why) for option, given, why in (  # an option no chosen method reads: refused, not dropped
        ("--model", args.model is not None and "n2n" not in wanted, f"is for method n2n, {chosen}"),
        ("--clean-model", args.clean_model is not None and "n2c" not in wanted, f"is for method n2c, {chosen}"),
        ("--tta", args.tta and not wanted & {"n2n", "n2c"}, f"ensembles methods n2n and n2c, {chosen}"),
        ("--val-fraction", args.val_fraction is not None and args.split == "all",
         "sets the held-out share of --split val or train, and --split all takes every image")) if given]
    if unused:
        option, why = unused[0]
        raise N2NError(f"{option} {why}: it would not be used; leave it out, or change the option it depends on")
    noise = split = level = None
    if not is_course_file(args.data):  # a course val_data.pkl holds its own (noisy, clean)
        split = args.split or ("val" if args.data == "embedded" else "all")
        level = TrainConfig(noise=args.noise, noise_level=args.noise_level).noise_level
        noise = build_noise(args.noise, level, clip=True)
    val_fraction = args.val_fraction if args.val_fraction is not None else \
        ({}, *run_configs)[-1].get("val_fraction", TrainConfig.val_fraction)  # as the model was trained
    TrainConfig(val_fraction=val_fraction, seed=args.seed)  # checked as for training: no NaN, no 2**64
    triples = evaluation_images(args.data, noise, split or "all", val_fraction, args.seed, args.max_images,
                                channels_for(models))
    known = known_noise(noise)
    rows, table, outputs = compare_methods(triples, methods, known)
    level_text = ",".join(f"{v:g}" for v in sorted(set(level))) if level else ""
    noise_text = f" (split {split}), {args.noise} noise level {level_text}" if level else ""
    print(f"{len(triples)} image(s) of {args.data}{noise_text}:")
    print(format_table(table))
    if args.out:
        write_json(args.out / "results.json", {
            "data": args.data, "split": split, "noise": args.noise if level else None,
            "noise_level": list(level) if level else None, "seed": args.seed,
            "level_given_to_bm3d": known.level[0] if known else None,
            "code_version": code_version(), "table": table, "images": rows})
        shown = "n2n" if "n2n" in outputs else names[-1]
        samples = [(noisy, clean, out) for (_, noisy, clean), out in zip(triples, outputs[shown])]
        sample_figure(samples, args.out / "samples.png", title=f"noisy / clean / {shown}")
        print(f"wrote {args.out / 'results.json'} and {args.out / 'samples.png'}")


def _cmd_denoise(args: argparse.Namespace) -> None:
    from noise2noise.denoise import denoise_files, output_paths
    from noise2noise.devices import resolve_device
    from noise2noise.zoo import DEFAULT_GREY_MODEL, MODELS

    for path in args.inputs:
        if not path.exists():
            raise N2NError(f"{path}: no such file or folder")
    device = resolve_device(args.device)
    if not output_paths(args.inputs, args.out, args.overwrite, args.skip_existing):  # before the model loads
        print(f"every output in {args.out} exists already (--skip-existing): nothing to denoise")
        return
    model = _load_network(args.model).to(device)
    grey_model = None
    if args.model is None and MODELS[DEFAULT_GREY_MODEL].trained:  # the defaults: one for colour, one for grey
        grey_model = _load_network(DEFAULT_GREY_MODEL).to(device)
    written = denoise_files(model, args.inputs, args.out, tile_px=args.tile, overlap_px=args.overlap,
                            batch_size=args.batch_size, progress=not args.quiet, tta=args.tta,
                            overwrite=args.overwrite, grey_model=grey_model, precision=args.precision,
                            noise_level=args.noise_level, mean_match=args.mean_match,
                            skip_existing=args.skip_existing)
    print(f"wrote {len(written)} image(s) to {args.out}")


def _cmd_sweep(args: argparse.Namespace) -> None:
    from noise2noise.devices import resolve_device
    from noise2noise.sweep import load_study, report_sweep, run_sweep

    if args.report_only and args.jobs != 1:
        raise N2NError(f"--report-only trains no run, so --jobs {args.jobs} would not be used; leave it out")
    if args.device:
        resolve_device(args.device)  # an absent device fails before any run starts
    study = load_study(args.study, budget=args.budget, device=args.device)
    out = args.out or Path("runs") / args.study.stem
    tables = report_sweep(study, out) if args.report_only else run_sweep(study, out, jobs=args.jobs)
    print(f"\n{tables.read_text()}\nwrote {tables}, {out / 'runs.csv'} and {out / 'curves.png'}")


def _cmd_export(args: argparse.Namespace) -> None:
    from noise2noise.export import export_onnx
    from noise2noise.outputs import check_outputs
    from noise2noise.zoo import resolve_model

    check_outputs([args.onnx], [resolve_model(args.model)], args.overwrite, suffixes=(".onnx",), option="--onnx")
    print(f"wrote {export_onnx(_load_network(args.model), args.onnx, overwrite=args.overwrite)}")


def _cmd_models(args: argparse.Namespace) -> None:
    from noise2noise.zoo import list_models

    print(list_models())


def _cmd_data(args: argparse.Namespace) -> None:
    from noise2noise.data import add_noise_file, export_course

    if args.data_command == "add-noise":
        written = add_noise_file(args.image, args.out, args.noise, args.noise_level, args.seed, args.overwrite)
        print(f"wrote {written}")
        return
    train_path, val_path = export_course(args.source, args.out, args.pairs, args.val_pairs, args.crop_px,
                                         args.noise, args.noise_level, args.seed, overwrite=args.overwrite)
    print(f"wrote {train_path} ({args.pairs} pairs) and {val_path} ({args.val_pairs} pairs)")


# what to do when a command runs out of memory
_SAVE_MEMORY = {"train": "lower --batch-size, --width or --crop-px",
                "sweep": "lower batch_size, width or crop_px in the study's [base]",
                "denoise": "lower --tile or --batch-size",
                "evaluate": "evaluate smaller images (whole images go through the network at once)",
                "export": "close other programs, or export on a machine with more memory",
                "data": "lower --pairs or --val-pairs",
                "models": "close other programs"}


class _Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler, `kill`, a container stop): handled as Ctrl-C is."""


def _on_sigterm(signum, frame) -> None:
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one must not cut the clean-up short
    raise _Terminated


def _close_progress_bars() -> None:
    """Close live tqdm bars, so that an error starts on a clean line."""
    tqdm = sys.modules.get("tqdm")
    for bar in list(getattr(getattr(tqdm, "tqdm", None), "_instances", ())):
        bar.close()


def _one_line(message: object) -> str:
    """An error message on one line whatever it quotes (a path holding a newline)."""
    return str(message).replace("\r", "\\r").replace("\n", "\\n")


def _during_interrupt(exc: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C or SIGTERM that ``exc`` was raised by, or while handling; None if none."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def main(argv: list[str] | None = None) -> int:
    import contextlib
    import os
    import signal
    import threading

    args = build_parser().parse_args(argv)
    command = {"train": _cmd_train, "evaluate": _cmd_evaluate, "denoise": _cmd_denoise,
               "export": _cmd_export, "sweep": _cmd_sweep, "models": _cmd_models,
               "data": _cmd_data}[args.command]
    name = " ".join(filter(None, (args.command, getattr(args, "data_command", None))))  # "data add-noise"
    handles_sigterm = threading.current_thread() is threading.main_thread()
    if handles_sigterm:  # as after Ctrl-C: a run cleans up (or keeps its checkpoint), a write its temporary file
        previous_handler = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        command(args)
    except N2NError as exc:
        if args.debug:
            raise
        _close_progress_bars()
        print(f"n2n {name}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `n2n models | head`: the reader has gone, so stop without a word
        with contextlib.suppress(OSError, ValueError, AttributeError):  # no second error at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except KeyboardInterrupt as exc:
        _close_progress_bars()
        terminated = isinstance(exc, _Terminated)
        stopped = 'terminated (SIGTERM)' if terminated else 'interrupted'
        resumable = getattr(exc, "resumable_run", None)  # a run folder kept with its checkpoint
        if resumable is not None:
            stopped += f"; {resumable} keeps its checkpoint: `n2n train --out {resumable} --resume` continues it"
        print(f"n2n {name}: {stopped}", file=sys.stderr)
        return 128 + (signal.SIGTERM if terminated else signal.SIGINT)
    except Exception as exc:
        if args.debug:
            raise
        _close_progress_bars()
        interrupt = _during_interrupt(exc)  # e.g. a library that turned Ctrl-C inside its lazy import into an error
        if interrupt is not None:
            terminated = isinstance(interrupt, _Terminated)
            print(f"n2n {name}: {'terminated (SIGTERM)' if terminated else 'interrupted'}", file=sys.stderr)
            return 128 + (signal.SIGTERM if terminated else signal.SIGINT)
        user_error = resource_error(exc, _SAVE_MEMORY[args.command])
        if user_error is not None:
            print(f"n2n {name}: error: {_one_line(user_error)}", file=sys.stderr)
            return 2
        print(f"n2n {name}: unexpected error: {type(exc).__name__}: {_one_line(exc)} "
              "(run with --debug for the traceback)", file=sys.stderr)
        return 1
    finally:
        if handles_sigterm:
            signal.signal(signal.SIGTERM, previous_handler if previous_handler is not None else signal.SIG_DFL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
