"""Plain measurement files (HDF5 data sets, NPZ, CSV, MATLAB ``y``), the files of no device: the
forward model comes from the trained model, else from the file itself, else from ``--recipe``."""

from __future__ import annotations

import numpy as np
import torch

from invtools.classical import ClassicalConfig, gauss_newton
from invtools.data.h5file import operator_of
from invtools.data.readers import Measurements
from invtools.operators import Operator
from invtools.operators.geometry import pixel_grid
from invtools.operators.parametrization import from_net, net_operator, to_net
from invtools.training.trained_model import TrainedModel
from invtools.workflow.reconstruct.result import Reconstruction, check_width


def forward_model(meas: Measurements, trained: TrainedModel | None,
                  recipe: str | None) -> tuple[Operator, str, str, float | None]:
    """(physical operator, parametrisation, its description, noise level) for these data."""
    if trained is not None:
        if meas.operator is not None:
            trained.check_operator_config(meas.operator, str(meas.path))
        return trained.operator, trained.parametrization, "the model", trained.noise_level
    if meas.operator is not None:
        return (operator_of(meas.operator, meas.path), meas.parametrization or "identity",
                "its forward model", meas.extra.get("noise"))
    if recipe is not None:
        from invtools.data.recipes import Problem, load_recipe

        r = load_recipe(recipe)
        return Problem(r).op, r.parametrization, f"recipe {r.name}", r.noise["relative"]
    raise ValueError(f"{meas.path} carries no forward model; pass --model CKPT or --recipe NAME")


def reconstruct_plain(meas: Measurements, method: str, trained: TrainedModel | None,
                      ccfg: ClassicalConfig, recipe: str | None, batch_size: int) -> Reconstruction:
    """The model on every sample (from the file's x0, else the start it was trained from), or
    the classical method from the file's x0 (else the background)."""
    op, param, what, noise = forward_model(meas, trained, recipe)
    check_width(meas, op, what)
    y = torch.as_tensor(meas.y, dtype=torch.float64)
    fields = {"method": method, "operator": op, "parametrization": param, "source": meas.path,
              "truth": meas.x, "pixel_rows": "bottom-up" if pixel_grid(op) is not None else None}
    if trained is not None:
        x = trained.predict(y, meas.extra.get("x0"), batch_size).numpy()
        return Reconstruction(x=x, labels=trained.labels(x), **fields)
    x0 = meas.extra.get("x0", np.full((meas.y.shape[0], *op.in_shape), 1.0 if param == "log" else 0.0))
    if ccfg.noise_level is None and noise:
        ccfg.noise_level = float(noise)
    s0 = torch.as_tensor(to_net(x0, param), dtype=torch.float64)
    s, infos = gauss_newton(net_operator(op, param), y, s0, ccfg)
    x = from_net(s.numpy().reshape(x0.shape), param)
    return Reconstruction(x=x, lam=[i.lam for i in infos], **fields)
