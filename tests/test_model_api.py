"""The course API: Model(), load_pretrained_model(), train(), predict()."""

import importlib
import sys
from pathlib import Path

import pytest
import torch

from noise2noise import Model
from noise2noise.data import SyntheticPairs
from noise2noise.denoise import denoise_tensor
from noise2noise.errors import N2NError, say_once
from noise2noise.images import embedded_images
from noise2noise.metrics import psnr_db
from noise2noise.noise import GaussianNoise

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "ee559"


def test_model_takes_no_arguments_and_predicts_any_size_in_0_255():
    model = Model()
    for shape in [(1, 3, 37, 31), (4, 3, 32, 32)]:
        noisy = torch.randint(0, 256, shape, dtype=torch.uint8)
        out = model.predict(noisy)
        assert out.shape == shape and out.dtype == torch.float32
        assert 0 <= out.min() and out.max() <= 255


def test_train_accepts_uint8_pairs_and_improves_the_loss_to_the_clean_image():
    noise = GaussianNoise((25.0, 25.0), clip=True)
    clean = SyntheticPairs(embedded_images("test")[:1], noise, 32, 1).crops(96, torch.Generator().manual_seed(0))
    generator = torch.Generator().manual_seed(1)
    noisy_1 = (noise(clean.float() / 255, generator) * 255).round().to(torch.uint8)
    noisy_2 = (noise(clean.float() / 255, generator) * 255).round().to(torch.uint8)
    model = Model()
    model.config = model.config.replace(batch_size=8, device="cpu")
    before = psnr_db(model.predict(noisy_1) / 255, clean.float() / 255)
    model.train(noisy_1, noisy_2, num_epochs=4)
    after = psnr_db(model.predict(noisy_1) / 255, clean.float() / 255)
    assert after > before + 3


def _course_model(**changes) -> Model:
    model = Model()
    model.config = model.config.replace(batch_size=8, device="cpu", precision="fp32", **changes)
    return model


def test_training_goes_on_across_calls_n_calls_of_one_epoch_equal_one_of_n(course_pairs):
    """Adam's moments, the step count and the random streams carry over between train() calls."""
    once, thrice = _course_model(), _course_model()
    once.train(*course_pairs, num_epochs=3)
    for _ in range(3):
        thrice.train(*course_pairs, num_epochs=1)
    assert once.state.step == thrice.state.step == 9  # 20 pairs, batch 8: 3 steps per epoch
    for name, tensor in once.model.state_dict().items():
        torch.testing.assert_close(thrice.model.state_dict()[name], tensor, rtol=0, atol=1e-6)


def test_each_call_trains_its_own_epochs_whatever_the_calls_before_held(course_pairs):
    model = _course_model()
    model.train(course_pairs[0][:12], course_pairs[1][:12], num_epochs=1)  # 12 pairs, batch 8: 2 steps
    model.train(*course_pairs, num_epochs=1)  # 20 pairs: 3 more (2 + ceil(2/3) epochs = 4 steps, before)
    assert model.state.step == 5
    model.train(course_pairs[0][:4], course_pairs[1][:4], num_epochs=2)  # 4 pairs: 2 more
    assert model.state.step == 7


def test_predict_uses_the_weight_average(course_pairs):
    model = _course_model(ema=0.5)
    model.train(*course_pairs, num_epochs=1)
    assert model.network is model.state.ema.module
    noisy = course_pairs[0][:2]
    torch.testing.assert_close(model.predict(noisy), denoise_tensor(model.state.ema.module, noisy))


def test_train_rejects_mismatched_pairs_with_one_line():
    with pytest.raises(N2NError, match="differ in shape"):
        Model().train(torch.zeros(4, 3, 32, 32), torch.zeros(3, 3, 32, 32), 1)


@pytest.mark.parametrize("num_epochs", [0, -1, None, 1.5, float("nan"), float("inf"), "2", True])
def test_train_refuses_a_num_epochs_that_is_not_a_whole_number_of_one_or_more(num_epochs):
    with pytest.raises(N2NError, match=r"train\(\): num_epochs=.* must be a whole number of epochs, 1 or more"):
        Model().train(torch.zeros(4, 3, 32, 32), torch.zeros(4, 3, 32, 32), num_epochs)


def test_images_in_0_1_are_warned_about_and_meta_tensors_refused(capsys):
    from noise2noise import errors

    errors.say_once.cache_clear()  # once per process and place: another test may have warned
    model = Model()
    model.predict(torch.rand(2, 3, 32, 32))
    model.predict(torch.rand(2, 3, 32, 32))
    err = capsys.readouterr().err
    assert err.count("every value lies in 0..1, but n2n takes images in 0..255 (multiply them by 255)") == 1
    model.predict(torch.rand(2, 3, 32, 32) * 255)
    assert capsys.readouterr().err == ""
    with pytest.raises(N2NError, match=r"found -[0-9.]*\.\.[0-9.]* \(they look like images in -1..1: map them with"):
        model.predict(torch.rand(2, 3, 32, 32) * 2 - 1)  # a GAN's habit: × 255, as it said, is no fix
    with pytest.raises(N2NError, match=r"got shape \(2, 1, 32, 32\); repeat grey images to 3 channels: images.expand"):
        model.predict(torch.rand(2, 1, 32, 32) * 255)  # it said what was wrong, not what to do
    with pytest.raises(N2NError, match=r"shape \(0, 3, 32, 32\) holds no pixels"):
        model.predict(torch.rand(0, 3, 32, 32))  # it said C = 3 of a tensor with 3 channels
    denoise_tensor(model.network, torch.rand(2, 3, 32, 32) * 2 - 1)  # the wider range of noisy tensors: a warning
    assert "every value lies in -1..1, but n2n takes images in 0..255 (map -1..1 onto it: (x + 1) × 127.5)" in \
        capsys.readouterr().err
    with pytest.raises(N2NError, match="a tensor on the 'meta' device holds no pixel values"):
        model.predict(torch.empty(1, 3, 32, 32, device="meta"))


def test_load_pretrained_model_takes_a_name_a_checkpoint_or_a_run_folder(tmp_path):
    from noise2noise import checkpoint
    from noise2noise.config import TrainConfig
    from noise2noise.unet import UNet

    with pytest.raises(N2NError, match="model 5: expected a shipped model's name or a checkpoint file's path"):
        Model().load_pretrained_model(5)
    with pytest.raises(N2NError, match="a folder without a checkpoint.pt"):
        Model().load_pretrained_model(str(tmp_path))
    torch.manual_seed(0)
    network = UNet(3, 3, width=8, depth=2)
    checkpoint.save(tmp_path / "checkpoint.pt", network, TrainConfig(width=8, depth=2))
    model = Model()
    model.load_pretrained_model(str(tmp_path))  # a run folder (n2n train --out) stands for its checkpoint.pt
    torch.testing.assert_close(model.model.ENC_CONV0.weight, network.ENC_CONV0.weight)


def test_pretrained_model_denoises_a_held_out_photo():
    model = Model()
    model.load_pretrained_model()
    clean = embedded_images("test")[1][1][:, :128, :160].unsqueeze(0).float()
    noisy = GaussianNoise((25.0, 25.0))(clean / 255, torch.Generator().manual_seed(0)) * 255
    denoised = model.predict(noisy)
    assert psnr_db(denoised / 255, clean / 255) > psnr_db(noisy / 255, clean / 255) + 5


def test_a_network_told_sigma_is_refused_by_the_course_model(tmp_path):
    from noise2noise import checkpoint
    from noise2noise.config import TrainConfig
    from noise2noise.unet import UNet

    path = checkpoint.save(tmp_path / "told.pt", UNet(3, 3, width=8, depth=2, sigma_input=True),
                           TrainConfig(width=8, depth=2, sigma_input=True))
    with pytest.raises(N2NError, match=r"told.pt: this network is told the noise level .sigma_input."):
        Model().load_pretrained_model(str(path))


def test_course_harness_layout_imports_and_loads_bestmodel(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))
    sys.modules.pop("Miniproject_1.model", None)
    module = importlib.import_module("Miniproject_1.model")
    model = module.Model()
    model.load_pretrained_model()
    out = model.predict(torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8))
    assert out.shape == (2, 3, 32, 32)


def test_model_leaves_the_callers_random_stream_alone_and_starts_from_the_same_weights():
    torch.manual_seed(42)
    first = Model()
    drawn = torch.rand(3)
    torch.manual_seed(7)
    second = Model()
    assert not torch.equal(torch.rand(3), drawn)  # Model() had reseeded the global generator to 0
    for name, tensor in first.model.state_dict().items():
        assert torch.equal(second.model.state_dict()[name], tensor)


def test_train_writes_no_gradient_into_the_callers_tensors_and_predict_warns_before_training(capsys):
    model = _course_model()
    say_once.cache_clear()  # the line is said once a process: another test may have said it
    noisy = torch.rand(8, 3, 32, 32) * 255
    model.predict(noisy[:1])
    assert "neither been trained nor loaded" in capsys.readouterr().err
    given = noisy.clone().requires_grad_()
    model.train(given, noisy.flip(0), num_epochs=1)
    assert given.grad is None and torch.equal(given.detach(), noisy)
    model.predict(noisy[:1])
    assert "neither" not in capsys.readouterr().err


def test_train_names_the_course_models_one_channel_count_and_refuses_epochs_past_a_step_count():
    model = _course_model()
    four = torch.rand(8, 4, 32, 32) * 255
    with pytest.raises(N2NError, match=r"expected N×C×H×W images with C = 3, got shape \(8, 4, 32, 32\)"):
        model.train(four, four, num_epochs=1)
    three = four[:, :3]
    with pytest.raises(N2NError, match="more steps than a run counts"):
        model.train(three, three.flip(0), num_epochs=10**30)


def test_images_in_0_1_with_noise_past_0_are_told_to_be_scaled():
    noisy = torch.rand(2, 3, 16, 16) * 1.2 - 0.1
    with pytest.raises(N2NError, match=r"they look like images in 0..1 with noise: multiply them by 255"):
        _course_model().predict(noisy)


def test_a_trained_model_is_saved_as_a_checkpoint_that_loads_back(tmp_path):
    model = _course_model()
    noisy = torch.rand(8, 3, 32, 32) * 255
    model.train(noisy, noisy.flip(0), num_epochs=1)
    path = model.save(tmp_path / "bestmodel.pth")  # the course folder's file; there was no way to write it
    again = Model()
    again.load_pretrained_model(str(path))
    torch.testing.assert_close(again.predict(noisy[:2]), model.predict(noisy[:2]))
    with pytest.raises(N2NError, match=r"bestmodel.pth: already exists; save\(path, overwrite=True\) replaces it"):
        model.save(path)
    model.save(path, overwrite=True)
    with pytest.raises(N2NError, match="unknown suffix '.pkl'"):
        model.save(tmp_path / "weights.pkl")
    torch.save(model.network.state_dict(), tmp_path / "state.pth")  # what a student tries first
    with pytest.raises(N2NError, match="not a noise2noise checkpoint .* from the course Model with model.save"):
        Model().load_pretrained_model(str(tmp_path / "state.pth"))
