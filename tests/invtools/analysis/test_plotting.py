import numpy as np
import pytest

from invtools.analysis.plotting import colour_limits, plot_grid


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


def test_volume_slice_samples_the_elements_at_that_height(tmp_path):
    from forward_models.eit import Electrodes
    from forward_models.eit.cylinder import CylinderElectrodes, cylinder_mesh
    from invtools.analysis.plotting import plot_slices, volume_slice

    mesh = cylinder_mesh(CylinderElectrodes(Electrodes.equally_spaced(8, 0.5), (0.5,), 0.2), 1.0, 1.0, 0.25)
    centroid_z = mesh.p[2, mesh.t].mean(axis=0)
    values = np.where(centroid_z < 0.5, 1.0, 2.0)
    for z, expected in ((0.2, 1.0), (0.8, 2.0)):
        image, extent = volume_slice(mesh.p, mesh.t, values, z, n=40)
        inside = np.isfinite(image)
        assert np.all(image[inside] == expected) and 0.6 < inside.mean() < 0.8  # pi / 4 of the square
        assert extent == pytest.approx((-1.0, 1.0, -1.0, 1.0), abs=1e-9)
    plot_slices({"a": values, "b": 3 - values}, (mesh.p, mesh.t), [0.25, 0.75], tmp_path / "s.png")
    assert (tmp_path / "s.png").stat().st_size > 1000
