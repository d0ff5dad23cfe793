"""Simulated KTC2023 tank data: the organisers' patterns, KTC-like inclusions, and the chain
linearised reconstruction -> three-class Otsu -> challenge score on them."""

import numpy as np
import pytest
import scipy.io
import torch

from forward_models.eit.ktc2023 import KTC_RADIUS, ktc_injection_pairs, ktc_patterns
from invtools.analysis.segmentation import contrast_labels, grid_to_pixels, pixel_centres
from invtools.data.phantoms import inclusion_phantom, random_inclusions
from invtools.data.recipes import Problem, Recipe, load_recipe
from invtools.devices.ktc2023.score import ktc_score


def test_patterns_are_the_organisers(ktc_or_none):
    currents, measurement = ktc_patterns(current=1.0)
    assert currents.shape == (76, 32) and measurement.shape == (31, 32)
    np.testing.assert_allclose(currents.sum(axis=1), 0.0)
    assert len(ktc_injection_pairs()) == 76  # (4 pairs are injected twice, as in the files)
    if ktc_or_none is None:
        pytest.skip("KTC2023 files not found")
    ref = scipy.io.loadmat(ktc_or_none / "ref.mat")
    np.testing.assert_array_equal(np.sign(ref["Injref"]).T, currents)
    np.testing.assert_array_equal(ref["Mpat"].T, measurement)


def test_inclusions_lie_in_the_tank_apart_and_have_their_class():
    rng = np.random.default_rng(3)
    for _ in range(20):
        inc = random_inclusions(rng, 3, KTC_RADIUS, (0.012, 0.035),
                                ("disc", "polygon", "rectangle", "star"), (5.0, 50.0), (0.005, 0.05))
        assert len(inc) == 3
        for a in inc:
            assert np.linalg.norm(a["centre"]) + a["radius"] <= KTC_RADIUS - 0.01 + 1e-12
            assert (a["value"] > 0.8) == (a["label"] == 2)
            for b in inc:
                if a is not b:
                    assert np.linalg.norm(a["centre"] - b["centre"]) >= a["radius"] + b["radius"]
    disc = [{"kind": "disc", "centre": np.zeros(2), "radius": 0.03, "value": 9.0, "label": 2,
             "outline": None}]
    x, y = pixel_centres(512, KTC_RADIUS)
    inside = inclusion_phantom(np.stack([x.ravel(), y.ravel()]), disc, 0.8) == 9.0
    area = inside.mean() * (2 * KTC_RADIUS) ** 2
    assert area == pytest.approx(np.pi * 0.03**2, rel=0.01)
    with pytest.raises(ValueError, match="unknown inclusion kind"):
        random_inclusions(rng, 1, KTC_RADIUS, (0.01, 0.02), ("cloud",), (5, 50), (0.005, 0.05))


def test_simulated_tank_data_and_what_the_image_pixels_can_represent():
    noise_free = load_recipe("ktc2023").to_dict()
    noise_free["noise"] = {"relative": 0.0, "absolute": 0.0}
    noise_free["mask"] = {"type": "none"}  # complete data (masks: tests/invtools/data/test_missing_data.py)
    problem = Problem(Recipe.from_dict(noise_free))
    assert problem.sim_op.n_in > 10 * problem.op.outer.n_in  # data from a finer mesh: no inverse crime
    sample = problem.samples(np.arange(2), seed=11)
    assert sample["y"].shape == (2, 2356) and sample["x"].shape == (2, 32, 32)
    x, y = pixel_centres(256, KTC_RADIUS)
    sim_ref, image_ref = problem.references()
    for k in range(2):  # exact truth at the pixel centres, from the same draws
        exact = problem.phantom(np.random.default_rng([11, k]), np.stack([x.ravel(), y.ravel()]))
        truth = contrast_labels(exact.reshape(256, 256) - 0.8)
        truth[x**2 + y**2 > KTC_RADIUS**2] = 0
        on_pixels = contrast_labels(np.nan_to_num(grid_to_pixels(sample["x"][k] - 0.8)))
        best = ktc_score(truth, on_pixels)  # the best a 32 x 32 image can do
        assert set(np.unique(truth)) > {0} and best > 0.75
        # difference data: the fine mesh's change, added to the image model's water data
        replay = problem.phantom(np.random.default_rng([11, k]), problem.sim_points)
        with torch.no_grad():
            fine = problem.sim_op(torch.as_tensor(replay[None]))[0].numpy()
            coarse = problem.op(torch.as_tensor(sample["x"][k:k + 1]))[0].numpy()
        np.testing.assert_allclose(sample["y"][k] - image_ref, fine - sim_ref, atol=1e-12)
        change = np.linalg.norm(sample["y"][k] - image_ref)
        gap = np.linalg.norm(sample["y"][k] - coarse)  # the image model's error on the change
        assert 0.01 < gap / change < 0.5


def test_water_alone_gives_the_image_models_water_data():
    water = load_recipe("ktc2023").to_dict()
    water["noise"] = {"relative": 0.0, "absolute": 0.0}
    water["phantom"]["n_inclusions"] = [0, 0]
    water["mask"] = {"type": "none"}
    problem = Problem(Recipe.from_dict(water))
    sample = problem.samples(np.arange(1), seed=0)
    np.testing.assert_array_equal(sample["x"], 0.8)
    np.testing.assert_allclose(sample["y"][0], problem.references()[1], atol=1e-12)
    bad = load_recipe("eit-discs2").to_dict()
    bad["operator"]["difference"] = True
    with pytest.raises(ValueError, match="difference"):
        Problem(Recipe.from_dict(bad))
