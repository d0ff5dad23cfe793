"""Readers of measurement files for ``invtools reconstruct``. Layouts (see datasets/README.md):

- **HDF5** (``.h5``/``.hdf5``): dataset ``y`` of shape (m,) or (N, m); an invtools data set
  also carries its forward model (attribute ``operator``) and ground truths ``x``.
- **NPZ**: array ``y`` (m,) or (N, m); optional ``y_ref`` (m,) for difference imaging.
- **CSV**: one measurement vector per row (N rows of m numbers, or a single column of m
  values); comma or whitespace separated, ``#`` starts a comment.
- **MATLAB** ``.mat`` (v5-v7.2): the KTC2023 layout ``Uel`` (or ``Uelref``) (m, 1), ``Inj``
  (L, P) injected currents, ``Mpat`` (L, k) measurement pattern (m = P k), with the empty-tank
  reference ``ref.mat`` (``Uelref``, ``Injref``) beside it; NaN marks a missing value. Or a
  generic variable ``y``.

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

    y: (N, m) float64, NaN where a value is missing (HDF5/NPZ; the KTC2023 ``.mat`` reader
    puts 0 there and sets ``mask``). mask: (m,) True where measured, shared by every row (None:
    all, or rows with different masks, whose NaN tell). reference: (m,) data of a
    reference state for difference imaging. x: (N, *in_shape) ground truths if known.
    operator: forward-model config if the file defines it. ktc: KTC2023 patterns
    (``currents`` (P, L), ``measurement`` (k, L)) if the file is in that layout.
    """

    y: np.ndarray
    path: Path
    mask: np.ndarray | None = None
    reference: np.ndarray | None = None
    x: np.ndarray | None = None
    operator: dict[str, Any] | None = None
    parametrization: str | None = None
    ktc: dict[str, np.ndarray] | None = None
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


def _ktc_patterns(d: dict[str, Any], path: Path, inj_key: str) -> tuple[np.ndarray, np.ndarray]:
    for key in (inj_key, "Mpat"):
        if key not in d:
            found = sorted(k for k in d if not k.startswith("_"))
            raise DataFileError(f"{path}: KTC2023 layout needs {key!r} (found {found})")
    inj, mpat = _numeric(d[inj_key], path, inj_key), _numeric(d["Mpat"], path, "Mpat")
    if inj.ndim != 2 or mpat.ndim != 2 or inj.shape[0] != mpat.shape[0]:
        raise DataFileError(f"{path}: {inj_key} (L, P) and Mpat (L, k) must share L rows, got "
                            f"{inj.shape} and {mpat.shape}")
    if np.any(np.abs(inj.sum(axis=0)) > 1e-6 * np.abs(inj).max()):
        raise DataFileError(f"{path}: an injection pattern in {inj_key} does not sum to zero")
    return inj.T, mpat.T


def _read_mat(path: Path, reference: Path | None = None, is_reference: bool = False) -> Measurements:
    d = _loadmat(path)
    found = sorted(k for k in d if not k.startswith("_"))
    if is_reference and "Uelref" not in d:
        hint = " (a measurement file's layout, not ref.mat's)" if "Uel" in d else ""
        raise DataFileError(f"{path}: a KTC2023 reference needs 'Uelref' and 'Injref', found "
                            f"{found}{hint}")
    if "y" in d and "Uel" not in d:
        return Measurements(_as_rows(_numeric(d["y"], path, "y"), path), path)
    key, inj_key = ("Uel", "Inj") if "Uel" in d else ("Uelref", "Injref")
    if key not in d:
        raise DataFileError(f"{path}: no 'Uel'/'Uelref' (KTC2023) or 'y' variable, found {found}")
    u = _numeric(d[key], path, key, allow_nan=True).ravel()
    currents, meas = _ktc_patterns(d, path, inj_key)
    m_expected = currents.shape[0] * meas.shape[0]
    if u.size != m_expected:
        raise DataFileError(f"{path}: {key} has {u.size} values, expected {currents.shape[0]} injections x "
                            f"{meas.shape[0]} measurements = {m_expected}")
    out = Measurements(u[None, :], path, ktc={"currents": currents, "measurement": meas})
    ref_path = reference if reference is not None else path.with_name("ref.mat")
    if key == "Uel":
        if not ref_path.is_file():
            raise DataFileError(f"{path}: difference imaging needs the reference {ref_path} "
                                "(pass --reference)")
        ref = _read_mat(ref_path, is_reference=True)
        shapes = [(m.ktc["currents"].shape[1], m.ktc["currents"].shape[0], m.ktc["measurement"].shape[0])
                  for m in (ref, out)]
        if shapes[0] != shapes[1]:
            (lr, pr, kr), (ld, pd, kd) = shapes
            raise DataFileError(f"{ref_path}: the reference is for {lr} electrodes ({pr} injections x "
                                f"{kr} measurements), {path} for {ld} ({pd} x {kd}); pass the "
                                "reference of the same tank (--reference)")
        if not (np.allclose(ref.ktc["currents"], currents) and np.array_equal(ref.ktc["measurement"], meas)):
            raise DataFileError(f"{ref_path}: Injref or Mpat differ from {path}'s Inj or Mpat; pass "
                                "the reference measured with the same patterns (--reference)")
        out.reference = ref.y[0]
    mask = np.isfinite(u) & (np.isfinite(out.reference) if out.reference is not None else True)
    if not mask.any():
        raise DataFileError(f"{path}: every value is missing (NaN)")
    out.mask = None if mask.all() else mask
    out.y = np.where(np.isfinite(u), u, 0.0)[None, :]
    if out.reference is not None:
        out.reference = np.where(np.isfinite(out.reference), out.reference, 0.0)
    return out


def read_measurements(path: str | Path, reference: str | Path | None = None) -> Measurements:
    """Read a measurement file of any supported layout (by extension)."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: no such file")
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataFileError(f"{path}: unknown extension {path.suffix!r}; use one of {sorted(FORMATS)}")
    readers = {"hdf5": _read_hdf5, "npz": _read_npz, "csv": _read_csv,
               "mat": lambda p: _read_mat(p, Path(reference) if reference is not None else None)}
    try:
        return readers[fmt](path)
    except DataFileError:
        raise
    except Exception as err:  # noqa: BLE001 (any other failure of a parser is a malformed file)
        raise DataFileError(f"{path}: cannot read as {fmt} ({type(err).__name__}: {err})") from None
