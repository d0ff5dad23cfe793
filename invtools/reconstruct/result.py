"""The result of a reconstruction, and its HDF5 file."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from invtools.data.h5file import DataFileError
from invtools.data.readers import Measurements
from invtools.operators import Operator


@dataclass
class Reconstruction:
    """x: (N, *in_shape) in physical units (conductivity S/m for EIT)."""

    x: np.ndarray
    method: str
    operator: Operator
    parametrization: str
    source: Path
    truth: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def mesh(self) -> tuple[np.ndarray, np.ndarray] | None:
        from invtools.geometry import find_mesh

        mesh = find_mesh(self.operator)
        return None if mesh is None else (mesh.p, mesh.t)


def check_width(meas: Measurements, op: Operator, what: str) -> None:
    """Refuse data whose measurement count differs from the operator's output size."""
    if meas.y.shape[1] != op.n_out:
        raise DataFileError(f"{meas.path}: {meas.y.shape[1]} measurements per sample, but {what} expects "
                            f"{op.n_out}")


def write_reconstruction(rec: Reconstruction, out: str | Path) -> Path:
    """HDF5 with ``x`` (N, *in_shape) physical units, optional ``x_true``, ``mesh`` group, and
    attributes ``method``, ``source``, ``operator``, ``parametrization``, ``info``, ``provenance``."""
    import io

    import h5py

    from invtools.atomic import write_bytes_atomic
    from invtools.provenance import provenance

    out = Path(out)
    buffer = io.BytesIO()  # built in memory: a full disk fails in one plain write, not inside HDF5
    with h5py.File(buffer, "w") as f:
        f.create_dataset("x", data=rec.x.astype(np.float64))
        if rec.truth is not None:
            f.create_dataset("x_true", data=rec.truth)
        if rec.mesh is not None:
            g = f.create_group("mesh")
            g.create_dataset("points", data=rec.mesh[0])
            g.create_dataset("triangles", data=rec.mesh[1])
        f.attrs["kind"] = "reconstruction"
        f.attrs["method"] = rec.method
        f.attrs["source"] = str(rec.source)
        f.attrs["parametrization"] = rec.parametrization
        f.attrs["operator"] = json.dumps(rec.operator.config())
        f.attrs["info"] = json.dumps(rec.info)
        f.attrs["provenance"] = json.dumps(provenance(None, command="reconstruct"))
    write_bytes_atomic(out, buffer.getvalue())
    return out
