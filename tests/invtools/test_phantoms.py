import numpy as np

from invtools.phantoms import random_walk_signals, tv_prior_signals


def test_tv_prior_signals_span_minus_one_to_one_and_follow_the_seed():
    x = tv_prior_signals(500, 53, np.random.default_rng(3))
    assert x.shape == (500, 53) and np.all(np.isfinite(x))
    np.testing.assert_allclose(x.min(axis=1), -1.0)
    np.testing.assert_allclose(x.max(axis=1), 1.0)
    np.testing.assert_array_equal(x, tv_prior_signals(500, 53, np.random.default_rng(3)))


def test_tv_prior_increments_are_heavy_tailed_unlike_gaussian_walks():
    """Laplace increments: excess kurtosis well above a Gaussian walk's (about 0)."""
    def excess_kurtosis(x):
        d = np.diff(x, axis=1) / np.diff(x, axis=1).std(axis=1, keepdims=True)
        return float(np.mean(d**4) - 3.0)

    rng = np.random.default_rng(0)
    assert excess_kurtosis(tv_prior_signals(2000, 53, rng)) > 1.5
    walks = random_walk_signals(2000, 53, rng, step=0.01)  # small steps: no reflections
    assert abs(excess_kurtosis(walks)) < 0.5
