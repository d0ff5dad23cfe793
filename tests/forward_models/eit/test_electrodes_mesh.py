import numpy as np
import pytest

from forward_models.eit import Electrodes, disk_mesh, electrode_facets


def test_equally_spaced_and_arc_geometry():
    e = Electrodes.equally_spaced(16, coverage=0.4, z=0.01)
    assert e.L == 16 and e.coverage == pytest.approx(0.4)
    arc = Electrodes.on_arc(8, (0.0, np.pi), coverage=0.5, z=[0.1] * 8)
    assert np.all((arc.intervals() >= 0) & (arc.intervals() <= np.pi + 1e-12))
    assert arc.coverage == pytest.approx(0.25)


@pytest.mark.parametrize("kwargs, match", [
    ({"centers": [0.0, 0.1], "widths": 0.2, "contact_impedance": 0.1}, "overlap"),
    ({"centers": [0.0, 3.0], "widths": -0.1, "contact_impedance": 0.1}, "widths"),
    ({"centers": [0.0, 3.0], "widths": 0.1, "contact_impedance": 0.0}, "impedance"),
    ({"centers": [0.0], "widths": 0.1, "contact_impedance": 0.1}, "at least 2"),
])
def test_invalid_electrodes(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Electrodes(**kwargs)


@pytest.mark.parametrize("electrodes", [Electrodes.equally_spaced(16, 0.4, 0.01),
                                        Electrodes.on_arc(8, (0.3, 2.5), 0.6, 0.05)])
@pytest.mark.parametrize("radius", [1.0, 0.115])
def test_conforming_disk_mesh(electrodes, radius):
    h = 0.06 * radius
    mesh = disk_mesh(electrodes, h, radius=radius, edge_levels=1)
    # every electrode end point is a mesh node on the circle
    ends = electrodes.intervals().ravel()
    ends_xy = radius * np.stack([np.cos(ends), np.sin(ends)])
    dist = np.linalg.norm(mesh.p[:, :, None] - ends_xy[:, None, :], axis=0).min(axis=0)
    assert dist.max() < 1e-12 * radius
    # boundary nodes on the circle, polygon area close to the disk's
    b = mesh.boundary_nodes()
    np.testing.assert_allclose(np.linalg.norm(mesh.p[:, b], axis=0), radius, rtol=1e-12)
    p, t = mesh.p, mesh.t
    area = 0.5 * np.abs((p[0, t[1]] - p[0, t[0]]) * (p[1, t[2]] - p[1, t[0]])
                        - (p[1, t[1]] - p[1, t[0]]) * (p[0, t[2]] - p[0, t[0]]))
    assert area.min() > 0
    assert abs(area.sum() / (np.pi * radius**2) - 1) < 2 * h**2 / radius**2
    # electrode facets: chord lengths add up to the arc lengths (to O(h^2))
    for f, w in zip(electrode_facets(mesh, electrodes), electrodes.widths, strict=True):
        seg = mesh.p[:, mesh.facets[0, f]] - mesh.p[:, mesh.facets[1, f]]
        assert np.linalg.norm(seg, axis=0).sum() == pytest.approx(w * radius, rel=h**2 / radius**2)


def test_edge_refinement_adds_nodes_near_edges_only():
    e = Electrodes.equally_spaced(8, 0.5, 0.01)
    coarse, fine = disk_mesh(e, 0.1), disk_mesh(e, 0.1, edge_levels=2)
    assert fine.p.shape[1] > coarse.p.shape[1]
    assert np.linalg.norm(fine.p, axis=0).min() < 1e-12  # centre node untouched
    centre = np.linalg.norm(fine.p, axis=0) < 0.5
    assert centre.sum() == (np.linalg.norm(coarse.p, axis=0) < 0.5).sum()


def test_non_conforming_or_too_coarse_mesh_is_an_error():
    e = Electrodes.equally_spaced(4, 0.2, 0.01)
    mesh = disk_mesh(Electrodes.equally_spaced(4, 0.2, 0.01, offset=0.7), 0.2)
    with pytest.raises(ValueError, match="does not conform to electrode 0"):
        electrode_facets(mesh, e)
    tiny = Electrodes(np.array([0.0, 0.5, np.pi]), np.array([0.01, 0.01, 0.01]), 0.1)
    coarse = disk_mesh(Electrodes(np.array([1.0, 4.0]), 0.5, 0.1), 0.5)
    with pytest.raises(ValueError, match="covers no boundary facet"):
        electrode_facets(coarse, tiny)
