"""Difference imaging of the real KTC2023 water-tank data (runs on CI: the data are in
../shared/ktc2023 beside the checkout, or wherever $INVTOOLS_KTC2023 points)."""

import json
import shutil

import h5py
import numpy as np
import scipy.io
import torch

from invtools.operators import operator_from_config
from invtools.workflow.cli import main
from invtools.workflow.reconstruct import reconstruct


def test_reconstruct_data1_through_the_cli(tmp_path, ktc):
    out, png = tmp_path / "ktc1.h5", tmp_path / "ktc1.png"
    assert main(["reconstruct", "--method", "linearized", "--measurements", str(ktc / "data1.mat"),
                 "--out", str(out), "--plot", str(png)]) == 0
    with h5py.File(out, "r") as f:
        sigma = f["x"][()][0]
        info = json.loads(f.attrs["info"])
        op = operator_from_config(json.loads(f.attrs["operator"]))
        assert sigma.shape == (32, 32) and "mesh" not in f  # the tank's image: 32 x 32 pixels
    assert png.read_bytes()[:4] == b"\x89PNG"
    sigma0 = info["sigma0"]
    assert 0.8 < sigma0 < 0.85  # the water, fitted on the accurate mesh
    assert info["missing"] == 0 and op.outer.n_electrodes == 32 and op.n_out == 2356
    data = scipy.io.loadmat(ktc / "data1.mat")["Uel"].ravel()
    ref = scipy.io.loadmat(ktc / "ref.mat")["Uelref"].ravel()
    dy = data - ref
    delta = torch.as_tensor(sigma - sigma0)[None]
    fit = op.A_jvp(torch.full((1, 32, 32), sigma0, dtype=torch.float64), delta)[0].numpy()
    assert np.linalg.norm(fit - dy) < 0.25 * np.linalg.norm(dy)  # explains the data difference
    assert delta.max() > 0.5 * sigma0 and delta.min() < -0.5 * sigma0  # a conductor and an insulator


def test_difference_reconstruction_is_zero_and_linear_in_the_data(tmp_path, ktc):
    for name in ("ref.mat",):
        shutil.copy(ktc / name, tmp_path / name)
    d = scipy.io.loadmat(ktc / "data1.mat")
    ref = scipy.io.loadmat(ktc / "ref.mat")["Uelref"]
    scipy.io.savemat(tmp_path / "same.mat", {"Uel": ref, "Inj": d["Inj"], "Mpat": d["Mpat"]})
    scipy.io.savemat(tmp_path / "double.mat", {"Uel": ref + 2 * (d["Uel"] - ref), "Inj": d["Inj"],
                                               "Mpat": d["Mpat"]})
    scipy.io.savemat(tmp_path / "single.mat", {"Uel": d["Uel"], "Inj": d["Inj"], "Mpat": d["Mpat"]})
    from invtools.classical import ClassicalConfig

    cfg = ClassicalConfig(lam=1e-3)
    rec = {n: reconstruct(tmp_path / f"{n}.mat", method="linearized", classical=cfg, mesh_h=0.015)
           for n in ("same", "single", "double")}
    s0 = rec["same"].sigma0
    assert np.allclose(rec["same"].x, s0, atol=1e-12)
    assert np.allclose(rec["double"].x - s0, 2 * (rec["single"].x - s0), rtol=1e-8, atol=1e-10)


def test_missing_values_are_masked(tmp_path, ktc):
    shutil.copy(ktc / "ref.mat", tmp_path / "ref.mat")
    d = scipy.io.loadmat(ktc / "data1.mat")
    full = reconstruct(ktc / "data1.mat", method="linearized", mesh_h=0.015)
    u = d["Uel"].copy()
    u[100:131] = np.nan  # one injection's measurements lost
    scipy.io.savemat(tmp_path / "gaps.mat", {"Uel": u, "Inj": d["Inj"], "Mpat": d["Mpat"]})
    gaps = reconstruct(tmp_path / "gaps.mat", method="linearized", mesh_h=0.015)
    assert gaps.missing == 31 and np.all(np.isfinite(gaps.x))
    a, b = (full.x[0] - full.sigma0).ravel(), (gaps.x[0] - gaps.sigma0).ravel()
    assert np.corrcoef(a, b)[0, 1] > 0.9


def test_gauss_newton_on_the_tank_stays_positive(ktc):
    rec = reconstruct(ktc / "data1.mat", method="gn", mesh_h=0.015)
    assert rec.x.min() > 0 and rec.x.max() > 1.5 * rec.sigma0


def test_tank_electrode_one_is_at_the_top_and_numbering_runs_counter_clockwise():
    from forward_models.eit.ktc2023 import ktc_operator

    L = 32
    currents = np.roll(np.eye(L), 1, axis=1)[:1] - np.eye(L)[:1]  # one pattern: 2 -> 1
    op = ktc_operator(currents, np.eye(L), mesh_size=0.02)
    centre = [op.mesh.p[:, op.mesh.facets[:, f].ravel()].mean(axis=1) for f in op.facets[:2]]
    angle = [np.arctan2(c[1], c[0]) for c in centre]
    assert abs(angle[0] - np.pi / 2) < 0.05        # electrode 1 at 90 degrees: the top
    assert 0 < angle[1] - angle[0] < 2 * np.pi / L + 0.05  # electrode 2 counter-clockwise from it


def test_segment_writes_the_challenge_layout(tmp_path, ktc, capsys):
    from invtools.workflow.cli import main

    out, mat, npz = tmp_path / "r.h5", tmp_path / "s.mat", tmp_path / "s.npz"
    assert main(["reconstruct", "--method", "linearized", "--measurements", str(ktc / "data1.mat"),
                 "--out", str(out), "--mesh-h", "0.015", "--segment", str(mat), str(npz)]) == 0
    labels = scipy.io.loadmat(mat)["reconstruction"]
    assert labels.shape == (256, 256) and set(np.unique(labels)) == {0, 1, 2}
    np.testing.assert_array_equal(np.load(npz)["labels"][0], labels)
    assert labels[0, 0] == labels[-1, -1] == 0  # outside the tank: water
    assert (labels == 0).mean() > 0.5  # water is the most populous class


def test_segment_refuses_bad_requests_before_writing(tmp_path, capsys):
    from pathlib import Path

    from invtools.workflow.cli import main

    sample = Path(__file__).parents[3] / "datasets" / "samples" / "blur1d_y.npz"
    base = ["reconstruct", "--method", "linearized", "--recipe", "blur1d-rma", "--measurements",
            str(sample), "--out", str(tmp_path / "r.h5")]
    assert main([*base, "--segment", str(tmp_path / "s.tif")]) == 1
    assert "use a .mat, .npz or .png" in capsys.readouterr().err
    assert main([*base, "--segment", str(tmp_path / "s.npz")]) == 1
    assert "needs an EIT reconstruction" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_absolute_gauss_newton_on_the_accurate_mesh_fits_better_than_the_water(ktc):
    """--absolute images the voltages themselves: the objective falls monotonically from the
    homogeneous start and ends well below it; the image stays positive."""
    rec = reconstruct(ktc / "data1.mat", method="gn", absolute=True)
    objective = rec.objective
    assert rec.mode == "absolute" and rec.x.shape == (1, 32, 32) and rec.x.min() > 0
    assert all(b <= a for a, b in zip(objective, objective[1:], strict=False))
    assert objective[-1] < 0.3 * objective[0]


def test_absolute_is_refused_where_it_does_not_apply(tmp_path, ktc, capsys):
    from pathlib import Path

    sample = Path(__file__).parents[3] / "datasets" / "samples" / "blur1d_y.npz"
    for argv, message in ((["--method", "linearized", "--measurements", str(ktc / "data1.mat")],
                           "absolute imaging of the tank is --method gn"),
                          (["--method", "gn", "--recipe", "blur1d-rma", "--measurements", str(sample)],
                           "--absolute is for a device's files (--device)")):
        assert main(["reconstruct", *argv, "--absolute", "--out", str(tmp_path / "r.h5")]) == 1
        assert message in capsys.readouterr().err
    assert not (tmp_path / "r.h5").exists()
