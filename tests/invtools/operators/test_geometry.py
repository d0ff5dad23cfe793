"""Where an operator's unknowns sit: a pixel image over the domain (pixel_grid), looked up
through compositions, and never for mesh unknowns."""

from forward_models.eit import CEMForward, Electrodes
from forward_models.eit.pixel_grid import PixelCEMForward
from invtools.operators.geometry import find_mesh, pixel_grid
from invtools.operators.parametrization import net_operator


def test_pixel_grid_of_pixel_images_and_none_for_meshes():
    pixels = PixelCEMForward.example()
    n, extent = pixel_grid(pixels)
    assert pixels.in_shape == (n, n) and extent == pixels.extent > 0
    assert pixel_grid(net_operator(pixels, "log")) == (n, extent)  # through the composition
    assert find_mesh(pixels) is None
    mesh_op = CEMForward.on_disk(Electrodes.equally_spaced(8, 0.5, 0.01), 0.3)
    assert pixel_grid(mesh_op) is None and find_mesh(mesh_op) is not None
