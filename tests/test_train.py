import json

import pytest
import torch

from noise2noise import checkpoint
from noise2noise.config import TrainConfig
from noise2noise.data import SyntheticPairs
from noise2noise.errors import N2NError
from noise2noise.images import embedded_images
from noise2noise.noise import GaussianNoise
from noise2noise.train import fit, run_training

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
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(tensor, result.model.state_dict()[name].cpu())


def test_an_existing_run_folder_is_never_silently_overwritten(tmp_path, photo_folder):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "keep.txt").write_text("precious")
    cfg = TrainConfig(**TINY, data=str(photo_folder), time_budget=None, epochs=1, pairs_per_epoch=16)
    with pytest.raises(N2NError, match="folder exists and is not empty"):
        run_training(cfg, tmp_path / "run", progress=False)
    assert (tmp_path / "run" / "keep.txt").read_text() == "precious"


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
