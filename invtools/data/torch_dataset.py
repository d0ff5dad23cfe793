"""A torch ``Dataset`` over an invtools HDF5 data set, read lazily (one file handle per
process, opened on first access, so it works with DataLoader worker processes)."""

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


class H5Dataset(Dataset):
    """Samples ``(x, y, x0)`` as float32 tensors, x and x0 in the network variable (e.g.
    log-conductivity for recipes with ``parametrization = "log"``).

    Args:
        path: an HDF5 file written by ``invtools generate`` or ``invtools merge``.
        indices: optional subset (e.g. a validation split) of row indices.
    """

    def __init__(self, path: str | Path, indices: np.ndarray | None = None):
        self.path = Path(path)
        with open_data_file(self.path) as f:
            self.attrs: dict[str, Any] = decode_attrs(f)
            self.n_rows = f["x"].shape[0]
            self.mesh = read_mesh(f)
        self.indices = np.arange(self.n_rows) if indices is None else np.asarray(indices)
        if self.indices.size and (self.indices.min() < 0 or self.indices.max() >= self.n_rows):
            raise DataFileError(f"{self.path}: indices out of range 0..{self.n_rows - 1}")
        self.parametrization: str = self.attrs["parametrization"]
        self._file: h5py.File | None = None
        self._pid: int | None = None

    def __len__(self) -> int:
        return len(self.indices)

    def _handle(self) -> h5py.File:
        import os

        if self._file is None or self._pid != os.getpid():
            self._file, self._pid = h5py.File(self.path, "r"), os.getpid()
        return self._file

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        f, row = self._handle(), int(self.indices[i])
        x, y, x0 = (np.asarray(f[name][row], dtype=np.float32) for name in ("x", "y", "x0"))
        return (torch.from_numpy(to_net(x, self.parametrization)), torch.from_numpy(y),
                torch.from_numpy(to_net(x0, self.parametrization)))

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_file": None, "_pid": None}

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
