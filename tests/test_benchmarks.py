"""benchmarks/: the scripts keep the promise for bad input (one line, exit 2) and do not
replace an earlier result unasked; what they measure is in the README, not tested here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _refused(tmp_path: Path, script: str, *args: str) -> str:
    done = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 2 and done.stdout == "", (done.stdout, done.stderr)
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr, done.stderr
    return done.stderr


@pytest.mark.parametrize("script, args, said", [
    # an untrained model was printed as "ours, chunked" (range with a negative step trained nothing)
    ("course_api.py", ["--data", "embedded", "--chunk", "-3"], "argument --chunk: expected a whole number >= 1"),
    ("quality.py", ["--data", "embedded", "--levels", "-5"], "argument --levels/--sigmas: expected a comma list"),
    ("quality.py", ["--data", "embedded", "--models", "nosuch"], "error: nosuch: no such checkpoint file"),
    ("inference.py", ["--mean-match", "yes"], "argument --mean-match: expected a comma list of on, off"),
    ("budget.py", ["--configs", "seed", "--try", "batch_size=8"], "sets config 'candidate', which --configs seed"),
    ("wheel_photos.py", ["result.json"], "result.json: exists and is not a folder"),
    # each of these ran with exit 0 and printed a wrong row, or ended in a traceback
    ("quality.py", ["--data", "embedded", "--models", "nlm.pt", "--methods", "noisy,nlm"],
     "--models: nlm.pt would be shown as 'nlm', a baseline's name; rename the file"),  # its rows replaced NLM's
    ("quality.py", ["--data", "embedded", "--noise", "poisson", "--levels", "1e30"],
     "noise_level=1e+30 is outside [0.001, 1e+09]"),  # black images: 3.06 dB
    ("quality.py", ["--data", "embedded", "--val-fraction", "nan"], "val_fraction=nan must be a number in [0, 1)"),
    ("quality.py", ["--data", "embedded", "--methods", "noisy,noisy"], "argument --methods: expected a comma list"),
    ("passthrough.py", ["--data", "one", "--max-images", "1"], "one: split 'val' holds no images"),
    ("sigma_estimate.py", ["--data", "embedded", "--smooth-fractions", "5"], "--smooth-fractions: give shares"),
    ("budget.py", ["--data", "nope", "--parallel", "--out", "b"], "nope: no such file or folder"),  # in a worker
    ("budget.py", ["--data", "embedded", "--eval-every", "abc", "--out", "b"], "--eval-every 'abc': expected a"),
    ("sweep_jobs.py", ["--data", "nope"], "is not a folder of photos; pass --data"),
])
def test_a_bad_argument_is_one_line_and_exit_2(tmp_path, script, args, said):
    (tmp_path / "result.json").write_text("an earlier result")
    (tmp_path / "nlm.pt").write_bytes((Path(__file__).parents[1] / "noise2noise/weights/gaussian.pt").read_bytes())
    (tmp_path / "one").mkdir()  # one photo: a held-out split of none
    iio.imwrite(tmp_path / "one" / "photo.png", np.full((40, 40, 3), 128, np.uint8))
    assert said in _refused(tmp_path, script, *args)


def test_an_earlier_result_is_not_replaced_without_overwrite(tmp_path):
    (tmp_path / "result.json").write_text("an earlier result")
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "curves.json").write_text("an earlier result")
    assert "result.json: already exists; pass --overwrite" in _refused(
        tmp_path, "quality.py", "--data", "embedded", "--methods", "noisy", "--out", "result.json")
    assert "runs: holds an earlier result; pass --overwrite" in _refused(
        tmp_path, "budget.py", "--data", "embedded", "--out", "runs")
    assert (tmp_path / "result.json").read_text() == (tmp_path / "runs" / "curves.json").read_text() == \
        "an earlier result"


def test_a_stopped_quality_run_keeps_the_earlier_result_and_its_own_finished_levels(tmp_path, monkeypatch, capsys):
    # with --overwrite, each finished level replaced a complete earlier result: Ctrl-C left a part of a run
    sys.path.insert(0, str(BENCHMARKS))
    import quality

    real, levels_done = quality.compare_methods, []

    def stopped_at_the_second_level(*args, **kwargs):
        if levels_done:
            raise KeyboardInterrupt
        levels_done.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(quality, "compare_methods", stopped_at_the_second_level)
    out = tmp_path / "result.json"
    out.write_text("an earlier result")
    monkeypatch.setattr(sys, "argv", ["quality.py", "--data", "embedded", "--max-images", "1", "--methods", "noisy",
                                      "--levels", "15,25", "--out", str(out), "--overwrite"])
    with pytest.raises(SystemExit, match="130"):
        quality._bench.run(quality.main)
    assert out.read_text() == "an earlier result" and capsys.readouterr().err.strip() == "interrupted"
    partial = json.loads((tmp_path / "result.partial.json").read_text())
    assert not partial["complete"] and {row["level"] for row in partial["rows"]} == {15.0}


def test_course_api_warns_when_its_val_file_holds_two_noisy_shots(tmp_path, capsys):
    # --train-data and --val-data swapped ran without a word; scores were against a noisy image
    sys.path.insert(0, str(BENCHMARKS))
    import argparse

    import course_api
    import torch

    generator = torch.Generator().manual_seed(0)
    clean = torch.full((16, 3, 32, 32), 128.0)
    shots = [(clean + 25 * torch.randn(clean.shape, generator=generator)).clamp(0, 255).to(torch.uint8)
             for _ in range(3)]
    torch.save((shots[0], shots[1]), tmp_path / "train_data.pkl")
    torch.save((shots[2], clean.to(torch.uint8)), tmp_path / "val_data.pkl")
    for train, val, warned in (("train_data.pkl", "val_data.pkl", False), ("val_data.pkl", "train_data.pkl", True)):
        args = argparse.Namespace(train_data=tmp_path / train, val_data=tmp_path / val, pairs=8)
        (train_pairs, val_pairs) = course_api.course_pairs(args)
        assert train_pairs[0].shape == (8, 3, 32, 32) and val_pairs[0].shape == (16, 3, 32, 32)
        said = capsys.readouterr().err
        assert ("looks noisy too" in said) == warned, said
