"""A torch ``Dataset`` over an invtools HDF5 data set, read on first access in each process (so
it works with DataLoader worker processes): into memory when its rows fit ``IN_MEMORY_BYTES``,
else row by row from one file handle per process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from invtools.data.h5file import DataFileError, decode_attrs, open_data_file, operator_of, read_mesh
from invtools.operators import Operator
from invtools.operators.parametrization import net_operator, to_net

FIELDS = ("x", "y", "x0")
IN_MEMORY_BYTES = 1 << 30  # the rows of x, y and x0 as float32 up to this size are read at once


class H5Dataset(Dataset):
    """Samples ``(x, y, x0)`` as float32 tensors, x and x0 in the network variable (e.g.
    log-conductivity for recipes with ``parametrization = "log"``).

    Args:
        path: an HDF5 file written by ``invtools generate`` or ``invtools merge``.
        indices: optional subset (e.g. a validation split) of row indices.
        in_memory: read the subset's rows into memory at first access (default: when they take
            at most ``IN_MEMORY_BYTES`` as float32). Compressed chunks hold many rows, so a
            shuffled epoch read row by row decompresses each chunk once per row in it.
    """

    def __init__(self, path: str | Path, indices: np.ndarray | None = None, in_memory: bool | None = None):
        self.path = Path(path)
        with open_data_file(self.path) as f:
            self.attrs: dict[str, Any] = decode_attrs(f)
            self.n_rows = f["x"].shape[0]
            self.mesh = read_mesh(f)
            row_bytes = 4 * sum(int(np.prod(f[name].shape[1:])) for name in FIELDS)
        self.indices = np.arange(self.n_rows) if indices is None else np.asarray(indices)
        if self.indices.size and (self.indices.min() < 0 or self.indices.max() >= self.n_rows):
            raise DataFileError(f"{self.path}: indices out of range 0..{self.n_rows - 1}")
        self.parametrization: str = self.attrs["parametrization"]
        span = int(self.indices.max() - self.indices.min() + 1) if self.indices.size else 0
        self.in_memory = row_bytes * span <= IN_MEMORY_BYTES if in_memory is None else in_memory
        self._file: h5py.File | None = None
        self._pid: int | None = None
        self._rows: tuple[np.ndarray, ...] | None = None

    def __len__(self) -> int:
        return len(self.indices)

    def _handle(self) -> h5py.File:
        import os

        if self._file is None or self._pid != os.getpid():
            self._file, self._pid = h5py.File(self.path, "r"), os.getpid()
        return self._file

    def _read_rows(self) -> tuple[np.ndarray, ...]:
        """x, y, x0 of every row of ``indices`` (float32), read in one pass over their span."""
        if self._rows is None:
            f, lo = self._handle(), int(self.indices.min())
            hi = int(self.indices.max()) + 1
            self._rows = tuple(np.asarray(f[name][lo:hi], dtype=np.float32)[self.indices - lo]
                               for name in FIELDS)
        return self._rows

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.in_memory:
            x, y, x0 = (rows[i] for rows in self._read_rows())
        else:
            f, row = self._handle(), int(self.indices[i])
            x, y, x0 = (np.asarray(f[name][row], dtype=np.float32) for name in FIELDS)
        return (torch.from_numpy(to_net(x, self.parametrization)), torch.from_numpy(y),
                torch.from_numpy(to_net(x0, self.parametrization)))

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_file": None, "_pid": None, "_rows": None}

    def physical_operator(self) -> Operator:
        """The forward model of the file's ``operator`` attribute (on the physical variable,
        not the network's)."""
        return operator_of(self.attrs["operator"], self.path)

    def operator(self) -> Operator:
        """The operator the networks use (on the network variable)."""
        return net_operator(self.physical_operator(), self.parametrization)

    def split(self, fraction: float, seed: int = 0) -> tuple[H5Dataset, H5Dataset]:
        """Random (train, validation) subsets with ``fraction`` of the rows in validation."""
        if not 0 < fraction < 1:
            raise ValueError(f"validation fraction must be in (0, 1), got {fraction}")
        perm = np.random.default_rng(seed).permutation(self.indices)
        k = max(1, int(round(fraction * len(perm))))
        return H5Dataset(self.path, np.sort(perm[k:])), H5Dataset(self.path, np.sort(perm[:k]))
