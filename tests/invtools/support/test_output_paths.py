"""Nothing the user did not name as an output is written or replaced (CLI and merge)."""

import os
import shutil
from pathlib import Path

import pytest

from invtools.workflow.cli import main

SAMPLE = Path(__file__).parents[3] / "datasets" / "samples" / "blur1d_y.npz"


@pytest.fixture
def meas(tmp_path):
    dst = tmp_path / "y.npz"
    shutil.copy(SAMPLE, dst)
    return dst


def reconstruct(meas, *extra):
    return main(["reconstruct", "--method", "linearized", "--recipe", "blur1d-rma", "--measurements",
                 str(meas), *extra])


# a device's reference file beside its measurements: tests/invtools/workflow/test_workflow.py
@pytest.mark.parametrize("target", ["measurements", "symlink to measurements"])
def test_reconstruct_refuses_out_on_an_input(meas, capsys, target):
    before = {p: p.read_bytes() for p in meas.parent.iterdir()}
    out = {"measurements": meas}.get(target)
    if out is None:
        out = meas.parent / "link.h5"
        out.symlink_to(meas)
    assert reconstruct(meas, "--out", str(out), "--overwrite") == 1
    assert "is an input of this command" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in meas.parent.iterdir() if not p.is_symlink()} == before


def test_reconstruct_refuses_plot_on_input_or_out(meas, capsys):
    out = meas.parent / "rec.h5"
    assert reconstruct(meas, "--out", str(out), "--plot", str(meas)) == 1
    assert reconstruct(meas, "--out", str(out), "--plot", str(out)) == 1
    err = capsys.readouterr().err
    assert "--plot" in err and "same file as --out" in err
    assert not out.exists() and meas.read_bytes() == SAMPLE.read_bytes()


def test_existing_output_needs_overwrite(meas, capsys):
    out = meas.parent / "rec.h5"
    out.write_bytes(b"keep me")
    assert reconstruct(meas, "--out", str(out)) == 1
    assert "pass --overwrite" in capsys.readouterr().err and out.read_bytes() == b"keep me"
    assert reconstruct(meas, "--out", str(out), "--overwrite") == 0
    assert out.read_bytes() != b"keep me"


@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="needs /dev/null")
def test_refuses_to_replace_a_device_node_or_folder(meas, capsys):
    assert reconstruct(meas, "--out", "/dev/null", "--overwrite") == 1
    assert reconstruct(meas, "--out", str(meas.parent), "--overwrite") == 1
    assert capsys.readouterr().err.count("not a regular file") == 2
    assert os.path.exists("/dev/null") and not Path("/dev/null").is_file()


def test_merge_refuses_out_on_a_shard(tmp_path, capsys):
    shards = [tmp_path / f"s{i}.h5" for i in range(2)]
    for i, s in enumerate(shards):
        assert main(["generate", "blur1d-rma", "--out", str(s), "-n", "8", "--shard", f"{i}/2",
                     "--quiet"]) == 0
    before = shards[0].read_bytes()
    assert main(["merge", *map(str, shards), "--out", str(shards[0]), "--overwrite"]) == 1
    assert "is an input of this command" in capsys.readouterr().err
    assert shards[0].read_bytes() == before
    assert main(["merge", *map(str, shards), "--out", str(tmp_path / "all.h5")]) == 0


def test_train_refuses_to_write_over_its_own_data(tmp_path, capsys, train_config):
    for name, n in (("train.h5", 16), ("val.h5", 8)):
        assert main(["generate", "blur1d-rma", "--out", str(tmp_path / name), "-n", str(n), "--quiet"]) == 0
    (tmp_path / "best.pt").write_bytes((tmp_path / "val.h5").read_bytes())
    config = train_config("lpgd", epochs=1).replace('out = "run"', 'out = "."').replace(
        'val = "val.h5"', 'val = "best.pt"')  # the run would write best.pt over its own input
    (tmp_path / "train.toml").write_text(config)
    before = (tmp_path / "best.pt").read_bytes()
    assert main(["train", str(tmp_path / "train.toml"), "--quiet"]) == 1
    assert "best.pt" in capsys.readouterr().err and (tmp_path / "best.pt").read_bytes() == before
