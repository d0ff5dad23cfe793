"""Checks made before any array of an untrusted file is read.

- HDF5: a dataset may not be an external link, may not keep its raw data in other files
  (external storage), and may be virtual only as written by ``invtools merge``: every source
  is one of the shards the merged file records, found beside it, of the recorded size, holding
  the rows the mapping reads. A missing shard is an error, never a block of fill values.
- Every array's declared size is checked against a cap (``INVTOOLS_MAX_ARRAY_MB``, default
  256 MiB, as float64) before it is read; ``.npz`` members and ``.mat`` variables are checked
  from their headers, before anything is decompressed.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np


class DataFileError(ValueError):
    """A data or measurement file is missing, malformed or does not match what is expected."""


def max_array_bytes() -> int:
    """The read cap in bytes (``INVTOOLS_MAX_ARRAY_MB``, default 256)."""
    try:
        mb = float(os.environ.get("INVTOOLS_MAX_ARRAY_MB", "256"))
    except ValueError:
        raise DataFileError("INVTOOLS_MAX_ARRAY_MB must be a number of MiB") from None
    return int(mb * 2**20)


def check_size(path: Path, name: str, shape: tuple[int, ...], itemsize: int = 8) -> None:
    """Refuse an array whose declared size (as float64 by default) is over the cap."""
    nbytes = int(np.prod(shape, dtype=np.float64)) * itemsize
    cap = max_array_bytes()
    if nbytes > cap:
        raise DataFileError(f"{path}: {name} declares shape {tuple(shape)} ({nbytes / 2**20:.0f} MiB), "
                            f"over the read limit of {cap / 2**20:.0f} MiB (set INVTOOLS_MAX_ARRAY_MB "
                            "to raise it)")


def recorded_sources(f: h5py.File) -> dict[str, dict[str, Any]]:
    """The shards a merged file records (``sources`` attribute), by file name as stored."""
    raw = f.attrs.get("sources")
    if raw is None:
        return {}
    try:
        return {s["file"]: s for s in json.loads(raw)}
    except (TypeError, KeyError, json.JSONDecodeError):
        raise DataFileError(f"{f.filename}: attribute 'sources' is malformed") from None


def safe_dataset(path: Path, f: h5py.File, name: str) -> h5py.Dataset:
    """``f[name]`` after the link, storage, virtual-source and size checks (module docstring)."""
    parts = name.split("/")
    for k in range(1, len(parts) + 1):
        link = f.get("/".join(parts[:k]), getlink=True)
        if link is None:
            raise DataFileError(f"{path}: dataset {name!r} is missing")
        if isinstance(link, h5py.ExternalLink):
            raise DataFileError(f"{path}: {'/'.join(parts[:k])!r} is an external link to "
                                f"{link.filename!r}; refusing to read other files")
    ds = f[name]
    if not isinstance(ds, h5py.Dataset):
        raise DataFileError(f"{path}: {name!r} is not a dataset")
    if ds.id.get_create_plist().get_external_count():
        raise DataFileError(f"{path}: dataset {name!r} keeps its data in other files (HDF5 external "
                            "storage); refusing to read them")
    if ds.is_virtual:
        _check_virtual(path, f, name, ds)
    check_size(path, name, ds.shape)
    return ds


def _check_virtual(path: Path, f: h5py.File, name: str, ds: h5py.Dataset) -> None:
    recorded = recorded_sources(f)
    hint = ("keep the shards beside the merged file, or write a self-contained copy with "
            "`invtools merge --materialize`")
    for src in ds.virtual_sources():
        info = recorded.get(src.file_name)
        if info is None:
            raise DataFileError(f"{path}: virtual dataset {name!r} reads {src.file_name!r}, which is not "
                                "a shard recorded by invtools merge; refusing to read it")
        shard = path.parent / src.file_name
        if not shard.is_file():
            raise DataFileError(f"{path}: shard {src.file_name!r} is missing (moved or deleted?); {hint}")
        if shard.stat().st_size != info.get("bytes"):
            raise DataFileError(f"{path}: shard {src.file_name!r} has changed since the merge "
                                f"({shard.stat().st_size} bytes, recorded {info.get('bytes')})")
        try:
            with h5py.File(shard, "r") as g:
                sds = safe_dataset(shard, g, src.dset_name)
                if sds.is_virtual:
                    raise DataFileError(f"{shard}: a shard may not itself be a merged file")
                rows = sds.shape[0]
        except OSError:
            raise DataFileError(f"{path}: shard {src.file_name!r} is not a readable HDF5 file") from None
        if rows != info.get("rows"):
            raise DataFileError(f"{path}: shard {src.file_name!r} holds {rows} rows of {src.dset_name!r}, "
                                f"recorded {info.get('rows')}")


def check_npz(path: Path) -> None:
    """Check every ``.npy`` member's header (shape, dtype) against the cap and its stored size."""
    try:
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                with z.open(info) as member:
                    fmt = np.lib.format
                    read_header = (fmt.read_array_header_1_0 if fmt.read_magic(member) == (1, 0)
                                   else fmt.read_array_header_2_0)
                    shape, _, dtype = read_header(member)
                name = info.filename[:-4]
                if dtype.hasobject:
                    raise DataFileError(f"{path}: array {name!r} holds Python objects; refusing it")
                check_size(path, name, shape)
                if int(np.prod(shape)) * dtype.itemsize > info.file_size:
                    raise DataFileError(f"{path}: array {name!r} declares shape {tuple(shape)}, more "
                                        "data than the archive member holds (corrupt)")
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as err:
        if isinstance(err, DataFileError):
            raise
        raise DataFileError(f"{path}: not a valid .npz archive (or truncated)") from None


def check_mat(path: Path) -> None:
    """Check every MATLAB variable's declared shape against the cap (headers only)."""
    import scipy.io

    try:
        variables = scipy.io.whosmat(path)
    except NotImplementedError:
        raise DataFileError(f"{path}: MATLAB v7.3 files are HDF5; save with -v7 or use .h5") from None
    except Exception:  # noqa: BLE001 (scipy raises many types for a malformed file)
        raise DataFileError(f"{path}: not a readable MATLAB .mat file (or truncated)") from None
    for name, shape, _ in variables:
        check_size(path, name, tuple(shape))


def check_text_size(path: Path) -> None:
    """A text file of numbers holds at most one float64 per two bytes."""
    check_size(path, "the file", (path.stat().st_size // 2,))
