"""The TensorBoard mirror: metrics.jsonl rows as scalars, samples.png as an image, a study's
settings and results as hyper-parameters. A fake writer tests the mirror without the
tensorboard package (CI installs only the test extra); the real one when it is installed."""

import importlib.util
import json
import sys

import imageio.v3 as iio
import numpy as np
import pytest
from test_sweep import write_study

import noise2noise.sweep
from noise2noise.cli import main
from noise2noise.config import TrainConfig
from noise2noise.data import TensorPairs
from noise2noise.tensorboard import TensorBoardMirror
from noise2noise.train import fit

HAS_TENSORBOARD = importlib.util.find_spec("tensorboard") is not None
TINY = dict(width=8, depth=2, batch_size=8, log_every=1, eval_every_s=0, checkpoint_every_s=0, device="cpu",
            time_budget=None, epochs=1)


class FakeWriter:
    """Records what a SummaryWriter would be asked to write."""

    def __init__(self) -> None:
        self.scalars: dict[str, list[tuple[int, float]]] = {}
        self.images: list[tuple[str, np.ndarray, int, str]] = []
        self.hparams: list[tuple[dict, dict, str]] = []
        self.closed = False

    def add_scalar(self, tag, value, step):
        self.scalars.setdefault(tag, []).append((step, value))

    def add_image(self, tag, image, step, dataformats):
        self.images.append((tag, image, step, dataformats))

    def add_hparams(self, hparams, metrics, run_name):
        self.hparams.append((hparams, metrics, run_name))

    def close(self):
        self.closed = True


def test_the_rows_train_writes_become_scalars_at_their_steps(course_pairs, tmp_path):
    result = fit(TrainConfig(**TINY), TensorPairs(*course_pairs), val=(course_pairs[0][:4], course_pairs[1][:4]),
                 progress=False)
    writer = FakeWriter()
    with TensorBoardMirror(tmp_path / "tb", writer=writer) as board:
        for row in result.log:
            board.write(row)
    train_rows = [r for r in result.log if r["kind"] == "train"]
    assert writer.scalars["train/loss"] == [(r["step"], r["loss"]) for r in train_rows] and len(train_rows) == 3
    assert {"train/lr", "train/img_per_s", "val/psnr_db", "val/ssim", "val/psnr_noisy_db"} <= set(writer.scalars)
    assert writer.scalars["val/psnr_db"] == [(result.steps, result.metrics["psnr_db"])]
    assert "train/kind" not in writer.scalars and "train/step" not in writer.scalars and writer.closed


def test_the_figure_is_an_rgb_image_and_settings_become_hparams(tmp_path):
    figure = np.zeros((20, 30, 4), np.uint8)
    figure[..., 0], figure[..., 3] = 200, 255
    iio.imwrite(tmp_path / "samples.png", figure)
    writer = FakeWriter()
    board = TensorBoardMirror(tmp_path / "tb", writer=writer)
    board.add_figure(tmp_path / "samples.png", step=12)
    [(tag, image, step, layout)] = writer.images
    assert (tag, step, layout, image.shape) == ("samples", 12, "HWC", (20, 30, 3)) and image[0, 0, 0] == 200
    board.add_hparams({"lr": 0.01, "optimizer": "adam", "noise_level": [25.0, 25.0], "clip": True},
                      {"psnr_db": 28.5, "steps": 3, "note": "skipped"})
    [(hparams, metrics, run_name)] = writer.hparams
    assert hparams == {"lr": 0.01, "optimizer": "adam", "noise_level": "[25.0, 25.0]", "clip": True}
    assert metrics == {"hparam/psnr_db": 28.5, "hparam/steps": 3.0} and run_name == "."


def test_a_study_mirrors_each_run_with_the_settings_that_vary(tmp_path, photo_folder, capsys, monkeypatch):
    writers = {}

    def fake_mirror(log_dir):
        writers[log_dir.name] = FakeWriter()
        return TensorBoardMirror(log_dir, writer=writers[log_dir.name])

    monkeypatch.setattr(noise2noise.sweep, "TensorBoardMirror", fake_mirror)
    monkeypatch.setattr(noise2noise.sweep, "require_tensorboard", lambda: None)
    study = write_study(tmp_path, photo_folder, '[tables.loss]\nset = { tensorboard = true }\n'
                        'axes = { loss = ["l2", "l1"] }', seeds="[0]")
    assert main(["sweep", str(study), "--out", str(tmp_path / "out")]) == 0, capsys.readouterr().err
    runs = noise2noise.sweep.read_results(tmp_path / "out" / "runs.jsonl")
    assert set(writers) == set(runs)  # one log folder per run, named by its key
    for key, writer in writers.items():
        [(hparams, metrics, _)] = writer.hparams
        assert hparams == {"loss": runs[key]["config"]["loss"]}  # only what the study varies
        assert metrics["hparam/psnr_db"] == runs[key]["psnr_db"] and metrics["hparam/steps"] == 2
        assert writer.scalars["train/loss"] == [tuple(point) for point in runs[key]["curve"]]


def test_without_the_package_tensorboard_true_fails_before_training(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if tensorboard were not installed
    code = main(["train", "--tensorboard", "--out", str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "pip install 'noise2noise[tensorboard]'" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(not HAS_TENSORBOARD, reason="optional extra: pip install 'noise2noise[tensorboard]'")
def test_a_real_log_folder_holds_the_scalars_the_figure_and_the_hparams(tmp_path, photo_folder, capsys):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    code = main(["train", "--data", str(photo_folder), "--tensorboard", "--time-budget", "none",
                 "--epochs", "1", "--pairs-per-epoch", "16", "--val-fraction", "0.4", "--val-patches", "8",
                 "--width", "8", "--depth", "2", "--batch-size", "8", "--device", "cpu", "--quiet", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    with TensorBoardMirror(out / "tb") as board:
        board.add_hparams({"lr": 0.001}, {"psnr_db": 21.5})
    events = EventAccumulator(str(out / "tb"))
    events.Reload()
    assert "samples" in events.Tags()["images"]
    # the run mirrored its own metrics.jsonl rows as they were written
    train_rows = [r for r in rows if r["kind"] == "train"]
    assert [(e.step, round(e.value, 5)) for e in events.Scalars("train/loss")] == \
        [(r["step"], round(r["loss"], 5)) for r in train_rows]
    final = [r for r in rows if r["kind"] == "val"][-1]
    assert events.Scalars("val/psnr_db")[-1].value == pytest.approx(final["psnr_db"], abs=1e-4)
    assert "hparam/psnr_db" in events.Tags()["scalars"]

