import json
import re
from types import SimpleNamespace

import pytest
import torch

from noise2noise import checkpoint, train
from noise2noise.config import TrainConfig, parse_budget
from noise2noise.data import Batch, SyntheticPairs
from noise2noise.distributed import Ranks
from noise2noise.errors import N2NError
from noise2noise.evaluate import evaluate_pairs
from noise2noise.images import embedded_images
from noise2noise.losses import LOSSES
from noise2noise.metrics import psnr_db
from noise2noise.noise import GaussianNoise
from noise2noise.train import BudgetClock, TrainState, fit, run_training, train_step
from noise2noise.unet import build_model

CPU = torch.device("cpu")

TINY = dict(width=16, depth=3, crop_px=32, batch_size=16, log_every=10, eval_every_s=0,
            checkpoint_every_s=0, val_patches=64, device="cpu")


@pytest.fixture(scope="module")
def photo_problem():
    """Real photographs with Gaussian sigma=25: training crops and held-out validation."""
    train = embedded_images("train")[:3]
    test = embedded_images("test")[:2]
    noise = GaussianNoise((25.0, 25.0), clip=True)
    return SyntheticPairs(train, noise, 32, 1600), SyntheticPairs(test, noise, 32, 1).validation(64)


def test_psnr_rises_above_the_noisy_input_on_real_photos(photo_problem):
    source, val = photo_problem
    cfg = TrainConfig(**TINY, lr=3e-3, schedule="cosine", time_budget=None, epochs=2)
    result = fit(cfg, source, val, progress=False)
    assert result.steps == 200
    assert result.metrics["psnr_db"] > result.metrics["psnr_noisy_db"] + 2.0


def test_same_seed_gives_the_same_numbers(photo_problem):
    source, val = photo_problem
    cfg = TrainConfig(**TINY, time_budget=None, epochs=1, pairs_per_epoch=64)
    source.pairs_per_epoch = 160
    first = fit(cfg, source, val, progress=False).metrics
    second = fit(cfg, source, val, progress=False).metrics
    third = fit(cfg.replace(seed=1), source, val, progress=False).metrics
    source.pairs_per_epoch = 1600
    assert first == second and first != third


def test_a_time_budget_stops_training_at_the_deadline(photo_problem):
    source, _ = photo_problem
    result = fit(TrainConfig(**TINY, time_budget=2.0), source, None, progress=False)
    assert 2.0 <= result.train_time_s < 4.0
    assert result.steps > 0 and result.metrics is None


def test_a_run_records_the_code_it_started_with_though_a_commit_lands_meanwhile(tmp_path, photo_folder,
                                                                                 monkeypatch):
    import subprocess

    shas = iter(["aaaaaaaaaaaa", "bbbbbbbbbbbb", "cccccccccccc", "dddddddddddd"])

    def git(args, **kwargs):  # each rev-parse a new commit, as if one landed every time
        stdout = next(shas) if "rev-parse" in args else ""
        return subprocess.CompletedProcess(args, 0, stdout=stdout, stderr="")

    monkeypatch.setattr(checkpoint.subprocess, "run", git)
    checkpoint.code_version.cache_clear()
    try:
        cfg = TrainConfig(**TINY, data=str(photo_folder), val_fraction=0.4, time_budget=None, epochs=1,
                          pairs_per_epoch=64)
        run_training(cfg, tmp_path / "run", progress=False)
    finally:
        checkpoint.code_version.cache_clear()
    run = tmp_path / "run"
    recorded = [json.loads((run / name).read_text())["code_version"] for name in ("config.json", "results.json")]
    saved = torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=True)["code_version"]
    assert recorded + [saved] == ["aaaaaaaaaaaa"] * 3


def test_a_run_whose_output_is_worse_than_its_noisy_input_says_so(tmp_path, photo_folder, capsys):
    from noise2noise import errors, train

    errors.say_once.cache_clear()
    cfg = TrainConfig(**TINY, data=str(photo_folder), val_fraction=0.4, time_budget="4 steps")
    result = run_training(cfg, tmp_path / "run", progress=False)  # 4 steps from random weights: far below
    assert result.metrics["psnr_db"] < result.metrics["psnr_noisy_db"]
    assert f"warning: after 4 steps the denoised validation images ({result.metrics['psnr_db']:.2f} dB) are worse " \
           "than the noisy ones" in capsys.readouterr().err
    for psnr, noisy in ((25.0, 20.0), (60.9, 80.0)):  # better than its input; no noise (psnr_db's cap, 80 dB)
        train._warn_if_worse_than_noisy(SimpleNamespace(metrics={"psnr_db": psnr, "psnr_noisy_db": noisy}, steps=9))
    assert capsys.readouterr().err == ""


def test_a_run_folder_holds_config_metrics_checkpoint_results_and_figure(tmp_path, photo_folder):
    cfg = TrainConfig(**{**TINY, "log_every": 3}, data=str(photo_folder), val_fraction=0.4,
                      time_budget=None, epochs=1, pairs_per_epoch=64)
    result = run_training(cfg, tmp_path / "run", progress=False)
    run = tmp_path / "run"
    saved = json.loads((run / "config.json").read_text())
    assert TrainConfig.from_dict({k: v for k, v in saved.items() if k != "code_version"}) == cfg
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["kind"] == "train"] == [3, 4]  # every 3 steps, and the last
    assert rows[-1]["kind"] == "val" and rows[-1]["psnr_db"] == result.metrics["psnr_db"]
    assert (run / "samples.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    model, payload = checkpoint.load_model(run / "checkpoint.pt")
    assert payload["finished"] and payload["step"] == 4
    results = json.loads((run / "results.json").read_text())
    assert results["steps"] == 4 and results["images"] == 64 == result.images
    assert results["images_per_s"] > 0 and results["wall_time_s"] >= results["train_time_s"] > 0
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(tensor, result.model.state_dict()[name].cpu())


def test_a_run_validates_on_whole_held_out_images_at_the_end(tmp_path, photo_folder):
    from noise2noise.data import VAL_SEED, split_images
    from noise2noise.evaluate import add_noise, evaluate_pairs

    cfg = TrainConfig(**TINY, data=str(photo_folder), val_fraction=0.4, noise_level=(10.0, 30.0),
                      time_budget=None, epochs=1, pairs_per_epoch=32, val_whole_images=1)
    result = run_training(cfg, tmp_path / "run", progress=False)
    whole = json.loads((tmp_path / "run" / "results.json").read_text())["validation_whole"]
    assert whole == result.validation_whole and set(whole) == {
        "n_images", "psnr_db", "ssim", "psnr_noisy_db", "ssim_noisy", "noise_level"}
    assert whole["n_images"] == 1 and whole["noise_level"] == 20.0  # the middle of the range
    # the first held-out photo, whole (67x75), with the fixed noise draw: what the network gives on it
    held_out = split_images(str(photo_folder), "val", 0.4)
    assert len(held_out) == 2  # so val_whole_images capped it
    (_, noisy, clean), = add_noise(held_out[:1], GaussianNoise((20.0, 20.0)), seed=VAL_SEED)
    assert noisy.shape == (3, 67, 75)
    expected = evaluate_pairs(result.model, noisy[None], clean[None])
    for key in ("psnr_db", "ssim", "psnr_noisy_db", "ssim_noisy"):
        assert whole[key] == pytest.approx(expected[key], abs=1e-4), key
    assert 0 < whole["psnr_noisy_db"] < 30 and 0 < whole["ssim"] <= 1


@pytest.mark.parametrize("changes", [
    dict(val_whole_images=0),  # off
    # noisy images: no clean ones to compare with (and none to hold out: val_fraction left at its default)
    dict(noisy_data=True, mode="neighbor2neighbor", val_fraction=TrainConfig.val_fraction),
    # tensor pairs: no whole images (trained on whole, each once an epoch)
    dict(data="pairs.pt", val_fraction=TrainConfig.val_fraction, pairs_per_epoch=TrainConfig.pairs_per_epoch),
])
def test_whole_image_validation_is_skipped_where_there_are_no_clean_held_out_images(
        tmp_path, photo_folder, course_pairs, changes):
    torch.save(course_pairs, tmp_path / "pairs.pt")
    if changes.get("data"):
        changes = {**changes, "data": str(tmp_path / changes["data"])}
    cfg = TrainConfig(**{**TINY, "data": str(photo_folder), "val_fraction": 0.4, "time_budget": None,
                         "epochs": 1, "pairs_per_epoch": 16, **changes})
    result = run_training(cfg, tmp_path / "run", progress=False)
    assert result.validation_whole is None
    assert json.loads((tmp_path / "run" / "results.json").read_text())["validation_whole"] is None


def test_an_existing_run_folder_is_never_silently_overwritten(tmp_path, photo_folder):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "keep.txt").write_text("precious")
    cfg = TrainConfig(**TINY, data=str(photo_folder), time_budget=None, epochs=1, pairs_per_epoch=16)
    with pytest.raises(N2NError, match="folder exists and is not empty"):
        run_training(cfg, tmp_path / "run", progress=False)
    assert (tmp_path / "run" / "keep.txt").read_text() == "precious"


def test_init_weights_starts_from_a_trained_network_and_fine_tunes_it(tmp_path, photo_problem):
    """A run from ``init_weights`` starts with the checkpoint's very weights, so a few steps
    from a trained network beat the same few steps from a random init."""
    source, val = photo_problem
    trained = fit(TrainConfig(**TINY, lr=3e-3, time_budget=None, epochs=1), source, val, progress=False)
    path = checkpoint.save(tmp_path / "trained.pt", trained.model, trained.config)
    short = TrainConfig(**TINY, time_budget="2 steps")
    start = train.initial_network(short.replace(init_weights=str(path)), channels=3)
    for name, tensor in trained.model.state_dict().items():
        assert torch.equal(tensor, start.state_dict()[name]), name
    tuned = fit(short.replace(init_weights=str(path)), source, val, progress=False)
    scratch = fit(short, source, val, progress=False)
    assert tuned.steps == scratch.steps == 2
    assert tuned.metrics["psnr_db"] > scratch.metrics["psnr_db"] + 1.0
    assert tuned.metrics["psnr_db"] > tuned.metrics["psnr_noisy_db"]


def test_init_weights_must_take_the_channels_of_the_training_data(tmp_path, photo_problem):
    source, _ = photo_problem
    grey = checkpoint.save(tmp_path / "grey.pt", build_model("unet", 1, 1, 16, 3), TrainConfig(**TINY))
    with pytest.raises(N2NError, match=r"grey.pt' takes 1-channel images and the training data have 3 channel"):
        fit(TrainConfig(**TINY, time_budget="1 steps", init_weights=str(grey)), source, None, progress=False)


@pytest.mark.parametrize("growth", ["zero", "split"])
def test_init_weights_of_a_narrower_network_grow_into_the_configs_width(tmp_path, photo_problem, growth):
    """A width-16 checkpoint trains on as a width-24 network that starts out denoising exactly
    as it did, its new channels as the config's growth says; a checkpoint wider than the
    config is refused in one line."""
    source, val = photo_problem
    narrow = fit(TrainConfig(**TINY, lr=3e-3, ema=0.0, time_budget=None, epochs=1), source, val, progress=False)
    path = checkpoint.save(tmp_path / "narrow.pt", narrow.model, narrow.config)
    wide_cfg = TrainConfig(**{**TINY, "width": 24}, lr=1e-4, ema=0.0, time_budget="2 steps", init_weights=str(path),
                           growth=growth)
    start = train.initial_network(wide_cfg, channels=3).eval()
    assert start.ENC_CONV0.out_channels == 24
    copied = torch.equal(start.ENC_CONV0.weight[16], narrow.model.ENC_CONV0.weight[0])  # new channel 16 from 0
    assert copied == (growth == "split")
    with torch.no_grad():
        torch.testing.assert_close(start(val.noisy[:4] / 255), narrow.model.eval()(val.noisy[:4] / 255),
                                   rtol=0, atol=1e-5)
    tuned = fit(wide_cfg, source, val, progress=False)
    assert narrow.metrics["psnr_db"] > narrow.metrics["psnr_noisy_db"] + 2.0
    assert tuned.model.ENC_CONV0.out_channels == 24
    assert abs(tuned.metrics["psnr_db"] - narrow.metrics["psnr_db"]) < 0.5  # it went on from there
    with pytest.raises(N2NError, match=r"narrow.pt' holds a network of width 16, wider than the config's 8; "
                                       r"set width to 16 or more"):
        train.initial_network(wide_cfg.replace(width=8), channels=3)


def test_a_network_told_sigma_learns_to_use_it_on_real_photos():
    """Trained blind over sigma 0..50 with sigma as an input plane, the network does better
    told the true sigma than a wrong one, and as well when sigma is estimated from the crop."""
    noise = GaussianNoise((0.0, 50.0), clip=True)
    source = SyntheticPairs(embedded_images("train")[:3], noise, 32, 1600, sigma_input=True)
    cfg = TrainConfig(**TINY, lr=3e-3, schedule="cosine", time_budget=None, epochs=1, sigma_input=True,
                      noise_level="0,50")
    model = fit(cfg, source, None, progress=False).model
    for sigma, wrong, margin_db in ((5.0, 40.0, 1.0), (40.0, 5.0, 0.5)):
        val = SyntheticPairs(embedded_images("test")[:2], GaussianNoise((sigma, sigma)), 32, 1,
                             sigma_input=True).validation(64)
        assert torch.equal(val.sigma_255, torch.full((64,), sigma))
        right, wrong_db, estimated = (evaluate_pairs(model, val.noisy, val.clean, given, with_ssim=False)["psnr_db"]
                                      for given in (val.sigma_255, torch.tensor(wrong), None))
        assert right > wrong_db + margin_db and abs(estimated - right) < 0.3
        if sigma > 20:  # 100 steps do not beat faint noise, but strong noise they do
            assert right > psnr_db(val.noisy / 255, val.clean / 255) + 5.0


def test_a_blind_network_is_widened_to_be_told_sigma_and_not_the_other_way(tmp_path, photo_folder):
    blind = fit(TrainConfig(**TINY, time_budget="1 steps"), SyntheticPairs(embedded_images("train")[:1],
                GaussianNoise(), 32, 16), None, progress=False)
    path = checkpoint.save(tmp_path / "blind.pt", blind.model, blind.config)
    cfg = TrainConfig(**{**TINY, "val_patches": 8}, data=str(photo_folder), val_fraction=0.4, time_budget=None,
                      epochs=1, pairs_per_epoch=32, sigma_input=True, noise_level="0,50", init_weights=str(path))
    result = run_training(cfg, tmp_path / "told", progress=False)
    model, payload = checkpoint.load_model(tmp_path / "told" / "checkpoint.pt")
    assert payload["model_args"]["sigma_input"] and model.ENC_CONV0.weight.shape[1] == 4
    assert result.metrics["psnr_db"] > 0
    with pytest.raises(N2NError, match="told.checkpoint.pt' is told the noise level .sigma_input.; set sigma_input"):
        train.initial_network(cfg.replace(sigma_input=False, init_weights=str(tmp_path / "told" / "checkpoint.pt")),
                              channels=3)


def test_whole_image_validation_tells_a_network_told_sigma_the_known_level(photo_folder):
    from noise2noise.data import VAL_SEED, held_out_images
    from noise2noise.denoise import denoise_tensor
    from noise2noise.evaluate import add_noise

    torch.manual_seed(0)
    model = build_model("unet", 3, 3, 8, 2, sigma_input=True).eval()
    with torch.no_grad():
        model.ENC_CONV0.weight[:, 3] += 2.0  # the output depends on the level it is told
    cfg = TrainConfig(**TINY, data=str(photo_folder), val_fraction=0.4, noise_level=25, sigma_input=True,
                      val_whole_images=2, epochs=1)
    triples = list(add_noise(held_out_images(cfg)[:2], GaussianNoise((25.0, 25.0)), seed=VAL_SEED))

    def mean_psnr(sigma_255):
        return sum(psnr_db(denoise_tensor(model, noisy[None], sigma_255=sigma_255) / 255, clean[None].float() / 255)
                   for _, noisy, clean in triples) / len(triples)

    measured = train.validate_whole_images(cfg, model)["psnr_db"]
    assert measured == pytest.approx(mean_psnr(25.0), abs=1e-9) and measured != pytest.approx(mean_psnr(None))


def test_real_noisy_pairs_cannot_train_a_network_told_sigma(tmp_path, photo):
    import imageio.v3 as iio

    for name, shot in (("A", photo), ("B", photo[::-1].copy())):
        (tmp_path / name).mkdir()
        iio.imwrite(tmp_path / name / "shot.png", shot)
    with pytest.raises(N2NError, match="holds pairs of noisy images; sigma_input = true needs noise of a known level"):
        run_training(TrainConfig(**TINY, data=str(tmp_path), epochs=1, time_budget=None, sigma_input=True),
                     progress=False)


def test_divergence_names_the_step_and_suggests_a_lower_rate(photo_problem):
    source, _ = photo_problem
    cfg = TrainConfig(**{**TINY, "log_every": 5}, lr=1e6, optimizer="sgd", time_budget=None, epochs=1)
    with pytest.raises(N2NError, match=r"diverged at step \d+.*lower the learning rate"):
        fit(cfg, source, None, progress=False)


@pytest.mark.parametrize("changes", [
    dict(noise="bernoulli", noise_level=0.5),  # a masked loss on the target's kept pixels
    dict(mode="neighbor2neighbor", nb2nb_gamma=2.0),  # sub-sampled pairs plus the regulariser
    dict(mode="noise2clean", noise="text"),
])
def test_every_mode_and_masked_noise_runs_a_training_loop(photo_folder, changes):
    cfg = TrainConfig(**{**TINY, "val_patches": 8, "log_every": 1}, data=str(photo_folder), val_fraction=0.4,
                      time_budget=None, epochs=1, pairs_per_epoch=32, **changes)
    result = run_training(cfg, progress=False)
    assert result.steps == 2 and 0 < result.metrics["psnr_db"] < 80


@pytest.mark.parametrize("budget,steps", [("96 images", 6), ("5 steps", 5)])
def test_a_work_budget_trains_that_much_work_with_the_schedule_laid_over_it(photo_problem, budget, steps):
    source, _ = photo_problem
    cfg = TrainConfig(**{**TINY, "log_every": 1}, time_budget=budget, schedule="linear", warmup=0.0)
    result = fit(cfg, source, None, progress=False)
    assert result.steps == steps and result.images == steps * 16
    lrs = [row["lr"] for row in result.log if row["kind"] == "train"]
    assert lrs == pytest.approx([1e-3 * (1 - i / steps) for i in range(steps)])  # down to 0 at the budget's end


def test_warm_up_ramps_the_learning_rate_up_from_zero(photo_problem):
    source, _ = photo_problem
    result = fit(TrainConfig(**{**TINY, "log_every": 1}, time_budget="8 steps", warmup=0.5,
                             schedule="constant"), source, None,
                 progress=False)
    lrs = [row["lr"] for row in result.log if row["kind"] == "train"]
    assert lrs == pytest.approx([1e-3 * min(1.0, i / 4) for i in range(8)])


def _noisy_batch(seed: int = 0, n: int = 4) -> Batch:
    generator = torch.Generator().manual_seed(seed)
    clean = torch.rand(n, 3, 16, 16, generator=generator)
    noisy = lambda: clean + 0.1 * torch.randn(clean.shape, generator=generator)  # noqa: E731
    return Batch(noisy(), noisy())


def test_train_step_lowers_the_loss_and_moves_the_weight_average_toward_the_weights():
    state = TrainState.start(TrainConfig(width=8, depth=2, ema=0.75, device="cpu"), 3, CPU)
    batch = _noisy_batch()
    losses = [train_step(state, batch, LOSSES["l2"], 0.0) for _ in range(30)]
    assert not losses[-1].requires_grad and losses[-1].item() < losses[0].item()
    assert state.network is state.ema.module and int(state.ema.n_averaged) == 30
    average = [p.clone() for p in state.ema.module.parameters()]
    train_step(state, batch, LOSSES["l2"], 0.0)
    decay = min(0.75, 31 / 40)  # the 31st update: (1 + 30) / (10 + 30) is above 0.75, so 0.75 holds
    for old, new, raw in zip(average, state.ema.module.parameters(), state.model.parameters()):
        torch.testing.assert_close(new, decay * old + (1 - decay) * raw)  # the exponential moving average


def test_the_weight_average_of_a_young_run_is_not_mostly_its_first_weights():
    """A plain decay of 0.999 keeps 0.999^99 = 91% of the first weights after 100 updates;
    the ramp min(0.999, (1 + n) / (10 + n)) keeps the product of its decays, under 1e-10."""
    state = TrainState.start(TrainConfig(width=8, depth=2, ema=0.999, device="cpu"), 3, CPU)
    with torch.no_grad():
        for p in state.model.parameters():
            p.zero_()
        state.ema.update_parameters(state.model)  # the first update copies the weights: all 0
        for p in state.model.parameters():
            p.fill_(1.0)
        for _ in range(99):
            state.ema.update_parameters(state.model)
    for p in state.ema.module.parameters():
        torch.testing.assert_close(p, torch.ones_like(p))


def test_train_step_ignores_target_pixels_outside_the_mask():
    batch = _noisy_batch()
    mask = (torch.rand(4, 1, 16, 16, generator=torch.Generator().manual_seed(1)) > 0.5).float()
    junk = torch.where(mask > 0, batch.noisy_target, torch.full_like(batch.noisy_target, 9.0))
    states = [TrainState.start(TrainConfig(width=8, depth=2, device="cpu"), 3, CPU) for _ in range(2)]
    train_step(states[0], Batch(batch.noisy_input, batch.noisy_target, target_mask=mask), LOSSES["l2"], 0.0)
    train_step(states[1], Batch(batch.noisy_input, junk, target_mask=mask), LOSSES["l2"], 0.0)
    for a, b in zip(states[0].model.parameters(), states[1].model.parameters()):
        torch.testing.assert_close(a, b)


def test_the_budget_clock_measures_progress_in_the_budget_s_unit_and_pauses(monkeypatch):
    state = TrainState.start(TrainConfig(width=8, depth=2, device="cpu"), 3, CPU)
    state.step, state.images, state.train_time_s = 10, 160, 30.0
    clock = lambda budget, max_steps=None: BudgetClock(  # noqa: E731
        parse_budget(budget) if budget else None, max_steps, state, Ranks(), CPU)
    assert clock("320 images").progress == clock("20 steps").progress == clock("1m").progress == 0.5
    assert clock("320 images", max_steps=16).progress == 10 / 16  # the epochs end first
    assert clock(None, max_steps=40).progress == 0.25 and clock("5 steps").done
    now = [100.0]  # a fake perf_counter: no timing in tests
    monkeypatch.setattr(train.time, "perf_counter", lambda: now[0])
    timed = clock("1m")
    now[0] += 2.0  # two seconds of training
    with timed.paused():
        now[0] += 50.0  # validation and a checkpoint write: not charged
    timed.tick(16)
    assert state.train_time_s == 32.0 and state.step == 11 and state.images == 176
    assert state.wall_time_s == 52.0


def test_resume_writes_back_a_config_json_that_no_longer_says_what_the_checkpoint_holds(tmp_path, capsys):
    from noise2noise import errors
    from noise2noise.train import _restore_config_json

    cfg, path = TrainConfig(width=8, depth=2, lr=0.002), tmp_path / "config.json"
    path.write_text(json.dumps({**cfg.to_dict(), "code_version": "abc123"}))
    before = path.read_text()
    _restore_config_json(path, cfg, "f00d")  # as written by the run: left alone
    assert path.read_text() == before and capsys.readouterr().err == ""
    for edited in (json.dumps({**cfg.to_dict(), "width": 16, "code_version": "abc123"}), "{broken", "[1, 2]"):
        errors.say_once.cache_clear()
        path.write_text(edited)
        _restore_config_json(path, cfg, "f00d")
        restored = json.loads(path.read_text())
        assert restored.pop("code_version") in ("abc123", checkpoint.code_version())
        assert restored["data_fingerprint"] == "f00d"  # what the resumed run checks its data against
        assert TrainConfig.from_dict(restored) == cfg
        assert "written back from the checkpoint" in capsys.readouterr().err


@pytest.mark.parametrize("cfg, out_dir, message", [
    (TrainConfig(), "", "out_dir='' is not a folder path"),  # wrote the run into the current folder
    ({"epochs": 1}, None, "expected a TrainConfig (TrainConfig.from_dict(d) for a dict), got dict"),
    (None, None, "expected a TrainConfig (TrainConfig.from_dict(d) for a dict), got NoneType"),  # not resuming
])
def test_run_training_refuses_what_is_not_a_config_or_a_folder_before_any_work(tmp_path, monkeypatch, cfg, out_dir,
                                                                               message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(N2NError, match=re.escape(message)):
        run_training(cfg, out_dir)
    assert list(tmp_path.iterdir()) == []


def test_load_model_takes_a_shipped_models_name_and_load_course_file_names_a_folder(tmp_path):
    from noise2noise.data import load_course_file

    network, payload = checkpoint.load_model("gaussian")
    assert network.in_channels == 3 and payload["format"] == checkpoint.FORMAT
    with pytest.raises(N2NError, match="a folder; give a course file"):
        load_course_file(tmp_path)
    with pytest.raises(N2NError, match="expected a file's path, got ''"):
        load_course_file("")


def test_a_run_started_before_a_setting_was_refused_still_resumes(tmp_path, photo_folder, monkeypatch):
    import noise2noise.data
    from noise2noise.cli import main

    cfg = TrainConfig(data=str(photo_folder), pairs_per_epoch=8, width=8, depth=2, val_patches=4, val_fraction=0.4,
                      time_budget="1 steps", eval_every_s=0, checkpoint_every_s=0, device="cpu")
    with monkeypatch.context() as older:  # as a version before the epoch-below-the-batch rule took it
        older.setattr(noise2noise.data, "refuse_unused_settings", lambda cfg, pairs: None)
        run_training(cfg, tmp_path / "run", progress=False)
    with pytest.raises(N2NError, match="an epoch holds 8 pairs, so batch_size=32 would not be used"):
        run_training(cfg, tmp_path / "new", progress=False)  # a new run is refused
    # and the old one continues: --resume cannot change the settings the message would ask for
    assert main(["train", "--resume", "--out", str(tmp_path / "run"), "--time-budget", "2 steps", "--quiet"]) == 0
    assert json.loads((tmp_path / "run" / "results.json").read_text())["steps"] == 2
