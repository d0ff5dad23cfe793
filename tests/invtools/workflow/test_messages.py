"""Bad inputs get one line naming the file, the key and what was expected,
and a missing input is named before an existing output is refused."""

import json
import shutil

import h5py
import pytest

from invtools.data import H5Dataset, generate
from invtools.data.h5file import DataFileError, operator_of
from invtools.data.recipes import load_recipe
from invtools.workflow.cli import main


def error_line(capsys, argv):
    """Run the CLI; its exit status must be 1 and stderr one line, which is returned."""
    capsys.readouterr()
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


@pytest.fixture(scope="module")
def blur_file(tmp_path_factory):
    return generate(load_recipe("blur1d-rma"), tmp_path_factory.mktemp("blur") / "b.h5", 8,
                    seed=0, progress=False)


def with_operator(src, dst, **changes):
    shutil.copy(src, dst)
    with h5py.File(dst, "a") as f:
        op = json.loads(f.attrs["operator"])
        for key, value in changes.items():
            if value is None:
                del op[key]
            else:
                op[key] = value
        f.attrs["operator"] = json.dumps(op)
    return dst


def test_blur_weights_of_text_name_the_file_and_key(blur_file, tmp_path, capsys):
    bad = with_operator(blur_file, tmp_path / "w1.h5", W1=[["x"] * 9] * 9)
    err = error_line(capsys, ["reconstruct", "--method", "gn", "--measurements", str(bad),
                              "--out", str(tmp_path / "r.h5")])
    assert f"{bad}: attribute 'operator': 'W1': expected a 9 x 9 array of numbers, got text" in err
    with pytest.raises(DataFileError, match=r"w1.h5: attribute 'operator': 'W1'"):
        H5Dataset(bad).operator()  # the training and evaluation path


@pytest.mark.parametrize("changes, expected", [
    ({"W2": [1.0] * 8}, "'W2': expected a 9 array of numbers, got shape (8,)"),
    ({"W2": [[1.0], [2.0, 3.0]]}, "'W2': expected a 9 array of numbers, got ragged lists"),
    ({"W1": None}, "has no 'W1' (expected a 9 x 9 array of numbers)"),
    ({"n": "53"}, "'n' = '53': expected an integer >= 1"),
    ({"n": 53.0}, "'n' = 53.0: expected an integer >= 1"),
    ({"window": True}, "'window' = True: expected an integer >= 1"),
    ({"stride": 0}, "'stride' = 0: expected an integer >= 1"),
    ({"a": "x"}, "'a' = 'x': expected a number >= 0"),
    ({"a": None}, "has no 'a' (expected a number >= 0)"),
    ({"seed": -1}, "'seed' = -1: expected an integer >= 0"),
])
def test_other_blur1d_attributes_of_the_wrong_type(blur_file, tmp_path, changes, expected):
    bad = with_operator(blur_file, tmp_path / "bad.h5", **changes)
    with pytest.raises(DataFileError) as err:
        H5Dataset(bad).operator()
    assert str(err.value) == f"{bad}: attribute 'operator': {expected}"


@pytest.mark.parametrize("changes, expected", [
    ({"shape": "32"}, "'shape' = '32': expected [H, W], two integers >= 1"),
    ({"shape": [32, 0]}, "'shape' = [32, 0]: expected [H, W], two integers >= 1"),
    ({"boundary": 1}, "'boundary' = 1: expected a string"),
    ({"boundary": "reflect"}, "'boundary' = 'reflect': expected 'zero' or 'periodic'"),
    ({"sigma": [1.5]}, "'sigma' = [1.5]: expected a number >= 0"),
    ({"kernel": [["a"]]}, "'kernel': expected a 2-D array of numbers, got text"),
    ({"kernel": [1.0, 2.0, 1.0]}, "'kernel': expected a 2-D array of numbers, got shape (3,)"),
    ({"type": None}, ""),
])
def test_blur2d_attributes_of_the_wrong_type(changes, expected):
    from forward_models.blur import ImageBlur2D

    cfg = {**ImageBlur2D((16, 16)).config(), **{k: v for k, v in changes.items() if v is not None}}
    for key in [k for k, v in changes.items() if v is None]:
        del cfg[key]
    with pytest.raises(DataFileError) as err:
        operator_of(cfg, "f.h5")
    assert str(err.value).startswith("f.h5: attribute 'operator': ") and expected in str(err.value)
    assert len(str(err.value).splitlines()) == 1


def test_an_unreadable_data_set_says_so_not_that_it_is_no_hdf5(blur_file, monkeypatch):
    import invtools.data.h5file as h5file

    def denied(path, mode="r"):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(h5file, "open", denied, raising=False)
    with pytest.raises(DataFileError) as err:
        H5Dataset(blur_file)
    assert str(err.value) == f"{blur_file}: cannot be read (permission denied)"


def test_zero_baseline_samples_is_named(blur_file, tmp_path, capsys):
    model = tmp_path / "m.pt"
    model.write_bytes(b"not read")
    err = error_line(capsys, ["evaluate", "--model", str(model), "--data", str(blur_file),
                              "--baseline-samples", "0"])
    assert "--baseline-samples 0: the gn baseline needs at least 1 sample (or pass --baseline none)" in err


def config(tmp_path, text):
    path = tmp_path / "train.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, expected", [
    ('[data]\ntrain = 5\n', "[data] train = 5: expected the path of an HDF5 data set"),
    ('[data]\ntrain = "t.h5"\nval = ["v.h5"]\n', "[data] val = ['v.h5']: expected the path of an HDF5"),
    ('out = 5\n[data]\ntrain = "t.h5"\n', "out = 5: expected the path of a folder"),
    ('[data]\ntrain = "t.h5"\n[train]\ninit_from = true\n', "[train] init_from = True: expected the path"),
])
def test_config_paths_of_the_wrong_type(tmp_path, capsys, text, expected):
    path = config(tmp_path, text)
    err = error_line(capsys, ["train", str(path)])
    assert f"{path}: {expected}" in err


def test_resume_with_a_truncated_run_config(blur_file, tmp_path, capsys):
    path = config(tmp_path, f'out = "run"\n[data]\ntrain = "{blur_file}"\n')
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "run_config.json").write_text('{"out": "/tm')
    err = error_line(capsys, ["train", str(path), "--resume"])
    assert f"{tmp_path / 'run' / 'run_config.json'}: not valid JSON (truncated?)" in err


def test_a_missing_input_is_named_before_an_existing_output(blur_file, tmp_path, capsys):
    out = tmp_path / "exists.h5"
    out.write_bytes(b"old")
    missing = tmp_path / "missing.mat"
    for argv, name in [
        (["reconstruct", "--method", "gn", "--measurements", str(missing), "--out", str(out)],
         f"--measurements {missing}"),
        (["reconstruct", "--model", str(tmp_path / "no.pt"), "--measurements", str(blur_file),
          "--out", str(out)], "--model"),
        (["reconstruct", "--method", "gn", "--measurements", str(blur_file), "--reference",
          str(missing), "--out", str(out)], "--reference"),
        (["evaluate", "--model", str(tmp_path / "no.pt"), "--data", str(blur_file), "--out",
          str(tmp_path)], "--model"),
        (["merge", str(tmp_path / "s0.h5"), "--out", str(out)], "s0.h5"),
        (["generate", str(tmp_path / "recipe.toml"), "--out", str(out), "-n", "4"], "recipe.toml"),
    ]:
        err = error_line(capsys, argv)
        assert name in err and "no such file" in err and "exists" not in err, err
    assert out.read_bytes() == b"old"
    run = tmp_path / "run"
    run.mkdir()
    (run / "last.pt").write_bytes(b"a finished run")
    path = config(tmp_path, f'out = "run"\n[data]\ntrain = "{tmp_path / "gone.h5"}"\n')
    err = error_line(capsys, ["train", str(path)])
    assert "gone.h5: no such file ([data] train of" in err and "already holds a run" not in err
