"""Training LPGD-RMA

An unrolled network trained on simulated data: learned proximal gradient descent (LPGD), with
recurrent momentum acceleration (RMA) carrying a learned direction from step to step. The forward
model is the nonlinear 1-D blur of the `blur1d-rma` preset. `Problem` draws the signals, the
noisy data and the start `x0` from the preset. `Trainer` fits the net, which calls the forward
model and its adjoint in every step. This is the Python side of `invtools generate` +
`invtools train`, small enough to run in seconds.

Pinned figure: `val_mse = 0.0202`, the validation MSE after training (the start `x0`'s is
0.344).
"""

import numpy as np
import torch
from torch.utils.data import TensorDataset

from invtools.data.recipes import Problem, load_recipe
from invtools.nets import LPGD
from invtools.training.trainer import TrainConfig, Trainer

problem = Problem(load_recipe("blur1d-rma"))
samples = problem.samples(np.arange(320), seed=0)  # x, y and x0 of 320 draws
x, y, x0 = (torch.as_tensor(samples[k], dtype=torch.float32) for k in ("x", "y", "x0"))
train, val = TensorDataset(x[:256], y[:256], x0[:256]), TensorDataset(x[256:], y[256:], x0[256:])

torch.manual_seed(0)
net = LPGD(problem.op.in_shape, steps=6, direction="rma", hidden=16)
config = TrainConfig(epochs=4, batch_size=32, lr=3e-3, device="cpu")
trainer = Trainer(net, problem.net_op, train, val, config, progress=False)
history = trainer.fit()
for h in history:
    print(f"epoch {h['epoch']}: train loss {h['train_loss']:.4g}, validation MSE {h['val_mse']:.4g}")
val_mse = history[-1]["val_mse"]
print(f"validation MSE: {val_mse:.5f} (the start x0: {history[-1]['val_mse_x0']:.5f})")
