"""Studies end to end on tiny real photos: tables, CSV, curves, resuming, divergence."""

import contextlib
import csv
import hashlib
import importlib.util
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch

import noise2noise.data
from noise2noise.cli import main
from noise2noise.errors import N2NError
from noise2noise.sweep import load_study, read_results, run_key, run_sweep

STUDIES = Path(__file__).resolve().parents[1] / "studies"
PNG = b"\x89PNG\r\n\x1a\n"


def write_study(folder: Path, photos: Path, tables: str, seeds: str = "[0, 1]") -> Path:
    path = folder / "tiny.toml"
    path.write_text(f"""
seeds = {seeds}
time_budget = "60s"   # the one epoch below ends each run first
[base]
data = "{photos}"
val_fraction = 0.4
val_patches = 8
pairs_per_epoch = 16
epochs = 1
width = 8
depth = 2
batch_size = 8
log_every = 1
eval_every_s = 0
checkpoint_every_s = 0
device = "cpu"
{tables}
""")
    return path


TABLES = """
[tables.optimizer]
title = "Table I: optimiser × learning rate"
axes = { optimizer = ["sgd", "adam"], lr = [0.01, 0.001] }
[tables.loss]
title = "Table IV: loss"
axes = { loss = ["l2", "l1"] }
[[figures]]
table = "optimizer"
title = "Fig. 3: two settings"
file = "fig3.png"
settings = [{ optimizer = "sgd", lr = 0.01 }, { optimizer = "adam", lr = 0.001 }]
"""


def sweep(capsys, study: Path, out: Path, *extra: str) -> str:
    code = main(["sweep", str(study), "--out", str(out), *extra])
    stdout, err = capsys.readouterr()
    assert code == 0, err
    return stdout


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """One tiny study, swept once for the tests of this module (they copy before changing it)."""
    import imageio.v3 as iio
    import skimage.data

    folder = tmp_path_factory.mktemp("sweep")
    (folder / "photos").mkdir()
    for i, image in enumerate([skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.coffee()]):
        iio.imwrite(folder / "photos" / f"img{i}.png", image[20:87, 40:115])
    study = write_study(folder, folder / "photos", TABLES)
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert main(["sweep", str(study), "--out", str(folder / "study")]) == 0
    return study, folder / "study", stdout.getvalue()


def test_sweep_writes_tables_csv_curves_and_the_best_runs_samples(swept):
    _, out, stdout = swept
    tables = (out / "tables.md").read_text()
    assert "## Table I: optimiser × learning rate" in tables and "| optimizer \\ lr | 0.01 | 0.001 |" in tables
    assert "## Table IV: loss" in tables and "| loss | PSNR (dB) |" in tables
    rows = [line for line in tables.splitlines() if line.startswith(("| sgd |", "| adam |", "| l2 |", "| l1 |"))]
    assert len(rows) == 4 and all(" ± " in row for row in rows)
    assert tables.count("**") == 2 * 2  # one best cell per table
    assert "10/10 runs finished" in tables  # 4 + 1 settings (l2 is adam 0.001) × 2 seeds
    assert "Conditions: 10 trained runs at " in tables and "threads per run: " in tables
    with open(out / "runs.csv") as f:
        runs = list(csv.DictReader(f))
    assert len(runs) == 10 and {r["status"] for r in runs} == {"ok"}
    assert all(float(r["psnr_db"]) > 0 and r["steps"] == "2" and r["images"] == "16" for r in runs)
    assert all(float(r["images_per_s"]) > 0 and float(r["wall_time_s"]) >= float(r["train_time_s"]) for r in runs)
    import torch  # the conditions beside each row: threads, machine, load at start and end

    assert all(r["threads"] == str(torch.get_num_threads()) and " cores" in r["machine"] for r in runs)
    assert all(len(json.loads(r["load_1m"])) == 2 for r in runs)
    for name in ("curves.png", "samples.png", "fig3.png"):
        assert (out / name).read_bytes()[:8] == PNG
    assert (out / "best.pt").stat().st_size > 0
    assert stdout.count("dB (noisy") == 10 and "| sgd |" in stdout


def test_a_rerun_skips_finished_runs_and_an_interrupted_sweep_resumes(swept, tmp_path, capsys):
    study, out = swept[0], shutil.copytree(swept[1], tmp_path / "study")
    lines = (out / "runs.jsonl").read_text().splitlines()
    (out / "samples.png").unlink()  # redrawn from best.pt when missing
    assert "10 already in" in sweep(capsys, study, out) and len((out / "runs.jsonl").read_text().splitlines()) == 10
    assert (out / "samples.png").read_bytes()[:8] == PNG
    (out / "runs.jsonl").write_text("\n".join(lines[:7]) + '\n{"key": "torn li')  # killed mid-write
    stdout = sweep(capsys, study, out)
    assert "3 to train" in stdout and stdout.count("dB (noisy") == 3
    assert set(read_results(out / "runs.jsonl")) == {json.loads(line)["key"] for line in lines}


def test_a_diverged_run_is_recorded_and_the_sweep_goes_on(tmp_path, photo_folder, capsys):
    study = write_study(tmp_path, photo_folder, """
[tables.lr]
title = "rates"
set = { optimizer = "sgd", warmup = 0.0 }
axes = { lr = [1e9, 0.001] }
""", seeds="[0]")
    stdout = sweep(capsys, study, tmp_path / "out")
    assert "lr=1e+09, seed=0: diverged at step" in stdout
    rows = list(read_results(tmp_path / "out" / "runs.jsonl").values())
    assert [r["status"] for r in rows] == ["diverged", "ok"]
    tables = (tmp_path / "out" / "tables.md").read_text()
    assert "| 1e+09 | diverged |" in tables and "| 0.001 | **" in tables


def test_data_is_loaded_once_per_data_config(tmp_path, photo_folder, monkeypatch, capsys):
    calls = []
    real = noise2noise.data.build_training_data
    monkeypatch.setattr(noise2noise.data, "build_training_data",
                        lambda cfg, new_run=True: calls.append(cfg) or real(cfg, new_run))
    study = write_study(tmp_path, photo_folder, """
[tables.mixed]
axes = { crop_px = [32, 16], init = ["xavier_normal", "kaiming_normal"] }
""", seeds="[0]")
    sweep(capsys, study, tmp_path / "out")
    assert sorted(cfg.crop_px for cfg in calls) == [16, 32]


def test_the_shipped_studies_have_the_seeds_four_comparisons():
    seed, quick = load_study(STUDIES / "seed.toml"), load_study(STUDIES / "quick.toml")
    for study in (seed, quick):
        assert [list(t.axes) for t in study.tables] == [["optimizer", "lr"], ["augment"], ["init"], ["loss"]]
        assert len(study.seeds) >= 3
    assert seed.time_budget == "50000 images" and len(seed.runs()) == 17 * 3  # one work budget for every run
    assert {c.table for c in seed.claims} == {"optimizer", "augmentation", "init", "loss"}
    assert [len(f.settings) for f in seed.figures] == [5] and seed.figures[0].file == "fig3.png"  # the seed's Fig. 3
    base = seed.tables[0].cells[0].configs[0]
    assert (base.data, base.crop_px, base.noise_level, base.batch_size) == ("../shared/datasets/cbsd432", 32,
                                                                             (25.0, 25.0), 100)
    assert quick.tables[0].cells[0].configs[0].data == "embedded"


def test_a_budget_override_reaches_every_run_and_changes_its_identity():
    study = load_study(STUDIES / "quick.toml", budget="30s")
    configs = [cfg for cfg, _ in study.runs().values()]
    assert {cfg.time_budget_s for cfg in configs} == {30.0}
    assert not set(study.runs()) & set(load_study(STUDIES / "quick.toml").runs())
    assert run_key(configs[0]) == run_key(configs[0].replace())


def test_a_device_override_reaches_every_run_but_keeps_its_identity(tmp_path, photo_folder, capsys):
    study = write_study(tmp_path, photo_folder, '[tables.x]\nset = { device = "auto" }\naxes = { loss = ["l2"] }')
    on_cpu = load_study(study, device="cpu")  # over [base] and a table's own setting
    assert {cfg.device for cfg, _ in on_cpu.runs().values()} == {"cpu"}
    assert set(on_cpu.runs()) == set(load_study(study).runs())  # finished elsewhere: not trained again
    code = main(["sweep", str(study), "--device", "cuda:7"])
    err = capsys.readouterr().err
    assert code == 2 and "device 'cuda:7' requested but" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("tables,message", [
    ('[tables.x]\naxes = { learning_rate = [0.1] }', r"tiny.toml \[tables.x\]: unknown config field 'learning_rate'"),
    ('[tables.x]\naxes = { crop-px = [16] }', r"^[^:]*tiny.toml \[tables.x\]: unknown config field 'crop-px'; did you "
                                             r"mean crop_px\?$"),
    ('[tables.x]\naxes = { loss = ["l3"] }', r"\[tables.x\]: unknown loss 'l3'"),
    ('[tables.x]\naxes = { seed = [1, 2] }', r"\[tables.x\]: seed is set for the whole study"),
    ('[tables.x]\naxes = { loss = [] }', r"\[tables.x\]: axes must map config fields to non-empty lists"),
    ('[tables.x]\naxes = { lr = [0.001, 1e-3] }', r"\[tables.x\]: axis 'lr' lists 0.001 more than once"),
    ('[tables.x]\naxes = { lr = [1, 1.0] }', r"\[tables.x\]: axis 'lr' lists 1.0 more than once"),
    ('[tables.x]\naxes = { clip = [true, 1] }', r"\[tables.x\]: config field clip=1 must be true or false"),
    ('[tables.x]\naxes = { clip = [true, true] }', r"\[tables.x\]: axis 'clip' lists true more than once"),
    ('[tables.""]\naxes = { clip = [true] }', r"\[tables.''\]: a table needs a name of one line of text"),
    ('[tables.x]\naxes = { lr = [0.001] }\nset = { lr = 0.5 }', r"\[tables.x\]: 'lr' is both an axis and in set"),
    ('[tables.x]\naxis = { loss = ["l1"] }', r"\[tables.x\]: unknown key 'axis'"),
    ('[tables.x]\ntitle = "two\\nlines"\naxes = { loss = ["l1"] }',  # broke the heading in tables.md
     r"\[tables.x\]: title = 'two\\nlines' must be one line of text"),
    ('[tables.x]\ntitle = 3\naxes = { loss = ["l1"] }', r"\[tables.x\]: title = 3 must be one line of text"),
    ('[tables.x]\naxes = { loss = ["l1"] }\nbaselines = ["bm4d"]', r"\[tables.x\]: baselines: unknown method 'bm4d'"),
    ('[tables.x]\naxes = { noise_level = [10, 20] }\nbaselines = ["noisy"]',
     r"\[tables.x\]: a table with baselines must keep its validation crops fixed, but its axis 'noise_level'"),
    ('[tables.x]\naxes = { loss = ["l1"] }\n[[figures]]\ntable = "y"\nsettings = [{ loss = "l1" }]',
     r"\[\[figures\]\] #1: table = 'y' must name one of the study's tables: x"),
    ('[tables.x]\naxes = { loss = ["l1"] }\n[[figures]]\ntable = "x"\nsettings = [{ loss = "l2" }]',
     r"\[\[figures\]\] #1: settings\[0\] = \{'loss': 'l2'\} must give a value of each of the table's axes"),
    ('[tables.x]\naxes = { loss = ["l1"] }\n[[figures]]\ntable = "x"\nfile = "curves.png"\n'
     'settings = [{ loss = "l1" }]',
     r"\[\[figures\]\] #1: file = 'curves.png' must be a new .png name"),
    ('[tables.x]\naxes = { loss = ["l1"] }\n[[figures]]\ntable = "x"\nfile = ".png"\n'
     'settings = [{ loss = "l1" }]',
     r"\[\[figures\]\] #1: file = '.png' must be a new .png name"),  # wrote a hidden file
])
def test_study_errors_name_the_file_and_table(tmp_path, photo_folder, tables, message):
    with pytest.raises(N2NError, match=message):
        load_study(write_study(tmp_path, photo_folder, tables))


def test_sweep_errors_are_one_line(tmp_path, capsys):
    code = main(["sweep", str(tmp_path / "missing.toml")])
    assert code == 2 and "missing.toml: cannot read study file" in capsys.readouterr().err


def test_a_run_key_ignores_the_fields_a_study_run_does_not_use():
    cfg = load_study(STUDIES / "quick.toml").tables[0].cells[0].configs[0]
    assert run_key(cfg.replace(val_whole_images=0)) == run_key(cfg) == run_key(cfg.replace(device="cpu"))
    assert run_key(cfg.replace(lr=cfg.lr * 2)) != run_key(cfg)
    assert run_key(cfg.replace(noise_level_power=2.0)) != run_key(cfg)  # at its default 1 it is left out
    assert run_key(cfg.replace(train_scales=2)) != run_key(cfg)  # likewise
    assert run_key(cfg.replace(clip_targets=False)) != run_key(cfg)


def test_parallel_jobs_give_the_same_rows_as_one_job(tmp_path, photo_folder, capsys):
    """--jobs 2 trains in worker processes of cores // 2 threads each: the same seeds give bit
    for bit the rows of --jobs 1 on as many threads (fp32 and bf16; another thread count sums
    in another order, ~1e-8 apart); the parent writes whole rows, a re-run skips finished runs."""
    import torch

    from noise2noise.sweep import _cpu_cores

    study = write_study(tmp_path, photo_folder, '[tables.p]\naxes = { precision = ["fp32", "bf16"] }')
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, _cpu_cores() // 2))  # what each of 2 workers gets: the same summation order
    try:
        sweep(capsys, study, tmp_path / "one")
    finally:
        torch.set_num_threads(threads)
    stdout = sweep(capsys, study, tmp_path / "two", "--jobs", "2")
    assert "training 2 runs at a time" in stdout and stdout.count("dB (noisy") == 4
    one, two = read_results(tmp_path / "one" / "runs.jsonl"), read_results(tmp_path / "two" / "runs.jsonl")
    assert set(one) == set(two) and len(one) == 4
    for key in one:
        assert {k: two[key][k] for k in ("psnr_db", "ssim", "steps", "curve")} == \
            {k: one[key][k] for k in ("psnr_db", "ssim", "steps", "curve")}
    assert (tmp_path / "two" / "samples.png").read_bytes()[:8] == PNG and (tmp_path / "two" / "best.pt").is_file()
    assert "4 already in" in sweep(capsys, study, tmp_path / "two", "--jobs", "2")
    assert len((tmp_path / "two" / "runs.jsonl").read_text().splitlines()) == 4


def test_parallel_jobs_record_a_diverged_run(tmp_path, photo_folder, capsys):
    tables = '[tables.lr]\nset = { optimizer = "sgd", warmup = 0.0 }\naxes = { lr = [1e9, 0.001] }'
    study = write_study(tmp_path, photo_folder, tables, seeds="[0]")
    stdout = sweep(capsys, study, tmp_path / "out", "--jobs", "2")
    assert "lr=1e+09, seed=0: diverged at step" in stdout
    assert sorted(r["status"] for r in read_results(tmp_path / "out" / "runs.jsonl").values()) == ["diverged", "ok"]


def test_jobs_must_be_positive(tmp_path, photo_folder, capsys):
    study = write_study(tmp_path, photo_folder, '[tables.x]\naxes = { loss = ["l2"] }')
    with pytest.raises(SystemExit, match="2"):  # the command line's own check
        main(["sweep", str(study), "--out", str(tmp_path / "out"), "--jobs", "0"])
    assert "argument --jobs: expected a positive integer, got '0'" in capsys.readouterr().err
    with pytest.raises(N2NError, match="--jobs 0: runs trained at the same time must be 1 or more"):
        run_sweep(load_study(study), tmp_path / "out", jobs=0)  # the Python API's


def _start_sweep(tmp_path: Path, photo_folder: Path) -> tuple[subprocess.Popen, Path]:
    """A --jobs 2 sweep of a 1-epoch and a 100000-epoch run, once the first run's row is in."""
    study = write_study(tmp_path, photo_folder, "[tables.e]\naxes = { epochs = [1, 100000] }", seeds="[0]")
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(STUDIES.parent)}
    sweeping = subprocess.Popen([sys.executable, "-m", "noise2noise", "sweep", str(study), "--out", str(out),
                                 "--jobs", "2"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out / "runs.jsonl").is_file() or not (out / "runs.jsonl").read_text():
        assert sweeping.poll() is None, sweeping.stderr.read()
        assert time.monotonic() < deadline, "no finished run within 120 s"
        time.sleep(0.05)
    return sweeping, out


def _workers(pid: int) -> list[int]:
    """The spawned worker processes of ``pid`` (not its resource tracker)."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
            command = (status.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid) and b"spawn_main" in command:
            found.append(int(status.parent.name))
    return found


def test_sigterm_stops_the_workers_and_keeps_the_finished_rows(tmp_path, photo_folder):
    sweeping, out = _start_sweep(tmp_path, photo_folder)
    sweeping.send_signal(signal.SIGTERM)  # the 100000-epoch run is still training in its worker
    assert sweeping.wait(timeout=60) == 128 + signal.SIGTERM
    err = sweeping.stderr.read()
    assert err.strip().splitlines()[-1] == "n2n sweep: terminated (SIGTERM)" and "leaked" not in err
    assert (out / "runs.jsonl").read_text().endswith("\n")
    assert [r["config"]["epochs"] for r in read_results(out / "runs.jsonl").values()] == [1]
    assert sorted(p.name for p in out.glob(".*")) == []  # unlocked


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="finds the workers through /proc")
def test_a_killed_worker_stops_the_sweep_with_one_line_and_keeps_the_finished_rows(tmp_path, photo_folder):
    sweeping, out = _start_sweep(tmp_path, photo_folder)
    workers = _workers(sweeping.pid)
    assert len(workers) == 2
    for pid in workers:  # as the out-of-memory killer would
        os.kill(pid, signal.SIGKILL)
    assert sweeping.wait(timeout=60) == 2
    err = sweeping.stderr.read().strip()
    assert len(err.splitlines()) == 1 and "a worker process of --jobs 2 died mid-run" in err and "--jobs" in err
    assert [r["config"]["epochs"] for r in read_results(out / "runs.jsonl").values()] == [1]
    assert sorted(p.name for p in out.glob(".*")) == []  # unlocked


def test_baselines_are_measured_once_on_the_tables_validation_crops(tmp_path, photo_folder, capsys):
    study = write_study(tmp_path, photo_folder, '[tables.loss]\naxes = { loss = ["l2", "l1"] }\n'
                        'baselines = ["noisy", "nlm"]', seeds="[0]")
    stdout = sweep(capsys, study, tmp_path / "out")
    assert "baseline nlm, table loss: " in stdout
    rows = [json.loads(line) for line in (tmp_path / "out" / "baselines.jsonl").read_text().splitlines()]
    assert [r["method"] for r in rows] == ["noisy", "nlm"] and {r["crops"] for r in rows} == {8}
    noisy_db = {r["psnr_noisy_db"] for r in read_results(tmp_path / "out" / "runs.jsonl").values()}
    assert noisy_db == {rows[0]["psnr_db"]}  # the very crops the runs were validated on
    assert rows[1]["psnr_db"] > rows[0]["psnr_db"]  # NLM denoises
    tables = (tmp_path / "out" / "tables.md").read_text()
    assert f"Baselines on the same validation crops (`baselines.jsonl`): noisy {rows[0]['psnr_db']:.2f} dB" in tables
    assert "baseline nlm on" not in sweep(capsys, study, tmp_path / "out")  # measured once
    assert len((tmp_path / "out" / "baselines.jsonl").read_text().splitlines()) == 2
    # keyed as before fields at their old default left the key: found, not measured again; a torn row is mended
    from noise2noise.config import TrainConfig
    from noise2noise.sweep import _TRAINING_ONLY

    cfg = TrainConfig.from_dict(next(iter(read_results(tmp_path / "out" / "runs.jsonl").values()))["config"])
    every_field = json.dumps({k: v for k, v in cfg.to_dict().items() if k not in _TRAINING_ONLY}, sort_keys=True)
    for row in rows:
        row["key"] = hashlib.sha1(json.dumps([row["method"], every_field]).encode()).hexdigest()[:16]
    (tmp_path / "out" / "baselines.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"key": "ab')
    stdout = sweep(capsys, study, tmp_path / "out")
    assert "baseline nlm on" not in stdout and "baselines.jsonl: its last line was torn" in stdout
    assert (tmp_path / "out" / "baselines.jsonl").read_text().splitlines() == [json.dumps(r) for r in rows]


@pytest.mark.skipif(importlib.util.find_spec("bm3d") is None, reason="needs the bm3d extra")
def test_bm3d_on_crops_smaller_than_its_blocks_is_refused_before_any_training(tmp_path, photo_folder, capsys):
    study = write_study(tmp_path, photo_folder, '[tables.x]\naxes = { loss = ["l2"] }\nbaselines = ["bm3d"]')
    study.write_text(study.read_text().replace("[base]\n", "[base]\ncrop_px = 8\n"))  # crashed the process
    assert "[tables.x] crop_px 8: too small for bm3d, which needs images of at least 9×9 px; leave bm3d out of " \
           "that table's baselines" in _refused(capsys, str(study), "--out", str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_crops_larger_than_an_image_are_refused_before_any_training(tmp_path, photo_folder, capsys):
    # the photos are 75×67 px: the 96 px table failed once the 32 px one had trained
    study = write_study(tmp_path, photo_folder, '[tables.small]\naxes = { crop_px = [32] }\n'
                                                '[tables.large]\naxes = { crop_px = [48, 96] }')
    assert "img0.png: image is 75×67 px, smaller than the 96 px crop; lower [tables.large] crop_px or remove it" \
        in _refused(capsys, str(study), "--out", str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()
    # the validation images are cropped too: a held-out share, or a val_data folder
    (tmp_path / "val").mkdir()
    iio.imwrite(tmp_path / "val" / "small.png", np.zeros((40, 44, 3), np.uint8))
    study.write_text(study.read_text().replace("[base]\n", f"[base]\nval_data = '{tmp_path / 'val'}'\n")
                     .replace("val_fraction = 0.4\n", "").replace("[48, 96]", "[48]"))
    assert "small.png: image is 44×40 px, smaller than the 48 px crop; lower [tables.large] crop_px" \
        in _refused(capsys, str(study), "--out", str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()
    # and the bundled photos (chelsea, held out, is 451×300 px)
    study.write_text(study.read_text().replace(f"data = \"{photo_folder}\"", "data = \"embedded\"")
                     .replace(f"val_data = '{tmp_path / 'val'}'\n", "val_fraction = 0.4\n").replace("[48]", "[304]"))
    assert "chelsea: image is 451×300 px, smaller than the 304 px crop; lower [tables.large] crop_px" \
        in _refused(capsys, str(study), "--out", str(tmp_path / "out"))


@pytest.mark.skipif(importlib.util.find_spec("bm3d") is not None, reason="bm3d is installed")
def test_a_missing_baseline_package_is_refused_before_any_training(tmp_path, photo_folder, capsys):
    study = write_study(tmp_path, photo_folder, '[tables.x]\naxes = { loss = ["l2"] }\nbaselines = ["bm3d"]')
    assert main(["sweep", str(study), "--out", str(tmp_path / "out")]) == 2
    assert "pip install 'noise2noise[bm3d]'" in capsys.readouterr().err
    assert not (tmp_path / "out" / "runs.jsonl").is_file()


def test_a_worker_holds_no_named_semaphore():
    # what the pool's SIGTERM could leave half released when it lands while a worker exits
    probe = """
import multiprocessing
multiprocessing.set_start_method("spawn")  # as in a worker: its semaphores are named and tracked
from multiprocessing import resource_tracker
registered = []
resource_tracker.register = lambda name, kind: registered.append(kind)
from noise2noise.sweep import _start_worker
_start_worker(1)
from tqdm.auto import tqdm
tqdm(total=3, disable=True).close()
print(registered)
"""
    env = {**os.environ, "PYTHONPATH": str(STUDIES.parent)}
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_study_without_tables_says_how_to_write_one(tmp_path):
    path = tmp_path / "empty.toml"
    path.write_text('[base]\ndata = "embedded"\n')
    with pytest.raises(N2NError, match=r"at least one \[tables.NAME\] with axes = \{field = \[values, ...\]\}$"):
        load_study(path)


def _refused(capsys, *argv: str) -> str:
    assert main(["sweep", *argv]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_a_study_folder_is_continued_only_at_its_budget_and_on_the_data_it_was_trained_on(swept, tmp_path, capsys):
    study, out = swept[0], shutil.copytree(swept[1], tmp_path / "study")
    best = (out / "best.pt").read_bytes()
    # another budget trained new runs, and the first replaced best.pt, samples.png and the tables
    assert "its runs were trained at time_budget '60s' (study.json), not '4 steps'; pass --budget '60s'" in \
        _refused(capsys, str(study), "--out", str(out), "--budget", "4 steps")
    assert "not '4 steps'" in _refused(capsys, str(study), "--out", str(out), "--budget", "4 steps", "--report-only")
    photos = Path(json.loads((out / "runs.jsonl").read_text().splitlines()[0])["config"]["data"])
    moved = shutil.copytree(photos, tmp_path / "photos")  # a study that ran on a copy of the photos
    edited = tmp_path / "edited" / study.name
    edited.parent.mkdir()
    edited.write_text(study.read_text().replace(str(photos), str(moved)))
    record = json.loads((out / "study.json").read_text())
    record["data"][str(moved)] = record["data"][str(photos)] | {"resolved": str(moved.resolve())}
    (out / "study.json").write_text(json.dumps(record))
    shutil.copy(moved / "img0.png", moved / "img3.png")  # one more photo: seeds trained on either set were averaged
    assert "its files differ now (names or sizes); restore them, or choose another --out" in \
        _refused(capsys, str(edited), "--out", str(out))
    assert (out / "best.pt").read_bytes() == best


def test_a_line_torn_by_an_older_version_is_skipped_and_a_whole_last_row_kept(swept, tmp_path, capsys):
    study, out = swept[0], shutil.copytree(swept[1], tmp_path / "study")
    lines = (out / "runs.jsonl").read_text().splitlines()
    # an older sweep appended the next row to a torn line; the last row lost only its newline
    (out / "runs.jsonl").write_text("\n".join([*lines[:3], '{"key": "ab' + lines[3], *lines[4:]]))
    assert "runs.jsonl: line(s) 4 are not JSON and are left out of the report" in \
        sweep(capsys, study, out, "--report-only")  # the table lost a run without a word
    stdout = sweep(capsys, study, out)
    assert "runs.jsonl: line(s) 4 are not JSON" in stdout and "9 already in" in stdout and "1 to train" in stdout
    held = (out / "runs.jsonl").read_text()
    assert held.endswith("\n") and held.splitlines()[9] == lines[9]
    assert set(read_results(out / "runs.jsonl")) == {json.loads(line)["key"] for line in lines}
    (out / "runs.jsonl").write_bytes(b"\xef\xbb\xbf" + (out / "runs.jsonl").read_bytes())  # saved by Notepad
    assert "10 already in" in sweep(capsys, study, out)  # its first run was taken for a torn write


def test_an_older_study_record_and_a_moved_project_continue(swept, tmp_path, capsys, monkeypatch):
    study, out = swept[0], shutil.copytree(swept[1], tmp_path / "study")
    record = json.loads((out / "study.json").read_text())
    # the budget set in [base] (recorded as null), the project cloned elsewhere (another absolute path)
    record["time_budget"] = None
    record["data"] = {source: then | {"resolved": "/elsewhere" + then["resolved"]}
                      for source, then in record["data"].items()}
    (out / "study.json").write_text(json.dumps(record))
    # null is no guard: the runs' own budget is (another --budget replaced best.pt)
    assert "its runs were trained at time_budget '60s' (runs.jsonl), not '4 steps'; pass --budget '60s'" in \
        _refused(capsys, str(study), "--out", str(out), "--budget", "4 steps")
    assert "10 already in" in sweep(capsys, study, out)
    monkeypatch.setattr(noise2noise.data, "data_fingerprint", lambda cfg: pytest.fail("data read"))
    sweep(capsys, study, out, "--report-only")  # a report reads runs.jsonl, not the data


def test_a_torn_study_record_or_a_bad_results_line_is_refused_naming_it(swept, tmp_path, capsys):
    study, out = swept[0], shutil.copytree(swept[1], tmp_path / "study")
    lines = (out / "runs.jsonl").read_text().splitlines()
    for bad, said in [('{"key": "x", "status": "ok", "seed": 0}',
                       "runs.jsonl:3: not a row of results (no usable config)"),
                      ("[1, 2]", "runs.jsonl:3: not a row of results (not a JSON object with a key)")]:
        (out / "runs.jsonl").write_text("\n".join([*lines[:2], bad, *lines[2:]]) + "\n")  # crashed with a traceback
        assert said in _refused(capsys, str(study), "--out", str(out), "--report-only")
    (out / "runs.jsonl").write_text("\n".join(lines) + "\n")
    (out / "study.json").write_text('{"study": "tiny.to')  # any study took the folder over
    assert "study.json: not a study record (torn or edited)" in _refused(capsys, str(study), "--out", str(out))
    (out / "study.json").unlink()  # the folder holds only this study's reports: it is continued
    assert "10 already in" in sweep(capsys, study, out)


def test_study_files_that_would_mislead_are_refused_before_any_run(swept, tmp_path, capsys):
    study, out = swept[0], shutil.copytree(swept[1], tmp_path / "study")
    text = study.read_text()
    pairs = tmp_path / "pairs.pt"
    torch.save((torch.rand(8, 3, 32, 32) * 255, torch.rand(8, 3, 32, 32) * 255), pairs)
    cases = [
        (text.replace("[base]", "[base]\nseed = 7"), "[base]: seed is set for the whole study"),  # trained seed 0
        (text.replace("[base]", '[base]\ntime_budget = "1h"'), "time_budget is given at the top and in [base]"),
        (text.replace('axes = { loss = ["l2", "l1"] }', f"axes = {{ width = {list(range(1, 11))}, "
                      f"weight_decay = {[i / 10 for i in range(10)]}, log_every = {list(range(1, 52))} }}"),
         "[tables.loss]: 10,200 runs (10 × 10 × 51 settings × 2 seeds); a table holds at most"),
        (text.replace('settings = [{ optimizer = "sgd", lr = 0.01 }', 'settings = [{ optimizer = "sgd", lr = 1e-2 }')
         .replace('{ optimizer = "adam", lr = 0.001 }', '{ optimizer = "adam", lr = true }'),
         "must give a value of each of the table's axes"),  # matched no cell: an empty curve
        (text.replace("[base]", f'[base]\ninit_weights = "{out / "best.pt"}"'),
         "is inside the study folder"),  # best.pt was replaced mid-study by each better run
        (text.replace("[base]", '[base]\ninit_weights = "nope.pt"'), "nope.pt: no such checkpoint file"),
        (text.replace('axes = { loss = ["l2", "l1"] }',
                      f'axes = {{ loss = ["l2", "l1"] }}\nset = {{ data = "{pairs}" }}'),
         "tensor pairs are trained on whole"),  # found when the table's first run was reached, hours in
    ]
    for i, (content, said) in enumerate(cases):
        path = tmp_path / f"case{i}" / study.name
        path.parent.mkdir()
        path.write_text(content)
        assert said in _refused(capsys, str(path), "--out", str(out)), content


@pytest.mark.parametrize("name", ["seed", "paper"])
def test_the_committed_studies_report_as_they_did_though_config_fields_were_added_since(tmp_path, capsys, name,
                                                                                       monkeypatch):
    """Runs and baselines are keyed by their config: a field added later must not make every
    finished run count as missing (a re-run would have trained all 51 again)."""
    docs = STUDIES.parent / "docs" / "study" / name
    out = shutil.copytree(docs, tmp_path / name)
    recorded = json.loads((out / "study.json").read_text())
    monkeypatch.chdir(STUDIES.parent)  # the tables name the study file as it was given
    sweep(capsys, Path(recorded["study"]), out, "--report-only", "--budget", recorded["time_budget"])
    assert (out / "tables.md").read_text() == (docs / "tables.md").read_text()


def test_a_shipped_model_as_init_weights_is_not_taken_for_a_file_in_the_study_folder(swept, tmp_path, monkeypatch):
    import noise2noise.sweep
    from noise2noise.sweep import run_sweep

    study = tmp_path / "tiny.toml"
    study.write_text(swept[0].read_text().replace("[base]", '[base]\ninit_weights = "gaussian"\nchannels = "rgb"'))
    (tmp_path / "out").mkdir()
    monkeypatch.chdir(tmp_path / "out")  # ./gaussian would be inside --out .; the shipped model is not
    monkeypatch.setattr(noise2noise.sweep, "_run_sweep", lambda *args: "trained")
    assert run_sweep(load_study(study), ".") == "trained"


def test_titles_take_no_break_spaces_and_emoji(tmp_path, photo_folder):
    title = "Table\u00a0I\u202f: pertes (σ = 25) 👩\u200d🔬"  # French typography; the ZWJ inside an emoji
    study = write_study(tmp_path, photo_folder, f'[tables.x]\ntitle = "{title}"\naxes = {{ loss = ["l1"] }}')
    assert load_study(study).tables[0].title == title
