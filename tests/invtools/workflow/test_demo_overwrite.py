"""``invtools demo --out`` into an existing folder: refused without --overwrite; with it the whole
folder is replaced, and an interrupted run puts the old folder back (never a mix of two runs)."""

import json

import pytest

import invtools.workflow.demo as demo
from invtools.workflow.cli import main

SMALL = dict(n_train=32, n_test=8, epochs=1, progress=False, samples="none")


def old_run(folder):
    folder.mkdir()
    (folder / "metrics.json").write_text('{"old": true}')
    (folder / "real_old.png").write_bytes(b"old figure")
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_an_existing_folder_is_refused_without_overwrite(tmp_path, capsys):
    before = old_run(tmp_path / "out")
    assert main(["demo", "--out", str(tmp_path / "out"), "--quiet", "--samples", "none"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (f"invtools demo: error: --out {tmp_path / 'out'} exists; pass --overwrite to "
                   "replace the whole folder")
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == before


def test_overwrite_replaces_the_whole_folder(tmp_path):
    old_run(tmp_path / "out")
    summary = demo.run_demo(tmp_path / "out", overwrite=True, **SMALL)
    names = {str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*") if p.is_file()}
    assert "real_old.png" not in names and set(summary["files"]) <= names
    assert "old" not in json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no backup left behind


@pytest.mark.parametrize("fault", [KeyboardInterrupt, RuntimeError])
def test_an_interrupted_overwrite_puts_the_old_folder_back(tmp_path, monkeypatch, fault):
    before = old_run(tmp_path / "out")

    def stop(*args, **kwargs):
        raise fault("stopped")

    monkeypatch.setattr(demo, "reconstruct", stop)  # after generating and training
    with pytest.raises(fault):
        demo.run_demo(tmp_path / "out", overwrite=True, **SMALL)
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_failed_first_run_leaves_no_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(demo, "reconstruct", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("x")))
    with pytest.raises(RuntimeError):
        demo.run_demo(tmp_path / "new", **SMALL)
    assert not (tmp_path / "new").exists()


def test_a_backup_left_by_a_killed_run_is_named(tmp_path):
    old_run(tmp_path / "out")
    (tmp_path / ".out.replaced").mkdir()
    with pytest.raises(FileExistsError, match=r"\.out\.replaced holds the folder an interrupted demo"):
        demo.run_demo(tmp_path / "out", overwrite=True, **SMALL)
