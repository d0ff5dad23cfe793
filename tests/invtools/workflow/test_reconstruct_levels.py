"""KTC2023 at every difficulty level: every method on the real level files, masks of broken
electrodes anywhere, too little data refused, and data no tank could produce refused."""

import json
import shutil

import h5py
import numpy as np
import pytest
import scipy.io

from forward_models.eit.ktc2023 import ktc_patterns
from invtools.data.h5file import DataFileError
from invtools.data.missing_data import electrode_mask, level_mask
from invtools.training.trained_model import load_model
from invtools.workflow.cli import main
from invtools.workflow.reconstruct import reconstruct
from invtools.workflow.reconstruct.result import label_images
from invtools.workflow.reconstruct.tank_checks import data_problems, image_warnings


def level_file(ktc, level: int, target: int = 1):
    return ktc / f"data{target}.mat" if level == 1 else ktc / "levels" / f"level{level}" / f"data{target}.mat"


def write_masked(tmp_path, ktc, name: str, keep: np.ndarray, target: int = 2):
    """A copy of a real file with the values outside ``keep`` set to NaN (and ref.mat beside it)."""
    shutil.copy(ktc / "ref.mat", tmp_path / "ref.mat")
    d = scipy.io.loadmat(ktc / f"data{target}.mat")
    u = d["Uel"].astype(np.float64).ravel()
    u[~keep] = np.nan
    scipy.io.savemat(tmp_path / name, {"Uel": u[:, None], "Inj": d["Inj"], "Mpat": d["Mpat"]})
    return tmp_path / name


@pytest.mark.parametrize("level", range(1, 8))
def test_every_level_by_the_fast_methods_and_the_shipped_model(ktc, level):
    """All four targets of a level: linearized, the organisers' baseline and --model ktc2023
    reconstruct from the kept values; the file's mask is the level's, recorded in the result."""
    currents, measurement = ktc_patterns()
    kept = int(level_mask(currents, measurement, level).sum())
    for target in range(1, 5):
        for method, model in (("linearized", None), ("baseline", None), ("model", "ktc2023")):
            rec = reconstruct(level_file(ktc, level, target), model=model, method=method)
            assert rec.missing == 2356 - kept and rec.level == level
            assert np.isfinite(rec.x).all()
            # a linear step in the conductivity may undershoot below 0 S/m: then, and only then,
            # it is flagged; the model works on log-conductivity and never is
            assert bool(rec.warnings) == bool((rec.x <= 0).any())
            assert method != "model" or rec.warnings == []
            labels = label_images(rec)
            assert labels.shape == (1, 256, 256) and set(np.unique(labels)) <= {0, 1, 2}
            assert (labels != 0).mean() > 0.01  # each target holds an inclusion at every level


def test_gauss_newton_at_level_7_is_no_worse_than_its_start(ktc):
    rec = reconstruct(level_file(ktc, 7, 3), method="gn")
    assert rec.missing == 2356 - 513 and np.isfinite(rec.x).all()


def test_broken_electrode_17_and_dropped_values(tmp_path, ktc):
    """Masks that are no level: electrode 17 broken, electrodes 5, 17 and 30, random single
    values; every method reconstructs from them, and the data fit sees only the kept values."""
    currents, measurement = ktc_patterns()
    rng = np.random.default_rng(0)
    masks = {"e17.mat": electrode_mask(currents, measurement, [16]),
             "e5_17_30.mat": electrode_mask(currents, measurement, [4, 16, 29]),
             "dropped.mat": rng.uniform(size=2356) > 0.1}
    for name, keep in masks.items():
        path = write_masked(tmp_path, ktc, name, keep)
        for method, model in (("linearized", None), ("baseline", None), ("model", "ktc2023")):
            rec = reconstruct(path, model=model, method=method)
            assert rec.missing == int((~keep).sum()) and rec.level is None
            assert np.isfinite(rec.x).all()
    # the values at missing places do not matter: NaN there, or anything else marked missing, agree
    full = reconstruct(write_masked(tmp_path, ktc, "e17.mat", masks["e17.mat"]), method="linearized")
    keep = masks["e17.mat"]
    d = scipy.io.loadmat(ktc / "data2.mat")
    u = d["Uel"].astype(np.float64).ravel()
    u[~keep] = np.nan
    u2 = np.where(keep, u, np.nan)
    scipy.io.savemat(tmp_path / "e17b.mat", {"Uel": u2[:, None], "Inj": d["Inj"], "Mpat": d["Mpat"]})
    np.testing.assert_allclose(reconstruct(tmp_path / "e17b.mat", method="linearized").x, full.x, atol=1e-12)


def test_too_little_data_is_refused_naming_the_count(tmp_path, ktc):
    keep = np.zeros(2356, dtype=bool)
    keep[:20] = True
    path = write_masked(tmp_path, ktc, "few.mat", keep)
    for method, model in (("gn", None), ("linearized", None), ("baseline", None)):
        with pytest.raises(DataFileError, match=r"keeps 20 of 2356 values; --method \w+ needs at least 31"):
            reconstruct(path, model=model, method=method)
    fewest = load_model("ktc2023").fewest_values()
    assert 100 < fewest <= 513
    with pytest.raises(DataFileError, match=rf"keeps 20 of 2356 values; .* needs at least {fewest}"):
        reconstruct(path, model="ktc2023")
    assert main(["reconstruct", "--model", "ktc2023", "--measurements", str(path),
                 "--out", str(tmp_path / "few.h5")]) != 0
    assert not (tmp_path / "few.h5").exists()


NONSENSE = {"zeros": lambda u, r: 0 * u, "huge": lambda u, r: 1e12 * u,
            "constant": lambda u, r: np.full_like(u, np.abs(r).mean()), "negated": lambda u, r: -u,
            "scrambled": lambda u, r: np.random.default_rng(1).permutation(u)}


@pytest.mark.parametrize("kind", sorted(NONSENSE))
def test_data_no_tank_could_produce_are_refused(tmp_path, ktc, kind):
    shutil.copy(ktc / "ref.mat", tmp_path / "ref.mat")
    d = scipy.io.loadmat(ktc / "data1.mat")
    ref = scipy.io.loadmat(ktc / "ref.mat")["Uelref"]
    bad = NONSENSE[kind](d["Uel"].astype(np.float64), ref.astype(np.float64))
    scipy.io.savemat(tmp_path / "bad.mat", {"Uel": bad, "Inj": d["Inj"], "Mpat": d["Mpat"]})
    for method, model in (("linearized", None), ("gn", None), ("baseline", None), ("model", "ktc2023")):
        with pytest.raises(DataFileError, match="bad.mat: not data a tank could produce"):
            reconstruct(tmp_path / "bad.mat", model=model, method=method)
    out = tmp_path / "bad.h5"
    assert main(["reconstruct", "--method", "linearized", "--measurements", str(tmp_path / "bad.mat"),
                 "--out", str(out)]) != 0
    assert not out.exists()


def test_the_checks_pass_every_real_file_and_simulated_tank_data(ktc):
    """No false alarms: the 28 real files and 20 simulated preset samples pass."""
    from invtools.data.recipes import Problem, Recipe, load_recipe

    files = [level_file(ktc, v, t) for v in range(1, 8) for t in range(1, 5)]
    for f in files:  # no DataFileError: every real file passes the data checks
        assert reconstruct(f, method="linearized").x.shape == (1, 32, 32)
    d = load_recipe("ktc2023").to_dict()
    d["mask"] = {"type": "none"}
    problem = Problem(Recipe.from_dict(d))
    s = problem.samples(np.arange(60), 5)
    water = problem.references()[1]
    for y in s["y"]:  # (60 samples of this seed reach 35 times the reference: the bound is wide)
        assert data_problems(y, water, water) == []


def test_nonphysical_images_are_flagged(tmp_path, ktc, capsys):
    assert image_warnings(np.array([0.5, 1.0])) == []
    lines = image_warnings(np.array([-9.0, 0.5, 2e4, np.nan]))
    assert len(lines) == 3 and "-9" in lines[1] and "2e+04" in lines[2]
    # a linearised step with a tiny prior weight overshoots below 0 S/m: flagged, in info and stderr
    out = tmp_path / "r.h5"
    assert main(["reconstruct", "--method", "linearized", "--lam", "1e-12", "--measurements",
                 str(ktc / "data1.mat"), "--out", str(out)]) == 0
    assert "warning:" in capsys.readouterr().err
    with h5py.File(out, "r") as f:
        assert any("<= 0 S/m" in w for w in json.loads(f.attrs["info"])["warnings"])
