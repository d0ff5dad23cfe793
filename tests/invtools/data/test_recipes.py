import numpy as np
import pytest

from invtools.data.phantoms import random_discs, random_shapes_image
from invtools.data.recipes import Problem, Recipe, list_presets, load_recipe

PRESETS = ["blur1d-rma", "blur1d-tv", "blur2d-shapes", "eit-discs2", "eit-discs4", "eit-limited",
           "eit-smooth"]


def test_all_presets_are_shipped():
    assert set(PRESETS) <= set(list_presets())


@pytest.mark.parametrize("name", PRESETS)
def test_preset_samples_are_finite_noisy_and_index_deterministic(name):
    problem = Problem(load_recipe(name))
    batch = problem.samples(np.arange(5), seed=3)
    single = problem.samples(np.array([3]), seed=3)
    for key in ("x", "y", "x0"):
        assert np.all(np.isfinite(batch[key]))
        assert np.array_equal(batch[key][3], single[key][0])  # sample i depends on (seed, i) only
    assert batch["x"].shape == (5, *problem.op.in_shape) and batch["y"].shape == (5, *problem.op.out_shape)
    if problem.parametrization == "log":
        assert batch["x"].min() > 0
    import torch

    clean = problem.op(torch.as_tensor(batch["x"])).numpy()
    noise, clean = (batch["y"] - clean).reshape(5, -1), clean.reshape(5, -1)
    level = np.sqrt(np.mean(noise**2, axis=1) / np.mean(clean**2, axis=1))
    assert np.all((0.3 * 0.01 < level) & (level < 3 * 0.01))  # 1% relative noise per sample
    other = problem.samples(np.arange(5), seed=4)
    assert not np.array_equal(other["x"], batch["x"])


def test_eit_limited_places_electrodes_on_the_arc():
    problem = Problem(load_recipe("eit-limited"))
    rec = problem.op._recipe["electrodes"]
    centers = np.asarray(rec["centers"])
    assert np.all((centers > 0) & (centers < np.pi))


def test_unknown_keys_and_bad_values_are_named():
    base = load_recipe("blur1d-rma").to_dict()
    with pytest.raises(ValueError, match=r"\[operator\]: unknown key\(s\) \['windw'\]"):
        Recipe.from_dict({**base, "operator": {**base["operator"], "windw": 3}})
    with pytest.raises(ValueError, match="phantom.*type must be one of"):
        Recipe.from_dict({**base, "phantom": {"type": "zebra"}})
    with pytest.raises(ValueError, match=r"\[noise\] relative = -1: must be a finite number >= 0"):
        Recipe.from_dict({**base, "noise": {"relative": -1}})
    with pytest.raises(ValueError, match=r"\[noise\] relative = 1.5: must be in \[0, 1\)"):
        Recipe.from_dict({**base, "noise": {"relative": 1.5}})
    with pytest.raises(ValueError, match="no recipe file or preset"):
        load_recipe("nope")


def test_recipe_file_round_trip(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text('name = "mine"\n[operator]\ntype = "blur1d"\na = 0.5\n[phantom]\ntype = "random_walk"\n')
    r = load_recipe(path)
    assert r.operator["a"] == 0.5 and r.operator["n"] == 53 and r.x0["method"] == "constant"
    assert Recipe.from_dict(r.to_dict()) == r
    (tmp_path / "bad.toml").write_text("name = [")
    with pytest.raises(ValueError, match="not a valid TOML"):
        load_recipe(tmp_path / "bad.toml")


def test_linearized_x0_beats_the_constant_start():
    d = load_recipe("eit-discs2").to_dict()
    d["x0"] = {"method": "linearized", "value": 1.0}
    problem = Problem(Recipe.from_dict(d))
    s = problem.samples(np.arange(2), seed=0)
    assert np.mean((np.log(s["x0"]) - np.log(s["x"])) ** 2) < np.mean(np.log(s["x"]) ** 2)


def test_random_discs_do_not_overlap_and_stay_inside():
    rng = np.random.default_rng(0)
    for _ in range(20):
        discs = random_discs(rng, 4, 1.0, (0.1, 0.22))
        for i, a in enumerate(discs):
            assert np.hypot(a[0], a[1]) + a[2] < 1.0
            for b in discs[i + 1:]:
                assert np.hypot(a[0] - b[0], a[1] - b[1]) > a[2] + b[2]
    with pytest.raises(ValueError, match="could not place"):
        random_discs(rng, 10, 1.0, (0.5, 0.6))


def test_shapes_images_lie_in_the_unit_interval():
    img = random_shapes_image((24, 24), np.random.default_rng(1), 5)
    assert img.shape == (24, 24) and img.min() >= 0 and img.max() <= 1 and img.max() > 0


BAD_VALUES = [
    ("operator", {"type": "eit", "electrodes": 1}, r"\[operator\] electrodes = 1: must be an integer >= 2"),
    ("operator", {"type": "eit", "electrodes": "16"}, r"electrodes = '16': must be an integer"),
    ("operator", {"type": "eit", "coverage": 1.5}, r"coverage = 1.5: must be a finite number > 0 and <= 1"),
    ("operator", {"type": "eit", "h": 0}, r"\[operator\] h = 0: must be a finite number > 0"),
    ("operator", {"type": "eit", "solver": "cg"}, r"solver = 'cg': must be one of"),
    ("operator", {"type": "eit", "exclude_driving": 1}, r"exclude_driving = 1: must be true or false"),
    ("operator", {"type": "blur2d", "shape": [32]}, r"shape = \[32\]: must be a pair"),
    ("phantom", {"type": "discs", "radius": [0.3, 0.1]},
     r"radius = \[0.3, 0.1\]: must be a pair .*low <= high"),
    ("phantom", {"type": "discs", "values": [-1.0, 5.0]}, r"values = -1.0: must be a finite number > 0"),
    ("phantom", {"type": "discs", "n_discs": -2}, r"n_discs = -2: must be an integer >= 0"),
    ("phantom", {"type": "shapes", "kinds": "ellipse"}, r"kinds = 'ellipse': must be a non-empty list"),
    ("x0", {"iterations": 0}, r"\[x0\] iterations = 0: must be an integer >= 1"),
    ("x0", {"value": float("nan")}, r"\[x0\] value = nan: must be a finite number"),
]


@pytest.mark.parametrize("table,given,message", BAD_VALUES, ids=[m[:30] for *_, m in BAD_VALUES])
def test_recipe_values_checked_with_named_messages(table, given, message):
    d = load_recipe("eit-discs2").to_dict()
    d[table] = given
    with pytest.raises(ValueError, match=message):
        Recipe.from_dict(d)


def test_recipe_value_errors_exit_one_line_from_the_cli(tmp_path, capsys):
    from invtools.workflow.cli import main

    (tmp_path / "r.toml").write_text('[operator]\ntype = "eit"\nh = "fine"\n[phantom]\ntype = "discs"\n')
    assert main(["generate", str(tmp_path / "r.toml"), "--out", str(tmp_path / "o.h5"), "-n", "2"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == ("invtools generate: error: recipe [operator] h = 'fine': "
                           "must be a finite number > 0")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.toml"]


def test_simulation_on_a_finer_mesh_keeps_x_and_changes_only_the_physics():
    import torch

    from invtools.data.recipes import Problem

    d = load_recipe("eit-discs2").to_dict()
    d["x0"] = {**d["x0"], "method": "constant"}
    d["noise"] = {"relative": 0.0}
    same = Problem(Recipe.from_dict(d)).samples(np.arange(3), seed=4)
    d["operator"] = {**d["operator"], "simulation_mesh_size": 0.05}
    fine = Problem(Recipe.from_dict(d))
    finer = fine.samples(np.arange(3), seed=4)
    np.testing.assert_array_equal(finer["x"], same["x"])  # the same phantoms, on the same mesh
    assert fine.sim_op.n_in > 3 * fine.op.n_in
    with torch.no_grad():
        coarse_y = fine.op(torch.as_tensor(finer["x"])).numpy()
    gap = np.linalg.norm(finer["y"] - coarse_y) / np.linalg.norm(coarse_y)
    assert 1e-4 < gap < 0.1  # a discretisation error, not another problem
    d["operator"] = {**d["operator"], "simulation_mesh_size": 0.2}
    with pytest.raises(ValueError, match="must be finer than h = 0.1"):
        Problem(Recipe.from_dict(d))


def test_a_recipe_with_a_base_is_the_base_with_its_tables_laid_over(tmp_path):
    (tmp_path / "base.toml").write_text('base = "eit-discs2"\nname = "mid"\n[phantom]\nn_discs = [1, 1]\n')
    (tmp_path / "top.toml").write_text('base = "base.toml"\nname = "top"\n[noise]\nrelative = 0.05\n')
    top, preset = load_recipe(tmp_path / "top.toml").to_dict(), load_recipe("eit-discs2").to_dict()
    assert top["name"] == "top"
    assert top["phantom"] == {**preset["phantom"], "n_discs": [1, 1]}  # from the middle file
    assert top["noise"] == {**preset["noise"], "relative": 0.05}
    assert top["operator"] == preset["operator"]
    # a table of another type replaces the base's (no keys of the old type carried over)
    (tmp_path / "other.toml").write_text('base = "eit-discs2"\n[phantom]\ntype = "smooth"\n')
    assert load_recipe(tmp_path / "other.toml").phantom["n_bumps"] == 6


def test_a_base_that_is_missing_or_circular_is_refused_by_name(tmp_path):
    (tmp_path / "a.toml").write_text('base = "b.toml"\n')
    (tmp_path / "b.toml").write_text('base = "a.toml"\n')
    with pytest.raises(ValueError, match="base recipes name it again"):
        load_recipe(tmp_path / "a.toml")
    (tmp_path / "c.toml").write_text('base = "no-such-preset"\n')
    with pytest.raises(ValueError, match="no-such-preset"):
        load_recipe(tmp_path / "c.toml")


def test_the_ktc_targets_recipe_is_the_preset_with_target_like_shapes():
    from pathlib import Path

    targets = load_recipe(Path(__file__).parents[3] / "datasets/recipes/ktc-targets.toml").to_dict()
    preset = load_recipe("ktc2023").to_dict()
    assert {"crescent", "heart", "cross", "bar"} <= set(targets["phantom"]["kinds"])
    assert 0 < targets["phantom"]["cluster"] < 1
    for table in ("operator", "noise", "x0", "mask"):
        assert targets[table] == preset[table]
