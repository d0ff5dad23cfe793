import importlib
import json

import h5py
import numpy as np
import pytest
import torch

from invtools.data import H5Dataset, generate, merge, read_attrs
from invtools.data.h5file import DataFileError
from invtools.data.recipes import Recipe, load_recipe


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


def interrupted(recipe, out, n, seed, block, monkeypatch):
    """A run killed after its blocks were written (before the assembly): the .parts folder."""
    gen = importlib.import_module("invtools.data.generate")
    real = gen._assemble
    monkeypatch.setattr(gen, "_assemble", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        generate(recipe, out, n, seed=seed, block=block, progress=False)
    monkeypatch.setattr(gen, "_assemble", real)
    return out.with_name(out.name + ".parts")


def test_resume_reuses_finished_blocks(eit_full, tmp_path, monkeypatch):
    gen = importlib.import_module("invtools.data.generate")
    r = load_recipe("eit-discs2")
    parts = interrupted(r, tmp_path / "again.h5", 40, 5, 8, monkeypatch)
    for a in (16, 24, 32):  # two of five blocks finished
        (parts / f"block_{a:010d}_{a + 8:010d}.npz").unlink()
    (parts / ".block_0000000016_0000000024.npz.xyz.tmp.npz").write_bytes(b"half a blo")  # killed write
    written = []
    real = gen._write_block
    monkeypatch.setattr(gen, "_write_block", lambda p, d, a, b, s: written.append(a) or real(p, d, a, b, s))
    generate(r, tmp_path / "again.h5", 40, seed=5, block=8, progress=False)
    assert written == [16, 24, 32]
    assert same(tmp_path / "again.h5", eit_full) and not parts.exists()


def foreign_blocks(tmp_path, monkeypatch):
    """Kinds of block that are not a blur1d-rma seed-5 run's block 4..8, each with a word of
    the message that must name it."""
    r = load_recipe("blur1d-rma")
    seed6 = interrupted(r, tmp_path / "seed6.h5", 8, 6, 4, monkeypatch)
    noisier = {**r.to_dict(), "noise": {"relative": 0.02, "absolute": 0.0}}
    recipe2 = interrupted(Recipe.from_dict(noisier), tmp_path / "r2.h5", 8, 5, 4, monkeypatch)
    shifted = interrupted(r, tmp_path / "shift.h5", 12, 5, 4, monkeypatch)
    own = interrupted(r, tmp_path / "own.h5", 8, 5, 4, monkeypatch)
    name = "block_0000000004_0000000008.npz"
    with np.load(own / name) as z:
        fields = {k: z[k] for k in z.files}
    np.savez(tmp_path / "format1.npz", **{k: v for k, v in fields.items() if k != "stamp"})
    stamp = json.loads(str(fields["stamp"]))
    np.savez(tmp_path / "format3.npz", **{**fields, "stamp": np.array(json.dumps({**stamp, "format": 3}))})
    (tmp_path / "truncated.npz").write_bytes((own / name).read_bytes()[:100])
    return {"seed": seed6 / name, "recipe hash": recipe2 / name,
            "holds samples 8..12": shifted / "block_0000000008_0000000012.npz",
            "no stamp": tmp_path / "format1.npz", "block format 3": tmp_path / "format3.npz",
            "unreadable": tmp_path / "truncated.npz"}


def test_resume_discards_and_regenerates_foreign_blocks(tmp_path, monkeypatch, capsys):
    """A block of another seed, recipe, sample range or format version (or an unreadable one)
    left in the .parts folder is named on stderr, discarded and regenerated: the file is the
    clean run's, bit for bit."""
    r = load_recipe("blur1d-rma")
    clean = generate(r, tmp_path / "clean.h5", 8, seed=5, block=4, progress=False)
    for i, (why, block) in enumerate(foreign_blocks(tmp_path, monkeypatch).items()):
        out = tmp_path / f"resumed{i}.h5"
        parts = interrupted(r, out, 8, 5, 4, monkeypatch)
        target = parts / "block_0000000004_0000000008.npz"
        target.write_bytes(block.read_bytes())
        capsys.readouterr()
        generate(r, out, 8, seed=5, block=4, progress=False)
        err = capsys.readouterr().err
        assert f"discarding {target}" in err and why in err and "regenerating it" in err, (why, err)
        assert len(err.strip().splitlines()) == 1
        assert same(out, clean), why


def test_resume_message_names_the_seed_of_a_foreign_block(tmp_path, monkeypatch, capsys):
    r = load_recipe("blur1d-rma")
    parts = interrupted(r, tmp_path / "a.h5", 8, 5, 4, monkeypatch)
    other = interrupted(r, tmp_path / "b.h5", 8, 6, 4, monkeypatch)
    (parts / "block_0000000000_0000000004.npz").write_bytes(
        (other / "block_0000000000_0000000004.npz").read_bytes())
    generate(r, tmp_path / "a.h5", 8, seed=5, block=4, progress=False)
    assert "made with seed 6, this run has 5" in capsys.readouterr().err


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


def test_block_changed_after_its_check_is_named(tmp_path, monkeypatch):
    gen = importlib.import_module("invtools.data.generate")
    r = load_recipe("blur1d-rma")
    parts = interrupted(r, tmp_path / "f.h5", 8, 0, 4, monkeypatch)
    block = parts / "block_0000000004_0000000008.npz"
    real = gen._assemble

    def truncate_then_assemble(*args):
        block.write_bytes(block.read_bytes()[:100])
        return real(*args)

    monkeypatch.setattr(gen, "_assemble", truncate_then_assemble)
    with pytest.raises(ValueError, match="block_0000000004_0000000008.npz: unreadable"):
        generate(r, tmp_path / "f.h5", 8, seed=0, block=4, progress=False)
    monkeypatch.setattr(gen, "_assemble", real)
    generate(r, tmp_path / "f.h5", 8, seed=0, block=4, progress=False)  # discarded, regenerated
    assert not parts.exists()


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


@pytest.mark.parametrize("indices", [None, np.array([3, 7, 11, 38]), np.array([39])])
def test_torch_dataset_in_memory_gives_the_rows_read_one_by_one(eit_full, indices):
    import pickle

    lazy, loaded = H5Dataset(eit_full, indices, in_memory=False), H5Dataset(eit_full, indices)
    assert loaded.in_memory and not lazy.in_memory  # 40 small rows fit IN_MEMORY_BYTES
    for i in range(len(lazy)):
        for a, b in zip(lazy[i], loaded[i], strict=True):
            assert a.dtype == b.dtype == torch.float32 and torch.equal(a, b)
    clone = pickle.loads(pickle.dumps(loaded))  # a DataLoader worker reads its own copy
    assert clone._rows is None and torch.equal(clone[0][1], lazy[0][1])
