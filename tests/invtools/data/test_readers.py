"""Round trips of every measurement layout, and a property-based fuzz test: whatever is wrong
with a file, ``invtools reconstruct`` either succeeds with a complete output or prints one
error line, exits 1 and writes nothing."""

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from invtools.data.h5file import DataFileError
from invtools.data.readers import read_measurements
from invtools.workflow.cli import main


def write(fmt: str, path: Path, y: np.ndarray) -> Path:
    if fmt == "npz":
        np.savez(path, y=y)
    elif fmt == "csv":
        np.savetxt(path, np.atleast_2d(y), delimiter=",")
    elif fmt == "h5":
        with h5py.File(path, "w") as f:
            f["y"] = y.astype("S") if y.dtype.kind == "U" else y
    elif fmt == "mat":
        scipy.io.savemat(path, {"y": y})
    return path


@pytest.mark.parametrize("fmt", ["npz", "csv", "h5", "mat"])
@pytest.mark.parametrize("shape", [(12,), (3, 12)])
def test_round_trip(tmp_path, fmt, shape):
    y = np.random.default_rng(0).standard_normal(shape)
    m = read_measurements(write(fmt, tmp_path / f"y.{fmt}", y))
    assert np.allclose(m.y, np.atleast_2d(y), rtol=1e-15 if fmt != "csv" else 1e-12)


def test_unknown_extension_and_missing_file(tmp_path):
    with pytest.raises(DataFileError, match="unknown extension"):
        read_measurements(write("npz", tmp_path / "y.npz", np.ones(3)).rename(tmp_path / "y.bin"))
    with pytest.raises(DataFileError, match="no such file"):
        read_measurements(tmp_path / "nope.h5")


def test_a_device_file_is_not_a_plain_mat_file(tmp_path):
    scipy.io.savemat(tmp_path / "tank.mat", {"Uel": np.ones((6, 1)), "Inj": np.ones((3, 2))})
    message = r"tank.mat: no variable 'y' \(found \['Inj', 'Uel'\]\); .* --device"
    with pytest.raises(DataFileError, match=message):
        read_measurements(tmp_path / "tank.mat")


# --- fuzz ---------------------------------------------------------------------------------------

def valid_files(root: Path, ktc: Path | None) -> dict[str, Path]:
    rng = np.random.default_rng(1)
    files = {fmt: write(fmt, root / f"valid.{fmt}", 0.1 * rng.standard_normal(12))
             for fmt in ("npz", "csv", "h5", "mat")}
    if ktc is not None:
        (root / "ktc").mkdir()
        for name in ("ref.mat", "data1.mat"):
            shutil.copy(ktc / name, root / "ktc" / name)
        files["ktc"] = root / "ktc" / "data1.mat"
    return files


def corrupt(kind: str, fmt: str, src: Path, dst: Path, data: st.DataObject) -> Path:
    raw = src.read_bytes()
    if kind == "truncate":
        dst.write_bytes(raw[: data.draw(st.integers(0, len(raw) - 1))])
    elif kind == "random_bytes":
        dst.write_bytes(data.draw(st.binary(min_size=0, max_size=300)))
    elif kind == "flip_bytes":
        b = bytearray(raw)
        for i in data.draw(st.lists(st.integers(0, len(b) - 1), min_size=1, max_size=20)):
            b[i] ^= 0xFF
        dst.write_bytes(bytes(b))
    else:
        y = {"nan": np.array([0.1, np.nan] * 6), "inf": np.array([np.inf] + [0.1] * 11),
             "shape": np.zeros((2, 3, 2)), "length": np.zeros(7), "dtype": np.array(["a"] * 12),
             "empty": np.zeros(0)}[kind]
        if fmt == "ktc":
            d = scipy.io.loadmat(src)
            if kind in ("length", "empty"):
                d["Uel"] = d["Uel"][:100]
            elif kind == "dtype":
                d["Inj"] = np.array(["x"] * 4)
            elif kind == "shape":
                d["Mpat"] = d["Mpat"][:5]
            else:
                d["Uel"] = d["Uel"].copy()
                d["Uel"][:5] = np.inf if kind == "inf" else np.nan  # NaN = missing (allowed)
            scipy.io.savemat(dst, {k: v for k, v in d.items() if not k.startswith("__")})
        elif fmt == "csv" and kind == "dtype":
            dst.write_text("0.1, abc, 0.3\n")
        elif fmt == "csv" and kind == "shape":
            dst.write_text("0.1, 0.2, 0.3\n0.4\n")  # ragged rows
        else:
            write("h5" if fmt == "h5" else fmt, dst, y)
    return dst


KINDS = ["truncate", "random_bytes", "flip_bytes", "nan", "inf", "shape", "length", "dtype", "empty",
         "missing_key"]


@pytest.fixture(scope="module")
def fuzz_root(tmp_path_factory, ktc_or_none):
    root = tmp_path_factory.mktemp("fuzz")
    return root, valid_files(root, ktc_or_none)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_measurement_files_fail_cleanly(fuzz_root, data, capfd):
    root, files = fuzz_root
    fmt = data.draw(st.sampled_from(sorted(files)))
    kind = data.draw(st.sampled_from(KINDS))
    suffix = ".mat" if fmt == "ktc" else f".{fmt}"
    folder = files[fmt].parent
    dst = folder / f"bad{suffix}"
    if kind == "missing_key":
        if fmt == "ktc":
            d = scipy.io.loadmat(files[fmt])
            d.pop(data.draw(st.sampled_from(["Inj", "Mpat", "Uel"])))
            scipy.io.savemat(dst, {k: v for k, v in d.items() if not k.startswith("__")})
        elif fmt == "csv":
            dst.write_text("# only a comment\n")
        elif fmt == "h5":
            with h5py.File(dst, "w") as f:
                f["z"] = np.ones(12)
        elif fmt == "npz":
            np.savez(dst, z=np.ones(12))
        else:
            scipy.io.savemat(dst, {"z": np.ones(12)})
    else:
        corrupt(kind, fmt, files[fmt], dst, data)
    out = folder / "rec.h5"
    args = ["reconstruct", "--method", "linearized", "--measurements", str(dst), "--out", str(out),
            "--mesh-h", "0.02"]
    if fmt != "ktc":
        args += ["--recipe", "blur1d-rma"]
    capfd.readouterr()
    code = main(args)
    err = capfd.readouterr().err.strip()
    if code == 0:  # the corruption left a valid file: the output must be complete
        with h5py.File(out, "r") as f:
            assert np.all(np.isfinite(f["x"][()]))
        out.unlink()
    else:
        assert code == 1
        assert err.startswith("invtools reconstruct: error:") and "\n" not in err, err
        assert "Traceback" not in err
        assert not out.exists()
    assert not list(folder.glob(".rec.h5*"))  # no temporary output left behind
    assert code == 1 or kind in ("truncate", "flip_bytes", "nan", "random_bytes", "missing_key")
