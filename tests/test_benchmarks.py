"""benchmarks/: the scripts keep the promise for bad input (one line, exit 2) and do not
replace an earlier result unasked; what they measure is in the README, not tested here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
])
def test_a_bad_argument_is_one_line_and_exit_2(tmp_path, script, args, said):
    (tmp_path / "result.json").write_text("an earlier result")
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
