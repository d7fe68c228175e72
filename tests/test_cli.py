"""The n2n command end to end in temporary folders, and its one-line errors."""

import json
import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from noise2noise.cli import main
from noise2noise.data import split_by_image

TINY = ["--width", "8", "--depth", "2", "--batch-size", "8", "--val-patches", "16", "--quiet"]
TINY_PKL_VAL = [arg for arg in TINY if arg not in ("--val-patches", "16")]  # a val_data.pkl is validated whole


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture()
def trained(tmp_path, photo_folder, capsys):
    out = tmp_path / "run"
    code, stdout, err = run(capsys, "train", "--data", photo_folder, "--time-budget", "none", "--epochs", "1",
                            "--pairs-per-epoch", "32", "--val-fraction", "0.4", "--out", out, *TINY)
    assert code == 0, err
    return out, stdout


def test_train_writes_a_complete_run_folder(trained):
    out, stdout = trained
    assert "validation (16 images)" in stdout and "dB PSNR" in stdout
    for name in ("config.json", "metrics.jsonl", "checkpoint.pt", "results.json", "samples.png"):
        assert (out / name).stat().st_size > 0
    assert json.loads((out / "config.json").read_text())["width"] == 8


def test_evaluate_prints_a_table_and_writes_results(trained, photo_folder, tmp_path, capsys):
    out, _ = trained
    code, stdout, err = run(capsys, "evaluate", "--model", out / "checkpoint.pt", "--data", photo_folder,
                            "--noise-level", "15", "--out", tmp_path / "eval")
    assert code == 0, err
    assert "5 image(s) of" in stdout and "gaussian noise level 15" in stdout
    assert [line.split()[0] for line in stdout.splitlines()[-4:-1]] == ["method", "noisy", "n2n"]
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert len(results["images"]) == 10 and results["split"] == "all" and results["level_given_to_bm3d"] == 15
    assert results["table"][0]["method"] == "noisy" and results["table"][0]["psnr_db"] > 20
    assert (tmp_path / "eval" / "samples.png").stat().st_size > 0


def test_evaluate_takes_a_course_file_of_noisy_and_clean_images_as_they_are(trained, tmp_path, capsys):
    clean = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8)
    noisy = (clean.float() + 40 * torch.randn(clean.shape)).clamp(0, 255).to(torch.uint8)
    torch.save((noisy, clean), tmp_path / "val_data.pkl")
    code, stdout, err = run(capsys, "evaluate", "--data", tmp_path / "val_data.pkl", "--methods", "noisy", "--out",
                            tmp_path / "eval")
    assert code == 0, err
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert results["noise"] is None and len(results["images"]) == 3
    mse = ((noisy.float() - clean.float()) ** 2).mean(dim=(1, 2, 3))
    assert results["table"][0]["psnr_db"] == pytest.approx(float((10 * torch.log10(255**2 / mse)).mean()), abs=0.01)


def test_evaluate_compares_methods_on_the_held_out_split_of_training(trained, photo_folder, tmp_path, capsys):
    out, _ = trained  # trained with --val-fraction 0.4: two of the five photos held out
    payload = torch.load(out / "checkpoint.pt", weights_only=True)
    payload["config"]["mode"] = "noise2clean"  # stands for a network trained on clean targets
    torch.save(payload, tmp_path / "n2c.pt")
    code, _, err = run(capsys, "evaluate", "--model", out / "checkpoint.pt", "--clean-model", out, "--data",
                       photo_folder, "--methods", "n2n,n2c")  # was taken as the upper bound without a word
    assert code == 2 and "trained with mode 'noise2noise', but n2c is the clean-target upper bound" in \
        one_error_line(err)
    code, stdout, err = run(capsys, "evaluate", "--model", out / "checkpoint.pt", "--clean-model",
                            tmp_path / "n2c.pt", "--data", photo_folder, "--split", "val", "--methods",
                            "noisy,nlm,n2n,n2c", "--max-images", "8", "--out", tmp_path / "eval")
    assert code == 0, err
    table = json.loads((tmp_path / "eval" / "results.json").read_text())["table"]
    assert [r["method"] for r in table] == ["noisy", "nlm", "n2n", "n2c"] and table[0]["n_images"] == 2
    held_out = split_by_image(sorted(p.name for p in photo_folder.iterdir()), 0.4)[1]
    images = json.loads((tmp_path / "eval" / "results.json").read_text())["images"]
    assert sorted({r["image"] for r in images}) == held_out
    assert table[1]["psnr_db"] > table[0]["psnr_db"]  # NLM denoises
    code, stdout, err = run(capsys, "evaluate", "--model", out / "checkpoint.pt", "--clean-model",
                            tmp_path / "n2c.pt", "--data", photo_folder, "--split", "val", "--methods", "n2n,n2c",
                            "--tta", "--device", "cpu")
    assert code == 0, err
    assert [line.split()[0] for line in stdout.splitlines()[-5:]] == ["method", "n2n", "n2n+tta", "n2c", "n2c+tta"]
    code, _, err = run(capsys, "evaluate", "--model", out / "checkpoint.pt", "--methods", "noisy,n2c")
    assert code == 2 and "method n2c needs --clean-model" in one_error_line(err)
    code, _, err = run(capsys, "evaluate", "--model", out / "checkpoint.pt", "--methods", "noisy,wiener")
    assert code == 2 and "unknown method 'wiener'" in one_error_line(err)
    for methods, said in [("", "--methods '': give distinct method names"), ("noisy,noisy", "give distinct"),
                          ("n2n+est", "n2n is a blind network (not told sigma); use n2n")]:  # ran the defaults, or
        code, _, err = run(capsys, "evaluate", "--model", out / "checkpoint.pt", "--methods", methods)  # a copy row
        assert code == 2 and said in one_error_line(err)
    code, _, err = run(capsys, "evaluate", "--model", out / "checkpoint.pt", "--data", photo_folder, "--out", out,
                       "--overwrite")  # replaced the run's own results.json
    assert code == 2 and "the folder of a training run (it holds checkpoint.pt)" in one_error_line(err)


def test_train_on_real_noisy_pairs_and_single_noisy_images(tmp_path, photo, capsys):
    shots = tmp_path / "shots"  # run folders go beside the data: inside it, samples.png would be read as a shot
    shots.mkdir()
    for i, (y, x) in enumerate([(0, 0), (40, 10), (60, 50)]):
        shot = photo[y : y + 61, x : x + 53]
        iio.imwrite(shots / f"scene{i}_1.png", shot)
        iio.imwrite(shots / f"scene{i}_2.png", shot[::-1])
    common = ["--time-budget", "none", "--epochs", "1", "--pairs-per-epoch", "16", *TINY]
    code, stdout, err = run(capsys, "train", "--data", shots, "--out", tmp_path / "pairs", *common)
    assert code == 0 and "trained 2 steps" in stdout, err
    code, stdout, err = run(capsys, "train", "--data", shots, "--mode", "neighbor2neighbor", "--noisy-data",
                            "--out", tmp_path / "single", *common)
    assert code == 2 and "holds pairs of noisy images" in one_error_line(err)
    (shots / "scene0_2.png").unlink()
    code, _, err = run(capsys, "train", "--data", shots, "--out", tmp_path / "broken", *common)
    assert code == 2 and "scene0_1.png: no partner" in one_error_line(err)


def test_denoise_keeps_size_mode_and_alpha(trained, tmp_path, capsys, photo):
    out, _ = trained
    rgba = np.dstack([photo[:37, :31], np.full((37, 31), 200, np.uint8)])
    iio.imwrite(tmp_path / "rgba.png", rgba)
    iio.imwrite(tmp_path / "grey.png", photo[:20, :50, 0])
    code, _, err = run(capsys, "denoise", tmp_path / "rgba.png", tmp_path / "grey.png", "-o", tmp_path / "clean",
                       "--model", out / "checkpoint.pt")
    assert code == 0, err
    restored = iio.imread(tmp_path / "clean" / "rgba.png")
    assert restored.shape == (37, 31, 4) and (restored[:, :, 3] == 200).all()
    assert iio.imread(tmp_path / "clean" / "grey.png").shape == (20, 50)


def test_export_course_then_train_on_the_course_files(tmp_path, photo_folder, capsys):
    code, _, err = run(capsys, "data", "export-course", photo_folder, "--out", tmp_path / "course",
                       "--pairs", "24", "--val-pairs", "8")
    assert code == 0, err
    noisy_1, noisy_2 = torch.load(tmp_path / "course" / "train_data.pkl", weights_only=True)
    assert noisy_1.shape == (24, 3, 32, 32)
    code, stdout, err = run(capsys, "train", "--data", tmp_path / "course" / "train_data.pkl",
                            "--val-data", tmp_path / "course" / "val_data.pkl", "--time-budget", "none",
                            "--epochs", "1", "--out", tmp_path / "run", *TINY_PKL_VAL)
    assert code == 0, err
    assert "validation (8 images)" in stdout
    code, _, err = run(capsys, "train", "--data", tmp_path / "course" / "train_data.pkl",
                       "--val-data", tmp_path / "course" / "val_data.pkl", "--out", tmp_path / "run2", *TINY)
    assert code == 2 and "val_data.pkl: a course val_data.pkl is validated on all its pairs, so val_patches=16" \
        in err  # trained with exit 0 and recorded 16 in config.json


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_missing_data_file_is_one_line(tmp_path, capsys):
    code, _, err = run(capsys, "train", "--data", tmp_path / "nope.pkl", "--out", tmp_path / "run", *TINY)
    assert code == 2 and "nope.pkl: no such file" in one_error_line(err)


def test_non_image_file_is_named(tmp_path, photo_folder, capsys):
    (photo_folder / "notes.png").write_text("this is not a picture")
    code, _, err = run(capsys, "train", "--data", photo_folder, "--out", tmp_path / "run", *TINY)
    assert code == 2 and "notes.png: not a readable image" in one_error_line(err)


def test_wrong_shape_pair_is_one_line(tmp_path, capsys):
    torch.save((torch.zeros(4, 3, 32, 32, dtype=torch.uint8), torch.zeros(4, 3, 16, 16, dtype=torch.uint8)),
               tmp_path / "train_data.pkl")
    code, _, err = run(capsys, "train", "--data", tmp_path / "train_data.pkl", "--out", tmp_path / "run", *TINY)
    line = one_error_line(err)
    assert code == 2 and "train_data.pkl" in line and "differ in shape" in line


def test_bad_option_values_are_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--lr", "fast"])
    assert exit_info.value.code == 2
    assert "argument --lr: invalid float value: 'fast'" in one_error_line(capsys.readouterr().err)
    code, _, err = run(capsys, "train", "--loss", "l3", "--out", tmp_path / "run")
    assert code == 2 and "unknown loss 'l3'; choose from bce, huber, l0, l1, l2" in one_error_line(err)


def test_help_does_not_import_torch_and_module_entry_point_works(tmp_path):
    probe = "import sys, noise2noise.cli; noise2noise.cli.build_parser(); print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.strip() == "False"
    done = subprocess.run([sys.executable, "-m", "noise2noise", "denoise", str(tmp_path / "missing.png"),
                           "-o", str(tmp_path / "out")], capture_output=True, text=True)
    assert done.returncode == 2 and "missing.png: no such file or folder" in one_error_line(done.stderr)


def test_add_noise_writes_a_noisy_copy_of_the_same_size_and_depth(tmp_path, photo, capsys):
    iio.imwrite(tmp_path / "clean.png", photo)
    code, _, err = run(capsys, "data", "add-noise", tmp_path / "clean.png", "-o", tmp_path / "noisy.png",
                       "--noise-level", "25")
    assert code == 0, err
    noisy = iio.imread(tmp_path / "noisy.png")
    assert noisy.shape == photo.shape and noisy.dtype == np.uint8
    assert 18 < (noisy.astype(float) - photo).std() < 26  # sigma 25, clipped at 0 and 255
    code, _, err = run(capsys, "data", "add-noise", tmp_path / "clean.png", "-o", tmp_path / "clean.png")
    assert code == 2 and "would overwrite this input" in one_error_line(err)


@pytest.mark.parametrize("command", ["evaluate", "export-course", "add-noise"])
def test_existing_outputs_are_not_silently_overwritten(tmp_path, photo_folder, capsys, command):
    out = tmp_path / "out"
    out.mkdir()
    argv = {"evaluate": ["evaluate", "--data", photo_folder, "--max-images", "1", "--out", out],
            "export-course": ["data", "export-course", photo_folder, "--out", out, "--pairs", "4", "--val-pairs", "2"],
            "add-noise": ["data", "add-noise", photo_folder / "img0.png", "-o", out / "noisy.png"]}[command]
    victim = out / {"evaluate": "results.json", "export-course": "train_data.pkl", "add-noise": "noisy.png"}[command]
    victim.write_text("precious")
    code, _, err = run(capsys, *argv)
    assert code == 2 and "already exists; pass --overwrite" in one_error_line(err)
    assert victim.read_text() == "precious"
    code, _, err = run(capsys, *argv, "--overwrite")
    assert code == 0, err
    assert victim.read_bytes() != b"precious"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("command", [["evaluate", "--max-images", "1"], ["denoise", "x.png", "-o", "y.png"]])
def test_an_absent_device_is_refused_in_one_line(tmp_path, photo, capsys, command, monkeypatch):
    monkeypatch.chdir(tmp_path)
    iio.imwrite(tmp_path / "x.png", photo[:16, :16])
    code, _, err = run(capsys, *command, "--device", "cuda:1")
    assert code == 2 and "device 'cuda:1' requested but no CUDA GPU is available" in one_error_line(err)


def test_a_reader_that_leaves_early_ends_the_command_without_an_error(monkeypatch, capsys):
    """`n2n models | head -3`: the pipe closes while n2n writes; no traceback, no error line."""

    class ClosedPipe:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert main(["models"]) == 141
    assert capsys.readouterr().err == ""


def test_a_greyscale_model_trains_and_is_evaluated_on_colour_photos(photo_folder, tmp_path, capsys):
    out = tmp_path / "grey"
    code, _, err = run(capsys, "train", "--data", photo_folder, "--channels", "grey", "--time-budget", "2 steps",
                       "--val-fraction", "0.4", "--out", out, *TINY)
    assert code == 0, err
    assert torch.load(out / "checkpoint.pt", weights_only=True)["model"]["ENC_CONV0.weight"].shape[1] == 1
    code, stdout, err = run(capsys, "evaluate", "--model", out / "checkpoint.pt", "--data", photo_folder,
                            "--split", "val", "--out", tmp_path / "eval")
    assert code == 0, err  # the colour photos are read as grey, as the model was trained
    assert "2 image(s) of" in stdout
