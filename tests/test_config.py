import contextlib
import dataclasses
import io
import json
import math
import tempfile
from pathlib import Path
from unittest import mock

import pytest
from conftest import imports_torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from noise2noise import registry
from noise2noise.cli import build_parser, config_from_args, main
from noise2noise.config import FIELD_TYPES, INT64_MAX, TrainConfig, parse_budget, parse_duration_s
from noise2noise.errors import N2NError

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("text,seconds", [("10m", 600), ("90s", 90), ("1.5h", 5400), ("45", 45), (30, 30)])
def test_durations(text, seconds):
    assert parse_duration_s(text) == seconds


def test_time_budget_strings_are_parsed_and_noise_levels_normalised():
    cfg = TrainConfig(time_budget="2m", noise_level="0,50")
    assert cfg.time_budget_s == 120.0 and cfg.noise_level == (0.0, 50.0)
    assert TrainConfig(noise_level=15).noise_level == (15.0, 15.0)


@pytest.mark.parametrize("field,value,message", [
    ("batch_size", 0, "batch_size=0 must be a positive integer"),
    ("lr", -1e-3, "lr=-0.001 must be a finite number > 0; the default is 0.001"),
    ("time_budget", "ten minutes", "neither a duration nor an amount of work"),
    ("time_budget", 0, "time_budget=.0s. must be > 0"),
    ("loss", "l3", "unknown loss 'l3'; choose from"),
    ("noise", "pink", "unknown noise 'pink'"),
    ("optimizer", "lion", "unknown optimizer 'lion'"),
    ("noise_level", "50,10", "lo <= hi"),
    ("noise_level_power", 0, "noise_level_power=0 must be"),
    ("noise_level_power", 11, "noise_level_power=11 must be a number in (0, 10]"),  # said "> 0", which 11 is
    ("sigma_jitter", 100, "sigma_jitter=100 must be a number in .0, 1.;"),  # said ">= 0", which 100 is
    ("depth", 20, "depth=20 must be an integer in 1..8"),  # inputs padded to 2**20 px: out of memory
    ("crop_px", 31, "crop_px=31 must be even"),
    ("train_scales", 0, "train_scales=0 must be an integer in 1..4"),
    ("train_scales", 5, "train_scales=5 must be an integer in 1..4"),
    ("device", "tpu", "device='tpu'"),
    ("data", "", "data='' is empty; give a path or 'embedded'"),  # was the current folder, unchecked
    ("val_data", " ", "val_data=' ' is empty; give a path, or leave val_data out"),
    ("init_weights", "", "init_weights='' is empty"),
])
def test_bad_values_fail_at_build_time_naming_the_field(field, value, message):
    with pytest.raises(N2NError, match=message.replace("(", r"\(").replace(")", r"\)")):
        TrainConfig(**{field: value})


def test_train_scales_needs_clean_images():
    with pytest.raises(N2NError, match="train_scales=2 needs clean images"):
        TrainConfig(train_scales=2, mode="neighbor2neighbor", noisy_data=True)


def test_unclipped_targets_need_synthetic_noise2noise_targets_and_a_loss_that_takes_them():
    with pytest.raises(N2NError, match="clip_targets=false .* needs mode 'noise2noise' on clean images .*noise2clean"):
        TrainConfig(clip_targets=False, mode="noise2clean")
    with pytest.raises(N2NError, match="noisy_data=true"):
        TrainConfig(clip_targets=False, mode="neighbor2neighbor", noisy_data=True)
    with pytest.raises(N2NError, match="loss='bce' needs targets in .0, 1.: .* clip_targets = true"):
        TrainConfig(clip_targets=False, loss="bce")


def test_sigma_input_needs_a_gaussian_noise_added_to_clean_images():
    assert TrainConfig(sigma_input=True, noise="gaussian-correlated", mode="noise2clean").sigma_input
    with pytest.raises(N2NError, match="sigma_input=true needs a Gaussian noise .gaussian, gaussian-correlated., got "
                                       "noise='poisson'"):
        TrainConfig(sigma_input=True, noise="poisson")
    with pytest.raises(N2NError, match="sigma_input=true needs noise of a known level added to clean images "
                                       r"\(mode noise2noise or noise2clean\), got mode='neighbor2neighbor'"):
        TrainConfig(sigma_input=True, mode="neighbor2neighbor")
    with pytest.raises(N2NError, match="sigma_jitter=0.1 jitters the sigma a network is told: set sigma_input = true"):
        TrainConfig(sigma_jitter=0.1)
    with pytest.raises(N2NError, match="sigma_jitter"):
        TrainConfig(sigma_input=True, sigma_jitter=-0.1)


def test_needs_a_budget_or_epochs():
    with pytest.raises(N2NError, match="time_budget or epochs"):
        TrainConfig(time_budget=None)
    assert TrainConfig(time_budget=None, epochs=2).epochs == 2


def test_dict_round_trip_and_toml_file(tmp_path):
    cfg = TrainConfig(lr=3e-4, noise_level=(5, 50), epochs=3, time_budget="1m")
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    path = tmp_path / "run.toml"
    path.write_text('lr = 0.0003\nnoise_level = [5, 50]\nepochs = 3\ntime_budget = "1m"\n')
    assert TrainConfig.from_file(path) == cfg


def test_unknown_field_in_a_file_is_named(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("learning_rate = 0.1\n")
    with pytest.raises(N2NError, match=r"bad.toml: unknown config field 'learning_rate'"):
        TrainConfig.from_file(path)


@pytest.mark.parametrize("field,value,message", [
    ("clip", "false", "clip='false' must be true or false (a boolean, not text: write false without quotes)"),
    ("compile_model", "no", "compile_model='no' must be true or false (a boolean, not text: write false"),
    ("tensorboard", 1, "tensorboard=1 must be true or false"),
    ("batch_size", 2.0, "batch_size=2.0 must be a positive integer"),
    ("width", True, "width=True must be a positive integer"),
    ("seed", -1, "seed=-1 must be an integer in 0..9223372036854775807"),
    ("seed", 2**63, "seed=9223372036854775808 must be an integer in 0..9223372036854775807 (seeds and sizes"),
    ("epochs", 10**1000, "epochs=<an integer of 3322 bits> must be a positive integer or none"),
    ("lr", float("inf"), "lr=inf must be a finite number > 0"),
    ("lr", 10**400, "lr=<an integer of 1329 bits> must be a finite number > 0"),
    ("noise_level", "nan", "noise_level='nan' must be a finite number >= 0"),
    ("noise_level", float("inf"), "noise_level=inf must be a finite number >= 0"),
    ("noise_level", [True, 2], "noise_level=[True, 2] must be a number or 'lo,hi'"),
    ("time_budget", float("nan"), "time_budget=nan must be a finite duration or amount of work"),
    ("time_budget", "1e400s", "time_budget='1e400s' must be a finite duration"),
    ("time_budget", -5, "time_budget=-5 must be a finite duration or amount of work >= 0"),
    ("time_budget", True, "time_budget=True is neither a duration nor an amount of work"),
    ("data", 5, "data=5 must be text; the default is 'embedded'"),
    ("precision", "fp16", "precision='fp16' must be one of auto, fp32, bf16"),
    ("warmup", 1.0, "warmup=1.0 must be a number in [0, 1)"),
])
def test_each_field_is_checked_by_its_declared_type(field, value, message):
    with pytest.raises(N2NError) as caught:
        TrainConfig(**{field: value})
    assert message in str(caught.value) and str(caught.value).startswith(f"config field {field}=")


def test_values_are_stored_as_their_declared_type():
    cfg = TrainConfig(lr=1, val_fraction=0, noise_level=[5, 50], time_budget=600)
    assert type(cfg.lr) is float and type(cfg.val_fraction) is float and cfg.noise_level == (5.0, 50.0)
    assert cfg.time_budget == "600s"
    assert TrainConfig(noise="bernoulli", noise_level="1e-3").noise_level == (0.001, 0.001)


@pytest.mark.parametrize("text", ["3000000 images", "1234567 steps", "0.25s", "12345678s"])
def test_budgets_read_back_exactly(text):
    cfg = TrainConfig(time_budget=text)
    assert cfg.time_budget == text and TrainConfig(time_budget=cfg.time_budget) == cfg
    assert str(parse_budget(text)) == text


def test_options_override_a_config_file_and_unset_fields_keep_their_defaults(tmp_path):
    (tmp_path / "run.toml").write_text('lr = 0.01\ncrop_px = 64\n')
    args = build_parser().parse_args(["train", "--config", str(tmp_path / "run.toml"), "--noise", "bernoulli",
                                      "--lr", "0.02"])
    assert config_from_args(args) == TrainConfig(lr=0.02, crop_px=64, noise="bernoulli")
    assert config_from_args(args).noise_level == (0.5, 0.5)  # bernoulli's own, not the file's gaussian 25
    (tmp_path / "old.json").write_text(json.dumps({"time_budget_s": 960}))
    args = build_parser().parse_args(["train", "--config", str(tmp_path / "old.json"), "--time-budget", "90s"])
    assert config_from_args(args).time_budget == "90s"  # overrides the file's old time_budget_s


def test_a_bool_written_as_text_in_a_file_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('clip = "false"\n')
    with pytest.raises(N2NError, match=r"run.toml: config field clip='false' must be true or false"):
        TrainConfig.from_file(path)


def test_a_run_s_config_json_and_the_pretrained_config_are_valid_configs(tmp_path):
    saved = {**TrainConfig(width=8, time_budget="3000 steps").to_dict(), "code_version": "0123abcd-dirty"}
    (tmp_path / "config.json").write_text(json.dumps(saved))
    for path in (tmp_path / "config.json", ROOT / "models" / "gaussian.toml"):
        args = build_parser().parse_args(["train", "--config", str(path), "--depth", "2"])
        cfg = config_from_args(args)
        assert cfg.depth == 2 and cfg == TrainConfig.from_file(path).replace(depth=2)
    (tmp_path / "old.json").write_text(json.dumps({"time_budget_s": 960, "code_version": "v0.1.0"}))
    assert TrainConfig.from_file(tmp_path / "old.json").time_budget == "960s"  # configs written before 0.2
    (tmp_path / "config.json").write_text(json.dumps({**saved, "git_sha": "abc"}))
    with pytest.raises(N2NError, match="config.json: unknown config field 'git_sha'"):
        TrainConfig.from_file(tmp_path / "config.json")


@pytest.mark.parametrize("content", [b"noise = 'gau\xdfian'\n", b"\xff\xfe l\x00r\x00"])
def test_a_config_file_that_is_not_utf8_is_one_error(tmp_path, content):
    (tmp_path / "latin1.toml").write_bytes(content)
    with pytest.raises(N2NError, match=r"latin1.toml: not UTF-8 text \(byte 0x.. at offset \d+\); save the config as"):
        TrainConfig.from_file(tmp_path / "latin1.toml")


def test_a_utf8_byte_order_mark_is_accepted(tmp_path):
    (tmp_path / "bom.toml").write_bytes("lr = 0.01\n".encode("utf-8-sig"))
    assert TrainConfig.from_file(tmp_path / "bom.toml").lr == 0.01


def test_a_json_config_that_is_not_a_table_is_one_error(tmp_path):
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(N2NError, match="list.json: expected a table of config fields"):
        TrainConfig.from_file(tmp_path / "list.json")


# ---- the CLI's own habits ----------------------------------------------------------------------

def test_bool_fields_are_flags_generated_from_the_config():
    parse = build_parser().parse_args
    assert config_from_args(parse(["train", "--no-clip", "--compile-model", "--tensorboard"])) == \
        TrainConfig(clip=False, compile_model=True, tensorboard=True)
    assert config_from_args(parse(["train", "--mode", "neighbor2neighbor", "--noisy-data"])).noisy_data
    assert not config_from_args(parse(["train", "--no-clip-targets"])).clip_targets
    bools = {f.name for f in dataclasses.fields(TrainConfig) if FIELD_TYPES[f.name][0] is bool}
    assert bools == {"sigma_input", "clip", "clip_targets", "noisy_data", "tensorboard", "compile_model"}
    help_text = build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    for name in bools:
        assert f"--{name.replace('_', '-')}, --no-{name.replace('_', '-')}" in help_text


def test_the_time_budget_option_takes_a_duration_or_an_amount_of_work():
    help_text = " ".join(build_parser()._subparsers._group_actions[0].choices["train"].format_help().split())
    assert "--time-budget BUDGET" in help_text and "300k images, 3000 steps" in help_text
    args = build_parser().parse_args(["train", "--time-budget", "300k images"])
    assert config_from_args(args).budget == (300_000.0, "images")


def test_version_and_debug_after_the_command(capsys):
    from noise2noise import __version__

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.strip() == f"n2n {__version__}"
    for argv in (["train", "--debug", "--lr", "nan"], ["--debug", "train", "--lr", "nan"]):
        with pytest.raises(N2NError, match="lr=nan"):  # --debug: the exception itself, for its traceback
            main(argv)
    assert main(["train", "--lr", "nan"]) == 2


def test_help_stays_torch_free():
    assert not imports_torch("from noise2noise.cli import main\n"
                             "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
                             "    main(['train', '--help'])")


# ---- property-based: any values give a well-typed config or one N2NError ------------------------

FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}
NAMES = sorted({name for kind in registry.kinds() for name in registry.get(kind)})
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=8)  # no lone surrogates: files are UTF-8


def _valid(name: str) -> st.SearchStrategy:
    """Values a user would reasonably write for the field (some still break a cross-field rule)."""
    kind, optional = FIELD_TYPES[name]
    limits = FIELDS[name].metadata
    if name in registry.kinds():
        strategy = st.sampled_from(sorted(registry.get(name)))
    elif name == "noise_level":
        strategy = st.one_of(st.floats(0.01, 0.9), st.tuples(st.floats(0.01, 0.4), st.floats(0.4, 0.9)),
                             st.sampled_from(["0.1,0.5", "0.2", "0.1-0.3"]))
    elif name == "time_budget":
        strategy = st.one_of(st.sampled_from(["10m", "90s", "1.5h", "300k images", "3000 steps"]),
                             st.floats(0.001, 1e9), st.integers(1, 10**9))
    elif name == "device":
        strategy = st.sampled_from(["auto", "cpu", "cuda", "cuda:1", "mps"])
    elif kind is bool:
        strategy = st.booleans()
    elif kind is int:
        strategy = st.integers(limits.get("ge", 1), INT64_MAX).map(lambda n: n * 2 if name == "crop_px" else n)
    elif kind is float:
        strategy = st.floats(limits.get("ge", limits.get("gt", 0.0)), limits.get("lt", 1e6), exclude_min="gt" in limits,
                             exclude_max="lt" in limits)
    elif "choices" in limits:
        strategy = st.sampled_from(limits["choices"])
    else:
        strategy = TEXT
    return st.one_of(st.none(), strategy) if optional else strategy


WILD = st.one_of(
    st.sampled_from(["true", "false", "no", "yes", "on", "0", "1", "none", "bogus", "nan", "inf", "-5m", "0s",
                     "1e999", "50,10", "-1", "cuda:x", *NAMES]),
    st.booleans(), st.none(), st.integers(), st.integers(2**63 - 2, 2**64 + 2), st.integers(max_value=-1),
    st.floats(allow_nan=True, allow_infinity=True), TEXT, st.lists(st.floats(allow_nan=True), max_size=3))
# reasonable values for some fields, then up to two wild ones: each example tests a few faults alone
CONFIGS = st.tuples(st.fixed_dictionaries({}, optional={name: _valid(name) for name in FIELDS}),
                    st.dictionaries(st.sampled_from(sorted(FIELDS)), WILD, max_size=2)).map(lambda d: d[0] | d[1])
PROPERTY = settings(max_examples=80, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


def _assert_well_typed(cfg: TrainConfig) -> None:
    for name, f in FIELDS.items():
        kind, optional = FIELD_TYPES[name]
        value, limits = getattr(cfg, name), f.metadata
        if value is None:
            assert optional and name != "noise_level", name
        elif kind is bool:
            assert type(value) is bool, name
        elif kind is int:
            assert type(value) is int and limits.get("ge", 1) <= value <= INT64_MAX, name
        elif kind is float:
            assert type(value) is float and math.isfinite(value), name
            assert value > limits["gt"] if "gt" in limits else value >= limits.get("ge", -math.inf), name
            assert value < limits.get("lt", math.inf), name
        elif kind is tuple:
            assert type(value) is tuple and len(value) == 2 and all(type(v) is float for v in value)
            assert 0 <= value[0] <= value[1] < math.inf
        else:
            assert type(value) is str, name
    for kind in registry.kinds():
        assert getattr(cfg, kind) in registry.get(kind)
    assert cfg.budget is None or cfg.budget.amount > 0
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg  # what a run saves reads back as the same config


def _build(make, values) -> None:
    try:
        cfg = make(values)
    except N2NError as exc:
        assert "\n" not in str(exc) and str(exc)
        return
    _assert_well_typed(cfg)


@PROPERTY
@given(values=CONFIGS)
def test_any_values_through_the_python_api(values):
    _build(lambda v: TrainConfig(**v), values)
    _build(TrainConfig.from_dict, values)


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value) if isinstance(value, str) else str(value)  # JSON strings are TOML basic strings


@PROPERTY
@given(values=CONFIGS)
def test_any_values_through_a_toml_file(values):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "run.toml"
        path.write_text("".join(f"{k} = {_toml(v)}\n" for k, v in values.items() if v is not None), "utf-8")
        _build(lambda _: TrainConfig.from_file(path), values)


def _argv(values) -> list[str]:
    argv = ["train", "--quiet"]
    for name, value in values.items():
        flag = f"--{name.replace('_', '-')}"
        if FIELD_TYPES[name][0] is bool and isinstance(value, bool):
            argv.append(flag if value else f"--no-{flag[2:]}")
        elif isinstance(value, (list, tuple)):
            argv.append(f"{flag}={','.join(map(str, value))}")
        else:
            argv.append(f"{flag}={'none' if value is None else value}")
    return argv


@PROPERTY
@given(values=CONFIGS)
def test_any_values_through_the_command_line(values):
    built = []
    stderr = io.StringIO()
    with mock.patch("noise2noise.train.run_training", lambda cfg, *a, **k: built.append(cfg) or
                    mock.Mock(out_dir=None)), contextlib.redirect_stderr(stderr):
        try:
            code = main(_argv(values))
        except SystemExit as exit_:  # argparse refused the text before any config was built
            code = exit_.code
    if code == 0:
        _assert_well_typed(built[0])
    else:
        lines = stderr.getvalue().strip().splitlines()
        assert code == 2 and len(lines) == 1 and "Traceback" not in lines[0], stderr.getvalue()


def test_options_beside_a_config_file_are_named_in_its_errors_and_a_new_noise_needs_its_level(tmp_path):
    (tmp_path / "nb.toml").write_text('mode = "neighbor2neighbor"\nnoisy_data = true\n')
    with pytest.raises(N2NError, match=r"nb.toml with --mode: config field noisy_data=true needs"):
        TrainConfig.from_file(tmp_path / "nb.toml", overrides={"mode": "noise2noise"})
    (tmp_path / "bern.toml").write_text('noise = "bernoulli"\nnoise_level = 0.5\n')
    # sigma 0.5 on 0..255 would train on noise-free images with exit 0
    with pytest.raises(N2NError, match=r"bern.toml: noise_level=\[0.5, 0.5\] is in the units of its noise "
                                       r"'bernoulli', which --noise gaussian replaces; give --noise-level too"):
        TrainConfig.from_file(tmp_path / "bern.toml", overrides={"noise": "gaussian"})
    both = TrainConfig.from_file(tmp_path / "bern.toml", overrides={"noise": "gaussian", "noise_level": 25})
    assert both.noise == "gaussian" and both.noise_level == (25.0, 25.0)
    (tmp_path / "plain.toml").write_text('noise = "bernoulli"\n')  # no level: the new noise's default
    assert TrainConfig.from_file(tmp_path / "plain.toml", overrides={"noise": "gaussian"}).noise_level == (25.0, 25.0)


def test_noise_level_none_spelled_as_text_means_the_noise_default_everywhere():
    assert TrainConfig(noise_level=" None ").noise_level == TrainConfig().noise_level == (25.0, 25.0)
    assert TrainConfig(noise="poisson", noise_level="none").noise_level == TrainConfig(noise="poisson").noise_level


def test_a_json_config_with_a_repeated_key_or_an_upper_case_suffix_and_fractional_work_budgets(tmp_path):
    (tmp_path / "run.json").write_text('{"lr": 0.1, "lr": 0.001}')  # json kept the last one without a word
    with pytest.raises(N2NError, match=r"run.json: not a valid config file \(key 'lr' is given twice\)"):
        TrainConfig.from_file(tmp_path / "run.json")
    (tmp_path / "RUN.JSON").write_text('{"lr": 0.002}')  # was read as TOML
    assert TrainConfig.from_file(tmp_path / "RUN.JSON").lr == 0.002
    with pytest.raises(N2NError, match=r"time_budget='0.5 steps' is 0.5 steps; a number of steps is whole"):
        TrainConfig(time_budget="0.5 steps")  # trained one step
    assert TrainConfig(time_budget="1.5k images").budget.amount == 1500


def test_numpy_and_torch_numbers_and_paths_are_taken_as_the_values_they_hold():
    import numpy as np
    import torch

    cfg = TrainConfig(batch_size=np.int64(8), width=torch.tensor(16), val_fraction=np.float16(0.25),
                      clip=np.bool_(False), data=Path("photos"))  # each was refused: "must be a positive integer"
    assert (cfg.batch_size, cfg.width, cfg.val_fraction, cfg.clip, cfg.data) == (8, 16, 0.25, False, "photos")
    assert type(cfg.batch_size) is int and type(cfg.data) is str
    json.dumps(cfg.to_dict())  # config.json holds plain values
    with pytest.raises(N2NError, match="batch_size=8.5 must be a positive integer"):
        TrainConfig(batch_size=np.float64(8.5))
