"""Untrusted data files: no silent zeros from merged files, nothing read from other files, no
memory bombs (every array's declared size is checked before it is read)."""

import shutil

import h5py
import numpy as np
import pytest
import scipy.io

from invtools.data import H5Dataset, generate, merge
from invtools.data.h5file import DataFileError
from invtools.data.readers import read_measurements
from invtools.data.recipes import load_recipe
from invtools.workflow.cli import main


@pytest.fixture
def merged(tmp_path):
    shards = [generate(load_recipe("blur1d-rma"), tmp_path / "shards" / f"s{i}.h5", 12, seed=3,
                       shard=(i, 2), block=4, progress=False) for i in range(2)]
    return merge(shards, tmp_path / "all.h5"), shards


def readers(path):
    return {"H5Dataset": lambda: H5Dataset(path), "read_measurements": lambda: read_measurements(path),
            "merge": lambda: merge([path], path.parent / "again.h5")}


@pytest.mark.parametrize("reader", ["H5Dataset", "read_measurements", "merge"])
def test_missing_shard_is_an_error_not_zeros(merged, reader):
    path, shards = merged
    shards[1].unlink()
    with pytest.raises(DataFileError, match="shard 'shards/s1.h5' is missing .*--materialize"):
        readers(path)[reader]()


def test_merged_file_copied_elsewhere_is_refused(merged, tmp_path, capsys):
    path, _ = merged
    (tmp_path / "elsewhere").mkdir()
    copy = shutil.copy(path, tmp_path / "elsewhere" / "all.h5")
    assert main(["reconstruct", "--method", "linearized", "--measurements", str(copy),
                 "--out", str(tmp_path / "r.h5")]) == 1
    assert "is missing" in capsys.readouterr().err and not (tmp_path / "r.h5").exists()


def test_changed_shard_is_refused(merged, tmp_path):
    path, shards = merged
    generate(load_recipe("blur1d-rma"), tmp_path / "other.h5", 20, seed=4, progress=False)
    shutil.copy(tmp_path / "other.h5", shards[0])
    with pytest.raises(DataFileError, match="has changed since the merge"):
        H5Dataset(path)


def test_materialized_merge_is_self_contained(merged, tmp_path):
    path, shards = merged
    solid = merge(shards, tmp_path / "solid.h5", materialize=True)
    before = read_measurements(path)
    for s in shards:
        s.unlink()
    after = read_measurements(solid)
    np.testing.assert_array_equal(after.y, before.y)
    np.testing.assert_array_equal(after.x, before.x)
    assert len(H5Dataset(solid)) == 12


def _secret(tmp_path):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.arange(24, dtype=np.float64).tobytes())
    return secret


def test_external_storage_is_refused(tmp_path, capsys):
    secret = _secret(tmp_path)
    evil = tmp_path / "evil.h5"
    with h5py.File(evil, "w") as f:
        f.create_dataset("y", shape=(2, 12), dtype="f8", external=[(str(secret), 0, 192)])
    with pytest.raises(DataFileError, match="external storage"):
        read_measurements(evil)
    out = tmp_path / "rec.h5"
    assert main(["reconstruct", "--method", "gn", "--recipe", "blur1d-rma", "--measurements",
                 str(evil), "--out", str(out)]) == 1
    assert "external storage" in capsys.readouterr().err and not out.exists()


def test_external_link_and_unrecorded_virtual_source_are_refused(tmp_path):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["y"] = np.ones((2, 12))
    link, vds = tmp_path / "link.h5", tmp_path / "vds.h5"
    with h5py.File(link, "w") as f:
        f["y"] = h5py.ExternalLink(str(other), "y")
    with h5py.File(vds, "w") as f:
        layout = h5py.VirtualLayout(shape=(2, 12), dtype="f8")
        layout[:] = h5py.VirtualSource(str(other), "y", shape=(2, 12))
        f.create_virtual_dataset("y", layout)
    with pytest.raises(DataFileError, match="external link"):
        read_measurements(link)
    with pytest.raises(DataFileError, match="not a shard recorded by invtools merge"):
        read_measurements(vds)


def test_hdf5_memory_bomb_refused_before_reading(tmp_path):
    bomb = tmp_path / "bomb.h5"
    with h5py.File(bomb, "w") as f:  # 4e6 x 13 float64 declared, nothing written: a tiny file
        f.create_dataset("y", shape=(4_000_000, 13), dtype="f8", chunks=(1000, 13), compression="gzip")
    assert bomb.stat().st_size < 10_000
    with pytest.raises(DataFileError, match=r"declares shape \(4000000, 13\) .* over the read limit"):
        read_measurements(bomb)


@pytest.mark.parametrize("kind", ["npz", "mat"])
def test_compressed_bombs_refused_from_headers(tmp_path, monkeypatch, kind):
    monkeypatch.setenv("INVTOOLS_MAX_ARRAY_MB", "1")
    zeros = np.zeros((40_000, 13))  # 4 MiB of zeros, a few kB compressed
    path = tmp_path / f"bomb.{kind}"
    if kind == "npz":
        np.savez_compressed(path, y=zeros)
    else:
        scipy.io.savemat(path, {"y": zeros}, do_compression=True)
    assert path.stat().st_size < 50_000
    with pytest.raises(DataFileError, match="over the read limit of 1 MiB"):
        read_measurements(path)


def test_object_arrays_in_npz_are_refused(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, y=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DataFileError, match="holds Python objects"):
        read_measurements(path)


def test_shard_with_negative_offset_is_refused(merged):
    _, shards = merged
    with h5py.File(shards[1], "a") as f:
        f.attrs["sample_offset"] = -6
    with pytest.raises(DataFileError, match="sample_offset -6"):
        merge(shards, shards[0].parent / "neg.h5")
