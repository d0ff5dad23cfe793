"""Files written before the package was regrouped into subpackages still load and give the same numbers:
a checkpoint and a data set made at commit cd7be92 (``tests/data/before_layout``, with the
predictions that version made), the shipped tank model and the sample files in ``datasets/``."""

from pathlib import Path

import numpy as np
import torch

from invtools.data import H5Dataset
from invtools.data.readers import read_measurements
from invtools.operators.parametrization import from_net
from invtools.training.trained_model import load_model, resolve_model

ROOT = Path(__file__).parents[1]
BEFORE = ROOT / "tests" / "data" / "before_layout"


def test_a_checkpoint_and_data_set_from_before_the_move_predict_as_they_did():
    model, data = load_model(BEFORE / "lpgd_blur1d.pt"), H5Dataset(BEFORE / "blur1d_val.h5")
    x, y, x0 = (torch.stack([data[i][k] for i in range(4)]) for k in range(3))
    expected = np.load(BEFORE / "expected.npz")
    np.testing.assert_array_equal(x.numpy(), expected["x"])
    pred = model.predict(y.double(), from_net(x0.double(), data.parametrization))
    # the net runs in float32: rounding differs between BLAS builds and CPUs by ~1e-7 of the
    # signals' size (0.02 here), which a relative tolerance alone fails on entries near 0
    scale = float(np.abs(expected["pred"]).max())
    np.testing.assert_allclose(pred.numpy(), expected["pred"], rtol=1e-6, atol=1e-6 * scale)


def test_the_shipped_model_and_the_sample_files_load():
    tank = load_model(resolve_model("ktc2023"))
    assert tank.operator.out_shape[-1] > 0 and sum(p.numel() for p in tank.net.parameters()) > 0
    discs = H5Dataset(ROOT / "datasets" / "samples" / "eit_discs2_4.h5")
    assert len(discs) == 4 and all(torch.isfinite(t).all() for t in discs[0])
    blur = read_measurements(ROOT / "datasets" / "samples" / "blur1d_y.npz")
    assert np.isfinite(blur.y).all() and blur.y.ndim == 2
