"""Figures: the smoothing drawn over raw loss curves."""

import math


def test_smoothing_follows_a_falling_loss_without_lag():
    from noise2noise.figures import smooth

    falling = [100 * 0.9**i for i in range(50)]  # a loss falling 100-fold and more
    smoothed = smooth(falling)
    assert all(abs(math.log(s / v)) < 0.02 for s, v in zip(smoothed[2:-2], falling[2:-2]))  # geometric: on it
    noisy = [1.0 + (0.5 if i % 2 else -0.5) for i in range(40)]
    assert max(smooth(noisy)[2:-2]) - min(smooth(noisy)[2:-2]) < 0.2 * (max(noisy) - min(noisy))
    assert smooth([-1.0, 1.0, 3.0]) == [0.0, 1.0, 2.0]  # arithmetic when not all positive
