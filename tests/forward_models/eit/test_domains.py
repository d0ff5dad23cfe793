"""EIT beyond the unit disk: outlines meshed by gmsh, meshes read from files, 3-D cylinder tanks.

Oracles: the disk through the general (mesh-file) path equals ``disk_mesh``'s operator exactly,
and through the outline path converges to the same voltages; an ellipse converges under
refinement at a rate in a two-sided band; a 3-D cylinder whose electrodes span the full
height equals the 2-D disk (exact extrusion) to the discretisation error, falling with the mesh
size; reciprocity and the operator contract on random conductivities in 3-D."""

import meshio
import numpy as np
import pytest
import torch

from forward_models.eit import CEMForward, Electrodes, disk_mesh
from forward_models.eit.boundary import arc_electrode_facets, boundary_loop
from forward_models.eit.cylinder import CylinderElectrodes, cylinder_mesh
from forward_models.eit.domains import from_mesh_file, on_cylinder, on_outline
from forward_models.eit.outline import check_outline, ellipse_outline, load_mesh, read_outline
from invtools.operators import operator_from_config
from invtools.operators.check import check_operator

EL = Electrodes.equally_spaced(16, 0.5, 0.1)


def voltages(op, sigma=None):
    sigma = torch.ones(1, op.n_in, dtype=torch.float64) if sigma is None else sigma
    with torch.no_grad():
        return op(sigma)[0].numpy()


def rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def test_disk_through_a_mesh_file_equals_disk_mesh(tmp_path):
    mesh = disk_mesh(EL, 0.1)
    meshio.write_points_cells(str(tmp_path / "disk.msh"), mesh.p.T, [("triangle", mesh.t.T)],
                              file_format="gmsh22", binary=False)
    op, extents = from_mesh_file(tmp_path / "disk.msh", EL)
    np.testing.assert_allclose(extents, EL.intervals(), atol=1e-12)  # the ends were nodes already
    disk = CEMForward.on_disk(EL, 0.1)
    sigma = torch.exp(0.3 * torch.randn(2, op.n_in, generator=torch.Generator().manual_seed(0),
                                        dtype=torch.float64))
    np.testing.assert_allclose(voltages(op, sigma[:1]), voltages(disk, sigma[:1]), rtol=1e-10, atol=1e-12)
    again = operator_from_config(op.config())  # the config holds the mesh: the file is not needed
    np.testing.assert_array_equal(voltages(again, sigma[1:]), voltages(op, sigma[1:]))


def test_circle_outline_converges_to_the_disk():
    circle = ellipse_outline(1.0, 1.0, 1024)
    errors = [rel(voltages(on_outline(circle, EL, h)), voltages(CEMForward.on_disk(EL, h)))
              for h in (0.2, 0.1, 0.05)]
    assert errors[0] > errors[1] > errors[2] and errors[2] < 0.02


def test_ellipse_converges_under_refinement_at_the_expected_rate():
    """Voltages of a homogeneous ellipse (16 electrodes, z = 0.1) against a fine reference: the
    electrode edges' singularities give a rate between 1 and 2 in h (measured 1.33)."""
    def ellipse(h):
        n = int(np.ceil(2 * np.pi * 0.8 / (h / 2)))  # outline points at ~h/2: geometry at O(h^2)
        return voltages(on_outline(ellipse_outline(1.0, 0.6, n), EL, h))

    ref = ellipse(0.0125)
    hs = np.array([0.2, 0.1, 0.05])
    errors = np.array([rel(ellipse(h), ref) for h in hs])
    rate = np.polyfit(np.log(hs), np.log(errors), 1)[0]
    assert 1.0 < rate < 2.2, rate
    assert np.all(np.diff(errors) < 0)


def test_outline_mesh_conforms_and_rebuilds_from_its_config():
    thorax = np.array([[0.15, 0.0], [0.12, 0.08], [0.05, 0.1], [0.0, 0.07], [-0.05, 0.1], [-0.12, 0.08],
                       [-0.15, 0.0], [-0.12, -0.08], [-0.02, -0.1], [0.0, -0.08], [0.02, -0.1],
                       [0.12, -0.08]])  # non-convex: a spine notch at the back
    op = on_outline(thorax, EL, 0.02, edge_levels=1)
    _, extents = arc_electrode_facets(op.mesh, EL)
    np.testing.assert_allclose(extents, EL.intervals(), atol=1e-9)  # every end is a node
    loop = boundary_loop(op.mesh)
    np.testing.assert_allclose(op.mesh.p[:, loop[0]], thorax[0], atol=1e-12)  # the arc origin
    lengths = [sum(np.linalg.norm(np.diff(op.mesh.p[:, op.mesh.facets[:, f]], axis=1), axis=0).ravel())
               for f in op.facets]
    perimeter = np.sum(np.linalg.norm(np.diff(np.vstack([thorax, thorax[:1]]), axis=0), axis=1))
    np.testing.assert_allclose(lengths, EL.widths / (2 * np.pi) * perimeter, rtol=1e-9)
    again = operator_from_config(op.config())
    np.testing.assert_array_equal(voltages(again), voltages(op))
    cfg = op.config()
    cfg["outline"]["digest"] = "0" * 16
    with pytest.raises(ValueError, match="gmsh version"):
        operator_from_config(cfg)


def test_cylinder_with_full_height_electrodes_is_the_extruded_disk():
    """3-D with current I and height H equals 2-D per unit depth with current I / H: y_3d = y_2d / H."""
    H, errors = 0.5, []
    for h in (0.2, 0.1):
        op3 = on_cylinder(CylinderElectrodes(EL, (H / 2,), H), 1.0, H, h)
        errors.append(rel(voltages(op3) * H, voltages(CEMForward.on_disk(EL, h))))
    assert errors[1] < errors[0] < 0.01


def test_cylinder_mesh_and_patches():
    ce = CylinderElectrodes(Electrodes.equally_spaced(8, 0.5, 0.01), (0.25, 0.75), 0.2)
    mesh = cylinder_mesh(ce, 1.0, 1.0, 0.2)
    op = on_cylinder(ce, 1.0, 1.0, 0.2)
    assert op.n_electrodes == 16 and op.system.dim == 3 and op.n_in == mesh.t.shape[1]
    assert np.isclose(op.system.areas.sum(), np.pi, rtol=0.05)  # the volume of the polygonal cylinder
    from skfem import ElementTetP1, FacetBasis

    areas = [FacetBasis(mesh, ElementTetP1(), facets=f).dx.sum() for f in op.facets]
    chord = 2 * np.sin(ce.ring.widths[0] / 2)  # the polygonal wall under an electrode
    np.testing.assert_allclose(areas, chord * 0.2, rtol=0.02)
    heights = [mesh.p[2, mesh.facets[:, f]].mean() for f in op.facets]
    np.testing.assert_allclose(heights, [0.25] * 8 + [0.75] * 8, atol=1e-12)


@pytest.fixture(scope="module")
def tank3d():
    ce = CylinderElectrodes(Electrodes.equally_spaced(8, 0.5, 0.01), (0.3, 0.7), 0.2)
    return on_cylinder(ce, 1.0, 1.0, 0.25)


def test_3d_reciprocity_and_current_conservation(tank3d):
    sigma = torch.exp(0.5 * torch.randn(1, tank3d.n_in, generator=torch.Generator().manual_seed(1),
                                        dtype=torch.float64))
    lin = tank3d.linearize(sigma[0].numpy())
    np.testing.assert_allclose(tank3d.system.electrode_currents(lin.X), tank3d.currents, atol=1e-10)
    T = tank3d.currents @ lin.U.T
    np.testing.assert_allclose(T, T.T, rtol=1e-10, atol=1e-12)


def test_3d_operator_contract(tank3d):
    x = torch.exp(0.3 * torch.randn(2, tank3d.n_in, generator=torch.Generator().manual_seed(2),
                                    dtype=torch.float64))
    result = check_operator(tank3d, x, gradcheck=False)
    assert result.passed, result


def test_3d_config_round_trip(tank3d):
    again = operator_from_config(tank3d.config())
    assert "cylinder" in tank3d.config() and "mesh" not in tank3d.config()
    np.testing.assert_array_equal(voltages(again), voltages(tank3d))


def test_bad_geometry_is_refused(tmp_path):
    with pytest.raises(ValueError, match="at least 3 points"):
        check_outline([[0, 0], [1, 0]])
    with pytest.raises(ValueError, match="NaN"):
        check_outline([[0, 0], [1, 0], [np.nan, 1]])
    with pytest.raises(ValueError, match="no area"):
        check_outline([[0, 0], [1, 0], [2, 0]])
    (tmp_path / "bad.csv").write_text("x, y\n1, 2, 3\n")
    with pytest.raises(ValueError, match="not an outline file"):
        read_outline(tmp_path / "bad.csv")
    with pytest.raises(ValueError, match="no such mesh file"):
        load_mesh(tmp_path / "missing.msh")
    (tmp_path / "junk.msh").write_text("not a mesh")
    with pytest.raises(ValueError, match="not a mesh file"):
        load_mesh(tmp_path / "junk.msh")
    with pytest.raises(ValueError, match="overlap"):
        CylinderElectrodes(EL, (0.3, 0.4), 0.2)
    with pytest.raises(ValueError, match="within the wall"):
        cylinder_mesh(CylinderElectrodes(EL, (0.95,), 0.2), 1.0, 1.0, 0.2)


def test_3d_amg_solver_equals_direct(tank3d):
    amg = on_cylinder(CylinderElectrodes(Electrodes.equally_spaced(8, 0.5, 0.01), (0.3, 0.7), 0.2), 1.0, 1.0,
                      0.25, solver="amg")
    sigma = torch.exp(0.3 * torch.randn(1, tank3d.n_in, generator=torch.Generator().manual_seed(3),
                                        dtype=torch.float64))
    np.testing.assert_allclose(voltages(amg, sigma), voltages(tank3d, sigma), rtol=1e-6, atol=1e-8)


def test_tetrahedra_neighbours_share_a_face():
    from invtools.operators.geometry import element_adjacency

    mesh = cylinder_mesh(CylinderElectrodes(Electrodes.equally_spaced(8, 0.5), (0.5,), 0.2), 1.0, 1.0, 0.3)
    A = element_adjacency(mesh.t).tocoo()
    shared = [len(set(mesh.t[:, i]) & set(mesh.t[:, j])) for i, j in zip(A.row, A.col, strict=True)]
    assert set(shared) == {3}
    assert np.asarray((A > 0).sum(axis=1)).max() == 4


def test_user_recipe_names_its_outline_and_mesh_files_relative_to_itself(tmp_path):
    from invtools.data.recipes import Problem, load_recipe

    folder = tmp_path / "project"
    folder.mkdir()
    np.savetxt(folder / "tank.csv", 0.1 * ellipse_outline(1.0, 0.7, 60), delimiter=",", header="x, y")
    (folder / "outline.toml").write_text(
        'name = "my-tank"\nparametrization = "log"\n[operator]\ntype = "eit"\ndomain = "outline"\n'
        'outline = "tank.csv"\nh = 0.015\n[phantom]\ntype = "discs"\nn_discs = 1\nradius = [0.2, 0.3]\n'
        '[x0]\nmethod = "constant"\nvalue = 1.0\n')
    problem = Problem(load_recipe(folder / "outline.toml"))
    x = problem.samples(np.arange(2), seed=0)["x"]
    assert x.shape == (2, problem.op.n_in) and set(np.unique(x[0])) > {1.0}  # a disc inside the outline
    mesh = problem.op.mesh
    meshio.write_points_cells(str(folder / "tank.msh"), mesh.p.T, [("triangle", mesh.t.T)],
                              file_format="gmsh22", binary=False)
    (folder / "mesh.toml").write_text((folder / "outline.toml").read_text().replace(
        'domain = "outline"\noutline = "tank.csv"', 'domain = "mesh"\nmesh_file = "tank.msh"'))
    from_file = Problem(load_recipe(folder / "mesh.toml")).op
    sigma = torch.exp(torch.as_tensor(np.log(x[:1])))
    np.testing.assert_allclose(voltages(from_file, sigma), voltages(problem.op, sigma), rtol=1e-10)
