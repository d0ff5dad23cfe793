"""``invtools train`` under torchrun: two CPU processes (gloo) with DistributedDataParallel."""

import subprocess
import sys

import pytest
import torch

from invtools.training.checkpoint import load_checkpoint
from invtools.workflow.cli import main


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed not built")
def test_two_process_ddp_training(tmp_path, train_config):
    for name, n, seed in (("train", 64, 0), ("val", 16, 1)):
        assert main(["generate", "blur1d-rma", "--out", str(tmp_path / f"{name}.h5"), "-n", str(n),
                     "--seed", str(seed), "--quiet"]) == 0
    (tmp_path / "c.toml").write_text(train_config("lpgd", device="cpu"))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "invtools.workflow.cli", "train", str(tmp_path / "c.toml"), "--quiet"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    ckpt = load_checkpoint(tmp_path / "run" / "last.pt")
    assert ckpt["epoch"] == 2 and len(ckpt["history"]) == 2
    # each process saw half of the 64 training samples per epoch: 2 batches of 16
    steps = ckpt["scheduler"]["last_epoch"]
    assert steps == 2 * 2
    assert ckpt["history"][-1]["val_mse"] < ckpt["history"][-1]["val_mse_x0"]
