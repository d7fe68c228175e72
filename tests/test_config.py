import pytest

from noise2noise.config import TrainConfig, parse_duration_s
from noise2noise.errors import N2NError


@pytest.mark.parametrize("text,seconds", [("10m", 600), ("90s", 90), ("1.5h", 5400), ("45", 45), (30, 30)])
def test_durations(text, seconds):
    assert parse_duration_s(text) == seconds


def test_time_budget_strings_are_parsed_and_noise_levels_normalised():
    cfg = TrainConfig(time_budget="2m", noise_level="0,50")
    assert cfg.time_budget_s == 120.0 and cfg.noise_level == (0.0, 50.0)
    assert TrainConfig(noise_level=15).noise_level == (15.0, 15.0)


@pytest.mark.parametrize("field,value,message", [
    ("batch_size", 0, "batch_size=0 must be a positive integer"),
    ("lr", -1e-3, "lr=-0.001 must be > 0"),
    ("time_budget", "ten minutes", "neither a duration nor an amount of work"),
    ("time_budget", 0, "time_budget=.0s. must be > 0"),
    ("loss", "l3", "unknown loss 'l3'; choose from"),
    ("noise", "pink", "unknown noise 'pink'"),
    ("optimizer", "lion", "unknown optimizer 'lion'"),
    ("noise_level", "50,10", "lo <= hi"),
    ("crop_px", 31, "crop_px=31 must be even"),
    ("device", "tpu", "device='tpu'"),
])
def test_bad_values_fail_at_build_time_naming_the_field(field, value, message):
    with pytest.raises(N2NError, match=message.replace("(", r"\(").replace(")", r"\)")):
        TrainConfig(**{field: value})


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
