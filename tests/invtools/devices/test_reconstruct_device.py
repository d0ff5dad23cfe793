"""A device written from scratch (8 electrodes on a 10 cm disk) runs end to end: files simulated
by the forward model, reconstructed by ``invtools reconstruct --device``, segmented where the
inclusion is; a file that does not match its description writes nothing."""

import h5py
import numpy as np
import pytest
from device_files import simulate, write_mat

from invtools.devices import load_description
from invtools.devices.reconstruct import segment_device
from invtools.workflow import cli
from invtools.workflow.reconstruct import reconstruct


def _device_files(eight, inclusion, noise=1e-3):
    path, folder = eight
    desc = load_description(path)
    ref, currents = simulate(desc, None, noise=noise, seed=1)
    u, _ = simulate(desc, inclusion, noise=noise, seed=2)
    write_mat(folder / "empty.mat", ref, currents)
    return path, write_mat(folder / "meas.mat", u, currents)


@pytest.mark.parametrize(("inclusion", "where"), [
    ((0.05, 0.0, 0.025, 10.0), "right"),  # conductive, on the right (+x)
    ((0.0, 0.05, 0.025, 0.02), "top"),  # resistive, at the top (+y): row 0 of the label image
])
def test_simulate_reconstruct_segment(eight, inclusion, where, capsys):
    path, meas = _device_files(eight, inclusion)
    out = meas.parent / "rec.h5"
    labels_file = meas.parent / "labels.npz"
    code = cli.main(["reconstruct", "--device", str(path), "--method", "gn", "--measurements", str(meas),
                     "--out", str(out), "--segment", str(labels_file)])
    assert code == 0, capsys.readouterr().err
    with h5py.File(out) as f:
        x, grid = f["x"][()], f["labels"][()]
    assert x.shape == (1, 16, 16) and grid.shape == (1, 16, 16)
    labels = np.load(labels_file)["labels"][0]  # 64 x 64, row 0 at the top
    cls = 2 if inclusion[3] > 0.5 else 1
    assert set(np.unique(labels)) == {0, cls}  # the inclusion's class only
    rows, cols = np.nonzero(labels == cls)
    n = labels.shape[0]
    if where == "right":
        assert cols.mean() > 0.65 * n and abs(rows.mean() - n / 2) < 0.15 * n
    else:
        assert rows.mean() < 0.35 * n and abs(cols.mean() - n / 2) < 0.15 * n
    # the image grid's labels have x's rows (growing with y): the top is the last rows
    g_rows, _ = np.nonzero(grid[0] == cls)
    assert (g_rows.mean() > 16 / 2) == (where == "top")


def test_missing_values_are_left_out(eight):
    path, meas = _device_files(eight, (0.05, 0.0, 0.025, 10.0))
    import scipy.io

    d = scipy.io.loadmat(meas)
    d["V"][[2, 5], [0, 9]] = np.nan  # two values of the file
    scipy.io.savemat(meas, {"V": d["V"], "I": d["I"]})
    rec = reconstruct(meas, device=path)
    assert rec.missing == 2
    rows, cols = np.nonzero(rec.label_images[0] == 2)
    assert cols.size and cols.mean() > 0.65 * 64  # still found on the right


def test_calibration_and_an_empty_difference(eight):
    path, meas = _device_files(eight, None, noise=0.0)
    rec = reconstruct(meas, device=path)
    # simulated at 0.5 S/m on a 4 mm mesh, fitted on a 6 mm one: they differ by a few per cent
    assert rec.sigma0 == pytest.approx(0.5, rel=0.03)
    assert rec.calibration_misfit < 0.05 and rec.contact_impedance == 1e-3
    np.testing.assert_allclose(rec.x, rec.sigma0, rtol=1e-9)  # no change: the background
    assert not rec.label_images.any() and rec.mode == "difference"
    absolute = reconstruct(meas, device=path, absolute=True)
    assert absolute.mode == "absolute" and absolute.objective[-1] < absolute.objective[0]


def test_contact_impedance_fitted(eight):
    path, folder = eight
    path.write_text(path.read_text().replace("contact_impedance = 1e-3", 'contact_impedance = "fit"'))
    desc = load_description(path)
    truth = path.read_text().replace('contact_impedance = "fit"', "contact_impedance = 0.02")
    (folder / "truth.toml").write_text(truth)
    ref, currents = simulate(load_description(folder / "truth.toml"), None)
    write_mat(folder / "empty.mat", ref, currents)
    rec = reconstruct(folder / "empty.mat", device=desc)
    assert rec.contact_impedance == pytest.approx(0.02, rel=0.3)
    assert rec.sigma0 == pytest.approx(0.5, rel=0.03) and rec.calibration_misfit < 0.05


def test_otsu_rule_and_rows_bottom_up(eight):
    path, _ = eight
    desc = load_description(path)
    x = np.full((1, 16, 16), 1.0)
    x[0, 12:15, 6:10] = 5.0  # rows growing with y: near the top
    levels = segment_device(desc, x, 1.0, 32)
    assert levels[0, :16].sum() > 0 and levels[0, 16:].sum() == 0
    from invtools.devices import parse_description

    flipped = parse_description(path.read_text().replace("[image]", '[image]\nrows = "bottom-up"'), path)
    np.testing.assert_array_equal(segment_device(flipped, x, 1.0, 32), levels[:, ::-1])
    otsu_text = path.read_text().replace("[segmentation]", '[segmentation]\nrule = "otsu"')
    otsu = parse_description(otsu_text, path)
    assert (segment_device(otsu, x, 1.0, 32) == 2).sum() > 0
    assert not segment_device(otsu, np.ones((1, 16, 16)), 1.0, 32).any()  # flat: all background


def test_a_mismatching_file_writes_nothing(eight, capsys):
    path, folder = eight
    _device_files(eight, None)
    write_mat(folder / "nine.mat", np.zeros(16 * 9), np.zeros((16, 8)), k=9)
    out = folder / "rec.h5"
    code = cli.main(["reconstruct", "--device", str(path), "--method", "gn", "--measurements",
                     str(folder / "nine.mat"), "--out", str(out), "--segment", str(folder / "s.png")])
    err = capsys.readouterr().err
    assert code == 1 and "V has shape (9, 16), the description eight.toml expects (8, 16)" in err
    assert not out.exists() and not (folder / "s.png").exists()
    bad = folder / "bad.toml"
    bad.write_text(path.read_text().replace("count = 8", "count = 8.0"))
    code = cli.main(["reconstruct", "--device", str(bad), "--method", "gn", "--measurements",
                     str(folder / "meas.mat"), "--out", str(out)])
    assert code == 1 and f"{bad}: [electrodes] count must be an integer" in capsys.readouterr().err
    code = cli.main(["reconstruct", "--device", str(path), "--method", "model", "--model", "x.pt",
                     "--measurements", str(folder / "meas.mat"), "--out", str(out)])
    assert code == 1 and not out.exists()
