"""A homogeneous circular tank under the complete electrode model (CEM) as a function of its
calibration parameters, with exact derivatives: the model that
:func:`~forward_models.eit.calibration.calibrate` fits.

Parameters (:class:`TankParameters`): the background conductivity sigma (S/m, one scalar),
each electrode's contact impedance z_l (Ohm m^2; Ohm m per metre of depth in 2-D), its angular
centre c_l and angular width w_l (radians). The fitted vector is
``theta = [log sigma, log z (L), c (L), log w (L)]``.

Discretisation: P1 potentials on a fixed triangle mesh of the disk of radius R centred at the
origin. The boundary nodes at angles ``alpha_0 < ... < alpha_{n-1}`` carry hat functions that
are linear in the angle between neighbours, and every boundary integral of electrode
``[a, b] = [c - w/2, c + w/2]`` is taken over the arc, ``ds = R dtheta``. An end point inside
a boundary segment covers it partially: with ``t = (a - alpha_k) / Delta_k`` the segment's
mass, load and length integrals are polynomials in t (e.g. ``R Delta int_t^1 (1-s)^2 ds``), so
they and their derivatives in a and b are exact for the discretisation, and since their
integrands are continuous along the boundary, values and derivatives stay continuous as an end
point crosses a node. The electrode's length is ``R w`` exactly.

System (as in :mod:`~forward_models.eit.cem`, grounded by ``U = Q U~``):

    K = [[sigma A + sum_l M_l / z_l,  -sum_l s_l e_l^T Q / z_l], [sym., Q^T diag(|e_l| / z_l) Q]]

with the stiffness A (N, N), the electrode mass M_l (N, N) and load s_l (N,). The L - 1 unit
fields ``Lambda = K^{-1} [0; I]`` give everything: the electrode potentials of pattern I_p are
``U_p = Z I_p`` with ``Z = Q Lambda_U Q^T``, and for any parameter p

    dZ/dp = -Q (Lambda_full^T dK_full/dp Lambda_full) Q^T,   Lambda_full = [Lambda_u; Q Lambda_U],

where dK_full/dp touches the nodes of one electrode (z_l, c_l, w_l) or is sigma A (sigma): one
factorisation and L - 1 solves give the data and the whole Jacobian.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu
from skfem import Basis, ElementTriP1, MeshTri, asm
from skfem.models.poisson import laplace

from forward_models.eit.cem import ground_basis
from forward_models.eit.electrodes import TWO_PI, Electrodes


@dataclass(frozen=True)
class TankParameters:
    """What the calibration fits: conductivity (S/m), contact impedances (L,) (Ohm m^2),
    electrode centres (L,) and widths (L,) (radians)."""

    conductivity: float
    contact_impedance: np.ndarray
    centers: np.ndarray
    widths: np.ndarray

    @property
    def L(self) -> int:
        """The number of electrodes."""
        return int(np.size(self.centers))

    @classmethod
    def from_electrodes(cls, electrodes: Electrodes, conductivity: float) -> TankParameters:
        """The electrodes' z, centres and widths with ``conductivity`` (S/m)."""
        return cls(float(conductivity), electrodes.contact_impedance.copy(), electrodes.centers.copy(),
                   electrodes.widths.copy())

    def electrodes(self) -> Electrodes:
        """The electrodes (raises ``ValueError`` if they overlap)."""
        return Electrodes(self.centers, self.widths, self.contact_impedance)

    def vector(self) -> np.ndarray:
        """``theta = [log sigma, log z (L), c (L), log w (L)]`` (1 + 3 L,)."""
        return np.concatenate([[np.log(self.conductivity)], np.log(self.contact_impedance),
                               self.centers, np.log(self.widths)])

    @classmethod
    def from_vector(cls, theta: np.ndarray) -> TankParameters:
        """Inverse of :meth:`vector`."""
        L = (theta.size - 1) // 3
        return cls(float(np.exp(theta[0])), np.exp(theta[1:1 + L]), theta[1 + L:1 + 2 * L].copy(),
                   np.exp(theta[1 + 2 * L:]))


def boundary_ring(mesh: MeshTri, radius: float, rtol: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Boundary nodes (n,) of a disk mesh sorted by angle, and their angles (n,) in [0, 2 pi).

    Raises ``ValueError`` if a boundary node is off the circle of ``radius`` or a boundary facet
    does not join neighbouring nodes (the mesh is not a disk centred at the origin)."""
    nodes = mesh.boundary_nodes()
    r = np.linalg.norm(mesh.p[:, nodes], axis=0)
    if np.any(np.abs(r - radius) > rtol * radius):
        raise ValueError(f"mesh boundary is not the circle of radius {radius} centred at the origin "
                         f"(boundary radii {r.min():.6g}..{r.max():.6g})")
    angles = np.arctan2(mesh.p[1, nodes], mesh.p[0, nodes]) % TWO_PI
    order = np.argsort(angles)
    nodes, angles = nodes[order], angles[order]
    rank = np.full(mesh.p.shape[1], -1)
    rank[nodes] = np.arange(nodes.size)
    i, j = rank[mesh.facets[:, mesh.boundary_facets()]]
    if np.any(np.minimum((i - j) % nodes.size, (j - i) % nodes.size) != 1):
        raise ValueError("a boundary facet joins boundary nodes that are not neighbours on the circle")
    return nodes, angles


@dataclass(frozen=True)
class ArcIntegrals:
    """One electrode's boundary integrals on its local nodes and their derivatives in the
    start ``a`` and end ``b`` angles (index 0: a, 1: b); lengths in metres."""

    nodes: np.ndarray    # (n,) mesh node indices
    mass: np.ndarray     # (n, n) int phi_i phi_j ds
    load: np.ndarray     # (n,) int phi_i ds
    length: float        # |e| = R (b - a)
    d_mass: np.ndarray   # (2, n, n)
    d_load: np.ndarray   # (2, n)
    d_length: np.ndarray  # (2,)


def arc_integrals(nodes: np.ndarray, angles: np.ndarray, radius: float, start: float,
                  end: float) -> ArcIntegrals:
    """Integrals of the boundary hat functions over the arc ``[start, end]`` (radians,
    ``0 < end - start < 2 pi``), partially covered segments included (see the module doc)."""
    delta = np.diff(np.append(angles, angles[0] + TWO_PI))
    a = angles[0] + (start - angles[0]) % TWO_PI
    b = a + (end - start)
    rows = []
    for shift in (0.0, -TWO_PI):  # an arc past angles[0] + 2 pi wraps onto the first segments
        xa, xb = (a + shift - angles) / delta, (b + shift - angles) / delta
        t0, t1 = np.clip(xa, 0, 1), np.clip(xb, 0, 1)
        on_a, on_b = (xa >= 0) & (xa < 1), (xb > 0) & (xb <= 1)
        keep = (t1 > t0) | on_a | on_b
        rows.append((np.nonzero(keep)[0], t0[keep], t1[keep], on_a[keep], on_b[keep]))
    seg = np.concatenate([r[0] for r in rows])
    t0, t1, on_a, on_b = (np.concatenate([r[k] for r in rows]) for k in range(1, 5))
    i, j = nodes[seg], nodes[(seg + 1) % nodes.size]
    local, inv = np.unique(np.concatenate([i, j]), return_inverse=True)
    li, lj = inv[: seg.size], inv[seg.size:]
    n = local.size
    ds = radius * delta[seg]  # arc length per unit t
    u0, u1 = 1 - t0, 1 - t1
    entries = {  # (row, col): integral of the product over [t0, t1], and its integrand
        "ii": (ds * (u0**3 - u1**3) / 3, lambda t: (1 - t) ** 2),
        "ij": (ds * ((t1**2 - t0**2) / 2 - (t1**3 - t0**3) / 3), lambda t: t * (1 - t)),
        "jj": (ds * (t1**3 - t0**3) / 3, lambda t: t**2),
    }
    index = {"ii": (li, li), "ij": (li, lj), "jj": (lj, lj)}
    mass, d_mass = np.zeros((n, n)), np.zeros((2, n, n))
    for key, (value, integrand) in entries.items():
        r, c = index[key]
        for target, weights in ((mass, value),
                                (d_mass[0], -radius * on_a * integrand(t0)),
                                (d_mass[1], radius * on_b * integrand(t1))):
            np.add.at(target, (r, c), weights)
            if key == "ij":
                np.add.at(target, (c, r), weights)
    load, d_load = np.zeros(n), np.zeros((2, n))
    np.add.at(load, li, ds * (u0**2 - u1**2) / 2)
    np.add.at(load, lj, ds * (t1**2 - t0**2) / 2)
    np.add.at(d_load[0], li, -radius * on_a * u0)
    np.add.at(d_load[0], lj, -radius * on_a * t0)
    np.add.at(d_load[1], li, radius * on_b * u1)
    np.add.at(d_load[1], lj, radius * on_b * t1)
    d_length = np.array([-radius * on_a.any(), radius * on_b.any()], dtype=np.float64)
    return ArcIntegrals(local, mass, load, float(ds @ (t1 - t0)), d_mass, d_load, d_length)


def _electrode_energy(lam_u: np.ndarray, w: np.ndarray, mass: np.ndarray, load: np.ndarray,
                      length: float) -> np.ndarray:
    """``Lambda_full^T E Lambda_full`` (L-1, L-1) of one electrode's form
    ``E(x, x') = u^T M u' - U s^T u' - U' s^T u + |e| U U'``; ``lam_u`` (n, L-1) the unit fields
    on its nodes, ``w`` (L-1,) its potentials."""
    v = lam_u.T @ load
    return lam_u.T @ mass @ lam_u - np.outer(w, v) - np.outer(v, w) + length * np.outer(w, w)


class TankModel:
    """The data of a homogeneous disk tank for :class:`TankParameters`, and their Jacobian.

    Args:
        mesh: triangle mesh of the disk of ``radius`` (m) centred at the origin.
        radius: the tank's radius (m).
        currents: (P, L) injected currents, each pattern summing to zero.
        measurement: (k, L) measurement matrix shared by every pattern, or (P, k, L).

    Data are ``y[p * k + i] = measurement_p[i] @ U_p`` (P k,), injection-major, in the units of
    the currents times Ohm.
    """

    def __init__(self, mesh: MeshTri, radius: float, currents: np.ndarray, measurement: np.ndarray):
        currents = np.asarray(currents, dtype=np.float64)
        measurement = np.asarray(measurement, dtype=np.float64)
        if currents.ndim != 2:
            raise ValueError(f"currents must be (P, L), got shape {currents.shape}")
        P, L = currents.shape
        if measurement.ndim == 2:
            measurement = np.broadcast_to(measurement, (P, *measurement.shape))
        if measurement.ndim != 3 or measurement.shape[0] != P or measurement.shape[2] != L:
            raise ValueError(f"measurement must be (k, {L}) or ({P}, k, {L}), got {measurement.shape}")
        self.mesh, self.radius = mesh, float(radius)
        self.currents, self.measurement = currents, measurement
        self.ring_nodes, self.ring_angles = boundary_ring(mesh, radius)
        self.A = asm(laplace, Basis(mesh, ElementTriP1())).tocsr()
        self.N, self.L = mesh.p.shape[1], L
        self.Q = ground_basis(L)

    @property
    def n_data(self) -> int:
        """The number of data values, P k."""
        return self.measurement.shape[0] * self.measurement.shape[1]

    def arcs(self, params: TankParameters) -> list[ArcIntegrals]:
        """Each electrode's :func:`arc_integrals` on this mesh's boundary."""
        half = params.widths / 2
        return [arc_integrals(self.ring_nodes, self.ring_angles, self.radius, c - h, c + h)
                for c, h in zip(params.centers, half, strict=True)]

    def _fields(self, params: TankParameters, arcs: list[ArcIntegrals]) -> tuple[np.ndarray, np.ndarray]:
        """Unit fields: nodal parts (N, L-1) and electrode potentials W = Q Lambda_U (L, L-1)."""
        N, L, Q = self.N, self.L, self.Q
        z = params.contact_impedance
        r, c, v = [], [], []
        C = np.zeros((N, L))
        for l, arc in enumerate(arcs):
            rr, cc = np.meshgrid(arc.nodes, arc.nodes, indexing="ij")
            r.append(rr.ravel()), c.append(cc.ravel()), v.append(arc.mass.ravel() / z[l])
            C[arc.nodes, l] = -arc.load / z[l]
        B = sp.csr_matrix((np.concatenate(v), (np.concatenate(r), np.concatenate(c))), shape=(N, N))
        lengths = np.array([a.length for a in arcs])
        CQ = sp.csr_matrix(C @ Q)
        K = sp.bmat([[params.conductivity * self.A + B, CQ],
                     [CQ.T, sp.csr_matrix(Q.T @ ((lengths / z)[:, None] * Q))]], format="csc")
        rhs = np.zeros((N + L - 1, L - 1))
        rhs[N:] = np.eye(L - 1)
        lam = splu(K).solve(rhs)
        return lam[:N], Q @ lam[N:]

    def _data(self, Z: np.ndarray) -> np.ndarray:
        U = self.currents @ Z  # (P, L): U_p = Z I_p, Z symmetric
        return np.einsum("pkl,pl->pk", self.measurement, U).ravel()

    def simulate(self, params: TankParameters, jacobian: bool = False
                 ) -> tuple[np.ndarray, np.ndarray | None]:
        """Data (P k,) and, with ``jacobian``, their derivatives (P k, 1 + 3 L) in
        ``theta = [log sigma, log z, c, log w]`` (:meth:`TankParameters.vector`)."""
        if params.L != self.L:
            raise ValueError(f"parameters describe {params.L} electrodes, the patterns {self.L}")
        arcs = self.arcs(params)
        lam_u, W = self._fields(params, arcs)
        y = self._data(W @ self.Q.T)
        if not jacobian:
            return y, None
        L = self.L
        H = np.zeros((1 + 3 * L, L - 1, L - 1))
        H[0] = params.conductivity * (lam_u.T @ (self.A @ lam_u))
        for l, arc in enumerate(arcs):
            z, lu, w = params.contact_impedance[l], lam_u[arc.nodes], W[l]
            H[1 + l] = -_electrode_energy(lu, w, arc.mass, arc.load, arc.length) / z
            da, db = (_electrode_energy(lu, w, arc.d_mass[k], arc.d_load[k], arc.d_length[k]) / z
                      for k in (0, 1))
            H[1 + L + l] = da + db                              # centre: a and b move together
            H[1 + 2 * L + l] = params.widths[l] / 2 * (db - da)  # log width: a, b = c -+ w/2
        G = -np.einsum("ia,nab,jb->nij", self.Q, H, self.Q)  # dZ/dtheta (n, L, L)
        dU = np.einsum("pl,nlj->npj", self.currents, G)
        J = np.einsum("pkl,npl->pkn", self.measurement, dU).reshape(self.n_data, -1)
        return y, J
