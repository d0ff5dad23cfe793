"""``CEMForward``: the complete-electrode-model EIT operator on element conductivities.

Input ``sigma`` (B, ne), element conductivities (S/m), > 0.  Output (B, n_meas): measured
voltages (V) for the current patterns (A), e.g. adjacent differences, or the raw grounded
electrode potentials (P * L values, pattern-major) when no measurement pattern is given.

Derivatives by the adjoint method, with one factorisation per conductivity reused for the
P forward solves and every adjoint solve:

    J^T w:    Lambda = K^{-1} [0; Q^T W],   (J^T w)_e = -|T_e| sum_p grad Lambda_p . grad u_p
    J v:      dX = -K^{-1} (sum_e v_e K_e X)
    Jacobian: L adjoint fields Phi = K^{-1} [0; Q^T] (reciprocity), rows by contraction.

With at least L - 1 current patterns a batch is linearised as a whole from its unit fields
(:mod:`~forward_models.eit.unit_fields`: on the host by :meth:`CEMForward.host_batch`, on a
device by :mod:`~forward_models.eit.dense_batch`); otherwise, and with ``batched=False``, one
sample at a time (:mod:`~forward_models.eit.per_sample`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from skfem import MeshTet, MeshTri

from forward_models.eit.banded import BandedOrder, host_order
from forward_models.eit.cem import CEMSystem, cem_system, ground_basis
from forward_models.eit.dense_batch import DenseBatch
from forward_models.eit.domain_meshes import domain_from_config
from forward_models.eit.electrodes import Electrodes
from forward_models.eit.mesh import disk_mesh, electrode_facets
from forward_models.eit.patterns import resolve_patterns
from forward_models.eit.per_sample import Linearization, pairwise_dot, sum_of_products
from forward_models.eit.solvers import (
    AUTO_AMG_THRESHOLD,
    DENSE_MAX_UNKNOWNS,
    SOLVERS,
    EliminationOrder,
    blas_threads,
    make_solver,
    worker_pool,
)
from forward_models.eit.system_tensors import DeviceSystem, device_system
from forward_models.eit.unit_fields import UnitFieldBatch
from invtools.operators import Operator, OperatorInputError, register_operator
from invtools.operators.interface import forward_only
from invtools.support.deprecation import renamed_keyword
from invtools.support.reused_memory import ReusedOutput

Tensor = torch.Tensor
Batch = DenseBatch | UnitFieldBatch  # a batch linearised at once (else a list of Linearization)



@register_operator
class CEMForward(Operator):
    """Complete-electrode-model forward operator (P1 potentials, P0 conductivity) on a triangle
    (2-D) or tetrahedral (3-D) mesh. Domains: :meth:`on_disk`, and in :mod:`.domains` any
    outline, a mesh file, or a 3-D cylinder tank.

    Args:
        mesh: scikit-fem ``MeshTri`` or ``MeshTet`` (coordinates in metres).
        facets: per electrode, the indices of its boundary facets.
        contact_impedance: z_l > 0, scalar or (L,) (Ohm m in 2-D, Ohm m^2 in 3-D).
        currents: (P, L) injected currents (A), each pattern summing to zero.
        measurements: None (raw grounded potentials), an (m, L) matrix used for every
            pattern, or a list of P matrices (m_p, L).
        solver: ``"auto"``, ``"direct"`` (sparse LU), ``"amg"`` (pyamg-preconditioned CG) or
            ``"dense"`` (a batched dense Cholesky on the input's device, small meshes; see
            :mod:`~forward_models.eit.dense_batch`). ``"auto"`` is the sparse LU (AMG above
            200k unknowns) for CPU input and ``"dense"`` for CUDA input of at most
            ``DENSE_MAX_UNKNOWNS`` unknowns; larger systems are solved on the host.
        n_threads: threads over the batch (default: torch's intra-op thread count).
        blas_threads: BLAS threads per batch worker while solving (default 1: the batch
            threads are the parallelism; None leaves the BLAS library's own setting).
        batched: with at least L - 1 current patterns, derive everything from the unit fields
            by batched products (:mod:`~forward_models.eit.unit_fields`; the default). False
            keeps each sample's fields and derivatives apart, in NumPy, as the operator does
            with fewer patterns; both give the same values to rounding.
    """

    has_hvp = True

    def __init__(self, mesh: MeshTri, facets: list[np.ndarray], contact_impedance,
                 currents: np.ndarray, measurements=None, *, solver: str = "auto",
                 n_threads: int | None = None, blas_threads: int | None = 1, batched: bool = True):
        L = len(facets)
        self.mesh, self.facets = mesh, [np.asarray(f, dtype=np.int64) for f in facets]
        self.z = np.broadcast_to(np.asarray(contact_impedance, dtype=np.float64), (L,)).copy()
        if np.any(self.z <= 0):
            raise ValueError("contact impedances must be > 0")
        currents = np.atleast_2d(np.asarray(currents, dtype=np.float64))
        if currents.shape[1] != L:
            raise ValueError(f"currents must have shape (P, {L}), got {currents.shape}")
        bad = np.abs(currents.sum(axis=1)) > 1e-10 * np.abs(currents).max(initial=1.0)
        if bad.any():
            raise ValueError(f"current pattern {int(np.argmax(bad))} does not sum to zero")
        self.currents = currents
        P = currents.shape[0]
        if measurements is None:
            meas = [np.eye(L)] * P
        elif isinstance(measurements, np.ndarray) and measurements.ndim == 2:
            meas = [measurements] * P
        else:
            meas = [np.asarray(m, dtype=np.float64) for m in measurements]
        if len(meas) != P or any(m.ndim != 2 or m.shape[1] != L for m in meas):
            raise ValueError(f"measurements must be (m, {L}) or a list of {P} such matrices")
        self.measurements = meas
        self._shared_measurements = all(np.array_equal(m, meas[0]) for m in meas)
        self._measurements_q = [m @ ground_basis(L) for m in meas]  # (m_p, L-1)
        self.S = sp.block_diag([sp.csr_matrix(m) for m in meas], format="csr")  # (n_meas, P L)
        if solver not in ("auto", *SOLVERS):
            raise ValueError(f"unknown solver {solver!r}; choose from {['auto', *SOLVERS]}")
        self.solver_kind = solver
        self.n_threads = n_threads or torch.get_num_threads()
        self.blas_threads = blas_threads
        self.batched = batched
        self.system: CEMSystem = cem_system(mesh, self.facets, self.z)
        self.in_shape, self.out_shape = (mesh.t.shape[1],), (self.S.shape[0],)
        self._recipe: dict[str, Any] | None = None  # the disk's construction
        self._domain: dict[str, Any] | None = None  # another domain's (forward_models.eit.domains)
        self._device_systems: dict[torch.device, DeviceSystem] = {}
        self._host_order: EliminationOrder | BandedOrder | None = None  # made on the first host batch
        self._elimination_order: EliminationOrder | None = None  # the sparse LU's, when not the host's
        self._jacobian_memory = ReusedOutput()  # the last Jacobian's memory, once it is let go

    # --- construction helpers -------------------------------------------------------------
    @classmethod
    def on_disk(cls, electrodes: Electrodes, mesh_size: float | None = None, radius: float = 1.0,
                currents: str | np.ndarray = "adjacent",
                measurements: str | np.ndarray | list | None = "differences",
                exclude_driving: bool = False, edge_levels: int = 0,
                solver: str = "auto", n_threads: int | None = None,
                blas_threads: int | None = 1, *, h: float | None = None) -> CEMForward:
        """Operator on :func:`disk_mesh` (element size ``mesh_size``, same unit as ``radius``;
        ``h`` is its deprecated former name) with named or explicit patterns."""
        h = renamed_keyword(mesh_size, h, "h", "mesh_size")
        mesh = disk_mesh(electrodes, h, radius, edge_levels)
        I, M = resolve_patterns(electrodes.L, currents, measurements, exclude_driving)
        op = cls(mesh, electrode_facets(mesh, electrodes), electrodes.contact_impedance, I, M,
                 solver=solver, n_threads=n_threads, blas_threads=blas_threads)
        op._recipe = {"electrodes": electrodes.config(), "h": h, "radius": radius,
                      "edge_levels": edge_levels}
        return op

    @property
    def n_patterns(self) -> int:
        return self.currents.shape[0]

    @property
    def n_electrodes(self) -> int:
        return len(self.facets)

    # --- validation and batching ------------------------------------------------------------
    def check_input(self, x: Tensor) -> None:
        super().check_input(x)
        if bool((x <= 0).any()):
            b, e = (int(i) for i in torch.nonzero(x <= 0)[0])
            raise OperatorInputError(
                f"conductivity must be > 0; sample {b}, element {e} is {float(x[b, e].detach()):.3g}"
                " (iterative methods: work on log-conductivity, "
                "invtools.operators.composition.log_parametrized(op))")

    def _map(self, fn, *batches):
        """``[fn(*sample) for sample in zip(*batches)]`` on ``n_threads`` persistent batch threads."""
        B = len(batches[0])
        with blas_threads(self.blas_threads):
            if self.n_threads <= 1 or B == 1:
                return [fn(*(a[b] for a in batches)) for b in range(B)]
            return list(worker_pool(self.n_threads).map(fn, *batches))

    @staticmethod
    def _np(t: Tensor) -> np.ndarray:
        return t.detach().cpu().numpy().astype(np.float64, copy=False)

    @staticmethod
    def _torch(a: list[np.ndarray] | np.ndarray, like: Tensor) -> Tensor:
        return torch.as_tensor(np.asarray(a), dtype=like.dtype, device=like.device)

    def solves_on_device(self, x: Tensor) -> bool:
        """Whether ``x`` is solved by the batched dense path on its own device."""
        if self.solver_kind == "dense":
            return True
        return (self.solver_kind == "auto" and x.device.type == "cuda"
                and self.system.size <= DENSE_MAX_UNKNOWNS)

    def device_system(self, device: torch.device) -> DeviceSystem:
        """The system's tensors on ``device`` (made once per device)."""
        device = torch.device(device)
        if device not in self._device_systems:
            mq = self._measurements_q[:1] if self._shared_measurements else self._measurements_q
            self._device_systems[device] = device_system(self.system, self.currents, self.S, mq,
                                                         device)
        return self._device_systems[device]

    def _dense_batch(self, x: Tensor) -> DenseBatch:
        return DenseBatch(self.device_system(x.device), x.detach().double())

    def uses_unit_fields(self) -> bool:
        """Whether a host batch is linearised by :class:`UnitFieldBatch` (``batched`` and at
        least L - 1 current patterns, so the L - 1 unit solves are the cheapest forward)."""
        return self.batched and self.n_patterns >= self.n_electrodes - 1

    def host_batch(self, x: Tensor, forward_only: bool = False) -> UnitFieldBatch:
        """Conductivities (B, ne) on the host, linearised from their unit fields: each sample
        factorised on the batch threads in the operator's fixed layout (:meth:`host_order`: a
        banded Cholesky with the electrode block as its border on small meshes, else a sparse
        LU with the electrode unknowns last), and every derivative by batched products
        (:class:`UnitFieldBatch`). ``forward_only``: the electrode potentials come from the
        factors' trailing blocks, with no solve, and the L - 1 unit solves wait for a
        derivative; otherwise they are solved for at once. AMG (``solver="amg"``, or "auto"
        above its threshold) always solves for the unit fields."""
        ordered = (self.solver_kind == "direct"
                   or (self.solver_kind == "auto" and self.system.size <= AUTO_AMG_THRESHOLD))
        order = self.host_order() if ordered else None
        ds = self.device_system(torch.device("cpu"))
        rhs, n = self.system.unit_rhs(), self.system.n_nodes

        def factorise(sigma: np.ndarray):
            K = self.system.matrix(sigma)
            if not ordered:
                solver = make_solver(K, self.solver_kind)
                psi = solver.solve(rhs)
                return solver, psi[n:], psi
            solver = order.factorise(K)
            if forward_only:
                return solver, solver.trailing_inverse(), None
            psi = solver.unit_fields()
            return solver, psi[n:], psi

        # SuperLU's factorisations on the batch threads (they gain there, the more the larger
        # the mesh); its solves and LAPACK's band kernels hold the GIL: those run on this thread
        sigmas = self._np(x)
        if isinstance(order, BandedOrder):
            with blas_threads(self.blas_threads):
                parts = [factorise(sigma) for sigma in sigmas]
        else:
            parts = self._map(factorise, sigmas)
        solvers = [part[0] for part in parts]

        def solve(b: Tensor) -> Tensor:
            with blas_threads(self.blas_threads):
                out = [solver.solve(r) for solver, r in zip(solvers, b.detach().numpy(), strict=True)]
            return torch.from_numpy(np.stack(out))

        electrodes = torch.from_numpy(np.stack([part[1] for part in parts]))
        psi = None if parts[0][2] is None else torch.from_numpy(np.stack([part[2] for part in parts]))
        return UnitFieldBatch(ds, electrodes, solve, psi)

    def host_order(self) -> EliminationOrder | BandedOrder:
        """The fixed layout of the host factorisations (made once, on first use): banded where
        it is cheaper and the solver is ``"auto"``, else sparse LU (:func:`host_order`)."""
        if self._host_order is None:
            self._host_order = host_order(self.system.matrix(np.ones(self.n_in)),
                                          self.n_electrodes - 1, banded=self.solver_kind == "auto")
        return self._host_order

    def elimination_order(self) -> EliminationOrder:
        """The sparse LU's fixed elimination order, electrode unknowns last (for comparisons)."""
        order = self.host_order()
        if isinstance(order, EliminationOrder):
            return order
        if self._elimination_order is None:  # the band is the host's: made once, for comparisons
            self._elimination_order = EliminationOrder(self.system.matrix(np.ones(self.n_in)),
                                                       self.n_electrodes - 1)
        return self._elimination_order

    def _batch(self, x: Tensor) -> Batch | None:
        """The batched linearisation of ``x`` (None: the per-sample path)."""
        if self.solves_on_device(x):
            return self._dense_batch(x)
        return self.host_batch(x, forward_only()) if self.uses_unit_fields() else None

    # --- physics ------------------------------------------------------------------------------
    def linearize(self, sigma: np.ndarray) -> Linearization:
        """Factorise K(sigma) and solve the P forward problems for one conductivity (ne,)."""
        solver = make_solver(self.system.matrix(sigma), self.solver_kind)
        return Linearization(self.system, solver, self.currents)

    def electrode_potentials(self, sigma: Tensor) -> Tensor:
        """Grounded electrode potentials (B, P, L); each row sums to zero."""
        self.check_input(sigma)
        batch = self._batch(sigma)
        if batch is not None:
            return batch.map("electrode_potentials").to(sigma.dtype)
        lins = self._map(self.linearize, self._np(sigma))
        return self._torch([lin.U for lin in lins], sigma)

    def _adjoint_fields(self, lin: Linearization, w: np.ndarray) -> np.ndarray:
        """Element gradients (d, ne, P) of Lambda = K^{-1} [0; Q^T W], W = S^T w as (P, L)."""
        return lin.adjoint_gradients((self.S.T @ w).reshape(self.n_patterns, self.n_electrodes))

    def _tangent_fields(self, lin: Linearization, v: np.ndarray, grad_fields: np.ndarray):
        """Solutions -K^{-1} (sum_e v_e K_e F) for fields F given by element gradients."""
        return lin.solver.solve(-self.system.stiffness_action(v, grad_fields))

    def _forward(self, x: Tensor):
        batch = self._batch(x)
        if batch is not None:
            return batch.map("forward").to(x.dtype), batch
        lins = self._map(self.linearize, self._np(x))
        y = [self.S @ lin.U.ravel() for lin in lins]
        return self._torch(y, x), lins

    def _jvp(self, x: Tensor, lins: list[Linearization] | Batch, v: Tensor) -> Tensor:
        if not isinstance(lins, list):
            return lins.map("jvp", v.double()).to(x.dtype)
        def one(lin, vb):
            dX = self._tangent_fields(lin, vb, lin.grad_X)
            return self.S @ self.system.electrode_potentials(dX).ravel()

        return self._torch(self._map(one, lins, self._np(v)), x)

    def _vjp(self, x: Tensor, lins: list[Linearization] | Batch, w: Tensor) -> Tensor:
        if not isinstance(lins, list):
            return lins.map("vjp", w.double()).to(x.dtype)
        areas = self.system.areas

        def one(lin, wb):
            return -areas * pairwise_dot(self._adjoint_fields(lin, wb), lin.grad_X)

        return self._torch(self._map(one, lins, self._np(w)), x)

    def _hvp(self, x: Tensor, lins: list[Linearization] | Batch, w: Tensor, u: Tensor) -> Tensor:
        if not isinstance(lins, list):
            return lins.map("hvp", w.double(), u.double()).to(x.dtype)
        areas, grads = self.system.areas, self.system.element_gradients

        def one(lin, wb, ub):
            g_lam = self._adjoint_fields(lin, wb)
            g_dX = grads(self._tangent_fields(lin, ub, lin.grad_X))
            g_dlam = grads(self._tangent_fields(lin, ub, g_lam))
            return -areas * (pairwise_dot(g_lam, g_dX) + pairwise_dot(g_dlam, lin.grad_X))

        return self._torch(self._map(one, lins, self._np(w), self._np(u)), x)

    def jacobian(self, x: Tensor) -> Tensor:
        """Dense (B, n_meas, ne) Jacobian from the L - 1 unit (reciprocity) fields per sample.

        ``dU_l^(p) / dsigma_e = -|T_e| grad Phi_l . grad u_p`` with ``Phi = Psi Q^T`` the
        adjoint fields of the L electrode potentials, so measurement row m of pattern p
        contracts ``grad u_p`` with the adjoint field ``(M_p Q)[m] Psi``. On the CPU a float64
        output reuses the memory of this operator's previous Jacobian once nothing refers to
        it (:class:`~invtools.support.reused_memory.ReusedOutput`); it cannot be resized.
        """
        self.check_input(x)
        if self.solves_on_device(x):
            return self._dense_batch(x).map("jacobian").to(x.dtype)
        out = self._jacobian_memory.new((x.shape[0], *self.out_shape, *self.in_shape))

        P = self.n_patterns

        def adjoint_rows(MQ: np.ndarray, g_psi: np.ndarray) -> Tensor:
            """Measurement adjoint fields' gradients (d, m, ne): ``MQ @ grad Psi_c^T``."""
            adj = np.empty((g_psi.shape[0], MQ.shape[0], g_psi.shape[1]))
            for c, g in enumerate(g_psi):
                np.matmul(MQ, g.T, out=adj[c])
            return torch.from_numpy(adj)

        def one(sigma, J):
            lin = self.linearize(sigma)
            g_psi = lin.unit_gradients()  # (d, ne, L-1)
            g_u = torch.from_numpy(lin.forward_gradient_rows(-self.system.areas))  # (d, P, ne)
            J = torch.from_numpy(J)
            if self._shared_measurements:  # rows (p, m): one contraction over every pattern
                adj = adjoint_rows(self._measurements_q[0], g_psi)
                sum_of_products(J.view(P, -1, J.shape[1]), adj[:, None], g_u[:, :, None])
                return
            row = 0
            for p, MQ in enumerate(self._measurements_q):
                block = J[row: row + MQ.shape[0]]
                sum_of_products(block, adjoint_rows(MQ, g_psi), g_u[:, p, None])
                row += MQ.shape[0]

        self._map(one, self._np(x), out.numpy())
        return out.to(dtype=x.dtype, device=x.device)

    # --- serialisation --------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {"type": type(self).__name__, "currents": self.currents.tolist(),
                               "measurements": [m.tolist() for m in self.measurements],
                               "contact_impedance": self.z.tolist(), "solver": self.solver_kind}
        if self._recipe is not None:
            cfg["disk"] = self._recipe
        elif self._domain is not None:
            cfg.update(self._domain)
        else:
            cfg["mesh"] = {"p": self.mesh.p.T.tolist(), "t": self.mesh.t.T.tolist(),
                           "facets": [f.tolist() for f in self.facets]}
        return cfg

    @classmethod
    def example(cls) -> CEMForward:
        return cls.on_disk(Electrodes.equally_spaced(8, 0.5, 0.01), 0.3)

    def example_input(self, batch: int = 2, seed: int = 0) -> Tensor:
        """Positive conductivities around 1 S/m."""
        return torch.exp(0.3 * super().example_input(batch, seed))

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> CEMForward:
        currents = np.asarray(cfg["currents"])
        meas = [np.asarray(m) for m in cfg["measurements"]]
        if "disk" in cfg:
            d = cfg["disk"]
            el = Electrodes.from_config(d["electrodes"])
            el = Electrodes(el.centers, el.widths, np.asarray(cfg["contact_impedance"]))
            return cls.on_disk(el, d["h"], d["radius"], currents, meas,
                               edge_levels=d["edge_levels"], solver=cfg["solver"])
        if "outline" in cfg or "cylinder" in cfg:  # another domain (forward_models.eit.domains)
            mesh, facets, record = domain_from_config(cfg)
            op = cls(mesh, facets, np.asarray(cfg["contact_impedance"]), currents, meas, solver=cfg["solver"])
            op._domain = record
            return op
        m = cfg["mesh"]
        t = np.asarray(m["t"]).T
        mesh = (MeshTet if t.shape[0] == 4 else MeshTri)(np.asarray(m["p"]).T, t)
        return cls(mesh, [np.asarray(f) for f in m["facets"]], np.asarray(cfg["contact_impedance"]),
                   currents, meas, solver=cfg["solver"])
