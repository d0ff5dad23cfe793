import numpy as np
import pytest

from invtools.data.phantoms import random_shapes_image, random_walk_signals, tv_prior_signals
from invtools.data.recipes import Recipe, load_recipe


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


# --- KTC2023-like inclusions: blobs, freehand shapes and inclusions cut by the wall ------------

def _polygon_area(v):
    x, y = v[:, 0], v[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


@pytest.mark.parametrize("kind", ["blob", "freehand"])
def test_wavy_outlines_have_their_circumradius_and_are_star_shaped(kind):
    from invtools.data.phantoms import _outline

    rng = np.random.default_rng(0)
    for _ in range(100):
        r = rng.uniform(0.01, 0.05)
        v = _outline(kind, r, rng)
        assert v.ndim == 2 and v.shape[1] == 2 and v.shape[0] >= 32 and np.isfinite(v).all()
        norms = np.linalg.norm(v, axis=1)
        assert abs(norms.max() - r) <= 1e-12  # circumradius r about its centre
        assert norms.min() > 0  # never through the centre
        # star-shaped about the centre: every edge (the last closes the polygon) turns the same
        # way around it, less than half a turn each, and all of them make one full turn
        nxt = np.roll(v, -1, axis=0)
        cross = v[:, 0] * nxt[:, 1] - v[:, 1] * nxt[:, 0]
        assert (cross > 0).all()
        turns = np.arctan2(cross, (v * nxt).sum(axis=1))
        assert (turns > 0).all() and (turns < np.pi).all()
        assert turns.sum() == pytest.approx(2 * np.pi, abs=1e-9)
        assert _polygon_area(v) > 0  # counter-clockwise, simple


def test_wavy_outlines_follow_the_generator():
    from invtools.data.phantoms import _outline

    for kind in ("blob", "freehand"):
        a = _outline(kind, 0.03, np.random.default_rng(7))
        b = _outline(kind, 0.03, np.random.default_rng(7))
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, _outline(kind, 0.03, np.random.default_rng(8)))


def test_some_freehand_outline_is_non_convex_and_blobs_are_rounder():
    from scipy.spatial import ConvexHull

    from invtools.data.phantoms import _outline

    def deficits(kind):
        rng = np.random.default_rng(1)
        out = []
        for _ in range(200):
            v = _outline(kind, 0.03, rng)
            out.append(1 - _polygon_area(v) / ConvexHull(v).volume)  # volume is the area in 2-D
        return np.array(out)

    free, blob = deficits("freehand"), deficits("blob")
    assert (free >= -1e-12).all() and (blob >= -1e-12).all()
    assert free.max() > 0.02  # a dent: the area is more than 2% below its convex hull's
    assert (free > 0.02).mean() > 0.1  # "often non-convex"
    assert np.median(free) > np.median(blob)


def test_inclusions_of_every_kind_are_drawn_and_lie_in_the_tank():
    from invtools.data.phantoms import INCLUSION_KINDS, random_inclusions

    assert {"blob", "freehand"} <= set(INCLUSION_KINDS)
    rng = np.random.default_rng(2)
    R = 0.115
    seen = set()
    for _ in range(40):
        for inc in random_inclusions(rng, 3, R, (0.015, 0.045), INCLUSION_KINDS, (5.0, 50.0), (0.005, 0.05)):
            seen.add(inc["kind"])
            assert np.linalg.norm(inc["centre"]) + inc["radius"] <= R - 0.01 + 1e-12
            if inc["outline"] is not None:  # inside its radius (a polygon's vertices 0.7-1 of it)
                reach = np.linalg.norm(inc["outline"], axis=1).max()
                assert reach <= inc["radius"] + 1e-12
                if inc["kind"] != "polygon":
                    assert reach == pytest.approx(inc["radius"], abs=1e-12)
    assert seen == set(INCLUSION_KINDS)


def test_with_wall_one_every_inclusion_is_cut_by_the_wall():
    from invtools.data.phantoms import inclusion_phantom, random_inclusions

    rng = np.random.default_rng(3)
    R = 0.115
    for _ in range(50):
        incs = random_inclusions(rng, 3, R, (0.015, 0.045), ("disc", "blob", "freehand", "star"),
                                 (5.0, 50.0), (0.005, 0.05), wall=1.0)
        assert len(incs) >= 1
        for inc in incs:
            rho = np.linalg.norm(inc["centre"])
            assert rho < R  # the centre is inside the tank
            assert rho + inc["radius"] >= R - 1e-12  # and it reaches the wall
            assert rho <= R - 0.3 * inc["radius"] + 1e-12  # 0.3 .. 1 circumradius inside
        for a in incs:  # still apart
            for b in incs:
                if a is not b:
                    assert np.linalg.norm(a["centre"] - b["centre"]) >= a["radius"] + b["radius"]
    # a disc cut by the wall covers only its part inside the tank
    disc = [{"kind": "disc", "centre": np.array([R - 0.01, 0.0]), "radius": 0.03, "value": 9.0,
             "label": 2, "outline": None}]
    t = np.linspace(-R, R, 401)
    x, y = np.meshgrid(t, t)
    inside_tank = x**2 + y**2 < R**2
    values = inclusion_phantom(np.stack([x[inside_tank], y[inside_tank]]), disc, 0.8)
    assert (values == 9.0).any() and (values == 0.8).any()


def test_wall_zero_keeps_the_old_draws():
    from invtools.data.phantoms import random_inclusions

    kinds = ("disc", "polygon", "rectangle", "star")
    a = random_inclusions(np.random.default_rng(4), 3, 0.115, (0.012, 0.035), kinds, (5, 50), (0.005, 0.05))
    b = random_inclusions(np.random.default_rng(4), 3, 0.115, (0.012, 0.035), kinds, (5, 50), (0.005, 0.05),
                          wall=0.0)
    for p, q in zip(a, b, strict=True):
        np.testing.assert_array_equal(p["centre"], q["centre"])
        assert p["radius"] == q["radius"] and p["kind"] == q["kind"] and p["value"] == q["value"]


def test_the_ktc2023_preset_uses_the_new_shapes_and_the_wall():
    recipe = load_recipe("ktc2023")
    assert {"blob", "freehand"} <= set(recipe.phantom["kinds"])
    assert 0 < recipe.phantom["wall"] < 1
    d = recipe.to_dict()
    d["phantom"]["wall"] = "often"
    with pytest.raises((ValueError, TypeError)):
        Recipe.from_dict(d)


def shoelace(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def test_a_crescent_has_the_area_of_its_disc_minus_the_lens_of_the_bite():
    from invtools.data.phantoms import _crescent

    for seed in range(20):
        rng = np.random.default_rng(seed)
        r = 0.03
        outline = _crescent(r, np.random.default_rng(seed))
        rho, d = r * rng.uniform(0.7, 0.9), r * rng.uniform(0.35, 0.6)  # the same draws
        # the lens shared by circles of radii r and rho, centres d apart (textbook formula)
        lens = (r**2 * np.arccos((d**2 + r**2 - rho**2) / (2 * d * r))
                + rho**2 * np.arccos((d**2 + rho**2 - r**2) / (2 * d * rho))
                - 0.5 * np.sqrt((-d + r + rho) * (d + r - rho) * (d - r + rho) * (d + r + rho)))
        assert shoelace(outline) == pytest.approx(np.pi * r**2 - lens, rel=2e-3)
        assert np.linalg.norm(outline, axis=1).max() == pytest.approx(r, abs=1e-12)


@pytest.mark.parametrize("kind", ["heart", "cross", "bar"])
def test_curved_shapes_are_simple_closed_outlines_of_their_circumradius(kind):
    from invtools.data.phantoms import _CURVED

    for seed in range(10):
        outline = _CURVED[kind](0.02, np.random.default_rng(seed))
        assert np.linalg.norm(outline, axis=1).max() == pytest.approx(0.02, abs=1e-12)
        area = shoelace(outline)
        assert 0 < area < np.pi * 0.02**2  # counter-clockwise, inside the circumcircle
        if kind == "bar":  # an ellipse with semi-axes r and 0.15-0.35 r
            assert 0.15 * np.pi * 0.02**2 * 0.99 < area < 0.35 * np.pi * 0.02**2


def test_a_cluster_puts_small_objects_next_to_one_large_one():
    from invtools.data.phantoms import random_inclusions

    rng = np.random.default_rng(5)
    R, lo, hi, margin = 0.115, 0.015, 0.045, 0.01
    clusters = 0
    for _ in range(30):
        incs = random_inclusions(rng, 4, R, (lo, hi), ("disc", "heart", "star"), (5, 50), (0.005, 0.05),
                                 cluster=1.0)
        big, small = incs[0], incs[1:]
        assert big["radius"] >= hi - 0.2 * (hi - lo) - 1e-12
        clusters += len(small) > 0
        for inc in small:
            assert inc["radius"] <= lo + 0.2 * (hi - lo) + 1e-12
            gap = np.linalg.norm(inc["centre"] - big["centre"]) - big["radius"] - inc["radius"]
            assert margin - 1e-12 <= gap <= 2 * margin + 1e-12
            assert np.linalg.norm(inc["centre"]) + inc["radius"] <= R - margin + 1e-12
    assert clusters >= 25


def test_cluster_zero_keeps_the_old_draws():
    from invtools.data.phantoms import random_inclusions

    kinds = ("disc", "polygon", "rectangle", "star", "blob", "freehand")
    args = (3, 0.115, (0.015, 0.045), kinds, (5, 50), (0.005, 0.05))
    a = random_inclusions(np.random.default_rng(6), *args, wall=0.15)
    b = random_inclusions(np.random.default_rng(6), *args, wall=0.15, cluster=0.0)
    for p, q in zip(a, b, strict=True):
        np.testing.assert_array_equal(p["centre"], q["centre"])
        assert p["radius"] == q["radius"] and p["kind"] == q["kind"] and p["value"] == q["value"]
