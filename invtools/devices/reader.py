"""Reading a device's measurement files as its description says (``[file]``, ``[patterns]``,
``[reference]``): a ``.mat`` becomes :class:`~invtools.data.readers.Measurements` with the mask
of missing values, its patterns, and the reference data for difference imaging.

A file that does not match its description (another electrode count, pattern count or shape)
is refused with one :class:`~invtools.data.h5file.DataFileError` naming both numbers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from invtools.data.h5file import DataFileError
from invtools.data.readers import Measurements, _loadmat, _numeric
from invtools.devices.description import DeviceDescription


def named_currents(name: str, L: int, amplitude: float = 1.0) -> np.ndarray:
    """Current patterns (P, L) by name: ``adjacent`` (= ``skip-0``: +amplitude into electrode p,
    out of p + 1), ``skip-K`` (out of p + K + 1), ``opposite`` (L/2 patterns, p against p + L/2),
    ``trigonometric`` (L - 1 patterns, cos/sin of the electrode index)."""
    idx = np.arange(L)
    if name == "trigonometric":
        t = 2 * np.pi * idx / L
        rows = [np.cos(k * t) for k in range(1, L // 2 + 1)]
        rows += [np.sin(k * t) for k in range(1, (L - 1) // 2 + 1)]
        return amplitude * np.array(rows)
    if name == "opposite":
        if L % 2:
            raise ValueError(f"opposite patterns need an even electrode count, got {L}")
        skip, rows = L // 2 - 1, L // 2
    else:
        skip, rows = (0 if name == "adjacent" else int(name.split("-")[1])), L
    if not 0 <= skip < L - 1:
        raise ValueError(f"pattern {name!r}: the skip must be below {L - 1} for {L} electrodes")
    out = np.zeros((L, L))
    out[idx, idx], out[idx, (idx + skip + 1) % L] = amplitude, -amplitude
    return out[:rows]


def named_measurements(name: str, L: int) -> np.ndarray:
    """Measurement patterns (k, L) by name: ``adjacent`` (= ``skip-0``: rows U_l - U_{l+1}),
    ``skip-K`` (rows U_l - U_{l+K+1})."""
    if name not in ("adjacent",) and not name.startswith("skip-"):
        raise ValueError(f"measurement pattern {name!r}: use adjacent or skip-K")
    return named_currents(name, L, 1.0)


def _variable(d: dict, path: Path, name: str, origin: str, allow_nan: bool = False) -> np.ndarray:
    if name not in d:
        found = sorted(k for k in d if not k.startswith("_"))
        raise DataFileError(f"{path}: the description {origin} names variable {name!r}, not in the file "
                            f"(found {found})")
    return _numeric(d[name], path, name, allow_nan=allow_nan)


def _pattern_matrix(d: dict, path: Path, key: str, transposed: bool, L: int, verb: str,
                    origin: str, note: str = "") -> np.ndarray:
    """A pattern variable as (patterns, L), refused unless it is a matrix over the L electrodes."""
    a = _variable(d, path, key, origin)
    if a.ndim != 2:
        raise DataFileError(f"{path}: {key} has shape {a.shape}; the description {origin} "
                            "expects a matrix")
    a = a.T if transposed else a
    if a.shape[1] != L:
        raise DataFileError(f"{path}: {key} {verb} {a.shape[1]} electrodes, the description {origin} "
                            f"has {L}{note}")
    return a


def file_patterns(desc: DeviceDescription, d: dict, path: Path, currents_key: str | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(currents (P, L) in the description's unit, measurement (k, L)) of a loaded file."""
    f, pat, L = desc["file"], desc["patterns"], desc.n_electrodes
    origin = desc.source.name if desc.source else desc.name
    if pat["currents"] == "file":
        key = currents_key or f["currents"]
        c = _pattern_matrix(d, path, key, f["currents_layout"] == "electrode-by-pattern", L,
                            "drives", origin, f" ({f['currents_layout']})")
        if np.any(np.abs(c.sum(axis=1)) > 1e-6 * np.abs(c).max()):
            raise DataFileError(f"{path}: a current pattern in {key} does not sum to zero")
    else:
        c = named_currents(pat["currents"], L, pat["current_amplitude"])
    if pat["measurements"] == "file":
        m = _pattern_matrix(d, path, f["measurements"],
                            f["measurements_layout"] == "electrode-by-measurement", L, "reads", origin)
    else:
        m = named_measurements(pat["measurements"], L)
    return c * f["current_scale"], m


def _voltages(desc: DeviceDescription, d: dict, path: Path, key: str, P: int, k: int) -> np.ndarray:
    """The voltages (P k,) injection-major, NaN where missing, in the description's unit."""
    f = desc["file"]
    origin = desc.source.name if desc.source else desc.name
    u = _variable(d, path, key, origin, allow_nan=True)
    layout = f["voltages_layout"]
    if layout == "flat":
        if u.size != P * k:
            raise DataFileError(f"{path}: {key} has {u.size} values, the description {origin} expects "
                                f"{P} patterns x {k} measurements = {P * k}")
        u = u.ravel()
    else:
        expected = (k, P) if layout == "measurement-by-pattern" else (P, k)
        if u.shape != expected:
            raise DataFileError(f"{path}: {key} has shape {u.shape}, the description {origin} expects "
                                f"{expected} ({layout}: {P} patterns, {k} measurements)")
        u = u.ravel(order="F" if layout == "measurement-by-pattern" else "C")
    if f["missing"] == "none":
        if not np.isfinite(u).all():
            raise DataFileError(f"{path}: {key} has {int((~np.isfinite(u)).sum())} NaN value(s); the "
                                f"description {origin} says no value is missing (missing = \"none\")")
    elif f["missing"] != "nan":
        u = np.where(u == f["missing"], np.nan, u)
    return u * f["voltage_scale"]


def reference_path(desc: DeviceDescription, path: Path, reference: str | Path | None = None) -> Path:
    """The reference file: ``reference`` if given, else the description's beside ``path``."""
    return Path(reference) if reference is not None else path.parent / desc["reference"]["file"]


def read_device_file(desc: DeviceDescription, path: str | Path, reference: str | Path | None = None,
                     with_reference: bool = True) -> Measurements:
    """``path`` read as ``desc`` describes it: ``y`` (1, P k) with 0 where a value is missing,
    ``mask`` (P k,) True where the file and its reference both hold a value (None: all),
    ``reference`` (P k,) the reference's voltages (when ``with_reference``), ``extra``:
    ``device`` (the description), ``currents`` (P, L), ``measurement`` (k, L)."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: no such file")
    if path.suffix.lower() != ".mat":
        raise DataFileError(f"{path}: a device's measurement file is a MATLAB .mat file")
    d = _loadmat(path)
    currents, meas = file_patterns(desc, d, path)
    P, k = currents.shape[0], meas.shape[0]
    u = _voltages(desc, d, path, desc["file"]["voltages"], P, k)
    out = Measurements(u[None, :], path, extra={"device": desc, "currents": currents, "measurement": meas})
    kept = np.isfinite(u)
    if with_reference:
        ref_path = reference_path(desc, path, reference)
        if not ref_path.is_file():
            raise DataFileError(f"{path}: the reference {ref_path} (the description's [reference] file) "
                                "is missing; pass --reference")
        r = desc["reference"]
        dr = _loadmat(ref_path)
        rc, rm = file_patterns(desc, dr, ref_path, r["currents"])
        if rc.shape != currents.shape or rm.shape != meas.shape:
            raise DataFileError(f"{ref_path}: the reference has {rc.shape[0]} patterns x {rm.shape[0]} "
                                f"measurements, {path} {P} x {k}; pass the reference of the same device")
        if not (np.allclose(rc, currents, rtol=1e-6) and np.array_equal(rm, meas)):
            raise DataFileError(f"{ref_path}: the reference's patterns differ from {path}'s; pass the "
                                "reference measured with the same patterns")
        ref = _voltages(desc, dr, ref_path, r["voltages"] or desc["file"]["voltages"], P, k)
        kept &= np.isfinite(ref)
        out.reference = np.where(np.isfinite(ref), ref, 0.0)
    if not kept.any():
        raise DataFileError(f"{path}: every value is missing (NaN)")
    out.mask = None if kept.all() else kept
    out.y = np.where(kept, u, 0.0)[None, :]
    return out


def read_reference(desc: DeviceDescription, path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A reference file alone, as ``desc``'s ``[reference]`` names its variables: (voltages
    (P k,) injection-major with NaN where missing, currents (P, L), measurement (k, L))."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: no such file")
    r, d = desc["reference"], _loadmat(path)
    currents, meas = file_patterns(desc, d, path, r["currents"])
    u = _voltages(desc, d, path, r["voltages"] or desc["file"]["voltages"], currents.shape[0], meas.shape[0])
    return u, currents, meas
