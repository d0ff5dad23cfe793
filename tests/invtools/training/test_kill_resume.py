"""SIGKILL ``generate`` and ``train`` mid-run, then resume: nothing lost, nothing duplicated,
the result identical to an uninterrupted run, and no half-written output file."""

import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import torch

from invtools.training.checkpoint import load_checkpoint
from invtools.workflow.cli import main

CLI = [sys.executable, "-m", "invtools.workflow.cli"]


def kill_when(cmd, ready, timeout=120.0):
    """Start ``cmd``, SIGKILL it as soon as ``ready()`` holds; True if it was still running.
    The child uses this process's torch thread count: bit-for-bit comparisons need the same
    summation order."""
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    t0 = time.time()
    while not ready():
        if proc.poll() is not None or time.time() - t0 > timeout:
            break
        time.sleep(0.005)
    running = proc.poll() is None
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return running


def test_generate_survives_sigkill(tmp_path):
    args = ["generate", "eit-discs2", "-n", "300", "--seed", "2", "--block", "4", "--quiet"]
    assert main(args + ["--out", str(tmp_path / "ref.h5")]) == 0
    out = tmp_path / "killed.h5"
    parts = tmp_path / "killed.h5.parts"
    running = kill_when(CLI + args + ["--out", str(out)], lambda: len(list(parts.glob("block_*.npz"))) >= 5)
    assert running, "generate finished before it could be killed"
    assert not out.exists()  # never a partial output
    finished = len(list(parts.glob("block_*.npz")))
    assert 5 <= finished < 75
    assert main(args + ["--out", str(out)]) == 0
    with h5py.File(out, "r") as a, h5py.File(tmp_path / "ref.h5", "r") as b:
        for k in ("x", "y", "x0"):
            assert np.array_equal(a[k][()], b[k][()])
    assert not parts.exists()


TRAIN = """out = "run"
[data]
train = "train.h5"
val_fraction = 0.2
[net]
arch = "lpgd"
steps = 4
direction = "rma"
hidden = 8
[train]
epochs = 6
batch_size = 8
lr = 2e-3
seed = 3
"""


def test_train_survives_sigkill(tmp_path, same_run):
    assert main(["generate", "blur1d-rma", "--out", str(tmp_path / "train.h5"), "-n", "400", "--quiet"]) == 0
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "train.toml").write_text(TRAIN.replace("train.h5", str(tmp_path / "train.h5")))
    assert main(["train", str(tmp_path / "a" / "train.toml"), "--quiet"]) == 0
    run = tmp_path / "b" / "run"

    def one_epoch_saved():
        try:
            return '"epoch": 2' in (run / "history.json").read_text()
        except OSError:
            return False

    running = kill_when(CLI + ["train", str(tmp_path / "b" / "train.toml"), "--quiet"], one_epoch_saved)
    assert running, "train finished before it could be killed"
    saved = load_checkpoint(run / "last.pt")  # the checkpoint is never half-written
    assert 2 <= saved["epoch"] < 6
    assert main(["train", str(tmp_path / "b" / "train.toml"), "--resume", "--quiet"]) == 0
    a = load_checkpoint(tmp_path / "a" / "run" / "last.pt")
    b = load_checkpoint(run / "last.pt")
    assert [h["epoch"] for h in b["history"]] == list(range(1, 7))  # no epoch lost or repeated
    assert same_run([h["train_loss"] for h in a["history"]], [h["train_loss"] for h in b["history"]])
    for k, v in a["model"].items():
        assert same_run(v.flatten().tolist(), b["model"][k].flatten().tolist()), k
