import pytest
import torch

from noise2noise.config import TrainConfig
from noise2noise.errors import N2NError
from noise2noise.noise import (
    NOISES,
    BernoulliNoise,
    GaussianNoise,
    ImpulseNoise,
    PoissonNoise,
    TextNoise,
    build_noise,
    input_and_target_noise,
)


def test_gaussian_sigma_is_in_0_255_units():
    clean = torch.full((8, 3, 64, 64), 0.5)
    noisy = GaussianNoise(level=(25.0, 25.0), clip=False)(clean, torch.Generator().manual_seed(0))
    residual = (noisy - clean) * 255
    assert residual.std().item() == pytest.approx(25.0, rel=0.02)
    assert abs(residual.mean().item()) < 0.3


def test_two_draws_are_independent():
    clean = torch.full((4, 3, 64, 64), 0.5)
    noise, generator = GaussianNoise(level=(25.0, 25.0), clip=False), torch.Generator().manual_seed(0)
    first, second = noise(clean, generator) - clean, noise(clean, generator) - clean
    correlation = torch.corrcoef(torch.stack([first.flatten(), second.flatten()]))[0, 1]
    assert abs(correlation.item()) < 0.02


DEVICES = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", [(4, 3, 64, 64), (32, 1, 128, 128), (32, 3, 128, 128)],
                         ids=["small", "zoo-grey-batch", "zoo-rgb-batch"])
@pytest.mark.parametrize("noise", [GaussianNoise((25.0, 25.0), clip=False), PoissonNoise((50.0, 50.0), clip=False)],
                         ids=["gaussian", "poisson-50"])
def test_input_and_target_draws_are_independent_and_of_the_right_variance_on_every_device(noise, device, shape):
    """As training draws them: the input, then the target, from one generator on the training
    device. PyTorch's CUDA Poisson sampler is suspected of reusing random numbers between
    calls at high photon counts (pytorch#136750); this test catches that where a GPU is."""
    first, second = input_and_target_noise(noise, device, brightness=0.9, shape=shape)  # bright: counts near 45
    correlation = torch.corrcoef(torch.stack([first.flatten(), second.flatten()]))[0, 1]
    assert abs(correlation.item()) < 0.02
    expected_std = 25.0 / 255 if isinstance(noise, GaussianNoise) else (0.9 / 50.0) ** 0.5
    assert first.std().item() == pytest.approx(expected_std, rel=0.03)
    assert second.std().item() == pytest.approx(expected_std, rel=0.03)


@pytest.mark.parametrize("rate", [0.3, 4.0, 30.0, 45.0, 180.0, 2000.0])
def test_poisson_by_inversion_draws_the_poisson_distribution(rate):
    """The GPU sampler, run here on the CPU against torch.poisson: mean, variance and the
    histogram's bulk agree; two draws in a row are independent."""
    from noise2noise.noise import _poisson_by_inversion

    rates = torch.full((200_000,), rate)
    generator = torch.Generator().manual_seed(0)
    ours, again = _poisson_by_inversion(rates, generator), _poisson_by_inversion(rates, generator)
    reference = torch.poisson(rates, generator=torch.Generator().manual_seed(1))
    assert ours.dtype == rates.dtype and bool((ours == ours.round()).all()) and ours.min() >= 0
    assert ours.mean().item() == pytest.approx(rate, rel=0.01, abs=0.01)
    assert ours.var().item() == pytest.approx(rate, rel=0.03)
    assert abs(torch.corrcoef(torch.stack([ours, again]))[0, 1].item()) < 0.01
    for q in (0.1, 0.5, 0.9):
        assert ours.quantile(q).item() == pytest.approx(reference.quantile(q).item(), abs=max(1.0, 0.01 * rate))


def test_clipping_is_explicit():
    clean = torch.zeros(2, 1, 32, 32)
    generator = torch.Generator().manual_seed(0)
    assert GaussianNoise((50.0, 50.0), clip=True)(clean, generator).min() == 0
    assert GaussianNoise((50.0, 50.0), clip=False)(clean, generator).min() < 0


def test_a_range_draws_one_sigma_per_image():
    clean = torch.full((64, 1, 32, 32), 0.5)
    noisy = GaussianNoise(level=(0.0, 50.0), clip=False)(clean, torch.Generator().manual_seed(0))
    sigmas = ((noisy - clean) * 255).flatten(1).std(dim=1)
    assert sigmas.min() < 10 and sigmas.max() > 40 and sigmas.max() < 53


@pytest.mark.parametrize("name", sorted(NOISES))
def test_a_level_power_draws_the_low_end_of_the_range_more_often_and_power_1_is_the_uniform_draw(name):
    level = NOISES.entry(name).levels
    lo, hi = (0.0, 50.0) if name.startswith("gaussian") else (5.0, 50.0) if name == "poisson" else (0.0, 0.5)
    assert level.check(name, (lo, hi)) is None
    drawn = {}
    for power in (1.0, 2.0):
        noise = build_noise(name, (lo, hi), clip=True, level_power=power)
        drawn[power] = noise(torch.full((4, 3, 16, 16), 0.5), torch.Generator().manual_seed(3))
    uniform = build_noise(name, (lo, hi), clip=True)(torch.full((4, 3, 16, 16), 0.5), torch.Generator().manual_seed(3))
    assert torch.equal(drawn[1.0], uniform) and not torch.equal(drawn[2.0], uniform)


def test_a_level_power_of_2_puts_over_half_the_sigmas_in_the_lowest_three_tenths():
    clean = torch.full((2000, 1, 16, 16), 0.5)
    sigmas = {}
    for power in (1.0, 2.0):
        noisy = GaussianNoise(level=(0.0, 50.0), clip=False, level_power=power)(clean, torch.Generator().manual_seed(0))
        sigmas[power] = ((noisy - clean) * 255).flatten(1).std(dim=1)
    low = {power: (s < 15).float().mean().item() for power, s in sigmas.items()}
    assert abs(low[1.0] - 0.30) < 0.04 and abs(low[2.0] - 0.55) < 0.04  # P(u**2 < 0.3) = sqrt(0.3)
    assert sigmas[2.0].max() > 45  # the whole range is still drawn


def test_poisson_is_photon_counts_over_lambda():
    clean = torch.full((8, 3, 64, 64), 0.5)
    noisy = PoissonNoise(level=(30.0, 30.0), clip=False)(clean, torch.Generator().manual_seed(0))
    counts = noisy * 30  # whole photon counts, mean lambda·x = 15, variance 15
    assert torch.equal(counts, counts.round())
    assert counts.mean().item() == pytest.approx(15.0, rel=0.01)
    assert counts.var().item() == pytest.approx(15.0, rel=0.03)


def test_poisson_range_draws_one_lambda_per_image_and_larger_lambda_is_less_noise():
    clean = torch.full((64, 1, 32, 32), 0.5)
    noisy = PoissonNoise(level=(2.0, 50.0), clip=False)(clean, torch.Generator().manual_seed(0))
    stds = noisy.flatten(1).std(dim=1)  # sqrt(0.5 / lambda): 0.5 at lambda 2, 0.1 at 50
    assert stds.max() > 0.35 and stds.min() < 0.12


def test_bernoulli_drops_whole_pixels_with_probability_p_and_reports_the_kept_ones():
    clean = torch.rand(4, 3, 64, 64) * 0.9 + 0.1  # no zeros of its own
    noisy, kept = BernoulliNoise(level=(0.3, 0.3)).draw(clean, torch.Generator().manual_seed(0))
    assert kept.shape == (4, 1, 64, 64)
    assert (1 - kept.mean()).item() == pytest.approx(0.3, abs=0.01)
    dropped = (noisy == 0).all(dim=1, keepdim=True)  # all channels of a dropped pixel
    assert torch.equal(dropped, kept == 0)
    assert torch.equal(noisy * kept, clean * kept)  # kept pixels untouched


def test_impulse_replaces_pixels_with_uniform_random_colours():
    clean = torch.full((4, 3, 128, 128), 0.5)
    noisy = ImpulseNoise(level=(0.4, 0.4))(clean, torch.Generator().manual_seed(0))
    replaced = (noisy != 0.5).any(dim=1)
    assert replaced.float().mean().item() == pytest.approx(0.4, abs=0.01)
    values = noisy.permute(1, 0, 2, 3)[:, replaced]  # C×K: every channel of replaced pixels
    assert values.mean().item() == pytest.approx(0.5, abs=0.01)
    assert values.var().item() == pytest.approx(1 / 12, rel=0.03)  # uniform on [0, 1]


def test_text_covers_about_a_share_p_in_several_colours_and_keeps_the_rest():
    clean = torch.rand(6, 3, 64, 80)
    noisy = TextNoise(level=(0.25, 0.25))(clean, torch.Generator().manual_seed(0))
    covered = (noisy != clean).any(dim=1)
    shares = covered.flatten(1).float().mean(dim=1)
    assert shares.min() > 0.2 and shares.max() < 0.45  # p, overshot by at most the last string
    colours = noisy.permute(0, 2, 3, 1)[covered].unique(dim=0)
    assert len(colours) >= 10
    assert torch.equal(noisy[~covered.unsqueeze(1).expand_as(noisy)], clean[~covered.unsqueeze(1).expand_as(clean)])


def test_text_of_zero_coverage_is_the_clean_image_and_draws_differ():
    clean = torch.rand(2, 1, 40, 40)
    generator = torch.Generator().manual_seed(0)
    assert torch.equal(TextNoise(level=(0.0, 0.0))(clean, generator), clean)
    first, second = TextNoise()(clean, generator), TextNoise()(clean, generator)
    assert not torch.equal(first, second)


@pytest.mark.parametrize("name,level,message", [
    ("gaussian", (0.0, 300.0), r"outside \[0, 255\]: for noise='gaussian' it is the sigma in 0..255 pixel units"),
    ("poisson", (0.0, 50.0), r"outside \[0.001, 1e\+09\]: .* the photon scale lambda"),
    ("bernoulli", (25.0, 25.0), r"outside \[0, 1\): .* the drop probability p"),
    ("impulse", (0.5, 1.0), "replacement probability"),
    ("text", (0.5, 2.0), "share of pixels covered"),
])
def test_each_noise_checks_its_own_level(name, level, message):
    with pytest.raises(N2NError, match=message):
        TrainConfig(noise=name, noise_level=level)


def test_the_level_defaults_to_the_noise_s_own():
    assert TrainConfig().noise_level == (25.0, 25.0)
    assert TrainConfig(noise="bernoulli").noise_level == (0.5, 0.5)
    assert TrainConfig(noise="poisson", noise_level="5,50").noise_level == (5.0, 50.0)
    for name in NOISES:
        assert TrainConfig(noise=name).noise_level == NOISES.entry(name).default_level == NOISES[name]().level


def test_channel_correlated_gaussian_noise_has_sigma_and_a_correlation_drawn_per_image():
    noise = build_noise("gaussian-correlated", (25.0, 25.0), clip=False)
    clean = torch.full((400, 3, 16, 16), 0.5)
    residual = (noise(clean, torch.Generator().manual_seed(0)) - clean) * 255
    assert residual.std().item() == pytest.approx(25.0, rel=0.02)
    per_image = [torch.corrcoef(r.flatten(1))[0, 1].item() for r in residual]  # red against green
    assert sum(per_image) / len(per_image) == pytest.approx(0.5, abs=0.05)  # rho uniform in 0..1
    assert min(per_image) < 0.1 and max(per_image) > 0.9


@pytest.mark.parametrize("sigma", [5.0, 15.0, 25.0, 50.0])
def test_sigma_is_estimated_from_a_real_photo_within_its_own_fine_detail(photo, sigma):
    from noise2noise.noise import estimate_sigma_255

    clean = torch.from_numpy(photo).permute(2, 0, 1)[None].float() / 255
    own = float(estimate_sigma_255(clean * 255)[0])  # the clean photo's own fine detail: about 3 grey levels
    noisy = GaussianNoise((sigma, sigma), clip=False)(clean, torch.Generator().manual_seed(0)) * 255
    estimate = float(estimate_sigma_255(noisy)[0])
    assert 0 < own < 5 and 0.97 * sigma < estimate < sigma + own / 2 + 0.03 * sigma


@pytest.mark.parametrize(("name", "sigma"), [("camera", 5.0), ("camera", 50.0), ("astronaut", 15.0),
                                             ("astronaut", 50.0)])
def test_sigma_is_read_through_clipping_and_fine_texture(name, sigma):
    # clipped noise near black and white read 43.5 and 40.5 at sigma=50, and the camera's
    # coat and grass read 6.3 at sigma=5, before the estimate chose its cells
    import skimage.data

    from noise2noise.noise import estimate_sigma_255

    image = torch.from_numpy(getattr(skimage.data, name)()).float() / 255
    clean = image[None, None] if image.ndim == 2 else image.permute(2, 0, 1)[None]
    noisy = GaussianNoise((sigma, sigma), clip=True)(clean, torch.Generator().manual_seed(0)) * 255
    assert float(estimate_sigma_255(noisy)[0]) == pytest.approx(sigma, rel=0.05)


def test_sigma_of_an_image_too_small_to_choose_cells_from_is_read_from_all_of_them():
    from noise2noise.noise import estimate_sigma_255

    flat = torch.full((3, 1, 40, 40), 128.0)  # 400 cells, fewer than the estimate chooses from
    noisy = flat + 10.0 * torch.randn(flat.shape, generator=torch.Generator().manual_seed(0))
    assert estimate_sigma_255(noisy).tolist() == pytest.approx([10.0] * 3, rel=0.15)
    assert estimate_sigma_255(flat).tolist() == [0.0] * 3


def test_a_gaussian_draw_at_given_sigmas_is_the_draw_of_the_noise_model():
    noise = GaussianNoise((0.0, 50.0))
    clean = torch.rand(4, 3, 8, 8)
    first, second = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    sigma = noise.sigmas(4, second, clean.device)
    assert torch.equal(noise(clean, first), noise.at(clean, sigma, second))
    assert sigma.shape == (4, 1, 1, 1) and bool(((sigma >= 0) & (sigma <= 50)).all())


def test_poisson_at_its_largest_photon_scale_is_nearly_clean_and_a_larger_one_is_refused():
    """Past about 9.2e18 expected photons torch.poisson's int64 counts overflow: a level of 1e30
    gave an all-black image (and black training data) with exit 0."""
    clean = torch.rand(2, 3, 16, 16)
    noisy = build_noise("poisson", (1e9, 1e9), clip=True)(clean, torch.Generator().manual_seed(0))
    assert (noisy - clean).abs().max() < 0.01 / 255 * 10
    for level in ["1e30", "1,1e308"]:  # the one check of a config's levels, which add-noise and evaluate use too
        with pytest.raises(N2NError, match=r"outside \[0.001, 1e\+09\]: for noise='poisson'"):
            TrainConfig(noise="poisson", noise_level=level)


def test_poisson_at_its_smallest_photon_scale_is_a_number_and_a_smaller_one_is_refused():
    """A photon scale of 1e-46 underflows to 0 in float32: 0/0 gave NaN pixels, written black
    with exit 0, by add-noise and by training."""
    noisy = build_noise("poisson", (1e-3, 1e-3), clip=True)(torch.rand(2, 3, 16, 16), torch.Generator().manual_seed(0))
    assert bool(torch.isfinite(noisy).all())
    for level in ["1e-46", "1e-46,30", "0.0009"]:
        with pytest.raises(N2NError, match=r"outside \[0.001, 1e\+09\]: for noise='poisson'"):
            TrainConfig(noise="poisson", noise_level=level)
