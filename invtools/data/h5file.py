"""The invtools HDF5 data-set schema (version 1), documented in ``datasets/README.md``.

Datasets: ``x`` (N, *in_shape) ground truths, ``y`` (N, *out_shape) noisy data, ``x0``
(N, *in_shape) initial guesses, all float32, physical units, chunked and gzip-compressed;
optional group ``mesh`` with ``points`` (d, n_nodes) and ``triangles`` (3, n_elements) in 2-D or
``tetrahedra`` (4, n_elements) in 3-D, for EIT.
Attributes (JSON strings unless noted): ``schema`` (int), ``recipe``, ``operator`` (the
forward model's full config), ``parametrization`` (str), ``seed`` (int), ``sample_offset``
and ``total_samples`` (ints: this file holds samples offset .. offset + N - 1 of a data set of
total_samples; shards have offset > 0 or N < total), ``provenance``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from invtools.data.safe_read import DataFileError, safe_dataset
from invtools.operators import operator_from_config

SCHEMA_VERSION = 1
ARRAYS = ("x", "y", "x0")
JSON_ATTRS = ("recipe", "operator", "provenance", "sources")


def operator_of(cfg: Any, path: str | Path):
    """The forward model that a file's ``operator`` attribute describes; a config that does not
    build one is a :class:`DataFileError` naming the file, the attribute and what is wrong."""
    try:
        return operator_from_config(cfg)
    except DataFileError:
        raise
    except (ValueError, TypeError, KeyError) as err:
        what = f"key {err} is missing" if isinstance(err, KeyError) else str(err).splitlines()[0]
        what = what.removeprefix("operator config ")
        raise DataFileError(f"{path}: attribute 'operator': {what}") from None


def create_arrays(f: h5py.File, n: int, shapes: dict[str, tuple[int, ...]], chunk: int = 64) -> None:
    """Empty float32 datasets ``x``, ``y``, ``x0`` of n samples, chunked by samples, compressed."""
    for name, shape in shapes.items():
        f.create_dataset(name, shape=(n, *shape), dtype="float32",
                         chunks=(max(1, min(chunk, n)), *shape), compression="gzip",
                         compression_opts=4, shuffle=True)


def write_attrs(f: h5py.File, attrs: dict[str, Any]) -> None:
    """Set the file attributes ``attrs``, those of :data:`JSON_ATTRS` as JSON strings, the
    others as they are."""
    for key, value in attrs.items():
        f.attrs[key] = json.dumps(value) if key in JSON_ATTRS else value


def element_name(elements: np.ndarray) -> str:
    """The mesh group's element dataset: ``triangles`` (3, ne) in 2-D, ``tetrahedra`` (4, ne) in 3-D."""
    return "tetrahedra" if np.asarray(elements).shape[0] == 4 else "triangles"


def _elements_path(f: h5py.File) -> str:
    """Where a file's mesh elements are: ``mesh/tetrahedra`` (3-D) or ``mesh/triangles``."""
    return "mesh/tetrahedra" if "mesh/tetrahedra" in f else "mesh/triangles"


def read_mesh(f: h5py.File) -> tuple[np.ndarray, np.ndarray] | None:
    """(points (d, N), elements (d+1, ne)) of a file's ``mesh`` group, or None."""
    if "mesh" not in f:
        return None
    return f["mesh/points"][()], f[_elements_path(f)][()]


def write_mesh(f: h5py.File, mesh) -> None:
    """Write the group ``mesh`` of a mesh with ``p`` (d, n_nodes) and ``t`` (d+1, ne): float64
    ``points`` and int64 ``triangles`` or ``tetrahedra``; nothing when ``mesh`` is None."""
    if mesh is not None:
        g = f.create_group("mesh")
        g.create_dataset("points", data=np.asarray(mesh.p, dtype=np.float64))
        g.create_dataset(element_name(mesh.t), data=np.asarray(mesh.t, dtype=np.int64))


def read_attrs(path: str | Path) -> dict[str, Any]:
    """The decoded attributes of an invtools data file (raises :class:`DataFileError`)."""
    with open_data_file(path) as f:
        return decode_attrs(f)


def decode_attrs(f: h5py.File) -> dict[str, Any]:
    """The attributes of an open file, those of :data:`JSON_ATTRS` parsed from JSON (invalid
    JSON is a :class:`DataFileError`) and numpy scalars as Python values."""
    out: dict[str, Any] = {}
    for key, value in f.attrs.items():
        if key in JSON_ATTRS:
            try:
                out[key] = json.loads(value)
            except (TypeError, json.JSONDecodeError):
                raise DataFileError(f"{f.filename}: attribute {key!r} is not valid JSON") from None
        else:
            out[key] = value.item() if isinstance(value, np.generic) else value
    return out


def open_data_file(path: str | Path, require: tuple[str, ...] = ("x", "y", "x0")) -> h5py.File:
    """Open an invtools data set read-only, checking the schema and the named datasets."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: no such file")
    try:
        with open(path, "rb"):
            pass
    except OSError as err:  # permissions, a device error: not the file's content
        reason = ("permission denied" if isinstance(err, PermissionError)
                  else err.strerror or type(err).__name__)
        raise DataFileError(f"{path}: cannot be read ({reason})") from None
    try:
        f = h5py.File(path, "r")
    except OSError:
        raise DataFileError(f"{path}: not an HDF5 file (or truncated)") from None
    try:
        if int(f.attrs.get("schema", -1)) != SCHEMA_VERSION:
            raise DataFileError(f"{path}: not an invtools data set (schema attribute "
                                f"{f.attrs.get('schema')!r}, expected {SCHEMA_VERSION})")
        for key in ("operator", "recipe", "parametrization"):
            if key not in f.attrs:
                raise DataFileError(f"{path}: attribute {key!r} is missing")
        n = None
        for name in require:
            safe_dataset(path, f, name)
            if n is not None and f[name].shape[0] != n:
                raise DataFileError(f"{path}: dataset {name!r} has {f[name].shape[0]} samples, "
                                    f"expected {n}")
            n = f[name].shape[0]
        if f.get("mesh", getlink=True) is not None:
            for name in ("mesh/points", _elements_path(f)):
                safe_dataset(path, f, name)
    except Exception:
        f.close()
        raise
    return f
