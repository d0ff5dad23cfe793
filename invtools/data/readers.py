"""Readers of measurement files for ``invtools reconstruct``. Layouts (see datasets/README.md):

- **HDF5** (``.h5``/``.hdf5``): dataset ``y`` of shape (m,) or (N, m); an invtools data set
  also carries its forward model (attribute ``operator``) and ground truths ``x``.
- **NPZ**: array ``y`` (m,) or (N, m); optional ``y_ref`` (m,) for difference imaging.
- **CSV**: one measurement vector per row (N rows of m numbers, or a single column of m
  values); comma or whitespace separated, ``#`` starts a comment.
- **MATLAB** ``.mat`` (v5-v7.2): a variable ``y`` (m,) or (N, m). A device's own layout is
  read by its description (:mod:`invtools.devices.reader`).

Every problem is a :class:`~invtools.data.h5file.DataFileError` naming the file and what is
wrong; nothing else escapes a reader.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from invtools.data.h5file import DataFileError
from invtools.data.safe_read import check_mat, check_npz, check_text_size, safe_dataset

FORMATS = {".h5": "hdf5", ".hdf5": "hdf5", ".npz": "npz", ".csv": "csv", ".txt": "csv", ".mat": "mat"}


@dataclass
class Measurements:
    """Measured data and what came with it.

    y: (N, m) float64, NaN where a value is missing (HDF5/NPZ; a device's reader puts 0 there
    and sets ``mask``). mask: (m,) True where measured, shared by every row (None: all, or rows
    with different masks, whose NaN tell). reference: (m,) data of a reference state for
    difference imaging. x: (N, *in_shape) ground truths if known. operator: forward-model
    config if the file defines it. extra: what else came with the data (a device's
    ``currents`` (P, L) and ``measurement`` (k, L), an HDF5 file's ``x0``, ...).
    """

    y: np.ndarray
    path: Path
    mask: np.ndarray | None = None
    reference: np.ndarray | None = None
    x: np.ndarray | None = None
    operator: dict[str, Any] | None = None
    parametrization: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _numeric(a: Any, path: Path, name: str, allow_nan: bool = False) -> np.ndarray:
    try:
        arr = np.asarray(a)
    except Exception:  # noqa: BLE001
        raise DataFileError(f"{path}: {name} is not an array") from None
    if arr.dtype.kind not in "biuf":
        raise DataFileError(f"{path}: {name} must be numeric, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if arr.size == 0:
        raise DataFileError(f"{path}: {name} is empty")
    bad = np.isinf(arr) if allow_nan else ~np.isfinite(arr)
    if bad.any():
        raise DataFileError(f"{path}: {name} has {int(bad.sum())} non-finite value(s) (NaN or Inf)")
    return arr


def _as_rows(y: np.ndarray, path: Path, name: str = "y") -> np.ndarray:
    if y.ndim == 1:
        return y[None, :]
    if y.ndim == 2 and y.shape[1] == 1 and y.shape[0] > 1:
        return y.T
    if y.ndim == 2:
        return y
    raise DataFileError(f"{path}: {name} must be (m,) or (N, m), got shape {y.shape}")


def _read_hdf5(path: Path) -> Measurements:
    import h5py

    try:
        f = h5py.File(path, "r")
    except Exception:  # noqa: BLE001
        raise DataFileError(f"{path}: not an HDF5 file (or truncated)") from None
    with f:
        y = _as_rows(_numeric(safe_dataset(path, f, "y")[()], path, "y", allow_nan=True), path)
        explicit = safe_dataset(path, f, "mask")[()] if f.get("mask", getlink=True) is not None else None
        m = _with_mask(Measurements(y.reshape(y.shape[0], -1), path), explicit)
        if "operator" in f.attrs:
            try:
                m.operator = json.loads(f.attrs["operator"])
            except (TypeError, json.JSONDecodeError):
                raise DataFileError(f"{path}: attribute 'operator' is not valid JSON") from None
            m.parametrization = str(f.attrs.get("parametrization", "identity"))
            try:
                m.extra["noise"] = json.loads(f.attrs["recipe"])["noise"]["relative"]
            except (KeyError, TypeError, ValueError):
                pass
        if f.get("x", getlink=True) is not None:
            x = _numeric(safe_dataset(path, f, "x")[()], path, "x")
            if x.shape[0] != y.shape[0]:
                raise DataFileError(f"{path}: x has {x.shape[0]} samples but y has {y.shape[0]}")
            m.x = x
        if f.get("x0", getlink=True) is not None:
            m.extra["x0"] = _numeric(safe_dataset(path, f, "x0")[()], path, "x0")
    return m


def _with_mask(m: Measurements, explicit: Any = None) -> Measurements:
    """Missing values of HDF5/NPZ data: NaN in ``y``, and/or an explicit boolean ``mask``
    ((m,) or (N, m), True where measured), which sets NaN where it is False. ``m.mask`` is the
    rows' common mask when they share one (None when nothing is missing)."""
    if explicit is not None:
        mask = np.asarray(explicit)
        if mask.dtype != bool and not (mask.dtype.kind in "iu" and np.isin(mask, (0, 1)).all()):
            raise DataFileError(f"{m.path}: mask must be boolean (or 0/1), got dtype {mask.dtype}")
        mask = mask.astype(bool)
        if mask.shape not in (m.y.shape, m.y.shape[1:]):
            raise DataFileError(f"{m.path}: mask has shape {mask.shape}, y {m.y.shape}: expected "
                                f"{m.y.shape[1:]} or {m.y.shape}")
        m.y = np.where(mask, m.y, np.nan)
    kept = np.isfinite(m.y)
    empty = ~kept.any(axis=1)
    if empty.any():
        raise DataFileError(f"{m.path}: sample {int(np.argmax(empty))} has every value missing (NaN)")
    if not kept.all():
        m.mask = kept[0] if (kept == kept[0]).all() else None
        m.extra["missing"] = int((~kept).sum())
    return m


def _read_npz(path: Path) -> Measurements:
    check_npz(path)
    try:
        z = np.load(path, allow_pickle=False)
        keys = set(z.files)
    except Exception:  # noqa: BLE001
        raise DataFileError(f"{path}: not a valid .npz archive (or truncated)") from None
    with z:
        if "y" not in keys:
            raise DataFileError(f"{path}: array 'y' is missing (found {sorted(keys)})")
        try:
            y, ref = z["y"], (z["y_ref"] if "y_ref" in keys else None)
            explicit = z["mask"] if "mask" in keys else None
        except Exception:  # noqa: BLE001
            raise DataFileError(f"{path}: cannot read the arrays (corrupt archive)") from None
        y = _as_rows(_numeric(y, path, "y", allow_nan=True), path)
        m = _with_mask(Measurements(y, path), explicit)
        if ref is not None:
            m.reference = _numeric(ref, path, "y_ref").ravel()
    return m


def _read_csv(path: Path) -> Measurements:
    check_text_size(path)
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise DataFileError(f"{path}: not a text (CSV) file") from None
    rows = []
    for k, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            rows.append([float(v) for v in line.replace(",", " ").split()])
        except ValueError:
            raise DataFileError(f"{path}: line {k} holds a value that is not a number") from None
    if not rows:
        raise DataFileError(f"{path}: no numbers found")
    if len({len(r) for r in rows}) != 1:
        raise DataFileError(f"{path}: rows have different lengths {sorted({len(r) for r in rows})}")
    return Measurements(_as_rows(_numeric(rows, path, "y"), path), path)


def _loadmat(path: Path) -> dict[str, Any]:
    import scipy.io

    check_mat(path)
    try:
        return scipy.io.loadmat(path)
    except NotImplementedError:
        raise DataFileError(f"{path}: MATLAB v7.3 files are HDF5; save with -v7 or use .h5") from None
    except Exception:  # noqa: BLE001
        raise DataFileError(f"{path}: not a readable MATLAB .mat file (or truncated)") from None


def _read_mat(path: Path) -> Measurements:
    d = _loadmat(path)
    if "y" not in d:
        found = sorted(k for k in d if not k.startswith("_"))
        raise DataFileError(f"{path}: no variable 'y' (found {found}); a device's measurement file is "
                            "read by its description: pass --device NAME|TOML")
    return Measurements(_as_rows(_numeric(d["y"], path, "y"), path), path)


def read_measurements(path: str | Path) -> Measurements:
    """Read a measurement file of any supported layout (by extension)."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: no such file")
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataFileError(f"{path}: unknown extension {path.suffix!r}; use one of {sorted(FORMATS)}")
    readers = {"hdf5": _read_hdf5, "npz": _read_npz, "csv": _read_csv,
               "mat": _read_mat}
    try:
        return readers[fmt](path)
    except DataFileError:
        raise
    except Exception as err:  # noqa: BLE001 (any other failure of a parser is a malformed file)
        raise DataFileError(f"{path}: cannot read as {fmt} ({type(err).__name__}: {err})") from None
