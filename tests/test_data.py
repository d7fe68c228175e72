import pickle
from pathlib import Path

import pytest
import torch

from noise2noise.data import Generators, SyntheticPairs, TensorPairs, export_course, load_course_file, split_by_image
from noise2noise.errors import N2NError
from noise2noise.images import load_folder
from noise2noise.noise import GaussianNoise

CPU = torch.device("cpu")


class _RunsCode:
    """Unpickling this would create a file: the attack weights_only must stop."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_course_file_round_trip(tmp_path, course_pairs):
    torch.save(course_pairs, tmp_path / "train_data.pkl")
    noisy_1, noisy_2 = load_course_file(tmp_path / "train_data.pkl")
    assert torch.equal(noisy_1, course_pairs[0]) and torch.equal(noisy_2, course_pairs[1])


@pytest.mark.parametrize("content,message", [
    ((torch.zeros(4, 3, 32, 32), torch.zeros(4, 3, 32, 30)), "differ in shape"),
    ((torch.zeros(4, 3, 32, 32), torch.zeros(5, 3, 32, 32)), "differ in shape"),
    ((torch.zeros(4, 2, 32, 32), torch.zeros(4, 2, 32, 32)), "expected N×C×H×W images"),
    ((torch.zeros(3, 32, 32), torch.zeros(3, 32, 32)), "expected N×C×H×W images"),
    ((torch.full((2, 3, 8, 8), 300.0), torch.zeros(2, 3, 8, 8)), "values must lie in 0..255"),
    ((torch.full((2, 3, 8, 8), float("nan")), torch.zeros(2, 3, 8, 8)), "NaN"),
    ((torch.zeros(2, 3, 8, 8, dtype=torch.int64), torch.zeros(2, 3, 8, 8)), "expected uint8 or float"),
    ({"noisy": torch.zeros(1)}, "expected a pair of tensors"),
])
def test_bad_course_files_get_one_line_naming_the_file(tmp_path, content, message):
    path = tmp_path / "train_data.pkl"
    torch.save(content, path)
    with pytest.raises(N2NError, match=message) as error:
        load_course_file(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_a_malicious_pickle_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "train_data.pkl"
    path.write_bytes(pickle.dumps((_RunsCode(marker), _RunsCode(marker))))
    with pytest.raises(N2NError, match="refused to load"):
        load_course_file(path)
    assert not marker.exists()


def test_tensor_pairs_shuffle_together_and_cover_an_epoch(course_pairs):
    a = torch.arange(20, dtype=torch.float32).view(20, 1, 1, 1).expand(20, 3, 2, 2).contiguous()
    pairs = TensorPairs(a, a.clone())
    batches = list(pairs.batches(6, Generators.seeded(0, CPU)))
    assert [b[0].shape[0] for b in batches] == [6, 6, 6, 2]
    inputs = torch.cat([b[0] for b in batches])
    assert torch.equal(inputs, torch.cat([b[1] for b in batches]))  # pairs stay aligned
    assert sorted((inputs[:, 0, 0, 0] * 255).round().tolist()) == list(range(20))
    assert not torch.equal(inputs[:, 0, 0, 0] * 255, torch.arange(20.0))  # shuffled


def test_synthetic_pairs_are_two_independent_draws_of_fresh_noise(photo_folder):
    images = load_folder(photo_folder)
    pairs = SyntheticPairs(images, GaussianNoise((25.0, 25.0), clip=False), crop_px=32, pairs_per_epoch=40)
    gens = Generators.seeded(0, CPU)
    epoch_1 = list(pairs.batches(16, gens))
    epoch_2 = list(pairs.batches(16, gens))
    assert [x.shape for x, _ in epoch_1] == [(16, 3, 32, 32), (16, 3, 32, 32), (8, 3, 32, 32)]
    noisy_input, noisy_target = epoch_1[0]
    residual = (noisy_input - noisy_target) * 255  # difference of two N(0, 25²) draws
    assert residual.std().item() == pytest.approx(25 * 2**0.5, rel=0.05)
    assert not torch.equal(epoch_1[0][0], epoch_2[0][0])


def test_images_smaller_than_the_crop_are_named(photo_folder):
    with pytest.raises(N2NError, match=r"img0.png: image is 75×67 px, smaller than the 96 px crop"):
        SyntheticPairs(load_folder(photo_folder), GaussianNoise(), crop_px=96, pairs_per_epoch=4)


def test_split_by_image_is_disjoint_and_deterministic():
    items = list(range(20))
    train, val = split_by_image(items, 0.15)
    assert len(val) == 3 and not set(train) & set(val) and sorted(train + val) == items
    assert split_by_image(items, 0.15) == (train, val)


def test_export_course_writes_files_the_course_line_can_read(tmp_path, photo_folder):
    train_path, val_path = export_course(str(photo_folder), tmp_path / "out", pairs=30, val_pairs=7,
                                         crop_px=32, noise="gaussian", noise_level=(25.0, 25.0))
    noisy_1, noisy_2 = torch.load(train_path, weights_only=True)
    noisy, clean = torch.load(val_path, weights_only=True)
    assert noisy_1.shape == noisy_2.shape == (30, 3, 32, 32) and noisy_1.dtype == torch.uint8
    assert noisy.shape == clean.shape == (7, 3, 32, 32) and clean.dtype == torch.uint8
    assert not torch.equal(noisy_1, noisy_2)
    residual = noisy.float() - clean.float()
    assert 15 < residual.std().item() < 27  # sigma 25, clipped and rounded


def test_atomic_write_leaves_no_temp_file_and_usual_permissions(tmp_path):
    from noise2noise.images import atomic_write

    target = atomic_write(tmp_path / "out.txt", lambda tmp: tmp.write_text("done"))
    assert target.read_text() == "done" and oct(target.stat().st_mode & 0o777) != "0o600"
    with pytest.raises(RuntimeError):
        atomic_write(tmp_path / "out.txt", lambda tmp: (tmp.write_text("half"), (_ for _ in ()).throw(RuntimeError())))
    assert target.read_text() == "done" and [p.name for p in tmp_path.iterdir()] == ["out.txt"]
