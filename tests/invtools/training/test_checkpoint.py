"""Checkpoints never run code: a payload planted in every loading path is refused and never runs."""

import os

import numpy as np
import pytest
import torch

from invtools.training.checkpoint import CheckpointError, load_checkpoint, numpy_rng_state, save_checkpoint
from invtools.training.trainer import load_model
from invtools.workflow.cli import main


class Payload:
    """Pickles as ``os.system("touch MARKER")``: runs when unpickled without restrictions."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.fixture(scope="module")
def run(tmp_path_factory, train_config):
    root = tmp_path_factory.mktemp("ckpt")
    assert main(["generate", "blur1d-rma", "--out", str(root / "train.h5"), "-n", "32", "--quiet"]) == 0
    assert main(["generate", "blur1d-rma", "--out", str(root / "val.h5"), "-n", "8", "--seed", "1",
                 "--quiet"]) == 0
    (root / "train.toml").write_text(train_config("lpgd", epochs=1))
    assert main(["train", str(root / "train.toml"), "--quiet"]) == 0
    return root


def plant(path, kind, marker):
    """Overwrite ``path`` with a payload: the whole file, or hidden in a real checkpoint's metadata."""
    if kind == "whole file":
        torch.save(Payload(marker), path)
    else:
        ckpt = load_checkpoint(path)
        ckpt["metadata"] = {"recipe": {"note": Payload(marker)}}
        torch.save(ckpt, path)
    torch.load(path, weights_only=False)  # the payload is live: unrestricted loading runs it
    assert os.path.exists(marker)
    os.remove(marker)


KINDS = ["whole file", "in metadata"]


@pytest.mark.parametrize("kind", KINDS)
def test_python_api_refuses_payload(run, tmp_path, kind):
    ckpt, marker = tmp_path / "evil.pt", tmp_path / "pwned"
    ckpt.write_bytes((run / "run" / "best.pt").read_bytes())
    plant(ckpt, kind, marker)
    with pytest.raises(CheckpointError, match="refused: the file holds Python objects"):
        load_model(ckpt)
    assert not marker.exists()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("command", ["reconstruct", "evaluate"])
def test_cli_model_refuses_payload(run, tmp_path, capsys, kind, command):
    ckpt, marker = tmp_path / "evil.pt", tmp_path / "pwned"
    ckpt.write_bytes((run / "run" / "best.pt").read_bytes())
    plant(ckpt, kind, marker)
    args = (["reconstruct", "--measurements", str(run / "val.h5"), "--out", str(tmp_path / "r.h5")]
            if command == "reconstruct" else ["evaluate", "--data", str(run / "val.h5")])
    capsys.readouterr()
    assert main([*args, "--model", str(ckpt)]) == 1
    err = capsys.readouterr().err
    assert "refused" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not marker.exists() and not (tmp_path / "r.h5").exists()


@pytest.mark.parametrize("kind", KINDS)
def test_train_resume_refuses_planted_last_checkpoint(run, tmp_path, capsys, kind):
    marker = tmp_path / "pwned"
    last = run / "run" / "last.pt"
    good = last.read_bytes()
    try:
        plant(last, kind, marker)
        capsys.readouterr()
        assert main(["train", str(run / "train.toml"), "--resume", "--quiet"]) == 1
        assert "refused" in capsys.readouterr().err
        assert not marker.exists()
    finally:
        last.write_bytes(good)


def test_truncated_checkpoint_is_a_clear_error(run, tmp_path):
    bad = tmp_path / "cut.pt"
    bad.write_bytes((run / "run" / "best.pt").read_bytes()[:2000])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(bad)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")


def test_new_checkpoints_need_no_allow_list(run):
    ckpt = torch.load(run / "run" / "last.pt", weights_only=True)  # torch's own restricted loader
    assert isinstance(ckpt["rng"]["numpy"][1], list)


def test_older_checkpoint_with_numpy_rng_array_still_loads(run, tmp_path):
    ckpt = load_checkpoint(run / "run" / "last.pt")
    name, keys, pos, has_gauss, cached = ckpt["rng"]["numpy"]
    ckpt["rng"]["numpy"] = (name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached)
    old = tmp_path / "old.pt"
    torch.save(ckpt, old)  # the format before this version
    loaded = load_checkpoint(old)
    np.testing.assert_array_equal(loaded["rng"]["numpy"][1], keys)
    assert sum(p.numel() for p in load_model(old).net.parameters()) > 0
    ckpt["metadata"] = {"hidden": np.zeros(3)}  # an array anywhere else is refused
    torch.save(ckpt, old)
    with pytest.raises(CheckpointError, match="unexpected numpy array at /metadata/hidden"):
        load_checkpoint(old)


def test_numpy_rng_state_round_trip(tmp_path):
    np.random.seed(5)  # noqa: NPY002
    save_checkpoint({"arch": {}, "model": {}, "operator": {}, "rng": numpy_rng_state()},
                    tmp_path / "s.pt")
    expected = np.random.random(4)  # noqa: NPY002
    from invtools.training.checkpoint import set_numpy_rng_state

    set_numpy_rng_state(load_checkpoint(tmp_path / "s.pt")["rng"])
    np.testing.assert_array_equal(np.random.random(4), expected)  # noqa: NPY002


@pytest.mark.parametrize("part,edit", [
    ("network", lambda c: c.update(arch={})),                         # was KeyError: 'net'
    ("network", lambda c: c["model"].update({k: v[:1] for k, v in list(c["model"].items())[:1]})),
    ("forward operator", lambda c: c.update(operator={"type": "QuadraticWindowBlur", "a": "x"})),
])
def test_malformed_checkpoint_records_are_named(run, tmp_path, capsys, part, edit):
    ckpt = load_checkpoint(run / "run" / "best.pt")
    edit(ckpt)
    bad = tmp_path / "bad.pt"
    save_checkpoint(ckpt, bad)
    with pytest.raises(CheckpointError, match=f"the checkpoint's {part} record is malformed"):
        load_model(bad)
    assert main(["reconstruct", "--model", str(bad), "--measurements", str(run / "val.h5"),
                 "--out", str(tmp_path / "r.h5")]) == 1
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_exported_model_predicts_the_same_without_training_state(run, tmp_path):
    import h5py

    from invtools.training.trained_model import TRAINING_STATE, export_model

    best = run / "run" / "best.pt"
    with h5py.File(run / "val.h5", "r") as f:
        y = f["y"][:4]
    out = export_model(best, tmp_path / "exported.pt")
    assert out.stat().st_size < 0.8 * best.stat().st_size
    slim = torch.load(out, weights_only=True)
    assert not set(TRAINING_STATE) & set(slim)
    torch.testing.assert_close(load_model(out).predict(y), load_model(best).predict(y))
