"""The KTC2023 tank at every level

Real water-tank measurements of the Kuopio Tomography Challenge 2023. One target is imaged at all
seven difficulty levels: level L removes electrodes 1 to 2(L-1), from 2356 measured values down
to 513. The shipped model (`ktc2023`, trained on simulated tank data with the challenge's
missing-electrode masks) reconstructs each file by difference imaging against `ref.mat`.
`label_images` turns each image into the challenge's three classes, in the tank's label frame
(the truths' frame, 1.095 times the model's square), and `ktc_score` scores them against the
organisers' ground truth (1 = perfect).

The measurements are not part of the repository: the script looks in `$INVTOOLS_KTC2023`, then in
`../shared/ktc2023` beside the checkout (or takes the folder as its argument). When they are
absent, it says so and stops.

Pinned figure: `mean_score = 0.6791`, the mean score over the seven levels.
"""

import sys
import time
from pathlib import Path

import numpy as np
import scipy.io

from invtools.devices.ktc2023.adapter import find_ktc_folder
from invtools.devices.ktc2023.score import ktc_score
from invtools.training.trained_model import load_model, resolve_model
from invtools.workflow.reconstruct import reconstruct
from invtools.workflow.reconstruct.result import label_images

TARGET = 2
folder = Path(sys.argv[1]) if len(sys.argv) > 1 else find_ktc_folder(Path(__file__).resolve().parents[1])
if folder is None or not (folder / f"data{TARGET}.mat").is_file():
    print("KTC2023 measurements not found (set INVTOOLS_KTC2023 or pass the folder): nothing to do")
    raise SystemExit(0)

model = load_model(resolve_model("ktc2023"))  # loaded once for the seven files
truth = scipy.io.loadmat(folder / "GroundTruths" / f"true{TARGET}.mat")["truth"]
scores = []
for level in range(1, 8):
    t0 = time.perf_counter()
    path = (folder if level == 1 else folder / "levels" / f"level{level}") / f"data{TARGET}.mat"
    rec = reconstruct(path, model=model)
    scores.append(ktc_score(truth, label_images(rec)[0]))
    print(f"level {level}: {2356 - rec.missing:4d} values, sigma0 {rec.sigma0:.3f} S/m, "
          f"score {scores[-1]:.3f} ({time.perf_counter() - t0:.1f} s)")
mean_score = float(np.mean(scores))
print(f"target {TARGET}, mean score over the seven levels: {mean_score:.4f}")
