"""The model zoo: shipped models by name, their configs, and their float16 weights."""

import importlib
import sys
from pathlib import Path

import pytest
import torch

from noise2noise import Model, checkpoint, zoo
from noise2noise.cli import main
from noise2noise.config import TrainConfig
from noise2noise.denoise import denoise_tensor
from noise2noise.errors import N2NError
from noise2noise.metrics import psnr_db
from noise2noise.unet import UNet
from noise2noise.zoo import DEFAULT_MODEL, MODELS, pack_weights, resolve_model

ROOT = Path(__file__).resolve().parents[1]
# measured when the shipped weights were packed (stage 7): mean 0.008, max 0.036 grey levels on
# this crop; mean 0.012, max 0.124 on the whole astronaut, chelsea and coffee at sigma 25
FLOAT16_MEAN_TOLERANCE = 0.05  # grey levels (of 255)


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_has_a_valid_training_config_and_a_train_command(name):
    model = MODELS[name]
    cfg = TrainConfig.from_file(ROOT / model.config)
    first = model.runs[0]
    assert model.train_command.startswith(f"n2n train --config models/{first}.toml --out runs/{first}")
    assert model.train_command.endswith(f"n2n train --config {model.config} --out {Path(model.run_checkpoint).parent}")
    for index, stage in enumerate(model.configs):  # each later run starts from the one before, packed
        init_weights = TrainConfig.from_file(ROOT / stage).init_weights
        assert init_weights == (model.packed_stage(index - 1) if index else None), stage
        if index:
            assert f"'{model.packed_stage(index - 1)}'); n2n train --config {stage} " in model.train_command
    assert cfg.noise in model.noise.lower()
    assert model.training and model.hardware and model.psnr


@pytest.mark.parametrize("name", [name for name, model in MODELS.items() if model.trained])
def test_shipped_weights_are_float16_loaded_as_float32_and_match_their_config(name):
    model = MODELS[name]
    payload = torch.load(model.weights, map_location="cpu", weights_only=True)
    assert {v.dtype for v in payload["model"].values()} == {torch.float16}
    assert "optimizer" not in payload and model.weights.stat().st_size < 2.2e6
    network, _ = checkpoint.load_model(resolve_model(name))
    assert all(p.dtype == torch.float32 for p in network.parameters())
    trained_with = TrainConfig.from_dict(payload["config"])
    config = TrainConfig.from_file(ROOT / model.config)
    # the file names where the previous stage is packed and where the photos are; a run may have
    # read the same weights and photos elsewhere (a GPU machine holds its own copy)
    assert (config.init_weights is None) == (trained_with.init_weights is None)
    assert Path(config.data).name == Path(trained_with.data).name
    assert config.replace(precision=trained_with.precision, init_weights=trained_with.init_weights,
                          data=trained_with.data) == trained_with
    assert f"{payload['step']:,} steps" in model.training
    assert f"{round(payload['train_time_s'] / 60)} min" in model.training


def test_float16_weights_denoise_as_the_float32_ones_did():
    reference = torch.load(ROOT / "tests" / "data" / "gaussian_fp32_reference.pt", weights_only=True)
    network, _ = checkpoint.load_model(resolve_model("gaussian"))
    # the reference was denoised by the float32 weights without the reflected border
    denoised = denoise_tensor(network, reference["noisy"][None], device=torch.device("cpu"), border_px=0,
                              mean_match=None)[0]
    difference = (denoised - reference["denoised_fp32"]).abs()
    assert difference.mean() < FLOAT16_MEAN_TOLERANCE and difference.max() < 0.5
    assert (reference["denoised_fp32"] - reference["noisy"].float()).abs().mean() > 5  # it denoises


def test_pack_weights_halves_the_weights_keeps_the_record_and_refuses_to_overwrite(tmp_path):
    torch.manual_seed(0)
    net = UNet(3, 3, width=8, depth=2)
    full = checkpoint.save(tmp_path / "checkpoint.pt", net, TrainConfig(width=8, depth=2), step=7,
                           optimizer={"state": {}}, finished=True)
    packed = pack_weights(full, tmp_path / "packed.pt")
    payload = torch.load(packed, weights_only=True)
    assert payload["step"] == 7 and "optimizer" not in payload and payload["config"]["width"] == 8
    restored, _ = checkpoint.load_model(packed)
    for (name, mine), theirs in zip(net.state_dict().items(), restored.state_dict().values()):
        torch.testing.assert_close(theirs, mine.half().float(), msg=name)
    with pytest.raises(N2NError, match="already exists; pass --overwrite"):
        pack_weights(full, packed)
    # float16=False drops the same states and keeps every weight exactly
    kept = torch.load(pack_weights(full, tmp_path / "fp32.pt", float16=False), weights_only=True)
    assert "optimizer" not in kept and kept["step"] == 7
    for name, mine in net.state_dict().items():
        assert torch.equal(kept["model"][name], mine), name


@pytest.fixture()
def only_gaussian_shipped(tmp_path, monkeypatch):
    """A copy of the package that ships the weights of `gaussian` alone: the other models
    are listed with their train commands, as not trained yet."""
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "gaussian.pt").write_bytes(MODELS["gaussian"].weights.read_bytes())
    monkeypatch.setattr(zoo, "WEIGHTS_DIR", weights)
    return sorted(name for name in MODELS if name != "gaussian")


def test_names_and_paths_resolve_and_unknown_ones_say_what_exists(only_gaussian_shipped):
    assert resolve_model(None) == resolve_model(DEFAULT_MODEL) == MODELS[DEFAULT_MODEL].weights
    assert resolve_model(str(MODELS["gaussian"].weights)) == MODELS["gaussian"].weights
    with pytest.raises(N2NError, match=r"gaussain: no such checkpoint file, nor a shipped model .* one of gaussian"):
        resolve_model("gaussain")
    assert only_gaussian_shipped  # the zoo lists more models than this copy ships
    for name in only_gaussian_shipped:
        with pytest.raises(N2NError, match=rf"'{name}' is not trained yet; train it with `n2n train --config"):
            resolve_model(name)


def test_cli_lists_models_and_takes_names(tmp_path, capsys, photo, only_gaussian_shipped):
    import imageio.v3 as iio

    code, out, err = run(capsys, "models")
    assert code == 0, err
    assert out.startswith("gaussian\n") and "PSNR:" in out and "models/gaussian.toml" in out
    assert "not trained yet" in out and "n2n train --config models/poisson.toml" in out
    iio.imwrite(tmp_path / "noisy.png", photo[:37, :31])
    code, out, err = run(capsys, "denoise", tmp_path / "noisy.png", "-o", tmp_path / "clean.png", "--model",
                         "gaussian", "--device", "cpu", "--quiet")
    assert code == 0 and iio.imread(tmp_path / "clean.png").shape == (37, 31, 3), err
    code, _, err = run(capsys, "denoise", tmp_path / "noisy.png", "-o", tmp_path / "c2.png", "--model", "poisson")
    assert code == 2 and "'poisson' is not trained yet" in err and len(err.strip().splitlines()) == 1


def test_a_shipped_name_beside_a_checkpoint_of_that_name_is_refused_as_ambiguous(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "gaussian").mkdir()  # the user's run folder (n2n train --out gaussian)
    (tmp_path / "gaussian" / "checkpoint.pt").write_bytes(MODELS["gaussian"].weights.read_bytes())
    with pytest.raises(N2NError, match=r"--model gaussian: names a shipped model, and there is a run folder "
                                       r"./gaussian here too; write ./gaussian for that one"):
        resolve_model("gaussian")  # was: the shipped model, without a word
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "gaussian").write_text("sigma 25 on the left\n")  # a text file is no checkpoint
    monkeypatch.chdir(tmp_path / "notes")
    with pytest.raises(N2NError, match=r"and there is a file ./gaussian here too"):  # said it 'holds a checkpoint'
        resolve_model("gaussian")
    monkeypatch.chdir(tmp_path)
    assert resolve_model("./gaussian") == Path("gaussian/checkpoint.pt")
    assert resolve_model(None) == MODELS["gaussian"].weights  # no name given: the shipped default
    (tmp_path / "gaussian" / "checkpoint.pt").unlink()  # a folder of denoised photos of that name is no model
    assert resolve_model("gaussian") == MODELS["gaussian"].weights


def test_fine_tuning_from_an_untrained_shipped_model_says_how_to_train_it(tmp_path, capsys, photo_folder,
                                                                          only_gaussian_shipped):
    code, _, err = run(capsys, "train", "--data", photo_folder, "--init-weights", "poisson", "--out",
                       tmp_path / "run", "--time-budget", "1 steps", "--quiet")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    poisson = MODELS["poisson"]  # trained in four stages: the message gives each
    assert (f"shipped model 'poisson' is not trained yet; train it with `{poisson.train_command}` and pass "
            f"--init-weights {poisson.run_checkpoint}") in err
    assert "models/poisson.toml" in err and "models/poisson.stage4.toml --out runs/poisson.stage4" in err
    assert not (tmp_path / "run").exists()


def test_the_course_api_loads_shipped_models_by_name():
    model = Model()
    model.load_pretrained_model("gaussian")
    out = model.predict(torch.randint(0, 256, (1, 3, 37, 31), dtype=torch.uint8))
    assert out.shape == (1, 3, 37, 31)
    with pytest.raises(N2NError, match="no such checkpoint file, nor a shipped model"):
        model.load_pretrained_model("no-such-model")


def test_the_course_folder_loads_its_bestmodel_pth_or_else_the_shipped_weights(tmp_path, monkeypatch):
    import shutil

    folder = tmp_path / "Miniproject_1"
    shutil.copytree(ROOT / "examples" / "ee559" / "Miniproject_1", folder)
    assert not (folder / "bestmodel.pth").exists()  # the weights are stored once, in the package
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("Miniproject_1.model", None)
    sys.modules.pop("Miniproject_1", None)
    module = importlib.import_module("Miniproject_1.model")
    model = module.Model()
    model.load_pretrained_model()
    shipped = checkpoint.load_model(resolve_model("gaussian"))[0].state_dict()
    assert all(torch.equal(model.model.state_dict()[k].cpu(), v) for k, v in shipped.items())
    torch.manual_seed(1)
    checkpoint.save(folder / "bestmodel.pth", UNet(3, 3, width=8, depth=2), TrainConfig(width=8, depth=2))
    model.load_pretrained_model()  # a bestmodel.pth of one's own wins
    assert model.model.width == 8
    sys.modules.pop("Miniproject_1.model", None)
    sys.modules.pop("Miniproject_1", None)


def _grey_psnr_db(path, clean) -> float:
    import imageio.v3 as iio

    return psnr_db(torch.from_numpy(iio.imread(path) / 255.0)[None], torch.from_numpy(clean / 255.0)[None])


def test_greyscale_files_go_to_the_greyscale_model_unless_one_is_named(tmp_path, capsys, photo):
    """An RGB network tells noise by its independence across channels: a grey image repeated
    into RGB kept its noise (20.75 against 20.39 dB noisy at sigma 25 on 16 photos)."""
    import imageio.v3 as iio
    import numpy as np

    clean = photo.astype(np.float64) @ [0.299, 0.587, 0.114]
    noisy = np.clip(np.round(clean + 25 * np.random.default_rng(0).standard_normal(clean.shape)), 0, 255)
    iio.imwrite(tmp_path / "grey.png", noisy.astype(np.uint8))
    code, _, err = run(capsys, "denoise", tmp_path / "grey.png", "-o", tmp_path / "default.png", "--quiet")
    assert code == 0 and "warning" not in err, err
    code, _, err = run(capsys, "denoise", tmp_path / "grey.png", "-o", tmp_path / "rgb.png", "--model", "gaussian",
                       "--quiet")
    assert code == 0 and "grey.png: greyscale through an RGB model" in err and "--model gaussian-gray" in err
    noisy_db, rgb_db = _grey_psnr_db(tmp_path / "grey.png", clean), _grey_psnr_db(tmp_path / "rgb.png", clean)
    assert _grey_psnr_db(tmp_path / "default.png", clean) > noisy_db + 5 > rgb_db + 3


def test_a_grey_photo_saved_as_rgb_goes_to_the_greyscale_model_and_comes_back_rgb(tmp_path, capsys, photo):
    """R = G = B in every pixel: the RGB network would keep its noise (20.24 against 20.22 dB
    noisy, found by a hunt), so it is a greyscale image, whatever its file's channel count."""
    import imageio.v3 as iio
    import numpy as np

    clean = photo.astype(np.float64) @ [0.299, 0.587, 0.114]
    noisy = np.clip(np.round(clean + 25 * np.random.default_rng(0).standard_normal(clean.shape)), 0, 255)
    iio.imwrite(tmp_path / "grey-rgb.png", np.repeat(noisy.astype(np.uint8)[:, :, None], 3, axis=2))
    for model in ([], ["--model", "gaussian-gray"]):  # the default routing, and the grey model named
        code, _, err = run(capsys, "denoise", tmp_path / "grey-rgb.png", "-o", tmp_path / "out.png", "--quiet",
                           "--overwrite", *model)
        assert code == 0 and "warning" not in err, err
        out = iio.imread(tmp_path / "out.png")
        assert out.shape == (*noisy.shape, 3) and (out == out[:, :, :1]).all()  # RGB, still grey
        assert _grey_psnr_db(tmp_path / "out.png", clean[:, :, None].repeat(3, axis=2)) > \
            _grey_psnr_db(tmp_path / "grey-rgb.png", clean[:, :, None].repeat(3, axis=2)) + 5
    code, _, err = run(capsys, "denoise", tmp_path / "grey-rgb.png", "-o", tmp_path / "rgb.png", "--model",
                       "gaussian", "--quiet")
    assert code == 0 and "grey-rgb.png: greyscale through an RGB model" in err


def test_a_numpy_archive_given_as_a_model_says_what_it_is(tmp_path):
    import numpy as np

    from noise2noise import checkpoint

    np.savez(tmp_path / "weights.npz", w=np.zeros(3))
    with pytest.raises(N2NError, match=r"weights.npz: not a safe noise2noise checkpoint: a zip archive without "
                                       r"data.pkl \(a NumPy .npz\?\)"):
        checkpoint.load(tmp_path / "weights.npz")
