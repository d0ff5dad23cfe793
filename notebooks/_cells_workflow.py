"""Cells of the quickstart and RMA-training notebooks (built by ``_build.py``).

Both honour ``INVTOOLS_QUICK=1`` (set by the test suite): smaller data and fewer epochs, so
CI executes them in seconds; without it each runs in a few minutes on a 2-core CPU.
"""

QUICKSTART = [
    ("md", """# invtools quickstart

From a forward operator to a trained reconstructor and a reconstruction of real data, with the
same functions the `invtools` command line uses:

1. a forward operator with exact derivatives,
2. a synthetic data set from a recipe (HDF5),
3. a short training run of an unrolled network,
4. evaluation against the classical Gauss-Newton baseline,
5. reconstruction of real water-tank EIT data (KTC2023) by difference imaging."""),
    ("code", """import os
from pathlib import Path
import numpy as np
import torch
import matplotlib.pyplot as plt

QUICK = os.environ.get("INVTOOLS_QUICK") == "1"
work = Path("quickstart_out"); work.mkdir(exist_ok=True)"""),
    ("md", """## 1. An operator

Every forward model implements `A`, `A_jvp`, `A_vjp` (and `jacobian`, `data_fit_gradient`);
`check_operator` compares them with finite differences and checks the adjoint identity."""),
    ("code", """from forward_models.blur import QuadraticWindowBlur
from invtools import check_operator

op = QuadraticWindowBlur(a=2.0, seed=0)          # R^53 -> R^12, the RMA paper's toy model
x = torch.rand(4, 53, dtype=torch.float64)
print(op, "\\n", check_operator(op, x))"""),
    ("md", """## 2. A data set from a recipe

`blur1d-rma` is a built-in recipe (TOML; `invtools generate --list`). Sample i depends only on
(seed, i); the file stores the recipe, the operator's config and provenance."""),
    ("code", """from invtools.data import generate, read_attrs
from invtools.data.recipes import load_recipe

recipe = load_recipe("blur1d-rma")
n_train, n_test = (128, 32) if QUICK else (1024, 128)
generate(recipe, work / "train.h5", n_train, seed=0, overwrite=True, progress=False)
generate(recipe, work / "test.h5", n_test, seed=1, overwrite=True, progress=False)
attrs = read_attrs(work / "test.h5")
print(attrs["recipe"]["description"]); print("git:", attrs["provenance"]["git"])"""),
    ("md", """## 3. Train LPGD with recurrent momentum acceleration

A training run is a small TOML file (the same `invtools train CONFIG` reads)."""),
    ("code", """from invtools.training.config import run_training

epochs = 2 if QUICK else 15
(work / "train.toml").write_text(f'''out = "run"
[data]
train = "train.h5"
val = "test.h5"
[net]
arch = "lpgd"
steps = 10
direction = "rma"
[train]
epochs = {epochs}
lr = 2e-3
''')
import shutil; shutil.rmtree(work / "run", ignore_errors=True)
trainer, history = run_training(work / "train.toml", progress=False)
plt.semilogy([h["train_loss"] for h in history], label="train")
plt.semilogy([h["val_mse"] for h in history], label="validation")
plt.xlabel("epoch"); plt.legend();"""),
    ("md", "## 4. Evaluate against Gauss-Newton"),
    ("code", """from invtools.workflow.evaluate import evaluate, format_table

result = evaluate(work / "run/best.pt", work / "test.h5", baseline="gn", baseline_samples=16,
                  out_dir=work / "eval")
print(format_table(result))"""),
    ("md", """The checkpoint is one `TrainedModel`: the network, the forward model, the parametrisation,
the noise level and the recipe; `predict` starts from the same initial guess as in training."""),
    ("code", """from invtools.data import H5Dataset
from invtools.training.trained_model import load_model

model = load_model(work / "run/best.pt")
y_test = torch.stack([H5Dataset(work / "test.h5")[i][1] for i in range(4)])
print(model.parametrization, model.noise_level, model.predict(y_test).shape)"""),
    ("md", """## 5. Real data: KTC2023 water tank

`reconstruct` reads the KTC2023 MATLAB layout directly (32 electrodes, its injection and
measurement patterns) and images the change from the empty tank (`ref.mat`): here with the
trained tank model that ships with the package (`model="ktc2023"`) and with the organisers'
baseline (one linearised step), both segmented into the challenge's classes."""),
    ("code", """from invtools.workflow.reconstruct import reconstruct
from invtools.workflow.reconstruct.result import label_images

candidates = [os.environ.get("INVTOOLS_KTC2023"), Path.cwd().parent / "shared/ktc2023",
              Path("/work/shared/ktc2023"), Path("../../shared/ktc2023")]
ktc = next((Path(c) for c in candidates if c and (Path(c) / "data1.mat").is_file()), None)
if ktc is None:
    print("KTC2023 data not found; set INVTOOLS_KTC2023")
else:
    rec = reconstruct(ktc / "data1.mat", model="ktc2023")
    base = reconstruct(ktc / "data1.mat", method="linearized")
    print("sigma0 =", round(rec.sigma0, 3), "S/m; image", rec.x.shape[1:], "pixels")
    fig, ax = plt.subplots(1, 3, figsize=(9, 3))
    contrast = np.log(rec.x[0][::-1] / rec.sigma0)  # rows grow with y: flip for display
    ax[0].imshow(contrast, cmap="RdBu_r", vmin=-4, vmax=4)
    ax[0].set_title("model: log(sigma / sigma0)")
    ax[1].imshow(label_images(rec)[0], vmin=0, vmax=2)
    ax[1].set_title("model: labels")
    ax[2].imshow(label_images(base)[0], vmin=0, vmax=2)
    ax[2].set_title("linearised + Otsu");"""),
]

TRAINING_RMA = [
    ("md", """# Training an RMA reconstructor

Recurrent momentum acceleration (Zhou et al. 2024) feeds the history of data-fit gradients
`g_1..g_k` through an LSTM and uses its output in place of `g_k` inside each unrolled step.
Here: LPGD with plain gradients (`none`), fixed momentum (`momentum`) and RMA (`rma`) on the
1-D quadratic-window blur at a weak (a = 0.5) and a strong (a = 4) nonlinearity, trained with
identical seeds and budgets; then LPGD-RMA on EIT with graph convolutions on the mesh."""),
    ("code", """import os
import numpy as np
import torch
import matplotlib.pyplot as plt
from torch.utils.data import TensorDataset

from invtools.nets import LPGD
from invtools.data.recipes import Problem, Recipe, load_recipe
from invtools.training.trainer import TrainConfig, Trainer

QUICK = os.environ.get("INVTOOLS_QUICK") == "1"
n_train, n_val, epochs = (96, 32, 1) if QUICK else (800, 200, 8)

def data(recipe, n_train, n_val, seed=0):
    # the problem and (train, validation) TensorDatasets of (x, y, x0) in the network variable
    problem = Problem(recipe)
    s = problem.samples(np.arange(n_train + n_val), seed)
    t = {k: torch.as_tensor(np.log(v) if recipe.parametrization == "log" else v, dtype=torch.float32)
         if k != "y" else torch.as_tensor(v, dtype=torch.float32) for k, v in s.items()}
    cuts = ((0, n_train), (n_train, None))
    sets = [TensorDataset(t["x"][a:b], t["y"][a:b], t["x0"][a:b]) for a, b in cuts]
    return problem, sets"""),
    ("code", """curves = {}
for a in (0.5, 4.0):
    d = load_recipe("blur1d-rma").to_dict(); d["operator"]["a"] = a
    problem, (train, val) = data(Recipe.from_dict(d), n_train, n_val)
    for direction in ("none", "momentum", "rma"):
        torch.manual_seed(0)
        net = LPGD(problem.op.in_shape, steps=10, direction=direction)
        config = TrainConfig(epochs=epochs, lr=2e-3)
        trainer = Trainer(net, problem.net_op, train, val, config, progress=False)
        curves[(a, direction)] = [h["val_mse"] for h in trainer.fit()]
fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
for ax, a in zip(axes, (0.5, 4.0)):
    for direction in ("none", "momentum", "rma"):
        ax.semilogy(range(1, epochs + 1), curves[(a, direction)], "o-", label=direction)
    ax.set(title=f"a = {a}", xlabel="epoch", ylabel="validation MSE"); ax.legend()
for (a, direction), c in curves.items():
    print(f"a = {a:3}  {direction:9s} final validation MSE {c[-1]:.4g}")"""),
    ("md", """The reproduction study (`benchmarks/studies/reproduce_rma.py`, tables in the README) runs this
comparison over five nonlinearities and three seeds with LPD as well.

## RMA on EIT

On EIT the unknown is the log-conductivity of each triangle; the residual blocks are graph
convolutions over neighbouring elements, and the physics (CEM forward solves, adjoint VJPs and
second-order terms) is differentiated exactly inside every unrolled step."""),
    ("code", """from invtools.operators.geometry import input_adjacency
from forward_models.eit.plot import plot_elements

d = load_recipe("eit-discs2").to_dict()
if QUICK:
    d["operator"]["h"] = 0.3
problem, (train, val) = data(Recipe.from_dict(d), *((24, 8) if QUICK else (200, 50)))
adjacency = input_adjacency(problem.net_op)
torch.manual_seed(0)
net = LPGD(problem.op.in_shape, steps=3 if QUICK else 6, direction="rma", hidden=16, adjacency=adjacency)
trainer = Trainer(net, problem.net_op, train, val, TrainConfig(epochs=1 if QUICK else 4, batch_size=8,
                  lr=2e-3), adjacency=adjacency, progress=False)
history = trainer.fit()
x_hat, x, x0 = trainer.predict(val)
last = history[-1]
print(f"validation MSE (log-conductivity): {last['val_mse']:.4g}, x0: {last['val_mse_x0']:.4g}")
fig, axes = plt.subplots(1, 2, figsize=(8, 3.5))
for ax, v, title in zip(axes, (x[0], x_hat[0]), ("truth", "LPGD-RMA")):
    fig.colorbar(plot_elements(ax, problem.op.mesh, np.exp(v.numpy())), ax=ax); ax.set_title(title)"""),
]
