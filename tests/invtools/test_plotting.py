import numpy as np
import pytest

from invtools.plotting import colour_limits, plot_grid


def test_colour_limits_cover_every_value_and_centre_changes_at_zero():
    values = [np.array([-0.2, 0.5]), np.array([0.1, 0.3])]
    assert colour_limits(values) == (-0.2, 0.5)
    assert colour_limits(values, diverging=True) == (-0.5, 0.5)
    assert colour_limits([np.zeros(3)], diverging=True) == (-1.0, 1.0)  # flat: still a range


@pytest.mark.parametrize("diverging", [False, True])
def test_plot_grid_writes_a_png_on_a_mesh(tmp_path, diverging):
    points = np.array([[0.0, 1.0, 0.0, 1.0], [0.0, 0.0, 1.0, 1.0]])
    triangles = np.array([[0, 1, 2], [1, 3, 2]]).T
    values = np.array([[-0.1, 0.2], [0.3, -0.4]])
    out = tmp_path / "grid.png"
    plot_grid({"change": values}, out, (points, triangles), diverging=diverging)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list(tmp_path.iterdir()) == [out]  # no temporary left behind
