"""Electrical impedance tomography with the complete electrode model (CEM)."""

from forward_models.eit.cem import CEMSystem, cem_system, ground_basis
from forward_models.eit.electrodes import Electrodes
from forward_models.eit.forward import CEMForward
from forward_models.eit.mesh import disk_mesh, electrode_facets
from forward_models.eit.patterns import (
    adjacent_differences,
    current_patterns,
    measurement_patterns,
    skip_currents,
)
from forward_models.eit.per_sample import Linearization
from forward_models.eit.solvers import SingularSystemError, make_solver

__all__ = ["CEMForward", "CEMSystem", "Electrodes", "Linearization", "SingularSystemError",
           "adjacent_differences", "cem_system", "current_patterns", "disk_mesh",
           "electrode_facets", "ground_basis", "make_solver", "measurement_patterns",
           "skip_currents"]
