import json

import numpy as np
import pytest
import torch

from forward_models.eit import CEMForward, Electrodes, disk_mesh
from forward_models.eit.pixel_grid import (
    PixelCEMForward,
    elements_to_pixels,
    pixel_overlap,
    pixels_to_elements,
)
from invtools import check_operator, operator_from_config

E8 = Electrodes.equally_spaced(8, 0.5, 0.05)


def triangle_areas(mesh):
    p, t = mesh.p, mesh.t
    return 0.5 * np.abs((p[0, t[1]] - p[0, t[0]]) * (p[1, t[2]] - p[1, t[0]])
                        - (p[1, t[1]] - p[1, t[0]]) * (p[0, t[2]] - p[0, t[0]]))


@pytest.fixture(scope="module")
def mesh():
    return disk_mesh(E8, 0.12)


def test_overlap_partitions_elements_and_pixels(mesh):
    n = 24
    O = pixel_overlap(mesh, n, 1.0)
    np.testing.assert_allclose(np.asarray(O.sum(axis=1)).ravel(), triangle_areas(mesh), rtol=1e-12)
    cover = np.asarray(O.sum(axis=0)).ravel().reshape(n, n)
    pixel_area = (2.0 / n) ** 2
    assert cover.max() <= pixel_area * (1 + 1e-12)
    # a pixel well inside the disk is covered fully, a corner pixel not at all
    np.testing.assert_allclose(cover[n // 2, n // 2], pixel_area, rtol=1e-12)
    assert cover[0, 0] == 0


def test_overlap_agrees_with_fine_rasterisation(mesh):
    """Independent check: count sample points of a fine grid inside triangle and pixel."""
    n, fine = 6, 1200
    O = pixel_overlap(mesh, n, 1.0).toarray()
    s = (np.arange(fine) + 0.5) / fine * 2 - 1
    X, Y = np.meshgrid(s, s)
    for e in (0, 17, mesh.t.shape[1] - 1):
        a, b, c = mesh.p[:, mesh.t[:, e]].T

        def side(p, q, X=X, Y=Y):
            return (q[0] - p[0]) * (Y - p[1]) - (q[1] - p[1]) * (X - p[0])

        s1, s2, s3 = side(a, b), side(b, c), side(c, a)
        inside = ((s1 >= 0) & (s2 >= 0) & (s3 >= 0)) | ((s1 <= 0) & (s2 <= 0) & (s3 <= 0))
        counts = inside.reshape(n, fine // n, n, fine // n).sum(axis=(1, 3)) * (2 / fine) ** 2
        np.testing.assert_allclose(O[e].reshape(n, n), counts, atol=2e-4)  # element areas here ~6e-3


def test_maps_preserve_constants_and_mass(mesh):
    O = pixel_overlap(mesh, 20, 1.0)
    P2E, E2P = pixels_to_elements(O), elements_to_pixels(O)
    np.testing.assert_allclose(P2E @ np.full(400, 2.5), 2.5, rtol=1e-12)
    img = E2P @ np.full(mesh.t.shape[1], 1.5)
    cover = np.asarray(O.sum(axis=0)).ravel()
    np.testing.assert_allclose(img[cover > 0], 1.5, rtol=1e-12)
    assert np.all(img[cover == 0] == 0)
    x = np.random.default_rng(0).random(400)
    # integral over the mesh is the same whichever side it is computed on
    np.testing.assert_allclose(triangle_areas(mesh) @ (P2E @ x), cover @ x, rtol=1e-12)


def test_pixel_cem_operator():
    cem = CEMForward.on_disk(E8, 0.2)
    op = PixelCEMForward(cem, 16)
    img = 1 + 0.3 * torch.rand(2, 16, 16, dtype=torch.float64)
    assert op(img).shape == (2, cem.n_out)
    assert check_operator(op, img).passed
    op2 = operator_from_config(json.loads(json.dumps(op.config())))
    torch.testing.assert_close(op2(img), op(img), rtol=0, atol=0)
    sig = op.to_pixels(torch.ones(1, cem.n_in, dtype=torch.float64))
    assert sig.shape == (1, 16, 16) and float(sig.max()) == pytest.approx(1.0)
