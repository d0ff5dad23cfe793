"""The CEM on torch's device: a batched dense Cholesky of the reduced SPD system, and every
derivative from it, with no host round trip.

For the meshes the nets train on (the tank's image mesh: about 600 unknowns), one (B, n, n)
``potrf`` and triangular solves on all right-hand sides at once are the whole cost, and they run
where the input lives: on a GPU they take milliseconds for a batch, on the CPU they are
selectable (``solver="dense"``) and equal the sparse LU to rounding. The derivatives are the
batched unit-field formulas of :mod:`forward_models.eit.unit_fields`; only the solver is dense.
"""

from __future__ import annotations

import torch

from forward_models.eit.solvers import DENSE_MAX_UNKNOWNS, SingularSystemError
from forward_models.eit.system_tensors import DeviceSystem
from forward_models.eit.unit_fields import UnitFieldBatch, unit_rhs

Tensor = torch.Tensor

CPU_CHUNK_BYTES = 2 << 30  # the most a chunk's factors may take on the CPU (CUDA: a quarter of free)


def check_dense_size(ds: DeviceSystem) -> None:
    """Refuse a system too large for a dense factor."""
    if ds.size > DENSE_MAX_UNKNOWNS:
        raise ValueError(f"solver 'dense' is for systems of at most {DENSE_MAX_UNKNOWNS} unknowns; "
                         f"this one has {ds.size} (use 'direct' or 'amg')")


def chunk_size(ds: DeviceSystem, device: torch.device) -> int:
    """Samples per chunk, so that a chunk's (B, n, n) factors fit the device's budget."""
    per_sample = 8 * ds.size**2 * 3  # the matrix, its factor and the solves' workspace
    if device.type == "cuda":
        budget = torch.cuda.mem_get_info(device)[0] // 4
    else:
        budget = CPU_CHUNK_BYTES
    return max(1, int(budget // per_sample))


def assemble(ds: DeviceSystem, sigma: Tensor) -> Tensor:
    """Dense CEM matrices (B, n, n) for element conductivities sigma (B, ne)."""
    values = ds.data0 + (ds.data_map @ sigma.T).T  # (B, nnz)
    K = torch.zeros(sigma.shape[0], ds.size * ds.size, dtype=sigma.dtype, device=sigma.device)
    K[:, ds.flat] = values
    return K.view(-1, ds.size, ds.size)


class DenseLinearization(UnitFieldBatch):
    """The Cholesky factors and unit fields of a batch of conductivities (B, ne), on their device."""

    def __init__(self, ds: DeviceSystem, sigma: Tensor):
        check_dense_size(ds)
        self.factor, info = torch.linalg.cholesky_ex(assemble(ds, sigma))
        bad = torch.nonzero(info).flatten()
        if bad.numel():
            b = int(bad[0])
            raise SingularSystemError(f"CEM system of sample {b} is singular or not positive "
                                      f"definite (Cholesky failed at column {int(info[b])})")
        psi = torch.cholesky_solve(unit_rhs(ds, sigma).expand(sigma.shape[0], -1, -1), self.factor)
        super().__init__(ds, psi[:, ds.n_nodes:], lambda rhs: torch.cholesky_solve(rhs, self.factor),
                         psi)


class DenseBatch:
    """A batch's :class:`DenseLinearization` in chunks that fit the device (a list of slices)."""

    def __init__(self, ds: DeviceSystem, sigma: Tensor):
        step = chunk_size(ds, sigma.device)
        self.parts = [DenseLinearization(ds, sigma[a: a + step])
                      for a in range(0, sigma.shape[0], step)]
        self.step = step

    def map(self, name: str, *args: Tensor) -> Tensor:
        """``getattr(part, name)(*chunk_args)`` over the chunks, concatenated on the batch."""
        out = [getattr(part, name)(*(a[i * self.step:(i + 1) * self.step] for a in args))
               for i, part in enumerate(self.parts)]
        return out[0] if len(out) == 1 else torch.cat(out)
