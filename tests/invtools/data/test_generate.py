import importlib

import h5py
import numpy as np
import pytest

from invtools.data import H5Dataset, generate, merge, read_attrs
from invtools.data.h5file import DataFileError
from invtools.recipes import load_recipe


def arrays(path):
    with h5py.File(path, "r") as f:
        return {k: f[k][()] for k in ("x", "y", "x0")}


def same(a, b):
    return all(np.array_equal(arrays(a)[k], arrays(b)[k]) for k in ("x", "y", "x0"))


@pytest.fixture(scope="module")
def eit_full(tmp_path_factory):
    out = tmp_path_factory.mktemp("full") / "full.h5"
    generate(load_recipe("eit-discs2"), out, 40, seed=5, block=8, progress=False)
    return out


def test_schema_and_provenance(eit_full):
    attrs = read_attrs(eit_full)
    assert attrs["schema"] == 1 and attrs["seed"] == 5 and attrs["total_samples"] == 40
    assert attrs["sample_offset"] == 0 and attrs["parametrization"] == "log"
    assert attrs["recipe"]["name"] == "eit-discs2" and attrs["operator"]["type"] == "CEMForward"
    prov = attrs["provenance"]
    assert prov["seed"] == 5 and prov["versions"]["numpy"] and "git" in prov
    with h5py.File(eit_full, "r") as f:
        assert f["x"].shape[0] == 40 and f["x"].compression == "gzip" and f["x"].chunks[0] <= 64
        assert f["mesh/triangles"].shape[1] == f["x"].shape[1]
    assert not eit_full.with_name("full.h5.parts").exists()


def test_two_workers_give_the_same_file(eit_full, tmp_path):
    out = generate(load_recipe("eit-discs2"), tmp_path / "w2.h5", 40, seed=5, workers=2, block=8,
                   progress=False)
    assert same(out, eit_full)


def test_shards_merge_to_the_unsharded_data_set(eit_full, tmp_path):
    (tmp_path / "shards").mkdir()
    shards = [generate(load_recipe("eit-discs2"), tmp_path / "shards" / f"s{i}.h5", 40, seed=5,
                       shard=(i, 3), block=8, progress=False) for i in range(3)]
    merged = merge(shards[::-1], tmp_path / "all.h5")
    assert same(merged, eit_full)
    assert read_attrs(merged)["total_samples"] == 40
    with pytest.raises(DataFileError, match="leaves a gap"):
        merge([shards[0], shards[2]], tmp_path / "gap.h5")
    with pytest.raises(DataFileError, match="overlaps"):
        merge([shards[0], shards[1], shards[1]], tmp_path / "dup.h5")
    assert not (tmp_path / "gap.h5").exists() and not (tmp_path / "dup.h5").exists()
    other = generate(load_recipe("eit-discs2"), tmp_path / "other.h5", 40, seed=6, shard=(1, 3),
                     progress=False)
    with pytest.raises(DataFileError, match="seed differs"):
        merge([shards[0], other], tmp_path / "mixed.h5")


def test_resume_reuses_finished_blocks(eit_full, tmp_path):
    import json

    # an interrupted run: 2 of 5 blocks finished, a third one half written
    parts = tmp_path / "again.h5.parts"
    parts.mkdir()
    meta = {"recipe": load_recipe("eit-discs2").to_dict(), "seed": 5, "n_samples": 40, "start": 0,
            "stop": 40, "block": 8}
    (parts / "meta.json").write_text(json.dumps(meta))
    generate(load_recipe("eit-discs2"), tmp_path / "seed.h5", 16, seed=5, block=8, progress=False)
    with h5py.File(tmp_path / "seed.h5", "r") as f:
        for a in (0, 8):
            np.savez(parts / f"block_{a:010d}_{a + 8:010d}.npz", index=np.arange(a, a + 8),
                     **{k: f[k][a:a + 8] for k in ("x", "y", "x0")})
    (parts / ".block_0000000016_0000000024.npz.xyz.tmp.npz").write_bytes(b"half a blo")  # killed write
    generate(load_recipe("eit-discs2"), tmp_path / "again.h5", 40, seed=5, block=8, progress=False)
    assert same(tmp_path / "again.h5", eit_full) and not parts.exists()


def test_refuses_to_mix_settings_or_overwrite(tmp_path):
    r = load_recipe("blur1d-rma")
    out = generate(r, tmp_path / "b.h5", 10, seed=0, progress=False)
    with pytest.raises(FileExistsError, match="--overwrite"):
        generate(r, out, 10, seed=0, progress=False)
    (tmp_path / "c.h5.parts").mkdir()
    (tmp_path / "c.h5.parts" / "meta.json").write_text('{"seed": 99}')
    (tmp_path / "c.h5.parts" / "block_0000000000_0000000004.npz").write_bytes(b"finished work")
    with pytest.raises(ValueError, match="other settings.*pass --overwrite to discard it"):
        generate(r, tmp_path / "c.h5", 10, seed=0, progress=False)
    generate(r, tmp_path / "c.h5", 10, seed=0, progress=False, overwrite=True)  # starts over
    assert same(tmp_path / "c.h5", out)


def test_failed_run_leaves_nothing_and_a_corrected_run_proceeds(tmp_path, monkeypatch):
    r = load_recipe("blur1d-rma")
    gen = importlib.import_module("invtools.data.generate")

    def broken(*args):
        raise RuntimeError("a sample could not be simulated")

    monkeypatch.setattr(gen, "_write_block", broken)
    with pytest.raises(RuntimeError):
        generate(r, tmp_path / "d.h5", 10, seed=0, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no .parts, no lock, no temporary
    monkeypatch.undo()
    (tmp_path / "d.h5.parts").mkdir()  # an unfinished run of other settings, nothing finished
    (tmp_path / "d.h5.parts" / "meta.json").write_text('{"seed": 99}')
    generate(r, tmp_path / "d.h5", 10, seed=0, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.h5"]


def test_second_run_on_the_same_output_stops_at_once(tmp_path):
    import fcntl

    r, out = load_recipe("blur1d-rma"), tmp_path / "e.h5"
    with open(tmp_path / ".e.h5.lock", "w") as held:  # as a running generate holds it
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(ValueError, match="another invtools generate is writing"):
            generate(r, out, 10, seed=0, progress=False)
        assert not out.exists() and not (tmp_path / "e.h5.parts").exists()


def test_corrupt_block_is_named(tmp_path, monkeypatch):
    r = load_recipe("blur1d-rma")
    gen = importlib.import_module("invtools.data.generate")

    real = gen._assemble
    monkeypatch.setattr(gen, "_assemble", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):  # interrupted after the blocks were written
        generate(r, tmp_path / "f.h5", 8, seed=0, block=4, progress=False)
    monkeypatch.setattr(gen, "_assemble", real)
    block = tmp_path / "f.h5.parts" / "block_0000000004_0000000008.npz"
    block.write_bytes(block.read_bytes()[:100])  # truncated
    with pytest.raises(ValueError, match="block_0000000004_0000000008.npz: unreadable block"):
        generate(r, tmp_path / "f.h5", 8, seed=0, block=4, progress=False)
    block.unlink()
    generate(r, tmp_path / "f.h5", 8, seed=0, block=4, progress=False)  # regenerated
    assert not (tmp_path / "f.h5.parts").exists()


def test_torch_dataset_reads_lazily_in_the_network_variable(eit_full):
    import pickle

    data = H5Dataset(eit_full)
    x, y, x0 = data[3]
    raw = arrays(eit_full)
    assert np.allclose(np.exp(x.numpy()), raw["x"][3], rtol=1e-6)
    assert np.array_equal(y.numpy(), raw["y"][3])
    assert np.allclose(np.exp(x0.numpy()), raw["x0"][3], rtol=1e-6)  # the linearised start, in log
    clone = pickle.loads(pickle.dumps(data))  # DataLoader workers get a fresh handle
    assert np.array_equal(clone[3][1].numpy(), y.numpy())
    train, val = data.split(0.25, seed=0)
    assert len(train) + len(val) == 40 and not set(train.indices) & set(val.indices)
    op = data.operator()
    assert op.in_shape == x.shape and op.out_shape == y.shape
