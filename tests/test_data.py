import pickle
import re
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from noise2noise.config import TrainConfig
from noise2noise.data import (
    FolderPairs,
    Generators,
    NeighborPairs,
    SyntheticPairs,
    TensorPairs,
    build_training_data,
    check_tensor,
    clean_images,
    export_course,
    load_course_file,
    load_pairs,
    load_tensor_pairs,
    paired_files,
    split_by_image,
    split_images,
    with_halved_copies,
)
from noise2noise.errors import N2NError
from noise2noise.images import load_folder
from noise2noise.noise import GaussianNoise, build_noise

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


@pytest.mark.parametrize("tensor,message", [
    (torch.full((1, 3, 4, 4), 255.00001), "values must lie in 0..255, found 255.000015..255.000015"),  # was 255..255
    (torch.full((1, 3, 4, 4), 255.4), "values must lie in 0..255, found 255.4..255.4"),  # not float32's 255.399994
    (torch.full((1, 3, 4, 4), 300.0), "values must lie in 0..255, found 300..300"),
    (torch.zeros(1, 3, 4, 4).to_sparse(), "x: a sparse_coo tensor; give a dense one"),  # was a traceback
])
def test_check_tensor_names_what_is_wrong_in_one_line(tensor, message):
    with pytest.raises(N2NError, match=re.escape(message)):
        check_tensor(tensor, "x")


def test_a_malicious_pickle_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "train_data.pkl"
    path.write_bytes(pickle.dumps((_RunsCode(marker), _RunsCode(marker))))
    with pytest.raises(N2NError, match="refused to load"):
        load_course_file(path)
    assert not marker.exists()


def test_tensor_pairs_shuffle_together_and_cover_an_epoch(course_pairs):
    a = torch.arange(20, dtype=torch.float32).view(20, 1, 1, 1).expand(20, 3, 2, 2).contiguous()
    pairs = TensorPairs(a, a + 100)  # the target: the input plus 100, so the pairs can be followed
    batches = list(pairs.batches(6, Generators.seeded(0, CPU)))
    assert [len(b) for b in batches] == [6, 6, 6, 2]
    inputs = torch.cat([b.noisy_input for b in batches])
    targets = torch.cat([b.noisy_target for b in batches])
    assert torch.allclose(inputs * 255 + 100, targets * 255, atol=1e-3)  # pairs stay aligned
    assert sorted((inputs[:, 0, 0, 0] * 255).round().tolist()) == list(range(20))
    assert not torch.equal(inputs[:, 0, 0, 0] * 255, torch.arange(20.0))  # shuffled


def test_synthetic_pairs_are_two_independent_draws_of_fresh_noise(photo_folder):
    images = load_folder(photo_folder)
    pairs = SyntheticPairs(images, GaussianNoise((25.0, 25.0), clip=False), crop_px=32, pairs_per_epoch=40)
    gens = Generators.seeded(0, CPU)
    epoch_1 = list(pairs.batches(16, gens))
    epoch_2 = list(pairs.batches(16, gens))
    assert [b.noisy_input.shape for b in epoch_1] == [(16, 3, 32, 32), (16, 3, 32, 32), (8, 3, 32, 32)]
    residual = (epoch_1[0].noisy_input - epoch_1[0].noisy_target) * 255  # difference of two N(0, 25²) draws
    assert residual.std().item() == pytest.approx(25 * 2**0.5, rel=0.05)
    assert not torch.equal(epoch_1[0].noisy_input, epoch_2[0].noisy_input)


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


def _write(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, image)


def _assert_aligned_inverse_pairs(source, crop_px: int) -> None:
    """Every pair is (crop, 255 - crop) at the same position: the two shots stay aligned."""
    batches = list(source.batches(8, Generators.seeded(0, CPU)))
    assert [len(b) for b in batches] == [8, 8]
    for batch in batches:
        assert batch.noisy_input.shape == (8, 3, crop_px, crop_px) and batch.target_mask is None
        torch.testing.assert_close(batch.noisy_target, 1 - batch.noisy_input)
    assert batches[0].noisy_input.std() > 0.05  # real photo content, not a flat image


def test_paired_folders_a_and_b_give_crops_at_the_same_position(tmp_path, photo):
    for i, (y, x) in enumerate([(0, 0), (40, 10), (60, 50)]):
        shot = photo[y : y + 61, x : x + 53]
        _write(tmp_path / "A" / f"scene{i}.png", shot)
        _write(tmp_path / "B" / f"scene{i}.png", 255 - shot)
    source = load_pairs(str(tmp_path), crop_px=32, pairs_per_epoch=16)
    assert isinstance(source, FolderPairs) and source.channels == 3
    _assert_aligned_inverse_pairs(source, 32)


def test_name_1_and_name_2_files_pair_up_in_one_folder(tmp_path, photo):
    for name, (y, x) in {"beach": (0, 0), "cat": (30, 20)}.items():
        _write(tmp_path / f"{name}_1.png", photo[y : y + 45, x : x + 47])
        _write(tmp_path / f"{name}_2.png", 255 - photo[y : y + 45, x : x + 47])
    assert [(a.name, b.name) for a, b in paired_files(tmp_path)] == [("beach_1.png", "beach_2.png"),
                                                                      ("cat_1.png", "cat_2.png")]
    _assert_aligned_inverse_pairs(load_pairs(str(tmp_path), crop_px=40, pairs_per_epoch=16), 40)


def test_training_on_a_folder_read_as_pairs_says_so(tmp_path, photo, capsys):
    for name in ("beach", "city"):
        _write(tmp_path / f"{name}_1.png", photo[:45, :47])
        _write(tmp_path / f"{name}_2.png", 255 - photo[:45, :47])
    source, val = build_training_data(TrainConfig(data=str(tmp_path), crop_px=32, width=8, depth=2))
    assert isinstance(source, FolderPairs) and val is None
    assert "read as 2 pair(s) of noisy shots" in capsys.readouterr().err


def test_a_folder_of_single_images_is_not_taken_for_pairs(photo_folder, tmp_path, photo):
    assert paired_files(photo_folder) is None and load_pairs(str(photo_folder), 32, 8) is None
    for name in ("img_1", "img_2", "img_3"):  # numbered photos are not pairs
        _write(tmp_path / f"{name}.png", photo[:40, :40])
    assert paired_files(tmp_path) is None


@pytest.mark.parametrize("layout,message", [
    ({"A/x.png": 40, "B/x.png": 40, "A/y.png": 40}, r"A/y.png: no partner .*B/y.png"),
    ({"A/x.png": 40, "B/x.png": 40, "B/z.png": 40}, r"B/z.png: no partner .*A/z.png"),
    ({"x_1.png": 40, "x_2.png": 40, "y_2.png": 40}, r"y_2.png: no partner .*y_1\.\*"),
    ({"A/x.png": 40, "B/x.png": 36}, r"B/x.png: 40×36×3 \(W×H×C\) but its partner .*A/x.png is 40×40×3"),
    ({"x_1.png": 40, "x_2.jpg": 38}, r"x_2.jpg: 40×38×3 .* partner .*x_1.png"),
])
def test_missing_partners_and_mismatched_pairs_are_one_line_naming_the_file(tmp_path, photo, layout, message):
    for name, height in layout.items():
        _write(tmp_path / name, photo[:height, :40])
    with pytest.raises(N2NError, match=message) as error:
        build_training_data(TrainConfig(data=str(tmp_path)))
    assert "\n" not in str(error.value)


def test_tensor_pairs_from_npz_and_pt(tmp_path, course_pairs):
    np.savez(tmp_path / "pairs.npz", noisy_1=course_pairs[0].numpy(), noisy_2=course_pairs[1].numpy())
    torch.save(course_pairs, tmp_path / "pairs.pt")
    for name in ("pairs.npz", "pairs.pt"):
        source, val = build_training_data(TrainConfig(data=str(tmp_path / name)))
        assert isinstance(source, TensorPairs) and val is None
        assert torch.equal(source.noisy_input, course_pairs[0]) and torch.equal(source.noisy_target, course_pairs[1])
    np.savez(tmp_path / "three.npz", a=course_pairs[0].numpy(), b=course_pairs[1].numpy(), c=course_pairs[1].numpy())
    with pytest.raises(N2NError, match=r"three.npz: expected two arrays .* found 3: a, b, c"):
        load_tensor_pairs(tmp_path / "three.npz")


def test_noisy_pairs_train_only_in_noise2noise_mode(tmp_path, course_pairs):
    torch.save(course_pairs, tmp_path / "pairs.pt")
    with pytest.raises(N2NError, match=r"pairs.pt: holds pairs of noisy images, .* mode='noise2clean'"):
        build_training_data(TrainConfig(data=str(tmp_path / "pairs.pt"), mode="noise2clean"))
    with pytest.raises(N2NError, match="noisy_data=true needs mode='neighbor2neighbor'"):
        TrainConfig(noisy_data=True)


def test_noise2clean_trains_on_noisy_inputs_and_clean_targets(photo_folder):
    cfg = TrainConfig(data=str(photo_folder), mode="noise2clean", clip=False, pairs_per_epoch=16, batch_size=16,
                      val_patches=4)
    source, val = build_training_data(cfg)
    batch = next(source.batches(16, Generators.seeded(0, CPU)))
    noisy_input, clean_target = batch.noisy_input, batch.noisy_target
    pixels = clean_target * 255
    torch.testing.assert_close(pixels, pixels.round())  # exactly the 8-bit photo
    assert ((noisy_input - clean_target) * 255).std().item() == pytest.approx(25.0, rel=0.05)
    assert val[0].shape == (4, 3, 32, 32)  # validation against clean, as for noise2noise


def test_noise_level_power_skews_the_training_draws_and_leaves_validation_uniform(photo_folder):
    def levels(power):
        cfg = TrainConfig(data=str(photo_folder), noise_level=(0, 50), clip=False, pairs_per_epoch=512,
                          val_patches=8, noise_level_power=power)
        source, val = build_training_data(cfg)
        batch = next(source.batches(512, Generators.seeded(0, CPU)))
        # input and target each draw their own sigma: the difference's spread tracks both
        spreads = ((batch.noisy_input - batch.noisy_target) * 255).flatten(1).std(dim=1) / 2**0.5
        return spreads, val

    (uniform, val_uniform), (skewed, val_skewed) = levels(1.0), levels(3.0)
    assert skewed.median() < uniform.median() - 8
    assert torch.equal(val_uniform[0], val_skewed[0]) and torch.equal(val_uniform[1], val_skewed[1])


def test_halved_copies_are_2x2_means_and_stop_below_the_crop(photo):
    image = torch.from_numpy(photo).permute(2, 0, 1).contiguous()  # 3×128×128 uint8
    out = with_halved_copies([("a", image), ("b", image[:, :70, :90])], scales=3, crop_px=32)
    assert [name for name, _ in out] == ["a", "b", "a (1/2 size)", "a (1/4 size)", "b (1/2 size)"]
    half, quarter = out[2][1], out[3][1]
    assert half.shape == (3, 64, 64) and quarter.shape == (3, 32, 32) and half.dtype == torch.uint8
    torch.testing.assert_close(half[:, 5, 7].float(), image[:, 10:12, 14:16].float().mean(dim=(1, 2)),
                               atol=0.5, rtol=0)  # rounded back to 8 bits
    # b (70×90) halves to 35×45 (>= 32), then to 17×22, too small for the crop: left out
    assert out[4][1].shape == (3, 35, 45)
    assert with_halved_copies([("a", image)], scales=1, crop_px=32) == [("a", image)]
    # each copy keeps its own photo's dtype: a 16-bit photo (float) beside an 8-bit one stays float
    mixed = with_halved_copies([("a", image), ("f", image.float() + 0.25)], scales=2, crop_px=32)
    assert [copy.dtype for _, copy in mixed[2:]] == [torch.uint8, torch.float32]
    torch.testing.assert_close(mixed[3][1], half.float() + 0.25, atol=0.5, rtol=0)


def test_train_scales_adds_halved_photos_to_training_only(photo_folder, tmp_path):
    def built(scales, data=photo_folder, crop_px=32):
        return build_training_data(TrainConfig(data=str(data), pairs_per_epoch=8, batch_size=8, val_patches=4,
                                               crop_px=crop_px, train_scales=scales))

    (plain, val_plain), (scaled, val_scaled) = built(1), built(2)
    assert len(scaled.images) == 2 * len(plain.images)  # the 67×75 photos halve to 33×37
    assert torch.equal(val_plain[0], val_scaled[0]) and torch.equal(val_plain[1], val_scaled[1])
    # halves too small for the crop: train_scales 2 would add nothing, so it is refused
    with pytest.raises(N2NError, match=r"train_scales=2: halved 1 time\(s\), no training photo is still "
                                       r"crop_px=34 px on its short side \(the largest is 33 px\)"):
        built(2, crop_px=34)
    pairs = tmp_path / "pairs"
    pairs.mkdir()
    for i, shot in enumerate(["beach_1.png", "beach_2.png"]):
        iio.imwrite(pairs / shot, np.full((40, 40, 3), 100 + i, np.uint8))
    with pytest.raises(N2NError, match="holds pairs of noisy images; train_scales=2 halves clean photos only"):
        built(2, data=pairs)


def test_unclipped_targets_are_the_same_draws_before_the_clip_and_the_input_stays_clipped(photo_folder, tmp_path):
    def batch(clip_targets):
        cfg = TrainConfig(data=str(photo_folder), noise_level=50, pairs_per_epoch=64, val_patches=4,
                          clip_targets=clip_targets)
        return next(build_training_data(cfg)[0].batches(64, Generators.seeded(0, CPU)))

    clipped, unclipped = batch(True), batch(False)
    assert torch.equal(clipped.noisy_input, unclipped.noisy_input)
    assert 0 <= unclipped.noisy_input.min() and unclipped.noisy_input.max() <= 1
    assert unclipped.noisy_target.min() < 0 and unclipped.noisy_target.max() > 1
    assert torch.equal(unclipped.noisy_target.clamp(0, 1), clipped.noisy_target)
    pairs = tmp_path / "pairs"
    pairs.mkdir()
    for i, shot in enumerate(["beach_1.png", "beach_2.png"]):
        iio.imwrite(pairs / shot, np.full((40, 40, 3), 100 + i, np.uint8))
    with pytest.raises(N2NError, match="holds pairs of noisy images; clip_targets = false applies to synthetic"):
        build_training_data(TrainConfig(data=str(pairs), clip_targets=False))


def test_bernoulli_batches_carry_the_target_s_kept_pixels(photo_folder):
    source, _ = build_training_data(TrainConfig(data=str(photo_folder), noise="bernoulli", pairs_per_epoch=8,
                                                batch_size=8))
    batch = next(source.batches(8, Generators.seeded(0, CPU)))
    assert batch.target_mask.shape == (8, 1, 32, 32) and batch.regulariser is None
    assert batch.target_mask.mean().item() == pytest.approx(0.5, abs=0.05)
    dropped = batch.target_mask == 0
    assert (batch.noisy_target * dropped == 0).all()  # the mask names the target's dropped pixels
    zeros_of_input = (batch.noisy_input == 0).all(dim=1, keepdim=True)
    assert (zeros_of_input != dropped).float().mean() > 0.3  # the input's drops are another draw


def test_neighbor2neighbor_pairs_are_half_size_sub_images_of_one_noisy_crop(photo_folder):
    cfg = TrainConfig(data=str(photo_folder), mode="neighbor2neighbor", noisy_data=True, pairs_per_epoch=8,
                      batch_size=8)
    source, val = build_training_data(cfg)
    assert val is None  # single noisy images: no clean ones to validate on
    batch = next(source.batches(8, Generators.seeded(0, CPU)))
    noisy_input, noisy_target = batch.noisy_input, batch.noisy_target
    assert noisy_input.shape == noisy_target.shape == (8, 3, 16, 16)
    pixels = torch.cat([noisy_input, noisy_target]) * 255
    torch.testing.assert_close(pixels, pixels.round())  # pixels of the images as they are, no added noise
    assert 0 < (noisy_input - noisy_target).abs().mean() < 0.1  # neighbours: close, not equal
    assert batch.regulariser is not None and batch.target_mask is None
    synthetic, val = build_training_data(cfg.replace(noisy_data=False, nb2nb_gamma=0.0))
    batch = next(synthetic.batches(8, Generators.seeded(0, CPU)))
    assert val is not None and batch.regulariser is None and batch.target_mask is None


def test_split_images_reproduces_the_training_hold_out(photo_folder):
    train, held_out = clean_images(str(photo_folder), 0.4)
    names = lambda images: [name for name, _ in images]  # noqa: E731
    assert names(split_images(str(photo_folder), "val", 0.4)) == names(held_out)
    assert names(split_images(str(photo_folder), "train", 0.4)) == names(train)
    assert names(split_images(str(photo_folder), "all", 0.4)) == [f"img{i}.png" for i in range(5)]


def test_neighbor2neighbor_on_clean_photos_draws_the_noise_once_per_image(photo):
    """One noisy shot per scene: every epoch sees the same noisy pixels at a crop position
    (fresh draws would hand the method many noisy views of a scene, i.e. Noise2Noise)."""
    clean = torch.from_numpy(photo[:32, :32]).permute(2, 0, 1).contiguous()  # a 32 px crop is the whole image
    source = NeighborPairs([("photo", clean)], GaussianNoise((25.0, 25.0), clip=False), crop_px=32,
                           pairs_per_epoch=4, gamma=0.0)
    gens = Generators.seeded(0, CPU)
    shot = next(source.crop_batches(4, gens))[0]
    for _ in range(2):  # two more epochs
        for crops in source.crop_batches(4, gens):
            assert all(torch.equal(crop, shot) for crop in crops)
    assert ((shot - clean / 255.0) * 255).std().item() == pytest.approx(25.0, rel=0.15)  # noisy, once
    batch = next(source.batches(4, gens))
    cells = shot.view(3, 16, 2, 16, 2).permute(0, 1, 3, 2, 4).reshape(3, 16, 16, 4)
    for sub_image in (batch.noisy_input, batch.noisy_target):  # both halves are pixels of that one shot
        assert (cells.unsqueeze(0) == sub_image.unsqueeze(-1)).any(-1).all()
    masked = NeighborPairs([("photo", clean)], build_noise("bernoulli", (0.5, 0.5), clip=True), 32, 4, 0.0)
    batch = next(masked.batches(4, gens))
    assert batch.noisy_input.shape == (4, 3, 16, 16) and set(batch.target_mask.unique().tolist()) == {0.0, 1.0}


def test_channels_grey_and_rgb_convert_image_files_and_auto_follows_the_files(photo_folder, tmp_path):
    colour = dict(clean_images(str(photo_folder), 0.0)[0])
    grey = dict(clean_images(str(photo_folder), 0.0, "grey")[0])
    for name, image in colour.items():
        assert image.shape[0] == 3 and grey[name].shape == (1, *image.shape[1:])
        luma = (image.float() * torch.tensor([0.299, 0.587, 0.114])[:, None, None]).sum(0, keepdim=True)
        assert (grey[name].float() - luma).abs().max() <= 0.5  # ITU-R 601 luma, rounded
    folder = tmp_path / "grey"
    folder.mkdir()
    for name, image in grey.items():
        iio.imwrite(folder / name, image[0].numpy())
    assert {image.shape[0] for _, image in split_images(str(folder), "all", 0.0)} == {1}  # auto: as the files
    as_rgb = split_images(str(folder), "all", 0.0, "rgb")
    assert all(image.shape[0] == 3 and torch.equal(image[0], image[2]) for _, image in as_rgb)
    assert all(image.shape[0] == 1 for _, image in split_images("embedded", "val", 0.0, "grey"))


def test_channels_grey_trains_a_greyscale_source_but_cannot_convert_tensor_files(photo_folder, tmp_path,
                                                                                 course_pairs):
    source, val = build_training_data(TrainConfig(data=str(photo_folder), channels="grey", crop_px=16,
                                                  val_patches=4, val_fraction=0.4))
    assert source.channels == 1 and val[0].shape[1] == val[1].shape[1] == 1
    torch.save(course_pairs, tmp_path / "train_data.pkl")
    with pytest.raises(N2NError, match=r"train_data.pkl: holds 3-channel tensors, but channels='grey'"):
        build_training_data(TrainConfig(data=str(tmp_path / "train_data.pkl"), channels="grey"))
    with pytest.raises(N2NError, match=r"channels='gray' must be one of auto, grey, rgb"):
        TrainConfig(channels="gray")


def test_sigma_jitter_moves_only_the_told_sigma_of_training_inputs_and_not_validations():
    """The plane tells sigma * exp(jitter * z): the noisy pixels are the same draw as without
    jitter, the log ratio of told to true sigma has the jitter's spread, and validation is told
    the true sigma."""
    from noise2noise.noise import GaussianNoise
    from noise2noise.unet import SIGMA_PLANE_UNIT_255

    image = torch.full((1, 40, 40), 128, dtype=torch.uint8)
    pairs = SyntheticPairs([("flat", image)], GaussianNoise((5.0, 50.0)), 8, 64, sigma_input=True, sigma_jitter=0.2)
    clean = torch.full((4000, 1, 8, 8), 0.5)
    exact, sigma = pairs.noisy(clean, torch.Generator().manual_seed(3))
    jittered, same_sigma = pairs.noisy(clean, torch.Generator().manual_seed(3), jitter=0.2)
    assert torch.equal(sigma, same_sigma) and torch.equal(exact[:, :1], jittered[:, :1])
    torch.testing.assert_close(exact[:, 1, 0, 0] * SIGMA_PLANE_UNIT_255, sigma.flatten())
    log_ratio = torch.log(jittered[:, 1, 0, 0] * SIGMA_PLANE_UNIT_255 / sigma.flatten())
    assert abs(log_ratio.mean().item()) < 0.02 and abs(log_ratio.std().item() - 0.2) < 0.02
    batch = next(iter(pairs.batches(64, Generators.seeded(0, torch.device("cpu")))))
    assert batch.noisy_input.shape == (64, 2, 8, 8)
    val, plain = pairs.validation(16), SyntheticPairs([("flat", image)], GaussianNoise((5.0, 50.0)), 8, 64,
                                                      sigma_input=True).validation(16)
    assert torch.equal(val.noisy, plain.noisy) and torch.equal(val.sigma_255, plain.sigma_255)


def test_a_noise_stream_saved_on_another_kind_of_device_goes_on_seeded_from_it(capsys):
    from noise2noise.data import Generators
    from noise2noise.errors import say_once

    say_once.cache_clear()
    gens = Generators.seeded(0, torch.device("cpu"))
    cpu_state = gens.cpu.get_state()
    cuda_like = torch.arange(16, dtype=torch.uint8)  # a CUDA generator's state: 16 bytes, not the CPU's 5056
    gens.set_state((cpu_state, cuda_like))  # was RuntimeError: exit 1 when a GPU run was resumed on a CPU
    first = torch.rand(3, generator=gens.device)
    again = Generators.seeded(5, torch.device("cpu"))
    again.set_state((cpu_state, cuda_like))
    assert torch.equal(first, torch.rand(3, generator=again.device))  # the same stream from the same state
    assert "drew its noise on another kind of device" in capsys.readouterr().err


def test_added_noise_leaves_a_16_bit_or_float_images_own_range_unbiased(tmp_path):
    """It was clipped at the image's own min..max: a background at the darkest value 1000 came
    out with mean 1187 at sigma 25 of 255 (4000 / 255 per level: sigma 392)."""
    import tifffile

    from noise2noise.data import add_noise_file

    deep = np.full((64, 64), 1000, np.uint16)
    deep[16:48, 16:48] = 5000
    tifffile.imwrite(tmp_path / "deep.tif", deep)
    noisy = tifffile.imread(add_noise_file(tmp_path / "deep.tif", tmp_path / "deep_noisy.tif", "gaussian", 25))
    background = noisy[deep == 1000].astype(float)
    assert noisy.dtype == np.uint16 and background.min() < 1000
    assert abs(background.mean() - 1000) < 3 * 392 / np.sqrt(background.size) and 370 < background.std() < 415
    flat = np.linspace(0.25, 0.75, 64 * 64, dtype=np.float32).reshape(64, 64)
    tifffile.imwrite(tmp_path / "float.tif", flat)
    noisy = tifffile.imread(add_noise_file(tmp_path / "float.tif", tmp_path / "float_noisy.tif", "gaussian", 25))
    assert noisy.dtype == np.float32 and noisy.min() < 0.25 and noisy.max() > 0.75


def test_an_epoch_set_below_the_default_batch_is_refused(photo_folder):
    # --pairs-per-epoch 8 alone trained batches of 8 while config.json said 32
    with pytest.raises(N2NError, match="an epoch holds 8 pairs, so batch_size=32 would not be used .* use "
                                       "--batch-size 8 or fewer or --pairs-per-epoch 32 or more$"):
        build_training_data(TrainConfig(data=str(photo_folder), pairs_per_epoch=8))


def test_tensor_messages_name_the_channels_and_a_0_1_range_with_strong_noise():
    from noise2noise.data import check_tensor

    with pytest.raises(N2NError, match=r"expected N×C×H×W images with C in \(1, 3\), got shape \(4, 0, 32, 32\)"):
        check_tensor(torch.zeros(4, 0, 32, 32), "x.pkl")  # said 'holds no pixels' of a channel count
    noisy = (torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
             + torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 50 / 255)
    with pytest.raises(N2NError, match=r"they look like images in 0..1 with noise: multiply them by 255"):
        check_tensor(noisy, "x.pkl")  # was told (x + 1) × 127.5, which maps 0..1 onto 127..255


def test_pairs_with_some_identical_images_are_warned_about(capsys):
    """An identical pair teaches the network to return its input (all identical: refused)."""
    from noise2noise.errors import say_once

    say_once.cache_clear()
    a = torch.arange(4, dtype=torch.float32).view(4, 1, 1, 1).expand(4, 3, 2, 2).contiguous()
    b = a + 1
    b[2] = a[2]
    TensorPairs(a, b, where="pairs.pt")
    assert "warning: pairs.pt: the two images of 1 of 4 pairs are identical" in capsys.readouterr().err
