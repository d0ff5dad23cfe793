"""Masks of the values lost when electrodes fail (invtools/data/missing_data.py): the KTC2023
levels against the challenge's own files, a broken electrode against a brute-force count, and
the per-injection form against the single-matrix form."""

import numpy as np
import pytest
import scipy.io

from forward_models.eit.ktc2023 import ktc_patterns
from invtools.data.missing_data import (
    LEVELS,
    electrode_mask,
    level_electrodes,
    level_mask,
    level_of_mask,
    random_dropout_mask,
    random_electrode_mask,
)

KEPT = {1: 2356, 2: 1624, 3: 1404, 4: 1200, 5: 1012, 6: 630, 7: 513}  # the challenge's counts


@pytest.fixture(scope="module")
def patterns():
    return ktc_patterns()


def test_level_counts_are_the_challenges(patterns):
    currents, measurement = patterns
    assert tuple(KEPT) == LEVELS
    for level, kept in KEPT.items():
        mask = level_mask(currents, measurement, level)
        assert mask.shape == (2356,) and mask.dtype == bool
        assert int(mask.sum()) == kept, level
    assert level_mask(currents, measurement, 1).all()


def test_levels_are_nested(patterns):
    currents, measurement = patterns
    masks = [level_mask(currents, measurement, level) for level in LEVELS]
    for easier, harder in zip(masks, masks[1:], strict=False):
        assert not (harder & ~easier).any()  # a harder level never has a value an easier one lacks


def test_level_electrodes_follow_the_rule():
    for level in LEVELS:
        assert level_electrodes(level) == list(range(2 * (level - 1)))


@pytest.mark.parametrize("level", range(2, 8))
def test_level_masks_are_the_nan_patterns_of_the_real_files(ktc, level, patterns):
    from invtools.devices import load_description, read_device_file

    folder = ktc / "levels" / f"level{level}"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    currents, measurement = patterns
    expected = level_mask(currents, measurement, level)
    for k in range(1, 5):
        path = folder / f"data{k}.mat"
        raw = scipy.io.loadmat(path)["Uel"].ravel()
        np.testing.assert_array_equal(np.isfinite(raw), expected)  # the file's own NaN pattern
        meas = read_device_file(load_description("ktc2023"), path)
        assert meas.mask is not None
        np.testing.assert_array_equal(meas.mask, expected)
        # the rule on the file's own patterns gives the same mask
        file_mask = level_mask(meas.extra["currents"], meas.extra["measurement"], level)
        np.testing.assert_array_equal(file_mask, expected)
        assert level_of_mask(meas.extra["currents"], meas.extra["measurement"], meas.mask) == level


def test_complete_real_files_are_level_one(ktc):
    raw = scipy.io.loadmat(ktc / "data1.mat")["Uel"].ravel()
    assert np.isfinite(raw).all() and raw.size == KEPT[1]


def _brute_force(currents, measurement, electrode):
    keep = []
    for p in range(currents.shape[0]):
        if currents[p, electrode] != 0:
            keep += [False] * measurement.shape[0]
        else:
            keep += [measurement[j, electrode] == 0 for j in range(measurement.shape[0])]
    return np.array(keep)


def test_a_broken_electrode_17_matches_a_brute_force_count(patterns):
    currents, measurement = patterns
    e = 16  # electrode 17, 1-based
    expected = _brute_force(currents, measurement, e)
    mask = electrode_mask(currents, measurement, [e])
    np.testing.assert_array_equal(mask, expected)
    driving = int((currents[:, e] != 0).sum())
    rows = int((measurement[:, e] != 0).sum())
    assert driving > 0 and rows == 2
    assert int((~mask).sum()) == 31 * driving + rows * (76 - driving)
    for p in np.nonzero(currents[:, e] != 0)[0]:
        assert not mask[31 * p:31 * (p + 1)].any()


@pytest.mark.parametrize("removed", [[0], [5], [31], [3, 17], [0, 1, 2, 30, 31]])
def test_several_electrodes_are_the_intersection_of_single_ones(patterns, removed):
    currents, measurement = patterns
    expected = np.ones(2356, dtype=bool)
    for e in removed:
        expected &= _brute_force(currents, measurement, e)
    np.testing.assert_array_equal(electrode_mask(currents, measurement, removed), expected)
    # order and repeats do not matter
    np.testing.assert_array_equal(electrode_mask(currents, measurement, removed[::-1] + removed), expected)


def test_no_removed_electrode_keeps_everything(patterns):
    currents, measurement = patterns
    assert electrode_mask(currents, measurement, []).all()


def test_per_injection_matrices_equal_the_single_matrix(patterns):
    currents, measurement = patterns
    listed = [measurement] * currents.shape[0]
    for removed in ([], [16], [0, 1, 2, 3], [7, 22, 30]):
        np.testing.assert_array_equal(electrode_mask(currents, listed, removed),
                                      electrode_mask(currents, measurement, removed))
    for level in LEVELS:
        np.testing.assert_array_equal(level_mask(currents, listed, level),
                                      level_mask(currents, measurement, level))
        assert level_of_mask(currents, listed, level_mask(currents, measurement, level)) == level


def test_per_injection_matrices_of_different_sizes():
    """The documented form "a list of P matrices (k_p, L), one per injection (m = sum of k_p)"
    with k_p that differ between injections."""
    rng = np.random.default_rng(0)
    L, P = 8, 5
    currents = np.zeros((P, L))
    for p in range(P):
        a, b = rng.choice(L, 2, replace=False)
        currents[p, a], currents[p, b] = 1.0, -1.0
    matrices = []
    for _ in range(P):
        k = int(rng.integers(1, 6))
        m = np.zeros((k, L))
        for j in range(k):
            a, b = rng.choice(L, 2, replace=False)
            m[j, a], m[j, b] = 1.0, -1.0
        matrices.append(m)
    removed = [2, 5]
    expected = np.concatenate([
        np.zeros(len(m), dtype=bool) if (currents[p, removed] != 0).any()
        else ~(m[:, removed] != 0).any(axis=1) for p, m in enumerate(matrices)])
    mask = electrode_mask(currents, matrices, removed)
    assert mask.shape == (sum(len(m) for m in matrices),)
    np.testing.assert_array_equal(mask, expected)
    with pytest.raises(ValueError, match="4 measurement matrices for 5 injections"):
        electrode_mask(currents, matrices[:4], removed)


def test_level_of_mask_round_trips_and_refuses_other_masks(patterns):
    currents, measurement = patterns
    for level in LEVELS:
        assert level_of_mask(currents, measurement, level_mask(currents, measurement, level)) == level
    assert level_of_mask(currents, measurement, None) == 1
    assert level_of_mask(currents, measurement, electrode_mask(currents, measurement, [16])) is None
    almost = level_mask(currents, measurement, 4).copy()
    almost[np.nonzero(almost)[0][0]] = False  # one more value lost than level 4
    assert level_of_mask(currents, measurement, almost) is None
    assert level_of_mask(currents, measurement, np.zeros(2356, dtype=bool)) is None
    # 0/1 integers are read as booleans
    assert level_of_mask(currents, measurement, level_mask(currents, measurement, 3).astype(int)) == 3


@pytest.mark.parametrize("removed", [[32], [-1], [0, 40]])
def test_bad_electrodes_are_refused(patterns, removed):
    currents, measurement = patterns
    with pytest.raises(ValueError, match="removed electrodes"):
        electrode_mask(currents, measurement, removed)


@pytest.mark.parametrize("level", [0, 8, -1, 2.5])
def test_bad_levels_are_refused(patterns, level):
    currents, measurement = patterns
    with pytest.raises(ValueError, match="level must be one of"):
        level_mask(currents, measurement, level)


def test_random_electrode_mask_is_the_mask_of_its_electrodes(patterns):
    currents, measurement = patterns
    rng = np.random.default_rng(1)
    counts = set()
    for _ in range(60):
        mask, removed = random_electrode_mask(currents, measurement, rng, (1, 4))
        assert 1 <= len(removed) <= 4 and len(set(removed)) == len(removed)
        assert all(0 <= e < 32 for e in removed) and removed == sorted(removed)
        np.testing.assert_array_equal(mask, electrode_mask(currents, measurement, removed))
        counts.add(len(removed))
    assert counts == {1, 2, 3, 4}
    a = random_electrode_mask(currents, measurement, np.random.default_rng(5), (2, 6))
    b = random_electrode_mask(currents, measurement, np.random.default_rng(5), (2, 6))
    assert a[1] == b[1] and np.array_equal(a[0], b[0])


def test_random_dropout_mask_drops_its_fraction():
    rng = np.random.default_rng(2)
    for _ in range(20):
        mask = random_dropout_mask(20000, rng, (0.05, 0.15))
        assert mask.shape == (20000,) and mask.dtype == bool
        assert 0.05 - 0.01 < 1 - mask.mean() < 0.15 + 0.01
    assert random_dropout_mask(100, rng, (0.0, 0.0)).all()
