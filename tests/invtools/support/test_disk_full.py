"""A full disk: one line naming the file, exit 1, nothing half-written, earlier outputs intact.

Runs on a real 160 kB tmpfs (needs root and permission to mount; skipped otherwise)."""

import os
import subprocess

import pytest

from invtools.workflow.cli import main


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs",
                                            str(mount)], capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def fill(disk, leave_kb):
    stat = os.statvfs(disk)
    free = stat.f_bavail * stat.f_frsize
    (disk / "filler").write_bytes(b"\0" * max(0, free - leave_kb * 1024))


def test_reconstruct_on_a_full_disk_keeps_the_old_output(small_disk, tmp_path, capsys):
    data = tmp_path / "eit.h5"
    assert main(["generate", "eit-discs2", "--out", str(data), "-n", "40", "--quiet"]) == 0
    old = small_disk / "rec.h5"
    old.write_bytes(b"an earlier reconstruction")
    capsys.readouterr()
    code = main(["reconstruct", "--method", "linearized", "--measurements", str(data),
                 "--out", str(old), "--overwrite"])
    err = capsys.readouterr().err
    assert code == 1 and err.strip() == (f"invtools reconstruct: error: [Errno 28] cannot write {old}: "
                                         "No space left on device")
    assert old.read_bytes() == b"an earlier reconstruction"
    assert sorted(p.name for p in small_disk.iterdir()) == ["rec.h5"]


def test_train_and_generate_on_a_full_disk(small_disk, tmp_path, capsys, train_config):
    for name, n, seed in (("train.h5", 32, 0), ("val.h5", 8, 1)):
        assert main(["generate", "blur1d-rma", "--out", str(tmp_path / name), "-n", str(n),
                     "--seed", str(seed), "--quiet"]) == 0
    config = train_config("lpgd", epochs=1).replace('out = "run"', f'out = "{small_disk / "run"}"')
    (tmp_path / "train.toml").write_text(config)
    fill(small_disk, 12)
    capsys.readouterr()
    assert main(["train", str(tmp_path / "train.toml"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "No space left on device" in err and "run/" in err and len(err.strip().splitlines()) == 1
    assert not any(p.name.endswith(".tmp.pt") for p in (small_disk / "run").iterdir())
    assert main(["generate", "eit-discs2", "--out", str(small_disk / "g.h5"), "-n", "40",
                 "--quiet"]) == 1
    assert "No space left on device" in capsys.readouterr().err
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler", "run"]  # no .parts, no lock
