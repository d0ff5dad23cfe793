"""A third device written from scratch: 8 electrodes on a disk of 10 cm, and its files simulated
by the forward model (on a finer mesh than the reconstruction's)."""

from pathlib import Path

import numpy as np
import scipy.io
import torch

EIGHT = """
[device]
name = "eight"
description = "8 electrodes on a 10 cm disk, written for the tests"

[domain]
shape = "circle"
radius = 0.1

[electrodes]
count = 8
width = 0.02
first_angle = 90.0
direction = "clockwise"
contact_impedance = 1e-3

[patterns]
currents = "file"
measurements = "adjacent"

[file]
voltages = "V"
voltages_layout = "measurement-by-pattern"
currents = "I"
currents_layout = "electrode-by-pattern"
voltage_scale = 1.0
missing = "nan"

[reference]
file = "empty.mat"

[calibration]
mesh_size = 0.006
edge_levels = 1

[image]
pixels = 16
mesh_size = 0.012
label_pixels = 64

[reconstruction]
prior_weight = 1e-4

[segmentation]
threshold = 0.5
"""


def find_kit4() -> Path | None:
    """The KIT4 files: $INVTOOLS_KIT4, ../shared/kit4 beside the checkout, or /work/shared/kit4."""
    import os

    for c in (os.environ.get("INVTOOLS_KIT4"), Path(__file__).resolve().parents[3].parent / "shared" / "kit4",
              "/work/shared/kit4"):
        if c and (Path(c) / "datamat_1_0.mat").is_file():
            return Path(c)
    return None


def currents8(amplitude: float = 2.0) -> np.ndarray:
    """(P, L) = (16, 8): adjacent then skip-one pairs."""
    idx = np.arange(8)
    out = np.zeros((16, 8))
    for p, skip in enumerate([0] * 8 + [1] * 8):
        e = idx[p % 8]
        out[p, e], out[p, (e + skip + 1) % 8] = amplitude, -amplitude
    return out


def simulate(desc, inclusion: tuple[float, float, float, float] | None, sigma0: float = 0.5,
             noise: float = 0.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(voltages (P k,) injection-major, currents (P, L)) of the described device with a disc
    inclusion (x, y, radius (m), conductivity) in a background sigma0, on a 4 mm mesh."""
    from forward_models.eit.described import DescribedCEM
    from invtools.devices.reader import named_measurements

    currents = currents8()
    op = DescribedCEM(desc).operator(currents, named_measurements("adjacent", 8),
                                     desc["electrodes"]["contact_impedance"], 0.004, 1)
    centres = op.mesh.p[:, op.mesh.t].mean(axis=1)
    sigma = np.full(centres.shape[1], sigma0)
    if inclusion is not None:
        x, y, r, value = inclusion
        sigma[(centres[0] - x) ** 2 + (centres[1] - y) ** 2 < r**2] = value
    with torch.no_grad():
        u = op(torch.as_tensor(sigma)[None])[0].numpy()
    rng = np.random.default_rng(seed)
    return u + noise * np.abs(u).mean() * rng.standard_normal(u.size), currents


def write_mat(path: Path, u: np.ndarray, currents: np.ndarray, k: int = 8, **extra) -> Path:
    """A file in the 8-electrode layout: V (k, P), I (L, P)."""
    scipy.io.savemat(path, {"V": u.reshape(-1, k).T, "I": currents.T, **extra})
    return path
