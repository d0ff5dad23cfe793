import numpy as np
import pytest

from forward_models.eit import current_patterns, measurement_patterns, skip_currents


@pytest.mark.parametrize("kind, count", [("adjacent", 16), ("opposite", 8), ("trigonometric", 15)])
def test_current_patterns_sum_to_zero_and_have_full_rank(kind, count):
    I = current_patterns(kind, 16)
    assert I.shape == (count, 16)
    np.testing.assert_allclose(I.sum(axis=1), 0, atol=1e-12)
    expected_rank = 15 if kind != "opposite" else 8
    assert np.linalg.matrix_rank(I) == expected_rank


def test_trigonometric_patterns_are_orthogonal():
    I = current_patterns("trigonometric", 16)
    G = I @ I.T
    np.testing.assert_allclose(G - np.diag(np.diag(G)), 0, atol=1e-10)


def test_exclude_driving_electrodes():
    I = skip_currents(8, 0)
    full = measurement_patterns("differences", I)
    reduced = measurement_patterns("differences", I, exclude_driving=True)
    assert all(m.shape == (8, 8) for m in full)
    assert all(m.shape == (5, 8) for m in reduced)  # 3 of 8 pairs touch electrodes p, p+1
    for p, m in enumerate(reduced):
        assert not np.any(m[:, [p, (p + 1) % 8]])


def test_bad_pattern_names():
    with pytest.raises(ValueError, match="unknown current pattern"):
        current_patterns("zigzag", 8)
    with pytest.raises(ValueError, match="even number"):
        current_patterns("opposite", 7)
    with pytest.raises(ValueError, match="unknown measurement"):
        measurement_patterns("sums", skip_currents(8))
