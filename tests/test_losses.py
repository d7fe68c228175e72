import pytest
import torch

from noise2noise import checkpoint
from noise2noise.config import TrainConfig
from noise2noise.data import TensorPairs
from noise2noise.denoise import denoise_tensor
from noise2noise.errors import N2NError
from noise2noise.losses import HUBER_DELTA, LOSSES, l0_gamma, output_activation
from noise2noise.train import fit, run_training
from noise2noise.unet import build_model

TINY = dict(width=8, depth=2, batch_size=8, val_patches=8, time_budget=None, epochs=1, device="cpu")


def test_l0_gamma_anneals_from_two_to_zero_over_training():
    assert [l0_gamma(p) for p in (0.0, 0.25, 0.5, 1.0)] == [2.0, 1.5, 1.0, 0.0]
    prediction, target = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    gap = (prediction - target).abs()
    l0 = LOSSES["l0"]
    assert l0(prediction, target, 0.0).item() == pytest.approx(torch.mean((gap + 1e-8) ** 2).item())
    assert l0(prediction, target, 0.5).item() == pytest.approx(gap.mean().item())
    assert l0(prediction, target, 1.0).item() == pytest.approx(1.0)  # gamma 0: every error counts 1


def test_huber_is_quadratic_near_and_linear_far():
    zero = torch.zeros(1, 1, 1, 1)
    assert LOSSES["huber"](zero + 0.05, zero).item() == pytest.approx(0.5 * 0.05**2)
    assert LOSSES["huber"](zero + 0.5, zero).item() == pytest.approx(HUBER_DELTA * (0.5 - 0.5 * HUBER_DELTA))


def test_only_bce_asks_for_a_sigmoid_output():
    assert {name: output_activation(name) for name in LOSSES} == {
        "l2": "linear", "l1": "linear", "huber": "linear", "bce": "sigmoid", "l0": "linear"}


def test_bce_outputs_stay_in_0_1_through_checkpoint_and_inference(tmp_path, photo_folder):
    cfg = TrainConfig(**TINY, loss="bce", data=str(photo_folder), val_fraction=0.4, pairs_per_epoch=16)
    result = run_training(cfg, tmp_path / "run", progress=False)
    assert result.model.output == "sigmoid"
    model, payload = checkpoint.load_model(tmp_path / "run" / "checkpoint.pt")
    assert payload["model_args"]["output"] == "sigmoid" and model.output == "sigmoid"
    extreme = torch.randn(4, 3, 37, 31) * 50  # far outside the training range
    raw = model(extreme)
    assert raw.min() >= 0 and raw.max() <= 1
    out = denoise_tensor(model, torch.randint(0, 256, (2, 3, 37, 31)).float())
    assert out.shape == (2, 3, 37, 31) and 0 <= out.min() and out.max() <= 255


def test_bce_needs_clipped_targets_and_a_matching_network(course_pairs):
    with pytest.raises(N2NError, match="loss='bce' needs targets in \\[0, 1\\]: set clip = true"):
        TrainConfig(loss="bce", clip=False)
    with pytest.raises(N2NError, match="needs a network with a sigmoid output"):
        fit(TrainConfig(**TINY, loss="bce"), TensorPairs(*course_pairs), model=build_model("unet", 3, 3, 8, 2),
            progress=False)


def test_old_checkpoints_without_an_output_entry_load_linear(tmp_path):
    model = build_model("unet", 3, 3, 8, 2)
    path = checkpoint.save(tmp_path / "old.pt", model, TrainConfig(**TINY))
    payload = torch.load(path, weights_only=True)
    del payload["model_args"]["output"]
    torch.save(payload, path)
    assert checkpoint.load_model(path)[0].output == "linear"
