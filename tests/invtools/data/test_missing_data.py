"""The recipe [mask] table (invtools/data/missing_data.py) and its use by Problem.samples: checked
keys, reproducible masks per (seed, index), NaN exactly at the missing values, the table's
proportions, the fewest values a table keeps, and the clipped start."""

import copy
import dataclasses

import numpy as np
import pytest

from forward_models.eit.ktc2023 import ktc_patterns
from invtools.data.missing_data import (
    MASK_DEFAULTS,
    MASK_STREAM,
    cem_patterns,
    check_mask_table,
    draw_mask,
    electrode_mask,
    fewest_kept,
    level_mask,
    level_of_mask,
)
from invtools.data.recipes import Problem, Recipe, initial_guess, load_recipe
from invtools.operators.parametrization import to_net

M = 2356


@pytest.fixture(scope="module")
def patterns():
    currents, measurement = ktc_patterns()
    return currents, [measurement] * currents.shape[0]


@pytest.fixture(scope="module")
def preset():
    return load_recipe("ktc2023")


@pytest.fixture(scope="module")
def problem(preset):
    return Problem(preset)


@pytest.fixture(scope="module")
def batch(problem):
    return problem.samples(np.arange(6), seed=4)


# --- the table ------------------------------------------------------------------------------

def test_defaults_are_filled_in():
    assert check_mask_table({}) == {"type": "none"}
    table = check_mask_table({"type": "electrodes", "broken": [2, 3]})
    assert table == {"type": "electrodes", **MASK_DEFAULTS["electrodes"], "broken": [2, 3]}
    fractions = [MASK_DEFAULTS["electrodes"][k] for k in ("level_fraction", "broken_fraction",
                                                          "dropout_fraction")]
    assert sum(fractions) <= 1


@pytest.mark.parametrize("table, key", [
    ({"type": "electrode"}, "type"),
    ({"type": "none", "levels": [1]}, "levels"),
    ({"type": "electrodes", "level": [1]}, "level"),
    ({"type": "electrodes", "broken_fractions": 0.1}, "broken_fractions"),
])
def test_unknown_types_and_keys_are_refused_by_name(table, key):
    with pytest.raises(ValueError, match=rf"recipe \[mask\].*{key}"):
        check_mask_table(table)


@pytest.mark.parametrize("table", [
    {"level_fraction": 0.6, "broken_fraction": 0.3, "dropout_fraction": 0.2},  # sums to 1.1
    {"level_fraction": 1.0, "broken_fraction": 0.25},
    {"level_fraction": -0.1},
    {"broken_fraction": 1.5, "level_fraction": 0.0, "dropout_fraction": 0.0},
    {"dropout_fraction": "0.1"},
    {"level_fraction": True},
])
def test_bad_fractions_are_refused(table):
    with pytest.raises(ValueError, match="level_fraction, broken_fraction, dropout_fraction"):
        check_mask_table({"type": "electrodes", **table})


def test_fractions_summing_to_one_are_accepted():
    check_mask_table({"type": "electrodes", "level_fraction": 0.7, "broken_fraction": 0.2,
                      "dropout_fraction": 0.1})  # 0.7 + 0.2 + 0.1 is 1.0000000000000002 in floats


@pytest.mark.parametrize("levels", [[0], [8], [], [1, 9], 3, "1-7", [2.5]])
def test_bad_levels_are_refused(levels):
    with pytest.raises(ValueError, match="levels = "):
        check_mask_table({"type": "electrodes", "levels": levels})


@pytest.mark.parametrize("key, value", [
    ("broken", [0, 3]), ("broken", [5, 2]), ("broken", [1]), ("broken", [1, 2, 3]),
    ("broken", [1.5, 3]), ("broken", 4), ("broken", [True, 2]), ("broken", "1-8"),
    ("dropout", [0.3, 0.1]), ("dropout", [-0.1, 0.2]), ("dropout", [0.1, 1.0]), ("dropout", [0.1]),
    ("dropout", 0.1), ("dropout", ["a", 0.2]),
])
def test_bad_pairs_are_refused_by_name(key, value):
    with pytest.raises(ValueError, match=rf"recipe \[mask\]: {key} = "):
        check_mask_table({"type": "electrodes", key: value})


def test_good_pairs_are_accepted():
    table = check_mask_table({"type": "electrodes", "broken": [3, 3], "dropout": [0, 0.5]})
    assert table["broken"] == [3, 3] and table["dropout"] == [0, 0.5]
    check_mask_table({"type": "electrodes", "broken": [2.0, 4.0]})  # integral floats are counts


def test_a_bad_table_in_a_recipe_is_refused(preset):
    d = preset.to_dict()
    d["mask"] = {**d["mask"], "broken": [0, 1]}
    with pytest.raises(ValueError, match="broken"):
        Recipe.from_dict(d)
    d["mask"] = "electrodes"
    with pytest.raises(ValueError, match=r"\[mask\] must be a table"):
        Recipe.from_dict(d)


def test_a_recipe_without_mask_has_no_mask_key():
    recipe = load_recipe("eit-discs2")
    assert recipe.mask == {"type": "none"}
    assert "mask" not in recipe.to_dict()
    assert "mask" not in recipe.to_json()
    d = recipe.to_dict()
    assert "mask" not in Recipe.from_dict({**d, "mask": {"type": "none"}}).to_dict()
    assert Recipe.from_dict(d) == recipe


def test_a_recipe_with_mask_keeps_it(preset):
    d = preset.to_dict()
    assert d["mask"]["type"] == "electrodes" and d["mask"]["broken"] == [1, 8]
    assert Recipe.from_dict(d) == preset


def test_patterns_of_the_presets_operator_are_the_organisers(problem):
    currents, matrices = cem_patterns(problem.op.config())
    nominal, measurement = ktc_patterns()
    assert currents.shape == (76, 32) and len(matrices) == 76
    np.testing.assert_array_equal(np.sign(currents), np.sign(nominal))
    for m in matrices:
        np.testing.assert_array_equal(m, measurement)
    with pytest.raises(ValueError, match="needs a CEM operator"):
        cem_patterns({"type": "QuadraticWindowBlur", "n": 53})


# --- draws ----------------------------------------------------------------------------------

def test_draw_mask_is_reproducible_per_seed_and_index(preset, patterns):
    table = preset.mask
    masks = {}
    for seed in (0, 1):
        for i in range(20):
            a = draw_mask(table, patterns, M, np.random.default_rng([seed, i, MASK_STREAM]))
            b = draw_mask(table, patterns, M, np.random.default_rng([seed, i, MASK_STREAM]))
            np.testing.assert_array_equal(a, b)
            assert a.shape == (M,) and a.dtype == bool and a.any()
            masks[seed, i] = a
    distinct = {m.tobytes() for m in masks.values()}
    assert len(distinct) > 10


def test_problem_masks_are_its_draw_mask(problem, batch):
    for k in range(len(batch["mask"])):
        expected = problem.draw_mask(np.random.default_rng([4, k, MASK_STREAM]))
        np.testing.assert_array_equal(batch["mask"][k], expected)


def test_nan_exactly_where_the_mask_is_false(batch):
    y, mask = batch["y"], batch["mask"]
    assert mask.shape == y.shape == (6, M) and mask.dtype == bool
    np.testing.assert_array_equal(np.isnan(y), ~mask)
    assert np.isfinite(y[mask]).all()
    assert (~mask).any()  # these draws do lose values
    assert np.isfinite(batch["x0"]).all() and np.isfinite(batch["x"]).all()


def test_a_sample_is_the_same_alone_or_in_a_batch(problem, batch):
    for i in (3, 5):
        alone = problem.samples(np.array([i]), seed=4)
        for key in ("x", "y", "mask", "x0"):
            np.testing.assert_array_equal(alone[key][0], batch[key][i], err_msg=key)


def test_the_mask_does_not_change_the_phantom_or_the_noise(problem, batch):
    complete = copy.copy(problem)
    complete.recipe = dataclasses.replace(problem.recipe, mask={"type": "none"})
    out = complete.samples(np.arange(2), seed=4)
    assert "mask" not in out
    np.testing.assert_array_equal(out["x"], batch["x"][:2])
    kept = batch["mask"][:2]
    np.testing.assert_array_equal(out["y"][kept], batch["y"][:2][kept])
    assert np.isfinite(out["y"]).all()


def _kind(mask, singles, levels_of):
    """'complete', 'level', 'broken' or 'dropout': what made the mask (by its structure)."""
    if mask.all():
        return "complete"
    level = levels_of(mask)
    if level is not None:
        return "level"
    candidates = [e for e in range(singles.shape[0]) if not (~singles[e] & mask).any()]
    if candidates and np.array_equal(np.logical_and.reduce(singles[candidates]), mask):
        return "broken"
    return "dropout"


def test_proportions_follow_the_table(preset, patterns):
    currents, matrices = patterns
    table = preset.mask
    singles = np.stack([electrode_mask(currents, matrices, [e]) for e in range(32)])
    levels = {level_mask(currents, matrices, v).tobytes(): v for v in range(2, 8)}
    n = 3000
    kinds, level_counts = [], {v: 0 for v in range(1, 8)}
    for i in range(n):
        mask = draw_mask(table, patterns, M, np.random.default_rng([0, i, MASK_STREAM]))
        kind = _kind(mask, singles, lambda m: levels.get(m.tobytes()))
        kinds.append(kind)
        if kind == "level":
            level_counts[levels[mask.tobytes()]] += 1
    kinds = np.array(kinds)
    share = table["level_fraction"] / len(table["levels"])  # level 1 is complete data
    expected = {"level": table["level_fraction"] - share, "complete": share + 1 - table["level_fraction"]
                - table["broken_fraction"] - table["dropout_fraction"],
                "broken": table["broken_fraction"], "dropout": table["dropout_fraction"]}
    for kind, p in expected.items():
        se = np.sqrt(p * (1 - p) / n)
        assert abs((kinds == kind).mean() - p) <= 3 * se, (kind, (kinds == kind).mean(), p)
    for v in range(2, 8):  # uniform over the levels
        se = np.sqrt(share * (1 - share) / n)
        assert abs(level_counts[v] / n - share) <= 3 * se, v


def test_proportions_of_another_table(patterns):
    currents, matrices = patterns
    table = check_mask_table({"type": "electrodes", "levels": [7], "level_fraction": 0.3,
                              "broken_fraction": 0.2, "broken": [2, 3], "dropout_fraction": 0.35})
    singles = np.stack([electrode_mask(currents, matrices, [e]) for e in range(32)])
    n = 2000
    def level_of(m):
        return level_of_mask(currents, matrices, m) if m.sum() == 513 else None

    kinds = np.array([_kind(draw_mask(table, patterns, M, np.random.default_rng([5, i, MASK_STREAM])),
                            singles, level_of) for i in range(n)])
    for kind, p in {"level": 0.3, "broken": 0.2, "dropout": 0.35, "complete": 0.15}.items():
        se = np.sqrt(p * (1 - p) / n)
        assert abs((kinds == kind).mean() - p) <= 3 * se, (kind, (kinds == kind).mean(), p)


def test_type_none_draws_complete_masks(patterns):
    table = check_mask_table({"type": "none"})
    assert draw_mask(table, patterns, M, np.random.default_rng(0)).all()
    assert fewest_kept(table, patterns, M) == M


# --- the fewest values a table keeps ---------------------------------------------------------

def test_fewest_kept_of_the_preset(preset, patterns):
    fewest = fewest_kept(preset.mask, patterns, M)
    assert 0 < fewest <= 513  # level 7 keeps 513


def test_fewest_kept_of_levels_alone_is_the_hardest_level(patterns):
    table = check_mask_table({"type": "electrodes", "levels": [2, 4], "level_fraction": 1.0,
                              "broken_fraction": 0.0, "dropout_fraction": 0.0})
    assert fewest_kept(table, patterns, M) == 1200


def _violations(table, patterns, n, seed=0):
    fewest = fewest_kept(table, patterns, M)
    kept = np.array([draw_mask(table, patterns, M, np.random.default_rng([seed, i, MASK_STREAM])).sum()
                     for i in range(n)])
    return fewest, kept


def _fraction_below(table, patterns, n):
    fewest, kept = _violations(table, patterns, n)
    return fewest, float((kept < fewest).mean())


def test_fewest_kept_is_the_one_percent_floor_of_the_broken_electrode_draws(patterns):
    """Not a bound (spread-out broken electrodes can keep far fewer): about 1% of independent
    draws keep fewer, and the every-fourth-electrode draw, which keeps none, is redrawn."""
    currents, matrices = patterns
    table = check_mask_table({"type": "electrodes", "level_fraction": 0.0, "broken_fraction": 1.0,
                              "dropout_fraction": 0.0, "broken": [1, 8]})
    fewest, below = _fraction_below(table, patterns, 1000)
    assert below <= 0.03, (fewest, below)
    assert int(electrode_mask(currents, matrices, range(0, 32, 4)).sum()) == 0 < fewest


def test_draws_keep_at_least_one_injections_worth():
    from invtools.data.missing_data import MIN_KEPT

    currents = np.zeros((4, 8))
    for p in range(4):
        currents[p, 2 * p], currents[p, 2 * p + 1] = 1, -1
    matrices = [np.eye(7, 8) - np.eye(7, 8, k=1)] * 4
    table = check_mask_table({"type": "electrodes", "level_fraction": 0.0, "broken_fraction": 1.0,
                              "dropout_fraction": 0.0, "broken": [4, 4]})
    with pytest.raises(ValueError, match=f"kept fewer than {MIN_KEPT}"):  # 28 values at most here
        draw_mask(table, (currents, matrices), 28, np.random.default_rng(0))
    with pytest.raises(ValueError, match="only 8 electrodes"):
        draw_mask({**table, "broken": [1, 9]}, (currents, matrices), 28, np.random.default_rng(0))


def test_fewest_kept_is_the_one_percent_floor_of_the_preset_draws(preset, patterns):
    fewest, below = _fraction_below(preset.mask, patterns, 1000)
    assert below <= 0.03, (fewest, below)


def test_fewest_kept_is_the_one_percent_floor_of_the_dropout_draws(patterns):
    table = check_mask_table({"type": "electrodes", "level_fraction": 0.0, "broken_fraction": 0.0,
                              "dropout_fraction": 1.0, "dropout": [0.19, 0.2]})
    fewest, below = _fraction_below(table, patterns, 1000)
    assert below <= 0.03, (fewest, below)


# --- the clipped start -----------------------------------------------------------------------

def test_x0_clip_bounds_the_log_step(preset, problem, batch):
    assert preset.x0["clip"] == 6.0 and preset.parametrization == "log"
    step = np.log(batch["x0"]) - np.log(preset.x0["value"])
    assert np.abs(step).max() <= 6 + 1e-6
    # the clip is what bounds it: without it, some of these few-data starts go further
    unclipped = initial_guess(problem.net_op, "log", {**preset.x0, "clip": 0.0},
                              float(preset.noise["relative"]), batch["y"])
    free = to_net(unclipped, "log") - np.log(preset.x0["value"])
    assert np.abs(free).max() > 6
    np.testing.assert_allclose(step, np.clip(free, -6, 6), rtol=0, atol=1e-9)


def test_x0_clip_defaults_to_off():
    recipe = load_recipe("eit-discs2")
    assert recipe.x0["clip"] == 0.0
