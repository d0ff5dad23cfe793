"""``invtools merge``: join the shards of one data set into a single file of HDF5 virtual
datasets (no copy: the merged file points into the shard files, which must stay beside it and
are recorded in its ``sources`` attribute with their size and rows, so a reader refuses a
missing or changed shard), or, with ``materialize``, into one self-contained file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py

from invtools.data.h5file import (
    ARRAYS,
    DataFileError,
    create_arrays,
    decode_attrs,
    open_data_file,
    write_attrs,
)
from invtools.support.atomic import atomic_path
from invtools.support.output_paths import check_outputs
from invtools.support.provenance import provenance


def merge(shards: list[str | Path], out: str | Path, overwrite: bool = False,
          materialize: bool = False) -> Path:
    """Check that ``shards`` are disjoint, contiguous pieces of one data set (same recipe,
    operator and seed) and write ``out`` with virtual ``x``, ``y``, ``x0`` (or, with
    ``materialize``, with copies of the samples)."""
    out = Path(out)
    check_outputs({"--out": out}, shards, overwrite)
    if not shards:
        raise ValueError("merge needs at least one shard")
    info = []
    for path in shards:
        with open_data_file(path) as f:
            info.append((Path(path), decode_attrs(f), {k: (f[k].shape, f[k].dtype) for k in ARRAYS},
                         "mesh" in f))
    first = info[0][1]
    for path, attrs, _, _ in info[1:]:
        for key in ("recipe", "operator", "seed", "total_samples", "parametrization"):
            if json.dumps(attrs[key], sort_keys=True) != json.dumps(first[key], sort_keys=True):
                raise DataFileError(f"{path}: {key} differs from {info[0][0]}; shards of different data "
                                    "sets cannot be merged")
    for path, attrs, shapes, _ in info:
        offset, total = attrs.get("sample_offset"), attrs.get("total_samples")
        if not (isinstance(offset, int) and isinstance(total, int) and 0 <= offset
                and offset + shapes["x"][0][0] <= total):
            raise DataFileError(f"{path}: sample_offset {offset!r} and {shapes['x'][0][0]} rows do not fit "
                                f"a data set of total_samples {total!r}")
    info.sort(key=lambda item: item[1]["sample_offset"])
    position = info[0][1]["sample_offset"]
    for path, attrs, shapes, _ in info:
        if attrs["sample_offset"] != position:
            kind = "overlaps the previous shard" if attrs["sample_offset"] < position else "leaves a gap"
            raise DataFileError(f"{path}: starts at sample {attrs['sample_offset']}, expected {position} "
                                f"({kind})")
        position += shapes["x"][0][0]
    n = position - info[0][1]["sample_offset"]
    sources = [{"file": os.path.relpath(path.resolve(), out.resolve().parent),
                "rows": shapes["x"][0][0], "bytes": path.stat().st_size,
                "sample_offset": attrs["sample_offset"]} for path, attrs, shapes, _ in info]
    with atomic_path(out) as tmp, h5py.File(tmp, "w") as f:
        if materialize:
            _copy_samples(f, info, n)
        else:
            _virtual_samples(f, info, sources, n)
        if info[0][3]:
            with h5py.File(info[0][0], "r") as src:
                src.copy("mesh", f)
        write_attrs(f, {**{k: v for k, v in first.items() if k != "provenance"},
                        "sample_offset": info[0][1]["sample_offset"],
                        **({} if materialize else {"sources": sources}),
                        "provenance": provenance(first["seed"], command="merge",
                                                 shards=[str(p) for p, *_ in info])})
    return out


def _virtual_samples(f: h5py.File, info: list, sources: list[dict], n: int) -> None:
    for name in ARRAYS:
        shape, dtype = info[0][2][name]
        layout = h5py.VirtualLayout(shape=(n, *shape[1:]), dtype=dtype)
        row = 0
        for (_, _, shapes, _), source in zip(info, sources, strict=True):
            rows = shapes[name][0][0]
            layout[row: row + rows] = h5py.VirtualSource(source["file"], name, shape=shapes[name][0])
            row += rows
        f.create_virtual_dataset(name, layout)


def _copy_samples(f: h5py.File, info: list, n: int, rows_at_once: int = 4096) -> None:
    create_arrays(f, n, {name: info[0][2][name][0][1:] for name in ARRAYS})
    row = 0
    for path, _, shapes, _ in info:
        with open_data_file(path) as src:
            rows = shapes["x"][0][0]
            for a in range(0, rows, rows_at_once):
                b = min(rows, a + rows_at_once)
                for name in ARRAYS:
                    f[name][row + a: row + b] = src[name][a:b]
        row += rows
