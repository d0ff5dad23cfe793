import numpy as np
import pytest

from invtools.phantoms import random_shapes_image, random_walk_signals, tv_prior_signals
from invtools.recipes import Recipe, load_recipe


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


def test_shapes_with_levels_are_piecewise_constant_at_those_levels():
    rng = np.random.default_rng(0)
    images = [random_shapes_image((32, 32), rng, 4, levels=(0.5, 1.0)) for _ in range(20)]
    values = set(np.unique(np.concatenate([im.ravel() for im in images])).tolist())
    assert values == {0.0, 0.5, 1.0}


def test_recipe_levels_are_checked():
    r = load_recipe("blur2d-levels").to_dict()
    r["phantom"]["levels"] = [0.5, -1.0]
    with pytest.raises(ValueError, match="levels"):
        Recipe.from_dict(r)
